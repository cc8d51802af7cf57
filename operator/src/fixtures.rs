//! Objects that the unit tests of several controllers build alike.

use agentarea_crds::common::set_ready;
use agentarea_crds::mcp_server_instance::{DiscoveredTool, McpServerInstanceStatus};
use agentarea_crds::{McpServerInstance, McpServerInstanceSpec};

use crate::problem::Problem;

/// A tool as discovery lists it when the server says nothing but its name.
pub fn tool(name: &str) -> DiscoveredTool {
    DiscoveredTool {
        name: name.into(),
        description: None,
        input_schema: None,
        input_schema_digest: None,
        member: None,
        member_tool: None,
        annotations: None,
    }
}

/// Instance `name` of `spec`, Ready or not, listing `tools`; paired with its name, as the
/// lookups the controllers decide from are keyed.
pub fn instance_of(
    name: &str,
    spec: McpServerInstanceSpec,
    ready: bool,
    tools: Vec<DiscoveredTool>,
) -> (String, McpServerInstance) {
    let mut instance = McpServerInstance::new(name, spec);
    let mut status = McpServerInstanceStatus {
        tools,
        ..Default::default()
    };
    set_ready(&mut status.conditions, ready, "Test", "", None);
    instance.status = Some(status);
    (name.into(), instance)
}

/// [`instance_of`] a default spec, listing the tools named `tools`.
pub fn instance(name: &str, ready: bool, tools: &[&str]) -> (String, McpServerInstance) {
    let tools = tools.iter().map(|t| tool(t)).collect();
    instance_of(name, McpServerInstanceSpec::default(), ready, tools)
}

/// Instance `name` as it is before its controller first writes status.
pub fn unobserved(name: &str) -> (String, McpServerInstance) {
    let instance = McpServerInstance::new(name, McpServerInstanceSpec::default());
    (name.into(), instance)
}

/// `(reason, message)` of each problem, the form the tests' tables write them in.
pub fn told(problems: &[Problem]) -> Vec<(&'static str, &str)> {
    problems
        .iter()
        .map(|p| (p.reason, p.message.as_str()))
        .collect()
}
