//! MCP, both ways: the operator as a client of MCP servers (discovery of their tools, and tool
//! calls), and as a server (the compound gateway, and the bridge in front of stdio servers).
//!
//! | module | what |
//! | --- | --- |
//! | [`client`] | discovery of a server's tools, and tool calls on kept sessions |
//! | [`connect`] | opening a session over either transport, bounded by the endpoint's timeout |
//! | [`sessions`] | sessions kept open between tool calls, one per endpoint and credentials |
//! | [`sse`] | the client side of the older HTTP+SSE transport, which rmcp dropped |
//! | [`era`] | MCP's two eras (handshake and stateless) and what crosses between them |
//! | [`endpoint`] | where and how to reach a server ([`Endpoint`], [`Wire`]) |
//! | [`error`] | why a server could not be used ([`McpError`]) |
//! | [`routing`] | where a call of an instance's tool goes: the instance, or a compound's member |
//! | [`relay`] | a transparent relay of one client session to one server session |
//! | [`served`] | what both our MCP servers put around rmcp's streamable HTTP service |
//! | [`bridge`] | `mcp-bridge`: a stdio MCP server over streamable HTTP, one per session, and one shared by stateless clients |
//! | [`gateway`] | serves compound instances as one MCP endpoint each, relaying to their members |
//!
//! The client's public face is re-exported here: `mcp::discover`, `mcp::call_tool`,
//! `mcp::Endpoint` and the rest.

pub mod bridge;
pub mod client;
pub mod connect;
pub mod endpoint;
pub mod era;
pub mod error;
pub mod gateway;
pub mod relay;
pub mod routing;
pub mod served;
pub mod sessions;
pub mod sse;

pub use client::{
    Discovery, IDEMPOTENCY_KEY_META, MAX_SCHEMA_BYTES, call_tool, call_tool_with_meta, discover,
};
pub use connect::connect_as;
pub use endpoint::{Endpoint, Wire};
pub use error::McpError;
