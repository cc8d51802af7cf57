//! Trailing slashes on `/v1` paths. AgentArea's api (FastAPI) declares its collections with a
//! trailing slash (`/v1/agents/`) and redirects the bare form, so its clients (the CLI, the
//! frontend) write the slash. We serve each `/v1/...` path with a trailing slash as its twin
//! without one: the same handler, the same answer, no redirect (a redirect would drop a POST's
//! body in some clients and cost a round trip).

use axum::extract::Request;
use axum::http::Uri;
use axum::http::uri::PathAndQuery;

/// `path` without its trailing slashes, when it is a `/v1/...` path that has any; `None` when it
/// is to be routed as it is.
pub fn without_trailing_slash(path: &str) -> Option<&str> {
    let trimmed = path.trim_end_matches('/');
    let under_v1 = trimmed.starts_with("/v1/");
    (under_v1 && trimmed.len() < path.len()).then_some(trimmed)
}

/// `request` with its `/v1` path as routed: without a trailing slash, its query kept.
pub fn trim_trailing_slash(mut request: Request) -> Request {
    let uri = request.uri();
    let Some(path) = without_trailing_slash(uri.path()) else {
        return request;
    };
    let path_and_query = match uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_string(),
    };
    let mut parts = uri.clone().into_parts();
    // A path cut from a valid one (and its valid query) is valid: nothing new is added.
    parts.path_and_query = PathAndQuery::try_from(path_and_query).ok();
    if let Ok(uri) = Uri::from_parts(parts) {
        *request.uri_mut() = uri;
    }
    request
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_paths_lose_their_trailing_slash_and_nothing_else_changes() {
        let cases: &[(&str, Option<&str>)] = &[
            ("/v1/agents/", Some("/v1/agents")),
            ("/v1/agents", None),
            ("/v1/agents//", Some("/v1/agents")),
            ("/v1/agents/a1/tasks/", Some("/v1/agents/a1/tasks")),
            (
                "/v1/agents/a1/tasks/t1/status/",
                Some("/v1/agents/a1/tasks/t1/status"),
            ),
            ("/v1/triggers/", Some("/v1/triggers")),
            ("/v1/webhooks/hook-1/", Some("/v1/webhooks/hook-1")),
            // `/v1/` alone names no route either way.
            ("/v1/", None),
            ("/v1", None),
            ("/", None),
            // The console and the docs keep their own paths (`/console/` is the console's page).
            ("/console/", None),
            ("/docs/", None),
            ("/v10/agents/", None),
        ];
        for (path, expected) in cases {
            assert_eq!(without_trailing_slash(path), *expected, "{path}");
        }
    }

    #[test]
    fn the_query_is_kept() {
        let request = Request::builder()
            .uri("/v1/agents/?limit=2&cursor=abc")
            .body(axum::body::Body::empty())
            .unwrap();
        let request = trim_trailing_slash(request);
        assert_eq!(request.uri().path(), "/v1/agents");
        assert_eq!(request.uri().query(), Some("limit=2&cursor=abc"));
    }
}
