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
//! in flight to that server, falling back to the standalone stream when none is in flight. A change
//! notification (a list changed, a subscribed resource updated) goes to the session's client and
//! to stateless clients' listens, never to another client's request.
//!
//! Where the two sides speak different eras, what one era expresses is expressed in the other
//! ([`era`](super::era) has the pure rules): a stateless server's `input_required` is asked of a
//! handshake client on its session ([`forward_request`]); a handshake server's request during a
//! stateless client's call is put to the client as `input_required`, the call parked until the
//! client comes again ([`asking`], [`parked`]); and subscriptions are carried as each era has them
//! ([`subscriptions`], [`standing`]).
//!
//! | module | what |
//! | --- | --- |
//! | [`hop`] | the server's era and errors, as one hop sees them |
//! | [`upstream`] | the client role towards the server, and a client's messages passed on |
//! | [`send`] | one request sent upstream and its answer awaited |
//! | [`asking`] | a stateless client asked for input by a handshake server during its call |
//! | [`parked`] | such calls, parked until their client comes again |
//! | [`progress`] | what the two halves share: renamed progress tokens, requests in flight |
//! | [`subscriptions`] | change notifications to stateless clients' listens, from either era |
//! | [`standing`] | a handshake client's subscriptions, from a server of the stateless era |
//! | [`transparent`] | a [`Relay`] (the bridge's, the gateway's) served as an MCP server |

pub mod asking;
pub mod hop;
pub mod parked;
pub mod progress;
pub mod send;
pub mod standing;
pub mod subscriptions;
pub mod transparent;
pub mod upstream;

pub use hop::{relayed_error, speaks_stateless};
pub use parked::Parked;
pub use progress::Shared;
pub use subscriptions::{Listening, carry, offered_by};
pub use transparent::{Relay, Transparent, discovered};
pub use upstream::{
    ToClient, UpstreamSession, forward_notification, forward_request, server_info,
    stand_if_stateless,
};
