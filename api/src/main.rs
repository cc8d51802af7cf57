use std::time::Duration;

use agentarea_api::auth::mint_hs256;
use agentarea_api::config::{Cli, Command};
use agentarea_api::run::run;
use agentarea_support::telemetry;
use anyhow::Context as _;
use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        None | Some(Command::Serve) => {
            let telemetry = telemetry::init(cli.config.log_format, "agentarea-api");
            let result = run(cli.config).await;
            telemetry.shutdown();
            result
        }
        Some(Command::Token {
            subject,
            workspace,
            ttl_hours,
        }) => {
            let auth = &cli.config.auth;
            let secret = auth
                .jwt_secret
                .as_deref()
                .context("`token` signs with --jwt-secret (or AGENTAREA_JWT_SECRET)")?;
            let token = mint_hs256(
                secret,
                &subject,
                &auth.workspace_claim,
                &workspace,
                auth.jwt_issuer.as_deref(),
                auth.jwt_audience.as_deref(),
                Duration::from_secs(ttl_hours * 3600),
            )?;
            println!("{token}");
            Ok(())
        }
        Some(Command::WorkspaceRole { name }) => {
            let role = agentarea_api::workspace::identity::cluster_role(&name);
            print!("{}", serde_yaml::to_string(&role)?);
            Ok(())
        }
    }
}
