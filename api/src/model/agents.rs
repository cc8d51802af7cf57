//! Agents on the wire: AgentArea's agent bodies and their mapping onto `Agent` resources.

use kube::ResourceExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use agentarea_crds::agent::{
    AgentEvent, AgentMcpServer, AgentTool, AllowedTool, ApprovalTimeoutAction, BuiltinTool,
    ModelSpec, ToolApproval, ToolApprovalPolicy,
};
use agentarea_crds::common::{DISPLAY_NAME_ANNOTATION, LocalRef, condition, is_condition_true};
use agentarea_crds::{Agent, AgentSpec, McpServerInstance, Skill};

use crate::auth::Identity;
use crate::cache::ResourceCache;
use crate::constraints::{Name, Text};
use crate::error::{ApiError, ApiResult};
use crate::model::not_ready_message;
use crate::resources::{created_by, display_name, new_metadata, object_name_for, timestamps};

/// Which tools of which MCP servers the agent may use.
#[derive(Serialize, Deserialize, Clone, Debug, Default, ToSchema)]
pub struct ToolsConfig {
    #[serde(default)]
    pub mcp_server_configs: Vec<McpServerConfig>,
    #[serde(default)]
    pub builtin_tools: Vec<BuiltinToolConfig>,
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

impl From<ToolApprovalConfig> for ToolApproval {
    fn from(config: ToolApprovalConfig) -> Self {
        ToolApproval {
            policy: config.policy,
            timeout_seconds: config.timeout_seconds,
            on_timeout: config.on_timeout,
        }
    }
}

impl From<&ToolApproval> for ToolApprovalConfig {
    fn from(stored: &ToolApproval) -> Self {
        ToolApprovalConfig {
            policy: stored.policy,
            timeout_seconds: stored.timeout_seconds,
            on_timeout: stored.on_timeout,
        }
    }
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
    #[serde(default)]
    pub events_config: Option<EventsConfig>,
    #[serde(default)]
    pub planning: Option<bool>,
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
    pub events_config: Option<EventsConfig>,
    pub planning: Option<bool>,
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
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

#[derive(Deserialize, Debug, Default, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AgentListParams {
    /// `me`: only agents the caller created.
    pub created_by: Option<String>,
}

impl AgentListParams {
    pub fn matches(&self, agent: &Agent, caller: &Identity) -> bool {
        self.created_by.as_deref() != Some("me")
            || created_by(&agent.metadata).as_deref() == Some(caller.subject.as_str())
    }
}

/// What an agent body names by id or name: the workspace's skills, MCP server instances and
/// other agents.
pub struct References<'a> {
    pub namespace: &'a str,
    pub skills: &'a ResourceCache<Skill>,
    pub mcp_server_instances: &'a ResourceCache<McpServerInstance>,
    pub agents: &'a ResourceCache<Agent>,
}

impl AgentCreate {
    /// The Agent to create, after checking the body; an unknown skill or server is a 422 naming
    /// it.
    pub fn into_agent(self, refs: &References, caller: &Identity) -> ApiResult<Agent> {
        let (name, display) = object_name_for(&self.name);
        let tools_config = self.tools_config.unwrap_or_default();
        let agents = refs.resolve_agents(self.agents.unwrap_or_default(), &name)?;
        let spec = AgentSpec {
            description: self.description,
            instruction: self.instruction.into_inner(),
            model: ModelSpec {
                name: self.model_id.into_inner(),
                endpoint: self.model_endpoint,
                ..ModelSpec::default()
            },
            skills: refs.resolve_skills(self.skills.unwrap_or_default())?,
            mcp_servers: refs.resolve_mcp_servers(&tools_config.mcp_server_configs)?,
            builtin_tools: builtin_tools(&tools_config.builtin_tools),
            events: events(self.events_config.unwrap_or_default()),
            planning: self.planning.or(tools_config.planning),
            capabilities: self.capabilities.unwrap_or_default(),
            limits: Default::default(),
            agents,
            tool_approval: self.tool_approval.map(Into::into),
        };
        Ok(Agent {
            metadata: new_metadata(name, display, refs.namespace, caller),
            spec,
            status: None,
        })
    }
}

impl AgentUpdate {
    /// A merge patch of the fields given; the rest stay. `name` is the agent's object name.
    pub fn into_patch(self, refs: &References, name: &str) -> ApiResult<Value> {
        let mut spec = serde_json::Map::new();
        if let Some(agents) = self.agents {
            spec.insert("agents".into(), json!(refs.resolve_agents(agents, name)?));
        }
        if let Some(instruction) = self.instruction {
            spec.insert("instruction".into(), json!(instruction));
        }
        if let Some(description) = self.description {
            spec.insert("description".into(), json!(description));
        }
        if let Some(model) = model_patch(self.model_id, self.model_endpoint) {
            spec.insert("model".into(), model);
        }
        if let Some(tools) = &self.tools_config {
            let servers = refs.resolve_mcp_servers(&tools.mcp_server_configs)?;
            spec.insert("mcpServers".into(), json!(servers));
            spec.insert(
                "builtinTools".into(),
                json!(builtin_tools(&tools.builtin_tools)),
            );
            if let Some(planning) = tools.planning {
                spec.insert("planning".into(), json!(planning));
            }
        }
        if let Some(events_config) = self.events_config {
            spec.insert("events".into(), json!(events(events_config)));
        }
        if let Some(planning) = self.planning {
            spec.insert("planning".into(), json!(planning));
        }
        if let Some(capabilities) = self.capabilities {
            spec.insert("capabilities".into(), json!(capabilities));
        }
        if let Some(skills) = self.skills {
            spec.insert("skills".into(), json!(refs.resolve_skills(skills)?));
        }
        if let Some(tool_approval) = self.tool_approval {
            spec.insert(
                "toolApproval".into(),
                json!(ToolApproval::from(tool_approval)),
            );
        }
        let mut patch = json!({ "spec": spec });
        if let Some(name) = self.name {
            patch["metadata"] = json!({ "annotations": { DISPLAY_NAME_ANNOTATION: name } });
        }
        Ok(patch)
    }
}

fn model_patch(model_id: Option<Text>, endpoint: Option<String>) -> Option<Value> {
    let mut model = serde_json::Map::new();
    if let Some(model_id) = model_id {
        model.insert("name".into(), json!(model_id));
    }
    if let Some(endpoint) = endpoint {
        model.insert("endpoint".into(), json!(endpoint));
    }
    (!model.is_empty()).then_some(Value::Object(model))
}

impl References<'_> {
    /// Agent ids or names -> the agents' names; an unknown one, one listed twice, or the agent
    /// itself (`own_name`) is a 422 naming it. Longer cycles are refused when a task calls along
    /// one (agents may be created in any order).
    fn resolve_agents(
        &self,
        configs: Vec<CallableAgentConfig>,
        own_name: &str,
    ) -> ApiResult<Vec<AgentTool>> {
        let mut resolved: Vec<AgentTool> = Vec::with_capacity(configs.len());
        for (i, config) in configs.into_iter().enumerate() {
            let agent = self
                .agents
                .find(self.namespace, &config.agent_id)
                .ok_or_else(|| {
                    ApiError::unprocessable(format!(
                        "agents[{i}].agent_id: agent {:?} not found",
                        config.agent_id
                    ))
                })?;
            let name = agent.name_any();
            if name == own_name {
                return Err(ApiError::unprocessable(format!(
                    "agents[{i}].agent_id: an agent cannot call itself"
                )));
            }
            if resolved.iter().any(|a| a.name == name) {
                return Err(ApiError::unprocessable(format!(
                    "agents[{i}].agent_id: agent {:?} is listed twice",
                    config.agent_id
                )));
            }
            resolved.push(AgentTool {
                name,
                description: config.description,
            });
        }
        Ok(resolved)
    }

    /// Skill ids or names -> Skill references; an unknown one is a 422 naming it.
    fn resolve_skills(&self, ids: Vec<String>) -> ApiResult<Vec<LocalRef>> {
        ids.into_iter()
            .enumerate()
            .map(|(i, id)| {
                self.skills
                    .find(self.namespace, &id)
                    .map(|skill| LocalRef {
                        name: skill.name_any(),
                    })
                    .ok_or_else(|| {
                        ApiError::unprocessable(format!("skills[{i}]: skill {id:?} not found"))
                    })
            })
            .collect()
    }

    fn resolve_mcp_servers(&self, configs: &[McpServerConfig]) -> ApiResult<Vec<AgentMcpServer>> {
        configs
            .iter()
            .enumerate()
            .map(|(i, config)| {
                let instance = self.mcp_server_instances.find(self.namespace, &config.mcp_server_id).ok_or_else(|| {
                    ApiError::unprocessable(format!(
                        "tools_config.mcp_server_configs[{i}].mcp_server_id: MCP server instance {:?} not found",
                        config.mcp_server_id
                    ))
                })?;
                Ok(AgentMcpServer {
                    name: instance.name_any(),
                    allowed_tools: config
                        .allowed_tools
                        .iter()
                        .map(|t| AllowedTool {
                            name: t.tool_name.clone(),
                            requires_user_confirmation: t.requires_user_confirmation,
                        })
                        .collect(),
                    config: config.config.clone(),
                })
            })
            .collect()
    }
}

fn builtin_tools(tools: &[BuiltinToolConfig]) -> Vec<BuiltinTool> {
    tools
        .iter()
        .map(|t| BuiltinTool {
            name: t.tool_name.clone(),
            enabled: t.enabled,
            requires_user_confirmation: t.requires_user_confirmation,
        })
        .collect()
}

fn events(config: EventsConfig) -> Vec<AgentEvent> {
    config
        .events
        .into_iter()
        .map(|e| match e {
            EventConfigItem::Name(event_type) => AgentEvent {
                event_type,
                enabled: true,
                config: None,
            },
            EventConfigItem::Full {
                event_type,
                config,
                enabled,
            } => AgentEvent {
                event_type,
                enabled,
                config,
            },
        })
        .collect()
}

/// The REST shape of an agent; its MCP servers and the agents it calls are named by their ids.
/// Without `agents` (while that cache itself starts) the agents it calls are named by name.
pub fn present(
    agent: &Agent,
    instances: &ResourceCache<McpServerInstance>,
    agents: Option<&ResourceCache<Agent>>,
) -> AgentResponse {
    let namespace = agent.namespace().unwrap_or_default();
    let spec = &agent.spec;
    let status = agent.status.as_ref();
    let conditions = status.map(|s| &s.conditions);
    let (created_at, updated_at) = timestamps(&agent.metadata);
    let instance_id = |name: &str| {
        instances
            .get(&namespace, name)
            .and_then(|i| i.uid())
            .unwrap_or_else(|| name.to_string())
    };
    AgentResponse {
        id: agent.uid().unwrap_or_default(),
        name: display_name(&agent.metadata),
        status: "active".into(),
        description: spec.description.clone(),
        instruction: spec.instruction.clone(),
        model_id: spec.model.name.clone(),
        model_endpoint: spec.model.endpoint.clone(),
        tools_config: tools_config(spec, instance_id),
        events_config: events_config(spec),
        planning: spec.planning,
        capabilities: spec.capabilities.clone(),
        skills: spec.skills.iter().map(|s| s.name.clone()).collect(),
        ready: is_condition_true(conditions, condition::READY),
        status_message: not_ready_message(conditions),
        tools: status
            .map(|s| s.tools.iter().map(|t| t.name.clone()).collect())
            .unwrap_or_default(),
        tool_approval: spec
            .tool_approval
            .as_ref()
            .map(Into::into)
            .unwrap_or_default(),
        tools_requiring_approval: status
            .map(|s| {
                s.tools
                    .iter()
                    .filter(|t| t.requires_approval)
                    .map(|t| t.name.clone())
                    .collect()
            })
            .unwrap_or_default(),
        agents: spec
            .agents
            .iter()
            .map(|callee| CallableAgentConfig {
                agent_id: agents
                    .and_then(|cache| cache.get(&namespace, &callee.name))
                    .and_then(|a| a.uid())
                    .unwrap_or_else(|| callee.name.clone()),
                description: callee.description.clone(),
            })
            .collect(),
        k8s_name: agent.name_any(),
        created_by: created_by(&agent.metadata),
        created_at,
        updated_at,
    }
}

fn tools_config(spec: &AgentSpec, instance_id: impl Fn(&str) -> String) -> ToolsConfig {
    ToolsConfig {
        mcp_server_configs: spec
            .mcp_servers
            .iter()
            .map(|s| McpServerConfig {
                mcp_server_id: instance_id(&s.name),
                config: s.config.clone(),
                allowed_tools: s
                    .allowed_tools
                    .iter()
                    .map(|t| AllowedToolConfig {
                        tool_name: t.name.clone(),
                        requires_user_confirmation: t.requires_user_confirmation,
                    })
                    .collect(),
            })
            .collect(),
        builtin_tools: spec
            .builtin_tools
            .iter()
            .map(|t| BuiltinToolConfig {
                tool_name: t.name.clone(),
                requires_user_confirmation: t.requires_user_confirmation,
                enabled: t.enabled,
            })
            .collect(),
        planning: spec.planning,
    }
}

fn events_config(spec: &AgentSpec) -> EventsConfig {
    EventsConfig {
        events: spec
            .events
            .iter()
            .map(|e| EventConfigItem::Full {
                event_type: e.event_type.clone(),
                config: e.config.clone(),
                enabled: e.enabled,
            })
            .collect(),
    }
}
