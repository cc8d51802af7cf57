//! `/v1/skills`: reusable skills as `Skill` resources.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use kube::ResourceExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use agentarea_crds::common::{DISPLAY_NAME_ANNOTATION, condition, is_condition_true};
use agentarea_crds::skill::{SkillParameter, SkillTools};
use agentarea_crds::{Skill, SkillSpec};

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
        .route("/v1/skills", get(list_skills).post(create_skill))
        .route(
            "/v1/skills/{id}",
            get(get_skill).patch(update_skill).delete(delete_skill),
        )
}

/// The MCP tools a skill needs from one server instance.
#[derive(Serialize, Deserialize, Clone, Debug, ToSchema)]
pub struct SkillToolsBody {
    /// Name of the MCP server instance.
    pub instance: String,
    pub tools: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, ToSchema)]
pub struct SkillParameterBody {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// `string`, `number`, `integer`, `boolean`, `object` or `array`.
    #[serde(default = "string_type", rename = "type")]
    pub type_: String,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub default: Option<Value>,
}

fn string_type() -> String {
    "string".into()
}

#[derive(Deserialize, Debug, ToSchema)]
pub struct SkillCreate {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Instructions added to an agent's instruction when it takes the skill on.
    pub instructions: String,
    #[serde(default)]
    pub tools: Vec<SkillToolsBody>,
    #[serde(default)]
    pub parameters: Vec<SkillParameterBody>,
}

#[derive(Deserialize, Debug, ToSchema)]
pub struct SkillUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub instructions: Option<String>,
    pub tools: Option<Vec<SkillToolsBody>>,
    pub parameters: Option<Vec<SkillParameterBody>>,
}

#[derive(Serialize, Debug, ToSchema)]
pub struct SkillResponse {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub instructions: String,
    pub tools: Vec<SkillToolsBody>,
    pub parameters: Vec<SkillParameterBody>,
    /// Whether every tool the skill needs is offered.
    pub ready: bool,
    pub status_message: Option<String>,
    /// Agents that use the skill.
    pub used_by: Vec<String>,
    pub missing_tools: Vec<String>,
    pub k8s_name: String,
    pub created_by: Option<String>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

fn not_found() -> ApiError {
    ApiError::not_found("Skill not found")
}

/// List the workspace's skills, newest first.
#[utoipa::path(get, path = "/v1/skills", tag = "skills", params(PageParams),
    responses((status = 200, body = Vec<SkillResponse>), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_skills(
    State(state): State<AppState>,
    caller: Identity,
    QueryParams(page): QueryParams<PageParams>,
) -> ApiResult<(HeaderMap, Json<Vec<SkillResponse>>)> {
    let page = paginate(state.skills.list(&state.namespace(&caller)), &page)?;
    let body = page.items.iter().map(|s| present(s)).collect();
    Ok((page.headers(), Json(body)))
}

/// Create a skill.
#[utoipa::path(post, path = "/v1/skills", tag = "skills", request_body = SkillCreate,
    responses((status = 201, body = SkillResponse), (status = 401, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_skill(
    State(state): State<AppState>,
    caller: Identity,
    JsonBody(body): JsonBody<SkillCreate>,
) -> ApiResult<(StatusCode, Json<SkillResponse>)> {
    let namespace = state.ensure_namespace(&caller).await?;
    let (name, display) = object_name_for(&body.name)?;
    let skill = Skill {
        metadata: new_metadata(name, display, &namespace, &caller),
        spec: SkillSpec {
            description: body.description,
            instructions: body.instructions,
            tools: skill_tools(body.tools)?,
            parameters: parameters(body.parameters)?,
        },
        status: None,
    };
    let created = Writer::new(&state.client, &state.skills, &namespace)
        .create(&skill)
        .await?;
    Ok((StatusCode::CREATED, Json(present(&created))))
}

/// Get one skill.
#[utoipa::path(get, path = "/v1/skills/{id}", tag = "skills", params(("id" = String, Path)),
    responses((status = 200, body = SkillResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_skill(
    State(state): State<AppState>,
    caller: Identity,
    Path(id): Path<String>,
) -> ApiResult<Json<SkillResponse>> {
    let skill = state
        .skills
        .find(&state.namespace(&caller), &id)
        .ok_or_else(not_found)?;
    Ok(Json(present(&skill)))
}

/// Update the fields given.
#[utoipa::path(patch, path = "/v1/skills/{id}", tag = "skills", params(("id" = String, Path)), request_body = SkillUpdate,
    responses((status = 200, body = SkillResponse), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_skill(
    State(state): State<AppState>,
    caller: Identity,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<SkillUpdate>,
) -> ApiResult<Json<SkillResponse>> {
    let namespace = state.namespace(&caller);
    let skill = state.skills.find(&namespace, &id).ok_or_else(not_found)?;
    let mut spec = serde_json::Map::new();
    if let Some(description) = body.description {
        spec.insert("description".into(), json!(description));
    }
    if let Some(instructions) = body.instructions {
        spec.insert("instructions".into(), json!(instructions));
    }
    if let Some(tools) = body.tools {
        spec.insert("tools".into(), json!(skill_tools(tools)?));
    }
    if let Some(parameters) = body.parameters {
        spec.insert("parameters".into(), json!(self::parameters(parameters)?));
    }
    let mut patch = json!({ "spec": spec });
    if let Some(name) = body.name {
        patch["metadata"] = json!({ "annotations": { DISPLAY_NAME_ANNOTATION: name } });
    }
    let updated = Writer::new(&state.client, &state.skills, &namespace)
        .merge_patch(&skill.name_any(), &patch)
        .await?;
    Ok(Json(present(&updated)))
}

/// Delete a skill. Agents that name it become not ready until it is back.
#[utoipa::path(delete, path = "/v1/skills/{id}", tag = "skills", params(("id" = String, Path)),
    responses((status = 200, body = StatusResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_skill(
    State(state): State<AppState>,
    caller: Identity,
    Path(id): Path<String>,
) -> ApiResult<Json<StatusResponse>> {
    let namespace = state.namespace(&caller);
    let skill = state.skills.find(&namespace, &id).ok_or_else(not_found)?;
    Writer::new(&state.client, &state.skills, &namespace)
        .delete(&skill)
        .await?;
    Ok(Json(StatusResponse::success()))
}

fn skill_tools(tools: Vec<SkillToolsBody>) -> ApiResult<Vec<SkillTools>> {
    from_json(json!(tools)).map_err(|e| ApiError::unprocessable(format!("tools{}", e.detail)))
}

fn parameters(parameters: Vec<SkillParameterBody>) -> ApiResult<Vec<SkillParameter>> {
    for (i, p) in parameters.iter().enumerate() {
        if !["string", "number", "integer", "boolean", "object", "array"]
            .contains(&p.type_.as_str())
        {
            return Err(ApiError::unprocessable(format!(
                "parameters[{i}].type: must be one of string, number, integer, boolean, object, array"
            )));
        }
    }
    from_json(json!(parameters))
        .map_err(|e| ApiError::unprocessable(format!("parameters{}", e.detail)))
}

/// The REST shape of a skill.
pub fn present(skill: &Skill) -> SkillResponse {
    let status = skill.status.as_ref();
    let conditions = status.map(|s| &s.conditions);
    let (created_at, updated_at) = timestamps(&skill.metadata);
    SkillResponse {
        id: skill.uid().unwrap_or_default(),
        name: display_name(&skill.metadata),
        description: skill.spec.description.clone(),
        instructions: skill.spec.instructions.clone(),
        tools: skill
            .spec
            .tools
            .iter()
            .map(|t| SkillToolsBody {
                instance: t.instance.clone(),
                tools: t.tools.clone(),
            })
            .collect(),
        parameters: skill
            .spec
            .parameters
            .iter()
            .map(|p| SkillParameterBody {
                name: p.name.clone(),
                description: p.description.clone(),
                type_: serde_json::to_value(p.type_)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default(),
                required: p.required,
                default: p.default.clone(),
            })
            .collect(),
        ready: is_condition_true(conditions, condition::READY),
        status_message: crate::resources::not_ready_message(conditions),
        used_by: status.map(|s| s.used_by.clone()).unwrap_or_default(),
        missing_tools: status.map(|s| s.missing_tools.clone()).unwrap_or_default(),
        k8s_name: skill.name_any(),
        created_by: created_by(&skill.metadata),
        created_at,
        updated_at,
    }
}
