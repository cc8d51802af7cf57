//! AgentArea's answers about a task's execution: the `result` object, the `status` route's body,
//! and the action routes under `/v1/agents/{agent_id}/tasks/{task_id}` (cancel, pause, resume)
//! with the bodies and status codes AgentArea's CLI and frontend read.
//!
//! Our own action routes (`/v1/tasks/{id}/cancel|pause|resume`) keep answering the whole task and
//! 409 for a task that has ended ([`super::check_cancellable`], [`super::pause_patch`]).

use axum::http::StatusCode;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use serde_json::Value;

use agentarea_crds::{Task, TaskPhase};

use super::phase::{phase, rest_status};
use super::wire::{TaskActionResponse, TaskResult};
use crate::error::ApiError;

/// What a client asks of a task that runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskAction {
    Cancel,
    Pause,
    Resume,
}

impl TaskAction {
    /// The status word the answer reports: what was asked, which the run reaches at its next
    /// boundary.
    fn status(self) -> &'static str {
        match self {
            Self::Cancel => "cancelled",
            Self::Pause => "paused",
            Self::Resume => "running",
        }
    }

    fn message(self) -> &'static str {
        match self {
            Self::Cancel => "Task cancelled successfully",
            Self::Pause => "Task paused successfully",
            Self::Resume => "Task resumed successfully",
        }
    }
}

/// Whether AgentArea lets `action` be taken on a task in `phase` with a pause asked for or not
/// (`paused`), and its answer when not: cancelling an ended task is 404 ("not found or already
/// completed"), pausing or resuming one 400, as are pausing a paused task and resuming one that is
/// not paused.
pub fn refusal(action: TaskAction, phase: TaskPhase, paused: bool) -> Option<ApiError> {
    let status = rest_status(phase);
    let bad_request = |detail: String| Some(ApiError::new(StatusCode::BAD_REQUEST, detail));
    match action {
        TaskAction::Cancel if phase.is_finished() => {
            Some(ApiError::not_found("Task not found or already completed"))
        }
        TaskAction::Cancel => None,
        TaskAction::Pause | TaskAction::Resume if phase.is_finished() => {
            let verb = if action == TaskAction::Pause {
                "pause"
            } else {
                "resume"
            };
            bad_request(format!("Cannot {verb} task in '{status}' state"))
        }
        TaskAction::Pause if paused => bad_request("Task is already paused".into()),
        TaskAction::Resume if !paused => bad_request(format!(
            "Cannot resume task that is not paused (current status: {status})"
        )),
        TaskAction::Pause | TaskAction::Resume => None,
    }
}

/// The answer to an action AgentArea's way, once it was taken.
pub fn acknowledgement(action: TaskAction, task: &Task) -> TaskActionResponse {
    TaskActionResponse {
        status: action.status().into(),
        task_id: task.uid().unwrap_or_default(),
        execution_id: task.status.as_ref().and_then(|s| s.execution_id.clone()),
        message: action.message().into(),
    }
}

/// How a finished task's run ended; `None` while it has not.
pub fn task_result(task: &Task) -> Option<TaskResult> {
    let phase = phase(task);
    if !phase.is_finished() {
        return None;
    }
    let status = task.status.as_ref();
    let output = status.and_then(|s| s.result.clone());
    let succeeded = phase == TaskPhase::Succeeded;
    Some(TaskResult {
        success: succeeded,
        final_response: output.as_ref().map(as_text),
        output,
        error_message: if succeeded {
            None
        } else {
            status.and_then(|s| s.message.clone().or_else(|| s.reason.clone()))
        },
        execution_duration_seconds: status
            .and_then(|s| seconds_between(s.start_time.as_ref()?, s.completion_time.as_ref()?)),
    })
}

/// Why a task failed or was cancelled, for the status route's `error`.
pub fn failure(task: &Task) -> Option<String> {
    task_result(task).and_then(|r| r.error_message)
}

/// Seconds the execution has taken: to its end, or to `now` while it runs.
pub fn execution_seconds(task: &Task, now: &Time) -> Option<f64> {
    let status = task.status.as_ref()?;
    let start = status.start_time.as_ref()?;
    seconds_between(start, status.completion_time.as_ref().unwrap_or(now))
}

/// A final answer as text: text as it is, a structured answer as its JSON.
fn as_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn seconds_between(start: &Time, end: &Time) -> Option<f64> {
    let seconds = end.0.duration_since(start.0).as_secs_f64();
    (seconds >= 0.0).then_some(seconds)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use agentarea_crds::TaskStatus;

    use TaskAction::*;
    use TaskPhase::*;

    /// The refusal's status and detail, or None when the action is taken.
    type Refusal = Option<(u16, &'static str)>;

    /// (action, phase, pause asked) -> the refusal.
    #[test]
    fn actions_are_refused_as_agentarea_refuses_them() {
        let cases: &[(TaskAction, TaskPhase, bool, Refusal)] = &[
            (Cancel, Pending, false, None),
            (Cancel, Running, false, None),
            (Cancel, Paused, true, None),
            (Cancel, AwaitingApproval, false, None),
            (
                Cancel,
                Succeeded,
                false,
                Some((404, "Task not found or already completed")),
            ),
            (
                Cancel,
                Failed,
                false,
                Some((404, "Task not found or already completed")),
            ),
            (
                Cancel,
                Cancelled,
                false,
                Some((404, "Task not found or already completed")),
            ),
            (Pause, Running, false, None),
            (Pause, Pending, false, None),
            (Pause, Running, true, Some((400, "Task is already paused"))),
            (Pause, Paused, true, Some((400, "Task is already paused"))),
            (
                Pause,
                Succeeded,
                false,
                Some((400, "Cannot pause task in 'completed' state")),
            ),
            (
                Pause,
                Cancelled,
                false,
                Some((400, "Cannot pause task in 'cancelled' state")),
            ),
            (Resume, Paused, true, None),
            (Resume, Running, true, None),
            (
                Resume,
                Running,
                false,
                Some((
                    400,
                    "Cannot resume task that is not paused (current status: running)",
                )),
            ),
            (
                Resume,
                Failed,
                true,
                Some((400, "Cannot resume task in 'failed' state")),
            ),
        ];
        for (action, phase, paused, expected) in cases {
            let got = refusal(*action, *phase, *paused).map(|e| (e.status.as_u16(), e.detail));
            let expected = expected.map(|(code, detail)| (code, detail.to_string()));
            assert_eq!(got, expected, "{action:?} in {phase:?} (paused: {paused})");
        }
    }

    fn task(phase: TaskPhase, result: Option<Value>, message: Option<&str>) -> Task {
        let mut task = Task::new("t", Default::default());
        task.status = Some(TaskStatus {
            phase: Some(phase),
            result,
            message: message.map(Into::into),
            start_time: Some(Time("2026-12-07T10:00:00Z".parse().unwrap())),
            completion_time: phase
                .is_finished()
                .then(|| Time("2026-12-07T10:00:02.5Z".parse().unwrap())),
            ..Default::default()
        });
        task
    }

    #[test]
    fn a_result_is_the_answer_as_text_and_as_given() {
        let text = task_result(&task(Succeeded, Some(json!("Paris")), None)).unwrap();
        assert!(text.success);
        assert_eq!(text.final_response.as_deref(), Some("Paris"));
        assert_eq!(text.output, Some(json!("Paris")));
        assert_eq!(text.error_message, None);
        assert_eq!(text.execution_duration_seconds, Some(2.5));

        let structured = task_result(&task(Succeeded, Some(json!({"a": 1})), None)).unwrap();
        assert_eq!(structured.final_response.as_deref(), Some(r#"{"a":1}"#));
        assert_eq!(structured.output, Some(json!({"a": 1})));
    }

    #[test]
    fn a_failed_run_says_why_and_a_running_one_has_no_result() {
        let failed = task_result(&task(Failed, None, Some("the model refused"))).unwrap();
        assert!(!failed.success);
        assert_eq!(failed.final_response, None);
        assert_eq!(failed.error_message.as_deref(), Some("the model refused"));
        assert!(task_result(&task(Running, None, None)).is_none());
        assert!(task_result(&task(AwaitingApproval, None, None)).is_none());
    }

    #[test]
    fn execution_time_runs_to_now_until_the_end() {
        let now = Time("2026-12-07T10:00:10Z".parse().unwrap());
        assert_eq!(
            execution_seconds(&task(Running, None, None), &now),
            Some(10.0)
        );
        assert_eq!(
            execution_seconds(&task(Succeeded, None, None), &now),
            Some(2.5)
        );
        assert_eq!(
            execution_seconds(&Task::new("t", Default::default()), &now),
            None
        );
    }
}
