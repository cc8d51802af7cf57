//! The REST facade over real HTTP, on the real apiserver: every route, both auth methods, the
//! workspace isolation matrix, pagination, the error classes, SSE with resume, and kubectl
//! interplay.

use std::time::Duration;

use agentarea_api::workspace::namespace_for;
use agentarea_crds::{reasons, steps};
use agentarea_tests::api::{ApiServer, SseEvent, now, sign_es256, sign_hs256, token};
use agentarea_tests::objects::write_task_status;
use agentarea_tests::{control_plane, eventually};
use axum::routing::get;
use kube::Api;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);

fn workspace(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

fn assert_error(status: u16, body: &Value, expected_status: u16, detail_contains: &str) {
    assert_eq!(status, expected_status, "body: {body}");
    assert_eq!(
        body["status_code"], expected_status,
        "error body carries the status: {body}"
    );
    let detail = body["detail"]
        .as_str()
        .unwrap_or_else(|| panic!("no detail in {body}"));
    assert!(
        detail.contains(detail_contains),
        "detail {detail:?} lacks {detail_contains:?}"
    );
}

async fn create_agent(api: &ApiServer, token: &str, name: &str) -> Value {
    let (status, body) = api
        .post(
            token,
            "/v1/agents",
            &json!({"name": name, "description": "d", "instruction": "Be brief.", "model_id": "llama3.1:8b"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body
}

/// Serves `body` at `path` on a free port (a JWKS endpoint or Kratos' whoami stand-in).
async fn serve_json(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{address}")
}

#[tokio::test]
async fn requests_without_valid_credentials_are_refused_and_open_paths_stay_open() {
    let api = ApiServer::start(&[]).await;
    let (status, body) = api.send(api.http.get(api.url("/v1/agents"))).await;
    assert_error(status, &body, 401, "Not authenticated");

    let (status, body) = api.get("not.a.token", "/v1/agents").await;
    assert_error(status, &body, 401, "Invalid token");

    let expired = sign_hs256(
        json!({"sub": "u", "workspace": "w", "exp": now() - 3600}),
        "agentarea-test-secret",
    );
    let (status, body) = api.get(&expired, "/v1/agents").await;
    assert_error(status, &body, 401, "Invalid token");

    let wrong_key = sign_hs256(
        json!({"sub": "u", "workspace": "w", "exp": now() + 60}),
        "another-secret",
    );
    let (status, body) = api.get(&wrong_key, "/v1/agents").await;
    assert_error(status, &body, 401, "Invalid token");

    let no_workspace = sign_hs256(
        json!({"sub": "u", "exp": now() + 60}),
        "agentarea-test-secret",
    );
    let (status, body) = api.get(&no_workspace, "/v1/agents").await;
    assert_error(status, &body, 403, "workspace");

    // ES256 is refused when no JWKS is configured.
    let es = sign_es256(json!({"sub": "u", "workspace": "w", "exp": now() + 60}));
    let (status, body) = api.get(&es, "/v1/agents").await;
    assert_error(status, &body, 401, "JWKS");

    for path in ["/healthz", "/readyz", "/openapi.json", "/docs"] {
        let response = api.http.get(api.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path} is open");
    }
}

#[tokio::test]
async fn es256_tokens_verify_against_the_jwks_with_issuer_and_audience() {
    let jwks: Value = serde_json::from_str(
        &std::fs::read_to_string(
            agentarea_tests::repo_root().join("tests/fixtures/es256-test.jwks.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let jwks_url = serve_json(axum::Router::new().route(
        "/jwks",
        get(move || {
            let jwks = jwks.clone();
            async move { axum::Json(jwks) }
        }),
    ))
    .await;
    let api = ApiServer::start(&[
        ("AGENTAREA_JWKS_URL", format!("{jwks_url}/jwks")),
        ("AGENTAREA_JWT_ISSUER", "https://issuer.test".into()),
        ("AGENTAREA_JWT_AUDIENCE", "agentarea".into()),
    ])
    .await;
    let ws = workspace("jwks");
    let good = sign_es256(
        json!({"sub": "alice", "workspace": ws, "iss": "https://issuer.test", "aud": "agentarea", "exp": now() + 600}),
    );
    let (status, body) = api.get(&good, "/v1/agents").await;
    assert_eq!(status, 200, "{body}");

    let wrong_audience = sign_es256(
        json!({"sub": "alice", "workspace": ws, "iss": "https://issuer.test", "aud": "other", "exp": now() + 600}),
    );
    let (status, body) = api.get(&wrong_audience, "/v1/agents").await;
    assert_error(status, &body, 401, "Invalid token");

    let wrong_issuer = sign_es256(
        json!({"sub": "alice", "workspace": ws, "iss": "https://evil.test", "aud": "agentarea", "exp": now() + 600}),
    );
    let (status, body) = api.get(&wrong_issuer, "/v1/agents").await;
    assert_error(status, &body, 401, "Invalid token");
}

#[tokio::test]
async fn kratos_session_cookies_are_checked_against_whoami() {
    let ws = workspace("kratos");
    let identity_ws = ws.clone();
    let kratos = serve_json(axum::Router::new().route(
        "/sessions/whoami",
        get(move |headers: axum::http::HeaderMap| {
            let ws = identity_ws.clone();
            async move {
                let cookie = headers.get("cookie").and_then(|v| v.to_str().ok()).unwrap_or_default();
                if cookie.contains("ory_kratos_session=valid-session") {
                    (axum::http::StatusCode::OK, axum::Json(json!({
                        "active": true,
                        "identity": {"id": "kratos-user-1", "traits": {"email": "a@example.com", "workspace": ws}}
                    })))
                } else {
                    (axum::http::StatusCode::UNAUTHORIZED, axum::Json(json!({"error": {"code": 401}})))
                }
            }
        }),
    ))
    .await;
    let api = ApiServer::start(&[("AGENTAREA_KRATOS_URL", kratos)]).await;

    let with_cookie = |cookie: &str| {
        api.http
            .get(api.url("/v1/agents"))
            .header("cookie", format!("theme=dark; ory_kratos_session={cookie}"))
    };
    let (status, body) = api.send(with_cookie("valid-session")).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = api.send(with_cookie("forged")).await;
    assert_error(status, &body, 401, "session");

    // The Kratos identity's workspace is the same workspace a JWT for it reaches.
    let (status, created) = api
        .send(
            api.http
                .post(api.url("/v1/agents"))
                .header("cookie", "ory_kratos_session=valid-session")
                .json(&json!({"name": "via-kratos", "instruction": "x", "model_id": "m"})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["created_by"], "kratos-user-1");
    let (status, _) = api
        .get(
            &token(&ws, "someone"),
            &format!("/v1/agents/{}", created["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn agents_crud_in_agentarea_shapes_and_kubectl_sees_the_same_objects() {
    let api = ApiServer::start(&[]).await;
    let ws = workspace("agents");
    let t = token(&ws, "alice");

    let created = create_agent(&api, &t, "Support Bot").await;
    for field in [
        "id",
        "name",
        "status",
        "description",
        "instruction",
        "model_id",
        "tools_config",
        "events_config",
        "planning",
    ] {
        assert!(
            created.get(field).is_some(),
            "{field} missing from {created}"
        );
    }
    assert_eq!(created["name"], "Support Bot");
    assert_eq!(created["status"], "active");
    let id = created["id"].as_str().unwrap().to_string();
    uuid::Uuid::parse_str(&id).expect("ids are UUIDs");
    let k8s_name = created["k8s_name"].as_str().unwrap().to_string();

    // Read-your-writes: the list right after the create has it.
    let (status, list) = api.get(&t, "/v1/agents").await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");

    // By id and by Kubernetes name alike.
    for key in [&id, &k8s_name] {
        let (status, body) = api.get(&t, &format!("/v1/agents/{key}")).await;
        assert_eq!(status, 200);
        assert_eq!(body["id"], id.as_str());
    }

    // kubectl sees the API's object, with printer columns.
    let namespace = namespace_for(&ws);
    let output = control_plane().kubectl(["get", "agents", "-n", &namespace]);
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(
        table.contains(&k8s_name) && table.contains("MODEL") && table.contains("llama3.1:8b"),
        "{table}"
    );

    // PATCH changes only what it names.
    let (status, updated) = api
        .patch(&t, &format!("/v1/agents/{id}"), &json!({"instruction": "Be very brief.", "capabilities": [], "events_config": {"events": []}}))
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["instruction"], "Be very brief.");
    assert_eq!(updated["description"], "d");
    assert_eq!(updated["capabilities"], json!([]));
    assert_eq!(updated["events_config"]["events"], json!([]));

    // An Agent applied with kubectl reads back through the API.
    let yaml = format!(
        "apiVersion: agentarea.io/v1alpha1\nkind: Agent\nmetadata:\n  name: from-kubectl\n  namespace: {namespace}\nspec:\n  instruction: hi\n  model:\n    name: gpt-4o-mini\n"
    );
    let output = control_plane().kubectl_with_stdin(["apply", "-f", "-"], Some(&yaml));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let from_kubectl = agentarea_tests::eventually("kubectl's agent in the API", WAIT, || async {
        let (status, body) = api.get(&t, "/v1/agents/from-kubectl").await;
        (status == 200).then_some(body)
    })
    .await;
    assert_eq!(from_kubectl["model_id"], "gpt-4o-mini");
    assert_eq!(from_kubectl["name"], "from-kubectl");

    // created_by=me filters to the caller's own.
    let (_, mine) = api.get(&t, "/v1/agents?created_by=me").await;
    assert_eq!(mine.as_array().unwrap().len(), 1);

    let (status, body) = api.delete(&t, &format!("/v1/agents/{id}")).await;
    assert_eq!((status, body), (200, json!({"status": "success"})));
    let (status, body) = api.get(&t, &format!("/v1/agents/{id}")).await;
    assert_error(status, &body, 404, "Agent not found");
    let (status, body) = api.delete(&t, &format!("/v1/agents/{id}")).await;
    assert_error(status, &body, 404, "Agent not found");
}

#[tokio::test]
async fn skills_and_mcp_server_instances_crud() {
    let api = ApiServer::start(&[]).await;
    let t = token(&workspace("skills"), "bob");

    let (status, remote) = api
        .post(&t, "/v1/mcp-server-instances", &json!({"name": "time", "description": "clock", "json_spec": {"type": "url", "endpoint": "http://127.0.0.1:9/mcp"}}))
        .await;
    assert_eq!(status, 201, "{remote}");
    assert_eq!(
        remote["json_spec"],
        json!({"type": "url", "endpoint": "http://127.0.0.1:9/mcp"})
    );
    assert_eq!(remote["status"], "pending");
    let remote_id = remote["id"].as_str().unwrap().to_string();

    let (status, docker) = api
        .post(&t, "/v1/mcp-server-instances", &json!({"name": "Everything Server", "json_spec": {"type": "docker", "image": "example/everything:1", "port": 3001, "environment": {"LOG_LEVEL": "debug", "API_TOKEN": "s3cret"}, "cmd": ["node", "dist/index.js"]}}))
        .await;
    assert_eq!(status, 201, "{docker}");
    let docker_id = docker["id"].as_str().unwrap().to_string();
    let (status, names) = api
        .get(
            &t,
            &format!("/v1/mcp-server-instances/{docker_id}/environment"),
        )
        .await;
    assert_eq!(
        (status, names),
        (200, json!(["API_TOKEN", "LOG_LEVEL"])),
        "names only, never values"
    );
    let (_, stopped) = api
        .post(
            &t,
            &format!("/v1/mcp-server-instances/{docker_id}/stop"),
            &json!({}),
        )
        .await;
    assert_eq!(stopped["status"], "stopped");
    let (_, started) = api
        .post(
            &t,
            &format!("/v1/mcp-server-instances/{docker_id}/start"),
            &json!({}),
        )
        .await;
    assert_ne!(started["status"], "stopped");
    let (status, body) = api
        .post(
            &t,
            &format!("/v1/mcp-server-instances/{remote_id}/stop"),
            &json!({}),
        )
        .await;
    assert_error(status, &body, 409, "managed");
    let (status, _) = api
        .post(
            &t,
            &format!("/v1/mcp-server-instances/{remote_id}/discover-tools"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 202);
    let (status, tools) = api
        .get(&t, &format!("/v1/mcp-server-instances/{remote_id}/tools"))
        .await;
    assert_eq!((status, tools), (200, json!([])));

    let (status, compound) = api
        .post(&t, "/v1/mcp-server-instances", &json!({"name": "all", "json_spec": {"type": "compound", "members": [{"instance": remote_id, "prefix": "time_"}, {"instance": "everything-server-missing"}]}}))
        .await;
    assert_error(status, &compound, 422, "json_spec.members[1].instance");

    let (status, updated) = api
        .patch(&t, &format!("/v1/mcp-server-instances/{remote_id}"), &json!({"description": "the clock", "json_spec": {"type": "url", "endpoint": "https://time.example/mcp", "transport": "sse"}}))
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["json_spec"]["transport"], "sse");

    let (status, skill) = api
        .post(&t, "/v1/skills", &json!({"name": "time-math", "description": "zones", "instructions": "Convert carefully.", "tools": [{"instance": "time", "tools": ["get_current_time"]}], "parameters": [{"name": "zone", "type": "string", "default": "UTC"}]}))
        .await;
    assert_eq!(status, 201, "{skill}");
    let skill_id = skill["id"].as_str().unwrap().to_string();
    let (status, body) = api.post(&t, "/v1/skills", &json!({"name": "bad", "instructions": "x", "parameters": [{"name": "p", "type": "date"}]})).await;
    assert_error(status, &body, 422, "parameters[0].type");
    let (status, patched) = api
        .patch(
            &t,
            &format!("/v1/skills/{skill_id}"),
            &json!({"instructions": "Convert very carefully."}),
        )
        .await;
    assert_eq!(
        (status, patched["instructions"].clone()),
        (200, json!("Convert very carefully."))
    );
    let (_, list) = api.get(&t, "/v1/skills").await;
    assert_eq!(list.as_array().unwrap().len(), 1);

    // An agent that names both, by id.
    let (status, agent) = api
        .post(&t, "/v1/agents", &json!({"name": "clock", "instruction": "x", "model_id": "m", "skills": [skill_id],
            "tools_config": {"mcp_server_configs": [{"mcp_server_id": remote_id, "allowed_tools": [{"tool_name": "get_current_time", "requires_user_confirmation": true}]}]}}))
        .await;
    assert_eq!(status, 201, "{agent}");
    assert_eq!(
        agent["tools_config"]["mcp_server_configs"][0]["mcp_server_id"],
        remote_id.as_str()
    );
    assert_eq!(
        agent["tools_config"]["mcp_server_configs"][0]["allowed_tools"][0]["requires_user_confirmation"],
        true
    );
    let (status, body) = api
        .post(&t, "/v1/agents", &json!({"name": "x", "instruction": "x", "model_id": "m", "tools_config": {"mcp_server_configs": [{"mcp_server_id": "nope"}]}}))
        .await;
    assert_error(
        status,
        &body,
        422,
        "tools_config.mcp_server_configs[0].mcp_server_id",
    );

    for path in [
        format!("/v1/skills/{skill_id}"),
        format!("/v1/mcp-server-instances/{docker_id}"),
    ] {
        let (status, body) = api.delete(&t, &path).await;
        assert_eq!((status, body), (200, json!({"status": "success"})));
        let (status, _) = api.get(&t, &path).await;
        assert_eq!(status, 404);
    }
}

#[tokio::test]
async fn triggers_crud_enable_disable_and_signed_webhooks() {
    let api = ApiServer::start(&[]).await;
    let ws = workspace("triggers");
    let t = token(&ws, "carol");
    let agent = create_agent(&api, &t, "responder").await;
    let agent_id = agent["id"].as_str().unwrap();

    let (status, cron) = api
        .post(&t, "/v1/triggers", &json!({"name": "Nightly report", "agent_id": agent_id, "trigger_type": "cron", "cron_expression": "0 2 * * *", "timezone": "Europe/Berlin", "task_parameters": {"report": "daily"}}))
        .await;
    assert_eq!(status, 201, "{cron}");
    for field in [
        "id",
        "is_active",
        "created_at",
        "updated_at",
        "created_by",
        "consecutive_failures",
        "last_execution_at",
        "next_run_time",
        "failure_threshold",
    ] {
        assert!(cron.get(field).is_some(), "{field} missing from {cron}");
    }
    assert_eq!(cron["failure_threshold"], 5);
    let cron_id = cron["id"].as_str().unwrap().to_string();
    let (status, body) = api.post(&t, "/v1/triggers", &json!({"name": "bad", "agent_id": agent_id, "trigger_type": "cron", "cron_expression": "not cron"})).await;
    assert_error(status, &body, 422, "spec.schedule.cron");
    let (status, body) = api
        .post(
            &t,
            "/v1/triggers",
            &json!({"name": "bad", "agent_id": agent_id, "trigger_type": "sometimes"}),
        )
        .await;
    assert_error(status, &body, 422, "trigger_type");

    let (_, disabled) = api
        .post(&t, &format!("/v1/triggers/{cron_id}/disable"), &json!({}))
        .await;
    assert_eq!(disabled["is_active"], false);
    // AgentArea's answer: `{status, message, trigger_id, is_active}`.
    assert_eq!(disabled["status"], "success");
    assert_eq!(disabled["trigger_id"], cron_id);
    let (_, enabled) = api
        .post(&t, &format!("/v1/triggers/{cron_id}/enable"), &json!({}))
        .await;
    assert_eq!(enabled["is_active"], true);
    let (status, put) = api
        .put(
            &t,
            &format!("/v1/triggers/{cron_id}"),
            &json!({"cron_expression": "*/5 * * * *"}),
        )
        .await;
    assert_eq!(
        (status, put["cron_expression"].clone()),
        (200, json!("*/5 * * * *"))
    );
    let (_, filtered) = api.get(&t, "/v1/triggers?trigger_type=webhook").await;
    assert_eq!(filtered, json!([]));
    let (status, executions) = api
        .get(&t, &format!("/v1/triggers/{cron_id}/executions"))
        .await;
    assert_eq!(
        (status, executions),
        (
            200,
            json!({"executions": [], "total": 0, "page": 1, "page_size": 50, "has_next": false})
        )
    );

    let (status, hook) = api
        .post(&t, "/v1/triggers", &json!({"name": "alerts", "agent_id": agent_id, "trigger_type": "webhook", "task_description": "Handle alert {{ payload.title }} (severity {{ payload.severity }})"}))
        .await;
    assert_eq!(status, 201, "{hook}");
    let key = hook["webhook_secret"]
        .as_str()
        .expect("secret shown once")
        .to_string();
    let url = api.url(hook["webhook_url"].as_str().unwrap());
    let (_, again) = api
        .get(
            &t,
            &format!("/v1/triggers/{}", hook["id"].as_str().unwrap()),
        )
        .await;
    assert!(
        again.get("webhook_secret").is_none(),
        "the secret is never shown again"
    );

    let body = json!({"title": "disk full", "severity": 2}).to_string();
    let signed = |ts: i64, body: &str, key: &str| api.signed_webhook(&url, key, ts, body);
    let ts = now();
    let (status, accepted) = api.send(signed(ts, &body, &key)).await;
    assert_eq!(status, 202, "{accepted}");
    let task_id = accepted["task_id"].as_str().unwrap().to_string();
    let (status, task) = agentarea_tests::eventually("the webhook's task", WAIT, || async {
        let (status, task) = api.get(&t, &format!("/v1/tasks/{task_id}")).await;
        (status == 200).then_some((status, task))
    })
    .await;
    assert_eq!(status, 200);
    assert_eq!(task["description"], "Handle alert disk full (severity 2)");
    assert_eq!(task["parameters"]["trigger_type"], "webhook");
    assert_eq!(task["parameters"]["trigger_data"]["severity"], 2);

    // The same delivery again (a sender's retry, a replay) starts nothing: the same task.
    let (status, again) = api.send(signed(ts, &body, &key)).await;
    assert_eq!(
        (status, again["task_id"].as_str()),
        (202, Some(task_id.as_str()))
    );
    let (status, body_) = api.send(signed(now(), &body, "wrong-key")).await;
    assert_error(status, &body_, 401, "does not match");
    let (status, body_) = api.send(signed(now() - 3600, &body, &key)).await;
    assert_error(status, &body_, 401, "stale or replayed");
    let (status, body_) = api.send(api.http.post(&url).body("{}")).await;
    assert_error(status, &body_, 401, "Missing");
    let (status, body_) = api.send(api.http.get(&url)).await;
    assert_error(status, &body_, 405, "not allowed");
    let (status, body_) = api
        .send(api.http.post(api.url("/v1/webhooks/unknown-hook-id")))
        .await;
    assert_error(status, &body_, 404, "Webhook not found");

    api.post(
        &t,
        &format!("/v1/triggers/{}/disable", hook["id"].as_str().unwrap()),
        &json!({}),
    )
    .await;
    let (status, body_) = api.send(signed(now() + 1, &body, &key)).await;
    assert_error(status, &body_, 409, "disabled");

    let (status, _) = api.delete(&t, &format!("/v1/triggers/{cron_id}")).await;
    assert_eq!(status, 204);
    let (status, _) = api.get(&t, &format!("/v1/triggers/{cron_id}")).await;
    assert_eq!(status, 404);
}

/// Writes status as the operator would, so the API's task views can be exercised on their own.
fn step(seq: i64, type_: &str, message: &str) -> Value {
    json!({"seq": seq, "time": "2026-01-01T00:00:00Z", "type": type_, "message": message, "data": {"iteration": 1}})
}

#[tokio::test]
async fn tasks_routes_events_pages_cancel_and_sse_resume() {
    let api = ApiServer::start(&[]).await;
    let ws = workspace("tasks");
    let t = token(&ws, "dave");
    let namespace = namespace_for(&ws);
    let client = control_plane().client().await;
    let agent = create_agent(&api, &t, "worker").await;
    let agent_id = agent["id"].as_str().unwrap().to_string();

    let (status, body) = api
        .post(
            &t,
            "/v1/tasks",
            &json!({"agent_id": "missing", "description": "x"}),
        )
        .await;
    assert_error(status, &body, 404, "Agent not found");
    let (status, body) = api
        .post(&t, "/v1/tasks", &json!({"agent_id": agent_id}))
        .await;
    assert_error(status, &body, 422, "description");

    let (status, task) = api
        .post(&t, "/v1/tasks", &json!({"agent_id": agent_id, "description": "Summarize the news", "parameters": {"lang": "en"}}))
        .await;
    assert_eq!(status, 201, "{task}");
    for field in [
        "id",
        "agent_id",
        "description",
        "parameters",
        "status",
        "result",
        "created_at",
        "execution_id",
    ] {
        assert!(task.get(field).is_some(), "{field} missing from {task}");
    }
    assert_eq!(task["status"], "pending");
    assert_eq!(task["agent_id"], agent_id.as_str());
    let task_id = task["id"].as_str().unwrap().to_string();
    let task_name = task["k8s_name"].as_str().unwrap().to_string();

    // The run's events, as the operator writes them.
    write_task_status(&client, &namespace, &task_name, json!({
        "phase": "Running", "executionId": "exec-1",
        "steps": [step(1, steps::WORKFLOW_STARTED, "started"), step(2, steps::LLM_CALL_STARTED, "calling the model")]
    })).await;

    let mut stream = api
        .sse(&t, &format!("/v1/tasks/{task_id}/events"), None)
        .await;
    assert_eq!(stream.status, 200);
    let first: Vec<SseEvent> = [
        stream.next(WAIT).await.unwrap(),
        stream.next(WAIT).await.unwrap(),
        stream.next(WAIT).await.unwrap(),
    ]
    .into();
    assert_eq!(first[0].event, "connected");
    assert_eq!(first[1].event, steps::WORKFLOW_STARTED);
    assert_eq!(first[1].id.as_deref(), Some("1"));
    assert_eq!(first[1].data["event"], steps::WORKFLOW_STARTED);
    assert_eq!(first[1].data["data"]["data"]["task_id"], task_id.as_str());
    assert_eq!(first[1].data["data"]["data"]["execution_id"], "exec-1");
    assert_eq!(first[2].id.as_deref(), Some("2"));
    drop(stream);

    // More happens while the client is away; it resumes after id 2 and misses nothing.
    write_task_status(&client, &namespace, &task_name, json!({
        "phase": "Succeeded", "executionId": "exec-1", "result": {"answer": "done"}, "reason": reasons::COMPLETED,
        "steps": [step(1, steps::WORKFLOW_STARTED, "started"), step(2, steps::LLM_CALL_STARTED, "calling"),
                  step(3, steps::LLM_CALL_COMPLETED, "answered"), step(4, steps::WORKFLOW_COMPLETED, "done")]
    })).await;
    let mut resumed = api
        .sse(&t, &format!("/v1/tasks/{task_id}/events"), Some("2"))
        .await;
    let events = resumed.until("task_completed", WAIT).await;
    let ids: Vec<_> = events
        .iter()
        .map(|e| e.id.clone().unwrap_or_default())
        .collect();
    assert_eq!(ids, ["3", "4", "5"], "{events:#?}");
    assert_eq!(events[2].data["data"]["result"], json!({"answer": "done"}));
    assert!(
        resumed.next(Duration::from_secs(2)).await.is_none(),
        "the stream ends after the task"
    );

    let (_, done) = api.get(&t, &format!("/v1/tasks/{task_id}")).await;
    assert_eq!(done["status"], "completed");
    assert_eq!(done["result"]["output"], json!({"answer": "done"}));
    assert_eq!(done["result"]["success"], true);

    // The stored events, paginated, and filtered by type.
    let (status, page) = api
        .get(
            &t,
            &format!("/v1/agents/{agent_id}/tasks/{task_id}/events?page=2&page_size=3"),
        )
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        (
            page["total"].clone(),
            page["page"].clone(),
            page["has_next"].clone()
        ),
        (json!(4), json!(2), json!(false))
    );
    assert_eq!(page["events"][0]["event_type"], steps::WORKFLOW_COMPLETED);
    let (_, filtered) = api
        .get(
            &t,
            &format!("/v1/agents/{agent_id}/tasks/{task_id}/events?event_type=LLMCallCompleted"),
        )
        .await;
    assert_eq!(filtered["total"], 1);
    let (status, body) = api
        .get(
            &t,
            &format!("/v1/agents/{agent_id}/tasks/{task_id}/events?page_size=500"),
        )
        .await;
    assert_error(status, &body, 422, "page_size");

    // A finished task cannot be cancelled; a pending one can, by either route.
    let (status, body) = api
        .post(&t, &format!("/v1/tasks/{task_id}/cancel"), &json!({}))
        .await;
    assert_error(status, &body, 409, "already completed");
    let (_, third) = api
        .post(
            &t,
            "/v1/tasks",
            &json!({"agent_id": agent_id, "description": "to cancel"}),
        )
        .await;
    let (status, cancelled) = api
        .delete(
            &t,
            &format!(
                "/v1/agents/{agent_id}/tasks/{}",
                third["id"].as_str().unwrap()
            ),
        )
        .await;
    assert_eq!(status, 200, "{cancelled}");
    let stored = Api::<agentarea_crds::Task>::namespaced(client.clone(), &namespace)
        .get(third["k8s_name"].as_str().unwrap())
        .await
        .unwrap();
    assert!(
        stored.spec.cancel,
        "cancellation is a spec field the operator acts on"
    );

    // Lists: newest first, filtered by status and agent; per-agent routes agree.
    let (_, all) = api.get(&t, "/v1/tasks").await;
    assert_eq!(all.as_array().unwrap().len(), 2);
    assert_eq!(all[0]["id"], third["id"], "newest first");
    assert_eq!(all[0]["agent_name"], "worker");
    let (_, completed) = api.get(&t, "/v1/tasks?status=completed").await;
    assert_eq!(completed.as_array().unwrap().len(), 1);
    let (status, body) = api.get(&t, "/v1/tasks?status=bogus").await;
    assert_error(status, &body, 422, "status");
    let (_, per_agent) = api.get(&t, &format!("/v1/agents/{agent_id}/tasks")).await;
    assert_eq!(per_agent.as_array().unwrap().len(), 2);
    let (status, one) = api
        .get(&t, &format!("/v1/agents/{agent_id}/tasks/{task_id}"))
        .await;
    assert_eq!((status, one["id"].clone()), (200, json!(task_id)));
}

#[tokio::test]
async fn tasks_pause_resume_and_take_decisions_on_tool_calls_recorded_with_the_caller() {
    let api = ApiServer::start(&[]).await;
    let ws = workspace("approve");
    let t = token(&ws, "erin");
    let namespace = namespace_for(&ws);
    let client = control_plane().client().await;
    let tasks = Api::<agentarea_crds::Task>::namespaced(client.clone(), &namespace);
    let agent = create_agent(&api, &t, "worker").await;
    let agent_id = agent["id"].as_str().unwrap().to_string();
    let (_, task) = api
        .post(
            &t,
            "/v1/tasks",
            &json!({"agent_id": agent_id, "description": "delete old files"}),
        )
        .await;
    let task_id = task["id"].as_str().unwrap().to_string();
    let name = task["k8s_name"].as_str().unwrap().to_string();
    assert_eq!(
        (task["paused"].clone(), task["pending_approvals"].clone()),
        (json!(false), json!([]))
    );

    // Pause and resume, by both routes; each is a spec field the operator acts on. AgentArea's
    // route answers AgentArea's body (tests/agentarea_clients.rs has its refusals).
    let (status, paused) = api
        .post(
            &t,
            &format!("/v1/agents/{agent_id}/tasks/{task_id}/pause"),
            &json!({}),
        )
        .await;
    assert_eq!(
        (status, paused["status"].clone()),
        (200, json!("paused")),
        "{paused}"
    );
    assert!(tasks.get(&name).await.unwrap().spec.paused);
    let (status, again) = api
        .post(&t, &format!("/v1/tasks/{task_id}/pause"), &json!({}))
        .await;
    assert_eq!(
        (status, again["paused"].clone()),
        (200, json!(true)),
        "pausing twice changes nothing"
    );
    write_task_status(&client, &namespace, &name, json!({"phase": "Paused"})).await;
    // Listed as paused once the api has seen the operator's write.
    eventually("the task listed as paused", WAIT, || async {
        let (_, listed) = api.get(&t, "/v1/tasks?status=paused").await;
        (listed.as_array()?.len() == 1).then_some(())
    })
    .await;
    let (status, resumed) = api
        .post(&t, &format!("/v1/tasks/{task_id}/resume"), &json!({}))
        .await;
    assert_eq!(
        (status, resumed["paused"].clone()),
        (200, json!(false)),
        "{resumed}"
    );
    assert!(!tasks.get(&name).await.unwrap().spec.paused);

    // The run waits for a decision on one call, as the operator writes it.
    write_task_status(&client, &namespace, &name, json!({
        "phase": "AwaitingApproval", "executionId": "exec-1",
        "pendingApprovals": [{"toolCallId": "call_7", "tool": "delete_file", "arguments": "{\"path\":\"/tmp/x\"}",
                              "because": "destructiveHint", "requestedAt": "2026-01-01T00:00:00Z"}],
        "steps": [step(1, steps::WORKFLOW_STARTED, "started"), step(2, steps::HUMAN_APPROVAL_REQUESTED, "delete_file waits")]
    })).await;
    let mut stream = api
        .sse(&t, &format!("/v1/tasks/{task_id}/events"), Some("1"))
        .await;
    let requested = stream.next(WAIT).await.unwrap();
    assert_eq!(requested.event, steps::HUMAN_APPROVAL_REQUESTED);
    drop(stream);
    let (_, waiting) = api.get(&t, &format!("/v1/tasks/{task_id}")).await;
    assert_eq!(waiting["status"], "awaiting_approval");
    assert_eq!(waiting["pending_approvals"][0]["tool_call_id"], "call_7");
    assert_eq!(waiting["pending_approvals"][0]["tool_name"], "delete_file");
    assert_eq!(waiting["pending_approvals"][0]["reason"], "destructiveHint");

    let decide = |body: Value| {
        let api = &api;
        let t = &t;
        let path = format!("/v1/tasks/{task_id}/approvals");
        async move { api.post(t, &path, &body).await }
    };
    let (status, body) = decide(json!({"tool_call_id": "call_8", "approved": true})).await;
    assert_error(status, &body, 404, "does not wait for approval");
    let (status, body) = decide(json!({"tool_call_id": "call_7"})).await;
    assert_error(status, &body, 422, "approved");
    let (status, body) =
        decide(json!({"tool_call_id": "call_7", "approved": false, "reason": " "})).await;
    assert_error(status, &body, 422, "reason");
    let (status, decided) =
        decide(json!({"tool_call_id": "call_7", "approved": false, "reason": "keep them"})).await;
    assert_eq!(status, 200, "{decided}");
    assert_eq!(
        decided["approvals"],
        json!([{"tool_call_id": "call_7", "approved": false, "reason": "keep them", "decided_by": "erin"}])
    );
    let stored = tasks.get(&name).await.unwrap();
    assert_eq!(stored.spec.approvals.len(), 1);
    assert_eq!(
        stored.spec.approvals[0].decided_by.as_deref(),
        Some("erin"),
        "the caller, from the token"
    );
    let (status, body) = decide(json!({"tool_call_id": "call_7", "approved": true})).await;
    assert_error(status, &body, 409, "already rejected");

    // Another workspace cannot decide for this one.
    let other = token(&workspace("approve-other"), "mallory");
    let (status, body) = api
        .post(
            &other,
            &format!("/v1/tasks/{task_id}/approvals"),
            &json!({"tool_call_id": "call_7", "approved": true}),
        )
        .await;
    assert_error(status, &body, 404, "Task not found");

    // A finished task takes no more decisions, pauses or resumes.
    write_task_status(
        &client,
        &namespace,
        &name,
        json!({"phase": "Succeeded", "pendingApprovals": []}),
    )
    .await;
    // Once the api has seen it end.
    eventually("the api sees the task completed", WAIT, || async {
        let (_, task) = api.get(&t, &format!("/v1/tasks/{task_id}")).await;
        (task["status"] == "completed").then_some(())
    })
    .await;
    for path in ["pause", "resume"] {
        let (status, body) = api
            .post(&t, &format!("/v1/tasks/{task_id}/{path}"), &json!({}))
            .await;
        assert_error(status, &body, 409, "already completed");
    }
    let (status, body) = decide(json!({"tool_call_id": "call_9", "approved": true})).await;
    assert_error(status, &body, 409, "already completed");
}

#[tokio::test]
async fn create_and_stream_route_announces_the_task_and_follows_it() {
    let api = ApiServer::start(&[]).await;
    let ws = workspace("stream");
    let t = token(&ws, "erin");
    let client = control_plane().client().await;
    let agent = create_agent(&api, &t, "streamer").await;
    let mut stream = api
        .sse_post(
            &t,
            &format!("/v1/agents/{}/tasks", agent["id"].as_str().unwrap()),
            &json!({"description": "go"}),
        )
        .await;
    assert_eq!(stream.status, 200);
    assert_eq!(stream.next(WAIT).await.unwrap().event, "connected");
    let created = stream.next(WAIT).await.unwrap();
    assert_eq!(created.event, "task_created");
    let name = created.data["data"]["task"]["k8s_name"]
        .as_str()
        .unwrap()
        .to_string();
    write_task_status(&client, &namespace_for(&ws), &name, json!({
        "phase": "Failed", "reason": reasons::MODEL_ERROR, "message": "connection refused",
        "steps": [step(1, steps::WORKFLOW_STARTED, "s"), step(2, steps::LLM_CALL_FAILED, "connection refused"), step(3, steps::WORKFLOW_FAILED, "f")]
    })).await;
    let events = stream.until("task_failed", WAIT).await;
    let names: Vec<_> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(
        names,
        [
            steps::WORKFLOW_STARTED,
            steps::LLM_CALL_FAILED,
            steps::WORKFLOW_FAILED,
            "task_failed"
        ]
    );
    assert_eq!(events[3].data["data"]["reason"], reasons::MODEL_ERROR);
}

#[tokio::test]
async fn workspace_events_stream_and_resume_without_loss_or_repeats() {
    let api = ApiServer::start(&[]).await;
    let (ws_a, ws_b) = (workspace("events-a"), workspace("events-b"));
    let (ta, tb) = (token(&ws_a, "a"), token(&ws_b, "b"));
    let mut stream_a = api.sse(&ta, "/v1/events", None).await;
    let mut stream_b = api.sse(&tb, "/v1/events", None).await;
    assert_eq!(stream_a.next(WAIT).await.unwrap().event, "connected");
    assert_eq!(stream_b.next(WAIT).await.unwrap().event, "connected");

    create_agent(&api, &ta, "first").await;
    let first = stream_a.until("agent_created", WAIT).await;
    let last_id = first.last().unwrap().id.clone().expect("events carry ids");
    assert_eq!(first.last().unwrap().data["data"]["name"], "first");
    drop(stream_a);

    create_agent(&api, &ta, "second").await;
    create_agent(&api, &ta, "third").await;
    let mut resumed = api.sse(&ta, "/v1/events", Some(&last_id)).await;
    let mut names = Vec::new();
    while names.len() < 2 {
        let event = resumed.next(WAIT).await.expect("missed events arrive");
        if event.event == "agent_created" {
            names.push(event.data["data"]["name"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(
        names,
        ["second", "third"],
        "what was missed, in order, once"
    );

    // Workspace B saw none of it.
    assert!(
        stream_b.next(Duration::from_secs(2)).await.is_none(),
        "no event of another workspace leaks"
    );
    // An id from another process (or too old) asks the client to re-list.
    let mut stale = api.sse(&ta, "/v1/events", Some("00000000-1")).await;
    assert_eq!(stale.next(WAIT).await.unwrap().event, "resync");
}

#[tokio::test]
async fn another_workspace_sees_nothing_and_can_touch_nothing() {
    let api = ApiServer::start(&[]).await;
    let (ws_a, ws_b) = (workspace("iso-a"), workspace("iso-b"));
    let (ta, tb) = (token(&ws_a, "a"), token(&ws_b, "b"));
    let agent = create_agent(&api, &ta, "private").await;
    let agent_id = agent["id"].as_str().unwrap().to_string();
    let (_, skill) = api
        .post(
            &ta,
            "/v1/skills",
            &json!({"name": "s", "instructions": "x"}),
        )
        .await;
    let (_, mcp) = api.post(&ta, "/v1/mcp-server-instances", &json!({"name": "m", "json_spec": {"type": "url", "endpoint": "http://127.0.0.1:9/mcp"}})).await;
    let (_, trigger) = api.post(&ta, "/v1/triggers", &json!({"name": "tr", "agent_id": agent_id, "trigger_type": "cron", "cron_expression": "@hourly"})).await;
    let (_, task) = api
        .post(
            &ta,
            "/v1/tasks",
            &json!({"agent_id": agent_id, "description": "x"}),
        )
        .await;
    let ids = [
        ("agents", agent_id.clone()),
        ("skills", skill["id"].as_str().unwrap().to_string()),
        (
            "mcp-server-instances",
            mcp["id"].as_str().unwrap().to_string(),
        ),
        ("triggers", trigger["id"].as_str().unwrap().to_string()),
        ("tasks", task["id"].as_str().unwrap().to_string()),
    ];
    let unknown = uuid::Uuid::new_v4().to_string();

    // Every read, write and stream of A's ids with B's token answers exactly as an unknown id does.
    for (kind, id) in &ids {
        let mut routes: Vec<(&str, String, Option<Value>)> = vec![
            ("GET", format!("/v1/{kind}/{id}"), None),
            ("DELETE", format!("/v1/{kind}/{id}"), None),
        ];
        if *kind != "tasks" {
            routes.push((
                "PATCH",
                format!("/v1/{kind}/{id}"),
                Some(json!({"description": "hijacked"})),
            ));
        }
        match *kind {
            "tasks" => {
                routes.push(("POST", format!("/v1/tasks/{id}/cancel"), Some(json!({}))));
                routes.push(("GET", format!("/v1/tasks/{id}/events"), None));
            }
            "agents" => {
                routes.push(("GET", format!("/v1/agents/{id}/tasks"), None));
                routes.push((
                    "POST",
                    format!("/v1/agents/{id}/tasks/sync"),
                    Some(json!({"description": "x"})),
                ));
                routes.push((
                    "POST",
                    "/v1/tasks".into(),
                    Some(json!({"agent_id": id, "description": "x"})),
                ));
            }
            "triggers" => {
                routes.push((
                    "POST",
                    format!("/v1/triggers/{id}/disable"),
                    Some(json!({})),
                ));
                routes.push(("GET", format!("/v1/triggers/{id}/executions"), None));
            }
            "mcp-server-instances" => {
                routes.push(("GET", format!("/v1/mcp-server-instances/{id}/tools"), None));
                routes.push((
                    "POST",
                    format!("/v1/mcp-server-instances/{id}/stop"),
                    Some(json!({})),
                ));
            }
            _ => {}
        }
        for (method, path, body) in routes {
            let request = |path: &str| {
                let builder = api
                    .http
                    .request(method.parse().unwrap(), api.url(path))
                    .header("authorization", format!("Bearer {tb}"));
                match &body {
                    Some(body) => builder.json(body),
                    None => builder,
                }
            };
            let (status, answer) = api.send(request(&path)).await;
            let (unknown_status, unknown_answer) = api
                .send(request(&path.replace(id.as_str(), &unknown)))
                .await;
            assert_eq!(
                status, 404,
                "{method} {path} with another workspace's token: {answer}"
            );
            assert_eq!(
                (status, &answer),
                (unknown_status, &unknown_answer),
                "{method} {path} differs from an unknown id"
            );
        }
    }
    // Lists of B are empty; A's objects are untouched.
    for kind in [
        "agents",
        "skills",
        "mcp-server-instances",
        "triggers",
        "tasks",
    ] {
        let (status, list) = api.get(&tb, &format!("/v1/{kind}")).await;
        assert_eq!((status, list), (200, json!([])), "{kind} of B");
        let (_, list) = api.get(&ta, &format!("/v1/{kind}")).await;
        assert_eq!(list.as_array().unwrap().len(), 1, "{kind} of A");
    }
    let (_, still) = api.get(&ta, &format!("/v1/agents/{agent_id}")).await;
    assert_eq!(still["description"], "d");
}

#[tokio::test]
async fn pagination_is_stable_bounded_and_has_a_cursor() {
    let api = ApiServer::start(&[]).await;
    let t = token(&workspace("pages"), "p");
    for i in 0..7 {
        create_agent(&api, &t, &format!("agent-{i}")).await;
    }
    let (_, all) = api.get(&t, "/v1/agents?limit=100").await;
    let all_ids: Vec<_> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].clone())
        .collect();
    assert_eq!(all_ids.len(), 7);

    let (_, page2) = api.get(&t, "/v1/agents?limit=3&offset=3").await;
    let page2_ids: Vec<_> = page2
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].clone())
        .collect();
    assert_eq!(page2_ids, all_ids[3..6]);

    // Following cursors visits every item once.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/agents?limit=3&cursor={c}"),
            None => "/v1/agents?limit=3".into(),
        };
        let response = api
            .http
            .get(api.url(&path))
            .header("authorization", format!("Bearer {t}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["x-total-count"], "7");
        cursor = response
            .headers()
            .get("x-next-cursor")
            .map(|v| v.to_str().unwrap().to_string());
        let page: Value = response.json().await.unwrap();
        seen.extend(page.as_array().unwrap().iter().map(|a| a["id"].clone()));
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(seen, all_ids);

    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=abc", "limit"),
        ("offset=-1", "offset"),
        ("cursor=%25%25", "cursor"),
    ] {
        let (status, body) = api.get(&t, &format!("/v1/agents?{query}")).await;
        assert_error(status, &body, 422, field);
    }
}

/// Announces a 2 MiB body and sends none of it: the api must refuse on the announced length, at
/// once. (A client that streams the whole body races the server closing the connection.)
async fn oversized_post(base: &str, token: &str) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /v1/agents HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        2 * 1024 * 1024
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let _ = tokio::time::timeout(WAIT, stream.read_to_end(&mut response)).await;
    let text = String::from_utf8_lossy(&response);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn every_error_class_has_the_error_shape() {
    let api = ApiServer::start(&[]).await;
    let t = token(&workspace("errors"), "e");
    let authed = |method: &str, path: &str| {
        api.http
            .request(method.parse().unwrap(), api.url(path))
            .header("authorization", format!("Bearer {t}"))
    };

    let (status, body) = api.send(authed("GET", "/v1/nothing-here")).await;
    assert_error(status, &body, 404, "Not found");
    let (status, body) = api.send(authed("DELETE", "/v1/agents")).await;
    assert_error(status, &body, 405, "Method not allowed");
    let (status, body) = api
        .send(
            authed("POST", "/v1/agents")
                .header("content-type", "text/plain")
                .body("hi"),
        )
        .await;
    assert_error(status, &body, 415, "application/json");
    let (status, body) = oversized_post(&api.base, &t).await;
    assert_error(status, &body, 413, "too large");
    let (status, body) = api
        .send(
            authed("POST", "/v1/agents")
                .header("content-type", "application/json")
                .body("{\"name\": "),
        )
        .await;
    assert_error(status, &body, 400, "Malformed JSON");
    let (status, body) = api
        .post(&t, "/v1/agents", &json!({"name": "a", "instruction": "x"}))
        .await;
    assert_error(status, &body, 422, "model_id");
    let (status, body) = api
        .post(
            &t,
            "/v1/agents",
            &json!({"name": "a", "instruction": "x", "model_id": 5}),
        )
        .await;
    assert_error(status, &body, 422, "model_id");
    // The apiserver's validation comes back naming the CRD field.
    let (status, body) = api
        .post(&t, "/v1/agents", &json!({"name": "a", "instruction": "x", "model_id": "m", "model_endpoint": "ftp://nope"}))
        .await;
    assert_error(status, &body, 422, "spec.model.endpoint");
    // A name taken is a conflict.
    create_agent(&api, &t, "taken").await;
    let (status, body) = api
        .post(
            &t,
            "/v1/agents",
            &json!({"name": "taken", "instruction": "x", "model_id": "m"}),
        )
        .await;
    assert_error(status, &body, 409, "already exists");
}

#[tokio::test]
async fn openapi_describes_every_route() {
    let api = ApiServer::start(&[]).await;
    let spec: Value = api
        .http
        .get(api.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = spec["paths"].as_object().unwrap();
    for path in [
        "/v1/agents",
        "/v1/agents/{id}",
        "/v1/skills",
        "/v1/skills/{id}",
        "/v1/tasks",
        "/v1/tasks/{id}",
        "/v1/tasks/{id}/events",
        "/v1/tasks/{id}/cancel",
        "/v1/mcp-server-instances",
        "/v1/mcp-server-instances/{id}",
        "/v1/triggers",
        "/v1/triggers/{id}",
        "/v1/triggers/{id}/enable",
        "/v1/triggers/{id}/disable",
        "/v1/webhooks/{webhook_id}",
        "/v1/events",
        "/v1/agents/{agent_id}/tasks",
        "/v1/agents/{agent_id}/tasks/sync",
    ] {
        assert!(
            paths.contains_key(path),
            "{path} missing from /openapi.json"
        );
    }
    assert!(spec["components"]["schemas"]["ErrorBody"]["properties"]["status_code"].is_object());
    assert!(spec["components"]["securitySchemes"]["bearer"].is_object());
}

#[tokio::test]
async fn docs_render_their_operations_in_headless_chromium() {
    let api = ApiServer::start(&[]).await;
    let dom = agentarea_tests::browser::rendered_dom(&api.url("/docs")).await;
    assert!(
        dom.contains("opblock"),
        "Swagger UI rendered no operations:\n{}",
        &dom[..dom.len().min(2000)]
    );
    for text in [
        "/v1/agents",
        "/v1/tasks/{id}/events",
        "/v1/mcp-server-instances",
        "/v1/triggers",
        "/v1/events",
        "AgentArea API",
    ] {
        assert!(dom.contains(text), "{text} not on the docs page");
    }
}

#[tokio::test]
async fn every_write_names_its_writer_on_the_object_and_in_an_audit_line() {
    let api = ApiServer::start(&[]).await;
    let workspace = format!("audit-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let creator = token(&workspace, "ada");
    let editor = token(&workspace, "grace");
    let agent = create_agent(&api, &creator, "audited").await;
    let id = agent["id"].as_str().unwrap();
    let (status, _) = api
        .patch(
            &editor,
            &format!("/v1/agents/{id}"),
            &json!({"description": "checked"}),
        )
        .await;
    assert_eq!(status, 200);
    let client = control_plane().client().await;
    let stored: agentarea_crds::Agent = Api::namespaced(client, &namespace_for(&workspace))
        .get("audited")
        .await
        .unwrap();
    let annotations = stored.metadata.annotations.unwrap_or_default();
    assert_eq!(annotations["agentarea.io/created-by"], "ada");
    assert_eq!(annotations["agentarea.io/updated-by"], "grace");
    let (status, _) = api.delete(&editor, &format!("/v1/agents/{id}")).await;
    assert_eq!(status, 200);

    let log = without_colours(&api.process.output());
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("agentarea::audit") && l.contains(&workspace))
        .collect();
    for (verb, subject) in [("create", "ada"), ("update", "grace"), ("delete", "grace")] {
        assert!(
            lines.iter().any(|l| l.contains(&format!("verb={verb}"))
                && l.contains(&format!("subject={subject}"))
                && l.contains("kind=Agent")
                && l.contains("name=audited")),
            "no audit line for {verb} by {subject} in:\n{}",
            lines.join("\n")
        );
    }
    // The identity, never the credential.
    assert!(!log.contains(&creator) && !log.contains(&editor));
}

/// `text` without the terminal colour codes the text log format adds.
fn without_colours(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // An escape sequence runs to its final letter (`m` for colours).
            for next in chars.by_ref() {
                if next.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
}
