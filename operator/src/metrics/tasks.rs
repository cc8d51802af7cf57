//! Task runs of this replica: their ends, model calls and tokens, and tool calls.

use std::time::Duration;

use agentarea_support::metrics::{Registry, count_histogram};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;

use super::families::{Histograms, latencies, outcome, runs};

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
    pub(super) fn register(registry: &mut Registry) -> Self {
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
