//! One client request sent to the server, and its answer awaited: progress renamed on the way,
//! and the request cancelled upstream when the one waiting for it gives up.

use rmcp::model::{
    CancelledNotification, CancelledNotificationParam, ClientRequest, ErrorData, ProgressToken,
    RequestId, ServerResult,
};
use rmcp::service::{Peer, PeerRequestOptions, RequestContext, RequestHandle};
use rmcp::{RoleClient, RoleServer};
use tokio_util::sync::CancellationToken;

use super::hop::relayed_error;
use super::parked::Asks;
use super::progress::Shared;
use crate::mcp::era;

/// How long a result waits for its request's progress already on its way.
const PROGRESS_GRACE: std::time::Duration = std::time::Duration::from_millis(50);

/// A request sent upstream, not yet answered.
pub(super) struct Sent {
    handle: RequestHandle<RoleClient>,
    id: RequestId,
    pub(super) token: ProgressToken,
}

/// Sends `request` of the client of `context` to the server, in flight until [`answered`]; the
/// server's requests during it go to `asks` where given (a client that cannot be asked on the
/// call's stream), else to the client on its stream.
pub(super) async fn send(
    upstream: &Peer<RoleClient>,
    shared: &Shared,
    stateless: bool,
    request: ClientRequest,
    context: &RequestContext<RoleServer>,
    asks: Option<Asks>,
) -> Result<Sent, ErrorData> {
    let client_token = context.meta.get_progress_token();
    let meta = era::outbound_meta(context.meta.clone(), stateless, shared.log_level());
    let options = PeerRequestOptions::no_options().with_meta(meta);
    let handle = upstream
        .send_cancellable_request(request, options)
        .await
        .map_err(relayed_error)?;
    let (id, token) = (handle.id.clone(), handle.progress_token.clone());
    shared.begin(
        context.peer.clone(),
        &context.id,
        token.clone(),
        client_token,
        asks,
    );
    Ok(Sent { handle, id, token })
}

/// The server's answer to `sent`; when `cancel` fires first, the request is cancelled upstream.
pub(super) async fn answered(
    upstream: &Peer<RoleClient>,
    shared: &Shared,
    sent: Sent,
    cancel: CancellationToken,
) -> Result<ServerResult, ErrorData> {
    let Sent { handle, id, token } = sent;
    let result = tokio::select! {
        result = handle.await_response() => result.map_err(relayed_error),
        () = cancel.cancelled() => {
            let cancelled = CancelledNotification::new(CancelledNotificationParam::new(
                Some(id),
                Some("cancelled by the client".into()),
            ));
            let _ = upstream.send_notification(cancelled.into()).await;
            Err(ErrorData::internal_error("cancelled by the client", None))
        }
    };
    if shared.progress_sent(&token) && result.is_ok() {
        // rmcp hands each of the server's notifications to a task of its own, so the last progress
        // (sent before the result) can still be on its way here, and the request's stream ends
        // with the result (a stateless client's has no other): give it a moment to go out first.
        tokio::time::sleep(PROGRESS_GRACE).await;
    }
    shared.end(&token);
    result
}

/// [`send`] and [`answered`] in one: the request lives as long as the client's.
pub(super) async fn send_once(
    upstream: &Peer<RoleClient>,
    shared: &Shared,
    stateless: bool,
    request: ClientRequest,
    context: &RequestContext<RoleServer>,
) -> Result<ServerResult, ErrorData> {
    let sent = send(upstream, shared, stateless, request, context, None).await?;
    answered(upstream, shared, sent, context.ct.clone()).await
}
