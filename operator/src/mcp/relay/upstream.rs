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

/// An upstream session as the relay holds it.
pub type UpstreamSession = RunningService<RoleClient, ToClient>;

/// The upstream half: the client role towards the server, passing the server's requests and
/// notifications on to our client.
pub struct ToClient {
    downstream: Peer<RoleServer>,
    /// The downstream client's `initialize` parameters, presented to the server as ours.
    info: ClientConfig,
    shared: Shared,
}

impl ToClient {
    pub fn new(downstream: Peer<RoleServer>, info: ClientConfig, shared: Shared) -> Self {
        Self {
            downstream,
            info,
            shared,
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
        let downstream = self.downstream.clone();
        let origin = self.shared.newest_in_flight();
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
        let notification = match notification {
            ServerNotification::ProgressNotification(mut progress) => {
                match self.shared.client_token(&progress.params.progress_token) {
                    Some(token) => progress.params.progress_token = token,
                    // Progress the client asked none of, or of a request long over.
                    None => return Ok(()),
                }
                ServerNotification::ProgressNotification(progress)
            }
            // The server cancelling its own request to us: rmcp ends that handler, which ends the
            // forwarded request; the server's request id means nothing to the client.
            ServerNotification::CancelledNotification(_) => return Ok(()),
            other => other,
        };
        // A client that has gone away cannot be told; the session ends with it.
        let _ = self.downstream.send_notification(notification).await;
        Ok(())
    }

    fn get_info(&self) -> ClientConfig {
        self.info.clone()
    }
}

/// Sends a client's request to the server and waits for the answer, renaming progress and passing
/// cancellation on.
pub async fn forward_request(
    upstream: &Peer<RoleClient>,
    shared: &Shared,
    request: ClientRequest,
    context: RequestContext<RoleServer>,
) -> Result<ServerResult, ErrorData> {
    let client_token = context.meta.get_progress_token();
    let options = PeerRequestOptions::no_options().with_meta(context.meta.clone());
    let handle = upstream
        .send_cancellable_request(request, options)
        .await
        .map_err(relayed_error)?;
    let (upstream_id, upstream_token) = (handle.id.clone(), handle.progress_token.clone());
    shared.begin(&context.id, upstream_token.clone(), client_token);
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
    shared.end(&context.id, &upstream_token);
    result
}

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
