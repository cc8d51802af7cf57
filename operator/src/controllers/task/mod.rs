//! Task: claims Pending tasks and runs them, takes over tasks whose runner died, cancels on
//! request, and deletes finished tasks after their TTL.
//!
//! Every replica of the operator runs this controller; there is no leader for tasks. A replica
//! runs a task only after its claim (a status write with the resourceVersion precondition, see
//! [`record`]) succeeded, so each run has exactly one runner. The runner renews its claim every
//! third of the lease; a claim left unrenewed past its lease (the process died) is taken over by
//! whichever replica sees it first. The task is then started again if its lost run had called no
//! tool yet (nothing could have happened twice), and otherwise failed with `RunnerLost`, since a
//! second run could repeat the first one's side effects.

pub mod agent_loop;
pub mod ending;
pub mod model_call;
pub mod record;
pub mod toolbox;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::channel::mpsc;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Controller, watcher};
use kube::{Api, ResourceExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tracing::Instrument;

use agentarea_crds::common::{condition, is_condition_true, now, trace_context};
use agentarea_crds::{Agent, Task, TaskPhase, TaskStatus, reasons, steps};

use self::agent_loop::Outcome;
use self::ending::{expire, finish, finish_unclaimed, hand_back, replace_if_unchanged};
use self::record::{RecordError, Step, TaskRecord, claim_expired, new_claim, until_expiry};
use crate::context::Context;
use crate::controllers::{HasContext, in_namespace_where, run_observed};
use crate::error::Result;

/// Claims a task may have before a lost run fails it instead of starting it again.
const MAX_ATTEMPTS: i32 = 3;

/// Why a run is asked to stop before it ends by itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    /// `spec.cancel` was set.
    Cancelled,
    /// The heartbeat found the claim taken or the task deleted.
    Lost,
    /// The operator is shutting down.
    Shutdown,
}

/// The runs of this replica.
struct Runner {
    ctx: Arc<Context>,
    /// Running tasks by uid, with the switch that stops each.
    runs: Mutex<HashMap<String, Arc<watch::Sender<Option<Stop>>>>>,
    /// One permit per task this replica may run at once.
    permits: Arc<Semaphore>,
    /// Tasks that found no free permit, oldest first; a run that ends wakes as many as it frees.
    waiting: Mutex<VecDeque<ObjectRef<Task>>>,
    wake: mpsc::UnboundedSender<ObjectRef<Task>>,
}

/// A waiting task is also looked at again after this long, in case its wake-up went to a task
/// that another replica had taken meanwhile.
const WAITING_RECHECK: Duration = Duration::from_secs(30);

impl Runner {
    /// Notes that `task` waits for a permit.
    fn wait_for_permit(&self, task: &Task) -> Action {
        let reference = ObjectRef::from_obj(task);
        let mut waiting = self.waiting.lock().unwrap();
        if !waiting.contains(&reference) {
            waiting.push_back(reference);
        }
        Action::requeue(WAITING_RECHECK)
    }

    /// Wakes the oldest waiting tasks, one per free permit.
    fn wake_waiting(&self) {
        let free = self.permits.available_permits().max(1);
        let mut waiting = self.waiting.lock().unwrap();
        let count = free.min(waiting.len());
        for reference in waiting.drain(..count) {
            let _ = self.wake.unbounded_send(reference);
        }
    }

    fn stop(&self, uid: &str, why: Stop) {
        if let Some(stop) = self.runs.lock().unwrap().get(uid) {
            stop.send_replace(Some(why));
        }
    }
}

pub async fn run(ctx: Arc<Context>, shutdown: impl Future<Output = ()> + Send + Sync + 'static) {
    let (wake, woken) = mpsc::unbounded();
    let runner = Arc::new(Runner {
        permits: Arc::new(Semaphore::new(ctx.config.task_concurrency as usize)),
        runs: Mutex::new(HashMap::new()),
        waiting: Mutex::new(VecDeque::new()),
        wake,
        ctx: ctx.clone(),
    });
    let controller = Controller::new(ctx.api::<Task>(), watcher::Config::default().any_semantic());
    let store = controller.store();
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
    stop_all_runs(&runner).await;
}

/// Stops every run of this replica and waits for each to hand its claim back.
async fn stop_all_runs(runner: &Runner) {
    let uids: Vec<String> = runner.runs.lock().unwrap().keys().cloned().collect();
    for uid in &uids {
        runner.stop(uid, Stop::Shutdown);
    }
    // Each run holds a permit until it has written its last status.
    let all = runner.ctx.config.task_concurrency;
    let _ = runner.permits.acquire_many(all).await;
}

fn phase(task: &Task) -> Option<TaskPhase> {
    task.status.as_ref().and_then(|s| s.phase)
}

impl HasContext for Runner {
    fn context(&self) -> &Context {
        &self.ctx
    }
}

async fn reconcile(task: Arc<Task>, runner: Arc<Runner>) -> Result<Action> {
    let ctx = &runner.ctx;
    let status = task.status.clone().unwrap_or_default();
    if status.phase.is_some_and(TaskPhase::is_finished) {
        return expire(ctx, &task, &status).await;
    }
    let uid = task.uid().unwrap_or_default();
    let lease = Duration::from_secs(ctx.config.task_lease_seconds);
    if runner.runs.lock().unwrap().contains_key(&uid) {
        if task.spec.cancel {
            runner.stop(&uid, Stop::Cancelled);
        }
        return Ok(Action::requeue(lease));
    }
    if task.spec.cancel {
        let message = match &status.claim {
            Some(claim) => format!("cancelled; its runner {} had stopped", claim.holder),
            None => "cancelled before it started".into(),
        };
        return finish_unclaimed(ctx, &task, Outcome::cancelled(message)).await;
    }
    match status.phase {
        None | Some(TaskPhase::Pending) => start(&runner, &task, status).await,
        _ => match &status.claim {
            Some(claim) if !claim_expired(Some(claim), Timestamp::now()) => Ok(Action::requeue(
                until_expiry(claim, Timestamp::now()) + Duration::from_secs(1),
            )),
            _ => take_over(&runner, &task, status).await,
        },
    }
}

/// Starts a Pending task once its agent is Ready and this replica has room for it.
async fn start(runner: &Arc<Runner>, task: &Task, mut status: TaskStatus) -> Result<Action> {
    let ctx = &runner.ctx;
    let Some(agent) = agent_of(ctx, task).await? else {
        return finish_unclaimed(ctx, task, agent_not_found(task)).await;
    };
    let agent_status = agent.status.clone().unwrap_or_default();
    if !is_condition_true(Some(&agent_status.conditions), condition::READY) {
        return wait_for_agent(ctx, task, &agent, status).await;
    }
    let Ok(permit) = runner.permits.clone().try_acquire_owned() else {
        // Full: another replica may take it; else this one, when a run ends.
        return Ok(runner.wait_for_permit(task));
    };
    let attempt = status.claim.as_ref().map_or(0, |c| c.attempt) + 1;
    begin_attempt(ctx, &mut status, attempt, None);
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

/// An `Api` of kind `K` in `task`'s namespace.
fn tasks_namespace<K>(ctx: &Context, task: &Task) -> Api<K>
where
    K: kube::Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>,
{
    Api::namespaced(ctx.client.clone(), &task.namespace().unwrap_or_default())
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

/// A Running task with no live claim: start it again if its lost run called no tool, else fail.
async fn take_over(runner: &Arc<Runner>, task: &Task, mut status: TaskStatus) -> Result<Action> {
    let ctx = &runner.ctx;
    let previous = status.claim.clone();
    let attempt = previous.as_ref().map_or(0, |c| c.attempt);
    let lost = match &previous {
        Some(claim) => format!(
            "runner {} stopped renewing its claim at {}",
            claim.holder, claim.renew_time.0
        ),
        None => "its runner handed the task back".into(),
    };
    if tools_called_in_last_run(&status) || attempt >= MAX_ATTEMPTS {
        let why = if attempt >= MAX_ATTEMPTS {
            format!("{lost}; the task has been started {attempt} times")
        } else {
            format!(
                "{lost} after tools had been called; running it again could repeat their effects"
            )
        };
        ctx.metrics.tasks.takeovers.inc();
        return finish_unclaimed(ctx, task, Outcome::failed(reasons::RUNNER_LOST, why)).await;
    }
    let Ok(permit) = runner.permits.clone().try_acquire_owned() else {
        return Ok(runner.wait_for_permit(task));
    };
    let Some(agent) = agent_of(ctx, task).await? else {
        return finish_unclaimed(ctx, task, agent_not_found(task)).await;
    };
    let restart = Step::new(
        steps::RUNNER_LOST,
        format!("{lost}; starting again (attempt {})", attempt + 1),
    );
    begin_attempt(ctx, &mut status, attempt + 1, Some(restart));
    ctx.metrics.tasks.takeovers.inc();
    launch(runner, task, status, agent, permit).await
}

/// Whether the run since the last `WorkflowStarted` step called a tool. Without that step (it was
/// dropped), assume it did.
fn tools_called_in_last_run(status: &TaskStatus) -> bool {
    let run = &status.steps;
    match run.iter().rposition(|s| s.type_ == steps::WORKFLOW_STARTED) {
        Some(start) => run[start..]
            .iter()
            .any(|s| s.type_ == steps::TOOL_CALL_STARTED),
        None => !run.is_empty(),
    }
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
    if let Some(note) = note {
        record::push_step(status, &note);
    }
    record::push_step(
        status,
        &Step::new(
            steps::WORKFLOW_STARTED,
            format!("started by {} (attempt {attempt})", ctx.holder),
        ),
    );
}

/// Claims the task with `status` and, if the claim holds, runs it in the background.
async fn launch(
    runner: &Arc<Runner>,
    task: &Task,
    status: TaskStatus,
    agent: Agent,
    permit: OwnedSemaphorePermit,
) -> Result<Action> {
    let ctx = &runner.ctx;
    let Some(record) = TaskRecord::claim(tasks_namespace(ctx, task), task, status).await? else {
        // Another replica claimed it first, or the task changed: the watch brings the new version.
        return Ok(Action::await_change());
    };
    let uid = task.uid().unwrap_or_default();
    let (stop_tx, stop_rx) = watch::channel(None);
    let stop_tx = Arc::new(stop_tx);
    runner
        .runs
        .lock()
        .unwrap()
        .insert(uid.clone(), stop_tx.clone());
    ctx.event(
        task,
        EventType::Normal,
        reasons::STARTED,
        format!("claimed by {}", ctx.holder),
    )
    .await;
    let lease = Duration::from_secs(ctx.config.task_lease_seconds);
    let runner = runner.clone();
    let metrics = &ctx.metrics.tasks;
    metrics.started.inc();
    metrics.running.inc();
    let span = run_span(task, &agent);
    tokio::spawn(async move {
        drive(&runner.ctx, record, agent, stop_tx, stop_rx)
            .instrument(span)
            .await;
        runner.ctx.metrics.tasks.running.dec();
        runner.runs.lock().unwrap().remove(&uid);
        drop(permit);
        runner.wake_waiting();
    });
    Ok(Action::requeue(lease))
}

/// The root span of a run (`invoke_agent {agent}`, after the OpenTelemetry GenAI conventions),
/// a child of the request that created the Task when the api stored its trace context. Found in a
/// tracing backend by `agentarea.task.id` (the Task's uid, which the REST API calls its id).
fn run_span(task: &Task, agent: &Agent) -> tracing::Span {
    let span = tracing::info_span!(
        target: agentarea_support::telemetry::SPANS,
        "invoke_agent",
        otel.name = format!("invoke_agent {}", agent.name_any()),
        otel.kind = "internal",
        otel.status_code = tracing::field::Empty,
        gen_ai.operation.name = "invoke_agent",
        gen_ai.agent.name = %agent.name_any(),
        gen_ai.agent.id = agent.uid().unwrap_or_default(),
        agentarea.task.id = task.uid().unwrap_or_default(),
        agentarea.task.name = %task.name_any(),
        agentarea.task.phase = tracing::field::Empty,
        agentarea.task.reason = tracing::field::Empty,
        k8s.namespace.name = task.namespace().unwrap_or_default(),
    );
    let context = trace_context(&task.metadata.annotations.clone().unwrap_or_default());
    agentarea_support::telemetry::extract(&span, &context);
    span
}

/// Runs the agent loop under the agent's timeout, renewing the claim meanwhile, and writes how
/// it ended.
async fn drive(
    ctx: &Arc<Context>,
    record: TaskRecord,
    agent: Agent,
    stop_tx: Arc<watch::Sender<Option<Stop>>>,
    mut stop_rx: watch::Receiver<Option<Stop>>,
) {
    let task = record.task().clone();
    let record = Arc::new(tokio::sync::Mutex::new(record));
    let heartbeat = tokio::spawn(heartbeat(
        record.clone(),
        Duration::from_secs(ctx.config.task_lease_seconds) / 3,
        stop_tx,
    ));
    let timeout = Duration::from_secs(agent.spec.limits.timeout_seconds.max(1) as u64);
    let outcome = tokio::select! {
        stop = stop_rx.wait_for(Option::is_some) => match stop.map(|s| s.unwrap()) {
            Ok(Stop::Cancelled) => Ok(Outcome::cancelled("cancelled by request")),
            Ok(Stop::Shutdown) | Err(_) => Err(Stop::Shutdown),
            Ok(Stop::Lost) => Err(Stop::Lost),
        },
        result = tokio::time::timeout(timeout, agent_loop::execute(ctx.clone(), record.clone(), agent)) => match result {
            Err(_) => Ok(Outcome::failed(reasons::TIMEOUT, format!("the task ran longer than {}s (spec.limits.timeoutSeconds)", timeout.as_secs()))),
            Ok(Ok(outcome)) => Ok(outcome),
            Ok(Err(error)) => {
                tracing::warn!(task = %task.name_any(), %error, "run abandoned");
                Err(Stop::Lost)
            }
        },
    };
    heartbeat.abort();
    if let Ok(outcome) = &outcome {
        let span = tracing::Span::current();
        span.record("agentarea.task.phase", outcome.phase.as_str());
        span.record("agentarea.task.reason", outcome.reason);
        if outcome.phase == TaskPhase::Failed {
            span.record("otel.status_code", "ERROR");
        }
    }
    let mut record = record.lock().await;
    let written = match outcome {
        Ok(outcome) => finish(ctx, &mut record, &outcome).await,
        Err(Stop::Shutdown) => hand_back(ctx, &mut record).await,
        Err(_) => Ok(()),
    };
    if let Err(error) = written {
        tracing::warn!(task = %task.name_any(), %error, "could not record the end of the run");
    }
}

/// Renews the claim every `period`; if the claim is lost or the task is gone, stops the run.
async fn heartbeat(
    record: Arc<tokio::sync::Mutex<TaskRecord>>,
    period: Duration,
    stop: Arc<watch::Sender<Option<Stop>>>,
) {
    loop {
        tokio::time::sleep(period).await;
        match record.lock().await.renew().await {
            Ok(()) => {}
            Err(RecordError::Kube(error)) => tracing::warn!(%error, "could not renew a task claim"),
            Err(_) => {
                stop.send_replace(Some(Stop::Lost));
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_steps(types: &[&'static str]) -> TaskStatus {
        let mut status = TaskStatus::default();
        for type_ in types {
            record::push_step(&mut status, &Step::new(type_, ""));
        }
        status
    }

    #[test]
    fn a_lost_run_is_started_again_only_if_it_called_no_tool() {
        assert!(!tools_called_in_last_run(&with_steps(&[
            steps::WORKFLOW_STARTED,
            steps::LLM_CALL_STARTED
        ])));
        assert!(tools_called_in_last_run(&with_steps(&[
            steps::WORKFLOW_STARTED,
            steps::LLM_CALL_STARTED,
            steps::TOOL_CALL_STARTED
        ])));
        // Tools of an earlier run, before a restart, do not count against the last run.
        assert!(!tools_called_in_last_run(&with_steps(&[
            steps::WORKFLOW_STARTED,
            steps::TOOL_CALL_STARTED,
            steps::RUNNER_LOST,
            steps::WORKFLOW_STARTED
        ])));
    }
}
