//! One MCP session of the bridge: a stdio server of its own, started at the session's
//! `initialize` and initialized with the client's own parameters, every message relayed
//! ([`relay`]). Dropping the session stops its server.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rmcp::model::{
    ClientConfig, ClientNotification, ClientRequest, ErrorData, ServerCapabilities, ServerConfig,
    ServerResult,
};
use rmcp::service::{Peer, RequestContext};
use rmcp::{RoleServer, ServiceExt};
use tokio::sync::OnceCell;
use tracing::Instrument;

use super::metrics::BridgeMetrics;
use super::servers::{Servers, Slot};
use crate::mcp::relay::{self, Relay, Shared, ToClient, UpstreamSession};

/// How long a session's `initialize` waits for its stdio server to answer.
const INITIALIZE_WAIT: Duration = Duration::from_secs(30);

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
pub(super) struct BridgeSession {
    servers: Arc<Servers>,
    /// Declared before `slot`: the server stops before the place is given back.
    upstream: OnceCell<UpstreamSession>,
    slot: OnceLock<Slot>,
    shared: Shared,
    metrics: Arc<BridgeMetrics>,
}

impl BridgeSession {
    pub(super) fn new(servers: Arc<Servers>, metrics: Arc<BridgeMetrics>) -> Self {
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
