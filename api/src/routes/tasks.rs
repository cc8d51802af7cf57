//! `/v1/tasks` and the per-agent task routes: Tasks created through the API, their status and
//! results, their run events as JSON pages and as SSE, and cancellation.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, Sse};
use axum::routing::{get, post};
use futures::Stream;
use kube::ResourceExt;

use agentarea_crds::{Agent, Task};

use crate::auth::Identity;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{JsonBody, PathParams, QueryParams};
use crate::model::tasks::{
    AgentTaskCreate, ApprovalCreate, TaskCreate, TaskEventPage, TaskEventParams, TaskIds,
    TaskListParams, TaskResponse, approval_patch, cancel_patch, check_cancellable, event_page,
    pause_patch, phase, present,
};
use crate::resources::{PageParams, paginate};
use crate::state::{AppState, Served};
use crate::stream::task::{resume_after, stream};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/tasks", get(list_tasks).post(create_task))
        .route("/v1/tasks/{id}", get(get_task).delete(delete_task))
        .route("/v1/tasks/{id}/events", get(stream_task_events))
        .route("/v1/tasks/{id}/cancel", post(cancel_task))
        .route("/v1/tasks/{id}/pause", post(pause_task))
        .route("/v1/tasks/{id}/resume", post(resume_task))
        .route("/v1/tasks/{id}/approvals", post(decide_tool_call))
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

/// Create a task and start it.
#[utoipa::path(post, path = "/v1/tasks", tag = "tasks", request_body = TaskCreate,
    responses((status = 201, body = TaskResponse), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "The agent does not exist"), (status = 422, body = ErrorBody)))]
pub async fn create_task(
    State(state): State<AppState>,
    caller: Identity,
    JsonBody(body): JsonBody<TaskCreate>,
) -> ApiResult<(StatusCode, Json<TaskResponse>)> {
    let (agent_id, body) = body.split();
    let agent = state.find::<Agent>(&caller, &agent_id)?;
    let task = submit(&state, &caller, &agent, body).await?;
    Ok((StatusCode::CREATED, Json(present(&task, &state.agents))))
}

/// List the workspace's tasks, newest first.
#[utoipa::path(get, path = "/v1/tasks", tag = "tasks", params(TaskListParams, PageParams),
    responses((status = 200, body = Vec<TaskResponse>), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_tasks(
    State(state): State<AppState>,
    caller: Identity,
    QueryParams(filter): QueryParams<TaskListParams>,
    QueryParams(page): QueryParams<PageParams>,
) -> ApiResult<(HeaderMap, Json<Vec<TaskResponse>>)> {
    // An unknown agent filters everything out rather than failing the list.
    let agent = filter.agent_id.as_ref().map(|id| {
        state
            .find::<Agent>(&caller, id)
            .map(|a| a.name_any())
            .unwrap_or_default()
    });
    list(&state, &caller, agent.as_deref(), &filter, &page)
}

/// Get a task with its status and result.
#[utoipa::path(get, path = "/v1/tasks/{id}", tag = "tasks", params(("id" = String, Path)),
    responses((status = 200, body = TaskResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_task(
    State(state): State<AppState>,
    caller: Identity,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<TaskResponse>> {
    let task = state.find::<Task>(&caller, &id)?;
    Ok(Json(present(&task, &state.agents)))
}

/// Stream a task's run as Server-Sent Events. Each event's id is the step's sequence number; send
/// it back as `Last-Event-ID` to resume after it. The stream ends after the task does.
#[utoipa::path(get, path = "/v1/tasks/{id}/events", tag = "tasks", params(("id" = String, Path),
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event")),
    responses((status = 200, description = "text/event-stream of run events", content_type = "text/event-stream"),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn stream_task_events(
    State(state): State<AppState>,
    caller: Identity,
    PathParams(id): PathParams<String>,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let task = state.find::<Task>(&caller, &id)?;
    let open = state.open_stream(&caller, "task")?;
    Ok(stream(state, &task, open, resume_after(&headers), false))
}

/// Cancel a task: a running task stops at its next step. `DELETE /v1/tasks/{id}` does the same,
/// as the per-agent route does; the Task itself stays until its TTL, with its history.
#[utoipa::path(post, path = "/v1/tasks/{id}/cancel", tag = "tasks", params(("id" = String, Path)),
    responses((status = 200, body = TaskResponse), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "Already finished")))]
pub async fn cancel_task(
    State(state): State<AppState>,
    caller: Identity,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<TaskResponse>> {
    let task = state.find::<Task>(&caller, &id)?;
    Ok(Json(cancel(&state, &caller, &task).await?))
}

/// Cancel a task, as `POST /v1/tasks/{id}/cancel` does: a task is not deleted through the API.
#[utoipa::path(delete, path = "/v1/tasks/{id}", tag = "tasks", params(("id" = String, Path)),
    responses((status = 200, body = TaskResponse), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "Already finished")))]
pub async fn delete_task(
    state: State<AppState>,
    caller: Identity,
    id: PathParams<String>,
) -> ApiResult<Json<TaskResponse>> {
    cancel_task(state, caller, id).await
}

/// Pause a task: the run stops once the model or tool calls in flight have finished, keeps its
/// conversation and holds no operator slot while paused (`status` becomes `paused`). Pausing a
/// paused task changes nothing.
#[utoipa::path(post, path = "/v1/tasks/{id}/pause", tag = "tasks", params(("id" = String, Path)),
    responses((status = 200, body = TaskResponse), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "Already finished")))]
pub async fn pause_task(
    State(state): State<AppState>,
    caller: Identity,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<TaskResponse>> {
    let task = state.find::<Task>(&caller, &id)?;
    Ok(Json(set_paused(&state, &caller, &task, true).await?))
}

/// Resume a paused task where it stopped, on whichever operator replica claims it. Resuming a
/// task that is not paused changes nothing.
#[utoipa::path(post, path = "/v1/tasks/{id}/resume", tag = "tasks", params(("id" = String, Path)),
    responses((status = 200, body = TaskResponse), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "Already finished")))]
pub async fn resume_task(
    State(state): State<AppState>,
    caller: Identity,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<TaskResponse>> {
    let task = state.find::<Task>(&caller, &id)?;
    Ok(Json(set_paused(&state, &caller, &task, false).await?))
}

/// Approve or reject a tool call that waits for approval (one of the task's
/// `pending_approvals`). The decision is recorded with the caller's identity and cannot be
/// changed; once every waiting call is decided the run goes on, and a rejected call's reason goes
/// back to the model as the tool's answer.
#[utoipa::path(post, path = "/v1/tasks/{id}/approvals", tag = "tasks", params(("id" = String, Path)),
    request_body = ApprovalCreate,
    responses((status = 200, body = TaskResponse), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "No such task, or the call does not wait for approval"),
              (status = 409, body = ErrorBody, description = "The task has finished, or the call was already decided"),
              (status = 422, body = ErrorBody)))]
pub async fn decide_tool_call(
    State(state): State<AppState>,
    caller: Identity,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<ApprovalCreate>,
) -> ApiResult<Json<TaskResponse>> {
    let task = state.find::<Task>(&caller, &id)?;
    let decision = body.decision_for(&task, &caller)?;
    let writer = state.writer::<Task>(&caller);
    let updated = match writer
        .merge_patch(&task.name_any(), &approval_patch(&task, decision))
        .await
    {
        Ok(updated) => updated,
        // Someone else wrote the task meanwhile (another decision, the runner): decide again
        // on the stored version, once.
        Err(error) if error.status == StatusCode::CONFLICT => {
            let fresh = writer.api.get(&task.name_any()).await?;
            let decision = body.decision_for(&fresh, &caller)?;
            writer
                .merge_patch(&fresh.name_any(), &approval_patch(&fresh, decision))
                .await?
        }
        Err(error) => return Err(error),
    };
    Ok(Json(present(&updated, &state.agents)))
}

/// Pause one of the agent's tasks, as `POST /v1/tasks/{id}/pause` does.
#[utoipa::path(post, path = "/v1/agents/{agent_id}/tasks/{task_id}/pause", tag = "tasks",
    params(("agent_id" = String, Path), ("task_id" = String, Path)),
    responses((status = 200, body = TaskResponse), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn pause_agent_task(
    State(state): State<AppState>,
    caller: Identity,
    PathParams((agent_id, task_id)): PathParams<(String, String)>,
) -> ApiResult<Json<TaskResponse>> {
    let task = find_agent_task(&state, &caller, &agent_id, &task_id)?;
    Ok(Json(set_paused(&state, &caller, &task, true).await?))
}

/// Resume one of the agent's tasks, as `POST /v1/tasks/{id}/resume` does.
#[utoipa::path(post, path = "/v1/agents/{agent_id}/tasks/{task_id}/resume", tag = "tasks",
    params(("agent_id" = String, Path), ("task_id" = String, Path)),
    responses((status = 200, body = TaskResponse), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn resume_agent_task(
    State(state): State<AppState>,
    caller: Identity,
    PathParams((agent_id, task_id)): PathParams<(String, String)>,
) -> ApiResult<Json<TaskResponse>> {
    let task = find_agent_task(&state, &caller, &agent_id, &task_id)?;
    Ok(Json(set_paused(&state, &caller, &task, false).await?))
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

/// Cancel one of the agent's tasks.
#[utoipa::path(delete, path = "/v1/agents/{agent_id}/tasks/{task_id}", tag = "tasks",
    params(("agent_id" = String, Path), ("task_id" = String, Path)),
    responses((status = 200, body = TaskResponse), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn cancel_agent_task(
    State(state): State<AppState>,
    caller: Identity,
    PathParams((agent_id, task_id)): PathParams<(String, String)>,
) -> ApiResult<Json<TaskResponse>> {
    let task = find_agent_task(&state, &caller, &agent_id, &task_id)?;
    Ok(Json(cancel(&state, &caller, &task).await?))
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

async fn submit(
    state: &AppState,
    caller: &Identity,
    agent: &Agent,
    body: AgentTaskCreate,
) -> ApiResult<Task> {
    let namespace = state.namespace(caller);
    let task = body.into_task(agent, &namespace, caller)?;
    state.writer(caller).create(&task).await
}

async fn cancel(state: &AppState, caller: &Identity, task: &Task) -> ApiResult<TaskResponse> {
    check_cancellable(task)?;
    let updated = state
        .writer::<Task>(caller)
        .merge_patch(&task.name_any(), &cancel_patch())
        .await?;
    Ok(present(&updated, &state.agents))
}

async fn set_paused(
    state: &AppState,
    caller: &Identity,
    task: &Task,
    paused: bool,
) -> ApiResult<TaskResponse> {
    let patch = pause_patch(task, paused)?;
    if task.spec.paused == paused {
        return Ok(present(task, &state.agents));
    }
    let updated = state
        .writer::<Task>(caller)
        .merge_patch(&task.name_any(), &patch)
        .await?;
    Ok(present(&updated, &state.agents))
}

fn list(
    state: &AppState,
    caller: &Identity,
    agent: Option<&str>,
    filter: &TaskListParams,
    page: &PageParams,
) -> ApiResult<(HeaderMap, Json<Vec<TaskResponse>>)> {
    let mut tasks = state.list::<Task>(caller);
    tasks.retain(|t| filter.matches(t, agent, caller));
    let page = paginate(tasks, page)?;
    let body = page
        .items
        .iter()
        .map(|t| present(t, &state.agents))
        .collect();
    Ok((page.headers(), Json(body)))
}
