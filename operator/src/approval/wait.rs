//! Which tool calls of one run wait for a person, what the wait records, and which decisions were
//! taken on it; decided without I/O, so the run only acts.

use std::collections::HashMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::SignedDuration;

use agentarea_crds::agent::ApprovalTimeoutAction;
use agentarea_crds::task::{Decision, PendingApproval, ToolCallDecision};
use agentarea_crds::{Agent, Task};

use super::plan::CallPlan;
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
    /// What a wait nobody answered in time ends with (the Agent's `toolApproval.onTimeout`).
    pub on_timeout: ApprovalTimeoutAction,
}

impl ApprovalPolicy {
    pub fn of(agent: &Agent, task: &Task) -> Self {
        let settings = agent.spec.tool_approval.as_ref();
        Self {
            every_call: task.spec.requires_human_approval == Some(true),
            timeout: settings
                .and_then(|s| s.timeout_seconds)
                .map(|s| s.max(1) as u64),
            on_timeout: settings.map(|s| s.on_timeout).unwrap_or_default(),
        }
    }

    /// Why a call needs a person's approval, if it does: every call when the task asks for it,
    /// else what the Agent controller decided for the tool (`declared`, from [`super::policy`]).
    pub fn needs(&self, declared: Option<String>) -> Option<String> {
        if self.every_call {
            return Some("the task requires human approval of every tool call".into());
        }
        declared
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
/// rejection by the time-out when `timed_out`): the call with the decision to keep in
/// `status.approvals`, in the order of `calls`.
pub fn decisions_taken<'a>(
    calls: &'a [ToolCall],
    pending: &[PendingApproval],
    decided: &HashMap<&str, &ToolCallDecision>,
    timed_out: bool,
) -> Vec<(&'a ToolCall, ToolCallDecision)> {
    calls
        .iter()
        .filter(|call| pending.iter().any(|p| p.tool_call_id == call.id))
        .filter_map(|call| {
            let decision = match decided.get(call.id.as_str()) {
                Some(decision) => (*decision).clone(),
                None if timed_out => ToolCallDecision {
                    tool_call_id: call.id.clone(),
                    decision: Decision::Rejected,
                    reason: Some("nobody decided in time".into()),
                    decided_by: None,
                },
                None => return None,
            };
            Some((call, decision))
        })
        .collect()
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
        let ids = |taken: &[(&ToolCall, ToolCallDecision)]| {
            taken
                .iter()
                .map(|(call, decision)| (call.id.clone(), decision.clone()))
                .collect::<Vec<_>>()
        };
        // In time: only the decided call; "c" never waited.
        let taken = decisions_taken(&calls, &pending, &decided, false);
        assert_eq!(ids(&taken), vec![("a".to_string(), ana.clone())]);
        // Past the deadline the undecided one is rejected by the time-out.
        let taken = decisions_taken(&calls, &pending, &decided, true);
        assert_eq!(taken.len(), 2);
        assert_eq!(taken[1].0.id, "b");
        assert_eq!(taken[1].1.decision, Decision::Rejected);
        assert_eq!(taken[1].1.decided_by, None);
    }

    #[test]
    fn the_policy_of_a_run_comes_from_the_task_and_the_agents_settings() {
        use agentarea_crds::agent::ToolApproval;
        use agentarea_crds::{AgentSpec, TaskSpec};
        let mut agent = Agent::new("a", AgentSpec::default());
        let mut task = Task::new("t", TaskSpec::default());
        let unset = ApprovalPolicy::of(&agent, &task);
        assert_eq!(
            (unset.timeout, unset.on_timeout),
            (None, ApprovalTimeoutAction::Reject)
        );
        assert_eq!(unset.needs(None), None);
        assert_eq!(
            unset.needs(Some("listed".into())).as_deref(),
            Some("listed")
        );
        agent.spec.tool_approval = Some(ToolApproval {
            timeout_seconds: Some(0),
            on_timeout: ApprovalTimeoutAction::Fail,
            ..ToolApproval::default()
        });
        task.spec.requires_human_approval = Some(true);
        let set = ApprovalPolicy::of(&agent, &task);
        // A zero timeout waits a second rather than rejecting before anyone could look.
        assert_eq!(
            (set.timeout, set.on_timeout),
            (Some(1), ApprovalTimeoutAction::Fail)
        );
        assert!(set.needs(None).unwrap().contains("every tool call"));
    }
}
