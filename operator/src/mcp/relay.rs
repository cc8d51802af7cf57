//! A transparent MCP relay: one client's session (downstream) joined to one server's session
//! (upstream), every message passed on as it is. The bridge relays a streamable HTTP client to a
//! stdio server this way, and the compound gateway relays to each of its members.
//!
//! Transparency is the point: a client of a bridged server must see the same protocol it would see
//! if it reached the server directly, so nothing here enumerates methods. Requests, results and
//! errors pass both ways whatever they are (tools, resources and subscriptions, prompts,
//! completion, logging, and the server's own requests: sampling, elicitation, roots), and so do
//! notifications (progress, logging, list changes, resource updates). The upstream session is
//! initialized with the downstream client's own `initialize` parameters, so the server learns the
//! client's real name and capabilities, and the client gets the server's real answer.
//!
//! Two things are rewritten, because each side numbers its own messages:
//! - progress tokens: rmcp gives every request it sends a token of its own, so the upstream
//!   server's progress notifications carry that token and are renamed back to the client's;
//! - cancellation: a client's `notifications/cancelled` names its request id, so it is turned into
//!   a cancellation of the matching upstream request.
//!
//! A server's request to the client (sampling, elicitation) has no wire link to the client
//! request it serves (stdio has no streams), so it rides the stream of the client's newest request
//! in flight to that server, falling back to the standalone stream when none is in flight.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rmcp::model::*;
use rmcp::service::{
    NotificationContext, OriginatingRequestId, Peer, PeerRequestOptions, RequestContext,
    RunningService,
};
use rmcp::{RoleClient, RoleServer, ServerHandler, Service, ServiceError};
use serde::de::DeserializeOwned;

/// An upstream session as the relay holds it.
pub type UpstreamSession = RunningService<RoleClient, ToClient>;

/// How long a request's progress token keeps its client token after the request ended. rmcp
/// hands each notification to a task of its own, so the server's last progress can reach us
/// just after its result; it must still go out under the client's token.
const PROGRESS_AFTER_END: Duration = Duration::from_secs(30);

/// What the two halves of one relay share: which client request each upstream progress token
/// belongs to (and since when it has ended), and which client requests are in flight (newest
/// last).
#[derive(Clone, Default)]
pub struct Shared {
    progress: Arc<Mutex<HashMap<ProgressToken, Renamed>>>,
    in_flight: Arc<Mutex<Vec<RequestId>>>,
}

#[derive(Clone, Debug)]
struct Renamed {
    client_token: ProgressToken,
    ended: Option<Instant>,
}

impl Shared {
    fn begin(
        &self,
        request: &RequestId,
        upstream: ProgressToken,
        downstream: Option<ProgressToken>,
    ) {
        if let Some(client_token) = downstream {
            let mut progress = lock(&self.progress);
            let now = Instant::now();
            progress.retain(|_, renamed| {
                renamed
                    .ended
                    .is_none_or(|ended| now.duration_since(ended) < PROGRESS_AFTER_END)
            });
            let renamed = Renamed {
                client_token,
                ended: None,
            };
            progress.insert(upstream, renamed);
        }
        lock(&self.in_flight).push(request.clone());
    }

    fn end(&self, request: &RequestId, upstream: &ProgressToken) {
        if let Some(renamed) = lock(&self.progress).get_mut(upstream) {
            renamed.ended = Some(Instant::now());
        }
        lock(&self.in_flight).retain(|id| id != request);
    }

    fn client_token(&self, upstream: &ProgressToken) -> Option<ProgressToken> {
        lock(&self.progress)
            .get(upstream)
            .map(|renamed| renamed.client_token.clone())
    }

    fn newest_in_flight(&self) -> Option<RequestId> {
        lock(&self.in_flight).last().cloned()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding these maps leaves them consistent (single inserts and removals).
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

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

/// A client session's handling, whatever the method: the bridge relays every request to its one
/// server, the gateway picks the member (or members) a request is for. [`Transparent`] makes a
/// [`ServerHandler`] of it, which is what rmcp's streamable HTTP service serves.
pub trait Relay: Send + Sync + 'static {
    /// The session's `initialize`, with the client's own parameters.
    fn initialize(
        &self,
        client: ClientConfig,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ServerConfig, ErrorData>> + Send + '_;

    /// Any other request.
    fn request(
        &self,
        request: ClientRequest,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ServerResult, ErrorData>> + Send + '_;

    /// A client notification other than `initialized` and `cancelled` (which the relay's own
    /// handshake and [`forward_request`] take care of).
    fn notification(
        &self,
        notification: ClientNotification,
    ) -> impl Future<Output = ()> + Send + '_;

    /// What `get_info` says before `initialize` (and after, when asked).
    fn info(&self) -> ServerConfig;
}

/// A [`Relay`] served as an MCP server: every typed handler method of rmcp's [`ServerHandler`]
/// turns back into the request it came from and goes to the relay.
pub struct Transparent<R> {
    relay: R,
    initialized: std::sync::atomic::AtomicBool,
}

impl<R: Relay> Transparent<R> {
    pub fn new(relay: R) -> Self {
        Self {
            relay,
            initialized: Default::default(),
        }
    }

    async fn pass<T: DeserializeOwned>(
        &self,
        request: ClientRequest,
        context: RequestContext<RoleServer>,
    ) -> Result<T, ErrorData> {
        let result = self.relay.request(request, context).await?;
        typed(result)
    }

    async fn pass_empty(
        &self,
        request: ClientRequest,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.relay.request(request, context).await.map(|_| ())
    }
}

/// A result as the type rmcp's handler method returns. The wire form is the contract, so the
/// conversion goes through it: whatever the server put in the result reaches the client.
fn typed<T: DeserializeOwned>(result: ServerResult) -> Result<T, ErrorData> {
    serde_json::to_value(&result)
        .and_then(serde_json::from_value)
        .map_err(|e| {
            ErrorData::internal_error(
                format!("the MCP server's result does not fit the request: {e}"),
                None,
            )
        })
}

fn optional<M: Default, P>(params: Option<P>) -> RequestOptionalParam<M, P> {
    RequestOptionalParam {
        method: M::default(),
        params,
        extensions: Default::default(),
    }
}

#[allow(deprecated)] // resources/subscribe and unsubscribe: still what most servers speak
impl<R: Relay> ServerHandler for Transparent<R> {
    fn get_info(&self) -> ServerConfig {
        self.relay.info()
    }

    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, ErrorData> {
        use std::sync::atomic::Ordering;
        if self.initialized.swap(true, Ordering::SeqCst) {
            return Err(ErrorData::invalid_request(
                "the session is already initialized",
                None,
            ));
        }
        context.peer.set_peer_info(request.clone());
        self.relay.initialize(request, context).await
    }

    async fn ping(&self, context: RequestContext<RoleServer>) -> Result<(), ErrorData> {
        self.pass_empty(PingRequest::default().into(), context)
            .await
    }

    async fn complete(
        &self,
        params: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        self.pass(CompleteRequest::new(params).into(), context)
            .await
    }

    async fn set_level(
        &self,
        params: SetLevelRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.pass_empty(SetLevelRequest::new(params).into(), context)
            .await
    }

    async fn get_prompt(
        &self,
        params: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let result = self
            .relay
            .request(GetPromptRequest::new(params).into(), context);
        match result.await? {
            ServerResult::InputRequiredResult(input) => Ok(input.into()),
            other => typed::<GetPromptResult>(other).map(Into::into),
        }
    }

    async fn list_prompts(
        &self,
        params: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        self.pass(ClientRequest::ListPromptsRequest(optional(params)), context)
            .await
    }

    async fn list_resources(
        &self,
        params: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        self.pass(
            ClientRequest::ListResourcesRequest(optional(params)),
            context,
        )
        .await
    }

    async fn list_resource_templates(
        &self,
        params: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        let request = ClientRequest::ListResourceTemplatesRequest(optional(params));
        self.pass(request, context).await
    }

    async fn read_resource(
        &self,
        params: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let result = self
            .relay
            .request(ReadResourceRequest::new(params).into(), context);
        match result.await? {
            ServerResult::InputRequiredResult(input) => Ok(input.into()),
            other => typed::<ReadResourceResult>(other).map(Into::into),
        }
    }

    async fn subscribe(
        &self,
        params: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.pass_empty(SubscribeRequest::new(params).into(), context)
            .await
    }

    async fn unsubscribe(
        &self,
        params: UnsubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.pass_empty(UnsubscribeRequest::new(params).into(), context)
            .await
    }

    async fn call_tool(
        &self,
        params: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let result = self
            .relay
            .request(CallToolRequest::new(params).into(), context);
        match result.await? {
            ServerResult::InputRequiredResult(input) => Ok(input.into()),
            ServerResult::CreateTaskResult(task) => Ok(task.into()),
            other => typed::<CallToolResult>(other).map(Into::into),
        }
    }

    async fn list_tools(
        &self,
        params: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        self.pass(ClientRequest::ListToolsRequest(optional(params)), context)
            .await
    }

    async fn on_custom_request(
        &self,
        request: CustomRequest,
        context: RequestContext<RoleServer>,
    ) -> Result<CustomResult, ErrorData> {
        self.pass(request.into(), context).await
    }

    async fn get_task(
        &self,
        params: GetTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, ErrorData> {
        self.pass(GetTaskRequest::new(params).into(), context).await
    }

    async fn update_task(
        &self,
        params: UpdateTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.pass_empty(UpdateTaskRequest::new(params).into(), context)
            .await
    }

    async fn cancel_task(
        &self,
        params: CancelTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.pass_empty(CancelTaskRequest::new(params).into(), context)
            .await
    }

    async fn list_skills(
        &self,
        params: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListSkillsResult, ErrorData> {
        self.pass(ClientRequest::ListSkillsRequest(optional(params)), context)
            .await
    }

    async fn get_skill(
        &self,
        params: GetSkillRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetSkillResult, ErrorData> {
        self.pass(GetSkillRequest::new(params).into(), context)
            .await
    }

    async fn read_resource_directory(
        &self,
        params: ReadResourceDirectoryRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceDirectoryResult, ErrorData> {
        self.pass(ReadResourceDirectoryRequest::new(params).into(), context)
            .await
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleServer>,
    ) {
        self.relay
            .notification(ProgressNotification::new(params).into())
            .await;
    }

    async fn on_roots_list_changed(&self, _context: NotificationContext<RoleServer>) {
        self.relay
            .notification(RootsListChangedNotification::default().into())
            .await;
    }

    async fn on_custom_notification(
        &self,
        notification: CustomNotification,
        _context: NotificationContext<RoleServer>,
    ) {
        self.relay.notification(notification.into()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(n: i64) -> ProgressToken {
        ProgressToken(NumberOrString::Number(n))
    }

    #[test]
    fn progress_is_renamed_during_and_just_after_its_request() {
        let shared = Shared::default();
        let request = RequestId::Number(7);
        shared.begin(&request, token(1), Some(token(100)));
        shared.begin(&RequestId::Number(8), token(2), None);
        assert_eq!(shared.client_token(&token(1)), Some(token(100)));
        assert_eq!(
            shared.client_token(&token(2)),
            None,
            "the client asked no progress"
        );
        assert_eq!(shared.newest_in_flight(), Some(RequestId::Number(8)));

        shared.end(&request, &token(1));
        assert_eq!(
            shared.client_token(&token(1)),
            Some(token(100)),
            "a late notification still finds its client"
        );
        assert_eq!(shared.newest_in_flight(), Some(RequestId::Number(8)));

        // Long after the end, the next request's start forgets it.
        lock(&shared.progress).get_mut(&token(1)).unwrap().ended =
            Some(Instant::now() - PROGRESS_AFTER_END);
        shared.begin(&RequestId::Number(9), token(3), Some(token(300)));
        assert_eq!(shared.client_token(&token(1)), None);
        assert_eq!(shared.client_token(&token(3)), Some(token(300)));
    }
}
