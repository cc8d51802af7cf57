//! Server-Sent Events: the framing every stream shares, a task's run ([`task`]) and the
//! workspace's event log ([`workspace`]).

pub mod task;
pub mod workspace;

use std::convert::Infallible;
use std::sync::LazyLock;
use std::time::Duration;

use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, KeepAliveStream, Sse};
use futures::{Stream, StreamExt};
use serde_json::{Value, json};
use tokio::sync::watch;

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

/// Set when the process stops: every open stream ends.
static STOPPING: LazyLock<watch::Sender<bool>> = LazyLock::new(|| watch::channel(false).0);

/// Ends every open stream, so that a stopping replica's clients reconnect (with their
/// `Last-Event-ID`) to another one at once, rather than when the pod is killed: without it, the
/// graceful shutdown would wait for streams that never end by themselves.
pub fn end_all_streams() {
    STOPPING.send_replace(true);
}

/// Whether the process is stopping ([`end_all_streams`]).
pub fn is_stopping() -> bool {
    *STOPPING.borrow()
}

/// Resolves when the process stops ([`end_all_streams`]).
pub async fn stopping() {
    let mut stopping = STOPPING.subscribe();
    let _ = stopping.wait_for(|stopping| *stopping).await;
}

/// Wraps a stream of SSE events with keep-alives; it ends when the process stops.
pub fn sse_response<S>(
    stream: S,
) -> Sse<KeepAliveStream<impl Stream<Item = Result<Event, Infallible>> + Send + 'static>>
where
    S: Stream<Item = Result<Event, Infallible>> + Send + 'static,
{
    Sse::new(stream.take_until(stopping()))
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive"))
}

/// The `Last-Event-ID` a reconnecting client sends.
pub fn last_event_id(headers: &HeaderMap) -> Option<&str> {
    headers.get("last-event-id").and_then(|v| v.to_str().ok())
}
