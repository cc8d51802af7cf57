//! The api as AgentArea's own clients call it (its CLI and frontend, agentarea/agentarea at
//! 9ad0312): every route with a trailing slash as without, the status route, `result` as an
//! object, the action routes' bodies and codes, and CORS for listed origins only.
//! `tests/tests/agentarea_clients.rs` drives the same against a real apiserver, with writes.

use axum::body::Body;
use axum::http::{HeaderValue, header};
use serde_json::json;

use super::*;

fn running() -> Value {
    json!({ "phase": "Running", "executionId": "exec-1", "startTime": "2026-01-01T00:00:00Z" })
}

fn done() -> Value {
    let mut status = finished(2);
    status["executionId"] = json!("exec-2");
    status["startTime"] = json!("2026-01-01T00:00:00Z");
    status["completionTime"] = json!("2026-01-01T00:00:04Z");
    status["usage"] = json!({ "promptTokens": 10, "completionTokens": 5, "totalTokens": 15 });
    status
}

fn failed() -> Value {
    json!({
        "phase": "Failed", "reason": reasons::MODEL_ERROR, "message": "the model endpoint refused the key",
        "startTime": "2026-01-01T00:00:00Z", "completionTime": "2026-01-01T00:00:01Z",
    })
}

fn paused_task() -> Task {
    object(
        "Task",
        WORKSPACE,
        "task-paused",
        0,
        json!({ "agent": "helper", "input": "do it", "paused": true }),
        Some(json!({ "phase": "Paused", "startTime": "2026-01-01T00:00:00Z" })),
    )
}

fn objects() -> Objects {
    Objects {
        agents: vec![agent(WORKSPACE, "helper", 1)],
        tasks: vec![
            task(WORKSPACE, "task-1", "helper", Some(running())),
            task(WORKSPACE, "task-done", "helper", Some(done())),
            task(WORKSPACE, "task-failed", "helper", Some(failed())),
            paused_task(),
        ],
        ..Objects::default()
    }
}

fn request(method: &str, path: &str) -> Request<Body> {
    let builder = authed(method, path, &token());
    if method == "GET" || method == "DELETE" {
        builder.body(Body::empty()).unwrap()
    } else {
        builder
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{}"))
            .unwrap()
    }
}

/// `value` without the fields that change from one answer to the next (a running task's elapsed
/// time).
fn steady(mut value: Value) -> Value {
    if let Some(object) = value.as_object_mut() {
        object.remove("execution_time");
    }
    value
}

/// Every documented path and method answers the same with a trailing slash (as AgentArea's
/// clients write it) as without: same status, same body.
#[tokio::test]
async fn every_route_answers_the_same_with_a_trailing_slash() {
    let document = crate::docs::document();
    let app = app_with(objects());
    let (mut compared, mut succeeded) = (0, 0);
    for (template, item) in document["paths"].as_object().unwrap() {
        let path = template
            .replace("{agent_id}", "helper")
            .replace("{task_id}", "task-1")
            .replace("{webhook_id}", "some-hook")
            .replace(
                "{id}",
                if template.starts_with("/v1/tasks") {
                    "task-1"
                } else {
                    "helper"
                },
            );
        for method in ["get", "put", "post", "delete", "patch"] {
            let Some(operation) = item.get(method) else {
                continue;
            };
            // An event stream of a running task does not end; its routing is the same as any.
            let streams = operation["responses"]["200"]["content"]
                .get("text/event-stream")
                .is_some();
            if streams {
                continue;
            }
            let method = method.to_uppercase();
            let bare = call(app.clone(), request(&method, &path)).await;
            let slashed = call(app.clone(), request(&method, &format!("{path}/"))).await;
            assert_eq!(bare.0, slashed.0, "{method} {path}/: {}", slashed.2);
            assert_eq!(steady(bare.2), steady(slashed.2), "{method} {path}/");
            compared += 1;
            succeeded += usize::from(bare.0.is_success());
        }
    }
    assert!(compared >= 50, "only {compared} operations compared");
    assert!(succeeded >= 10, "only {succeeded} answered 2xx");
}

#[tokio::test]
async fn a_query_survives_the_trailing_slash() {
    let (status, headers, body) =
        call(app_with(objects()), get("/v1/agents/helper/tasks/?limit=1")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body.as_array().unwrap().len(), 1);
    assert_eq!(headers["x-total-count"], "4");
}

#[tokio::test]
async fn a_finished_task_has_its_result_as_an_object() {
    let (status, _, body) = call(app_with(objects()), get("/v1/tasks/task-done")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["success"], true);
    assert_eq!(body["result"]["final_response"], "done");
    assert_eq!(body["result"]["output"], "done");
    assert_eq!(body["result"]["error_message"], Value::Null);
    assert_eq!(body["result"]["execution_duration_seconds"], 4.0);

    let (_, _, failed) = call(app_with(objects()), get("/v1/tasks/task-failed")).await;
    assert_eq!(failed["result"]["success"], false);
    assert_eq!(failed["result"]["final_response"], Value::Null);
    assert_eq!(
        failed["result"]["error_message"],
        "the model endpoint refused the key"
    );

    let (_, _, running) = call(app_with(objects()), get("/v1/tasks/task-1")).await;
    assert_eq!(running["result"], Value::Null);
}

#[tokio::test]
async fn the_status_route_answers_as_agentarea_clients_read_it() {
    for path in [
        "/v1/agents/helper/tasks/task-done/status",
        "/v1/tasks/task-done/status",
    ] {
        let (status, _, body) = call(app_with(objects()), get(path)).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(body["task_id"], "uid-task-done", "{body}");
        assert_eq!(body["agent_id"], "uid-helper");
        assert_eq!(body["execution_id"], "exec-2");
        assert_eq!(body["status"], "completed");
        assert_eq!(body["start_time"], "2026-01-01T00:00:00Z");
        assert_eq!(body["end_time"], "2026-01-01T00:00:04Z");
        assert_eq!(body["execution_time"], 4.0);
        assert_eq!(body["error"], Value::Null);
        assert_eq!(body["result"]["final_response"], "done");
        assert_eq!(body["usage_metadata"]["totalTokens"], 15);
    }
    let (_, _, failed) = call(
        app_with(objects()),
        get("/v1/agents/helper/tasks/task-failed/status"),
    )
    .await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["error"], "the model endpoint refused the key");
    let (_, _, running) = call(app_with(objects()), get("/v1/tasks/task-1/status")).await;
    assert_eq!(running["status"], "running");
    assert!(running["execution_time"].as_f64().unwrap() > 0.0);
    assert_eq!(running["end_time"], Value::Null);
}

/// AgentArea's refusals on its per-agent action routes (the writes themselves need an apiserver:
/// `tests/tests/agentarea_clients.rs`).
#[tokio::test]
async fn the_action_routes_refuse_as_agentarea_does() {
    let cases = [
        (
            "DELETE",
            "task-done",
            404,
            "Task not found or already completed",
        ),
        (
            "POST",
            "task-done/pause",
            400,
            "Cannot pause task in 'completed' state",
        ),
        (
            "POST",
            "task-failed/resume",
            400,
            "Cannot resume task in 'failed' state",
        ),
        ("POST", "task-paused/pause", 400, "Task is already paused"),
        (
            "POST",
            "task-1/resume",
            400,
            "Cannot resume task that is not paused (current status: running)",
        ),
    ];
    for (method, rest, status, detail) in cases {
        let path = format!("/v1/agents/helper/tasks/{rest}");
        let answer = call(app_with(objects()), request(method, &path)).await;
        assert_error(&answer, status, detail);
    }
}

const LISTED: &str = "https://console.example.com";

fn app_with_cors() -> Router {
    let origins = [HeaderValue::from_static(LISTED)];
    edge(router(state_with(objects())), &origins)
}

fn preflight(origin: &str) -> Request<Body> {
    Request::builder()
        .method("OPTIONS")
        .uri("/v1/agents/")
        .header(header::ORIGIN, origin)
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .header(
            header::ACCESS_CONTROL_REQUEST_HEADERS,
            "authorization,content-type",
        )
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn a_listed_origin_is_answered_with_credentials_and_a_cached_preflight() {
    let (status, headers, _) = call(app_with_cors(), preflight(LISTED)).await;
    assert!(status.is_success(), "{status}");
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], LISTED);
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
    assert_eq!(headers[header::ACCESS_CONTROL_MAX_AGE], "3600");
    let methods = headers[header::ACCESS_CONTROL_ALLOW_METHODS]
        .to_str()
        .unwrap();
    assert!(
        methods.contains("POST") && methods.contains("PATCH"),
        "{methods}"
    );
    let allowed = headers[header::ACCESS_CONTROL_ALLOW_HEADERS]
        .to_str()
        .unwrap();
    assert!(allowed.contains("authorization"), "{allowed}");
    // A browser-based MCP client of /v1/mcp sends MCP's headers and reads its session name.
    for mcp in [
        "mcp-protocol-version",
        "mcp-session-id",
        "mcp-method",
        "mcp-name",
    ] {
        assert!(allowed.contains(mcp), "{mcp}: {allowed}");
    }

    let mut request = get("/v1/agents");
    request
        .headers_mut()
        .insert(header::ORIGIN, HeaderValue::from_static(LISTED));
    let (status, headers, _) = call(app_with_cors(), request).await;
    assert_eq!(status, 200);
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], LISTED);
    let exposed = headers[header::ACCESS_CONTROL_EXPOSE_HEADERS]
        .to_str()
        .unwrap();
    assert!(exposed.contains("x-total-count"), "{exposed}");
    assert!(exposed.contains("mcp-session-id"), "{exposed}");
    assert!(headers[header::VARY].to_str().unwrap().contains("origin"));
}

#[tokio::test]
async fn an_unlisted_origin_gets_no_cors_headers() {
    for app in [app_with_cors(), app()] {
        // Without `Access-Control-Allow-Origin` naming it, a browser refuses the page's request
        // (whatever else the answer carries).
        let (_, headers, _) = call(app.clone(), preflight("https://evil.example.com")).await;
        assert!(headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
        let mut request = get("/v1/agents");
        request.headers_mut().insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example.com"),
        );
        let (_, headers, _) = call(app, request).await;
        assert!(headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
    }
}
