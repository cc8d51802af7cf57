//! The harness for AgentArea's integration tests: a real kube-apiserver, etcd and
//! kube-controller-manager (the local control plane of `tests/controlplane`), the generated CRDs
//! installed into it, a namespace per test, and the operator and api as real processes.
//!
//! A test run shares one control plane. `scripts/test.sh` starts it once and exports
//! `AGENTAREA_TEST_KUBECONFIG`; a test binary run on its own (`cargo test -p agentarea-tests`)
//! starts its own the first time a test asks for it, and stops it when the binary exits.

pub mod api;
pub mod apiserver;
pub mod browser;
pub mod control_plane;
pub mod dashboard;
pub mod e2e;
pub mod helm;
pub mod kubectl;
pub mod mcp_servers;
pub mod metrics;
pub mod model;
pub mod namespace;
pub mod objects;
pub mod otel;
pub mod process;
pub mod proxy;
pub mod world;

pub use control_plane::{ControlPlane, control_plane};
pub use helm::{helm, helm_path};
pub use namespace::TestNamespace;
pub use process::{ChildProcess, rss_kib, workspace_binary};

use std::path::PathBuf;

/// The repository root (the Cargo workspace).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives in the repository")
        .to_path_buf()
}

/// Where the scripts keep what they build and fetch (`$AGENTAREA_CACHE`, as `scripts/lib.sh`
/// sets it).
pub fn cache_dir() -> PathBuf {
    std::env::var_os("AGENTAREA_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").expect("HOME")).join(".cache/agentarea")
        })
}

/// Creates the object `manifest` describes (a JSON literal of kind `K`) through `api`.
pub async fn create<K>(api: &kube::Api<K>, manifest: serde_json::Value) -> K
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let object: K = serde_json::from_value(manifest).expect("manifest literal");
    api.create(&kube::api::PostParams::default(), &object)
        .await
        .expect("create")
}

/// Merge-patches object `name` with `patch`, as `kubectl patch --type merge` does.
pub async fn merge_patch<K>(api: &kube::Api<K>, name: &str, patch: serde_json::Value) -> K
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.patch(
        name,
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(patch),
    )
    .await
    .unwrap_or_else(|e| panic!("merge patch of {name}: {e}"))
}

/// Polls `check` every 100 ms until it yields `Some`, or panics with `what` after `timeout`.
/// For waiting on the asynchronous outcome of a reconcile; never for measuring time.
pub async fn eventually<T, F, Fut>(what: &str, timeout: std::time::Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Like [`eventually`], for checks that can say why they are not satisfied yet: `check` yields
/// `Err(reason)` until it yields `Ok`, and the panic after `timeout` carries the last reason.
pub async fn eventually_explained<T, F, Fut>(
    what: &str,
    timeout: std::time::Duration,
    mut check: F,
) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let reason = match check().await {
            Ok(value) => return value,
            Err(reason) => reason,
        };
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}; last: {reason}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("bind an ephemeral port")
}

/// Waits until `url` answers 200 or `process` exits; panics with its output in either failure.
pub async fn wait_until_ok(url: &str, process: &ChildProcess) {
    let client = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if let Ok(response) = client.get(url).send().await
            && response.status().is_success()
        {
            return;
        }
        if let Some(status) = process.exit_status() {
            panic!(
                "{} exited with {status}:\n{}",
                process.name,
                process.output()
            );
        }
        if tokio::time::Instant::now() >= deadline {
            panic!(
                "{url} not OK after 60s; {} said:\n{}",
                process.name,
                process.output()
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// A tool the tests build once and cache: the directory in `env_var` when set (scripts/test.sh
/// exports it), else what the build script `script` (relative to the repository) prints, which
/// builds it first when the cache misses.
pub fn cached_build(env_var: &str, script: &str) -> std::path::PathBuf {
    if let Some(dir) = std::env::var_os(env_var) {
        return dir.into();
    }
    let output = std::process::Command::new("bash")
        .arg(repo_root().join(script))
        .stderr(std::process::Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("run {script}: {e}"));
    assert!(output.status.success(), "{script} failed");
    std::path::PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
}
