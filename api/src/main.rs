use agentarea_api::{config::Config, run::run};
use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    agentarea_support::init_tracing(config.log_format);
    run(config).await
}
