//! The MCP server instance bodies of `/v1/mcp-server-instances`, as clients send and receive
//! them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::constraints::Name;

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
