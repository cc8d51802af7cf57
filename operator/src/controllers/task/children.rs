//! Agents called as tools. A call of another agent runs it on the model's request as a child
//! Task: owned by the calling Task (deleted with it, cancelled with it), named after the call (so
//! a call made again after a lost runner finds the same child rather than starting a second),
//! and bounded by what the caller has left of its limits. While children run the caller waits
//! unclaimed (`AwaitingAgents`), holding no slot a child might need; a child's end wakes it.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Resource, ResourceExt};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use agentarea_crds::common::{AGENT_LABEL, trace_context_annotations};
use agentarea_crds::task::{ChildTask, ParentTask, TaskLimits, Usage};
use agentarea_crds::{Task, TaskPhase, TaskSpec, steps};

use super::record::Step;
use crate::model::ToolCall;

/// Label on a child Task naming its parent.
pub const PARENT_LABEL: &str = "agentarea.io/parent-task";
/// Agents in one chain of calls, the outermost included.
pub const MAX_AGENT_DEPTH: usize = 3;
/// OpenAI's limit on a function name.
const MAX_TOOL_NAME: usize = 64;

/// The name the model calls agent `agent` by.
pub fn agent_tool_name(agent: &str) -> String {
    let mut name = format!("agent_{agent}");
    name.truncate(MAX_TOOL_NAME);
    name
}

/// The JSON schema of an agent tool's arguments.
pub fn agent_tool_parameters() -> Value {
    json!({
        "type": "object",
        "properties": {"input": {"type": "string", "description": "What to ask the agent, in full: it sees nothing else of this conversation."}},
        "required": ["input"],
    })
}

/// What is left of the calling run's limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Remaining {
    pub steps: i32,
    pub seconds: i64,
    pub tokens: Option<i64>,
}

impl Remaining {
    pub fn of(
        limits: &agentarea_crds::agent::AgentLimits,
        steps_taken: i32,
        seconds_spent: i64,
        usage: &Usage,
    ) -> Self {
        Self {
            steps: limits.max_steps - steps_taken,
            seconds: limits.timeout_seconds - seconds_spent,
            tokens: limits
                .max_total_tokens
                .map(|budget| budget - usage.total_tokens),
        }
    }
}

/// The limits of a child run of `callee` from a run of the last agent of `chain` (outermost
/// first), or why the call is refused: a cycle, too deep a chain, or nothing left to give.
pub fn plan_child(chain: &[String], callee: &str, left: Remaining) -> Result<TaskLimits, String> {
    let path = || format!("{} → {callee}", chain.join(" → "));
    if chain.iter().any(|agent| agent == callee) {
        return Err(format!(
            "calling agent {callee} would form a cycle: {}",
            path()
        ));
    }
    if chain.len() >= MAX_AGENT_DEPTH {
        return Err(format!(
            "agents call agents at most {MAX_AGENT_DEPTH} deep: {}",
            path()
        ));
    }
    if left.steps < 1 {
        return Err(format!("no model calls are left for agent {callee}"));
    }
    if left.seconds < 1 {
        return Err(format!("no time is left for agent {callee}"));
    }
    if left.tokens.is_some_and(|t| t < 1) {
        return Err(format!("no tokens are left for agent {callee}"));
    }
    Ok(TaskLimits {
        max_steps: Some(left.steps),
        timeout_seconds: Some(left.seconds),
        max_total_tokens: left.tokens,
    })
}

/// The tighter of an agent's limits and a task's caps.
pub fn effective_limits(
    agent: &agentarea_crds::agent::AgentLimits,
    caps: Option<&TaskLimits>,
) -> agentarea_crds::agent::AgentLimits {
    let Some(caps) = caps else {
        return agent.clone();
    };
    let tighter = |a: i64, b: Option<i64>| b.map_or(a, |b| a.min(b));
    agentarea_crds::agent::AgentLimits {
        max_steps: tighter(agent.max_steps as i64, caps.max_steps.map(i64::from)) as i32,
        timeout_seconds: tighter(agent.timeout_seconds, caps.timeout_seconds),
        max_total_tokens: match (agent.max_total_tokens, caps.max_total_tokens) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        },
    }
}

/// `<parent, cut to 40>-<8 hex digits of the call id>`: the same for every attempt of one call.
pub fn child_name(parent: &str, tool_call_id: &str) -> String {
    let digest = Sha256::digest(tool_call_id.as_bytes());
    let mut prefix: String = parent.chars().take(40).collect();
    while prefix.ends_with(['-', '.']) {
        prefix.pop();
    }
    format!("{prefix}-{}", hex::encode(&digest[..4]))
}

/// The agents of the chain of calls that ends with `parent`'s agent, outermost first.
pub fn chain_of(parent: &Task) -> Vec<String> {
    let mut chain = parent
        .spec
        .parent
        .as_ref()
        .map(|p| p.agents.clone())
        .unwrap_or_default();
    chain.push(parent.spec.agent.clone());
    chain
}

/// The child Task for one call of `callee` by `parent`'s run.
pub fn child_task(
    parent: &Task,
    callee: &str,
    input: String,
    tool_call_id: &str,
    limits: TaskLimits,
    trace: &std::collections::HashMap<String, String>,
) -> Task {
    let owner = parent.controller_owner_ref(&()).map(|mut owner| {
        owner.block_owner_deletion = None;
        owner
    });
    Task {
        metadata: ObjectMeta {
            name: Some(child_name(&parent.name_any(), tool_call_id)),
            namespace: parent.namespace(),
            labels: Some(BTreeMap::from([
                (AGENT_LABEL.to_string(), callee.to_string()),
                (PARENT_LABEL.to_string(), parent.name_any()),
            ])),
            annotations: Some(trace_context_annotations(trace)),
            owner_references: owner.map(|o| vec![o]),
            ..ObjectMeta::default()
        },
        spec: TaskSpec {
            agent: callee.to_string(),
            input,
            requested_by: parent.spec.requested_by.clone(),
            requires_human_approval: parent.spec.requires_human_approval,
            enable_agent_communication: parent.spec.enable_agent_communication,
            ttl_seconds_after_finished: parent.spec.ttl_seconds_after_finished,
            parent: Some(ParentTask {
                name: parent.name_any(),
                tool_call_id: tool_call_id.to_string(),
                agents: chain_of(parent),
            }),
            limits: Some(limits),
            ..TaskSpec::default()
        },
        status: None,
    }
}

/// Creates `child`; one that exists already was created for the same call by an earlier attempt.
pub async fn create_child(api: &Api<Task>, child: &Task) -> Result<(), kube::Error> {
    match api.create(&PostParams::default(), child).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.is_already_exists() => Ok(()),
        Err(error) => Err(error),
    }
}

/// What the caller's model reads for a finished child, and the error if it did not succeed.
pub fn child_answer(child: &Task) -> (String, Option<String>) {
    let status = child.status.clone().unwrap_or_default();
    let phase = status.phase.unwrap_or(TaskPhase::Pending);
    let result = match &status.result {
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    if phase == TaskPhase::Succeeded {
        return (result, None);
    }
    let error = format!(
        "agent {} ({}) ended {}: {} {}",
        child.spec.agent,
        child.name_any(),
        phase.as_str(),
        status.reason.unwrap_or_default(),
        status.message.unwrap_or_default()
    );
    (format!("Error: {error}"), Some(error))
}

/// Asks every child of `children` that has not finished to stop: the caller will not read its
/// answer.
pub async fn cancel_children(api: &Api<Task>, children: &[ChildTask]) {
    for child in children {
        let patch = json!({"spec": {"cancel": true}});
        match api
            .patch(&child.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.is_not_found() => {}
            Err(error) => {
                tracing::warn!(child = %child.name, %error, "could not cancel a child task")
            }
        }
    }
}

/// The `input` an agent call's arguments carry, if they carry a non-blank one.
pub fn agent_input(arguments: &str) -> Option<String> {
    serde_json::from_str::<Value>(arguments)
        .ok()?
        .get("input")?
        .as_str()
        .filter(|input| !input.trim().is_empty())
        .map(String::from)
}

/// The `ToolCallCompleted` (or `ToolCallFailed`) step of a call answered by a child task.
pub fn child_step(
    call: &ToolCall,
    agent: &str,
    child: &str,
    text: &str,
    error: Option<&str>,
) -> Step {
    let type_ = match error {
        None => steps::TOOL_CALL_COMPLETED,
        Some(_) => steps::TOOL_CALL_FAILED,
    };
    Step::new(type_, text.to_string()).with_data(json!({
        "tool_call_id": call.id,
        "tool": call.function.name,
        "agent": agent,
        "child_task": child,
        "result": text,
        "error": error,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentarea_crds::agent::AgentLimits;

    fn chain(agents: &[&str]) -> Vec<String> {
        agents.iter().map(|a| a.to_string()).collect()
    }

    const PLENTY: Remaining = Remaining {
        steps: 5,
        seconds: 100,
        tokens: Some(1000),
    };

    #[test]
    fn a_child_gets_what_is_left_unless_the_call_is_refused() {
        type Case = (
            Vec<String>,
            &'static str,
            Remaining,
            Result<TaskLimits, &'static str>,
        );
        let cases: Vec<Case> = vec![
            (
                chain(&["lead"]),
                "writer",
                PLENTY,
                Ok(TaskLimits {
                    max_steps: Some(5),
                    timeout_seconds: Some(100),
                    max_total_tokens: Some(1000),
                }),
            ),
            (
                chain(&["lead", "writer"]),
                "lead",
                PLENTY,
                Err("cycle: lead → writer → lead"),
            ),
            (chain(&["lead"]), "lead", PLENTY, Err("cycle: lead → lead")),
            (
                chain(&["a", "b", "c"]),
                "d",
                PLENTY,
                Err("at most 3 deep: a → b → c → d"),
            ),
            (
                chain(&["a"]),
                "b",
                Remaining { steps: 0, ..PLENTY },
                Err("no model calls"),
            ),
            (
                chain(&["a"]),
                "b",
                Remaining {
                    seconds: 0,
                    ..PLENTY
                },
                Err("no time"),
            ),
            (
                chain(&["a"]),
                "b",
                Remaining {
                    tokens: Some(0),
                    ..PLENTY
                },
                Err("no tokens"),
            ),
            (
                chain(&["a"]),
                "b",
                Remaining {
                    tokens: None,
                    ..PLENTY
                },
                Ok(TaskLimits {
                    max_steps: Some(5),
                    timeout_seconds: Some(100),
                    max_total_tokens: None,
                }),
            ),
        ];
        for (chain, callee, left, want) in cases {
            match (plan_child(&chain, callee, left), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want),
                (Err(got), Err(want)) => assert!(got.contains(want), "{got}"),
                (got, want) => panic!("{chain:?} → {callee}: {got:?}, wanted {want:?}"),
            }
        }
    }

    #[test]
    fn the_tighter_limit_applies() {
        let agent = AgentLimits {
            max_steps: 20,
            timeout_seconds: 600,
            max_total_tokens: None,
        };
        assert_eq!(effective_limits(&agent, None), agent);
        let caps = TaskLimits {
            max_steps: Some(3),
            timeout_seconds: Some(900),
            max_total_tokens: Some(50),
        };
        assert_eq!(
            effective_limits(&agent, Some(&caps)),
            AgentLimits {
                max_steps: 3,
                timeout_seconds: 600,
                max_total_tokens: Some(50)
            }
        );
    }

    #[test]
    fn a_child_is_named_after_its_call_and_linked_to_its_parent() {
        let mut parent = Task::new(
            "task-abc",
            TaskSpec {
                agent: "lead".into(),
                ..TaskSpec::default()
            },
        );
        parent.metadata.namespace = Some("ws".into());
        parent.metadata.uid = Some("uid-1".into());
        let limits = TaskLimits::default();
        let child = child_task(
            &parent,
            "writer",
            "draft it".into(),
            "call_1",
            limits,
            &Default::default(),
        );
        assert_eq!(child.name_any(), child_name("task-abc", "call_1"));
        assert_eq!(
            child.name_any(),
            child_task(
                &parent,
                "writer",
                "again".into(),
                "call_1",
                TaskLimits::default(),
                &Default::default()
            )
            .name_any()
        );
        assert_ne!(child.name_any(), child_name("task-abc", "call_2"));
        let owner = &child.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.uid.as_str(), owner.controller),
            ("uid-1", Some(true))
        );
        let link = child.spec.parent.unwrap();
        assert_eq!(
            (link.name.as_str(), link.tool_call_id.as_str()),
            ("task-abc", "call_1")
        );
        assert_eq!(link.agents, vec!["lead"]);
        assert_eq!(child.metadata.labels.unwrap()[PARENT_LABEL], "task-abc");
        // A long parent name is cut, never past 63 characters, never ending in a dash.
        let long = child_name(&format!("{}-{}", "a".repeat(39), "b".repeat(30)), "x");
        assert!(long.len() <= 49 && !long.contains("--"), "{long}");
        assert!(agent_tool_name(&"n".repeat(63)).len() <= 64);
    }

    #[test]
    fn a_child_that_did_not_succeed_answers_with_an_error() {
        let mut child = Task::new(
            "c",
            TaskSpec {
                agent: "writer".into(),
                ..TaskSpec::default()
            },
        );
        child.status = Some(agentarea_crds::TaskStatus {
            phase: Some(TaskPhase::Succeeded),
            result: Some(json!("the draft")),
            ..Default::default()
        });
        assert_eq!(child_answer(&child), ("the draft".into(), None));
        child.status = Some(agentarea_crds::TaskStatus {
            phase: Some(TaskPhase::Failed),
            reason: Some("Timeout".into()),
            message: Some("too slow".into()),
            ..Default::default()
        });
        let (text, error) = child_answer(&child);
        assert!(
            text.starts_with("Error: agent writer (c) ended Failed: Timeout too slow"),
            "{text}"
        );
        assert!(error.is_some());
    }
}
