//! A handshake-era call given up by `notifications/cancelled`.
//!
//! In the handshake era a client gives up a call by posting `notifications/cancelled` with the
//! call's request id, and keeps the call's stream open: there, a closed stream is not a
//! cancellation. Request ids are the client's own and repeat from client to client (each counts
//! from zero), so the endpoint answers `initialize` with an `Mcp-Session-Id` of its own making: a
//! random name that the api keeps nowhere and the client sends back with every request, which
//! tells one client's request 3 from another's. The Task of a call made under such a name is
//! labelled with a digest of the caller, the name and the request id ([`call_key`]). A
//! cancellation lists the caller's Tasks by that label from the apiserver, so whichever replica
//! it reaches finds the Task another replica created, and cancels those still running.
//!
//! A cancellation names nothing without a session name (the 2026-07-28 era, where a closed stream
//! cancels), and is scoped to its caller: no one can cancel another's call by guessing its ids.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use kube::ResourceExt;
use kube::api::ListParams;
use rmcp::model::RequestId;
use serde::Deserialize;
use serde::de::IgnoredAny;
use sha2::{Digest, Sha256};

use agentarea_crds::Task;

use crate::auth::Identity;
use crate::error::ApiError;
use crate::model::tasks::{cancel_patch, phase};
use crate::state::AppState;

/// The label a call's Task carries: [`call_key`] of the call.
pub const CALL_LABEL: &str = "agentarea.io/mcp-call";

/// The header that carries the session name.
pub const SESSION_HEADER: &str = "mcp-session-id";

/// The largest request body the endpoint reads (rmcp's own default).
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// What a POST to the endpoint carries, as far as cancellation is concerned.
#[derive(Debug, PartialEq)]
pub enum Posted {
    /// The handshake's opening request: its answer gets a session name.
    Initialize,
    /// A client giving up its request with this id.
    Cancelled(RequestId),
    /// Anything else (calls, other notifications, answers, batches, malformed bodies: rmcp
    /// answers those).
    Other,
}

#[derive(Deserialize)]
struct Envelope {
    method: Option<String>,
    id: Option<IgnoredAny>,
    params: Option<CancelledParams>,
}

#[derive(Deserialize)]
struct CancelledParams {
    #[serde(rename = "requestId")]
    request_id: Option<RequestId>,
}

/// What `body` carries.
pub fn posted(body: &[u8]) -> Posted {
    let Ok(envelope) = serde_json::from_slice::<Envelope>(body) else {
        return Posted::Other;
    };
    match (envelope.method.as_deref(), envelope.id.is_some()) {
        (Some("initialize"), true) => Posted::Initialize,
        (Some("notifications/cancelled"), false) => envelope
            .params
            .and_then(|p| p.request_id)
            .map_or(Posted::Other, Posted::Cancelled),
        _ => Posted::Other,
    }
}

/// The session name a request carries, if it carries a usable one.
pub fn session_of(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(SESSION_HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|name| !name.is_empty() && name.len() <= 128)
}

/// The label value of `caller`'s call `request` in `session`: a digest, so that the label says
/// nothing of the session name to those who can read the workspace's Tasks.
pub fn call_key(caller: &Identity, session: &str, request: &RequestId) -> String {
    let request = serde_json::to_string(request).unwrap_or_default();
    let mut digest = Sha256::new();
    for part in [&caller.workspace, &caller.subject, session, &request] {
        digest.update(part.as_bytes());
        digest.update([0]);
    }
    let hex: String = digest
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    hex[..40].to_string()
}

/// Names handshake sessions and carries out posted cancellations; every other request passes as
/// it came. Runs after authentication, which put the caller in the request's extensions.
pub async fn sessions_and_cancellations(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let Ok(body) = to_bytes(body, MAX_BODY_BYTES).await else {
        return ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            format!("an MCP message may be at most {MAX_BODY_BYTES} bytes"),
        )
        .into_response();
    };
    let seen = posted(&body);
    let caller = parts.extensions.get::<Identity>().cloned();
    if let (Posted::Cancelled(request_id), Some(caller), Some(session)) =
        (&seen, caller, session_of(&parts.headers))
    {
        let key = call_key(&caller, session, request_id);
        tokio::spawn(cancel_calls(state, caller, key));
    }
    let mut response = next.run(Request::from_parts(parts, Body::from(body))).await;
    if seen == Posted::Initialize && response.status().is_success() {
        let name = uuid::Uuid::new_v4().simple().to_string();
        if let Ok(name) = HeaderValue::from_str(&name) {
            response.headers_mut().insert(SESSION_HEADER, name);
        }
    }
    response
}

/// Cancels `caller`'s running Tasks labelled `key`.
async fn cancel_calls(state: AppState, caller: Identity, key: String) {
    let writer = state.writer::<Task>(&caller);
    let labelled = ListParams::default().labels(&format!("{CALL_LABEL}={key}"));
    let tasks = match writer.api.list(&labelled).await {
        Ok(tasks) => tasks.items,
        Err(error) => {
            tracing::warn!(%error, "could not find the task of a cancelled MCP call");
            return;
        }
    };
    for task in tasks.iter().filter(|t| !phase(t).is_finished()) {
        if let Err(error) = writer.merge_patch(&task.name_any(), &cancel_patch()).await {
            tracing::warn!(task = %task.name_any(), %error, "could not cancel the task of a cancelled MCP call");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_post_carries() {
        let cases: [(&str, Posted); 9] = [
            (
                r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{}}"#,
                Posted::Initialize,
            ),
            (
                r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":3,"reason":"timeout"}}"#,
                Posted::Cancelled(RequestId::Number(3)),
            ),
            (
                r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"a-7"}}"#,
                Posted::Cancelled(RequestId::String("a-7".into())),
            ),
            // A cancellation that names no request cancels nothing.
            (
                r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{}}"#,
                Posted::Other,
            ),
            // A request called so is not the notification.
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"notifications/cancelled","params":{"requestId":3}}"#,
                Posted::Other,
            ),
            // The handshake's opening is a request.
            (r#"{"jsonrpc":"2.0","method":"initialize"}"#, Posted::Other),
            (
                r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"helper","arguments":{"input":"hi"}}}"#,
                Posted::Other,
            ),
            (
                r#"[{"jsonrpc":"2.0","id":0,"method":"initialize"}]"#,
                Posted::Other,
            ),
            ("not json", Posted::Other),
        ];
        for (body, expected) in cases {
            assert_eq!(posted(body.as_bytes()), expected, "{body}");
        }
    }

    #[test]
    fn a_calls_key_tells_callers_sessions_and_requests_apart() {
        let ada = Identity {
            subject: "ada".into(),
            workspace: "lab".into(),
        };
        let eve = Identity {
            subject: "eve".into(),
            workspace: "lab".into(),
        };
        let three = RequestId::Number(3);
        let key = call_key(&ada, "s1", &three);
        assert_eq!(
            key,
            call_key(&ada, "s1", &three),
            "the same call, the same key"
        );
        assert_eq!(key.len(), 40);
        assert!(key.chars().all(|c| c.is_ascii_hexdigit()), "a label value");
        let others = [
            call_key(&eve, "s1", &three),
            call_key(&ada, "s2", &three),
            call_key(&ada, "s1", &RequestId::Number(4)),
            call_key(&ada, "s1", &RequestId::String("3".into())),
            // The parts are kept apart: moving a character across them changes the key.
            call_key(&ada, "s13", &RequestId::String("".into())),
        ];
        for other in others {
            assert_ne!(key, other);
        }
    }

    #[test]
    fn a_session_name_is_taken_only_when_usable() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(SESSION_HEADER, HeaderValue::from_str(value).unwrap());
            headers
        };
        assert_eq!(session_of(&with("abc")), Some("abc"));
        assert_eq!(session_of(&with("")), None);
        assert_eq!(session_of(&with(&"x".repeat(129))), None);
        assert_eq!(session_of(&HeaderMap::new()), None);
    }
}
