//! Triggers on the wire: AgentArea's trigger bodies and their mapping onto `Trigger` resources,
//! including the Secret that keeps a webhook trigger's HMAC key.

use kube::ResourceExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use agentarea_crds::common::{DISPLAY_NAME_ANNOTATION, SecretKeyRef};
use agentarea_crds::trigger::{
    ConcurrencyPolicy, EventTrigger, HttpMethod, ScheduleTrigger, WebhookTrigger, WebhookType,
};
use agentarea_crds::{Agent, Task, Trigger, TriggerSpec};

use crate::auth::Identity;
use crate::cache::ResourceCache;
use crate::constraints::{Cursor, Limit, Name, Offset};
use crate::error::{ApiError, ApiResult};
use crate::model::webhooks::{WEBHOOK_SECRET_KEY, method_name, random_key};
use crate::model::{crd_word, from_json};
use crate::resources::{
    PageParams, created_by, display_name, new_metadata, object_name_for, timestamps,
};

// No `#[serde(default)]` on the `Option` fields: serde's derive already reads a missing
// `Option` as `None`, and utoipa leaves it out of `required` either way.
#[derive(Deserialize, Debug, ToSchema)]
#[schema(example = json!({
    "name": "nightly-report", "agent_id": "support-bot", "trigger_type": "cron",
    "cron_expression": "0 3 * * *", "timezone": "Europe/Berlin",
    "task_description": "Summarize the day's tickets.",
}))]
pub struct TriggerCreate {
    pub name: Name,
    pub description: Option<String>,
    /// Id or name of the agent whose tasks the trigger starts.
    pub agent_id: String,
    pub trigger_type: TriggerType,
    /// Template of each task's description; `{{ payload.x }}`, `{{ event.x }}`, `{{ time }}`.
    pub task_description: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub task_parameters: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub conditions: Option<Value>,
    /// 1 to 100 (default 5): failures in a row after which the trigger disables itself.
    #[serde(default, deserialize_with = "crate::constraints::whole_number")]
    pub failure_threshold: Option<i32>,
    /// For `cron`: 5 fields, or 6 with seconds first.
    pub cron_expression: Option<String>,
    pub timezone: Option<String>,
    /// For `cron`: `Allow`, `Forbid` or `Replace`.
    // `concurrency_policy`, `allowed_methods` and `webhook_type` are plain strings on the wire
    // (the document copies the CRD's enums onto them, see `docs::stored`), read into the CRD's
    // `ConcurrencyPolicy`, `HttpMethod` and `WebhookType` with the api's own messages; methods in
    // any case (`post`), where the CRD takes `POST` only.
    pub concurrency_policy: Option<String>,
    /// For `webhook`: the path segment; generated when absent.
    pub webhook_id: Option<String>,
    pub allowed_methods: Option<Vec<String>>,
    pub webhook_type: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub validation_rules: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub webhook_config: Option<Value>,
    /// For `event`: `{"kind": "Task", "agent": "...", "phases": ["Succeeded"]}` and the like.
    #[schema(value_type = Option<Object>)]
    pub event_config: Option<Value>,
    pub is_active: Option<bool>,
}

/// What starts a trigger's tasks: a schedule, a signed webhook request or an event.
// The CRD has no enum of these: a trigger is of the kind whose section its spec sets (`schedule`,
// `webhook`, `event`), and the CRD calls the first `schedule` where the wire says `cron`.
#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TriggerType {
    Cron,
    Webhook,
    Event,
}

#[derive(Deserialize, Debug, Default, ToSchema)]
pub struct TriggerUpdate {
    pub name: Option<Name>,
    pub description: Option<String>,
    pub task_description: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub task_parameters: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub conditions: Option<Value>,
    #[serde(default, deserialize_with = "crate::constraints::whole_number")]
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
    /// Items per page (default 100).
    #[param(inline)]
    pub limit: Option<Limit>,
    /// Items to skip (ignored when `cursor` is given).
    #[param(inline)]
    pub offset: Option<Offset>,
    /// The `X-Next-Cursor` of the previous page.
    #[param(inline)]
    pub cursor: Option<Cursor>,
}

impl TriggerListParams {
    /// Whether `trigger` passes the filters; `agent` is the agent's object name, already resolved.
    pub fn matches(&self, trigger: &Trigger, agent: Option<&str>) -> bool {
        agent.is_none_or(|a| trigger.spec.agent == a)
            && self
                .trigger_type
                .as_deref()
                .is_none_or(|ty| trigger_type(&trigger.spec) == ty)
            && (!self.active_only.unwrap_or(false) || trigger.spec.enabled)
    }

    pub fn page(self) -> PageParams {
        PageParams {
            limit: self.limit,
            offset: self.offset,
            cursor: self.cursor,
        }
    }
}

/// A trigger to create, and for a webhook trigger the HMAC key generated for it.
pub struct NewTrigger {
    pub trigger: Trigger,
    pub webhook_key: Option<String>,
}

impl TriggerCreate {
    /// The Trigger to create for `agent`, after checking the body.
    pub fn into_trigger(
        self,
        agent: &Agent,
        namespace: &str,
        caller: &Identity,
    ) -> ApiResult<NewTrigger> {
        let (name, display) = object_name_for(&self.name);
        let mut spec = TriggerSpec::default();
        let webhook_key = self.set_type(&mut spec, &name)?;
        let spec = TriggerSpec {
            agent: agent.name_any(),
            description: self.description,
            enabled: self.is_active.unwrap_or(true),
            input: self.task_description,
            parameters: self.task_parameters,
            conditions: self.conditions,
            failure_threshold: self.failure_threshold.unwrap_or(5),
            ..spec
        };
        let trigger = Trigger {
            metadata: new_metadata(name, display, namespace, caller),
            spec,
            status: None,
        };
        Ok(NewTrigger {
            trigger,
            webhook_key,
        })
    }

    /// Sets the schedule, webhook or event of `spec` from the body's `trigger_type`; a webhook
    /// trigger also gets a new HMAC key, returned.
    fn set_type(&self, spec: &mut TriggerSpec, name: &str) -> ApiResult<Option<String>> {
        match self.trigger_type {
            TriggerType::Cron => spec.schedule = Some(self.schedule()?),
            TriggerType::Webhook => {
                spec.webhook = Some(self.webhook(name)?);
                return Ok(Some(random_key()));
            }
            TriggerType::Event => spec.event = Some(event_config(self.event_config.clone())?),
        }
        Ok(None)
    }

    fn schedule(&self) -> ApiResult<ScheduleTrigger> {
        let cron = self.cron_expression.clone().ok_or_else(|| {
            ApiError::unprocessable("cron_expression: required for cron triggers")
        })?;
        Ok(ScheduleTrigger {
            cron,
            time_zone: self.timezone.clone().unwrap_or_else(|| "UTC".into()),
            concurrency_policy: concurrency(self.concurrency_policy.as_deref())?,
            starting_deadline_seconds: None,
            successful_history_limit: 3,
            failed_history_limit: 1,
        })
    }

    fn webhook(&self, name: &str) -> ApiResult<WebhookTrigger> {
        Ok(WebhookTrigger {
            webhook_id: self
                .webhook_id
                .clone()
                .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()),
            secret_ref: SecretKeyRef {
                name: format!("{name}-webhook"),
                key: WEBHOOK_SECRET_KEY.into(),
            },
            allowed_methods: methods(self.allowed_methods.clone())?,
            webhook_type: webhook_type(self.webhook_type.as_deref())?,
            replay_window_seconds: 300,
            validation_rules: self.validation_rules.clone(),
            webhook_config: self.webhook_config.clone(),
        })
    }
}

impl TriggerUpdate {
    /// A merge patch of the fields given; settings of another trigger type are a 422.
    pub fn into_patch(self, current: &Trigger) -> ApiResult<Value> {
        let mut spec = json!({});
        set(&mut spec, "description", self.description.map(Value::from));
        set(&mut spec, "input", self.task_description.map(Value::from));
        set(&mut spec, "parameters", self.task_parameters);
        set(&mut spec, "conditions", self.conditions);
        set(
            &mut spec,
            "failureThreshold",
            self.failure_threshold.map(Value::from),
        );
        set(&mut spec, "enabled", self.is_active.map(Value::from));
        let schedule_settings = self.cron_expression.is_some()
            || self.timezone.is_some()
            || self.concurrency_policy.is_some();
        if schedule_settings {
            if current.spec.schedule.is_none() {
                return Err(ApiError::unprocessable(
                    "cron_expression: only cron triggers have a schedule",
                ));
            }
            spec["schedule"] =
                schedule_patch(self.cron_expression, self.timezone, self.concurrency_policy)?;
        }
        let webhook_settings = self.allowed_methods.is_some()
            || self.validation_rules.is_some()
            || self.webhook_config.is_some();
        if webhook_settings {
            if current.spec.webhook.is_none() {
                return Err(ApiError::unprocessable(
                    "allowed_methods: only webhook triggers have webhook settings",
                ));
            }
            let mut webhook = json!({});
            if let Some(methods) = self.allowed_methods {
                webhook["allowedMethods"] = json!(self::methods(Some(methods))?);
            }
            set(&mut webhook, "validationRules", self.validation_rules);
            set(&mut webhook, "webhookConfig", self.webhook_config);
            spec["webhook"] = webhook;
        }
        if let Some(event) = self.event_config {
            if current.spec.event.is_none() {
                return Err(ApiError::unprocessable(
                    "event_config: only event triggers have one",
                ));
            }
            spec["event"] = json!(event_config(Some(event))?);
        }
        let mut patch = json!({ "spec": spec });
        if let Some(name) = self.name {
            patch["metadata"] = json!({ "annotations": { DISPLAY_NAME_ANNOTATION: name } });
        }
        Ok(patch)
    }
}

fn set(object: &mut Value, key: &str, value: Option<Value>) {
    if let Some(value) = value {
        object[key] = value;
    }
}

fn schedule_patch(
    cron: Option<String>,
    time_zone: Option<String>,
    policy: Option<String>,
) -> ApiResult<Value> {
    let mut schedule = json!({});
    set(&mut schedule, "cron", cron.map(Value::from));
    set(&mut schedule, "timeZone", time_zone.map(Value::from));
    if let Some(policy) = policy {
        schedule["concurrencyPolicy"] = json!(concurrency(Some(&policy))?);
    }
    Ok(schedule)
}

pub fn enabled_patch(enabled: bool) -> Value {
    json!({ "spec": { "enabled": enabled } })
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

/// The wire's [`TriggerType`] word for the kind of trigger `spec` is (`cron` where the CRD's
/// section is `schedule`).
pub fn trigger_type(spec: &TriggerSpec) -> &'static str {
    if spec.schedule.is_some() {
        "cron"
    } else if spec.webhook.is_some() {
        "webhook"
    } else {
        "event"
    }
}

/// The trigger's recent firings, their tasks named by id while the tasks exist.
pub fn executions(trigger: &Trigger, tasks: &ResourceCache<Task>) -> Vec<ExecutionResponse> {
    let namespace = trigger.namespace().unwrap_or_default();
    trigger
        .status
        .iter()
        .flat_map(|s| &s.executions)
        .map(|e| ExecutionResponse {
            executed_at: e.time.0.to_string(),
            status: e.status.clone(),
            task_id: e.task.as_ref().map(|name| {
                tasks
                    .get(&namespace, name)
                    .and_then(|t| t.uid())
                    .unwrap_or_else(|| name.clone())
            }),
            execution_time_ms: e.execution_time_ms,
            error_message: e.message.clone(),
        })
        .collect()
}

/// The REST shape of a trigger; `webhook_secret` is given only in the answer to its creation.
pub fn present(
    trigger: &Trigger,
    agents: &ResourceCache<Agent>,
    webhook_secret: Option<String>,
) -> TriggerResponse {
    let spec = &trigger.spec;
    let status = trigger.status.as_ref();
    let namespace = trigger.namespace().unwrap_or_default();
    let (created_at, updated_at) = timestamps(&trigger.metadata);
    let webhook = spec.webhook.as_ref();
    let time = |t: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>| {
        t.map(|t| t.0.to_string())
    };
    TriggerResponse {
        id: trigger.uid().unwrap_or_default(),
        name: display_name(&trigger.metadata),
        description: spec.description.clone(),
        agent_id: agents
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
            .and_then(|s| crd_word(s.concurrency_policy)),
        webhook_id: webhook.map(|w| w.webhook_id.clone()),
        webhook_url: webhook.map(|w| format!("/v1/webhooks/{}", w.webhook_id)),
        webhook_secret,
        allowed_methods: webhook
            .iter()
            .flat_map(|w| &w.allowed_methods)
            .map(|m| method_name(m).to_string())
            .collect(),
        webhook_type: webhook.and_then(|w| crd_word(w.webhook_type)),
        validation_rules: webhook.and_then(|w| w.validation_rules.clone()),
        webhook_config: webhook.and_then(|w| w.webhook_config.clone()),
        event_config: spec
            .event
            .as_ref()
            .and_then(|e| serde_json::to_value(e).ok()),
        is_active: spec.enabled,
        consecutive_failures: status.map_or(0, |s| s.consecutive_failures),
        last_execution_at: time(status.and_then(|s| s.last_fired_time.as_ref())),
        next_run_time: time(status.and_then(|s| s.next_fire_time.as_ref())),
        k8s_name: trigger.name_any(),
        created_by: created_by(&trigger.metadata),
        created_at,
        updated_at,
    }
}
