//! The tools the agents' MCP endpoint offers: one per Ready agent of the caller's workspace, named
//! after the agent, described by its description and skills, taking the agent's `input`.

use std::sync::Arc;

use rmcp::model::{ErrorData, JsonObject, Tool, ToolAnnotations};
use serde_json::{Value, json};

use agentarea_crds::common::{condition, is_condition_true};
use agentarea_crds::{Agent, Skill};
use kube::ResourceExt;

/// The one argument every agent's tool takes.
pub const INPUT: &str = "input";

/// The tools of `agents` that are Ready, by name; `skills` are the workspace's, for descriptions.
pub fn listed(agents: &[Arc<Agent>], skills: &[Arc<Skill>]) -> Vec<Tool> {
    let mut tools: Vec<Tool> = agents
        .iter()
        .filter(|agent| ready(agent))
        .map(|agent| tool(agent, skills))
        .collect();
    tools.sort_by(|a, b| a.name.cmp(&b.name));
    tools
}

pub fn ready(agent: &Agent) -> bool {
    is_condition_true(
        agent.status.as_ref().map(|s| &s.conditions),
        condition::READY,
    )
}

/// The agent `name` calls, among `agents`; an unknown tool is a protocol error, as the
/// specification asks.
pub fn addressed<'a>(agents: &'a [Arc<Agent>], name: &str) -> Result<&'a Arc<Agent>, ErrorData> {
    agents
        .iter()
        .find(|agent| agent.name_any() == name)
        .ok_or_else(|| ErrorData::invalid_params(format!("Unknown tool: {name}"), None))
}

/// The input a call gives the agent: its `input` argument, a non-empty string.
pub fn input_of(arguments: Option<&JsonObject>) -> Result<String, ErrorData> {
    // The schema allows nothing else: an argument the agent would ignore is refused, not dropped.
    if let Some(other) = arguments
        .into_iter()
        .flatten()
        .map(|(k, _)| k)
        .find(|k| *k != INPUT)
    {
        return Err(invalid(&format!(
            "unknown argument `{other}`: the agent takes only `input`"
        )));
    }
    match arguments.and_then(|a| a.get(INPUT)) {
        Some(Value::String(input)) if !input.trim().is_empty() => Ok(input.clone()),
        Some(Value::String(_)) => Err(invalid("`input` is empty")),
        Some(other) => Err(invalid(&format!(
            "`input` must be a string, not {}",
            kind(other)
        ))),
        None => Err(invalid(
            "`input` is required: what the agent is asked to do",
        )),
    }
}

fn invalid(message: &str) -> ErrorData {
    ErrorData::invalid_params(message.to_string(), None)
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn tool(agent: &Agent, skills: &[Arc<Skill>]) -> Tool {
    let mut tool = Tool::new(
        agent.name_any(),
        description(agent, skills),
        Arc::new(input_schema()),
    );
    tool.annotations = Some(ToolAnnotations::with_title(agent.name_any()));
    tool
}

/// The agent's description (or, lacking one, what it is), then each of its skills with its own.
pub fn description(agent: &Agent, skills: &[Arc<Skill>]) -> String {
    let mut text = agent
        .spec
        .description
        .clone()
        .filter(|d| !d.trim().is_empty())
        .unwrap_or_else(|| format!("The agent {}.", agent.name_any()));
    let named: Vec<String> = agent
        .spec
        .skills
        .iter()
        .map(|reference| {
            let skill = skills.iter().find(|s| s.name_any() == reference.name);
            match skill.and_then(|s| s.spec.description.as_deref()) {
                Some(about) if !about.trim().is_empty() => format!("- {}: {about}", reference.name),
                _ => format!("- {}", reference.name),
            }
        })
        .collect();
    if !named.is_empty() {
        text.push_str("\n\nSkills:\n");
        text.push_str(&named.join("\n"));
    }
    text
}

fn input_schema() -> JsonObject {
    let schema = json!({
        "type": "object",
        "properties": {
            INPUT: {"type": "string", "minLength": 1, "description": "What the agent is asked to do."},
        },
        "required": [INPUT],
        "additionalProperties": false,
    });
    match schema {
        Value::Object(object) => object,
        _ => unreachable!("a JSON object literal"),
    }
}

#[cfg(test)]
mod tests {
    use agentarea_crds::common::set_ready;
    use agentarea_crds::{AgentStatus, SkillSpec};
    use serde_json::json;

    use super::*;

    fn agent(
        name: &str,
        description: Option<&str>,
        skills: &[&str],
        ready: Option<bool>,
    ) -> Arc<Agent> {
        let mut agent: Agent = serde_json::from_value(json!({
            "apiVersion": "agentarea.io/v1alpha1", "kind": "Agent",
            "metadata": {"name": name, "namespace": "ws-a"},
            "spec": {
                "instruction": "Help.", "model": {"name": "m"},
                "description": description,
                "skills": skills.iter().map(|s| json!({"name": s})).collect::<Vec<_>>(),
            },
        }))
        .unwrap();
        agent.status = ready.map(|ready| {
            let mut status = AgentStatus::default();
            set_ready(
                &mut status.conditions,
                ready,
                "Resolved",
                String::new(),
                Some(1),
            );
            status
        });
        Arc::new(agent)
    }

    fn skill(name: &str, description: Option<&str>) -> Arc<Skill> {
        Arc::new(Skill::new(
            name,
            SkillSpec {
                description: description.map(String::from),
                instructions: "Do.".into(),
                ..SkillSpec::default()
            },
        ))
    }

    #[test]
    fn only_ready_agents_are_tools_in_name_order() {
        let agents = [
            agent("writer", None, &[], Some(true)),
            agent("broken", None, &[], Some(false)),
            agent("new", None, &[], None),
            agent("analyst", None, &[], Some(true)),
        ];
        let names: Vec<String> = listed(&agents, &[])
            .iter()
            .map(|t| t.name.to_string())
            .collect();
        assert_eq!(names, ["analyst", "writer"]);
    }

    #[test]
    fn a_tool_is_described_by_its_agent_and_skills() {
        let skills = [skill("tone", Some("Be kind.")), skill("bare", None)];
        let cases = [
            (
                agent("a", Some("Answers tickets."), &[], None),
                "Answers tickets.",
            ),
            (agent("a", None, &[], None), "The agent a."),
            (agent("a", Some("  "), &[], None), "The agent a."),
            (
                agent(
                    "a",
                    Some("Answers tickets."),
                    &["tone", "bare", "missing"],
                    None,
                ),
                "Answers tickets.\n\nSkills:\n- tone: Be kind.\n- bare\n- missing",
            ),
        ];
        for (agent, want) in cases {
            assert_eq!(description(&agent, &skills), want);
        }
    }

    #[test]
    fn a_tool_takes_a_string_input() {
        let tools = listed(&[agent("a", None, &[], Some(true))], &[]);
        let schema = serde_json::to_value(&*tools[0].input_schema).unwrap();
        assert_eq!(schema["required"], json!(["input"]));
        assert_eq!(schema["properties"]["input"]["type"], "string");
    }

    #[test]
    fn a_call_gives_its_input_or_a_clear_refusal() {
        let args = |value: Value| value.as_object().cloned();
        let cases: [(Option<JsonObject>, Result<&str, &str>); 6] = [
            (args(json!({"input": "Sum 1 and 2."})), Ok("Sum 1 and 2.")),
            (
                args(json!({"input": "x", "other": 1})),
                Err("unknown argument `other`"),
            ),
            (None, Err("`input` is required")),
            (args(json!({})), Err("`input` is required")),
            (args(json!({"input": " "})), Err("`input` is empty")),
            (
                args(json!({"input": 3})),
                Err("`input` must be a string, not a number"),
            ),
        ];
        for (arguments, want) in cases {
            let got = input_of(arguments.as_ref()).map_err(|e| e.message.to_string());
            match want {
                Ok(input) => assert_eq!(got.as_deref(), Ok(input)),
                Err(start) => assert!(got.as_ref().is_err_and(|m| m.starts_with(start)), "{got:?}"),
            }
        }
    }

    #[test]
    fn an_unknown_tool_is_invalid_params() {
        let agents = [agent("writer", None, &[], Some(true))];
        assert!(addressed(&agents, "writer").is_ok());
        let error = addressed(&agents, "reader").unwrap_err();
        assert_eq!(error.code, rmcp::model::ErrorCode::INVALID_PARAMS);
        assert_eq!(error.message, "Unknown tool: reader");
    }
}
