//! Wire models: the request and response bodies of `/v1` in AgentArea's shapes, and their
//! conversions to and from the custom resources. Nothing here writes to the apiserver, so every
//! check a request body gets can be tested without one; related objects (an agent's MCP servers,
//! a task's agent) are looked up in the caches the caller hands in.
//!
//! Each kind is a directory of the same layout: `wire.rs` holds its request and response types
//! (their serde and utoipa derives, so the OpenAPI document), `convert.rs` what a body becomes in
//! the custom resource (specs and merge patches) and what the resource looks like on the wire
//! (`present`), `filter.rs` the query parameters of its list where it has any, and `mod.rs`
//! re-exports what the routes use. This module holds what the kinds share; it imports none of
//! them.

pub mod agents;
pub mod export;
pub mod mcp_server_instances;
pub mod skills;
pub mod tasks;
pub mod triggers;
pub mod webhooks;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::ResourceExt;
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;

use agentarea_crds::common::condition;

use crate::cache::{CachedResource, ResourceCache};
use crate::error::{ApiError, ApiResult};

/// Renames for REST when the Kubernetes metadata should stay out of sight.
#[derive(Serialize, ToSchema)]
pub struct StatusResponse {
    #[schema(example = "success")]
    pub status: String,
}

impl StatusResponse {
    pub fn success() -> Self {
        Self {
            status: "success".into(),
        }
    }
}

/// Reads a JSON value into `T`, naming the field on failure (for bodies accepted as raw JSON).
pub fn from_json<T: DeserializeOwned>(value: serde_json::Value) -> ApiResult<T> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        if path == "." || path.is_empty() {
            ApiError::unprocessable(message)
        } else {
            ApiError::unprocessable(format!("{path}: {message}"))
        }
    })
}

/// `"<reason>: <message>"` of a Ready condition that is not True, for the REST `status_message`.
pub fn not_ready_message(conditions: Option<&Vec<Condition>>) -> Option<String> {
    conditions
        .into_iter()
        .flatten()
        .find(|c| c.type_ == condition::READY && c.status != condition::STATUS_TRUE)
        .map(|c| format!("{}: {}", c.reason, c.message))
}

/// `"True"`/`"False"` of the Ready condition: the state word of kinds whose state is readiness.
pub fn ready_state(conditions: Option<&Vec<Condition>>) -> Option<String> {
    conditions
        .into_iter()
        .flatten()
        .find(|c| c.type_ == condition::READY)
        .map(|c| c.status.clone())
}

/// How the CRD spells a value of one of its enums (the variant's serde name), for the REST fields
/// that carry the CRD's word as a plain string.
pub fn crd_word<T: Serialize>(value: T) -> Option<String> {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
}

/// The REST id (the uid) of the object `name` in `namespace`, or its name while the cache does not
/// hold it (not seen yet, or gone).
pub fn id_or_name<K: CachedResource>(
    cache: &ResourceCache<K>,
    namespace: &str,
    name: &str,
) -> String {
    cache
        .get(namespace, name)
        .and_then(|object| object.uid())
        .unwrap_or_else(|| name.to_string())
}

/// A time of a status, in RFC 3339 as the REST bodies give times.
pub fn rfc3339(time: Option<&Time>) -> Option<String> {
    time.map(|t| t.0.to_string())
}

/// RFC 3339 time of now, as every timestamp the api writes.
pub fn now() -> String {
    k8s_openapi::jiff::Timestamp::now().to_string()
}
