//! The agent bodies of `/v1/agents`, as clients send and receive them.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use agentarea_crds::agent::{ApprovalTimeoutAction, ToolApprovalPolicy};

use crate::constraints::{Name, Text};

/// Which tools of which MCP servers the agent may use.
#[derive(Serialize, Deserialize, Clone, Debug, Default, ToSchema)]
pub struct ToolsConfig {
    #[serde(default)]
    pub mcp_server_configs: Vec<McpServerConfig>,
    /// Refused (422) when not empty: the platform has no built-in tools; an agent's tools are
    /// its MCP servers', its skills' and its agents'.
    #[serde(default)]
    pub builtin_tools: Vec<BuiltinToolConfig>,
    /// Only `false` is accepted (as `planning`).
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

/// Another agent of the workspace that this agent may call as a tool: the model sees it as
/// `agent_<name>(input)`, and a call runs it as a child task.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, ToSchema)]
pub struct CallableAgentConfig {
    /// Id or name of the agent. Responses give its id, or its name while no such agent exists.
    #[schema(example = "researcher")]
    pub agent_id: String,
    /// What the model is told the agent is good for; the agent's own description when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
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

/// When calls to the agent's MCP tools wait for a person's approval, decided from the hints
/// (MCP `annotations`) each tool's server declares. A tool listed in `allowed_tools` with
/// `requires_user_confirmation` always needs approval, whatever the policy.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, ToSchema)]
pub struct ToolApprovalConfig {
    #[serde(default)]
    pub policy: ToolApprovalPolicy,
    /// Seconds a call waits for a decision before `on_timeout` applies; none waits until someone
    /// decides.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 31536000)]
    pub timeout_seconds: Option<i64>,
    /// `Reject` (the default): the model is told the call was not made. `Fail`: the task fails
    /// with `ApprovalTimedOut`.
    #[serde(default)]
    pub on_timeout: ApprovalTimeoutAction,
}

#[derive(Deserialize, Debug, ToSchema)]
#[schema(example = json!({
    "name": "support-bot", "instruction": "Answer support questions briefly.",
    "model_id": "gpt-4o-mini", "description": "First-line support",
}))]
pub struct AgentCreate {
    #[schema(example = "support-bot")]
    pub name: Name,
    #[serde(default)]
    pub description: Option<String>,
    /// The system prompt.
    #[schema(example = "Answer support questions briefly.")]
    pub instruction: Text,
    /// The model name at the endpoint, e.g. `gpt-4o-mini`.
    #[schema(example = "gpt-4o-mini")]
    pub model_id: Text,
    /// OpenAI-compatible base URL; the operator's default when absent.
    #[serde(default)]
    pub model_endpoint: Option<String>,
    #[serde(default)]
    pub tools_config: Option<ToolsConfig>,
    /// Refused (422) when it lists events: every step of every task is published (the task's
    /// stream, `/v1/events`), and choosing among them is not implemented.
    #[serde(default)]
    pub events_config: Option<EventsConfig>,
    /// Only `false` is accepted: a planning phase is not implemented, so `true` is a 422.
    #[serde(default)]
    pub planning: Option<bool>,
    /// Refused (422) when not empty: nothing routes by capability.
    #[serde(default)]
    pub capabilities: Option<Vec<String>>,
    /// Ids or names of skills the agent takes on.
    #[serde(default)]
    pub skills: Option<Vec<String>>,
    /// Which tool calls wait for a person's approval; policy `None` when absent.
    #[serde(default)]
    pub tool_approval: Option<ToolApprovalConfig>,
    /// Other agents of the workspace this agent may call as tools.
    #[serde(default)]
    pub agents: Option<Vec<CallableAgentConfig>>,
}

#[derive(Deserialize, Debug, Default, ToSchema)]
pub struct AgentUpdate {
    pub name: Option<Name>,
    pub description: Option<String>,
    pub instruction: Option<Text>,
    pub model_id: Option<Text>,
    pub model_endpoint: Option<String>,
    pub tools_config: Option<ToolsConfig>,
    /// Refused (422) when it lists events, as on create.
    pub events_config: Option<EventsConfig>,
    /// Only `false` is accepted, as on create.
    pub planning: Option<bool>,
    /// Refused (422) when not empty, as on create.
    pub capabilities: Option<Vec<String>>,
    pub skills: Option<Vec<String>>,
    /// Replaces the approval policy.
    pub tool_approval: Option<ToolApprovalConfig>,
    /// Replaces the agents it may call; `[]` removes them all.
    pub agents: Option<Vec<CallableAgentConfig>>,
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
    /// The approval policy in effect (`None` when the agent sets none).
    pub tool_approval: ToolApprovalConfig,
    /// The offered tools whose calls wait for a person's approval, under the policy, the
    /// tools' hints and `requires_user_confirmation`.
    pub tools_requiring_approval: Vec<String>,
    /// Other agents of the workspace it may call as tools.
    pub agents: Vec<CallableAgentConfig>,
    /// The Kubernetes object name (`kubectl get agent <k8s_name>`).
    pub k8s_name: String,
    pub created_by: Option<String>,
    /// The GitOps engine that applies it from Git ("Flux Kustomization ws-team-a/agents"):
    /// changed in Git, not here (PATCH and DELETE answer 409). Null when the api may change it.
    pub managed_by: Option<String>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}
