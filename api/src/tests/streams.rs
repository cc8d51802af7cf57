//! The SSE streams, as far as the cache alone drives them: a task's run from its stored steps,
//! resumption by `Last-Event-ID`, and the opening events of `/v1/events`.

use axum::body::Body;
use axum::http::{Request, header};
use serde_json::json;

use super::*;

fn objects() -> Objects {
    Objects {
        agents: vec![agent(WORKSPACE, "helper", 0)],
        tasks: vec![
            task(WORKSPACE, "done", "helper", Some(finished(2))),
            task(
                WORKSPACE,
                "running",
                "helper",
                Some(json!({
                    "phase": "Running",
                    "executionId": "run-1",
                    "steps": [{
                    "seq": 1, "time": "2025-01-01T00:00:00Z",
                    "type": steps::LLM_CALL_STARTED, "data": { "k": "v" },
                }],
                })),
            ),
        ],
        ..Objects::default()
    }
}

fn stream_request(path: &str, last_event_id: Option<&str>) -> Request<Body> {
    let mut request = authed("GET", path, &token()).header(header::ACCEPT, "text/event-stream");
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id);
    }
    request.body(Body::empty()).unwrap()
}

fn names(events: &[(Option<String>, String, serde_json::Value)]) -> Vec<(Option<&str>, &str)> {
    events
        .iter()
        .map(|(id, name, _)| (id.as_deref(), name.as_str()))
        .collect()
}

#[tokio::test]
async fn a_finished_task_streams_its_steps_then_its_end() {
    for path in [
        "/v1/tasks/done/events",
        "/v1/agents/helper/tasks/done/events/stream",
    ] {
        let (status, events) = sse_events(app_with(objects()), stream_request(path, None)).await;
        assert_eq!(status, 200);
        assert_eq!(
            names(&events),
            [
                (None, "connected"),
                (Some("1"), steps::LLM_CALL_COMPLETED),
                (Some("2"), steps::TOOL_CALL_COMPLETED),
                (Some("3"), "task_completed")
            ],
            "{path}"
        );
        let (_, _, step) = &events[1];
        assert_eq!(step["event"], steps::LLM_CALL_COMPLETED);
        assert_eq!(step["data"]["event_id"], "uid-done-1");
        assert_eq!(step["data"]["data"]["message"], "step 1");
        assert_eq!(step["data"]["data"]["agent_id"], "uid-helper");
        let (_, _, end) = &events[3];
        assert_eq!(end["data"]["status"], "completed");
        assert_eq!(end["data"]["reason"], reasons::COMPLETED);
        assert_eq!(end["data"]["result"], "done");
    }
}

#[tokio::test]
async fn a_resumed_stream_sends_only_what_follows_its_id() {
    let request = stream_request("/v1/tasks/done/events", Some("2"));
    let (_, events) = sse_events(app_with(objects()), request).await;
    assert_eq!(names(&events), [(Some("3"), "task_completed")]);

    let request = stream_request("/v1/tasks/done/events", Some("3"));
    let (status, events) = sse_events(app_with(objects()), request).await;
    assert_eq!(status, 200);
    assert!(
        events.is_empty(),
        "resuming after the end ends at once: {events:?}"
    );
}

#[tokio::test]
async fn a_running_task_streams_what_it_has_and_stays_open() {
    let request = stream_request("/v1/tasks/uid-running/events", None);
    let (_, events) = sse_events(app_with(objects()), request).await;
    assert_eq!(
        names(&events),
        [(None, "connected"), (Some("1"), steps::LLM_CALL_STARTED)]
    );
    let (_, _, step) = &events[1];
    assert_eq!(
        step["data"]["data"]["k"], "v",
        "the step's data is the payload"
    );
    assert_eq!(step["data"]["data"]["execution_id"], "run-1");
}

#[tokio::test]
async fn the_workspace_stream_opens_with_connected_or_asks_to_resync() {
    let (status, events) = sse_events(app(), stream_request("/v1/events", None)).await;
    assert_eq!(status, 200);
    assert_eq!(names(&events)[0].1, "connected");
    assert_eq!(events[0].2["data"]["workspace"], WORKSPACE);
    let position = events[0]
        .0
        .as_deref()
        .expect("connected carries the stream's position");
    assert!(position.starts_with("v1."), "{position}");

    // An id that is not a position of this stream (another format, garbage) asks the client to
    // re-list, and gives it a position to continue from.
    for foreign in ["another-process-7", "v1.agent=x", ""] {
        let request = stream_request("/v1/events", Some(foreign));
        let (_, events) = sse_events(app(), request).await;
        assert_eq!(names(&events), [(Some(position), "resync")], "{foreign:?}");
    }
}
