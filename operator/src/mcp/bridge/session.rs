//! One MCP session of the bridge: a stdio server of its own, started at the session's
//! `initialize` and opened with the client's own parameters, every message relayed ([`relay`]).
//! Dropping the session stops its server. A request of the stateless era (no `initialize`) goes to
//! the server such requests share ([`Stateless`]).

use std::sync::{Arc, OnceLock};

use rmcp::RoleServer;
use rmcp::model::{
    ClientConfig, ClientNotification, ClientRequest, DiscoverResult, ErrorData, ServerCapabilities,
    ServerConfig, ServerResult,
};
use rmcp::service::{Peer, RequestContext, SubscriptionContext};
use tokio::sync::OnceCell;
use tracing::Instrument;

use super::metrics::BridgeMetrics;
use super::servers::{Servers, Slot};
use super::stateless::{Askable, Stateless};
use crate::mcp::era::Era;
use crate::mcp::relay::{self, Relay, Shared, ToClient, UpstreamSession, offered_by};

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

/// One MCP session: its own stdio server, started at the session's `initialize`; or, for a
/// request of the stateless era (no `initialize`), the server such requests share.
pub(super) struct BridgeSession {
    servers: Arc<Servers>,
    stateless: Arc<Stateless>,
    /// Declared before `slot`: the server stops before the place is given back.
    upstream: OnceCell<Arc<UpstreamSession>>,
    slot: OnceLock<Slot>,
    shared: Shared,
    metrics: Arc<BridgeMetrics>,
}

impl BridgeSession {
    pub(super) fn new(
        servers: Arc<Servers>,
        stateless: Arc<Stateless>,
        metrics: Arc<BridgeMetrics>,
    ) -> Self {
        Self {
            servers,
            stateless,
            upstream: OnceCell::new(),
            slot: OnceLock::new(),
            shared: Shared::default(),
            metrics,
        }
    }

    /// Starts this session's server and opens it with the client's own parameters.
    async fn start(
        &self,
        client: ClientConfig,
        downstream: Peer<RoleServer>,
    ) -> Result<Arc<UpstreamSession>, ErrorData> {
        let slot = self.servers.claim()?;
        let relay = ToClient::new(Some(downstream.clone()), client, self.shared.clone());
        let session = self.servers.open(relay, Era::Handshake).await?;
        relay::stand_if_stateless(session.peer(), &self.shared, &downstream).await;
        let _ = self.slot.set(slot);
        self.metrics.sessions.inc();
        Ok(Arc::new(session))
    }
}

impl Drop for BridgeSession {
    fn drop(&mut self) {
        // Dropping the upstream session stops the session's stdio server.
        if self.upstream.get().is_some() {
            self.metrics.sessions.dec();
        }
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
            match self.upstream.get() {
                Some(session) => {
                    relay::forward_request(session, &self.shared, request, context).await
                }
                None => {
                    let shared = self.stateless.get(Askable::of(&context)).await?;
                    relay::forward_request(&shared.session, &shared.shared, request, context).await
                }
            }
        }
        .instrument(span)
        .await;
        self.metrics.count(method, &result);
        result
    }

    async fn notification(&self, notification: ClientNotification) {
        if let Some(upstream) = self.upstream.get() {
            relay::forward_notification(upstream.peer(), notification).await;
        } else {
            // A stateless client's notification names no request of one server: each hears it.
            for shared in self.stateless.running().await {
                relay::forward_notification(shared.session.peer(), notification.clone()).await;
            }
        }
    }

    async fn listen(&self, subscription: SubscriptionContext) -> Result<(), ErrorData> {
        let askable = Askable::of(subscription.request_context());
        let shared = self.stateless.get(askable).await?;
        let peer = shared.session.peer();
        let listening = relay::Listening::new(&subscription);
        let filter = offered_by(peer, listening.accepted());
        let stateless = relay::speaks_stateless(peer);
        relay::carry(
            peer,
            stateless,
            &shared.shared.listeners,
            filter,
            &listening,
        )
        .await
    }

    async fn discover(
        &self,
        context: RequestContext<RoleServer>,
    ) -> Result<DiscoverResult, ErrorData> {
        let shared = self.stateless.get(Askable::of(&context)).await?;
        let info = relay::server_info(&shared.session).ok_or_else(|| {
            ErrorData::internal_error("the stdio MCP server said nothing of itself", None)
        })?;
        Ok(relay::discovered(info))
    }

    /// The session's server; for a stateless client, the shared server (a client of that era
    /// discovers before anything else, which opens it).
    fn info(&self) -> ServerConfig {
        self.upstream
            .get()
            .and_then(|session| relay::server_info(session))
            .or_else(|| self.stateless.said())
            .unwrap_or_else(|| {
                ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            })
    }
}
