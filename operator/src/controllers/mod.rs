//! One controller per kind. Each is level-triggered: it reads the world, applies what should be,
//! writes status through [`crate::status::apply_status`], and says when to look again.

pub mod agent;
pub mod mcp_server_instance;
pub mod skill;
pub mod task;
pub mod trigger;

use std::collections::HashMap;
use std::fmt::Debug;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;

use agentarea_crds::common::{condition, set_ready};

use crate::context::Context;
use crate::error::Result;
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

/// Logs the outcome of each reconcile of a running controller; failures are already handled by
/// the controller's error policy, so this only records them.
pub async fn log_outcomes<K, E>(
    kind: &'static str,
    results: impl futures::Stream<Item = Result<(ObjectRef<K>, Action), E>>,
) where
    K: Resource<DynamicType = ()>,
    E: std::fmt::Display,
{
    use futures::StreamExt;
    results
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "{kind} reconcile");
            }
        })
        .await;
}

/// The error policy every controller shares: log, and retry after the object's back-off.
pub fn retry_with_backoff<K>(
    object: std::sync::Arc<K>,
    error: &crate::error::Error,
    ctx: std::sync::Arc<Context>,
) -> Action
where
    K: Resource<DynamicType = ()>,
{
    tracing::warn!(kind = %K::kind(&()), name = %object.name_any(), %error, "reconcile failed");
    Action::requeue(ctx.backoff(&*object))
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
