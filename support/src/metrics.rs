//! Prometheus metrics: the `/metrics` route both binaries serve on their health port, and the
//! conventions their metric sets share (seconds, bucket layouts, bounded label values).
//!
//! Each binary builds its metric families once at start-up, registers them in one [`Registry`]
//! and hands out clones of the families (they are `Arc`s inside). The text is OpenMetrics, which
//! Prometheus scrapes natively.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
pub use prometheus_client;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::histogram::Histogram;
pub use prometheus_client::registry::Registry;

const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// `GET /metrics`: every family in `registry`, to merge into the health router.
pub fn metrics_routes<S: Clone + Send + Sync + 'static>(registry: Arc<Registry>) -> Router<S> {
    Router::new().route(
        "/metrics",
        get(move || {
            let registry = registry.clone();
            async move {
                let mut text = String::new();
                match encode(&mut text, &registry) {
                    Ok(()) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
                    Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
                }
            }
        }),
    )
}

/// Buckets for durations of requests and calls: 5 ms to about 80 s, doubling.
pub fn latency_histogram() -> Histogram {
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.005, 2.0, 15,
    ))
}

/// Buckets for whole runs (a Task, a discovery): 100 ms to about 30 minutes.
pub fn run_histogram() -> Histogram {
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.1, 2.0, 15,
    ))
}

/// Buckets for counts (steps of a run, tool calls of a step): 1 to 512.
pub fn count_histogram() -> Histogram {
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        1.0, 2.0, 10,
    ))
}

/// Seconds since `started`, for `Histogram::observe`.
pub fn seconds_since(started: Instant) -> f64 {
    started.elapsed().as_secs_f64()
}
