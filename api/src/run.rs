//! Start-up and shutdown of the api process.

use agentarea_support::{Readiness, health_routes, serve, shutdown_signal};
use anyhow::Context as _;
use axum::Router;
use kube::Client;

use std::sync::Arc;

use crate::auth::Authenticator;
use crate::config::Config;
use crate::state::AppState;

/// Runs the api until SIGTERM or Ctrl-C, then drains in-flight requests.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let client = Client::try_default()
        .await
        .context("no Kubernetes configuration (in-cluster, KUBECONFIG or ~/.kube/config)")?;
    agentarea_crds::check_served(&client).await?;
    let _state = AppState {
        client: client.clone(),
        auth: Arc::new(Authenticator::new(config.auth.settings())?),
    };

    let readiness = Readiness::default();
    let router = Router::new().merge(health_routes(readiness.clone()));
    readiness.set(true);
    serve(config.listen_addr, router, shutdown_signal()).await?;
    tracing::info!("api stopped");
    Ok(())
}
