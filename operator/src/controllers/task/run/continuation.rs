//! Where a continued run picks up, decided without I/O: which calls of the model's last answer
//! are still to be settled, which were in flight when a runner was lost, and whether those may be
//! made again. Also the uniqueness of call ids, on which approvals, steps and idempotency keys
//! rest.

use std::collections::HashSet;

use serde_json::Value;

use agentarea_crds::task::TaskStep;
use agentarea_crds::{TaskStatus, reasons, steps};

use super::outcome::Outcome;
use crate::controllers::task::conversation::Conversation;
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

/// When the previous runner died during tool calls it had not kept the model's answer that asked
/// for them; it is rebuilt from the run's record, so the calls can be settled.
pub fn recover_answer(conversation: &mut Conversation, status: &TaskStatus) {
    let doubtful = calls_in_doubt(&conversation.messages, &status.steps);
    if doubtful.is_empty() || !unanswered_calls(&conversation.messages).is_empty() {
        return;
    }
    if let Some(answer) = answer_recorded(&status.steps, &doubtful) {
        conversation.push(answer);
    }
}

/// A continued run whose previous runner stopped with tool calls in flight fails, unless every
/// such call is still unanswered in the kept conversation and its tool declares that repeating it
/// is harmless (`readOnlyHint` or `idempotentHint`): then the calls are made again, with the same
/// idempotency key. A call that may or may not have happened is never repeated silently.
pub fn doubt_outcome(
    conversation: &Conversation,
    status: &TaskStatus,
    may_repeat: impl Fn(&str) -> bool,
) -> Option<Outcome> {
    let doubtful = calls_in_doubt(&conversation.messages, &status.steps);
    if doubtful.is_empty() {
        return None;
    }
    let unanswered = unanswered_calls(&conversation.messages);
    let unsafe_calls: Vec<String> = doubtful
        .iter()
        .filter(|id| {
            !unanswered
                .iter()
                .any(|c| &c.id == *id && may_repeat(&c.function.name))
        })
        .cloned()
        .collect();
    if unsafe_calls.is_empty() {
        return None;
    }
    Some(Outcome::failed(
        reasons::RUNNER_LOST,
        format!(
            "its runner stopped while tool call(s) {} were in flight; they may or may not have \
             happened, and making them again could repeat their effects",
            unsafe_calls.join(", ")
        ),
    ))
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
    fn a_call_in_doubt_is_made_again_only_when_its_tool_may_repeat() {
        let conversation = Conversation::new(vec![answer(&["a", "b"]), Message::tool("a", "r")]);
        let status = |started_ids: &[&str]| TaskStatus {
            steps: started_ids.iter().map(|id| started(id)).collect(),
            ..TaskStatus::default()
        };
        for (started_ids, may_repeat, fails) in [
            (vec![], false, false),
            // Answered before the runner was lost: nothing in doubt.
            (vec!["a"], false, false),
            (vec!["a", "b"], true, false),
            (vec!["a", "b"], false, true),
            // Started, but no longer among the unanswered calls: never repeated.
            (vec!["z"], true, true),
        ] {
            let outcome = doubt_outcome(&conversation, &status(&started_ids), |_| may_repeat);
            assert_eq!(outcome.is_some(), fails, "{started_ids:?} {may_repeat}");
            if let Some(outcome) = outcome {
                assert_eq!(outcome.reason, reasons::RUNNER_LOST);
            }
        }
    }
}
