//! Trigger: fires schedule triggers when they are due (with CronJob's concurrency policies,
//! starting deadline and history limits), checks webhook triggers' Secrets, and records every
//! firing (the Tasks a trigger owns, however they were created) in status and as an Event.
//! Event triggers fire from [`event`], which watches the resources they filter on.
//!
//! Firing is safe with several operator replicas: a scheduled Task is named after its trigger and
//! scheduled time, so two replicas firing the same run collide on the name and one Task exists.

pub mod event;
pub mod schedule;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::{Controller, watcher};
use kube::{Api, ResourceExt};
use serde_json::json;

use agentarea_crds::common::{CREATED_AT_ANNOTATION, TRIGGER_LABEL, set_ready};
use agentarea_crds::trigger::{ConcurrencyPolicy, Firing, ScheduleTrigger, TriggerExecution};
use agentarea_crds::{Task, TaskPhase, Trigger, TriggerStatus};

use self::schedule::Schedule;
use crate::context::Context;
use crate::controllers::mcp_server_instance::secret_value;
use crate::controllers::{announce_ready_transition, log_outcomes, readiness, retry_with_backoff};
use crate::error::{Error, Result};
use crate::status::apply_status;

/// Firings kept in `status.executions`, newest first.
const MAX_EXECUTIONS: usize = 20;

pub async fn run(ctx: Arc<Context>, shutdown: impl Future<Output = ()> + Send + Sync + 'static) {
    let results = Controller::new(
        ctx.api::<Trigger>(),
        watcher::Config::default().any_semantic(),
    )
    // Every Task a trigger fires is owned by it: its creation and its end are firings to record.
    .owns(
        ctx.api::<Task>(),
        watcher::Config::default().labels(TRIGGER_LABEL),
    )
    .graceful_shutdown_on(shutdown)
    .run(reconcile, retry_with_backoff, ctx);
    log_outcomes("trigger", results).await;
}

async fn reconcile(trigger: Arc<Trigger>, ctx: Arc<Context>) -> Result<Action> {
    let namespace = trigger.namespace().ok_or(Error::NoNamespace)?;
    let tasks_api: Api<Task> = Api::namespaced(ctx.client.clone(), &namespace);
    let selector = format!("{TRIGGER_LABEL}={}", trigger.name_any());
    let mut tasks = tasks_api
        .list(&ListParams::default().labels(&selector))
        .await?
        .items;
    let previous = trigger.status.clone().unwrap_or_default();
    let mut status = TriggerStatus {
        observed_generation: trigger.metadata.generation,
        type_: Some(trigger.type_name().into()),
        ..previous.clone()
    };
    let mut problems: Vec<(&'static str, String)> = Vec::new();
    let mut requeue = None;
    if let Some(spec) = &trigger.spec.schedule {
        match Schedule::parse(spec) {
            Ok(parsed) => {
                let mut run = ScheduleRun {
                    ctx: &ctx,
                    api: &tasks_api,
                    trigger: &trigger,
                    tasks: &mut tasks,
                    status: &mut status,
                };
                requeue = run.reconcile(spec, &parsed).await?;
            }
            Err(message) => problems.push(("InvalidSchedule", message)),
        }
    } else if let Some(webhook) = &trigger.spec.webhook {
        let key = &webhook.secret_ref;
        if let Err(problem) = secret_value(&ctx, &namespace, &key.name, &key.key).await {
            problems.push(problem);
        }
    }
    record_firings(&ctx, &trigger, &tasks, &previous, &mut status).await;
    if let Some(spec) = &trigger.spec.schedule {
        prune_history(&tasks_api, spec, &tasks).await?;
    }
    status.active = tasks
        .iter()
        .filter(|t| !finished(t))
        .map(|t| t.name_any())
        .collect();
    if !trigger.spec.enabled {
        problems.insert(0, ("Disabled", "the trigger is disabled".into()));
    } else if status.consecutive_failures >= trigger.spec.failure_threshold {
        problems.push((
            "FailureThresholdReached",
            format!(
                "{} firings in a row failed (spec.failureThreshold); fix the cause, then disable and enable the trigger",
                status.consecutive_failures
            ),
        ));
    }
    let (ready, reason, message) =
        readiness(&problems, format!("{} trigger active", trigger.type_name()));
    set_ready(
        &mut status.conditions,
        ready,
        reason,
        message,
        trigger.metadata.generation,
    );
    announce_ready_transition(&ctx, &*trigger, &previous.conditions, &status.conditions).await;
    apply_status(&ctx.client, &*trigger, &status).await?;
    Ok(requeue.map_or_else(Action::await_change, Action::requeue))
}

/// One reconcile of a schedule trigger.
struct ScheduleRun<'a> {
    ctx: &'a Context,
    /// Tasks in the trigger's namespace.
    api: &'a Api<Task>,
    trigger: &'a Trigger,
    /// The trigger's Tasks; a Task fired now is added.
    tasks: &'a mut Vec<Task>,
    status: &'a mut TriggerStatus,
}

impl ScheduleRun<'_> {
    /// Fires or skips the run that is due, if any; returns when to look again.
    async fn reconcile(
        &mut self,
        spec: &ScheduleTrigger,
        schedule: &Schedule,
    ) -> Result<Option<Duration>> {
        let now = Timestamp::now();
        if !self.trigger.spec.enabled {
            // Runs that fall due while disabled are not owed when it is enabled again, and
            // enabling it again is how a person says the cause of its failures is fixed.
            self.status.last_schedule_time = Some(Time(now));
            self.status.next_fire_time = None;
            self.status.consecutive_failures = 0;
            return Ok(None);
        }
        let last = self
            .status
            .last_schedule_time
            .as_ref()
            .or(self.trigger.metadata.creation_timestamp.as_ref())
            .map_or(now, |t| t.0);
        let plan = schedule.plan(last, now);
        self.status.next_fire_time = plan.next.map(Time);
        if let Some((at, why)) = plan.missed {
            self.status.last_schedule_time = Some(Time(at));
            self.skip(at, why).await;
        }
        if let Some(at) = plan.due {
            self.status.last_schedule_time = Some(Time(at));
            self.fire_due(spec.concurrency_policy, at, now).await?;
        }
        Ok(plan.next.map(|next| {
            Duration::try_from(next.duration_since(Timestamp::now()))
                .unwrap_or_default()
                .max(Duration::from_millis(200))
        }))
    }

    /// Fires the run due at `at`, as the concurrency policy allows.
    async fn fire_due(
        &mut self,
        policy: ConcurrencyPolicy,
        at: Timestamp,
        now: Timestamp,
    ) -> Result<()> {
        if self.status.consecutive_failures >= self.trigger.spec.failure_threshold {
            return Ok(());
        }
        let active: Vec<String> = self
            .tasks
            .iter()
            .filter(|t| !finished(t))
            .map(|t| t.name_any())
            .collect();
        match policy {
            ConcurrencyPolicy::Forbid if !active.is_empty() => {
                let why = format!(
                    "the run due at {at} was skipped: {} still running (concurrencyPolicy Forbid)",
                    active.join(", ")
                );
                self.skip(at, why).await;
                return Ok(());
            }
            ConcurrencyPolicy::Replace => self.cancel(&active).await?,
            _ => {}
        }
        let name = scheduled_task_name(&self.trigger.name_any(), at);
        let firing = Firing::Schedule {
            scheduled_time: at.to_string(),
        };
        let task = self
            .trigger
            .firing_task(&firing, &now.to_string(), Some(name.clone()));
        match self.api.create(&PostParams::default(), &task).await {
            Ok(created) => {
                self.status.consecutive_failures = 0;
                self.tasks.push(created);
            }
            // Another replica fired this run first.
            Err(kube::Error::Api(status)) if status.is_already_exists() => {}
            Err(error) => {
                let message = format!("could not create task {name}: {error}");
                self.status.failed_count += 1;
                self.status.consecutive_failures += 1;
                push_execution(
                    self.status,
                    execution(Time(at), "error", None, Some(message.clone())),
                );
                self.ctx
                    .event(self.trigger, EventType::Warning, "FiringFailed", message)
                    .await;
            }
        }
        Ok(())
    }

    /// Replace: cancels the runs still going before the new one starts.
    async fn cancel(&self, names: &[String]) -> Result<()> {
        for name in names {
            self.api
                .patch(
                    name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"spec": {"cancel": true}})),
                )
                .await?;
        }
        Ok(())
    }

    async fn skip(&mut self, at: Timestamp, why: String) {
        push_execution(
            self.status,
            execution(Time(at), "skipped", None, Some(why.clone())),
        );
        self.ctx
            .event(self.trigger, EventType::Normal, "Skipped", why)
            .await;
    }
}

/// `<trigger>-<unix seconds of the scheduled time>`: one name per run, so replicas cannot both
/// create it. At most 63 characters.
fn scheduled_task_name(trigger: &str, at: Timestamp) -> String {
    let prefix: String = trigger.chars().take(52).collect();
    format!("{}-{}", prefix.trim_end_matches('-'), at.as_second())
}

fn finished(task: &Task) -> bool {
    task.status
        .as_ref()
        .and_then(|s| s.phase)
        .is_some_and(TaskPhase::is_finished)
}

/// When the task was created: the product's microsecond annotation, else the object's timestamp.
fn created(task: &Task) -> Option<Timestamp> {
    task.annotations()
        .get(CREATED_AT_ANNOTATION)
        .and_then(|t| t.parse().ok())
        .or_else(|| task.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

fn execution(
    time: Time,
    status: &str,
    task: Option<String>,
    message: Option<String>,
) -> TriggerExecution {
    TriggerExecution {
        time,
        status: status.into(),
        task,
        message,
        execution_time_ms: None,
    }
}

fn push_execution(status: &mut TriggerStatus, execution: TriggerExecution) {
    status.executions.insert(0, execution);
    status.executions.truncate(MAX_EXECUTIONS);
}

/// Records each Task of the trigger not yet in `executions` as a firing (with an Event), and
/// brings the recorded ones up to date with how their Tasks ended.
async fn record_firings(
    ctx: &Context,
    trigger: &Trigger,
    tasks: &[Task],
    previous: &TriggerStatus,
    status: &mut TriggerStatus,
) {
    let recorded: HashSet<String> = status
        .executions
        .iter()
        .filter_map(|e| e.task.clone())
        .collect();
    let since = previous.last_fired_time.as_ref().map(|t| t.0);
    let mut new: Vec<(Timestamp, &Task)> = tasks
        .iter()
        .filter(|t| !recorded.contains(&t.name_any()))
        .filter_map(|t| created(t).map(|c| (c, t)))
        // Status times have whole seconds; tasks of the last recorded second are told apart by
        // name, so the bounded `executions` never makes an old Task look new.
        .filter(|(c, _)| since.is_none_or(|since| c.as_second() >= since.as_second()))
        .collect();
    new.sort_by_key(|(c, _)| *c);
    for (at, task) in new {
        push_execution(
            status,
            execution(Time(at), "fired", Some(task.name_any()), None),
        );
        status.fired_count += 1;
        if status.last_fired_time.as_ref().is_none_or(|t| t.0 < at) {
            status.last_fired_time = Some(Time(at));
        }
        ctx.event(
            trigger,
            EventType::Normal,
            "Fired",
            format!("started task {}", task.name_any()),
        )
        .await;
    }
    for entry in &mut status.executions {
        let Some(task) = entry
            .task
            .as_ref()
            .and_then(|name| tasks.iter().find(|t| &t.name_any() == name))
        else {
            continue;
        };
        let Some(task_status) = task.status.as_ref().filter(|_| finished(task)) else {
            continue;
        };
        entry.status = match task_status.phase {
            Some(TaskPhase::Succeeded) => "succeeded",
            Some(TaskPhase::Cancelled) => "cancelled",
            _ => "failed",
        }
        .into();
        if entry.status != "succeeded" {
            entry.message = task_status.message.clone();
        }
        if let (Some(start), Some(end)) = (&task_status.start_time, &task_status.completion_time) {
            entry.execution_time_ms = Some(end.0.duration_since(start.0).as_millis() as i64);
        }
    }
}

/// Deletes the trigger's finished Tasks beyond its history limits, oldest first.
async fn prune_history(api: &Api<Task>, spec: &ScheduleTrigger, tasks: &[Task]) -> Result<()> {
    let mut succeeded: Vec<&Task> = Vec::new();
    let mut failed: Vec<&Task> = Vec::new();
    for task in tasks.iter().filter(|t| finished(t)) {
        match task.status.as_ref().and_then(|s| s.phase) {
            Some(TaskPhase::Succeeded) => succeeded.push(task),
            _ => failed.push(task),
        }
    }
    for (mut kept, limit) in [
        (succeeded, spec.successful_history_limit),
        (failed, spec.failed_history_limit),
    ] {
        kept.sort_by_key(|t| std::cmp::Reverse(created(t)));
        for task in kept.iter().skip(limit.max(0) as usize) {
            match api
                .delete(&task.name_any(), &DeleteParams::background())
                .await
            {
                Ok(_) => {}
                Err(kube::Error::Api(status)) if status.is_not_found() => {}
                Err(error) => return Err(error.into()),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduled_task_names_are_valid_and_unique_per_run() {
        let at: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        assert_eq!(scheduled_task_name("nightly", at), "nightly-1767225600");
        let long = "a".repeat(63);
        let name = scheduled_task_name(&long, at);
        assert!(name.len() <= 63, "{name}");
    }
}
