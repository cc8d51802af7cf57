//! Change notifications across the eras: which lists changed (tools, prompts, resources) and which
//! subscribed resources were updated.
//!
//! The two eras ask for them differently. A client of the handshake era gets list changes
//! unprompted on its session, and subscribes to a resource with `resources/subscribe`. A client of
//! the stateless era (2026-07-28) opens a `subscriptions/listen` request naming what it wants
//! (a [`SubscriptionFilter`]); the server acknowledges what it will send, and the request's stream
//! carries those notifications, each tagged with the listen request's id, until the client ends it.
//!
//! A relay carries them whichever era each side speaks:
//! - a stateless client's listen, to a stateless server: a listen of the relay's own upstream;
//!   to a server of the handshake era: the relay subscribes to the resources the client named and
//!   fans the server's notifications out to every listen that accepts them ([`Listeners`]);
//! - a handshake client's session, with a stateless server: a standing listen upstream for the
//!   session's life ([`stand`]), for the list changes the server offers and the resources the
//!   client subscribed to, reopened with the new filter at each subscribe or unsubscribe.
//!
//! Nothing here outlives the client's stream or session: a listen is a request, and a standing
//! listen belongs to its session; so nothing needs to be shared between replicas.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use rmcp::RoleClient;
use rmcp::model::{ErrorData, ServerCapabilities, ServerNotification, SubscriptionFilter};
use rmcp::service::{Peer, SubscriptionContext, SubscriptionSendError};
use tokio::sync::mpsc;

use super::hop::relayed_error;
use crate::sync::lock;

/// How many notifications one listen may have waiting before the slowest are dropped: change
/// notifications say only "look again", so a dropped one is made good by the next.
const LISTENER_BACKLOG: usize = 64;

/// Whether `notification` is one a subscription carries.
pub fn is_change(notification: &ServerNotification) -> bool {
    matches!(
        notification,
        ServerNotification::ToolListChangedNotification(_)
            | ServerNotification::PromptListChangedNotification(_)
            | ServerNotification::ResourceListChangedNotification(_)
            | ServerNotification::ResourceUpdatedNotification(_)
    )
}

/// Whether a listen that was acknowledged `filter` gets `notification`.
pub fn accepts(filter: &SubscriptionFilter, notification: &ServerNotification) -> bool {
    let on = |flag: Option<bool>| flag == Some(true);
    match notification {
        ServerNotification::ToolListChangedNotification(_) => on(filter.tools_list_changed),
        ServerNotification::PromptListChangedNotification(_) => on(filter.prompts_list_changed),
        ServerNotification::ResourceListChangedNotification(_) => on(filter.resources_list_changed),
        ServerNotification::ResourceUpdatedNotification(updated) => filter
            .resource_subscriptions
            .as_ref()
            .is_some_and(|uris| uris.contains(&updated.params.uri)),
        _ => false,
    }
}

/// What of `accepted` the server behind `upstream` offers.
pub fn offered_by(
    upstream: &Peer<RoleClient>,
    accepted: &SubscriptionFilter,
) -> SubscriptionFilter {
    let capabilities = upstream
        .peer_info()
        .map(|info| info.capabilities.clone())
        .unwrap_or_default();
    accepted.supported_by(&capabilities)
}

/// Whether `filter` asks for nothing.
pub fn is_empty(filter: &SubscriptionFilter) -> bool {
    filter.tools_list_changed != Some(true)
        && filter.prompts_list_changed != Some(true)
        && filter.resources_list_changed != Some(true)
        && filter
            .resource_subscriptions
            .as_ref()
            .is_none_or(Vec::is_empty)
}

/// What a client of the handshake era would hear from a server with `capabilities` in its
/// session: every list change the server offers, unprompted, and updates of the resources it
/// subscribed to.
pub fn standing_filter(
    capabilities: &ServerCapabilities,
    subscribed: &BTreeSet<String>,
) -> SubscriptionFilter {
    let mut wanted = SubscriptionFilter::new();
    wanted.tools_list_changed = Some(true);
    wanted.prompts_list_changed = Some(true);
    wanted.resources_list_changed = Some(true);
    wanted.resource_subscriptions =
        (!subscribed.is_empty()).then(|| subscribed.iter().cloned().collect());
    wanted.supported_by(capabilities)
}

/// The listens a server of the handshake era fans its change notifications out to, and how many
/// of them hold each resource subscription (the server is subscribed once, and unsubscribed when
/// the last listen naming the resource ends).
#[derive(Clone, Default)]
pub struct Listeners {
    inner: Arc<Mutex<Registered>>,
}

#[derive(Default)]
struct Registered {
    next: u64,
    senders: Vec<(u64, mpsc::Sender<ServerNotification>)>,
    holds: HashMap<String, usize>,
}

impl Listeners {
    fn add(&self) -> (u64, mpsc::Receiver<ServerNotification>) {
        let (sender, receiver) = mpsc::channel(LISTENER_BACKLOG);
        let mut registered = lock(&self.inner);
        registered.next += 1;
        let id = registered.next;
        registered.senders.push((id, sender));
        (id, receiver)
    }

    fn remove(&self, id: u64) {
        lock(&self.inner).senders.retain(|(each, _)| *each != id);
    }

    /// Hands `notification` to every listen; each keeps what its filter accepts.
    pub fn fan_out(&self, notification: &ServerNotification) {
        for (_, sender) in &lock(&self.inner).senders {
            // A listen whose backlog is full misses this one ("look again" comes again).
            let _ = sender.try_send(notification.clone());
        }
    }

    /// One more listen holds `uri`: whether it is the first (the server must be subscribed).
    fn hold(&self, uri: &str) -> bool {
        let mut registered = lock(&self.inner);
        let holds = registered.holds.entry(uri.to_string()).or_default();
        *holds += 1;
        *holds == 1
    }

    /// A listen lets go of `uri`: whether it was the last (the server may be unsubscribed).
    fn release(&self, uri: &str) -> bool {
        let mut registered = lock(&self.inner);
        match registered.holds.get_mut(uri) {
            Some(holds) if *holds > 1 => {
                *holds -= 1;
                false
            }
            Some(_) => {
                registered.holds.remove(uri);
                true
            }
            None => false,
        }
    }
}

/// A stateless client's `subscriptions/listen` request, acknowledged (by rmcp): notifications
/// sent here go on the request's stream, tagged with its id, if the acknowledged filter accepts
/// them.
pub struct Listening<'a> {
    subscription: &'a SubscriptionContext,
}

impl<'a> Listening<'a> {
    pub fn new(subscription: &'a SubscriptionContext) -> Self {
        Self { subscription }
    }

    /// What the listen was acknowledged.
    pub fn accepted(&self) -> &SubscriptionFilter {
        self.subscription.accepted()
    }

    /// Sends `notification` if the listen accepts it; false once the client has gone.
    pub async fn send(&self, notification: ServerNotification) -> bool {
        match self.subscription.sink().send(notification).await {
            Ok(()) => true,
            Err(SubscriptionSendError::NotificationNotAccepted(_))
            | Err(SubscriptionSendError::UnsupportedNotification(_)) => true,
            Err(_) => false,
        }
    }

    /// Resolves when the client ends the listen (or goes away).
    pub async fn ended(&self) {
        self.subscription.cancelled().await
    }
}

/// Carries what `filter` names from the server behind `upstream` to `listening`, until the client
/// ends the listen or the server's side ends. `stateless` says the server's era.
pub async fn carry(
    upstream: &Peer<RoleClient>,
    stateless: bool,
    listeners: &Listeners,
    filter: SubscriptionFilter,
    listening: &Listening<'_>,
) -> Result<(), ErrorData> {
    if is_empty(&filter) {
        listening.ended().await;
        return Ok(());
    }
    if stateless {
        let mut subscription = upstream.listen(filter).await.map_err(relayed_error)?;
        loop {
            tokio::select! {
                next = subscription.next() => match next {
                    Ok(Some(notification)) => {
                        if !listening.send(notification).await {
                            return Ok(());
                        }
                    }
                    // The server ended the listen, or its connection: so does the relay's.
                    Ok(None) | Err(_) => return Ok(()),
                },
                () = listening.ended() => return Ok(()),
            }
        }
    }
    let (id, mut received) = listeners.add();
    let uris = filter.resource_subscriptions.clone().unwrap_or_default();
    let held = subscribe_all(upstream, listeners, &uris).await;
    loop {
        tokio::select! {
            notification = received.recv() => match notification {
                Some(notification) => {
                    if !listening.send(notification).await {
                        break;
                    }
                }
                None => break,
            },
            () = listening.ended() => break,
            () = upstream_closed(upstream) => break,
        }
    }
    listeners.remove(id);
    for uri in held {
        if listeners.release(&uri) {
            #[allow(deprecated)] // what a server of the handshake era speaks
            let _ = upstream
                .unsubscribe(rmcp::model::UnsubscribeRequestParams::new(uri))
                .await;
        }
    }
    Ok(())
}

/// Subscribes the handshake-era server to each of `uris` that no other listen holds yet, and
/// says which this listen now holds. A URI the server refuses is left out: a compound asks each
/// member for every URI, and only the member that serves it accepts.
#[allow(deprecated)] // resources/subscribe: what a server of the handshake era speaks
async fn subscribe_all(
    upstream: &Peer<RoleClient>,
    listeners: &Listeners,
    uris: &[String],
) -> Vec<String> {
    let mut held = Vec::new();
    for uri in uris {
        if !listeners.hold(uri) {
            held.push(uri.clone());
            continue;
        }
        let params = rmcp::model::SubscribeRequestParams::new(uri.clone());
        match upstream.subscribe(params).await {
            Ok(()) => held.push(uri.clone()),
            Err(error) => {
                listeners.release(uri);
                tracing::debug!(%uri, %error, "the MCP server refused the subscription");
            }
        }
    }
    held
}

/// Resolves when the connection to the server is gone.
async fn upstream_closed(upstream: &Peer<RoleClient>) {
    while !upstream.is_transport_closed() {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use rmcp::model::*;

    use super::*;

    fn updated(uri: &str) -> ServerNotification {
        ResourceUpdatedNotification::new(ResourceUpdatedNotificationParam::new(uri)).into()
    }

    fn tools_changed() -> ServerNotification {
        ServerNotification::ToolListChangedNotification(ToolListChangedNotification::default())
    }

    #[allow(deprecated)] // logging: what servers still send
    fn logged() -> ServerNotification {
        let params = LoggingMessageNotificationParam::new(LoggingLevel::Info, json_value());
        LoggingMessageNotification::new(params).into()
    }

    fn json_value() -> serde_json::Value {
        serde_json::json!("hello")
    }

    fn filter(tools: bool, uris: &[&str]) -> SubscriptionFilter {
        let mut filter = SubscriptionFilter::new();
        filter.tools_list_changed = tools.then_some(true);
        filter.resource_subscriptions =
            (!uris.is_empty()).then(|| uris.iter().map(|u| u.to_string()).collect());
        filter
    }

    #[test]
    fn a_listen_gets_what_its_filter_names_and_nothing_else() {
        let cases = [
            (filter(true, &[]), tools_changed(), true),
            (filter(false, &["memo://a"]), tools_changed(), false),
            (filter(false, &["memo://a"]), updated("memo://a"), true),
            (filter(true, &["memo://a"]), updated("memo://b"), false),
            (filter(true, &["memo://a"]), logged(), false),
            (SubscriptionFilter::new(), updated("memo://a"), false),
        ];
        for (filter, notification, accepted) in cases {
            assert_eq!(
                accepts(&filter, &notification),
                accepted,
                "{filter:?} {notification:?}"
            );
        }
    }

    #[test]
    fn only_change_notifications_are_carried_by_subscriptions() {
        assert!(is_change(&tools_changed()));
        assert!(is_change(&updated("memo://a")));
        assert!(!is_change(&logged()));
    }

    #[test]
    fn an_empty_filter_asks_for_nothing() {
        let mut none_true = SubscriptionFilter::new();
        none_true.tools_list_changed = Some(false);
        none_true.resource_subscriptions = Some(vec![]);
        let cases = [
            (SubscriptionFilter::new(), true),
            (none_true, true),
            (filter(true, &[]), false),
            (filter(false, &["memo://a"]), false),
        ];
        for (filter, empty) in cases {
            assert_eq!(is_empty(&filter), empty, "{filter:?}");
        }
    }

    #[test]
    fn a_standing_listen_asks_what_the_server_offers_a_session() {
        let subscribed: BTreeSet<String> = ["memo://a".to_string()].into();
        let offers_all = ServerCapabilities::builder()
            .enable_tools()
            .enable_tool_list_changed()
            .enable_resources()
            .enable_resources_list_changed()
            .enable_resources_subscribe()
            .build();
        let tools_only = ServerCapabilities::builder().enable_tools().build();
        let wanted = standing_filter(&offers_all, &subscribed);
        assert_eq!(wanted.tools_list_changed, Some(true));
        assert_eq!(wanted.resources_list_changed, Some(true));
        assert_eq!(wanted.prompts_list_changed, None, "no prompts offered");
        assert_eq!(wanted.resource_subscriptions, Some(vec!["memo://a".into()]));
        assert!(is_empty(&standing_filter(&tools_only, &subscribed)));
        assert!(is_empty(&standing_filter(&tools_only, &BTreeSet::new())));
    }

    #[test]
    fn a_resource_is_subscribed_by_its_first_holder_and_released_by_its_last() {
        let listeners = Listeners::default();
        assert!(listeners.hold("memo://a"), "first");
        assert!(!listeners.hold("memo://a"), "second");
        assert!(listeners.hold("memo://b"));
        assert!(!listeners.release("memo://a"), "one still holds it");
        assert!(listeners.release("memo://a"), "the last let go");
        assert!(!listeners.release("memo://a"), "nobody held it");
        assert!(listeners.release("memo://b"));
    }

    #[tokio::test]
    async fn every_listen_gets_each_notification_until_it_is_removed() {
        let listeners = Listeners::default();
        let (first, mut to_first) = listeners.add();
        let (_, mut to_second) = listeners.add();
        listeners.fan_out(&tools_changed());
        assert!(to_first.recv().await.is_some());
        assert!(to_second.recv().await.is_some());
        listeners.remove(first);
        listeners.fan_out(&updated("memo://a"));
        assert!(to_second.recv().await.is_some());
        assert!(
            to_first.recv().await.is_none(),
            "removed: its sender is gone"
        );
    }
}
