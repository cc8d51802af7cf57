//! The upstream half of a relay: the client role towards the server, passing the server's requests
//! and notifications on to the client; and the client's requests and notifications passed on to
//! the server, with progress renamed and cancellation turned into the upstream request's.

use rmcp::model::*;
use std::sync::Arc;

use rmcp::service::{
    NotificationContext, OriginatingRequestId, Peer, RequestContext, RunningService,
};
use rmcp::{RoleClient, RoleServer, Service};

use super::hop::{relayed_error, speaks_stateless};
use super::parked::{self, Ask, Asks};
use super::progress::Shared;
use super::send::send_once;
use super::{asking, subscriptions};
use crate::mcp::era::{self, Change, Crossing};

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
            Some((request, downstream, _)) => Some((Some(request), downstream)),
            None => self.standalone.clone().map(|peer| (None, peer)),
        }
    }

    /// Asks the stateless client of the call in flight by way of its relay, which answers it
    /// `input_required` ([`asking`]).
    async fn ask_through(
        asks: Asks,
        request: ServerRequest,
        context: &RequestContext<RoleClient>,
    ) -> Result<ClientResult, ErrorData> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        asks.send(Ask { request, answer })
            .map_err(|_| ErrorData::internal_error("the call asking is over", None))?;
        tokio::select! {
            answer = answered => answer.unwrap_or_else(|_| {
                Err(ErrorData::internal_error("the client did not come back with an answer", None))
            }),
            () = context.ct.cancelled() => Err(ErrorData::internal_error("cancelled by the server", None)),
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
        if let Some((_, _, Some(asks))) = self.shared.newest_in_flight() {
            return Self::ask_through(asks, request, &context).await;
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
            // A change goes to the stateless clients' listens, and to the session's own client
            // (never to some other client's request in flight).
            change if subscriptions::is_change(&change) => {
                self.shared.listeners.fan_out(&change);
                match &self.standalone {
                    Some(session) => (change, session.clone()),
                    None => return Ok(()),
                }
            }
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
/// A stateless server's `input_required` answer reaches a client of that era as it is; a client of
/// the handshake era is asked each input request as its era asks (the server's request on the
/// client's stream), and the request goes to the server again with the answers. A server of the
/// handshake era that asks a stateless client during a call has it asked `input_required`
/// ([`asking`]).
pub async fn forward_request(
    session: &Arc<UpstreamSession>,
    shared: &Shared,
    mut request: ClientRequest,
    context: RequestContext<RoleServer>,
) -> Result<ServerResult, ErrorData> {
    let upstream = session.peer();
    let stateless = speaks_stateless(upstream);
    match era::crossing(&request, stateless) {
        Crossing::Forward => {}
        Crossing::AnswerEmpty => return Ok(ServerResult::empty(())),
        Crossing::KeepLogLevel(level) => {
            shared.keep_log_level(level);
            return Ok(ServerResult::empty(()));
        }
        Crossing::Subscription(change) => {
            shared
                .standing
                .apply(upstream, &context.peer, change)
                .await?;
            return Ok(ServerResult::empty(()));
        }
    }
    let client_stateless = context
        .protocol_version()
        .is_some_and(|version| era::is_stateless(&version));
    if client_stateless && !stateless && parked::may_ask_during(&request) {
        return asking::forward(session, shared, request, context).await;
    }
    let mut state_only_rounds = 0;
    for _round in 0..era::MAX_INPUT_ROUNDS {
        let result = send_once(upstream, shared, stateless, request.clone(), &context).await?;
        let input = match result {
            ServerResult::InputRequiredResult(input) if !client_stateless => input,
            result => return Ok(era::inbound_result(result, client_stateless)),
        };
        let requests = input.input_requests.unwrap_or_default();
        if requests.is_empty() {
            tokio::time::sleep(era::wait_before_asking_again(state_only_rounds)).await;
            state_only_rounds += 1;
        } else {
            state_only_rounds = 0;
        }
        let responses = ask_client(&context, requests).await?;
        era::with_input(
            &mut request,
            (!responses.is_empty()).then_some(responses),
            input.request_state,
        )?;
    }
    Err(ErrorData::internal_error(
        format!(
            "the MCP server asked for input {} times without answering",
            era::MAX_INPUT_ROUNDS
        ),
        None,
    ))
}

/// Asks a client of the handshake era each of a stateless server's input requests, on the stream
/// of the request they are for, and gathers the answers under the server's keys.
async fn ask_client(
    context: &RequestContext<RoleServer>,
    requests: InputRequests,
) -> Result<InputResponses, ErrorData> {
    let mut responses = InputResponses::new();
    for (key, request) in requests {
        let mut request = era::as_server_request(request)?;
        request
            .extensions_mut()
            .insert(OriginatingRequestId(context.id.clone()));
        let answer = tokio::select! {
            answer = context.peer.send_request(request) => answer.map_err(relayed_error)?,
            () = context.ct.cancelled() => {
                return Err(ErrorData::internal_error("cancelled by the client", None));
            }
        };
        let answer = serde_json::to_value(answer)
            .map_err(|e| ErrorData::internal_error(format!("the client's answer: {e}"), None))?;
        responses.insert(key, answer);
    }
    Ok(responses)
}

/// Opens the standing listen of a handshake client's session whose server turned out to speak the
/// stateless era alone. A server that will not listen costs the client its list changes, not its
/// session: it is logged.
pub async fn stand_if_stateless(
    upstream: &Peer<RoleClient>,
    shared: &Shared,
    downstream: &Peer<RoleServer>,
) {
    if !speaks_stateless(upstream) {
        return;
    }
    if let Err(error) = shared
        .standing
        .apply(upstream, downstream, Change::Open)
        .await
    {
        tracing::warn!(error = %error.message, "no list changes from the MCP server for this session");
    }
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
