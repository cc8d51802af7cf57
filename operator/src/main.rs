use agentarea_operator::{config::Config, run::run};
use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // One TLS crypto provider for every client in the process (kube, and rmcp's reqwest).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = Config::parse();
    agentarea_support::init_tracing(config.log_format);
    run(config).await
}
