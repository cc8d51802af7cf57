//! Real MCP servers on loopback for the tests (the npm reference server "everything", installed by
//! `scripts/setup-test-deps.sh`), and the operator as a real process.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::{ChildProcess, control_plane, free_port, wait_until_ok, workspace_binary};

/// A running MCP server and the URL of its streamable HTTP endpoint.
pub struct McpServer {
    pub process: ChildProcess,
    pub url: String,
    pub port: u16,
}

fn cache_dir() -> PathBuf {
    std::env::var_os("AGENTAREA_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").expect("HOME")).join(".cache/agentarea")
        })
}

/// Starts `@modelcontextprotocol/server-everything` in streamable HTTP mode on a free port.
pub fn everything_server() -> McpServer {
    let binary = cache_dir().join("mcp-servers/node_modules/.bin/mcp-server-everything");
    assert!(
        binary.exists(),
        "{} is missing: run scripts/setup-test-deps.sh",
        binary.display()
    );
    let port = free_port();
    let process = ChildProcess::spawn(
        "mcp-server-everything",
        Command::new(binary)
            .arg("streamableHttp")
            .env("PORT", port.to_string()),
    );
    wait_for_port(port, &process);
    McpServer {
        process,
        url: format!("http://127.0.0.1:{port}/mcp"),
        port,
    }
}

fn wait_for_port(port: u16, process: &ChildProcess) {
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = process.exit_status() {
            panic!(
                "{} exited with {status}:\n{}",
                process.name,
                process.output()
            );
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{} not listening",
            process.name
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The stdio command of the PyPI reference server `mcp-server-time`.
pub fn time_server_command() -> PathBuf {
    let binary = cache_dir().join("mcp-servers/venv/bin/mcp-server-time");
    assert!(
        binary.exists(),
        "{} is missing: run scripts/setup-test-deps.sh",
        binary.display()
    );
    binary
}

/// The stdio command of `server-everything` (its default mode is stdio).
pub fn everything_command() -> PathBuf {
    cache_dir().join("mcp-servers/node_modules/.bin/mcp-server-everything")
}

/// Runs `agentarea-operator mcp-bridge` on a free port in front of a stdio server.
pub fn bridge(command: &[&str]) -> McpServer {
    bridge_with_env(command, &[])
}

/// [`bridge`] with `env` added to its environment (e.g. where to send its traces).
pub fn bridge_with_env(command: &[&str], env: &[(&str, String)]) -> McpServer {
    let port = free_port();
    let process = ChildProcess::spawn(
        "mcp-bridge",
        Command::new(workspace_binary("agentarea-operator"))
            .args(["mcp-bridge", "--listen", &format!("127.0.0.1:{port}"), "--"])
            .args(command)
            .env("RUST_LOG", "info")
            .envs(env.iter().map(|(k, v)| (k, v))),
    );
    wait_for_port(port, &process);
    McpServer {
        process,
        url: format!("http://127.0.0.1:{port}/mcp"),
        port,
    }
}

/// Client calls for tests, through the operator's own MCP client (rmcp). Installs the TLS
/// provider that the operator's binary installs at start.
pub fn endpoint(url: &str) -> agentarea_operator::mcp::Endpoint {
    let _ = rustls::crypto::ring::default_provider().install_default();
    agentarea_operator::mcp::Endpoint {
        url: url.to_string(),
        headers: vec![],
        timeout: Duration::from_secs(20),
    }
}

/// A running `agentarea-operator` that watches `namespace` only, so tests running in parallel
/// each have their own.
pub struct Operator {
    pub process: ChildProcess,
    /// Where it serves `/healthz`, `/readyz` and `/metrics`.
    pub health_port: u16,
}

impl Operator {
    pub async fn start(namespace: &str, extra: &[(&str, String)]) -> Self {
        let port = free_port();
        let mut command = Command::new(workspace_binary("agentarea-operator"));
        command
            .env("KUBECONFIG", &control_plane().kubeconfig)
            .env("AGENTAREA_HEALTH_ADDR", format!("127.0.0.1:{port}"))
            .env("AGENTAREA_WATCH_NAMESPACE", namespace)
            .env("AGENTAREA_POD_NAME", format!("operator-{namespace}"))
            .env("RUST_LOG", "info");
        for (key, value) in extra {
            command.env(key, value);
        }
        let process = ChildProcess::spawn("agentarea-operator", &mut command);
        wait_until_ok(&format!("http://127.0.0.1:{port}/readyz"), &process).await;
        Self {
            process,
            health_port: port,
        }
    }

    /// The Prometheus text its `/metrics` answers.
    pub async fn metrics(&self) -> String {
        crate::metrics::scrape(&format!("http://127.0.0.1:{}/metrics", self.health_port)).await
    }
}
