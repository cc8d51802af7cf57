//! The operator's configuration, from flags or the environment (`--help` lists both).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use agentarea_support::LogFormat;
use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug, Clone)]
#[command(
    name = "agentarea-operator",
    version,
    about = "Reconciles AgentArea's custom resources"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub config: Config,
}

#[derive(Subcommand, Debug, Clone)]
pub enum Command {
    /// Run the controllers (the default).
    Run,
    /// Serve a stdio MCP server over streamable HTTP (runs inside managed MCP server pods).
    McpBridge(BridgeArgs),
    /// Copy this binary to PATH (an init container puts the bridge into a server's pod this way).
    InstallBridge {
        /// Where to put the binary, e.g. /agentarea/bin/agentarea-operator.
        path: std::path::PathBuf,
    },
}

// The arguments of `mcp-bridge` (crate::mcp::bridge).
#[derive(Args, Debug, Clone)]
pub struct BridgeArgs {
    /// Address the streamable HTTP endpoint listens on.
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,
    /// HTTP path of the MCP endpoint.
    #[arg(long, default_value = "/mcp")]
    pub path: String,
    /// At most this many sessions, each with its own stdio server, at once; `initialize` beyond
    /// it is refused, so that clients cannot start servers until the pod runs out of memory.
    #[arg(long, env = "AGENTAREA_BRIDGE_MAX_SESSIONS", default_value_t = 32)]
    pub max_sessions: usize,
    /// The stdio server: its command and arguments, after `--`.
    #[arg(required = true, last = true)]
    pub command: Vec<String>,
}

#[derive(Args, Debug, Clone)]
pub struct Config {
    /// Address of the health (`/healthz`, `/readyz`) server.
    #[arg(long, env = "AGENTAREA_HEALTH_ADDR", default_value = "0.0.0.0:8081")]
    pub health_addr: SocketAddr,

    /// Log format: `text` or `json`.
    #[arg(long, env = "AGENTAREA_LOG_FORMAT", default_value = "text")]
    pub log_format: LogFormat,

    /// Where the operator reaches a managed MCP server's Service. `{name}`, `{namespace}`,
    /// `{port}` and `{path}` are filled in. The default is the in-cluster DNS name; an operator
    /// running outside the cluster (or behind port-forwards) points it elsewhere.
    #[arg(
        long,
        env = "AGENTAREA_MANAGED_ENDPOINT_TEMPLATE",
        default_value = "http://{name}.{namespace}.svc:{port}{path}"
    )]
    pub managed_endpoint_template: String,

    /// Where requests made for a workspace may go (remote MCP servers, model endpoints Agents
    /// name); the operator's own endpoints (managed servers, the default model) are not limited.
    #[command(flatten)]
    pub egress: agentarea_support::egress::EgressArgs,

    /// The token budget of each workspace.
    #[command(flatten)]
    pub budget: crate::budget::BudgetArgs,

    /// The model endpoint for Agents that name none (OpenAI-compatible base URL).
    #[arg(long, env = "AGENTAREA_DEFAULT_MODEL_ENDPOINT")]
    pub default_model_endpoint: Option<String>,

    /// The API key sent to the default model endpoint (when an Agent names no key Secret).
    #[arg(long, env = "AGENTAREA_DEFAULT_MODEL_API_KEY", hide_env_values = true)]
    pub default_model_api_key: Option<String>,

    /// Tasks this replica runs at the same time; more wait in Pending (or go to another replica).
    #[arg(long, env = "AGENTAREA_TASK_CONCURRENCY", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub task_concurrency: u32,

    /// Tasks of one workspace this replica runs at the same time, so that one workspace's burst
    /// leaves room for the others' (0: as many as --task-concurrency).
    #[arg(
        long,
        env = "AGENTAREA_WORKSPACE_TASK_CONCURRENCY",
        default_value_t = 0
    )]
    pub workspace_task_concurrency: u32,

    /// Reconciles each controller runs at the same time (reconciles of one object never overlap).
    /// Reconciles call MCP servers and the apiserver; this bounds how many connections one
    /// controller holds open.
    #[arg(long, env = "AGENTAREA_RECONCILE_CONCURRENCY", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub reconcile_concurrency: u16,

    /// Seconds a finished Task is kept when its spec sets no `ttlSecondsAfterFinished`;
    /// 0 keeps finished Tasks until someone deletes them.
    #[arg(long, env = "AGENTAREA_TASK_TTL_SECONDS", default_value_t = 0)]
    pub task_ttl_seconds: u64,

    /// Seconds a runner's claim on a Task lasts without renewal. It renews every third of this;
    /// when it stops (the process died), another replica takes the task over after this long.
    #[arg(long, env = "AGENTAREA_TASK_LEASE_SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(3..=3600))]
    pub task_lease_seconds: u64,

    /// Seconds a replica that is asked to stop (SIGTERM) gives the model and tool calls in flight
    /// to finish, so that they are recorded and the next replica continues after them. Keep it
    /// below the pod's `terminationGracePeriodSeconds`; calls still running then are abandoned
    /// (and the Task fails `RunnerLost` if one may have had an effect).
    #[arg(long, env = "AGENTAREA_TASK_DRAIN_SECONDS", default_value_t = 20, value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub task_drain_seconds: u64,

    /// Bytes a Task's kept conversation may reach (as JSON, before compression); a run that
    /// would go past it fails with `ConversationTooLarge`. It is stored in Secrets of about
    /// 768 KiB each, owned by the Task.
    #[arg(long, env = "AGENTAREA_TASK_MAX_CONVERSATION_BYTES", default_value_t = 8 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(65536..=268435456))]
    pub task_max_conversation_bytes: u64,

    /// Seconds to wait for an MCP server's answer during discovery.
    #[arg(long, env = "AGENTAREA_MCP_TIMEOUT_SECONDS", default_value_t = 10)]
    pub mcp_timeout_seconds: u64,

    /// Watch only this namespace (a namespace-scoped install); every namespace when absent.
    #[arg(long, env = "AGENTAREA_WATCH_NAMESPACE")]
    pub watch_namespace: Option<String>,

    /// The image that carries this binary; stdio servers' pods copy the bridge from it.
    #[arg(
        long,
        env = "AGENTAREA_MCP_BRIDGE_IMAGE",
        default_value = "agentarea/agentarea:0.1.0"
    )]
    pub bridge_image: String,

    /// Labels of the pods that may reach managed MCP servers (the operator's own, which serve the
    /// gateway too), as `key=value` pairs separated by commas. With them each managed instance
    /// gets a NetworkPolicy: ingress only from those pods of the operator's namespace, egress as
    /// the instance declares (`spec.managed.egress`). Without them no NetworkPolicy is written.
    #[arg(long, env = "AGENTAREA_MCP_INGRESS_FROM_LABELS", value_parser = parse_labels)]
    pub mcp_ingress_from_labels: Option<BTreeMap<String, String>>,

    /// Address of the MCP gateway that serves compound instances as one endpoint each
    /// (`/mcp/compound/{namespace}/{name}`); off when absent.
    #[arg(long, env = "AGENTAREA_MCP_GATEWAY_ADDR")]
    pub mcp_gateway_addr: Option<SocketAddr>,

    /// The gateway's URL as agents reach it (its Service), written into compound instances' status.
    #[arg(long, env = "AGENTAREA_MCP_GATEWAY_URL")]
    pub mcp_gateway_url: Option<String>,

    /// Elect one leader among the replicas (a Lease) to run the controllers that write status,
    /// fire triggers and provision servers; Tasks run on every replica either way.
    #[arg(long, env = "AGENTAREA_LEADER_ELECT", default_value_t = false, action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
    pub leader_elect: bool,

    /// Name of the Lease the replicas elect their leader with.
    #[arg(
        long,
        env = "AGENTAREA_LEADER_ELECTION_LEASE",
        default_value = "agentarea-operator"
    )]
    pub leader_election_lease: String,

    /// Namespace of that Lease; default: the pod's namespace, else the watched one, else `default`.
    #[arg(long, env = "AGENTAREA_LEADER_ELECTION_NAMESPACE")]
    pub leader_election_namespace: Option<String>,

    /// The namespace this replica runs in (from the downward API).
    #[arg(long, env = "AGENTAREA_POD_NAMESPACE")]
    pub pod_namespace: Option<String>,

    /// Name of this replica in events and claims (the pod name in a cluster).
    #[arg(long, env = "AGENTAREA_POD_NAME")]
    pub instance_name: Option<String>,
}

/// `key=value,key=value` as a label map.
fn parse_labels(list: &str) -> Result<BTreeMap<String, String>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            pair.split_once('=')
                .filter(|(k, v)| !k.trim().is_empty() && !v.trim().is_empty())
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .ok_or_else(|| format!("{pair:?} is not key=value"))
        })
        .collect()
}

impl Config {
    /// The namespace of the leader-election Lease.
    pub fn lease_namespace(&self) -> String {
        self.leader_election_namespace
            .clone()
            .unwrap_or_else(|| self.own_namespace())
    }

    /// The namespace the operator keeps its own records in (the workspaces' token ledgers): its
    /// pod's namespace, else the watched one, else `default`.
    pub fn own_namespace(&self) -> String {
        self.pod_namespace
            .clone()
            .or_else(|| self.watch_namespace.clone())
            .unwrap_or_else(|| "default".into())
    }

    /// The endpoint of a managed instance's Service.
    pub fn managed_endpoint(&self, name: &str, namespace: &str, port: i32, path: &str) -> String {
        self.managed_endpoint_template
            .replace("{name}", name)
            .replace("{namespace}", namespace)
            .replace("{port}", &port.to_string())
            .replace("{path}", path)
    }
}
