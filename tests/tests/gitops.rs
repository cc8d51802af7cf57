//! Objects a GitOps engine applies, against the real api and apiserver: an Agent applied with
//! Flux's labels (as kustomize-controller applies it) is read-only through the api, its owner
//! named; exported as YAML and applied with kubectl into another workspace it makes the same
//! object (`kubectl diff` empty); and the console shows it as from Git, with no edit.

use agentarea_api::workspace::namespace_for;
use agentarea_crds::Agent;
use agentarea_tests::api::{ApiServer, token};
use agentarea_tests::browser::Browser;
use agentarea_tests::{TestNamespace, control_plane};
use kube::ResourceExt;
use kube::api::PostParams;
use serde_json::json;

fn workspace(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

/// An Agent as Flux's kustomize-controller applies it from a repository.
async fn applied_by_flux(namespace: &TestNamespace, name: &str) -> Agent {
    let agent: Agent = serde_json::from_value(json!({
        "apiVersion": "agentarea.io/v1alpha1", "kind": "Agent",
        "metadata": {"name": name, "labels": {
            "kustomize.toolkit.fluxcd.io/name": "agents",
            "kustomize.toolkit.fluxcd.io/namespace": "flux-system",
            "team": "support"}},
        "spec": {"instruction": "Answer from the runbook.", "model": {"name": "m"},
                 "description": "Helps on call"},
    }))
    .unwrap();
    namespace
        .api::<Agent>()
        .create(&PostParams::default(), &agent)
        .await
        .expect("apply as Flux would")
}

#[tokio::test]
async fn a_flux_applied_agent_is_read_only_exports_as_yaml_and_shows_as_from_git() {
    let api = ApiServer::start(&[]).await;
    let ws = workspace("gitops");
    let t = token(&ws, "ops");
    let namespace = TestNamespace::named(&namespace_for(&ws)).await;
    let agent = applied_by_flux(&namespace, "runbook").await;
    let id = agent.metadata.uid.clone().unwrap();

    let detail = "managed by Flux Kustomization flux-system/agents: change it in Git";
    let (status, body) = api.get(&t, &format!("/v1/agents/{id}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["managed_by"], "Flux Kustomization flux-system/agents");
    let (status, body) = api
        .patch(
            &t,
            &format!("/v1/agents/{id}"),
            &json!({"description": "edited"}),
        )
        .await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (409, Some(detail)),
        "{body}"
    );
    let (status, body) = api.delete(&t, &format!("/v1/agents/{id}")).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (409, Some(detail)),
        "{body}"
    );
    // Nothing was changed.
    let stored = namespace.api::<Agent>().get("runbook").await.unwrap();
    assert_eq!(stored.spec.description.as_deref(), Some("Helps on call"));

    // Exported, and applied into another workspace: the same object.
    let manifest = api
        .http
        .get(api.url(&format!("/v1/agents/{id}")))
        .bearer_auth(&t)
        .header("accept", "application/yaml")
        .send()
        .await
        .unwrap();
    assert_eq!(manifest.headers()["content-type"], "application/yaml");
    let manifest = manifest.text().await.unwrap();
    let other = TestNamespace::create("gitops-copy").await;
    let kubectl = |args: &[&str], stdin: Option<&str>| {
        let output = control_plane().kubectl_with_stdin(args, stdin);
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).to_string()
                + &String::from_utf8_lossy(&output.stderr),
        )
    };
    let (code, out) = kubectl(&["apply", "-n", &other.name, "-f", "-"], Some(&manifest));
    assert_eq!(code, Some(0), "{out}\n{manifest}");
    let (code, out) = kubectl(&["diff", "-n", &other.name, "-f", "-"], Some(&manifest));
    assert_eq!(code, Some(0), "kubectl diff is empty: {out}");
    let copy = other.api::<Agent>().get("runbook").await.unwrap();
    assert_eq!(copy.spec.instruction, stored.spec.instruction);
    assert_eq!(
        copy.labels().get("team").map(String::as_str),
        Some("support")
    );
    assert!(
        !copy
            .labels()
            .contains_key("kustomize.toolkit.fluxcd.io/name")
    );

    // The whole workspace, as one stream a repository can take.
    let export = api
        .http
        .get(api.url("/v1/export"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(export.contains("name: runbook"), "{export}");

    // The console: the badge, and no edit or delete.
    let browser = Browser::start(1280, 900).await;
    browser.goto(&api.url("/console/")).await;
    browser.wait_for_text("h1", "Sign in").await;
    browser.fill("Bearer token", &t).await;
    browser.click("Use this token").await;
    browser.wait_for_text("h1", "Agents").await;
    browser
        .goto(&api.url(&format!("/console/#/agents/{id}")))
        .await;
    browser.wait_for_text("h1 .badge", "from Git").await;
    browser.wait_for_text("button", "Export YAML").await;
    let actions = browser
        .eval("[...document.querySelectorAll('.page-head .actions > *')].map(e => e.textContent)")
        .await;
    assert_eq!(
        actions,
        json!(["Tasks", "Export YAML"]),
        "no Edit, no Delete"
    );
    browser.screenshot("gitops-agent").await;
    browser.close().await;

    other.delete().await;
    namespace.delete().await;
}
