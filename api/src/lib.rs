//! The AgentArea api: an axum facade that serves AgentArea's `/v1` REST API from the custom
//! resources.
//!
//! | module | what |
//! | --- | --- |
//! | [`config`] | flags and environment |
//! | [`run`] | start-up: client, CRD check, router, shutdown |

pub mod config;
pub mod run;
