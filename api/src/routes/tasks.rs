//! `/v1/tasks` and the per-agent task routes: Tasks created through the API, their status and
//! results, their run events as JSON pages and as SSE, and cancellation.

use std::convert::Infallible;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, Sse};
use axum::routing::{get, post};
use futures::Stream;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;

use agentarea_crds::{Agent, Task};

use crate::auth::Identity;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{JsonBody, PathParams, QueryParams};
use crate::model::tasks::{
    AgentTaskCreate, ApprovalCreate, TaskCreate, TaskListParams, TaskResponse, TaskStatusResponse,
    approval_patch, cancel_patch, check_cancellable, pause_patch, present, status_report,
};
use crate::resources::{PageParams, paginate};
use crate::state::AppState;
use crate::stream::task::{resume_after, stream};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/tasks", get(list_tasks).post(create_task))
        .route("/v1/tasks/{id}", get(get_task).delete(delete_task))
        .route("/v1/tasks/{id}/events", get(stream_task_events))
        .route("/v1/tasks/{id}/status", get(task_status))
        .route("/v1/tasks/{id}/cancel", post(cancel_task))
        .route("/v1/tasks/{id}/pause", post(pause_task))
        .route("/v1/tasks/{id}/resume", post(resume_task))
        .route("/v1/tasks/{id}/approvals", post(decide_tool_call))
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

/// The state of a task's execution: its status word, times, error and result (AgentArea's status
/// route, which its CLI calls without an agent).
#[utoipa::path(get, path = "/v1/tasks/{id}/status", tag = "tasks", params(("id" = String, Path)),
    responses((status = 200, body = TaskStatusResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn task_status(
    State(state): State<AppState>,
    caller: Identity,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<TaskStatusResponse>> {
    let task = state.find::<Task>(&caller, &id)?;
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    Ok(Json(status_report(&task, &state.agents, &now)))
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

pub(crate) async fn submit(
    state: &AppState,
    caller: &Identity,
    agent: &Agent,
    body: AgentTaskCreate,
) -> ApiResult<Task> {
    submit_labelled(state, caller, agent, body, None).await
}

/// [`submit`], the Task carrying one more label: what finds it again later (the MCP call that
/// made it, for instance).
pub(crate) async fn submit_labelled(
    state: &AppState,
    caller: &Identity,
    agent: &Agent,
    body: AgentTaskCreate,
    label: Option<(&str, String)>,
) -> ApiResult<Task> {
    let namespace = state.namespace(caller);
    let mut task = body.into_task(agent, &namespace, caller)?;
    if let Some((key, value)) = label {
        task.labels_mut().insert(key.to_string(), value);
    }
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

pub(super) fn list(
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
