//! One controller per kind. Each is level-triggered: it reads the world, applies what should be,
//! writes status through [`crate::status::apply_status`], and says when to look again.
//!
//! | module | what |
//! | --- | --- |
//! | [`agent`] | Agents: what they name, resolved into the tools the model is offered |
//! | [`mcp_server_instance`] | MCP server instances: managed, remote and compound |
//! | [`skill`] | Skills: whether the tools they need are offered, and which agents use them |
//! | [`task`] | Tasks: claimed and run on any replica, continued, cancelled, cleaned up |
//! | [`trigger`] | Triggers: schedules and events fired as Tasks, every firing recorded |
//! | [`watch`] | what a controller watches, and which events wake a reconcile |
//!
//! What every controller shares is here: running a controller ([`run_observed`]), its readiness
//! and the Events about it, and (re-exported from [`watch`]) its watches.

pub mod agent;
pub mod mcp_server_instance;
pub mod skill;
pub mod task;
pub mod trigger;
pub mod watch;

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::runtime::Controller;
use kube::runtime::controller::{self, Action};
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use tracing::Instrument;

use agentarea_crds::common::{condition, set_ready};

use crate::context::Context;
use crate::error::{Error, Result};
use crate::problem::{Problem, Readiness};

pub use watch::{
    FirstSight, in_namespace_where, keyed_changes, spec_driven, stored_watch, trim_for_controller,
};

/// Publishes an Event when the Ready condition changes status or reason, so that
/// `kubectl describe` tells what happened and when, without an event on every reconcile.
pub async fn announce_ready_transition<K: Resource<DynamicType = ()>>(
    ctx: &Context,
    object: &K,
    before: &[Condition],
    after: &[Condition],
) {
    let ready = |conditions: &[Condition]| {
        conditions
            .iter()
            .find(|c| c.type_ == condition::READY)
            .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
    };
    let Some((status, reason, message)) = ready(after) else {
        return;
    };
    if ready(before).is_some_and(|(s, r, _)| s == status && r == reason) {
        return;
    }
    let type_ = if status == condition::STATUS_TRUE {
        EventType::Normal
    } else {
        EventType::Warning
    };
    ctx.event(object, type_, &reason, message).await;
}

/// What a controller's reconcile is handed: the shared [`Context`], or a state that holds it.
pub trait HasContext: Send + Sync + 'static {
    fn context(&self) -> &Context;
}

impl HasContext for Context {
    fn context(&self) -> &Context {
        self
    }
}

/// Runs `controller` with `reconcile` until its shutdown signal, the one way every controller
/// runs: at most `--reconcile-concurrency` reconciles at once; each one timed, counted and traced;
/// a success forgets the object's failures; a failure is logged, counted by reason and retried
/// after the object's back-off.
pub async fn run_observed<K, S, F, Fut>(
    name: &'static str,
    controller: Controller<K>,
    reconcile: F,
    state: Arc<S>,
) where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    S: HasContext,
    F: Fn(Arc<K>, Arc<S>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Action>> + Send + 'static,
{
    let concurrency = state.context().config.reconcile_concurrency;
    let reconcile = Arc::new(reconcile);
    let observed = move |object: Arc<K>, state: Arc<S>| {
        let reconcile = reconcile.clone();
        let span = tracing::debug_span!("reconcile", controller = name, object = %ObjectRef::from_obj(&*object));
        async move {
            let metrics = &state.context().metrics.controllers;
            let _in_flight = metrics.start(name);
            let started = Instant::now();
            let result = reconcile(object.clone(), state.clone()).await;
            metrics.finished(
                name,
                object.meta().namespace.as_deref().unwrap_or_default(),
                started.elapsed(),
                result.as_ref().err().map(Error::reason),
            );
            if result.is_ok() {
                state.context().succeeded(name, &*object);
            }
            result
        }
        .instrument(span)
    };
    let retry = move |object: Arc<K>, error: &Error, state: Arc<S>| {
        tracing::warn!(controller = name, object = %ObjectRef::from_obj(&*object), %error, "reconcile failed");
        Action::requeue(state.context().backoff(name, &*object))
    };
    controller
        .with_config(controller::Config::default().concurrency(concurrency))
        .run(observed, retry, state)
        // Outcomes are already recorded above; the stream only has to be driven.
        .for_each(|_| futures::future::ready(()))
        .await;
}

/// Sets the `Ready` condition in `conditions` from the problems found.
pub fn set_readiness(
    conditions: &mut Vec<Condition>,
    problems: &[Problem],
    ready_message: String,
    generation: Option<i64>,
) {
    let readiness = Readiness::of(problems, ready_message);
    set_ready(
        conditions,
        readiness.ready,
        readiness.reason,
        readiness.message,
        generation,
    );
}

/// The objects of `api` that have one of `names`, by name; absent ones are left out. Read from
/// the apiserver, not a cache: a reconcile sees what was written before it, as a user expects
/// right after creating what an object names.
pub async fn get_named<K>(api: &Api<K>, names: &[&str]) -> Result<HashMap<String, K>>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    let mut found = HashMap::new();
    for &name in names {
        if found.contains_key(name) {
            continue;
        }
        if let Some(object) = api.get_opt(name).await? {
            found.insert(name.to_string(), object);
        }
    }
    Ok(found)
}
