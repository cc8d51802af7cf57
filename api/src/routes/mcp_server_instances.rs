//! `/v1/mcp-server-instances`: MCP servers as `McpServerInstance` resources.
//!
//! AgentArea's `json_spec` maps onto the instance kinds: `docker` -> `managed`, `url` -> `remote`,
//! `compound` -> `compound`.

use std::collections::BTreeMap;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use kube::ResourceExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use agentarea_crds::common::DISPLAY_NAME_ANNOTATION;
use agentarea_crds::mcp_server_instance::{
    CompoundMember, CompoundServer, EnvVar, ManagedServer, McpPhase, RemoteServer, Transport,
};
use agentarea_crds::{McpServerInstance, McpServerInstanceSpec};

use crate::auth::Identity;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{JsonBody, QueryParams};
use crate::resources::{
    PageParams, StatusResponse, Writer, created_by, display_name, from_json, new_metadata,
    object_name_for, paginate, timestamps,
};
use crate::state::AppState;

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

/// AgentArea's server description: `{"type": "docker", "image", "port", "environment", "cmd"}`,
/// `{"type": "url", "endpoint"}` or `{"type": "compound", "members": [...]}`.
#[derive(Serialize, Deserialize, Clone, Debug, ToSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum JsonSpec {
    Docker {
        image: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        port: Option<i32>,
        #[serde(default)]
        environment: BTreeMap<String, String>,
        #[serde(default)]
        cmd: Vec<String>,
        /// `streamable-http` (default), `sse`, or `stdio` (run behind the bridge).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        transport: Option<String>,
    },
    Url {
        endpoint: String,
        /// `streamable-http` (default) or `sse`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        transport: Option<String>,
    },
    Compound {
        members: Vec<CompoundMemberBody>,
    },
}

#[derive(Serialize, Deserialize, Clone, Debug, ToSchema)]
pub struct CompoundMemberBody {
    /// Id or name of a member instance.
    pub instance: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
}

#[derive(Deserialize, Debug, ToSchema)]
pub struct InstanceCreate {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub server_spec_id: Option<String>,
    pub json_spec: JsonSpec,
}

#[derive(Deserialize, Debug, ToSchema)]
pub struct InstanceUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub json_spec: Option<JsonSpec>,
    /// `stopped` stops a managed server; `running` starts it again.
    pub status: Option<String>,
}

#[derive(Serialize, Debug, ToSchema)]
pub struct ToolResponse {
    pub name: String,
    pub description: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub input_schema: Option<Value>,
}

#[derive(Serialize, Debug, ToSchema)]
pub struct InstanceResponse {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub server_spec_id: Option<String>,
    pub json_spec: JsonSpec,
    /// `pending`, `starting`, `running`, `unhealthy`, `stopped` or `failed`.
    pub status: String,
    pub status_message: Option<String>,
    /// Where agents reach the server.
    pub endpoint: Option<String>,
    pub tools: Vec<ToolResponse>,
    pub k8s_name: String,
    pub created_by: Option<String>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

fn not_found() -> ApiError {
    ApiError::not_found("MCP server instance not found")
}

/// List the workspace's MCP server instances, newest first.
#[utoipa::path(get, path = "/v1/mcp-server-instances", tag = "mcp-server-instances", params(PageParams),
    responses((status = 200, body = Vec<InstanceResponse>), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_instances(
    State(state): State<AppState>,
    caller: Identity,
    QueryParams(page): QueryParams<PageParams>,
) -> ApiResult<(HeaderMap, Json<Vec<InstanceResponse>>)> {
    let page = paginate(
        state.mcp_server_instances.list(&state.namespace(&caller)),
        &page,
    )?;
    let body = page.items.iter().map(|i| present(i)).collect();
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
    let namespace = state.ensure_namespace(&caller).await?;
    let (name, display) = object_name_for(&body.name)?;
    let mut spec = McpServerInstanceSpec {
        description: body.description,
        server_spec_id: body.server_spec_id,
        discovery_interval_seconds: 300,
        ..McpServerInstanceSpec::default()
    };
    apply_json_spec(&state, &namespace, &mut spec, body.json_spec)?;
    let instance = McpServerInstance {
        metadata: new_metadata(name, display, &namespace, &caller),
        spec,
        status: None,
    };
    let created = Writer::new(&state.client, &state.mcp_server_instances, &namespace)
        .create(&instance)
        .await?;
    Ok((StatusCode::CREATED, Json(present(&created))))
}

/// Get one instance, with its status and discovered tools.
#[utoipa::path(get, path = "/v1/mcp-server-instances/{id}", tag = "mcp-server-instances", params(("id" = String, Path)),
    responses((status = 200, body = InstanceResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_instance(
    State(state): State<AppState>,
    caller: Identity,
    Path(id): Path<String>,
) -> ApiResult<Json<InstanceResponse>> {
    let instance = find(&state, &caller, &id)?;
    Ok(Json(present(&instance)))
}

/// Update the fields given (`PUT` is accepted as a synonym, as AgentArea's clients use both).
#[utoipa::path(patch, path = "/v1/mcp-server-instances/{id}", tag = "mcp-server-instances", params(("id" = String, Path)),
    request_body = InstanceUpdate,
    responses((status = 200, body = InstanceResponse), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_instance(
    State(state): State<AppState>,
    caller: Identity,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<InstanceUpdate>,
) -> ApiResult<Json<InstanceResponse>> {
    let instance = find(&state, &caller, &id)?;
    let namespace = instance.namespace().unwrap_or_default();
    let mut patch = json!({ "spec": {} });
    if let Some(description) = body.description {
        patch["spec"]["description"] = json!(description);
    }
    if let Some(json_spec) = body.json_spec {
        let mut spec = McpServerInstanceSpec::default();
        apply_json_spec(&state, &namespace, &mut spec, json_spec)?;
        // Switching kinds clears the other two (null deletes in a merge patch).
        patch["spec"]["managed"] = json!(spec.managed);
        patch["spec"]["remote"] = json!(spec.remote);
        patch["spec"]["compound"] = json!(spec.compound);
    }
    match body.status.as_deref() {
        None => {}
        Some("stopped") => patch["spec"]["suspend"] = json!(true),
        Some("running") => patch["spec"]["suspend"] = Value::Null,
        Some(other) => {
            return Err(ApiError::unprocessable(format!(
                "status: {other:?} cannot be set; use \"running\" or \"stopped\""
            )));
        }
    }
    if let Some(name) = body.name {
        patch["metadata"] = json!({ "annotations": { DISPLAY_NAME_ANNOTATION: name } });
    }
    let updated = writer(&state, &namespace)
        .merge_patch(&instance.name_any(), &patch)
        .await?;
    Ok(Json(present(&updated)))
}

/// Delete an instance; its Deployment and Service go with it.
#[utoipa::path(delete, path = "/v1/mcp-server-instances/{id}", tag = "mcp-server-instances", params(("id" = String, Path)),
    responses((status = 200, body = StatusResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_instance(
    State(state): State<AppState>,
    caller: Identity,
    Path(id): Path<String>,
) -> ApiResult<Json<StatusResponse>> {
    let instance = find(&state, &caller, &id)?;
    let namespace = instance.namespace().unwrap_or_default();
    writer(&state, &namespace).delete(&instance).await?;
    Ok(Json(StatusResponse::success()))
}

/// The tools the server listed at its last check.
#[utoipa::path(get, path = "/v1/mcp-server-instances/{id}/tools", tag = "mcp-server-instances", params(("id" = String, Path)),
    responses((status = 200, body = Vec<ToolResponse>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_tools(
    State(state): State<AppState>,
    caller: Identity,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<ToolResponse>>> {
    Ok(Json(present(&*find(&state, &caller, &id)?).tools))
}

/// Names of the environment variables of a managed server; values are never shown.
#[utoipa::path(get, path = "/v1/mcp-server-instances/{id}/environment", tag = "mcp-server-instances", params(("id" = String, Path)),
    responses((status = 200, body = Vec<String>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn environment_names(
    State(state): State<AppState>,
    caller: Identity,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<String>>> {
    let instance = find(&state, &caller, &id)?;
    let names = instance
        .spec
        .managed
        .as_ref()
        .map(|m| m.env.iter().map(|e| e.name.clone()).collect())
        .unwrap_or_default();
    Ok(Json(names))
}

/// Start a stopped managed server.
#[utoipa::path(post, path = "/v1/mcp-server-instances/{id}/start", tag = "mcp-server-instances", params(("id" = String, Path)),
    responses((status = 200, body = InstanceResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn start_instance(
    State(state): State<AppState>,
    caller: Identity,
    Path(id): Path<String>,
) -> ApiResult<Json<InstanceResponse>> {
    set_suspended(&state, &caller, &id, false).await
}

/// Stop a managed server (scale to zero) without deleting it.
#[utoipa::path(post, path = "/v1/mcp-server-instances/{id}/stop", tag = "mcp-server-instances", params(("id" = String, Path)),
    responses((status = 200, body = InstanceResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn stop_instance(
    State(state): State<AppState>,
    caller: Identity,
    Path(id): Path<String>,
) -> ApiResult<Json<InstanceResponse>> {
    set_suspended(&state, &caller, &id, true).await
}

/// Ask the operator to list the server's tools again now.
#[utoipa::path(post, path = "/v1/mcp-server-instances/{id}/discover-tools", tag = "mcp-server-instances", params(("id" = String, Path)),
    responses((status = 202, body = InstanceResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn discover_tools(
    State(state): State<AppState>,
    caller: Identity,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<InstanceResponse>)> {
    let instance = find(&state, &caller, &id)?;
    let namespace = instance.namespace().unwrap_or_default();
    // An annotation change wakes the operator's watch without touching the spec.
    let patch = json!({ "metadata": { "annotations": {
        "agentarea.io/discover-requested-at": k8s_openapi::jiff::Timestamp::now().to_string()
    } } });
    let updated = writer(&state, &namespace)
        .merge_patch(&instance.name_any(), &patch)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(present(&updated))))
}

async fn set_suspended(
    state: &AppState,
    caller: &Identity,
    id: &str,
    suspend: bool,
) -> ApiResult<Json<InstanceResponse>> {
    let instance = find(state, caller, id)?;
    if instance.spec.managed.is_none() {
        return Err(ApiError::conflict(
            "Only managed (docker) instances can be started and stopped",
        ));
    }
    let namespace = instance.namespace().unwrap_or_default();
    let patch = json!({ "spec": { "suspend": if suspend { json!(true) } else { Value::Null } } });
    let updated = writer(state, &namespace)
        .merge_patch(&instance.name_any(), &patch)
        .await?;
    Ok(Json(present(&updated)))
}

fn find(
    state: &AppState,
    caller: &Identity,
    id: &str,
) -> ApiResult<std::sync::Arc<McpServerInstance>> {
    state
        .mcp_server_instances
        .find(&state.namespace(caller), id)
        .ok_or_else(not_found)
}

fn writer<'a>(state: &'a AppState, namespace: &'a str) -> Writer<'a, McpServerInstance> {
    Writer::new(&state.client, &state.mcp_server_instances, namespace)
}

fn transport(value: Option<&str>, field: &str) -> ApiResult<Transport> {
    match value {
        None => Ok(Transport::StreamableHttp),
        Some(v) => from_json(json!(v)).map_err(|_| {
            ApiError::unprocessable(format!(
                "{field}: must be one of streamable-http, sse, stdio"
            ))
        }),
    }
}

fn apply_json_spec(
    state: &AppState,
    namespace: &str,
    spec: &mut McpServerInstanceSpec,
    json_spec: JsonSpec,
) -> ApiResult<()> {
    match json_spec {
        JsonSpec::Docker {
            image,
            port,
            environment,
            cmd,
            transport: t,
        } => {
            spec.managed = Some(ManagedServer {
                image,
                command: cmd,
                env: environment
                    .into_iter()
                    .map(|(name, value)| EnvVar {
                        name,
                        value: Some(value),
                        secret_key_ref: None,
                        config_map_key_ref: None,
                    })
                    .collect(),
                port: port.unwrap_or(8080),
                transport: transport(t.as_deref(), "json_spec.transport")?,
                path: "/mcp".into(),
                replicas: 1,
                ..ManagedServer::default()
            });
        }
        JsonSpec::Url {
            endpoint,
            transport: t,
        } => {
            spec.remote = Some(RemoteServer {
                url: endpoint,
                transport: transport(t.as_deref(), "json_spec.transport")?,
                headers: vec![],
                timeout_seconds: 10,
            });
        }
        JsonSpec::Compound { members } => {
            let members = members
                .into_iter()
                .enumerate()
                .map(|(i, m)| {
                    let member = state.mcp_server_instances.find(namespace, &m.instance).ok_or_else(|| {
                        ApiError::unprocessable(format!(
                            "json_spec.members[{i}].instance: MCP server instance {:?} not found",
                            m.instance
                        ))
                    })?;
                    Ok(CompoundMember {
                        name: member.name_any(),
                        prefix: m.prefix,
                        include: m.include,
                        exclude: m.exclude,
                    })
                })
                .collect::<ApiResult<Vec<_>>>()?;
            spec.compound = Some(CompoundServer { members });
        }
    }
    Ok(())
}

fn transport_name(transport: Transport) -> Option<String> {
    match transport {
        Transport::StreamableHttp => None,
        other => serde_json::to_value(other)
            .ok()
            .and_then(|v| v.as_str().map(String::from)),
    }
}

/// The REST shape of an instance.
pub fn present(instance: &McpServerInstance) -> InstanceResponse {
    let spec = &instance.spec;
    let json_spec = if let Some(m) = &spec.managed {
        JsonSpec::Docker {
            image: m.image.clone(),
            port: Some(m.port),
            environment: m
                .env
                .iter()
                .filter_map(|e| Some((e.name.clone(), e.value.clone()?)))
                .collect(),
            cmd: m.command.clone(),
            transport: transport_name(m.transport),
        }
    } else if let Some(r) = &spec.remote {
        JsonSpec::Url {
            endpoint: r.url.clone(),
            transport: transport_name(r.transport),
        }
    } else {
        JsonSpec::Compound {
            members: spec
                .compound
                .iter()
                .flat_map(|c| &c.members)
                .map(|m| CompoundMemberBody {
                    instance: m.name.clone(),
                    prefix: m.prefix.clone(),
                    include: m.include.clone(),
                    exclude: m.exclude.clone(),
                })
                .collect(),
        }
    };
    let status = instance.status.as_ref();
    let phase = status.and_then(|s| s.phase);
    let status_word = match (spec.suspend, phase) {
        (true, _) | (_, Some(McpPhase::Stopped)) => "stopped",
        (_, None | Some(McpPhase::Pending)) => "pending",
        (_, Some(McpPhase::Starting)) => "starting",
        (_, Some(McpPhase::Running)) => "running",
        (_, Some(McpPhase::Unhealthy)) => "unhealthy",
        (_, Some(McpPhase::Failed)) => "failed",
    };
    let (created_at, updated_at) = timestamps(&instance.metadata);
    InstanceResponse {
        id: instance.uid().unwrap_or_default(),
        name: display_name(&instance.metadata),
        description: spec.description.clone(),
        server_spec_id: spec.server_spec_id.clone(),
        json_spec,
        status: status_word.into(),
        status_message: crate::resources::not_ready_message(status.map(|s| &s.conditions)),
        endpoint: status.and_then(|s| s.endpoint.clone()),
        tools: status
            .into_iter()
            .flat_map(|s| &s.tools)
            .map(|t| ToolResponse {
                name: t.name.clone(),
                description: t.description.clone(),
                input_schema: t.input_schema.clone(),
            })
            .collect(),
        k8s_name: instance.name_any(),
        created_by: created_by(&instance.metadata),
        created_at,
        updated_at,
    }
}
