//! `/v1/triggers`: Triggers that start tasks on a schedule, a signed webhook or an event.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::Value;

use agentarea_crds::{Agent, Trigger};

use crate::auth::Identity;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{JsonBody, PathParams, QueryParams};
use crate::model::triggers::{
    ExecutionHistoryResponse, ExecutionListParams, NewTrigger, TriggerCreate, TriggerListParams,
    TriggerResponse, TriggerToggleResponse, TriggerUpdate, enabled_patch, executions, present,
    toggled,
};
use crate::model::webhooks::webhook_secret;
use crate::resources::paginate;
use crate::routes::export::{Manifest, manifest_of};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/triggers", get(list_triggers).post(create_trigger))
        .route(
            "/v1/triggers/{id}",
            get(get_trigger)
                .put(update_trigger)
                .patch(update_trigger)
                .delete(delete_trigger),
        )
        .route("/v1/triggers/{id}/enable", post(enable_trigger))
        .route("/v1/triggers/{id}/disable", post(disable_trigger))
        .route("/v1/triggers/{id}/executions", get(list_executions))
}

/// List the workspace's triggers, newest first.
#[utoipa::path(get, path = "/v1/triggers", tag = "triggers", params(TriggerListParams),
    responses((status = 200, body = Vec<TriggerResponse>), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_triggers(
    State(state): State<AppState>,
    caller: Identity,
    QueryParams(params): QueryParams<TriggerListParams>,
) -> ApiResult<(HeaderMap, Json<Vec<TriggerResponse>>)> {
    // An unknown agent filters everything out rather than failing the list.
    let agent = params.agent_id.as_ref().map(|id| {
        state
            .find::<Agent>(&caller, id)
            .map(|a| a.name_any())
            .unwrap_or_default()
    });
    let mut triggers = state.list::<Trigger>(&caller);
    triggers.retain(|t| params.matches(t, agent.as_deref()));
    let page = paginate(triggers, &params.page())?;
    let body = page
        .items
        .iter()
        .map(|t| present(t, &state.agents, None))
        .collect();
    Ok((page.headers(), Json(body)))
}

/// Create a trigger. A webhook trigger's HMAC key is generated, kept in a Secret, and shown once.
#[utoipa::path(post, path = "/v1/triggers", tag = "triggers", request_body = TriggerCreate,
    responses((status = 201, body = TriggerResponse), (status = 401, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_trigger(
    State(state): State<AppState>,
    caller: Identity,
    JsonBody(body): JsonBody<TriggerCreate>,
) -> ApiResult<(StatusCode, Json<TriggerResponse>)> {
    let namespace = state.namespace(&caller);
    let agent = state
        .agents
        .find(&namespace, &body.agent_id)
        .ok_or_else(|| {
            ApiError::unprocessable(format!("agent_id: agent {:?} not found", body.agent_id))
        })?;
    let NewTrigger {
        trigger,
        webhook_key,
    } = body.into_trigger(&agent, &namespace, &caller)?;
    check_webhook_id_free(&state, &trigger)?;
    let writer = state.writer(&caller);
    let created = writer.create(&trigger).await?;
    if let (Some(key), Some(webhook)) = (&webhook_key, &created.spec.webhook)
        && let Err(error) =
            store_webhook_secret(&state, &created, &webhook.secret_ref.name, key).await
    {
        // A webhook trigger without its key could never be called: take it back rather than
        // leave it half made (the workspace's secret quota, say, was reached).
        if let Err(cleanup) = writer.delete(&created).await {
            tracing::warn!(%cleanup, "a webhook trigger without its key was left");
        }
        return Err(error);
    }
    let body = present(&created, &state.agents, webhook_key);
    Ok((StatusCode::CREATED, Json(body)))
}

/// Get one trigger.
#[utoipa::path(get, path = "/v1/triggers/{id}", tag = "triggers", params(("id" = String, Path)),
    responses((status = 200, body = TriggerResponse, description = "The trigger (with `Accept: application/yaml`, its manifest for Git)"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_trigger(
    State(state): State<AppState>,
    caller: Identity,
    PathParams(id): PathParams<String>,
    Manifest(as_manifest): Manifest,
) -> ApiResult<Response> {
    let trigger = state.find::<Trigger>(&caller, &id)?;
    if as_manifest {
        return Ok(manifest_of(&*trigger));
    }
    Ok(Json(present(&trigger, &state.agents, None)).into_response())
}

/// Update the fields given (`PUT` and `PATCH` alike).
#[utoipa::path(method(patch, put), path = "/v1/triggers/{id}", tag = "triggers", params(("id" = String, Path)), request_body = TriggerUpdate,
    responses((status = 200, body = TriggerResponse), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_trigger(
    State(state): State<AppState>,
    caller: Identity,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<TriggerUpdate>,
) -> ApiResult<Json<TriggerResponse>> {
    let trigger = state.find::<Trigger>(&caller, &id)?;
    let secret = body.webhook_secret(&trigger)?;
    let patch = body.into_patch(&trigger)?;
    let updated = patched(&state, &caller, &trigger, &patch).await?;
    if let (Some(secret), Some(webhook)) = (secret, &trigger.spec.webhook) {
        store_webhook_secret(&state, &trigger, &webhook.secret_ref.name, &secret).await?;
    }
    Ok(Json(updated))
}

/// Delete a trigger (and its webhook Secret).
#[utoipa::path(delete, path = "/v1/triggers/{id}", tag = "triggers", params(("id" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_trigger(
    State(state): State<AppState>,
    caller: Identity,
    PathParams(id): PathParams<String>,
) -> ApiResult<StatusCode> {
    let trigger = state.find::<Trigger>(&caller, &id)?;
    state.writer(&caller).delete(&*trigger).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Enable a trigger (and reset its failure count).
#[utoipa::path(post, path = "/v1/triggers/{id}/enable", tag = "triggers", params(("id" = String, Path)),
    responses((status = 200, body = TriggerToggleResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn enable_trigger(
    state: State<AppState>,
    caller: Identity,
    id: PathParams<String>,
) -> ApiResult<Json<TriggerToggleResponse>> {
    set_enabled(state, caller, id, true).await
}

/// Disable a trigger: it does not fire until enabled again.
#[utoipa::path(post, path = "/v1/triggers/{id}/disable", tag = "triggers", params(("id" = String, Path)),
    responses((status = 200, body = TriggerToggleResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn disable_trigger(
    state: State<AppState>,
    caller: Identity,
    id: PathParams<String>,
) -> ApiResult<Json<TriggerToggleResponse>> {
    set_enabled(state, caller, id, false).await
}

/// The trigger's firings, newest first, a page at a time.
#[utoipa::path(get, path = "/v1/triggers/{id}/executions", tag = "triggers", params(("id" = String, Path), ExecutionListParams),
    responses((status = 200, body = ExecutionHistoryResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_executions(
    State(state): State<AppState>,
    caller: Identity,
    PathParams(id): PathParams<String>,
    QueryParams(params): QueryParams<ExecutionListParams>,
) -> ApiResult<Json<ExecutionHistoryResponse>> {
    let trigger = state.find::<Trigger>(&caller, &id)?;
    Ok(Json(executions(&trigger, &state.tasks, &params)))
}

async fn set_enabled(
    State(state): State<AppState>,
    caller: Identity,
    PathParams(id): PathParams<String>,
    enabled: bool,
) -> ApiResult<Json<TriggerToggleResponse>> {
    let trigger = state.find::<Trigger>(&caller, &id)?;
    let updated = state
        .writer::<Trigger>(&caller)
        .merge_patch(&trigger.name_any(), &enabled_patch(enabled))
        .await?;
    Ok(Json(toggled(&updated, enabled)))
}

/// Webhook ids are global (the public URL carries no workspace), so one in use anywhere is taken.
fn check_webhook_id_free(state: &AppState, trigger: &Trigger) -> ApiResult<()> {
    let Some(webhook) = &trigger.spec.webhook else {
        return Ok(());
    };
    let taken = state.triggers.all().iter().any(|t| {
        t.spec
            .webhook
            .as_ref()
            .is_some_and(|w| w.webhook_id == webhook.webhook_id)
    });
    if taken {
        return Err(ApiError::conflict(
            "webhook_id: already used by another trigger",
        ));
    }
    Ok(())
}

async fn patched(
    state: &AppState,
    caller: &Identity,
    trigger: &Trigger,
    patch: &Value,
) -> ApiResult<TriggerResponse> {
    let updated = state
        .writer::<Trigger>(caller)
        .merge_patch(&trigger.name_any(), patch)
        .await?;
    Ok(present(&updated, &state.agents, None))
}

async fn store_webhook_secret(
    state: &AppState,
    trigger: &Trigger,
    name: &str,
    key: &str,
) -> ApiResult<()> {
    let namespace = trigger.namespace().unwrap_or_default();
    Api::<Secret>::namespaced(state.acting_in(&namespace), &namespace)
        .patch(
            name,
            &PatchParams::apply("agentarea-api").force(),
            &Patch::Apply(&webhook_secret(trigger, name, key)),
        )
        .await?;
    Ok(())
}
