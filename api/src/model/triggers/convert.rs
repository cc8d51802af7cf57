//! Trigger bodies -> the `Trigger` to create (with a webhook trigger's new HMAC key) and the merge
//! patches of updates; a `Trigger` -> its REST shape and its recent firings.

use kube::ResourceExt;
use serde_json::{Value, json};

use agentarea_crds::common::{DISPLAY_NAME_ANNOTATION, SecretKeyRef};
use agentarea_crds::trigger::conditions;
use agentarea_crds::trigger::{
    ConcurrencyPolicy, EventTrigger, HttpMethod, ScheduleTrigger, WebhookTrigger, WebhookType,
};
use agentarea_crds::{Agent, Task, Trigger, TriggerSpec};

use super::wire::{
    ExecutionHistoryResponse, ExecutionListParams, ExecutionResponse, TriggerCreate,
    TriggerResponse, TriggerToggleResponse, TriggerType, TriggerUpdate,
};
use crate::auth::Identity;
use crate::cache::ResourceCache;
use crate::error::{ApiError, ApiResult};
use crate::model::webhooks::{
    WEBHOOK_SECRET_KEY, check_rules, check_secret, method_name, random_key, setup,
};
use crate::model::{crd_word, from_json, id_or_name, rfc3339};
use crate::resources::{
    created_by, display_name, new_metadata, numbered_page, object_name_for, timestamps,
};

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
        check_conditions(
            self.conditions.as_ref(),
            self.trigger_type == TriggerType::Webhook,
        )?;
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
                let webhook = self.webhook(name)?;
                let key = match &self.webhook_secret {
                    Some(secret) => checked_secret(webhook.webhook_type, secret)?,
                    None if webhook.webhook_type == WebhookType::Discord => {
                        return Err(ApiError::unprocessable(
                            "webhook_secret: required for discord: the application's public key (hex) from Discord's developer portal",
                        ));
                    }
                    None => random_key(),
                };
                spec.webhook = Some(webhook);
                return Ok(Some(key));
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
        check_webhook_settings(self.validation_rules.as_ref(), self.webhook_config.as_ref())?;
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
    /// The webhook secret the update sets, checked for the trigger's type; a 422 for a trigger
    /// that is not a webhook, or whose Secret was named by hand (kubectl) under another key.
    pub fn webhook_secret(&self, current: &Trigger) -> ApiResult<Option<String>> {
        let Some(secret) = &self.webhook_secret else {
            return Ok(None);
        };
        let webhook = current.spec.webhook.as_ref().ok_or_else(|| {
            ApiError::unprocessable("webhook_secret: only webhook triggers have one")
        })?;
        if webhook.secret_ref.key != WEBHOOK_SECRET_KEY {
            return Err(ApiError::unprocessable(
                "webhook_secret: this trigger keeps its secret in a Secret it names; change it there",
            ));
        }
        checked_secret(webhook.webhook_type, secret).map(Some)
    }

    /// A merge patch of the fields given; settings of another trigger type are a 422.
    pub fn into_patch(self, current: &Trigger) -> ApiResult<Value> {
        check_conditions(self.conditions.as_ref(), current.spec.webhook.is_some())?;
        check_webhook_settings(self.validation_rules.as_ref(), self.webhook_config.as_ref())?;
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
        let schedule = schedule_patch(
            current,
            self.cron_expression,
            self.timezone,
            self.concurrency_policy,
        )?;
        set(&mut spec, "schedule", schedule);
        let webhook = webhook_patch(
            current,
            self.allowed_methods,
            self.validation_rules,
            self.webhook_config,
        )?;
        set(&mut spec, "webhook", webhook);
        set(&mut spec, "event", event_patch(current, self.event_config)?);
        let mut patch = json!({ "spec": spec });
        if let Some(name) = self.name {
            patch["metadata"] = json!({ "annotations": { DISPLAY_NAME_ANNOTATION: name } });
        }
        Ok(patch)
    }
}

/// A 422 naming what is wrong with `conditions`; natural-language ones are refused on webhook
/// triggers, whose sender waits for the answer a model call would hold up.
fn check_conditions(value: Option<&Value>, webhook: bool) -> ApiResult<()> {
    let condition = conditions::parse(value).map_err(ApiError::unprocessable)?;
    if webhook && !conditions::llm_conditions(&condition).is_empty() {
        return Err(ApiError::unprocessable(
            "conditions: natural-language (llm) conditions are evaluated for cron and event triggers only: a webhook's sender waits for its answer; use rule conditions",
        ));
    }
    Ok(())
}

/// A 422 for `validation_rules` that could not be applied, and for any `webhook_config`.
fn check_webhook_settings(rules: Option<&Value>, config: Option<&Value>) -> ApiResult<()> {
    check_rules(rules).map_err(ApiError::unprocessable)?;
    let empty = |v: &Value| v.is_null() || v.as_object().is_some_and(|o| o.is_empty());
    if config.is_some_and(|c| !empty(c)) {
        return Err(ApiError::unprocessable(
            "webhook_config: not supported: the answer a sender gets is its own protocol's (webhook_type)",
        ));
    }
    Ok(())
}

/// `secret` if it can be the secret of a `kind` webhook.
fn checked_secret(kind: WebhookType, secret: &str) -> ApiResult<String> {
    check_secret(kind, secret)
        .map(|()| secret.to_string())
        .map_err(|e| ApiError::unprocessable(format!("webhook_secret: {e}")))
}

fn set(object: &mut Value, key: &str, value: Option<Value>) {
    if let Some(value) = value {
        object[key] = value;
    }
}

/// The `schedule` an update patches, if it changes any of it; a 422 for a trigger without one.
fn schedule_patch(
    current: &Trigger,
    cron: Option<String>,
    time_zone: Option<String>,
    policy: Option<String>,
) -> ApiResult<Option<Value>> {
    if cron.is_none() && time_zone.is_none() && policy.is_none() {
        return Ok(None);
    }
    if current.spec.schedule.is_none() {
        return Err(ApiError::unprocessable(
            "cron_expression: only cron triggers have a schedule",
        ));
    }
    let mut schedule = json!({});
    set(&mut schedule, "cron", cron.map(Value::from));
    set(&mut schedule, "timeZone", time_zone.map(Value::from));
    if let Some(policy) = policy {
        schedule["concurrencyPolicy"] = json!(concurrency(Some(&policy))?);
    }
    Ok(Some(schedule))
}

/// The `webhook` an update patches, if it changes any of it; a 422 for a trigger without one.
fn webhook_patch(
    current: &Trigger,
    allowed_methods: Option<Vec<String>>,
    validation_rules: Option<Value>,
    webhook_config: Option<Value>,
) -> ApiResult<Option<Value>> {
    if allowed_methods.is_none() && validation_rules.is_none() && webhook_config.is_none() {
        return Ok(None);
    }
    if current.spec.webhook.is_none() {
        return Err(ApiError::unprocessable(
            "allowed_methods: only webhook triggers have webhook settings",
        ));
    }
    let mut webhook = json!({});
    if let Some(allowed) = allowed_methods {
        webhook["allowedMethods"] = json!(methods(Some(allowed))?);
    }
    set(&mut webhook, "validationRules", validation_rules);
    set(&mut webhook, "webhookConfig", webhook_config);
    Ok(Some(webhook))
}

/// The `event` an update replaces, if it gives one; a 422 for a trigger without one.
fn event_patch(current: &Trigger, event: Option<Value>) -> ApiResult<Option<Value>> {
    let Some(event) = event else {
        return Ok(None);
    };
    if current.spec.event.is_none() {
        return Err(ApiError::unprocessable(
            "event_config: only event triggers have one",
        ));
    }
    Ok(Some(json!(event_config(Some(event))?)))
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

/// A page of the trigger's recent firings, newest first, their tasks named by id while the tasks
/// exist: the operator's record and the firings held back by conditions, merged.
pub fn executions(
    trigger: &Trigger,
    tasks: &ResourceCache<Task>,
    params: &ExecutionListParams,
) -> ExecutionHistoryResponse {
    let namespace = trigger.namespace().unwrap_or_default();
    let trigger_id = trigger.uid().unwrap_or_default();
    let mut recorded: Vec<_> = trigger
        .status
        .iter()
        .flat_map(|s| s.executions.iter().chain(&s.skipped_firings))
        .filter(|e| params.matches(&e.status))
        .collect();
    recorded.sort_by_key(|e| std::cmp::Reverse(e.time.0));
    let page = numbered_page(recorded, params.page(), params.page_size());
    ExecutionHistoryResponse {
        executions: page
            .items
            .into_iter()
            .map(|e| ExecutionResponse {
                trigger_id: trigger_id.clone(),
                executed_at: e.time.0.to_string(),
                status: e.status.clone(),
                task_id: e
                    .task
                    .as_ref()
                    .map(|name| id_or_name(tasks, &namespace, name)),
                execution_time_ms: e.execution_time_ms,
                error_message: e.message.clone(),
            })
            .collect(),
        total: page.total,
        page: page.page,
        page_size: page.page_size,
        has_next: page.has_next,
    }
}

/// AgentArea's answer to enabling (`true`) or disabling a trigger.
pub fn toggled(trigger: &Trigger, enabled: bool) -> TriggerToggleResponse {
    let trigger_id = trigger.uid().unwrap_or_default();
    let verb = if enabled { "enabled" } else { "disabled" };
    TriggerToggleResponse {
        status: "success".into(),
        message: format!("Trigger {trigger_id} {verb} successfully"),
        trigger_id,
        is_active: trigger.spec.enabled,
    }
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
    let schedule = spec.schedule.as_ref();
    let webhook = spec.webhook.as_ref();
    TriggerResponse {
        id: trigger.uid().unwrap_or_default(),
        name: display_name(&trigger.metadata),
        description: spec.description.clone(),
        agent_id: id_or_name(agents, &namespace, &spec.agent),
        trigger_type: trigger_type(spec).into(),
        task_description: spec.input.clone(),
        task_parameters: spec.parameters.clone().unwrap_or_else(|| json!({})),
        conditions: spec.conditions.clone().unwrap_or_else(|| json!({})),
        failure_threshold: spec.failure_threshold,
        cron_expression: schedule.map(|s| s.cron.clone()),
        timezone: schedule.map(|s| s.time_zone.clone()),
        concurrency_policy: schedule.and_then(|s| crd_word(s.concurrency_policy)),
        webhook_id: webhook.map(|w| w.webhook_id.clone()),
        webhook_url: webhook.map(|w| format!("/v1/webhooks/{}", w.webhook_id)),
        webhook_secret,
        allowed_methods: allowed_methods(webhook),
        webhook_type: webhook.and_then(|w| crd_word(w.webhook_type)),
        webhook_setup: webhook
            .map(|w| setup(w.webhook_type, &format!("/v1/webhooks/{}", w.webhook_id))),
        validation_rules: webhook.and_then(|w| w.validation_rules.clone()),
        webhook_config: webhook.and_then(|w| w.webhook_config.clone()),
        event_config: spec
            .event
            .as_ref()
            .and_then(|e| serde_json::to_value(e).ok()),
        is_active: spec.enabled,
        consecutive_failures: status.map_or(0, |s| s.consecutive_failures),
        last_execution_at: rfc3339(status.and_then(|s| s.last_fired_time.as_ref())),
        next_run_time: rfc3339(status.and_then(|s| s.next_fire_time.as_ref())),
        k8s_name: trigger.name_any(),
        created_by: created_by(&trigger.metadata),
        managed_by: crate::gitops::managed_by(&trigger.metadata),
        created_at,
        updated_at,
    }
}

/// The methods a webhook trigger takes, as HTTP names them.
fn allowed_methods(webhook: Option<&WebhookTrigger>) -> Vec<String> {
    webhook
        .iter()
        .flat_map(|w| &w.allowed_methods)
        .map(|m| method_name(m).to_string())
        .collect()
}
