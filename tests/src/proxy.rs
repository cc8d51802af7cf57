//! Reverse proxies for MCP clients: one that adds a header to every request it passes on (for a
//! client that cannot be given credentials: the MCP conformance suite has no option for a header,
//! standing where a client configured with a bearer token would), and one that sends a client's
//! requests to one replica and its notifications to another (two replicas behind one Service).
//! Responses, event streams included, pass as they come.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;

/// A running proxy; it stops when dropped.
pub struct Proxy {
    /// The proxy's address of `upstream`'s root.
    pub url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone)]
struct Upstream {
    /// Where a JSON-RPC request (a message with an `id`) goes.
    requests: String,
    /// Where everything else goes (notifications, answers, GETs and DELETEs).
    others: String,
    header: Option<(HeaderName, HeaderValue)>,
    http: reqwest::Client,
}

impl Upstream {
    fn base_for(&self, body: &[u8]) -> &str {
        let request = serde_json::from_slice::<serde_json::Value>(body)
            .is_ok_and(|message| message.get("id").is_some() && message.get("method").is_some());
        if request {
            &self.requests
        } else {
            &self.others
        }
    }
}

/// A proxy of `upstream` (scheme, host and port) that sets `name: value` on every request.
pub async fn adding_header(upstream: &str, name: &'static str, value: &str) -> Proxy {
    let base = upstream.trim_end_matches('/').to_string();
    serve(Upstream {
        requests: base.clone(),
        others: base,
        header: Some((
            HeaderName::from_static(name),
            HeaderValue::from_str(value).expect("a header value"),
        )),
        http: reqwest::Client::new(),
    })
    .await
}

/// A proxy that sends each JSON-RPC request to `requests` and everything else to `others` (both
/// scheme, host and port): a client's `notifications/cancelled` reaches the replica that is not
/// streaming the call it cancels.
pub async fn splitting_requests(requests: &str, others: &str) -> Proxy {
    serve(Upstream {
        requests: requests.trim_end_matches('/').to_string(),
        others: others.trim_end_matches('/').to_string(),
        header: None,
        http: reqwest::Client::new(),
    })
    .await
}

async fn serve(state: Upstream) -> Proxy {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(pass).with_state(state);
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Proxy { url, task }
}

async fn pass(State(upstream): State<Upstream>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut headers = parts.headers.clone();
    headers.remove(axum::http::header::HOST);
    strip_hop_by_hop(&mut headers);
    if let Some((name, value)) = &upstream.header {
        headers.insert(name.clone(), value.clone());
    }
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let base = upstream.base_for(&body);
    let answer = upstream
        .http
        .request(parts.method, format!("{base}{path}"))
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
