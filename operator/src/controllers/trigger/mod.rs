//! Trigger: fires schedule triggers when they are due (with CronJob's concurrency policies,
//! starting deadline and history limits), checks webhook triggers' Secrets, and records every
//! firing (the Tasks a trigger owns, however they were created) in status and as an Event.
//! Event triggers fire from [`event`], which watches the resources they filter on; a schedule's
//! due run is found by [`schedule`] and fired by [`firing`]; both record it in the trigger's
//! [`executions`]. Both ask [`judge`] whether the trigger's conditions let a firing through.
//!
//! Firing is safe with several operator replicas: a scheduled Task is named after its trigger and
//! scheduled time, so two replicas firing the same run collide on the name and one Task exists.

pub mod event;
pub mod executions;
pub mod firing;
pub mod judge;
pub mod schedule;

use std::collections::HashSet;
use std::sync::Arc;

use futures::FutureExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, ListParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::watcher;
use kube::{Api, ResourceExt};

use agentarea_crds::common::{CREATED_AT_ANNOTATION, TRIGGER_DECISION_ANNOTATION, TRIGGER_LABEL};
use agentarea_crds::trigger::{ScheduleTrigger, TriggerExecution};
use agentarea_crds::{Task, TaskPhase, Trigger, TriggerSpec, TriggerStatus, reasons};

use self::executions::{execution, finished, push_execution};
use self::firing::ScheduleRun;
use self::schedule::Schedule;
use crate::context::Context;
use crate::controllers::{announce_ready_transition, run_observed, set_readiness, spec_driven};
use crate::error::{Error, Result};
use crate::problem::Problem;
use crate::secrets::secret_value;
use crate::status::apply_status;

/// Runs the Trigger controller and the event triggers' matcher, which reads the triggers from the
/// controller's store: one copy of every Trigger in the operator, not one per reader.
pub async fn run(ctx: Arc<Context>, shutdown: impl Future<Output = ()> + Send + Sync + 'static) {
    let shutdown = shutdown.shared();
    let controller = spec_driven(ctx.api::<Trigger>())
        // Every Task a trigger fires is owned by it: its creation and its end are firings to record.
        .owns(
            ctx.api::<Task>(),
            watcher::Config::default().labels(TRIGGER_LABEL),
        )
        .graceful_shutdown_on(shutdown.clone());
    let triggers = controller.store();
    tokio::join!(
        run_observed("trigger", controller, reconcile, ctx.clone()),
        event::run(ctx, triggers, shutdown),
    );
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
        // The api's record: left out of the operator's apply, so it never owns it nor writes
        // back a copy older than the api's last.
        skipped_firings: Vec::new(),
        ..previous.clone()
    };
    let mut spec_problem = None;
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
            Err(message) => spec_problem = Some(Problem::new(reasons::INVALID_SCHEDULE, message)),
        }
    } else if let Some(webhook) = &trigger.spec.webhook {
        let key = &webhook.secret_ref;
        spec_problem = secret_value(&ctx.client, &namespace, &key.name, &key.key)
            .await
            .err();
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
    set_readiness(
        &mut status.conditions,
        &problems(&trigger.spec, spec_problem, status.consecutive_failures),
        format!("{} trigger active", trigger.type_name()),
        trigger.metadata.generation,
    );
    announce_ready_transition(&ctx, &*trigger, &previous.conditions, &status.conditions).await;
    apply_status(&ctx.client, &*trigger, &status).await?;
    Ok(requeue.map_or_else(Action::await_change, Action::requeue))
}

/// Why a trigger is not Ready: disabled (told first), a spec that cannot work (`spec_problem`: a
/// schedule that does not parse, a webhook Secret that cannot be read), or too many failed
/// firings in a row.
fn problems(
    spec: &TriggerSpec,
    spec_problem: Option<Problem>,
    consecutive_failures: i32,
) -> Vec<Problem> {
    let mut problems: Vec<Problem> = spec_problem.into_iter().collect();
    if !spec.enabled {
        problems.insert(
            0,
            Problem::new(reasons::DISABLED, "the trigger is disabled"),
        );
    } else if consecutive_failures >= spec.failure_threshold {
        problems.push(Problem::new(
            reasons::FAILURE_THRESHOLD_REACHED,
            format!(
                "{consecutive_failures} firings in a row failed (spec.failureThreshold); fix the cause, then disable and enable the trigger"
            ),
        ));
    }
    problems
}

/// When the task was created: the product's microsecond annotation, else the object's timestamp.
fn created(task: &Task) -> Option<Timestamp> {
    task.annotations()
        .get(CREATED_AT_ANNOTATION)
        .and_then(|t| t.parse().ok())
        .or_else(|| task.metadata.creation_timestamp.as_ref().map(|t| t.0))
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
    let since = previous.last_fired_time.as_ref().map(|t| t.0);
    for (at, task) in unrecorded_firings(tasks, &status.executions, since) {
        // Why its conditions let it through, when it had conditions.
        let decision = task.annotations().get(TRIGGER_DECISION_ANNOTATION).cloned();
        push_execution(
            status,
            execution(Time(at), "fired", Some(task.name_any()), decision),
        );
        status.fired_count += 1;
        if status.last_fired_time.as_ref().is_none_or(|t| t.0 < at) {
            status.last_fired_time = Some(Time(at));
        }
        ctx.event(
            trigger,
            EventType::Normal,
            reasons::FIRED,
            format!("started task {}", task.name_any()),
        )
        .await;
    }
    for entry in &mut status.executions {
        let task = entry
            .task
            .as_ref()
            .and_then(|name| tasks.iter().find(|t| &t.name_any() == name));
        if let Some(task) = task {
            record_ending(entry, task);
        }
    }
}

/// The trigger's Tasks that `executions` does not record yet, oldest first.
fn unrecorded_firings<'a>(
    tasks: &'a [Task],
    executions: &[TriggerExecution],
    since: Option<Timestamp>,
) -> Vec<(Timestamp, &'a Task)> {
    let recorded: HashSet<&str> = executions
        .iter()
        .filter_map(|e| e.task.as_deref())
        .collect();
    let mut new: Vec<(Timestamp, &Task)> = tasks
        .iter()
        .filter(|t| !recorded.contains(t.name_any().as_str()))
        .filter_map(|t| created(t).map(|c| (c, t)))
        // Status times have whole seconds; tasks of the last recorded second are told apart by
        // name, so the bounded `executions` never makes an old Task look new.
        .filter(|(c, _)| since.is_none_or(|since| c.as_second() >= since.as_second()))
        .collect();
    new.sort_by_key(|(c, _)| *c);
    new
}

/// Brings a recorded firing up to date with how its Task ended; an unfinished Task changes
/// nothing.
fn record_ending(entry: &mut TriggerExecution, task: &Task) {
    let Some(task_status) = task.status.as_ref().filter(|_| finished(task)) else {
        return;
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

    fn task_at(name: &str, created: &str, ended: Option<(TaskPhase, &str)>) -> Task {
        let mut task = Task::new(name, agentarea_crds::TaskSpec::default());
        task.annotations_mut()
            .insert(CREATED_AT_ANNOTATION.into(), created.into());
        task.status = ended.map(|(phase, end)| agentarea_crds::TaskStatus {
            phase: Some(phase),
            message: Some(format!("{phase:?}")),
            start_time: Some(Time(created.parse().unwrap())),
            completion_time: Some(Time(end.parse().unwrap())),
            ..Default::default()
        });
        task
    }

    fn recorded(task: &str) -> TriggerExecution {
        execution(
            Time("2026-01-01T00:00:00Z".parse().unwrap()),
            "fired",
            Some(task.into()),
            None,
        )
    }

    #[test]
    fn only_tasks_not_yet_recorded_and_not_older_than_the_last_firing_are_new() {
        let tasks = [
            task_at("late", "2026-01-01T00:00:09.5Z", None),
            task_at("early", "2026-01-01T00:00:05Z", None),
            task_at("same-second", "2026-01-01T00:00:08.9Z", None),
            task_at("old", "2026-01-01T00:00:07Z", None),
            task_at("known", "2026-01-01T00:00:09Z", None),
        ];
        let since = Some("2026-01-01T00:00:08.1Z".parse().unwrap());
        /// What the case is, the last firing, the firings recorded, the Tasks new to them.
        type Case<'a> = (
            &'a str,
            Option<Timestamp>,
            Vec<TriggerExecution>,
            Vec<&'a str>,
        );
        let cases: [Case; 3] = [
            (
                "never fired: all, oldest first",
                None,
                vec![],
                vec!["early", "old", "same-second", "known", "late"],
            ),
            (
                "since a firing: the same second counts, recorded ones do not",
                since,
                vec![recorded("known")],
                vec!["same-second", "late"],
            ),
            (
                "all recorded",
                None,
                tasks.iter().map(|t| recorded(&t.name_any())).collect(),
                vec![],
            ),
        ];
        for (case, since, executions, want) in cases {
            let got: Vec<String> = unrecorded_firings(&tasks, &executions, since)
                .into_iter()
                .map(|(_, t)| t.name_any())
                .collect();
            assert_eq!(got, want, "{case}");
        }
    }

    #[test]
    fn a_recorded_firing_takes_how_its_task_ended() {
        let start = "2026-01-01T00:00:00Z";
        let end = "2026-01-01T00:00:01.5Z";
        let cases = [
            ("running", None, "fired", None, None),
            (
                "succeeded",
                Some(TaskPhase::Succeeded),
                "succeeded",
                None,
                Some(1500),
            ),
            (
                "failed",
                Some(TaskPhase::Failed),
                "failed",
                Some("Failed"),
                Some(1500),
            ),
            (
                "cancelled",
                Some(TaskPhase::Cancelled),
                "cancelled",
                Some("Cancelled"),
                Some(1500),
            ),
            (
                "still running",
                Some(TaskPhase::Running),
                "fired",
                None,
                None,
            ),
        ];
        for (case, phase, status, message, millis) in cases {
            let task = task_at("t", start, phase.map(|p| (p, end)));
            let mut entry = recorded("t");
            record_ending(&mut entry, &task);
            assert_eq!(entry.status, status, "{case}");
            assert_eq!(entry.message.as_deref(), message, "{case}");
            assert_eq!(entry.execution_time_ms, millis, "{case}");
        }
    }

    #[test]
    fn a_trigger_is_ready_unless_disabled_broken_or_failing() {
        let spec = |enabled: bool| TriggerSpec {
            agent: "writer".into(),
            enabled,
            failure_threshold: 3,
            ..TriggerSpec::default()
        };
        let bad_cron = || {
            Some(Problem::new(
                reasons::INVALID_SCHEDULE,
                "bad cron expression",
            ))
        };
        let no_secret = || {
            Some(Problem::new(
                reasons::SECRET_NOT_FOUND,
                "Secret hook not found",
            ))
        };
        let disabled = (reasons::DISABLED, "the trigger is disabled");
        let failing = (
            reasons::FAILURE_THRESHOLD_REACHED,
            "3 firings in a row failed (spec.failureThreshold); fix the cause, then disable and enable the trigger",
        );
        type Case = (
            &'static str,
            TriggerSpec,
            Option<Problem>,
            i32,
            Vec<(&'static str, &'static str)>,
        );
        let cases: Vec<Case> = vec![
            ("enabled and sound", spec(true), None, 0, vec![]),
            ("failures below the threshold", spec(true), None, 2, vec![]),
            ("disabled", spec(false), None, 0, vec![disabled]),
            (
                "a bad schedule",
                spec(true),
                bad_cron(),
                0,
                vec![(reasons::INVALID_SCHEDULE, "bad cron expression")],
            ),
            (
                "a webhook Secret missing",
                spec(true),
                no_secret(),
                0,
                vec![(reasons::SECRET_NOT_FOUND, "Secret hook not found")],
            ),
            (
                "the failure threshold reached",
                spec(true),
                None,
                3,
                vec![failing],
            ),
            (
                "disabled comes first",
                spec(false),
                bad_cron(),
                0,
                vec![disabled, (reasons::INVALID_SCHEDULE, "bad cron expression")],
            ),
            // A disabled trigger fires nothing: only that is told.
            (
                "disabled after failures",
                spec(false),
                None,
                5,
                vec![disabled],
            ),
            (
                "a broken spec and failures",
                spec(true),
                no_secret(),
                3,
                vec![
                    (reasons::SECRET_NOT_FOUND, "Secret hook not found"),
                    failing,
                ],
            ),
        ];
        for (case, spec, spec_problem, failures, want) in cases {
            let got = problems(&spec, spec_problem, failures);
            let got: Vec<(&str, &str)> =
                got.iter().map(|p| (p.reason, p.message.as_str())).collect();
            assert_eq!(got, want, "{case}");
        }
    }
}
