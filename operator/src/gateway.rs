//! The MCP gateway: serves every compound McpServerInstance as one streamable HTTP endpoint,
//! `/mcp/compound/{namespace}/{name}`. A client's session with a compound is joined to a session
//! with each member ([`crate::mcp::relay`]), opened with the client's own `initialize`
//! parameters, so that whatever a member sends (progress, logging, resource updates, list changes,
//! sampling and elicitation requests) reaches the client as if it had connected to the member.
//!
//! What is merged and what is renamed:
//! - tools: the compound's status holds the merged table (member prefixes, include and exclude,
//!   first member wins a collision); `tools/call` goes to the owning member under its own name;
//! - prompts: named by the same member prefix as tools (prompt names collide as easily), first
//!   member wins a collision; `prompts/get` and prompt completion go to the owner by its name;
//! - resources and resource templates: not renamed, because a URI is an address the server
//!   understands and clients pass it on (in prompts, in other servers' results); reads,
//!   subscriptions and template completion go to the member that listed the URI, or whose
//!   template matches it, else to each member in turn until one answers;
//! - `logging/setLevel` goes to every member that logs.
//!
//! It runs in the operator because the operator already knows every member's endpoint and the
//! Secrets for its headers; a Deployment per compound would only add pods that need the same.
//! Several operator replicas can all serve it: a session's state is the member sessions alone.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use kube::Api;
use rmcp::RoleServer;
use rmcp::model::*;
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::Value;
use tokio::sync::OnceCell;

use agentarea_crds::McpServerInstance;
use agentarea_crds::mcp_server_instance::DiscoveredTool;

use crate::context::Context;
use crate::mcp;
use crate::mcp::relay::{self, Relay, Shared, ToClient, Transparent, UpstreamSession};
use crate::mcp::routing::{self, Route};

/// The path prefix of compound endpoints.
pub const PREFIX: &str = "/mcp/compound/";

/// The URL of `namespace/name` under the gateway's public base URL.
pub fn endpoint(base: &str, namespace: &str, name: &str) -> String {
    format!("{}{PREFIX}{namespace}/{name}", base.trim_end_matches('/'))
}

/// Serves the gateway on `addr` until `shutdown` resolves.
pub async fn serve(
    ctx: Arc<Context>,
    addr: SocketAddr,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let service = StreamableHttpService::new(
        move || Ok(Transparent::new(CompoundSession::new(ctx.clone()))),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default().disable_allowed_hosts(),
    );
    let router = axum::Router::new().fallback_service(service);
    agentarea_support::serve(addr, router, shutdown).await
}

/// `namespace` and `name` of the compound a request path names.
fn compound_of(path: &str) -> Option<(&str, &str)> {
    let (namespace, name) = path.strip_prefix(PREFIX)?.split_once('/')?;
    let valid = |s: &str| !s.is_empty() && !s.contains('/');
    (valid(namespace) && valid(name)).then_some((namespace, name))
}

fn not_found(namespace: &str, name: &str) -> ErrorData {
    ErrorData::invalid_request(
        format!("no compound MCP server instance {namespace}/{name}"),
        None,
    )
}

fn tools_of(instance: &McpServerInstance) -> Vec<DiscoveredTool> {
    instance
        .status
        .as_ref()
        .map(|s| s.tools.clone())
        .unwrap_or_default()
}

/// A member of the compound, as one client session sees it.
struct Member {
    name: String,
    prefix: String,
    session: UpstreamSession,
    shared: Shared,
}

impl Member {
    fn capabilities(&self) -> ServerCapabilities {
        self.session
            .peer_info()
            .map(|info| info.capabilities.clone())
            .unwrap_or_default()
    }

    async fn forward(
        &self,
        request: ClientRequest,
        context: RequestContext<RoleServer>,
    ) -> Result<ServerResult, ErrorData> {
        relay::forward_request(self.session.peer(), &self.shared, request, context).await
    }
}

/// A client session joined to its compound's members.
struct Joined {
    namespace: String,
    name: String,
    members: Vec<Member>,
    /// Who offers what, as last listed in this session: exposed prompt name -> (member, its name
    /// for the prompt); resource URI -> member; URI template -> member.
    prompts: Mutex<HashMap<String, (usize, String)>>,
    resources: Mutex<HashMap<String, usize>>,
    templates: Mutex<Vec<(String, usize)>>,
}

struct CompoundSession {
    ctx: Arc<Context>,
    joined: OnceCell<Joined>,
}

impl CompoundSession {
    fn new(ctx: Arc<Context>) -> Self {
        Self {
            ctx,
            joined: OnceCell::new(),
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

    /// Opens a session with each member, with `client`'s parameters. A member that cannot be
    /// reached is left out of this session (and logged): the others still serve.
    async fn join(
        &self,
        client: ClientConfig,
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
            let shared = Shared::default();
            let relay = ToClient::new(context.peer.clone(), client.clone(), shared.clone());
            let session = async {
                let fetched =
                    Api::<McpServerInstance>::namespaced(self.ctx.client.clone(), namespace)
                        .get_opt(&member.name)
                        .await;
                let object = routing::found(fetched, &member.name).map_err(|p| p.message)?;
                let endpoint = routing::endpoint_of(&self.ctx, namespace, &object)
                    .await
                    .map_err(|p| p.message)?;
                mcp::connect_as(&endpoint, relay)
                    .await
                    .map_err(|e| e.to_string())
            };
            match session.await {
                Ok(session) => members.push(Member {
                    name: member.name.clone(),
                    prefix: member.prefix.clone().unwrap_or_default(),
                    session,
                    shared,
                }),
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

    /// The session's members; a client that skips `initialize` gets them joined with rmcp's
    /// default client parameters.
    async fn joined(&self, context: &RequestContext<RoleServer>) -> Result<&Joined, ErrorData> {
        self.joined
            .get_or_try_init(|| self.join(ClientConfig::default(), context))
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
    /// tool is a failed call the model can read (as the reference SDKs answer it), not a protocol
    /// error.
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
                let message = format!("Tool {} not found", call.params.name);
                return Ok(CallToolResult::error(vec![ContentBlock::text(message)]).into());
            }
        };
        let member = joined.member(&member_name)?;
        tracing::debug!(compound = %joined.name, member = %member_name, tool = %member_tool, "routed tool call");
        call.params.name = member_tool.into();
        member.forward(call.into(), context).await
    }
}

impl Joined {
    fn member(&self, name: &str) -> Result<&Member, ErrorData> {
        self.members.iter().find(|m| m.name == name).ok_or_else(|| {
            ErrorData::internal_error(
                format!(
                    "member {name} of {}/{} cannot be reached",
                    self.namespace, self.name
                ),
                None,
            )
        })
    }

    /// The members that declared `capability`, with their index.
    fn offering(
        &self,
        capability: impl Fn(&ServerCapabilities) -> bool,
    ) -> impl Iterator<Item = (usize, &Member)> {
        self.members
            .iter()
            .enumerate()
            .filter(move |(_, m)| capability(&m.capabilities()))
    }

    async fn list_prompts(&self) -> Result<ServerResult, ErrorData> {
        let mut listed = Vec::new();
        let mut owners = HashMap::new();
        for (index, member) in self.offering(|c| c.prompts.is_some()) {
            let prompts = member
                .session
                .peer()
                .list_all_prompts()
                .await
                .map_err(relay::relayed_error)?;
            for mut prompt in prompts {
                let exposed = format!("{}{}", member.prefix, prompt.name);
                if owners.contains_key(&exposed) {
                    continue; // the first member to offer a name keeps it, as for tools
                }
                owners.insert(exposed.clone(), (index, prompt.name.clone()));
                prompt.name = exposed;
                listed.push(prompt);
            }
        }
        *lock(&self.prompts) = owners;
        Ok(ListPromptsResult::with_all_items(listed).into())
    }

    /// The member offering prompt `exposed`, and its own name for it.
    async fn prompt_owner(&self, exposed: &str) -> Result<(&Member, String), ErrorData> {
        if !lock(&self.prompts).contains_key(exposed) {
            self.list_prompts().await?;
        }
        let owner = lock(&self.prompts).get(exposed).cloned();
        match owner {
            Some((index, own)) => Ok((&self.members[index], own)),
            None => Err(ErrorData::invalid_params(
                format!("no prompt {exposed}"),
                None,
            )),
        }
    }

    async fn list_resources(&self) -> Result<ServerResult, ErrorData> {
        let mut listed = Vec::new();
        let mut owners = HashMap::new();
        for (index, member) in self.offering(|c| c.resources.is_some()) {
            let resources = member
                .session
                .peer()
                .list_all_resources()
                .await
                .map_err(relay::relayed_error)?;
            for resource in resources {
                // A URI two members list is one resource to the client: the first member's.
                if let std::collections::hash_map::Entry::Vacant(owner) =
                    owners.entry(resource.uri.clone())
                {
                    owner.insert(index);
                    listed.push(resource);
                }
            }
        }
        *lock(&self.resources) = owners;
        Ok(ListResourcesResult::with_all_items(listed).into())
    }

    async fn list_templates(&self) -> Result<ServerResult, ErrorData> {
        let mut listed = Vec::new();
        let mut owners = Vec::new();
        for (index, member) in self.offering(|c| c.resources.is_some()) {
            let templates = member
                .session
                .peer()
                .list_all_resource_templates()
                .await
                .map_err(relay::relayed_error)?;
            for template in templates {
                owners.push((template.uri_template.clone(), index));
                listed.push(template);
            }
        }
        *lock(&self.templates) = owners;
        Ok(ListResourceTemplatesResult::with_all_items(listed).into())
    }

    /// A request about resource `uri`: to the member known to serve it, else to each member that
    /// serves resources in turn, until one answers.
    async fn by_uri(
        &self,
        uri: &str,
        request: ClientRequest,
        context: RequestContext<RoleServer>,
    ) -> Result<ServerResult, ErrorData> {
        let known = lock(&self.resources).get(uri).copied().or_else(|| {
            lock(&self.templates)
                .iter()
                .find(|(template, _)| template_matches(template, uri))
                .map(|(_, index)| *index)
        });
        if let Some(index) = known {
            return self.members[index].forward(request, context).await;
        }
        let mut first_error = None;
        let candidates: Vec<usize> = self
            .offering(|c| c.resources.is_some())
            .map(|(index, _)| index)
            .collect();
        for index in candidates {
            match self.members[index]
                .forward(request.clone(), context.clone())
                .await
            {
                Ok(result) => {
                    lock(&self.resources).insert(uri.to_string(), index);
                    return Ok(result);
                }
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        Err(first_error
            .unwrap_or_else(|| ErrorData::resource_not_found(format!("no resource {uri}"), None)))
    }

    /// `logging/setLevel`: every member that logs.
    #[allow(deprecated)] // still what clients send (SEP-2577 is not yet final)
    async fn set_level(
        &self,
        request: SetLevelRequest,
        context: RequestContext<RoleServer>,
    ) -> Result<ServerResult, ErrorData> {
        let loggers: Vec<&Member> = self
            .offering(|c| c.logging.is_some())
            .map(|(_, m)| m)
            .collect();
        for member in loggers {
            member
                .forward(request.clone().into(), context.clone())
                .await?;
        }
        Ok(ServerResult::empty(()))
    }

    /// `completion/complete`: to the owner of the prompt or the resource template referred to.
    async fn complete(
        &self,
        mut request: CompleteRequest,
        context: RequestContext<RoleServer>,
    ) -> Result<ServerResult, ErrorData> {
        let member = match &mut request.params.r#ref {
            Reference::Prompt(prompt) => {
                let (member, own) = self.prompt_owner(&prompt.name).await?;
                prompt.name = own;
                member
            }
            Reference::Resource(resource) => {
                if lock(&self.templates).is_empty() {
                    self.list_templates().await?;
                }
                let owner = lock(&self.templates)
                    .iter()
                    .find(|(template, _)| *template == resource.uri)
                    .map(|(_, index)| *index);
                match owner {
                    Some(index) => &self.members[index],
                    None => {
                        return Err(ErrorData::invalid_params(
                            format!("no resource template {}", resource.uri),
                            None,
                        ));
                    }
                }
            }
            _ => {
                return Err(ErrorData::invalid_params(
                    "a completion reference of a kind this gateway does not know",
                    None,
                ));
            }
        };
        member.forward(request.into(), context).await
    }
}

/// Whether `uri` could come from RFC 6570 `template`: the literal text before the first
/// expression matches, which is what tells members' URI schemes and hosts apart.
fn template_matches(template: &str, uri: &str) -> bool {
    let literal = template.split('{').next().unwrap_or_default();
    !literal.is_empty() && uri.starts_with(literal)
}

/// The compound's capabilities: what any of its members offers, tools always.
fn merged_capabilities(members: &[ServerCapabilities]) -> ServerCapabilities {
    let mut merged = ServerCapabilities::builder().enable_tools().build();
    for capabilities in members {
        merged.logging = merged
            .logging
            .take()
            .or_else(|| capabilities.logging.clone());
        merged.completions = merged
            .completions
            .take()
            .or_else(|| capabilities.completions.clone());
        if let Some(prompts) = &capabilities.prompts {
            let listed = merged.prompts.get_or_insert_with(Default::default);
            listed.list_changed =
                Some(listed.list_changed.unwrap_or(false) || prompts.list_changed.unwrap_or(false));
        }
        if let Some(resources) = &capabilities.resources {
            let listed = merged.resources.get_or_insert_with(Default::default);
            listed.subscribe =
                Some(listed.subscribe.unwrap_or(false) || resources.subscribe.unwrap_or(false));
            listed.list_changed = Some(
                listed.list_changed.unwrap_or(false) || resources.list_changed.unwrap_or(false),
            );
        }
    }
    merged
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Relay for CompoundSession {
    async fn initialize(
        &self,
        client: ClientConfig,
        context: RequestContext<RoleServer>,
    ) -> Result<ServerConfig, ErrorData> {
        let joined = self
            .joined
            .get_or_try_init(|| self.join(client, &context))
            .await?;
        let capabilities: Vec<ServerCapabilities> =
            joined.members.iter().map(Member::capabilities).collect();
        let mut config = ServerConfig::new(merged_capabilities(&capabilities));
        config.server_info = Implementation::new(
            format!("{}/{}", joined.namespace, joined.name),
            env!("CARGO_PKG_VERSION"),
        );
        Ok(config)
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

    async fn notification(&self, notification: ClientNotification) {
        for member in self.joined.get().iter().flat_map(|j| &j.members) {
            relay::forward_notification(member.session.peer(), notification.clone()).await;
        }
    }

    fn info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compound_paths() {
        let cases = [
            ("/mcp/compound/team-a/tools", Some(("team-a", "tools"))),
            ("/mcp/compound/team-a/", None),
            ("/mcp/compound//tools", None),
            ("/mcp/compound/team-a/tools/extra", None),
            ("/mcp/other/team-a/tools", None),
        ];
        for (path, expected) in cases {
            assert_eq!(compound_of(path), expected, "{path}");
        }
    }

    #[test]
    fn uri_templates_match_by_their_literal_start() {
        let cases = [
            (
                "demo://resource/static/{id}",
                "demo://resource/static/7",
                true,
            ),
            (
                "demo://resource/static/{id}",
                "demo://resource/dynamic/7",
                false,
            ),
            ("file:///{path}", "file:///etc/hosts", true),
            ("{+anything}", "demo://x", false),
        ];
        for (template, uri, matches) in cases {
            assert_eq!(template_matches(template, uri), matches, "{template} {uri}");
        }
    }

    #[test]
    #[allow(deprecated)] // enable_logging: members still declare it
    fn capabilities_are_the_union_of_the_members() {
        let tools_only = ServerCapabilities::builder().enable_tools().build();
        let everything = ServerCapabilities::builder()
            .enable_tools()
            .enable_logging()
            .enable_completions()
            .enable_prompts()
            .enable_resources()
            .enable_resources_subscribe()
            .build();
        let cases: [(&[ServerCapabilities], bool, bool, bool); 3] = [
            (&[], false, false, false),
            (std::slice::from_ref(&tools_only), false, false, false),
            (&[tools_only.clone(), everything], true, true, true),
        ];
        for (members, logging, prompts, subscribe) in cases {
            let merged = merged_capabilities(members);
            assert!(merged.tools.is_some());
            assert_eq!(merged.logging.is_some(), logging);
            assert_eq!(merged.prompts.is_some(), prompts);
            let subscribes = merged.resources.and_then(|r| r.subscribe).unwrap_or(false);
            assert_eq!(subscribes, subscribe);
        }
    }
}
