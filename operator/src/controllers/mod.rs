//! One controller per kind. Each is level-triggered: it reads the world, applies what should be,
//! writes status through [`crate::status::apply_status`], and says when to look again.

pub mod agent;
pub mod mcp_server_instance;
pub mod skill;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::Resource;
use kube::runtime::events::EventType;

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
