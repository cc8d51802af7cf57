//! `agentarea-operator mcp-bridge -- <command> [args...]`: serves a stdio MCP server over
//! streamable HTTP. Most published MCP servers speak only stdio; in a managed instance with
//! `transport: stdio` the pod runs the server behind this bridge, which the operator image
//! carries.
//!
//! Each MCP session gets a stdio server of its own, relayed message for message
//! ([`crate::mcp::relay`]): a stdio server has one client, and only a server of its own can see
//! that client's capabilities, send it progress, logging and resource updates, and ask it for
//! sampling or elicitation. A spare server is started ahead of the next session, so a session does
//! not wait for the process to start. When a session ends its server is stopped; a server that
//! exits or crashes ends only its own session, and the client's next session gets a new one.
//! SIGTERM stops the HTTP side and with it every server.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use clap::Args;
use rmcp::model::{
    ClientConfig, ClientNotification, ClientRequest, ErrorData, ServerCapabilities, ServerConfig,
    ServerResult,
};
use rmcp::service::{Peer, RequestContext};
use rmcp::transport::TokioChildProcess;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{RoleServer, ServiceExt};
use tokio::sync::OnceCell;
use tracing::Instrument;

use agentarea_support::metrics::Registry;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

use crate::mcp::relay::{self, Relay, Shared, ToClient, Transparent, UpstreamSession};
use crate::metrics::{GatewayLabels, OutcomeLabels};

#[derive(Args, Debug, Clone)]
pub struct BridgeArgs {
    /// Address the streamable HTTP endpoint listens on.
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,
    /// HTTP path of the MCP endpoint.
    #[arg(long, default_value = "/mcp")]
    pub path: String,
    /// At most this many sessions, each with its own stdio server, at once; `initialize` beyond
    /// it is refused, so that clients cannot start servers until the pod runs out of memory.
    #[arg(long, env = "AGENTAREA_BRIDGE_MAX_SESSIONS", default_value_t = 32)]
    pub max_sessions: usize,
    /// The stdio server: its command and arguments, after `--`.
    #[arg(required = true, last = true)]
    pub command: Vec<String>,
}

/// How long a session's `initialize` waits for its stdio server to answer.
const INITIALIZE_WAIT: Duration = Duration::from_secs(30);

/// Starts stdio servers, keeping one started ahead of the next session.
struct Servers {
    command: Vec<String>,
    spare: Mutex<Option<TokioChildProcess>>,
    metrics: Arc<BridgeMetrics>,
    /// Sessions with a server, and how many there may be.
    open: AtomicUsize,
    max_sessions: usize,
}

/// A session's place among [`Servers::max_sessions`], given back when the session ends.
struct Slot(Arc<Servers>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Servers {
    fn new(command: Vec<String>, max_sessions: usize, metrics: Arc<BridgeMetrics>) -> Arc<Self> {
        let servers = Arc::new(Self {
            command,
            spare: Mutex::new(None),
            metrics,
            open: AtomicUsize::new(0),
            max_sessions,
        });
        servers.refill();
        servers
    }

    /// A place for one more session, unless all are taken.
    fn claim(self: &Arc<Self>) -> Result<Slot, ErrorData> {
        let claimed = self
            .open
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |open| {
                (open < self.max_sessions).then_some(open + 1)
            });
        match claimed {
            Ok(_) => Ok(Slot(self.clone())),
            Err(_) => Err(ErrorData::internal_error(
                format!(
                    "the bridge serves at most {} sessions at once; close one, or retry later",
                    self.max_sessions
                ),
                None,
            )),
        }
    }

    fn start(&self) -> std::io::Result<TokioChildProcess> {
        let mut process = tokio::process::Command::new(&self.command[0]);
        process.args(&self.command[1..]);
        let started = TokioChildProcess::new(process);
        let outcome = if started.is_ok() { "ok" } else { "error" };
        self.metrics
            .starts
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
        if let Err(error) = &started {
            tracing::error!(%error, command = %self.command.join(" "), "stdio MCP server did not start");
        }
        started
    }

    fn refill(&self) {
        let spare = self.start().ok();
        *self.spare.lock().unwrap_or_else(|p| p.into_inner()) = spare;
    }

    /// A server for a new session: the spare when there is one, and a new spare behind it.
    fn take(&self) -> std::io::Result<TokioChildProcess> {
        let spare = self.spare.lock().unwrap_or_else(|p| p.into_inner()).take();
        self.refill();
        match spare {
            Some(server) => Ok(server),
            None => self.start(),
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
    let metrics = Arc::new(BridgeMetrics::new());
    let servers = Servers::new(args.command.clone(), args.max_sessions, metrics.clone());
    let sessions_metrics = metrics.clone();
    let service = StreamableHttpService::new(
        move || {
            Ok(Transparent::new(BridgeSession::new(
                servers.clone(),
                sessions_metrics.clone(),
            )))
        },
        Arc::new(LocalSessionManager::default()),
        // The bridge sits behind a Service: requests carry the Service's host name, not localhost.
        StreamableHttpServerConfig::default().disable_allowed_hosts(),
    );
    let router = axum::Router::new()
        .route_service(&args.path, service)
        .layer(axum::middleware::from_fn(traced))
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .merge(agentarea_support::metrics::metrics_routes(
            metrics.registry.clone(),
        ));
    agentarea_support::serve(args.listen, router, agentarea_support::shutdown_signal()).await?;
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

/// A span for one MCP request, in the trace its `_meta` names: a client that keeps its session
/// (the operator does) cannot name each request's trace in an HTTP header, so it puts it there.
fn method_span(method: &str, context: &RequestContext<RoleServer>) -> tracing::Span {
    let span = tracing::info_span!(
        target: agentarea_support::telemetry::SPANS,
        "mcp_method",
        otel.name = method,
        otel.kind = "server",
        rpc.method = method,
    );
    let carrier: std::collections::HashMap<String, String> = ["traceparent", "tracestate"]
        .into_iter()
        .filter_map(|key| {
            let value = context.meta.get(key)?.as_str()?;
            Some((key.to_string(), value.to_string()))
        })
        .collect();
    agentarea_support::telemetry::extract(&span, &carrier);
    span
}

/// One MCP session: its own stdio server, started at the session's `initialize`.
struct BridgeSession {
    servers: Arc<Servers>,
    /// Declared before `slot`: the server stops before the place is given back.
    upstream: OnceCell<UpstreamSession>,
    slot: OnceLock<Slot>,
    shared: Shared,
    metrics: Arc<BridgeMetrics>,
}

impl BridgeSession {
    fn new(servers: Arc<Servers>, metrics: Arc<BridgeMetrics>) -> Self {
        metrics.sessions.inc();
        Self {
            servers,
            upstream: OnceCell::new(),
            slot: OnceLock::new(),
            shared: Shared::default(),
            metrics,
        }
    }

    /// Starts this session's server and initializes it with the client's own parameters.
    async fn start(
        &self,
        client: ClientConfig,
        downstream: Peer<RoleServer>,
    ) -> Result<UpstreamSession, ErrorData> {
        let slot = self.servers.claim()?;
        let server = self.servers.take().map_err(|e| {
            ErrorData::internal_error(format!("the stdio MCP server did not start: {e}"), None)
        })?;
        let relay = ToClient::new(downstream, client, self.shared.clone());
        match tokio::time::timeout(INITIALIZE_WAIT, relay.serve(server)).await {
            Ok(Ok(session)) => {
                let _ = self.slot.set(slot);
                Ok(session)
            }
            Ok(Err(error)) => Err(ErrorData::internal_error(
                format!("the stdio MCP server did not initialize: {error}"),
                None,
            )),
            Err(_) => Err(ErrorData::internal_error(
                format!(
                    "the stdio MCP server did not answer initialize within {}s",
                    INITIALIZE_WAIT.as_secs()
                ),
                None,
            )),
        }
    }

    /// The session's server; a client that skips `initialize` (the stateless lifecycle) gets one
    /// initialized with rmcp's default client parameters.
    async fn upstream(&self, downstream: Peer<RoleServer>) -> Result<&UpstreamSession, ErrorData> {
        self.upstream
            .get_or_try_init(|| self.start(ClientConfig::default(), downstream))
            .await
    }
}

impl Drop for BridgeSession {
    fn drop(&mut self) {
        // Dropping the upstream session stops the session's stdio server.
        self.metrics.sessions.dec();
    }
}

impl Relay for BridgeSession {
    async fn initialize(
        &self,
        client: ClientConfig,
        context: RequestContext<RoleServer>,
    ) -> Result<ServerConfig, ErrorData> {
        let downstream = context.peer;
        let result = self
            .upstream
            .get_or_try_init(|| self.start(client, downstream))
            .await
            .and_then(|session| {
                relay::server_info(session).ok_or_else(|| {
                    ErrorData::internal_error(
                        "the stdio MCP server sent no initialize result",
                        None,
                    )
                })
            });
        self.metrics.count("initialize".into(), &result);
        result
    }

    async fn request(
        &self,
        request: ClientRequest,
        context: RequestContext<RoleServer>,
    ) -> Result<ServerResult, ErrorData> {
        let method = request.method().to_string();
        let span = method_span(&method, &context);
        let result = async {
            let upstream = self.upstream(context.peer.clone()).await?;
            relay::forward_request(upstream.peer(), &self.shared, request, context).await
        }
        .instrument(span)
        .await;
        self.metrics.count(method, &result);
        result
    }

    async fn notification(&self, notification: ClientNotification) {
        if let Some(upstream) = self.upstream.get() {
            relay::forward_notification(upstream.peer(), notification).await;
        }
    }

    fn info(&self) -> ServerConfig {
        self.upstream
            .get()
            .and_then(relay::server_info)
            .unwrap_or_else(|| {
                ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            })
    }
}

/// The bridge's own `/metrics` (it runs in the MCP server's pod, not in the operator).
struct BridgeMetrics {
    registry: Arc<Registry>,
    requests: Family<GatewayLabels, Counter>,
    starts: Family<OutcomeLabels, Counter>,
    sessions: Gauge,
}

impl BridgeMetrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("agentarea_bridge");
        let requests = Family::<GatewayLabels, Counter>::default();
        let starts = Family::<OutcomeLabels, Counter>::default();
        let sessions = Gauge::default();
        registry.register(
            "requests",
            "MCP requests the bridge passed to the stdio server, by method and outcome",
            requests.clone(),
        );
        registry.register(
            "stdio_server_starts",
            "Starts of stdio servers (one per session, and the spare), by outcome",
            starts.clone(),
        );
        registry.register(
            "sessions",
            "MCP sessions open, each with a stdio server of its own",
            sessions.clone(),
        );
        Self {
            registry: Arc::new(registry),
            requests,
            starts,
            sessions,
        }
    }

    fn count<T>(&self, method: String, result: &Result<T, ErrorData>) {
        let outcome = if result.is_ok() { "ok" } else { "error" };
        self.requests
            .get_or_create(&GatewayLabels { method, outcome })
            .inc();
    }
}
