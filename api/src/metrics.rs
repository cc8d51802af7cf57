//! The api's Prometheus metrics, served at `/metrics` beside `/healthz`.
//!
//! Labels are bounded: requests are labelled by route template (`/v1/agents/{id}`), never by
//! path, and carry no workspace, so one tenant's traffic cannot grow the series of all.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;

use agentarea_support::metrics::{Registry, latency_histogram};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: &'static str,
    /// The route template, or `unmatched` for paths no route serves.
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: &'static str,
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StreamLabels {
    /// `task` (`/v1/tasks/{id}/events`) or `workspace` (`/v1/events`).
    pub stream: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AuthFailureLabels {
    /// `missing` (no credentials), `invalid_token`, `invalid_session`, `no_workspace` (a valid
    /// token naming none) or `unavailable` (the JWKS or Kratos could not be asked).
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: &'static str,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// What one watch cache records; each cache holds the families, labelled with its kind.
#[derive(Clone)]
pub struct CacheMetrics {
    pub kind: &'static str,
    write_visibility: Histograms<KindLabels>,
    write_timeouts: Family<KindLabels, Counter>,
    watch_errors: Family<KindLabels, Counter>,
}

impl CacheMetrics {
    /// Families that no registry reads (for caches built in tests).
    pub fn unregistered(kind: &'static str) -> Self {
        Self {
            kind,
            write_visibility: Family::new_with_constructor(latency_histogram),
            write_timeouts: Family::default(),
            watch_errors: Family::default(),
        }
    }

    pub fn write_seen(&self, after: Duration, in_time: bool) {
        let labels = KindLabels { kind: self.kind };
        self.write_visibility
            .get_or_create(&labels)
            .observe(after.as_secs_f64());
        if !in_time {
            self.write_timeouts.get_or_create(&labels).inc();
        }
    }

    pub fn watch_error(&self) {
        self.watch_errors
            .get_or_create(&KindLabels { kind: self.kind })
            .inc();
    }

    fn for_kind(&self, kind: &'static str) -> Self {
        Self {
            kind,
            ..self.clone()
        }
    }
}

/// Every metric of the api process.
pub struct ApiMetrics {
    pub registry: Arc<Registry>,
    requests: Family<RequestLabels, Counter>,
    latency: Histograms<RouteLabels>,
    streams: Family<StreamLabels, Gauge>,
    caches: CacheMetrics,
}

impl ApiMetrics {
    /// Registers the api's families, and `auth_failures` (which the authenticator keeps).
    pub fn new(auth_failures: Family<AuthFailureLabels, Counter>) -> Arc<Self> {
        let mut registry = Registry::with_prefix("agentarea_api");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency: Histograms<RouteLabels> = Family::new_with_constructor(latency_histogram);
        let streams = Family::<StreamLabels, Gauge>::default();
        let caches = CacheMetrics::unregistered("");
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route template and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to the response head, by method and route template (an SSE stream's first byte)",
            latency.clone(),
        );
        registry.register(
            "sse_streams_open",
            "Server-sent event streams open now, by stream",
            streams.clone(),
        );
        registry.register(
            "auth_failures",
            "Requests refused for their credentials, by kind",
            auth_failures,
        );
        registry.register(
            "watch_cache_write_visibility_seconds",
            "How long after a write through the api its watch cache held it (read-your-writes), \
             by kind: how stale the cache is",
            caches.write_visibility.clone(),
        );
        registry.register(
            "watch_cache_write_timeouts",
            "Writes the watch cache had not seen when the api stopped waiting, by kind",
            caches.write_timeouts.clone(),
        );
        registry.register(
            "watch_cache_errors",
            "Errors of the watches behind the caches (each is retried), by kind",
            caches.watch_errors.clone(),
        );
        Arc::new(Self {
            registry: Arc::new(registry),
            requests,
            latency,
            streams,
            caches,
        })
    }

    /// The cache families, labelled with `kind`.
    pub fn cache(&self, kind: &'static str) -> CacheMetrics {
        self.caches.for_kind(kind)
    }

    /// Counts a stream as open until the guard drops (with the stream, when the client leaves).
    pub fn stream_opened(&self, stream: &'static str) -> OpenStream {
        let gauge = self.streams.get_or_create(&StreamLabels { stream }).clone();
        gauge.inc();
        OpenStream(gauge)
    }

    fn observe(&self, method: &'static str, route: String, status: u16, took: Duration) {
        self.latency
            .get_or_create(&RouteLabels {
                method,
                route: route.clone(),
            })
            .observe(took.as_secs_f64());
        self.requests
            .get_or_create(&RequestLabels {
                method,
                route,
                status,
            })
            .inc();
    }
}

/// An open SSE stream; dropping it counts the stream as closed.
pub struct OpenStream(Gauge);

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Middleware: times and counts every request by its route template.
pub async fn observe_requests(
    State(metrics): State<Arc<ApiMetrics>>,
    request: Request,
    next: Next,
) -> Response {
    let method = method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let started = Instant::now();
    let response = next.run(request).await;
    metrics.observe(method, route, response.status().as_u16(), started.elapsed());
    response
}

/// The method as a label; methods outside the standard set are one value, so a client cannot
/// make new series by inventing methods.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_outside_the_standard_set_share_one_label() {
        let cases = [
            (Method::GET, "GET"),
            (Method::DELETE, "DELETE"),
            (Method::from_bytes(b"BREW").unwrap(), "other"),
            (Method::TRACE, "other"),
        ];
        for (method, want) in cases {
            assert_eq!(method_label(&method), want, "{method}");
        }
    }
}
