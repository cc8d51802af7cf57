//! The operator's Prometheus metrics, served at `/metrics` on its health port.
//!
//! Names follow the Prometheus conventions (`agentarea_operator_` prefix, base units, `_total`
//! on counters, added by the encoder). Labels stay bounded: controller names, reasons, phases and
//! step outcomes are fixed sets; workspace (namespace), agent, model, instance and tool names are
//! as many as a cluster has objects. Never a Task name or id: every run would add a series.
//!
//! | module | what |
//! | --- | --- |
//! | [`controllers`] | reconciles: run, failed, in flight, backing off |
//! | [`tasks`] | Task runs, model calls, tokens and tool calls |
//! | [`triggers`] | trigger firings and the lag of scheduled runs |
//! | [`mcp`] | MCP server instances by phase, discovery, and the gateway's requests |
//! | [`families`] | what the families share: histograms' buckets, the `outcome` label |

pub mod controllers;
pub mod families;
pub mod mcp;
pub mod tasks;
pub mod triggers;

use std::sync::Arc;

use agentarea_support::metrics::Registry;

pub use controllers::ControllerMetrics;
pub use mcp::{GatewayLabels, McpMetrics, OutcomeLabels};
pub use tasks::{TaskMetrics, ToolLabels};
pub use triggers::TriggerMetrics;

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
