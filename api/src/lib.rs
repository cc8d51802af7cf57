//! The AgentArea api: an axum facade that serves AgentArea's `/v1` REST API from the custom
//! resources.
//!
//! | module | what |
//! | --- | --- |
//! | [`config`] | flags and environment |
//! | [`run`] | start-up: client, CRD check, router, shutdown |
//! | [`auth`] | JWT (HS256, JWKS) and Kratos session authentication |
//! | [`error`] | the one error type and its `{"detail", "status_code"}` body |
//! | [`state`] | what handlers share |

pub mod auth;
pub mod config;
pub mod error;
pub mod run;
pub mod state;
