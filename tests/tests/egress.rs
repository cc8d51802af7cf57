//! The egress policy, with the exact requests a workspace would send: the operator's own health
//! port, the cloud metadata address, a name that resolves to this machine, a redirect from an
//! allowed server to a refused one, and an allowed server that works. The operator runs with only
//! `127.0.0.2` allowed: every refused target here is on `127.0.0.1` or elsewhere, unless a
//! workspace's namespace annotation allows it for that workspace.

use std::time::Duration;

use agentarea_crds::{Agent, McpServerInstance, Task, TaskPhase, reasons};
use agentarea_tests::api::{ApiServer, token};
use agentarea_tests::mcp_servers::{Operator, everything_server};
use agentarea_tests::model::{Reply, ScriptedModel};
use agentarea_tests::objects::ready_of;
use agentarea_tests::world::{phase, reason};
use agentarea_tests::{TestNamespace, create, eventually, eventually_explained};
use axum::http::{StatusCode, header};
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(60);

/// The annotation by which an administrator allows one workspace more (as the README names it).
const WORKSPACE_ALLOW_ANNOTATION: &str = "agentarea.io/egress-allow";

/// The only range the policy of these tests allows.
const ALLOWED: &str = "127.0.0.2/32";

/// A server on the allowed address that redirects every request to `target` (307 keeps the
/// method and body, as an MCP POST or a chat completion needs).
async fn redirector(target: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.2:0")
        .await
        .expect("bind 127.0.0.2");
    let address = listener.local_addr().unwrap();
    let app = axum::Router::new().fallback(move || {
        let target = target.clone();
        async move { (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, target)]) }
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}")
}

/// `url` with this machine's loopback address replaced by the allowed one.
fn on_allowed_address(url: &str) -> String {
    url.replace("127.0.0.1", "127.0.0.2")
}

/// The Ready condition of instance `name` once it says EgressDenied.
async fn instance_refused(ns: &TestNamespace, name: &str) -> (String, String, String) {
    let api = ns.api::<McpServerInstance>();
    eventually_explained(&format!("instance {name} EgressDenied"), WAIT, || async {
        let instance = api.get(name).await.map_err(|e| e.to_string())?;
        let conditions = instance.status.map(|s| s.conditions).unwrap_or_default();
        match ready_of(&conditions) {
            Some(ready) if ready.1 == reasons::EGRESS_DENIED => Ok(ready),
            other => Err(format!("Ready is {other:?}")),
        }
    })
    .await
}

#[tokio::test]
async fn remote_servers_the_policy_refuses_are_egress_denied_and_an_allowed_one_works() {
    let ns = TestNamespace::create("egress").await;
    let everything = everything_server();
    let operator = Operator::start(&ns.name, &[("AGENTAREA_EGRESS_ALLOW", ALLOWED.into())]).await;
    let redirect = redirector(format!("http://127.0.0.1:{}/mcp", everything.port)).await;
    let hostname = String::from_utf8(
        std::process::Command::new("hostname")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_string();
    let targets = [
        (
            "health",
            format!("http://127.0.0.1:{}/readyz", operator.health_port),
        ),
        (
            "metadata",
            "http://169.254.169.254/latest/meta-data/".to_string(),
        ),
        (
            "named",
            format!("http://{hostname}:{}/mcp", everything.port),
        ),
        ("redirect", format!("{redirect}/mcp")),
        ("allowed", on_allowed_address(&everything.url)),
    ];
    let api = ns.api::<McpServerInstance>();
    for (name, url) in &targets {
        create_remote(&ns, name, url).await;
    }

    let (status, why, message) = instance_refused(&ns, "health").await;
    assert_eq!(
        (status.as_str(), why.as_str()),
        ("False", reasons::EGRESS_DENIED),
        "{message}"
    );
    assert!(message.contains("127.0.0.1 is loopback"), "{message}");
    // Nothing of what the health port would answer (`HTTP 405 Method Not Allowed`) reaches the
    // workspace. (Its port number may well contain "405": look for the answer's words.)
    assert!(
        !message.contains("HTTP 405") && !message.contains("Method"),
        "{message}"
    );

    let (_, why, message) = instance_refused(&ns, "metadata").await;
    assert_eq!(why, reasons::EGRESS_DENIED, "{message}");
    assert!(
        message.contains("169.254.169.254 is link-local"),
        "{message}"
    );

    // The name is resolved, and what it resolves to is what is judged.
    let (_, why, message) = instance_refused(&ns, "named").await;
    assert_eq!(why, reasons::EGRESS_DENIED, "{message}");
    assert!(
        message.contains(&format!("{hostname} is refused"))
            && (message.contains("is loopback") || message.contains("is private")),
        "{message}"
    );

    // An allowed server that redirects to a refused address gets no further.
    let (status, why, message) = instance_refused(&ns, "redirect").await;
    assert_eq!(
        (status.as_str(), why.as_str()),
        ("False", reasons::EGRESS_DENIED),
        "{message}"
    );
    assert!(message.contains("127.0.0.1 is loopback"), "{message}");

    // The allowed address works as any server does.
    let allowed = eventually("the allowed server Ready", WAIT, || async {
        let instance = api.get("allowed").await.ok()?;
        let status = instance.status.clone()?;
        (ready_of(&status.conditions)?.0 == "True").then_some(status)
    })
    .await;
    assert!(allowed.tools.iter().any(|t| t.name == "echo"));
}

#[tokio::test]
async fn model_endpoints_the_policy_refuses_are_refused_by_the_api_the_agent_and_the_run() {
    let ns = TestNamespace::create("ws-egress-model").await;
    let workspace = ns.name.strip_prefix("ws-").unwrap().to_string();
    let token = token(&workspace, "mallory");
    let model = ScriptedModel::start(|_: &Value| Reply::Answer("hello".into())).await;
    let api = ApiServer::start(&[("AGENTAREA_EGRESS_ALLOW", ALLOWED.into())]).await;
    let _operator = Operator::start(&ns.name, &[("AGENTAREA_EGRESS_ALLOW", ALLOWED.into())]).await;

    // Named at create time, a refused target is a 422 naming the field, and nothing is stored.
    let refusals = [
        (
            "/v1/mcp-server-instances",
            json!({"name": "peek", "json_spec": {"type": "url", "endpoint": "http://127.0.0.1:8081/readyz"}}),
            "json_spec.endpoint: 127.0.0.1:8081 is refused by the egress policy: 127.0.0.1 is loopback",
        ),
        (
            "/v1/agents",
            json!({"name": "meta", "instruction": "x", "model_id": "m",
                   "model_endpoint": "http://169.254.169.254/latest"}),
            "model_endpoint: 169.254.169.254 is refused by the egress policy: 169.254.169.254 is link-local (metadata services)",
        ),
    ];
    for (path, body, detail) in refusals {
        let (status, answer) = api.post(&token, path, &body).await;
        assert_eq!(status, 422, "{answer}");
        assert_eq!(answer["detail"], detail);
        let (_, listed) = api.get(&token, path).await;
        assert_eq!(listed, json!([]), "nothing stored after a refusal");
    }
    // Patched onto an existing agent, the same: 422, and the stored endpoint stays.
    let (status, agent) = api
        .post(
            &token,
            "/v1/agents",
            &json!({"name": "kept", "instruction": "x", "model_id": "m",
                    "model_endpoint": "https://models.example.com/v1"}),
        )
        .await;
    assert_eq!(status, 201, "{agent}");
    let path = format!("/v1/agents/{}", agent["id"].as_str().unwrap());
    let (status, answer) = api
        .patch(
            &token,
            &path,
            &json!({"model_endpoint": "http://169.254.169.254/latest"}),
        )
        .await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(
        answer["detail"],
        "model_endpoint: 169.254.169.254 is refused by the egress policy: 169.254.169.254 is link-local (metadata services)"
    );
    let (_, stored) = api.get(&token, &path).await;
    assert_eq!(stored["model_endpoint"], "https://models.example.com/v1");

    // Written around the api (kubectl, GitOps), the operator refuses it: the agent is not Ready.
    let agents = ns.api::<Agent>();
    create(
        &agents,
        json!({"apiVersion": "agentarea.io/v1alpha1", "kind": "Agent", "metadata": {"name": "peeker"},
               "spec": {"instruction": "x", "model": {"name": "m", "endpoint": model.url}}}),
    )
    .await;
    let message = eventually("the agent refused", WAIT, || async {
        let agent = agents.get("peeker").await.ok()?;
        let (status, why, message) = ready_of(&agent.status?.conditions)?;
        (status == "False" && why == reasons::EGRESS_DENIED).then_some(message)
    })
    .await;
    assert!(
        message.contains("spec.model.endpoint") && message.contains("is loopback"),
        "{message}"
    );

    // An allowed endpoint that redirects the model call to a refused one: the run fails with
    // EgressDenied, and the model behind the redirect never hears of it.
    let redirect = redirector(format!("{}/chat/completions", model.url)).await;
    create(
        &agents,
        json!({"apiVersion": "agentarea.io/v1alpha1", "kind": "Agent", "metadata": {"name": "bouncer"},
               "spec": {"instruction": "x", "model": {"name": "m", "endpoint": format!("{redirect}/v1")}}}),
    )
    .await;
    eventually("the bouncer Ready", WAIT, || async {
        let agent = agents.get("bouncer").await.ok()?;
        (ready_of(&agent.status?.conditions)?.0 == "True").then_some(())
    })
    .await;
    let tasks = ns.api::<Task>();
    create(
        &tasks,
        json!({"apiVersion": "agentarea.io/v1alpha1", "kind": "Task", "metadata": {"name": "bounce"},
               "spec": {"agent": "bouncer", "input": "hello"}}),
    )
    .await;
    let task = eventually("the task failed", WAIT, || async {
        let task = tasks.get("bounce").await.ok()?;
        (phase(&task) == Some(TaskPhase::Failed)).then_some(task)
    })
    .await;
    assert_eq!(reason(&task), reasons::EGRESS_DENIED, "{:?}", task.status);
    assert!(model.requests().is_empty(), "the refused model was called");
}

/// What an administrator does to let one workspace reach `ranges`: annotate its namespace.
async fn allow_workspace(ns: &TestNamespace, ranges: &str) {
    let annotation = json!({"metadata": {"annotations": {WORKSPACE_ALLOW_ANNOTATION: ranges}}});
    Api::<Namespace>::all(ns.client.clone())
        .patch(&ns.name, &PatchParams::default(), &Patch::Merge(annotation))
        .await
        .expect("annotate the namespace");
}

/// A remote instance `name` at `url`, written around the api (as kubectl or GitOps would).
async fn create_remote(ns: &TestNamespace, name: &str, url: &str) {
    create(
        &ns.api::<McpServerInstance>(),
        json!({"apiVersion": "agentarea.io/v1alpha1", "kind": "McpServerInstance",
               "metadata": {"name": name}, "spec": {"remote": {"url": url, "timeoutSeconds": 5}}}),
    )
    .await;
}

#[tokio::test]
async fn a_workspace_reaches_what_its_namespace_annotation_allows_and_no_other_workspace_does() {
    let (allowed, other) = tokio::join!(
        TestNamespace::create("ws-egress-annotated"),
        TestNamespace::create("ws-egress-plain"),
    );
    // An administrator allows the first workspace (only) this machine's loopback address.
    allow_workspace(&allowed, "127.0.0.1/32").await;
    let everything = everything_server();
    let platform = [("AGENTAREA_EGRESS_ALLOW", ALLOWED.to_string())];
    let api = ApiServer::start(&platform).await;
    let _operators = tokio::join!(
        Operator::start(&allowed.name, &platform),
        Operator::start(&other.name, &platform),
    );
    let token_of = |ns: &TestNamespace| token(ns.name.strip_prefix("ws-").unwrap(), "dana");
    let body = json!({"name": "local", "json_spec": {"type": "url", "endpoint": everything.url}});

    // The api judges the target by each workspace's own policy.
    let (status, answer) = api
        .post(&token_of(&other), "/v1/mcp-server-instances", &body)
        .await;
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["detail"]
            .as_str()
            .unwrap()
            .contains("127.0.0.1 is loopback"),
        "{answer}"
    );
    let (status, answer) = api
        .post(&token_of(&allowed), "/v1/mcp-server-instances", &body)
        .await;
    assert_eq!(status, 201, "{answer}");

    // So does the operator: the allowed workspace's server is discovered, while the same URL
    // written around the api into the other workspace is refused.
    let discovered = eventually("the allowed workspace's server Ready", WAIT, || async {
        let instance = allowed.api::<McpServerInstance>().get("local").await.ok()?;
        let status = instance.status.clone()?;
        (ready_of(&status.conditions)?.0 == "True").then_some(status)
    })
    .await;
    assert!(discovered.tools.iter().any(|t| t.name == "echo"));
    create_remote(&other, "local", &everything.url).await;
    let (_, why, message) = instance_refused(&other, "local").await;
    assert_eq!(why, reasons::EGRESS_DENIED, "{message}");
    assert!(message.contains("127.0.0.1 is loopback"), "{message}");

    // An annotation that is not a list of ranges allows nothing, not the part that parses.
    allow_workspace(&allowed, "127.0.0.1/32, the-lab").await;
    let body = json!({"name": "again", "json_spec": {"type": "url", "endpoint": everything.url}});
    let (status, answer) = api
        .post(&token_of(&allowed), "/v1/mcp-server-instances", &body)
        .await;
    assert_eq!(status, 422, "{answer}");
    create_remote(&allowed, "around", &everything.url).await;
    let (_, why, message) = instance_refused(&allowed, "around").await;
    assert_eq!(why, reasons::EGRESS_DENIED, "{message}");
}
