//! The `type` of each step in a Task's `status.steps`. The api filters and streams on them and
//! clients key on them (they are AgentArea's event names), so they are spelled only here.

/// A run began (again, after `RunnerLost`).
pub const WORKFLOW_STARTED: &str = "WorkflowStarted";
/// The run ended with the Task Succeeded.
pub const WORKFLOW_COMPLETED: &str = "WorkflowCompleted";
/// The run ended with the Task Failed.
pub const WORKFLOW_FAILED: &str = "WorkflowFailed";
/// The run ended with the Task Cancelled.
pub const WORKFLOW_CANCELLED: &str = "WorkflowCancelled";
/// A model call began.
pub const LLM_CALL_STARTED: &str = "LLMCallStarted";
/// A model call answered.
pub const LLM_CALL_COMPLETED: &str = "LLMCallCompleted";
/// A model call failed (a transient failure is retried; the step is recorded each time).
pub const LLM_CALL_FAILED: &str = "LLMCallFailed";
/// A tool call began.
pub const TOOL_CALL_STARTED: &str = "ToolCallStarted";
/// A tool call returned a result.
pub const TOOL_CALL_COMPLETED: &str = "ToolCallCompleted";
/// A tool call failed; its error went back to the model as the result.
pub const TOOL_CALL_FAILED: &str = "ToolCallFailed";
/// The previous runner's claim lapsed and the run starts again.
pub const RUNNER_LOST: &str = "RunnerLost";
/// The runner shut down and handed the Task back.
pub const RUNNER_STOPPED: &str = "RunnerStopped";
/// A run continues its kept conversation (after a pause, an approval, a hand-back or a lost
/// runner).
pub const WORKFLOW_RESUMED: &str = "WorkflowResumed";
/// The run stopped at `spec.paused`.
pub const WORKFLOW_PAUSED: &str = "WorkflowPaused";
/// Tool calls wait for a person's decision.
pub const HUMAN_APPROVAL_REQUESTED: &str = "HumanApprovalRequested";
/// A person (or the time-out) decided on a tool call.
pub const HUMAN_APPROVAL_RECEIVED: &str = "HumanApprovalReceived";

/// The step type that closes a run ending in `phase`.
pub fn closing(phase: crate::TaskPhase) -> &'static str {
    match phase {
        crate::TaskPhase::Succeeded => WORKFLOW_COMPLETED,
        crate::TaskPhase::Cancelled => WORKFLOW_CANCELLED,
        _ => WORKFLOW_FAILED,
    }
}
