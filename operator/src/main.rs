use agentarea_operator::config::{Cli, Command};
use agentarea_operator::mcp::bridge;
use agentarea_operator::run::run;
use agentarea_support::telemetry;
use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // One TLS crypto provider for every client in the process (kube, and rmcp's reqwest).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let service = match cli.command {
        Some(Command::McpBridge(_)) => "agentarea-mcp-bridge",
        _ => "agentarea-operator",
    };
    let telemetry = telemetry::init(cli.config.log_format, service);
    let result = match cli.command {
        None | Some(Command::Run) => run(cli.config).await,
        Some(Command::McpBridge(args)) => bridge::run(args).await,
        Some(Command::InstallBridge { path }) => bridge::install(&path),
    };
    telemetry.shutdown();
    result
}
