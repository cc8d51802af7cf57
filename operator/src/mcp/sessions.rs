//! MCP sessions kept open between tool calls. Opening a session costs an `initialize` round trip,
//! and behind the stdio bridge a server process of its own (`scripts/bench-bridge.sh` measures
//! it): a task runner that opened one per call would spend most of its time starting servers.
//!
//! One session per endpoint, shared by every concurrent call to it (MCP multiplexes requests on a
//! session). The key is the URL, the transport and the headers, so only callers holding the same
//! credentials share a session. A session idle for [`IDLE`] is closed, which also stops its
//! server behind the bridge.
//!
//! A call fails over to a fresh session once, and only when its request was never taken: the
//! session's transport refused to send it (the server restarted and forgot the session, the
//! connection was gone). A tool call must not run twice, so a call that may have reached the
//! server is not repeated.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use rmcp::RoleClient;
use rmcp::service::RunningService;

use super::connect::connect_as;
use super::endpoint::{Endpoint, Wire};
use super::era::Era;
use super::error::McpError;

/// How long an unused session stays open.
pub const IDLE: Duration = Duration::from_secs(60);

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct Key {
    url: String,
    wire: Wire,
    headers: Vec<(String, String)>,
}

impl Key {
    fn of(endpoint: &Endpoint) -> Self {
        let mut headers = endpoint.headers.clone();
        headers.sort();
        Self {
            url: endpoint.url.clone(),
            wire: endpoint.wire,
            headers,
        }
    }
}

struct Kept {
    session: Arc<RunningService<RoleClient, ()>>,
    last_used: Instant,
}

#[derive(Default)]
struct Pool {
    sessions: Mutex<HashMap<Key, Kept>>,
}

static POOL: LazyLock<Pool> = LazyLock::new(Pool::default);

/// An open session: holding it keeps it open, even if the pool lets it go meanwhile.
pub type Session = Arc<RunningService<RoleClient, ()>>;

/// A session with `endpoint` (kept, or new) and whether it was kept from an earlier call.
pub async fn session(endpoint: &Endpoint) -> Result<(Session, bool), McpError> {
    let key = Key::of(endpoint);
    if let Some(kept) = POOL.take_live(&key) {
        return Ok((kept, true));
    }
    // Opened in a task of its own, outside the caller's span: the session's own tasks (rmcp's)
    // live as long as the session, and as children of a tool call's span they would hold it,
    // and the run's root span, open (and unexported) until the session closed.
    let opened = retrying_refusals(|| async {
        let connecting = endpoint.clone();
        tokio::spawn(async move { connect_as(&connecting, (), Era::Stateless).await })
            .await
            .map_err(|error| McpError::Connect {
                url: endpoint.url.clone(),
                message: error.to_string(),
                refused: false,
            })?
    })
    .await?;
    let opened = Arc::new(opened);
    POOL.keep(key, opened.clone());
    Ok((opened, false))
}

/// Runs `connect` (which opens a connection to a server) until it succeeds, fails otherwise than
/// by a refused connection, or has been refused for about 8 s ([`reopen_after`]). For opening a
/// tool call's session: once a request may have reached the server, it is not sent again.
pub async fn retrying_refusals<T, F, Fut>(connect: F) -> Result<T, McpError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, McpError>>,
{
    retrying(reopen_after, connect).await
}

/// Runs `discover` (which lists a server's tools, and may be repeated: it changes nothing) until
/// it succeeds, fails otherwise than by a failed or broken connection, or has failed so for about
/// 8 s ([`rediscover_after`]). For a server that was answering: a rolling update of its pods
/// breaks connections to the pod that stops, and telling the server unhealthy for that would take
/// its tools from every agent meanwhile.
pub async fn retrying_broken_connections<T, F, Fut>(discover: F) -> Result<T, McpError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, McpError>>,
{
    retrying(rediscover_after, discover).await
}

async fn retrying<T, F, Fut>(
    wait_after: fn(usize, &McpError) -> Option<Duration>,
    mut connect: F,
) -> Result<T, McpError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, McpError>>,
{
    let mut attempt = 0;
    loop {
        match connect().await {
            Ok(connected) => return Ok(connected),
            Err(error) => match wait_after(attempt, &error) {
                Some(delay) => {
                    tracing::debug!(%error, ?delay, "refused: connecting again");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                None => return Err(error),
            },
        }
    }
}

/// The waits before connecting again after a refused connection: about 8 s in all.
const REOPEN_DELAYS: [Duration; 5] = [
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
];

/// How long to wait before trying again after the `attempt`th (from 0) open of a session failed
/// with `error`, if at all. Only a refused connection is tried again, for a few seconds: nothing
/// was sent, and the refusal is often a moment's (a server's pod restarting, or a NetworkPolicy
/// engine that has not yet learnt the address of a new operator pod that took a task over, or
/// is rebuilding its rules as the operator's pods change). Anything else is told at once.
fn reopen_after(attempt: usize, error: &McpError) -> Option<Duration> {
    match error {
        McpError::Connect { refused: true, .. } => REOPEN_DELAYS.get(attempt).copied(),
        _ => None,
    }
}

/// How long to wait before listing a server's tools again after the `attempt`th (from 0) listing
/// failed with `error`, if at all: any failure of the connection (refused, reset, closed, or an
/// HTTP answer that is not MCP's, such as a proxy's) is tried again for a few seconds. A timeout
/// is not (it has waited long already), nor an error the server answered.
fn rediscover_after(attempt: usize, error: &McpError) -> Option<Duration> {
    match error {
        McpError::Connect { .. } => REOPEN_DELAYS.get(attempt).copied(),
        _ => None,
    }
}

/// Forgets the session with `endpoint` (it failed); the next call opens a new one.
pub fn discard(endpoint: &Endpoint) {
    let closed = POOL.lock().remove(&Key::of(endpoint));
    drop(closed); // dropping the last handle closes the session
}

/// Whether a call that failed with `error` may be made again on a fresh session: only when the
/// session it used was kept from earlier (a new one failing would fail again) and the request
/// was never sent.
pub fn retry_on_fresh_session(reused: bool, error: &rmcp::ServiceError) -> bool {
    reused && matches!(error, rmcp::ServiceError::TransportSend(_))
}

impl Pool {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Kept>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn take_live(&self, key: &Key) -> Option<Session> {
        let mut sessions = self.lock();
        let now = Instant::now();
        sessions.retain(|_, kept| !expired(kept.last_used, now, kept.session.is_closed()));
        let kept = sessions.get_mut(key)?;
        kept.last_used = now;
        Some(kept.session.clone())
    }

    fn keep(&self, key: Key, session: Arc<RunningService<RoleClient, ()>>) {
        let first = {
            let mut sessions = self.lock();
            let first = sessions.is_empty();
            // Two calls may have opened one each; the later one is kept, the other closes when
            // its call is done.
            sessions.insert(
                key,
                Kept {
                    session,
                    last_used: Instant::now(),
                },
            );
            first
        };
        if first {
            tokio::spawn(sweep());
        }
    }
}

/// Closes idle sessions while any are kept, so an idle operator holds no servers open.
async fn sweep() {
    loop {
        tokio::time::sleep(IDLE / 2).await;
        let mut sessions = POOL.lock();
        let now = Instant::now();
        sessions.retain(|_, kept| !expired(kept.last_used, now, kept.session.is_closed()));
        if sessions.is_empty() {
            return;
        }
    }
}

fn expired(last_used: Instant, now: Instant, closed: bool) -> bool {
    closed || now.duration_since(last_used) >= IDLE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_connection_is_retried_while_refused_and_no_longer() {
        let error = |refused| McpError::Connect {
            url: "http://server/mcp".into(),
            message: "no".into(),
            refused,
        };
        // (refusals before the outcome, the outcome, attempts made, connected)
        let cases = [
            (0, Ok(()), 1, true),
            (2, Ok(()), 3, true),
            (0, Err(false), 1, false),
            (1, Err(false), 2, false),
        ];
        for (refusals, outcome, attempts, connected) in cases {
            let made = std::sync::atomic::AtomicUsize::new(0);
            let result = retrying_refusals(|| {
                let n = made.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let result = if n < refusals {
                    Err(error(true))
                } else {
                    outcome.map_err(error)
                };
                async move { result }
            })
            .await;
            assert_eq!(made.into_inner(), attempts, "{refusals} {outcome:?}");
            assert_eq!(result.is_ok(), connected, "{refusals} {outcome:?}");
        }
    }

    #[test]
    fn only_a_refused_connection_is_tried_again_and_for_a_bounded_time() {
        let connect = |refused| McpError::Connect {
            url: "http://x/mcp".into(),
            message: "m".into(),
            refused,
        };
        let timeout = McpError::Timeout {
            url: "http://x/mcp".into(),
            seconds: 5,
        };
        let cases = [
            ("refused, first", connect(true), 0, Some(REOPEN_DELAYS[0])),
            (
                "refused, last wait",
                connect(true),
                4,
                Some(REOPEN_DELAYS[4]),
            ),
            ("refused, waits used up", connect(true), 5, None),
            (
                "not refused (a name that does not resolve)",
                connect(false),
                0,
                None,
            ),
            ("a timeout (the request may have arrived)", timeout, 0, None),
        ];
        for (case, error, attempt, want) in cases {
            assert_eq!(reopen_after(attempt, &error), want, "{case}");
        }
    }

    #[test]
    fn a_listing_is_tried_again_after_any_failed_connection_for_a_bounded_time() {
        let connect = |refused| McpError::Connect {
            url: "http://x/mcp".into(),
            message: "m".into(),
            refused,
        };
        let cases = [
            ("refused", connect(true), 0, Some(REOPEN_DELAYS[0])),
            ("reset or closed", connect(false), 3, Some(REOPEN_DELAYS[3])),
            ("waits used up", connect(false), 5, None),
            (
                "a timeout",
                McpError::Timeout {
                    url: "http://x/mcp".into(),
                    seconds: 5,
                },
                0,
                None,
            ),
            (
                "the server's own error",
                McpError::Protocol {
                    url: "http://x/mcp".into(),
                    operation: "tools/list",
                    message: "m".into(),
                },
                0,
                None,
            ),
        ];
        for (case, error, attempt, want) in cases {
            assert_eq!(rediscover_after(attempt, &error), want, "{case}");
        }
    }

    #[test]
    fn sessions_expire_when_idle_or_closed() {
        let now = Instant::now();
        let cases = [
            (Duration::ZERO, false, false),
            (IDLE - Duration::from_secs(1), false, false),
            (IDLE, false, true),
            (Duration::ZERO, true, true),
        ];
        for (idle, closed, expected) in cases {
            assert_eq!(
                expired(now - idle, now, closed),
                expected,
                "{idle:?} {closed}"
            );
        }
    }

    #[test]
    fn only_an_unsent_request_on_a_kept_session_is_tried_again() {
        let unsent = || {
            rmcp::ServiceError::TransportSend(rmcp::transport::DynamicTransportError::new::<
                super::super::sse::SseTransport,
                _,
            >(super::super::sse::SseError::NoEndpoint))
        };
        let cases = [
            (true, unsent(), true),
            (false, unsent(), false),
            (true, rmcp::ServiceError::TransportClosed, false),
            (true, rmcp::ServiceError::Timeout { timeout: IDLE }, false),
        ];
        for (reused, error, expected) in cases {
            assert_eq!(
                retry_on_fresh_session(reused, &error),
                expected,
                "{reused} {error}"
            );
        }
    }

    #[test]
    fn credentials_are_part_of_the_key() {
        let endpoint = |headers: &[(&str, &str)]| Endpoint {
            url: "http://tools.example/mcp".into(),
            wire: Wire::StreamableHttp,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            timeout: IDLE,
            egress: None,
        };
        let a = Key::of(&endpoint(&[("authorization", "Bearer a"), ("x-team", "1")]));
        let reordered = Key::of(&endpoint(&[("x-team", "1"), ("authorization", "Bearer a")]));
        let b = Key::of(&endpoint(&[("authorization", "Bearer b"), ("x-team", "1")]));
        assert_eq!(a, reordered);
        assert_ne!(a, b);
    }
}
