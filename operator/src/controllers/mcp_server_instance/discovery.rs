//! An instance's status from listing its server's tools.

use agentarea_crds::McpServerInstanceStatus;
use agentarea_crds::common::set_ready;
use agentarea_crds::mcp_server_instance::McpPhase;
use agentarea_crds::reasons;

use crate::mcp::{Discovery, McpError};
use crate::problem::Problem;

/// Fills `status` from what listing the tools at `url` gave: the tools and `Running`; or, on
/// failure, the last known tools (agents see them as not ready anyway) and a phase that says
/// whether the server ever ran. True when the tools were listed.
pub fn record_discovery(
    status: &mut McpServerInstanceStatus,
    previous: &McpServerInstanceStatus,
    url: &str,
    discovered: Result<Discovery, McpError>,
    phase_on_first_failure: McpPhase,
    generation: Option<i64>,
) -> bool {
    match discovered {
        Ok(discovery) => {
            status.phase = Some(McpPhase::Running);
            status.tool_count = Some(discovery.tools.len() as i32);
            status.tools = discovery.tools;
            status.server_info = Some(discovery.server_info);
            set_ready(
                &mut status.conditions,
                true,
                reasons::TOOLS_DISCOVERED,
                format!("{} tools listed by {url}", status.tools.len()),
                generation,
            );
            true
        }
        Err(error) => {
            let phase = if previous.phase == Some(McpPhase::Running) {
                McpPhase::Unhealthy
            } else {
                phase_on_first_failure
            };
            status.tools = previous.tools.clone();
            status.tool_count = previous.tool_count;
            status.server_info = previous.server_info.clone();
            not_ready(status, phase, Problem::from(&error), generation);
            false
        }
    }
}

/// Sets `phase` and `Ready=False` for `problem`.
pub fn not_ready(
    status: &mut McpServerInstanceStatus,
    phase: McpPhase,
    problem: Problem,
    generation: Option<i64>,
) {
    status.phase = Some(phase);
    set_ready(
        &mut status.conditions,
        false,
        problem.reason,
        problem.message,
        generation,
    );
}

#[cfg(test)]
mod tests {
    use agentarea_crds::mcp_server_instance::{DiscoveredTool, ServerInfo};

    use super::*;

    fn tools(names: &[&str]) -> Vec<DiscoveredTool> {
        names
            .iter()
            .map(|name| DiscoveredTool {
                name: name.to_string(),
                description: None,
                input_schema: None,
                input_schema_digest: None,
                member: None,
                member_tool: None,
                annotations: None,
            })
            .collect()
    }

    fn info(name: &str) -> ServerInfo {
        ServerInfo {
            name: name.into(),
            version: Some("1.0".into()),
            protocol_version: None,
        }
    }

    fn running_with(names: &[&str]) -> McpServerInstanceStatus {
        McpServerInstanceStatus {
            phase: Some(McpPhase::Running),
            tools: tools(names),
            tool_count: Some(names.len() as i32),
            server_info: Some(info("old")),
            ..Default::default()
        }
    }

    fn unreachable() -> McpError {
        McpError::Connect {
            url: "http://x/mcp".into(),
            message: "connection refused".into(),
            refused: true,
        }
    }

    struct Case {
        name: &'static str,
        previous: McpServerInstanceStatus,
        discovered: Result<Discovery, McpError>,
        phase_on_first_failure: McpPhase,
        /// Listed, phase, tools, Ready status and reason, and the start of its message.
        want: (
            bool,
            McpPhase,
            &'static [&'static str],
            &'static str,
            &'static str,
            &'static str,
        ),
    }

    #[test]
    fn a_discovery_sets_phase_tools_and_ready() {
        let cases = vec![
            Case {
                name: "listed",
                previous: McpServerInstanceStatus::default(),
                discovered: Ok(Discovery {
                    server_info: info("everything"),
                    tools: tools(&["echo", "add"]),
                }),
                phase_on_first_failure: McpPhase::Starting,
                want: (
                    true,
                    McpPhase::Running,
                    &["echo", "add"],
                    "True",
                    reasons::TOOLS_DISCOVERED,
                    "2 tools listed by http://x/mcp",
                ),
            },
            Case {
                name: "listed again, with other tools",
                previous: running_with(&["echo"]),
                discovered: Ok(Discovery {
                    server_info: info("everything"),
                    tools: vec![],
                }),
                phase_on_first_failure: McpPhase::Failed,
                want: (
                    true,
                    McpPhase::Running,
                    &[],
                    "True",
                    reasons::TOOLS_DISCOVERED,
                    "0 tools listed",
                ),
            },
            Case {
                name: "a managed server not up yet is starting",
                previous: McpServerInstanceStatus::default(),
                discovered: Err(unreachable()),
                phase_on_first_failure: McpPhase::Starting,
                want: (
                    false,
                    McpPhase::Starting,
                    &[],
                    "False",
                    reasons::UNREACHABLE,
                    "could not connect to http://x/mcp",
                ),
            },
            Case {
                name: "a remote server that never answered has failed",
                previous: McpServerInstanceStatus::default(),
                discovered: Err(McpError::Timeout {
                    url: "http://x/mcp".into(),
                    seconds: 10,
                }),
                phase_on_first_failure: McpPhase::Failed,
                want: (
                    false,
                    McpPhase::Failed,
                    &[],
                    "False",
                    reasons::UNREACHABLE,
                    "http://x/mcp did not answer within 10s",
                ),
            },
            Case {
                name: "a server that ran is unhealthy and keeps its tools",
                previous: running_with(&["echo"]),
                discovered: Err(unreachable()),
                phase_on_first_failure: McpPhase::Failed,
                want: (
                    false,
                    McpPhase::Unhealthy,
                    &["echo"],
                    "False",
                    reasons::UNREACHABLE,
                    "could not connect",
                ),
            },
            Case {
                name: "a protocol error",
                previous: McpServerInstanceStatus::default(),
                discovered: Err(McpError::Protocol {
                    url: "http://x/mcp".into(),
                    operation: "tools/list",
                    message: "boom".into(),
                }),
                phase_on_first_failure: McpPhase::Failed,
                want: (
                    false,
                    McpPhase::Failed,
                    &[],
                    "False",
                    reasons::SERVER_ERROR,
                    "http://x/mcp answered tools/list with an error: boom",
                ),
            },
            Case {
                name: "a bad header",
                previous: McpServerInstanceStatus::default(),
                discovered: Err(McpError::InvalidHeader("X Bad".into())),
                phase_on_first_failure: McpPhase::Failed,
                want: (
                    false,
                    McpPhase::Failed,
                    &[],
                    "False",
                    reasons::INVALID_HEADER,
                    "invalid header \"X Bad\"",
                ),
            },
        ];
        for case in cases {
            let mut status = McpServerInstanceStatus::default();
            let listed = record_discovery(
                &mut status,
                &case.previous,
                "http://x/mcp",
                case.discovered,
                case.phase_on_first_failure,
                Some(3),
            );
            let (want_listed, phase, names, ready, reason, message) = case.want;
            assert_eq!(listed, want_listed, "{}", case.name);
            assert_eq!(status.phase, Some(phase), "{}", case.name);
            let got: Vec<&str> = status.tools.iter().map(|t| t.name.as_str()).collect();
            assert_eq!(got, names, "{}", case.name);
            let count = if listed {
                Some(names.len() as i32)
            } else {
                case.previous.tool_count
            };
            assert_eq!(status.tool_count, count, "{}", case.name);
            let condition = &status.conditions[0];
            assert_eq!(
                (
                    condition.status.as_str(),
                    condition.reason.as_str(),
                    condition.observed_generation
                ),
                (ready, reason, Some(3)),
                "{}",
                case.name
            );
            assert!(
                condition.message.starts_with(message),
                "{}: {}",
                case.name,
                condition.message
            );
        }
    }

    #[test]
    fn a_failed_discovery_keeps_what_the_server_said_of_itself() {
        let mut status = McpServerInstanceStatus::default();
        record_discovery(
            &mut status,
            &running_with(&["echo"]),
            "http://x/mcp",
            Err(unreachable()),
            McpPhase::Failed,
            None,
        );
        assert_eq!(status.server_info, Some(info("old")));
    }
}
