//! The trigger bodies of `/v1/triggers`, as clients send and receive them.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::constraints::{Name, PageNumber, PageSize};

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
    /// Which firings start a task, in AgentArea's shape: `{"type": "rule", "logic": "AND",
    /// "rules": [{"field": "payload.action", "operator": "eq", "value": "opened"}]}` (operators
    /// eq, ne, gt, lt, gte, lte, contains, not_contains, exists, not_exists; fields are dotted
    /// paths into what the input template sees: `payload.*` and `webhook.event` for webhooks,
    /// `event.*`, `schedule.time`), `{"type": "llm", "description": "..."}` (judged by the
    /// trigger's agent's model; schedule and event triggers only, since a webhook's sender waits
    /// for its answer), or `{"type": "combined", "logic": "OR", "conditions": [...]}`. A firing
    /// that does not match starts nothing and is listed among the executions as `skipped` with
    /// the reason. Malformed conditions are a 422 naming the part.
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
    /// Whose signatures the webhook checks, as that sender makes them: `generic` (the
    /// default), `github`, `slack`, `stripe`, `telegram` or `discord`. The answer's
    /// `webhook_setup` says what to set at the sender.
    pub webhook_type: Option<String>,
    /// For `webhook`: the secret the sender was given or gave you (Slack's signing secret,
    /// Stripe's `whsec_...`, GitHub's or Telegram's secret; for `discord`, required: the
    /// application's public key in hex). Generated when absent.
    pub webhook_secret: Option<String>,
    /// What a delivery must be: `required_headers`, `content_type`, `body_format: "json"`,
    /// `required_fields` (dotted paths of the payload), `json_schema` (type, properties,
    /// required, additionalProperties, items, enum, const, minimum, maximum, minLength,
    /// maxLength, minItems, maxItems). A delivery that breaks one is a 422 naming it; an unknown
    /// rule or schema keyword is a 422 here.
    #[schema(value_type = Option<Object>)]
    pub validation_rules: Option<Value>,
    /// Refused (422) when not empty: the answer a sender gets is its own protocol's (see
    /// `webhook_type`), not configurable.
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
    /// Replaces the webhook's secret (as on create), e.g. with Stripe's endpoint secret.
    pub webhook_secret: Option<String>,
    /// As on create.
    #[schema(value_type = Option<Object>)]
    pub validation_rules: Option<Value>,
    /// Refused (422) when not empty, as on create.
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
    /// For webhooks: where to set the URL and the secret at the sender, for its type.
    pub webhook_setup: Option<String>,
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
    /// The GitOps engine that applies it from Git ("Flux Kustomization ws-team-a/agents"):
    /// changed in Git, not here (PATCH and DELETE answer 409). Null when the api may change it.
    pub managed_by: Option<String>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

#[derive(Serialize, Debug, ToSchema)]
pub struct ExecutionResponse {
    /// The trigger that fired (its id).
    pub trigger_id: String,
    pub executed_at: String,
    /// `fired` (its task has not finished), `succeeded`, `failed`, `cancelled`, `skipped` (the
    /// conditions did not match, or the schedule's policy held it back: `error_message` says
    /// why) or `error` (its task could not be created).
    pub status: String,
    pub task_id: Option<String>,
    pub execution_time_ms: Option<i64>,
    pub error_message: Option<String>,
}

/// `GET /v1/triggers/{id}/executions`: a page of the trigger's firings, newest first, as
/// AgentArea pages them.
#[derive(Serialize, Debug, ToSchema)]
pub struct ExecutionHistoryResponse {
    pub executions: Vec<ExecutionResponse>,
    pub total: usize,
    pub page: usize,
    pub page_size: usize,
    pub has_next: bool,
}

/// The answer of `POST /v1/triggers/{id}/enable` and `/disable`, as AgentArea gives it.
#[derive(Serialize, Debug, ToSchema)]
pub struct TriggerToggleResponse {
    /// `success`.
    pub status: String,
    pub message: String,
    pub trigger_id: String,
    /// Whether the trigger fires now.
    pub is_active: bool,
}

/// Which of a trigger's executions a page holds.
#[derive(Deserialize, Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExecutionListParams {
    /// 1-based page number (default 1).
    #[param(inline)]
    pub page: Option<PageNumber>,
    /// Executions per page (default 50).
    #[param(inline)]
    pub page_size: Option<PageSize>,
    /// Only executions with this status (`fired`, `succeeded`, `failed`, `cancelled`, `skipped`,
    /// `error`); another word matches none.
    pub status: Option<String>,
}

impl ExecutionListParams {
    pub fn page(&self) -> usize {
        self.page.map_or(1, PageNumber::get)
    }

    pub fn page_size(&self) -> usize {
        self.page_size.map_or(50, PageSize::get)
    }

    pub fn matches(&self, status: &str) -> bool {
        self.status.as_deref().is_none_or(|wanted| wanted == status)
    }
}
