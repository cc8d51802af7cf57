//! The AgentArea api: an axum facade that serves AgentArea's `/v1` REST API from the custom
//! resources. Reads come from watch-backed caches; writes go to the apiserver.
//!
//! The layers depend downwards only: [`routes`] and [`stream`] use [`state`] and [`model`];
//! [`state`] uses [`model`] (to record changes in REST shape) and never [`routes`]; [`model`]
//! reads caches but writes nothing.
//!
//! | module | what |
//! | --- | --- |
//! | [`run`] | start-up, the router and its layers, shutdown |
//! | [`paths`], [`cors`] | what every request meets before routing: `/v1` paths without a trailing slash, CORS for listed origins |
//! | [`config`] | flags and environment |
//! | [`constraints`] | request values checked and documented from one declaration |
//! | [`audit`] | who wrote what: the writer on the object, and an audit log line per write |
//! | [`auth`] | JWT (HS256, JWKS) and Kratos session authentication -> [`auth::Identity`] |
//! | [`workspace`] | workspace -> namespace, its identity (impersonation), quota and set-up |
//! | [`limits`] | request rates per caller and workspace, open streams per workspace (429), each replica its share |
//! | [`replicas`] | how many api replicas share the limits: the ready endpoints of the api's Service |
//! | [`state`] | what handlers share: client, caches, event log; reads scoped to the workspace |
//! | [`cache`] | caches fed by our own list and watch (resourceVersions, bookmarks), read-your-writes, and what changed across a re-list |
//! | [`resources`] | REST names/ids, pagination, writes: the mechanics every route shares |
//! | [`model`] | wire models: request and response bodies, and their conversions to/from the CRDs |
//! | [`routes`] | the handlers, one module per resource group |
//! | [`stream`] | Server-Sent Events: a task's run, the workspace's events |
//! | [`mcp`] | the workspace's agents as an MCP server (`/v1/mcp`): each Ready agent a tool |
//! | [`event_log`] | the workspace event log behind `/v1/events`: ids as per-kind resourceVersions, resumable on any replica |
//! | [`skipped`] | recording webhook deliveries held back, one writer per trigger |
//! | [`gitops`] | objects a GitOps engine applies from Git: who owns one, and the 409 that refuses changing it here |
//! | [`extract`] | body and query extractors that fail with the error shape |
//! | [`error`] | the one error type and its `{"detail", "status_code"}` body |
//! | [`docs`] | OpenAPI and Swagger UI |
//! | [`egress`] | targets the operator would refuse to call, refused when they are named |
//! | [`console`] | the web console at `/console`, built on `/v1` alone |

pub mod audit;
pub mod auth;
pub mod cache;
pub mod config;
pub mod console;
pub mod constraints;
pub mod cors;
pub mod docs;
pub mod egress;
pub mod error;
pub mod event_log;
pub mod extract;
pub mod gitops;
pub mod limits;
pub mod mcp;
pub mod metrics;
pub mod model;
pub mod paths;
pub mod replicas;
pub mod resources;
pub mod routes;
pub mod run;
pub mod skipped;
pub mod state;
pub mod stream;
pub mod workspace;

#[cfg(test)]
mod tests;
