//! The SSE stream of one task's run. Event ids are step sequence numbers, stored in the Task, so
//! a client resumes with `Last-Event-ID` across api restarts and replicas.

use std::collections::VecDeque;
use std::convert::Infallible;

use axum::http::HeaderMap;
use axum::response::sse::{Event, Sse};
use futures::Stream;
use kube::ResourceExt;
use serde_json::json;
use tokio::sync::watch;

use agentarea_crds::{Task, TaskPhase};

use crate::limits::StreamPermit;
use crate::model::now;
use crate::model::tasks::{TaskIds, phase, present, rest_status, steps};
use crate::state::AppState;
use crate::stream::{last_event_id, sse_event, sse_response};

/// The step a resuming client saw last.
pub fn resume_after(headers: &HeaderMap) -> Option<i64> {
    last_event_id(headers).and_then(|v| v.trim().parse().ok())
}

/// Where a task's SSE stream stands: the next step to send, and what is queued to go out.
struct TaskStream {
    state: AppState,
    namespace: String,
    name: String,
    ids: TaskIds,
    after: i64,
    queue: VecDeque<Event>,
    done: bool,
    changes: watch::Receiver<u64>,
    /// Counts the stream as open while it lives.
    _open: StreamPermit,
}

/// The SSE stream of one task's run. Reads the task from the cache on every change and sends the
/// steps it has not sent yet, so a slow client never holds a growing queue: it catches up from
/// the object when it reads again. `announce_creation` adds the opening events of the
/// create-and-stream route.
pub fn stream(
    state: AppState,
    task: &Task,
    open: StreamPermit,
    last_event_id: Option<i64>,
    announce_creation: bool,
) -> Sse<impl Stream<Item = Result<Event, Infallible>> + use<>> {
    let ids = TaskIds::of(task, &state.agents);
    let mut queue = VecDeque::new();
    if last_event_id.is_none() {
        queue.push_back(sse_event(
            None,
            "connected",
            &ids.payload(json!({ "timestamp": now() })),
        ));
    }
    if announce_creation {
        let task = present(task, &state.agents);
        queue.push_back(sse_event(
            None,
            "task_created",
            &ids.payload(json!({ "timestamp": now(), "task": task })),
        ));
    }
    let initial = TaskStream {
        changes: state.tasks.subscribe(),
        _open: open,
        namespace: task.namespace().unwrap_or_default(),
        name: task.name_any(),
        state,
        ids,
        after: last_event_id.unwrap_or(0),
        queue,
        done: false,
    };
    sse_response(futures::stream::unfold(initial, |mut s| async move {
        loop {
            if let Some(event) = s.queue.pop_front() {
                return Some((Ok(event), s));
            }
            if s.done {
                return None;
            }
            s.refill();
            if s.queue.is_empty() && !s.done && s.changes.changed().await.is_err() {
                return None;
            }
        }
    }))
}

impl TaskStream {
    fn refill(&mut self) {
        let Some(task) = self.state.tasks.get(&self.namespace, &self.name) else {
            let payload = self.ids.payload(json!({
                "error": "The task was deleted", "error_type": "TaskDeleted", "timestamp": now()
            }));
            self.queue.push_back(sse_event(None, "error", &payload));
            self.done = true;
            return;
        };
        self.ids.execution_id = task.status.as_ref().and_then(|s| s.execution_id.clone());
        self.push_new_steps(&task);
        if phase(&task).is_finished() {
            self.push_end(&task);
            self.done = true;
        }
    }

    fn push_new_steps(&mut self, task: &Task) {
        let after = self.after;
        for step in steps(task).iter().filter(|s| s.seq > after) {
            let mut data = step.data.clone().unwrap_or_else(|| json!({}));
            if let (Some(message), Some(object)) = (&step.message, data.as_object_mut()) {
                object.entry("message").or_insert(json!(message));
            }
            let payload = json!({
                "event_type": step.type_,
                "event_id": self.ids.event_id(step.seq),
                "timestamp": step.time.0.to_string(),
                "data": self.ids.payload(data),
            });
            self.queue
                .push_back(sse_event(Some(step.seq.to_string()), &step.type_, &payload));
            self.after = step.seq;
        }
    }

    /// The terminal event. Its id is one past the last step, so resuming after it ends at once.
    fn push_end(&mut self, task: &Task) {
        let end = steps(task).last().map_or(0, |s| s.seq) + 1;
        if self.after >= end {
            return;
        }
        let phase = phase(task);
        let name = match phase {
            TaskPhase::Succeeded => "task_completed",
            TaskPhase::Cancelled => "task_cancelled",
            _ => "task_failed",
        };
        let status = task.status.as_ref();
        let payload = self.ids.payload(json!({
            "timestamp": now(),
            "status": rest_status(phase),
            "result": status.and_then(|s| s.result.clone()),
            "reason": status.and_then(|s| s.reason.clone()),
            "message": status.and_then(|s| s.message.clone()),
        }));
        self.queue
            .push_back(sse_event(Some(end.to_string()), name, &payload));
    }
}
