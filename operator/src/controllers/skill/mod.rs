//! Skill: says whether the tools it needs are offered, and which agents use it.
//!
//! The reconcile gathers the instances the skill names and the agents of its namespace, and
//! hands them to [`assess`](assess::assess), which decides.

pub mod assess;

use std::sync::Arc;

use kube::api::ListParams;
use kube::runtime::controller::Action;
use kube::runtime::watcher;
use kube::{Api, ResourceExt};

use agentarea_crds::{Agent, McpServerInstance, Skill, SkillStatus};

use self::assess::assess;
use crate::context::Context;
use crate::controllers::{
    announce_ready_transition, get_named, in_namespace_where, run_observed, set_readiness,
    spec_driven,
};
use crate::error::{Error, Result};
use crate::status::apply_status;

pub async fn run(ctx: Arc<Context>, shutdown: impl Future<Output = ()> + Send + Sync + 'static) {
    let controller = spec_driven(ctx.api::<Skill>());
    let store = controller.store();
    let (by_instance, by_agent) = (store.clone(), store);
    let controller = controller
        .watches(
            ctx.api::<McpServerInstance>(),
            watcher::Config::default(),
            move |instance| {
                in_namespace_where(&by_instance, &instance.namespace(), |s| {
                    s.spec
                        .tools
                        .iter()
                        .any(|t| t.instance == instance.name_any())
                })
            },
        )
        .watches(
            ctx.api::<Agent>(),
            watcher::Config::default(),
            move |agent| {
                // The agent may have dropped a skill too, so every skill of the namespace re-counts.
                in_namespace_where(&by_agent, &agent.namespace(), |_| true)
            },
        )
        .graceful_shutdown_on(shutdown);
    run_observed("skill", controller, reconcile, ctx).await;
}

async fn reconcile(skill: Arc<Skill>, ctx: Arc<Context>) -> Result<Action> {
    let namespace = skill.namespace().ok_or(Error::NoNamespace)?;
    let instance_names: Vec<&str> = skill
        .spec
        .tools
        .iter()
        .map(|t| t.instance.as_str())
        .collect();
    let instances = get_named(
        &Api::<McpServerInstance>::namespaced(ctx.client.clone(), &namespace),
        &instance_names,
    )
    .await?;
    let agents = Api::<Agent>::namespaced(ctx.client.clone(), &namespace)
        .list(&ListParams::default())
        .await?
        .items;
    let assessment = assess(&skill, &instances, &agents);
    let previous = skill.status.clone().unwrap_or_default();
    let mut status = SkillStatus {
        observed_generation: skill.metadata.generation,
        conditions: previous.conditions.clone(),
        used_by_count: Some(assessment.used_by.len() as i32),
        used_by: assessment.used_by,
        resolved_tools: assessment.resolved,
        missing_tools: assessment.missing,
    };
    set_readiness(
        &mut status.conditions,
        &assessment.problems,
        format!("{} tools resolved", status.resolved_tools.len()),
        skill.metadata.generation,
    );
    announce_ready_transition(&ctx, &*skill, &previous.conditions, &status.conditions).await;
    apply_status(&ctx.client, &*skill, &status).await?;
    Ok(Action::await_change())
}
