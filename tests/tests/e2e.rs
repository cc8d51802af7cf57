//! End to end on a real kind cluster: the chart installed with our image, MCP servers running as
//! pods from the examples, the scripted model as a pod, and tasks run by the operator's two
//! replicas. `scripts/e2e.sh` prepares the cluster and exports what these tests need (see
//! `agentarea_tests::e2e`); run alone with `cargo test -p agentarea-tests --test e2e`. Not part of
//! `cargo test --workspace` (`test = false` in tests/Cargo.toml).
//!
//! Each test is one outcome a user sees, in a workspace namespace of its own.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use agentarea_crds::common::{condition, is_condition_true};
use agentarea_crds::mcp_server_instance::McpPhase;
use agentarea_crds::{Agent, McpServerInstance, Task, TaskPhase, reasons, steps};
use agentarea_operator::mcp::{call_tool, discover};
use agentarea_tests::api::SseEvent;
use agentarea_tests::e2e::{
    self, API_REPLICAS, DumpOnPanic, ModelPod, OPERATOR_REPLICAS, POD_START, PortForward,
    Workspace, apply, delete_namespace_later, deployment_rolled_out, env, example, examples_dir,
    fullname, kubectl, kubectl_ok, pod_ready, pods, scrape_pods, short_id, text, token,
    wait_explained, wait_for, wait_for_object,
};
use agentarea_tests::helm;
use agentarea_tests::mcp_servers::{
    assert_answered_as_specified, endpoint, python_sdk_client, python_sdk_client_as,
};
use agentarea_tests::metrics::summed;
use agentarea_tests::model::{content_text, messages};
use agentarea_tests::objects::{pod_spec, step_types};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Container, Pod, PodSpec, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};

/// How long a run of a task, or the operator reacting to a change, may take on the small
/// machine the cluster runs on.
const RUN: Duration = Duration::from_secs(300);

#[path = "e2e/gitops.rs"]
mod gitops;
#[path = "e2e/replicas.rs"]
mod replicas;

// ---- helpers of this file ----

fn ready(conditions: &Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>) -> bool {
    is_condition_true(Some(conditions), condition::READY)
}

/// Waits until instance `name` is Running and Ready with (at least) `tools`, and returns it.
async fn instance_ready(ws: &Workspace, name: &str, tools: &[&str]) -> McpServerInstance {
    let what = format!("MCP server instance {name} Running with tools {tools:?}");
    let api = ws.api::<McpServerInstance>();
    wait_for_object(&api, name, &what, POD_START, |instance| {
        let status = instance.status.clone().unwrap_or_default();
        let names: Vec<&str> = status.tools.iter().map(|t| t.name.as_str()).collect();
        let done = status.phase == Some(McpPhase::Running)
            && ready(&status.conditions)
            && tools.iter().all(|t| names.contains(t));
        if done {
            Ok(())
        } else {
            Err(format!(
                "phase {:?}, tools {names:?}, conditions {:?}",
                status.phase, status.conditions
            ))
        }
    })
    .await
}

/// Whether object `name` of kind `K` still exists in the workspace (for waiting on garbage
/// collection).
async fn still_there<K>(ws: &Workspace, name: &str) -> Result<bool, String>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    Ok(ws
        .api::<K>()
        .get_opt(name)
        .await
        .map_err(|e| e.to_string())?
        .is_some())
}

/// The names of the tools an instance lists in status.
fn tool_names(instance: &McpServerInstance) -> Vec<String> {
    instance
        .status
        .iter()
        .flat_map(|s| &s.tools)
        .map(|t| t.name.clone())
        .collect()
}

/// The path of a URL (`http://host:port/mcp` -> `/mcp`).
fn path_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.find('/').map_or("/".into(), |i| rest[i..].to_string())
}

/// The one pod of a managed instance, once it is Ready.
async fn instance_pod(ws: &Workspace, name: &str) -> Pod {
    let selector = format!("app.kubernetes.io/name=mcp-server,app.kubernetes.io/instance={name}");
    wait_explained(&format!("the pod of {name} Ready"), POD_START, || async {
        let found = pods(&ws.client, &ws.namespace, &selector).await;
        match found.iter().filter(|p| pod_ready(p)).collect::<Vec<_>>()[..] {
            [pod] => Ok(pod.clone()),
            _ => Err(format!(
                "pods: {:?}",
                found
                    .iter()
                    .map(|p| (
                        p.name_any(),
                        p.status.as_ref().and_then(|s| s.phase.clone())
                    ))
                    .collect::<Vec<_>>()
            )),
        }
    })
    .await
}

/// Calls `tool` at `url` until the call goes through (a fresh port-forward or server may refuse
/// the first connection), and returns the result.
async fn call(url: &str, tool: &str, arguments: Value) -> Value {
    wait_explained(&format!("{tool} answered at {url}"), RUN, || {
        let arguments = arguments.clone();
        async move {
            call_tool(&endpoint(url), tool, arguments)
                .await
                .map_err(|e| e.to_string())
        }
    })
    .await
}

/// The text of a `CallToolResult` (as JSON): its text contents, joined.
fn result_text(result: &Value) -> String {
    result["content"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["text"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

fn steps_listing(task: &Task) -> String {
    task.status
        .iter()
        .flat_map(|s| &s.steps)
        .map(|s| {
            format!(
                "{} {}: {}",
                s.seq,
                s.type_,
                s.message.as_deref().unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The managed example applied, its instance `everything` Ready with `echo`, and model pod `name`
/// started with `args`, then scripted to call echo with `message`.
async fn managed_echo(ws: &Workspace, name: &str, message: &str, args: &[&str]) -> ModelPod {
    apply(&ws.namespace, &example("mcp-managed.yaml"));
    let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    args.push("--call".into());
    args.push(format!("echo={}", json!({"message": message})));
    let model = ModelPod::deploy(&ws.client, &ws.namespace, name, &args).await;
    instance_ready(ws, "everything", &["echo"]).await;
    model
}

/// An Agent `name` on `model` that may call `echo` of the managed instance `everything`; waits
/// until it is Ready.
async fn echo_agent(ws: &Workspace, name: &str, model: &ModelPod) -> Agent {
    let api = ws.api::<Agent>();
    agentarea_tests::create(
        &api,
        json!({"apiVersion": "agentarea.io/v1alpha1", "kind": "Agent", "metadata": {"name": name},
               "spec": {"instruction": "Use your tools.",
                        "model": {"name": "scripted", "endpoint": model.url},
                        "mcpServers": [{"name": "everything",
                                        "allowedTools": [{"name": "echo", "requiresUserConfirmation": false}]}],
                        "limits": {"maxSteps": 10, "timeoutSeconds": 900}}}),
    )
    .await;
    wait_explained(&format!("agent {name} Ready"), RUN, || async {
        let agent = api.get(name).await.map_err(|e| e.to_string())?;
        let conditions = agent
            .status
            .as_ref()
            .map(|s| s.conditions.clone())
            .unwrap_or_default();
        if ready(&conditions) {
            Ok(agent)
        } else {
            Err(format!("{conditions:?}"))
        }
    })
    .await
}

// ---- 1. the release ----

#[tokio::test]
async fn release_pods_are_ready_and_the_api_answers_with_a_token_from_its_pod() {
    let e = env();
    let _replicas = OPERATOR_REPLICAS.read().await;
    let _api_replicas = API_REPLICAS.read().await;
    let _dump = DumpOnPanic(vec![e.release_namespace.clone()]);
    let client = e2e::client().await;

    for (deployment, component) in [(e.operator(), "operator"), (e.api(), "api")] {
        let rolled_out = deployment_rolled_out(&client, &e.release_namespace, &deployment).await;
        let wanted = rolled_out
            .spec
            .as_ref()
            .and_then(|s| s.replicas)
            .unwrap_or(1) as usize;
        if component == "operator" {
            assert_eq!(wanted, 2, "the release runs two operator replicas");
            let container = &pod_spec(&rolled_out).containers[0];
            let leader_elect = container
                .env
                .iter()
                .flatten()
                .find(|v| v.name == "AGENTAREA_LEADER_ELECT")
                .and_then(|v| v.value.clone());
            assert_eq!(
                leader_elect.as_deref(),
                Some("true"),
                "leader election is on"
            );
        }
        let selector = e.selector(component);
        wait_explained(
            &format!("{wanted} {component} pods Ready"),
            POD_START,
            || async {
                let found = pods(&client, &e.release_namespace, &selector).await;
                let ready: Vec<String> = found
                    .iter()
                    .filter(|p| pod_ready(p))
                    .map(|p| p.name_any())
                    .collect();
                if ready.len() == wanted && found.len() == wanted {
                    Ok(())
                } else {
                    Err(format!(
                        "ready {ready:?} of {:?}",
                        found.iter().map(|p| p.name_any()).collect::<Vec<_>>()
                    ))
                }
            },
        )
        .await;
    }

    let api = e2e::api();
    for path in ["/healthz", "/readyz"] {
        let response = api
            .http
            .get(api.url(path))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path} through AGENTAREA_E2E_API_URL: {e}"));
        assert_eq!(response.status(), 200, "GET {path}");
    }
    let (status, body) = api.send(api.http.get(api.url("/v1/agents"))).await;
    assert_eq!(status, 401, "no token, no agents: {body}");

    let token = token(&format!("e2e-smoke-{}", short_id()));
    let (status, agents) = api.get(&token, "/v1/agents").await;
    assert_eq!(status, 200, "{agents}");
    assert!(agents.is_array(), "a list: {agents}");

    // The image serves the console, whose modules run in a browser: without credentials it
    // renders its sign-in page.
    let console = api.http.get(api.url("/console/")).send().await.unwrap();
    assert_eq!(console.status(), 200);
    assert!(console.headers().contains_key("content-security-policy"));
    let dom = agentarea_tests::browser::rendered_dom(&api.url("/console/")).await;
    assert!(
        dom.contains("Bearer token"),
        "the console rendered no sign-in page:\n{}",
        &dom[..dom.len().min(2000)]
    );
}

// ---- 2. a managed streamable HTTP server ----

#[tokio::test]
async fn a_managed_server_runs_as_a_pod_lists_its_tools_and_goes_with_its_instance() {
    let ws = Workspace::create("managed").await;
    apply(&ws.namespace, &example("mcp-managed.yaml"));

    let deployments = ws.api::<Deployment>();
    let deployment = wait_for("Deployment everything", RUN, || async {
        deployments.get_opt("everything").await.ok().flatten()
    })
    .await;
    let owner = &deployment.owner_references()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str(), owner.controller),
        ("McpServerInstance", "everything", Some(true))
    );
    assert_eq!(
        pod_spec(&deployment).containers[0].image.as_deref(),
        Some(env().image_node.as_str())
    );

    let pod = instance_pod(&ws, "everything").await;
    assert_eq!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Running")
    );
    let instance = instance_ready(&ws, "everything", &["echo"]).await;
    let status = instance.status.as_ref().unwrap();
    assert_eq!(
        status.endpoint.as_deref(),
        Some(format!("http://everything.{}.svc:3001/mcp", ws.namespace).as_str()),
        "discovered through the in-cluster Service DNS name"
    );
    let service = ws
        .api::<Service>()
        .get("everything")
        .await
        .expect("Service everything");
    let ports: Vec<i32> = service
        .spec
        .unwrap()
        .ports
        .unwrap()
        .iter()
        .map(|p| p.port)
        .collect();
    assert_eq!(ports, [3001]);

    // Deleting the instance takes its children with it (garbage collection of owned objects).
    ws.api::<McpServerInstance>()
        .delete("everything", &DeleteParams::default())
        .await
        .expect("delete the instance");
    let selector = "app.kubernetes.io/instance=everything";
    wait_explained(
        "Deployment, Service, ServiceAccount and pods gone",
        RUN,
        || async {
            let mut left = Vec::new();
            if still_there::<Deployment>(&ws, "everything").await? {
                left.push("deployment".to_string());
            }
            if still_there::<Service>(&ws, "everything").await? {
                left.push("service".into());
            }
            if still_there::<ServiceAccount>(&ws, "everything").await? {
                left.push("serviceaccount".into());
            }
            left.extend(
                pods(&ws.client, &ws.namespace, selector)
                    .await
                    .iter()
                    .map(|p| format!("pod/{}", p.name_any())),
            );
            if left.is_empty() {
                Ok(())
            } else {
                Err(format!("left: {left:?}"))
            }
        },
    )
    .await;
    ws.delete().await;
}

// ---- 3. a managed stdio server behind the bridge ----

#[tokio::test]
async fn a_stdio_server_runs_behind_the_bridge_copied_into_its_pod_and_answers_a_call() {
    let ws = Workspace::create("stdio").await;
    apply(&ws.namespace, &example("mcp-stdio.yaml"));

    let pod = instance_pod(&ws, "time").await;
    let spec = pod.spec.as_ref().unwrap();
    let init = spec
        .init_containers
        .iter()
        .flatten()
        .find(|c| c.name == "install-bridge")
        .expect("an install-bridge init container");
    let operator = Api::<Deployment>::namespaced(ws.client.clone(), &env().release_namespace)
        .get(&env().operator())
        .await
        .expect("the operator Deployment");
    let bridge_image = pod_spec(&operator).containers[0]
        .env
        .iter()
        .flatten()
        .find(|v| v.name == "AGENTAREA_MCP_BRIDGE_IMAGE")
        .and_then(|v| v.value.clone());
    assert_eq!(
        init.image, bridge_image,
        "the bridge comes from the operator's bridge image"
    );
    let copied = pod
        .status
        .as_ref()
        .and_then(|s| s.init_container_statuses.as_ref())
        .and_then(|s| s.iter().find(|c| c.name == "install-bridge"))
        .and_then(|c| c.state.as_ref())
        .and_then(|s| s.terminated.as_ref())
        .map(|t| t.exit_code);
    assert_eq!(
        copied,
        Some(0),
        "install-bridge copied the binary and exited 0"
    );
    let server = &spec.containers[0];
    assert_eq!(server.image.as_deref(), Some(env().image_uv.as_str()));
    let command = server.command.clone().unwrap_or_default();
    assert_eq!(
        command.first().map(String::as_str),
        Some(agentarea_operator::mcp::bridge::BRIDGE_PATH),
        "the server's container runs the copied bridge: {command:?}"
    );
    assert!(
        command.iter().any(|a| a == "uvx"),
        "with the stdio server as its child: {command:?}"
    );

    let instance = instance_ready(&ws, "time", &["get_current_time"]).await;
    let url = instance.status.as_ref().unwrap().endpoint.clone().unwrap();
    assert_eq!(url, format!("http://time.{}.svc:8080/mcp", ws.namespace));

    // A real MCP client on the host, through a port-forward to the instance's Service.
    let forward = PortForward::start(&ws.namespace, "svc/time", 8080).await;
    let local = forward.url(&path_of(&url));
    let listed = wait_explained("tools/list through the port-forward", RUN, || async {
        discover(&endpoint(&local)).await.map_err(|e| e.to_string())
    })
    .await;
    let names: Vec<&str> = listed.tools.iter().map(|t| t.name.as_str()).collect();
    assert!(
        names.contains(&"get_current_time") && names.contains(&"convert_time"),
        "{names:?}"
    );
    let now = call(&local, "get_current_time", json!({"timezone": "UTC"})).await;
    assert_ne!(now["isError"], true, "{now}");
    assert!(
        result_text(&now).contains("UTC"),
        "the time server answered: {now}"
    );

    // The official Python SDK, in each of its modes, through the bridge in the pod.
    let plan = json!({"call": ["get_current_time", {"timezone": "UTC"}]});
    for mode in ["auto", "legacy", "2026-07-28"] {
        let seen = python_sdk_client(&local, mode, &plan).await;
        assert!(
            seen["called"].as_str().is_some_and(|t| t.contains("UTC")),
            "{mode}: {seen}"
        );
        assert_eq!(seen["warnings"], json!([]), "the SDK complained in {mode}");
    }
    drop(forward);
    ws.delete().await;
}

// ---- 4. a compound instance through the operator's gateway ----

#[tokio::test]
async fn a_compound_instance_is_served_by_the_gateway_with_prefixed_tools() {
    let e = env();
    let ws = Workspace::create("compound").await;
    for file in ["mcp-managed.yaml", "mcp-stdio.yaml", "mcp-compound.yaml"] {
        apply(&ws.namespace, &example(file));
    }
    let compound = instance_ready(&ws, "toolbox", &["ev_echo", "time_get_current_time"]).await;
    let names = tool_names(&compound);
    assert!(
        names
            .iter()
            .all(|n| n.starts_with("time_") || n.starts_with("ev_")),
        "every tool under its member's prefix: {names:?}"
    );
    assert_eq!(
        names
            .iter()
            .filter(|n| n.starts_with("ev_"))
            .collect::<Vec<_>>(),
        ["ev_echo"],
        "include: [echo]"
    );
    let path = format!("/mcp/compound/{}/toolbox", ws.namespace);
    assert_eq!(
        compound.status.as_ref().unwrap().endpoint.as_deref(),
        Some(
            format!(
                "http://{}.{}.svc:8090{path}",
                e.operator(),
                e.release_namespace
            )
            .as_str()
        )
    );

    let _replicas = OPERATOR_REPLICAS.read().await;
    let forward =
        PortForward::start(&e.release_namespace, &format!("svc/{}", e.operator()), 8090).await;
    let url = forward.url(&path);
    let listed = wait_explained("tools/list through the gateway", RUN, || async {
        discover(&endpoint(&url)).await.map_err(|e| e.to_string())
    })
    .await;
    let mut listed: Vec<String> = listed.tools.iter().map(|t| t.name.clone()).collect();
    listed.sort();
    let mut expected = names.clone();
    expected.sort();
    assert_eq!(listed, expected, "the gateway lists the compound's tools");

    let message = format!("through the gateway {}", ws.id);
    let echoed = call(&url, "ev_echo", json!({"message": message})).await;
    assert_ne!(echoed["isError"], true, "{echoed}");
    assert!(
        result_text(&echoed).contains(&message),
        "server-everything echoed: {echoed}"
    );
    let now = call(&url, "time_get_current_time", json!({"timezone": "UTC"})).await;
    assert!(result_text(&now).contains("UTC"), "{now}");

    // The official Python SDK, in each of its modes, through the gateway in the operator.
    let plan = json!({"call": ["ev_echo", {"message": message}]});
    for mode in ["auto", "legacy", "2026-07-28"] {
        let seen = python_sdk_client(&url, mode, &plan).await;
        assert_eq!(seen["tools"], json!(expected), "{mode}: {seen}");
        assert!(
            seen["called"]
                .as_str()
                .is_some_and(|t| t.contains(&message)),
            "{mode}: {seen}"
        );
        assert_answered_as_specified(&seen, mode);
    }
    drop(forward);
    ws.delete().await;
}

// ---- 5. a task through the REST api ----

/// The events of a task's SSE stream up to its terminal event (`task_completed`, `task_failed`,
/// `task_cancelled`).
async fn until_finished(stream: &mut agentarea_tests::api::SseStream) -> Vec<SseEvent> {
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + RUN;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let Some(event) = stream.next(left).await else {
            panic!("the stream ended before the task did; events: {events:#?}");
        };
        let done = event.event.starts_with("task_") && event.event != "task_created";
        events.push(event);
        if done {
            return events;
        }
    }
}

#[tokio::test]
async fn a_task_posted_to_the_api_calls_the_managed_tool_and_streams_its_steps() {
    let ws = Workspace::create("task").await;
    let message = format!("hello from {}", ws.id);
    let model = managed_echo(&ws, "model", &message, &[]).await;

    let _api_replicas = API_REPLICAS.read().await;
    let api = e2e::api();
    let token = token(&ws.id);
    let (status, agent) = api
        .post(
            &token,
            "/v1/agents",
            &json!({"name": "echoer", "instruction": "Use your tools.", "model_id": "scripted",
                    "model_endpoint": model.url,
                    "tools_config": {"mcp_server_configs": [{"mcp_server_id": "everything",
                        "allowed_tools": [{"tool_name": "echo", "requires_user_confirmation": false}]}]}}),
        )
        .await;
    assert_eq!(status, 201, "{agent}");
    let agent_id = agent["id"].as_str().unwrap().to_string();
    wait_explained("the agent ready with echo", RUN, || async {
        let (status, agent) = api.get(&token, &format!("/v1/agents/{agent_id}")).await;
        let tools = agent["tools"].as_array().cloned().unwrap_or_default();
        if status == 200 && agent["ready"] == true && tools.contains(&json!("echo")) {
            Ok(())
        } else {
            Err(format!("{status} {agent}"))
        }
    })
    .await;

    let _replicas = OPERATOR_REPLICAS.read().await;
    let (status, task) = api
        .post(
            &token,
            "/v1/tasks",
            &json!({"agent_id": agent_id, "description": "Echo the greeting"}),
        )
        .await;
    assert_eq!(status, 201, "{task}");
    let task_id = task["id"].as_str().unwrap().to_string();
    let mut stream = api
        .sse(&token, &format!("/v1/tasks/{task_id}/events"), None)
        .await;
    assert_eq!(stream.status, 200);
    let events = until_finished(&mut stream).await;
    let names: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    let terminal = events.last().unwrap();
    assert_eq!(terminal.event, "task_completed", "{events:#?}");

    // The steps arrived in order, each once: started, the tool call, completed.
    let ids: Vec<i64> = events
        .iter()
        .filter(|e| e.event != "connected")
        .map(|e| e.id.as_deref().unwrap_or_default().parse().unwrap_or(-1))
        .collect();
    assert_eq!(
        ids,
        (1..=ids.len() as i64).collect::<Vec<_>>(),
        "gapless ids: {names:?}"
    );
    let mut wanted = [
        steps::WORKFLOW_STARTED,
        steps::TOOL_CALL_STARTED,
        steps::TOOL_CALL_COMPLETED,
        steps::WORKFLOW_COMPLETED,
    ]
    .into_iter()
    .peekable();
    for name in &names {
        if wanted.peek() == Some(name) {
            wanted.next();
        }
    }
    assert_eq!(wanted.next(), None, "steps in order: {names:?}");
    let echoed = format!("Echo: {message}");
    let tool_done = events
        .iter()
        .find(|e| e.event == steps::TOOL_CALL_COMPLETED)
        .unwrap();
    assert_eq!(
        tool_done.data["data"]["data"]["tool"], "echo",
        "{tool_done:?}"
    );
    assert!(
        tool_done.data.to_string().contains(&echoed),
        "the managed pod's echo: {tool_done:?}"
    );
    assert!(
        terminal.data.to_string().contains(&echoed),
        "the result quotes the tool: {terminal:?}"
    );

    let (status, done) = api.get(&token, &format!("/v1/tasks/{task_id}")).await;
    assert_eq!(status, 200);
    assert_eq!(done["status"], "completed", "{done}");
    assert!(done["result"].to_string().contains(&echoed), "{done}");

    // The model saw the real tool's output.
    let requests = model.requests();
    assert!(
        requests.iter().any(|r| messages(r)
            .iter()
            .any(|m| m["role"] == "tool" && content_text(m).contains(&echoed))),
        "a tool result reached the model: {requests:#?}"
    );
    drop(stream);

    // The same agent as a tool of the workspace's MCP endpoint, through the api's Service (three
    // replicas), in each of the official SDK's connect modes: the SDK calls it, the agent calls
    // the managed pod's echo, and each step comes as progress.
    let url = format!("{}/v1/mcp", env().api_url);
    let plan = json!({"progress": ["echoer", {"input": "Echo the greeting"}]});
    for mode in ["auto", "legacy", "2026-07-28"] {
        let seen = python_sdk_client_as(&url, mode, &plan, Some(&token)).await;
        assert_eq!(seen["tools"], json!(["echoer"]), "{mode}: {seen}");
        assert!(
            seen["progressed"]
                .as_str()
                .is_some_and(|t| t.contains(&echoed)),
            "{mode}: the answer quotes the managed pod's echo: {seen}"
        );
        let messages = seen["progress_messages"].to_string();
        assert!(
            messages.contains("ToolCallStarted: calling echo"),
            "{mode}: {messages}"
        );
        assert_eq!(seen["warnings"], json!([]), "the SDK complained in {mode}");
    }

    assert_the_run_is_counted_where_prometheus_scrapes(&ws).await;
    ws.delete().await;
}

/// Each operator and api pod answers `/metrics` on the port its ServiceMonitor names, and summed
/// over the pods (the replica that ran the task is any of them) the run is counted.
async fn assert_the_run_is_counted_where_prometheus_scrapes(ws: &Workspace) {
    let env = env();
    let client = e2e::client().await;
    let namespace = &env.release_namespace;
    let tool_call = format!(
        r#"agentarea_operator_tool_calls_total{{namespace="{}",instance="everything",tool="echo",outcome="ok"}}"#,
        ws.namespace
    );
    let created =
        r#"agentarea_api_http_requests_total{method="POST",route="/v1/tasks",status="201"}"#;
    wait_explained("the run counted on the pods' /metrics", RUN, || async {
        let operators = scrape_pods(&client, namespace, &env.selector("operator"), "health").await;
        let apis = scrape_pods(&client, namespace, &env.selector("api"), "http").await;
        let counted = [
            (tool_call.as_str(), summed(&operators, &tool_call)),
            (created, summed(&apis, created)),
            (
                r#"agentarea_operator_tasks_finished_total{phase="Succeeded",reason="Completed"}"#,
                summed(
                    &operators,
                    r#"agentarea_operator_tasks_finished_total{phase="Succeeded",reason="Completed"}"#,
                ),
            ),
        ];
        match counted.iter().find(|(_, value)| *value < 1.0) {
            None => Ok(()),
            Some((series, value)) => Err(format!("{series} = {value}")),
        }
    })
    .await;
}

// ---- 6. the examples under GitOps ----

/// `kubectl diff` exits 0. A diff shows the live object's status too, which the operator may
/// write between kubectl's read and its dry run; such a difference goes away when asked again,
/// drift of a manifest does not.
fn assert_no_drift(args: &[&str]) {
    let mut seen = Vec::new();
    for _ in 0..10 {
        let output = kubectl(args);
        match output.status.code() {
            Some(0) => return,
            Some(1) => seen.push(text(&output)),
            _ => panic!("kubectl {args:?} failed: {}", text(&output)),
        }
        std::thread::sleep(Duration::from_secs(3));
    }
    panic!(
        "kubectl {args:?} shows drift every time; last:\n{}",
        seen.last().unwrap()
    );
}

#[tokio::test]
async fn the_examples_applied_client_and_server_side_show_no_drift() {
    let ws = Workspace::create("examples").await;
    let dir = examples_dir();
    let dir = dir.to_str().unwrap();
    let ns = ws.namespace.as_str();

    let applied = kubectl_ok("kubectl apply -f examples/", ["apply", "-n", ns, "-f", dir]);
    assert!(
        applied.contains("mcpserverinstance.agentarea.io/everything created"),
        "{applied}"
    );
    assert_no_drift(&["diff", "-n", ns, "-f", dir]);
    let again = kubectl_ok("kubectl apply again", ["apply", "-n", ns, "-f", dir]);
    for line in again.lines() {
        assert!(
            line.ends_with(" unchanged"),
            "applying again changes nothing: {again}"
        );
    }

    kubectl_ok(
        "kubectl apply --server-side",
        ["apply", "--server-side", "-n", ns, "-f", dir],
    );
    assert_no_drift(&["diff", "--server-side", "-n", ns, "-f", dir]);
    kubectl_ok(
        "kubectl apply --server-side again",
        ["apply", "--server-side", "-n", ns, "-f", dir],
    );
    assert_no_drift(&["diff", "--server-side", "-n", ns, "-f", dir]);
    let _ = std::fs::remove_dir_all(dir);
    ws.delete().await;
}

// ---- 7. a runner lost mid-run ----

#[tokio::test]
async fn a_task_whose_runner_pod_is_deleted_ends_exactly_once() {
    let e = env();
    let ws = Workspace::create("takeover").await;
    let message = format!("slow {}", ws.id);
    let model = managed_echo(&ws, "slow-model", &message, &["--delay-ms", "4000"]).await;
    echo_agent(&ws, "slow", &model).await;

    // Nothing else may run on the operator while one of its replicas is taken away.
    let _replicas = OPERATOR_REPLICAS.write().await;
    let _dump = DumpOnPanic(vec![e.release_namespace.clone()]);
    let client: Client = ws.client.clone();
    deployment_rolled_out(&client, &e.release_namespace, &e.operator()).await;
    let tasks = ws.api::<Task>();
    agentarea_tests::create(
        &tasks,
        json!({"apiVersion": "agentarea.io/v1alpha1", "kind": "Task", "metadata": {"name": "slow"},
               "spec": {"agent": "slow", "input": "Echo slowly"}}),
    )
    .await;
    let (holder, running) = wait_explained("the task Running with a claim", RUN, || async {
        let task = tasks.get("slow").await.map_err(|e| e.to_string())?;
        let status = task.status.clone().unwrap_or_default();
        match (&status.phase, &status.claim) {
            (Some(TaskPhase::Running), Some(claim)) => Ok((claim.holder.clone(), task)),
            _ => Err(format!(
                "phase {:?}, claim {:?}",
                status.phase, status.claim
            )),
        }
    })
    .await;
    // The holder is `<AGENTAREA_POD_NAME>/<process id>`.
    let runner = holder.split('/').next().unwrap().to_string();
    let operator_pods = pods(&client, &e.release_namespace, &e.selector("operator")).await;
    assert!(
        operator_pods.iter().any(|p| p.name_any() == runner),
        "the claim {holder} names an operator pod: {:?}",
        operator_pods
            .iter()
            .map(|p| p.name_any())
            .collect::<Vec<_>>()
    );
    eprintln!(
        "deleting runner pod {runner} at step {:?}",
        step_types(&running).last()
    );
    Api::<Pod>::namespaced(client.clone(), &e.release_namespace)
        .delete(&runner, &DeleteParams::default())
        .await
        .expect("delete the runner's pod");

    let task = wait_explained("the task finished", RUN, || async {
        let task = tasks.get("slow").await.map_err(|e| e.to_string())?;
        let phase = task.status.as_ref().and_then(|s| s.phase);
        if phase.is_some_and(TaskPhase::is_finished) {
            Ok(task)
        } else {
            Err(format!("phase {phase:?}; steps:\n{}", steps_listing(&task)))
        }
    })
    .await;
    let status = task.status.clone().unwrap();
    let steps = steps_listing(&task);
    let types = step_types(&task);
    match (status.phase, status.reason.as_deref()) {
        (Some(TaskPhase::Succeeded), _) => {
            let result = status
                .result
                .as_ref()
                .map(Value::to_string)
                .unwrap_or_default();
            assert!(
                result.contains(&format!("Echo: {message}")),
                "{result}\n{steps}"
            );
        }
        (Some(TaskPhase::Failed), Some(reasons::RUNNER_LOST)) => {}
        other => panic!("the task ended {other:?}, neither by takeover nor RunnerLost:\n{steps}"),
    }
    let terminal: Vec<&String> = types
        .iter()
        .filter(|t| {
            matches!(
                t.as_str(),
                steps::WORKFLOW_COMPLETED | steps::WORKFLOW_FAILED | steps::WORKFLOW_CANCELLED
            )
        })
        .collect();
    assert_eq!(terminal.len(), 1, "exactly one end:\n{steps}");
    assert!(
        types
            .iter()
            .any(|t| t == steps::RUNNER_STOPPED || t == steps::RUNNER_LOST)
            || status.reason.as_deref() == Some(reasons::RUNNER_LOST),
        "the run was handed over after {runner} went away:\n{steps}"
    );
    let seqs: Vec<i64> = status.steps.iter().map(|s| s.seq).collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "gapless steps:\n{steps}"
    );
    let started_calls: Vec<String> = status
        .steps
        .iter()
        .filter(|s| s.type_ == steps::TOOL_CALL_STARTED)
        .filter_map(|s| s.data.as_ref()?["tool_call_id"].as_str().map(String::from))
        .collect();
    // One call of the tool; made a second time only if it was in doubt when the runner went,
    // which echo allows by declaring itself idempotent (same call id, same idempotency key).
    let distinct: std::collections::HashSet<&String> = started_calls.iter().collect();
    assert!(
        distinct.len() <= 1 && started_calls.len() <= 2,
        "the tool was called for one call only:\n{steps}"
    );

    // No tool result went to the model twice: each call id answers in one request, once.
    let requests = model.requests();
    let mut sent: HashMap<String, usize> = HashMap::new();
    for request in &requests {
        let ids: Vec<String> = messages(request)
            .iter()
            .filter(|m| m["role"] == "tool")
            .map(|m| m["tool_call_id"].as_str().unwrap_or_default().to_string())
            .collect();
        let unique: BTreeSet<&String> = ids.iter().collect();
        assert_eq!(
            unique.len(),
            ids.len(),
            "a tool result twice in one request: {request}"
        );
        for id in unique {
            *sent.entry(id.clone()).or_default() += 1;
        }
    }
    for (id, count) in &sent {
        assert_eq!(
            *count, 1,
            "the result of {id} was sent to the model {count} times"
        );
        assert!(
            started_calls.contains(id),
            "{id} is a call the task recorded:\n{steps}"
        );
    }
    if status.phase == Some(TaskPhase::Succeeded) {
        assert_eq!(sent.len(), 1, "the successful run sent its one tool result");
    }

    // The Deployment brings the replica back.
    wait_explained(
        &format!("{runner} gone and two operator replicas Ready"),
        POD_START,
        || async {
            let found = pods(&client, &e.release_namespace, &e.selector("operator")).await;
            let names: Vec<String> = found.iter().map(|p| p.name_any()).collect();
            let ready = found.iter().filter(|p| pod_ready(p)).count();
            if !names.contains(&runner) && found.len() == 2 && ready == 2 {
                Ok(())
            } else {
                Err(format!("pods {names:?}, {ready} ready"))
            }
        },
    )
    .await;
    deployment_rolled_out(&client, &e.release_namespace, &e.operator()).await;
    ws.delete().await;
}

// ---- 8. helm upgrade and uninstall of a second release ----

/// A second release of the chart, uninstalled (and its namespace deleted) when the test ends
/// without having done so.
struct SecondRelease {
    release: String,
    namespace: String,
    done: bool,
}

impl Drop for SecondRelease {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let kubeconfig = env().kubeconfig.clone();
        let output = helm(
            [
                "uninstall",
                self.release.as_str(),
                "-n",
                self.namespace.as_str(),
                "--wait",
                "--timeout",
                "2m",
            ],
            Some(kubeconfig.as_path()),
        );
        eprintln!(
            "cleanup: helm uninstall {}: {}",
            self.release,
            text(&output)
        );
        delete_namespace_later(&self.namespace);
    }
}

fn env_value(deployment: &Deployment, name: &str) -> Option<String> {
    deployment
        .spec
        .as_ref()?
        .template
        .spec
        .as_ref()?
        .containers
        .first()?
        .env
        .iter()
        .flatten()
        .find(|v| v.name == name)?
        .value
        .clone()
}

fn revision(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> Option<i64> {
    meta.annotations
        .as_ref()?
        .get("deployment.kubernetes.io/revision")?
        .parse()
        .ok()
}

fn helm_ok<const N: usize>(what: &str, args: [&str; N]) -> String {
    let output = helm(args, Some(env().kubeconfig.as_path()));
    assert!(output.status.success(), "{what} failed:\n{}", text(&output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn helm_upgrade_rolls_out_and_uninstall_leaves_only_the_crds() {
    let e = env();
    let id = short_id();
    let release = format!("e2e-lifecycle-{id}");
    let namespace = format!("e2e-lifecycle-{id}");
    let unused = format!("e2e-unwatched-{id}");
    let mut guard = SecondRelease {
        release: release.clone(),
        namespace: namespace.clone(),
        done: false,
    };
    let _dump = DumpOnPanic(vec![namespace.clone()]);
    let client = e2e::client().await;
    let chart = e2e::chart().display().to_string();
    let values = e.chart_values.display().to_string();
    let watch = format!("operator.extraArgs=[\"--watch-namespace={unused}\"]");
    let install = |concurrency: Option<i64>| {
        let set = concurrency.map(|value| format!("operator.taskConcurrency={value}"));
        let mut args = vec![
            "upgrade",
            "--install",
            release.as_str(),
            chart.as_str(),
            "-n",
            namespace.as_str(),
            "--create-namespace",
            "-f",
            values.as_str(),
            "--set",
            "api.service.type=ClusterIP",
            "--set",
            "api.service.nodePort=null",
            "--set",
            "operator.replicas=1",
            "--set-json",
            watch.as_str(),
            "--wait",
            "--timeout",
            "5m",
        ];
        if let Some(set) = &set {
            args.extend(["--set", set.as_str()]);
        }
        let output = helm(&args, Some(e.kubeconfig.as_path()));
        assert!(
            output.status.success(),
            "helm {args:?} failed:\n{}",
            text(&output)
        );
    };
    let operator = format!("{}-operator", fullname(&release));

    install(None);
    let first = deployment_rolled_out(&client, &namespace, &operator).await;
    let args = pod_spec(&first).containers[0].args.clone();
    assert_eq!(args, Some(vec![format!("--watch-namespace={unused}")]));
    let before: i64 = env_value(&first, "AGENTAREA_TASK_CONCURRENCY")
        .expect("AGENTAREA_TASK_CONCURRENCY in the operator's env")
        .parse()
        .expect("a number");
    let after = if before < 1024 {
        before + 1
    } else {
        before - 1
    };
    let first_revision = revision(&first.metadata).expect("a rolled-out Deployment has a revision");

    install(Some(after));
    let status: Value = serde_json::from_str(&helm_ok(
        "helm status",
        [
            "status",
            release.as_str(),
            "-n",
            namespace.as_str(),
            "-o",
            "json",
        ],
    ))
    .expect("helm status -o json");
    assert_eq!(
        (status["version"].clone(), status["info"]["status"].clone()),
        (json!(2), json!("deployed"))
    );
    let upgraded = deployment_rolled_out(&client, &namespace, &operator).await;
    let new_revision = revision(&upgraded.metadata).unwrap();
    assert!(new_revision > first_revision, "a new revision rolled out");
    assert_eq!(
        env_value(&upgraded, "AGENTAREA_TASK_CONCURRENCY"),
        Some(after.to_string())
    );
    let selector =
        format!("app.kubernetes.io/instance={release},app.kubernetes.io/component=operator");
    wait_explained(
        "the new ReplicaSet serves alone, with the new value",
        POD_START,
        || async {
            let sets = Api::<ReplicaSet>::namespaced(client.clone(), &namespace)
                .list(&ListParams::default().labels(&selector))
                .await
                .map_err(|e| e.to_string())?
                .items;
            let current = sets
                .iter()
                .find(|s| revision(&s.metadata) == Some(new_revision))
                .ok_or("no ReplicaSet of the new revision")?;
            let template_env = current
                .spec
                .as_ref()
                .and_then(|s| s.template.as_ref())
                .and_then(|t| t.spec.as_ref())
                .and_then(|s| s.containers[0].env.clone())
                .unwrap_or_default();
            let value = template_env
                .iter()
                .find(|v| v.name == "AGENTAREA_TASK_CONCURRENCY")
                .and_then(|v| v.value.clone());
            if value != Some(after.to_string()) {
                return Err(format!("the new ReplicaSet's value is {value:?}"));
            }
            if current.status.as_ref().and_then(|s| s.ready_replicas) != Some(1) {
                return Err(format!("new ReplicaSet status {:?}", current.status));
            }
            let old: Vec<_> = sets
                .iter()
                .filter(|s| revision(&s.metadata) != Some(new_revision))
                .filter(|s| s.status.as_ref().map_or(0, |st| st.replicas) > 0)
                .map(|s| s.name_any())
                .collect();
            if !old.is_empty() {
                return Err(format!("old ReplicaSets still have pods: {old:?}"));
            }
            let hash = current
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("pod-template-hash"))
                .cloned();
            let found = pods(&client, &namespace, &selector).await;
            let serving: Vec<_> = found.iter().filter(|p| pod_ready(p)).collect();
            match serving[..] {
                [pod]
                    if pod.labels().get("pod-template-hash") == hash.as_ref()
                        && found.len() == 1 =>
                {
                    Ok(())
                }
                _ => Err(format!(
                    "pods {:?}",
                    found.iter().map(|p| p.name_any()).collect::<Vec<_>>()
                )),
            }
        },
    )
    .await;

    helm_ok(
        "helm uninstall",
        [
            "uninstall",
            release.as_str(),
            "-n",
            namespace.as_str(),
            "--wait",
            "--timeout",
            "5m",
        ],
    );
    guard.done = true;

    // Nothing labelled with the release is left, in any namespace and cluster-wide, except what
    // the chart keeps on purpose (`helm.sh/resource-policy: keep`: the api's generated key, so a
    // reinstall does not invalidate issued tokens).
    // (`api-resources` exits non-zero when one API group fails discovery; what it did list counts.)
    let kinds = kubectl(["api-resources", "--verbs=list", "-o", "name"]);
    let kinds = String::from_utf8_lossy(&kinds.stdout).into_owned();
    let kinds: Vec<&str> = kinds
        .lines()
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .collect();
    assert!(
        kinds.contains(&"clusterroles.rbac.authorization.k8s.io"),
        "api-resources: {kinds:?}"
    );
    let kinds = kinds.join(",");
    let label = format!("app.kubernetes.io/instance={release}");
    let kept = wait_explained("nothing of the release left", POD_START, || async {
        let output = kubectl([
            "get",
            kinds.as_str(),
            "--all-namespaces",
            "-l",
            label.as_str(),
            "-o",
            "json",
        ]);
        if !output.status.success() {
            return Err(format!("kubectl get failed: {}", text(&output)));
        }
        let list: Value = serde_json::from_slice(&output.stdout).map_err(|e| e.to_string())?;
        let (kept, left): (Vec<&Value>, Vec<&Value>) = list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .partition(|item| item["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep");
        if left.is_empty() {
            Ok(kept
                .iter()
                .map(|i| {
                    format!(
                        "{}/{}",
                        i["kind"].as_str().unwrap_or_default(),
                        i["metadata"]["name"].as_str().unwrap_or_default()
                    )
                })
                .collect::<Vec<_>>())
        } else {
            Err(format!(
                "left: {:?}",
                left.iter()
                    .map(|i| format!(
                        "{}/{}/{}",
                        i["kind"], i["metadata"]["namespace"], i["metadata"]["name"]
                    ))
                    .collect::<Vec<_>>()
            ))
        }
    })
    .await;
    let full = fullname(&release);
    assert!(
        kept.iter().all(|k| *k == format!("Secret/{full}-api-auth")),
        "only the api's key is kept: {kept:?}"
    );
    for suffix in ["operator", "api", "edit", "view"] {
        let name = format!("{full}-{suffix}");
        assert!(
            Api::<ClusterRole>::all(client.clone())
                .get_opt(&name)
                .await
                .unwrap()
                .is_none(),
            "ClusterRole {name} left"
        );
        assert!(
            Api::<ClusterRoleBinding>::all(client.clone())
                .get_opt(&name)
                .await
                .unwrap()
                .is_none(),
            "ClusterRoleBinding {name} left"
        );
    }
    for crd in [
        "agents",
        "skills",
        "mcpserverinstances",
        "triggers",
        "tasks",
    ] {
        let crd = format!("{crd}.agentarea.io");
        kubectl_ok("the CRDs stay", ["get", "crd", crd.as_str()]);
    }

    // The main release was not touched.
    deployment_rolled_out(&client, &e.release_namespace, &e.api()).await;
    delete_namespace_later(&namespace);
}

// ---- 9. network isolation of a managed server ----

/// What came of a request made from inside a pod.
#[derive(Debug, PartialEq)]
enum Reached {
    /// An HTTP answer, with its status.
    Answered(u16),
    /// No answer: the connection was refused, reset or timed out (`ECONNREFUSED`,
    /// `TimeoutError`, ...), or the name did not resolve (`ENOTFOUND`, `EAI_AGAIN`).
    NoAnswer(String),
}

/// `fetch(url)` by `node` in `container` of `pod`, through `kubectl exec`; `Err` when the
/// request could not be made at all (the exec failed).
fn fetch_in_pod(namespace: &str, pod: &str, container: &str, url: &str) -> Result<Reached, String> {
    const FETCH: &str = "fetch(process.argv[1], {signal: AbortSignal.timeout(5000)}).then(\
        r => console.log('answered ' + r.status), \
        e => console.log('no-answer ' + (e.cause?.code ?? e.name)))";
    let output = kubectl([
        "exec", "-n", namespace, pod, "-c", container, "--", "node", "-e", FETCH, url,
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    match stdout
        .trim()
        .rsplit('\n')
        .next()
        .and_then(|l| l.split_once(' '))
    {
        Some(("answered", status)) => status
            .parse()
            .map(Reached::Answered)
            .map_err(|e| format!("status {status}: {e}")),
        Some(("no-answer", reason)) => Ok(Reached::NoAnswer(reason.to_string())),
        _ => Err(format!(
            "kubectl exec into {namespace}/{pod}: {}",
            text(&output)
        )),
    }
}

/// A pod `name` that only waits, from which requests are made with `kubectl exec`: the node image
/// (it has `fetch`), and none of the operator's labels.
async fn probe_pod(client: &Client, namespace: &str, name: &str) -> Pod {
    let pod = Pod {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some([("app.kubernetes.io/name".to_string(), "probe".to_string())].into()),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "probe".into(),
                image: Some(env().image_node.clone()),
                image_pull_policy: Some("IfNotPresent".into()),
                command: Some(vec!["sleep".into(), "infinity".into()]),
                ..Container::default()
            }],
            termination_grace_period_seconds: Some(0),
            automount_service_account_token: Some(false),
            ..PodSpec::default()
        }),
        ..Pod::default()
    };
    let api = Api::<Pod>::namespaced(client.clone(), namespace);
    api.create(&PostParams::default(), &pod)
        .await
        .unwrap_or_else(|e| panic!("create pod {namespace}/{name}: {e}"));
    wait_for_object(
        &api,
        name,
        &format!("probe pod {namespace}/{name} Ready"),
        POD_START,
        |pod| {
            pod_ready(pod)
                .then_some(())
                .ok_or_else(|| format!("{:?}", pod.status))
        },
    )
    .await
}

/// Waits until a request from `pod` to `url` gets no answer (the policy engine programs rules a
/// moment after the policy is stored), and returns the reason.
async fn until_refused(namespace: &str, pod: &str, container: &str, url: &str) -> String {
    wait_explained(
        &format!("{url} refused to {namespace}/{pod}"),
        RUN,
        || async {
            match fetch_in_pod(namespace, pod, container, url)? {
                Reached::NoAnswer(reason) => Ok(reason),
                answered => Err(format!("{answered:?}")),
            }
        },
    )
    .await
}

#[tokio::test]
async fn a_managed_servers_network_policy_admits_only_the_operator_and_bounds_its_egress() {
    let e = env();
    let ws = Workspace::create("netpol").await;
    let other = Workspace::create("netpol-other").await;
    let _dump_other = DumpOnPanic(vec![other.namespace.clone()]);
    apply(&ws.namespace, &example("mcp-managed.yaml"));
    // A compound of the managed server alone: the operator's gateway calls it from an operator pod.
    apply(
        &ws.namespace,
        r#"{"apiVersion": "agentarea.io/v1alpha1", "kind": "McpServerInstance",
            "metadata": {"name": "gatewayed"},
            "spec": {"compound": {"members": [{"name": "everything", "prefix": "ev_", "include": ["echo"]}]}}}"#,
    );
    instance_ready(&ws, "everything", &["echo"]).await;
    let policies = ws.api::<NetworkPolicy>();
    wait_for_object(
        &policies,
        "everything",
        "NetworkPolicy everything",
        RUN,
        |_| Ok(()),
    )
    .await;
    let (outsider, neighbour) = tokio::join!(
        probe_pod(&other.client, &other.namespace, "probe"),
        probe_pod(&ws.client, &ws.namespace, "probe"),
    );
    let (outsider, neighbour) = (outsider.name_any(), neighbour.name_any());

    // The probes reach what no policy guards (the api's Service in the release namespace), so a
    // refusal below is the policy's doing and not a broken probe.
    let api_health = format!(
        "http://{}.{}.svc:8000/healthz",
        e.api(),
        e.release_namespace
    );
    let answered = wait_explained(
        "the api's /healthz from the other namespace",
        RUN,
        || async { fetch_in_pod(&other.namespace, &outsider, "probe", &api_health) },
    )
    .await;
    assert_eq!(answered, Reached::Answered(200));

    // A pod of another workspace, and one of the server's own namespace that is not the
    // operator's, get no connection to the server's port.
    let server = format!("http://everything.{}.svc:3001/mcp", ws.namespace);
    until_refused(&other.namespace, &outsider, "probe", &server).await;
    until_refused(&ws.namespace, &neighbour, "probe", &server).await;

    // The operator still reaches it: a tool call through its gateway goes operator pod → server.
    let gatewayed = instance_ready(&ws, "gatewayed", &["ev_echo"]).await;
    let path = path_of(
        gatewayed
            .status
            .as_ref()
            .unwrap()
            .endpoint
            .as_deref()
            .unwrap(),
    );
    {
        let _replicas = OPERATOR_REPLICAS.read().await;
        let forward =
            PortForward::start(&e.release_namespace, &format!("svc/{}", e.operator()), 8090).await;
        let message = format!("past the policy {}", ws.id);
        let echoed = call(&forward.url(&path), "ev_echo", json!({"message": message})).await;
        assert!(result_text(&echoed).contains(&message), "{echoed}");
    }
    let after = fetch_in_pod(&other.namespace, &outsider, "probe", &server);
    assert!(
        matches!(after, Ok(Reached::NoAnswer(_))),
        "still refused after the operator's call: {after:?}"
    );

    // Egress: until the instance declares some, the server goes anywhere (it answered the
    // api); declared as none, it keeps only DNS. The running pod is not restarted for it.
    let pod = instance_pod(&ws, "everything").await.name_any();
    assert_eq!(
        fetch_in_pod(&ws.namespace, &pod, "server", &api_health),
        Ok(Reached::Answered(200))
    );
    kubectl_ok(
        "declare no egress",
        [
            "patch",
            "-n",
            &ws.namespace,
            "mcpserverinstance",
            "everything",
            "--type",
            "merge",
            "-p",
            r#"{"spec": {"managed": {"egress": []}}}"#,
        ],
    );
    let reason = until_refused(&ws.namespace, &pod, "server", &api_health).await;
    assert!(
        !["ENOTFOUND", "EAI_AGAIN"].contains(&reason.as_str()),
        "DNS stays allowed: the name resolved, the connection was refused ({reason})"
    );
    assert_eq!(instance_pod(&ws, "everything").await.name_any(), pod);
    other.delete().await;
    ws.delete().await;
}
