//! The workspace's agents as an MCP server (`/v1/mcp` on the api), used by the official MCP Python
//! SDK in each of its connect modes, against the real api, operator and reference MCP server with
//! a scripted model: each Ready agent a tool, a call a Task whose steps come as progress, a call
//! given up a cancelled Task (whichever replica the cancellation reaches), a deleted Task a call
//! ended, a stopping api replica leaving its calls' Tasks running, and nothing of one workspace
//! seen from another.

use std::time::Duration;

use agentarea_crds::{Skill, Task, TaskPhase};
use agentarea_tests::api::{ApiServer, token};
use agentarea_tests::mcp_servers::{assert_answered_as_specified, python_sdk_client_as};
use agentarea_tests::model::{Reply, content_text, tool_results, trailing_tool_results};
use agentarea_tests::proxy::splitting_requests;
use agentarea_tests::world::{World, phase};
use agentarea_tests::{TestNamespace, create, eventually};
use kube::ResourceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::{RunningService, ServiceError};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};

/// The model asks for `echo` once, then answers with what it said.
fn echo_then_answer(request: &Value) -> Reply {
    match tool_results(request) {
        0 => Reply::ToolCalls(vec![("echo".into(), json!({"message": "hello over MCP"}))]),
        _ => {
            let echoed = trailing_tool_results(request)
                .first()
                .map(content_text)
                .unwrap_or_default();
            Reply::Answer(format!("The echo said: {echoed}"))
        }
    }
}

/// The agent `careful`, whose one tool call waits for a person: a call of it lasts until someone
/// decides, or the caller gives up.
async fn careful_agent(world: &World) {
    world
        .agent_with(
            "careful",
            json!({"mcpServers": [{"name": "everything",
                   "allowedTools": [{"name": "echo", "requiresUserConfirmation": true}]}]}),
        )
        .await;
}

/// A world with the agent `careful` alone, and a token of Ada's in its workspace.
async fn careful_world(prefix: &str) -> (World, String) {
    let world = World::new(prefix, &[], echo_then_answer).await;
    let workspace = world.ns.name.strip_prefix("ws-").unwrap().to_string();
    careful_agent(&world).await;
    (world, token(&workspace, "ada"))
}

/// The tasks of `agent` in `ns`.
async fn tasks_of(ns: &TestNamespace, agent: &str) -> Vec<Task> {
    ns.api::<Task>()
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|t| t.spec.agent == agent)
        .collect()
}

#[tokio::test]
async fn the_workspaces_agents_are_tools_over_mcp_in_each_era() {
    let world = World::new("ws-agents-mcp", &[], echo_then_answer).await;
    let workspace = world.ns.name.strip_prefix("ws-").unwrap().to_string();
    create(
        &world.ns.api::<Skill>(),
        json!({"apiVersion": "agentarea.io/v1alpha1", "kind": "Skill", "metadata": {"name": "tone"},
               "spec": {"description": "Speaks kindly.", "instructions": "Be kind."}}),
    )
    .await;
    world
        .agent_with(
            "helper",
            json!({"description": "Answers with an echo.", "skills": [{"name": "tone"}],
                   "mcpServers": [{"name": "everything", "allowedTools": [{"name": "echo"}]}]}),
        )
        .await;
    careful_agent(&world).await;
    let api = ApiServer::start(&[]).await;
    let url = api.url("/v1/mcp");
    let ada = token(&workspace, "ada");
    let plan = json!({
        "call": ["helper", {"input": "Say hello."}],
        "progress": ["helper", {"input": "Say hello, step by step."}],
        "slow": ["careful", {"input": "Say hello carefully."}],
        "give_up_after": 5.0,
        "tasks_url": api.url("/v1/tasks"),
        "refused": ["helper", {"input": 3}],
    });
    let answer = "The echo said: Echo: hello over MCP";

    for mode in ["auto", "legacy", "2026-07-28"] {
        let seen = python_sdk_client_as(&url, mode, &plan, Some(&ada)).await;
        assert_eq!(
            seen["tools"],
            json!(["careful", "helper"]),
            "{mode}: {seen}"
        );
        assert_eq!(
            seen["descriptions"]["helper"],
            "Answers with an echo.\n\nSkills:\n- tone: Speaks kindly.",
            "{mode}"
        );
        if mode != "2026-07-28" {
            // A version pinned is adopted without asking the server who it is.
            assert_eq!(seen["server_name"], "agentarea-agents", "{mode}");
        }
        assert_eq!(seen["called"], answer, "{mode}: {seen}");
        assert_eq!(seen["progressed"], answer, "{mode}: {seen}");
        // Every step, in order: the run's start, the model asking for echo, the call, the answer.
        let messages: Vec<&str> = seen["progress_messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(
            messages
                .iter()
                .any(|m| m.starts_with("ToolCallStarted: calling echo")),
            "{mode}: {messages:?}"
        );
        assert!(
            messages
                .last()
                .is_some_and(|m| m.starts_with("WorkflowCompleted")),
            "{mode}: {messages:?}"
        );
        let counts: Vec<f64> = seen["progress"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_f64)
            .collect();
        assert!(counts.windows(2).all(|w| w[0] < w[1]), "{mode}: {counts:?}");
        // The slow call said what it waited for, then was given up.
        assert_eq!(seen["cancelled"], true, "{mode}: {seen}");
        assert!(
            seen["slow_progress_messages"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .any(|m| m.starts_with("waiting for approval of echo") && m.contains("/approvals")),
            "{mode}: {seen}"
        );
        // The client's own way of giving up cancels the Task while it is still connected: in
        // the handshake era by `notifications/cancelled`, in 2026-07-28's by closing the stream.
        assert_eq!(seen["cancelled_while_connected"], true, "{mode}: {seen}");
        assert_eq!(seen["after_cancel"], answer, "{mode}: {seen}");
        assert!(
            seen["refused"]
                .as_str()
                .is_some_and(|e| e.contains("`input` must be a string")),
            "{mode}: {seen}"
        );
        assert_answered_as_specified(&seen, mode);

        // The given-up call's Task is cancelled.
        eventually(
            &format!("the careful agent's tasks cancelled ({mode})"),
            Duration::from_secs(60),
            || async {
                let tasks = tasks_of(&world.ns, "careful").await;
                tasks
                    .iter()
                    .all(|t| phase(t) == Some(TaskPhase::Cancelled))
                    .then_some(())
            },
        )
        .await;
    }

    // Each call was a Task of the caller's, as `/v1` creates it.
    let helped = tasks_of(&world.ns, "helper").await;
    assert_eq!(helped.len(), 9, "three calls in each of three modes");
    for task in &helped {
        assert_eq!(phase(task), Some(TaskPhase::Succeeded));
        let requester = task.spec.requested_by.as_ref().and_then(|r| r.user.clone());
        assert_eq!(requester.as_deref(), Some("ada"));
    }
    assert_eq!(tasks_of(&world.ns, "careful").await.len(), 3);

    // Another workspace's token sees none of these agents, and cannot call them.
    let other = token("agents-mcp-elsewhere", "eve");
    let seen = python_sdk_client_as(
        &url,
        "auto",
        &json!({"refused": ["helper", {"input": "Say hello."}]}),
        Some(&other),
    )
    .await;
    assert_eq!(seen["tools"], json!([]), "{seen}");
    assert!(
        seen["refused"]
            .as_str()
            .is_some_and(|e| e.contains("Unknown tool: helper")),
        "{seen}"
    );
    assert_eq!(tasks_of(&world.ns, "helper").await.len(), 9);

    // A call holds one of the workspace's open streams while it runs, as an event stream does:
    // with its one stream taken, a call is refused with the reason, and nothing is created.
    let limited = ApiServer::start(&[("AGENTAREA_WORKSPACE_MAX_STREAMS", "1".into())]).await;
    let held = limited.sse(&ada, "/v1/events", None).await;
    let seen = python_sdk_client_as(
        &limited.url("/v1/mcp"),
        "auto",
        &json!({"call": ["helper", {"input": "Say hello."}]}),
        Some(&ada),
    )
    .await;
    assert!(
        seen["called"]
            .as_str()
            .is_some_and(|t| t.starts_with("the agent's task was not created: ")),
        "{seen}"
    );
    assert_eq!(tasks_of(&world.ns, "helper").await.len(), 9);
    drop(held);

    // Without credentials: 401 in the api's error shape.
    let response = api
        .http
        .post(&url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status_code"], 401, "{body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
}

/// A client of the handshake era (rmcp's own) of the agents' endpoint at `url`, as `token`.
async fn agents_client(url: &str, token: &str) -> RunningService<RoleClient, ()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = StreamableHttpClientTransportConfig::with_uri(url.to_string())
        .auth_header(token.to_string());
    ().serve(StreamableHttpClientTransport::from_config(config))
        .await
        .unwrap_or_else(|e| panic!("initialize with {url}: {e}"))
}

/// Calls the careful agent through `client` in a task of its own: the call lasts until its Task
/// ends, which waits for a person.
fn call_careful(
    client: &RunningService<RoleClient, ()>,
) -> tokio::task::JoinHandle<Result<CallToolResult, ServiceError>> {
    let peer = client.peer().clone();
    tokio::spawn(async move {
        let arguments = json!({"input": "Say hello carefully."});
        let params = CallToolRequestParams::new("careful")
            .with_arguments(arguments.as_object().cloned().unwrap());
        peer.call_tool(params).await
    })
}

/// The careful agent's Task that waits for approval, once there is one not in `known`.
async fn awaiting_approval(ns: &TestNamespace, known: &[String]) -> Task {
    eventually(
        "the careful agent's task awaiting approval",
        Duration::from_secs(60),
        || async {
            tasks_of(ns, "careful").await.into_iter().find(|t| {
                phase(t) == Some(TaskPhase::AwaitingApproval) && !known.contains(&t.name_any())
            })
        },
    )
    .await
}

#[tokio::test]
async fn a_call_ends_with_its_deleted_task_and_a_stopping_api_leaves_its_task_running() {
    let (world, ada) = careful_world("ws-agents-mcp-ends").await;

    // The call's Task deleted while it waits: the call ends with a tool error saying so.
    let api = ApiServer::start(&[]).await;
    let client = agents_client(&api.url("/v1/mcp"), &ada).await;
    let call = call_careful(&client);
    let waiting = awaiting_approval(&world.ns, &[]).await;
    world
        .ns
        .api::<Task>()
        .delete(&waiting.name_any(), &Default::default())
        .await
        .unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(60), call)
        .await
        .expect("the call ends once its task is gone")
        .unwrap()
        .expect("a tool result, not a protocol error");
    assert_eq!(ended.is_error, Some(true), "{ended:?}");
    let said = serde_json::to_value(&ended).unwrap();
    assert_eq!(said["content"][0]["text"], "the agent's task was deleted");

    // The api replica serving a call stops (a rolling update): the call's stream ends, and its
    // Task runs on, to be followed through `/v1` or any other replica, not cancelled.
    let stopping = ApiServer::start(&[]).await;
    let client = agents_client(&stopping.url("/v1/mcp"), &ada).await;
    let call = call_careful(&client);
    let running = awaiting_approval(&world.ns, &[waiting.name_any()]).await;
    let process = stopping.process;
    let (status, graceful) =
        tokio::task::spawn_blocking(move || process.terminate(Duration::from_secs(20)))
            .await
            .unwrap();
    assert!(
        graceful && status.success(),
        "the api stops cleanly: {status}"
    );
    let ended = tokio::time::timeout(Duration::from_secs(30), call)
        .await
        .expect("the call ends with its replica")
        .unwrap();
    assert!(
        ended.as_ref().map_or(true, |r| r.is_error == Some(true)),
        "no answer from a stopped replica: {ended:?}"
    );
    let task = world
        .ns
        .api::<Task>()
        .get(&running.name_any())
        .await
        .unwrap();
    assert!(
        !task.spec.cancel,
        "the task of a stopped replica's call runs on"
    );
    assert_eq!(phase(&task), Some(TaskPhase::AwaitingApproval));
    let (status, listed) = api.get(&ada, "/v1/tasks").await;
    assert_eq!(status, 200, "{listed}");
    let followed = listed
        .as_array()
        .and_then(|tasks| tasks.iter().find(|t| t["k8s_name"] == task.name_any()))
        .unwrap_or_else(|| panic!("the task through another replica: {listed}"));
    assert_eq!(followed["status"], "awaiting_approval", "{followed}");
}

/// Two api replicas behind one address: a handshake-era client's call streams from one, and its
/// `notifications/cancelled` reaches the other, which finds the call's Task in the apiserver by
/// its label and cancels it while the client is still connected.
#[tokio::test]
async fn a_cancellation_reaching_another_replica_cancels_the_calls_task() {
    let (world, ada) = careful_world("ws-agents-mcp-replicas").await;
    let streaming = ApiServer::start(&[]).await;
    let other = ApiServer::start(&[]).await;
    let proxy = splitting_requests(&streaming.base, &other.base).await;
    let plan = json!({
        "slow": ["careful", {"input": "Say hello carefully."}],
        "give_up_after": 5.0,
        "tasks_url": streaming.url("/v1/tasks"),
    });
    let seen = python_sdk_client_as(
        &format!("{}/v1/mcp", proxy.url),
        "legacy",
        &plan,
        Some(&ada),
    )
    .await;
    assert_eq!(seen["cancelled"], true, "{seen}");
    assert_eq!(seen["cancelled_while_connected"], true, "{seen}");
    let tasks = tasks_of(&world.ns, "careful").await;
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    assert_eq!(phase(&tasks[0]), Some(TaskPhase::Cancelled));
}
