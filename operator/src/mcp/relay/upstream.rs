//! The upstream half of a relay: the client role towards the server, passing the server's requests
//! and notifications on to the client; and the client's requests and notifications passed on to
//! the server, with progress renamed and cancellation turned into the upstream request's.

use rmcp::model::*;
use rmcp::service::{
    NotificationContext, OriginatingRequestId, Peer, PeerRequestOptions, RequestContext,
    RunningService,
};
use rmcp::{RoleClient, RoleServer, Service, ServiceError};

use super::progress::Shared;
use crate::mcp::era::{self, Crossing};

/// An upstream session as the relay holds it.
pub type UpstreamSession = RunningService<RoleClient, ToClient>;

/// The upstream half: the client role towards the server, passing the server's requests and
/// notifications on to the client they concern.
#[derive(Clone)]
pub struct ToClient {
    /// The session's client, for what concerns no request in flight; none where the upstream
    /// serves stateless requests of many clients (the bridge's shared upstream).
    standalone: Option<Peer<RoleServer>>,
    /// The client's `initialize` parameters, presented to the server as ours.
    info: ClientConfig,
    shared: Shared,
}

impl ToClient {
    pub fn new(standalone: Option<Peer<RoleServer>>, info: ClientConfig, shared: Shared) -> Self {
        Self {
            standalone,
            info,
            shared,
        }
    }

    /// The client a message with no request of its own goes to, and the request whose stream it
    /// rides: the newest in flight, else the session's client on its standalone stream.
    fn addressee(&self) -> Option<(Option<RequestId>, Peer<RoleServer>)> {
        match self.shared.newest_in_flight() {
            Some((request, downstream)) => Some((Some(request), downstream)),
            None => self.standalone.clone().map(|peer| (None, peer)),
        }
    }
}

impl Service<RoleClient> for ToClient {
    async fn handle_request(
        &self,
        request: ServerRequest,
        context: RequestContext<RoleClient>,
    ) -> Result<ClientResult, ErrorData> {
        if let ServerRequest::PingRequest(_) = request {
            // Liveness of this hop; the client's own liveness is its business.
            return Ok(ClientResult::empty(()));
        }
        let Some((origin, downstream)) = self.addressee() else {
            return Err(ErrorData::invalid_request(
                "no client is waiting on this server to answer its request",
                None,
            ));
        };
        // In a task of its own: rmcp marks a request sent from within a handler with the handler's
        // request id, which here is the server's numbering, not the client's.
        let forwarded = tokio::spawn(async move {
            let mut request = request;
            if let Some(origin) = origin {
                request
                    .extensions_mut()
                    .insert(OriginatingRequestId(origin));
            }
            downstream.send_request(request).await
        });
        tokio::select! {
            result = forwarded => match result {
                Ok(result) => result.map_err(relayed_error),
                Err(_) => Err(ErrorData::internal_error("the relayed request failed", None)),
            },
            () = context.ct.cancelled() => Err(ErrorData::internal_error("cancelled by the server", None)),
        }
    }

    async fn handle_notification(
        &self,
        notification: ServerNotification,
        _context: NotificationContext<RoleClient>,
    ) -> Result<(), ErrorData> {
        let (notification, downstream) = match notification {
            ServerNotification::ProgressNotification(mut progress) => {
                match self.shared.client_token(&progress.params.progress_token) {
                    Some((token, downstream)) => {
                        progress.params.progress_token = token;
                        (
                            ServerNotification::ProgressNotification(progress),
                            downstream,
                        )
                    }
                    // Progress the client asked none of, or of a request long over.
                    None => return Ok(()),
                }
            }
            // The server cancelling its own request to us: rmcp ends that handler, which ends the
            // forwarded request; the server's request id means nothing to the client.
            ServerNotification::CancelledNotification(_) => return Ok(()),
            other => match self.addressee() {
                Some((_, downstream)) => (other, downstream),
                None => return Ok(()),
            },
        };
        // A client that has gone away cannot be told; the session ends with it.
        let _ = downstream.send_notification(notification).await;
        Ok(())
    }

    fn get_info(&self) -> ClientConfig {
        self.info.clone()
    }
}

/// Sends a client's request to the server and waits for the answer, renaming progress and passing
/// cancellation on. The request crosses into the server's era ([`era`]): what a stateless server
/// lacks is answered here, and `_meta` carries the client context only to a server that reads it.
pub async fn forward_request(
    upstream: &Peer<RoleClient>,
    shared: &Shared,
    request: ClientRequest,
    context: RequestContext<RoleServer>,
) -> Result<ServerResult, ErrorData> {
    let stateless = upstream
        .peer_info()
        .is_some_and(|info| era::is_stateless(&info.protocol_version));
    match era::crossing(&request, stateless) {
        Crossing::Forward => {}
        Crossing::AnswerEmpty => return Ok(ServerResult::empty(())),
        Crossing::KeepLogLevel(level) => {
            shared.keep_log_level(level);
            return Ok(ServerResult::empty(()));
        }
    }
    let client_stateless = context
        .protocol_version()
        .is_some_and(|version| era::is_stateless(&version));
    let client_token = context.meta.get_progress_token();
    let meta = era::outbound_meta(context.meta.clone(), stateless, shared.log_level());
    let options = PeerRequestOptions::no_options().with_meta(meta);
    let handle = upstream
        .send_cancellable_request(request, options)
        .await
        .map_err(relayed_error)?;
    let (upstream_id, upstream_token) = (handle.id.clone(), handle.progress_token.clone());
    shared.begin(
        context.peer.clone(),
        &context.id,
        upstream_token.clone(),
        client_token,
    );
    let result = tokio::select! {
        result = handle.await_response() => result.map_err(relayed_error),
        () = context.ct.cancelled() => {
            let cancelled = CancelledNotification::new(CancelledNotificationParam::new(
                Some(upstream_id),
                Some("cancelled by the client".into()),
            ));
            let _ = upstream.send_notification(cancelled.into()).await;
            Err(ErrorData::internal_error("cancelled by the client", None))
        }
    };
    if shared.progress_sent(&upstream_token) && result.is_ok() {
        // rmcp hands each of the server's notifications to a task of its own, so the last progress
        // (sent before the result) can still be on its way here, and the request's stream ends
        // with the result (a stateless client's has no other): give it a moment to go out first.
        tokio::time::sleep(PROGRESS_GRACE).await;
    }
    shared.end(&upstream_token);
    result.map(|result| era::inbound_result(result, client_stateless))
}

/// How long a result waits for its request's progress already on its way.
const PROGRESS_GRACE: std::time::Duration = std::time::Duration::from_millis(50);

/// Passes a client's notification on. `initialized` was already sent by the relay's own
/// handshake, and a cancellation is turned into the upstream request's by [`forward_request`].
pub async fn forward_notification(upstream: &Peer<RoleClient>, notification: ClientNotification) {
    if matches!(
        notification,
        ClientNotification::InitializedNotification(_)
            | ClientNotification::CancelledNotification(_)
    ) {
        return;
    }
    let _ = upstream.send_notification(notification).await;
}

/// The server's answer to `initialize`, as the relay's own.
pub fn server_info(session: &UpstreamSession) -> Option<ServerConfig> {
    let info = session.peer_info()?;
    let mut config = ServerConfig::new(info.capabilities.clone());
    config.protocol_version = info.protocol_version.clone();
    if let Some(implementation) = &info.server_info {
        config.server_info = implementation.clone();
    }
    config.instructions = info.instructions.clone();
    Some(config)
}

/// An error of the hop as the client should read it: the server's own error passes unchanged.
pub fn relayed_error(error: ServiceError) -> ErrorData {
    match error {
        ServiceError::McpError(data) => data,
        ServiceError::TransportClosed => {
            ErrorData::internal_error("the MCP server closed the connection", None)
        }
        other => ErrorData::internal_error(format!("MCP server: {other}"), None),
    }
}
