//! What one hop of a relay says of the server's side: its era, and its errors as the client reads
//! them.

use rmcp::model::ErrorData;
use rmcp::service::Peer;
use rmcp::{RoleClient, ServiceError};

use crate::mcp::era;

/// Whether the server behind `upstream` was opened in the stateless era.
pub fn speaks_stateless(upstream: &Peer<RoleClient>) -> bool {
    upstream
        .peer_info()
        .is_some_and(|info| era::is_stateless(&info.protocol_version))
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
