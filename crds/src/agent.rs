//! `Agent`: an instruction, a model, and the skills and MCP server instances it may use.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::common::{LocalRef, SecretKeyRef, conditions_schema, free_form_object};
pub use crate::mcp_server_instance::ToolAnnotations;

/// What an agent is told, which model it talks to, and what it may use.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[kube(
    group = "agentarea.io",
    version = "v1alpha1",
    kind = "Agent",
    namespaced,
    status = "AgentStatus",
    shortname = "agt",
    category = "agentarea",
    derive = "PartialEq",
    doc = "An AI agent: its instruction, its model endpoint, and the skills and MCP server instances whose tools it may call.",
    printcolumn(name = "Model", type_ = "string", json_path = ".spec.model.name"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(name = "Tools", type_ = "integer", json_path = ".status.toolCount"),
    printcolumn(
        name = "Reason",
        type_ = "string",
        priority = 1,
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct AgentSpec {
    /// What the agent is for, shown to people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    pub description: Option<String>,

    /// The system prompt: who the agent is and how it works.
    #[schemars(length(min = 1, max = 65536))]
    pub instruction: String,

    /// The OpenAI-compatible chat-completions model the agent talks to.
    pub model: ModelSpec,

    /// Skills whose instructions and tools the agent takes on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    #[x_kube(merge_strategy = kube::core::ListMerge::Map(vec!["name".into()]))]
    pub skills: Vec<LocalRef>,

    /// MCP server instances whose tools the agent may call.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    #[x_kube(merge_strategy = kube::core::ListMerge::Map(vec!["name".into()]))]
    pub mcp_servers: Vec<AgentMcpServer>,

    /// Refused when not empty: the platform has no built-in tools yet (an agent's tools are its
    /// MCP servers', its skills' and its agents'), and a listed tool the agent could never call
    /// would mislead whoever reads the manifest.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    #[x_kube(validation = kube::core::Rule::new("size(self) == 0")
        .message("builtinTools is not supported: there are no built-in tools; give the agent MCP servers, skills or agents"))]
    pub builtin_tools: Vec<BuiltinTool>,

    /// Refused when not empty: every step of every Task is published (on the Task's stream and
    /// `/v1/events`), and choosing among them is not implemented.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    #[x_kube(validation = kube::core::Rule::new("size(self) == 0")
        .message("events is not supported: every step is published; subscribe to /v1/events and filter there"))]
    pub events: Vec<AgentEvent>,

    /// Only `false` is accepted: a planning phase is not implemented, so `true` is refused
    /// rather than stored and ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new("!self")
        .message("planning is not supported: say in the instruction how the agent should plan"))]
    pub planning: Option<bool>,

    /// Refused when not empty: nothing routes by capability, so labels here would promise what
    /// nothing does. Use `description` (for people) or metadata labels (for selection).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    #[x_kube(validation = kube::core::Rule::new("size(self) == 0")
        .message("capabilities is not supported: nothing routes by capability; use description or labels"))]
    pub capabilities: Vec<String>,

    /// Bounds on every task the agent runs.
    #[serde(default)]
    pub limits: AgentLimits,

    /// Other Agents of the workspace this agent may call as tools. A call runs the named agent on
    /// the model's request as a child Task, owned by the calling Task and bounded by what is left
    /// of its limits; agents call agents at most three deep, and never one already in the chain.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    #[x_kube(merge_strategy = kube::core::ListMerge::Map(vec!["name".into()]))]
    pub agents: Vec<AgentTool>,

    /// Which calls to the agent's MCP tools wait for a person's approval, decided from the hints
    /// each tool's server declares (its MCP `annotations`). Absent means policy `None`. A tool
    /// listed under `mcpServers[].allowedTools` with `requiresUserConfirmation: true` always needs
    /// approval, whatever the policy. The decision for each tool is in `status.tools[]`
    /// (`requiresApproval`, `approvalReason`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_approval: Option<ToolApproval>,
}

/// When calls to the agent's MCP tools need a person's approval.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ToolApproval {
    /// Which tools need approval, from the hints their servers declare. `None`: no tool (only
    /// those listed with `requiresUserConfirmation`). `Destructive`: tools that may destroy or
    /// overwrite, i.e. all but those with `readOnlyHint: true` or `destructiveHint: false`.
    /// `NotReadOnly`: all but those with `readOnlyHint: true`. `All`: every tool. A hint the server
    /// leaves out counts as MCP's default (not read-only, destructive), so a tool without
    /// annotations needs approval under `Destructive` and `NotReadOnly`. Hints are the server's
    /// word: for a server you do not trust, use `All` or list its tools with
    /// `requiresUserConfirmation`.
    #[serde(default)]
    pub policy: ToolApprovalPolicy,
    /// Seconds a tool call waits for a decision before `onTimeout` applies; none: it waits until
    /// someone decides (or the Task is cancelled). The wait holds no operator slot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 31536000))]
    pub timeout_seconds: Option<i64>,
    /// What a wait nobody answered in time ends with: `Reject` (the default) tells the model the
    /// call was not made; `Fail` fails the Task with `ApprovalTimedOut`.
    #[serde(default, skip_serializing_if = "ApprovalTimeoutAction::is_default")]
    pub on_timeout: ApprovalTimeoutAction,
}

/// What ends a wait for approval that nobody answered in time.
// The REST document has always named this enum `OnApprovalTimeout` and worded it its own way.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(
        as = OnApprovalTimeout,
        description = "What a wait for approval that nobody answered in time ends with."
    )
)]
pub enum ApprovalTimeoutAction {
    /// The call is rejected, and the model told so.
    #[default]
    Reject,
    /// The Task fails with `ApprovalTimedOut`.
    Fail,
}

impl ApprovalTimeoutAction {
    /// Whether it is the default, which the stored spec leaves out (as a manifest would).
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// Another Agent offered to the model as a tool.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentTool {
    /// Name of the Agent, in the same namespace.
    #[schemars(
        length(min = 1, max = 63),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    )]
    pub name: String,
    /// What the model is told the agent is good for; the agent's own description when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub description: Option<String>,
}

/// A preset of [`ToolApproval`]: which tools need a person's approval, from their hints.
// The REST document describes the policy in the REST field names (`requires_user_confirmation`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(
        description = "Which tools need approval. `None`: no tool (only those listed with\n\
        `requires_user_confirmation`). `Destructive`: all but those whose server declares\n\
        `readOnlyHint: true` or `destructiveHint: false`. `NotReadOnly`: all but those with\n\
        `readOnlyHint: true`. `All`: every tool. A hint the server leaves out counts as MCP's default\n\
        (not read-only, destructive)."
    )
)]
pub enum ToolApprovalPolicy {
    /// No tool, beyond those the agent lists with `requiresUserConfirmation`.
    #[default]
    None,
    /// Tools that may destroy or overwrite: not `readOnlyHint`, and `destructiveHint` true or
    /// absent.
    Destructive,
    /// Tools that may change anything: `readOnlyHint` false or absent.
    NotReadOnly,
    /// Every tool.
    All,
}

impl ToolApprovalPolicy {
    /// The name the spec spells the policy with.
    pub fn as_str(self) -> &'static str {
        match self {
            ToolApprovalPolicy::None => "None",
            ToolApprovalPolicy::Destructive => "Destructive",
            ToolApprovalPolicy::NotReadOnly => "NotReadOnly",
            ToolApprovalPolicy::All => "All",
        }
    }
}

/// An OpenAI-compatible chat-completions endpoint and model (OpenAI, Ollama, vLLM, LiteLLM, ...).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ModelSpec {
    /// The model name the endpoint knows, e.g. `gpt-4o-mini` or `llama3.1:8b`.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,

    /// Base URL of the endpoint, up to and including `/v1` (e.g. `http://ollama:11434/v1`).
    /// Empty means the operator's default endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048), regex(pattern = r"^https?://[^\s]+$"))]
    pub endpoint: Option<String>,

    /// The API key, sent as a bearer token. Optional for endpoints that need none (Ollama).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_secret_ref: Option<SecretKeyRef>,

    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 2.0))]
    pub temperature: Option<f64>,

    /// Upper bound on tokens in one model answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1_000_000))]
    pub max_output_tokens: Option<i64>,
}

/// An MCP server instance the agent uses, and which of its tools.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentMcpServer {
    /// Name of the McpServerInstance in the same namespace.
    #[schemars(
        length(min = 1, max = 63),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    )]
    pub name: String,

    /// The tools the agent may call; empty means every tool the instance offers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256))]
    pub allowed_tools: Vec<AllowedTool>,

    /// Per-agent configuration passed along with the server, as the client gave it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_form_object")]
    pub config: Option<Value>,
}

/// One tool of an MCP server that the agent may call.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AllowedTool {
    /// The tool's name as the server lists it.
    #[schemars(length(min = 1, max = 128))]
    pub name: String,
    /// Whether a person must confirm each call.
    #[serde(default)]
    pub requires_user_confirmation: bool,
}

/// A platform built-in tool.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BuiltinTool {
    #[schemars(length(min = 1, max = 128))]
    pub name: String,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    #[serde(default)]
    pub requires_user_confirmation: bool,
}

/// An event the agent publishes.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentEvent {
    #[schemars(length(min = 1, max = 128))]
    pub event_type: String,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_form_object")]
    pub config: Option<Value>,
}

fn enabled_by_default() -> bool {
    true
}

/// Bounds on one task's run.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentLimits {
    /// Model calls in one task before it fails with `MaxStepsExceeded`.
    #[serde(default = "default_max_steps")]
    #[schemars(range(min = 1, max = 500))]
    pub max_steps: i32,
    /// Wall-clock seconds for one task before it fails with `Timeout`.
    #[serde(default = "default_timeout_seconds")]
    #[schemars(range(min = 1, max = 86400))]
    pub timeout_seconds: i64,
    /// Total tokens (prompt plus completion) one task may spend; none means no budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_total_tokens: Option<i64>,
}

impl Default for AgentLimits {
    fn default() -> Self {
        Self {
            max_steps: default_max_steps(),
            timeout_seconds: default_timeout_seconds(),
            max_total_tokens: None,
        }
    }
}

fn default_max_steps() -> i32 {
    20
}
fn default_timeout_seconds() -> i64 {
    600
}

/// What the operator resolved for the agent.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct AgentStatus {
    /// The generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// `Ready` says whether every skill, instance, tool and secret the agent names resolves.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,

    /// The system prompt in effect: the agent's instruction followed by each attached skill's
    /// instructions, in the order the skills are listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,

    /// The tools the model is offered, after skills and allow-lists are applied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ResolvedTool>,

    /// Number of resolved tools (for `kubectl get`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_count: Option<i32>,

    /// The model endpoint in effect (the agent's own or the operator's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_endpoint: Option<String>,
}

/// A tool offered to the model, and where calls to it go.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedTool {
    /// The name the model sees.
    pub name: String,
    /// The McpServerInstance that serves it.
    pub instance: String,
    /// The name the instance knows it by.
    pub tool: String,
    /// The skill that asked for it, if it came from a skill.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skill: Option<String>,
    /// Whether the agent's listing of the tool asks for a person's confirmation of each call
    /// (`allowedTools[].requiresUserConfirmation`), as listed; see `requiresApproval` for the
    /// decision in effect.
    #[serde(default)]
    pub requires_user_confirmation: bool,
    /// Whether a person must approve each call before it is made: the decision in effect, from the
    /// agent's listing of it, the tool's annotations and `spec.toolApproval`.
    #[serde(default)]
    pub requires_approval: bool,
    /// Why `requiresApproval` is what it is, in a short phrase for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_reason: Option<String>,
    /// The tool's behaviour hints as its server declared them, copied from the instance's
    /// discovered tools; absent when the server gave none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<ToolAnnotations>,
}
