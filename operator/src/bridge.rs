//! `agentarea-operator mcp-bridge -- <command> [args...]`: serves a stdio MCP server over
//! streamable HTTP. Most published MCP servers speak only stdio; in a managed instance with
//! `transport: stdio` the pod runs the server behind this bridge, which the operator image
//! carries.
//!
//! One stdio child per bridge. When the child exits or crashes it is started again, with a delay
//! that doubles up to 30 s (and resets after a minute of health); requests meanwhile get an MCP
//! error saying the server is restarting. SIGTERM stops the HTTP side and then the child.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, ErrorData, ListToolsResult, PaginatedRequestParams,
    ServerCapabilities, ServerConfig,
};
use rmcp::service::{Peer, RequestContext};
use rmcp::transport::TokioChildProcess;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{RoleClient, RoleServer, ServerHandler, ServiceExt};
use tokio::sync::watch;
use tracing::Instrument;

use agentarea_support::metrics::Registry;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use crate::metrics::{GatewayLabels, OutcomeLabels};

#[derive(Args, Debug, Clone)]
pub struct BridgeArgs {
    /// Address the streamable HTTP endpoint listens on.
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,
    /// HTTP path of the MCP endpoint.
    #[arg(long, default_value = "/mcp")]
    pub path: String,
    /// The stdio server: its command and arguments, after `--`.
    #[arg(required = true, last = true)]
    pub command: Vec<String>,
}

/// The running stdio server, when there is one. Requests that arrive while it (re)starts wait for
/// it, up to [`UPSTREAM_WAIT`], instead of failing at once.
#[derive(Clone)]
struct Upstream(Arc<watch::Sender<Option<Peer<RoleClient>>>>);

/// How long a request waits for the stdio server to be up.
const UPSTREAM_WAIT: Duration = Duration::from_secs(30);

impl Upstream {
    fn new() -> Self {
        Self(Arc::new(watch::channel(None).0))
    }

    fn set(&self, peer: Option<Peer<RoleClient>>) {
        self.0.send_replace(peer);
    }

    fn current(&self) -> Option<Peer<RoleClient>> {
        self.0.borrow().clone()
    }

    async fn peer(&self) -> Result<Peer<RoleClient>, ErrorData> {
        let mut receiver = self.0.subscribe();
        let ready = tokio::time::timeout(UPSTREAM_WAIT, receiver.wait_for(Option::is_some)).await;
        match ready {
            Ok(Ok(peer)) => Ok(peer.clone().expect("waited for Some")),
            _ => Err(ErrorData::internal_error(
                "the stdio MCP server is not running (it is being restarted); retry shortly",
                None,
            )),
        }
    }
}

/// Where the init container of a stdio server's pod puts the bridge.
pub const BRIDGE_PATH: &str = "/agentarea/bin/agentarea-operator";

/// Copies this binary to `path` (the operator image is distroless: there is no `cp` in it). The
/// binary is static, so it runs in whatever image the stdio server comes in.
pub fn install(path: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::copy(std::env::current_exe()?, path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))?;
    Ok(())
}

/// Runs the bridge until SIGTERM or Ctrl-C.
pub async fn run(args: BridgeArgs) -> anyhow::Result<()> {
    let upstream = Upstream::new();
    let metrics = BridgeMetrics::new();
    let (stop_tx, stop_rx) = watch::channel(false);
    let supervisor = tokio::spawn(supervise(
        args.command.clone(),
        upstream.clone(),
        metrics.starts.clone(),
        stop_rx.clone(),
    ));

    // Clients learn the server's name and capabilities at `initialize`: give the stdio server its
    // start-up time before taking requests, so they learn the real ones.
    if upstream.peer().await.is_err() {
        tracing::warn!("the stdio MCP server is not up yet; serving anyway, requests wait for it");
    }
    let handler_upstream = upstream.clone();
    let requests = metrics.requests.clone();
    let service = StreamableHttpService::new(
        move || {
            Ok(BridgeHandler {
                upstream: handler_upstream.clone(),
                requests: requests.clone(),
            })
        },
        Arc::new(LocalSessionManager::default()),
        // The bridge sits behind a Service: requests carry the Service's host name, not localhost.
        StreamableHttpServerConfig::default().disable_allowed_hosts(),
    );
    let router = axum::Router::new()
        .route_service(&args.path, service)
        .layer(axum::middleware::from_fn(traced))
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .merge(agentarea_support::metrics::metrics_routes(metrics.registry));
    agentarea_support::serve(args.listen, router, agentarea_support::shutdown_signal()).await?;
    let _ = stop_tx.send(true);
    let _ = supervisor.await;
    Ok(())
}

/// A server span for each MCP request, continuing the caller's trace (`traceparent`), so a Task's
/// trace shows the time its tool call spent in the bridge and the stdio server.
async fn traced(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let span = tracing::info_span!(
        target: agentarea_support::telemetry::SPANS,
        "mcp_request",
        otel.name = format!("{} {}", request.method(), request.uri().path()),
        otel.kind = "server",
        http.request.method = %request.method(),
        http.response.status_code = tracing::field::Empty,
    );
    agentarea_support::telemetry::extract_from_headers(&span, request.headers());
    let response = next.run(request).instrument(span.clone()).await;
    span.record("http.response.status_code", response.status().as_u16());
    response
}

/// Starts the stdio server, and starts it again whenever it ends, until told to stop.
async fn supervise(
    command: Vec<String>,
    upstream: Upstream,
    starts: Family<OutcomeLabels, Counter>,
    mut stop: watch::Receiver<bool>,
) {
    let mut delay = Duration::from_secs(1);
    loop {
        let started = Instant::now();
        let mut process = tokio::process::Command::new(&command[0]);
        process.args(&command[1..]);
        let running = match TokioChildProcess::new(process) {
            Ok(transport) => ().serve(transport).await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        starts
            .get_or_create(&OutcomeLabels {
                outcome: if running.is_ok() { "ok" } else { "error" },
            })
            .inc();
        match running {
            Ok(running) => {
                tracing::info!(command = %command.join(" "), "stdio MCP server started");
                upstream.set(Some(running.peer().clone()));
                tokio::select! {
                    reason = running.waiting() => tracing::warn!(?reason, "stdio MCP server exited"),
                    () = stopped(&mut stop) => {
                        upstream.set(None);
                        return; // dropping the service ends the child
                    }
                }
                upstream.set(None);
            }
            Err(error) => {
                tracing::error!(%error, command = %command.join(" "), "stdio MCP server did not start")
            }
        }
        if started.elapsed() > Duration::from_secs(60) {
            delay = Duration::from_secs(1);
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = stopped(&mut stop) => return,
        }
        delay = (delay * 2).min(Duration::from_secs(30));
    }
}

/// Resolves once the stop flag is raised (without holding the channel's guard across awaits).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await.map(|_| ());
}

/// Answers MCP requests by asking the stdio server.
struct BridgeHandler {
    upstream: Upstream,
    requests: Family<GatewayLabels, Counter>,
}

impl BridgeHandler {
    fn count<T>(&self, method: &'static str, result: &Result<T, ErrorData>) {
        let outcome = if result.is_ok() { "ok" } else { "error" };
        self.requests
            .get_or_create(&GatewayLabels { method, outcome })
            .inc();
    }
}

/// The bridge's own `/metrics` (it runs in the MCP server's pod, not in the operator).
struct BridgeMetrics {
    registry: Arc<Registry>,
    requests: Family<GatewayLabels, Counter>,
    starts: Family<OutcomeLabels, Counter>,
}

impl BridgeMetrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("agentarea_bridge");
        let requests = Family::<GatewayLabels, Counter>::default();
        let starts = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "requests",
            "MCP requests the bridge passed to the stdio server, by method and outcome",
            requests.clone(),
        );
        registry.register(
            "stdio_server_starts",
            "Starts of the stdio server (the first one and every restart), by outcome",
            starts.clone(),
        );
        Self {
            registry: Arc::new(registry),
            requests,
            starts,
        }
    }
}

impl ServerHandler for BridgeHandler {
    fn get_info(&self) -> ServerConfig {
        // The stdio server's own description once it is up, so clients see its name and version.
        if let Some(info) = self.upstream.current().and_then(|peer| peer.peer_info()) {
            let mut config = ServerConfig::new(info.capabilities.clone());
            if let Some(implementation) = &info.server_info {
                config.server_info = implementation.clone();
            }
            config.instructions = info.instructions.clone();
            return config;
        }
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let result = match self.upstream.peer().await {
            Ok(peer) => peer.list_tools(request).await.map_err(upstream_error),
            Err(error) => Err(error),
        };
        self.count("tools/list", &result);
        result
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let result = match self.upstream.peer().await {
            Ok(peer) => peer
                .call_tool(request)
                .await
                .map(Into::into)
                .map_err(upstream_error),
            Err(error) => Err(error),
        };
        self.count("tools/call", &result);
        result
    }
}

fn upstream_error(error: rmcp::ServiceError) -> ErrorData {
    match error {
        rmcp::ServiceError::McpError(data) => data,
        other => ErrorData::internal_error(format!("stdio MCP server: {other}"), None),
    }
}
