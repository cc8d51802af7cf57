//! Cross-origin requests from web clients served on other origins (AgentArea's frontend, a team's
//! own dashboard). Only the origins an administrator lists are answered (Helm
//! `api.cors.allowedOrigins`, `--cors-allowed-origins`); none by default, so a browser refuses every
//! other origin's page. Listed origins may send credentials (a bearer token or the Kratos session
//! cookie), which is why no wildcard is taken: a page on any origin could otherwise act as a
//! signed-in user.

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// How long a browser may keep a preflight's answer.
pub const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(3600);

/// The layer that answers the listed `origins`, or `None` when none is listed.
pub fn layer(origins: &[HeaderValue]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins.iter().cloned()))
            .allow_credentials(true)
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::ACCEPT,
                HeaderName::from_static("last-event-id"),
                HeaderName::from_static("traceparent"),
                HeaderName::from_static("tracestate"),
                // What an MCP client of `/v1/mcp` sends with its messages.
                HeaderName::from_static("mcp-protocol-version"),
                HeaderName::from_static("mcp-session-id"),
                HeaderName::from_static("mcp-method"),
                HeaderName::from_static("mcp-name"),
            ])
            // What a client reads besides the body: the list pages' cursors, when to retry.
            .expose_headers([
                HeaderName::from_static("x-total-count"),
                HeaderName::from_static("x-next-cursor"),
                header::RETRY_AFTER,
                header::LOCATION,
                // The handshake-era session name an MCP client sends back.
                HeaderName::from_static("mcp-session-id"),
            ])
            .max_age(PREFLIGHT_MAX_AGE),
    )
}

/// An origin as a browser sends it (`scheme://host[:port]`, nothing after), or why `text` is not
/// one. A browser compares origins byte for byte, so a listed origin must be written as it sends
/// them: lower case, no path, no trailing slash.
pub fn parse_origin(text: &str) -> Result<HeaderValue, String> {
    let refuse = |why: &str| Err(format!("{text:?} is not an origin: {why}"));
    if text == "*" || text == "null" {
        return refuse("list each origin (scheme://host[:port]); credentials are allowed");
    }
    let Some((scheme, rest)) = text.split_once("://") else {
        return refuse("expected scheme://host[:port]");
    };
    if scheme != "http" && scheme != "https" {
        return refuse("the scheme must be http or https");
    }
    if rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
        return refuse("expected a host and optional port, with no path");
    }
    if text
        .chars()
        .any(|c| c.is_ascii_uppercase() || c.is_whitespace())
    {
        return refuse("browsers send origins in lower case, without spaces");
    }
    HeaderValue::from_str(text).or_else(|_| refuse("not a valid header value"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_taken_as_browsers_send_them() {
        let cases: &[(&str, bool)] = &[
            ("https://app.example.com", true),
            ("http://localhost:3000", true),
            ("http://127.0.0.1:8080", true),
            ("https://[::1]:8443", true),
            ("*", false),
            ("null", false),
            ("app.example.com", false),
            ("https://app.example.com/", false),
            ("https://app.example.com/path", false),
            ("https://user@app.example.com", false),
            ("ftp://app.example.com", false),
            ("https://", false),
            ("https://App.Example.com", false),
            ("https://app.example.com ", false),
        ];
        for (text, valid) in cases {
            assert_eq!(parse_origin(text).is_ok(), *valid, "{text}");
        }
    }

    #[test]
    fn no_origin_listed_means_no_layer() {
        assert!(layer(&[]).is_none());
        assert!(layer(&[HeaderValue::from_static("https://app.example.com")]).is_some());
    }
}
