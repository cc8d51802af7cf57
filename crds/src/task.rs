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

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires_human_approval: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_agent_communication: Option<bool>,

    /// Seconds after it finishes that the task is deleted; none means the operator's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub ttl_seconds_after_finished: Option<i64>,
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

/// Where a task is in its life.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum TaskPhase {
    Pending,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl TaskPhase {
    /// Whether the task has ended and will not change again.
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }

    /// The phase as written in status (and in metric labels).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Running => "Running",
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
        for phase in [Pending, Running, Succeeded, Failed, Cancelled] {
            assert_eq!(serde_json::to_value(phase).unwrap(), phase.as_str());
        }
    }
}
