//! What the operator's metric families share: histograms with the buckets of their kind, and the
//! `outcome` label's values.

use agentarea_support::metrics::{latency_histogram, run_histogram};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;

/// Histograms by label set, each made with its kind's buckets.
pub type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// Histograms with the buckets of requests and calls ([`latency_histogram`]).
pub fn latencies<L: Clone + std::hash::Hash + Eq>() -> Histograms<L> {
    Family::new_with_constructor(latency_histogram)
}

/// Histograms with the buckets of whole runs ([`run_histogram`]).
pub fn runs<L: Clone + std::hash::Hash + Eq>() -> Histograms<L> {
    Family::new_with_constructor(run_histogram)
}

/// The `outcome` label of a success or a failure.
pub fn outcome(ok: bool) -> &'static str {
    if ok { "ok" } else { "error" }
}
