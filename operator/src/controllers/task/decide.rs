//! The decisions of a run that need no I/O, apart from the loop that acts on them: where a
//! continued run picks up, which tool calls may be made, which wait for a person and which were
//! rejected, and whether a call interrupted by a lost runner may be made again.

use std::collections::{HashMap, HashSet};

use k8s_openapi::jiff::Timestamp;
use serde_json::Value;

use agentarea_crds::steps;
use agentarea_crds::task::{Decision, PendingApproval, TaskStep, ToolCallDecision};

use crate::model::{Message, ToolCall};

/// Gives each tool call of `answer` an id that no earlier tool call of `conversation` has. Models
/// may number calls per turn (`call_0` every time); the run keys approvals, steps and the
/// idempotency key on the id, so it must be unique within the task.
pub fn make_call_ids_unique(answer: &mut Message, conversation: &[Message]) {
    let mut seen: HashSet<String> = conversation
        .iter()
        .flat_map(|m| &m.tool_calls)
        .map(|c| c.id.clone())
        .collect();
    for call in &mut answer.tool_calls {
        let mut id = call.id.clone();
        let mut n = 2;
        while id.is_empty() || seen.contains(&id) {
            id = format!("{}~{n}", call.id);
            n += 1;
        }
        seen.insert(id.clone());
        call.id = id;
    }
}

/// The tool calls of the conversation's last model answer that have no result in it yet: the
/// run must settle them before it asks the model again.
pub fn unanswered_calls(conversation: &[Message]) -> Vec<ToolCall> {
    let Some(last_answer) = conversation
        .iter()
        .rposition(|m| m.role == "assistant" && !m.tool_calls.is_empty())
    else {
        return Vec::new();
    };
    let answered: HashSet<&str> = conversation[last_answer + 1..]
        .iter()
        .filter_map(|m| m.tool_call_id.as_deref())
        .collect();
    conversation[last_answer]
        .tool_calls
        .iter()
        .filter(|c| !answered.contains(c.id.as_str()))
        .cloned()
        .collect()
}

/// Ids of the tool calls a runner recorded as started whose result the kept conversation does not
/// hold: they were in flight when their runner stopped, and may or may not have happened.
pub fn calls_in_doubt(conversation: &[Message], steps: &[TaskStep]) -> Vec<String> {
    let answered: HashSet<&str> = conversation
        .iter()
        .filter_map(|m| m.tool_call_id.as_deref())
        .collect();
    let mut doubtful = Vec::new();
    for step in steps.iter().filter(|s| s.type_ == steps::TOOL_CALL_STARTED) {
        let id = step
            .data
            .as_ref()
            .and_then(|d| d.get("tool_call_id"))
            .and_then(Value::as_str);
        if let Some(id) = id
            && !answered.contains(id)
            && !doubtful.iter().any(|d| d == id)
        {
            doubtful.push(id.to_string());
        }
    }
    doubtful
}

/// The model's answer as the last `LLMCallCompleted` step recorded it, if that answer asked for
/// every call of `call_ids` and the step kept it whole (step data over its size bound is cut, and
/// then the answer cannot be rebuilt). A runner that died during its tool calls had not kept the
/// answer in the conversation yet; this is how the next one learns which calls to make again.
pub fn answer_recorded(steps: &[TaskStep], call_ids: &[String]) -> Option<Message> {
    let data = steps
        .iter()
        .rev()
        .find(|s| s.type_ == steps::LLM_CALL_COMPLETED)?
        .data
        .as_ref()?;
    let tool_calls: Vec<ToolCall> = data
        .get("tool_calls")?
        .as_array()?
        .iter()
        .map(|call| {
            Some(ToolCall {
                id: call.get("id")?.as_str()?.to_string(),
                type_: "function".into(),
                function: crate::model::FunctionCall {
                    name: call.get("name")?.as_str()?.to_string(),
                    arguments: call.get("arguments")?.as_str()?.to_string(),
                },
            })
        })
        .collect::<Option<_>>()?;
    let asked = |id: &String| tool_calls.iter().any(|c| &c.id == id);
    if call_ids.is_empty() || !call_ids.iter().all(asked) {
        return None;
    }
    Some(Message {
        role: "assistant".into(),
        content: data
            .get("content")
            .and_then(Value::as_str)
            .map(String::from),
        tool_calls,
        tool_call_id: None,
    })
}

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

/// What happens when nobody decides on a tool call in time (the Agent's `approval.onTimeout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnTimeout {
    /// The call is rejected and the model told so.
    Reject,
    /// The Task fails with `ApprovalTimedOut`.
    Fail,
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
    use serde_json::json;

    fn call(id: &str) -> ToolCall {
        ToolCall::of(id, "echo", "{}")
    }

    fn answer(ids: &[&str]) -> Message {
        Message {
            role: "assistant".into(),
            tool_calls: ids.iter().map(|id| call(id)).collect(),
            ..Message::default()
        }
    }

    fn started(id: &str) -> TaskStep {
        TaskStep {
            seq: 1,
            time: now(),
            type_: steps::TOOL_CALL_STARTED.into(),
            message: None,
            data: Some(json!({ "tool_call_id": id })),
        }
    }

    fn ids(calls: &[ToolCall]) -> Vec<&str> {
        calls.iter().map(|c| c.id.as_str()).collect()
    }

    #[test]
    fn repeated_call_ids_are_made_unique() {
        let earlier = vec![answer(&["call_0", "call_1"]), Message::tool("call_0", "r")];
        for (asked, want) in [
            (vec!["call_0"], vec!["call_0~2"]),
            (vec!["call_2", "call_2"], vec!["call_2", "call_2~2"]),
            (vec![""], vec!["~2"]),
            (vec!["new"], vec!["new"]),
        ] {
            let mut message = answer(&asked);
            make_call_ids_unique(&mut message, &earlier);
            assert_eq!(ids(&message.tool_calls), want, "{asked:?}");
        }
    }

    #[test]
    fn the_last_answers_calls_without_results_are_unanswered() {
        let system = Message::system("s");
        let cases: Vec<(Vec<Message>, Vec<&str>)> = vec![
            (vec![system.clone()], vec![]),
            (vec![system.clone(), answer(&["a", "b"])], vec!["a", "b"]),
            (
                vec![system.clone(), answer(&["a", "b"]), Message::tool("a", "r")],
                vec!["b"],
            ),
            // An earlier turn's calls are settled once a later answer follows.
            (
                vec![
                    answer(&["a"]),
                    Message::tool("a", "r"),
                    Message {
                        role: "assistant".into(),
                        content: Some("done".into()),
                        ..Message::default()
                    },
                ],
                vec![],
            ),
        ];
        for (conversation, want) in cases {
            assert_eq!(ids(&unanswered_calls(&conversation)), want);
        }
    }

    #[test]
    fn started_calls_without_a_kept_result_are_in_doubt() {
        let conversation = vec![answer(&["a", "b"]), Message::tool("a", "r")];
        for (steps, want) in [
            (vec![], vec![]),
            (vec![started("a")], vec![]),
            (vec![started("a"), started("b")], vec!["b"]),
            // Started twice (retried after an earlier doubt): reported once.
            (vec![started("c"), started("c")], vec!["c"]),
        ] {
            assert_eq!(calls_in_doubt(&conversation, &steps), want);
        }
    }

    #[test]
    fn a_recorded_answer_is_rebuilt_only_when_whole_and_asking_for_the_calls() {
        let completed = |data: Value| TaskStep {
            type_: steps::LLM_CALL_COMPLETED.into(),
            data: Some(data),
            ..started("x")
        };
        let whole = completed(json!({"content": null, "tool_calls": [
            {"id": "a", "name": "echo", "arguments": "{\"m\":1}"},
            {"id": "b", "name": "echo", "arguments": "{}"}]}));
        let cut = completed(json!({"truncated": true, "bytes": 9000, "preview": "{"}));
        let earlier = completed(json!({"content": "hi", "tool_calls": [
            {"id": "z", "name": "echo", "arguments": "{}"}]}));
        let owned = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let rebuilt = answer_recorded(&[earlier.clone(), whole.clone()], &owned(&["a", "b"]))
            .expect("rebuilt");
        assert_eq!(rebuilt.role, "assistant");
        assert_eq!(rebuilt.content, None);
        assert_eq!(ids(&rebuilt.tool_calls), vec!["a", "b"]);
        assert_eq!(rebuilt.tool_calls[0].function.arguments, "{\"m\":1}");
        for (steps, wanted) in [
            (vec![earlier.clone(), cut], owned(&["a"])),
            // Only the last answer counts.
            (vec![whole, earlier], owned(&["a"])),
            (vec![], owned(&["a"])),
        ] {
            assert_eq!(answer_recorded(&steps, &wanted), None);
        }
    }

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
