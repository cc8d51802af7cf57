//! `/v1/tasks` and the per-agent task routes: Tasks created through the API, their status and
//! results, their run events as JSON pages and as SSE, and cancellation.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, Sse};
use axum::routing::{get, post};
use futures::Stream;
use kube::ResourceExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::watch;
use utoipa::{IntoParams, ToSchema};

use agentarea_crds::task::{Requester, TaskStep};
use agentarea_crds::{Agent, Task, TaskPhase, TaskSpec};

use crate::auth::Identity;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::events::{sse_event, sse_response};
use crate::extract::{JsonBody, QueryParams};
use crate::resources::{
    PageParams, Writer, created_by, display_name, new_metadata, paginate, timestamps,
};
use crate::state::AppState;

pub use agentarea_crds::common::AGENT_LABEL;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/tasks", get(list_tasks).post(create_task))
        .route("/v1/tasks/{id}", get(get_task).delete(cancel_task))
        .route("/v1/tasks/{id}/events", get(stream_task_events))
        .route("/v1/tasks/{id}/cancel", post(cancel_task))
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
            "/v1/agents/{agent_id}/tasks/{task_id}/events",
            get(list_agent_task_events),
        )
        .route(
            "/v1/agents/{agent_id}/tasks/{task_id}/events/stream",
            get(stream_agent_task_events),
        )
}

/// The body of `POST /v1/tasks`: the per-agent body plus the agent.
#[derive(Deserialize, Debug, ToSchema)]
pub struct TaskCreate {
    /// Id or name of the agent that runs the task.
    pub agent_id: String,
    #[serde(flatten)]
    pub task: AgentTaskCreate,
}

/// The body of the per-agent create routes (the agent is in the path).
#[derive(Deserialize, Debug, ToSchema)]
pub struct AgentTaskCreate {
    /// What the agent is asked to do.
    pub description: String,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub parameters: Option<Value>,
    /// Ignored: the caller's identity is recorded instead.
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub enable_agent_communication: Option<bool>,
    #[serde(default)]
    pub requires_human_approval: Option<bool>,
}

#[derive(Serialize, Debug, ToSchema)]
pub struct TaskResponse {
    pub id: String,
    pub agent_id: String,
    pub agent_name: String,
    pub description: String,
    #[schema(value_type = Object)]
    pub parameters: Value,
    /// `pending`, `running`, `completed`, `failed` or `cancelled`.
    pub status: String,
    /// Why it ended as it did (`Completed`, `ModelError`, `Timeout`, ...).
    pub reason: Option<String>,
    pub message: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub result: Option<Value>,
    pub execution_id: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub usage: Option<Value>,
    pub step_count: i64,
    pub k8s_name: String,
    pub created_by: Option<String>,
    pub created_at: Option<String>,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
}

#[derive(Deserialize, Debug, Default, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TaskListParams {
    /// Only tasks of this agent (id or name).
    pub agent_id: Option<String>,
    /// Only tasks with this status (`pending`, `running`, `completed`, `failed`, `cancelled`).
    pub status: Option<String>,
    /// `me`: only tasks the caller created.
    pub created_by: Option<String>,
}

#[derive(Serialize, Debug, ToSchema)]
pub struct TaskEventResponse {
    pub id: String,
    pub task_id: String,
    pub agent_id: String,
    pub execution_id: Option<String>,
    pub timestamp: String,
    pub event_type: String,
    pub message: Option<String>,
    #[schema(value_type = Object)]
    pub metadata: Value,
}

#[derive(Serialize, Debug, ToSchema)]
pub struct TaskEventPage {
    pub events: Vec<TaskEventResponse>,
    pub total: usize,
    pub page: usize,
    pub page_size: usize,
    pub has_next: bool,
}

#[derive(Deserialize, Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TaskEventParams {
    /// 1-based page number.
    pub page: Option<usize>,
    /// 1 to 100 (default 50).
    pub page_size: Option<usize>,
    pub event_type: Option<String>,
}

fn task_not_found() -> ApiError {
    ApiError::not_found("Task not found")
}

fn agent_not_found() -> ApiError {
    ApiError::not_found("Agent not found")
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
    let namespace = state.namespace(&caller);
    let agent = state
        .agents
        .find(&namespace, &body.agent_id)
        .ok_or_else(agent_not_found)?;
    let task = submit(&state, &caller, &agent, body.task).await?;
    Ok((StatusCode::CREATED, Json(present(&state, &task))))
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
    let namespace = state.namespace(&caller);
    let agent = match &filter.agent_id {
        Some(id) => Some(
            state
                .agents
                .find(&namespace, id)
                .map(|a| a.name_any())
                .unwrap_or_default(),
        ),
        None => None,
    };
    list(
        &state,
        &caller,
        &namespace,
        agent.as_deref(),
        &filter,
        &page,
    )
}

/// Get a task with its status and result.
#[utoipa::path(get, path = "/v1/tasks/{id}", tag = "tasks", params(("id" = String, Path)),
    responses((status = 200, body = TaskResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_task(
    State(state): State<AppState>,
    caller: Identity,
    Path(id): Path<String>,
) -> ApiResult<Json<TaskResponse>> {
    let task = find_task(&state, &caller, &id)?;
    Ok(Json(present(&state, &task)))
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
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let task = find_task(&state, &caller, &id)?;
    Ok(stream(state, &task, last_event_id(&headers), false))
}

/// Cancel a task: a running task stops at its next step. `DELETE /v1/tasks/{id}` does the same,
/// as the per-agent route does; the Task itself stays until its TTL, with its history.
#[utoipa::path(post, path = "/v1/tasks/{id}/cancel", tag = "tasks", params(("id" = String, Path)),
    responses((status = 200, body = TaskResponse), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "Already finished")))]
pub async fn cancel_task(
    State(state): State<AppState>,
    caller: Identity,
    Path(id): Path<String>,
) -> ApiResult<Json<TaskResponse>> {
    let task = find_task(&state, &caller, &id)?;
    Ok(Json(cancel(&state, &task).await?))
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
    Path(agent_id): Path<String>,
    JsonBody(body): JsonBody<AgentTaskCreate>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let agent = find_agent(&state, &caller, &agent_id)?;
    let task = submit(&state, &caller, &agent, body).await?;
    Ok(stream(state, &task, None, true))
}

/// Create a task for the agent, wait until it finishes, and answer the task.
#[utoipa::path(post, path = "/v1/agents/{agent_id}/tasks/sync", tag = "tasks", params(("agent_id" = String, Path)),
    request_body = AgentTaskCreate,
    responses((status = 200, body = TaskResponse), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_agent_task_sync(
    State(state): State<AppState>,
    caller: Identity,
    Path(agent_id): Path<String>,
    JsonBody(body): JsonBody<AgentTaskCreate>,
) -> ApiResult<Json<TaskResponse>> {
    let agent = find_agent(&state, &caller, &agent_id)?;
    let task = submit(&state, &caller, &agent, body).await?;
    let namespace = task.namespace().unwrap_or_default();
    let name = task.name_any();
    // The agent's own timeout bounds the run; a little more covers queueing.
    let limit = Duration::from_secs(agent.spec.limits.timeout_seconds.max(1) as u64 + 30);
    let mut changes = state.tasks.subscribe();
    let finished = tokio::time::timeout(limit, async {
        loop {
            if let Some(task) = state.tasks.get(&namespace, &name)
                && phase(&task).is_finished()
            {
                return task;
            }
            if changes.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    })
    .await;
    let task =
        finished.unwrap_or_else(|_| state.tasks.get(&namespace, &name).unwrap_or(Arc::new(task)));
    Ok(Json(present(&state, &task)))
}

/// List the agent's tasks, newest first.
#[utoipa::path(get, path = "/v1/agents/{agent_id}/tasks", tag = "tasks", params(("agent_id" = String, Path), TaskListParams, PageParams),
    responses((status = 200, body = Vec<TaskResponse>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_agent_tasks(
    State(state): State<AppState>,
    caller: Identity,
    Path(agent_id): Path<String>,
    QueryParams(filter): QueryParams<TaskListParams>,
    QueryParams(page): QueryParams<PageParams>,
) -> ApiResult<(HeaderMap, Json<Vec<TaskResponse>>)> {
    let agent = find_agent(&state, &caller, &agent_id)?;
    let namespace = state.namespace(&caller);
    list(
        &state,
        &caller,
        &namespace,
        Some(&agent.name_any()),
        &filter,
        &page,
    )
}

/// Get one of the agent's tasks.
#[utoipa::path(get, path = "/v1/agents/{agent_id}/tasks/{task_id}", tag = "tasks",
    params(("agent_id" = String, Path), ("task_id" = String, Path)),
    responses((status = 200, body = TaskResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_agent_task(
    State(state): State<AppState>,
    caller: Identity,
    Path((agent_id, task_id)): Path<(String, String)>,
) -> ApiResult<Json<TaskResponse>> {
    let task = find_agent_task(&state, &caller, &agent_id, &task_id)?;
    Ok(Json(present(&state, &task)))
}

/// Cancel one of the agent's tasks.
#[utoipa::path(delete, path = "/v1/agents/{agent_id}/tasks/{task_id}", tag = "tasks",
    params(("agent_id" = String, Path), ("task_id" = String, Path)),
    responses((status = 200, body = TaskResponse), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn cancel_agent_task(
    State(state): State<AppState>,
    caller: Identity,
    Path((agent_id, task_id)): Path<(String, String)>,
) -> ApiResult<Json<TaskResponse>> {
    let task = find_agent_task(&state, &caller, &agent_id, &task_id)?;
    Ok(Json(cancel(&state, &task).await?))
}

/// The stored events of a run, a page at a time.
#[utoipa::path(get, path = "/v1/agents/{agent_id}/tasks/{task_id}/events", tag = "tasks",
    params(("agent_id" = String, Path), ("task_id" = String, Path), TaskEventParams),
    responses((status = 200, body = TaskEventPage), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_agent_task_events(
    State(state): State<AppState>,
    caller: Identity,
    Path((agent_id, task_id)): Path<(String, String)>,
    QueryParams(params): QueryParams<TaskEventParams>,
) -> ApiResult<Json<TaskEventPage>> {
    let task = find_agent_task(&state, &caller, &agent_id, &task_id)?;
    let page = params.page.unwrap_or(1);
    let page_size = params.page_size.unwrap_or(50);
    if page == 0 {
        return Err(ApiError::unprocessable("page: must be at least 1"));
    }
    if !(1..=100).contains(&page_size) {
        return Err(ApiError::unprocessable(
            "page_size: must be between 1 and 100",
        ));
    }
    let ids = Ids::of(&state, &task);
    let steps: Vec<&TaskStep> = steps(&task)
        .iter()
        .filter(|s| params.event_type.as_deref().is_none_or(|t| s.type_ == t))
        .collect();
    let total = steps.len();
    let events = steps
        .into_iter()
        .skip((page - 1) * page_size)
        .take(page_size)
        .map(|step| TaskEventResponse {
            id: format!("{}-{}", ids.task_id, step.seq),
            task_id: ids.task_id.clone(),
            agent_id: ids.agent_id.clone(),
            execution_id: ids.execution_id.clone(),
            timestamp: step.time.0.to_string(),
            event_type: step.type_.clone(),
            message: step.message.clone(),
            metadata: step.data.clone().unwrap_or_else(|| json!({})),
        })
        .collect();
    Ok(Json(TaskEventPage {
        events,
        total,
        page,
        page_size,
        has_next: page * page_size < total,
    }))
}

/// Stream one of the agent's tasks (SSE), as `GET /v1/tasks/{id}/events`.
#[utoipa::path(get, path = "/v1/agents/{agent_id}/tasks/{task_id}/events/stream", tag = "tasks",
    params(("agent_id" = String, Path), ("task_id" = String, Path)),
    responses((status = 200, description = "text/event-stream of run events", content_type = "text/event-stream"),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn stream_agent_task_events(
    State(state): State<AppState>,
    caller: Identity,
    Path((agent_id, task_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let task = find_agent_task(&state, &caller, &agent_id, &task_id)?;
    Ok(stream(state, &task, last_event_id(&headers), false))
}

fn find_task(state: &AppState, caller: &Identity, id: &str) -> ApiResult<Arc<Task>> {
    state
        .tasks
        .find(&state.namespace(caller), id)
        .ok_or_else(task_not_found)
}

fn find_agent(state: &AppState, caller: &Identity, id: &str) -> ApiResult<Arc<Agent>> {
    state
        .agents
        .find(&state.namespace(caller), id)
        .ok_or_else(agent_not_found)
}

fn find_agent_task(
    state: &AppState,
    caller: &Identity,
    agent_id: &str,
    task_id: &str,
) -> ApiResult<Arc<Task>> {
    let agent = find_agent(state, caller, agent_id)?;
    let task = find_task(state, caller, task_id)?;
    if task.spec.agent != agent.name_any() {
        return Err(task_not_found());
    }
    Ok(task)
}

/// Creates the Task resource for `agent`.
async fn submit(
    state: &AppState,
    caller: &Identity,
    agent: &Agent,
    body: AgentTaskCreate,
) -> ApiResult<Task> {
    if body.description.trim().is_empty() {
        return Err(ApiError::unprocessable("description: must not be empty"));
    }
    if let Some(parameters) = &body.parameters
        && !parameters.is_object()
    {
        return Err(ApiError::unprocessable("parameters: must be an object"));
    }
    let namespace = state.ensure_namespace(caller).await?;
    let mut metadata = new_metadata(String::new(), None, &namespace, caller);
    metadata.name = None;
    metadata.generate_name = Some("task-".into());
    metadata.labels = Some([(AGENT_LABEL.to_string(), agent.name_any())].into());
    let task = Task {
        metadata,
        spec: TaskSpec {
            agent: agent.name_any(),
            input: body.description,
            parameters: body.parameters,
            requested_by: Some(Requester {
                user: Some(caller.subject.clone()),
                trigger: None,
            }),
            requires_human_approval: body.requires_human_approval,
            enable_agent_communication: body.enable_agent_communication,
            ..TaskSpec::default()
        },
        status: None,
    };
    Writer::new(&state.client, &state.tasks, &namespace)
        .create(&task)
        .await
}

async fn cancel(state: &AppState, task: &Task) -> ApiResult<TaskResponse> {
    if phase(task).is_finished() {
        return Err(ApiError::conflict(format!(
            "Task already {}",
            rest_status(phase(task))
        )));
    }
    let namespace = task.namespace().unwrap_or_default();
    let updated = Writer::new(&state.client, &state.tasks, &namespace)
        .merge_patch(&task.name_any(), &json!({ "spec": { "cancel": true } }))
        .await?;
    Ok(present(state, &updated))
}

fn list(
    state: &AppState,
    caller: &Identity,
    namespace: &str,
    agent: Option<&str>,
    filter: &TaskListParams,
    page: &PageParams,
) -> ApiResult<(HeaderMap, Json<Vec<TaskResponse>>)> {
    if let Some(status) = &filter.status
        && ![
            "pending",
            "submitted",
            "running",
            "completed",
            "failed",
            "cancelled",
        ]
        .contains(&status.as_str())
    {
        return Err(ApiError::unprocessable(
            "status: must be one of pending, running, completed, failed, cancelled",
        ));
    }
    let mut tasks = state.tasks.list(namespace);
    tasks.retain(|t| {
        agent.is_none_or(|a| t.spec.agent == a)
            && filter.status.as_deref().is_none_or(|s| {
                let status = rest_status(phase(t));
                status == s || (s == "submitted" && status == "pending")
            })
            && (filter.created_by.as_deref() != Some("me")
                || created_by(&t.metadata).as_deref() == Some(caller.subject.as_str()))
    });
    let page = paginate(tasks, page)?;
    let body = page.items.iter().map(|t| present(state, t)).collect();
    Ok((page.headers(), Json(body)))
}

pub fn phase(task: &Task) -> TaskPhase {
    task.status
        .as_ref()
        .and_then(|s| s.phase)
        .unwrap_or(TaskPhase::Pending)
}

/// AgentArea's status words for the phases.
pub fn rest_status(phase: TaskPhase) -> &'static str {
    match phase {
        TaskPhase::Pending => "pending",
        TaskPhase::Running => "running",
        TaskPhase::Succeeded => "completed",
        TaskPhase::Failed => "failed",
        TaskPhase::Cancelled => "cancelled",
    }
}

fn steps(task: &Task) -> &[TaskStep] {
    task.status.as_ref().map_or(&[], |s| &s.steps)
}

/// The REST ids a task's events carry.
struct Ids {
    task_id: String,
    agent_id: String,
    execution_id: Option<String>,
}

impl Ids {
    fn of(state: &AppState, task: &Task) -> Self {
        let namespace = task.namespace().unwrap_or_default();
        Self {
            task_id: task.uid().unwrap_or_default(),
            agent_id: agent_id(state, &namespace, &task.spec.agent),
            execution_id: task.status.as_ref().and_then(|s| s.execution_id.clone()),
        }
    }

    fn payload(&self, extra: Value) -> Value {
        let mut data = json!({
            "task_id": self.task_id,
            "agent_id": self.agent_id,
            "execution_id": self.execution_id,
        });
        if let (Some(data), Value::Object(extra)) = (data.as_object_mut(), extra) {
            for (k, v) in extra {
                data.entry(k).or_insert(v);
            }
        }
        data
    }
}

fn agent_id(state: &AppState, namespace: &str, agent_name: &str) -> String {
    state
        .agents
        .get(namespace, agent_name)
        .and_then(|a| a.uid())
        .unwrap_or_else(|| agent_name.to_string())
}

/// The REST shape of a task.
pub fn present(state: &AppState, task: &Task) -> TaskResponse {
    let namespace = task.namespace().unwrap_or_default();
    let status = task.status.as_ref();
    let (created_at, _) = timestamps(&task.metadata);
    let agent_name = state
        .agents
        .get(&namespace, &task.spec.agent)
        .map_or_else(|| task.spec.agent.clone(), |a| display_name(&a.metadata));
    TaskResponse {
        id: task.uid().unwrap_or_default(),
        agent_id: agent_id(state, &namespace, &task.spec.agent),
        agent_name,
        description: task.spec.input.clone(),
        parameters: task.spec.parameters.clone().unwrap_or_else(|| json!({})),
        status: rest_status(phase(task)).into(),
        reason: status.and_then(|s| s.reason.clone()),
        message: status.and_then(|s| s.message.clone()),
        result: status.and_then(|s| s.result.clone()),
        execution_id: status.and_then(|s| s.execution_id.clone()),
        usage: status
            .and_then(|s| s.usage.as_ref())
            .and_then(|u| serde_json::to_value(u).ok()),
        step_count: status
            .and_then(|s| s.step_count)
            .unwrap_or(steps(task).len() as i64),
        k8s_name: task.name_any(),
        created_by: created_by(&task.metadata),
        created_at,
        started_at: status
            .and_then(|s| s.start_time.as_ref())
            .map(|t| t.0.to_string()),
        completed_at: status
            .and_then(|s| s.completion_time.as_ref())
            .map(|t| t.0.to_string()),
    }
}

fn last_event_id(headers: &HeaderMap) -> Option<i64> {
    headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// Where a task's SSE stream stands: the next step to send, and what is queued to go out.
struct TaskStream {
    state: AppState,
    namespace: String,
    name: String,
    ids: Ids,
    after: i64,
    queue: VecDeque<Event>,
    done: bool,
    changes: watch::Receiver<u64>,
}

/// The SSE stream of one task's run. Reads the task from the cache on every change and sends the
/// steps it has not sent yet, so a slow client never holds a growing queue: it catches up from
/// the object when it reads again. `announce_creation` adds the opening events of the
/// create-and-stream route.
fn stream(
    state: AppState,
    task: &Task,
    last_event_id: Option<i64>,
    announce_creation: bool,
) -> Sse<impl Stream<Item = Result<Event, Infallible>> + use<>> {
    let ids = Ids::of(&state, task);
    let mut queue = VecDeque::new();
    if last_event_id.is_none() {
        queue.push_back(sse_event(
            None,
            "connected",
            &ids.payload(json!({ "timestamp": now() })),
        ));
    }
    if announce_creation {
        queue.push_back(sse_event(
            None,
            "task_created",
            &ids.payload(json!({ "timestamp": now(), "task": present(&state, task) })),
        ));
    }
    let initial = TaskStream {
        changes: state.tasks.subscribe(),
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
        let steps = steps(&task);
        let last_seq = steps.last().map_or(0, |s| s.seq);
        let after = self.after;
        for step in steps.iter().filter(|s| s.seq > after) {
            let mut data = step.data.clone().unwrap_or_else(|| json!({}));
            if let (Some(message), Some(object)) = (&step.message, data.as_object_mut()) {
                object.entry("message").or_insert(json!(message));
            }
            let payload = json!({
                "event_type": step.type_,
                "event_id": format!("{}-{}", self.ids.task_id, step.seq),
                "timestamp": step.time.0.to_string(),
                "data": self.ids.payload(data),
            });
            self.queue
                .push_back(sse_event(Some(step.seq.to_string()), &step.type_, &payload));
            self.after = step.seq;
        }
        let phase = phase(&task);
        if phase.is_finished() {
            // The terminal event's id is one past the last step, so resuming after it ends at once.
            let end = last_seq + 1;
            if self.after < end {
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
            self.done = true;
        }
    }
}

fn now() -> String {
    k8s_openapi::jiff::Timestamp::now().to_string()
}
