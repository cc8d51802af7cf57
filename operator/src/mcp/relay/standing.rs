//! A handshake-era client's session with a server of the stateless era (2026-07-28). Such a client
//! expects list changes unprompted and subscribes to resources with `resources/subscribe`; such a
//! server sends changes only on a `subscriptions/listen` stream and knows no `resources/subscribe`.
//! So the relay keeps one listen open upstream for the session (its *standing listen*), asking
//! for every list change the server offers and the resources the client subscribed to, and passes
//! what arrives to the client's session. A subscribe or unsubscribe reopens it with the new filter;
//! the new listen is acknowledged before the old one ends, so no change falls between them.
//! The listen ends with the session.

use std::collections::BTreeSet;
use std::sync::Arc;

use rmcp::model::{ErrorData, GetMeta, ServerNotification};
use rmcp::service::Peer;
use rmcp::{RoleClient, RoleServer};
use tokio::sync::Mutex;

use super::hop::relayed_error;
use super::subscriptions::{is_empty, standing_filter};
use crate::mcp::era::Change;

/// The resources subscribed to after `change`.
pub fn subscribed_after(current: &BTreeSet<String>, change: &Change) -> BTreeSet<String> {
    let mut subscribed = current.clone();
    match change {
        Change::Open => {}
        Change::Subscribe(uri) => {
            subscribed.insert(uri.clone());
        }
        Change::Unsubscribe(uri) => {
            subscribed.remove(uri);
        }
    }
    subscribed
}

/// A session's standing listen.
#[derive(Clone, Default)]
pub struct Standing {
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    subscribed: BTreeSet<String>,
    carrying: Option<Carrying>,
}

/// The task that passes the listen's notifications on; ending it ends the upstream listen.
struct Carrying(tokio::task::JoinHandle<()>);

impl Drop for Carrying {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Standing {
    /// Applies `change`: the standing listen from `upstream` to `downstream` is (re)opened with
    /// what the session now wants, or closed when it wants nothing.
    pub async fn apply(
        &self,
        upstream: &Peer<RoleClient>,
        downstream: &Peer<RoleServer>,
        change: Change,
    ) -> Result<(), ErrorData> {
        let mut state = self.state.lock().await;
        let subscribed = subscribed_after(&state.subscribed, &change);
        let capabilities = upstream
            .peer_info()
            .map(|info| info.capabilities.clone())
            .unwrap_or_default();
        if let Change::Subscribe(uri) = &change
            && capabilities
                .resources
                .as_ref()
                .is_none_or(|r| r.subscribe != Some(true))
        {
            return Err(ErrorData::invalid_request(
                format!("the MCP server offers no subscriptions to resources ({uri})"),
                None,
            ));
        }
        let filter = standing_filter(&capabilities, &subscribed);
        let carrying = if is_empty(&filter) {
            None
        } else {
            let mut subscription = upstream.listen(filter).await.map_err(relayed_error)?;
            let downstream = downstream.clone();
            Some(Carrying(tokio::spawn(async move {
                while let Ok(Some(notification)) = subscription.next().await {
                    if downstream
                        .send_notification(for_session(notification))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            })))
        };
        // The old listen ends here, after the new one was acknowledged.
        state.carrying = carrying;
        state.subscribed = subscribed;
        Ok(())
    }
}

/// The `_meta` key a listen's notifications carry its request id under.
const SUBSCRIPTION_ID: &str = "io.modelcontextprotocol/subscriptionId";

/// A listen's notification as a session's: a client of the handshake era knows no subscription
/// ids.
fn for_session(mut notification: ServerNotification) -> ServerNotification {
    notification.get_meta_mut().0.remove(SUBSCRIPTION_ID);
    notification
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(uris: &[&str]) -> BTreeSet<String> {
        uris.iter().map(|u| u.to_string()).collect()
    }

    #[test]
    fn subscriptions_follow_the_clients_requests() {
        let cases = [
            (set(&[]), Change::Open, set(&[])),
            (set(&["memo://a"]), Change::Open, set(&["memo://a"])),
            (
                set(&[]),
                Change::Subscribe("memo://a".into()),
                set(&["memo://a"]),
            ),
            (
                set(&["memo://a"]),
                Change::Subscribe("memo://a".into()),
                set(&["memo://a"]),
            ),
            (
                set(&["memo://a", "memo://b"]),
                Change::Unsubscribe("memo://a".into()),
                set(&["memo://b"]),
            ),
            (set(&[]), Change::Unsubscribe("memo://a".into()), set(&[])),
        ];
        for (current, change, expected) in cases {
            assert_eq!(subscribed_after(&current, &change), expected, "{change:?}");
        }
    }
}
