//! What a run ends with, where it stops part-way, and what asks it to stop: the types every part
//! of the task runtime speaks, at the bottom of its imports.

use serde_json::Value;

use agentarea_crds::task::{ConversationRef, PendingApproval, Usage};
use agentarea_crds::{TaskPhase, reasons};

use crate::problem::Problem;

/// How a run ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub phase: TaskPhase,
    /// CamelCase, for `status.reason`.
    pub reason: &'static str,
    pub message: String,
    pub result: Option<Value>,
}

impl Outcome {
    pub fn failed(reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            phase: TaskPhase::Failed,
            reason,
            message: message.into(),
            result: None,
        }
    }

    pub fn cancelled(message: impl Into<String>) -> Self {
        Self {
            phase: TaskPhase::Cancelled,
            reason: reasons::CANCELLED,
            message: message.into(),
            result: None,
        }
    }

    /// A final answer ends the task; but when the last tool calls failed and the model answered
    /// without trying again, the task failed with them, and the answer is kept as its result.
    pub fn answered(answer: String, tool_error: Option<String>) -> Self {
        match tool_error {
            None => Self {
                phase: TaskPhase::Succeeded,
                reason: reasons::COMPLETED,
                message: "the agent answered".into(),
                result: Some(Value::String(answer)),
            },
            Some(error) => Self {
                result: Some(Value::String(answer)),
                ..Self::failed(reasons::TOOL_ERROR, error)
            },
        }
    }

    /// The failure of a task that has spent more tokens than the agent's budget, if it has.
    pub fn over_budget(usage: &Usage, budget: Option<i64>) -> Option<Self> {
        let budget = budget?;
        (usage.total_tokens > budget).then(|| {
            Self::failed(
                reasons::BUDGET_EXCEEDED,
                format!(
                    "the task spent {} tokens, over the agent's budget of {budget}",
                    usage.total_tokens
                ),
            )
        })
    }
}

impl From<Problem> for Outcome {
    fn from(problem: Problem) -> Self {
        Self::failed(problem.reason, problem.message)
    }
}

/// How a run's segment ended: with the Task, or stopped part-way with its conversation kept.
#[derive(Debug)]
pub enum RunEnd {
    Finished(Outcome),
    Suspended(Suspension),
}

impl From<Outcome> for RunEnd {
    fn from(outcome: Outcome) -> Self {
        Self::Finished(outcome)
    }
}

/// A run that stopped at a step boundary, to be continued by whichever replica claims it next.
#[derive(Debug)]
pub struct Suspension {
    pub why: SuspendedFor,
    /// The kept conversation, to record in status.
    pub conversation: ConversationRef,
}

#[derive(Debug)]
pub enum SuspendedFor {
    /// `spec.paused`.
    Pause,
    /// These tool calls wait for a person.
    Approval(Vec<PendingApproval>),
    /// The replica is shutting down.
    Shutdown,
    /// The child tasks of these agent calls are running.
    Agents(Vec<String>),
}

/// Why a run is asked to stop before it ends by itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// `spec.cancel` was set: the run stops at once.
    Cancelled,
    /// The heartbeat found the claim taken or the task deleted: the run stops at once.
    Lost,
    /// `spec.paused` was set: the run stops at its next boundary.
    Pause,
    /// The operator is shutting down: the run stops at its next boundary, or is abandoned when
    /// the drain time runs out.
    Shutdown,
}

impl Stop {
    /// Whether asking for `self` replaces the request `current`: a stop at once overrides one at
    /// the next boundary, and a shutdown overrides a pause (the pause is still in the spec, so
    /// the next replica pauses the task).
    pub fn overrides(self, current: Option<Stop>) -> bool {
        match current {
            None => true,
            Some(Stop::Pause) => self != Stop::Pause,
            Some(Stop::Shutdown) => matches!(self, Stop::Cancelled | Stop::Lost),
            Some(Stop::Cancelled | Stop::Lost) => false,
        }
    }

    /// What a run asked to stop for `self` stops at a boundary for; `None` for the stops that do
    /// not wait for a boundary (the caller drops the run).
    pub fn at_boundary(self) -> Option<SuspendedFor> {
        match self {
            Stop::Pause => Some(SuspendedFor::Pause),
            Stop::Shutdown => Some(SuspendedFor::Shutdown),
            Stop::Cancelled | Stop::Lost => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stop_at_once_overrides_a_stop_at_the_next_boundary() {
        use Stop::*;
        for (current, asked, replaces) in [
            (None, Pause, true),
            (None, Cancelled, true),
            (Some(Pause), Shutdown, true),
            (Some(Pause), Cancelled, true),
            (Some(Pause), Pause, false),
            (Some(Shutdown), Pause, false),
            (Some(Shutdown), Lost, true),
            (Some(Cancelled), Lost, false),
            (Some(Lost), Cancelled, false),
        ] {
            assert_eq!(
                asked.overrides(current),
                replaces,
                "{asked:?} over {current:?}"
            );
        }
    }

    #[test]
    fn only_spending_more_than_the_budget_fails_the_task() {
        let spent = |total_tokens| Usage {
            total_tokens,
            ..Usage::default()
        };
        for (total, budget, fails) in [
            (100, None, false),
            (100, Some(100), false),
            (101, Some(100), true),
            (0, Some(0), false),
        ] {
            let outcome = Outcome::over_budget(&spent(total), budget);
            assert_eq!(outcome.is_some(), fails, "{total} tokens of {budget:?}");
            if let Some(outcome) = outcome {
                assert_eq!(outcome.reason, reasons::BUDGET_EXCEEDED);
                assert!(
                    outcome.message.contains("101 tokens"),
                    "{}",
                    outcome.message
                );
            }
        }
    }

    #[test]
    fn an_unanswered_tool_error_fails_the_task_but_keeps_the_answer() {
        let outcome = Outcome::answered("sorry".into(), Some("echo failed".into()));
        assert_eq!(outcome.phase, TaskPhase::Failed);
        assert_eq!(outcome.reason, reasons::TOOL_ERROR);
        assert_eq!(outcome.result, Some(Value::String("sorry".into())));
        assert_eq!(
            Outcome::answered("done".into(), None).phase,
            TaskPhase::Succeeded
        );
    }
}
