//! Problems a user can fix: a missing Secret, an unknown tool, a server that does not answer. They
//! are not reconcile errors (nothing is retried for them); they become the reason and message of a
//! `Ready=False` condition, a Task's failure, or an error a tool call returns.

use agentarea_crds::reasons;

/// A reason from [`agentarea_crds::reasons`] and a message a person can act on.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[error("{message}")]
pub struct Problem {
    pub reason: &'static str,
    pub message: String,
}

impl Problem {
    pub fn new(reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }
}

impl From<&crate::mcp::McpError> for Problem {
    fn from(error: &crate::mcp::McpError) -> Self {
        Self::new(error.reason(), error.to_string())
    }
}

/// The `Ready` condition's status, reason and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    pub ready: bool,
    pub reason: &'static str,
    pub message: String,
}

impl Readiness {
    /// Ready when nothing is wrong; else the first problem's reason with every problem's message,
    /// so that one look at `kubectl describe` shows all that is missing.
    pub fn of(problems: &[Problem], ready_message: String) -> Self {
        match problems.first() {
            None => Self {
                ready: true,
                reason: reasons::RESOLVED,
                message: ready_message,
            },
            Some(first) => Self {
                ready: false,
                reason: first.reason,
                message: problems
                    .iter()
                    .map(|p| p.message.as_str())
                    .collect::<Vec<_>>()
                    .join("; "),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_takes_the_first_reason_and_every_message() {
        let cases: &[(&[Problem], Readiness)] = &[
            (
                &[],
                Readiness {
                    ready: true,
                    reason: reasons::RESOLVED,
                    message: "all good".into(),
                },
            ),
            (
                &[Problem {
                    reason: reasons::SKILL_NOT_FOUND,
                    message: "skill a not found".into(),
                }],
                Readiness {
                    ready: false,
                    reason: reasons::SKILL_NOT_FOUND,
                    message: "skill a not found".into(),
                },
            ),
            (
                &[
                    Problem {
                        reason: reasons::INSTANCE_NOT_READY,
                        message: "one".into(),
                    },
                    Problem {
                        reason: reasons::SECRET_NOT_FOUND,
                        message: "two".into(),
                    },
                ],
                Readiness {
                    ready: false,
                    reason: reasons::INSTANCE_NOT_READY,
                    message: "one; two".into(),
                },
            ),
        ];
        for (problems, want) in cases {
            assert_eq!(&Readiness::of(problems, "all good".into()), want);
        }
    }
}
