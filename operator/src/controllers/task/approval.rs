//! Which tool calls of a run wait for a person, what the wait records, and what the decisions
//! taken on it record; decided without I/O, so the loop only acts.

use std::collections::HashMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::SignedDuration;
use serde_json::json;

use agentarea_crds::steps;
use agentarea_crds::task::{Decision, PendingApproval, ToolCallDecision};
use agentarea_crds::{Agent, Task};

use super::decide::{CallPlan, OnTimeout};
use super::record::Step;
use super::toolbox::{Toolbox, approval_timeout};
use crate::model::ToolCall;
use crate::text::truncate;

/// Bytes of a waiting call's arguments shown in `status.pendingApprovals`.
const MAX_PENDING_ARGUMENT_BYTES: usize = 4096;

/// Who must approve which tool calls of a run, and what happens when nobody does in time.
pub struct ApprovalPolicy {
    /// The Task's `requiresHumanApproval`: every call.
    every_call: bool,
    /// Seconds a call waits before `on_timeout` applies; none waits for ever.
    pub timeout: Option<u64>,
    pub on_timeout: OnTimeout,
}

impl ApprovalPolicy {
    pub fn of(agent: &Agent, task: &Task) -> Self {
        let (timeout, on_timeout) = approval_timeout(agent);
        Self {
            every_call: task.spec.requires_human_approval == Some(true),
            timeout,
            on_timeout,
        }
    }

    /// Why a call of `tool` needs a person's approval, if it does.
    pub fn needs(&self, tools: &Toolbox, tool: &str) -> Option<String> {
        if self.every_call {
            return Some("the task requires human approval of every tool call".into());
        }
        tools.approval_reason(tool)
    }
}

/// The calls of `plans` that wait, as `status.pendingApprovals` lists them, asked for at
/// `requested_at` and waiting at most `timeout` seconds.
pub fn pending_approvals(
    calls: &[ToolCall],
    plans: &[CallPlan],
    requested_at: Time,
    timeout: Option<u64>,
) -> Vec<PendingApproval> {
    let deadline =
        timeout.map(|timeout| Time(requested_at.0 + SignedDuration::from_secs(timeout as i64)));
    calls
        .iter()
        .zip(plans)
        .filter_map(|(call, plan)| match plan {
            CallPlan::Wait(because) => Some(PendingApproval {
                tool_call_id: call.id.clone(),
                tool: call.function.name.clone(),
                arguments: truncate(&call.function.arguments, MAX_PENDING_ARGUMENT_BYTES),
                because: because.clone(),
                requested_at: requested_at.clone(),
                deadline: deadline.clone(),
            }),
            _ => None,
        })
        .collect()
}

/// For each of `calls` that waited (`pending`) and has a decision (a person's in `decided`, or a
/// rejection by the time-out when `timed_out`): its `HumanApprovalReceived` step, and the
/// decision to keep in `status.approvals`.
pub fn decisions_received(
    calls: &[ToolCall],
    pending: &[PendingApproval],
    decided: &HashMap<&str, &ToolCallDecision>,
    timed_out: bool,
) -> (Vec<Step>, Vec<ToolCallDecision>) {
    let mut received = Vec::new();
    let mut kept = Vec::new();
    for call in calls {
        if !pending.iter().any(|p| p.tool_call_id == call.id) {
            continue;
        }
        let decision = match decided.get(call.id.as_str()) {
            Some(decision) => (*decision).clone(),
            None if timed_out => ToolCallDecision {
                tool_call_id: call.id.clone(),
                decision: Decision::Rejected,
                reason: Some("nobody decided in time".into()),
                decided_by: None,
            },
            None => continue,
        };
        let word = match decision.decision {
            Decision::Approved => "approved",
            Decision::Rejected => "rejected",
        };
        let by = decision.decided_by.as_deref().unwrap_or("the time-out");
        received.push(
            Step::new(
                steps::HUMAN_APPROVAL_RECEIVED,
                format!("{} {word} by {by}", call.function.name),
            )
            .with_data(json!({
                "tool_call_id": call.id,
                "tool": call.function.name,
                "approved": decision.decision == Decision::Approved,
                "reason": decision.reason,
                "decided_by": decision.decided_by,
            })),
        );
        kept.push(decision);
    }
    (received, kept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentarea_crds::common::now;

    fn call(id: &str) -> ToolCall {
        ToolCall::of(id, "delete_file", &format!("{{\"path\":\"{id}\"}}"))
    }

    #[test]
    fn only_waiting_calls_are_pending_with_one_deadline() {
        let calls = [call("a"), call("b"), call("c")];
        let plans = [
            CallPlan::Make,
            CallPlan::Wait("destructiveHint".into()),
            CallPlan::Reject("no".into()),
        ];
        let at = now();
        let pending = pending_approvals(&calls, &plans, at.clone(), Some(60));
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].tool_call_id, "b");
        assert_eq!(pending[0].because, "destructiveHint");
        assert_eq!(pending[0].arguments, "{\"path\":\"b\"}");
        assert_eq!(
            pending[0].deadline.as_ref().unwrap().0,
            at.0 + SignedDuration::from_secs(60)
        );
        assert_eq!(
            pending_approvals(&calls, &plans, at, None)[0].deadline,
            None
        );
    }

    #[test]
    fn each_decided_waiting_call_is_received_once_and_the_time_out_rejects_the_rest() {
        let calls = [call("a"), call("b"), call("c")];
        let waited = |id: &str| PendingApproval {
            tool_call_id: id.into(),
            tool: "delete_file".into(),
            arguments: String::new(),
            because: String::new(),
            requested_at: now(),
            deadline: None,
        };
        let pending = [waited("a"), waited("b")];
        let ana = ToolCallDecision {
            tool_call_id: "a".into(),
            decision: Decision::Approved,
            reason: None,
            decided_by: Some("ana".into()),
        };
        let decided = HashMap::from([("a", &ana)]);
        // In time: only the decided call; "c" never waited.
        let (steps, kept) = decisions_received(&calls, &pending, &decided, false);
        assert_eq!(kept, vec![ana.clone()]);
        assert_eq!(
            steps[0].message.as_deref(),
            Some("delete_file approved by ana")
        );
        // Past the deadline the undecided one is rejected by the time-out.
        let (steps, kept) = decisions_received(&calls, &pending, &decided, true);
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[1].decision, Decision::Rejected);
        assert_eq!(kept[1].decided_by, None);
        assert_eq!(
            steps[1].message.as_deref(),
            Some("delete_file rejected by the time-out")
        );
    }
}
