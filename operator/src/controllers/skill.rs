//! Skill: says whether the tools it needs are offered, and which agents use it.

use std::sync::Arc;

use kube::api::ListParams;
use kube::runtime::controller::Action;
use kube::runtime::{Controller, watcher};
use kube::{Api, ResourceExt};

use agentarea_crds::common::{condition, is_condition_true, set_ready};
use agentarea_crds::{Agent, McpServerInstance, Skill, SkillStatus};

use crate::context::Context;
use crate::controllers::{
    announce_ready_transition, in_namespace_where, log_outcomes, readiness, retry_with_backoff,
};
use crate::error::{Error, Result};
use crate::status::apply_status;

pub async fn run(ctx: Arc<Context>, shutdown: impl Future<Output = ()> + Send + Sync + 'static) {
    let controller = Controller::new(
        ctx.api::<Skill>(),
        watcher::Config::default().any_semantic(),
    );
    let store = controller.store();
    let (by_instance, by_agent) = (store.clone(), store);
    let results = controller
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
        .graceful_shutdown_on(shutdown)
        .run(reconcile, retry_with_backoff, ctx);
    log_outcomes("skill", results).await;
}

async fn reconcile(skill: Arc<Skill>, ctx: Arc<Context>) -> Result<Action> {
    let namespace = skill.namespace().ok_or(Error::NoNamespace)?;
    let instances: Api<McpServerInstance> = Api::namespaced(ctx.client.clone(), &namespace);
    let mut resolved = Vec::new();
    let mut missing = Vec::new();
    let mut reasons = Vec::new();
    for needed in &skill.spec.tools {
        let instance = instances.get_opt(&needed.instance).await?;
        let status = instance
            .as_ref()
            .and_then(|i| i.status.clone())
            .unwrap_or_default();
        let ready = is_condition_true(Some(&status.conditions), condition::READY);
        for tool in &needed.tools {
            let pair = format!("{}/{}", needed.instance, tool);
            match &instance {
                None => reasons.push((
                    "InstanceNotFound",
                    format!("MCP server instance {} not found", needed.instance),
                )),
                Some(_) if !ready => reasons.push((
                    "InstanceNotReady",
                    format!("MCP server instance {} is not ready", needed.instance),
                )),
                Some(_) if !status.tools.iter().any(|t| &t.name == tool) => reasons.push((
                    "ToolNotFound",
                    format!("{} offers no tool {tool}", needed.instance),
                )),
                Some(_) => {
                    resolved.push(pair);
                    continue;
                }
            }
            missing.push(pair);
        }
    }
    reasons.dedup();
    let used_by: Vec<String> = Api::<Agent>::namespaced(ctx.client.clone(), &namespace)
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|a| a.spec.skills.iter().any(|s| s.name == skill.name_any()))
        .map(|a| a.name_any())
        .collect();
    let previous = skill.status.clone().unwrap_or_default();
    let mut status = SkillStatus {
        observed_generation: skill.metadata.generation,
        conditions: previous.conditions.clone(),
        used_by_count: Some(used_by.len() as i32),
        used_by,
        resolved_tools: resolved,
        missing_tools: missing,
    };
    let (ready, reason, message) = readiness(
        &reasons,
        format!("{} tools resolved", status.resolved_tools.len()),
    );
    set_ready(
        &mut status.conditions,
        ready,
        reason,
        message,
        skill.metadata.generation,
    );
    announce_ready_transition(&ctx, &*skill, &previous.conditions, &status.conditions).await;
    apply_status(&ctx.client, &*skill, &status).await?;
    Ok(Action::await_change())
}
