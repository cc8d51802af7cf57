//! What a list of tasks can be narrowed to.

use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use agentarea_crds::{Task, TaskPhase};

use super::phase::{phase, rest_status};
use crate::auth::Identity;
use crate::resources::created_by;

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

impl TaskListParams {
    /// Whether `task` passes the filters; `agent` is the agent's object name, already resolved.
    pub fn matches(&self, task: &Task, agent: Option<&str>, caller: &Identity) -> bool {
        agent.is_none_or(|a| task.spec.agent == a)
            && self.status.is_none_or(|s| s.matches(phase(task)))
            && (self.created_by.as_deref() != Some("me")
                || created_by(&task.metadata).as_deref() == Some(caller.subject.as_str()))
    }
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
