//! The AgentArea api: an axum facade that serves AgentArea's `/v1` REST API from the custom
//! resources. Reads come from watch-backed caches; writes go to the apiserver.
//!
//! | module | what |
//! | --- | --- |
//! | [`run`] | start-up, the router and its layers, shutdown |
//! | [`config`] | flags and environment |
//! | [`auth`] | JWT (HS256, JWKS) and Kratos session authentication -> [`auth::Identity`] |
//! | [`workspace`] | workspace -> namespace |
//! | [`state`] | what handlers share: client, caches, event log |
//! | [`cache`] | reflector-backed caches with read-your-writes |
//! | [`resources`] | REST names/ids, pagination, writes: the mechanics every route shares |
//! | [`routes`] | one module per resource group |
//! | [`events`] | the workspace event log and SSE helpers |
//! | [`extract`] | body and query extractors that fail with the error shape |
//! | [`error`] | the one error type and its `{"detail", "status_code"}` body |
//! | [`docs`] | OpenAPI and Swagger UI |

pub mod auth;
pub mod cache;
pub mod config;
pub mod docs;
pub mod error;
pub mod events;
pub mod extract;
pub mod resources;
pub mod routes;
pub mod run;
pub mod state;
pub mod workspace;
