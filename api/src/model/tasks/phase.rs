//! A task's phase, and its word on the REST wire.

use agentarea_crds::{Task, TaskPhase};

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
