//! What the controller does with a task that no run of this replica holds, phase by phase:
//! start it, continue it (resumed, decided, answered by its agents, handed back, or its runner
//! lost), keep it waiting, or end it without a run. Each path that runs the task goes through
//! admission ([`super::runner`]) and then a claim ([`super::launch`]).

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt};

use agentarea_crds::common::{condition, is_condition_true, now};
use agentarea_crds::task::TaskClaim;
use agentarea_crds::{Agent, Task, TaskPhase, TaskStatus, reasons, steps};

use super::ending::{finish_unclaimed, replace_if_unchanged};
use super::launch::launch;
use super::record::{self, Step, new_claim, tasks_namespace};
use super::run::outcome::Outcome;
use super::runner::Runner;
use crate::approval::plan::{all_decided, wait_timed_out};
use crate::context::Context;
use crate::error::Result;

/// Runners a task may lose before the next loss fails it instead of continuing it.
const MAX_RUNNERS_LOST: i32 = 3;

/// What a cancelled task that no run of this replica holds says it was cancelled in.
pub fn cancel_message(claim: Option<&TaskClaim>, phase: Option<TaskPhase>) -> String {
    match (claim, phase) {
        (Some(claim), _) => format!("cancelled; its runner {} had stopped", claim.holder),
        (None, Some(TaskPhase::Paused)) => "cancelled while paused".into(),
        (None, Some(TaskPhase::AwaitingApproval)) => "cancelled while awaiting approval".into(),
        (None, Some(TaskPhase::AwaitingAgents)) => {
            "cancelled while waiting for the agents it called".into()
        }
        (None, Some(TaskPhase::Running)) => "cancelled while between runners".into(),
        (None, _) => "cancelled before it started".into(),
    }
}

/// A task paused before it started: Paused at once, without a run.
pub async fn pause_unclaimed(ctx: &Context, task: &Task) -> Result<Action> {
    let mut status = task.status.clone().unwrap_or_default();
    status.phase = Some(TaskPhase::Paused);
    status.reason = None;
    status.message = Some("paused by request before it started".into());
    if replace_if_unchanged(ctx, task, status).await? {
        ctx.event(
            task,
            EventType::Normal,
            reasons::PAUSED,
            "paused before it started".into(),
        )
        .await;
    }
    Ok(Action::await_change())
}

/// A task that waits for the child tasks of agents it called: continued once they have all
/// finished. A child's end wakes it; the periodic look is for a wake-up that went to a replica
/// that stopped.
pub async fn awaiting_agents(
    runner: &Arc<Runner>,
    task: &Task,
    status: TaskStatus,
) -> Result<Action> {
    let api: Api<Task> = tasks_namespace(&runner.ctx, task);
    for child in &status.children {
        // A child that is gone cannot answer either: the run reports it.
        let running = api.get_opt(&child.name).await?.is_some_and(|c| {
            !c.status
                .and_then(|s| s.phase)
                .is_some_and(TaskPhase::is_finished)
        });
        if running {
            return Ok(Action::requeue(Duration::from_secs(60)));
        }
    }
    resume(runner, task, status, "the agents it called have answered").await
}

/// A task whose tool calls wait for people: continued once every call is decided or the wait
/// has timed out (the run then applies the Agent's time-out policy), else looked at again at the
/// deadline.
pub async fn awaiting_approval(
    runner: &Arc<Runner>,
    task: &Task,
    status: TaskStatus,
) -> Result<Action> {
    let now = Timestamp::now();
    if all_decided(&status.pending_approvals, &task.spec.approvals)
        || wait_timed_out(&status.pending_approvals, now)
    {
        return resume(runner, task, status, "tool calls decided").await;
    }
    let next_deadline = status
        .pending_approvals
        .iter()
        .filter_map(|p| p.deadline.as_ref())
        .map(|d| d.0)
        .min();
    Ok(match next_deadline {
        Some(deadline) => Action::requeue(
            Duration::try_from(deadline.duration_since(now)).unwrap_or_default()
                + Duration::from_secs(1),
        ),
        None => Action::await_change(),
    })
}

/// Starts a Pending task once its agent is Ready and this replica has room for it.
pub async fn start(runner: &Arc<Runner>, task: &Task, mut status: TaskStatus) -> Result<Action> {
    let ctx = &runner.ctx;
    let Some(agent) = agent_of(ctx, task).await? else {
        return finish_unclaimed(ctx, task, agent_not_found(task)).await;
    };
    let agent_status = agent.status.clone().unwrap_or_default();
    if !is_condition_true(Some(&agent_status.conditions), condition::READY) {
        return wait_for_agent(ctx, task, &agent, status).await;
    }
    let Some(permit) = runner.admit(task) else {
        // Full: another replica may take it; else this one, when a run ends.
        return Ok(runner.wait_for_permit(task));
    };
    let attempt = status.claim.as_ref().map_or(0, |c| c.attempt) + 1;
    begin_attempt(ctx, &mut status, attempt, None);
    launch(runner, task, status, agent, permit).await
}

/// Claims a task that stopped part-way (`why` says how it comes to continue) and continues its
/// kept conversation.
pub async fn resume(
    runner: &Arc<Runner>,
    task: &Task,
    mut status: TaskStatus,
    why: &str,
) -> Result<Action> {
    let ctx = &runner.ctx;
    let Some(permit) = runner.admit(task) else {
        return Ok(runner.wait_for_permit(task));
    };
    let Some(agent) = agent_of(ctx, task).await? else {
        return finish_unclaimed(ctx, task, agent_not_found(task)).await;
    };
    let attempt = status.claim.as_ref().map_or(0, |c| c.attempt) + 1;
    let note = Step::new(
        steps::WORKFLOW_RESUMED,
        format!("{why}; continued by {} (attempt {attempt})", ctx.holder),
    );
    begin_attempt(ctx, &mut status, attempt, Some(note));
    launch(runner, task, status, agent, permit).await
}

/// A Running task whose runner stopped renewing its claim: continued from its kept conversation
/// (the run itself refuses to go on past a tool call that may or may not have happened), unless
/// it has lost too many runners already.
pub async fn take_over(
    runner: &Arc<Runner>,
    task: &Task,
    mut status: TaskStatus,
) -> Result<Action> {
    let ctx = &runner.ctx;
    let lost = match &status.claim {
        Some(claim) => format!(
            "runner {} stopped renewing its claim at {}",
            claim.holder, claim.renew_time.0
        ),
        None => "its runner stopped".into(),
    };
    let runners_lost = status.runners_lost.unwrap_or(0) + 1;
    if runners_lost > MAX_RUNNERS_LOST {
        ctx.metrics.tasks.takeovers.inc();
        let why = format!("{lost}; the task has lost {runners_lost} runners");
        return finish_unclaimed(ctx, task, Outcome::failed(reasons::RUNNER_LOST, why)).await;
    }
    let Some(permit) = runner.admit(task) else {
        return Ok(runner.wait_for_permit(task));
    };
    let Some(agent) = agent_of(ctx, task).await? else {
        return finish_unclaimed(ctx, task, agent_not_found(task)).await;
    };
    let attempt = status.claim.as_ref().map_or(0, |c| c.attempt) + 1;
    let continues = if status.conversation.is_some() {
        "continuing its conversation"
    } else {
        "starting again"
    };
    let note = Step::new(
        steps::RUNNER_LOST,
        format!("{lost}; {continues} (attempt {attempt})"),
    );
    status.runners_lost = Some(runners_lost);
    begin_attempt(ctx, &mut status, attempt, Some(note));
    ctx.metrics.tasks.takeovers.inc();
    launch(runner, task, status, agent, permit).await
}

/// The Agent that runs `task`, if it exists.
async fn agent_of(ctx: &Context, task: &Task) -> Result<Option<Agent>> {
    Ok(tasks_namespace::<Agent>(ctx, task)
        .get_opt(&task.spec.agent)
        .await?)
}

fn agent_not_found(task: &Task) -> Outcome {
    Outcome::failed(
        reasons::AGENT_NOT_FOUND,
        format!("agent {} not found", task.spec.agent),
    )
}

/// Keeps a task Pending while its agent is not Ready (saying why), and fails it when the agent
/// has not become Ready within the agent's timeout.
async fn wait_for_agent(
    ctx: &Context,
    task: &Task,
    agent: &Agent,
    mut status: TaskStatus,
) -> Result<Action> {
    let ready = agent
        .status
        .iter()
        .flat_map(|s| &s.conditions)
        .find(|c| c.type_ == condition::READY);
    let message = format!(
        "agent {} is not ready: {}",
        agent.name_any(),
        ready.map_or("not resolved yet", |c| c.message.as_str())
    );
    let waited = task
        .metadata
        .creation_timestamp
        .as_ref()
        .map_or(SignedDuration::ZERO, |created| {
            Timestamp::now().duration_since(created.0)
        });
    let patience = SignedDuration::from_secs(agent.spec.limits.timeout_seconds);
    if waited > patience {
        return finish_unclaimed(
            ctx,
            task,
            Outcome::failed(reasons::AGENT_NOT_READY, message),
        )
        .await;
    }
    if status.reason.as_deref() != Some(reasons::AGENT_NOT_READY)
        || status.message.as_ref() != Some(&message)
    {
        status.phase = Some(TaskPhase::Pending);
        status.reason = Some(reasons::AGENT_NOT_READY.into());
        status.message = Some(message);
        replace_if_unchanged(ctx, task, status).await?;
    }
    Ok(Action::requeue(Duration::from_secs(5)))
}

/// Turns `status` into a fresh claim by this replica for attempt `attempt`.
fn begin_attempt(ctx: &Context, status: &mut TaskStatus, attempt: i32, note: Option<Step>) {
    status.phase = Some(TaskPhase::Running);
    status.reason = None;
    status.message = None;
    status.claim = Some(new_claim(
        &ctx.holder,
        ctx.config.task_lease_seconds,
        attempt,
    ));
    status.execution_id = Some(uuid::Uuid::new_v4().to_string());
    status.start_time.get_or_insert_with(now);
    match note {
        // A continued run records why it continues (`WorkflowResumed` or `RunnerLost`); one
        // with no kept conversation (it starts from the beginning) also says it started.
        Some(note) => {
            let fresh = status.conversation.is_none();
            record::push_step(status, &note);
            if fresh {
                record::push_step(status, &started_step(ctx, attempt));
            }
        }
        None => record::push_step(status, &started_step(ctx, attempt)),
    }
}

fn started_step(ctx: &Context, attempt: i32) -> Step {
    Step::new(
        steps::WORKFLOW_STARTED,
        format!("started by {} (attempt {attempt})", ctx.holder),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cancelled_task_says_what_it_was_cancelled_in() {
        let claim = new_claim("replica-a", 30, 1);
        for (claim, phase, want) in [
            (
                Some(&claim),
                Some(TaskPhase::Running),
                "cancelled; its runner replica-a had stopped",
            ),
            (None, Some(TaskPhase::Paused), "cancelled while paused"),
            (
                None,
                Some(TaskPhase::AwaitingApproval),
                "cancelled while awaiting approval",
            ),
            (
                None,
                Some(TaskPhase::AwaitingAgents),
                "cancelled while waiting for the agents it called",
            ),
            (
                None,
                Some(TaskPhase::Running),
                "cancelled while between runners",
            ),
            (
                None,
                Some(TaskPhase::Pending),
                "cancelled before it started",
            ),
            (None, None, "cancelled before it started"),
        ] {
            assert_eq!(cancel_message(claim, phase), want, "{phase:?}");
        }
    }
}
