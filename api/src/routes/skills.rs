//! `/v1/skills`: reusable skills as `Skill` resources.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use kube::ResourceExt;

use agentarea_crds::Skill;

use crate::auth::Identity;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{JsonBody, PathParams, QueryParams};
use crate::model::StatusResponse;
use crate::model::skills::{SkillCreate, SkillResponse, SkillUpdate};
use crate::resources::{PageParams, paginate};
use crate::routes::export::{Manifest, manifest_of};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/skills", get(list_skills).post(create_skill))
        .route(
            "/v1/skills/{id}",
            get(get_skill).patch(update_skill).delete(delete_skill),
        )
}

/// List the workspace's skills, newest first.
#[utoipa::path(get, path = "/v1/skills", tag = "skills", params(PageParams),
    responses((status = 200, body = Vec<SkillResponse>), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_skills(
    State(state): State<AppState>,
    caller: Identity,
    QueryParams(page): QueryParams<PageParams>,
) -> ApiResult<(HeaderMap, Json<Vec<SkillResponse>>)> {
    let page = paginate(state.list::<Skill>(&caller), &page)?;
    let body = page
        .items
        .iter()
        .map(|s| SkillResponse::from(&**s))
        .collect();
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
    let namespace = state.namespace(&caller);
    let skill = body.into_skill(&namespace, &caller)?;
    let created = state.writer(&caller).create(&skill).await?;
    Ok((StatusCode::CREATED, Json(SkillResponse::from(&created))))
}

/// Get one skill.
#[utoipa::path(get, path = "/v1/skills/{id}", tag = "skills", params(("id" = String, Path)),
    responses((status = 200, body = SkillResponse, description = "The skill (with `Accept: application/yaml`, its manifest for Git)"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_skill(
    State(state): State<AppState>,
    caller: Identity,
    PathParams(id): PathParams<String>,
    Manifest(as_manifest): Manifest,
) -> ApiResult<Response> {
    let skill = state.find::<Skill>(&caller, &id)?;
    if as_manifest {
        return Ok(manifest_of(&*skill));
    }
    Ok(Json(SkillResponse::from(&*skill)).into_response())
}

/// Update the fields given.
#[utoipa::path(patch, path = "/v1/skills/{id}", tag = "skills", params(("id" = String, Path)), request_body = SkillUpdate,
    responses((status = 200, body = SkillResponse), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_skill(
    State(state): State<AppState>,
    caller: Identity,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<SkillUpdate>,
) -> ApiResult<Json<SkillResponse>> {
    let skill = state.find::<Skill>(&caller, &id)?;
    let patch = body.into_patch()?;
    let updated = state
        .writer::<Skill>(&caller)
        .merge_patch(&skill.name_any(), &patch)
        .await?;
    Ok(Json(SkillResponse::from(&updated)))
}

/// Delete a skill. Agents that name it become not ready until it is back.
#[utoipa::path(delete, path = "/v1/skills/{id}", tag = "skills", params(("id" = String, Path)),
    responses((status = 200, body = StatusResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_skill(
    State(state): State<AppState>,
    caller: Identity,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<StatusResponse>> {
    let skill = state.find::<Skill>(&caller, &id)?;
    state.writer(&caller).delete(&*skill).await?;
    Ok(Json(StatusResponse::success()))
}
