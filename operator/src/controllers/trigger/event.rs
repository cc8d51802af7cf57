//! Event triggers: watches Tasks, Agents and McpServerInstances, and fires every enabled event
//! trigger whose filter a change matches (a Task of agent X reached a phase; an instance became
//! unready), with the object in the rendered input.
//!
//! Stateless, so that it is right after a restart and with several replicas: what fires is a
//! transition (a Task's completion, a Ready condition's last transition) that happened after the
//! trigger was created and recently; and the Task it creates is named after the trigger and the
//! transition, so seeing it twice (a re-list, a second replica) creates it once.

use std::sync::Arc;

use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::PostParams;
use kube::runtime::events::EventType;
use kube::runtime::reflector::Store;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, ResourceExt};
use serde_json::{Value, json};

use agentarea_crds::common::{TRIGGER_LABEL, condition};
use agentarea_crds::trigger::{
    Firing, WatchedKind, WatchedTaskPhase, record_skipped_firings, skipped,
};
use agentarea_crds::{Agent, McpServerInstance, Task, TaskPhase, Trigger, reasons};

use super::judge;
use crate::context::Context;

/// A transition older than this is history, not news: it does not fire (after a restart, say).
const FRESHNESS: SignedDuration = SignedDuration::from_secs(300);

/// A change to a watched object, as the filters see it.
#[derive(Debug, Clone)]
pub struct Observed {
    pub kind: WatchedKind,
    pub name: String,
    pub namespace: Option<String>,
    /// The trigger that created it, for Tasks (a trigger never fires on its own Tasks).
    pub fired_by: Option<String>,
    /// For Tasks: the agent.
    pub agent: Option<String>,
    /// For Tasks: the phase, once finished.
    pub phase: Option<TaskPhase>,
    /// For Agents and instances: the Ready condition's status.
    pub ready: Option<bool>,
    /// When the transition happened.
    pub at: Option<Timestamp>,
    /// What identifies the transition: the same one seen twice has the same key.
    pub key: String,
    /// The object as the input template sees it (`event.<path>`).
    pub data: Value,
}

impl Observed {
    /// A finished Task; `None` for one still going, which no filter matches. Most Task changes
    /// are steps of running tasks: they are dropped here, before anything is copied.
    fn from_task(task: Task) -> Option<Self> {
        let status = task.status.as_ref()?;
        let phase = status.phase.filter(|p| p.is_finished())?;
        Some(Self {
            kind: WatchedKind::Task,
            name: task.name_any(),
            namespace: task.namespace(),
            fired_by: task.labels().get(TRIGGER_LABEL).cloned(),
            agent: Some(task.spec.agent.clone()),
            phase: Some(phase),
            ready: None,
            at: status.completion_time.as_ref().map(|t| t.0),
            key: format!("{}/{phase:?}", task.uid().unwrap_or_default()),
            data: json!({
                "kind": "Task", "name": task.name_any(), "namespace": task.namespace(),
                "uid": task.uid(), "agent": task.spec.agent, "input": task.spec.input,
                "phase": phase, "reason": status.reason, "message": status.message,
                "result": status.result,
            }),
        })
    }

    fn from_ready(kind: WatchedKind, object: &impl ResourceExt, conditions: &[Condition]) -> Self {
        let ready = conditions.iter().find(|c| c.type_ == condition::READY);
        let at = ready.map(|c| c.last_transition_time.0);
        let status = ready.map(|c| c.status == condition::STATUS_TRUE);
        Self {
            kind,
            name: object.name_any(),
            namespace: object.namespace(),
            fired_by: None,
            agent: None,
            phase: None,
            ready: status,
            at,
            key: format!("{}/{status:?}/{at:?}", object.uid().unwrap_or_default()),
            data: json!({
                "kind": format!("{kind:?}"), "name": object.name_any(), "namespace": object.namespace(),
                "uid": object.uid(), "ready": status,
                "reason": ready.map(|c| &c.reason), "message": ready.map(|c| &c.message),
            }),
        }
    }
}

/// Fires the event triggers in `triggers` (the Trigger controller's store) that the changes of
/// Tasks, Agents and instances match, until `shutdown`.
pub async fn run(
    ctx: Arc<Context>,
    triggers: Store<Trigger>,
    shutdown: impl Future<Output = ()> + Send,
) {
    let observe = async {
        // Until the triggers are known, a change could be matched against none of them.
        if triggers.wait_until_ready().await.is_err() {
            return;
        }
        let config = watcher::Config::default;
        let changes = stream::select_all([
            watcher(ctx.api::<Task>(), config())
                .default_backoff()
                .applied_objects()
                .try_filter_map(|task| futures::future::ready(Ok(Observed::from_task(task))))
                .boxed(),
            watcher(ctx.api::<Agent>(), config())
                .default_backoff()
                .applied_objects()
                .map_ok(|a| {
                    let conditions = a.status.clone().unwrap_or_default().conditions;
                    Observed::from_ready(WatchedKind::Agent, &a, &conditions)
                })
                .boxed(),
            watcher(ctx.api::<McpServerInstance>(), config())
                .default_backoff()
                .applied_objects()
                .map_ok(|i| {
                    let conditions = i.status.clone().unwrap_or_default().conditions;
                    Observed::from_ready(WatchedKind::McpServerInstance, &i, &conditions)
                })
                .boxed(),
        ]);
        let decided = Decided::default();
        changes
            .for_each(|change| async {
                match change {
                    Ok(observed) => fire_matching(&ctx, &triggers, &decided, &observed).await,
                    Err(error) => tracing::debug!(%error, "event trigger watch"),
                }
            })
            .await;
    };
    tokio::select! {
        _ = observe => {}
        _ = shutdown => {}
    }
}

async fn fire_matching(
    ctx: &Context,
    triggers: &Store<Trigger>,
    decided: &Decided,
    observed: &Observed,
) {
    let now = Timestamp::now();
    for trigger in triggers.state() {
        if matches(&trigger, observed, now) {
            fire(ctx, &trigger, decided, observed, now).await;
        }
    }
}

/// The firings (by the name of their Task) whose conditions held them back lately. A finished
/// Task is seen again at each change of it (and at a re-list), so one transition would be judged
/// and recorded as skipped again and again; a fired one is kept from that by its Task's name.
/// Forgotten after [`FRESHNESS`], when the transition no longer fires anyway. Per process: a
/// restart within those minutes may judge a transition once more.
#[derive(Default)]
struct Decided(std::sync::Mutex<std::collections::HashMap<String, Timestamp>>);

impl Decided {
    /// Whether `name` was held back within [`FRESHNESS`] of `now`.
    fn seen(&self, name: &str, now: Timestamp) -> bool {
        let mut held = crate::sync::lock(&self.0);
        held.retain(|_, at| now.duration_since(*at) <= FRESHNESS);
        held.contains_key(name)
    }

    fn held_back(&self, name: String, now: Timestamp) {
        crate::sync::lock(&self.0).insert(name, now);
    }
}

/// Whether `observed` is a change that `trigger` fires on.
pub fn matches(trigger: &Trigger, observed: &Observed, now: Timestamp) -> bool {
    let Some(filter) = trigger.spec.event.as_ref().filter(|_| trigger.spec.enabled) else {
        return false;
    };
    let Some(at) = observed.at else {
        return false;
    };
    let created = trigger
        .metadata
        .creation_timestamp
        .as_ref()
        .map_or(now, |t| t.0);
    let fresh = at.as_second() >= created.as_second() && now.duration_since(at) <= FRESHNESS;
    let same_place = filter.kind == observed.kind && trigger.namespace() == observed.namespace;
    let named = filter.name.as_ref().is_none_or(|n| *n == observed.name);
    let kind_matches = match observed.kind {
        WatchedKind::Task => {
            let phase = observed.phase;
            phase.is_some()
                && observed.fired_by.as_deref() != Some(trigger.name_any().as_str())
                && filter
                    .agent
                    .as_ref()
                    .is_none_or(|a| Some(a) == observed.agent.as_ref())
                && (filter.phases.is_empty()
                    || filter.phases.iter().any(|p| Some(task_phase(*p)) == phase))
        }
        WatchedKind::Agent | WatchedKind::McpServerInstance => {
            observed.ready.is_some() && filter.ready.is_none_or(|want| Some(want) == observed.ready)
        }
    };
    fresh && same_place && named && kind_matches
}

fn task_phase(phase: WatchedTaskPhase) -> TaskPhase {
    match phase {
        WatchedTaskPhase::Succeeded => TaskPhase::Succeeded,
        WatchedTaskPhase::Failed => TaskPhase::Failed,
        WatchedTaskPhase::Cancelled => TaskPhase::Cancelled,
    }
}

async fn fire(
    ctx: &Context,
    trigger: &Trigger,
    decided: &Decided,
    observed: &Observed,
    now: Timestamp,
) {
    let name = trigger.task_name_for(&observed.key);
    if decided.seen(&name, now) {
        return;
    }
    let firing = Firing::Event {
        event: observed.data.clone(),
    };
    let now_text = now.to_string();
    let decision = judge::decide(ctx, trigger, &trigger.firing_context(&firing, &now_text)).await;
    let namespace = trigger.namespace().unwrap_or_default();
    if !decision.matched {
        decided.held_back(name, now);
        hold_back(ctx, trigger, observed, &namespace, decision.reason, now).await;
        return;
    }
    let task = trigger.decided_task(&firing, &now_text, Some(name.clone()), &decision);
    let api: Api<Task> = Api::namespaced(ctx.client.clone(), &namespace);
    match api.create(&PostParams::default(), &task).await {
        Ok(_) => {
            ctx.metrics.triggers.fired("event", "fired");
            tracing::info!(trigger = %trigger.name_any(), task = %name, "event trigger fired")
        }
        Err(kube::Error::Api(status)) if status.is_already_exists() => {}
        Err(error) => {
            ctx.metrics.triggers.fired("event", "error");
            let message = format!(
                "could not create task {name} for {:?} {}: {error}",
                observed.kind, observed.name
            );
            ctx.event(trigger, EventType::Warning, reasons::FIRING_FAILED, message)
                .await;
        }
    }
}

/// Records an event the trigger's conditions held back among its skipped firings, with an
/// Event saying why.
async fn hold_back(
    ctx: &Context,
    trigger: &Trigger,
    observed: &Observed,
    namespace: &str,
    reason: String,
    now: Timestamp,
) {
    ctx.metrics.triggers.fired("event", "skipped");
    let why = format!("{:?} {}: {reason}", observed.kind, observed.name);
    let api: Api<Trigger> = Api::namespaced(ctx.client.clone(), namespace);
    let entry = skipped(Time(now), why.clone());
    if let Err(error) = record_skipped_firings(&api, trigger, &[entry]).await {
        tracing::warn!(%error, trigger = %trigger.name_any(), "could not record a skipped event");
    }
    ctx.event(trigger, EventType::Normal, reasons::SKIPPED, why)
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentarea_crds::TriggerSpec;
    use agentarea_crds::trigger::EventTrigger;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn trigger(filter: EventTrigger, created: Timestamp) -> Trigger {
        let mut trigger = Trigger::new(
            "on-done",
            TriggerSpec {
                agent: "reporter".into(),
                enabled: true,
                failure_threshold: 5,
                event: Some(filter),
                ..TriggerSpec::default()
            },
        );
        trigger.metadata.namespace = Some("ws".into());
        trigger.metadata.creation_timestamp = Some(Time(created));
        trigger
    }

    fn task_done(agent: &str, phase: TaskPhase, at: Timestamp) -> Observed {
        Observed {
            kind: WatchedKind::Task,
            name: "t1".into(),
            namespace: Some("ws".into()),
            fired_by: None,
            agent: Some(agent.into()),
            phase: Some(phase),
            ready: None,
            at: Some(at),
            key: "uid/Succeeded".into(),
            data: json!({}),
        }
    }

    fn on_success_of(agent: &str) -> EventTrigger {
        EventTrigger {
            kind: WatchedKind::Task,
            name: None,
            agent: Some(agent.into()),
            phases: vec![WatchedTaskPhase::Succeeded],
            ready: None,
        }
    }

    #[test]
    fn a_task_of_the_agent_reaching_the_phase_fires() {
        let now = Timestamp::now();
        let created = now - SignedDuration::from_secs(60);
        let t = trigger(on_success_of("writer"), created);
        assert!(matches(
            &t,
            &task_done("writer", TaskPhase::Succeeded, now),
            now
        ));
        assert!(!matches(
            &t,
            &task_done("writer", TaskPhase::Failed, now),
            now
        ));
        assert!(!matches(
            &t,
            &task_done("other", TaskPhase::Succeeded, now),
            now
        ));
    }

    #[test]
    fn old_transitions_own_tasks_and_disabled_triggers_do_not_fire() {
        let now = Timestamp::now();
        let created = now - SignedDuration::from_secs(3600);
        let t = trigger(on_success_of("writer"), created);
        let stale = task_done(
            "writer",
            TaskPhase::Succeeded,
            now - SignedDuration::from_secs(1000),
        );
        assert!(!matches(&t, &stale, now), "older than the freshness window");
        let before_trigger = trigger(on_success_of("writer"), now);
        let earlier = task_done(
            "writer",
            TaskPhase::Succeeded,
            now - SignedDuration::from_secs(10),
        );
        assert!(
            !matches(&before_trigger, &earlier, now),
            "before the trigger existed"
        );
        let mut own = task_done("writer", TaskPhase::Succeeded, now);
        own.fired_by = Some("on-done".into());
        assert!(
            !matches(&t, &own, now),
            "a trigger never fires on its own tasks"
        );
        let mut disabled = t.clone();
        disabled.spec.enabled = false;
        assert!(!matches(
            &disabled,
            &task_done("writer", TaskPhase::Succeeded, now),
            now
        ));
    }

    #[test]
    fn an_instance_becoming_unready_fires_a_ready_false_filter() {
        let now = Timestamp::now();
        let filter = EventTrigger {
            kind: WatchedKind::McpServerInstance,
            name: Some("github".into()),
            agent: None,
            phases: vec![],
            ready: Some(false),
        };
        let t = trigger(filter, now - SignedDuration::from_secs(60));
        let observed = |name: &str, ready: bool| Observed {
            kind: WatchedKind::McpServerInstance,
            name: name.into(),
            namespace: Some("ws".into()),
            fired_by: None,
            agent: None,
            phase: None,
            ready: Some(ready),
            at: Some(now),
            key: "k".into(),
            data: json!({}),
        };
        assert!(matches(&t, &observed("github", false), now));
        assert!(!matches(&t, &observed("github", true), now));
        assert!(!matches(&t, &observed("slack", false), now));
    }
}
