//! What every controller's reconcile loop records.

use std::time::Duration;

use agentarea_support::metrics::Registry;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

use super::families::{Histograms, latencies};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControllerLabels {
    pub controller: &'static str,
}

/// A reconcile counted by its object's namespace too: the workspace that keeps the operator busy
/// (a hot-loop, a noisy tenant) is named by the count itself. Only the counter carries it; the
/// histogram and gauges stay per controller.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReconcileLabels {
    pub controller: &'static str,
    pub namespace: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabels {
    pub controller: &'static str,
    pub reason: &'static str,
}

/// What every controller's reconcile loop records, through [`crate::controllers::run_observed`].
#[derive(Clone)]
pub struct ControllerMetrics {
    reconciles: Family<ReconcileLabels, Counter>,
    failures: Family<FailureLabels, Counter>,
    duration: Histograms<ControllerLabels>,
    in_flight: Family<ControllerLabels, Gauge>,
    backing_off: Family<ControllerLabels, Gauge>,
}

impl ControllerMetrics {
    pub(super) fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            reconciles: Family::default(),
            failures: Family::default(),
            duration: latencies(),
            in_flight: Family::default(),
            backing_off: Family::default(),
        };
        registry.register(
            "reconciles",
            "Reconciles run, by controller and the namespace of the object reconciled",
            metrics.reconciles.clone(),
        );
        registry.register(
            "reconcile_failures",
            "Reconciles that failed and were retried with back-off, by controller and reason",
            metrics.failures.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "How long reconciles took, by controller",
            metrics.duration.clone(),
        );
        registry.register(
            "reconciles_in_flight",
            "Reconciles running now, by controller",
            metrics.in_flight.clone(),
        );
        registry.register(
            "objects_backing_off",
            "Objects whose last reconcile failed and that wait for their retry, by controller \
             (the part of the work queue kube-runtime lets us see)",
            metrics.backing_off.clone(),
        );
        metrics
    }

    /// Counts a reconcile as running until the guard drops.
    pub fn start(&self, controller: &'static str) -> InFlight {
        let gauge = self
            .in_flight
            .get_or_create(&ControllerLabels { controller })
            .clone();
        gauge.inc();
        InFlight(gauge)
    }

    pub fn finished(
        &self,
        controller: &'static str,
        namespace: &str,
        took: Duration,
        failure: Option<&'static str>,
    ) {
        self.reconciles
            .get_or_create(&ReconcileLabels {
                controller,
                namespace: namespace.to_string(),
            })
            .inc();
        let labels = ControllerLabels { controller };
        self.duration
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
        if let Some(reason) = failure {
            self.failures
                .get_or_create(&FailureLabels { controller, reason })
                .inc();
        }
    }

    pub fn set_backing_off(&self, controller: &'static str, objects: usize) {
        self.backing_off
            .get_or_create(&ControllerLabels { controller })
            .set(objects as i64);
    }
}

/// A reconcile in flight; dropping it counts it as done.
pub struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}
