//! `/v1/mcp-server-instances`: MCP servers as `McpServerInstance` resources.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use kube::ResourceExt;
use serde_json::{Value, json};

use agentarea_crds::McpServerInstance;

use crate::auth::Identity;
use crate::egress::{check_patched_target, check_target};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{JsonBody, PathParams, QueryParams};
use crate::model::mcp_server_instances::{
    InstanceCreate, InstanceResponse, InstanceUpdate, Members, ToolResponse, env_names,
    suspend_patch,
};
use crate::model::{StatusResponse, now};
use crate::resources::{PageParams, paginate};
use crate::routes::export::{Manifest, manifest_of};
use crate::state::AppState;

/// An annotation change wakes the operator's watch of the instance without touching the spec.
const DISCOVER_REQUESTED_ANNOTATION: &str = "agentarea.io/discover-requested-at";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/mcp-server-instances",
            get(list_instances).post(create_instance),
        )
        .route(
            "/v1/mcp-server-instances/{id}",
            get(get_instance)
                .patch(update_instance)
                .put(update_instance)
                .delete(delete_instance),
        )
        .route("/v1/mcp-server-instances/{id}/tools", get(list_tools))
        .route(
            "/v1/mcp-server-instances/{id}/environment",
            get(environment_names),
        )
        .route("/v1/mcp-server-instances/{id}/start", post(start_instance))
        .route("/v1/mcp-server-instances/{id}/stop", post(stop_instance))
        .route(
            "/v1/mcp-server-instances/{id}/discover-tools",
            post(discover_tools),
        )
}

/// List the workspace's MCP server instances, newest first.
#[utoipa::path(get, path = "/v1/mcp-server-instances", tag = "mcp-server-instances", params(PageParams),
    responses((status = 200, body = Vec<InstanceResponse>), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_instances(
    State(state): State<AppState>,
    caller: Identity,
    QueryParams(page): QueryParams<PageParams>,
) -> ApiResult<(HeaderMap, Json<Vec<InstanceResponse>>)> {
    let page = paginate(state.list::<McpServerInstance>(&caller), &page)?;
    let body = page
        .items
        .iter()
        .map(|i| InstanceResponse::from(&**i))
        .collect();
    Ok((page.headers(), Json(body)))
}

/// Create an MCP server instance.
#[utoipa::path(post, path = "/v1/mcp-server-instances", tag = "mcp-server-instances", request_body = InstanceCreate,
    responses((status = 201, body = InstanceResponse), (status = 401, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_instance(
    State(state): State<AppState>,
    caller: Identity,
    JsonBody(body): JsonBody<InstanceCreate>,
) -> ApiResult<(StatusCode, Json<InstanceResponse>)> {
    let namespace = state.namespace(&caller);
    let instance = body.into_instance(&members(&state, &namespace), &caller)?;
    if let Some(remote) = &instance.spec.remote {
        check_target(&state, &namespace, "json_spec.endpoint", &remote.url).await?;
    }
    let created = state.writer(&caller).create(&instance).await?;
    Ok((StatusCode::CREATED, Json(InstanceResponse::from(&created))))
}

/// Get one instance, with its status and discovered tools.
#[utoipa::path(get, path = "/v1/mcp-server-instances/{id}", tag = "mcp-server-instances", params(("id" = String, Path)),
    responses((status = 200, body = InstanceResponse, description = "The instance (with `Accept: application/yaml`, its manifest for Git)"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_instance(
    State(state): State<AppState>,
    caller: Identity,
    PathParams(id): PathParams<String>,
    Manifest(as_manifest): Manifest,
) -> ApiResult<Response> {
    let instance = state.find::<McpServerInstance>(&caller, &id)?;
    if as_manifest {
        return Ok(manifest_of(&*instance));
    }
    Ok(Json(InstanceResponse::from(&*instance)).into_response())
}

/// Update the fields given (`PUT` is accepted as a synonym, as AgentArea's clients use both).
#[utoipa::path(method(patch, put), path = "/v1/mcp-server-instances/{id}", tag = "mcp-server-instances", params(("id" = String, Path)),
    request_body = InstanceUpdate,
    responses((status = 200, body = InstanceResponse), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_instance(
    State(state): State<AppState>,
    caller: Identity,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<InstanceUpdate>,
) -> ApiResult<Json<InstanceResponse>> {
    let instance = state.find::<McpServerInstance>(&caller, &id)?;
    let namespace = state.namespace(&caller);
    let patch = body.into_patch(&members(&state, &namespace))?;
    check_patched_target(
        &state,
        &namespace,
        "json_spec.endpoint",
        &patch,
        "/spec/remote/url",
    )
    .await?;
    patched(&state, &caller, &instance, &patch).await.map(Json)
}

/// Delete an instance; its Deployment and Service go with it.
#[utoipa::path(delete, path = "/v1/mcp-server-instances/{id}", tag = "mcp-server-instances", params(("id" = String, Path)),
    responses((status = 200, body = StatusResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_instance(
    State(state): State<AppState>,
    caller: Identity,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<StatusResponse>> {
    let instance = state.find::<McpServerInstance>(&caller, &id)?;
    state.writer(&caller).delete(&*instance).await?;
    Ok(Json(StatusResponse::success()))
}

/// The tools the server listed at its last check.
#[utoipa::path(get, path = "/v1/mcp-server-instances/{id}/tools", tag = "mcp-server-instances", params(("id" = String, Path)),
    responses((status = 200, body = Vec<ToolResponse>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_tools(
    State(state): State<AppState>,
    caller: Identity,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<Vec<ToolResponse>>> {
    let instance = state.find::<McpServerInstance>(&caller, &id)?;
    Ok(Json(InstanceResponse::from(&*instance).tools))
}

/// Names of the environment variables of a managed server; values are never shown.
#[utoipa::path(get, path = "/v1/mcp-server-instances/{id}/environment", tag = "mcp-server-instances", params(("id" = String, Path)),
    responses((status = 200, body = Vec<String>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn environment_names(
    State(state): State<AppState>,
    caller: Identity,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<Vec<String>>> {
    let instance = state.find::<McpServerInstance>(&caller, &id)?;
    Ok(Json(env_names(&instance)))
}

/// Start a stopped managed server.
#[utoipa::path(post, path = "/v1/mcp-server-instances/{id}/start", tag = "mcp-server-instances", params(("id" = String, Path)),
    responses((status = 200, body = InstanceResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "Only managed (docker) instances can be started and stopped")))]
pub async fn start_instance(
    State(state): State<AppState>,
    caller: Identity,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<InstanceResponse>> {
    set_suspended(&state, &caller, &id, false).await.map(Json)
}

/// Stop a managed server (scale to zero) without deleting it.
#[utoipa::path(post, path = "/v1/mcp-server-instances/{id}/stop", tag = "mcp-server-instances", params(("id" = String, Path)),
    responses((status = 200, body = InstanceResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "Only managed (docker) instances can be started and stopped")))]
pub async fn stop_instance(
    State(state): State<AppState>,
    caller: Identity,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<InstanceResponse>> {
    set_suspended(&state, &caller, &id, true).await.map(Json)
}

/// Ask the operator to list the server's tools again now.
#[utoipa::path(post, path = "/v1/mcp-server-instances/{id}/discover-tools", tag = "mcp-server-instances", params(("id" = String, Path)),
    responses((status = 202, body = InstanceResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn discover_tools(
    State(state): State<AppState>,
    caller: Identity,
    PathParams(id): PathParams<String>,
) -> ApiResult<(StatusCode, Json<InstanceResponse>)> {
    let instance = state.find::<McpServerInstance>(&caller, &id)?;
    let patch = json!({ "metadata": { "annotations": { DISCOVER_REQUESTED_ANNOTATION: now() } } });
    let updated = patched(&state, &caller, &instance, &patch).await?;
    Ok((StatusCode::ACCEPTED, Json(updated)))
}

async fn set_suspended(
    state: &AppState,
    caller: &Identity,
    id: &str,
    suspend: bool,
) -> ApiResult<InstanceResponse> {
    let instance = state.find::<McpServerInstance>(caller, id)?;
    if instance.spec.managed.is_none() {
        return Err(ApiError::conflict(
            "Only managed (docker) instances can be started and stopped",
        ));
    }
    patched(state, caller, &instance, &suspend_patch(suspend)).await
}

async fn patched(
    state: &AppState,
    caller: &Identity,
    instance: &McpServerInstance,
    patch: &Value,
) -> ApiResult<InstanceResponse> {
    let updated = state
        .writer::<McpServerInstance>(caller)
        .merge_patch(&instance.name_any(), patch)
        .await?;
    Ok(InstanceResponse::from(&updated))
}

fn members<'a>(state: &'a AppState, namespace: &'a str) -> Members<'a> {
    Members {
        namespace,
        instances: &state.mcp_server_instances,
    }
}
