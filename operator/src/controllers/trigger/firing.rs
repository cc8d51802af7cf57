//! Firing the run of a schedule trigger that is due, as its concurrency policy allows; or
//! skipping it, saying why.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt};
use serde_json::json;

use agentarea_crds::trigger::{ConcurrencyPolicy, Firing, ScheduleTrigger};
use agentarea_crds::{Task, Trigger, TriggerStatus, reasons};

use super::executions::{execution, finished, push_execution};
use super::judge;
use super::schedule::Schedule;
use crate::context::Context;
use crate::error::Result;

/// One reconcile of a schedule trigger.
pub struct ScheduleRun<'a> {
    pub ctx: &'a Context,
    /// Tasks in the trigger's namespace.
    pub api: &'a Api<Task>,
    pub trigger: &'a Trigger,
    /// The trigger's Tasks; a Task fired now is added.
    pub tasks: &'a mut Vec<Task>,
    pub status: &'a mut TriggerStatus,
}

impl ScheduleRun<'_> {
    /// Fires or skips the run that is due, if any; returns when to look again.
    pub async fn reconcile(
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
        match admit(policy, &active) {
            Admission::Skip(why) => {
                self.skip(at, format!("the run due at {at} was skipped: {why}"))
                    .await;
                return Ok(());
            }
            Admission::Replace => self.cancel(&active).await?,
            Admission::Fire => {}
        }
        self.create_task(at, now).await;
        Ok(())
    }

    /// Creates the Task of the run due at `at`; a failure is recorded and counts towards the
    /// trigger's failure threshold.
    async fn create_task(&mut self, at: Timestamp, now: Timestamp) {
        let name = scheduled_task_name(&self.trigger.name_any(), at);
        let firing = Firing::Schedule {
            scheduled_time: at.to_string(),
        };
        let now_text = now.to_string();
        let context = self.trigger.firing_context(&firing, &now_text);
        let decision = judge::decide(self.ctx, self.trigger, &context).await;
        if !decision.matched {
            let why = format!("the run due at {at} was skipped: {}", decision.reason);
            self.skip(at, why).await;
            return;
        }
        let task = self
            .trigger
            .decided_task(&firing, &now_text, Some(name.clone()), &decision);
        match self.api.create(&PostParams::default(), &task).await {
            Ok(created) => {
                let metrics = &self.ctx.metrics.triggers;
                metrics.fired("schedule", "fired");
                metrics
                    .schedule_lag(Duration::try_from(now.duration_since(at)).unwrap_or_default());
                self.status.consecutive_failures = 0;
                self.tasks.push(created);
            }
            // Another replica fired this run first.
            Err(kube::Error::Api(status)) if status.is_already_exists() => {}
            Err(error) => {
                self.ctx.metrics.triggers.fired("schedule", "error");
                let message = format!("could not create task {name}: {error}");
                self.status.failed_count += 1;
                self.status.consecutive_failures += 1;
                push_execution(
                    self.status,
                    execution(Time(at), "error", None, Some(message.clone())),
                );
                self.ctx
                    .event(
                        self.trigger,
                        EventType::Warning,
                        reasons::FIRING_FAILED,
                        message,
                    )
                    .await;
            }
        }
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
        self.ctx.metrics.triggers.fired("schedule", "skipped");
        push_execution(
            self.status,
            execution(Time(at), "skipped", None, Some(why.clone())),
        );
        self.ctx
            .event(self.trigger, EventType::Normal, reasons::SKIPPED, why)
            .await;
    }
}

/// What the concurrency policy lets a due run do while `active` Tasks of the trigger still run.
#[derive(Debug, PartialEq)]
enum Admission {
    Fire,
    /// Cancel the active runs, then fire.
    Replace,
    /// Do not fire, for this reason.
    Skip(String),
}

fn admit(policy: ConcurrencyPolicy, active: &[String]) -> Admission {
    match policy {
        _ if active.is_empty() => Admission::Fire,
        ConcurrencyPolicy::Allow => Admission::Fire,
        ConcurrencyPolicy::Replace => Admission::Replace,
        ConcurrencyPolicy::Forbid => Admission::Skip(format!(
            "{} still running (concurrencyPolicy Forbid)",
            active.join(", ")
        )),
    }
}

/// `<trigger>-<unix seconds of the scheduled time>`: one name per run, so replicas cannot both
/// create it. At most 63 characters.
fn scheduled_task_name(trigger: &str, at: Timestamp) -> String {
    let prefix: String = trigger.chars().take(52).collect();
    format!("{}-{}", prefix.trim_end_matches('-'), at.as_second())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_concurrency_policy_decides_while_runs_are_active() {
        let running = vec!["t-1".to_string(), "t-2".to_string()];
        let forbidden = Admission::Skip("t-1, t-2 still running (concurrencyPolicy Forbid)".into());
        let cases = [
            (ConcurrencyPolicy::Allow, vec![], Admission::Fire),
            (ConcurrencyPolicy::Forbid, vec![], Admission::Fire),
            (ConcurrencyPolicy::Replace, vec![], Admission::Fire),
            (ConcurrencyPolicy::Allow, running.clone(), Admission::Fire),
            (
                ConcurrencyPolicy::Replace,
                running.clone(),
                Admission::Replace,
            ),
            (ConcurrencyPolicy::Forbid, running, forbidden),
        ];
        for (policy, active, want) in cases {
            assert_eq!(admit(policy, &active), want, "{policy:?} with {active:?}");
        }
    }

    #[test]
    fn scheduled_task_names_are_valid_and_unique_per_run() {
        let at: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        assert_eq!(scheduled_task_name("nightly", at), "nightly-1767225600");
        let long = "a".repeat(63);
        let name = scheduled_task_name(&long, at);
        assert!(name.len() <= 63, "{name}");
    }
}
