//! `/v1/agents`: AgentArea agents as `Agent` resources.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use agentarea_crds::agent::{AgentEvent, AgentMcpServer, AllowedTool, BuiltinTool, ModelSpec};
use agentarea_crds::common::{LocalRef, condition, is_condition_true};
use agentarea_crds::{Agent, AgentSpec};
use kube::ResourceExt;

use crate::auth::Identity;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{JsonBody, QueryParams};
use crate::resources::{
    PageParams, StatusResponse, Writer, created_by, display_name, new_metadata, object_name_for,
    paginate, timestamps,
};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/agents", get(list_agents).post(create_agent))
        .route(
            "/v1/agents/{id}",
            get(get_agent).patch(update_agent).delete(delete_agent),
        )
}

/// Which tools of which MCP servers the agent may use.
#[derive(Serialize, Deserialize, Clone, Debug, Default, ToSchema)]
pub struct ToolsConfig {
    #[serde(default)]
    pub mcp_server_configs: Vec<McpServerConfig>,
    #[serde(default)]
    pub builtin_tools: Vec<BuiltinToolConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planning: Option<bool>,
}

#[derive(Serialize, Deserialize, Clone, Debug, ToSchema)]
pub struct McpServerConfig {
    /// The id (or name) of an MCP server instance of the workspace.
    pub mcp_server_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub config: Option<Value>,
    /// Empty: every tool of the server.
    #[serde(default)]
    pub allowed_tools: Vec<AllowedToolConfig>,
}

#[derive(Serialize, Deserialize, Clone, Debug, ToSchema)]
pub struct AllowedToolConfig {
    pub tool_name: String,
    #[serde(default)]
    pub requires_user_confirmation: bool,
}

#[derive(Serialize, Deserialize, Clone, Debug, ToSchema)]
pub struct BuiltinToolConfig {
    pub tool_name: String,
    #[serde(default)]
    pub requires_user_confirmation: bool,
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, ToSchema)]
pub struct EventsConfig {
    #[serde(default)]
    pub events: Vec<EventConfigItem>,
}

/// An event the agent publishes; older clients send just its name.
#[derive(Serialize, Deserialize, Clone, Debug, ToSchema)]
#[serde(untagged)]
pub enum EventConfigItem {
    Full {
        event_type: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(value_type = Option<Object>)]
        config: Option<Value>,
        #[serde(default = "yes")]
        enabled: bool,
    },
    Name(String),
}

#[derive(Deserialize, Debug, ToSchema)]
pub struct AgentCreate {
    #[schema(example = "support-bot")]
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// The system prompt.
    pub instruction: String,
    /// The model name at the endpoint, e.g. `gpt-4o-mini`.
    pub model_id: String,
    /// OpenAI-compatible base URL; the operator's default when absent.
    #[serde(default)]
    pub model_endpoint: Option<String>,
    #[serde(default)]
    pub tools_config: Option<ToolsConfig>,
    #[serde(default)]
    pub events_config: Option<EventsConfig>,
    #[serde(default)]
    pub planning: Option<bool>,
    #[serde(default)]
    pub capabilities: Option<Vec<String>>,
    /// Ids or names of skills the agent takes on.
    #[serde(default)]
    pub skills: Option<Vec<String>>,
}

#[derive(Deserialize, Debug, Default, ToSchema)]
pub struct AgentUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub instruction: Option<String>,
    pub model_id: Option<String>,
    pub model_endpoint: Option<String>,
    pub tools_config: Option<ToolsConfig>,
    pub events_config: Option<EventsConfig>,
    pub planning: Option<bool>,
    pub capabilities: Option<Vec<String>>,
    pub skills: Option<Vec<String>>,
}

#[derive(Serialize, Debug, ToSchema)]
pub struct AgentResponse {
    /// The agent's id (its Kubernetes uid).
    pub id: String,
    pub name: String,
    /// `active` (AgentArea's default).
    pub status: String,
    pub description: Option<String>,
    pub instruction: String,
    pub model_id: String,
    pub model_endpoint: Option<String>,
    pub tools_config: ToolsConfig,
    pub events_config: EventsConfig,
    pub planning: Option<bool>,
    pub capabilities: Vec<String>,
    pub skills: Vec<String>,
    /// Whether every skill, server, tool and secret the agent names resolves.
    pub ready: bool,
    /// Why not, when it is not.
    pub status_message: Option<String>,
    /// The tools the model is offered.
    pub tools: Vec<String>,
    /// The Kubernetes object name (`kubectl get agent <k8s_name>`).
    pub k8s_name: String,
    pub created_by: Option<String>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

#[derive(Deserialize, Debug, Default, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AgentListParams {
    /// `me`: only agents the caller created.
    pub created_by: Option<String>,
}

fn not_found() -> ApiError {
    ApiError::not_found("Agent not found")
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
    let namespace = state.namespace(&caller);
    let mut agents = state.agents.list(&namespace);
    if params.created_by.as_deref() == Some("me") {
        agents.retain(|a| created_by(&a.metadata).as_deref() == Some(caller.subject.as_str()));
    }
    let page = paginate(agents, &page)?;
    let body = page.items.iter().map(|a| present(&state, a)).collect();
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
    let namespace = state.ensure_namespace(&caller).await?;
    require_non_empty("instruction", &body.instruction)?;
    require_non_empty("model_id", &body.model_id)?;
    let (name, display) = object_name_for(&body.name)?;
    let tools_config = body.tools_config.unwrap_or_default();
    let spec = AgentSpec {
        description: body.description,
        instruction: body.instruction,
        model: ModelSpec {
            name: body.model_id,
            endpoint: body.model_endpoint,
            ..ModelSpec::default()
        },
        skills: resolve_skills(&state, &namespace, body.skills.unwrap_or_default())?,
        mcp_servers: resolve_mcp_servers(&state, &namespace, &tools_config.mcp_server_configs)?,
        builtin_tools: builtin_tools(&tools_config.builtin_tools),
        events: events(body.events_config.unwrap_or_default()),
        planning: body.planning.or(tools_config.planning),
        capabilities: body.capabilities.unwrap_or_default(),
        limits: Default::default(),
    };
    let agent = Agent {
        metadata: new_metadata(name, display, &namespace, &caller),
        spec,
        status: None,
    };
    let created = Writer::new(&state.client, &state.agents, &namespace)
        .create(&agent)
        .await?;
    Ok((StatusCode::CREATED, Json(present(&state, &created))))
}

/// Get one agent by id (or Kubernetes name).
#[utoipa::path(get, path = "/v1/agents/{id}", tag = "agents", params(("id" = String, Path)),
    responses((status = 200, body = AgentResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_agent(
    State(state): State<AppState>,
    caller: Identity,
    Path(id): Path<String>,
) -> ApiResult<Json<AgentResponse>> {
    let namespace = state.namespace(&caller);
    let agent = state.agents.find(&namespace, &id).ok_or_else(not_found)?;
    Ok(Json(present(&state, &agent)))
}

/// Update the fields given; the rest stay.
#[utoipa::path(patch, path = "/v1/agents/{id}", tag = "agents", params(("id" = String, Path)), request_body = AgentUpdate,
    responses((status = 200, body = AgentResponse), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_agent(
    State(state): State<AppState>,
    caller: Identity,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<AgentUpdate>,
) -> ApiResult<Json<AgentResponse>> {
    let namespace = state.namespace(&caller);
    let agent = state.agents.find(&namespace, &id).ok_or_else(not_found)?;
    let mut spec = serde_json::Map::new();
    let mut model = serde_json::Map::new();
    if let Some(instruction) = body.instruction {
        require_non_empty("instruction", &instruction)?;
        spec.insert("instruction".into(), json!(instruction));
    }
    if let Some(description) = body.description {
        spec.insert("description".into(), json!(description));
    }
    if let Some(model_id) = body.model_id {
        require_non_empty("model_id", &model_id)?;
        model.insert("name".into(), json!(model_id));
    }
    if let Some(endpoint) = body.model_endpoint {
        model.insert("endpoint".into(), json!(endpoint));
    }
    if !model.is_empty() {
        spec.insert("model".into(), Value::Object(model));
    }
    if let Some(tools) = &body.tools_config {
        spec.insert(
            "mcpServers".into(),
            json!(resolve_mcp_servers(
                &state,
                &namespace,
                &tools.mcp_server_configs
            )?),
        );
        spec.insert(
            "builtinTools".into(),
            json!(builtin_tools(&tools.builtin_tools)),
        );
        if let Some(planning) = tools.planning {
            spec.insert("planning".into(), json!(planning));
        }
    }
    if let Some(events_config) = body.events_config {
        spec.insert("events".into(), json!(events(events_config)));
    }
    if let Some(planning) = body.planning {
        spec.insert("planning".into(), json!(planning));
    }
    if let Some(capabilities) = body.capabilities {
        spec.insert("capabilities".into(), json!(capabilities));
    }
    if let Some(skills) = body.skills {
        spec.insert(
            "skills".into(),
            json!(resolve_skills(&state, &namespace, skills)?),
        );
    }
    let mut patch = json!({ "spec": spec });
    if let Some(name) = body.name {
        require_non_empty("name", &name)?;
        patch["metadata"] =
            json!({ "annotations": { agentarea_crds::common::DISPLAY_NAME_ANNOTATION: name } });
    }
    let updated = Writer::new(&state.client, &state.agents, &namespace)
        .merge_patch(&agent.name_any(), &patch)
        .await?;
    Ok(Json(present(&state, &updated)))
}

/// Delete an agent.
#[utoipa::path(delete, path = "/v1/agents/{id}", tag = "agents", params(("id" = String, Path)),
    responses((status = 200, body = StatusResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_agent(
    State(state): State<AppState>,
    caller: Identity,
    Path(id): Path<String>,
) -> ApiResult<Json<StatusResponse>> {
    let namespace = state.namespace(&caller);
    let agent = state.agents.find(&namespace, &id).ok_or_else(not_found)?;
    Writer::new(&state.client, &state.agents, &namespace)
        .delete(&agent)
        .await?;
    Ok(Json(StatusResponse::success()))
}

fn require_non_empty(field: &str, value: &str) -> ApiResult<()> {
    if value.trim().is_empty() {
        return Err(ApiError::unprocessable(format!(
            "{field}: must not be empty"
        )));
    }
    Ok(())
}

/// Skill ids or names -> Skill references; an unknown one is a 422 naming it.
fn resolve_skills(state: &AppState, namespace: &str, ids: Vec<String>) -> ApiResult<Vec<LocalRef>> {
    ids.into_iter()
        .enumerate()
        .map(|(i, id)| {
            state
                .skills
                .find(namespace, &id)
                .map(|skill| LocalRef {
                    name: skill.name_any(),
                })
                .ok_or_else(|| {
                    ApiError::unprocessable(format!("skills[{i}]: skill {id:?} not found"))
                })
        })
        .collect()
}

fn resolve_mcp_servers(
    state: &AppState,
    namespace: &str,
    configs: &[McpServerConfig],
) -> ApiResult<Vec<AgentMcpServer>> {
    configs
        .iter()
        .enumerate()
        .map(|(i, config)| {
            let instance = state.mcp_server_instances.find(namespace, &config.mcp_server_id).ok_or_else(|| {
                ApiError::unprocessable(format!(
                    "tools_config.mcp_server_configs[{i}].mcp_server_id: MCP server instance {:?} not found",
                    config.mcp_server_id
                ))
            })?;
            Ok(AgentMcpServer {
                name: instance.name_any(),
                allowed_tools: config
                    .allowed_tools
                    .iter()
                    .map(|t| AllowedTool {
                        name: t.tool_name.clone(),
                        requires_user_confirmation: t.requires_user_confirmation,
                    })
                    .collect(),
                config: config.config.clone(),
            })
        })
        .collect()
}

fn builtin_tools(tools: &[BuiltinToolConfig]) -> Vec<BuiltinTool> {
    tools
        .iter()
        .map(|t| BuiltinTool {
            name: t.tool_name.clone(),
            enabled: t.enabled,
            requires_user_confirmation: t.requires_user_confirmation,
        })
        .collect()
}

fn events(config: EventsConfig) -> Vec<AgentEvent> {
    config
        .events
        .into_iter()
        .map(|e| match e {
            EventConfigItem::Name(event_type) => AgentEvent {
                event_type,
                enabled: true,
                config: None,
            },
            EventConfigItem::Full {
                event_type,
                config,
                enabled,
            } => AgentEvent {
                event_type,
                enabled,
                config,
            },
        })
        .collect()
}

/// The REST shape of an agent.
pub fn present(state: &AppState, agent: &Agent) -> AgentResponse {
    let namespace = agent.namespace().unwrap_or_default();
    let spec = &agent.spec;
    let status = agent.status.as_ref();
    let conditions = status.map(|s| &s.conditions);
    let ready = is_condition_true(conditions, condition::READY);
    let status_message = crate::resources::not_ready_message(conditions);
    let (created_at, updated_at) = timestamps(&agent.metadata);
    let instance_id = |name: &str| {
        state
            .mcp_server_instances
            .get(&namespace, name)
            .and_then(|i| i.uid())
            .unwrap_or_else(|| name.to_string())
    };
    AgentResponse {
        id: agent.uid().unwrap_or_default(),
        name: display_name(&agent.metadata),
        status: "active".into(),
        description: spec.description.clone(),
        instruction: spec.instruction.clone(),
        model_id: spec.model.name.clone(),
        model_endpoint: spec.model.endpoint.clone(),
        tools_config: ToolsConfig {
            mcp_server_configs: spec
                .mcp_servers
                .iter()
                .map(|s| McpServerConfig {
                    mcp_server_id: instance_id(&s.name),
                    config: s.config.clone(),
                    allowed_tools: s
                        .allowed_tools
                        .iter()
                        .map(|t| AllowedToolConfig {
                            tool_name: t.name.clone(),
                            requires_user_confirmation: t.requires_user_confirmation,
                        })
                        .collect(),
                })
                .collect(),
            builtin_tools: spec
                .builtin_tools
                .iter()
                .map(|t| BuiltinToolConfig {
                    tool_name: t.name.clone(),
                    requires_user_confirmation: t.requires_user_confirmation,
                    enabled: t.enabled,
                })
                .collect(),
            planning: spec.planning,
        },
        events_config: EventsConfig {
            events: spec
                .events
                .iter()
                .map(|e| EventConfigItem::Full {
                    event_type: e.event_type.clone(),
                    config: e.config.clone(),
                    enabled: e.enabled,
                })
                .collect(),
        },
        planning: spec.planning,
        capabilities: spec.capabilities.clone(),
        skills: spec.skills.iter().map(|s| s.name.clone()).collect(),
        ready,
        status_message,
        tools: status
            .map(|s| s.tools.iter().map(|t| t.name.clone()).collect())
            .unwrap_or_default(),
        k8s_name: agent.name_any(),
        created_by: created_by(&agent.metadata),
        created_at,
        updated_at,
    }
}
