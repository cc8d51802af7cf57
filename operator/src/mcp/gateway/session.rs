//! A client's session with a compound instance: joined to a session with each member, opened with
//! the client's own `initialize` parameters, and each request sent where it belongs: `tools/call`
//! to the member that owns the tool, `tools/list` from the compound's status, the rest to the
//! members that offer it ([`members`](super::members)).

use std::sync::{Arc, Mutex};

use kube::Api;
use rmcp::RoleServer;
use rmcp::model::*;
use rmcp::service::{RequestContext, SubscriptionContext};
use serde_json::Value;
use tokio::sync::OnceCell;

use agentarea_crds::McpServerInstance;
use agentarea_crds::mcp_server_instance::DiscoveredTool;

use super::members::{Joined, Member, merged_capabilities};
use super::paths::compound_of;
use crate::context::Context;
use crate::mcp::connect::connect_as;
use crate::mcp::era::Era;
use crate::mcp::relay::{self, Parked, Relay, Shared, ToClient};
use crate::mcp::routing::{self, Route};

fn not_found(namespace: &str, name: &str) -> ErrorData {
    ErrorData::invalid_request(
        format!("no compound MCP server instance {namespace}/{name}"),
        None,
    )
}

/// What the compound says of itself: its members' capabilities merged, under its own name.
fn answered(joined: &Joined) -> ServerConfig {
    let capabilities: Vec<ServerCapabilities> =
        joined.members.iter().map(Member::capabilities).collect();
    let mut config = ServerConfig::new(merged_capabilities(&capabilities));
    config.server_info = Implementation::new(
        format!("{}/{}", joined.namespace, joined.name),
        env!("CARGO_PKG_VERSION"),
    );
    config
}

/// The client a stateless request says it comes from (`_meta`'s client info and capabilities),
/// as the parameters of an `initialize` on its behalf; rmcp's defaults where it says nothing.
fn stated_client(meta: &RequestMetaObject) -> ClientConfig {
    let mut client = ClientConfig::default();
    if let Some(capabilities) = meta.client_capabilities() {
        client.capabilities = capabilities;
    }
    if let Some(info) = meta.client_info() {
        client.client_info = info;
    }
    client
}

fn tools_of(instance: &McpServerInstance) -> Vec<DiscoveredTool> {
    instance
        .status
        .as_ref()
        .map(|s| s.tools.clone())
        .unwrap_or_default()
}

pub(super) struct CompoundSession {
    ctx: Arc<Context>,
    joined: OnceCell<Joined>,
    /// The gateway's calls of stateless clients parked while a member waits for their input.
    parked: Parked,
}

impl CompoundSession {
    pub(super) fn new(ctx: Arc<Context>, parked: Parked) -> Self {
        Self {
            ctx,
            joined: OnceCell::new(),
            parked,
        }
    }

    /// The compound instance `namespace/name`, read anew (its status changes).
    async fn instance(&self, namespace: &str, name: &str) -> Result<McpServerInstance, ErrorData> {
        if let Some(watched) = &self.ctx.config.watch_namespace
            && watched != namespace
        {
            return Err(not_found(namespace, name));
        }
        let instance = Api::<McpServerInstance>::namespaced(self.ctx.client.clone(), namespace)
            .get_opt(name)
            .await
            .map_err(|e| ErrorData::internal_error(e.to_string(), None))?
            .ok_or_else(|| not_found(namespace, name))?;
        if instance.spec.compound.is_none() {
            return Err(not_found(namespace, name));
        }
        Ok(instance)
    }

    /// Opens a session with each member, with `client`'s parameters, in the client's era where the
    /// member speaks it. A member that cannot be reached is left out of this session (and logged):
    /// the others still serve.
    async fn join(
        &self,
        client: ClientConfig,
        era: Era,
        context: &RequestContext<RoleServer>,
    ) -> Result<Joined, ErrorData> {
        let path = context
            .extensions
            .get::<axum::http::request::Parts>()
            .map(|parts| parts.uri.path().to_string())
            .unwrap_or_default();
        let (namespace, name) = compound_of(&path).ok_or_else(|| {
            ErrorData::invalid_request(format!("not a compound endpoint: {path}"), None)
        })?;
        let instance = self.instance(namespace, name).await?;
        let mut members = Vec::new();
        for member in instance.spec.compound.iter().flat_map(|c| &c.members) {
            let shared = Shared::parking_in(self.parked.clone());
            // A stateless client's request has no session to send to outside its own stream.
            let session_client = (era == Era::Handshake).then(|| context.peer.clone());
            let relay = ToClient::new(session_client, client.clone(), shared.clone());
            let session = async {
                let fetched =
                    Api::<McpServerInstance>::namespaced(self.ctx.client.clone(), namespace)
                        .get_opt(&member.name)
                        .await;
                let object = routing::found(fetched, &member.name).map_err(|p| p.message)?;
                let endpoint = routing::endpoint_of(&self.ctx, namespace, &object)
                    .await
                    .map_err(|p| p.message)?;
                connect_as(&endpoint, relay, era)
                    .await
                    .map_err(|e| e.to_string())
            };
            match session.await {
                Ok(session) => {
                    if era == Era::Handshake {
                        relay::stand_if_stateless(session.peer(), &shared, &context.peer).await;
                    }
                    members.push(Member {
                        name: member.name.clone(),
                        prefix: member.prefix.clone().unwrap_or_default(),
                        session: Arc::new(session),
                        shared,
                    })
                }
                Err(error) => {
                    tracing::warn!(compound = %name, member = %member.name, %error, "member left out of the session")
                }
            }
        }
        Ok(Joined {
            namespace: namespace.to_string(),
            name: name.to_string(),
            members,
            prompts: Mutex::default(),
            resources: Mutex::default(),
            templates: Mutex::default(),
        })
    }

    /// The session's members; a client that skips `initialize` (of the stateless era) gets them
    /// joined with the parameters its request states in `_meta`, so that a member of the
    /// handshake era knows what it may ask of the client.
    async fn joined(&self, context: &RequestContext<RoleServer>) -> Result<&Joined, ErrorData> {
        self.joined
            .get_or_try_init(|| {
                let client = stated_client(&context.meta);
                Box::pin(self.join(client, Era::Stateless, context))
            })
            .await
    }

    async fn route(
        &self,
        request: ClientRequest,
        context: RequestContext<RoleServer>,
    ) -> Result<ServerResult, ErrorData> {
        let joined = self.joined(&context).await?;
        match request {
            ClientRequest::PingRequest(_) => Ok(ServerResult::empty(())),
            ClientRequest::ListToolsRequest(_) => self.merged_tools(joined).await,
            ClientRequest::CallToolRequest(call) => self.call_tool(joined, call, context).await,
            ClientRequest::ListPromptsRequest(_) => joined.list_prompts().await,
            ClientRequest::GetPromptRequest(mut get) => {
                let (member, own) = joined.prompt_owner(&get.params.name).await?;
                get.params.name = own;
                member.forward(get.into(), context).await
            }
            ClientRequest::ListResourcesRequest(_) => joined.list_resources().await,
            ClientRequest::ListResourceTemplatesRequest(_) => joined.list_templates().await,
            ClientRequest::ReadResourceRequest(read) => {
                let uri = read.params.uri.clone();
                joined.by_uri(&uri, read.into(), context).await
            }
            ClientRequest::SubscribeRequest(subscribe) => {
                let uri = subscribe.params.uri.clone();
                joined.by_uri(&uri, subscribe.into(), context).await
            }
            ClientRequest::UnsubscribeRequest(unsubscribe) => {
                let uri = unsubscribe.params.uri.clone();
                joined.by_uri(&uri, unsubscribe.into(), context).await
            }
            ClientRequest::SetLevelRequest(set) => joined.set_level(set, context).await,
            ClientRequest::CompleteRequest(complete) => joined.complete(complete, context).await,
            other => Err(ErrorData::new(
                ErrorCode::METHOD_NOT_FOUND,
                format!("a compound MCP server does not serve {}", other.method()),
                None,
            )),
        }
    }

    /// `tools/list`: the members' tools as the compound's status has them.
    async fn merged_tools(&self, joined: &Joined) -> Result<ServerResult, ErrorData> {
        let instance = self.instance(&joined.namespace, &joined.name).await?;
        let tools = tools_of(&instance)
            .into_iter()
            .map(|t| {
                let schema = match t.input_schema {
                    Some(Value::Object(schema)) => schema,
                    _ => serde_json::Map::from_iter([("type".to_string(), Value::from("object"))]),
                };
                let tool = Tool::new(t.name, t.description.unwrap_or_default(), Arc::new(schema));
                match t.annotations {
                    Some(hints) => tool.with_annotations(ToolAnnotations::from_raw(
                        None,
                        hints.read_only_hint,
                        hints.destructive_hint,
                        hints.idempotent_hint,
                        hints.open_world_hint,
                    )),
                    None => tool,
                }
            })
            .collect();
        Ok(ListToolsResult::with_all_items(tools).into())
    }

    /// `tools/call`: to the member that owns the tool, under the member's name for it. An unknown
    /// tool is a protocol error, `-32602` (invalid params), as the specification has it.
    async fn call_tool(
        &self,
        joined: &Joined,
        mut call: CallToolRequest,
        context: RequestContext<RoleServer>,
    ) -> Result<ServerResult, ErrorData> {
        let instance = self.instance(&joined.namespace, &joined.name).await?;
        let (member_name, member_tool) = match routing::route(&instance, &call.params.name) {
            Ok(Route::Member { member, tool }) => (member.to_string(), tool.to_string()),
            Ok(Route::Itself) | Err(_) => {
                let message = format!("Unknown tool: {}", call.params.name);
                return Err(ErrorData::invalid_params(message, None));
            }
        };
        let member = joined.member(&member_name)?;
        tracing::debug!(compound = %joined.name, member = %member_name, tool = %member_tool, "routed tool call");
        call.params.name = member_tool.into();
        member.forward(call.into(), context).await
    }
}

impl Relay for CompoundSession {
    async fn initialize(
        &self,
        client: ClientConfig,
        context: RequestContext<RoleServer>,
    ) -> Result<ServerConfig, ErrorData> {
        let joined = self
            .joined
            .get_or_try_init(|| Box::pin(self.join(client, Era::Handshake, &context)))
            .await?;
        Ok(answered(joined))
    }

    /// A stateless client's `server/discover`: the members joined as for any of its requests, and
    /// the compound told as `initialize` tells it.
    async fn discover(
        &self,
        context: RequestContext<RoleServer>,
    ) -> Result<DiscoverResult, ErrorData> {
        let joined = self.joined(&context).await?;
        Ok(relay::discovered(answered(joined)))
    }

    async fn request(
        &self,
        request: ClientRequest,
        context: RequestContext<RoleServer>,
    ) -> Result<ServerResult, ErrorData> {
        let method = request.method().to_string();
        let result = self.route(request, context).await;
        self.ctx
            .metrics
            .mcp
            .gateway_request(&method, result.is_ok());
        result
    }

    /// A stateless client's listen: each member carries what it offers of what was acknowledged.
    async fn listen(&self, subscription: SubscriptionContext) -> Result<(), ErrorData> {
        let joined = self.joined(subscription.request_context()).await?;
        let listening = relay::Listening::new(&subscription);
        let carried = joined.members.iter().map(|member| async {
            let peer = member.session.peer();
            let filter = relay::offered_by(peer, listening.accepted());
            let stateless = relay::speaks_stateless(peer);
            let carried =
                relay::carry(peer, stateless, &member.shared.listeners, filter, &listening).await;
            if let Err(error) = carried {
                tracing::warn!(compound = %joined.name, member = %member.name, error = %error.message, "a member's changes are not carried to a listen");
            }
        });
        futures::future::join_all(carried).await;
        Ok(())
    }

    async fn notification(&self, notification: ClientNotification) {
        for member in self.joined.get().iter().flat_map(|j| &j.members) {
            relay::forward_notification(member.session.peer(), notification.clone()).await;
        }
    }

    /// The members' capabilities once joined. Before, rmcp asks only to acknowledge a stateless
    /// client's listen, which comes before this request has joined its members: every kind of
    /// change is offered, and each member then carries what it has of it.
    fn info(&self) -> ServerConfig {
        match self.joined.get() {
            Some(joined) => answered(joined),
            None => ServerConfig::new(
                ServerCapabilities::builder()
                    .enable_tools()
                    .enable_tool_list_changed()
                    .enable_prompts()
                    .enable_prompts_list_changed()
                    .enable_resources()
                    .enable_resources_list_changed()
                    .enable_resources_subscribe()
                    .build(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stateless_client_is_introduced_as_it_states_itself() {
        let mut meta = RequestMetaObject::default();
        assert_eq!(
            serde_json::to_value(stated_client(&meta)).unwrap(),
            serde_json::to_value(ClientConfig::default()).unwrap(),
            "rmcp's defaults where it says nothing"
        );
        let capabilities: ClientCapabilities =
            serde_json::from_value(serde_json::json!({"elicitation": {"form": {}}})).unwrap();
        meta.set_client_capabilities(capabilities);
        meta.set_client_info(Implementation::new("ide", "1.2"));
        let client = stated_client(&meta);
        assert!(client.capabilities.elicitation.is_some());
        assert_eq!(client.client_info.name, "ide");
    }
}
