//! A call of a stateless client to a server of the handshake era, which may ask the client for
//! input before it answers: each time it asks, the client is answered `input_required` and the
//! call is parked upstream until the client comes again with its answers ([`parked`]).

use std::sync::Arc;

use rmcp::model::{ClientRequest, ErrorData, InputRequests, InputRequiredResult, ServerResult};
use rmcp::service::{RequestContext, RunningService};
use rmcp::{RoleClient, RoleServer, Service};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::parked::{self, Ask, Call, Held, Redirect};
use super::progress::Shared;
use super::send;
use crate::mcp::era;

/// An upstream session, shared with the calls parked on it: the relays'
/// [`UpstreamSession`](super::upstream::UpstreamSession), generic here only so that this module
/// does not import the upstream half, which hands these calls to it.
type Session<S> = Arc<RunningService<RoleClient, S>>;

/// Sends `request` of a stateless client to a server of the handshake era (or takes back the
/// parked call it comes again for), and answers with the server's answer, or with what the server
/// asks of the client.
pub async fn forward<S: Service<RoleClient>>(
    session: &Session<S>,
    shared: &Shared,
    request: ClientRequest,
    context: RequestContext<RoleServer>,
) -> Result<ServerResult, ErrorData> {
    let call = match parked::parked_name(&request) {
        Some(name) => {
            let held = shared.parked.take(name).ok_or_else(parked::not_held)?;
            let progress = context.meta.get_progress_token();
            (held.call.redirect)(context.peer.clone(), context.id.clone(), progress);
            parked::answer_waiting(held.waiting, &parked::input_responses(&request));
            held.call
        }
        None => start(session, shared, request, &context).await?,
    };
    follow(call, shared, &context).await
}

/// Sends the request upstream in a task of its own, which outlives the client's request when the
/// call is parked; its session is kept open as long as the call is.
async fn start<S: Service<RoleClient>>(
    session: &Session<S>,
    shared: &Shared,
    request: ClientRequest,
    context: &RequestContext<RoleServer>,
) -> Result<Call, ErrorData> {
    let (to_relay, asks) = mpsc::unbounded_channel();
    let sent = send::send(
        session.peer(),
        shared,
        false,
        request,
        context,
        Some(to_relay),
    )
    .await?;
    let token = sent.token.clone();
    let cancel = CancellationToken::new();
    let answer = tokio::spawn({
        let (session, shared, cancel) = (session.clone(), shared.clone(), cancel.clone());
        async move { send::answered(session.peer(), &shared, sent, cancel).await }
    });
    let shared = shared.clone();
    let redirect: Redirect = Box::new(move |downstream, request, client_token| {
        shared.redirect(&token, downstream, request, client_token)
    });
    Ok(Call {
        answer,
        asks,
        redirect,
        cancel,
    })
}

/// What happened first while following a call.
enum Next {
    Answered(Result<ServerResult, ErrorData>),
    Asked(Ask),
    ClientGone,
}

/// Follows `call` until the server answers it, or asks the client something the client can be
/// asked (then the call is parked, and the client told what to answer).
async fn follow(
    mut call: Call,
    shared: &Shared,
    context: &RequestContext<RoleServer>,
) -> Result<ServerResult, ErrorData> {
    loop {
        let next = tokio::select! {
            answer = &mut call.answer => Next::Answered(answer.unwrap_or_else(|_| {
                Err(ErrorData::internal_error("the relayed call failed", None))
            })),
            Some(ask) = call.asks.recv() => Next::Asked(ask),
            () = context.ct.cancelled() => Next::ClientGone,
        };
        let first = match next {
            Next::Answered(result) => return result.map(|r| era::inbound_result(r, true)),
            // Dropping the call cancels it upstream.
            Next::ClientGone => {
                return Err(ErrorData::internal_error("cancelled by the client", None));
            }
            Next::Asked(ask) => ask,
        };
        let mut asked = vec![first];
        while let Ok(more) = call.asks.try_recv() {
            asked.push(more);
        }
        let (requests, waiting) = askable(asked, context);
        if waiting.is_empty() {
            continue; // the server was told the client cannot be asked; its call goes on
        }
        let state = shared.parked.park(Held { call, waiting });
        let input = InputRequiredResult::new(Some(requests), Some(state));
        return Ok(ServerResult::InputRequiredResult(input));
    }
}

/// The input requests to put to the client, by key, and the server's requests that wait for
/// them; a request the client cannot be asked is answered so at once.
fn askable(
    asked: Vec<Ask>,
    context: &RequestContext<RoleServer>,
) -> (InputRequests, Vec<(String, Ask)>) {
    // A stateless request says what its client can do in its own `_meta`.
    let capabilities = context
        .meta
        .client_capabilities()
        .or_else(|| {
            context
                .peer
                .peer_info()
                .map(|info| info.capabilities.clone())
        })
        .unwrap_or_default();
    let mut requests = InputRequests::new();
    let mut waiting = Vec::new();
    for (index, ask) in asked.into_iter().enumerate() {
        match parked::as_input_request(ask.request.clone(), &capabilities) {
            Ok(input) => {
                let key = format!("input-{index}");
                requests.insert(key.clone(), input);
                waiting.push((key, ask));
            }
            Err(refused) => {
                let _ = ask.answer.send(Err(refused));
            }
        }
    }
    (requests, waiting)
}
