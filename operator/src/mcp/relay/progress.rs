//! What the two halves of one relay share: the progress tokens the upstream session gave the
//! client's requests, renamed back to the client's own; the client's requests in flight (a
//! server's request to the client rides the newest one's stream); and the log level a client of
//! the handshake era set, for a server of the stateless era that has no `logging/setLevel`; and
//! the subscriptions that carry change notifications between the eras ([`super::subscriptions`]).
//!
//! Each request in flight keeps the downstream it came from. A session's requests all come from
//! its one client; the bridge's upstream for stateless clients serves requests from many, and
//! each one's progress must reach the client that asked.

// Logging is deprecated in 2026-07-28 (SEP-2577), yet clients of both eras still ask for it and
// servers still send it: the relay carries it across, so it names the deprecated types.
#![allow(deprecated)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::sync::lock;
use rmcp::RoleServer;
use rmcp::model::{LoggingLevel, ProgressToken, RequestId};
use rmcp::service::Peer;

use super::parked::{Asks, Parked};
use super::standing::Standing;
use super::subscriptions::Listeners;

/// How long a request's progress token keeps its client token after the request ended. rmcp
/// hands each notification to a task of its own, so the server's last progress can reach us
/// just after its result; it must still go out under the client's token.
const PROGRESS_AFTER_END: Duration = Duration::from_secs(30);

/// What the two halves of one relay share: which client request (and which client) each upstream
/// progress token belongs to, and since when it has ended; which client requests are in flight
/// (newest last), keyed by their upstream progress token, which the upstream session makes unique
/// where the clients' own request ids are not. `D` is the downstream (a generic only so that the
/// unit tests need no live peer).
#[derive(Clone)]
pub struct Shared<D = Peer<RoleServer>> {
    progress: Arc<Mutex<HashMap<ProgressToken, Renamed<D>>>>,
    in_flight: Arc<Mutex<Vec<InFlight<D>>>>,
    log_level: Arc<Mutex<Option<LoggingLevel>>>,
    /// Stateless clients' listens, for a server of the handshake era.
    pub listeners: Listeners,
    /// A handshake client's standing listen, for a server of the stateless era.
    pub standing: Standing,
    /// Stateless clients' calls waiting for their input, for a server of the handshake era: the
    /// relay process's, shared by all its upstream sessions, since a call comes again as a new
    /// request (to the gateway, with new member sessions).
    pub parked: Parked,
}

impl<D> Default for Shared<D> {
    fn default() -> Self {
        Self {
            progress: Default::default(),
            in_flight: Default::default(),
            log_level: Default::default(),
            listeners: Default::default(),
            standing: Default::default(),
            parked: Default::default(),
        }
    }
}

impl<D> Shared<D> {
    /// What a new upstream session shares, its parked calls kept in `parked`.
    pub fn parking_in(parked: Parked) -> Self {
        Self {
            parked,
            ..Self::default()
        }
    }
}

#[derive(Clone, Debug)]
struct Renamed<D> {
    client_token: ProgressToken,
    downstream: D,
    ended: Option<Instant>,
    /// Whether the server has sent progress for it yet.
    sent: bool,
}

#[derive(Clone, Debug)]
struct InFlight<D> {
    upstream: ProgressToken,
    request: RequestId,
    downstream: D,
    /// Where the server's requests during it go, when its client cannot be asked on its stream.
    asks: Option<Asks>,
}

impl<D: Clone> Shared<D> {
    /// A client request `request` from `downstream` went upstream as the request whose progress
    /// token is `upstream`; `client_token` is the client's own, if it asked for progress; the
    /// server's requests during it go to `asks`, if given.
    pub(super) fn begin(
        &self,
        downstream: D,
        request: &RequestId,
        upstream: ProgressToken,
        client_token: Option<ProgressToken>,
        asks: Option<Asks>,
    ) {
        if let Some(client_token) = client_token {
            let mut progress = lock(&self.progress);
            let now = Instant::now();
            progress.retain(|_, renamed| {
                renamed
                    .ended
                    .is_none_or(|ended| now.duration_since(ended) < PROGRESS_AFTER_END)
            });
            let renamed = Renamed {
                client_token,
                downstream: downstream.clone(),
                ended: None,
                sent: false,
            };
            progress.insert(upstream.clone(), renamed);
        }
        lock(&self.in_flight).push(InFlight {
            upstream,
            request: request.clone(),
            downstream,
            asks,
        });
    }

    /// The upstream request `upstream` now serves the client request `request` from `downstream`
    /// (a parked call come again): its progress goes there, under `client_token`.
    pub(super) fn redirect(
        &self,
        upstream: &ProgressToken,
        downstream: D,
        request: RequestId,
        client_token: Option<ProgressToken>,
    ) {
        {
            let mut progress = lock(&self.progress);
            match client_token {
                Some(client_token) => {
                    progress.insert(
                        upstream.clone(),
                        Renamed {
                            client_token,
                            downstream: downstream.clone(),
                            ended: None,
                            sent: false,
                        },
                    );
                }
                None => {
                    progress.remove(upstream);
                }
            }
        }
        for flight in lock(&self.in_flight)
            .iter_mut()
            .filter(|flight| &flight.upstream == upstream)
        {
            flight.request = request.clone();
            flight.downstream = downstream.clone();
        }
    }

    /// The upstream request whose progress token is `upstream` has been answered (or given up).
    pub(super) fn end(&self, upstream: &ProgressToken) {
        if let Some(renamed) = lock(&self.progress).get_mut(upstream) {
            renamed.ended = Some(Instant::now());
        }
        lock(&self.in_flight).retain(|flight| &flight.upstream != upstream);
    }

    /// The client's token for progress the server sent under the upstream token, and the client
    /// to send it to.
    pub(super) fn client_token(&self, upstream: &ProgressToken) -> Option<(ProgressToken, D)> {
        lock(&self.progress).get_mut(upstream).map(|renamed| {
            renamed.sent = true;
            (renamed.client_token.clone(), renamed.downstream.clone())
        })
    }

    /// Whether the server has sent progress under the upstream token.
    pub(super) fn progress_sent(&self, upstream: &ProgressToken) -> bool {
        lock(&self.progress)
            .get(upstream)
            .is_some_and(|renamed| renamed.sent)
    }

    /// The newest client request in flight, its client, and where the server's requests for it
    /// go if not to the client.
    pub(super) fn newest_in_flight(&self) -> Option<(RequestId, D, Option<Asks>)> {
        lock(&self.in_flight).last().map(|flight| {
            (
                flight.request.clone(),
                flight.downstream.clone(),
                flight.asks.clone(),
            )
        })
    }

    pub(super) fn keep_log_level(&self, level: LoggingLevel) {
        *lock(&self.log_level) = Some(level);
    }

    pub(super) fn log_level(&self) -> Option<LoggingLevel> {
        *lock(&self.log_level)
    }
}

#[cfg(test)]
mod tests {
    use rmcp::model::NumberOrString;

    use super::*;

    fn token(n: i64) -> ProgressToken {
        ProgressToken(NumberOrString::Number(n))
    }

    fn newest<'a>(shared: &Shared<&'a str>) -> Option<(RequestId, &'a str)> {
        shared
            .newest_in_flight()
            .map(|(request, downstream, _)| (request, downstream))
    }

    #[test]
    fn a_call_come_again_has_its_progress_and_requests_go_to_the_new_request() {
        let shared = Shared::<&str>::default();
        let (asks, _asked) = tokio::sync::mpsc::unbounded_channel();
        shared.begin(
            "ada",
            &RequestId::Number(1),
            token(1),
            Some(token(5)),
            Some(asks),
        );
        assert!(
            shared.newest_in_flight().unwrap().2.is_some(),
            "asked through the relay"
        );
        // The client comes again with request 2, its progress token 6.
        shared.redirect(&token(1), "ada-again", RequestId::Number(2), Some(token(6)));
        assert_eq!(
            shared.client_token(&token(1)),
            Some((token(6), "ada-again"))
        );
        assert_eq!(newest(&shared), Some((RequestId::Number(2), "ada-again")));
        // Come again asking no progress: none is sent under the old token.
        shared.redirect(&token(1), "ada-third", RequestId::Number(3), None);
        assert_eq!(shared.client_token(&token(1)), None);
        assert_eq!(newest(&shared), Some((RequestId::Number(3), "ada-third")));
    }

    #[test]
    fn progress_is_renamed_during_and_just_after_its_request() {
        let shared = Shared::<&str>::default();
        let request = RequestId::Number(7);
        shared.begin("ada", &request, token(1), Some(token(100)), None);
        shared.begin("ada", &RequestId::Number(8), token(2), None, None);
        assert!(!shared.progress_sent(&token(1)));
        assert_eq!(shared.client_token(&token(1)), Some((token(100), "ada")));
        assert!(shared.progress_sent(&token(1)));
        assert_eq!(
            shared.client_token(&token(2)),
            None,
            "the client asked no progress"
        );
        assert!(!shared.progress_sent(&token(2)));
        assert_eq!(newest(&shared), Some((RequestId::Number(8), "ada")));

        shared.end(&token(1));
        assert_eq!(
            shared.client_token(&token(1)),
            Some((token(100), "ada")),
            "a late notification still finds its client"
        );
        assert_eq!(newest(&shared), Some((RequestId::Number(8), "ada")));

        // Long after the end, the next request's start forgets it.
        lock(&shared.progress).get_mut(&token(1)).unwrap().ended =
            Some(Instant::now() - PROGRESS_AFTER_END);
        shared.begin(
            "ada",
            &RequestId::Number(9),
            token(3),
            Some(token(300)),
            None,
        );
        assert_eq!(shared.client_token(&token(1)), None);
        assert_eq!(shared.client_token(&token(3)), Some((token(300), "ada")));
    }

    #[test]
    fn requests_of_many_clients_with_the_same_ids_each_find_their_client() {
        let shared = Shared::<&str>::default();
        // Two stateless clients, each numbering its requests from 1, with the same progress token.
        shared.begin("ada", &RequestId::Number(1), token(1), Some(token(5)), None);
        shared.begin(
            "grace",
            &RequestId::Number(1),
            token(2),
            Some(token(5)),
            None,
        );
        assert_eq!(shared.client_token(&token(1)), Some((token(5), "ada")));
        assert_eq!(shared.client_token(&token(2)), Some((token(5), "grace")));
        assert_eq!(newest(&shared), Some((RequestId::Number(1), "grace")));
        // Ada's request ends: Grace's, with the same id, is still in flight.
        shared.end(&token(1));
        assert_eq!(newest(&shared), Some((RequestId::Number(1), "grace")));
        shared.end(&token(2));
        assert_eq!(newest(&shared), None);
    }

    #[test]
    fn the_log_level_is_the_last_one_set() {
        let shared = Shared::<&str>::default();
        assert_eq!(shared.log_level(), None);
        shared.keep_log_level(LoggingLevel::Debug);
        shared.keep_log_level(LoggingLevel::Warning);
        assert_eq!(shared.log_level(), Some(LoggingLevel::Warning));
    }
}
