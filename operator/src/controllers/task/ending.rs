//! How a task ends: its closing step, status and Event, whether a run ended it or no run held
//! it; the hand-back of a claim on shutdown; and the deletion of a finished task after its TTL.

use std::time::Duration;

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{DeleteParams, Preconditions};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt};

use agentarea_crds::common::now;
use agentarea_crds::{Task, TaskPhase, TaskStatus, reasons, steps};

use agentarea_crds::task::PendingApproval;
use serde_json::json;

use super::children::cancel_children;
use super::record::{self, RecordError, Step, TaskRecord, tasks_namespace, write_if_unchanged};
use super::run::outcome::{Outcome, SuspendedFor, Suspension};
use crate::context::Context;
use crate::error::Result;

/// Writes the end of a claimed run.
pub async fn finish(
    ctx: &Context,
    record: &mut TaskRecord,
    outcome: &Outcome,
) -> Result<(), RecordError> {
    let step = Step::new(steps::closing(outcome.phase), outcome.message.clone());
    record
        .update(|status| apply_outcome(status, outcome, &step))
        .await?;
    let status = record.task().status.clone().unwrap_or_default();
    announce(ctx, record.task(), &status, outcome).await;
    end_children(ctx, record.task(), &status, outcome).await;
    Ok(())
}

/// A task that ended without succeeding cancels the child tasks it started: nobody will read
/// their answers. (A succeeded task's children have all finished.)
async fn end_children(ctx: &Context, task: &Task, status: &TaskStatus, outcome: &Outcome) {
    if outcome.phase != TaskPhase::Succeeded && !status.children.is_empty() {
        cancel_children(&tasks_namespace(ctx, task), &status.children).await;
    }
}

/// On shutdown: gives the claim up, so another replica (or this one restarted) takes the task
/// over at once instead of after the lease.
pub async fn hand_back(ctx: &Context, record: &mut TaskRecord) -> Result<(), RecordError> {
    let step = Step::new(
        steps::RUNNER_STOPPED,
        format!("{} is shutting down and handed the task back", ctx.holder),
    );
    record
        .update(|status| {
            record::push_step(status, &step);
            status.claim = None;
        })
        .await
}

/// Writes a run's stop at a boundary: its kept conversation, the active time it spent, and
/// whatever it waits for; the claim is given up, so that no replica holds a slot meanwhile and
/// any replica can continue it.
pub async fn suspend(
    ctx: &Context,
    record: &mut TaskRecord,
    suspension: &Suspension,
    active: Duration,
) -> Result<(), RecordError> {
    let (phase, steps, message) = match &suspension.why {
        SuspendedFor::Pause => (
            TaskPhase::Paused,
            vec![Step::new(steps::WORKFLOW_PAUSED, "paused by request")],
            "paused by request".to_string(),
        ),
        SuspendedFor::Shutdown => (
            TaskPhase::Running,
            vec![Step::new(
                steps::RUNNER_STOPPED,
                format!("{} is shutting down and handed the task back", ctx.holder),
            )],
            String::new(),
        ),
        SuspendedFor::Agents(calls) => (
            TaskPhase::AwaitingAgents,
            Vec::new(),
            format!("waiting for the agents it called ({})", calls.join(", ")),
        ),
        SuspendedFor::Approval(pending) => (
            TaskPhase::AwaitingApproval,
            pending.iter().map(approval_requested).collect(),
            format!(
                "waiting for approval of {}",
                pending
                    .iter()
                    .map(|p| format!("{} ({})", p.tool, p.tool_call_id))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
    };
    let active = active.as_secs() as i64;
    record
        .update(|status| {
            for step in &steps {
                record::push_step(status, step);
            }
            status.conversation = Some(suspension.conversation.clone());
            status.active_seconds = Some(status.active_seconds.unwrap_or(0) + active);
            status.claim = None;
            status.phase = Some(phase);
            status.reason = None;
            status.message = (!message.is_empty()).then(|| message.clone());
            if let SuspendedFor::Approval(pending) = &suspension.why {
                status.pending_approvals = pending.clone();
            }
        })
        .await?;
    let event = match &suspension.why {
        SuspendedFor::Pause => Some(reasons::PAUSED),
        SuspendedFor::Approval(_) => Some(reasons::APPROVAL_REQUESTED),
        SuspendedFor::Shutdown | SuspendedFor::Agents(_) => None,
    };
    if let Some(reason) = event {
        ctx.event(record.task(), EventType::Normal, reason, message)
            .await;
    }
    Ok(())
}

/// The `HumanApprovalRequested` step of one waiting call.
fn approval_requested(pending: &PendingApproval) -> Step {
    Step::new(
        steps::HUMAN_APPROVAL_REQUESTED,
        format!("{} waits for approval: {}", pending.tool, pending.because),
    )
    .with_data(json!({
        "tool_call_id": pending.tool_call_id,
        "tool": pending.tool,
        "arguments": pending.arguments,
        "because": pending.because,
        "deadline": pending.deadline,
    }))
}

fn apply_outcome(status: &mut TaskStatus, outcome: &Outcome, step: &Step) {
    record::push_step(status, step);
    status.phase = Some(outcome.phase);
    status.reason = Some(outcome.reason.to_string());
    status.message = Some(outcome.message.clone());
    if outcome.result.is_some() {
        status.result = outcome.result.clone();
    }
    status.completion_time = Some(now());
    status.pending_approvals.clear();
}

/// Logs, counts and publishes the end of a task; `status` is the one just written.
async fn announce(ctx: &Context, task: &Task, status: &TaskStatus, outcome: &Outcome) {
    tracing::info!(
        task = %task.name_any(),
        namespace = task.namespace().unwrap_or_default(),
        phase = ?outcome.phase,
        reason = outcome.reason,
        message = %outcome.message,
        "task finished"
    );
    let run = match (&status.start_time, &status.completion_time) {
        (Some(start), Some(end)) => Duration::try_from(end.0.duration_since(start.0)).ok(),
        _ => None,
    };
    let steps = status.step_count.unwrap_or(status.steps.len() as i64);
    ctx.metrics
        .tasks
        .finished(outcome.phase.as_str(), outcome.reason, run, steps);
    let type_ = match outcome.phase {
        TaskPhase::Succeeded => EventType::Normal,
        _ => EventType::Warning,
    };
    let reason = match outcome.phase {
        TaskPhase::Succeeded => reasons::SUCCEEDED,
        _ => outcome.reason,
    };
    ctx.event(task, type_, reason, outcome.message.clone())
        .await;
}

/// Ends a task no run holds (cancelled before it started, agent missing, runner lost), on the
/// condition that nobody changed it meanwhile.
pub async fn finish_unclaimed(ctx: &Context, task: &Task, outcome: Outcome) -> Result<Action> {
    let mut status = task.status.clone().unwrap_or_default();
    let step = Step::new(steps::closing(outcome.phase), outcome.message.clone());
    apply_outcome(&mut status, &outcome, &step);
    status.claim = None;
    if replace_if_unchanged(ctx, task, status.clone()).await? {
        announce(ctx, task, &status, &outcome).await;
        end_children(ctx, task, &status, &outcome).await;
    }
    Ok(Action::await_change())
}

/// Writes `status` if `task` is still the latest version; false if it was not.
pub async fn replace_if_unchanged(ctx: &Context, task: &Task, status: TaskStatus) -> Result<bool> {
    Ok(
        write_if_unchanged(&tasks_namespace(ctx, task), task, status)
            .await?
            .is_some(),
    )
}

/// Deletes a finished task once its TTL has passed (as Jobs' `ttlSecondsAfterFinished`).
pub async fn expire(ctx: &Context, task: &Task, status: &TaskStatus) -> Result<Action> {
    let ttl = task
        .spec
        .ttl_seconds_after_finished
        .map(|s| s.max(0) as u64)
        .or((ctx.config.task_ttl_seconds > 0).then_some(ctx.config.task_ttl_seconds));
    let Some(ttl) = ttl else {
        return Ok(Action::await_change());
    };
    let finished = status
        .completion_time
        .as_ref()
        .or(task.metadata.creation_timestamp.as_ref())
        .map_or_else(Timestamp::now, |t| t.0);
    let expiry = finished + SignedDuration::from_secs(ttl as i64);
    let remaining = expiry.duration_since(Timestamp::now());
    if remaining.is_positive() {
        return Ok(Action::requeue(
            Duration::try_from(remaining).unwrap_or_default() + Duration::from_secs(1),
        ));
    }
    let api: Api<Task> = tasks_namespace(ctx, task);
    let params = DeleteParams {
        preconditions: Some(Preconditions {
            uid: task.uid(),
            resource_version: None,
        }),
        ..DeleteParams::background()
    };
    match api.delete(&task.name_any(), &params).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.is_not_found() || status.is_conflict() => {}
        Err(error) => return Err(error.into()),
    }
    tracing::info!(task = %task.name_any(), ttl, "deleted a finished task after its TTL");
    Ok(Action::await_change())
}
