//! One controller per kind. Each is level-triggered: it reads the world, applies what should be,
//! writes status through [`crate::status::apply_status`], and says when to look again.

pub mod agent;
pub mod mcp_server_instance;
pub mod skill;
pub mod task;
pub mod trigger;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Resource, ResourceExt};

use agentarea_crds::common::condition;

use crate::context::Context;

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

/// The Ready condition's (status, reason, message) from the problems found: ready when there are
/// none; else the first problem's reason, and every problem's message, so that one look at
/// `kubectl describe` shows all that is missing.
pub fn readiness<'a>(
    problems: &'a [(&'static str, String)],
    ready_message: String,
) -> (bool, &'a str, String) {
    match problems.first() {
        None => (true, "Resolved", ready_message),
        Some((reason, _)) => (
            false,
            reason,
            problems
                .iter()
                .map(|(_, m)| m.as_str())
                .collect::<Vec<_>>()
                .join("; "),
        ),
    }
}
