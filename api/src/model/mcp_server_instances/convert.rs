//! Instance bodies -> the `McpServerInstance` to create and the merge patches of updates (the
//! `json_spec` kinds onto `managed`, `remote` and `compound`); an instance -> its REST shape.

use std::collections::BTreeMap;

use kube::ResourceExt;
use serde_json::{Value, json};

use agentarea_crds::common::{DISPLAY_NAME_ANNOTATION, TAGS_ANNOTATION};
use agentarea_crds::mcp_server_instance::{
    CompoundMember, CompoundServer, EnvVar, Header, ManagedServer, McpPhase,
    McpServerInstanceStatus, RemoteServer, Transport,
};
use agentarea_crds::{McpServerInstance, McpServerInstanceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

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
        let (json_spec, tags) = self.json_spec.resolve()?;
        apply_json_spec(&mut spec, json_spec, members)?;
        let mut metadata = new_metadata(name, display, members.namespace, caller);
        if !tags.is_empty() {
            let annotations = metadata.annotations.get_or_insert_default();
            annotations.insert(TAGS_ANNOTATION.into(), json!(tags).to_string());
        }
        Ok(McpServerInstance {
            metadata,
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
        let mut annotations = serde_json::Map::new();
        if let Some(body) = self.json_spec {
            let (json_spec, tags) = body.resolve()?;
            let mut spec = McpServerInstanceSpec::default();
            apply_json_spec(&mut spec, json_spec, members)?;
            // A new `json_spec` replaces the tags with its own (none: removed).
            let tags = (!tags.is_empty()).then(|| json!(tags).to_string());
            annotations.insert(TAGS_ANNOTATION.into(), json!(tags));
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
            annotations.insert(DISPLAY_NAME_ANNOTATION.into(), json!(name.into_inner()));
        }
        if !annotations.is_empty() {
            patch["metadata"] = json!({ "annotations": annotations });
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
            headers,
        } => {
            spec.remote = Some(RemoteServer {
                url: endpoint,
                transport: transport(t.as_deref(), "json_spec.transport")?,
                headers: headers
                    .into_iter()
                    .map(|(name, value)| Header {
                        name,
                        value: Some(value),
                        secret_key_ref: None,
                    })
                    .collect(),
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
            tags: tags(&instance.metadata),
            status: status_word(instance).into(),
            status_message: not_ready_message(status.map(|s| &s.conditions)),
            endpoint: status.and_then(|s| s.endpoint.clone()),
            tools: tools(status),
            k8s_name: instance.name_any(),
            created_by: created_by(&instance.metadata),
            managed_by: crate::gitops::managed_by(&instance.metadata),
            created_at,
            updated_at,
        }
    }
}

/// The tags a REST client gave the instance.
fn tags(meta: &ObjectMeta) -> Vec<String> {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(TAGS_ANNOTATION))
        .and_then(|tags| serde_json::from_str(tags).ok())
        .unwrap_or_default()
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
            // Headers kept in Secrets (applied with kubectl) are not shown.
            headers: r
                .headers
                .iter()
                .filter_map(|h| Some((h.name.clone(), h.value.clone()?)))
                .collect(),
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
