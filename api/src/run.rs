//! Start-up and shutdown of the api process, and the router with its layers.

use agentarea_support::metrics::metrics_routes;
use agentarea_support::{Readiness, health_routes, serve, shutdown_signal};
use anyhow::Context as _;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware;
use kube::Client;
use tower::ServiceExt as _;
use tower_http::trace::TraceLayer;

use crate::auth::Authenticator;
use crate::config::Config;
use crate::console::{self, ConsoleSettings};
use crate::error::ApiError;
use crate::extract::MAX_BODY_BYTES;
use crate::metrics::observe_requests;
use crate::state::AppState;
use crate::{cors, docs, mcp, paths, replicas, routes};

/// Runs the api until SIGTERM or Ctrl-C, then drains in-flight requests.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let console_settings = ConsoleSettings::new(config.console_login_url.clone())?;
    let client = Client::try_default()
        .await
        .context("no Kubernetes configuration (in-cluster, KUBECONFIG or ~/.kube/config)")?;
    agentarea_crds::check_served(&client).await?;
    let auth = Authenticator::new(config.auth.settings())?;

    let readiness = Readiness::default();
    let state = AppState::start(
        client.clone(),
        auth,
        config.egress.policy(),
        config.workspaces.clone(),
        &config.limits,
        config.gitops_read_only,
    )
    .await?;
    replicas::follow(client, &config.replicas, state.limits.clone());
    let metrics = metrics_routes(state.metrics.registry.clone());
    let console = console::router(console_settings);
    let routes = router(state)
        .merge(console)
        .merge(health_routes(readiness.clone()))
        .merge(metrics);
    let app = edge(routes, &config.cors_allowed_origins);
    readiness.set(true);
    let shutdown = async {
        shutdown_signal().await;
        crate::stream::end_all_streams();
    };
    serve(config.listen_addr, app, shutdown).await?;
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
        .with_state(state.clone())
        .merge(mcp::router(state.clone()))
        .merge(docs::router())
        .layer(middleware::from_fn_with_state(
            state.metrics.clone(),
            observe_requests,
        ))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
}

/// What every request meets before it is routed: the CORS answers for the listed `cors_origins`
/// (a preflight is answered here, whatever the path), and `/v1` paths without their trailing
/// slash (`crate::paths`).
pub fn edge(routes: Router, cors_origins: &[HeaderValue]) -> Router {
    let routed_without_slash = routes.map_request(paths::trim_trailing_slash);
    let edge = Router::new().fallback_service(routed_without_slash);
    match cors::layer(cors_origins) {
        Some(cors) => edge.layer(cors),
        None => edge,
    }
}

/// The span of one request: a server span named after its route template, continuing the
/// caller's trace when the request carries a `traceparent`.
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("unmatched", |p| p.as_str());
    let method = request.method().as_str();
    let span = tracing::info_span!(
        target: agentarea_support::telemetry::SPANS,
        "request",
        otel.name = format!("{method} {route}"),
        otel.kind = "server",
        http.request.method = method,
        http.route = route,
        url.path = request.uri().path(),
    );
    agentarea_support::telemetry::extract_from_headers(&span, request.headers());
    span
}
