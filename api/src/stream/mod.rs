//! Server-Sent Events: the framing every stream shares, a task's run ([`task`]) and the
//! workspace's event log ([`workspace`]).

pub mod task;
pub mod workspace;

use std::convert::Infallible;
use std::time::Duration;

use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, KeepAliveStream, Sse};
use futures::Stream;
use serde_json::{Value, json};

/// Comment lines sent to idle streams so proxies do not cut them.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// An SSE event whose data is `{"event": name, "data": payload}`, as the seed describes, with the
/// SSE `event:` field set to the same name so EventSource listeners can filter on it.
pub fn sse_event(id: Option<String>, name: &str, data: &Value) -> Event {
    let event = Event::default()
        .event(name)
        .data(json!({ "event": name, "data": data }).to_string());
    match id {
        Some(id) => event.id(id),
        None => event,
    }
}

/// Wraps a stream of SSE events with keep-alives.
pub fn sse_response<S>(stream: S) -> Sse<KeepAliveStream<S>>
where
    S: Stream<Item = Result<Event, Infallible>> + Send + 'static,
{
    Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive"))
}

/// The `Last-Event-ID` a reconnecting client sends.
pub fn last_event_id(headers: &HeaderMap) -> Option<&str> {
    headers.get("last-event-id").and_then(|v| v.to_str().ok())
}
