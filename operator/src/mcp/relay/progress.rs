//! What the two halves of one relay share: the progress tokens the upstream session gave the
//! client's requests, renamed back to the client's own, and the client's requests in flight (a
//! server's request to the client rides the newest one's stream).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::sync::lock;
use rmcp::model::{ProgressToken, RequestId};

/// How long a request's progress token keeps its client token after the request ended. rmcp
/// hands each notification to a task of its own, so the server's last progress can reach us
/// just after its result; it must still go out under the client's token.
const PROGRESS_AFTER_END: Duration = Duration::from_secs(30);

/// What the two halves of one relay share: which client request each upstream progress token
/// belongs to (and since when it has ended), and which client requests are in flight (newest
/// last).
#[derive(Clone, Default)]
pub struct Shared {
    progress: Arc<Mutex<HashMap<ProgressToken, Renamed>>>,
    in_flight: Arc<Mutex<Vec<RequestId>>>,
}

#[derive(Clone, Debug)]
struct Renamed {
    client_token: ProgressToken,
    ended: Option<Instant>,
}

impl Shared {
    pub(super) fn begin(
        &self,
        request: &RequestId,
        upstream: ProgressToken,
        downstream: Option<ProgressToken>,
    ) {
        if let Some(client_token) = downstream {
            let mut progress = lock(&self.progress);
            let now = Instant::now();
            progress.retain(|_, renamed| {
                renamed
                    .ended
                    .is_none_or(|ended| now.duration_since(ended) < PROGRESS_AFTER_END)
            });
            let renamed = Renamed {
                client_token,
                ended: None,
            };
            progress.insert(upstream, renamed);
        }
        lock(&self.in_flight).push(request.clone());
    }

    pub(super) fn end(&self, request: &RequestId, upstream: &ProgressToken) {
        if let Some(renamed) = lock(&self.progress).get_mut(upstream) {
            renamed.ended = Some(Instant::now());
        }
        lock(&self.in_flight).retain(|id| id != request);
    }

    pub(super) fn client_token(&self, upstream: &ProgressToken) -> Option<ProgressToken> {
        lock(&self.progress)
            .get(upstream)
            .map(|renamed| renamed.client_token.clone())
    }

    pub(super) fn newest_in_flight(&self) -> Option<RequestId> {
        lock(&self.in_flight).last().cloned()
    }
}

#[cfg(test)]
mod tests {
    use rmcp::model::NumberOrString;

    use super::*;

    fn token(n: i64) -> ProgressToken {
        ProgressToken(NumberOrString::Number(n))
    }

    #[test]
    fn progress_is_renamed_during_and_just_after_its_request() {
        let shared = Shared::default();
        let request = RequestId::Number(7);
        shared.begin(&request, token(1), Some(token(100)));
        shared.begin(&RequestId::Number(8), token(2), None);
        assert_eq!(shared.client_token(&token(1)), Some(token(100)));
        assert_eq!(
            shared.client_token(&token(2)),
            None,
            "the client asked no progress"
        );
        assert_eq!(shared.newest_in_flight(), Some(RequestId::Number(8)));

        shared.end(&request, &token(1));
        assert_eq!(
            shared.client_token(&token(1)),
            Some(token(100)),
            "a late notification still finds its client"
        );
        assert_eq!(shared.newest_in_flight(), Some(RequestId::Number(8)));

        // Long after the end, the next request's start forgets it.
        lock(&shared.progress).get_mut(&token(1)).unwrap().ended =
            Some(Instant::now() - PROGRESS_AFTER_END);
        shared.begin(&RequestId::Number(9), token(3), Some(token(300)));
        assert_eq!(shared.client_token(&token(1)), None);
        assert_eq!(shared.client_token(&token(3)), Some(token(300)));
    }
}
