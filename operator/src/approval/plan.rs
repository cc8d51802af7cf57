//! What becomes of each tool call the model asks for while approvals are in play: made, rejected
//! (and what the model is told), or left waiting for a person; and whether a wait is over.
//! Decided without I/O, from the decisions in the Task's spec and the wait's deadlines.

use std::collections::HashMap;

use k8s_openapi::jiff::Timestamp;

use agentarea_crds::task::{Decision, PendingApproval, ToolCallDecision};

/// What the run does with one tool call the model asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum CallPlan {
    /// Make it (no approval needed, or approved).
    Make,
    /// Do not make it; this text goes back to the model as its result.
    Reject(String),
    /// Wait for a person's decision, for this reason.
    Wait(String),
}

/// The plan for `call`: `needs_approval` says why a person must decide (none: free to make),
/// `decision` is theirs if given, and `timed_out` whether the wait's deadline has passed.
pub fn plan_call(
    needs_approval: Option<&str>,
    decision: Option<&ToolCallDecision>,
    timed_out: bool,
) -> CallPlan {
    let Some(because) = needs_approval else {
        return CallPlan::Make;
    };
    match decision {
        Some(d) if d.decision == Decision::Approved => CallPlan::Make,
        Some(d) => CallPlan::Reject(rejection_text(d)),
        None if timed_out => CallPlan::Reject(
            "The call was not made: nobody approved it in time. Do not try it again.".into(),
        ),
        None => CallPlan::Wait(because.to_string()),
    }
}

/// What the model reads for a rejected call.
fn rejection_text(decision: &ToolCallDecision) -> String {
    let by = decision
        .decided_by
        .as_deref()
        .map_or(String::new(), |who| format!(" by {who}"));
    match decision.reason.as_deref().filter(|r| !r.trim().is_empty()) {
        Some(reason) => format!("The call was rejected{by} and not made. Reason: {reason}"),
        None => format!("The call was rejected{by} and not made."),
    }
}

/// The decisions in `approvals` by tool call id.
pub fn decisions(approvals: &[ToolCallDecision]) -> HashMap<&str, &ToolCallDecision> {
    approvals
        .iter()
        .map(|d| (d.tool_call_id.as_str(), d))
        .collect()
}

/// The earliest deadline among `pending` that has passed by `at`, if any.
pub fn wait_timed_out(pending: &[PendingApproval], at: Timestamp) -> bool {
    pending
        .iter()
        .filter_map(|p| p.deadline.as_ref())
        .any(|deadline| deadline.0 <= at)
}

/// Whether every call `pending` names has a decision in `approvals`.
pub fn all_decided(pending: &[PendingApproval], approvals: &[ToolCallDecision]) -> bool {
    let decided = decisions(approvals);
    pending
        .iter()
        .all(|p| decided.contains_key(p.tool_call_id.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentarea_crds::common::now;

    #[test]
    fn a_call_is_made_rejected_or_waits_as_its_approval_says() {
        let decided = |decision, reason: Option<&str>| ToolCallDecision {
            tool_call_id: "a".into(),
            decision,
            reason: reason.map(Into::into),
            decided_by: Some("ana".into()),
        };
        let approved = decided(Decision::Approved, None);
        let rejected = decided(Decision::Rejected, Some("not today"));
        let bare = ToolCallDecision {
            decided_by: None,
            ..decided(Decision::Rejected, Some(" "))
        };
        let cases = [
            (None, None, false, CallPlan::Make),
            (Some("listed"), None, false, CallPlan::Wait("listed".into())),
            (Some("listed"), Some(&approved), false, CallPlan::Make),
            // A decision counts even after the deadline.
            (Some("listed"), Some(&approved), true, CallPlan::Make),
            (
                Some("listed"),
                Some(&rejected),
                false,
                CallPlan::Reject(
                    "The call was rejected by ana and not made. Reason: not today".into(),
                ),
            ),
            (
                Some("listed"),
                Some(&bare),
                false,
                CallPlan::Reject("The call was rejected and not made.".into()),
            ),
            (
                Some("listed"),
                None,
                true,
                CallPlan::Reject(
                    "The call was not made: nobody approved it in time. Do not try it again."
                        .into(),
                ),
            ),
        ];
        for (needs, decision, timed_out, want) in cases {
            assert_eq!(
                plan_call(needs, decision, timed_out),
                want,
                "{needs:?} {decision:?} {timed_out}"
            );
        }
    }

    #[test]
    fn a_wait_ends_when_all_are_decided_or_a_deadline_passes() {
        let pending = |id: &str, deadline: Option<Timestamp>| PendingApproval {
            tool_call_id: id.into(),
            tool: "echo".into(),
            arguments: "{}".into(),
            because: "listed".into(),
            requested_at: now(),
            deadline: deadline.map(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time),
        };
        let at = Timestamp::now();
        let later = at + k8s_openapi::jiff::SignedDuration::from_secs(60);
        let waits = vec![pending("a", Some(later)), pending("b", None)];
        assert!(!wait_timed_out(&waits, at));
        assert!(wait_timed_out(&waits, later));
        let decision = |id: &str| ToolCallDecision {
            tool_call_id: id.into(),
            decision: Decision::Approved,
            reason: None,
            decided_by: None,
        };
        assert!(!all_decided(&waits, &[decision("a")]));
        assert!(all_decided(&waits, &[decision("b"), decision("a")]));
        assert!(all_decided(&[], &[]));
    }
}
