//! Start-up and shutdown of the api process, and the router with its layers.

use agentarea_support::{Readiness, health_routes, serve, shutdown_signal};
use anyhow::Context as _;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use kube::Client;
use tower_http::trace::TraceLayer;

use crate::auth::Authenticator;
use crate::config::Config;
use crate::error::ApiError;
use crate::extract::MAX_BODY_BYTES;
use crate::state::AppState;
use crate::{docs, routes};

/// Runs the api until SIGTERM or Ctrl-C, then drains in-flight requests.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let client = Client::try_default()
        .await
        .context("no Kubernetes configuration (in-cluster, KUBECONFIG or ~/.kube/config)")?;
    agentarea_crds::check_served(&client).await?;
    let auth = Authenticator::new(config.auth.settings())?;

    let readiness = Readiness::default();
    let state = AppState::start(client, auth).await?;
    let app = router(state).merge(health_routes(readiness.clone()));
    readiness.set(true);
    serve(config.listen_addr, app, shutdown_signal()).await?;
    tracing::info!("api stopped");
    Ok(())
}

/// The whole HTTP surface: `/v1`, the docs, and errors in the one shape for unknown routes and
/// methods.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(routes::v1())
        .fallback(|| async { ApiError::not_found("Not found") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed")
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
        .merge(docs::router())
        .layer(TraceLayer::new_for_http())
}
