//! Every error leaves in the one shape, `{"detail", "status_code"}`: the router's 404 and 405,
//! the body limit's 413, the extractors' 415, missing objects, objects of another workspace, and
//! an apiserver that cannot be reached.

use axum::body::Body;
use axum::http::header;
use serde_json::json;

use super::*;
use crate::extract::MAX_BODY_BYTES;

fn workspace_objects() -> Objects {
    Objects {
        agents: vec![
            agent(WORKSPACE, "helper", 1),
            agent(OTHER_WORKSPACE, "theirs", 2),
        ],
        tasks: vec![
            task(WORKSPACE, "task-1", "helper", None),
            task(WORKSPACE, "task-done", "helper", Some(finished(2))),
            task(OTHER_WORKSPACE, "their-task", "theirs", None),
        ],
        ..Objects::default()
    }
}

#[tokio::test]
async fn an_unknown_path_is_404() {
    let (status, _, body) = call(app(), get("/v1/nothing-here")).await;
    assert_eq!(status, 404);
    assert_eq!(body, json!({ "detail": "Not found", "status_code": 404 }));
}

#[tokio::test]
async fn a_method_a_route_does_not_have_is_405() {
    let request = authed("DELETE", "/v1/agents", &token())
        .body(Body::empty())
        .unwrap();
    let (status, _, body) = call(app(), request).await;
    assert_eq!(status, 405);
    assert_eq!(
        body,
        json!({ "detail": "Method not allowed", "status_code": 405 })
    );
}

/// Every path of the published document answers the methods it does not list with 405, an
/// `Allow` header naming exactly the ones it lists (and HEAD, which GET brings), and the error
/// body: the router and the document agree on what each path serves.
#[tokio::test]
async fn methods_a_documented_path_does_not_serve_are_405_with_allow() {
    let document = crate::docs::document();
    let mut checked = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        let documented: Vec<String> = ["get", "put", "post", "delete", "patch"]
            .into_iter()
            .filter(|m| item.get(*m).is_some())
            .map(str::to_uppercase)
            .collect();
        let mut allowed = documented.clone();
        if documented.iter().any(|m| m == "GET") {
            allowed.push("HEAD".into());
        }
        allowed.sort();
        let uri = path
            .replace("{id}", "some-id")
            .replace("{agent_id}", "some-agent")
            .replace("{task_id}", "some-task")
            .replace("{webhook_id}", "some-hook");
        for method in ["GET", "PUT", "POST", "DELETE", "PATCH", "OPTIONS", "TRACE"] {
            if documented.iter().any(|m| m == method) {
                continue;
            }
            let request = authed(method, &uri, &token()).body(Body::empty()).unwrap();
            let (status, headers, body) = call(app(), request).await;
            assert_eq!(status, 405, "{method} {uri}: {body}");
            assert_eq!(body["status_code"], 405, "{method} {uri}");
            let mut allow: Vec<String> = headers[header::ALLOW]
                .to_str()
                .unwrap()
                .split(',')
                .map(|m| m.trim().to_string())
                .collect();
            allow.sort();
            assert_eq!(allow, allowed, "Allow of {uri}");
            checked += 1;
        }
    }
    assert!(checked >= 100, "only {checked} undocumented methods tried");
}

#[tokio::test]
async fn a_path_segment_that_does_not_decode_is_400_in_the_error_shape() {
    for path in [
        "/v1/agents/%FF",
        "/v1/tasks/%C3%28/events",
        "/v1/agents/a%FFb/tasks",
    ] {
        let answer = call(app(), get(path)).await;
        assert_error(&answer, 400, "Invalid path");
    }
}

/// A POST to /v1/agents with `headers` and `body`, for what the extractors make of the body.
fn post_agents(headers: &[(header::HeaderName, &str)], body: impl Into<Body>) -> Request<Body> {
    let mut request = authed("POST", "/v1/agents", &token());
    for (name, value) in headers {
        request = request.header(name, *value);
    }
    request.body(body.into()).unwrap()
}

#[tokio::test]
async fn a_body_that_is_not_json_is_415() {
    let request = post_agents(&[(header::CONTENT_TYPE, "text/plain")], "hi");
    let answer = call(app(), request).await;
    assert_error(&answer, 415, "Content-Type: application/json");

    let request = post_agents(&[], "{}");
    assert_error(&call(app(), request).await, 415, "application/json");
}

#[tokio::test]
async fn json_suffixed_media_types_are_json() {
    let request = post_agents(
        &[(header::CONTENT_TYPE, "application/merge-patch+json")],
        "{\"name\": ",
    );
    assert_error(&call(app(), request).await, 400, "Malformed JSON");
}

#[tokio::test]
async fn a_body_announced_over_the_limit_is_413_at_once() {
    let length = (2 * MAX_BODY_BYTES).to_string();
    let request = post_agents(
        &[
            (header::CONTENT_TYPE, "application/json"),
            (header::CONTENT_LENGTH, &length),
        ],
        Body::empty(),
    );
    assert_error(&call(app(), request).await, 413, "too large");
}

#[tokio::test]
async fn a_body_over_the_limit_without_a_length_is_413() {
    let padding = "x".repeat(MAX_BODY_BYTES);
    let request = post_agents(
        &[(header::CONTENT_TYPE, "application/json")],
        json!({ "name": padding }).to_string(),
    );
    let answer = call(app(), request).await;
    assert_error(
        &answer,
        413,
        &format!("Request body too large (at most {MAX_BODY_BYTES} bytes)"),
    );
}

#[tokio::test]
async fn a_missing_object_is_404_naming_its_kind() {
    for (path, detail) in [
        ("/v1/agents/nope", "Agent not found"),
        ("/v1/skills/nope", "Skill not found"),
        (
            "/v1/mcp-server-instances/nope",
            "MCP server instance not found",
        ),
        (
            "/v1/mcp-server-instances/nope/tools",
            "MCP server instance not found",
        ),
        ("/v1/tasks/nope", "Task not found"),
        ("/v1/tasks/nope/events", "Task not found"),
        ("/v1/triggers/nope", "Trigger not found"),
        ("/v1/triggers/nope/executions", "Trigger not found"),
        ("/v1/agents/nope/tasks", "Agent not found"),
        ("/v1/agents/helper/tasks/nope", "Task not found"),
    ] {
        let answer = call(app_with(workspace_objects()), get(path)).await;
        assert_eq!(answer.2["detail"], detail, "{path}");
        assert_error(&answer, 404, detail);
    }
}

#[tokio::test]
async fn objects_are_found_by_uid_and_by_name() {
    for path in ["/v1/agents/helper", "/v1/agents/uid-helper"] {
        let (status, _, body) = call(app_with(workspace_objects()), get(path)).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(body["id"], "uid-helper");
        assert_eq!(body["k8s_name"], "helper");
    }
}

#[tokio::test]
async fn another_workspace_objects_are_as_missing_as_unknown_ones() {
    for path in [
        "/v1/agents/theirs",
        "/v1/agents/uid-theirs",
        "/v1/tasks/uid-their-task",
        "/v1/agents/theirs/tasks",
    ] {
        let answer = call(app_with(workspace_objects()), get(path)).await;
        assert_eq!(answer.0, 404, "{path} leaks: {}", answer.2);
    }
    let (_, headers, body) = call(app_with(workspace_objects()), get("/v1/tasks")).await;
    let names: Vec<_> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["k8s_name"].as_str().unwrap())
        .collect();
    assert!(!names.contains(&"their-task"), "{names:?}");
    assert_eq!(headers["x-total-count"], "2");
}

#[tokio::test]
async fn a_task_of_another_agent_is_not_found_under_this_one() {
    let mut objects = workspace_objects();
    objects.agents.push(agent(WORKSPACE, "other-helper", 3));
    let answer = call(
        app_with(objects),
        get("/v1/agents/other-helper/tasks/task-1"),
    )
    .await;
    assert_error(&answer, 404, "Task not found");
}

#[tokio::test]
async fn cancelling_a_finished_task_is_409() {
    // (AgentArea's `DELETE /v1/agents/{agent_id}/tasks/{task_id}` answers 404: agentarea_clients.rs.)
    for request in [
        post("/v1/tasks/task-done/cancel", &json!({})),
        authed("DELETE", "/v1/tasks/task-done", &token())
            .body(Body::empty())
            .unwrap(),
    ] {
        let answer = call(app_with(workspace_objects()), request).await;
        assert_error(&answer, 409, "Task already completed");
    }
}

/// The write reaches the client, which cannot reach an apiserver: the caller is told to retry,
/// with nothing of the transport error in the answer.
#[tokio::test]
async fn an_unreachable_apiserver_is_503() {
    let request = authed("DELETE", "/v1/agents/helper", &token())
        .body(Body::empty())
        .unwrap();
    let answer = call(app_with(workspace_objects()), request).await;
    assert_error(&answer, 503, "The cluster is unavailable; retry later");
    assert!(!answer.2.to_string().contains("in-process"));
}
