//! `/v1/webhooks/{webhook_id}`: the public endpoint of webhook triggers. It needs no bearer
//! token; [`crate::model::webhooks`] checks the signature its sender makes instead. Fetching
//! (the trigger, its secret) and acting (a Task, a skipped delivery) are here; deciding (the
//! signature, the validation rules, the conditions) is in the model and `agentarea_crds`.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::PostParams;
use kube::{Api, ResourceExt};

use agentarea_crds::trigger::conditions::{self, Decision};
use agentarea_crds::trigger::{Firing, skipped};
use agentarea_crds::{Task, Trigger};

use crate::audit;
use crate::auth::Identity;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::PathParams;
use crate::model::now;
use crate::model::webhooks::{
    Request, WebhookAccepted, method_allowed, method_name, optional_header, payload, reply,
    validate, verify,
};
use crate::state::AppState;
use crate::workspace::workspace_of;

pub fn router() -> Router<AppState> {
    // The methods a webhook trigger can allow (`allowed_methods`); others are the router's 405.
    Router::new().route(
        "/v1/webhooks/{webhook_id}",
        get(receive).post(receive).put(receive).patch(receive),
    )
}

/// Fire a webhook trigger. The request is checked as the trigger's `webhook_type` says its sender
/// signs it (`generic`: `X-AgentArea-Timestamp` and `X-AgentArea-Signature`; `github`:
/// `X-Hub-Signature-256`; `slack`: `X-Slack-Signature` and `X-Slack-Request-Timestamp`;
/// `stripe`: `Stripe-Signature`; `telegram`: `X-Telegram-Bot-Api-Secret-Token`; `discord`:
/// `X-Signature-Ed25519` and `X-Signature-Timestamp`); a request that fails is a 401 saying why.
/// A sender's handshake (GitHub's ping, Slack's `url_verification`, Discord's PING) is answered
/// 200 as the sender expects. A payload that breaks the trigger's `validation_rules` is a 422
/// naming the rule; one its `conditions` do not match is answered 200 `skipped`, recorded among
/// the trigger's executions, and starts nothing. The trigger's `allowed_methods` says which of
/// these methods it takes (405 for the others).
#[utoipa::path(method(get, post, put, patch), path = "/v1/webhooks/{webhook_id}", tag = "triggers", security(()), params(("webhook_id" = String, Path),
        ("X-AgentArea-Timestamp" = Option<String>, Header, description = "generic: unix seconds"),
        ("X-AgentArea-Signature" = Option<String>, Header, description = "generic: sha256=<hex HMAC of timestamp.body>")),
    request_body(content = Object, description = "Any payload; JSON is parsed for the input template and the conditions"),
    responses((status = 200, body = Object, description = "A sender's handshake answered, `{\"status\": \"skipped\", \"reason\": ...}`, or the interaction response a Discord interaction needs once taken (deferred)"),
              (status = 202, body = WebhookAccepted, description = "The task the delivery started; a delivery seen again (a retry, on any replica) answers the same task and starts none"), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 405, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub async fn receive(
    State(state): State<AppState>,
    PathParams(webhook_id): PathParams<String>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
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
    let key = secret_value(
        &workspace,
        &namespace,
        &webhook.secret_ref.name,
        &webhook.secret_ref.key,
    )
    .await?;
    let payload = payload(&body);
    let window = webhook.replay_window_seconds.max(1) as u64;
    let request = Request {
        headers: &headers,
        body: &body,
        payload: &payload,
        now: Timestamp::now().as_second(),
        window,
    };
    let verified = verify(webhook.webhook_type, &request, &key).map_err(ApiError::unauthorized)?;
    let identity = verified.identity();
    // What the sender needs to hear once the delivery is taken, in place of our answer (a
    // Discord interaction's deferred response).
    let sender_reply = reply(webhook.webhook_type, &payload);
    if let Some(answer) = verified.handshake {
        return Ok((StatusCode::OK, Json(answer)).into_response());
    }
    if !trigger.spec.enabled {
        return Err(ApiError::conflict("Trigger is disabled"));
    }
    let header = |name: &str| optional_header(&headers, name);
    validate(webhook.validation_rules.as_ref(), header, &body, &payload)
        .map_err(ApiError::unprocessable)?;
    let now = now();
    let firing = Firing::Webhook {
        payload,
        delivery: verified.delivery,
    };
    let decision = decide(&trigger, &firing, &now);
    if !decision.matched {
        // Recorded as the trigger's workspace: the skip is the sender's doing, as a Task is.
        let triggers = Api::<Trigger>::namespaced(workspace, &namespace);
        let time = Time(now.parse().unwrap_or_else(|_| Timestamp::now()));
        let entry = skipped(time, decision.reason.clone());
        // The decision stands without its record: a sender answered 5xx or 409 would send the
        // delivery again, to be skipped again. A record that fails (the trigger's status kept
        // changing under it, the apiserver down) is logged.
        let recorded = state.skipped_firings.record(&triggers, &trigger, entry);
        if let Err(error) = recorded.await {
            tracing::warn!(%error, trigger = %trigger.name_any(), "a skipped delivery was not recorded");
        }
        if let Some(reply) = sender_reply {
            return Ok((StatusCode::OK, Json(reply)).into_response());
        }
        let skipped = WebhookAccepted::skipped(decision.reason);
        return Ok((StatusCode::OK, Json(skipped)).into_response());
    }
    // Named after the delivery: its retry or replay, on any replica and after any restart, is the
    // apiserver's AlreadyExists, answered with the Task the first arrival started.
    let name = identity.map(|identity| trigger.task_name_for(&identity));
    let task = trigger.decided_task(&firing, &now, name.clone(), &decision);
    let tasks = Api::<Task>::namespaced(workspace, &namespace);
    let created = match (tasks.create(&PostParams::default(), &task).await, &name) {
        (Ok(created), _) => {
            // A signed call proves the key, not a person: the trigger is the writer.
            let sender = Identity {
                subject: format!("webhook:{}", trigger.name_any()),
                workspace: workspace_of(&namespace),
            };
            audit::written(&sender, audit::Verb::Create, &created);
            created
        }
        (Err(kube::Error::Api(status)), Some(name)) if status.reason == "AlreadyExists" => {
            tasks.get(name).await?
        }
        (Err(error), _) => return Err(error.into()),
    };
    if let Some(reply) = sender_reply {
        return Ok((StatusCode::OK, Json(reply)).into_response());
    }
    let accepted = WebhookAccepted::new(created.uid().unwrap_or_default());
    Ok((StatusCode::ACCEPTED, Json(accepted)).into_response())
}

/// Whether the trigger's conditions let `firing` start a Task. Conditions a trigger applied with
/// kubectl got wrong, or natural-language ones (which the api does not put a model call in front
/// of a sender's answer for), hold the firing back, saying so.
fn decide(trigger: &Trigger, firing: &Firing, now: &str) -> Decision {
    let refused = |reason: String| Decision {
        matched: false,
        reason,
    };
    match conditions::parse(trigger.spec.conditions.as_ref()) {
        Err(error) => refused(error),
        Ok(condition) if !conditions::llm_conditions(&condition).is_empty() => refused(
            "natural-language conditions are not evaluated for webhook triggers; use rule conditions".into(),
        ),
        Ok(condition) => {
            conditions::evaluate(&condition, &trigger.firing_context(firing, now), &[])
        }
    }
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

async fn secret_value(
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
