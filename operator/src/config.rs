//! The operator's configuration, from flags or the environment (`--help` lists both).

use std::net::SocketAddr;

use agentarea_support::LogFormat;
use clap::Parser;

#[derive(Parser, Debug, Clone)]
#[command(
    name = "agentarea-operator",
    version,
    about = "Reconciles AgentArea's custom resources"
)]
pub struct Config {
    /// Address of the health (`/healthz`, `/readyz`) and metrics (`/metrics`) server.
    #[arg(long, env = "AGENTAREA_HEALTH_ADDR", default_value = "0.0.0.0:8081")]
    pub health_addr: SocketAddr,

    /// Log format: `text` or `json`.
    #[arg(long, env = "AGENTAREA_LOG_FORMAT", default_value = "text")]
    pub log_format: LogFormat,
}
