//! A compound instance's tools: the union of its members' tools, prefixed and filtered as its spec
//! says. A name offered by two members goes to the first and is listed as a collision.

use std::collections::{HashMap, HashSet};

use agentarea_crds::McpServerInstance;
use agentarea_crds::common::{condition, is_condition_true};
use agentarea_crds::mcp_server_instance::{CompoundServer, DiscoveredTool};
use agentarea_crds::reasons;

use crate::problem::Problem;

/// What a compound instance offers, and whether it is ready.
#[derive(Debug, PartialEq)]
pub struct Merged {
    pub tools: Vec<DiscoveredTool>,
    pub collisions: Vec<String>,
    /// The Ready message, or why it is not ready.
    pub readiness: Result<String, Problem>,
}

/// Merges the tools of `compound`'s members, given those of them that exist by name.
pub fn merge(compound: &CompoundServer, members: &HashMap<String, McpServerInstance>) -> Merged {
    let mut tools: Vec<DiscoveredTool> = Vec::new();
    let mut names = HashSet::new();
    let mut collisions = Vec::new();
    let mut problems = Vec::new();
    for member in &compound.members {
        let Some(object) = members.get(&member.name) else {
            problems.push(format!("member {} not found", member.name));
            continue;
        };
        if object.spec.compound.is_some() {
            problems.push(format!("member {} is itself compound", member.name));
            continue;
        }
        let member_status = object.status.clone().unwrap_or_default();
        // A member that is not ready still lends its last known tools, so that the table does not
        // empty while it restarts; the compound is not ready meanwhile.
        if !is_condition_true(Some(&member_status.conditions), condition::READY) {
            problems.push(format!("member {} is not ready", member.name));
        }
        for tool in &member_status.tools {
            let included = member.include.is_empty() || member.include.contains(&tool.name);
            if !included || member.exclude.contains(&tool.name) {
                continue;
            }
            let exposed = format!("{}{}", member.prefix.as_deref().unwrap_or(""), tool.name);
            if !names.insert(exposed.clone()) {
                collisions.push(exposed);
                continue;
            }
            tools.push(DiscoveredTool {
                name: exposed,
                member: Some(member.name.clone()),
                member_tool: Some(tool.name.clone()),
                ..tool.clone()
            });
        }
    }
    let readiness = if problems.is_empty() {
        Ok(format!(
            "{} tools from {} members",
            tools.len(),
            compound.members.len()
        ))
    } else {
        Err(Problem::new(
            reasons::MEMBERS_NOT_READY,
            problems.join("; "),
        ))
    };
    Merged {
        tools,
        collisions,
        readiness,
    }
}

#[cfg(test)]
mod tests {
    use agentarea_crds::McpServerInstanceSpec;
    use agentarea_crds::common::set_ready;
    use agentarea_crds::mcp_server_instance::{
        CompoundMember, McpServerInstanceStatus, RemoteServer,
    };

    use super::*;

    fn tool(name: &str) -> DiscoveredTool {
        DiscoveredTool {
            name: name.into(),
            description: Some(format!("{name} things")),
            input_schema: None,
            input_schema_digest: Some(format!("sha256:{name}")),
            member: None,
            member_tool: None,
        }
    }

    fn server(name: &str, ready: bool, tools: &[&str]) -> (String, McpServerInstance) {
        let mut instance = McpServerInstance::new(
            name,
            McpServerInstanceSpec {
                remote: Some(RemoteServer::default()),
                ..Default::default()
            },
        );
        let mut status = McpServerInstanceStatus {
            tools: tools.iter().map(|t| tool(t)).collect(),
            ..Default::default()
        };
        set_ready(&mut status.conditions, ready, "Test", "", None);
        instance.status = Some(status);
        (name.into(), instance)
    }

    fn nested(name: &str) -> (String, McpServerInstance) {
        let instance = McpServerInstance::new(
            name,
            McpServerInstanceSpec {
                compound: Some(CompoundServer::default()),
                ..Default::default()
            },
        );
        (name.into(), instance)
    }

    fn member(name: &str) -> CompoundMember {
        CompoundMember {
            name: name.into(),
            prefix: None,
            include: vec![],
            exclude: vec![],
        }
    }

    /// `(exposed name, member, member's name)` of each merged tool.
    fn routes(merged: &Merged) -> Vec<(String, String, String)> {
        merged
            .tools
            .iter()
            .map(|t| {
                (
                    t.name.clone(),
                    t.member.clone().unwrap_or_default(),
                    t.member_tool.clone().unwrap_or_default(),
                )
            })
            .collect()
    }

    struct Case {
        name: &'static str,
        members: Vec<CompoundMember>,
        servers: Vec<(String, McpServerInstance)>,
        routes: &'static [(&'static str, &'static str, &'static str)],
        collisions: &'static [&'static str],
        readiness: Result<&'static str, &'static str>,
    }

    #[test]
    fn members_tools_are_merged_and_every_problem_is_told() {
        let cases = vec![
            Case {
                name: "all members ready",
                members: vec![member("time"), member("files")],
                servers: vec![
                    server("time", true, &["now"]),
                    server("files", true, &["read", "write"]),
                ],
                routes: &[
                    ("now", "time", "now"),
                    ("read", "files", "read"),
                    ("write", "files", "write"),
                ],
                collisions: &[],
                readiness: Ok("3 tools from 2 members"),
            },
            Case {
                name: "no members",
                members: vec![],
                servers: vec![],
                routes: &[],
                collisions: &[],
                readiness: Ok("0 tools from 0 members"),
            },
            Case {
                name: "a prefix renames, and the member keeps its own name",
                members: vec![CompoundMember {
                    prefix: Some("time_".into()),
                    ..member("time")
                }],
                servers: vec![server("time", true, &["now"])],
                routes: &[("time_now", "time", "now")],
                collisions: &[],
                readiness: Ok("1 tools from 1 members"),
            },
            Case {
                name: "include keeps only what it names",
                members: vec![CompoundMember {
                    include: vec!["read".into(), "absent".into()],
                    ..member("files")
                }],
                servers: vec![server("files", true, &["read", "write"])],
                routes: &[("read", "files", "read")],
                collisions: &[],
                readiness: Ok("1 tools from 1 members"),
            },
            Case {
                name: "exclude drops, even what include names",
                members: vec![CompoundMember {
                    include: vec!["read".into(), "write".into()],
                    exclude: vec!["write".into()],
                    ..member("files")
                }],
                servers: vec![server("files", true, &["read", "write"])],
                routes: &[("read", "files", "read")],
                collisions: &[],
                readiness: Ok("1 tools from 1 members"),
            },
            Case {
                name: "the first member wins a name, and the collision is listed",
                members: vec![member("a"), member("b")],
                servers: vec![
                    server("a", true, &["echo"]),
                    server("b", true, &["echo", "add"]),
                ],
                routes: &[("echo", "a", "echo"), ("add", "b", "add")],
                collisions: &["echo"],
                readiness: Ok("2 tools from 2 members"),
            },
            Case {
                name: "a prefix avoids the collision",
                members: vec![
                    member("a"),
                    CompoundMember {
                        prefix: Some("b_".into()),
                        ..member("b")
                    },
                ],
                servers: vec![server("a", true, &["echo"]), server("b", true, &["echo"])],
                routes: &[("echo", "a", "echo"), ("b_echo", "b", "echo")],
                collisions: &[],
                readiness: Ok("2 tools from 2 members"),
            },
            Case {
                name: "a missing member",
                members: vec![member("time"), member("gone")],
                servers: vec![server("time", true, &["now"])],
                routes: &[("now", "time", "now")],
                collisions: &[],
                readiness: Err("member gone not found"),
            },
            Case {
                name: "a compound member",
                members: vec![member("inner")],
                servers: vec![nested("inner")],
                routes: &[],
                collisions: &[],
                readiness: Err("member inner is itself compound"),
            },
            Case {
                name: "a member not ready still lends its tools",
                members: vec![member("time")],
                servers: vec![server("time", false, &["now"])],
                routes: &[("now", "time", "now")],
                collisions: &[],
                readiness: Err("member time is not ready"),
            },
            Case {
                name: "a member with no status yet",
                members: vec![member("new")],
                servers: vec![(
                    "new".into(),
                    McpServerInstance::new("new", McpServerInstanceSpec::default()),
                )],
                routes: &[],
                collisions: &[],
                readiness: Err("member new is not ready"),
            },
            Case {
                name: "every problem, in the members' order",
                members: vec![member("gone"), member("inner"), member("time")],
                servers: vec![nested("inner"), server("time", false, &[])],
                routes: &[],
                collisions: &[],
                readiness: Err(
                    "member gone not found; member inner is itself compound; member time is not ready",
                ),
            },
        ];
        for case in cases {
            let compound = CompoundServer {
                members: case.members,
            };
            let merged = merge(&compound, &case.servers.into_iter().collect());
            let want_routes: Vec<(String, String, String)> = case
                .routes
                .iter()
                .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
                .collect();
            assert_eq!(routes(&merged), want_routes, "{}", case.name);
            assert_eq!(merged.collisions, case.collisions, "{}", case.name);
            let readiness = merged
                .readiness
                .as_ref()
                .map(String::as_str)
                .map_err(|p| (p.reason, p.message.as_str()));
            let want = case.readiness.map_err(|m| (reasons::MEMBERS_NOT_READY, m));
            assert_eq!(readiness, want, "{}", case.name);
        }
    }

    #[test]
    fn a_merged_tool_keeps_its_description_and_schema() {
        let compound = CompoundServer {
            members: vec![CompoundMember {
                prefix: Some("t_".into()),
                ..member("time")
            }],
        };
        let merged = merge(
            &compound,
            &[server("time", true, &["now"])].into_iter().collect(),
        );
        assert_eq!(
            merged.tools,
            vec![DiscoveredTool {
                name: "t_now".into(),
                member: Some("time".into()),
                member_tool: Some("now".into()),
                ..tool("now")
            }]
        );
    }
}
