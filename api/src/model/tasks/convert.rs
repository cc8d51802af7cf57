//! Task bodies -> the `Task` to create and the patches of the task actions (approve, pause,
//! cancel); a `Task` -> its REST shape, status word and pages of run events.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use serde_json::{Value, json};

use agentarea_crds::common::AGENT_LABEL;
use agentarea_crds::task::{Decision, Requester, TaskStep, ToolCallDecision};
use agentarea_crds::{Agent, Task, TaskSpec, TaskStatus};

use super::actions::{execution_seconds, failure, task_result};
use super::phase::{phase, rest_status};
use super::wire::{
    AgentTaskCreate, ApprovalCreate, ApprovalResponse, PendingApprovalResponse, TaskEventPage,
    TaskEventParams, TaskEventResponse, TaskResponse, TaskStatusResponse,
};
use crate::auth::Identity;
use crate::cache::ResourceCache;
use crate::constraints::{PageNumber, PageSize, Reason};
use crate::error::{ApiError, ApiResult};
use crate::model::{id_or_name, rfc3339};
use crate::resources::{created_by, display_name, new_metadata, numbered_page, timestamps};

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

impl ApprovalCreate {
    /// The decision to add to `task`'s `spec.approvals`, taken by `caller`; a conflict when the
    /// task has ended or the call does not wait (any more).
    pub fn decision_for(&self, task: &Task, caller: &Identity) -> ApiResult<ToolCallDecision> {
        not_ended(task)?;
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
    not_ended(task)?;
    Ok(json!({ "spec": { "paused": paused } }))
}

/// The conflict of cancelling a task that has already ended, if it has.
pub fn check_cancellable(task: &Task) -> ApiResult<()> {
    not_ended(task)
}

pub fn cancel_patch() -> Value {
    json!({ "spec": { "cancel": true } })
}

/// The conflict of acting on a task that has ended, if it has.
fn not_ended(task: &Task) -> ApiResult<()> {
    let phase = phase(task);
    if phase.is_finished() {
        return Err(ApiError::conflict(format!(
            "Task already {}",
            rest_status(phase)
        )));
    }
    Ok(())
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
    let page_size = params.page_size.map_or(50, PageSize::get);
    let steps: Vec<&TaskStep> = steps(task)
        .iter()
        .filter(|s| params.event_type.as_deref().is_none_or(|t| s.type_ == t))
        .collect();
    let page = numbered_page(steps, page, page_size);
    Ok(TaskEventPage {
        events: page
            .items
            .into_iter()
            .map(|step| event(ids, step))
            .collect(),
        total: page.total,
        page: page.page,
        page_size: page.page_size,
        has_next: page.has_next,
    })
}

/// A stored run event (a step of the task) as the REST event.
fn event(ids: &TaskIds, step: &TaskStep) -> TaskEventResponse {
    TaskEventResponse {
        id: ids.event_id(step.seq),
        task_id: ids.task_id.clone(),
        agent_id: ids.agent_id.clone(),
        execution_id: ids.execution_id.clone(),
        timestamp: step.time.0.to_string(),
        event_type: step.type_.clone(),
        message: step.message.clone(),
        metadata: step.data.clone().unwrap_or_else(|| json!({})),
    }
}

/// The agent's id (its uid), or its name once it is gone.
fn agent_id(task: &Task, agents: &ResourceCache<Agent>) -> String {
    let namespace = task.namespace().unwrap_or_default();
    id_or_name(agents, &namespace, &task.spec.agent)
}

/// The agent's display name, or its object name once it is gone.
fn agent_name(task: &Task, agents: &ResourceCache<Agent>) -> String {
    let namespace = task.namespace().unwrap_or_default();
    agents
        .get(&namespace, &task.spec.agent)
        .map_or_else(|| task.spec.agent.clone(), |a| display_name(&a.metadata))
}

/// The REST shape of a task; its agent is named by id and display name.
pub fn present(task: &Task, agents: &ResourceCache<Agent>) -> TaskResponse {
    let status = task.status.as_ref();
    let (created_at, _) = timestamps(&task.metadata);
    TaskResponse {
        id: task.uid().unwrap_or_default(),
        agent_id: agent_id(task, agents),
        agent_name: agent_name(task, agents),
        description: task.spec.input.clone(),
        parameters: task.spec.parameters.clone().unwrap_or_else(|| json!({})),
        status: rest_status(phase(task)).into(),
        reason: status.and_then(|s| s.reason.clone()),
        message: status.and_then(|s| s.message.clone()),
        result: task_result(task),
        execution_id: status.and_then(|s| s.execution_id.clone()),
        usage: usage(status),
        step_count: status
            .and_then(|s| s.step_count)
            .unwrap_or(steps(task).len() as i64),
        k8s_name: task.name_any(),
        created_by: created_by(&task.metadata),
        created_at,
        started_at: rfc3339(status.and_then(|s| s.start_time.as_ref())),
        completed_at: rfc3339(status.and_then(|s| s.completion_time.as_ref())),
        paused: task.spec.paused,
        pending_approvals: pending_approvals(status),
        approvals: approvals(task),
    }
}

/// The state of a task's execution, as AgentArea's status route answers it.
pub fn status_report(task: &Task, agents: &ResourceCache<Agent>, now: &Time) -> TaskStatusResponse {
    let status = task.status.as_ref();
    TaskStatusResponse {
        task_id: task.uid().unwrap_or_default(),
        agent_id: agent_id(task, agents),
        execution_id: status.and_then(|s| s.execution_id.clone()),
        status: rest_status(phase(task)).into(),
        start_time: rfc3339(status.and_then(|s| s.start_time.as_ref())),
        end_time: rfc3339(status.and_then(|s| s.completion_time.as_ref())),
        execution_time: execution_seconds(task, now),
        error: failure(task),
        result: task_result(task),
        message: status.and_then(|s| s.message.clone()),
        usage_metadata: usage(status),
    }
}

fn usage(status: Option<&TaskStatus>) -> Option<Value> {
    status
        .and_then(|s| s.usage.as_ref())
        .and_then(|u| serde_json::to_value(u).ok())
}

fn pending_approvals(status: Option<&TaskStatus>) -> Vec<PendingApprovalResponse> {
    status
        .map(|s| &s.pending_approvals[..])
        .unwrap_or_default()
        .iter()
        .map(|p| PendingApprovalResponse {
            tool_call_id: p.tool_call_id.clone(),
            tool_name: p.tool.clone(),
            arguments: p.arguments.clone(),
            reason: p.because.clone(),
            requested_at: p.requested_at.0.to_string(),
            deadline: rfc3339(p.deadline.as_ref()),
        })
        .collect()
}

/// People's decisions as soon as they are taken, then the run's own (time-outs).
fn approvals(task: &Task) -> Vec<ApprovalResponse> {
    let by_people = &task.spec.approvals;
    let by_the_run = task
        .status
        .as_ref()
        .map(|s| &s.approvals[..])
        .unwrap_or_default()
        .iter()
        .filter(|d| !by_people.iter().any(|p| p.tool_call_id == d.tool_call_id));
    by_people
        .iter()
        .chain(by_the_run)
        .map(|d| ApprovalResponse {
            tool_call_id: d.tool_call_id.clone(),
            approved: d.decision == Decision::Approved,
            reason: d.reason.clone(),
            decided_by: d.decided_by.clone(),
        })
        .collect()
}
