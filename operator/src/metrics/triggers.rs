//! Trigger firings by the operator.

use std::time::Duration;

use agentarea_support::metrics::{Registry, latency_histogram};
use prometheus_client::encoding::{EncodeLabelSet, LabelSetEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;

/// `type` (`schedule`, `webhook` or `event`) and `outcome` (`fired`, `skipped` or `error`).
/// Written out because `type` cannot be a field name.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct FiringLabels {
    pub kind: &'static str,
    pub outcome: &'static str,
}

impl EncodeLabelSet for FiringLabels {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> Result<(), std::fmt::Error> {
        [("type", self.kind), ("outcome", self.outcome)].encode(encoder)
    }
}

/// Trigger firings, by the operator (schedules and events; webhooks fire in the api).
#[derive(Clone)]
pub struct TriggerMetrics {
    firings: Family<FiringLabels, Counter>,
    schedule_lag: Histogram,
}

impl TriggerMetrics {
    pub(super) fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            firings: Family::default(),
            schedule_lag: latency_histogram(),
        };
        registry.register(
            "trigger_firings",
            "Trigger firings, by trigger type and outcome",
            metrics.firings.clone(),
        );
        registry.register(
            "trigger_schedule_lag_seconds",
            "How late a scheduled run's Task was created after its scheduled time",
            metrics.schedule_lag.clone(),
        );
        metrics
    }

    pub fn fired(&self, kind: &'static str, outcome: &'static str) {
        self.firings
            .get_or_create(&FiringLabels { kind, outcome })
            .inc();
    }

    pub fn schedule_lag(&self, lag: Duration) {
        self.schedule_lag.observe(lag.as_secs_f64());
    }
}
