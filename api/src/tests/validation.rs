//! Request bodies and query parameters are checked before anything is written: a malformed body
//! is 400, a well-formed one of the wrong shape or with a value the api cannot take is 422, with
//! `detail` naming the field.

use serde_json::{Value, json};

use super::*;

fn objects() -> Objects {
    Objects {
        agents: vec![agent(WORKSPACE, "helper", 1)],
        tasks: vec![task(WORKSPACE, "task-1", "helper", Some(finished(3)))],
        triggers: vec![webhook_trigger(OTHER_WORKSPACE, "theirs", "x", "taken-id")],
        mcp_server_instances: vec![object(
            "McpServerInstance",
            WORKSPACE,
            "remote-one",
            1,
            json!({ "remote": { "url": "http://example.test/mcp" } }),
            None,
        )],
        ..Objects::default()
    }
}

/// `method path body` -> the status and the `detail` it must have.
async fn expect(method: &str, path: &str, body: Value, status: u16, detail: &str) {
    let answer = call(app_with(objects()), send_json(method, path, &body)).await;
    assert_eq!(
        answer.2["detail"].as_str().map(|d| d.contains(detail)),
        Some(true),
        "{method} {path} {body}: {}",
        answer.2
    );
    assert_error(&answer, status, detail);
}

fn agent_body(extra: Value) -> Value {
    let mut body = json!({ "name": "bot", "instruction": "Be brief.", "model_id": "m" });
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    body
}

#[tokio::test]
async fn malformed_json_is_400() {
    let request = authed("POST", "/v1/agents", &token())
        .header("content-type", "application/json")
        .body(axum::body::Body::from("{\"name\": "))
        .unwrap();
    assert_error(&call(app(), request).await, 400, "Malformed JSON");
}

#[tokio::test]
async fn a_missing_or_mistyped_field_is_422_naming_it() {
    let missing = json!({ "name": "bot", "instruction": "x" });
    expect(
        "POST",
        "/v1/agents",
        missing,
        422,
        "missing field `model_id`",
    )
    .await;
    let mistyped = agent_body(json!({ "model_id": 5 }));
    expect(
        "POST",
        "/v1/agents",
        mistyped,
        422,
        "model_id: invalid type",
    )
    .await;
    let policy = agent_body(json!({ "tool_approval": { "policy": "Sometimes" } }));
    let detail = "tool_approval.policy: unknown variant `Sometimes`";
    expect("POST", "/v1/agents", policy, 422, detail).await;
    let nested = agent_body(json!({ "tools_config": { "mcp_server_configs": [{}] } }));
    let detail = "tools_config.mcp_server_configs[0]: missing field `mcp_server_id`";
    expect("POST", "/v1/agents", nested, 422, detail).await;
    expect(
        "POST",
        "/v1/agents",
        json!("bot"),
        422,
        "body: invalid type: string",
    )
    .await;
}

#[tokio::test]
async fn empty_agent_fields_are_422() {
    let cases = [
        (
            json!({ "instruction": " " }),
            "instruction: must not be empty",
        ),
        (json!({ "model_id": "" }), "model_id: must not be empty"),
        (json!({ "name": "  " }), "name: must not be empty"),
    ];
    for (extra, detail) in cases {
        expect("POST", "/v1/agents", agent_body(extra.clone()), 422, detail).await;
        expect("PATCH", "/v1/agents/helper", extra, 422, detail).await;
    }
    let long = agent_body(json!({ "name": "n".repeat(256) }));
    expect(
        "POST",
        "/v1/agents",
        long,
        422,
        "name: at most 255 characters",
    )
    .await;
}

#[tokio::test]
async fn an_agent_naming_unknown_skills_or_servers_is_422_naming_the_entry() {
    let skills = agent_body(json!({ "skills": ["nope"] }));
    expect(
        "POST",
        "/v1/agents",
        skills,
        422,
        "skills[0]: skill \"nope\" not found",
    )
    .await;
    let servers = json!({ "tools_config": { "mcp_server_configs": [
        { "mcp_server_id": "remote-one" }, { "mcp_server_id": "nope" }
    ] } });
    let detail =
        "tools_config.mcp_server_configs[1].mcp_server_id: MCP server instance \"nope\" not found";
    expect(
        "POST",
        "/v1/agents",
        agent_body(servers.clone()),
        422,
        detail,
    )
    .await;
    expect("PATCH", "/v1/agents/helper", servers, 422, detail).await;
}

#[tokio::test]
async fn skill_parameters_of_an_unknown_type_are_422() {
    let body = json!({
        "name": "s", "instructions": "i",
        "parameters": [{ "name": "a" }, { "name": "b", "type": "float" }]
    });
    let detail =
        "parameters[1].type: must be one of string, number, integer, boolean, object, array";
    expect("POST", "/v1/skills", body, 422, detail).await;
}

#[tokio::test]
async fn mcp_server_bodies_are_checked() {
    let url = |transport: &str| json!({ "name": "s", "json_spec": { "type": "url", "endpoint": "http://x", "transport": transport } });
    let detail = "json_spec.transport: must be one of streamable-http, sse, stdio";
    expect(
        "POST",
        "/v1/mcp-server-instances",
        url("pigeon"),
        422,
        detail,
    )
    .await;
    let unknown_type = json!({ "name": "s", "json_spec": { "type": "ftp" } });
    expect(
        "POST",
        "/v1/mcp-server-instances",
        unknown_type,
        422,
        "json_spec.type: unknown variant `ftp`",
    )
    .await;
    let compound = json!({ "name": "c", "json_spec": { "type": "compound", "members": [
        { "instance": "uid-remote-one" }, { "instance": "nope" }
    ] } });
    let detail = "json_spec.members[1].instance: MCP server instance \"nope\" not found";
    expect("POST", "/v1/mcp-server-instances", compound, 422, detail).await;
    let status = json!({ "status": "paused" });
    let detail = "status: unknown variant `paused`, expected `running` or `stopped`";
    expect(
        "PATCH",
        "/v1/mcp-server-instances/remote-one",
        status,
        422,
        detail,
    )
    .await;
}

#[tokio::test]
async fn only_managed_servers_start_and_stop() {
    for action in ["start", "stop"] {
        let path = format!("/v1/mcp-server-instances/remote-one/{action}");
        let detail = "Only managed (docker) instances can be started and stopped";
        expect("POST", &path, json!({}), 409, detail).await;
    }
}

#[tokio::test]
async fn task_bodies_are_checked() {
    let create = |extra: Value| {
        let mut body = json!({ "agent_id": "helper", "description": "do it" });
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    let empty = create(json!({ "description": " " }));
    expect(
        "POST",
        "/v1/tasks",
        empty,
        422,
        "description: must not be empty",
    )
    .await;
    let parameters = create(json!({ "parameters": [1] }));
    expect(
        "POST",
        "/v1/tasks",
        parameters,
        422,
        "parameters: must be an object",
    )
    .await;
    let unknown_agent = create(json!({ "agent_id": "nope" }));
    expect("POST", "/v1/tasks", unknown_agent, 404, "Agent not found").await;
    let empty = json!({ "description": "" });
    for path in ["/v1/agents/helper/tasks", "/v1/agents/helper/tasks/sync"] {
        expect(
            "POST",
            path,
            empty.clone(),
            422,
            "description: must not be empty",
        )
        .await;
    }
    expect(
        "POST",
        "/v1/agents/nope/tasks",
        json!({ "description": "x" }),
        404,
        "Agent not found",
    )
    .await;
}

fn trigger_body(trigger_type: &str, extra: Value) -> Value {
    let mut body = json!({ "name": "t", "agent_id": "helper", "trigger_type": trigger_type });
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    body
}

#[tokio::test]
async fn trigger_bodies_are_checked_for_their_type() {
    let cases = [
        (
            trigger_body("cron", json!({ "agent_id": "nope" })),
            "agent_id: agent \"nope\" not found",
        ),
        (
            trigger_body("sometimes", json!({})),
            "trigger_type: unknown variant `sometimes`, expected one of `cron`, `webhook`, `event`",
        ),
        (
            trigger_body("cron", json!({})),
            "cron_expression: required for cron triggers",
        ),
        (
            trigger_body(
                "cron",
                json!({ "cron_expression": "* * * * *", "concurrency_policy": "Often" }),
            ),
            "concurrency_policy: must be one of Allow, Forbid, Replace",
        ),
        (
            trigger_body("webhook", json!({ "allowed_methods": ["post", "DELETE"] })),
            "allowed_methods: \"DELETE\" is not one of GET, POST, PUT, PATCH",
        ),
        (
            trigger_body("webhook", json!({ "webhook_type": "fax" })),
            "webhook_type: must be one of generic, telegram, slack, github, discord, stripe",
        ),
        (
            trigger_body("event", json!({})),
            "event_config: required for event triggers",
        ),
    ];
    for (body, detail) in cases {
        expect("POST", "/v1/triggers", body, 422, detail).await;
    }
}

#[tokio::test]
async fn a_webhook_id_taken_in_any_workspace_is_409() {
    let body = trigger_body("webhook", json!({ "webhook_id": "taken-id" }));
    expect(
        "POST",
        "/v1/triggers",
        body,
        409,
        "webhook_id: already used by another trigger",
    )
    .await;
}

fn with_webhook_trigger() -> Objects {
    let mut objects = objects();
    let hook = webhook_trigger(WORKSPACE, "hook", "helper", "hook-id");
    objects.triggers.push(hook);
    objects
}

#[tokio::test]
async fn trigger_updates_of_another_type_settings_are_422() {
    let only_cron = "cron_expression: only cron triggers have a schedule";
    for (body, detail) in [
        (json!({ "cron_expression": "* * * * *" }), only_cron),
        // The type check comes first, whatever else is wrong.
        (json!({ "concurrency_policy": "Often" }), only_cron),
        (
            json!({ "event_config": { "kind": "Task" } }),
            "event_config: only event triggers have one",
        ),
        (
            json!({ "allowed_methods": ["TRACE"] }),
            "allowed_methods: \"TRACE\" is not one of GET, POST, PUT, PATCH",
        ),
    ] {
        for method in ["PATCH", "PUT"] {
            let request = send_json(method, "/v1/triggers/hook", &body);
            let answer = call(app_with(with_webhook_trigger()), request).await;
            assert_error(&answer, 422, detail);
        }
    }
}

#[tokio::test]
async fn task_list_and_event_page_parameters_are_checked() {
    let cases = [
        (
            "/v1/tasks?status=sleeping",
            "status: unknown variant `sleeping`, expected one of `pending`, `submitted`, `running`, `paused`, `awaiting_approval`, `completed`, `failed`, `cancelled`",
        ),
        (
            "/v1/agents/helper/tasks?status=sleeping",
            "status: unknown variant",
        ),
        (
            "/v1/agents/helper/tasks/task-1/events?page=0",
            "page: must be between 1 and 4294967295",
        ),
        (
            "/v1/agents/helper/tasks/task-1/events?page_size=0",
            "page_size: must be between 1 and 100",
        ),
        (
            "/v1/agents/helper/tasks/task-1/events?page_size=101",
            "page_size: must be between 1 and 100",
        ),
        (
            "/v1/agents/helper/tasks/task-1/events?page=first",
            "query parameter page: invalid digit",
        ),
        (
            "/v1/triggers?active_only=maybe",
            "query parameter active_only",
        ),
    ];
    for (path, detail) in cases {
        let answer = call(app_with(objects()), get(path)).await;
        assert_error(&answer, 422, detail);
    }
}
