//! `/v1/agents`: AgentArea agents as `Agent` resources.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use kube::ResourceExt;

use agentarea_crds::Agent;

use crate::auth::Identity;
use crate::egress::{check_patched_target, check_target};
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{JsonBody, PathParams, QueryParams};
use crate::model::StatusResponse;
use crate::model::agents::{
    AgentCreate, AgentListParams, AgentResponse, AgentUpdate, References, present,
};
use crate::resources::{PageParams, paginate};
use crate::routes::export::{Manifest, manifest_of};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/agents", get(list_agents).post(create_agent))
        .route(
            "/v1/agents/{id}",
            get(get_agent).patch(update_agent).delete(delete_agent),
        )
}

/// List the workspace's agents, newest first.
#[utoipa::path(get, path = "/v1/agents", tag = "agents", params(AgentListParams, PageParams),
    responses((status = 200, body = Vec<AgentResponse>, description = "One page; X-Total-Count and X-Next-Cursor headers"),
              (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_agents(
    State(state): State<AppState>,
    caller: Identity,
    QueryParams(params): QueryParams<AgentListParams>,
    QueryParams(page): QueryParams<PageParams>,
) -> ApiResult<(HeaderMap, Json<Vec<AgentResponse>>)> {
    let mut agents = state.list::<Agent>(&caller);
    agents.retain(|a| params.matches(a, &caller));
    let page = paginate(agents, &page)?;
    let body = page
        .items
        .iter()
        .map(|a| present(a, &state.mcp_server_instances, Some(&state.agents)))
        .collect();
    Ok((page.headers(), Json(body)))
}

/// Create an agent.
#[utoipa::path(post, path = "/v1/agents", tag = "agents", request_body = AgentCreate,
    responses((status = 201, body = AgentResponse), (status = 401, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_agent(
    State(state): State<AppState>,
    caller: Identity,
    JsonBody(body): JsonBody<AgentCreate>,
) -> ApiResult<(StatusCode, Json<AgentResponse>)> {
    let namespace = state.namespace(&caller);
    let agent = body.into_agent(&references(&state, &namespace), &caller)?;
    if let Some(endpoint) = &agent.spec.model.endpoint {
        check_target(&state, &namespace, "model_endpoint", endpoint).await?;
    }
    let created = state.writer(&caller).create(&agent).await?;
    Ok((
        StatusCode::CREATED,
        Json(present(
            &created,
            &state.mcp_server_instances,
            Some(&state.agents),
        )),
    ))
}

/// Get one agent by id (or Kubernetes name).
#[utoipa::path(get, path = "/v1/agents/{id}", tag = "agents", params(("id" = String, Path)),
    responses((status = 200, body = AgentResponse, description = "The agent (with `Accept: application/yaml`, its manifest for Git)"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_agent(
    State(state): State<AppState>,
    caller: Identity,
    PathParams(id): PathParams<String>,
    Manifest(as_manifest): Manifest,
) -> ApiResult<Response> {
    let agent = state.find::<Agent>(&caller, &id)?;
    if as_manifest {
        return Ok(manifest_of(&*agent));
    }
    Ok(Json(present(
        &agent,
        &state.mcp_server_instances,
        Some(&state.agents),
    ))
    .into_response())
}

/// Update the fields given; the rest stay.
#[utoipa::path(patch, path = "/v1/agents/{id}", tag = "agents", params(("id" = String, Path)), request_body = AgentUpdate,
    responses((status = 200, body = AgentResponse), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_agent(
    State(state): State<AppState>,
    caller: Identity,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<AgentUpdate>,
) -> ApiResult<Json<AgentResponse>> {
    let agent = state.find::<Agent>(&caller, &id)?;
    let namespace = state.namespace(&caller);
    let patch = body.into_patch(&references(&state, &namespace), &agent.name_any())?;
    check_patched_target(
        &state,
        &namespace,
        "model_endpoint",
        &patch,
        "/spec/model/endpoint",
    )
    .await?;
    let updated = state
        .writer::<Agent>(&caller)
        .merge_patch(&agent.name_any(), &patch)
        .await?;
    Ok(Json(present(
        &updated,
        &state.mcp_server_instances,
        Some(&state.agents),
    )))
}

/// Delete an agent.
#[utoipa::path(delete, path = "/v1/agents/{id}", tag = "agents", params(("id" = String, Path)),
    responses((status = 200, body = StatusResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_agent(
    State(state): State<AppState>,
    caller: Identity,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<StatusResponse>> {
    let agent = state.find::<Agent>(&caller, &id)?;
    state.writer(&caller).delete(&*agent).await?;
    Ok(Json(StatusResponse::success()))
}

fn references<'a>(state: &'a AppState, namespace: &'a str) -> References<'a> {
    References {
        namespace,
        skills: &state.skills,
        mcp_server_instances: &state.mcp_server_instances,
        agents: &state.agents,
    }
}
