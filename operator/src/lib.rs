//! The AgentArea operator: controllers that reconcile the custom resources of `agentarea-crds`.
//!
//! | module | what |
//! | --- | --- |
//! | [`run`] | start-up: client, CRD check, controllers, health server, shutdown |
//! | [`approval`] | which tool calls wait for a person, and what becomes of them: one home for the Agent controller and a task's run |
//! | [`config`] | flags and environment |
//! | [`context`] | what controllers share: client, config, events, back-off |
//! | [`controllers`] | one controller per kind |
//! | [`egress`] | each workspace's egress policy: the platform's and its namespace's allowances |
//! | [`status`] | the one way status is written (server-side apply on the subresource) |
//! | [`mcp`] | MCP: the client (discovery, tool calls), the compound gateway, `mcp-bridge` |
//! | [`model`] | the model client: OpenAI-compatible chat completions with tools |
//! | [`leader`] | leader election (a Lease) for the controllers that must not run twice |
//! | [`error`] | reconcile errors |
//! | [`problem`] | problems a user can fix: the reason and message of a condition or a failure |
//! | [`secrets`] | reading a key of a Secret |
//! | [`sync`] | locking a mutex whose holder panicked |
//! | [`text`] | cutting text to a size, marking the cut |

pub mod approval;
pub mod backoff;
pub mod budget;
pub mod cause;
pub mod config;
pub mod context;
pub mod controllers;
pub mod egress;
pub mod error;
pub mod events;
#[cfg(test)]
mod fixtures;
pub mod leader;
pub mod mcp;
pub mod metrics;
pub mod model;
pub mod problem;
pub mod run;
pub mod secrets;
pub mod status;
pub mod sync;
pub mod text;
