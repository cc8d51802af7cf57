//! The MCP gateway: serves every compound McpServerInstance as one streamable HTTP endpoint,
//! `/mcp/compound/{namespace}/{name}`. A client's session with a compound is joined to a session
//! with each member ([`relay`](super::relay)), opened with the client's own `initialize`
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
//!
//! | module | what |
//! | --- | --- |
//! | [`paths`] | the path of each compound's endpoint |
//! | [`session`] | a client's session with a compound, and where each request goes |
//! | [`members`] | a session's members: who offers what, and the merged capabilities |

pub mod members;
pub mod paths;
pub mod session;

use std::net::SocketAddr;
use std::sync::Arc;

use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

use self::session::CompoundSession;
use super::relay::{Parked, Transparent};
use super::served;
use crate::context::Context;

pub use paths::{PREFIX, endpoint};

/// Serves the gateway on `addr` until `shutdown` resolves.
pub async fn serve(
    ctx: Arc<Context>,
    addr: SocketAddr,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let parked = Parked::default();
    let service = StreamableHttpService::new(
        move || {
            Ok(Transparent::new(CompoundSession::new(
                ctx.clone(),
                parked.clone(),
            )))
        },
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default().disable_allowed_hosts(),
    );
    let router = axum::Router::new()
        .fallback_service(service)
        .layer(axum::middleware::from_fn(served::session_end_answered_ok));
    agentarea_support::serve(addr, router, shutdown).await
}
