//! Skill: says whether the tools it needs are offered, and which agents use it.
//!
//! The reconcile gathers the instances the skill names and hands them to
//! [`assess`](assess::assess), which decides; the agents that name it come from
//! [`users`](users::AgentSkills), an index kept from a watch of Agents.

pub mod assess;
pub mod users;

use std::sync::Arc;

use kube::runtime::controller::Action;
use kube::runtime::watcher::{Config, watcher};
use kube::{Api, ResourceExt};

use agentarea_crds::{Agent, McpServerInstance, Skill, SkillStatus};

use self::assess::assess;
use self::users::AgentSkills;
use crate::context::Context;
use crate::controllers::mcp_server_instance::offer;
use crate::controllers::{
    FirstSight, HasContext, announce_ready_transition, get_named, in_namespace_where,
    keyed_changes, run_observed, set_readiness, spec_driven,
};
use crate::error::{Error, Result};
use crate::status::apply_status;

pub async fn run(ctx: Arc<Context>, shutdown: impl Future<Output = ()> + Send + Sync + 'static) {
    let controller = spec_driven(ctx.api::<Skill>());
    let by_instance = controller.store();
    let agent_skills = AgentSkills::default();
    let agents = watcher(ctx.api::<Agent>(), Config::default().any_semantic());
    let controller = controller
        .watches_stream(
            keyed_changes(ctx.api::<McpServerInstance>(), offer, FirstSight::Wake),
            move |instance| {
                in_namespace_where(&by_instance, &instance.namespace(), |s| {
                    s.spec
                        .tools
                        .iter()
                        .any(|t| t.instance == instance.name_any())
                })
            },
        )
        .reconcile_on(agent_skills.follow(agents))
        .graceful_shutdown_on(shutdown);
    let state = Arc::new(SkillState { ctx, agent_skills });
    run_observed("skill", controller, reconcile, state).await;
}

/// What the Skill reconcile is handed: the operator's context and who names which skill.
struct SkillState {
    ctx: Arc<Context>,
    agent_skills: AgentSkills,
}

impl HasContext for SkillState {
    fn context(&self) -> &Context {
        &self.ctx
    }
}

async fn reconcile(skill: Arc<Skill>, state: Arc<SkillState>) -> Result<Action> {
    let ctx = &state.ctx;
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
    let assessment = assess(&skill, &instances);
    let used_by = state
        .agent_skills
        .users_of(&namespace, &skill.name_any())
        .await?;
    let previous = skill.status.clone().unwrap_or_default();
    let mut status = SkillStatus {
        observed_generation: skill.metadata.generation,
        conditions: previous.conditions.clone(),
        used_by_count: Some(used_by.len() as i32),
        used_by,
        resolved_tools: assessment.resolved,
        missing_tools: assessment.missing,
    };
    set_readiness(
        &mut status.conditions,
        &assessment.problems,
        format!("{} tools resolved", status.resolved_tools.len()),
        skill.metadata.generation,
    );
    announce_ready_transition(ctx, &*skill, &previous.conditions, &status.conditions).await;
    apply_status(&ctx.client, &*skill, &status).await?;
    Ok(Action::await_change())
}
