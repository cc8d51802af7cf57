//! `/v1/webhooks/{webhook_id}`: the public endpoint of webhook triggers. It needs no bearer token;
//! instead every request is signed with the trigger's HMAC key:
//!
//! ```text
//! X-AgentArea-Timestamp: <unix seconds>
//! X-AgentArea-Signature: sha256=<hex of HMAC-SHA256(key, "<timestamp>.<body>")>
//! ```
//!
//! A timestamp outside the trigger's replay window, or a signature already seen inside it, is
//! refused, so a captured request cannot be replayed.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::routing::any;
use hmac::{Hmac, KeyInit, Mac};
use k8s_openapi::api::core::v1::Secret;
use kube::api::PostParams;
use kube::{Api, ResourceExt};
use serde::Serialize;
use serde_json::Value;
use sha2::Sha256;
use utoipa::ToSchema;

use agentarea_crds::trigger::{Firing, HttpMethod};
use agentarea_crds::{Task, Trigger};

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::state::AppState;

pub const TIMESTAMP_HEADER: &str = "x-agentarea-timestamp";
pub const SIGNATURE_HEADER: &str = "x-agentarea-signature";

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/webhooks/{webhook_id}", any(receive))
}

#[derive(Serialize, Debug, ToSchema)]
pub struct WebhookAccepted {
    pub status: String,
    pub task_id: String,
}

/// Signatures seen recently, to refuse a replay inside the window.
#[derive(Default)]
pub struct SeenSignatures(Mutex<HashMap<String, Instant>>);

impl SeenSignatures {
    /// Records `signature`; false if it was already seen within `window`.
    fn first_time(&self, signature: &str, window: Duration) -> bool {
        let mut seen = self.0.lock().unwrap();
        let now = Instant::now();
        seen.retain(|_, at| now.duration_since(*at) < window);
        seen.insert(signature.to_string(), now).is_none()
    }
}

/// Fire a webhook trigger: verifies the signature and creates a task from the payload.
#[utoipa::path(post, path = "/v1/webhooks/{webhook_id}", tag = "triggers", params(("webhook_id" = String, Path),
        ("X-AgentArea-Timestamp" = String, Header, description = "Unix seconds"),
        ("X-AgentArea-Signature" = String, Header, description = "sha256=<hex HMAC of timestamp.body>")),
    request_body(content = Object, description = "Any payload; JSON is parsed for the input template"),
    responses((status = 202, body = WebhookAccepted), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 405, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn receive(
    State(state): State<AppState>,
    Path(webhook_id): Path<String>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<WebhookAccepted>)> {
    let trigger = state
        .triggers
        .all()
        .into_iter()
        .find(|t| {
            t.spec
                .webhook
                .as_ref()
                .is_some_and(|w| w.webhook_id == webhook_id)
        })
        .ok_or_else(|| ApiError::not_found("Webhook not found"))?;
    let webhook = trigger.spec.webhook.as_ref().expect("found by its webhook");
    if !webhook
        .allowed_methods
        .iter()
        .any(|m| method_matches(*m, &method))
    {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("Method {method} not allowed for this webhook"),
        ));
    }
    let namespace = trigger.namespace().unwrap_or_default();
    let key = hmac_key(
        &state,
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
    let payload: Value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    let task = create_task(&state, &trigger, &namespace, payload).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(WebhookAccepted {
            status: "accepted".into(),
            task_id: task.uid().unwrap_or_default(),
        }),
    ))
}

fn method_matches(allowed: HttpMethod, method: &Method) -> bool {
    matches!(
        (allowed, method.as_str()),
        (HttpMethod::Get, "GET")
            | (HttpMethod::Post, "POST")
            | (HttpMethod::Put, "PUT")
            | (HttpMethod::Patch, "PATCH")
    )
}

async fn hmac_key(state: &AppState, namespace: &str, name: &str, key: &str) -> ApiResult<Vec<u8>> {
    let secret = Api::<Secret>::namespaced(state.client.clone(), namespace)
        .get_opt(name)
        .await?
        .ok_or_else(|| ApiError::service_unavailable("The webhook's signing secret is missing"))?;
    secret
        .data
        .and_then(|mut data| data.remove(key))
        .map(|bytes| bytes.0)
        .ok_or_else(|| ApiError::service_unavailable("The webhook's signing secret has no key"))
}

/// Checks the timestamp and the signature; returns the signature for replay detection.
pub fn verify(headers: &HeaderMap, body: &[u8], key: &[u8], window: Duration) -> ApiResult<String> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| ApiError::unauthorized(format!("Missing {name} header")))
    };
    let timestamp = header(TIMESTAMP_HEADER)?;
    let signature = header(SIGNATURE_HEADER)?;
    let sent: i64 = timestamp
        .parse()
        .map_err(|_| ApiError::unauthorized("X-AgentArea-Timestamp must be unix seconds"))?;
    let now = k8s_openapi::jiff::Timestamp::now().as_second();
    if (now - sent).unsigned_abs() > window.as_secs() {
        return Err(ApiError::unauthorized(
            "Request timestamp is outside the replay window",
        ));
    }
    let hex_signature = signature
        .strip_prefix("sha256=")
        .ok_or_else(|| ApiError::unauthorized("X-AgentArea-Signature must be sha256=<hex>"))?;
    let given =
        hex::decode(hex_signature).map_err(|_| ApiError::unauthorized("Signature is not hex"))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&given)
        .map_err(|_| ApiError::unauthorized("Invalid signature"))?;
    Ok(signature.to_string())
}

/// Signs `body` as a sender must (used by clients, tests and the README's example).
pub fn sign(key: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn create_task(
    state: &AppState,
    trigger: &Trigger,
    namespace: &str,
    payload: Value,
) -> ApiResult<Task> {
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    let task = trigger.firing_task(&Firing::Webhook { payload }, &now, None);
    let created = Api::<Task>::namespaced(state.client.clone(), namespace)
        .create(&PostParams::default(), &task)
        .await?;
    Ok(created)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_request_verifies_and_a_tampered_one_does_not() {
        let key = b"k3y";
        let now = k8s_openapi::jiff::Timestamp::now().as_second();
        let mut headers = HeaderMap::new();
        headers.insert(TIMESTAMP_HEADER, now.to_string().parse().unwrap());
        headers.insert(SIGNATURE_HEADER, sign(key, now, b"{}").parse().unwrap());
        assert!(verify(&headers, b"{}", key, Duration::from_secs(300)).is_ok());
        assert!(verify(&headers, b"{\"x\":1}", key, Duration::from_secs(300)).is_err());
        assert!(verify(&headers, b"{}", b"other", Duration::from_secs(300)).is_err());
    }

    #[test]
    fn old_timestamps_are_refused() {
        let key = b"k3y";
        let then = k8s_openapi::jiff::Timestamp::now().as_second() - 3600;
        let mut headers = HeaderMap::new();
        headers.insert(TIMESTAMP_HEADER, then.to_string().parse().unwrap());
        headers.insert(SIGNATURE_HEADER, sign(key, then, b"{}").parse().unwrap());
        let error = verify(&headers, b"{}", key, Duration::from_secs(300)).unwrap_err();
        assert!(error.detail.contains("replay window"));
    }
}
