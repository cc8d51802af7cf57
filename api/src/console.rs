//! The web console at `/console`: a page and its ES modules, embedded in the binary at build time
//! (no build step, no external requests), working through the `/v1` API alone with the caller's
//! own credentials (a Kratos session cookie, or a bearer token the person pastes).
//!
//! The sources are `api/console/`: plain JavaScript modules whose JSDoc types TypeScript checks
//! (`tests/tests/console.rs`), so what is served is exactly what was reviewed. Every response
//! carries a strict Content-Security-Policy: scripts, styles and connections from this origin
//! only, no inline script, no framing.

use std::collections::HashMap;
use std::sync::LazyLock;

use axum::Json;
use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// What the page is allowed to do. `connect-src 'self'` is also what keeps the console's requests
/// on this origin: a page that tried to send data elsewhere would be stopped by the browser.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// How the console offers a way in to a person without credentials.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ConsoleSettings {
    /// Where people sign in (e.g. Kratos' self-service browser login); the console links to it
    /// with `return_to` set to itself.
    pub login_url: Option<String>,
}

impl ConsoleSettings {
    /// The settings, refusing a sign-in address the page must not link to: only `http(s)://`
    /// addresses and paths of this origin (a `javascript:` URL would run in the console).
    pub fn new(login_url: Option<String>) -> anyhow::Result<Self> {
        if let Some(url) = &login_url
            && !is_safe_link(url)
        {
            anyhow::bail!(
                "--console-login-url must be an http:// or https:// URL or a path starting with /, not {url:?}"
            );
        }
        Ok(Self { login_url })
    }
}

fn is_safe_link(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    let absolute = ["http://", "https://"]
        .iter()
        .any(|scheme| lower.starts_with(scheme) && lower.len() > scheme.len());
    // `//host` is another origin with this page's scheme: allowed as a URL would be, but a
    // backslash is refused, since browsers read `/\host` as `//host`.
    let path = url.starts_with('/') && !url.contains('\\');
    (absolute || path) && !url.chars().any(char::is_whitespace)
}

/// One embedded file.
struct Asset {
    content_type: &'static str,
    body: &'static [u8],
    etag: String,
}

macro_rules! assets {
    ($($path:literal => $content_type:literal),* $(,)?) => {
        [$(($path, $content_type, include_bytes!(concat!("../console/", $path)) as &'static [u8])),*]
    };
}

/// Every file the console serves, by its path under `/console/`.
static ASSETS: LazyLock<HashMap<&'static str, Asset>> = LazyLock::new(|| {
    assets![
        "index.html" => "text/html; charset=utf-8",
        "style.css" => "text/css; charset=utf-8",
        "icon.svg" => "image/svg+xml",
        "src/main.js" => "text/javascript; charset=utf-8",
        "src/api.js" => "text/javascript; charset=utf-8",
        "src/sse.js" => "text/javascript; charset=utf-8",
        "src/dom.js" => "text/javascript; charset=utf-8",
        "src/format.js" => "text/javascript; charset=utf-8",
        "src/steps.js" => "text/javascript; charset=utf-8",
        "src/pages/login.js" => "text/javascript; charset=utf-8",
        "src/pages/agents.js" => "text/javascript; charset=utf-8",
        "src/pages/tasks.js" => "text/javascript; charset=utf-8",
        "src/pages/task.js" => "text/javascript; charset=utf-8",
        "src/pages/mcp.js" => "text/javascript; charset=utf-8",
        "src/pages/triggers.js" => "text/javascript; charset=utf-8",
        "src/pages/activity.js" => "text/javascript; charset=utf-8",
    ]
    .into_iter()
    .map(|(path, content_type, body)| {
        let etag = format!("\"{}\"", hex::encode(&Sha256::digest(body)[..12]));
        (
            path,
            Asset {
                content_type,
                body,
                etag,
            },
        )
    })
    .collect()
});

/// `/console` and its files: open paths (the page itself holds no data; every datum comes from
/// `/v1` with the caller's credentials).
pub fn router<S: Clone + Send + Sync + 'static>(settings: ConsoleSettings) -> Router<S> {
    Router::new()
        .route("/console", get(|| async { Redirect::permanent("/console/") }))
        .route("/console/", get(|headers: HeaderMap| async move { serve("index.html", &headers) }))
        .route(
            "/console/settings.json",
            get(move || {
                let settings = settings.clone();
                async move { secured(Json(settings).into_response()) }
            }),
        )
        .route(
            "/console/{*path}",
            get(|Path(path): Path<String>, headers: HeaderMap| async move {
                serve(&path, &headers)
            }),
        )
}

/// The file at `path`, or 304 when the browser's copy is current. Files are revalidated on every
/// use (`no-cache`): they are not content-addressed, and a new api version must never run with
/// an old module.
fn serve(path: &str, headers: &HeaderMap) -> Response {
    let Some(asset) = ASSETS.get(path) else {
        return secured(ApiError::not_found("Not found").into_response());
    };
    let etag = HeaderValue::from_str(&asset.etag).expect("a hex ETag is a valid header");
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|given| given.as_bytes() == asset.etag.as_bytes());
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            )],
            asset.body,
        )
            .into_response()
    };
    let response_headers = response.headers_mut();
    response_headers.insert(header::ETAG, etag);
    response_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    secured(response)
}

/// Adds the headers every console response carries.
fn secured(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_addresses_and_paths_are_sign_in_links() {
        let cases = [
            ("https://auth.example.com/self-service/login/browser", true),
            ("http://127.0.0.1:4433/self-service/login/browser", true),
            ("/.ory/ui/login", true),
            ("javascript:alert(1)", false),
            ("JAVASCRIPT:alert(1)", false),
            ("data:text/html,<script>", false),
            ("https://", false),
            ("auth.example.com/login", false),
            ("/\\evil.example.com", false),
            ("https://auth.example.com/a b", false),
        ];
        for (url, safe) in cases {
            assert_eq!(is_safe_link(url), safe, "{url}");
            assert_eq!(
                ConsoleSettings::new(Some(url.into())).is_ok(),
                safe,
                "{url}"
            );
        }
        assert!(ConsoleSettings::new(None).is_ok());
    }

    #[test]
    fn every_module_the_page_imports_is_served() {
        // Every relative import in every served module names a served file, so a module added
        // to `api/console/src` but not to ASSETS fails here rather than in a browser.
        let import = regex::Regex::new(r#"(?m)^import [^;]*?from "(\.[^"]+)";"#).unwrap();
        for (path, asset) in ASSETS.iter().filter(|(p, _)| p.ends_with(".js")) {
            let text = std::str::from_utf8(asset.body).unwrap();
            for found in import.captures_iter(text) {
                let target = &found[1];
                let resolved = resolve(path, target);
                assert!(
                    ASSETS.contains_key(resolved.as_str()),
                    "{path} imports {target} ({resolved}), which is not served"
                );
            }
        }
    }

    #[test]
    fn the_page_loads_its_script_and_style_from_this_origin_only() {
        let page = std::str::from_utf8(ASSETS["index.html"].body).unwrap();
        assert!(page.contains(r#"<script type="module" src="/console/src/main.js">"#));
        assert!(page.contains(r#"href="/console/style.css""#));
        assert!(!page.contains("http://") && !page.contains("https://"));
        // No inline script or style: the CSP would refuse them.
        assert_eq!(page.matches("<script").count(), 1);
        assert!(!page.contains("<style") && !page.contains(" style="));
    }

    /// `target` relative to the module at `from` (both paths under `/console/`).
    fn resolve(from: &str, target: &str) -> String {
        let mut parts: Vec<&str> = from.split('/').collect();
        parts.pop();
        for segment in target.split('/') {
            match segment {
                "." => {}
                ".." => {
                    parts.pop();
                }
                other => parts.push(other),
            }
        }
        parts.join("/")
    }
}
