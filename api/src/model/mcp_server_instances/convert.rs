//! Instance bodies -> the `McpServerInstance` to create and the merge patches of updates (the
//! `json_spec` kinds onto `managed`, `remote` and `compound`); an instance -> its REST shape.

use std::collections::BTreeMap;

use kube::ResourceExt;
use serde_json::{Value, json};

use agentarea_crds::common::DISPLAY_NAME_ANNOTATION;
use agentarea_crds::mcp_server_instance::{
    CompoundMember, CompoundServer, EnvVar, ManagedServer, McpPhase, McpServerInstanceStatus,
    RemoteServer, Transport,
};
use agentarea_crds::{McpServerInstance, McpServerInstanceSpec};

use super::wire::{
    CompoundMemberBody, DesiredState, InstanceCreate, InstanceResponse, InstanceUpdate, JsonSpec,
    ToolAnnotationsResponse, ToolResponse,
};
use crate::auth::Identity;
use crate::cache::ResourceCache;
use crate::error::{ApiError, ApiResult};
use crate::model::{crd_word, from_json, not_ready_message};
use crate::resources::{created_by, display_name, new_metadata, object_name_for, timestamps};

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

/// Sets the section of `spec` that `json_spec`'s kind maps onto.
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
                env: env_vars(environment),
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

/// A docker server's `environment` as the container's variables, with their values.
fn env_vars(environment: BTreeMap<String, String>) -> Vec<EnvVar> {
    environment
        .into_iter()
        .map(|(name, value)| EnvVar {
            name,
            value: Some(value),
            secret_key_ref: None,
            config_map_key_ref: None,
        })
        .collect()
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
            tools: tools(status),
            k8s_name: instance.name_any(),
            created_by: created_by(&instance.metadata),
            created_at,
            updated_at,
        }
    }
}

/// The tools the server was found to offer, with the hints it declared for them.
fn tools(status: Option<&McpServerInstanceStatus>) -> Vec<ToolResponse> {
    status
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
        .collect()
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
