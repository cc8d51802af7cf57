//! The operator and the api as real processes on the control plane: they start, report health and
//! readiness, and stop cleanly on SIGTERM.

use std::process::Command;
use std::time::Duration;

use agentarea_api::workspace::namespace_for;
use agentarea_tests::api::{ApiServer, token};
use agentarea_tests::control_plane::assert_success;
use agentarea_tests::mcp_servers::Operator;
use agentarea_tests::model::{Reply, ScriptedModel};
use agentarea_tests::{
    ChildProcess, TestNamespace, control_plane, free_port, repo_root, wait_until_ok,
    workspace_binary,
};

/// Starts `binary` against the control plane with its HTTP address on a free port, watching
/// `namespace` only (so an operator here leaves other tests' objects alone).
fn start(binary: &str, addr_env: &str, namespace: &str) -> (ChildProcess, String) {
    let port = free_port();
    let process = ChildProcess::spawn(
        binary,
        Command::new(workspace_binary(binary))
            .env("KUBECONFIG", &control_plane().kubeconfig)
            .env(addr_env, format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "info")
            .env("AGENTAREA_JWT_SECRET", "test-secret")
            .env("AGENTAREA_WATCH_NAMESPACE", namespace),
    );
    (process, format!("http://127.0.0.1:{port}"))
}

async fn assert_serves_health_and_stops_on_sigterm(binary: &str, addr_env: &str) {
    let ns = TestNamespace::create("processes").await;
    let (process, base) = start(binary, addr_env, &ns.name);
    wait_until_ok(&format!("{base}/readyz"), &process).await;
    let health = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);

    let (status, in_time) = process.terminate(Duration::from_secs(10));
    assert!(in_time, "{binary} did not stop within 10s of SIGTERM");
    assert!(
        status.success(),
        "{binary} exited with {status} on SIGTERM:\n{}",
        process.output()
    );
    assert!(
        process.output().contains("shutdown signal received"),
        "{}",
        process.output()
    );
}

#[tokio::test]
async fn operator_serves_health_and_stops_on_sigterm() {
    assert_serves_health_and_stops_on_sigterm("agentarea-operator", "AGENTAREA_HEALTH_ADDR").await;
}

#[tokio::test]
async fn api_serves_health_and_stops_on_sigterm() {
    assert_serves_health_and_stops_on_sigterm("agentarea-api", "AGENTAREA_LISTEN_ADDR").await;
}

#[test]
fn both_binaries_document_their_flags() {
    for (binary, flag) in [
        ("agentarea-operator", "--health-addr"),
        ("agentarea-api", "--listen-addr"),
    ] {
        let output = Command::new(workspace_binary(binary))
            .arg("--help")
            .output()
            .unwrap();
        let help = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && help.contains(flag),
            "{binary} --help:\n{help}"
        );
        assert!(
            help.contains("[env: "),
            "{binary} --help names the environment variables:\n{help}"
        );
    }
}

#[test]
fn a_process_without_an_apiserver_fails_with_a_clear_message() {
    let dir = std::env::temp_dir().join(format!("agentarea-nokube-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{server: 'http://127.0.0.1:{}'}}\nusers:\n- name: u\n  user: {{}}\ncontexts:\n- name: x\n  context: {{cluster: c, user: u}}\ncurrent-context: x\n",
            free_port()
        ),
    )
    .unwrap();
    let output = Command::new(workspace_binary("agentarea-operator"))
        .env("KUBECONFIG", &kubeconfig)
        .env(
            "AGENTAREA_HEALTH_ADDR",
            format!("127.0.0.1:{}", free_port()),
        )
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("agents.agentarea.io is not served"),
        "{stderr}"
    );
}

/// `scripts/first-task.sh` with `vars` in its environment, against `api` for workspace `ws`.
async fn first_task(api: &ApiServer, ws: &str, vars: &[(&str, &str)]) -> (bool, String) {
    let mut command = tokio::process::Command::new("bash");
    command
        .arg(repo_root().join("scripts/first-task.sh"))
        .current_dir(repo_root())
        .env("API_URL", api.url(""))
        .env("TOKEN", token(ws, "developer"))
        .env("NAMESPACE", namespace_for(ws))
        .env("KUBECTL", control_plane().bin_dir.join("kubectl"))
        .env("KUBECONFIG", &control_plane().kubeconfig)
        .env_remove("OPENAI_API_KEY")
        .env_remove("AGENTAREA_MODEL_ENDPOINT")
        .env_remove("AGENTAREA_MODEL");
    for (key, value) in vars {
        command.env(key, value);
    }
    let output = command.output().await.expect("bash runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), said)
}

/// The README's first command ends with a first task when a model is given in the environment:
/// the example agent is pointed at it (its key in a Secret), a task runs through the api, and its
/// answer is printed. Without a model, it says what to set.
#[tokio::test]
async fn the_first_task_runs_against_the_model_in_the_environment() {
    let ws = format!("first-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let namespace = namespace_for(&ws);
    let api = ApiServer::start(&[]).await;
    // The workspace and its example agent, as scripts/up.sh makes them.
    let made = control_plane().kubectl(["create", "namespace", &namespace]);
    assert_success("create the workspace namespace", &made);
    let label = format!("agentarea.io/workspace={ws}");
    let labelled = control_plane().kubectl(["label", "namespace", &namespace, &label]);
    assert_success("label it", &labelled);
    let example = repo_root().join("examples/agent.yaml");
    let applied =
        control_plane().kubectl(["apply", "-n", &namespace, "-f", example.to_str().unwrap()]);
    assert_success("apply the example agent", &applied);
    let _operator = Operator::start(&namespace, &[]).await;

    let (ok, said) = first_task(&api, &ws, &[]).await;
    assert!(ok, "{said}");
    assert!(
        said.contains("set OPENAI_API_KEY, or AGENTAREA_MODEL_ENDPOINT and AGENTAREA_MODEL"),
        "{said}"
    );

    let model =
        ScriptedModel::start(|_| Reply::Answer("Hello! I answer in a sentence or three.".into()))
            .await;
    let (ok, said) = first_task(
        &api,
        &ws,
        &[
            ("AGENTAREA_MODEL_ENDPOINT", &model.url),
            ("AGENTAREA_MODEL", "scripted-model"),
            ("AGENTAREA_MODEL_API_KEY", "sk-first-task-1234"),
        ],
    )
    .await;
    assert!(ok, "{said}");
    assert!(said.contains("The first task answered:"), "{said}");
    assert!(
        said.contains("Hello! I answer in a sentence or three."),
        "{said}"
    );
    assert!(
        !said.contains("sk-first-task-1234"),
        "the key is never printed: {said}"
    );
    assert_eq!(model.requests()[0]["model"], "scripted-model");
    assert_eq!(
        model.credentials()[0].as_deref(),
        Some("Bearer sk-first-task-1234"),
        "the key reaches the model from its Secret"
    );
    let agent = control_plane().kubectl([
        "get",
        "agent",
        "assistant",
        "-n",
        &namespace,
        "-o",
        "jsonpath={.spec.model.apiKeySecretRef.name}",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&agent.stdout),
        "assistant-model-key"
    );
}
