//! A transparent MCP relay: one client's session (downstream) joined to one server's session
//! (upstream), every message passed on as it is. The bridge relays a streamable HTTP client to a
//! stdio server this way, and the compound gateway relays to each of its members.
//!
//! Transparency is the point: a client of a bridged server must see the same protocol it would see
//! if it reached the server directly, so nothing here enumerates methods. Requests, results and
//! errors pass both ways whatever they are (tools, resources and subscriptions, prompts,
//! completion, logging, and the server's own requests: sampling, elicitation, roots), and so do
//! notifications (progress, logging, list changes, resource updates). The upstream session is
//! initialized with the downstream client's own `initialize` parameters, so the server learns the
//! client's real name and capabilities, and the client gets the server's real answer.
//!
//! Two things are rewritten, because each side numbers its own messages:
//! - progress tokens: rmcp gives every request it sends a token of its own, so the upstream
//!   server's progress notifications carry that token and are renamed back to the client's;
//! - cancellation: a client's `notifications/cancelled` names its request id, so it is turned into
//!   a cancellation of the matching upstream request.
//!
//! A server's request to the client (sampling, elicitation) has no wire link to the client
//! request it serves (stdio has no streams), so it rides the stream of the client's newest request
//! in flight to that server, falling back to the standalone stream when none is in flight.
//!
//! | module | what |
//! | --- | --- |
//! | [`upstream`] | the client role towards the server, and a client's messages passed on |
//! | [`progress`] | what the two halves share: renamed progress tokens, requests in flight |
//! | [`transparent`] | a [`Relay`] (the bridge's, the gateway's) served as an MCP server |

pub mod progress;
pub mod transparent;
pub mod upstream;

pub use progress::Shared;
pub use transparent::{Relay, Transparent, discovered};
pub use upstream::{
    ToClient, UpstreamSession, forward_notification, forward_request, relayed_error, server_info,
};
