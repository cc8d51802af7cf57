//! `McpServerInstance`: an MCP server an agent can get tools from, run by the operator (`managed`),
//! reached at a URL (`remote`), or merged from other instances (`compound`).

use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::common::{LocalRef, SecretKeyRef, conditions_schema, free_form_object};

#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[kube(
    group = "agentarea.io",
    version = "v1alpha1",
    kind = "McpServerInstance",
    namespaced,
    status = "McpServerInstanceStatus",
    shortname = "mcp",
    category = "agentarea",
    derive = "PartialEq",
    doc = "An MCP server instance: managed by the operator, remote at a URL, or compound over other instances.",
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(name = "Tools", type_ = "integer", json_path = ".status.toolCount"),
    printcolumn(
        name = "Endpoint",
        type_ = "string",
        priority = 1,
        json_path = ".status.endpoint"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[x_kube(validation = kube::core::Rule::new(
    "[has(self.managed), has(self.remote), has(self.compound)].filter(x, x).size() == 1"
).message("exactly one of spec.managed, spec.remote or spec.compound must be set"))]
#[serde(rename_all = "camelCase")]
pub struct McpServerInstanceSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    pub description: Option<String>,

    /// The catalog entry this instance was made from, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub server_spec_id: Option<String>,

    /// Run the server in the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed: Option<ManagedServer>,

    /// Reach a server that runs elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<RemoteServer>,

    /// Serve the tools of other instances as one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compound: Option<CompoundServer>,

    /// Stop a managed server (scale to zero) without deleting it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,

    /// How often the operator re-lists the server's tools.
    #[serde(default = "default_discovery_interval")]
    #[schemars(range(min = 10, max = 86400))]
    pub discovery_interval_seconds: i64,
}

fn default_discovery_interval() -> i64 {
    300
}

/// How the server speaks MCP.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    /// MCP streamable HTTP.
    #[default]
    StreamableHttp,
    /// The older HTTP+SSE transport.
    Sse,
    /// stdio, served over streamable HTTP by the bridge that runs in front of it.
    Stdio,
}

/// A server the operator runs as a Deployment and Service.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ManagedServer {
    /// Container image of the server.
    #[schemars(length(min = 1, max = 512), regex(pattern = r"^[^\s]+$"))]
    pub image: String,
    /// Entrypoint override.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub command: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 128))]
    pub args: Vec<String>,
    /// Environment variables, each a value or a key of a Secret or ConfigMap.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 128))]
    #[x_kube(merge_strategy = kube::core::ListMerge::Map(vec!["name".into()]))]
    pub env: Vec<EnvVar>,
    /// Whole Secrets or ConfigMaps as environment.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub env_from: Vec<EnvFromSource>,
    /// The port the server (or the bridge, for stdio) listens on.
    #[serde(default = "default_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
    #[serde(default)]
    pub transport: Transport,
    /// HTTP path of the MCP endpoint.
    #[serde(default = "default_path")]
    #[schemars(length(min = 1, max = 256), regex(pattern = r"^/[^\s]*$"))]
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    #[serde(default = "default_replicas")]
    #[schemars(range(min = 0, max = 20))]
    pub replicas: i32,
    /// Where the server may open connections, as CIDRs (`0.0.0.0/0` for anywhere); DNS is always
    /// allowed, and `[]` allows nothing else. Absent: wherever the cluster lets pods go. Enforced
    /// by the instance's NetworkPolicy, where the cluster's network plugin enforces them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = 32),
        inner(regex(pattern = r"^[0-9a-fA-F:.]+/[0-9]{1,3}$"))
    )]
    pub egress: Option<Vec<String>>,
}

fn default_port() -> i32 {
    8080
}
fn default_path() -> String {
    "/mcp".into()
}
fn default_replicas() -> i32 {
    1
}

/// One environment variable.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[x_kube(validation = kube::core::Rule::new(
    "[has(self.value), has(self.secretKeyRef), has(self.configMapKeyRef)].filter(x, x).size() == 1"
).message("exactly one of value, secretKeyRef or configMapKeyRef must be set"))]
#[serde(rename_all = "camelCase")]
pub struct EnvVar {
    #[schemars(
        length(min = 1, max = 256),
        regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$")
    )]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_ref: Option<SecretKeyRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_key_ref: Option<SecretKeyRef>,
}

/// A whole Secret or ConfigMap as environment variables.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[x_kube(validation = kube::core::Rule::new(
    "has(self.secretRef) != has(self.configMapRef)"
).message("exactly one of secretRef or configMapRef must be set"))]
#[serde(rename_all = "camelCase")]
pub struct EnvFromSource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_ref: Option<LocalRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64), regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"))]
    pub prefix: Option<String>,
}

/// A server reached over the network.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct RemoteServer {
    /// URL of the MCP endpoint (streamable HTTP) or of the SSE stream.
    #[schemars(length(min = 1, max = 2048), regex(pattern = r"^https?://[^\s]+$"))]
    pub url: String,
    /// `streamable-http` or `sse`.
    #[serde(default)]
    #[x_kube(validation = kube::core::Rule::new("self != 'stdio'").message("a remote server cannot use the stdio transport"))]
    pub transport: Transport,
    /// Headers sent with every request (bearer tokens, API keys).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    #[x_kube(merge_strategy = kube::core::ListMerge::Map(vec!["name".into()]))]
    pub headers: Vec<Header>,
    /// Seconds to wait for the server on each request.
    #[serde(default = "default_timeout")]
    #[schemars(range(min = 1, max = 300))]
    pub timeout_seconds: i64,
}

fn default_timeout() -> i64 {
    10
}

/// An HTTP header, given inline or from a Secret.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[x_kube(validation = kube::core::Rule::new("has(self.value) != has(self.secretKeyRef)")
    .message("exactly one of value or secretKeyRef must be set"))]
#[serde(rename_all = "camelCase")]
pub struct Header {
    #[schemars(
        length(min = 1, max = 256),
        regex(pattern = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
    )]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_ref: Option<SecretKeyRef>,
}

/// Several instances served as one MCP endpoint.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CompoundServer {
    #[schemars(length(min = 1, max = 32))]
    pub members: Vec<CompoundMember>,
}

/// One member of a compound instance and how its tools are exposed.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CompoundMember {
    /// Name of the member McpServerInstance (not itself compound).
    #[schemars(
        length(min = 1, max = 63),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    )]
    pub name: String,
    /// Prepended to each of the member's tool names, e.g. `time_`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64), regex(pattern = r"^[A-Za-z0-9_.-]*$"))]
    pub prefix: Option<String>,
    /// Only these tools; empty means all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    /// Never these tools.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
}

/// Lifecycle of an instance, in AgentArea's words.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum McpPhase {
    Pending,
    Starting,
    Running,
    Unhealthy,
    Stopped,
    Failed,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct McpServerInstanceStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<McpPhase>,
    /// `Ready` is true when the server answered `initialize` and `tools/list`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
    /// The URL the operator and agents use to reach the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// What the server said of itself in `initialize`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_info: Option<ServerInfo>,
    /// The tools from the last successful `tools/list`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<DiscoveredTool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_count: Option<i32>,
    /// Tool names offered by more than one member of a compound instance (the first member wins).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub collisions: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_checked_time: Option<Time>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServerInfo {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol_version: Option<String>,
}

/// One tool as the server lists it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DiscoveredTool {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The tool's JSON input schema, kept when it is small enough; see `inputSchemaDigest`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_form_object")]
    pub input_schema: Option<Value>,
    /// SHA-256 of the input schema, always present, so changes show even when the schema is dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_schema_digest: Option<String>,
    /// For compound instances: the member that serves it, and its name there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_tool: Option<String>,
    /// The hints the server gave about the tool's behaviour in `tools/list`, as it gave them; absent
    /// when it gave none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<ToolAnnotations>,
}

/// The behaviour hints an MCP server declares for a tool (`annotations` in `tools/list`), stored as
/// the server said them: a hint it left out stays absent. MCP's defaults for an absent hint
/// (`readOnlyHint` false, `destructiveHint` true, `idempotentHint` false, `openWorldHint` true) are
/// applied only where a decision is made from them. They are hints from the server, not guarantees.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ToolAnnotations {
    /// The tool does not modify its environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only_hint: Option<bool>,
    /// The tool may perform destructive updates (meaningful only when it is not read-only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destructive_hint: Option<bool>,
    /// Calling the tool again with the same arguments has no further effect (meaningful only when
    /// it is not read-only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotent_hint: Option<bool>,
    /// The tool reaches entities outside a closed domain (e.g. the web), not only a closed one
    /// (e.g. a memory store).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_world_hint: Option<bool>,
}

impl ToolAnnotations {
    /// `readOnlyHint`, or MCP's default (false) when the server gave none.
    pub fn read_only(&self) -> bool {
        self.read_only_hint.unwrap_or(false)
    }
    /// `destructiveHint`, or MCP's default (true) when the server gave none.
    pub fn destructive(&self) -> bool {
        self.destructive_hint.unwrap_or(true)
    }
    /// `idempotentHint`, or MCP's default (false) when the server gave none.
    pub fn idempotent(&self) -> bool {
        self.idempotent_hint.unwrap_or(false)
    }
    /// `openWorldHint`, or MCP's default (true) when the server gave none.
    pub fn open_world(&self) -> bool {
        self.open_world_hint.unwrap_or(true)
    }
}
