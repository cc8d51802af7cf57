//! Agent: resolves the model endpoint, skills, MCP server instances, tools and the API key Secret
//! into the tool set the model is offered, with `Ready` saying what is missing. Watches the
//! objects it names, so an agent becomes Ready by itself when the missing piece appears.

use std::collections::HashSet;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use kube::runtime::controller::Action;
use kube::runtime::{Controller, watcher};
use kube::{Api, ResourceExt};

use agentarea_crds::agent::ResolvedTool;
use agentarea_crds::common::{condition, is_condition_true, set_ready};
use agentarea_crds::{Agent, AgentStatus, McpServerInstance, Skill};

use crate::context::Context;
use crate::controllers::mcp_server_instance::secret_value;
use crate::controllers::{
    announce_ready_transition, in_namespace_where, log_outcomes, readiness, retry_with_backoff,
};
use crate::error::{Error, Result};
use crate::status::apply_status;

pub async fn run(ctx: Arc<Context>, shutdown: impl Future<Output = ()> + Send + Sync + 'static) {
    let controller = Controller::new(
        ctx.api::<Agent>(),
        watcher::Config::default().any_semantic(),
    );
    let store = controller.store();
    let (by_skill, by_instance, by_secret) = (store.clone(), store.clone(), store);
    let results = controller
        .watches(
            ctx.api::<Skill>(),
            watcher::Config::default(),
            move |skill| {
                in_namespace_where(&by_skill, &skill.namespace(), |a| {
                    a.spec.skills.iter().any(|s| s.name == skill.name_any())
                })
            },
        )
        // An instance's tools reach an agent directly or through a skill; re-resolving every agent
        // of the namespace is cheaper than tracking which skills name which instance.
        .watches(
            ctx.api::<McpServerInstance>(),
            watcher::Config::default(),
            move |instance| in_namespace_where(&by_instance, &instance.namespace(), |_| true),
        )
        .watches(
            ctx.api::<Secret>(),
            watcher::Config::default(),
            move |secret| {
                in_namespace_where(&by_secret, &secret.namespace(), |a| {
                    a.spec
                        .model
                        .api_key_secret_ref
                        .as_ref()
                        .is_some_and(|r| r.name == secret.name_any())
                })
            },
        )
        .graceful_shutdown_on(shutdown)
        .run(reconcile, retry_with_backoff, ctx);
    log_outcomes("agent", results).await;
}

async fn reconcile(agent: Arc<Agent>, ctx: Arc<Context>) -> Result<Action> {
    let namespace = agent.namespace().ok_or(Error::NoNamespace)?;
    let resolution = resolve(&ctx, &agent, &namespace).await?;
    let previous = agent.status.clone().unwrap_or_default();
    let mut status = AgentStatus {
        observed_generation: agent.metadata.generation,
        conditions: previous.conditions.clone(),
        tool_count: Some(resolution.tools.len() as i32),
        instructions: Some(resolution.instructions),
        tools: resolution.tools,
        model_endpoint: resolution.model_endpoint,
    };
    let (ready, reason, message) = readiness(
        &resolution.problems,
        format!("{} tools resolved", status.tools.len()),
    );
    set_ready(
        &mut status.conditions,
        ready,
        reason,
        message,
        agent.metadata.generation,
    );
    announce_ready_transition(&ctx, &*agent, &previous.conditions, &status.conditions).await;
    apply_status(&ctx.client, &*agent, &status).await?;
    Ok(Action::await_change())
}

/// What an agent resolves to, and every reason it does not fully.
pub struct Resolution {
    /// The agent's instruction followed by its skills' instructions.
    pub instructions: String,
    pub tools: Vec<ResolvedTool>,
    pub model_endpoint: Option<String>,
    /// `(reason, message)`, in the order found.
    pub problems: Vec<(&'static str, String)>,
}

/// Tools an agent asks for from one instance: named ones (with whether each needs a person's
/// confirmation), or every tool when `tools` is `None`; and the skill that asked, if any.
struct WantedTools {
    instance: String,
    tools: Option<Vec<(String, bool)>>,
    skill: Option<String>,
}

/// Resolves `agent` against the current state of its namespace.
pub async fn resolve(ctx: &Context, agent: &Agent, namespace: &str) -> Result<Resolution> {
    let skills: Api<Skill> = Api::namespaced(ctx.client.clone(), namespace);
    let instances: Api<McpServerInstance> = Api::namespaced(ctx.client.clone(), namespace);
    let mut problems = Vec::new();
    let mut wanted: Vec<WantedTools> = Vec::new();
    let mut instructions = agent.spec.instruction.clone();

    for skill_ref in &agent.spec.skills {
        match skills.get_opt(&skill_ref.name).await? {
            None => problems.push((
                "SkillNotFound",
                format!("skill {} not found", skill_ref.name),
            )),
            Some(skill) => {
                instructions.push_str(&format!(
                    "\n\n## Skill: {}\n\n{}",
                    skill_ref.name, skill.spec.instructions
                ));
                for needed in &skill.spec.tools {
                    let tools = needed.tools.iter().map(|t| (t.clone(), false)).collect();
                    wanted.push(WantedTools {
                        instance: needed.instance.clone(),
                        tools: Some(tools),
                        skill: Some(skill_ref.name.clone()),
                    });
                }
            }
        }
    }
    for server in &agent.spec.mcp_servers {
        let allowed = (!server.allowed_tools.is_empty()).then(|| {
            server
                .allowed_tools
                .iter()
                .map(|t| (t.name.clone(), t.requires_user_confirmation))
                .collect()
        });
        wanted.push(WantedTools {
            instance: server.name.clone(),
            tools: allowed,
            skill: None,
        });
    }

    let mut tools: Vec<ResolvedTool> = Vec::new();
    let mut names = HashSet::new();
    for WantedTools {
        instance: instance_name,
        tools: allowed,
        skill,
    } in wanted
    {
        let Some(instance) = instances.get_opt(&instance_name).await? else {
            problems.push((
                "InstanceNotFound",
                format!("MCP server instance {instance_name} not found"),
            ));
            continue;
        };
        let status = instance.status.clone().unwrap_or_default();
        if !is_condition_true(Some(&status.conditions), condition::READY) {
            problems.push((
                "InstanceNotReady",
                format!("MCP server instance {instance_name} is not ready"),
            ));
            continue;
        }
        let offered: Vec<(String, bool)> = match allowed {
            Some(allowed) => allowed,
            None => status
                .tools
                .iter()
                .map(|t| (t.name.clone(), false))
                .collect(),
        };
        for (tool, confirm) in offered {
            if !status.tools.iter().any(|t| t.name == tool) {
                problems.push((
                    "ToolNotFound",
                    format!("MCP server instance {instance_name} offers no tool {tool}"),
                ));
                continue;
            }
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
                instance: instance_name.clone(),
                tool,
                skill: skill.clone(),
                requires_user_confirmation: confirm,
            });
        }
    }

    if let Some(reference) = &agent.spec.model.api_key_secret_ref
        && let Err((reason, message)) =
            secret_value(ctx, namespace, &reference.name, &reference.key).await
    {
        problems.push((reason, message));
    }
    let model_endpoint = agent
        .spec
        .model
        .endpoint
        .clone()
        .or_else(|| ctx.config.default_model_endpoint.clone());
    if model_endpoint.is_none() {
        problems.push((
            "NoModelEndpoint",
            "spec.model.endpoint is empty and the operator has no default model endpoint".into(),
        ));
    }
    Ok(Resolution {
        instructions,
        tools,
        model_endpoint,
        problems,
    })
}
