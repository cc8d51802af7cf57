//! The MCP server instance bodies of `/v1/mcp-server-instances`, as clients send and receive
//! them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::constraints::Name;

/// AgentArea's server description as the api answers it: `{"type": "docker", "image", "port",
/// "environment", "cmd"}`, `{"type": "url", "endpoint", "headers"}` or `{"type": "compound",
/// "members": [...]}`. Clients send [`JsonSpecBody`].
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
        /// Headers sent with every request to the server, by name.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        headers: BTreeMap<String, String>,
    },
    Compound {
        members: Vec<CompoundMemberBody>,
    },
}

/// The kinds of server a `json_spec` describes.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SpecKind {
    Docker,
    Url,
    Compound,
}

impl SpecKind {
    pub fn word(self) -> &'static str {
        match self {
            Self::Docker => "docker",
            Self::Url => "url",
            Self::Compound => "compound",
        }
    }
}

/// `json_spec` as clients send it. `type` names the kind; without it the kind follows from the
/// fields, as AgentArea's UI sends them: `image` for a managed (docker) server, `endpoint_url` (or
/// `endpoint`) for a remote one, `members` for a compound one. A field of another kind is refused.
#[derive(Deserialize, Debug, ToSchema)]
#[schema(example = json!({ "image": "mcp/time:1.0.0", "port": 8000, "environment": { "TZ": "UTC" } }))]
pub struct JsonSpecBody {
    #[serde(rename = "type")]
    pub kind: Option<SpecKind>,
    /// docker: the container image.
    pub image: Option<String>,
    /// docker: the port the server listens on (default 8080).
    #[serde(default, deserialize_with = "crate::constraints::whole_number")]
    pub port: Option<i32>,
    /// docker: environment variables, by name.
    pub environment: Option<BTreeMap<String, String>>,
    /// docker: the command, replacing the image's entrypoint.
    pub cmd: Option<Vec<String>>,
    /// docker: `streamable-http` (default), `sse`, or `stdio` (run behind the bridge); url:
    /// `streamable-http` (default) or `sse`.
    // A plain string on the wire, read into the CRD's `Transport` with the api's message.
    pub transport: Option<String>,
    /// url: where the server is.
    pub endpoint: Option<String>,
    /// url: where the server is (AgentArea's UI's name for `endpoint`).
    pub endpoint_url: Option<String>,
    /// url: headers sent with every request to the server, by name.
    pub headers: Option<BTreeMap<String, String>>,
    /// compound: the member instances.
    pub members: Option<Vec<CompoundMemberBody>>,
    /// Only `false`: an instance belongs to its workspace.
    pub is_public: Option<bool>,
    /// Labels for finding the instance; answered as the instance's `tags`.
    pub tags: Option<Vec<String>>,
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
    pub json_spec: JsonSpecBody,
}

#[derive(Deserialize, Debug, ToSchema)]
pub struct InstanceUpdate {
    pub name: Option<Name>,
    pub description: Option<String>,
    pub json_spec: Option<JsonSpecBody>,
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
    /// The `tags` its `json_spec` was given.
    pub tags: Vec<String>,
    /// `pending`, `starting`, `running`, `unhealthy`, `stopped` or `failed`.
    pub status: String,
    pub status_message: Option<String>,
    /// Where agents reach the server.
    pub endpoint: Option<String>,
    pub tools: Vec<ToolResponse>,
    pub k8s_name: String,
    pub created_by: Option<String>,
    /// The GitOps engine that applies it from Git ("Flux Kustomization ws-team-a/agents"):
    /// changed in Git, not here (PATCH and DELETE answer 409). Null when the api may change it.
    pub managed_by: Option<String>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}
