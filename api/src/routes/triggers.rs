//! `/v1/triggers`: Triggers that start tasks on a schedule, a signed webhook or an event.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use agentarea_crds::common::{DISPLAY_NAME_ANNOTATION, SecretKeyRef};
use agentarea_crds::trigger::{
    ConcurrencyPolicy, EventTrigger, HttpMethod, ScheduleTrigger, WebhookTrigger, WebhookType,
};
use agentarea_crds::{Trigger, TriggerSpec};

use crate::auth::Identity;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{JsonBody, QueryParams};
use crate::resources::{
    Writer, created_by, display_name, from_json, new_metadata, object_name_for, timestamps,
};
use crate::state::AppState;

/// The key of the HMAC secret in the Secret the api makes for a webhook trigger.
pub const WEBHOOK_SECRET_KEY: &str = "hmac-key";

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

#[derive(Deserialize, Debug, ToSchema)]
pub struct TriggerCreate {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Id or name of the agent whose tasks the trigger starts.
    pub agent_id: String,
    /// `cron`, `webhook` or `event`.
    pub trigger_type: String,
    /// Template of each task's description; `{{ payload.x }}`, `{{ event.x }}`, `{{ time }}`.
    #[serde(default)]
    pub task_description: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub task_parameters: Option<Value>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub conditions: Option<Value>,
    /// 1 to 100 (default 5): failures in a row after which the trigger disables itself.
    #[serde(default)]
    pub failure_threshold: Option<i32>,
    /// For `cron`: 5 fields, or 6 with seconds first.
    #[serde(default)]
    pub cron_expression: Option<String>,
    #[serde(default)]
    pub timezone: Option<String>,
    /// For `cron`: `Allow`, `Forbid` or `Replace`.
    #[serde(default)]
    pub concurrency_policy: Option<String>,
    /// For `webhook`: the path segment; generated when absent.
    #[serde(default)]
    pub webhook_id: Option<String>,
    #[serde(default)]
    pub allowed_methods: Option<Vec<String>>,
    #[serde(default)]
    pub webhook_type: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub validation_rules: Option<Value>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub webhook_config: Option<Value>,
    /// For `event`: `{"kind": "Task", "agent": "...", "phases": ["Succeeded"]}` and the like.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub event_config: Option<Value>,
    #[serde(default)]
    pub is_active: Option<bool>,
}

#[derive(Deserialize, Debug, Default, ToSchema)]
pub struct TriggerUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub task_description: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub task_parameters: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub conditions: Option<Value>,
    pub failure_threshold: Option<i32>,
    pub cron_expression: Option<String>,
    pub timezone: Option<String>,
    pub concurrency_policy: Option<String>,
    pub allowed_methods: Option<Vec<String>>,
    #[schema(value_type = Option<Object>)]
    pub validation_rules: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub webhook_config: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub event_config: Option<Value>,
    pub is_active: Option<bool>,
}

#[derive(Serialize, Debug, ToSchema)]
pub struct TriggerResponse {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub agent_id: String,
    pub trigger_type: String,
    pub task_description: Option<String>,
    #[schema(value_type = Object)]
    pub task_parameters: Value,
    #[schema(value_type = Object)]
    pub conditions: Value,
    pub failure_threshold: i32,
    pub cron_expression: Option<String>,
    pub timezone: Option<String>,
    pub concurrency_policy: Option<String>,
    pub webhook_id: Option<String>,
    /// Where to send webhook requests.
    pub webhook_url: Option<String>,
    /// The HMAC key, shown once, when the trigger is created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<String>,
    pub allowed_methods: Vec<String>,
    pub webhook_type: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub validation_rules: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub webhook_config: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub event_config: Option<Value>,
    pub is_active: bool,
    pub consecutive_failures: i32,
    pub last_execution_at: Option<String>,
    pub next_run_time: Option<String>,
    pub k8s_name: String,
    pub created_by: Option<String>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

#[derive(Serialize, Debug, ToSchema)]
pub struct ExecutionResponse {
    pub executed_at: String,
    /// `fired`, `skipped` or `failed`.
    pub status: String,
    pub task_id: Option<String>,
    pub execution_time_ms: Option<i64>,
    pub error_message: Option<String>,
}

#[derive(Deserialize, Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TriggerListParams {
    pub agent_id: Option<String>,
    /// `cron`, `webhook` or `event`.
    pub trigger_type: Option<String>,
    pub active_only: Option<bool>,
    /// 1 to 1000 (default 100).
    pub limit: Option<usize>,
    pub offset: Option<usize>,
    pub cursor: Option<String>,
}

fn not_found() -> ApiError {
    ApiError::not_found("Trigger not found")
}

/// List the workspace's triggers, newest first.
#[utoipa::path(get, path = "/v1/triggers", tag = "triggers", params(TriggerListParams),
    responses((status = 200, body = Vec<TriggerResponse>), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_triggers(
    State(state): State<AppState>,
    caller: Identity,
    QueryParams(params): QueryParams<TriggerListParams>,
) -> ApiResult<(HeaderMap, Json<Vec<TriggerResponse>>)> {
    let namespace = state.namespace(&caller);
    let agent = params.agent_id.as_ref().map(|id| {
        state
            .agents
            .find(&namespace, id)
            .map(|a| a.name_any())
            .unwrap_or_default()
    });
    let mut triggers = state.triggers.list(&namespace);
    triggers.retain(|t| {
        agent.as_deref().is_none_or(|a| t.spec.agent == a)
            && params
                .trigger_type
                .as_deref()
                .is_none_or(|ty| trigger_type(&t.spec) == ty)
            && (!params.active_only.unwrap_or(false) || t.spec.enabled)
    });
    let page = crate::resources::paginate(
        triggers,
        &crate::resources::PageParams {
            limit: params.limit,
            offset: params.offset,
            cursor: params.cursor,
        },
    )?;
    let body = page.items.iter().map(|t| present(&state, t)).collect();
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
    let namespace = state.ensure_namespace(&caller).await?;
    let (name, display) = object_name_for(&body.name)?;
    let mut spec = TriggerSpec {
        agent: agent.name_any(),
        description: body.description,
        enabled: body.is_active.unwrap_or(true),
        input: body.task_description,
        parameters: body.task_parameters,
        conditions: body.conditions,
        failure_threshold: body.failure_threshold.unwrap_or(5),
        ..TriggerSpec::default()
    };
    let mut secret_value = None;
    match body.trigger_type.as_str() {
        "cron" => {
            spec.schedule = Some(ScheduleTrigger {
                cron: body.cron_expression.ok_or_else(|| {
                    ApiError::unprocessable("cron_expression: required for cron triggers")
                })?,
                time_zone: body.timezone.unwrap_or_else(|| "UTC".into()),
                concurrency_policy: concurrency(body.concurrency_policy.as_deref())?,
                starting_deadline_seconds: None,
                successful_history_limit: 3,
                failed_history_limit: 1,
            });
        }
        "webhook" => {
            let webhook_id = body
                .webhook_id
                .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
            secret_value = Some(random_key());
            spec.webhook = Some(WebhookTrigger {
                webhook_id,
                secret_ref: SecretKeyRef {
                    name: format!("{name}-webhook"),
                    key: WEBHOOK_SECRET_KEY.into(),
                },
                allowed_methods: methods(body.allowed_methods)?,
                webhook_type: webhook_type(body.webhook_type.as_deref())?,
                replay_window_seconds: 300,
                validation_rules: body.validation_rules,
                webhook_config: body.webhook_config,
            });
        }
        "event" => {
            spec.event = Some(event_config(body.event_config)?);
        }
        other => {
            return Err(ApiError::unprocessable(format!(
                "trigger_type: {other:?} is not one of cron, webhook, event"
            )));
        }
    }
    if let Some(webhook) = &spec.webhook
        && state.triggers.all().iter().any(|t| {
            t.spec
                .webhook
                .as_ref()
                .is_some_and(|w| w.webhook_id == webhook.webhook_id)
        })
    {
        return Err(ApiError::conflict(
            "webhook_id: already used by another trigger",
        ));
    }
    let trigger = Trigger {
        metadata: new_metadata(name, display, &namespace, &caller),
        spec,
        status: None,
    };
    let created = Writer::new(&state.client, &state.triggers, &namespace)
        .create(&trigger)
        .await?;
    if let (Some(key), Some(webhook)) = (&secret_value, &created.spec.webhook) {
        store_webhook_secret(&state, &created, &webhook.secret_ref.name, key).await?;
    }
    Ok((
        StatusCode::CREATED,
        Json(present_with(&state, &created, secret_value)),
    ))
}

/// Get one trigger.
#[utoipa::path(get, path = "/v1/triggers/{id}", tag = "triggers", params(("id" = String, Path)),
    responses((status = 200, body = TriggerResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_trigger(
    State(state): State<AppState>,
    caller: Identity,
    Path(id): Path<String>,
) -> ApiResult<Json<TriggerResponse>> {
    Ok(Json(present(&state, &*find(&state, &caller, &id)?)))
}

/// Update the fields given (`PUT` and `PATCH` alike).
#[utoipa::path(patch, path = "/v1/triggers/{id}", tag = "triggers", params(("id" = String, Path)), request_body = TriggerUpdate,
    responses((status = 200, body = TriggerResponse), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_trigger(
    State(state): State<AppState>,
    caller: Identity,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<TriggerUpdate>,
) -> ApiResult<Json<TriggerResponse>> {
    let trigger = find(&state, &caller, &id)?;
    let mut spec = json!({});
    let set = |spec: &mut Value, key: &str, value: Option<Value>| {
        if let Some(value) = value {
            spec[key] = value;
        }
    };
    set(&mut spec, "description", body.description.map(Value::from));
    set(&mut spec, "input", body.task_description.map(Value::from));
    set(&mut spec, "parameters", body.task_parameters);
    set(&mut spec, "conditions", body.conditions);
    set(
        &mut spec,
        "failureThreshold",
        body.failure_threshold.map(Value::from),
    );
    set(&mut spec, "enabled", body.is_active.map(Value::from));
    if body.cron_expression.is_some()
        || body.timezone.is_some()
        || body.concurrency_policy.is_some()
    {
        if trigger.spec.schedule.is_none() {
            return Err(ApiError::unprocessable(
                "cron_expression: only cron triggers have a schedule",
            ));
        }
        let mut schedule = json!({});
        set(&mut schedule, "cron", body.cron_expression.map(Value::from));
        set(&mut schedule, "timeZone", body.timezone.map(Value::from));
        if let Some(policy) = body.concurrency_policy {
            schedule["concurrencyPolicy"] = json!(concurrency(Some(&policy))?);
        }
        spec["schedule"] = schedule;
    }
    if body.allowed_methods.is_some()
        || body.validation_rules.is_some()
        || body.webhook_config.is_some()
    {
        if trigger.spec.webhook.is_none() {
            return Err(ApiError::unprocessable(
                "allowed_methods: only webhook triggers have webhook settings",
            ));
        }
        let mut webhook = json!({});
        if let Some(methods) = body.allowed_methods {
            webhook["allowedMethods"] = json!(self::methods(Some(methods))?);
        }
        set(&mut webhook, "validationRules", body.validation_rules);
        set(&mut webhook, "webhookConfig", body.webhook_config);
        spec["webhook"] = webhook;
    }
    if let Some(event) = body.event_config {
        if trigger.spec.event.is_none() {
            return Err(ApiError::unprocessable(
                "event_config: only event triggers have one",
            ));
        }
        spec["event"] = json!(event_config(Some(event))?);
    }
    let mut patch = json!({ "spec": spec });
    if let Some(name) = body.name {
        patch["metadata"] = json!({ "annotations": { DISPLAY_NAME_ANNOTATION: name } });
    }
    let updated = writer(&state, &trigger)
        .merge_patch(&trigger.name_any(), &patch)
        .await?;
    Ok(Json(present(&state, &updated)))
}

/// Delete a trigger (and its webhook Secret).
#[utoipa::path(delete, path = "/v1/triggers/{id}", tag = "triggers", params(("id" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_trigger(
    State(state): State<AppState>,
    caller: Identity,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let trigger = find(&state, &caller, &id)?;
    writer(&state, &trigger).delete(&trigger).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Enable a trigger (and reset its failure count).
#[utoipa::path(post, path = "/v1/triggers/{id}/enable", tag = "triggers", params(("id" = String, Path)),
    responses((status = 200, body = TriggerResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn enable_trigger(
    State(state): State<AppState>,
    caller: Identity,
    Path(id): Path<String>,
) -> ApiResult<Json<TriggerResponse>> {
    set_enabled(&state, &caller, &id, true).await
}

/// Disable a trigger: it does not fire until enabled again.
#[utoipa::path(post, path = "/v1/triggers/{id}/disable", tag = "triggers", params(("id" = String, Path)),
    responses((status = 200, body = TriggerResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn disable_trigger(
    State(state): State<AppState>,
    caller: Identity,
    Path(id): Path<String>,
) -> ApiResult<Json<TriggerResponse>> {
    set_enabled(&state, &caller, &id, false).await
}

/// The trigger's recent firings, newest first.
#[utoipa::path(get, path = "/v1/triggers/{id}/executions", tag = "triggers", params(("id" = String, Path)),
    responses((status = 200, body = Vec<ExecutionResponse>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_executions(
    State(state): State<AppState>,
    caller: Identity,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<ExecutionResponse>>> {
    let trigger = find(&state, &caller, &id)?;
    let namespace = trigger.namespace().unwrap_or_default();
    let executions = trigger
        .status
        .iter()
        .flat_map(|s| &s.executions)
        .map(|e| ExecutionResponse {
            executed_at: e.time.0.to_string(),
            status: e.status.clone(),
            task_id: e.task.as_ref().map(|name| {
                state
                    .tasks
                    .get(&namespace, name)
                    .and_then(|t| t.uid())
                    .unwrap_or_else(|| name.clone())
            }),
            execution_time_ms: e.execution_time_ms,
            error_message: e.message.clone(),
        })
        .collect();
    Ok(Json(executions))
}

async fn set_enabled(
    state: &AppState,
    caller: &Identity,
    id: &str,
    enabled: bool,
) -> ApiResult<Json<TriggerResponse>> {
    let trigger = find(state, caller, id)?;
    let updated = writer(state, &trigger)
        .merge_patch(
            &trigger.name_any(),
            &json!({ "spec": { "enabled": enabled } }),
        )
        .await?;
    Ok(Json(present(state, &updated)))
}

fn find(state: &AppState, caller: &Identity, id: &str) -> ApiResult<Arc<Trigger>> {
    state
        .triggers
        .find(&state.namespace(caller), id)
        .ok_or_else(not_found)
}

fn writer<'a>(state: &'a AppState, trigger: &'a Trigger) -> Writer<'a, Trigger> {
    Writer::new(
        &state.client,
        &state.triggers,
        trigger.meta().namespace.as_deref().unwrap_or_default(),
    )
}

/// Keeps the webhook's HMAC key in a Secret owned by the trigger, so it goes when the trigger does.
async fn store_webhook_secret(
    state: &AppState,
    trigger: &Trigger,
    name: &str,
    key: &str,
) -> ApiResult<()> {
    let namespace = trigger.namespace().unwrap_or_default();
    let owner = OwnerReference {
        api_version: Trigger::api_version(&()).into_owned(),
        kind: Trigger::kind(&()).into_owned(),
        name: trigger.name_any(),
        uid: trigger.uid().unwrap_or_default(),
        controller: Some(false),
        block_owner_deletion: Some(false),
    };
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(namespace.clone()),
            owner_references: Some(vec![owner]),
            labels: Some([("agentarea.io/trigger".to_string(), trigger.name_any())].into()),
            ..Default::default()
        },
        data: Some(
            [(
                WEBHOOK_SECRET_KEY.to_string(),
                ByteString(key.as_bytes().to_vec()),
            )]
            .into(),
        ),
        type_: Some("Opaque".into()),
        ..Default::default()
    };
    Api::<Secret>::namespaced(state.client.clone(), &namespace)
        .patch(
            name,
            &PatchParams::apply("agentarea-api").force(),
            &Patch::Apply(&secret),
        )
        .await?;
    Ok(())
}

fn random_key() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

fn concurrency(value: Option<&str>) -> ApiResult<ConcurrencyPolicy> {
    match value {
        None => Ok(ConcurrencyPolicy::Allow),
        Some(v) => from_json(json!(v)).map_err(|_| {
            ApiError::unprocessable("concurrency_policy: must be one of Allow, Forbid, Replace")
        }),
    }
}

fn methods(value: Option<Vec<String>>) -> ApiResult<Vec<HttpMethod>> {
    match value {
        None => Ok(vec![HttpMethod::Post]),
        Some(methods) => methods
            .iter()
            .map(|m| {
                from_json(json!(m.to_uppercase())).map_err(|_| {
                    ApiError::unprocessable(format!(
                        "allowed_methods: {m:?} is not one of GET, POST, PUT, PATCH"
                    ))
                })
            })
            .collect(),
    }
}

fn webhook_type(value: Option<&str>) -> ApiResult<WebhookType> {
    match value {
        None => Ok(WebhookType::Generic),
        Some(v) => from_json(json!(v)).map_err(|_| {
            ApiError::unprocessable(
                "webhook_type: must be one of generic, telegram, slack, github, discord, stripe",
            )
        }),
    }
}

fn event_config(value: Option<Value>) -> ApiResult<EventTrigger> {
    let value = value
        .ok_or_else(|| ApiError::unprocessable("event_config: required for event triggers"))?;
    from_json(value).map_err(|e| ApiError::unprocessable(format!("event_config.{}", e.detail)))
}

pub fn trigger_type(spec: &TriggerSpec) -> &'static str {
    if spec.schedule.is_some() {
        "cron"
    } else if spec.webhook.is_some() {
        "webhook"
    } else {
        "event"
    }
}

/// The REST shape of a trigger.
pub fn present(state: &AppState, trigger: &Trigger) -> TriggerResponse {
    present_with(state, trigger, None)
}

fn present_with(
    state: &AppState,
    trigger: &Trigger,
    webhook_secret: Option<String>,
) -> TriggerResponse {
    let spec = &trigger.spec;
    let status = trigger.status.as_ref();
    let namespace = trigger.namespace().unwrap_or_default();
    let (created_at, updated_at) = timestamps(&trigger.metadata);
    TriggerResponse {
        id: trigger.uid().unwrap_or_default(),
        name: display_name(&trigger.metadata),
        description: spec.description.clone(),
        agent_id: state
            .agents
            .get(&namespace, &spec.agent)
            .and_then(|a| a.uid())
            .unwrap_or_else(|| spec.agent.clone()),
        trigger_type: trigger_type(spec).into(),
        task_description: spec.input.clone(),
        task_parameters: spec.parameters.clone().unwrap_or_else(|| json!({})),
        conditions: spec.conditions.clone().unwrap_or_else(|| json!({})),
        failure_threshold: spec.failure_threshold,
        cron_expression: spec.schedule.as_ref().map(|s| s.cron.clone()),
        timezone: spec.schedule.as_ref().map(|s| s.time_zone.clone()),
        concurrency_policy: spec
            .schedule
            .as_ref()
            .map(|s| format!("{:?}", s.concurrency_policy)),
        webhook_id: spec.webhook.as_ref().map(|w| w.webhook_id.clone()),
        webhook_url: spec
            .webhook
            .as_ref()
            .map(|w| format!("/v1/webhooks/{}", w.webhook_id)),
        webhook_secret,
        allowed_methods: spec
            .webhook
            .iter()
            .flat_map(|w| &w.allowed_methods)
            .map(|m| format!("{m:?}").to_uppercase())
            .collect(),
        webhook_type: spec
            .webhook
            .as_ref()
            .and_then(|w| serde_json::to_value(w.webhook_type).ok())
            .and_then(|v| v.as_str().map(String::from)),
        validation_rules: spec
            .webhook
            .as_ref()
            .and_then(|w| w.validation_rules.clone()),
        webhook_config: spec.webhook.as_ref().and_then(|w| w.webhook_config.clone()),
        event_config: spec
            .event
            .as_ref()
            .and_then(|e| serde_json::to_value(e).ok()),
        is_active: spec.enabled,
        consecutive_failures: status.map_or(0, |s| s.consecutive_failures),
        last_execution_at: status
            .and_then(|s| s.last_fired_time.as_ref())
            .map(|t| t.0.to_string()),
        next_run_time: status
            .and_then(|s| s.next_fire_time.as_ref())
            .map(|t| t.0.to_string()),
        k8s_name: trigger.name_any(),
        created_by: created_by(&trigger.metadata),
        created_at,
        updated_at,
    }
}
