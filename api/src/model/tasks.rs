//! Tasks on the wire: AgentArea's task bodies, their run events, and the mapping onto `Task`
//! resources.

use kube::ResourceExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use agentarea_crds::common::AGENT_LABEL;
use agentarea_crds::task::{Decision, Requester, TaskStep, ToolCallDecision};
use agentarea_crds::{Agent, Task, TaskPhase, TaskSpec};

use crate::auth::Identity;
use crate::cache::ResourceCache;
use crate::constraints::{EventPageSize, PageNumber, Reason, Text};
use crate::error::{ApiError, ApiResult};
use crate::resources::{created_by, display_name, new_metadata, timestamps};

/// The body of `POST /v1/tasks`: the per-agent body plus the agent. Its fields are spelled out
/// rather than `#[serde(flatten)]`ed, so that an error names the field that has it.
#[derive(Deserialize, Debug, ToSchema)]
#[schema(example = json!({ "agent_id": "support-bot", "description": "Summarize yesterday's tickets." }))]
pub struct TaskCreate {
    /// Id or name of the agent that runs the task.
    pub agent_id: String,
    /// What the agent is asked to do.
    #[schema(example = "Summarize yesterday's tickets.")]
    pub description: Text,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub parameters: Option<Value>,
    /// Ignored: the caller's identity is recorded instead.
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub enable_agent_communication: Option<bool>,
    #[serde(default)]
    pub requires_human_approval: Option<bool>,
}

impl TaskCreate {
    /// The agent's id, and the body of the per-agent routes.
    pub fn split(self) -> (String, AgentTaskCreate) {
        let task = AgentTaskCreate {
            description: self.description,
            parameters: self.parameters,
            user_id: self.user_id,
            enable_agent_communication: self.enable_agent_communication,
            requires_human_approval: self.requires_human_approval,
        };
        (self.agent_id, task)
    }
}

/// The body of the per-agent create routes (the agent is in the path).
#[derive(Deserialize, Debug, ToSchema)]
pub struct AgentTaskCreate {
    /// What the agent is asked to do.
    #[schema(example = "Summarize yesterday's tickets.")]
    pub description: Text,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub parameters: Option<Value>,
    /// Ignored: the caller's identity is recorded instead.
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub enable_agent_communication: Option<bool>,
    #[serde(default)]
    pub requires_human_approval: Option<bool>,
}

#[derive(Serialize, Debug, ToSchema)]
pub struct TaskResponse {
    pub id: String,
    pub agent_id: String,
    pub agent_name: String,
    pub description: String,
    #[schema(value_type = Object)]
    pub parameters: Value,
    /// `pending`, `running`, `paused`, `awaiting_approval`, `completed`, `failed` or
    /// `cancelled`.
    pub status: String,
    /// Why it ended as it did (`Completed`, `ModelError`, `Timeout`, ...).
    pub reason: Option<String>,
    pub message: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub result: Option<Value>,
    pub execution_id: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub usage: Option<Value>,
    pub step_count: i64,
    pub k8s_name: String,
    pub created_by: Option<String>,
    pub created_at: Option<String>,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
    /// Whether a pause was asked for (the run stops once its calls in flight have finished).
    pub paused: bool,
    /// Tool calls that wait for a person's decision (`POST /v1/tasks/{id}/approvals`).
    pub pending_approvals: Vec<PendingApprovalResponse>,
    /// The decisions taken on the task's tool calls, with who took them.
    pub approvals: Vec<ApprovalResponse>,
}

/// A tool call that waits for approval.
#[derive(Serialize, Debug, ToSchema)]
pub struct PendingApprovalResponse {
    pub tool_call_id: String,
    pub tool_name: String,
    /// The arguments as the model wrote them (JSON text).
    pub arguments: String,
    /// Why it needs approval.
    pub reason: String,
    pub requested_at: String,
    /// When the agent's approval time-out ends the wait, if it has one.
    pub deadline: Option<String>,
}

/// A decision on a tool call.
#[derive(Serialize, Debug, ToSchema)]
pub struct ApprovalResponse {
    pub tool_call_id: String,
    pub approved: bool,
    pub reason: Option<String>,
    pub decided_by: Option<String>,
}

/// The body of `POST /v1/tasks/{id}/approvals`: a decision on one waiting tool call.
#[derive(Deserialize, Debug, ToSchema)]
#[schema(example = json!({ "tool_call_id": "call_1", "approved": false, "reason": "Not on production." }))]
pub struct ApprovalCreate {
    /// The `tool_call_id` of one of the task's `pending_approvals`.
    pub tool_call_id: String,
    /// True to let the call be made; false to refuse it (the model is told, with the reason).
    // The wire says yes or no; the CRD stores a `Decision` (`Approved`, `Rejected`).
    pub approved: bool,
    #[serde(default)]
    pub reason: Option<Reason>,
}

impl ApprovalCreate {
    /// The decision to add to `task`'s `spec.approvals`, taken by `caller`; a conflict when the
    /// task has ended or the call does not wait (any more).
    pub fn decision_for(&self, task: &Task, caller: &Identity) -> ApiResult<ToolCallDecision> {
        let phase = phase(task);
        if phase.is_finished() {
            return Err(ApiError::conflict(format!(
                "Task already {}",
                rest_status(phase)
            )));
        }
        if let Some(taken) = task
            .spec
            .approvals
            .iter()
            .find(|d| d.tool_call_id == self.tool_call_id)
        {
            let word = match taken.decision {
                Decision::Approved => "approved",
                Decision::Rejected => "rejected",
            };
            return Err(ApiError::conflict(format!(
                "Tool call {} was already {word}",
                self.tool_call_id
            )));
        }
        let waits = task.status.as_ref().is_some_and(|s| {
            s.pending_approvals
                .iter()
                .any(|p| p.tool_call_id == self.tool_call_id)
        });
        if !waits {
            return Err(ApiError::not_found(format!(
                "Tool call {} does not wait for approval",
                self.tool_call_id
            )));
        }
        Ok(ToolCallDecision {
            tool_call_id: self.tool_call_id.clone(),
            decision: if self.approved {
                Decision::Approved
            } else {
                Decision::Rejected
            },
            reason: self.reason.clone().map(Reason::into_inner),
            decided_by: Some(caller.subject.clone()),
        })
    }
}

/// The merge patch that adds `decision` to `task`'s decisions, on the condition that `task` is
/// still the stored version (two people deciding at once must not drop one another's decision).
pub fn approval_patch(task: &Task, decision: ToolCallDecision) -> Value {
    let mut approvals = task.spec.approvals.clone();
    approvals.push(decision);
    json!({
        "metadata": { "resourceVersion": task.resource_version() },
        "spec": { "approvals": approvals },
    })
}

/// The patch that asks for a pause (`true`) or a resume (`false`); a conflict when the task has
/// ended.
pub fn pause_patch(task: &Task, paused: bool) -> ApiResult<Value> {
    let phase = phase(task);
    if phase.is_finished() {
        return Err(ApiError::conflict(format!(
            "Task already {}",
            rest_status(phase)
        )));
    }
    Ok(json!({ "spec": { "paused": paused } }))
}

#[derive(Deserialize, Debug, Default, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TaskListParams {
    /// Only tasks of this agent (id or name).
    pub agent_id: Option<String>,
    /// Only tasks with this status.
    #[param(inline)]
    pub status: Option<StatusFilter>,
    /// `me`: only tasks the caller created.
    pub created_by: Option<String>,
}

#[derive(Serialize, Debug, ToSchema)]
pub struct TaskEventResponse {
    pub id: String,
    pub task_id: String,
    pub agent_id: String,
    pub execution_id: Option<String>,
    pub timestamp: String,
    pub event_type: String,
    pub message: Option<String>,
    #[schema(value_type = Object)]
    pub metadata: Value,
}

#[derive(Serialize, Debug, ToSchema)]
pub struct TaskEventPage {
    pub events: Vec<TaskEventResponse>,
    pub total: usize,
    pub page: usize,
    pub page_size: usize,
    pub has_next: bool,
}

#[derive(Deserialize, Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TaskEventParams {
    /// 1-based page number (default 1).
    #[param(inline)]
    pub page: Option<PageNumber>,
    /// Events per page (default 50).
    #[param(inline)]
    pub page_size: Option<EventPageSize>,
    pub event_type: Option<String>,
}

/// The task statuses a list can be filtered by; `submitted` is AgentArea's older word for
/// `pending`, still accepted.
// Not the CRD's `TaskPhase`: the wire spells these `completed`, `awaiting_approval` (and
// `submitted`), the CRD `Succeeded`, `AwaitingApproval`; `AwaitingAgents` has no word of its own
// here (it is `running`). [`rest_status`] is the one mapping from phases to these words.
#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatusFilter {
    Pending,
    Submitted,
    Running,
    Paused,
    AwaitingApproval,
    Completed,
    Failed,
    Cancelled,
}

impl StatusFilter {
    fn matches(self, phase: TaskPhase) -> bool {
        let status = match self {
            Self::Pending | Self::Submitted => "pending",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::AwaitingApproval => "awaiting_approval",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        };
        rest_status(phase) == status
    }
}

impl AgentTaskCreate {
    /// The Task to create for `agent`, after checking the body; the caller is recorded as its
    /// requester.
    pub fn into_task(self, agent: &Agent, namespace: &str, caller: &Identity) -> ApiResult<Task> {
        if let Some(parameters) = &self.parameters
            && !parameters.is_object()
        {
            return Err(ApiError::unprocessable("parameters: must be an object"));
        }
        let mut metadata = new_metadata(String::new(), None, namespace, caller);
        metadata.name = None;
        metadata.generate_name = Some("task-".into());
        metadata.labels = Some([(AGENT_LABEL.to_string(), agent.name_any())].into());
        Ok(Task {
            metadata,
            spec: TaskSpec {
                agent: agent.name_any(),
                input: self.description.into_inner(),
                parameters: self.parameters,
                requested_by: Some(Requester {
                    user: Some(caller.subject.clone()),
                    trigger: None,
                }),
                requires_human_approval: self.requires_human_approval,
                enable_agent_communication: self.enable_agent_communication,
                ..TaskSpec::default()
            },
            status: None,
        })
    }
}

impl TaskListParams {
    /// Whether `task` passes the filters; `agent` is the agent's object name, already resolved.
    pub fn matches(&self, task: &Task, agent: Option<&str>, caller: &Identity) -> bool {
        agent.is_none_or(|a| task.spec.agent == a)
            && self.status.is_none_or(|s| s.matches(phase(task)))
            && (self.created_by.as_deref() != Some("me")
                || created_by(&task.metadata).as_deref() == Some(caller.subject.as_str()))
    }
}

/// The conflict of cancelling a task that has already ended, if it has.
pub fn check_cancellable(task: &Task) -> ApiResult<()> {
    let phase = phase(task);
    if phase.is_finished() {
        return Err(ApiError::conflict(format!(
            "Task already {}",
            rest_status(phase)
        )));
    }
    Ok(())
}

pub fn cancel_patch() -> Value {
    json!({ "spec": { "cancel": true } })
}

pub fn phase(task: &Task) -> TaskPhase {
    task.status
        .as_ref()
        .and_then(|s| s.phase)
        .unwrap_or(TaskPhase::Pending)
}

/// AgentArea's status words for the phases: the REST wire's spelling of a task's state, which is
/// not the CRD's (`completed` for `Succeeded`, `running` also for `AwaitingAgents`).
pub fn rest_status(phase: TaskPhase) -> &'static str {
    match phase {
        TaskPhase::Pending => "pending",
        // Waiting for agents it called is part of running, as a tool call is.
        TaskPhase::Running | TaskPhase::AwaitingAgents => "running",
        TaskPhase::Paused => "paused",
        TaskPhase::AwaitingApproval => "awaiting_approval",
        TaskPhase::Succeeded => "completed",
        TaskPhase::Failed => "failed",
        TaskPhase::Cancelled => "cancelled",
    }
}

pub fn steps(task: &Task) -> &[TaskStep] {
    task.status.as_ref().map_or(&[], |s| &s.steps)
}

/// The REST ids every event of a task carries.
pub struct TaskIds {
    pub task_id: String,
    pub agent_id: String,
    pub execution_id: Option<String>,
}

impl TaskIds {
    pub fn of(task: &Task, agents: &ResourceCache<Agent>) -> Self {
        Self {
            task_id: task.uid().unwrap_or_default(),
            agent_id: agent_id(task, agents),
            execution_id: task.status.as_ref().and_then(|s| s.execution_id.clone()),
        }
    }

    /// `extra` with the ids added (keys `extra` already has are kept).
    pub fn payload(&self, extra: Value) -> Value {
        let mut data = json!({
            "task_id": self.task_id,
            "agent_id": self.agent_id,
            "execution_id": self.execution_id,
        });
        if let (Some(data), Value::Object(extra)) = (data.as_object_mut(), extra) {
            for (k, v) in extra {
                data.entry(k).or_insert(v);
            }
        }
        data
    }

    /// The event id of step `seq`, unique across tasks.
    pub fn event_id(&self, seq: i64) -> String {
        format!("{}-{}", self.task_id, seq)
    }
}

/// One page of a task's stored run events, optionally of one event type.
pub fn event_page(
    task: &Task,
    ids: &TaskIds,
    params: &TaskEventParams,
) -> ApiResult<TaskEventPage> {
    let page = params.page.map_or(1, PageNumber::get);
    let page_size = params.page_size.map_or(50, EventPageSize::get);
    let steps: Vec<&TaskStep> = steps(task)
        .iter()
        .filter(|s| params.event_type.as_deref().is_none_or(|t| s.type_ == t))
        .collect();
    let total = steps.len();
    let events = steps
        .into_iter()
        .skip((page - 1) * page_size)
        .take(page_size)
        .map(|step| TaskEventResponse {
            id: ids.event_id(step.seq),
            task_id: ids.task_id.clone(),
            agent_id: ids.agent_id.clone(),
            execution_id: ids.execution_id.clone(),
            timestamp: step.time.0.to_string(),
            event_type: step.type_.clone(),
            message: step.message.clone(),
            metadata: step.data.clone().unwrap_or_else(|| json!({})),
        })
        .collect();
    Ok(TaskEventPage {
        events,
        total,
        page,
        page_size,
        has_next: page * page_size < total,
    })
}

/// The agent's id (its uid), or its name once it is gone.
fn agent_id(task: &Task, agents: &ResourceCache<Agent>) -> String {
    let namespace = task.namespace().unwrap_or_default();
    agents
        .get(&namespace, &task.spec.agent)
        .and_then(|a| a.uid())
        .unwrap_or_else(|| task.spec.agent.clone())
}

/// The REST shape of a task; its agent is named by id and display name.
pub fn present(task: &Task, agents: &ResourceCache<Agent>) -> TaskResponse {
    let namespace = task.namespace().unwrap_or_default();
    let status = task.status.as_ref();
    let (created_at, _) = timestamps(&task.metadata);
    let agent_name = agents
        .get(&namespace, &task.spec.agent)
        .map_or_else(|| task.spec.agent.clone(), |a| display_name(&a.metadata));
    let time = |t: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>| {
        t.map(|t| t.0.to_string())
    };
    TaskResponse {
        id: task.uid().unwrap_or_default(),
        agent_id: agent_id(task, agents),
        agent_name,
        description: task.spec.input.clone(),
        parameters: task.spec.parameters.clone().unwrap_or_else(|| json!({})),
        status: rest_status(phase(task)).into(),
        reason: status.and_then(|s| s.reason.clone()),
        message: status.and_then(|s| s.message.clone()),
        result: status.and_then(|s| s.result.clone()),
        execution_id: status.and_then(|s| s.execution_id.clone()),
        usage: status
            .and_then(|s| s.usage.as_ref())
            .and_then(|u| serde_json::to_value(u).ok()),
        step_count: status
            .and_then(|s| s.step_count)
            .unwrap_or(steps(task).len() as i64),
        k8s_name: task.name_any(),
        created_by: created_by(&task.metadata),
        created_at,
        started_at: time(status.and_then(|s| s.start_time.as_ref())),
        completed_at: time(status.and_then(|s| s.completion_time.as_ref())),
        paused: task.spec.paused,
        pending_approvals: status
            .map(|s| &s.pending_approvals[..])
            .unwrap_or_default()
            .iter()
            .map(|p| PendingApprovalResponse {
                tool_call_id: p.tool_call_id.clone(),
                tool_name: p.tool.clone(),
                arguments: p.arguments.clone(),
                reason: p.because.clone(),
                requested_at: p.requested_at.0.to_string(),
                deadline: time(p.deadline.as_ref()),
            })
            .collect(),
        // People's decisions as soon as they are taken, then the run's own (time-outs).
        approvals: task
            .spec
            .approvals
            .iter()
            .chain(
                status
                    .map(|s| &s.approvals[..])
                    .unwrap_or_default()
                    .iter()
                    .filter(|d| {
                        !task
                            .spec
                            .approvals
                            .iter()
                            .any(|p| p.tool_call_id == d.tool_call_id)
                    }),
            )
            .map(|d| ApprovalResponse {
                tool_call_id: d.tool_call_id.clone(),
                approved: d.decision == Decision::Approved,
                reason: d.reason.clone(),
                decided_by: d.decided_by.clone(),
            })
            .collect(),
    }
}
