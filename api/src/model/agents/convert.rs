//! Agent bodies -> the `Agent` to create or the merge patch of an update, checked against the
//! workspace's skills, MCP server instances and agents; an `Agent` -> its REST shape.

use kube::ResourceExt;
use serde_json::{Map, Value, json};

use agentarea_crds::agent::{
    AgentEvent, AgentMcpServer, AgentStatus, AgentTool, AllowedTool, BuiltinTool, ModelSpec,
    ResolvedTool, ToolApproval,
};
use agentarea_crds::common::{DISPLAY_NAME_ANNOTATION, LocalRef, condition, is_condition_true};
use agentarea_crds::{Agent, AgentSpec, McpServerInstance, Skill};

use super::wire::{
    AgentCreate, AgentResponse, AgentUpdate, AllowedToolConfig, BuiltinToolConfig,
    CallableAgentConfig, EventConfigItem, EventsConfig, McpServerConfig, ToolApprovalConfig,
    ToolsConfig,
};
use crate::auth::Identity;
use crate::cache::ResourceCache;
use crate::constraints::Text;
use crate::error::{ApiError, ApiResult};
use crate::model::{id_or_name, not_ready_message};
use crate::resources::{created_by, display_name, new_metadata, object_name_for, timestamps};

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
        refuse_unsupported(&Unsupported {
            tools: self.tools_config.as_ref(),
            events: self.events_config.as_ref(),
            planning: self.planning,
            capabilities: self.capabilities.as_deref(),
        })?;
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
        refuse_unsupported(&Unsupported {
            tools: self.tools_config.as_ref(),
            events: self.events_config.as_ref(),
            planning: self.planning,
            capabilities: self.capabilities.as_deref(),
        })?;
        let mut spec = Map::new();
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
            insert_tools(&mut spec, refs, tools)?;
        }
        if let Some(events_config) = self.events_config {
            spec.insert("events".into(), json!(events(events_config)));
        }
        // After the tools' `planning`: the body's own field wins, as on create.
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

/// The fields of AgentArea's agent body that have no effect here, as a body gives them.
struct Unsupported<'a> {
    tools: Option<&'a ToolsConfig>,
    events: Option<&'a EventsConfig>,
    planning: Option<bool>,
    capabilities: Option<&'a [String]>,
}

/// A 422 naming the first of these fields given a value that would do something in AgentArea
/// and nothing here; their empty values (what AgentArea's clients send by default) pass. The CRD
/// refuses the same values with the same words, for manifests.
fn refuse_unsupported(body: &Unsupported) -> ApiResult<()> {
    let planning = body.planning.or(body.tools.and_then(|t| t.planning));
    let refused = if body.tools.is_some_and(|t| !t.builtin_tools.is_empty()) {
        "tools_config.builtin_tools: not supported: there are no built-in tools; give the agent MCP servers, skills or agents"
    } else if body.events.is_some_and(|e| !e.events.is_empty()) {
        "events_config: not supported: every step is published; subscribe to /v1/events and filter there"
    } else if planning == Some(true) {
        "planning: not supported: say in the instruction how the agent should plan"
    } else if body.capabilities.is_some_and(|c| !c.is_empty()) {
        "capabilities: not supported: nothing routes by capability; use description"
    } else {
        return Ok(());
    };
    Err(ApiError::unprocessable(refused))
}

/// The spec fields a `tools_config` replaces: the MCP servers, the built-in tools, and
/// `planning` when it says.
fn insert_tools(
    spec: &mut Map<String, Value>,
    refs: &References,
    tools: &ToolsConfig,
) -> ApiResult<()> {
    let servers = refs.resolve_mcp_servers(&tools.mcp_server_configs)?;
    spec.insert("mcpServers".into(), json!(servers));
    spec.insert(
        "builtinTools".into(),
        json!(builtin_tools(&tools.builtin_tools)),
    );
    if let Some(planning) = tools.planning {
        spec.insert("planning".into(), json!(planning));
    }
    Ok(())
}

fn model_patch(model_id: Option<Text>, endpoint: Option<String>) -> Option<Value> {
    let mut model = Map::new();
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
    AgentResponse {
        id: agent.uid().unwrap_or_default(),
        name: display_name(&agent.metadata),
        status: "active".into(),
        description: spec.description.clone(),
        instruction: spec.instruction.clone(),
        model_id: spec.model.name.clone(),
        model_endpoint: spec.model.endpoint.clone(),
        tools_config: tools_config(spec, |name| id_or_name(instances, &namespace, name)),
        events_config: events_config(spec),
        planning: spec.planning,
        capabilities: spec.capabilities.clone(),
        skills: spec.skills.iter().map(|s| s.name.clone()).collect(),
        ready: is_condition_true(conditions, condition::READY),
        status_message: not_ready_message(conditions),
        tools: offered_tools(status, |_| true),
        tool_approval: spec
            .tool_approval
            .as_ref()
            .map(Into::into)
            .unwrap_or_default(),
        tools_requiring_approval: offered_tools(status, |t| t.requires_approval),
        agents: callable_agents(spec, &namespace, agents),
        k8s_name: agent.name_any(),
        created_by: created_by(&agent.metadata),
        managed_by: crate::gitops::managed_by(&agent.metadata),
        created_at,
        updated_at,
    }
}

/// The names of the tools the model is offered that pass `filter`.
fn offered_tools(
    status: Option<&AgentStatus>,
    filter: impl Fn(&&ResolvedTool) -> bool,
) -> Vec<String> {
    status
        .map(|s| {
            s.tools
                .iter()
                .filter(filter)
                .map(|t| t.name.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// The agents `spec` may call, by id; by name while `agents` is not there or lacks one.
fn callable_agents(
    spec: &AgentSpec,
    namespace: &str,
    agents: Option<&ResourceCache<Agent>>,
) -> Vec<CallableAgentConfig> {
    spec.agents
        .iter()
        .map(|callee| CallableAgentConfig {
            agent_id: agents.map_or_else(
                || callee.name.clone(),
                |cache| id_or_name(cache, namespace, &callee.name),
            ),
            description: callee.description.clone(),
        })
        .collect()
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
