//! The tool calls of one model answer: which are made, rejected or left waiting for a person
//! ([`crate::approval`]), the calls made (MCP tools through the toolbox, agents through their
//! child tasks), and their results kept in the conversation.

use std::collections::HashMap;
use std::ops::ControlFlow;

use k8s_openapi::jiff::Timestamp;
use serde_json::json;

use agentarea_crds::agent::ApprovalTimeoutAction;
use agentarea_crds::common::now;
use agentarea_crds::task::{Decision, PendingApproval, ToolCallDecision};
use agentarea_crds::{reasons, steps};

use super::Run;
use super::outcome::{Outcome, RunEnd, SuspendedFor};
use super::toolbox::CallResult;
use crate::approval::plan::{CallPlan, decisions, plan_call, wait_timed_out};
use crate::approval::wait::{decisions_taken, pending_approvals};
use crate::controllers::task::record::{RecordError, Step, push_step};
use crate::model::{Message, ToolCall};

impl Run {
    /// Settles the tool calls of the model's last answer: makes those that need no approval or
    /// were approved, answers rejected ones with the rejection, and keeps the results; or stops
    /// the run while calls wait for a person (or a pause or shutdown was asked for).
    pub(super) async fn settle(
        &mut self,
        calls: Vec<ToolCall>,
    ) -> Result<ControlFlow<RunEnd>, RecordError> {
        let task = self.record.lock().await.task().clone();
        let status = task.status.clone().unwrap_or_default();
        let decided = decisions(&task.spec.approvals);
        let timed_out = wait_timed_out(&status.pending_approvals, Timestamp::now());
        let plans: Vec<CallPlan> = calls
            .iter()
            .map(|call| {
                let needs = self
                    .approval
                    .needs(self.tools.approval_reason(&call.function.name));
                plan_call(
                    needs.as_deref(),
                    decided.get(call.id.as_str()).copied(),
                    timed_out,
                )
            })
            .collect();
        let waiting = self.waiting(&calls, &plans);
        if !waiting.is_empty() {
            return self
                .suspend(SuspendedFor::Approval(waiting))
                .await
                .map(ControlFlow::Break);
        }
        if timed_out
            && self.approval.on_timeout == ApprovalTimeoutAction::Fail
            && calls.iter().any(|c| !decided.contains_key(c.id.as_str()))
            && status
                .pending_approvals
                .iter()
                .any(|p| !decided.contains_key(p.tool_call_id.as_str()))
        {
            return Ok(ControlFlow::Break(
                Outcome::failed(
                    reasons::APPROVAL_TIMED_OUT,
                    "nobody decided on the tool calls waiting for approval in time",
                )
                .into(),
            ));
        }
        if let Some(why) = self.stop_requested().await {
            return self.suspend(why).await.map(ControlFlow::Break);
        }
        self.record_decisions(&calls, &status.pending_approvals, &decided, timed_out)
            .await;
        let (agent_calls, mcp_calls): (Vec<ToolCall>, Vec<ToolCall>) = calls
            .iter()
            .zip(&plans)
            .filter(|(_, plan)| **plan == CallPlan::Make)
            .map(|(call, _)| call.clone())
            .partition(|call| self.tools.agent_of(&call.function.name).is_some());
        let results = self
            .tools
            .call_all(&self.ctx, &self.record, &self.namespace, &mcp_calls)
            .await?;
        let mut made: HashMap<String, CallResult> = results
            .into_iter()
            .map(|r| (r.call_id.clone(), r))
            .collect();
        made.extend(self.ask_agents(&agent_calls).await?);
        self.unanswered_tool_error = None;
        let mut running = Vec::new();
        for (call, plan) in calls.iter().zip(plans) {
            let text = match plan {
                CallPlan::Reject(text) => text,
                _ => {
                    // An agent's child task that is still running answers later.
                    let Some(result) = made.remove(&call.id) else {
                        running.push(call.id.clone());
                        continue;
                    };
                    if self.unanswered_tool_error.is_none() {
                        self.unanswered_tool_error = result.error;
                    }
                    result.text
                }
            };
            self.conversation.push(Message::tool(&call.id, text));
        }
        if !running.is_empty() {
            return self
                .suspend(SuspendedFor::Agents(running))
                .await
                .map(ControlFlow::Break);
        }
        match self.keep().await? {
            Ok(()) => Ok(ControlFlow::Continue(())),
            Err(outcome) => Ok(ControlFlow::Break(outcome.into())),
        }
    }

    /// The calls of `plans` that wait, as `status.pendingApprovals` lists them.
    fn waiting(&self, calls: &[ToolCall], plans: &[CallPlan]) -> Vec<PendingApproval> {
        pending_approvals(calls, plans, now(), self.approval.timeout)
    }

    /// Stages the decisions people (or the time-out) took on the waiting calls: their steps,
    /// `status.approvals`, and an empty `status.pendingApprovals`.
    async fn record_decisions(
        &self,
        calls: &[ToolCall],
        pending: &[PendingApproval],
        decided: &HashMap<&str, &ToolCallDecision>,
        timed_out: bool,
    ) {
        if pending.is_empty() {
            return;
        }
        let taken = decisions_taken(calls, pending, decided, timed_out);
        let received: Vec<Step> = taken
            .iter()
            .map(|(call, decision)| received_step(call, decision))
            .collect();
        let kept: Vec<ToolCallDecision> = taken.into_iter().map(|(_, d)| d).collect();
        self.record.lock().await.stage(move |status| {
            for step in &received {
                push_step(status, step);
            }
            for decision in &kept {
                if !status
                    .approvals
                    .iter()
                    .any(|d| d.tool_call_id == decision.tool_call_id)
                {
                    status.approvals.push(decision.clone());
                }
            }
            status.pending_approvals.clear();
        });
    }
}

/// The `HumanApprovalReceived` step of a decision taken on a call that waited.
fn received_step(call: &ToolCall, decision: &ToolCallDecision) -> Step {
    let word = match decision.decision {
        Decision::Approved => "approved",
        Decision::Rejected => "rejected",
    };
    let by = decision.decided_by.as_deref().unwrap_or("the time-out");
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
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_received_decision_says_who_took_it() {
        let call = ToolCall::of("a", "delete_file", "{}");
        let decision = |decision, decided_by: Option<&str>| ToolCallDecision {
            tool_call_id: "a".into(),
            decision,
            reason: Some("why".into()),
            decided_by: decided_by.map(Into::into),
        };
        for (taken, message, approved) in [
            (
                decision(Decision::Approved, Some("ana")),
                "delete_file approved by ana",
                true,
            ),
            (
                decision(Decision::Rejected, None),
                "delete_file rejected by the time-out",
                false,
            ),
        ] {
            let step = received_step(&call, &taken);
            assert_eq!(step.type_, steps::HUMAN_APPROVAL_RECEIVED);
            assert_eq!(step.message.as_deref(), Some(message));
            let data = step.data.unwrap();
            assert_eq!(data["approved"], approved);
            assert_eq!(data["reason"], "why");
        }
    }
}
