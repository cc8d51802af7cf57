//! OpenAPI 3 at `/openapi.json` and Swagger UI at `/docs`. The Swagger UI assets are served by
//! the api itself (vendored from the `swagger-ui-dist` npm package), so the docs work without
//! internet access.

use axum::Router;
use axum::body::Bytes;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{
    agent_tasks, agents, events, export, mcp_server_instances, me, skills, tasks, triggers,
    webhooks,
};

mod contract;
mod stored;
mod variants;

use contract::Contract;

/// The document `/openapi.json` serves: what the attributes and [`Contract`] say, with the rules
/// the CRDs enforce on stored fields stated on the REST fields (see [`stored`]), and enum variants
/// as named components (see [`variants`]).
pub fn document() -> serde_json::Value {
    let mut document =
        serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document serializes");
    stored::apply(&mut document);
    variants::name_variants(&mut document);
    document
}

#[derive(OpenApi)]
#[openapi(
    info(title = "AgentArea API", description = "AgentArea's REST API, served from Kubernetes custom resources. Every /v1 route needs a bearer token or a Kratos session cookie, except the signed webhook endpoint. Errors are {\"detail\", \"status_code\"}. Every /v1 path is served alike with a trailing slash (as AgentArea's clients write them). Every operation may answer 429 (request limits, with Retry-After) and 503 (the cluster or the identity provider away)."),
    paths(
        agents::list_agents, agents::create_agent, agents::get_agent, agents::update_agent, agents::delete_agent,
        skills::list_skills, skills::create_skill, skills::get_skill, skills::update_skill, skills::delete_skill,
        tasks::list_tasks, tasks::create_task, tasks::get_task, tasks::stream_task_events, tasks::cancel_task,
        tasks::delete_task, tasks::pause_task, tasks::resume_task, tasks::decide_tool_call, tasks::task_status,
        agent_tasks::pause_agent_task, agent_tasks::resume_agent_task, agent_tasks::agent_task_status,
        agent_tasks::list_agent_tasks, agent_tasks::create_agent_task_streaming, agent_tasks::create_agent_task_sync,
        agent_tasks::get_agent_task, agent_tasks::cancel_agent_task, agent_tasks::list_agent_task_events,
        agent_tasks::stream_agent_task_events,
        mcp_server_instances::list_instances, mcp_server_instances::create_instance, mcp_server_instances::get_instance,
        mcp_server_instances::update_instance, mcp_server_instances::delete_instance, mcp_server_instances::list_tools,
        mcp_server_instances::environment_names, mcp_server_instances::start_instance, mcp_server_instances::stop_instance,
        mcp_server_instances::discover_tools,
        triggers::list_triggers, triggers::create_trigger, triggers::get_trigger, triggers::update_trigger,
        triggers::delete_trigger, triggers::enable_trigger, triggers::disable_trigger, triggers::list_executions,
        webhooks::receive,
        events::stream_events,
        me::who_am_i,
        export::export_workspace,
    ),
    modifiers(&Security, &Contract),
    security(("bearer" = []), ("kratos_session" = [])),
    tags(
        (name = "agents", description = "AI agents: instruction, model, skills and MCP tools"),
        (name = "skills", description = "Reusable instructions and the tools they need"),
        (name = "tasks", description = "Runs of an agent, with SSE streams of their events"),
        (name = "mcp-server-instances", description = "Managed, remote and compound MCP servers"),
        (name = "triggers", description = "Schedule, webhook and event triggers"),
        (name = "events", description = "The workspace's events as SSE"),
        (name = "workspace", description = "Who the caller is, and in which workspace"),
        (name = "export", description = "The workspace as manifests for a Git repository"),
    )
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "kratos_session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("ory_kratos_session"))),
        );
    }
}

const SWAGGER_JS: &[u8] = include_bytes!("../../assets/swagger-ui/swagger-ui-bundle.js");
const SWAGGER_CSS: &[u8] = include_bytes!("../../assets/swagger-ui/swagger-ui.css");
const FAVICON: &[u8] = include_bytes!("../../assets/swagger-ui/favicon-32x32.png");

const DOCS_PAGE: &str = r##"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>AgentArea API</title>
  <link rel="icon" type="image/png" href="/docs/favicon-32x32.png">
  <link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true, persistAuthorization: true });
  </script>
</body>
</html>
"##;

/// `/openapi.json`, `/docs` and its assets: open paths, no credentials needed.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    // Shared, not owned: axum clones the router, and so this handler, for every connection.
    let spec = Bytes::from(
        serde_json::to_string_pretty(&document()).expect("the OpenAPI document serializes"),
    );
    Router::new()
        .route(
            "/openapi.json",
            get(move || {
                let spec = spec.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], spec) }
            }),
        )
        .route("/docs", get(|| async { Html(DOCS_PAGE) }))
        .route("/docs/", get(|| async { Html(DOCS_PAGE) }))
        .route(
            "/docs/swagger-ui-bundle.js",
            get(|| async { asset("application/javascript", SWAGGER_JS) }),
        )
        .route(
            "/docs/swagger-ui.css",
            get(|| async { asset("text/css", SWAGGER_CSS) }),
        )
        .route(
            "/docs/favicon-32x32.png",
            get(|| async { asset("image/png", FAVICON) }),
        )
}

fn asset(content_type: &'static str, body: &'static [u8]) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        body,
    )
}

// Tests of the whole document live here rather than beside the parts they check: the parts
// (`contract`, `stored`) are what `document()` is built from, so they do not import it.
#[cfg(test)]
mod tests {
    use super::*;
    use contract::LINKS;
    use stored::{STORED, crd_node, crd_rules, rest_node};

    /// Every link goes from an operation that creates (answers 201) to one that exists.
    #[test]
    fn links_join_operations_of_the_document() {
        let document = document();
        let mut ids = std::collections::BTreeMap::new();
        for item in document["paths"].as_object().unwrap().values() {
            for operation in item.as_object().unwrap().values() {
                if let Some(id) = operation["operationId"].as_str() {
                    ids.insert(id.to_string(), operation.clone());
                }
            }
        }
        for link in LINKS {
            let from = ids
                .get(link.from)
                .unwrap_or_else(|| panic!("no {}", link.from));
            assert!(
                from["responses"]["201"]["links"][link.to].is_object(),
                "{} -> {}",
                link.from,
                link.to
            );
            assert!(ids.contains_key(link.to), "no {}", link.to);
        }
    }

    /// Every entry names a REST field of the document and a field of its CRD, so the table
    /// cannot drift from either silently.
    #[test]
    fn every_stored_field_resolves_on_both_sides() {
        let mut document = serde_json::to_value(ApiDoc::openapi()).unwrap();
        for entry in STORED {
            assert!(
                crd_node(&entry.kind.schema(), entry.crd).is_some(),
                "{} not in the CRD",
                entry.crd
            );
            assert!(!crd_rules(entry).is_empty(), "{} has no rule", entry.crd);
            assert!(
                rest_node(&mut document, entry.rest).is_some(),
                "{} not in the document",
                entry.rest
            );
        }
    }
}
