//! A trigger's record of its firings in `status.executions`, newest first, which the controller
//! (for the Tasks it finds) and [`firing`](super::firing) (for the runs it fires, skips or fails
//! to fire) both write; and whether a Task has ended, which both ask.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use agentarea_crds::trigger::{TriggerExecution, push_newest};
use agentarea_crds::{Task, TaskPhase, TriggerStatus};

/// Whether `task` has ended (succeeded, failed or was cancelled).
pub fn finished(task: &Task) -> bool {
    task.status
        .as_ref()
        .and_then(|s| s.phase)
        .is_some_and(TaskPhase::is_finished)
}

/// An entry of `status.executions`.
pub fn execution(
    time: Time,
    status: &str,
    task: Option<String>,
    message: Option<String>,
) -> TriggerExecution {
    TriggerExecution {
        time,
        status: status.into(),
        task,
        message,
        execution_time_ms: None,
    }
}

/// Adds `execution` as the newest of `status.executions` (bounded).
pub fn push_execution(status: &mut TriggerStatus, execution: TriggerExecution) {
    push_newest(&mut status.executions, execution);
}
