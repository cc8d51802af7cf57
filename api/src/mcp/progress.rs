//! What a caller of an agent's tool is told while the agent works: a progress notification per
//! step of the run, and one when the run stops to wait (for approval, for a pause).

use agentarea_crds::task::TaskStep;
use agentarea_crds::{Task, TaskPhase};

use crate::model::tasks::phase;

/// The progress message of one step: its own message, after what kind of step it is.
pub fn step_message(step: &TaskStep) -> String {
    match step.message.as_deref().map(str::trim) {
        Some(message) if !message.is_empty() => format!("{}: {message}", step.type_),
        _ => step.type_.clone(),
    }
}

/// What the caller is told when `task` (whose REST id is `task_id`) waits for something other
/// than the agent, if it does: who has to act, and how.
pub fn waiting_message(task: &Task, task_id: &str) -> Option<String> {
    match phase(task) {
        TaskPhase::AwaitingApproval => {
            let pending = task
                .status
                .as_ref()
                .map(|s| s.pending_approvals.as_slice())
                .unwrap_or_default();
            let tools: Vec<String> = pending
                .iter()
                .map(|p| format!("{} ({})", p.tool, p.because))
                .collect();
            Some(format!(
                "waiting for approval of {}: decide with POST /v1/tasks/{task_id}/approvals, \
                 in the console, or with kubectl",
                if tools.is_empty() {
                    "a tool call".to_string()
                } else {
                    tools.join(", ")
                }
            ))
        }
        TaskPhase::Paused => Some(format!(
            "paused: resume with POST /v1/tasks/{task_id}/resume"
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use agentarea_crds::TaskStatus;
    use agentarea_crds::task::PendingApproval;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use serde_json::json;

    use super::*;
    use crate::mcp::fixtures::task_with;

    fn time() -> Time {
        Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH)
    }

    fn step(type_: &str, message: Option<&str>) -> TaskStep {
        TaskStep {
            seq: 1,
            time: time(),
            type_: type_.into(),
            message: message.map(String::from),
            data: Some(json!({})),
        }
    }

    #[test]
    fn a_step_says_what_it_is_and_its_message() {
        let cases = [
            (
                step("ToolCallStarted", Some("calling add")),
                "ToolCallStarted: calling add",
            ),
            (step("LLMCallStarted", None), "LLMCallStarted"),
            (step("LLMCallStarted", Some(" ")), "LLMCallStarted"),
        ];
        for (step, want) in cases {
            assert_eq!(step_message(&step), want);
        }
    }

    fn task(phase: TaskPhase, pending: &[(&str, &str)]) -> Task {
        task_with(TaskStatus {
            phase: Some(phase),
            pending_approvals: pending
                .iter()
                .map(|(tool, because)| PendingApproval {
                    tool_call_id: "c1".into(),
                    tool: tool.to_string(),
                    arguments: "{}".into(),
                    because: because.to_string(),
                    requested_at: time(),
                    deadline: None,
                })
                .collect(),
            ..TaskStatus::default()
        })
    }

    #[test]
    fn a_wait_says_who_has_to_act_and_how() {
        let cases = [
            (task(TaskPhase::Running, &[]), None),
            (task(TaskPhase::Succeeded, &[]), None),
            (
                task(
                    TaskPhase::AwaitingApproval,
                    &[("delete", "listed by the agent")],
                ),
                Some(
                    "waiting for approval of delete (listed by the agent): decide with POST \
                     /v1/tasks/42/approvals, in the console, or with kubectl",
                ),
            ),
            (
                task(TaskPhase::AwaitingApproval, &[]),
                Some(
                    "waiting for approval of a tool call: decide with POST \
                     /v1/tasks/42/approvals, in the console, or with kubectl",
                ),
            ),
            (
                task(TaskPhase::Paused, &[]),
                Some("paused: resume with POST /v1/tasks/42/resume"),
            ),
        ];
        for (task, want) in cases {
            assert_eq!(waiting_message(&task, "42").as_deref(), want);
        }
    }
}
