//! A reverse proxy that adds one header to every request it passes on: for a client that cannot be
//! given credentials (the MCP conformance suite has no option for a header), standing where a
//! client configured with a bearer token would. Responses, event streams included, pass as they
//! come.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;

/// A running proxy; it stops when dropped.
pub struct HeaderProxy {
    /// The proxy's address of `upstream`'s root.
    pub url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for HeaderProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone)]
struct Upstream {
    base: String,
    header: (HeaderName, HeaderValue),
    http: reqwest::Client,
}

/// A proxy of `upstream` (scheme, host and port) that sets `name: value` on every request.
pub async fn adding_header(upstream: &str, name: &'static str, value: &str) -> HeaderProxy {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let state = Upstream {
        base: upstream.trim_end_matches('/').to_string(),
        header: (
            HeaderName::from_static(name),
            HeaderValue::from_str(value).expect("a header value"),
        ),
        http: reqwest::Client::new(),
    };
    let app = axum::Router::new().fallback(pass).with_state(state);
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    HeaderProxy { url, task }
}

async fn pass(State(upstream): State<Upstream>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut headers = parts.headers.clone();
    headers.remove(axum::http::header::HOST);
    strip_hop_by_hop(&mut headers);
    headers.insert(upstream.header.0.clone(), upstream.header.1.clone());
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let answer = upstream
        .http
        .request(parts.method, format!("{}{path}", upstream.base))
        .headers(headers)
        .body(body)
        .send()
        .await;
    let answer = match answer {
        Ok(answer) => answer,
        Err(error) => {
            return Response::builder()
                .status(502)
                .body(Body::from(error.to_string()))
                .unwrap();
        }
    };
    let mut response = Response::builder().status(answer.status());
    let mut headers = answer.headers().clone();
    strip_hop_by_hop(&mut headers);
    for (name, value) in &headers {
        response = response.header(name, value);
    }
    response
        .body(Body::from_stream(answer.bytes_stream()))
        .unwrap()
}

/// The headers of one connection, not of the message (RFC 9110, 7.6.1): each side of the proxy
/// frames its own.
fn strip_hop_by_hop(headers: &mut axum::http::HeaderMap) {
    use axum::http::header;
    for name in [
        header::CONNECTION,
        header::TRANSFER_ENCODING,
        header::CONTENT_LENGTH,
        header::TE,
        header::TRAILER,
        header::UPGRADE,
        header::PROXY_AUTHORIZATION,
    ] {
        headers.remove(name);
    }
    headers.remove("keep-alive");
}
