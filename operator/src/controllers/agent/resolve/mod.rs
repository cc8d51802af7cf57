//! What an agent resolves to, decided from what it names as the reconcile gathered it.

use std::collections::{HashMap, HashSet};

use agentarea_crds::agent::{AgentSpec, ResolvedTool, ToolApprovalPolicy};
use agentarea_crds::common::{condition, is_condition_true};
use agentarea_crds::{McpServerInstance, Skill, reasons};

use crate::approval::policy::approval_for;
use crate::problem::Problem;

/// What an agent names, as it is now.
pub struct Related {
    /// The Skills the agent names that exist, by name.
    pub skills: HashMap<String, Skill>,
    /// The instances that exist among those the agent and its skills name, by name.
    pub instances: HashMap<String, McpServerInstance>,
    /// Why the API key the agent names cannot be read, if it cannot.
    pub api_key_problem: Option<Problem>,
    /// Why the model endpoint the agent names may not be called (the egress policy), if so.
    pub model_endpoint_problem: Option<Problem>,
    /// The operator's model endpoint for agents that name none.
    pub default_model_endpoint: Option<String>,
}

/// What an agent resolves to, and every reason it does not fully.
#[derive(Debug, PartialEq)]
pub struct Resolution {
    /// The agent's instruction followed by its skills' instructions.
    pub instructions: String,
    pub tools: Vec<ResolvedTool>,
    pub model_endpoint: Option<String>,
    /// In the order found: skills, then instances and their tools, the API key, the model
    /// endpoint (refused, or missing).
    pub problems: Vec<Problem>,
}

/// Tools an agent asks for from one instance: named ones (with whether each needs a person's
/// confirmation), or every tool when `tools` is `None`; and the skill that asked, if any.
struct WantedTools<'a> {
    instance: &'a str,
    tools: Option<Vec<(String, bool)>>,
    skill: Option<&'a str>,
}

/// Resolves an agent's `spec` against what it names.
pub fn resolve(spec: &AgentSpec, related: &Related) -> Resolution {
    let mut problems = Vec::new();
    let mut instructions = spec.instruction.clone();
    let mut wanted = Vec::new();
    for skill_ref in &spec.skills {
        let Some(skill) = related.skills.get(&skill_ref.name) else {
            problems.push(Problem::new(
                reasons::SKILL_NOT_FOUND,
                format!("skill {} not found", skill_ref.name),
            ));
            continue;
        };
        instructions.push_str(&format!(
            "\n\n## Skill: {}\n\n{}",
            skill_ref.name, skill.spec.instructions
        ));
        for needed in &skill.spec.tools {
            wanted.push(WantedTools {
                instance: &needed.instance,
                tools: Some(needed.tools.iter().map(|t| (t.clone(), false)).collect()),
                skill: Some(&skill_ref.name),
            });
        }
    }
    for server in &spec.mcp_servers {
        let allowed = (!server.allowed_tools.is_empty()).then(|| {
            server
                .allowed_tools
                .iter()
                .map(|t| (t.name.clone(), t.requires_user_confirmation))
                .collect()
        });
        wanted.push(WantedTools {
            instance: &server.name,
            tools: allowed,
            skill: None,
        });
    }
    let approvals = Approvals {
        policy: spec
            .tool_approval
            .as_ref()
            .map(|a| a.policy)
            .unwrap_or_default(),
        confirmed: spec
            .mcp_servers
            .iter()
            .flat_map(|server| {
                server
                    .allowed_tools
                    .iter()
                    .filter(|t| t.requires_user_confirmation)
                    .map(|t| (server.name.as_str(), t.name.as_str()))
            })
            .collect(),
    };
    let tools = resolve_tools(wanted, &related.instances, &approvals, &mut problems);
    if let Some(problem) = &related.api_key_problem {
        problems.push(problem.clone());
    }
    if let Some(problem) = &related.model_endpoint_problem {
        problems.push(problem.clone());
    }
    let model_endpoint = spec
        .model
        .endpoint
        .clone()
        .or_else(|| related.default_model_endpoint.clone());
    if model_endpoint.is_none() {
        problems.push(Problem::new(
            reasons::NO_MODEL_ENDPOINT,
            "spec.model.endpoint is empty and the operator has no default model endpoint",
        ));
    }
    Resolution {
        instructions,
        tools,
        model_endpoint,
        problems,
    }
}

/// What decides whether a call to one of the agent's tools needs approval, besides its hints.
struct Approvals<'a> {
    policy: ToolApprovalPolicy,
    /// `(instance, tool)` the agent lists with `requiresUserConfirmation`: every offer of such a
    /// tool needs approval, also under a skill or a second name.
    confirmed: HashSet<(&'a str, &'a str)>,
}

/// The tools of every `wanted` set that its instance offers, each under a name no other tool of
/// the agent has, with whether calls to it need approval; what cannot be had goes to `problems`.
fn resolve_tools(
    wanted: Vec<WantedTools>,
    instances: &HashMap<String, McpServerInstance>,
    approvals: &Approvals,
    problems: &mut Vec<Problem>,
) -> Vec<ResolvedTool> {
    let mut tools: Vec<ResolvedTool> = Vec::new();
    let mut names = HashSet::new();
    for WantedTools {
        instance: instance_name,
        tools: allowed,
        skill,
    } in wanted
    {
        let Some(instance) = instances.get(instance_name) else {
            problems.push(Problem::new(
                reasons::INSTANCE_NOT_FOUND,
                format!("MCP server instance {instance_name} not found"),
            ));
            continue;
        };
        let status = instance.status.clone().unwrap_or_default();
        if !is_condition_true(Some(&status.conditions), condition::READY) {
            problems.push(Problem::new(
                reasons::INSTANCE_NOT_READY,
                format!("MCP server instance {instance_name} is not ready"),
            ));
            continue;
        }
        let offered: Vec<(String, bool)> = allowed.unwrap_or_else(|| {
            status
                .tools
                .iter()
                .map(|t| (t.name.clone(), false))
                .collect()
        });
        for (tool, confirm) in offered {
            let Some(discovered) = status.tools.iter().find(|t| t.name == tool) else {
                problems.push(Problem::new(
                    reasons::TOOL_NOT_FOUND,
                    format!("MCP server instance {instance_name} offers no tool {tool}"),
                ));
                continue;
            };
            let annotations = discovered.annotations;
            let listed = approvals
                .confirmed
                .contains(&(instance_name, tool.as_str()));
            let (requires_approval, reason) =
                approval_for(listed, annotations.as_ref(), approvals.policy);
            // Two instances may offer the same name; the model must see distinct ones.
            let exposed = if names.contains(&tool) {
                format!("{instance_name}__{tool}")
            } else {
                tool.clone()
            };
            if !names.insert(exposed.clone()) {
                continue;
            }
            tools.push(ResolvedTool {
                name: exposed,
                instance: instance_name.to_string(),
                tool,
                skill: skill.map(str::to_string),
                requires_user_confirmation: confirm,
                requires_approval,
                approval_reason: Some(reason),
                annotations,
            });
        }
    }
    tools
}

#[cfg(test)]
mod tests;
