//! Logs and traces. Logs go to stdout (text or JSON lines); traces go to an OpenTelemetry
//! collector over OTLP/HTTP when one is configured with the standard variables
//! (`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `..._HEADERS`,
//! `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER`, `OTEL_BSP_*`), and
//! nowhere otherwise. `OTEL_SDK_DISABLED=true` turns them off whatever else is set.
//!
//! Context crosses processes as W3C `traceparent`: [`inject`] writes the current span's context
//! into headers or annotations, [`extract`] reads it back, so a Task's run continues the trace of
//! the REST request that created it and an MCP server sees the tool call's span as its parent.

use std::collections::HashMap;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{EnvFilter, Layer, layer::SubscriberExt, util::SubscriberInitExt};

use crate::LogFormat;

/// The target of the spans meant for export (requests, runs, model and tool calls). The log filter
/// does not enable it, so with traces off these spans are never built: the api's request span
/// would otherwise cost every request its formatting.
pub const SPANS: &str = "agentarea_spans";

/// The exporter of this process, flushed by [`Telemetry::shutdown`].
#[must_use = "call shutdown() before exiting, or the last spans are lost"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Whether spans are exported.
    pub fn exporting(&self) -> bool {
        self.provider.is_some()
    }

    /// Sends the spans still buffered; the process is about to end.
    pub fn shutdown(self) {
        if let Some(provider) = self.provider
            && let Err(error) = provider.shutdown()
        {
            eprintln!("could not flush the last traces: {error}");
        }
    }
}

/// Installs the global `tracing` subscriber: logs filtered by `RUST_LOG` (default `info` for our
/// crates, `warn` for dependencies), and the OTLP exporter when configured. `service` names the
/// process unless `OTEL_SERVICE_NAME` does.
pub fn init(format: LogFormat, service: &'static str) -> Telemetry {
    let provider = match otlp_configured() {
        true => match tracer_provider(service) {
            Ok(provider) => Some(provider),
            Err(error) => {
                eprintln!("traces are off: the OTLP exporter could not be built: {error}");
                None
            }
        },
        false => None,
    };
    // Each layer has its own filter: turning logs down (RUST_LOG=warn) must not turn traces off.
    let traces = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer(service))
            .with_error_records_to_exceptions(true)
            .with_filter(trace_filter())
    });
    let logs = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer().boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .boxed(),
    };
    tracing_subscriber::registry()
        .with(logs.with_filter(log_filter()))
        .with(traces)
        .init();
    if provider.is_some() {
        tracing::info!("exporting traces over OTLP");
    }
    Telemetry { provider }
}

fn log_filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        // rmcp logs every failed connection at ERROR from its transport worker; the operator
        // reports those itself, as status conditions and events, so they are not repeated here.
        EnvFilter::new(
            "warn,rmcp=off,agentarea_operator=info,agentarea_api=info,agentarea_support=info",
        )
    })
}

/// What is exported: the [`SPANS`] spans, and our crates' events at info and above as events of
/// the span they happen in (`AGENTAREA_TRACE_FILTER`, in `RUST_LOG` syntax, overrides).
fn trace_filter() -> EnvFilter {
    let default = || {
        EnvFilter::new(format!(
            "off,{SPANS}=info,agentarea_operator=info,agentarea_api=info,agentarea_support=info"
        ))
    };
    match std::env::var("AGENTAREA_TRACE_FILTER") {
        Err(_) => default(),
        Ok(text) => EnvFilter::try_new(&text).unwrap_or_else(|error| {
            eprintln!(
                "AGENTAREA_TRACE_FILTER={text:?} is not a filter ({error}); using the default"
            );
            default()
        }),
    }
}

/// Whether the standard variables ask for trace export.
fn otlp_configured() -> bool {
    let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
    let disabled = std::env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.eq_ignore_ascii_case("true"));
    let exporter_none = std::env::var("OTEL_TRACES_EXPORTER").is_ok_and(|v| v == "none");
    !disabled
        && !exporter_none
        && (set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
}

fn tracer_provider(service: &'static str) -> anyhow::Result<SdkTracerProvider> {
    if std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL").is_ok_and(|p| p == "grpc") {
        anyhow::bail!("OTEL_EXPORTER_OTLP_PROTOCOL=grpc is not supported; use http/protobuf");
    }
    // The exporter's HTTP client brings no TLS provider of its own: use ring, as kube does, unless
    // the process installed one already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()?;
    let mut resource = opentelemetry_sdk::Resource::builder();
    if std::env::var("OTEL_SERVICE_NAME").is_err() {
        resource = resource.with_service_name(service);
    }
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource.build())
        .build())
}

/// The W3C trace context of `span` (`traceparent`, and `tracestate` when there is one); empty
/// when traces are off or the span is not sampled.
pub fn inject(span: &tracing::Span) -> HashMap<String, String> {
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&span.context(), &mut carrier);
    carrier
}

/// Makes `span` a child of the trace context an HTTP request carries, if any.
pub fn extract_from_headers(span: &tracing::Span, headers: &axum::http::HeaderMap) {
    let carrier: HashMap<String, String> = ["traceparent", "tracestate"]
        .into_iter()
        .filter_map(|name| {
            let value = headers.get(name)?.to_str().ok()?;
            Some((name.to_string(), value.to_string()))
        })
        .collect();
    extract(span, &carrier);
}

/// Makes `span` a child of the context in `carrier` (as [`inject`] wrote it); a carrier without
/// a valid `traceparent` changes nothing.
pub fn extract(span: &tracing::Span, carrier: &HashMap<String, String>) {
    if !carrier.contains_key("traceparent") {
        return;
    }
    let context = TraceContextPropagator::new().extract(carrier);
    let _ = span.set_parent(context);
}
