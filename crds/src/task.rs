//! `Task`: one run of an agent on an input, with its ordered steps and result in status.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::common::{any_value, conditions_schema, free_form_object};

#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[kube(
    group = "agentarea.io",
    version = "v1alpha1",
    kind = "Task",
    namespaced,
    status = "TaskStatus",
    shortname = "tsk",
    category = "agentarea",
    derive = "PartialEq",
    doc = "One run of an agent on an input. The operator runs it; its steps, result and usage appear in status.",
    selectable = ".spec.agent",
    printcolumn(name = "Agent", type_ = "string", json_path = ".spec.agent"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Steps", type_ = "integer", json_path = ".status.stepCount"),
    printcolumn(
        name = "Reason",
        type_ = "string",
        priority = 1,
        json_path = ".status.reason"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[x_kube(validation = kube::core::Rule::new("!has(oldSelf.cancel) || !oldSelf.cancel || self.cancel")
    .message("a cancelled task cannot be un-cancelled"))]
#[serde(rename_all = "camelCase")]
pub struct TaskSpec {
    /// Name of the Agent that runs the task.
    #[schemars(
        length(min = 1, max = 63),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    )]
    #[x_kube(validation = kube::core::Rule::new("self == oldSelf").message("agent is immutable"))]
    pub agent: String,

    /// What the agent is asked to do (AgentArea's task `description`).
    #[schemars(length(min = 1, max = 262144))]
    #[x_kube(validation = kube::core::Rule::new("self == oldSelf").message("input is immutable"))]
    pub input: String,

    /// Structured parameters of the task, given to the agent with the input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_form_object")]
    pub parameters: Option<Value>,

    /// Who asked for the task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<Requester>,

    /// Set to true to cancel: a running task stops at its next step.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cancel: bool,

    /// Set to true to pause: the run stops once the model or tool calls in flight have finished,
    /// keeps its conversation and gives up its claim (phase `Paused`). Set back to false to
    /// resume it where it was, on whichever operator replica claims it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub paused: bool,

    /// People's decisions on the tool calls that wait for approval (`status.pendingApprovals`),
    /// one per tool call. A decision is final: it cannot be changed or withdrawn.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "decisions_schema")]
    #[x_kube(validation = kube::core::Rule::new(
        "oldSelf.all(old, self.exists(new, new.toolCallId == old.toolCallId))"
    ).message("a decision cannot be withdrawn"))]
    pub approvals: Vec<ToolCallDecision>,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires_human_approval: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_agent_communication: Option<bool>,

    /// The Task whose run called this one's agent as a tool; set by the operator. The parent
    /// owns this Task, so it is deleted with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new("self == oldSelf").message("parent is immutable"))]
    pub parent: Option<ParentTask>,

    /// Bounds on this task below its Agent's `limits` (the tighter of the two applies): a child
    /// task gets what its parent has left.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<TaskLimits>,

    /// Seconds after it finishes that the task is deleted; none means the operator's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub ttl_seconds_after_finished: Option<i64>,
}

/// The Task (and tool call) that started a child task.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ParentTask {
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// The parent's tool call that this task answers.
    #[schemars(length(min = 1, max = 128))]
    pub tool_call_id: String,
    /// The agents of the chain of calls, outermost first, ending with the parent's.
    #[schemars(length(max = 8))]
    pub agents: Vec<String>,
}

/// Caps on a task's run; each absent field leaves the Agent's limit alone.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskLimits {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_steps: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub timeout_seconds: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_total_tokens: Option<i64>,
}

/// The user or trigger a task was created for.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Requester {
    /// The user id (JWT `sub` or Kratos identity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub user: Option<String>,
    /// The Trigger that fired it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 63))]
    pub trigger: Option<String>,
}

/// A person's decision on one tool call.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "self == oldSelf",
    "message": "a decision cannot be changed"
}]))]
pub struct ToolCallDecision {
    /// The `toolCallId` of an entry of `status.pendingApprovals`.
    #[schemars(length(min = 1, max = 128))]
    pub tool_call_id: String,
    pub decision: Decision,
    /// Why; a rejection's reason goes back to the model as the tool's answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub reason: Option<String>,
    /// Who decided. The REST API fills it from the caller's identity; a request through the
    /// Kubernetes API is checked against the requesting user by the chart's admission policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub decided_by: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum Decision {
    Approved,
    Rejected,
}

/// `spec.approvals`: keyed by `toolCallId`, so the apiserver itself refuses two decisions on one
/// call and server-side apply merges them by call.
fn decisions_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let item = generator.subschema_for::<ToolCallDecision>();
    schemars::json_schema!({
        "type": "array",
        "items": item,
        "maxItems": 64,
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["toolCallId"],
    })
}

/// Where a task is in its life.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum TaskPhase {
    Pending,
    Running,
    /// Stopped by `spec.paused`; no replica holds it.
    Paused,
    /// Waits for the child Tasks of agents it called as tools (`status.children`); no replica
    /// holds it.
    AwaitingAgents,
    /// Tool calls wait for a person's decision (`status.pendingApprovals`); no replica holds it.
    AwaitingApproval,
    Succeeded,
    Failed,
    Cancelled,
}

impl TaskPhase {
    /// Whether the task has ended and will not change again.
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }

    /// Whether the run stopped part-way and waits, unclaimed, to be continued.
    pub fn is_suspended(self) -> bool {
        matches!(
            self,
            Self::Paused | Self::AwaitingApproval | Self::AwaitingAgents
        )
    }

    /// The phase as written in status (and in metric labels).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Running => "Running",
            Self::Paused => "Paused",
            Self::AwaitingAgents => "AwaitingAgents",
            Self::AwaitingApproval => "AwaitingApproval",
            Self::Succeeded => "Succeeded",
            Self::Failed => "Failed",
            Self::Cancelled => "Cancelled",
        }
    }
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct TaskStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<TaskPhase>,
    /// A CamelCase word for why the task ended as it did (`Completed`, `ModelError`, `Timeout`,
    /// `MaxStepsExceeded`, `BudgetExceeded`, `AgentNotFound`, `Cancelled`, `RunnerLost`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
    /// Identifies one run; a new one starts if a lost run is resumed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<Time>,
    /// Which operator replica runs the task; it renews `renewTime` while it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<TaskClaim>,
    /// The run's events in order. Bounded: large payloads are truncated with a marker, and when
    /// too many steps accumulate the oldest are dropped (`droppedSteps` counts them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<TaskStep>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_count: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropped_steps: Option<i64>,
    /// The agent's final answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "any_value")]
    pub result: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Where the run's whole conversation is kept, so that any replica can continue it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<ConversationRef>,
    /// Tool calls the model asked for that wait for a person's decision (`spec.approvals`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending_approvals: Vec<PendingApproval>,
    /// The decisions taken so far, with who took them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "decisions_schema")]
    pub approvals: Vec<ToolCallDecision>,
    /// The child Tasks started by calls of other agents as tools.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<ChildTask>,
    /// Runners the task has lost (their claim lapsed) and that another replica replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runners_lost: Option<i32>,
    /// Seconds the run has been active in its earlier segments (before a pause, a wait for
    /// approval or a hand-back), counted against the Agent's `limits.timeoutSeconds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_seconds: Option<i64>,
}

/// The conversation of a run: while small, inline (`inline`, a gzip of the messages as JSON
/// lines); beyond that in Secrets owned by the Task (labelled `agentarea.io/task-uid`), each a
/// gzip of part of them. The first `messages` messages, in this order, are the conversation; a
/// chunk that is not listed was written by a runner that lost its claim before recording it, and
/// is ignored.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConversationRef {
    /// Secret names, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chunks: Vec<String>,
    /// The whole conversation, gzipped, while it is small (then there are no chunks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "base64_bytes")]
    pub inline: Option<k8s_openapi::ByteString>,
    pub messages: i64,
    /// Size of the messages as JSON.
    pub bytes: i64,
    /// Size of the conversation as stored (compressed).
    pub stored_bytes: i64,
}

/// Bytes, as base64 text (as a Secret's `data`).
fn base64_bytes(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"type": "string", "format": "byte"})
}

/// A child Task, started by one tool call.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChildTask {
    pub name: String,
    pub agent: String,
    pub tool_call_id: String,
}

/// A tool call that waits for a person.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PendingApproval {
    pub tool_call_id: String,
    /// The tool as the model named it.
    pub tool: String,
    /// The arguments as the model wrote them (JSON text, possibly truncated).
    pub arguments: String,
    /// Why it needs approval (the Agent's listing, the Task's `requiresHumanApproval`, or the
    /// tool's annotations under the Agent's policy).
    pub because: String,
    pub requested_at: Time,
    /// When the Agent's `approval.timeoutSeconds` ends the wait.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<Time>,
}

/// The lease a runner holds on a task.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskClaim {
    /// The operator replica (pod name or host and pid).
    pub holder: String,
    pub acquire_time: Time,
    pub renew_time: Time,
    /// After this many seconds without a renewal, the claim is lost and another runner takes over.
    pub lease_duration_seconds: i64,
    /// How many runners have claimed the task.
    pub attempt: i32,
}

/// One event of a task's run, named as AgentArea names them (`WorkflowStarted`, `LLMCallStarted`,
/// `LLMCallCompleted`, `ToolCallStarted`, `ToolCallCompleted`, `ToolCallFailed`,
/// `WorkflowCompleted`, `WorkflowFailed`, `WorkflowCancelled`, ...).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskStep {
    /// 1-based, gapless within a task; the SSE event id is derived from it.
    pub seq: i64,
    pub time: Time,
    #[serde(rename = "type")]
    #[schemars(length(min = 1, max = 64))]
    pub type_: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_form_object")]
    pub data: Option<Value>,
}

/// Tokens spent, summed over the run.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub total_tokens: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_phase_names_itself_as_status_does() {
        use TaskPhase::*;
        for phase in [
            Pending,
            Running,
            Paused,
            AwaitingAgents,
            AwaitingApproval,
            Succeeded,
            Failed,
            Cancelled,
        ] {
            assert_eq!(serde_json::to_value(phase).unwrap(), phase.as_str());
        }
    }
}
