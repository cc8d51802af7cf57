//! AgentArea's per-agent task routes, `/v1/agents/{agent_id}/tasks/...`, answered as AgentArea
//! answers them (its CLI and frontend call these): the task routes of `tasks.rs` seen through one
//! agent, plus the status route, and the action routes' own bodies and status codes
//! (`crate::model::tasks::actions`).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, Sse};
use axum::routing::{get, post};
use futures::Stream;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;

use agentarea_crds::{Agent, Task};

use super::tasks::{list, submit};
use crate::auth::Identity;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{JsonBody, PathParams, QueryParams};
use crate::model::tasks::{
    AgentTaskCreate, TaskAction, TaskActionResponse, TaskEventPage, TaskEventParams, TaskIds,
    TaskListParams, TaskResponse, TaskStatusResponse, acknowledgement, cancel_patch, event_page,
    pause_patch, phase, present, refusal, status_report,
};
use crate::resources::PageParams;
use crate::state::{AppState, Served};
use crate::stream::task::{resume_after, stream};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/agents/{agent_id}/tasks",
            get(list_agent_tasks).post(create_agent_task_streaming),
        )
        .route(
            "/v1/agents/{agent_id}/tasks/sync",
            post(create_agent_task_sync),
        )
        .route(
            "/v1/agents/{agent_id}/tasks/{task_id}",
            get(get_agent_task).delete(cancel_agent_task),
        )
        .route(
            "/v1/agents/{agent_id}/tasks/{task_id}/status",
            get(agent_task_status),
        )
        .route(
            "/v1/agents/{agent_id}/tasks/{task_id}/pause",
            post(pause_agent_task),
        )
        .route(
            "/v1/agents/{agent_id}/tasks/{task_id}/resume",
            post(resume_agent_task),
        )
        .route(
            "/v1/agents/{agent_id}/tasks/{task_id}/events",
            get(list_agent_task_events),
        )
        .route(
            "/v1/agents/{agent_id}/tasks/{task_id}/events/stream",
            get(stream_agent_task_events),
        )
}

/// The state of one of the agent's task's execution: its status word, times, error and result.
#[utoipa::path(get, path = "/v1/agents/{agent_id}/tasks/{task_id}/status", tag = "tasks",
    params(("agent_id" = String, Path), ("task_id" = String, Path)),
    responses((status = 200, body = TaskStatusResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn agent_task_status(
    State(state): State<AppState>,
    caller: Identity,
    PathParams((agent_id, task_id)): PathParams<(String, String)>,
) -> ApiResult<Json<TaskStatusResponse>> {
    let task = find_agent_task(&state, &caller, &agent_id, &task_id)?;
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    Ok(Json(status_report(&task, &state.agents, &now)))
}

/// Cancel one of the agent's tasks: a running task stops at its next step and keeps its history.
/// A task that has ended is 404, as AgentArea answers it.
#[utoipa::path(delete, path = "/v1/agents/{agent_id}/tasks/{task_id}", tag = "tasks",
    params(("agent_id" = String, Path), ("task_id" = String, Path)),
    responses((status = 200, body = TaskActionResponse), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "No such task, or it has already ended")))]
pub async fn cancel_agent_task(
    State(state): State<AppState>,
    caller: Identity,
    PathParams((agent_id, task_id)): PathParams<(String, String)>,
) -> ApiResult<Json<TaskActionResponse>> {
    let task = find_agent_task(&state, &caller, &agent_id, &task_id)?;
    act(&state, &caller, &task, TaskAction::Cancel).await
}

/// Pause one of the agent's tasks (see `POST /v1/tasks/{id}/pause`). A task that has ended or is
/// already paused is 400, as AgentArea answers it.
#[utoipa::path(post, path = "/v1/agents/{agent_id}/tasks/{task_id}/pause", tag = "tasks",
    params(("agent_id" = String, Path), ("task_id" = String, Path)),
    responses((status = 200, body = TaskActionResponse), (status = 401, body = ErrorBody),
              (status = 400, body = ErrorBody, description = "The task has ended, or is already paused"),
              (status = 404, body = ErrorBody)))]
pub async fn pause_agent_task(
    State(state): State<AppState>,
    caller: Identity,
    PathParams((agent_id, task_id)): PathParams<(String, String)>,
) -> ApiResult<Json<TaskActionResponse>> {
    let task = find_agent_task(&state, &caller, &agent_id, &task_id)?;
    act(&state, &caller, &task, TaskAction::Pause).await
}

/// Resume one of the agent's paused tasks (see `POST /v1/tasks/{id}/resume`). A task that has
/// ended or is not paused is 400, as AgentArea answers it.
#[utoipa::path(post, path = "/v1/agents/{agent_id}/tasks/{task_id}/resume", tag = "tasks",
    params(("agent_id" = String, Path), ("task_id" = String, Path)),
    responses((status = 200, body = TaskActionResponse), (status = 401, body = ErrorBody),
              (status = 400, body = ErrorBody, description = "The task has ended, or is not paused"),
              (status = 404, body = ErrorBody)))]
pub async fn resume_agent_task(
    State(state): State<AppState>,
    caller: Identity,
    PathParams((agent_id, task_id)): PathParams<(String, String)>,
) -> ApiResult<Json<TaskActionResponse>> {
    let task = find_agent_task(&state, &caller, &agent_id, &task_id)?;
    act(&state, &caller, &task, TaskAction::Resume).await
}

/// Create a task for the agent and stream its run (SSE): `connected`, `task_created`, the run's
/// events, then `task_completed`, `task_failed` or `task_cancelled`.
#[utoipa::path(post, path = "/v1/agents/{agent_id}/tasks", tag = "tasks", params(("agent_id" = String, Path)),
    request_body = AgentTaskCreate,
    responses((status = 200, description = "text/event-stream of the run", content_type = "text/event-stream"),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_agent_task_streaming(
    State(state): State<AppState>,
    caller: Identity,
    PathParams(agent_id): PathParams<String>,
    JsonBody(body): JsonBody<AgentTaskCreate>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let agent = state.find::<Agent>(&caller, &agent_id)?;
    // The place for the stream first: a task whose stream is refused is not started.
    let open = state.open_stream(&caller, "task")?;
    let task = submit(&state, &caller, &agent, body).await?;
    Ok(stream(state, &task, open, None, true))
}

/// Create a task for the agent, wait until it finishes, and answer the task.
#[utoipa::path(post, path = "/v1/agents/{agent_id}/tasks/sync", tag = "tasks", params(("agent_id" = String, Path)),
    request_body = AgentTaskCreate,
    responses((status = 200, body = TaskResponse), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_agent_task_sync(
    State(state): State<AppState>,
    caller: Identity,
    PathParams(agent_id): PathParams<String>,
    JsonBody(body): JsonBody<AgentTaskCreate>,
) -> ApiResult<Json<TaskResponse>> {
    let agent = state.find::<Agent>(&caller, &agent_id)?;
    let task = submit(&state, &caller, &agent, body).await?;
    let namespace = task.namespace().unwrap_or_default();
    let name = task.name_any();
    // The agent's own timeout bounds the run; a little more covers queueing.
    let limit = Duration::from_secs(agent.spec.limits.timeout_seconds.max(1) as u64 + 30);
    // A task that stops to wait (paused, or for approval) is answered as it stands.
    state
        .tasks
        .wait_for(&namespace, &name, limit, |t| {
            phase(t).is_finished() || phase(t).is_suspended()
        })
        .await;
    let task = state.tasks.get(&namespace, &name).unwrap_or(Arc::new(task));
    Ok(Json(present(&task, &state.agents)))
}

/// List the agent's tasks, newest first.
#[utoipa::path(get, path = "/v1/agents/{agent_id}/tasks", tag = "tasks", params(("agent_id" = String, Path), TaskListParams, PageParams),
    responses((status = 200, body = Vec<TaskResponse>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_agent_tasks(
    State(state): State<AppState>,
    caller: Identity,
    PathParams(agent_id): PathParams<String>,
    QueryParams(filter): QueryParams<TaskListParams>,
    QueryParams(page): QueryParams<PageParams>,
) -> ApiResult<(HeaderMap, Json<Vec<TaskResponse>>)> {
    let agent = state.find::<Agent>(&caller, &agent_id)?;
    list(&state, &caller, Some(&agent.name_any()), &filter, &page)
}

/// Get one of the agent's tasks.
#[utoipa::path(get, path = "/v1/agents/{agent_id}/tasks/{task_id}", tag = "tasks",
    params(("agent_id" = String, Path), ("task_id" = String, Path)),
    responses((status = 200, body = TaskResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_agent_task(
    State(state): State<AppState>,
    caller: Identity,
    PathParams((agent_id, task_id)): PathParams<(String, String)>,
) -> ApiResult<Json<TaskResponse>> {
    let task = find_agent_task(&state, &caller, &agent_id, &task_id)?;
    Ok(Json(present(&task, &state.agents)))
}

/// The stored events of a run, a page at a time.
#[utoipa::path(get, path = "/v1/agents/{agent_id}/tasks/{task_id}/events", tag = "tasks",
    params(("agent_id" = String, Path), ("task_id" = String, Path), TaskEventParams),
    responses((status = 200, body = TaskEventPage), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_agent_task_events(
    State(state): State<AppState>,
    caller: Identity,
    PathParams((agent_id, task_id)): PathParams<(String, String)>,
    QueryParams(params): QueryParams<TaskEventParams>,
) -> ApiResult<Json<TaskEventPage>> {
    let task = find_agent_task(&state, &caller, &agent_id, &task_id)?;
    let ids = TaskIds::of(&task, &state.agents);
    Ok(Json(event_page(&task, &ids, &params)?))
}

/// Stream one of the agent's tasks (SSE), as `GET /v1/tasks/{id}/events`.
#[utoipa::path(get, path = "/v1/agents/{agent_id}/tasks/{task_id}/events/stream", tag = "tasks",
    params(("agent_id" = String, Path), ("task_id" = String, Path)),
    responses((status = 200, description = "text/event-stream of run events", content_type = "text/event-stream"),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn stream_agent_task_events(
    State(state): State<AppState>,
    caller: Identity,
    PathParams((agent_id, task_id)): PathParams<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let task = find_agent_task(&state, &caller, &agent_id, &task_id)?;
    let open = state.open_stream(&caller, "task")?;
    Ok(stream(state, &task, open, resume_after(&headers), false))
}

/// Takes `action` on `task` unless AgentArea would refuse it, and answers its way.
async fn act(
    state: &AppState,
    caller: &Identity,
    task: &Task,
    action: TaskAction,
) -> ApiResult<Json<TaskActionResponse>> {
    if let Some(refused) = refusal(action, phase(task), task.spec.paused) {
        return Err(refused);
    }
    let patch = match action {
        TaskAction::Cancel => cancel_patch(),
        TaskAction::Pause => pause_patch(task, true)?,
        TaskAction::Resume => pause_patch(task, false)?,
    };
    let updated = state
        .writer::<Task>(caller)
        .merge_patch(&task.name_any(), &patch)
        .await?;
    Ok(Json(acknowledgement(action, &updated)))
}

/// A task of the agent; a task of another agent is as missing as one that does not exist.
fn find_agent_task(
    state: &AppState,
    caller: &Identity,
    agent_id: &str,
    task_id: &str,
) -> ApiResult<Arc<Task>> {
    let agent = state.find::<Agent>(caller, agent_id)?;
    let task = state.find::<Task>(caller, task_id)?;
    if task.spec.agent != agent.name_any() {
        return Err(ApiError::not_found(Task::NOT_FOUND));
    }
    Ok(task)
}
