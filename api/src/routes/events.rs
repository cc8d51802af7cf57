//! `GET /v1/events`: the caller's workspace as a stream of Server-Sent Events: task updates,
//! agent, skill, MCP server and trigger changes. See [`crate::events`] for ids and resumption.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, Sse};
use axum::routing::get;
use futures::Stream;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use crate::auth::Identity;
use crate::error::{ApiResult, ErrorBody};
use crate::events::{EventLog, Resume, WorkspaceEvent, sse_event, sse_response};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/events", get(stream_events))
}

/// Stream the workspace's events. Each has an id; reconnect with `Last-Event-ID` to receive what
/// was missed. A `resync` event means the id could not be continued from: re-list.
#[utoipa::path(get, path = "/v1/events", tag = "events",
    params(("Last-Event-ID" = Option<String>, Header, description = "Resume after this event")),
    responses((status = 200, description = "text/event-stream of workspace events", content_type = "text/event-stream"),
              (status = 401, body = ErrorBody)))]
pub async fn stream_events(
    State(state): State<AppState>,
    caller: Identity,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let namespace = state.namespace(&caller);
    let log = state.events.clone();
    // Subscribe before reading the ring, so nothing published in between is lost; events seen
    // both ways are dropped by sequence number below.
    let live = log.subscribe();
    let mut queue = VecDeque::new();
    let mut after = log.last_seq();
    match headers.get("last-event-id").and_then(|v| v.to_str().ok()) {
        Some(id) => match log.resume(&namespace, id) {
            Resume::From(missed) => {
                after = seq_of(id).unwrap_or(after);
                queue.extend(missed.iter().map(|e| to_sse(&log, e)));
                if let Some(last) = missed.last() {
                    after = last.seq;
                }
            }
            Resume::Gap => queue.push_back(sse_event(
                None,
                "resync",
                &json!({ "reason": "Events since that id are no longer available; re-list and continue" }),
            )),
        },
        None => queue.push_back(sse_event(None, "connected", &json!({ "workspace": caller.workspace }))),
    }
    let stream = futures::stream::unfold(
        (queue, live, after, log, namespace),
        |(mut queue, mut live, mut after, log, namespace)| async move {
            loop {
                if let Some(event) = queue.pop_front() {
                    return Some((Ok(event), (queue, live, after, log, namespace)));
                }
                match live.recv().await {
                    Ok(event) => {
                        if event.seq > after {
                            after = event.seq;
                            if event.namespace == namespace {
                                queue.push_back(to_sse(&log, &event));
                            }
                        }
                    }
                    // Fell behind the live channel: catch up from the ring instead of growing a
                    // queue; if even the ring has moved on, tell the client to re-list.
                    Err(RecvError::Lagged(_)) => {
                        match log.after(after) {
                            Some(missed) => {
                                for event in missed {
                                    after = event.seq;
                                    if event.namespace == namespace {
                                        queue.push_back(to_sse(&log, &event));
                                    }
                                }
                            }
                            None => {
                                after = log.last_seq();
                                queue.push_back(sse_event(None, "resync", &json!({ "reason": "Stream fell behind; re-list and continue" })));
                            }
                        }
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        },
    );
    Ok(sse_response(stream))
}

fn seq_of(id: &str) -> Option<u64> {
    id.rsplit_once('-')?.1.parse().ok()
}

fn to_sse(log: &EventLog, event: &Arc<WorkspaceEvent>) -> Event {
    sse_event(Some(log.id_of(event)), &event.event, &event.data)
}
