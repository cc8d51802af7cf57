//! The task bodies of `/v1/tasks` and `/v1/agents/{agent_id}/tasks`, and the pages of a task's
//! run events, as clients send and receive them.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::constraints::{PageNumber, PageSize, Reason, Text};

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
    /// How the run ended, once it has; null while it runs.
    pub result: Option<TaskResult>,
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

/// How a finished run ended, in the shape of AgentArea's execution result (its clients read
/// `result` as an object: the CLI `output`, the frontend `final_response`).
#[derive(Serialize, Debug, ToSchema)]
pub struct TaskResult {
    /// Whether the run completed with an answer.
    pub success: bool,
    /// The agent's final answer as text (a structured answer as its JSON text).
    pub final_response: Option<String>,
    /// The agent's final answer as it gave it: text, or a structured value.
    #[schema(value_type = Option<Object>)]
    pub output: Option<Value>,
    /// Why the run did not complete (failed or cancelled).
    pub error_message: Option<String>,
    /// Seconds from the run's start to its end.
    pub execution_duration_seconds: Option<f64>,
}

/// `GET /v1/agents/{agent_id}/tasks/{task_id}/status` and `GET /v1/tasks/{id}/status`: the state
/// of a task's execution, as AgentArea's CLI and frontend read it.
#[derive(Serialize, Debug, ToSchema)]
pub struct TaskStatusResponse {
    pub task_id: String,
    pub agent_id: String,
    pub execution_id: Option<String>,
    /// The task's status word, as `TaskResponse.status`.
    pub status: String,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    /// Seconds from start to end (or to now, while it runs).
    pub execution_time: Option<f64>,
    /// Why it failed or was cancelled.
    pub error: Option<String>,
    pub result: Option<TaskResult>,
    pub message: Option<String>,
    /// Tokens the run's model calls used.
    #[schema(value_type = Option<Object>)]
    pub usage_metadata: Option<Value>,
}

/// The answer of AgentArea's action routes on a task (`DELETE`, `pause`, `resume` under
/// `/v1/agents/{agent_id}/tasks/{task_id}`): what was asked, not yet what the run has done.
#[derive(Serialize, Debug, ToSchema)]
pub struct TaskActionResponse {
    /// `cancelled`, `paused`, or `running` (resumed).
    pub status: String,
    pub task_id: String,
    pub execution_id: Option<String>,
    pub message: String,
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
    pub page_size: Option<PageSize>,
    pub event_type: Option<String>,
}
