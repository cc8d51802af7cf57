//! The SSE stream of a workspace's event log (`GET /v1/events`). See [`crate::event_log`] for
//! ids and resumption.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;

use axum::response::sse::{Event, Sse};
use futures::Stream;
use serde_json::json;
use tokio::sync::broadcast::{self, error::RecvError};

use crate::event_log::{EventLog, Resume, WorkspaceEvent};
use crate::limits::StreamPermit;
use crate::stream::{sse_event, sse_response};

/// Where a workspace stream stands: the last sequence number it has passed on or skipped, and
/// what is queued to go out.
struct WorkspaceStream {
    log: Arc<EventLog>,
    live: broadcast::Receiver<Arc<WorkspaceEvent>>,
    namespace: String,
    after: u64,
    queue: VecDeque<Event>,
    /// Counts the stream as open while it lives.
    _open: StreamPermit,
}

/// The events of `namespace`: those after `last_event_id` when the client resumes, then live
/// ones. `workspace` is named in the opening `connected` event.
pub fn stream(
    log: Arc<EventLog>,
    open: StreamPermit,
    namespace: String,
    workspace: &str,
    last_event_id: Option<&str>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>> + use<>> {
    // Subscribe before reading the ring, so nothing published in between is lost; events seen
    // both ways are dropped by sequence number.
    let live = log.subscribe();
    let mut queue = VecDeque::new();
    let mut after = log.last_seq();
    match last_event_id {
        Some(id) => match log.resume(&namespace, id) {
            Resume::From(missed) => {
                after = seq_of(id).unwrap_or(after);
                queue.extend(missed.iter().map(|e| to_sse(&log, e)));
                if let Some(last) = missed.last() {
                    after = last.seq;
                }
            }
            Resume::Gap => queue.push_back(resync(
                "Events since that id are no longer available; re-list and continue",
            )),
        },
        None => queue.push_back(sse_event(
            None,
            "connected",
            &json!({ "workspace": workspace }),
        )),
    }
    let initial = WorkspaceStream {
        log,
        live,
        namespace,
        after,
        queue,
        _open: open,
    };
    sse_response(futures::stream::unfold(initial, |mut s| async move {
        loop {
            if let Some(event) = s.queue.pop_front() {
                return Some((Ok(event), s));
            }
            match s.live.recv().await {
                Ok(event) => s.pass_on(&event),
                Err(RecvError::Lagged(_)) => s.catch_up(),
                Err(RecvError::Closed) => return None,
            }
        }
    }))
}

impl WorkspaceStream {
    fn pass_on(&mut self, event: &Arc<WorkspaceEvent>) {
        if event.seq > self.after {
            self.after = event.seq;
            if event.namespace == self.namespace {
                self.queue.push_back(to_sse(&self.log, event));
            }
        }
    }

    /// Fell behind the live channel: catch up from the ring instead of growing a queue; if even
    /// the ring has moved on, tell the client to re-list.
    fn catch_up(&mut self) {
        match self.log.after(self.after) {
            Some(missed) => {
                for event in missed {
                    self.pass_on(&event);
                }
            }
            None => {
                self.after = self.log.last_seq();
                self.queue
                    .push_back(resync("Stream fell behind; re-list and continue"));
            }
        }
    }
}

fn resync(reason: &str) -> Event {
    sse_event(None, "resync", &json!({ "reason": reason }))
}

fn seq_of(id: &str) -> Option<u64> {
    id.rsplit_once('-')?.1.parse().ok()
}

fn to_sse(log: &EventLog, event: &Arc<WorkspaceEvent>) -> Event {
    sse_event(Some(log.id_of(event)), &event.event, &event.data)
}
