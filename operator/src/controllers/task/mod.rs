//! Task: claims Pending tasks and runs them, continues tasks that were paused, waited for
//! approval or lost their runner, cancels on request, and deletes finished tasks after their TTL.
//!
//! Every replica of the operator runs this controller; there is no leader for tasks. A replica
//! runs a task only after its claim (a status write with the resourceVersion precondition, see
//! [`record`]) succeeded, so each run has exactly one runner. The runner renews its claim every
//! third of the lease; a claim left unrenewed past its lease (the process died) is taken over by
//! whichever replica sees it first.
//!
//! A run keeps its whole conversation ([`conversation`]) whenever its tool calls have answered
//! and whenever it stops part-way, so any replica can continue it: after a pause, after a person
//! decided on tool calls that waited for approval, after a replica shut down (it finishes the
//! calls in flight, keeps them and hands the task back), and after a runner was lost. Only a tool
//! call that was in flight when its runner died, and whose tool is not declared safe to repeat,
//! fails the task (`RunnerLost`): it may or may not have happened, and a side effect is never
//! repeated silently.
//!
//! | module | what it owns |
//! | --- | --- |
//! | this file | the controller's watches and the dispatch of a reconcile by phase |
//! | [`phases`] | what each phase does when no run of this replica holds the task |
//! | [`runner`] | admission: this replica's permits, each workspace's share, the waiting queue, stop switches |
//! | [`launch`] | a run's life: claim, heartbeat, time limit, the write of how it ended |
//! | [`run`] | the agent loop of one run: model calls, tool calls, approvals, agents as tools |
//! | [`ending`] | how a task ends, stops part-way, is handed back, or expires |
//! | [`record`] | the claimed task's status as its runner writes it: steps, claims, conditional writes |
//! | [`children`] | child tasks of agents called as tools |
//! | [`conversation`] | the kept conversation, in Secrets |
//!
//! Imports point one way: this file -> phases -> launch -> run -> (model call, toolbox,
//! [`crate::approval`]) -> outcome and record.

pub mod children;
pub mod conversation;
pub mod ending;
pub mod launch;
pub mod phases;
pub mod record;
pub mod run;
pub mod runner;

use std::sync::Arc;
use std::time::Duration;

use futures::channel::mpsc;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{Controller, WatchStreamExt, watcher};

use agentarea_crds::{Agent, Task, TaskPhase};

use self::ending::{expire, finish_unclaimed};
use self::phases::{
    awaiting_agents, awaiting_approval, cancel_message, pause_unclaimed, resume, start, take_over,
};
use self::record::{claim_expired, until_expiry};
use self::run::outcome::{Outcome, Stop};
use self::runner::Runner;
use crate::context::Context;
use crate::controllers::{in_namespace_where, run_observed, stored_watch};
use crate::error::Result;

pub async fn run(ctx: Arc<Context>, shutdown: impl Future<Output = ()> + Send + Sync + 'static) {
    let (wake, woken) = mpsc::unbounded();
    let runner = Arc::new(Runner::new(ctx.clone(), wake));
    // Every change, not only the spec's: a run reacts to claims other replicas write.
    let (store, writer) = reflector::store();
    let changes = reflector::reflector(writer, stored_watch(ctx.api::<Task>()))
        .default_backoff()
        .applied_objects();
    let controller = Controller::for_stream(changes, store.clone());
    // A task waiting for its agent to become Ready starts when it does.
    let controller = controller
        .watches(
            ctx.api::<Agent>(),
            watcher::Config::default(),
            move |agent| {
                in_namespace_where(&store, &agent.namespace(), |task| {
                    task.spec.agent == agent.name_any()
                        && phase(task).is_none_or(|p| p == TaskPhase::Pending)
                })
            },
        )
        .reconcile_on(woken)
        .graceful_shutdown_on(shutdown);
    run_observed("task", controller, reconcile, runner.clone()).await;
    runner.stop_all().await;
}

fn phase(task: &Task) -> Option<TaskPhase> {
    task.status.as_ref().and_then(|s| s.phase)
}

async fn reconcile(task: Arc<Task>, runner: Arc<Runner>) -> Result<Action> {
    let ctx = &runner.ctx;
    let status = task.status.clone().unwrap_or_default();
    if status.phase.is_some_and(TaskPhase::is_finished) {
        // A parent waiting for this child looks again.
        if let Some(parent) = &task.spec.parent {
            runner.wake(ObjectRef::new(&parent.name).within(&task.namespace().unwrap_or_default()));
        }
        return expire(ctx, &task, &status).await;
    }
    let uid = task.uid().unwrap_or_default();
    let lease = Duration::from_secs(ctx.config.task_lease_seconds);
    if runner.is_running(&uid) {
        if task.spec.cancel {
            runner.stop(&uid, Stop::Cancelled);
        } else if task.spec.paused {
            runner.stop(&uid, Stop::Pause);
        }
        return Ok(Action::requeue(lease));
    }
    if task.spec.cancel {
        let message = cancel_message(status.claim.as_ref(), status.phase);
        return finish_unclaimed(ctx, &task, Outcome::cancelled(message)).await;
    }
    match status.phase {
        None | Some(TaskPhase::Pending) if task.spec.paused => pause_unclaimed(ctx, &task).await,
        None | Some(TaskPhase::Pending) => start(&runner, &task, status).await,
        Some(TaskPhase::Paused) if task.spec.paused => Ok(Action::await_change()),
        Some(TaskPhase::Paused) => resume(&runner, &task, status, "resumed by request").await,
        Some(TaskPhase::AwaitingApproval) => awaiting_approval(&runner, &task, status).await,
        Some(TaskPhase::AwaitingAgents) => awaiting_agents(&runner, &task, status).await,
        _ => match &status.claim {
            Some(claim) if !claim_expired(Some(claim), Timestamp::now()) => Ok(Action::requeue(
                until_expiry(claim, Timestamp::now()) + Duration::from_secs(1),
            )),
            Some(_) => take_over(&runner, &task, status).await,
            None => resume(&runner, &task, status, "handed back by its runner").await,
        },
    }
}
