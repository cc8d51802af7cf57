//! The operator and the api as real processes on the control plane: they start, report health and
//! readiness, and stop cleanly on SIGTERM.

use std::process::Command;
use std::time::Duration;

use agentarea_tests::{
    ChildProcess, TestNamespace, control_plane, free_port, wait_until_ok, workspace_binary,
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
