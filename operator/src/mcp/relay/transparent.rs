//! A [`Relay`] served as an MCP server. rmcp's [`ServerHandler`] has a typed method per request;
//! [`Transparent`] turns each back into the request it came from, so the relay sees every request
//! whatever its method, and passes the result back through its wire form, so whatever the server
//! put in it reaches the client.

use rmcp::model::*;
use rmcp::service::SubscriptionContext;
use rmcp::service::{NotificationContext, RequestContext};
use rmcp::{RoleServer, ServerHandler};
use serde::de::DeserializeOwned;

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
    /// handshake and [`forward_request`](super::upstream::forward_request) take care of).
    fn notification(
        &self,
        notification: ClientNotification,
    ) -> impl Future<Output = ()> + Send + '_;

    /// What `get_info` says before `initialize` (and after, when asked).
    fn info(&self) -> ServerConfig;

    /// A stateless client's `subscriptions/listen`, acknowledged: what it accepted carried from
    /// the server behind until the client ends it or the server's side ends
    /// ([`carry`](super::subscriptions::carry)).
    fn listen(
        &self,
        subscription: SubscriptionContext,
    ) -> impl Future<Output = Result<(), ErrorData>> + Send + '_;

    /// A stateless client's `server/discover`: by default what [`Relay::info`] says.
    fn discover(
        &self,
        _context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<DiscoverResult, ErrorData>> + Send + '_ {
        let info = self.info();
        async move { Ok(discovered(info)) }
    }
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

/// A relay's answer to `server/discover`, from what it says of the server behind it: every protocol
/// version rmcp knows, since the relay speaks each era to its clients.
pub fn discovered(info: ServerConfig) -> DiscoverResult {
    DiscoverResult::from_server_info(ProtocolVersion::KNOWN_VERSIONS.to_vec(), info)
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

    /// A listen is acknowledged before the relay sees it, from what [`Relay::info`] offers; the
    /// relay then carries what the server behind it sends of that.
    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        Some(requested.clone())
    }

    async fn listen(&self, subscription: SubscriptionContext) -> Result<(), ErrorData> {
        self.relay.listen(subscription).await
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

    async fn discover(
        &self,
        context: RequestContext<RoleServer>,
    ) -> Result<DiscoverResult, ErrorData> {
        self.relay.discover(context).await
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
