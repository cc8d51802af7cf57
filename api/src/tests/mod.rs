//! In-process tests of the router, in the pattern of axum's `examples/testing`: each request goes
//! through `Router::oneshot`, with no listener and no apiserver. The caches hold what a test puts
//! in them and the kube client answers every call with a transport error, so these tests cover
//! what the api decides before it writes (auth, validation, pagination, scoping, error shapes,
//! streams of tasks already in the cache); `tests/tests/api.rs` covers the rest against a real
//! apiserver.

mod agentarea_clients;
mod auth;
mod conversions;
mod errors;
mod gitops;
mod metrics;
mod pagination;
mod streams;
mod validation;

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, Response, StatusCode, header};
use futures::StreamExt;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tower::ServiceExt;

use agentarea_crds::{Agent, McpServerInstance, Skill, Task, Trigger, reasons, steps};

use crate::auth::{AuthSettings, Authenticator, mint_hs256};
use crate::cache::ResourceCache;
use crate::run::{edge, router};
use crate::state::AppState;
use crate::workspace::namespace_for;

const SECRET: &str = "in-process-test-secret";

/// The workspace the tests call as.
const WORKSPACE: &str = "acme";
/// A workspace whose objects the caller must never see.
const OTHER_WORKSPACE: &str = "globex";

/// A kube client whose every call fails as if the apiserver were unreachable.
fn unreachable_client() -> kube::Client {
    let service = tower::service_fn(|_: Request<kube::client::Body>| async {
        Err::<Response<Body>, _>(std::io::Error::other("no apiserver in in-process tests"))
    });
    kube::Client::new(service, "default")
}

fn authenticator() -> Authenticator {
    Authenticator::new(AuthSettings {
        jwt_secret: Some(SECRET.into()),
        workspace_claim: "workspace".into(),
        ..AuthSettings::default()
    })
    .expect("HS256 settings")
}

/// The objects a test's caches hold.
#[derive(Default)]
struct Objects {
    agents: Vec<Agent>,
    skills: Vec<Skill>,
    mcp_server_instances: Vec<McpServerInstance>,
    triggers: Vec<Trigger>,
    tasks: Vec<Task>,
}

fn state_with(objects: Objects) -> AppState {
    let mut state = AppState::unstarted(unreachable_client(), authenticator());
    state.agents = ResourceCache::holding(objects.agents);
    state.skills = ResourceCache::holding(objects.skills);
    state.mcp_server_instances = ResourceCache::holding(objects.mcp_server_instances);
    state.triggers = ResourceCache::holding(objects.triggers);
    state.tasks = ResourceCache::holding(objects.tasks);
    state
}

/// The router as the api serves it: behind the edge (trailing slashes; no CORS origin listed).
fn app_with(objects: Objects) -> Router {
    edge(router(state_with(objects)), &[])
}

fn app() -> Router {
    app_with(Objects::default())
}

fn token_for(workspace: &str) -> String {
    mint_hs256(
        SECRET,
        "alice",
        "workspace",
        workspace,
        None,
        None,
        Duration::from_secs(3600),
    )
    .expect("token")
}

fn token() -> String {
    token_for(WORKSPACE)
}

/// A request with the caller's bearer token.
fn authed(method: &str, path: &str, token: &str) -> axum::http::request::Builder {
    Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
}

fn get(path: &str) -> Request<Body> {
    authed("GET", path, &token()).body(Body::empty()).unwrap()
}

fn send_json(method: &str, path: &str, body: &Value) -> Request<Body> {
    authed(method, path, &token())
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

fn post(path: &str, body: &Value) -> Request<Body> {
    send_json("POST", path, body)
}

/// The answer's status, headers and JSON body (`Null` when the body is not JSON).
async fn call(app: Router, request: Request<Body>) -> (StatusCode, HeaderMap, Value) {
    let response = app.oneshot(request).await.expect("the router answers");
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (parts.status, parts.headers, json)
}

/// Asserts the one error shape: `status`, and a `detail` that contains `detail`.
#[track_caller]
fn assert_error(answer: &(StatusCode, HeaderMap, Value), status: u16, detail: &str) {
    let (got, headers, body) = answer;
    assert_eq!(got.as_u16(), status, "body: {body}");
    assert_eq!(
        headers.get(header::CONTENT_TYPE).unwrap(),
        "application/json",
        "errors are JSON"
    );
    assert_eq!(body["status_code"], status, "{body}");
    let text = body["detail"].as_str().unwrap_or_else(|| panic!("{body}"));
    assert!(text.contains(detail), "detail {text:?} lacks {detail:?}");
    assert_eq!(
        body.as_object().unwrap().len(),
        2,
        "only detail and status_code: {body}"
    );
}

/// The SSE events of a response, read until the stream ends or stays quiet for a moment.
async fn sse_events(
    app: Router,
    request: Request<Body>,
) -> (StatusCode, Vec<(Option<String>, String, Value)>) {
    let response = app.oneshot(request).await.expect("the router answers");
    let status = response.status();
    let mut body = response.into_body().into_data_stream();
    let mut text = String::new();
    while let Ok(Some(Ok(chunk))) =
        tokio::time::timeout(Duration::from_millis(300), body.next()).await
    {
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    let events = text
        .split("\n\n")
        .filter_map(|block| {
            let field = |name: &str| {
                block
                    .lines()
                    .find_map(|line| line.strip_prefix(name).map(|v| v.trim().to_string()))
            };
            let event = field("event:")?;
            let data = serde_json::from_str(&field("data:")?).unwrap_or(Value::Null);
            Some((field("id:"), event, data))
        })
        .collect();
    (status, events)
}

/// An object of `kind` in `workspace`, named `name` with uid `uid-<name>`, made `second`
/// seconds into 2025 (lists are ordered by that), with `spec` and optionally `status`.
fn object<K: DeserializeOwned>(
    kind: &str,
    workspace: &str,
    name: &str,
    second: u32,
    spec: Value,
    status: Option<Value>,
) -> K {
    let mut object = json!({
        "apiVersion": "agentarea.io/v1alpha1",
        "kind": kind,
        "metadata": {
            "name": name,
            "namespace": namespace_for(workspace),
            "uid": format!("uid-{name}"),
            "resourceVersion": "1",
            "annotations": {
                "agentarea.io/created-at": format!("2025-01-01T00:{:02}:{:02}Z", second / 60, second % 60),
                "agentarea.io/created-by": "alice",
            },
        },
        "spec": spec,
    });
    if let Some(status) = status {
        object["status"] = status;
    }
    serde_json::from_value(object).unwrap_or_else(|e| panic!("a {kind} fixture: {e}"))
}

fn agent(workspace: &str, name: &str, second: u32) -> Agent {
    object(
        "Agent",
        workspace,
        name,
        second,
        json!({ "instruction": "Be brief.", "model": { "name": "m" } }),
        None,
    )
}

fn task(workspace: &str, name: &str, agent: &str, status: Option<Value>) -> Task {
    object(
        "Task",
        workspace,
        name,
        0,
        json!({ "agent": agent, "input": "do it" }),
        status,
    )
}

/// A finished task's status with `steps` run steps: `seq` 1..=steps, model calls at odd numbers
/// and tool calls at even ones.
fn finished(steps: i64) -> Value {
    let steps: Vec<Value> = (1..=steps)
        .map(|seq| {
            json!({
                "seq": seq,
                "time": "2025-01-01T00:00:00Z",
                "type": if seq % 2 == 0 { steps::TOOL_CALL_COMPLETED } else { steps::LLM_CALL_COMPLETED },
                "message": format!("step {seq}"),
            })
        })
        .collect();
    json!({ "phase": "Succeeded", "reason": reasons::COMPLETED, "result": "done", "steps": steps })
}

fn webhook_trigger(workspace: &str, name: &str, agent: &str, webhook_id: &str) -> Trigger {
    object(
        "Trigger",
        workspace,
        name,
        0,
        json!({
            "agent": agent,
            "webhook": {
                "webhookId": webhook_id,
                "secretRef": { "name": format!("{name}-webhook"), "key": "hmac-key" },
            },
        }),
        None,
    )
}
