//! The AgentArea operator: controllers that reconcile the custom resources of `agentarea-crds`.
//!
//! | module | what |
//! | --- | --- |
//! | [`config`] | flags and environment |
//! | [`run`] | start-up: client, CRD check, controllers, health server, shutdown |

pub mod config;
pub mod run;
