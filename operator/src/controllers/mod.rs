//! One controller per kind. Each is level-triggered: it reads the world, applies what should be,
//! writes status through [`crate::status::apply_status`], and says when to look again.

pub mod agent;
pub mod mcp_server_instance;
pub mod skill;
pub mod task;
pub mod trigger;

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::runtime::controller::{self, Action};
use kube::runtime::events::EventType;
use kube::runtime::reflector;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{Controller, WatchStreamExt, predicates, watcher};
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tracing::Instrument;

use agentarea_crds::common::{condition, set_ready};

use crate::context::Context;
use crate::error::{Error, Result};
use crate::problem::{Problem, Readiness};

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

/// The objects in `store` of `namespace` that `matches` picks: the mapper of a `watches` relation
/// ("which of mine name this object?").
pub fn in_namespace_where<K>(
    store: &Store<K>,
    namespace: &Option<String>,
    matches: impl Fn(&K) -> bool,
) -> Vec<ObjectRef<K>>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    store
        .state()
        .into_iter()
        .filter(|object| &object.namespace() == namespace && matches(object))
        .map(|object| ObjectRef::from_obj(&*object))
        .collect()
}

/// A Controller over `api` that reconciles an object when it appears and when its spec changes
/// (its `metadata.generation`), but not after its own status writes: each of those would
/// otherwise come back as a watch event and run the whole reconcile (for an MCP server instance,
/// a discovery against the tenant's server) a second time for nothing. What an object depends on
/// is watched separately (`owns`, `watches`), and periodic work asks to be requeued.
///
/// Not for Tasks: their runner reacts to status written by other replicas (claims).
pub fn spec_driven<K>(api: Api<K>) -> Controller<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let (reader, writer) = reflector::store();
    let changed = reflector::reflector(
        writer,
        watcher(api, watcher::Config::default().any_semantic()),
    )
    .default_backoff()
    .applied_objects()
    .predicate_filter(predicates::generation, Default::default());
    Controller::for_stream(changed, reader)
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
