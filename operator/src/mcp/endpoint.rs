//! Where and how the operator reaches an MCP server: what the client, its kept sessions and the
//! routing of tool calls all pass around.

use std::time::Duration;

use agentarea_crds::mcp_server_instance::Transport;
use agentarea_support::egress::EgressPolicy;

/// Where and how to reach a server.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub url: String,
    pub wire: Wire,
    /// Sent with every request (bearer tokens, API keys).
    pub headers: Vec<(String, String)>,
    pub timeout: Duration,
    /// The policy a URL a workspace named is called under; `None` for the operator's own
    /// endpoints (managed servers, reached through the Services it made).
    pub egress: Option<EgressPolicy>,
}

/// The HTTP transport a server speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Wire {
    #[default]
    StreamableHttp,
    /// The older HTTP+SSE transport ([`sse`](super::sse)).
    Sse,
}

impl From<Transport> for Wire {
    /// A stdio server is reached through its bridge, which speaks streamable HTTP.
    fn from(transport: Transport) -> Self {
        match transport {
            Transport::Sse => Self::Sse,
            Transport::StreamableHttp | Transport::Stdio => Self::StreamableHttp,
        }
    }
}
