//! The bridge's own metrics, served at its `/metrics`: requests by method and outcome, stdio
//! server starts, and sessions open.

use std::sync::Arc;

use agentarea_support::metrics::Registry;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use rmcp::model::ErrorData;

use crate::metrics::{GatewayLabels, OutcomeLabels};

/// The bridge's own `/metrics` (it runs in the MCP server's pod, not in the operator).
pub(super) struct BridgeMetrics {
    pub(super) registry: Arc<Registry>,
    pub(super) requests: Family<GatewayLabels, Counter>,
    pub(super) starts: Family<OutcomeLabels, Counter>,
    pub(super) sessions: Gauge,
}

impl BridgeMetrics {
    pub(super) fn new() -> Self {
        let mut registry = Registry::with_prefix("agentarea_bridge");
        let requests = Family::<GatewayLabels, Counter>::default();
        let starts = Family::<OutcomeLabels, Counter>::default();
        let sessions = Gauge::default();
        registry.register(
            "requests",
            "MCP requests the bridge passed to the stdio server, by method and outcome",
            requests.clone(),
        );
        registry.register(
            "stdio_server_starts",
            "Starts of stdio servers (one per session, and the spare), by outcome",
            starts.clone(),
        );
        registry.register(
            "sessions",
            "MCP sessions open, each with a stdio server of its own",
            sessions.clone(),
        );
        Self {
            registry: Arc::new(registry),
            requests,
            starts,
            sessions,
        }
    }

    pub(super) fn count<T>(&self, method: String, result: &Result<T, ErrorData>) {
        let outcome = if result.is_ok() { "ok" } else { "error" };
        self.requests
            .get_or_create(&GatewayLabels { method, outcome })
            .inc();
    }
}
