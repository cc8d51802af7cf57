//! MCP server instances on the wire. AgentArea's `json_spec` maps onto the instance kinds:
//! `docker` -> `managed`, `url` -> `remote`, `compound` -> `compound`.

use std::collections::BTreeMap;

use kube::ResourceExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use agentarea_crds::common::DISPLAY_NAME_ANNOTATION;
use agentarea_crds::mcp_server_instance::{
    CompoundMember, CompoundServer, EnvVar, ManagedServer, McpPhase, RemoteServer, Transport,
};
use agentarea_crds::{McpServerInstance, McpServerInstanceSpec};

use crate::auth::Identity;
use crate::cache::ResourceCache;
use crate::constraints::Name;
use crate::error::{ApiError, ApiResult};
use crate::model::{crd_word, from_json, not_ready_message};
use crate::resources::{created_by, display_name, new_metadata, object_name_for, timestamps};

/// AgentArea's server description: `{"type": "docker", "image", "port", "environment", "cmd"}`,
/// `{"type": "url", "endpoint"}` or `{"type": "compound", "members": [...]}`.
#[derive(Serialize, Deserialize, Clone, Debug, ToSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum JsonSpec {
    Docker {
        image: String,
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "crate::constraints::whole_number"
        )]
        port: Option<i32>,
        #[serde(default)]
        environment: BTreeMap<String, String>,
        #[serde(default)]
        cmd: Vec<String>,
        /// `streamable-http` (default), `sse`, or `stdio` (run behind the bridge).
        // A plain string on the wire, read into the CRD's `Transport` with the api's message.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        transport: Option<String>,
    },
    Url {
        endpoint: String,
        /// `streamable-http` (default) or `sse`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        transport: Option<String>,
    },
    Compound {
        members: Vec<CompoundMemberBody>,
    },
}

#[derive(Serialize, Deserialize, Clone, Debug, ToSchema)]
pub struct CompoundMemberBody {
    /// Id or name of a member instance.
    pub instance: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
}

#[derive(Deserialize, Debug, ToSchema)]
#[schema(example = json!({
    "name": "time", "json_spec": { "type": "url", "endpoint": "http://mcp-time:8080/mcp" },
}))]
pub struct InstanceCreate {
    pub name: Name,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub server_spec_id: Option<String>,
    pub json_spec: JsonSpec,
}

#[derive(Deserialize, Debug, ToSchema)]
pub struct InstanceUpdate {
    pub name: Option<Name>,
    pub description: Option<String>,
    pub json_spec: Option<JsonSpec>,
    /// `stopped` stops a managed server; `running` starts it again.
    pub status: Option<DesiredState>,
}

/// The state an update can ask a managed server for (the others are the operator's to reach).
// Not the CRD's `McpPhase`: the wire's word is lower case, and it is stored as `spec.suspend`
// (`stopped`: true), not as a phase.
#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DesiredState {
    Running,
    Stopped,
}

#[derive(Serialize, Debug, ToSchema)]
pub struct ToolResponse {
    pub name: String,
    pub description: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub input_schema: Option<Value>,
    /// The behaviour hints the server declared for the tool, with MCP's names; absent when it
    /// declared none. They are hints from the server, not guarantees.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<ToolAnnotationsResponse>,
}

/// MCP tool annotations as the server gave them: a hint it left out is absent (MCP's defaults:
/// not read-only, destructive, not idempotent, open world).
#[derive(Serialize, Debug, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ToolAnnotationsResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_only_hint: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destructive_hint: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idempotent_hint: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_world_hint: Option<bool>,
}

#[derive(Serialize, Debug, ToSchema)]
pub struct InstanceResponse {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub server_spec_id: Option<String>,
    pub json_spec: JsonSpec,
    /// `pending`, `starting`, `running`, `unhealthy`, `stopped` or `failed`.
    pub status: String,
    pub status_message: Option<String>,
    /// Where agents reach the server.
    pub endpoint: Option<String>,
    pub tools: Vec<ToolResponse>,
    pub k8s_name: String,
    pub created_by: Option<String>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

/// The workspace's instances, which a compound `json_spec` names as members by id or name.
pub struct Members<'a> {
    pub namespace: &'a str,
    pub instances: &'a ResourceCache<McpServerInstance>,
}

impl InstanceCreate {
    /// The instance to create, after checking the body.
    pub fn into_instance(
        self,
        members: &Members,
        caller: &Identity,
    ) -> ApiResult<McpServerInstance> {
        let (name, display) = object_name_for(&self.name);
        let mut spec = McpServerInstanceSpec {
            description: self.description,
            server_spec_id: self.server_spec_id,
            discovery_interval_seconds: 300,
            ..McpServerInstanceSpec::default()
        };
        apply_json_spec(&mut spec, self.json_spec, members)?;
        Ok(McpServerInstance {
            metadata: new_metadata(name, display, members.namespace, caller),
            spec,
            status: None,
        })
    }
}

impl InstanceUpdate {
    /// A merge patch of the fields given; the rest stay.
    pub fn into_patch(self, members: &Members) -> ApiResult<Value> {
        let mut patch = json!({ "spec": {} });
        if let Some(description) = self.description {
            patch["spec"]["description"] = json!(description);
        }
        if let Some(json_spec) = self.json_spec {
            let mut spec = McpServerInstanceSpec::default();
            apply_json_spec(&mut spec, json_spec, members)?;
            // Switching kinds clears the other two (null deletes in a merge patch).
            patch["spec"]["managed"] = json!(spec.managed);
            patch["spec"]["remote"] = json!(spec.remote);
            patch["spec"]["compound"] = json!(spec.compound);
        }
        match self.status {
            None => {}
            Some(DesiredState::Stopped) => patch["spec"]["suspend"] = json!(true),
            Some(DesiredState::Running) => patch["spec"]["suspend"] = Value::Null,
        }
        if let Some(name) = self.name {
            patch["metadata"] = json!({ "annotations": { DISPLAY_NAME_ANNOTATION: name } });
        }
        Ok(patch)
    }
}

/// The patch that stops (scales to zero) or starts a managed server.
pub fn suspend_patch(suspend: bool) -> Value {
    json!({ "spec": { "suspend": if suspend { json!(true) } else { Value::Null } } })
}

fn apply_json_spec(
    spec: &mut McpServerInstanceSpec,
    json_spec: JsonSpec,
    members: &Members,
) -> ApiResult<()> {
    match json_spec {
        JsonSpec::Docker {
            image,
            port,
            environment,
            cmd,
            transport: t,
        } => {
            spec.managed = Some(ManagedServer {
                image,
                command: cmd,
                env: environment
                    .into_iter()
                    .map(|(name, value)| EnvVar {
                        name,
                        value: Some(value),
                        secret_key_ref: None,
                        config_map_key_ref: None,
                    })
                    .collect(),
                port: port.unwrap_or(8080),
                transport: transport(t.as_deref(), "json_spec.transport")?,
                path: "/mcp".into(),
                replicas: 1,
                ..ManagedServer::default()
            });
        }
        JsonSpec::Url {
            endpoint,
            transport: t,
        } => {
            spec.remote = Some(RemoteServer {
                url: endpoint,
                transport: transport(t.as_deref(), "json_spec.transport")?,
                headers: vec![],
                timeout_seconds: 10,
            });
        }
        JsonSpec::Compound { members: bodies } => {
            spec.compound = Some(CompoundServer {
                members: members.resolve(bodies)?,
            });
        }
    }
    Ok(())
}

impl Members<'_> {
    fn resolve(&self, bodies: Vec<CompoundMemberBody>) -> ApiResult<Vec<CompoundMember>> {
        bodies
            .into_iter()
            .enumerate()
            .map(|(i, m)| {
                let member = self
                    .instances
                    .find(self.namespace, &m.instance)
                    .ok_or_else(|| {
                        ApiError::unprocessable(format!(
                            "json_spec.members[{i}].instance: MCP server instance {:?} not found",
                            m.instance
                        ))
                    })?;
                Ok(CompoundMember {
                    name: member.name_any(),
                    prefix: m.prefix,
                    include: m.include,
                    exclude: m.exclude,
                })
            })
            .collect()
    }
}

fn transport(value: Option<&str>, field: &str) -> ApiResult<Transport> {
    match value {
        None => Ok(Transport::StreamableHttp),
        Some(v) => from_json(json!(v)).map_err(|_| {
            ApiError::unprocessable(format!(
                "{field}: must be one of streamable-http, sse, stdio"
            ))
        }),
    }
}

fn transport_name(transport: Transport) -> Option<String> {
    match transport {
        Transport::StreamableHttp => None,
        other => crd_word(other),
    }
}

impl From<&McpServerInstance> for InstanceResponse {
    fn from(instance: &McpServerInstance) -> Self {
        let spec = &instance.spec;
        let status = instance.status.as_ref();
        let (created_at, updated_at) = timestamps(&instance.metadata);
        InstanceResponse {
            id: instance.uid().unwrap_or_default(),
            name: display_name(&instance.metadata),
            description: spec.description.clone(),
            server_spec_id: spec.server_spec_id.clone(),
            json_spec: json_spec(spec),
            status: status_word(instance).into(),
            status_message: not_ready_message(status.map(|s| &s.conditions)),
            endpoint: status.and_then(|s| s.endpoint.clone()),
            tools: status
                .into_iter()
                .flat_map(|s| &s.tools)
                .map(|t| ToolResponse {
                    name: t.name.clone(),
                    description: t.description.clone(),
                    input_schema: t.input_schema.clone(),
                    annotations: t.annotations.as_ref().map(|a| ToolAnnotationsResponse {
                        read_only_hint: a.read_only_hint,
                        destructive_hint: a.destructive_hint,
                        idempotent_hint: a.idempotent_hint,
                        open_world_hint: a.open_world_hint,
                    }),
                })
                .collect(),
            k8s_name: instance.name_any(),
            created_by: created_by(&instance.metadata),
            created_at,
            updated_at,
        }
    }
}

fn json_spec(spec: &McpServerInstanceSpec) -> JsonSpec {
    if let Some(m) = &spec.managed {
        JsonSpec::Docker {
            image: m.image.clone(),
            port: Some(m.port),
            environment: m
                .env
                .iter()
                .filter_map(|e| Some((e.name.clone(), e.value.clone()?)))
                .collect(),
            cmd: m.command.clone(),
            transport: transport_name(m.transport),
        }
    } else if let Some(r) = &spec.remote {
        JsonSpec::Url {
            endpoint: r.url.clone(),
            transport: transport_name(r.transport),
        }
    } else {
        JsonSpec::Compound {
            members: spec
                .compound
                .iter()
                .flat_map(|c| &c.members)
                .map(|m| CompoundMemberBody {
                    instance: m.name.clone(),
                    prefix: m.prefix.clone(),
                    include: m.include.clone(),
                    exclude: m.exclude.clone(),
                })
                .collect(),
        }
    }
}

/// AgentArea's status word; a suspended server is `stopped` whatever its phase says. The wire
/// spells the phases in lower case (`running`), the CRD's `McpPhase` capitalised (`Running`).
fn status_word(instance: &McpServerInstance) -> &'static str {
    let phase = instance.status.as_ref().and_then(|s| s.phase);
    match (instance.spec.suspend, phase) {
        (true, _) | (_, Some(McpPhase::Stopped)) => "stopped",
        (_, None | Some(McpPhase::Pending)) => "pending",
        (_, Some(McpPhase::Starting)) => "starting",
        (_, Some(McpPhase::Running)) => "running",
        (_, Some(McpPhase::Unhealthy)) => "unhealthy",
        (_, Some(McpPhase::Failed)) => "failed",
    }
}

/// Names of a managed server's environment variables; values are never shown.
pub fn env_names(instance: &McpServerInstance) -> Vec<String> {
    instance
        .spec
        .managed
        .as_ref()
        .map(|m| m.env.iter().map(|e| e.name.clone()).collect())
        .unwrap_or_default()
}
