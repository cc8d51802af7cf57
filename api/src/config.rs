//! The api's configuration, from flags or the environment (`--help` lists both).

use std::net::SocketAddr;

use agentarea_support::LogFormat;
use clap::Parser;

#[derive(Parser, Debug, Clone)]
#[command(
    name = "agentarea-api",
    version,
    about = "AgentArea's /v1 REST API, served from the custom resources"
)]
pub struct Config {
    /// Address the HTTP API listens on.
    #[arg(long, env = "AGENTAREA_LISTEN_ADDR", default_value = "0.0.0.0:8000")]
    pub listen_addr: SocketAddr,

    /// Log format: `text` or `json`.
    #[arg(long, env = "AGENTAREA_LOG_FORMAT", default_value = "text")]
    pub log_format: LogFormat,
}
