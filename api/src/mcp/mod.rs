//! The workspace's agents as an MCP server: `/v1/mcp`, streamable HTTP, both protocol eras (the
//! `initialize` handshake and 2026-07-28's `server/discover`). Each Ready agent of the caller's
//! workspace is a tool ([`tools`]); a call runs the agent as a Task and answers with its final
//! answer ([`call`]), its steps told as progress ([`progress`]).
//!
//! Every request is authenticated as `/v1` is (bearer JWT or Kratos session, the workspace from
//! the identity, the same rate limits), and one from a browser (with an `Origin`) is refused; the Task a call creates is written under the caller's
//! name and audited as any other. No session is kept: each request carries its own identity and
//! is answered on its own, so any api replica serves any request, and a replica's restart loses
//! nothing but the calls it was streaming (their Tasks run on). A call ends its Task when the
//! caller cancels it: in the 2026-07-28 era by closing the request's stream, in the handshake era
//! by posting `notifications/cancelled` ([`cancel`]) or by closing the stream.
//!
//! | module | what |
//! | --- | --- |
//! | [`tools`] | the tools: which agents, their names, descriptions and input |
//! | [`call`] | one call: the Task, followed to its end, and the answer |
//! | [`cancel`] | a handshake-era call given up by `notifications/cancelled` |
//! | [`progress`] | what the caller is told on the way |

pub mod call;
pub mod cancel;
pub mod progress;
pub mod tools;

#[cfg(test)]
mod fixtures;

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequestParts, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, Implementation, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler};
use tokio_util::sync::CancellationToken;

use agentarea_crds::{Agent, Skill};

use crate::auth::Identity;
use crate::state::AppState;

/// Where the agents' MCP endpoint is served.
pub const PATH: &str = "/v1/mcp";

/// The browser origins a request may come from: pages served on the caller's own machine.
const LOCAL_ORIGINS: [&str; 3] = ["http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*"];

/// The endpoint, authenticated. Its streams end when the api stops, as `/v1`'s do.
pub fn router(state: AppState) -> Router {
    let stopping = CancellationToken::new();
    let stop = stopping.clone();
    tokio::spawn(async move {
        crate::stream::stopping().await;
        stop.cancel();
    });
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_cancellation_token(stopping)
        // The api is reached by its Service's and its ingress's names; requests are authenticated.
        .disable_allowed_hosts()
        // MCP's clients (IDEs, desktop assistants, SDKs) send no Origin; a browser always does.
        // Refusing pages of any origin but this machine's (where a developer runs a browser-based
        // MCP client, such as the Inspector) keeps a web page, cross-site or rebound to our
        // address, from calling agents with a signed-in person's session cookie.
        .with_allowed_origins(LOCAL_ORIGINS)
        .enforce_origin_validation()
        .with_max_request_body_bytes(cancel::MAX_BODY_BYTES);
    let server = state.clone();
    let service = StreamableHttpService::new(
        move || {
            Ok(AgentsServer {
                state: server.clone(),
            })
        },
        Arc::new(NeverSessionManager::default()),
        config,
    );
    Router::new()
        .route_service(PATH, service)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            cancel::sessions_and_cancellations,
        ))
        .layer(middleware::from_fn_with_state(state, authenticated))
}

/// Authenticates and admits a request as `/v1` does, and hands the identity on to the handler;
/// a refusal is answered in `/v1`'s error shape.
async fn authenticated(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    match Identity::from_request_parts(&mut parts, &state).await {
        Ok(caller) => {
            parts.extensions.insert(caller);
            next.run(Request::from_parts(parts, body)).await
        }
        Err(refused) => refused.into_response(),
    }
}

/// The server for one request: the workspace's agents, seen as the caller sees them.
#[derive(Clone)]
struct AgentsServer {
    state: AppState,
}

impl AgentsServer {
    fn agents(&self, caller: &Identity) -> Vec<Arc<Agent>> {
        self.state.list::<Agent>(caller)
    }
}

/// The caller, as [`authenticated`] found them.
fn caller(context: &RequestContext<RoleServer>) -> Result<Identity, ErrorData> {
    context
        .extensions
        .get::<axum::http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<Identity>())
        .cloned()
        .ok_or_else(|| ErrorData::internal_error("the request carries no identity", None))
}

impl ServerHandler for AgentsServer {
    fn get_info(&self) -> ServerConfig {
        let mut config = ServerConfig::new(ServerCapabilities::builder().enable_tools().build());
        config.server_info = Implementation::new("agentarea-agents", env!("CARGO_PKG_VERSION"));
        config.instructions = Some(
            "Each tool is an agent of your AgentArea workspace: give it `input`, and it answers \
             when its task ends. Its steps come as progress notifications."
                .into(),
        );
        config
    }

    async fn list_tools(
        &self,
        _params: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let caller = caller(&context)?;
        let skills = self.state.list::<Skill>(&caller);
        Ok(ListToolsResult::with_all_items(tools::listed(
            &self.agents(&caller),
            &skills,
        )))
    }

    async fn call_tool(
        &self,
        params: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let caller = caller(&context)?;
        let agents = self.agents(&caller);
        let agent = tools::addressed(&agents, &params.name)?;
        let input = tools::input_of(params.arguments.as_ref())?;
        if !tools::ready(agent) {
            return Ok(
                rmcp::model::CallToolResult::error(vec![rmcp::model::ContentBlock::text(format!(
                    "the agent {} is not ready",
                    params.name
                ))])
                .into(),
            );
        }
        call::run(&self.state, &caller, agent, input, &context)
            .await
            .map(Into::into)
    }
}
