//! Start-up and shutdown of the operator process.

use agentarea_support::{Readiness, health_routes, serve, shutdown_signal};
use anyhow::Context as _;
use kube::Client;
use tokio::sync::watch;

use crate::config::Config;

/// Runs the operator until SIGTERM or Ctrl-C.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let client = Client::try_default()
        .await
        .context("no Kubernetes configuration (in-cluster, KUBECONFIG or ~/.kube/config)")?;
    agentarea_crds::check_served(&client).await?;

    let readiness = Readiness::default();
    let (stop_tx, stop_rx) = watch::channel(false);
    let health = tokio::spawn(serve(
        config.health_addr,
        health_routes(readiness.clone()),
        wait_for(stop_rx.clone()),
    ));
    readiness.set(true);
    tracing::info!("operator started");

    shutdown_signal().await;
    readiness.set(false);
    let _ = stop_tx.send(true);
    health.await??;
    tracing::info!("operator stopped");
    Ok(())
}

/// Resolves once the stop flag is raised.
pub async fn wait_for(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}
