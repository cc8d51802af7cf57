//! `agentarea-operator mcp-bridge -- <command> [args...]`: serves a stdio MCP server over
//! streamable HTTP. Most published MCP servers speak only stdio; in a managed instance with
//! `transport: stdio` the pod runs the server behind this bridge, which the operator image
//! carries.
//!
//! Each MCP session of the handshake era gets a stdio server of its own, relayed message for message
//! ([`relay`](super::relay)): a stdio server has one client, and only a server of its own can see
//! that client's capabilities, send it progress, logging and resource updates, and ask it for
//! sampling or elicitation. A spare server is started ahead of the next session, so a session does
//! not wait for the process to start. When a session ends its server is stopped; a server that
//! exits or crashes ends only its own session, and the client's next session gets a new one.
//! A client of the stateless era (2026-07-28) has no session: its requests share one server
//! ([`stateless`]). A session's server is opened in the session's era where the server speaks
//! it (the shared one in the stateless era), and requests cross between the eras as
//! [`era`](super::era) says.
//! SIGTERM stops the HTTP side and with it every server.
//!
//! | module | what |
//! | --- | --- |
//! | [`servers`] | starting stdio servers, a spare ahead, at most `--max-sessions` at once |
//! | [`session`] | one MCP session, relayed to a stdio server of its own |
//! | [`stateless`] | the one stdio server requests of the stateless era (2026-07-28) share |
//! | [`metrics`] | the bridge's own `/metrics` |

pub mod metrics;
pub mod servers;
pub mod session;
pub mod stateless;

use std::sync::Arc;

use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tracing::Instrument;

use self::metrics::BridgeMetrics;
use self::servers::Servers;
use self::session::BridgeSession;
use self::stateless::Stateless;
use super::relay::Transparent;
use super::served;
use crate::config::BridgeArgs;

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
    let stateless = Stateless::new(servers.clone());
    let sessions_metrics = metrics.clone();
    let service = StreamableHttpService::new(
        move || {
            Ok(Transparent::new(BridgeSession::new(
                servers.clone(),
                stateless.clone(),
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
        .layer(axum::middleware::from_fn(served::session_end_answered_ok))
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
