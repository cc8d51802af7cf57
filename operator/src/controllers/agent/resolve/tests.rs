use serde_json::{Value, json};

use agentarea_crds::McpServerInstanceSpec;
use agentarea_crds::agent::ToolAnnotations;
use agentarea_crds::mcp_server_instance::DiscoveredTool;

use super::*;
use crate::fixtures::{instance, instance_of, told, tool, unobserved};

fn spec(value: Value) -> AgentSpec {
    let mut spec = json!({"instruction": "Be helpful.", "model": {"name": "m", "endpoint": "http://model/v1"}});
    merge(&mut spec, value);
    serde_json::from_value(spec).unwrap()
}

fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(into), Value::Object(from)) => {
            for (key, value) in from {
                merge(into.entry(key).or_insert(Value::Null), value);
            }
        }
        (into, from) => *into = from,
    }
}

fn skill(name: &str, instructions: &str, tools: Value) -> (String, Skill) {
    let spec =
        serde_json::from_value(json!({"instructions": instructions, "tools": tools})).unwrap();
    (name.into(), Skill::new(name, spec))
}

fn related(skills: Vec<(String, Skill)>, instances: Vec<(String, McpServerInstance)>) -> Related {
    Related {
        skills: skills.into_iter().collect(),
        instances: instances.into_iter().collect(),
        api_key_problem: None,
        model_endpoint_problem: None,
        default_model_endpoint: None,
    }
}

/// `(name, instance, tool, skill, requires confirmation)`.
type Tool = (
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    bool,
);

fn tools_of(resolution: &Resolution) -> Vec<(String, String, String, Option<String>, bool)> {
    resolution
        .tools
        .iter()
        .map(|t| {
            (
                t.name.clone(),
                t.instance.clone(),
                t.tool.clone(),
                t.skill.clone(),
                t.requires_user_confirmation,
            )
        })
        .collect()
}

struct Case {
    name: &'static str,
    spec: AgentSpec,
    related: Related,
    tools: &'static [Tool],
    problems: &'static [(&'static str, &'static str)],
}

fn cases() -> Vec<Case> {
    let echo = || instance("everything", true, &["echo", "add"]);
    vec![
        Case {
            name: "names nothing",
            spec: spec(json!({})),
            related: related(vec![], vec![]),
            tools: &[],
            problems: &[],
        },
        Case {
            name: "every tool of an instance when none is listed",
            spec: spec(json!({"mcpServers": [{"name": "everything"}]})),
            related: related(vec![], vec![echo()]),
            tools: &[
                ("echo", "everything", "echo", None, false),
                ("add", "everything", "add", None, false),
            ],
            problems: &[],
        },
        Case {
            name: "only the listed tools, with their confirmation",
            spec: spec(
                json!({"mcpServers": [{"name": "everything", "allowedTools": [
                {"name": "add", "requiresUserConfirmation": true}]}]}),
            ),
            related: related(vec![], vec![echo()]),
            tools: &[("add", "everything", "add", None, true)],
            problems: &[],
        },
        Case {
            name: "a skill's tools, marked with the skill",
            spec: spec(json!({"skills": [{"name": "echoing"}]})),
            related: related(
                vec![skill(
                    "echoing",
                    "Echo.",
                    json!([{"instance": "everything", "tools": ["echo"]}]),
                )],
                vec![echo()],
            ),
            tools: &[("echo", "everything", "echo", Some("echoing"), false)],
            problems: &[],
        },
        Case {
            name: "a name two instances offer is told apart by the second instance",
            spec: spec(json!({"mcpServers": [{"name": "everything"}, {"name": "other"}]})),
            related: related(vec![], vec![echo(), instance("other", true, &["echo"])]),
            tools: &[
                ("echo", "everything", "echo", None, false),
                ("add", "everything", "add", None, false),
                ("other__echo", "other", "echo", None, false),
            ],
            problems: &[],
        },
        Case {
            name: "a tool asked for a third time is offered once more at most",
            spec: spec(json!({"skills": [{"name": "a"}, {"name": "b"}],
                "mcpServers": [{"name": "everything", "allowedTools": [{"name": "echo"}]}]})),
            related: related(
                vec![
                    skill(
                        "a",
                        "A.",
                        json!([{"instance": "everything", "tools": ["echo"]}]),
                    ),
                    skill(
                        "b",
                        "B.",
                        json!([{"instance": "everything", "tools": ["echo"]}]),
                    ),
                ],
                vec![echo()],
            ),
            tools: &[
                ("echo", "everything", "echo", Some("a"), false),
                ("everything__echo", "everything", "echo", Some("b"), false),
            ],
            problems: &[],
        },
        Case {
            name: "a missing skill",
            spec: spec(json!({"skills": [{"name": "gone"}]})),
            related: related(vec![], vec![]),
            tools: &[],
            problems: &[(reasons::SKILL_NOT_FOUND, "skill gone not found")],
        },
        Case {
            name: "a missing instance",
            spec: spec(json!({"mcpServers": [{"name": "gone"}]})),
            related: related(vec![], vec![]),
            tools: &[],
            problems: &[(
                reasons::INSTANCE_NOT_FOUND,
                "MCP server instance gone not found",
            )],
        },
        Case {
            name: "a skill's missing instance",
            spec: spec(json!({"skills": [{"name": "echoing"}]})),
            related: related(
                vec![skill(
                    "echoing",
                    "Echo.",
                    json!([{"instance": "gone", "tools": ["echo"]}]),
                )],
                vec![],
            ),
            tools: &[],
            problems: &[(
                reasons::INSTANCE_NOT_FOUND,
                "MCP server instance gone not found",
            )],
        },
        Case {
            name: "an instance not ready lends no tools",
            spec: spec(json!({"mcpServers": [{"name": "everything"}]})),
            related: related(vec![], vec![instance("everything", false, &["echo"])]),
            tools: &[],
            problems: &[(
                reasons::INSTANCE_NOT_READY,
                "MCP server instance everything is not ready",
            )],
        },
        Case {
            name: "an instance with no status yet",
            spec: spec(json!({"mcpServers": [{"name": "new"}]})),
            related: related(vec![], vec![unobserved("new")]),
            tools: &[],
            problems: &[(
                reasons::INSTANCE_NOT_READY,
                "MCP server instance new is not ready",
            )],
        },
        Case {
            name: "a listed tool the instance does not offer",
            spec: spec(
                json!({"mcpServers": [{"name": "everything", "allowedTools": [
                {"name": "nope"}, {"name": "echo"}]}]}),
            ),
            related: related(vec![], vec![echo()]),
            tools: &[("echo", "everything", "echo", None, false)],
            problems: &[(
                reasons::TOOL_NOT_FOUND,
                "MCP server instance everything offers no tool nope",
            )],
        },
        Case {
            name: "a skill's tool the instance does not offer",
            spec: spec(json!({"skills": [{"name": "echoing"}]})),
            related: related(
                vec![skill(
                    "echoing",
                    "Echo.",
                    json!([{"instance": "everything", "tools": ["shout"]}]),
                )],
                vec![echo()],
            ),
            tools: &[],
            problems: &[(
                reasons::TOOL_NOT_FOUND,
                "MCP server instance everything offers no tool shout",
            )],
        },
        Case {
            name: "the API key cannot be read",
            spec: spec(json!({"model": {"apiKeySecretRef": {"name": "keys", "key": "openai"}}})),
            related: Related {
                api_key_problem: Some(Problem::new(
                    reasons::SECRET_NOT_FOUND,
                    "Secret keys not found",
                )),
                ..related(vec![], vec![])
            },
            tools: &[],
            problems: &[(reasons::SECRET_NOT_FOUND, "Secret keys not found")],
        },
        Case {
            name: "the egress policy refuses the model endpoint",
            spec: spec(json!({"model": {"endpoint": "http://127.0.0.1:8081/v1"}})),
            related: Related {
                model_endpoint_problem: Some(Problem::new(
                    reasons::EGRESS_DENIED,
                    "spec.model.endpoint: 127.0.0.1:8081 is refused by the egress policy: 127.0.0.1 is loopback",
                )),
                ..related(vec![], vec![])
            },
            tools: &[],
            problems: &[(
                reasons::EGRESS_DENIED,
                "spec.model.endpoint: 127.0.0.1:8081 is refused by the egress policy: 127.0.0.1 is loopback",
            )],
        },
        Case {
            name: "no model endpoint anywhere",
            spec: spec(json!({"model": {"endpoint": null}})),
            related: related(vec![], vec![]),
            tools: &[],
            problems: &[(
                reasons::NO_MODEL_ENDPOINT,
                "spec.model.endpoint is empty and the operator has no default model endpoint",
            )],
        },
        Case {
            name: "the operator's default model endpoint",
            spec: spec(json!({"model": {"endpoint": null}})),
            related: Related {
                default_model_endpoint: Some("http://default/v1".into()),
                ..related(vec![], vec![])
            },
            tools: &[],
            problems: &[],
        },
        Case {
            name: "every problem, skills first and the model endpoint last",
            spec: spec(
                json!({"skills": [{"name": "gone"}], "mcpServers": [{"name": "missing"}, {"name": "down"}],
                "model": {"endpoint": null, "apiKeySecretRef": {"name": "keys", "key": "openai"}}}),
            ),
            related: Related {
                api_key_problem: Some(Problem::new(
                    reasons::SECRET_KEY_NOT_FOUND,
                    "Secret keys has no key openai",
                )),
                ..related(vec![], vec![instance("down", false, &[])])
            },
            tools: &[],
            problems: &[
                (reasons::SKILL_NOT_FOUND, "skill gone not found"),
                (
                    reasons::INSTANCE_NOT_FOUND,
                    "MCP server instance missing not found",
                ),
                (
                    reasons::INSTANCE_NOT_READY,
                    "MCP server instance down is not ready",
                ),
                (
                    reasons::SECRET_KEY_NOT_FOUND,
                    "Secret keys has no key openai",
                ),
                (
                    reasons::NO_MODEL_ENDPOINT,
                    "spec.model.endpoint is empty and the operator has no default model endpoint",
                ),
            ],
        },
    ]
}

#[test]
fn an_agent_resolves_to_its_tools_or_says_what_is_missing() {
    for case in cases() {
        let resolution = resolve(&case.spec, &case.related);
        let want_tools: Vec<_> = case
            .tools
            .iter()
            .map(|(name, instance, tool, skill, confirm)| {
                (
                    name.to_string(),
                    instance.to_string(),
                    tool.to_string(),
                    skill.map(str::to_string),
                    *confirm,
                )
            })
            .collect();
        assert_eq!(tools_of(&resolution), want_tools, "{}", case.name);
        assert_eq!(told(&resolution.problems), case.problems, "{}", case.name);
    }
}

#[test]
fn the_model_endpoint_is_the_agents_else_the_operators() {
    let cases = [
        (
            "the agent's",
            spec(json!({})),
            Some("http://default/v1"),
            Some("http://model/v1"),
        ),
        (
            "the agent's, with no default",
            spec(json!({})),
            None,
            Some("http://model/v1"),
        ),
        (
            "the operator's",
            spec(json!({"model": {"endpoint": null}})),
            Some("http://default/v1"),
            Some("http://default/v1"),
        ),
        (
            "none",
            spec(json!({"model": {"endpoint": null}})),
            None,
            None,
        ),
    ];
    for (case, spec, default, want) in cases {
        let related = Related {
            default_model_endpoint: default.map(Into::into),
            ..related(vec![], vec![])
        };
        assert_eq!(
            resolve(&spec, &related).model_endpoint.as_deref(),
            want,
            "{case}"
        );
    }
}

#[test]
fn skills_add_their_instructions_in_the_agents_order() {
    let spec = spec(json!({"skills": [{"name": "b"}, {"name": "gone"}, {"name": "a"}]}));
    let related = related(
        vec![
            skill("a", "Do A.", json!([])),
            skill("b", "Do B.", json!([])),
        ],
        vec![],
    );
    assert_eq!(
        resolve(&spec, &related).instructions,
        "Be helpful.\n\n## Skill: b\n\nDo B.\n\n## Skill: a\n\nDo A."
    );
}

/// An instance offering a read-only, an additive, a destructive and an unannotated tool.
fn hinted() -> (String, McpServerInstance) {
    let hinted = |name: &str, read_only: bool, destructive: bool| DiscoveredTool {
        annotations: Some(ToolAnnotations {
            read_only_hint: Some(read_only),
            destructive_hint: Some(destructive),
            ..Default::default()
        }),
        ..tool(name)
    };
    instance_of(
        "files",
        McpServerInstanceSpec::default(),
        true,
        vec![
            hinted("read", true, false),
            hinted("append", false, false),
            hinted("wipe", false, true),
            tool("plain"),
        ],
    )
}

/// `(name, requires approval, why)` of each resolved tool.
fn approvals_of(resolution: &Resolution) -> Vec<(&str, bool, &str)> {
    resolution
        .tools
        .iter()
        .map(|t| {
            (
                t.name.as_str(),
                t.requires_approval,
                t.approval_reason.as_deref().unwrap_or_default(),
            )
        })
        .collect()
}

#[test]
fn each_tool_says_whether_its_calls_need_approval_and_why() {
    // (case, spec, skills, (tool, requires approval, why) of each resolved tool)
    type ApprovalCase = (
        &'static str,
        AgentSpec,
        Vec<(String, Skill)>,
        Vec<(&'static str, bool, &'static str)>,
    );
    let cases: Vec<ApprovalCase> = vec![
        (
            "no policy: no tool needs approval",
            spec(json!({"mcpServers": [{"name": "files"}]})),
            vec![],
            vec![
                ("read", false, "policy None"),
                ("append", false, "policy None"),
                ("wipe", false, "policy None"),
                ("plain", false, "policy None"),
            ],
        ),
        (
            "Destructive: what may destroy, unannotated tools included",
            spec(
                json!({"mcpServers": [{"name": "files"}], "toolApproval": {"policy": "Destructive"}}),
            ),
            vec![],
            vec![
                ("read", false, "readOnlyHint (policy Destructive)"),
                (
                    "append",
                    false,
                    "destructiveHint false (policy Destructive)",
                ),
                ("wipe", true, "destructiveHint (policy Destructive)"),
                (
                    "plain",
                    true,
                    "no annotations: destructive by MCP default (policy Destructive)",
                ),
            ],
        ),
        (
            "NotReadOnly: all but the read-only tool",
            spec(
                json!({"mcpServers": [{"name": "files"}], "toolApproval": {"policy": "NotReadOnly"}}),
            ),
            vec![],
            vec![
                ("read", false, "readOnlyHint (policy NotReadOnly)"),
                ("append", true, "readOnlyHint false (policy NotReadOnly)"),
                ("wipe", true, "readOnlyHint false (policy NotReadOnly)"),
                (
                    "plain",
                    true,
                    "no annotations: not read-only by MCP default (policy NotReadOnly)",
                ),
            ],
        ),
        (
            "a tool listed with confirmation needs approval though the policy would not ask",
            spec(json!({"mcpServers": [{"name": "files", "allowedTools": [
                {"name": "read", "requiresUserConfirmation": true}, {"name": "append"}]}],
                "toolApproval": {"policy": "Destructive"}})),
            vec![],
            vec![
                ("read", true, "listed with requiresUserConfirmation"),
                (
                    "append",
                    false,
                    "destructiveHint false (policy Destructive)",
                ),
            ],
        ),
        (
            "a skill's offer of a tool the agent lists with confirmation needs approval too",
            spec(
                json!({"skills": [{"name": "reading"}], "mcpServers": [{"name": "files",
                "allowedTools": [{"name": "read", "requiresUserConfirmation": true}]}]}),
            ),
            vec![skill(
                "reading",
                "Read.",
                json!([{"instance": "files", "tools": ["read"]}]),
            )],
            vec![
                ("read", true, "listed with requiresUserConfirmation"),
                ("files__read", true, "listed with requiresUserConfirmation"),
            ],
        ),
        (
            "a skill's tools get the policy",
            spec(json!({"skills": [{"name": "wiping"}], "toolApproval": {"policy": "All"}})),
            vec![skill(
                "wiping",
                "Wipe.",
                json!([{"instance": "files", "tools": ["wipe"]}]),
            )],
            vec![("wipe", true, "policy All")],
        ),
    ];
    for (name, spec, skills, want) in cases {
        let resolution = resolve(&spec, &related(skills, vec![hinted()]));
        assert_eq!(approvals_of(&resolution), want, "{name}");
        assert_eq!(told(&resolution.problems), vec![], "{name}");
    }
}

#[test]
fn a_resolved_tool_carries_its_servers_hints_as_given() {
    let resolution = resolve(
        &spec(json!({"mcpServers": [{"name": "files"}]})),
        &related(vec![], vec![hinted()]),
    );
    let hints: Vec<_> = resolution
        .tools
        .iter()
        .map(|t| (t.name.as_str(), t.annotations))
        .collect();
    let given = |read_only, destructive| {
        Some(ToolAnnotations {
            read_only_hint: Some(read_only),
            destructive_hint: Some(destructive),
            idempotent_hint: None,
            open_world_hint: None,
        })
    };
    assert_eq!(
        hints,
        vec![
            ("read", given(true, false)),
            ("append", given(false, false)),
            ("wipe", given(false, true)),
            ("plain", None),
        ]
    );
}
