//! The SSE stream of a workspace's event log (`GET /v1/events`). See [`crate::event_log`] for
//! ids and resumption.
//!
//! Each event's id is the stream's cursor after it. While nothing happens in the workspace, the
//! cursor still moves with the rest of the cluster, and the stream sends it every
//! [`POSITION_EVERY`] as an event with an id and no data: by the SSE specification that sets the
//! client's last event id without delivering a message, so a client that reconnects after a
//! quiet hour resumes from a recent position (which the apiserver still has history for) rather
//! than from its last real event.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::response::sse::{Event, Sse};
use futures::{Stream, StreamExt};
use serde_json::json;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::{Interval, MissedTickBehavior};

use crate::event_log::cursor::{Cursor, Fetch};
use crate::event_log::{Entry, EventLog, Opening};
use crate::limits::StreamPermit;
use crate::stream::{sse_event, sse_response};

/// How often a quiet stream sends its position.
pub const POSITION_EVERY: Duration = Duration::from_secs(10);
/// How many times a resuming stream fetches from the apiserver before it gives up (each fetch
/// can find the log has moved on meanwhile).
const CATCH_UP_ROUNDS: usize = 3;

/// Where a workspace stream stands: the last ring entry it has taken, its cursor, and what is
/// queued to go out.
struct WorkspaceStream {
    log: Arc<EventLog>,
    live: broadcast::Receiver<Arc<Entry>>,
    namespace: String,
    /// The last ring entry taken (entries reach a stream both from the ring and live).
    after_seq: u64,
    cursor: Cursor,
    /// The id the client holds (the last one sent).
    sent_id: String,
    queue: VecDeque<Event>,
    position_timer: Interval,
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
    // Subscribe before reading the ring, so nothing published in between is lost; entries seen
    // both ways are taken once (by sequence number).
    let live = log.subscribe();
    let workspace = workspace.to_string();
    let resume_from = last_event_id.map(str::to_string);
    let mut position_timer =
        tokio::time::interval_at(tokio::time::Instant::now() + POSITION_EVERY, POSITION_EVERY);
    position_timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut stream = WorkspaceStream {
        log,
        live,
        namespace,
        after_seq: 0,
        cursor: Cursor::default(),
        sent_id: String::new(),
        queue: VecDeque::new(),
        position_timer,
        _open: open,
    };
    let opened = async move {
        match resume_from.as_deref().map(Cursor::parse) {
            None => stream.start_now("connected", json!({ "workspace": workspace })),
            Some(None) => stream.start_now(
                "resync",
                json!({ "reason": "That is not an id of this stream; re-list and continue" }),
            ),
            Some(Some(cursor)) => {
                stream.cursor = cursor;
                if let Err(why) = stream.catch_up().await {
                    stream.start_now("resync", json!({ "reason": why }));
                }
            }
        }
        stream
    };
    sse_response(
        futures::stream::once(opened)
            .flat_map(|stream| futures::stream::unfold(stream, WorkspaceStream::next)),
    )
}

impl WorkspaceStream {
    async fn next(mut self) -> Option<(Result<Event, Infallible>, Self)> {
        loop {
            if let Some(event) = self.queue.pop_front() {
                return Some((Ok(event), self));
            }
            tokio::select! {
                received = self.live.recv() => match received {
                    Ok(entry) => self.take(&entry),
                    Err(RecvError::Lagged(_)) => {
                        if let Err(why) = self.catch_up().await {
                            self.start_now("resync", json!({ "reason": format!("Stream fell behind: {why}") }));
                        }
                    }
                    Err(RecvError::Closed) => return None,
                },
                _ = self.position_timer.tick() => self.send_position(),
            }
        }
    }

    /// Starts over at the log's present, with `name` as the first event (it carries the id).
    fn start_now(&mut self, name: &str, data: serde_json::Value) {
        let (seq, cursor) = self.log.now();
        self.after_seq = seq;
        self.cursor = cursor;
        self.sent_id = self.cursor.to_id();
        self.queue
            .push_back(sse_event(Some(self.sent_id.clone()), name, &data));
    }

    /// Takes one ring entry: passes its event on if it is news to this stream and of its
    /// workspace, and moves the cursor.
    fn take(&mut self, entry: &Entry) {
        if entry.seq <= self.after_seq {
            return;
        }
        self.after_seq = entry.seq;
        let news = self
            .cursor
            .take(entry.kind, entry.position, entry.news_below);
        if let Some(event) = &entry.event
            && news
            && event.namespace == self.namespace
        {
            self.send(&event.name, &event.data);
        }
    }

    fn send(&mut self, name: &str, data: &serde_json::Value) {
        self.sent_id = self.cursor.to_id();
        self.queue
            .push_back(sse_event(Some(self.sent_id.clone()), name, data));
    }

    /// The cursor as an id-only event, if it moved since the client last got one.
    fn send_position(&mut self) {
        let id = self.cursor.to_id();
        if id != self.sent_id {
            self.queue.push_back(Event::default().id(id.clone()));
            self.sent_id = id;
        }
    }

    /// Brings the stream from its cursor to the log's present: from the ring where it holds
    /// that far back, from the apiserver's history where it does not. `Err` says why neither can.
    async fn catch_up(&mut self) -> Result<(), String> {
        for _ in 0..CATCH_UP_ROUNDS {
            match self.log.open(&self.cursor) {
                Opening::Gap => {
                    return Err(
                        "That id is not one this api can continue from; re-list and continue"
                            .into(),
                    );
                }
                Opening::Ring(entries) => {
                    for entry in entries {
                        self.take(&entry);
                    }
                    return Ok(());
                }
                Opening::Fetch(fetches) => self.fetch(fetches).await?,
            }
        }
        Err("Events since that id kept moving out of reach; re-list and continue".into())
    }

    /// Fetches what the ring lacks from the apiserver, every kind at once, and passes it on.
    async fn fetch(&mut self, fetches: Vec<Fetch>) -> Result<(), String> {
        let log = self.log.clone();
        let namespace = self.namespace.clone();
        let fetched = futures::future::join_all(fetches.iter().map(|fetch| {
            let (log, namespace) = (&log, &namespace);
            async move {
                let history = log.history(fetch.kind).ok_or("no history for a kind")?;
                history
                    .since(namespace, fetch.after, fetch.until)
                    .await
                    .map_err(|unavailable| unavailable.0)
            }
        }))
        .await;
        for (fetch, result) in fetches.iter().zip(fetched) {
            let fetched = result.map_err(|why| {
                tracing::info!(kind = fetch.kind, %why, "a stream's history is unavailable");
                "Events since that id are no longer available; re-list and continue".to_string()
            })?;
            for change in fetched.changes {
                if self
                    .cursor
                    .take(fetch.kind, change.position, change.position)
                {
                    self.send(&change.name, &change.data);
                }
            }
            self.cursor.take(fetch.kind, fetched.reached, 0);
        }
        Ok(())
    }
}
