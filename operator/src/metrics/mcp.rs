//! MCP server instances by phase, their discovery, and the compound gateway's requests.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentarea_support::metrics::Registry;
use kube::runtime::reflector::Store;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;

use agentarea_crds::McpServerInstance;

use super::families::{Histograms, latencies, outcome};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: &'static str,
}

/// MCP server instances, their discovery, and the compound gateway.
#[derive(Clone)]
pub struct McpMetrics {
    discovery: Histograms<OutcomeLabels>,
    gateway_requests: Family<GatewayLabels, Counter>,
    /// The McpServerInstance controller's cache, counted by phase at each scrape.
    instances: Arc<InstancePhases>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GatewayLabels {
    /// The MCP method, e.g. `tools/list` or `tools/call`.
    pub method: String,
    pub outcome: &'static str,
}

impl McpMetrics {
    pub(super) fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            discovery: latencies(),
            gateway_requests: Family::default(),
            instances: Arc::new(InstancePhases::default()),
        };
        registry.register(
            "mcp_discovery_duration_seconds",
            "How long connecting to an MCP server and listing its tools took, by outcome",
            metrics.discovery.clone(),
        );
        registry.register(
            "mcp_gateway_requests",
            "Requests to the compound gateway, by MCP method and outcome",
            metrics.gateway_requests.clone(),
        );
        registry.register_collector(Box::new(metrics.instances.clone()));
        metrics
    }

    pub fn discovered(&self, took: Duration, ok: bool) {
        self.discovery
            .get_or_create(&OutcomeLabels {
                outcome: outcome(ok),
            })
            .observe(took.as_secs_f64());
    }

    pub fn gateway_request(&self, method: &str, ok: bool) {
        self.gateway_requests
            .get_or_create(&GatewayLabels {
                method: method.to_string(),
                outcome: outcome(ok),
            })
            .inc();
    }

    /// Hands the controller's cache to the `mcp_server_instances` gauge.
    pub fn watch_instances(&self, store: Store<McpServerInstance>) {
        *self.instances.store.lock().unwrap() = Some(store);
    }
}

/// `agentarea_operator_mcp_server_instances{phase}`, read from the controller's cache when
/// scraped, so it can never drift from the objects (a replica that does not lead has no cache
/// and reports nothing).
#[derive(Debug, Default)]
struct InstancePhases {
    store: Mutex<Option<Store<McpServerInstance>>>,
}

impl Collector for InstancePhases {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(store) = self.store.lock().unwrap().clone() else {
            return Ok(());
        };
        let mut counts = std::collections::BTreeMap::<String, i64>::new();
        for instance in store.state() {
            let phase = instance
                .status
                .as_ref()
                .and_then(|s| s.phase.map(|p| format!("{p:?}")))
                .unwrap_or_else(|| "Unknown".into());
            *counts.entry(phase).or_default() += 1;
        }
        let mut family = encoder.encode_descriptor(
            "mcp_server_instances",
            "McpServerInstances by phase (from the leader's cache)",
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        for (phase, count) in &counts {
            let labels = [("phase", phase.as_str())];
            ConstGauge::new(*count).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}
