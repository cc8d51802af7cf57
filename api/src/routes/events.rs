//! `GET /v1/events`: the caller's workspace as a stream of Server-Sent Events: task updates,
//! agent, skill, MCP server and trigger changes.

use std::convert::Infallible;

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, Sse};
use axum::routing::get;
use futures::Stream;

use crate::auth::Identity;
use crate::error::{ApiResult, ErrorBody};
use crate::state::AppState;
use crate::stream::{last_event_id, workspace};

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
    Ok(workspace::stream(
        state.events.clone(),
        state.open_stream(&caller, "workspace")?,
        state.namespace(&caller),
        &caller.workspace,
        last_event_id(&headers),
    ))
}
