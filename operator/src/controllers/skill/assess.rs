//! Whether a skill's tools are offered, decided from the instances it names. Which agents use it
//! is kept by [`users`](super::users).

use std::collections::HashMap;

use agentarea_crds::common::{condition, is_condition_true};
use agentarea_crds::{McpServerInstance, Skill, reasons};

use crate::problem::Problem;

/// What a skill's status says.
#[derive(Debug, PartialEq)]
pub struct Assessment {
    /// `instance/tool` of each tool the skill needs that is offered.
    pub resolved: Vec<String>,
    /// `instance/tool` of each tool the skill needs that is not.
    pub missing: Vec<String>,
    /// Why tools are missing, one per missing tool with repeats in a row dropped.
    pub problems: Vec<Problem>,
}

/// Assesses `skill` given the instances it names that exist (by name).
pub fn assess(skill: &Skill, instances: &HashMap<String, McpServerInstance>) -> Assessment {
    let mut resolved = Vec::new();
    let mut missing = Vec::new();
    let mut problems = Vec::new();
    for needed in &skill.spec.tools {
        let instance = instances.get(&needed.instance);
        let status = instance.and_then(|i| i.status.clone()).unwrap_or_default();
        let ready = is_condition_true(Some(&status.conditions), condition::READY);
        for tool in &needed.tools {
            let pair = format!("{}/{}", needed.instance, tool);
            let problem = match instance {
                None => Problem::new(
                    reasons::INSTANCE_NOT_FOUND,
                    format!("MCP server instance {} not found", needed.instance),
                ),
                Some(_) if !ready => Problem::new(
                    reasons::INSTANCE_NOT_READY,
                    format!("MCP server instance {} is not ready", needed.instance),
                ),
                Some(_) if !status.tools.iter().any(|t| &t.name == tool) => Problem::new(
                    reasons::TOOL_NOT_FOUND,
                    format!("{} offers no tool {tool}", needed.instance),
                ),
                Some(_) => {
                    resolved.push(pair);
                    continue;
                }
            };
            problems.push(problem);
            missing.push(pair);
        }
    }
    problems.dedup();
    Assessment {
        resolved,
        missing,
        problems,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::fixtures::{instance, told, unobserved};

    fn skill(tools: Value) -> Skill {
        let spec =
            serde_json::from_value(json!({"instructions": "Echo.", "tools": tools})).unwrap();
        Skill::new("echoing", spec)
    }

    struct Case {
        name: &'static str,
        tools: Value,
        instances: Vec<(String, McpServerInstance)>,
        resolved: &'static [&'static str],
        missing: &'static [&'static str],
        problems: &'static [(&'static str, &'static str)],
    }

    #[test]
    fn a_skill_says_which_of_its_tools_are_offered_and_why_not() {
        let cases = vec![
            Case {
                name: "needs nothing",
                tools: json!([]),
                instances: vec![],
                resolved: &[],
                missing: &[],
                problems: &[],
            },
            Case {
                name: "all offered",
                tools: json!([{"instance": "everything", "tools": ["echo", "add"]}]),
                instances: vec![instance("everything", true, &["echo", "add", "other"])],
                resolved: &["everything/echo", "everything/add"],
                missing: &[],
                problems: &[],
            },
            Case {
                name: "a missing instance, told once for its tools",
                tools: json!([{"instance": "gone", "tools": ["echo", "add"]}]),
                instances: vec![],
                resolved: &[],
                missing: &["gone/echo", "gone/add"],
                problems: &[(
                    reasons::INSTANCE_NOT_FOUND,
                    "MCP server instance gone not found",
                )],
            },
            Case {
                name: "an instance not ready",
                tools: json!([{"instance": "everything", "tools": ["echo"]}]),
                instances: vec![instance("everything", false, &["echo"])],
                resolved: &[],
                missing: &["everything/echo"],
                problems: &[(
                    reasons::INSTANCE_NOT_READY,
                    "MCP server instance everything is not ready",
                )],
            },
            Case {
                name: "an instance with no status yet",
                tools: json!([{"instance": "new", "tools": ["echo"]}]),
                instances: vec![unobserved("new")],
                resolved: &[],
                missing: &["new/echo"],
                problems: &[(
                    reasons::INSTANCE_NOT_READY,
                    "MCP server instance new is not ready",
                )],
            },
            Case {
                name: "a tool not offered, beside one that is",
                tools: json!([{"instance": "everything", "tools": ["shout", "echo"]}]),
                instances: vec![instance("everything", true, &["echo"])],
                resolved: &["everything/echo"],
                missing: &["everything/shout"],
                problems: &[(reasons::TOOL_NOT_FOUND, "everything offers no tool shout")],
            },
            Case {
                name: "two tools not offered are two problems",
                tools: json!([{"instance": "everything", "tools": ["shout", "whisper"]}]),
                instances: vec![instance("everything", true, &["echo"])],
                resolved: &[],
                missing: &["everything/shout", "everything/whisper"],
                problems: &[
                    (reasons::TOOL_NOT_FOUND, "everything offers no tool shout"),
                    (reasons::TOOL_NOT_FOUND, "everything offers no tool whisper"),
                ],
            },
            Case {
                name: "every problem, in the skill's order",
                tools: json!([
                    {"instance": "gone", "tools": ["a"]},
                    {"instance": "down", "tools": ["b", "c"]},
                    {"instance": "everything", "tools": ["echo", "d"]},
                    {"instance": "gone", "tools": ["e"]},
                ]),
                instances: vec![
                    instance("down", false, &["b"]),
                    instance("everything", true, &["echo"]),
                ],
                resolved: &["everything/echo"],
                missing: &["gone/a", "down/b", "down/c", "everything/d", "gone/e"],
                problems: &[
                    (
                        reasons::INSTANCE_NOT_FOUND,
                        "MCP server instance gone not found",
                    ),
                    (
                        reasons::INSTANCE_NOT_READY,
                        "MCP server instance down is not ready",
                    ),
                    (reasons::TOOL_NOT_FOUND, "everything offers no tool d"),
                    (
                        reasons::INSTANCE_NOT_FOUND,
                        "MCP server instance gone not found",
                    ),
                ],
            },
        ];
        for case in cases {
            let assessment = assess(&skill(case.tools), &case.instances.into_iter().collect());
            assert_eq!(assessment.resolved, case.resolved, "{}", case.name);
            assert_eq!(assessment.missing, case.missing, "{}", case.name);
            assert_eq!(told(&assessment.problems), case.problems, "{}", case.name);
        }
    }
}
