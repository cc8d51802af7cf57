//! The Trigger custom resource: its spec (a schedule, a webhook or an event, and what fires) and
//! its status.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::common::{SecretKeyRef, conditions_schema, free_form_object};

#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[kube(
    group = "agentarea.io",
    version = "v1alpha1",
    kind = "Trigger",
    namespaced,
    status = "TriggerStatus",
    shortname = "trg",
    category = "agentarea",
    derive = "PartialEq",
    doc = "Starts Tasks for an agent on a cron schedule, on a signed webhook, or when another resource changes.",
    printcolumn(name = "Agent", type_ = "string", json_path = ".spec.agent"),
    printcolumn(name = "Type", type_ = "string", json_path = ".status.type"),
    printcolumn(name = "Enabled", type_ = "boolean", json_path = ".spec.enabled"),
    printcolumn(
        name = "Last Fired",
        type_ = "date",
        json_path = ".status.lastFiredTime"
    ),
    printcolumn(
        name = "Next Fire",
        type_ = "string",
        json_path = ".status.nextFireTime"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[x_kube(validation = kube::core::Rule::new(
    "[has(self.schedule), has(self.webhook), has(self.event)].filter(x, x).size() == 1"
).message("exactly one of spec.schedule, spec.webhook or spec.event must be set"))]
#[serde(rename_all = "camelCase")]
pub struct TriggerSpec {
    /// Name of the Agent whose Tasks this trigger creates.
    #[schemars(
        length(min = 1, max = 63),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    )]
    pub agent: String,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    pub description: Option<String>,

    /// A disabled trigger never fires.
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,

    /// Template of the Task's input. `{{ name }}` is replaced from the firing's context:
    /// `trigger.name`, `time`, `payload.<path>` (webhook body), `event.<path>` (the watched object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 65536))]
    pub input: Option<String>,

    /// Parameters given to every Task (AgentArea's `task_parameters`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_form_object")]
    pub parameters: Option<Value>,

    /// Which firings start a Task, in AgentArea's shape: rule conditions (`{"type": "rule",
    /// "rules": [{"field": "payload.action", "operator": "eq", "value": "opened"}]}`), a
    /// natural-language condition a model judges (`{"type": "llm", "description": ...}`), or
    /// `combined` ones, with `logic` AND or OR. Fields are dotted paths into what the input
    /// template sees. A firing that does not match starts nothing and is recorded as skipped,
    /// with the reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_form_object")]
    pub conditions: Option<Value>,

    /// Failed firings in a row after which the trigger disables itself.
    #[serde(default = "default_failure_threshold")]
    #[schemars(range(min = 1, max = 100))]
    pub failure_threshold: i32,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<ScheduleTrigger>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookTrigger>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<EventTrigger>,
}

fn enabled_by_default() -> bool {
    true
}
fn default_failure_threshold() -> i32 {
    5
}

/// Fire on a cron schedule, with CronJob's policies.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleTrigger {
    /// Five fields (minute hour day-of-month month day-of-week), six with seconds first, or a
    /// macro such as `@hourly`.
    #[schemars(
        length(min = 1, max = 256),
        regex(
            pattern = r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|\S+(\s+\S+){4,5})$"
        )
    )]
    pub cron: String,
    /// IANA time zone the schedule is read in.
    #[serde(default = "default_time_zone")]
    #[schemars(
        length(min = 1, max = 64),
        regex(pattern = r"^[A-Za-z][A-Za-z0-9_+/-]*$")
    )]
    pub time_zone: String,
    #[serde(default)]
    pub concurrency_policy: ConcurrencyPolicy,
    /// A run missed by more than this many seconds is skipped, not started late.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub starting_deadline_seconds: Option<i64>,
    /// Finished Tasks of this trigger that are kept, by outcome.
    #[serde(default = "default_successful_history")]
    #[schemars(range(min = 0, max = 100))]
    pub successful_history_limit: i32,
    #[serde(default = "default_failed_history")]
    #[schemars(range(min = 0, max = 100))]
    pub failed_history_limit: i32,
}

fn default_time_zone() -> String {
    "UTC".into()
}
fn default_successful_history() -> i32 {
    3
}
fn default_failed_history() -> i32 {
    1
}

/// What to do when a run is due while the previous one is still going (as CronJob).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum ConcurrencyPolicy {
    #[default]
    Allow,
    Forbid,
    Replace,
}

/// Fire when a signed request arrives at `/v1/webhooks/{webhookId}`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[x_kube(validation = kube::core::Rule::new("!has(self.webhookConfig)")
    .message("webhookConfig is not supported: the answer a sender gets is the sender's protocol (webhookType)"))]
#[serde(rename_all = "camelCase")]
pub struct WebhookTrigger {
    /// The path segment the webhook is reached at; unique in the cluster.
    #[schemars(length(min = 8, max = 128), regex(pattern = r"^[A-Za-z0-9_-]+$"))]
    pub webhook_id: String,
    /// The secret the sender signs with, which is also what is set at the sender: the HMAC key
    /// (generic, GitHub, Slack's signing secret, Stripe's `whsec_...` endpoint secret), the
    /// secret token (Telegram), or the application's public key in hex (Discord).
    pub secret_ref: SecretKeyRef,
    #[serde(default = "default_methods")]
    #[schemars(length(min = 1, max = 4))]
    pub allowed_methods: Vec<HttpMethod>,
    /// Whose signature scheme requests carry: `generic` (`X-AgentArea-Timestamp` and
    /// `X-AgentArea-Signature: sha256=<hex of HMAC(key, timestamp + "." + body)>`), `github`,
    /// `slack`, `stripe`, `telegram` or `discord`, each checked as that sender documents it.
    #[serde(default)]
    pub webhook_type: WebhookType,
    /// Requests whose signed timestamp is further than this from now are refused as replays
    /// (generic, Slack, Stripe, Discord; GitHub and Telegram sign no time).
    #[serde(default = "default_replay_window")]
    #[schemars(range(min = 1, max = 86400))]
    pub replay_window_seconds: i64,
    /// What a delivery must be (`required_headers`, `content_type`, `body_format`,
    /// `required_fields`, `json_schema`); one that is not is answered 422 naming the rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_form_object")]
    pub validation_rules: Option<Value>,
    /// Refused (see the rule above): kept in the schema so that a manifest setting it is told
    /// why, rather than having it pruned in silence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_form_object")]
    pub webhook_config: Option<Value>,
}

fn default_methods() -> Vec<HttpMethod> {
    vec![HttpMethod::Post]
}
fn default_replay_window() -> i64 {
    300
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    Get,
    Post,
    Put,
    Patch,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum WebhookType {
    #[default]
    Generic,
    Telegram,
    Slack,
    Github,
    Discord,
    Stripe,
}

impl WebhookType {
    /// The word the API and the CRD spell it with.
    pub fn name(self) -> &'static str {
        match self {
            Self::Generic => "generic",
            Self::Telegram => "telegram",
            Self::Slack => "slack",
            Self::Github => "github",
            Self::Discord => "discord",
            Self::Stripe => "stripe",
        }
    }
}

/// Fire when a resource in the namespace matches a filter.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[x_kube(validation = kube::core::Rule::new("self.kind == 'Task' || size(self.phases) == 0")
    .message("phases apply to kind Task only"))]
#[serde(rename_all = "camelCase")]
pub struct EventTrigger {
    pub kind: WatchedKind,
    /// Only this object (by name); empty means any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 63))]
    pub name: Option<String>,
    /// For Tasks: only Tasks of this agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 63))]
    pub agent: Option<String>,
    /// For Tasks: fire when a Task reaches one of these phases.
    #[serde(default)]
    pub phases: Vec<WatchedTaskPhase>,
    /// For Agents and McpServerInstances: fire when the `Ready` condition becomes this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<bool>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum WatchedKind {
    Task,
    Agent,
    McpServerInstance,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum WatchedTaskPhase {
    Succeeded,
    Failed,
    Cancelled,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct TriggerStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `schedule`, `webhook` or `event`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_fired_time: Option<Time>,
    /// The last scheduled time a run was considered for (fired or skipped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_schedule_time: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_fire_time: Option<Time>,
    #[serde(default)]
    pub fired_count: i64,
    #[serde(default)]
    pub failed_count: i64,
    #[serde(default)]
    pub consecutive_failures: i32,
    /// Tasks of this trigger that have not finished.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub active: Vec<String>,
    /// The most recent firings, newest first (bounded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub executions: Vec<TriggerExecution>,
    /// Webhook deliveries and events that started nothing because the trigger's conditions did
    /// not match, newest first (bounded), with the reason. Written by whoever decided (the api
    /// for a webhook, the operator's event matcher for an event) as a merge patch carrying the
    /// resourceVersion, so neither loses the other's entry; the trigger's reconcile never sends
    /// this field. Schedule runs held back are in `executions`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped_firings: Vec<TriggerExecution>,
}

/// One firing of a trigger.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TriggerExecution {
    pub time: Time,
    /// `fired` (its Task has not finished), then `succeeded`, `failed` or `cancelled` as the Task
    /// ended; `skipped` (the concurrency policy or the starting deadline held it back); `error`
    /// (its Task could not be created).
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_time_ms: Option<i64>,
}
