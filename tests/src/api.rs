//! The api as a real process for tests, tokens to call it with, and a small SSE client.

use std::process::Command;
use std::time::Duration;

use futures::StreamExt;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::{Value, json};

use crate::{ChildProcess, control_plane, free_port, wait_until_ok, workspace_binary};

/// Request and stream limits off: `extra` sets them where a test is about them.
const NO_LIMITS: [(&str, &str); 3] = [
    ("AGENTAREA_WORKSPACE_REQUESTS_PER_SECOND", "0"),
    ("AGENTAREA_CALLER_REQUESTS_PER_SECOND", "0"),
    ("AGENTAREA_WORKSPACE_MAX_STREAMS", "0"),
];

/// The HS256 secret the test api is started with.
pub const TEST_SECRET: &str = "agentarea-test-secret";

/// A running `agentarea-api` on a free port of 127.0.0.1; its [`ApiClient`] calls through
/// `Deref` (`api.get(...)`, `api.base`, `api.http`).
pub struct ApiServer {
    pub process: ChildProcess,
    pub client: ApiClient,
}

impl std::ops::Deref for ApiServer {
    type Target = ApiClient;

    fn deref(&self) -> &ApiClient {
        &self.client
    }
}

/// Calls of an api at `base` (a test's own process, or one running in a cluster).
#[derive(Clone, Debug)]
pub struct ApiClient {
    pub base: String,
    pub http: reqwest::Client,
}

impl ApiServer {
    /// Starts the api with HS256 auth and `extra` environment (e.g. a JWKS or Kratos URL).
    pub async fn start(extra: &[(&str, String)]) -> Self {
        Self::start_at(free_port(), extra).await
    }

    /// Starts the api on `port` (to start it again where its clients expect it).
    pub async fn start_at(port: u16, extra: &[(&str, String)]) -> Self {
        let mut command = Command::new(workspace_binary("agentarea-api"));
        command
            .env("KUBECONFIG", &control_plane().kubeconfig)
            .env("AGENTAREA_LISTEN_ADDR", format!("127.0.0.1:{port}"))
            .env("AGENTAREA_JWT_SECRET", TEST_SECRET)
            .env(
                "AGENTAREA_EGRESS_ALLOW",
                crate::mcp_servers::TESTS_EGRESS_ALLOW,
            )
            .env("RUST_LOG", "info,tower_http=warn");
        // Tests make requests as fast as they can; the limits have tests of their own.
        for (limit, value) in NO_LIMITS {
            command.env(limit, value);
        }
        for (key, value) in extra {
            command.env(key, value);
        }
        let process = ChildProcess::spawn("agentarea-api", &mut command);
        let base = format!("http://127.0.0.1:{port}");
        wait_until_ok(&format!("{base}/readyz"), &process).await;
        Self {
            process,
            client: ApiClient::new(&base),
        }
    }
}

impl ApiClient {
    /// A client of the api at `base` (`http://host:port`, no trailing slash).
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A webhook request to `url` with `body`, signed with `key` at `timestamp` as a sender would.
    pub fn signed_webhook(
        &self,
        url: &str,
        key: &str,
        timestamp: i64,
        body: &str,
    ) -> reqwest::RequestBuilder {
        let signature =
            agentarea_api::model::webhooks::sign(key.as_bytes(), timestamp, body.as_bytes());
        self.http
            .post(url)
            .header("content-type", "application/json")
            .header("x-agentarea-timestamp", timestamp.to_string())
            .header("x-agentarea-signature", signature)
            .body(body.to_string())
    }

    /// `GET path` with a bearer token; returns status and JSON body (Null if not JSON).
    pub async fn get(&self, token: &str, path: &str) -> (u16, Value) {
        self.send(
            self.http
                .get(self.url(path))
                .header(AUTHORIZATION, bearer(token)),
        )
        .await
    }

    pub async fn post(&self, token: &str, path: &str, body: &Value) -> (u16, Value) {
        self.send(
            self.http
                .post(self.url(path))
                .header(AUTHORIZATION, bearer(token))
                .json(body),
        )
        .await
    }

    pub async fn patch(&self, token: &str, path: &str, body: &Value) -> (u16, Value) {
        self.send(
            self.http
                .patch(self.url(path))
                .header(AUTHORIZATION, bearer(token))
                .json(body),
        )
        .await
    }

    pub async fn put(&self, token: &str, path: &str, body: &Value) -> (u16, Value) {
        self.send(
            self.http
                .put(self.url(path))
                .header(AUTHORIZATION, bearer(token))
                .json(body),
        )
        .await
    }

    pub async fn delete(&self, token: &str, path: &str) -> (u16, Value) {
        self.send(
            self.http
                .delete(self.url(path))
                .header(AUTHORIZATION, bearer(token)),
        )
        .await
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> (u16, Value) {
        let response = request.send().await.expect("api answers");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Opens an SSE stream.
    pub async fn sse(&self, token: &str, path: &str, last_event_id: Option<&str>) -> SseStream {
        self.try_sse(token, path, last_event_id)
            .await
            .expect("stream opens")
    }

    /// Opens an SSE stream, or says why the request failed (a replica going away mid-request,
    /// which a client reconnecting through a Service meets and retries).
    pub async fn try_sse(
        &self,
        token: &str,
        path: &str,
        last_event_id: Option<&str>,
    ) -> reqwest::Result<SseStream> {
        let mut request = self
            .http
            .get(self.url(path))
            .header(AUTHORIZATION, bearer(token))
            .header("accept", "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        SseStream::try_open(request).await
    }

    /// Opens an SSE stream answered to a POST (the create-and-stream task route).
    pub async fn sse_post(&self, token: &str, path: &str, body: &Value) -> SseStream {
        SseStream::open(
            self.http
                .post(self.url(path))
                .header(AUTHORIZATION, bearer(token))
                .header(CONTENT_TYPE, "application/json")
                .body(body.to_string()),
        )
        .await
    }
}

pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// An HS256 token for `workspace`, valid for an hour.
pub fn token(workspace: &str, subject: &str) -> String {
    sign_hs256(
        json!({ "sub": subject, "workspace": workspace, "exp": now() + 3600 }),
        TEST_SECRET,
    )
}

pub fn sign_hs256(claims: Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()).expect("hs256 key"),
    )
    .expect("sign")
}

/// An ES256 token signed with the test key whose public half is `tests/fixtures/es256-test.jwks.json`.
pub fn sign_es256(claims: Value) -> String {
    let pem = std::fs::read(crate::repo_root().join("tests/fixtures/es256-test.pk8.pem"))
        .expect("test key");
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("test-es256".into());
    jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_ec_pem(&pem).expect("ec key"),
    )
    .expect("sign")
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// One Server-Sent Event.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: String,
    pub data: Value,
}

/// A minimal SSE client over a streaming HTTP response (comments and keep-alives skipped).
pub struct SseStream {
    pub status: u16,
    body: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: String,
    /// The last event id the stream set, as an EventSource keeps it: also from blocks with an id
    /// and no data, which set it without delivering an event.
    pub last_event_id: Option<String>,
}

impl SseStream {
    async fn open(request: reqwest::RequestBuilder) -> Self {
        Self::try_open(request).await.expect("stream opens")
    }

    async fn try_open(request: reqwest::RequestBuilder) -> reqwest::Result<Self> {
        let response = request.send().await?;
        Ok(Self {
            status: response.status().as_u16(),
            body: response.bytes_stream().boxed(),
            buffer: String::new(),
            last_event_id: None,
        })
    }

    /// The next event, or None when the stream ends or nothing comes within `timeout`.
    pub async fn next(&mut self, timeout: Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (id, event) = parse_block(&block);
                if id.is_some() {
                    self.last_event_id = id;
                }
                if let Some(event) = event {
                    return Some(event);
                }
                continue;
            }
            match tokio::time::timeout_at(deadline, self.body.next()).await {
                Ok(Some(Ok(chunk))) => self.buffer.push_str(&String::from_utf8_lossy(&chunk)),
                _ => return None,
            }
        }
    }

    /// Events until one named `name` (inclusive), failing after `timeout`.
    pub async fn until(&mut self, name: &str, timeout: Duration) -> Vec<SseEvent> {
        let mut events = Vec::new();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let event = self
                .next(left)
                .await
                .unwrap_or_else(|| panic!("no {name:?} event; got {events:#?}"));
            let done = event.event == name;
            events.push(event);
            if done {
                return events;
            }
        }
    }
}

/// A block's id, and the event it delivers: none without data, as the SSE specification says.
fn parse_block(block: &str) -> (Option<String>, Option<SseEvent>) {
    let (mut id, mut event, mut data) = (None, String::from("message"), String::new());
    let mut any_data = false;
    for line in block.lines() {
        if line.starts_with(':') || line.is_empty() {
            continue;
        }
        let (field, value) = line
            .split_once(':')
            .map_or((line, ""), |(f, v)| (f, v.strip_prefix(' ').unwrap_or(v)));
        match field {
            "id" => id = Some(value.to_string()),
            "event" => event = value.to_string(),
            "data" => {
                any_data = true;
                if !data.is_empty() {
                    data.push('\n');
                }
                data.push_str(value);
            }
            _ => {}
        }
    }
    let delivered = any_data.then(|| SseEvent {
        id: id.clone(),
        event,
        data: serde_json::from_str(&data).unwrap_or(Value::String(data)),
    });
    (id, delivered)
}
