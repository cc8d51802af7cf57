//! Real MCP servers on loopback for the tests (the npm reference server "everything", installed by
//! `scripts/setup-test-deps.sh`), and the operator as a real process.

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{ChildProcess, control_plane, free_port, wait_until_ok, workspace_binary};

/// A running MCP server and the URL of its streamable HTTP endpoint.
pub struct McpServer {
    pub process: ChildProcess,
    pub url: String,
    pub port: u16,
}

/// Starts `@modelcontextprotocol/server-everything` in streamable HTTP mode on a free port.
pub fn everything_server() -> McpServer {
    everything_server_on("streamableHttp", "/mcp", free_port())
}

/// [`everything_server`] on `port` (e.g. the port of one that was stopped, to restart it).
pub fn everything_server_at(port: u16) -> McpServer {
    everything_server_on("streamableHttp", "/mcp", port)
}

/// [`everything_server`] speaking the older HTTP+SSE transport: `url` is its event stream.
pub fn everything_sse_server() -> McpServer {
    everything_server_on("sse", "/sse", free_port())
}

/// A server of the stateless era alone (2026-07-28), made with the official MCP Python SDK
/// (`tests/python/one_era_server.py`): tools `echo`, `add`, `confirm` (elicits) and `write_note`;
/// a request of the handshake era is refused.
pub fn stateless_only_server() -> McpServer {
    one_era_server("stateless")
}

/// The same server, of the handshake era alone: `confirm` asks its client in the middle of the
/// call; a request of the stateless era (`server/discover`) is refused.
pub fn handshake_only_server() -> McpServer {
    one_era_server("handshake")
}

fn one_era_server(era: &str) -> McpServer {
    let python = crate::cache_dir().join("mcp-servers/venv/bin/python");
    let port = free_port();
    let process = ChildProcess::spawn(
        &format!("{era}-only MCP server"),
        Command::new(python)
            .arg(crate::repo_root().join("tests/python/one_era_server.py"))
            .arg(port.to_string())
            .arg(era),
    );
    wait_for_port(port, &process);
    McpServer {
        process,
        url: format!("http://127.0.0.1:{port}/mcp"),
        port,
    }
}

fn everything_server_on(transport: &str, path: &str, port: u16) -> McpServer {
    let binary = crate::cache_dir().join("mcp-servers/node_modules/.bin/mcp-server-everything");
    assert!(
        binary.exists(),
        "{} is missing: run scripts/setup-test-deps.sh",
        binary.display()
    );
    let process = ChildProcess::spawn(
        "mcp-server-everything",
        Command::new(binary)
            .arg(transport)
            .env("PORT", port.to_string()),
    );
    wait_for_port(port, &process);
    McpServer {
        process,
        url: format!("http://127.0.0.1:{port}{path}"),
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
    let binary = crate::cache_dir().join("mcp-servers/venv/bin/mcp-server-time");
    assert!(
        binary.exists(),
        "{} is missing: run scripts/setup-test-deps.sh",
        binary.display()
    );
    binary
}

/// The official MCP Python SDK's client (`tests/python/mcp_sdk_client.py`, in the venv
/// `scripts/setup-test-deps.sh` installs `mcp` into) against `url`, connecting in `mode` (`auto`,
/// `legacy` or `2026-07-28`) and making the calls of `plan` (see the script): what it saw, as JSON.
pub async fn python_sdk_client(
    url: &str,
    mode: &str,
    plan: &serde_json::Value,
) -> serde_json::Value {
    python_sdk_client_as(url, mode, plan, None).await
}

/// [`python_sdk_client`], every request carrying `token` as a bearer token.
pub async fn python_sdk_client_as(
    url: &str,
    mode: &str,
    plan: &serde_json::Value,
    token: Option<&str>,
) -> serde_json::Value {
    let python = crate::cache_dir().join("mcp-servers/venv/bin/python");
    let script = crate::repo_root().join("tests/python/mcp_sdk_client.py");
    let args = [url.to_string(), mode.to_string(), plan.to_string()];
    let token = token.map(String::from);
    let output = tokio::task::spawn_blocking(move || {
        let mut command = std::process::Command::new(&python);
        if let Some(token) = token {
            command.env("MCP_BEARER_TOKEN", token);
        }
        command
            .arg(&script)
            .args(&args)
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", python.display()))
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the Python SDK's client failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("the client's report is not JSON ({e}): {stdout}"))
}

/// What the gateway answers as the specification asks, as [`python_sdk_client`] saw it in `mode`:
/// the unknown tool a protocol error (`-32602`), and the close (a session's DELETE) without a
/// complaint of the SDK's.
pub fn assert_answered_as_specified(seen: &serde_json::Value, mode: &str) {
    assert!(
        seen["unknown_tool"]
            .as_str()
            .is_some_and(|e| e.contains("Unknown tool: no-such-tool")),
        "a protocol error in {mode}: {seen}"
    );
    assert_eq!(
        seen["warnings"],
        serde_json::json!([]),
        "the SDK complained in {mode}"
    );
}

/// The plan of [`python_sdk_client`] for the reference server `everything`, its tools under
/// `prefix`: `echo` with a message naming `mode`, the long-running operation in three steps, and
/// one of thirty seconds to give up.
pub fn everything_plan(prefix: &str, mode: &str) -> serde_json::Value {
    let long = format!("{prefix}trigger-long-running-operation");
    serde_json::json!({
        "call": [format!("{prefix}echo"), {"message": format!("hello in {mode}")}],
        "progress": [long, {"duration": 1, "steps": 3}],
        "slow": [long, {"duration": 30, "steps": 3}],
    })
}

/// The stdio command of `server-everything` (its default mode is stdio).
pub fn everything_command() -> PathBuf {
    crate::cache_dir().join("mcp-servers/node_modules/.bin/mcp-server-everything")
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
        wire: agentarea_operator::mcp::Wire::StreamableHttp,
        headers: vec![],
        timeout: Duration::from_secs(20),
        egress: None,
    }
}

/// A running `agentarea-operator` that watches `namespace` only, so tests running in parallel
/// each have their own.
/// What the tests' operators and apis let workspaces reach: loopback, where every test server
/// and scripted model listens.
pub const TESTS_EGRESS_ALLOW: &str = "127.0.0.0/8,::1";

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
            // The tests' servers and models listen on this machine's loopback, which the egress
            // policy refuses by default; the egress tests set their own policy.
            .env("AGENTAREA_EGRESS_ALLOW", TESTS_EGRESS_ALLOW)
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

    /// [`Operator::start`] with its MCP gateway serving compound instances on a free port, and
    /// that port.
    pub async fn with_gateway(namespace: &str) -> (Self, u16) {
        let gateway_port = free_port();
        let gateway = format!("127.0.0.1:{gateway_port}");
        let operator = Self::start(
            namespace,
            &[
                ("AGENTAREA_MCP_GATEWAY_ADDR", gateway.clone()),
                ("AGENTAREA_MCP_GATEWAY_URL", format!("http://{gateway}")),
            ],
        )
        .await;
        (operator, gateway_port)
    }

    /// The Prometheus text its `/metrics` answers.
    pub async fn metrics(&self) -> String {
        crate::metrics::scrape(&format!("http://127.0.0.1:{}/metrics", self.health_port)).await
    }
}

/// An MCP client that offers sampling and elicitation and records what servers send it: progress,
/// sampling requests (answered with [`SAMPLED`]), elicitations (each confirmed), and change
/// notifications (`tools/list_changed`, `resources/updated <uri>`).
#[derive(Clone, Default)]
pub struct RecordingClient {
    pub progress: Arc<Mutex<Vec<f64>>>,
    pub sampling_prompts: Arc<Mutex<Vec<String>>>,
    pub elicitations: Arc<Mutex<Vec<String>>>,
    pub changes: Arc<Mutex<Vec<String>>>,
}

/// What [`RecordingClient`] answers a sampling request with.
pub const SAMPLED: &str = "sampled by the test client";

// Sampling is deprecated by SEP-2577 but is what clients and servers speak today.
#[allow(deprecated)]
impl rmcp::ClientHandler for RecordingClient {
    async fn create_message(
        &self,
        params: rmcp::model::CreateMessageRequestParams,
        _context: rmcp::service::RequestContext<rmcp::RoleClient>,
    ) -> Result<rmcp::model::CreateMessageResult, rmcp::ErrorData> {
        let prompt = serde_json::to_string(&params.messages).unwrap_or_default();
        self.sampling_prompts.lock().unwrap().push(prompt);
        Ok(rmcp::model::CreateMessageResult::new(
            rmcp::model::SamplingMessage::assistant_text(SAMPLED),
            "test-model".into(),
        ))
    }

    async fn create_elicitation(
        &self,
        request: rmcp::model::ElicitRequestParams,
        _context: rmcp::service::RequestContext<rmcp::RoleClient>,
    ) -> Result<rmcp::model::ElicitResult, rmcp::ErrorData> {
        let message = serde_json::to_value(&request).unwrap_or_default()["message"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        self.elicitations.lock().unwrap().push(message);
        Ok(
            rmcp::model::ElicitResult::new(rmcp::model::ElicitationAction::Accept)
                .with_content(serde_json::json!({"confirmed": true})),
        )
    }

    async fn on_progress(
        &self,
        params: rmcp::model::ProgressNotificationParam,
        _context: rmcp::service::NotificationContext<rmcp::RoleClient>,
    ) {
        self.progress.lock().unwrap().push(params.progress);
    }

    async fn on_tool_list_changed(
        &self,
        _context: rmcp::service::NotificationContext<rmcp::RoleClient>,
    ) {
        self.changes
            .lock()
            .unwrap()
            .push("tools/list_changed".into());
    }

    async fn on_resource_updated(
        &self,
        params: rmcp::model::ResourceUpdatedNotificationParam,
        _context: rmcp::service::NotificationContext<rmcp::RoleClient>,
    ) {
        let change = format!("resources/updated {}", params.uri);
        self.changes.lock().unwrap().push(change);
    }

    fn get_info(&self) -> rmcp::model::ClientConfig {
        let mut info = rmcp::model::ClientConfig::default();
        info.capabilities = rmcp::model::ClientCapabilities::builder()
            .enable_sampling()
            .enable_elicitation()
            .build();
        info
    }
}

impl RecordingClient {
    /// Opens a session of the handshake era with the server at `url`, this client answering:
    /// sampling is a request the server makes of its client, which only that era has (the
    /// stateless era asks for input in a result instead).
    pub async fn connect(
        &self,
        url: &str,
    ) -> rmcp::service::RunningService<rmcp::RoleClient, RecordingClient> {
        handshake_session(url, self.clone()).await
    }

    /// Waits (a while) until the changes heard include each of `expected`, and returns them all.
    pub async fn changes_include(&self, expected: &[&str]) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let heard = self.changes.lock().unwrap().clone();
            if expected.iter().all(|e| heard.iter().any(|h| h == e)) || Instant::now() > deadline {
                return heard;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A client of the stateless era (2026-07-28, `server/discover` and no session) with the server at
/// `url`, `client` answering what the server asks.
pub async fn stateless_session<C: rmcp::Service<rmcp::RoleClient>>(
    url: &str,
    client: C,
) -> rmcp::service::RunningService<rmcp::RoleClient, C> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let transport = rmcp::transport::StreamableHttpClientTransport::from_uri(url.to_string());
    let lifecycle = rmcp::service::ClientLifecycleMode::Discover {
        preferred_versions: vec![rmcp::model::ProtocolVersion::V_2026_07_28],
    };
    rmcp::service::serve_client_with_lifecycle(client, transport, lifecycle)
        .await
        .unwrap_or_else(|e| panic!("discover {url}: {e}"))
}

/// A session of the handshake era (`initialize`) with the server at `url`, `client` answering what
/// the server sends; the operator itself would probe `server/discover` first.
pub async fn handshake_session<C: rmcp::Service<rmcp::RoleClient>>(
    url: &str,
    client: C,
) -> rmcp::service::RunningService<rmcp::RoleClient, C> {
    use rmcp::ServiceExt;
    // rmcp's own HTTP client needs a TLS provider chosen, as the operator's binaries choose one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let transport = rmcp::transport::StreamableHttpClientTransport::from_uri(url.to_string());
    client
        .serve(transport)
        .await
        .unwrap_or_else(|e| panic!("initialize with {url}: {e}"))
}

/// Calls the reference server's long-running operation (progress) and, when `sampling`, its
/// sampling tool, through `session`, and checks what `client` was sent.
pub async fn assert_server_talks_to_the_client(
    session: &rmcp::service::RunningService<rmcp::RoleClient, RecordingClient>,
    client: &RecordingClient,
    sampling: bool,
) {
    use rmcp::model::CallToolRequestParams;
    let arguments = |value: serde_json::Value| value.as_object().cloned();
    let tools = session.peer().list_all_tools().await.expect("tools/list");
    let offered = tools.iter().any(|t| t.name == "trigger-sampling-request");
    assert_eq!(
        offered, sampling,
        "the server saw the client's capabilities"
    );

    let mut long = CallToolRequestParams::new("trigger-long-running-operation");
    long.arguments = arguments(serde_json::json!({"duration": 1, "steps": 3}));
    session
        .peer()
        .call_tool(long)
        .await
        .expect("the long-running operation");
    // Through a relay the last notification may trail the result: the two take different paths,
    // and a notification after its request's end comes on the session's standalone stream.
    crate::eventually(
        "progress under the client's token",
        Duration::from_secs(10),
        || async { (*client.progress.lock().unwrap() == [1.0, 2.0, 3.0]).then_some(()) },
    )
    .await;

    if sampling {
        let mut sample = CallToolRequestParams::new("trigger-sampling-request");
        sample.arguments = arguments(serde_json::json!({"prompt": "a haiku about relays"}));
        let result = session.peer().call_tool(sample).await.expect("sampling");
        let text = serde_json::to_string(&result).unwrap();
        assert!(
            text.contains(SAMPLED),
            "the client's answer reaches the server: {text}"
        );
        let prompts = client.sampling_prompts.lock().unwrap().clone();
        assert!(
            prompts.iter().any(|p| p.contains("a haiku about relays")),
            "{prompts:?}"
        );
    }
}
