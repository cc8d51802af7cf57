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

pub mod agent_loop;
pub mod approval;
pub mod children;
pub mod conversation;
pub mod decide;
pub mod ending;
pub mod model_call;
pub mod record;
pub mod toolbox;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::channel::mpsc;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{Controller, WatchStreamExt, watcher};
use kube::{Api, ResourceExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tracing::Instrument;

use agentarea_crds::common::{condition, is_condition_true, now, trace_context};
use agentarea_crds::{Agent, Task, TaskPhase, TaskStatus, reasons, steps};

use self::agent_loop::{Outcome, RunEnd};
use self::decide::{all_decided, wait_timed_out};
use self::ending::{expire, finish, finish_unclaimed, hand_back, replace_if_unchanged, suspend};
use self::record::{RecordError, Step, TaskRecord, claim_expired, new_claim, until_expiry};
use crate::context::Context;
use crate::controllers::{HasContext, in_namespace_where, run_observed, stored_watch};
use crate::error::Result;

/// Runners a task may lose before the next loss fails it instead of continuing it.
const MAX_RUNNERS_LOST: i32 = 3;

/// Why a run is asked to stop before it ends by itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// `spec.cancel` was set: the run stops at once.
    Cancelled,
    /// The heartbeat found the claim taken or the task deleted: the run stops at once.
    Lost,
    /// `spec.paused` was set: the run stops at its next boundary.
    Pause,
    /// The operator is shutting down: the run stops at its next boundary, or is abandoned when
    /// the drain time runs out.
    Shutdown,
}

impl Stop {
    /// Whether asking for `self` replaces the request `current`: a stop at once overrides one at
    /// the next boundary, and a shutdown overrides a pause (the pause is still in the spec, so
    /// the next replica pauses the task).
    fn overrides(self, current: Option<Stop>) -> bool {
        match current {
            None => true,
            Some(Stop::Pause) => self != Stop::Pause,
            Some(Stop::Shutdown) => matches!(self, Stop::Cancelled | Stop::Lost),
            Some(Stop::Cancelled | Stop::Lost) => false,
        }
    }
}

/// The runs of this replica.
struct Runner {
    ctx: Arc<Context>,
    /// Running tasks by uid, with the switch that stops each.
    runs: Mutex<HashMap<String, Arc<watch::Sender<Option<Stop>>>>>,
    /// One permit per task this replica may run at once.
    permits: Arc<Semaphore>,
    /// Runs per workspace, against the share one workspace may take.
    workspaces: Arc<WorkspaceRuns>,
    /// Tasks that found no free permit, oldest first; a run that ends wakes as many as it frees.
    waiting: Mutex<VecDeque<ObjectRef<Task>>>,
    wake: mpsc::UnboundedSender<ObjectRef<Task>>,
}

/// What a run holds while it runs: a place among this replica's runs and among its workspace's.
struct RunPermit {
    _replica: OwnedSemaphorePermit,
    _workspace: WorkspaceRun,
}

/// Runs of this replica per workspace (namespace), each workspace at most `max` (0: no cap of
/// its own).
struct WorkspaceRuns {
    max: usize,
    running: Mutex<HashMap<String, usize>>,
}

impl WorkspaceRuns {
    fn new(max: usize) -> Self {
        Self {
            max,
            running: Mutex::default(),
        }
    }

    fn is_full(&self, namespace: &str) -> bool {
        self.max > 0
            && self
                .running
                .lock()
                .unwrap()
                .get(namespace)
                .copied()
                .unwrap_or(0)
                >= self.max
    }

    fn take(self: &Arc<Self>, namespace: &str) -> Option<WorkspaceRun> {
        let mut running = self.running.lock().unwrap();
        let count = running.entry(namespace.to_string()).or_default();
        if self.max > 0 && *count >= self.max {
            return None;
        }
        *count += 1;
        Some(WorkspaceRun {
            runs: self.clone(),
            namespace: namespace.to_string(),
        })
    }
}

/// One run of a workspace; dropping it gives the place back.
struct WorkspaceRun {
    runs: Arc<WorkspaceRuns>,
    namespace: String,
}

impl Drop for WorkspaceRun {
    fn drop(&mut self) {
        let mut running = self.runs.running.lock().unwrap();
        if let Some(count) = running.get_mut(&self.namespace) {
            *count -= 1;
            if *count == 0 {
                running.remove(&self.namespace);
            }
        }
    }
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

    /// A permit to run `task` now: one of this replica's, and one of its workspace's share.
    fn admit(&self, task: &Task) -> Option<RunPermit> {
        let namespace = task.namespace().unwrap_or_default();
        let workspace = self.workspaces.take(&namespace)?;
        let replica = self.permits.clone().try_acquire_owned().ok()?;
        Some(RunPermit {
            _replica: replica,
            _workspace: workspace,
        })
    }

    /// Wakes the oldest waiting tasks, one per free permit, passing over those whose workspace
    /// has no room (they wait for a run of their own workspace to end).
    fn wake_waiting(&self) {
        let free = self.permits.available_permits().max(1);
        let mut waiting = self.waiting.lock().unwrap();
        let mut woken = 0;
        waiting.retain(|reference| {
            let namespace = reference.namespace.as_deref().unwrap_or_default();
            if woken >= free || self.workspaces.is_full(namespace) {
                return true;
            }
            woken += 1;
            let _ = self.wake.unbounded_send(reference.clone());
            false
        });
    }

    /// Asks the run of `uid` to stop; a request to stop at once overrides one to stop later.
    fn stop(&self, uid: &str, why: Stop) {
        if let Some(stop) = self.runs.lock().unwrap().get(uid) {
            stop.send_if_modified(|current| {
                let stronger = why.overrides(*current);
                if stronger {
                    *current = Some(why);
                }
                stronger
            });
        }
    }
}

pub async fn run(ctx: Arc<Context>, shutdown: impl Future<Output = ()> + Send + Sync + 'static) {
    let (wake, woken) = mpsc::unbounded();
    let runner = Arc::new(Runner {
        permits: Arc::new(Semaphore::new(ctx.config.task_concurrency as usize)),
        workspaces: Arc::new(WorkspaceRuns::new(
            ctx.config.workspace_task_concurrency as usize,
        )),
        runs: Mutex::new(HashMap::new()),
        waiting: Mutex::new(VecDeque::new()),
        wake,
        ctx: ctx.clone(),
    });
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
        // A parent waiting for this child looks again.
        if let Some(parent) = &task.spec.parent {
            let reference =
                ObjectRef::new(&parent.name).within(&task.namespace().unwrap_or_default());
            let _ = runner.wake.unbounded_send(reference);
        }
        return expire(ctx, &task, &status).await;
    }
    let uid = task.uid().unwrap_or_default();
    let lease = Duration::from_secs(ctx.config.task_lease_seconds);
    if runner.runs.lock().unwrap().contains_key(&uid) {
        if task.spec.cancel {
            runner.stop(&uid, Stop::Cancelled);
        } else if task.spec.paused {
            runner.stop(&uid, Stop::Pause);
        }
        return Ok(Action::requeue(lease));
    }
    if task.spec.cancel {
        let message = match (&status.claim, status.phase) {
            (Some(claim), _) => format!("cancelled; its runner {} had stopped", claim.holder),
            (None, Some(TaskPhase::Paused)) => "cancelled while paused".into(),
            (None, Some(TaskPhase::AwaitingApproval)) => "cancelled while awaiting approval".into(),
            (None, Some(TaskPhase::AwaitingAgents)) => {
                "cancelled while waiting for the agents it called".into()
            }
            (None, Some(TaskPhase::Running)) => "cancelled while between runners".into(),
            (None, _) => "cancelled before it started".into(),
        };
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

/// A task paused before it started: Paused at once, without a run.
async fn pause_unclaimed(ctx: &Context, task: &Task) -> Result<Action> {
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
async fn awaiting_agents(runner: &Arc<Runner>, task: &Task, status: TaskStatus) -> Result<Action> {
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
async fn awaiting_approval(
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
async fn start(runner: &Arc<Runner>, task: &Task, mut status: TaskStatus) -> Result<Action> {
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
async fn resume(
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

/// A Running task whose runner stopped renewing its claim: continued from its kept conversation
/// (the run itself refuses to go on past a tool call that may or may not have happened), unless
/// it has lost too many runners already.
async fn take_over(runner: &Arc<Runner>, task: &Task, mut status: TaskStatus) -> Result<Action> {
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

/// Claims the task with `status` and, if the claim holds, runs it in the background.
async fn launch(
    runner: &Arc<Runner>,
    task: &Task,
    status: TaskStatus,
    agent: Agent,
    permit: RunPermit,
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

/// Runs the agent loop under what is left of the agent's timeout, renewing the claim meanwhile,
/// and writes how it ended or where it stopped.
async fn drive(
    ctx: &Arc<Context>,
    record: TaskRecord,
    agent: Agent,
    stop_tx: Arc<watch::Sender<Option<Stop>>>,
    mut stop_rx: watch::Receiver<Option<Stop>>,
) {
    let task = record.task().clone();
    let spent = record.status().active_seconds.unwrap_or(0).max(0) as u64;
    let record = Arc::new(tokio::sync::Mutex::new(record));
    let heartbeat = tokio::spawn(heartbeat(
        record.clone(),
        Duration::from_secs(ctx.config.task_lease_seconds) / 3,
        stop_tx,
    ));
    let limits = children::effective_limits(&agent.spec.limits, task.spec.limits.as_ref());
    let limit = limits.timeout_seconds.max(1) as u64;
    let timeout = Duration::from_secs(limit.saturating_sub(spent));
    let segment = Instant::now();
    let drain = Duration::from_secs(ctx.config.task_drain_seconds);
    let mut drained = stop_rx.clone();
    let loop_ = agent_loop::execute(ctx.clone(), record.clone(), agent, stop_rx.clone());
    let ended = tokio::select! {
        stop = stop_rx.wait_for(|s| matches!(s, Some(Stop::Cancelled | Stop::Lost))) => match stop.map(|s| s.unwrap()) {
            Ok(Stop::Cancelled) => Ok(RunEnd::Finished(Outcome::cancelled("cancelled by request"))),
            _ => Err(Stop::Lost),
        },
        // On shutdown the loop stops at its next boundary by itself; this bounds the wait.
        _ = async {
            let _ = drained.wait_for(|s| *s == Some(Stop::Shutdown)).await;
            tokio::time::sleep(drain).await;
        } => Err(Stop::Shutdown),
        result = tokio::time::timeout(timeout, loop_) => match result {
            Err(_) => Ok(RunEnd::Finished(Outcome::failed(reasons::TIMEOUT, format!("the task ran longer than {limit}s (spec.limits.timeoutSeconds)")))),
            Ok(Ok(end)) => Ok(end),
            Ok(Err(error)) => {
                tracing::warn!(task = %task.name_any(), %error, "run abandoned");
                Err(Stop::Lost)
            }
        },
    };
    heartbeat.abort();
    if let Ok(RunEnd::Finished(outcome)) = &ended {
        let span = tracing::Span::current();
        span.record("agentarea.task.phase", outcome.phase.as_str());
        span.record("agentarea.task.reason", outcome.reason);
        if outcome.phase == TaskPhase::Failed {
            span.record("otel.status_code", "ERROR");
        }
    }
    let mut record = record.lock().await;
    let written = match ended {
        Ok(RunEnd::Finished(outcome)) => finish(ctx, &mut record, &outcome).await,
        Ok(RunEnd::Suspended(suspension)) => {
            suspend(ctx, &mut record, &suspension, segment.elapsed()).await
        }
        // The drain time ran out with calls in flight: hand back without them.
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

    #[test]
    fn a_stop_at_once_overrides_a_stop_at_the_next_boundary() {
        use Stop::*;
        for (current, asked, replaces) in [
            (None, Pause, true),
            (None, Cancelled, true),
            (Some(Pause), Shutdown, true),
            (Some(Pause), Cancelled, true),
            (Some(Pause), Pause, false),
            (Some(Shutdown), Pause, false),
            (Some(Shutdown), Lost, true),
            (Some(Cancelled), Lost, false),
            (Some(Lost), Cancelled, false),
        ] {
            assert_eq!(
                asked.overrides(current),
                replaces,
                "{asked:?} over {current:?}"
            );
        }
    }

    #[test]
    fn a_workspace_takes_at_most_its_share_and_gives_it_back() {
        let runs = Arc::new(WorkspaceRuns::new(2));
        let first = runs.take("ws-a").expect("room");
        let _second = runs.take("ws-a").expect("room");
        assert!(runs.is_full("ws-a"));
        assert!(runs.take("ws-a").is_none(), "a third run of ws-a waits");
        let _other = runs
            .take("ws-b")
            .expect("another workspace has its own share");
        drop(first);
        assert!(!runs.is_full("ws-a"));
        assert!(runs.take("ws-a").is_some());

        let uncapped = Arc::new(WorkspaceRuns::new(0));
        let held: Vec<_> = (0..100).filter_map(|_| uncapped.take("ws-a")).collect();
        assert_eq!(held.len(), 100);
        assert!(!uncapped.is_full("ws-a"));
    }
}
