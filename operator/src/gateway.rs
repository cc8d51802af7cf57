//! The MCP gateway: serves every compound McpServerInstance as one streamable HTTP endpoint,
//! `/mcp/compound/{namespace}/{name}`. `tools/list` answers the merged tools from the compound's
//! status (kept by its controller); `tools/call` goes to the member that owns the tool, under the
//! member's own name for it.
//!
//! It runs in the operator because the operator already knows every member's endpoint and the
//! Secrets for its headers; a Deployment per compound would only add pods that need the same.
//! Several operator replicas can all serve it: it holds no state of its own.

use std::net::SocketAddr;
use std::sync::Arc;

use kube::{Api, ResourceExt};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ErrorData, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{RoleServer, ServerHandler};
use serde_json::Value;

use agentarea_crds::mcp_server_instance::DiscoveredTool;
use agentarea_crds::{McpServerInstance, reasons};

use crate::context::Context;
use crate::mcp;
use crate::mcp::routing::route_tool;

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
        move || Ok(CompoundGateway { ctx: ctx.clone() }),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default().disable_allowed_hosts(),
    );
    let router = axum::Router::new().fallback_service(service);
    agentarea_support::serve(addr, router, shutdown).await
}

struct CompoundGateway {
    ctx: Arc<Context>,
}

impl CompoundGateway {
    /// The compound instance the request's path names.
    async fn instance(
        &self,
        context: &RequestContext<RoleServer>,
    ) -> Result<McpServerInstance, ErrorData> {
        let path = context
            .extensions
            .get::<axum::http::request::Parts>()
            .map(|parts| parts.uri.path().to_string())
            .unwrap_or_default();
        let (namespace, name) = path
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split_once('/'))
            .ok_or_else(|| {
                ErrorData::invalid_request(format!("not a compound endpoint: {path}"), None)
            })?;
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

impl ServerHandler for CompoundGateway {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let result = self.merged_tools(&context).await;
        let metrics = &self.ctx.metrics.mcp;
        metrics.gateway_request("tools/list", result.is_ok());
        result
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let result = self.route_call(request, &context).await;
        let metrics = &self.ctx.metrics.mcp;
        metrics.gateway_request("tools/call", result.is_ok());
        result
    }
}

impl CompoundGateway {
    /// `tools/list`: the members' tools as the compound's status has them.
    async fn merged_tools(
        &self,
        context: &RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let instance = self.instance(context).await?;
        let tools = tools_of(&instance)
            .into_iter()
            .map(|t| {
                let schema = match t.input_schema {
                    Some(Value::Object(schema)) => schema,
                    _ => serde_json::Map::from_iter([("type".to_string(), Value::from("object"))]),
                };
                Tool::new(t.name, t.description.unwrap_or_default(), Arc::new(schema))
            })
            .collect();
        Ok(ListToolsResult::with_all_items(tools))
    }

    /// `tools/call`: to the member that owns the tool, under the member's name for it.
    async fn route_call(
        &self,
        request: CallToolRequestParams,
        context: &RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let instance = self.instance(context).await?;
        let namespace = instance.namespace().unwrap_or_default();
        let (endpoint, member_tool) = route_tool(&self.ctx, &namespace, &instance, &request.name)
            .await
            .map_err(|problem| match problem.reason {
                reasons::TOOL_NOT_FOUND => ErrorData::invalid_params(problem.message, None),
                _ => ErrorData::internal_error(problem.message, None),
            })?;
        let arguments = request.arguments.map(Value::Object).unwrap_or(Value::Null);
        let result = mcp::call_tool(&endpoint, &member_tool, arguments)
            .await
            .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        let result: CallToolResult = serde_json::from_value(result)
            .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        tracing::debug!(compound = %instance.name_any(), url = %endpoint.url, tool = %member_tool, "routed tool call");
        Ok(result.into())
    }
}
