//! The bridge's shared stdio servers for clients of the stateless era (2026-07-28). Such a client
//! has no session: each request comes on its own, with its client context in `_meta`, and rmcp
//! serves each with a relay of its own. A process per request would start a server for every
//! call; instead one server, opened in whichever era it speaks, serves them all (one for each set
//! of what clients can be asked, [`Askable`]: usually one or two). Each request's progress
//! goes back to the client that asked ([`Shared`] keeps the client of every request in flight),
//! and a request to a server of the stateless era carries its own client's context, so the server
//! sees who asks. If the server exits, the next request starts another.

use std::collections::HashMap;
use std::sync::Arc;

use rmcp::RoleServer;
use rmcp::model::{ClientCapabilities, ClientConfig, ErrorData, Implementation, ServerConfig};
use rmcp::service::RequestContext;
use tokio::sync::Mutex;

use super::servers::{Servers, Slot};
use crate::mcp::era::Era;
use crate::mcp::relay::{Parked, Shared, ToClient, UpstreamSession, server_info};
use crate::sync::lock;

/// What a stateless client says it can be asked during a call, as far as a shared server hears of
/// it. A server offers some tools only to clients that can be asked (the reference server's
/// elicitation and sampling tools), so each such set has a shared server of its own, told that
/// its client can be asked exactly that: a client is offered what it would be offered connecting
/// directly, and is asked through the relay ([`relay::asking`](crate::mcp::relay::asking)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub(super) struct Askable {
    elicitation: bool,
    sampling: bool,
}

impl Askable {
    /// What the client of `context` can be asked, from its request's own `_meta`.
    pub(super) fn of(context: &RequestContext<RoleServer>) -> Self {
        Self::from(&context.meta.client_capabilities().unwrap_or_default())
    }

    fn from(capabilities: &ClientCapabilities) -> Self {
        Self {
            elicitation: capabilities.elicitation.is_some(),
            sampling: capabilities.sampling.is_some(),
        }
    }
}

/// The shared servers, each started at the first stateless request of its [`Askable`].
pub(super) struct Stateless {
    servers: Arc<Servers>,
    current: Mutex<HashMap<Askable, Arc<Opened>>>,
    /// What a shared server said of itself when one was last opened, for what must be answered
    /// without waiting (the acknowledgment of a listen).
    said: std::sync::Mutex<Option<ServerConfig>>,
    /// Calls parked while a shared server waits for their client's input.
    parked: Parked,
}

/// A shared server's session, what its relay keeps, and its place among the sessions.
pub(super) struct Opened {
    pub(super) session: Arc<UpstreamSession>,
    pub(super) shared: Shared,
    _slot: Slot,
}

impl Stateless {
    pub(super) fn new(servers: Arc<Servers>) -> Arc<Self> {
        Arc::new(Self {
            servers,
            current: Mutex::new(HashMap::new()),
            said: std::sync::Mutex::new(None),
            parked: Parked::default(),
        })
    }

    /// The shared server for clients that can be asked `askable`, started (again) when there is
    /// none running.
    pub(super) async fn get(&self, askable: Askable) -> Result<Arc<Opened>, ErrorData> {
        let mut current = self.current.lock().await;
        if let Some(opened) = current.get(&askable)
            && !opened.session.is_transport_closed()
        {
            return Ok(opened.clone());
        }
        // The old one (if any) gives back its place before the new one takes one.
        current.remove(&askable);
        let slot = self.servers.claim()?;
        let shared = Shared::parking_in(self.parked.clone());
        let relay = ToClient::new(None, bridge_client(askable), shared.clone());
        let session = self.servers.open(relay, Era::Stateless).await?;
        *lock(&self.said) = server_info(&session);
        let opened = Arc::new(Opened {
            session: Arc::new(session),
            shared,
            _slot: slot,
        });
        current.insert(askable, opened.clone());
        Ok(opened)
    }

    /// What a shared server said of itself, once one has been opened.
    pub(super) fn said(&self) -> Option<ServerConfig> {
        lock(&self.said).clone()
    }

    /// The shared servers running.
    pub(super) async fn running(&self) -> Vec<Arc<Opened>> {
        self.current.lock().await.values().cloned().collect()
    }
}

/// Who the bridge says it is to a server of the handshake era, which hears no client of its own
/// here (a stateless server hears each request's own client): a client that can be asked what
/// `askable` says. Roots it never declares: a server asks for them outside any call, when no
/// client could be asked.
#[allow(deprecated)] // sampling: deprecated in 2026-07-28, still asked by handshake-era servers
fn bridge_client(askable: Askable) -> ClientConfig {
    let mut client = ClientConfig::default();
    let mut capabilities = ClientCapabilities::default();
    if askable.elicitation {
        capabilities.elicitation = ClientCapabilities::builder()
            .enable_elicitation()
            .build()
            .elicitation;
    }
    if askable.sampling {
        capabilities.sampling = ClientCapabilities::builder()
            .enable_sampling()
            .build()
            .sampling;
    }
    client.capabilities = capabilities;
    client.client_info = Implementation::new("agentarea-mcp-bridge", env!("CARGO_PKG_VERSION"));
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_set_of_what_a_client_can_be_asked_is_told_to_its_own_server() {
        let cases = [
            (serde_json::json!({}), false, false),
            (serde_json::json!({"elicitation": {}}), true, false),
            (serde_json::json!({"sampling": {}}), false, true),
            (
                serde_json::json!({"elicitation": {}, "sampling": {}, "roots": {}}),
                true,
                true,
            ),
        ];
        for (declared, elicitation, sampling) in cases {
            let capabilities: ClientCapabilities = serde_json::from_value(declared).unwrap();
            let askable = Askable::from(&capabilities);
            assert_eq!(
                askable,
                Askable {
                    elicitation,
                    sampling
                }
            );
            let told = bridge_client(askable).capabilities;
            assert_eq!(told.elicitation.is_some(), elicitation);
            assert_eq!(told.sampling.is_some(), sampling);
            assert!(told.roots.is_none(), "roots are never declared");
        }
    }
}
