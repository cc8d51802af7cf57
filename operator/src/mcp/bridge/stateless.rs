//! The bridge's one stdio server for clients of the stateless era (2026-07-28). Such a client has
//! no session: each request comes on its own, with its client context in `_meta`, and rmcp serves
//! each with a relay of its own. A process per request would start a server for every call;
//! instead one server, opened in whichever era it speaks, serves them all. Each request's progress
//! goes back to the client that asked ([`Shared`] keeps the client of every request in flight),
//! and a request to a server of the stateless era carries its own client's context, so the server
//! sees who asks. If the server exits, the next request starts another.

use std::sync::Arc;

use rmcp::model::{ClientConfig, ErrorData, Implementation, ServerConfig};
use tokio::sync::Mutex;

use super::servers::{Servers, Slot};
use crate::mcp::era::Era;
use crate::mcp::relay::{Shared, ToClient, UpstreamSession, server_info};
use crate::sync::lock;

/// The shared server, started at the first stateless request.
pub(super) struct Stateless {
    servers: Arc<Servers>,
    current: Mutex<Option<Arc<Opened>>>,
    /// What the shared server said of itself when it was last opened, for what must be answered
    /// without waiting (the acknowledgment of a listen).
    said: std::sync::Mutex<Option<ServerConfig>>,
}

/// The shared server's session, what its relay keeps, and its place among the sessions.
pub(super) struct Opened {
    pub(super) session: UpstreamSession,
    pub(super) shared: Shared,
    _slot: Slot,
}

impl Stateless {
    pub(super) fn new(servers: Arc<Servers>) -> Arc<Self> {
        Arc::new(Self {
            servers,
            current: Mutex::new(None),
            said: std::sync::Mutex::new(None),
        })
    }

    /// The shared server, started (again) when there is none running.
    pub(super) async fn get(&self) -> Result<Arc<Opened>, ErrorData> {
        let mut current = self.current.lock().await;
        if let Some(opened) = current.as_ref()
            && !opened.session.is_transport_closed()
        {
            return Ok(opened.clone());
        }
        // The old one (if any) gives back its place before the new one takes one.
        *current = None;
        let slot = self.servers.claim()?;
        let shared = Shared::default();
        let relay = ToClient::new(None, bridge_client(), shared.clone());
        let session = self.servers.open(relay, Era::Stateless).await?;
        *lock(&self.said) = server_info(&session);
        let opened = Arc::new(Opened {
            session,
            shared,
            _slot: slot,
        });
        *current = Some(opened.clone());
        Ok(opened)
    }

    /// What the shared server said of itself, once it has been opened.
    pub(super) fn said(&self) -> Option<ServerConfig> {
        lock(&self.said).clone()
    }

    /// The shared server, if one is running.
    pub(super) async fn running(&self) -> Option<Arc<Opened>> {
        self.current.lock().await.clone()
    }
}

/// Who the bridge says it is to a server of the handshake era, which hears no client of its own
/// here (a stateless server hears each request's own client).
fn bridge_client() -> ClientConfig {
    let mut client = ClientConfig::default();
    client.client_info = Implementation::new("agentarea-mcp-bridge", env!("CARGO_PKG_VERSION"));
    client
}
