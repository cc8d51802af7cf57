//! What the `#[utoipa::path]` attributes leave out, added in one pass over the document so that no
//! route can forget it:
//! - the errors each operation can answer, decided by what it takes (credentials, a body, query
//!   or path parameters) and whether it writes to the cluster, all as [`ErrorBody`]
//!   (`crate::error::ErrorBody`);
//! - a description on every response (OpenAPI requires one);
//! - the pagination headers of every paged list (`resources::Page::headers`);
//! - unique operation ids for a handler documented under several methods;
//! - links from each create to the operations on what it created, which schemathesis' stateful
//!   phase and generated clients follow.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use utoipa::Modify;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{OpenApi, Ref, RefOr};

pub struct Contract;

impl Modify for Contract {
    fn modify(&self, openapi: &mut OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            for (method, operation) in operations(item) {
                add_error_responses(operation, method);
                describe_responses(operation);
                add_page_headers(operation);
            }
        }
        unique_operation_ids(openapi);
        add_links(openapi);
    }
}

/// What an operation takes and does, which decides the errors it can answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Shape {
    /// Needs a bearer token or session cookie.
    pub authenticated: bool,
    /// Reads a JSON request body.
    pub body: bool,
    /// Reads query parameters.
    pub query: bool,
    /// Names an object in its path.
    pub path: bool,
    /// Writes to the cluster (every method but GET).
    pub writes: bool,
}

/// The errors an operation of `shape` can answer, and when. The extractors of `crate::extract`,
/// the authenticator and `From<kube::Error> for ApiError` are where they come from.
pub fn error_statuses(shape: Shape) -> Vec<(u16, &'static str)> {
    let mut statuses = Vec::new();
    if shape.body {
        statuses.push((400, "The body is not well-formed JSON"));
    } else if shape.path {
        statuses.push((400, "The path does not decode"));
    }
    if shape.authenticated {
        statuses.push((401, "Not authenticated"));
    }
    if shape.writes {
        statuses.push((403, "The api may not make this change in the cluster"));
    }
    if shape.path {
        statuses.push((404, "Not found"));
    }
    if shape.body {
        statuses.push((413, "The body is larger than the api takes"));
        statuses.push((415, "The body is not declared as JSON"));
    }
    if shape.body || shape.query {
        statuses.push((422, "A value the api does not take; `detail` names it"));
    }
    // An authenticated request is admitted within the caller's and the workspace's request rates,
    // and its credential may need the identity provider (JWKS, Kratos); a write needs the cluster.
    match (shape.authenticated, shape.writes) {
        (true, true) => {
            statuses.push((429, "Over the caller's or the workspace's request rate, or the cluster asks to retry later"));
            statuses.push((
                503,
                "The cluster or the identity provider is unavailable; retry later",
            ));
        }
        (true, false) => {
            statuses.push((
                429,
                "Over the caller's or the workspace's request rate (or open streams)",
            ));
            statuses.push((503, "The identity provider is unavailable; retry later"));
        }
        (false, true) => {
            statuses.push((429, "The cluster asks to retry later"));
            statuses.push((503, "The cluster is unavailable; retry later"));
        }
        (false, false) => {}
    }
    statuses
}

/// The operations of a path, with their methods.
fn operations(item: &mut PathItem) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    [
        ("get", item.get.as_mut()),
        ("put", item.put.as_mut()),
        ("post", item.post.as_mut()),
        ("delete", item.delete.as_mut()),
        ("patch", item.patch.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, operation)| operation.map(|o| (method, o)))
}

fn shape(operation: &Operation, method: &str) -> Shape {
    let parameters = operation.parameters.iter().flatten();
    let takes = |location: ParameterIn| {
        parameters
            .clone()
            .any(|p| matches!(p, RefOr::T(p) if p.parameter_in == location))
    };
    // `security(())` on an operation (the webhook, which is signed instead) opens it.
    let open = operation
        .security
        .iter()
        .flatten()
        .any(|requirement| requirement == &Default::default());
    Shape {
        authenticated: !open,
        body: operation.request_body.is_some(),
        query: takes(ParameterIn::Query),
        path: takes(ParameterIn::Path),
        // The signed webhook starts a task whatever method its trigger takes, GET included.
        writes: method != "get" || open,
    }
}

fn add_error_responses(operation: &mut Operation, method: &str) {
    let shape = shape(operation, method);
    for (status, description) in error_statuses(shape) {
        operation
            .responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| error_response(status, description));
    }
}

fn error_response(status: u16, description: &str) -> RefOr<utoipa::openapi::Response> {
    let mut response = ResponseBuilder::new().description(description);
    if status == 429 {
        let seconds = HeaderBuilder::new()
            .schema(Some(ObjectBuilder::new().schema_type(Type::Integer)))
            .description(Some("Seconds to wait before trying again"))
            .build();
        response = response.header("Retry-After", seconds);
    }
    response
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
        .into()
}

/// A list that takes a `cursor` answers a page: `X-Total-Count` always, `X-Next-Cursor` when
/// there is more.
fn add_page_headers(operation: &mut Operation) {
    let paged = operation.parameters.iter().flatten().any(
        |p| matches!(p, RefOr::T(p) if p.name == "cursor" && p.parameter_in == ParameterIn::Query),
    );
    let Some(RefOr::T(page)) = operation.responses.responses.get_mut("200") else {
        return;
    };
    if !paged {
        return;
    }
    let header = |schema: Type, description: &str| {
        HeaderBuilder::new()
            .schema(Some(ObjectBuilder::new().schema_type(schema)))
            .description(Some(description))
            .build()
            .into()
    };
    page.headers.insert(
        "X-Total-Count".into(),
        header(Type::Integer, "Items in the whole list"),
    );
    page.headers.insert(
        "X-Next-Cursor".into(),
        header(
            Type::String,
            "Pass as `cursor` for the next page; absent on the last page",
        ),
    );
}

fn describe_responses(operation: &mut Operation) {
    for (status, response) in &mut operation.responses.responses {
        if let RefOr::T(response) = response
            && response.description.is_empty()
        {
            response.description = status
                .parse::<u16>()
                .ok()
                .and_then(|code| StatusCode::from_u16(code).ok())
                .and_then(|code| code.canonical_reason())
                .unwrap_or("Response")
                .to_string();
        }
    }
}

/// A handler documented under several methods (`method(patch, put)`) would give them one
/// operation id; each gets `<id>_<method>` instead, as operation ids must be unique.
fn unique_operation_ids(openapi: &mut OpenApi) {
    let mut count = BTreeMap::<String, usize>::new();
    for item in openapi.paths.paths.values_mut() {
        for (_, operation) in operations(item) {
            *count
                .entry(operation.operation_id.clone().unwrap_or_default())
                .or_default() += 1;
        }
    }
    for item in openapi.paths.paths.values_mut() {
        for (method, operation) in operations(item) {
            if let Some(id) = &operation.operation_id
                && count[id] > 1
            {
                operation.operation_id = Some(format!("{id}_{method}"));
            }
        }
    }
}

/// A link from the success response of `from` to operation `to`, with `parameters` (name,
/// runtime expression) and optionally fields of its request body.
pub struct LinkSpec {
    pub from: &'static str,
    pub to: &'static str,
    pub parameters: &'static [(&'static str, &'static str)],
    pub body: Option<fn() -> serde_json::Value>,
}

const ID: &[(&str, &str)] = &[("id", "$response.body#/id")];

const fn by_id(from: &'static str, to: &'static str) -> LinkSpec {
    LinkSpec {
        from,
        to,
        parameters: ID,
        body: None,
    }
}

/// From a created task to `to` under its agent's path.
const fn by_agent_task(to: &'static str) -> LinkSpec {
    LinkSpec {
        from: "create_task",
        to,
        parameters: &[
            ("agent_id", "$response.body#/agent_id"),
            ("task_id", "$response.body#/id"),
        ],
        body: None,
    }
}

const fn by_webhook(to: &'static str) -> LinkSpec {
    LinkSpec {
        from: "create_trigger",
        to,
        parameters: &[("webhook_id", "$response.body#/webhook_id")],
        body: None,
    }
}

/// Every create, linked to what can be done with what it created.
pub const LINKS: &[LinkSpec] = &[
    by_id("create_agent", "get_agent"),
    by_id("create_agent", "update_agent"),
    by_id("create_agent", "delete_agent"),
    LinkSpec {
        from: "create_agent",
        to: "list_agent_tasks",
        parameters: &[("agent_id", "$response.body#/id")],
        body: None,
    },
    LinkSpec {
        from: "create_agent",
        to: "create_task",
        parameters: &[],
        body: Some(|| serde_json::json!({ "agent_id": "$response.body#/id" })),
    },
    LinkSpec {
        from: "create_agent",
        to: "create_trigger",
        parameters: &[],
        body: Some(|| serde_json::json!({ "agent_id": "$response.body#/id" })),
    },
    // An agent that takes the new skill on.
    LinkSpec {
        from: "create_skill",
        to: "create_agent",
        parameters: &[],
        body: Some(|| serde_json::json!({ "skills": ["$response.body#/id"] })),
    },
    by_id("create_skill", "get_skill"),
    by_id("create_skill", "update_skill"),
    by_id("create_skill", "delete_skill"),
    by_id("create_instance", "get_instance"),
    by_id("create_instance", "update_instance_patch"),
    by_id("create_instance", "update_instance_put"),
    by_id("create_instance", "delete_instance"),
    by_id("create_instance", "list_tools"),
    by_id("create_instance", "environment_names"),
    by_id("create_instance", "start_instance"),
    by_id("create_instance", "stop_instance"),
    by_id("create_instance", "discover_tools"),
    by_id("create_trigger", "get_trigger"),
    by_id("create_trigger", "update_trigger_patch"),
    by_id("create_trigger", "update_trigger_put"),
    by_id("create_trigger", "delete_trigger"),
    by_id("create_trigger", "enable_trigger"),
    by_id("create_trigger", "disable_trigger"),
    by_id("create_trigger", "list_executions"),
    // A webhook trigger's public endpoint (a request there needs the signature besides).
    by_webhook("receive_get"),
    by_webhook("receive_post"),
    by_webhook("receive_put"),
    by_webhook("receive_patch"),
    by_id("create_task", "get_task"),
    by_id("create_task", "cancel_task"),
    by_id("create_task", "delete_task"),
    by_agent_task("get_agent_task"),
    by_agent_task("cancel_agent_task"),
    by_agent_task("list_agent_task_events"),
];

fn add_links(openapi: &mut OpenApi) {
    for item in openapi.paths.paths.values_mut() {
        for (_, operation) in operations(item) {
            let id = operation.operation_id.clone().unwrap_or_default();
            let Some(RefOr::T(created)) = operation.responses.responses.get_mut("201") else {
                continue;
            };
            for link in LINKS.iter().filter(|l| l.from == id) {
                let mut builder = LinkBuilder::new().operation_id(link.to);
                for (name, expression) in link.parameters {
                    builder = builder.parameter(*name, *expression);
                }
                builder = builder.request_body(link.body.map(|body| body()));
                created
                    .links
                    .insert(link.to.to_string(), builder.build().into());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_follow_from_what_an_operation_takes() {
        let statuses = |shape: Shape| -> Vec<u16> {
            error_statuses(shape).into_iter().map(|(s, _)| s).collect()
        };
        let authenticated = Shape {
            authenticated: true,
            ..Shape::default()
        };
        let cases = [
            (Shape::default(), vec![]),
            (authenticated, vec![401, 429, 503]),
            (
                Shape {
                    query: true,
                    ..authenticated
                },
                vec![401, 422, 429, 503],
            ),
            (
                Shape {
                    path: true,
                    ..authenticated
                },
                vec![400, 401, 404, 429, 503],
            ),
            // The signed webhook: no credential, a write.
            (
                Shape {
                    body: true,
                    path: true,
                    writes: true,
                    ..Shape::default()
                },
                vec![400, 403, 404, 413, 415, 422, 429, 503],
            ),
            (
                Shape {
                    body: true,
                    writes: true,
                    ..authenticated
                },
                vec![400, 401, 403, 413, 415, 422, 429, 503],
            ),
            (
                Shape {
                    path: true,
                    writes: true,
                    ..authenticated
                },
                vec![400, 401, 403, 404, 429, 503],
            ),
        ];
        for (shape, expected) in cases {
            assert_eq!(statuses(shape), expected, "{shape:?}");
        }
    }

    /// Whatever an operation takes, the request limits and the services it needs can turn it
    /// away: every operation of the published document says so (a 429 with `Retry-After`).
    #[test]
    fn every_operation_lists_429_and_503() {
        let document = crate::docs::document();
        let mut operations = 0;
        for (path, item) in document["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let responses = &operation["responses"];
                for status in ["429", "503"] {
                    assert!(
                        responses.get(status).is_some(),
                        "{method} {path}: no {status}"
                    );
                }
                assert!(
                    responses["429"]["headers"].get("Retry-After").is_some(),
                    "{method} {path}"
                );
                operations += 1;
            }
        }
        assert!(operations >= 50, "{operations}");
    }
}
