//! `/v1/webhooks/{webhook_id}`: the public endpoint of webhook triggers. It needs no bearer
//! token; [`crate::model::webhooks`] describes the signature it needs instead.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::routing::get;
use k8s_openapi::api::core::v1::Secret;
use kube::api::PostParams;
use kube::{Api, ResourceExt};

use agentarea_crds::trigger::Firing;
use agentarea_crds::{Task, Trigger};

use crate::audit;
use crate::auth::Identity;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::PathParams;
use crate::model::now;
use crate::model::webhooks::{WebhookAccepted, method_allowed, method_name, payload, verify};
use crate::state::AppState;
use crate::workspace::workspace_of;

pub fn router() -> Router<AppState> {
    // The methods a webhook trigger can allow (`allowed_methods`); others are the router's 405.
    Router::new().route(
        "/v1/webhooks/{webhook_id}",
        get(receive).post(receive).put(receive).patch(receive),
    )
}

/// Fire a webhook trigger: verifies the signature and creates a task from the payload. The
/// trigger's `allowed_methods` says which of these methods it takes (405 for the others).
#[utoipa::path(method(get, post, put, patch), path = "/v1/webhooks/{webhook_id}", tag = "triggers", security(()), params(("webhook_id" = String, Path),
        ("X-AgentArea-Timestamp" = String, Header, description = "Unix seconds"),
        ("X-AgentArea-Signature" = String, Header, description = "sha256=<hex HMAC of timestamp.body>")),
    request_body(content = Object, description = "Any payload; JSON is parsed for the input template"),
    responses((status = 202, body = WebhookAccepted), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 405, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn receive(
    State(state): State<AppState>,
    PathParams(webhook_id): PathParams<String>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<WebhookAccepted>)> {
    let trigger = find_webhook(&state, &webhook_id)?;
    let webhook = trigger.spec.webhook.as_ref().expect("found by its webhook");
    if !method_allowed(&webhook.allowed_methods, &method) {
        let allowed: Vec<&str> = webhook.allowed_methods.iter().map(method_name).collect();
        return Err(ApiError::method_not_allowed(
            format!("Method {method} not allowed for this webhook"),
            &allowed,
        ));
    }
    let namespace = trigger.namespace().unwrap_or_default();
    // Everything below acts as the trigger's workspace; a trigger applied with kubectl may be in a
    // namespace the api has not acted in yet.
    state.limits.admit_webhook(&namespace)?;
    state.workspaces.ensure_set_up(&namespace).await?;
    let workspace = state.acting_in(&namespace);
    let key = hmac_key(
        &workspace,
        &namespace,
        &webhook.secret_ref.name,
        &webhook.secret_ref.key,
    )
    .await?;
    let window = Duration::from_secs(webhook.replay_window_seconds.max(1) as u64);
    let signature = verify(&headers, &body, &key, window)?;
    if !state.webhook_signatures.first_time(&signature, window) {
        return Err(ApiError::unauthorized(
            "Replayed request: this signature was already used",
        ));
    }
    if !trigger.spec.enabled {
        return Err(ApiError::conflict("Trigger is disabled"));
    }
    let firing = Firing::Webhook {
        payload: payload(&body),
    };
    let task = trigger.firing_task(&firing, &now(), None);
    let created = Api::<Task>::namespaced(workspace, &namespace)
        .create(&PostParams::default(), &task)
        .await?;
    // A signed call proves the key, not a person: the trigger is the writer.
    let sender = Identity {
        subject: format!("webhook:{}", trigger.name_any()),
        workspace: workspace_of(&namespace),
    };
    audit::written(&sender, audit::Verb::Create, &created);
    let accepted = WebhookAccepted::new(created.uid().unwrap_or_default());
    Ok((StatusCode::ACCEPTED, Json(accepted)))
}

/// The trigger of `webhook_id`, in whichever workspace: the URL alone names it.
fn find_webhook(state: &AppState, webhook_id: &str) -> ApiResult<Arc<Trigger>> {
    state
        .triggers
        .all()
        .into_iter()
        .find(|t| {
            t.spec
                .webhook
                .as_ref()
                .is_some_and(|w| w.webhook_id == webhook_id)
        })
        .ok_or_else(|| ApiError::not_found("Webhook not found"))
}

async fn hmac_key(
    workspace: &kube::Client,
    namespace: &str,
    name: &str,
    key: &str,
) -> ApiResult<Vec<u8>> {
    let secret = Api::<Secret>::namespaced(workspace.clone(), namespace)
        .get_opt(name)
        .await?
        .ok_or_else(|| ApiError::service_unavailable("The webhook's signing secret is missing"))?;
    secret
        .data
        .and_then(|mut data| data.remove(key))
        .map(|bytes| bytes.0)
        .ok_or_else(|| ApiError::service_unavailable("The webhook's signing secret has no key"))
}
