//! The operator's Prometheus metrics, served at `/metrics` on its health port.
//!
//! Names follow the Prometheus conventions (`agentarea_operator_` prefix, base units, `_total`
//! on counters, added by the encoder). Labels stay bounded: controller names, reasons, phases and
//! step outcomes are fixed sets; workspace (namespace), agent, model, instance and tool names are
//! as many as a cluster has objects. Never a Task name or id: every run would add a series.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentarea_support::metrics::{Registry, count_histogram, latency_histogram, run_histogram};
use kube::runtime::reflector::Store;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelSet, EncodeMetric, LabelSetEncoder,
};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;

use agentarea_crds::McpServerInstance;

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

fn latencies<L: Clone + std::hash::Hash + Eq>() -> Histograms<L> {
    Family::new_with_constructor(latency_histogram)
}

fn runs<L: Clone + std::hash::Hash + Eq>() -> Histograms<L> {
    Family::new_with_constructor(run_histogram)
}

/// Every metric of the operator process.
pub struct Metrics {
    pub registry: Arc<Registry>,
    pub controllers: ControllerMetrics,
    pub tasks: TaskMetrics,
    pub triggers: TriggerMetrics,
    pub mcp: McpMetrics,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("agentarea_operator");
        let controllers = ControllerMetrics::register(&mut registry);
        let tasks = TaskMetrics::register(&mut registry);
        let triggers = TriggerMetrics::register(&mut registry);
        let mcp = McpMetrics::register(&mut registry);
        Self {
            registry: Arc::new(registry),
            controllers,
            tasks,
            triggers,
            mcp,
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControllerLabels {
    pub controller: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabels {
    pub controller: &'static str,
    pub reason: &'static str,
}

/// What every controller's reconcile loop records, through [`crate::controllers::observed`].
#[derive(Clone)]
pub struct ControllerMetrics {
    reconciles: Family<ControllerLabels, Counter>,
    failures: Family<FailureLabels, Counter>,
    duration: Histograms<ControllerLabels>,
    in_flight: Family<ControllerLabels, Gauge>,
    backing_off: Family<ControllerLabels, Gauge>,
}

impl ControllerMetrics {
    fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            reconciles: Family::default(),
            failures: Family::default(),
            duration: latencies(),
            in_flight: Family::default(),
            backing_off: Family::default(),
        };
        registry.register(
            "reconciles",
            "Reconciles run, by controller",
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
        took: Duration,
        failure: Option<&'static str>,
    ) {
        let labels = ControllerLabels { controller };
        self.reconciles.get_or_create(&labels).inc();
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

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndLabels {
    pub phase: &'static str,
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabels {
    pub phase: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModelLabels {
    pub model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModelCallLabels {
    pub model: String,
    /// `ok`, or `error` for an attempt that failed (each retry counts).
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TokenLabels {
    pub namespace: String,
    pub agent: String,
    pub model: String,
    /// `input` (prompt) or `output` (completion).
    pub direction: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ToolLabels {
    pub namespace: String,
    pub instance: String,
    pub tool: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ToolCallLabels {
    pub namespace: String,
    pub instance: String,
    pub tool: String,
    /// `ok`, or `error` (unreachable server, or the tool reported an error).
    pub outcome: &'static str,
}

/// Task runs of this replica.
#[derive(Clone)]
pub struct TaskMetrics {
    pub started: Counter,
    pub takeovers: Counter,
    pub running: Gauge,
    finished: Family<EndLabels, Counter>,
    duration: Histograms<PhaseLabels>,
    steps: Histogram,
    model_calls: Family<ModelCallLabels, Counter>,
    model_latency: Histograms<ModelLabels>,
    tokens: Family<TokenLabels, Counter>,
    tool_calls: Family<ToolCallLabels, Counter>,
    tool_latency: Histograms<ToolLabels>,
}

impl TaskMetrics {
    fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            started: Counter::default(),
            takeovers: Counter::default(),
            running: Gauge::default(),
            finished: Family::default(),
            duration: runs(),
            steps: count_histogram(),
            model_calls: Family::default(),
            model_latency: latencies(),
            tokens: Family::default(),
            tool_calls: Family::default(),
            tool_latency: latencies(),
        };
        registry.register(
            "tasks_started",
            "Task runs this replica started (a restart after a lost runner counts again)",
            metrics.started.clone(),
        );
        registry.register(
            "task_claim_takeovers",
            "Tasks this replica took over from a runner that stopped renewing its claim",
            metrics.takeovers.clone(),
        );
        registry.register(
            "tasks_running",
            "Tasks running on this replica now",
            metrics.running.clone(),
        );
        registry.register(
            "tasks_finished",
            "Tasks finished, by phase and reason",
            metrics.finished.clone(),
        );
        registry.register(
            "task_run_duration_seconds",
            "From a Task's start to its end, by phase",
            metrics.duration.clone(),
        );
        registry.register(
            "task_steps",
            "Steps recorded by a Task when it finished",
            metrics.steps.clone(),
        );
        registry.register(
            "model_calls",
            "Calls to model endpoints, every attempt, by model and outcome",
            metrics.model_calls.clone(),
        );
        registry.register(
            "model_call_duration_seconds",
            "Latency of model calls, by model",
            metrics.model_latency.clone(),
        );
        registry.register(
            "model_tokens",
            "Tokens the model endpoints reported, by workspace, agent, model and direction",
            metrics.tokens.clone(),
        );
        registry.register(
            "tool_calls",
            "MCP tool calls made for Tasks, by workspace, instance, tool and outcome",
            metrics.tool_calls.clone(),
        );
        registry.register(
            "tool_call_duration_seconds",
            "Latency of MCP tool calls, by workspace, instance and tool",
            metrics.tool_latency.clone(),
        );
        metrics
    }

    pub fn finished(
        &self,
        phase: &'static str,
        reason: &'static str,
        run: Option<Duration>,
        steps: i64,
    ) {
        self.finished
            .get_or_create(&EndLabels { phase, reason })
            .inc();
        if let Some(run) = run {
            self.duration
                .get_or_create(&PhaseLabels { phase })
                .observe(run.as_secs_f64());
        }
        self.steps.observe(steps as f64);
    }

    pub fn model_call(&self, model: &str, took: Duration, ok: bool) {
        self.model_calls
            .get_or_create(&ModelCallLabels {
                model: model.into(),
                outcome: outcome(ok),
            })
            .inc();
        self.model_latency
            .get_or_create(&ModelLabels {
                model: model.into(),
            })
            .observe(took.as_secs_f64());
    }

    pub fn tokens(&self, namespace: &str, agent: &str, model: &str, input: i64, output: i64) {
        for (direction, count) in [("input", input), ("output", output)] {
            self.tokens
                .get_or_create(&TokenLabels {
                    namespace: namespace.into(),
                    agent: agent.into(),
                    model: model.into(),
                    direction,
                })
                .inc_by(count.max(0) as u64);
        }
    }

    pub fn tool_call(&self, tool: ToolLabels, took: Duration, ok: bool) {
        self.tool_latency
            .get_or_create(&tool)
            .observe(took.as_secs_f64());
        self.tool_calls
            .get_or_create(&ToolCallLabels {
                namespace: tool.namespace,
                instance: tool.instance,
                tool: tool.tool,
                outcome: outcome(ok),
            })
            .inc();
    }
}

fn outcome(ok: bool) -> &'static str {
    if ok { "ok" } else { "error" }
}

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
    fn register(registry: &mut Registry) -> Self {
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
    fn register(registry: &mut Registry) -> Self {
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
