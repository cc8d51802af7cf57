//! Agent: resolves the model endpoint, skills, MCP server instances, tools and the API key Secret
//! into the tool set the model is offered, with `Ready` saying what is missing. Watches the
//! objects it names, so an agent becomes Ready by itself when the missing piece appears.
//!
//! The reconcile gathers what the agent names and hands it to [`resolve`](resolve::resolve),
//! which decides.

pub mod resolve;

use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use kube::runtime::controller::Action;
use kube::runtime::watcher;
use kube::{Api, ResourceExt};

use agentarea_crds::{Agent, AgentStatus, McpServerInstance, Skill, reasons};
use agentarea_support::egress::{EgressCheckError, EgressPolicy};

use self::resolve::{Related, resolve};
use crate::context::Context;
use crate::controllers::mcp_server_instance::offer;
use crate::controllers::{
    FirstSight, announce_ready_transition, get_named, in_namespace_where, keyed_changes,
    run_observed, set_readiness, spec_driven,
};
use crate::error::{Error, Result};
use crate::problem::Problem;
use crate::secrets::secret_value;
use crate::status::apply_status;

pub async fn run(ctx: Arc<Context>, shutdown: impl Future<Output = ()> + Send + Sync + 'static) {
    let controller = spec_driven(ctx.api::<Agent>());
    let store = controller.store();
    let (by_skill, by_instance, by_secret) = (store.clone(), store.clone(), store);
    let controller = controller
        .watches_stream(
            keyed_changes(
                ctx.api::<Skill>(),
                |skill: &Skill| skill.metadata.generation,
                FirstSight::Wake,
            ),
            move |skill| {
                in_namespace_where(&by_skill, &skill.namespace(), |a| {
                    a.spec.skills.iter().any(|s| s.name == skill.name_any())
                })
            },
        )
        // An instance's tools reach an agent directly or through a skill; re-resolving every agent
        // of the namespace is cheaper than tracking which skills name which instance.
        .watches_stream(
            keyed_changes(ctx.api::<McpServerInstance>(), offer, FirstSight::Wake),
            move |instance| in_namespace_where(&by_instance, &instance.namespace(), |_| true),
        )
        // Not the Tasks' conversation chunks: they are many, large, and never an API key.
        .watches(
            ctx.api::<Secret>(),
            watcher::Config::default().fields(&format!(
                "type!={}",
                crate::controllers::task::conversation::SECRET_TYPE
            )),
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
        .graceful_shutdown_on(shutdown);
    run_observed("agent", controller, reconcile, ctx).await;
}

async fn reconcile(agent: Arc<Agent>, ctx: Arc<Context>) -> Result<Action> {
    let namespace = agent.namespace().ok_or(Error::NoNamespace)?;
    let related = gather(&ctx, &agent, &namespace).await?;
    let resolution = resolve(&agent.spec, &related);
    let previous = agent.status.clone().unwrap_or_default();
    let mut status = AgentStatus {
        observed_generation: agent.metadata.generation,
        conditions: previous.conditions.clone(),
        tool_count: Some(resolution.tools.len() as i32),
        instructions: Some(resolution.instructions),
        tools: resolution.tools,
        model_endpoint: resolution.model_endpoint,
    };
    set_readiness(
        &mut status.conditions,
        &resolution.problems,
        format!("{} tools resolved", status.tools.len()),
        agent.metadata.generation,
    );
    announce_ready_transition(&ctx, &*agent, &previous.conditions, &status.conditions).await;
    apply_status(&ctx.client, &*agent, &status).await?;
    Ok(Action::await_change())
}

/// Everything `agent` names, as it is now: its skills, the instances it and its skills name, and
/// whether its API key can be read.
async fn gather(ctx: &Context, agent: &Agent, namespace: &str) -> Result<Related> {
    let spec = &agent.spec;
    let skill_names: Vec<&str> = spec.skills.iter().map(|s| s.name.as_str()).collect();
    let skills = get_named(
        &Api::<Skill>::namespaced(ctx.client.clone(), namespace),
        &skill_names,
    )
    .await?;
    let instance_names: Vec<&str> = skills
        .values()
        .flat_map(|skill| skill.spec.tools.iter().map(|t| t.instance.as_str()))
        .chain(spec.mcp_servers.iter().map(|s| s.name.as_str()))
        .collect();
    let instances = get_named(
        &Api::<McpServerInstance>::namespaced(ctx.client.clone(), namespace),
        &instance_names,
    )
    .await?;
    let api_key_problem = match &spec.model.api_key_secret_ref {
        Some(key) => secret_value(&ctx.client, namespace, &key.name, &key.key)
            .await
            .err(),
        None => None,
    };
    let model_endpoint_problem = match &spec.model.endpoint {
        Some(endpoint) => egress_problem(&ctx.egress.policy(namespace).await, endpoint).await,
        None => None,
    };
    Ok(Related {
        skills,
        instances,
        api_key_problem,
        model_endpoint_problem,
        default_model_endpoint: ctx.config.default_model_endpoint.clone(),
    })
}

/// Why the egress policy refuses the model endpoint the agent names, resolving its name now; a
/// name that does not resolve is no refusal (the model may come up later; its calls will say).
async fn egress_problem(egress: &EgressPolicy, endpoint: &str) -> Option<Problem> {
    match egress.check_resolved(endpoint).await {
        Err(EgressCheckError::Denied(denied)) => Some(Problem::new(
            reasons::EGRESS_DENIED,
            format!("spec.model.endpoint: {denied}"),
        )),
        _ => None,
    }
}
