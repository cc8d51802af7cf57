//! Objects as manifests for Git ([`crate::model::export`]): `GET /v1/export` gives the caller's
//! whole workspace as one YAML stream, and a `GET` of any one object with
//! `Accept: application/yaml` gives that object ([`Manifest`]).

use axum::Router;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use kube::Resource;
use serde::Serialize;
use serde_json::Value;

use agentarea_crds::{Agent, McpServerInstance, Skill, Trigger};

use crate::auth::Identity;
use crate::error::{ApiResult, ErrorBody};
use crate::model::export::{manifest, yaml_documents};
use crate::state::{AppState, Served};

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/export", get(export_workspace))
}

/// Whether the client asked for the object as a manifest (`Accept: application/yaml`,
/// `application/x-yaml` or `text/yaml`) rather than its REST shape.
pub struct Manifest(pub bool);

impl<S: Send + Sync> FromRequestParts<S> for Manifest {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let accept = parts
            .headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        Ok(Self(accept.split(',').any(|media| {
            let media = media.split(';').next().unwrap_or_default().trim();
            matches!(
                media,
                "application/yaml" | "application/x-yaml" | "text/yaml"
            )
        })))
    }
}

/// One object as a YAML manifest.
pub fn manifest_of<K: Resource + Serialize>(object: &K) -> Response {
    yaml(&[manifest(&stored(object))], None)
}

fn stored<K: Serialize>(object: &K) -> Value {
    serde_json::to_value(object).unwrap_or_default()
}

fn yaml(manifests: &[Value], attachment: Option<&str>) -> Response {
    let mut response = yaml_documents(manifests).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/yaml"),
    );
    if let Some(value) = attachment.and_then(|name| {
        HeaderValue::from_str(&format!("attachment; filename=\"{name}.yaml\"")).ok()
    }) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

/// The caller's workspace as manifests: skills, MCP server instances, agents, then triggers (the
/// order in which each names only what comes before it), each kind by name. Tasks are runs, not
/// configuration, and are left out; Secrets are referenced by name and never exported.
#[utoipa::path(get, path = "/v1/export", tag = "export",
    responses((status = 200, body = String, description = "One YAML document per object, ready to commit to a repository", content_type = "application/yaml"),
              (status = 401, body = ErrorBody)))]
pub async fn export_workspace(
    State(state): State<AppState>,
    caller: Identity,
) -> ApiResult<Response> {
    let mut manifests = Vec::new();
    manifests.extend(manifests_of::<Skill>(&state, &caller));
    manifests.extend(manifests_of::<McpServerInstance>(&state, &caller));
    manifests.extend(manifests_of::<Agent>(&state, &caller));
    manifests.extend(manifests_of::<Trigger>(&state, &caller));
    Ok(yaml(&manifests, Some(&caller.workspace)))
}

fn manifests_of<K: Served>(state: &AppState, caller: &Identity) -> Vec<Value> {
    let mut objects = state.list::<K>(caller);
    objects.sort_by_key(|object| object.meta().name.clone());
    objects
        .iter()
        .map(|object| manifest(&stored(&**object)))
        .collect()
}
