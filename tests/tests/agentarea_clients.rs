//! The api driven the way AgentArea's own clients drive it (agentarea/agentarea at 9ad0312: the
//! CLI in `core/apps/cli`, the frontend in `frontend/src`), against the real api on the real
//! local control plane: every collection with its trailing slash, `result` read as an object, the
//! status route, the action routes' bodies and codes, MCP instances as AgentArea's UI creates them,
//! and CORS, from `reqwest` and from headless Chromium on a page of another origin.

use std::time::Duration;

use agentarea_api::workspace::namespace_for;
use agentarea_crds::reasons;
use agentarea_tests::api::{ApiServer, token};
use agentarea_tests::browser::Browser;
use agentarea_tests::control_plane;
use agentarea_tests::objects::write_task_status;
use axum::response::Html;
use reqwest::header;
use serde_json::{Value, json};

fn workspace(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

#[track_caller]
fn assert_error(status: u16, body: &Value, expected_status: u16, detail: &str) {
    assert_eq!(status, expected_status, "body: {body}");
    assert_eq!(body["status_code"], expected_status, "{body}");
    let said = body["detail"].as_str().unwrap_or_default();
    assert!(said.contains(detail), "detail {said:?} lacks {detail:?}");
}

/// The agent and task commands of AgentArea's CLI, in its own paths and bodies: every collection
/// with a trailing slash, `task create` reading `result` as an object, `task status`, and the
/// frontend's pause, resume and cancel.
#[tokio::test]
async fn agentarea_cli_and_frontend_calls_work() {
    let api = ApiServer::start(&[]).await;
    let ws = workspace("cli");
    let t = token(&ws, "cli-user");
    let namespace = namespace_for(&ws);

    // `agentarea agent create` / `list` / `show`.
    let (status, agent) = api
        .post(
            &t,
            "/v1/agents/",
            &json!({"name": "helper", "description": "d", "instruction": "Be brief.", "model_id": "llama3.1:8b"}),
        )
        .await;
    assert_eq!(status, 201, "{agent}");
    let agent_id = agent["id"].as_str().unwrap().to_string();
    let (status, agents) = api.get(&t, "/v1/agents/").await;
    assert_eq!((status, agents.as_array().map(Vec::len)), (200, Some(1)));
    let (status, shown) = api.get(&t, &format!("/v1/agents/{agent_id}/")).await;
    assert_eq!((status, &shown["id"]), (200, &agent["id"]));

    // `agentarea task create` (the body the CLI sends to the sync route, extra fields included).
    let (status, created) = api
        .post(
            &t,
            "/v1/tasks/",
            &json!({"agent_id": agent_id, "description": "Say hi.", "parameters": {}, "user_id": "cli", "mode": "sync", "timeout": 30}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let task_id = created["id"].as_str().unwrap().to_string();
    let task_name = created["k8s_name"].as_str().unwrap().to_string();
    assert_eq!(created["result"], Value::Null, "no result while it runs");

    // The frontend's pause and resume, with AgentArea's bodies and refusals.
    let tasks = format!("/v1/agents/{agent_id}/tasks/{task_id}");
    let (status, paused) = api.post(&t, &format!("{tasks}/pause/"), &json!({})).await;
    assert_eq!(status, 200, "{paused}");
    assert_eq!(
        (&paused["status"], &paused["task_id"], &paused["message"]),
        (
            &json!("paused"),
            &json!(task_id),
            &json!("Task paused successfully")
        )
    );
    let (status, again) = api.post(&t, &format!("{tasks}/pause"), &json!({})).await;
    assert_error(status, &again, 400, "Task is already paused");
    let (status, resumed) = api.post(&t, &format!("{tasks}/resume"), &json!({})).await;
    assert_eq!((status, &resumed["status"]), (200, &json!("running")));
    let (status, again) = api.post(&t, &format!("{tasks}/resume/"), &json!({})).await;
    assert_error(status, &again, 400, "Cannot resume task that is not paused");

    // The run ends (as the operator records it); the CLI reads `result` as an object.
    let client = control_plane().client().await;
    write_task_status(&client, &namespace, &task_name, json!({
        "phase": "Succeeded", "reason": reasons::COMPLETED, "result": "hi", "executionId": "exec-1",
        "startTime": "2026-01-01T00:00:00Z", "completionTime": "2026-01-01T00:00:03Z",
        "usage": {"promptTokens": 3, "completionTokens": 1, "totalTokens": 4},
    }))
    .await;
    let done =
        agentarea_tests::eventually("the finished task", Duration::from_secs(30), || async {
            let (_, task) = api.get(&t, &format!("/v1/tasks/{task_id}/")).await;
            (task["status"] == "completed").then_some(task)
        })
        .await;
    assert_eq!(
        done["result"],
        json!({"success": true, "final_response": "hi", "output": "hi", "error_message": null, "execution_duration_seconds": 3.0})
    );

    // `agentarea task status`, with and without the agent, slashed as the CLI writes it or not.
    for path in [
        format!("{tasks}/status"),
        format!("/v1/tasks/{task_id}/status/"),
    ] {
        let (status, report) = api.get(&t, &path).await;
        assert_eq!(status, 200, "{path}: {report}");
        assert_eq!(report["status"], "completed");
        assert_eq!(report["execution_id"], "exec-1");
        assert_eq!(report["execution_time"], 3.0);
        assert_eq!(report["result"]["final_response"], "hi");
        assert_eq!(report["usage_metadata"]["totalTokens"], 4);
    }

    // `agentarea task list`, for the agent and for the workspace.
    let (status, listed) = api.get(&t, &format!("/v1/agents/{agent_id}/tasks/")).await;
    assert_eq!(
        (status, listed[0]["id"].as_str()),
        (200, Some(task_id.as_str()))
    );
    let (status, listed) = api.get(&t, "/v1/tasks/?limit=10").await;
    assert_eq!((status, listed.as_array().map(Vec::len)), (200, Some(1)));

    // The events page the CLI reads, and the frontend's actions on an ended task.
    let (status, page) = api.get(&t, &format!("{tasks}/events/")).await;
    assert_eq!((status, page["page"].clone()), (200, json!(1)), "{page}");
    let (status, refused) = api.delete(&t, &format!("{tasks}/")).await;
    assert_error(status, &refused, 404, "Task not found or already completed");
    let (status, refused) = api.post(&t, &format!("{tasks}/pause"), &json!({})).await;
    assert_error(
        status,
        &refused,
        400,
        "Cannot pause task in 'completed' state",
    );

    // A task the frontend cancels.
    let (_, second) = api
        .post(
            &t,
            "/v1/tasks",
            &json!({"agent_id": agent_id, "description": "Wait."}),
        )
        .await;
    let second_id = second["id"].as_str().unwrap();
    let (status, cancelled) = api
        .delete(&t, &format!("/v1/agents/{agent_id}/tasks/{second_id}/"))
        .await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(
        (&cancelled["status"], &cancelled["task_id"]),
        (&json!("cancelled"), &json!(second_id))
    );
}

/// Triggers' actions as AgentArea answers them: enable/disable bodies, executions as a page.
#[tokio::test]
async fn trigger_actions_answer_agentarea_bodies() {
    let api = ApiServer::start(&[]).await;
    let t = token(&workspace("triggers"), "ui");
    let (_, agent) = api
        .post(
            &t,
            "/v1/agents/",
            &json!({"name": "helper", "instruction": "Be brief.", "model_id": "m"}),
        )
        .await;
    let (status, trigger) = api
        .post(
            &t,
            "/v1/triggers/",
            &json!({"name": "nightly", "agent_id": agent["id"], "trigger_type": "cron", "cron_expression": "0 3 * * *", "task_description": "Report."}),
        )
        .await;
    assert_eq!(status, 201, "{trigger}");
    let id = trigger["id"].as_str().unwrap();
    let (status, disabled) = api
        .post(&t, &format!("/v1/triggers/{id}/disable/"), &json!({}))
        .await;
    assert_eq!(status, 200, "{disabled}");
    assert_eq!(
        disabled,
        json!({"status": "success", "message": format!("Trigger {id} disabled successfully"), "trigger_id": id, "is_active": false})
    );
    let (_, enabled) = api
        .post(&t, &format!("/v1/triggers/{id}/enable"), &json!({}))
        .await;
    assert_eq!(enabled["is_active"], true);
    let (status, history) = api
        .get(
            &t,
            &format!("/v1/triggers/{id}/executions/?page=1&page_size=10"),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        history,
        json!({"executions": [], "total": 0, "page": 1, "page_size": 10, "has_next": false})
    );
    let (status, deleted) = api.delete(&t, &format!("/v1/triggers/{id}/")).await;
    assert_eq!(status, 204, "{deleted}");
}

/// MCP server instances as AgentArea's UI creates them: a managed server from `{image, port,
/// environment}` and a remote one from `{endpoint_url, headers, is_public, tags}`, no `type`.
#[tokio::test]
async fn mcp_instances_from_agentarea_ui_bodies() {
    let api = ApiServer::start(&[]).await;
    let t = token(&workspace("ui-mcp"), "ui");
    let (status, managed) = api
        .post(
            &t,
            "/v1/mcp-server-instances/",
            &json!({"name": "clock", "description": "time", "server_spec_id": "mcp-time",
                    "json_spec": {"image": "mcp/time:1.0.0", "port": 8000, "environment": {"TZ": "UTC"}}}),
        )
        .await;
    assert_eq!(status, 201, "{managed}");
    assert_eq!(
        managed["json_spec"],
        json!({"type": "docker", "image": "mcp/time:1.0.0", "port": 8000, "environment": {"TZ": "UTC"}, "cmd": []})
    );
    let (status, remote) = api
        .post(
            &t,
            "/v1/mcp-server-instances/",
            &json!({"name": "search", "server_spec_id": null,
                    "json_spec": {"endpoint_url": "http://127.0.0.1:9/mcp", "is_public": false,
                                  "headers": {"X-Api-Key": "k-1"}, "tags": ["search"]}}),
        )
        .await;
    assert_eq!(status, 201, "{remote}");
    assert_eq!(
        remote["json_spec"],
        json!({"type": "url", "endpoint": "http://127.0.0.1:9/mcp", "headers": {"X-Api-Key": "k-1"}})
    );
    assert_eq!(remote["tags"], json!(["search"]));
    let id = remote["id"].as_str().unwrap();

    // The UI's edit sends the whole json_spec again; the tags follow it.
    let (status, edited) = api
        .patch(
            &t,
            &format!("/v1/mcp-server-instances/{id}/"),
            &json!({"json_spec": {"endpoint_url": "http://127.0.0.1:9/v2/mcp", "tags": ["search", "web"]}}),
        )
        .await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(edited["json_spec"]["endpoint"], "http://127.0.0.1:9/v2/mcp");
    assert_eq!(edited["tags"], json!(["search", "web"]));

    for (body, detail) in [
        (
            json!({"endpoint_url": "http://127.0.0.1:9/mcp", "is_public": true}),
            "json_spec.is_public",
        ),
        (
            json!({"image": "mcp/time:1", "endpoint_url": "http://127.0.0.1:9/mcp"}),
            "json_spec.endpoint_url: not a field of a docker server",
        ),
        (json!({"port": 8000}), "json_spec: give `type`"),
    ] {
        let (status, refused) = api
            .post(
                &t,
                "/v1/mcp-server-instances/",
                &json!({"name": "bad", "json_spec": body}),
            )
            .await;
        assert_error(status, &refused, 422, detail);
    }
}

/// Serves `html` at `/` on a port of its own: a page of another origin than the api's.
async fn serve_page(html: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let page =
        axum::Router::new().route("/", axum::routing::get(move || async move { Html(html) }));
    tokio::spawn(async move { axum::serve(listener, page).await });
    origin
}

/// A page that calls the api as a web client of another origin does: a simple GET and a
/// preflighted POST with a bearer token, results left in `window.__calls`.
fn calling_page(api: &str, token: &str) -> String {
    format!(
        r#"<!doctype html><title>other origin</title><script>
const api = {api:?}, auth = {{ Authorization: "Bearer " + {token:?} }};
async function call(method, path, body) {{
  try {{
    const response = await fetch(api + path, {{ method, headers: body ? {{ ...auth, "Content-Type": "application/json" }} : auth, body: body && JSON.stringify(body) }});
    return {{ status: response.status, total: response.headers.get("x-total-count") }};
  }} catch (error) {{
    return {{ error: String(error) }};
  }}
}}
(async () => {{
  const list = await call("GET", "/v1/agents/");
  const create = await call("POST", "/v1/agents/", {{ name: "from-" + location.port, instruction: "Be brief.", model_id: "m" }});
  window.__calls = {{ list, create }};
}})();
</script>"#
    )
}

/// CORS as a browser enforces it: the listed origin's page lists and creates (the preflight
/// passes, credentials allowed); an unlisted origin's page is refused before anything is sent.
#[tokio::test]
async fn a_listed_origin_page_calls_the_api_and_no_other_does() {
    let ws = workspace("cors");
    let t = token(&ws, "browser");
    // The listed page's origin must be known before the api starts: bind it first.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let listed = format!("http://{}", listener.local_addr().unwrap());
    let api = ApiServer::start(&[("AGENTAREA_CORS_ALLOWED_ORIGINS", listed.clone())]).await;
    let html = calling_page(&api.url(""), &t);
    let page = axum::Router::new().route(
        "/",
        axum::routing::get({
            let html = html.clone();
            move || async move { Html(html) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, page).await });
    let unlisted = serve_page(html).await;

    // A preflight as browsers send it, from both.
    let preflight = |origin: &str| {
        api.http
            .request(reqwest::Method::OPTIONS, api.url("/v1/agents/"))
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .header(
                header::ACCESS_CONTROL_REQUEST_HEADERS,
                "authorization,content-type",
            )
    };
    let answer = preflight(&listed).send().await.unwrap();
    assert!(answer.status().is_success(), "{}", answer.status());
    assert_eq!(
        answer.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        listed.as_str()
    );
    assert_eq!(
        answer.headers()[header::ACCESS_CONTROL_ALLOW_CREDENTIALS],
        "true"
    );
    assert_eq!(answer.headers()[header::ACCESS_CONTROL_MAX_AGE], "3600");
    let answer = preflight(&unlisted).send().await.unwrap();
    assert!(
        answer
            .headers()
            .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .is_none()
    );

    let browser = Browser::start(1024, 768).await;
    browser.goto(&format!("{listed}/")).await;
    browser
        .wait_until("the listed page's calls", "window.__calls !== undefined")
        .await;
    let calls = browser.eval("window.__calls").await;
    assert_eq!(
        calls["list"],
        json!({"status": 200, "total": "0"}),
        "{calls}"
    );
    assert_eq!(calls["create"]["status"], 201, "{calls}");

    browser.goto(&format!("{unlisted}/")).await;
    browser
        .wait_until("the unlisted page's calls", "window.__calls !== undefined")
        .await;
    let calls = browser.eval("window.__calls").await;
    assert!(
        calls["list"]["error"].as_str().is_some(),
        "the browser refuses the answer: {calls}"
    );
    assert!(
        calls["create"]["error"].as_str().is_some(),
        "the preflight fails: {calls}"
    );

    // Only the listed page's agent exists: the unlisted page's POST was never sent.
    let (_, agents) = api.get(&t, "/v1/agents").await;
    let names: Vec<_> = agents
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].clone())
        .collect();
    let listed_port = listed.rsplit(':').next().unwrap();
    assert_eq!(names, [json!(format!("from-{listed_port}"))]);
}
