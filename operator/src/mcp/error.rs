//! Why an MCP server could not be used: the one error of connecting to a server, discovering its
//! tools and calling them.

use agentarea_crds::reasons;
use agentarea_support::egress::EgressDenied;

/// Why a server could not be used, in words a person can act on.
#[derive(thiserror::Error, Debug)]
pub enum McpError {
    #[error(transparent)]
    EgressDenied(#[from] EgressDenied),
    #[error("invalid header {0:?}")]
    InvalidHeader(String),
    #[error("could not connect to {url}: {message}")]
    Connect {
        url: String,
        message: String,
        /// The server's side refused the connection (nothing was sent).
        refused: bool,
    },
    #[error("{url} did not answer within {seconds}s")]
    Timeout { url: String, seconds: u64 },
    #[error("{url} answered {operation} with an error: {message}")]
    Protocol {
        url: String,
        operation: &'static str,
        message: String,
    },
}

impl McpError {
    /// The CamelCase reason for a condition or an event.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::EgressDenied(_) => reasons::EGRESS_DENIED,
            Self::InvalidHeader(_) => reasons::INVALID_HEADER,
            Self::Connect { .. } | Self::Timeout { .. } => reasons::UNREACHABLE,
            Self::Protocol { .. } => reasons::SERVER_ERROR,
        }
    }
}
