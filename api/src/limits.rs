//! What one workspace, or one caller, may take of the api: a request rate (a token bucket per
//! caller and one per workspace, so neither a script with one token nor a workspace with many can
//! starve the others) and a number of open event streams per workspace. Past a limit the answer
//! is 429 with `Retry-After`, in the error shape.
//!
//! The configured limits are the Deployment's: each of `replicas` api processes enforces its share
//! ([`share`]), and follows the replica count as it changes (`crate::replicas`). Rounding up, the
//! whole Deployment admits at most `replicas - 1` requests a second (and streams) over a limit. A
//! caller gets the whole rate when its requests are spread over the replicas (a Service spreads
//! connections); one keep-alive connection stays on one replica and gets that replica's share.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use clap::Args;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::error::ApiError;
use crate::metrics::OpenStream;
use crate::workspace::namespace_for;

/// How often (in admitted requests) buckets that are full again are forgotten, so the map holds
/// only callers seen lately.
const FORGET_EVERY: u64 = 10_000;
/// What a refused stream is told to wait: streams end when their clients leave, not on a clock.
const STREAM_RETRY_AFTER: Duration = Duration::from_secs(5);

#[derive(Args, Debug, Clone)]
pub struct LimitArgs {
    /// Requests per second one workspace may make, all its callers together (0: no limit).
    #[arg(
        long,
        env = "AGENTAREA_WORKSPACE_REQUESTS_PER_SECOND",
        default_value_t = 100
    )]
    pub workspace_requests_per_second: u32,
    /// Requests a workspace may make at once above its rate.
    #[arg(long, env = "AGENTAREA_WORKSPACE_REQUEST_BURST", default_value_t = 400)]
    pub workspace_request_burst: u32,
    /// Requests per second one caller (one subject of one workspace) may make (0: no limit).
    #[arg(
        long,
        env = "AGENTAREA_CALLER_REQUESTS_PER_SECOND",
        default_value_t = 50
    )]
    pub caller_requests_per_second: u32,
    /// Requests a caller may make at once above its rate.
    #[arg(long, env = "AGENTAREA_CALLER_REQUEST_BURST", default_value_t = 200)]
    pub caller_request_burst: u32,
    /// Event streams (`/v1/events`, task streams) one workspace may hold open (0: no limit).
    #[arg(long, env = "AGENTAREA_WORKSPACE_MAX_STREAMS", default_value_t = 100)]
    pub workspace_max_streams: usize,
}

impl Default for LimitArgs {
    /// No limits: for tests that are not about them.
    fn default() -> Self {
        Self {
            workspace_requests_per_second: 0,
            workspace_request_burst: 0,
            caller_requests_per_second: 0,
            caller_request_burst: 0,
            workspace_max_streams: 0,
        }
    }
}

/// The api's limits, shared by every request.
pub struct Limits {
    configured: LimitArgs,
    /// This replica's buckets, made anew when the replica count changes.
    buckets: RwLock<Arc<Buckets>>,
    replicas: AtomicUsize,
    streams: Arc<OpenStreams>,
    admitted: AtomicU64,
    clock: DefaultClock,
}

/// The token buckets of one replica's share.
struct Buckets {
    workspaces: Option<DefaultKeyedRateLimiter<String>>,
    callers: Option<DefaultKeyedRateLimiter<(String, String)>>,
}

impl Buckets {
    fn for_share(args: &LimitArgs, replicas: usize) -> Self {
        Self {
            workspaces: bucket(
                share(args.workspace_requests_per_second, replicas),
                share(args.workspace_request_burst, replicas),
            ),
            callers: bucket(
                share(args.caller_requests_per_second, replicas),
                share(args.caller_request_burst, replicas),
            ),
        }
    }
}

/// One replica's share of a Deployment-wide allowance `whole` (0: no limit stays no limit),
/// rounded up so that no replica is left with nothing.
pub fn share<N>(whole: N, replicas: usize) -> N
where
    N: Copy + TryFrom<usize> + Into<u64> + Default + PartialEq,
{
    if whole == N::default() {
        return whole;
    }
    let replicas = replicas.max(1) as u64;
    let part = whole.into().div_ceil(replicas).max(1);
    N::try_from(part as usize).unwrap_or(whole)
}

/// A bucket of `per_second` refilling, `burst` deep; none when the rate is 0.
fn bucket<K: Clone + std::hash::Hash + Eq>(
    per_second: u32,
    burst: u32,
) -> Option<DefaultKeyedRateLimiter<K>> {
    let rate = NonZeroU32::new(per_second)?;
    let burst = NonZeroU32::new(burst.max(per_second)).unwrap_or(rate);
    Some(DefaultKeyedRateLimiter::dashmap(
        Quota::per_second(rate).allow_burst(burst),
    ))
}

impl Limits {
    pub fn new(args: &LimitArgs) -> Self {
        Self {
            configured: args.clone(),
            buckets: RwLock::new(Arc::new(Buckets::for_share(args, 1))),
            replicas: AtomicUsize::new(1),
            streams: Arc::new(OpenStreams {
                max: AtomicUsize::new(args.workspace_max_streams),
                open: Mutex::default(),
            }),
            admitted: AtomicU64::new(0),
            clock: DefaultClock::default(),
        }
    }

    /// Takes this replica's share of the limits among `replicas` (at least one). Buckets start
    /// full again when the share changes; open streams stay open.
    pub fn set_replicas(&self, replicas: usize) {
        let replicas = replicas.max(1);
        if self.replicas.swap(replicas, Ordering::Relaxed) == replicas {
            return;
        }
        *self.buckets.write().unwrap() = Arc::new(Buckets::for_share(&self.configured, replicas));
        self.streams.max.store(
            share(self.configured.workspace_max_streams as u64, replicas) as usize,
            Ordering::Relaxed,
        );
        tracing::info!(
            replicas,
            "the request limits are shared among the api's replicas"
        );
    }

    fn buckets(&self) -> Arc<Buckets> {
        self.buckets.read().unwrap().clone()
    }

    /// Takes one request of the allowance of the caller `subject` of `workspace` and of the
    /// workspace's, or says how long to wait. Plain keys rather than the caller's identity, so
    /// that the limits know nothing of authentication.
    pub fn admit(&self, workspace: &str, subject: &str) -> Result<(), ApiError> {
        if let Some(callers) = &self.buckets().callers {
            let key = (workspace.to_string(), subject.to_string());
            callers
                .check_key(&key)
                .map_err(|wait| too_many("caller", wait.wait_time_from(self.clock.now())))?;
        }
        self.admit_workspace(&namespace_for(workspace))
    }

    /// Takes one webhook call of the workspace in `namespace`. Webhook calls have a bucket of
    /// their own beside the workspace's: anyone who knows a webhook URL can send them, signed or
    /// not, and a flood of them must not starve the workspace's people of the REST API.
    pub fn admit_webhook(&self, namespace: &str) -> Result<(), ApiError> {
        self.admit_workspace(&format!("{namespace}/webhooks"))
    }

    /// Takes one request of the allowance of the workspace in `namespace`.
    fn admit_workspace(&self, namespace: &str) -> Result<(), ApiError> {
        if let Some(workspaces) = &self.buckets().workspaces {
            workspaces
                .check_key(&namespace.to_string())
                .map_err(|wait| too_many("workspace", wait.wait_time_from(self.clock.now())))?;
        }
        if self.admitted.fetch_add(1, Ordering::Relaxed) % FORGET_EVERY == FORGET_EVERY - 1 {
            self.forget_idle();
        }
        Ok(())
    }

    fn forget_idle(&self) {
        let buckets = self.buckets();
        if let Some(callers) = &buckets.callers {
            callers.retain_recent();
            callers.shrink_to_fit();
        }
        if let Some(workspaces) = &buckets.workspaces {
            workspaces.retain_recent();
            workspaces.shrink_to_fit();
        }
    }

    /// A place for one more open stream of the workspace in `namespace`, held until the stream
    /// ends.
    pub fn open_stream(
        &self,
        namespace: &str,
        counted: OpenStream,
    ) -> Result<StreamPermit, ApiError> {
        let slot = OpenStreams::take(&self.streams, namespace)?;
        Ok(StreamPermit {
            _slot: slot,
            _counted: counted,
        })
    }
}

/// 429 after `wait` (rounded up to whole seconds, as `Retry-After` takes).
fn too_many(whose: &str, wait: Duration) -> ApiError {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    ApiError::too_many_requests(
        format!("Too many requests from this {whose}; retry after {seconds} s"),
        Duration::from_secs(seconds.max(1)),
    )
}

/// Open streams per workspace.
struct OpenStreams {
    max: AtomicUsize,
    open: Mutex<HashMap<String, usize>>,
}

impl OpenStreams {
    fn take(this: &Arc<Self>, workspace: &str) -> Result<StreamSlot, ApiError> {
        let max = this.max.load(Ordering::Relaxed);
        if max == 0 {
            return Ok(StreamSlot(None));
        }
        let mut open = this.open.lock().unwrap();
        let count = open.entry(workspace.to_string()).or_default();
        if *count >= max {
            return Err(ApiError::too_many_requests(
                format!("This workspace has {max} event streams open, the most it may; close one"),
                STREAM_RETRY_AFTER,
            ));
        }
        *count += 1;
        Ok(StreamSlot(Some((this.clone(), workspace.to_string()))))
    }

    fn give_back(&self, workspace: &str) {
        let mut open = self.open.lock().unwrap();
        if let Some(count) = open.get_mut(workspace) {
            *count -= 1;
            if *count == 0 {
                open.remove(workspace);
            }
        }
    }
}

struct StreamSlot(Option<(Arc<OpenStreams>, String)>);

impl Drop for StreamSlot {
    fn drop(&mut self) {
        if let Some((streams, workspace)) = &self.0 {
            streams.give_back(workspace);
        }
    }
}

/// An open event stream: counted in the metrics and against its workspace's limit until it is
/// dropped, with the stream, when the client leaves or the stream ends.
pub struct StreamPermit {
    _slot: StreamSlot,
    _counted: OpenStream,
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use super::*;
    use crate::metrics::ApiMetrics;

    /// A caller: its workspace and subject.
    type Caller<'a> = (&'a str, &'a str);

    fn caller<'a>(workspace: &'a str, subject: &'a str) -> Caller<'a> {
        (workspace, subject)
    }

    fn limits(workspace: (u32, u32), caller: (u32, u32), streams: usize) -> Limits {
        Limits::new(&LimitArgs {
            workspace_requests_per_second: workspace.0,
            workspace_request_burst: workspace.1,
            caller_requests_per_second: caller.0,
            caller_request_burst: caller.1,
            workspace_max_streams: streams,
        })
    }

    /// How many of `n` back-to-back requests of `who` are admitted (within one second, so no
    /// refill beyond the burst at 1/s).
    fn admitted(limits: &Limits, (workspace, subject): Caller, n: usize) -> usize {
        (0..n)
            .filter(|_| limits.admit(workspace, subject).is_ok())
            .count()
    }

    /// (whole, replicas) -> one replica's share: rounded up, never nothing, 0 stays unlimited.
    #[test]
    fn each_replica_takes_its_share() {
        let cases: &[(u32, usize, u32)] = &[
            (100, 1, 100),
            (100, 2, 50),
            (100, 3, 34),
            (100, 0, 100),
            (2, 3, 1),
            (1, 5, 1),
            (0, 3, 0),
            (400, 7, 58),
        ];
        for (whole, replicas, part) in cases {
            assert_eq!(share(*whole, *replicas), *part, "{whole} among {replicas}");
            // The shares add up to the whole, at most one each over.
            let total = u64::from(*part) * *replicas as u64;
            if *replicas > 0 && *whole as usize >= *replicas {
                assert!(total >= u64::from(*whole) && total < u64::from(*whole) + *replicas as u64);
            }
        }
        assert_eq!(share(100u64, 3), 34);
    }

    #[test]
    fn a_replica_enforces_its_share_and_follows_the_count() {
        let limits = limits((0, 0), (1, 30), 9);
        let ada = caller("acme", "ada");
        limits.set_replicas(3);
        assert_eq!(admitted(&limits, ada, 40), 10, "a third of the burst");
        let streams: Vec<_> = (0..5)
            .map_while(|_| OpenStreams::take(&limits.streams, "ws-acme").ok())
            .collect();
        assert_eq!(streams.len(), 3, "a third of the streams");
        drop(streams);
        // One replica left: it takes the whole, with full buckets.
        limits.set_replicas(1);
        assert_eq!(admitted(&limits, ada, 40), 30);
        // The same count again changes nothing (the bucket stays as used).
        limits.set_replicas(1);
        assert_eq!(admitted(&limits, ada, 5), 0);
    }

    #[test]
    fn a_caller_gets_its_burst_and_then_429_with_retry_after() {
        let limits = limits((0, 0), (1, 3), 0);
        let ada = caller("acme", "ada");
        assert_eq!(admitted(&limits, ada, 10), 3);
        let refused = limits.admit(ada.0, ada.1).unwrap_err();
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(refused.detail.contains("this caller"), "{}", refused.detail);
        assert_eq!(refused.retry_after, Some(Duration::from_secs(1)));
    }

    #[test]
    fn callers_and_workspaces_have_buckets_of_their_own() {
        let cases = [
            // (workspace rate/burst, caller rate/burst, requests per caller, admitted of each)
            (
                (0, 0),
                (1, 2),
                [("a", "ada"), ("a", "bob"), ("b", "ada")],
                [2, 2, 2],
            ),
            (
                (1, 3),
                (0, 0),
                [("a", "ada"), ("a", "bob"), ("b", "ada")],
                [3, 0, 3],
            ),
            (
                (1, 3),
                (1, 2),
                [("a", "ada"), ("a", "bob"), ("b", "ada")],
                [2, 1, 2],
            ),
        ];
        for (workspace, per_caller, callers, expected) in cases {
            let limits = limits(workspace, per_caller, 0);
            let got: Vec<usize> = callers
                .iter()
                .map(|(ws, who)| admitted(&limits, caller(ws, who), 5))
                .collect();
            assert_eq!(
                got, expected,
                "workspace {workspace:?} caller {per_caller:?}"
            );
        }
    }

    #[test]
    fn webhook_calls_do_not_take_the_workspaces_allowance() {
        let limits = limits((1, 2), (0, 0), 0);
        let namespace = namespace_for("a");
        let webhooks = (0..5)
            .filter(|_| limits.admit_webhook(&namespace).is_ok())
            .count();
        assert_eq!(webhooks, 2, "webhook calls have a bucket of their own");
        assert_eq!(admitted(&limits, caller("a", "ada"), 5), 2);
    }

    #[test]
    fn zero_means_no_limit() {
        let limits = limits((0, 0), (0, 0), 0);
        assert_eq!(admitted(&limits, caller("a", "ada"), 1000), 1000);
    }

    #[test]
    fn streams_are_counted_per_workspace_and_given_back_when_dropped() {
        let metrics = ApiMetrics::new(Default::default());
        let limits = limits((0, 0), (0, 0), 2);
        let open = |ws: &str| limits.open_stream(ws, metrics.stream_opened("workspace"));
        let first = open("a").unwrap();
        let _second = open("a").unwrap();
        let refused = open("a").err().unwrap();
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.retry_after, Some(STREAM_RETRY_AFTER));
        let _other = open("b").expect("another workspace has its own count");
        drop(first);
        open("a").expect("a closed stream makes room");
    }
}
