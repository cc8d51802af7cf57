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
    use agentarea_crds::mcp_server_instance::{CompoundMember, RemoteServer, ToolAnnotations};

    use super::*;
    use crate::fixtures::{instance_of, unobserved};

    fn tool(name: &str) -> DiscoveredTool {
        DiscoveredTool {
            name: name.into(),
            description: Some(format!("{name} things")),
            input_schema: None,
            input_schema_digest: Some(format!("sha256:{name}")),
            member: None,
            member_tool: None,
            annotations: Some(ToolAnnotations {
                read_only_hint: Some(true),
                ..Default::default()
            }),
        }
    }

    fn server(name: &str, ready: bool, tools: &[&str]) -> (String, McpServerInstance) {
        let spec = McpServerInstanceSpec {
            remote: Some(RemoteServer::default()),
            ..Default::default()
        };
        instance_of(name, spec, ready, tools.iter().map(|t| tool(t)).collect())
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

    /// The instances every case's members are looked up among; a case names the ones it uses.
    fn servers() -> HashMap<String, McpServerInstance> {
        [
            server("time", true, &["now"]),
            server("files", true, &["read", "write"]),
            server("a", true, &["echo"]),
            server("b", true, &["echo", "add"]),
            server("late", false, &["now"]),
            nested("inner"),
            unobserved("new"),
        ]
        .into_iter()
        .collect()
    }

    fn member(name: &str) -> CompoundMember {
        CompoundMember {
            name: name.into(),
            prefix: None,
            include: vec![],
            exclude: vec![],
        }
    }

    fn prefixed(name: &str, prefix: &str) -> CompoundMember {
        CompoundMember {
            prefix: Some(prefix.into()),
            ..member(name)
        }
    }

    fn filtered(name: &str, include: &[&str], exclude: &[&str]) -> CompoundMember {
        let names = |list: &[&str]| list.iter().map(|t| t.to_string()).collect();
        CompoundMember {
            include: names(include),
            exclude: names(exclude),
            ..member(name)
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

    /// `(what the case shows, members, routes, collisions, the Ready message or why not)`.
    type Case = (
        &'static str,
        Vec<CompoundMember>,
        &'static [(&'static str, &'static str, &'static str)],
        &'static [&'static str],
        Result<&'static str, &'static str>,
    );

    #[test]
    fn members_tools_are_merged_and_every_problem_is_told() {
        let cases: Vec<Case> = vec![
            (
                "all members ready",
                vec![member("time"), member("files")],
                &[
                    ("now", "time", "now"),
                    ("read", "files", "read"),
                    ("write", "files", "write"),
                ],
                &[],
                Ok("3 tools from 2 members"),
            ),
            ("no members", vec![], &[], &[], Ok("0 tools from 0 members")),
            (
                "a prefix renames, and the member keeps its own name",
                vec![prefixed("time", "time_")],
                &[("time_now", "time", "now")],
                &[],
                Ok("1 tools from 1 members"),
            ),
            (
                "include keeps only what it names",
                vec![filtered("files", &["read", "absent"], &[])],
                &[("read", "files", "read")],
                &[],
                Ok("1 tools from 1 members"),
            ),
            (
                "exclude drops, even what include names",
                vec![filtered("files", &["read", "write"], &["write"])],
                &[("read", "files", "read")],
                &[],
                Ok("1 tools from 1 members"),
            ),
            (
                "the first member wins a name, and the collision is listed",
                vec![member("a"), member("b")],
                &[("echo", "a", "echo"), ("add", "b", "add")],
                &["echo"],
                Ok("2 tools from 2 members"),
            ),
            (
                "a prefix avoids the collision",
                vec![member("a"), prefixed("b", "b_")],
                &[
                    ("echo", "a", "echo"),
                    ("b_echo", "b", "echo"),
                    ("b_add", "b", "add"),
                ],
                &[],
                Ok("3 tools from 2 members"),
            ),
            (
                "a missing member",
                vec![member("time"), member("gone")],
                &[("now", "time", "now")],
                &[],
                Err("member gone not found"),
            ),
            (
                "a compound member",
                vec![member("inner")],
                &[],
                &[],
                Err("member inner is itself compound"),
            ),
            (
                "a member not ready still lends its tools",
                vec![member("late")],
                &[("now", "late", "now")],
                &[],
                Err("member late is not ready"),
            ),
            (
                "a member with no status yet",
                vec![member("new")],
                &[],
                &[],
                Err("member new is not ready"),
            ),
            (
                "every problem, in the members' order",
                vec![member("gone"), member("inner"), member("late")],
                &[("now", "late", "now")],
                &[],
                Err(
                    "member gone not found; member inner is itself compound; member late is not ready",
                ),
            ),
        ];
        let servers = servers();
        for (name, members, want_routes, collisions, readiness) in cases {
            let merged = merge(&CompoundServer { members }, &servers);
            let want_routes: Vec<(String, String, String)> = want_routes
                .iter()
                .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
                .collect();
            assert_eq!(routes(&merged), want_routes, "{name}");
            assert_eq!(merged.collisions, collisions, "{name}");
            let got = merged
                .readiness
                .as_ref()
                .map(String::as_str)
                .map_err(|p| (p.reason, p.message.as_str()));
            let want = readiness.map_err(|m| (reasons::MEMBERS_NOT_READY, m));
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn a_merged_tool_keeps_its_description_schema_and_hints() {
        let compound = CompoundServer {
            members: vec![prefixed("time", "t_")],
        };
        let merged = merge(&compound, &servers());
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
