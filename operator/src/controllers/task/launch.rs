//! A run's life around the agent loop: the claim that makes it this replica's, the background
//! task that drives it under what is left of its timeout, the heartbeat that renews the claim,
//! and the write of how it ended or where it stopped.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use tokio::sync::watch;
use tracing::Instrument;

use agentarea_crds::common::trace_context;
use agentarea_crds::{Agent, Task, TaskPhase, TaskStatus, reasons};

use super::children::effective_limits;
use super::ending::{finish, hand_back, suspend};
use super::record::{RecordError, SharedRecord, TaskRecord, tasks_namespace};
use super::run;
use super::run::outcome::{Outcome, RunEnd, Stop};
use super::runner::{RunPermit, Runner, StopSwitch};
use crate::context::Context;
use crate::error::Result;

/// Claims the task with `status` and, if the claim holds, runs it in the background.
pub async fn launch(
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
    runner.started(&uid, stop_tx.clone());
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
        runner.ended(&uid, permit);
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
    stop_tx: StopSwitch,
    mut stop_rx: watch::Receiver<Option<Stop>>,
) {
    let task = record.task().clone();
    let spent = record.status().active_seconds.unwrap_or(0).max(0) as u64;
    let record: SharedRecord = Arc::new(tokio::sync::Mutex::new(record));
    let heartbeat = tokio::spawn(heartbeat(
        record.clone(),
        Duration::from_secs(ctx.config.task_lease_seconds) / 3,
        stop_tx,
    ));
    let limits = effective_limits(&agent.spec.limits, task.spec.limits.as_ref());
    let limit = limits.timeout_seconds.max(1) as u64;
    let timeout = Duration::from_secs(limit.saturating_sub(spent));
    let segment = Instant::now();
    let drain = Duration::from_secs(ctx.config.task_drain_seconds);
    let mut drained = stop_rx.clone();
    let loop_ = run::execute(ctx.clone(), record.clone(), agent, stop_rx.clone());
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
        record_on_span(outcome);
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

/// Marks the run's span with how the task ended.
fn record_on_span(outcome: &Outcome) {
    let span = tracing::Span::current();
    span.record("agentarea.task.phase", outcome.phase.as_str());
    span.record("agentarea.task.reason", outcome.reason);
    if outcome.phase == TaskPhase::Failed {
        span.record("otel.status_code", "ERROR");
    }
}

/// Renews the claim every `period`; if the claim is lost or the task is gone, stops the run.
async fn heartbeat(record: SharedRecord, period: Duration, stop: StopSwitch) {
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
