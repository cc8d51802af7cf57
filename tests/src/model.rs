//! A scripted model: a small HTTP server that speaks OpenAI's chat-completions API (`tools` and
//! `tool_calls`, and `stream: true` as server-sent chunks) and answers each request with what the
//! test's script says. No model runs on the test machines; the operator's model client is the
//! real one, pointed at this server's URL like at any other endpoint.
//!
//! The tests run it in process ([`ScriptedModel`], driven by a closure); the end-to-end suite runs
//! the same server as a pod (`src/bin/scripted-model.rs`, driven by a [`Rule`]). Besides
//! `POST /v1/chat/completions` it answers `GET /healthz` (a readiness probe) and `GET /requests`
//! (every request body received so far, as a JSON array).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

/// What the model answers to one request.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// A final answer, without tool calls.
    Answer(String),
    /// Calls of these tools with these arguments.
    ToolCalls(Vec<(String, Value)>),
    /// An HTTP error with this status and body.
    Error(u16, String),
    /// The reply after a delay (a slow model).
    Delayed(Duration, Box<Reply>),
}

/// Tool-call ids are unique across every conversation of the process, as a real model's are.
static NEXT_CALL_ID: AtomicU64 = AtomicU64::new(1);

type Script = dyn Fn(&Value) -> Reply + Send + Sync;

/// The routes of a scripted model and what it has seen, without a listener: bind it where you
/// like with [`ScriptedService::router`].
#[derive(Clone)]
pub struct ScriptedService {
    script: Arc<Script>,
    requests: Arc<Mutex<Vec<Value>>>,
    /// The `Authorization` header of each request, in order (`None` without one).
    credentials: Arc<Mutex<Vec<Option<String>>>>,
    /// Requests being answered now, and the most there ever were at once.
    in_flight: Arc<(AtomicUsize, AtomicUsize)>,
}

impl ScriptedService {
    /// A service answering with `script`, which sees each request body and says what to answer.
    pub fn new(script: impl Fn(&Value) -> Reply + Send + Sync + 'static) -> Self {
        Self {
            script: Arc::new(script),
            requests: Arc::new(Mutex::new(Vec::new())),
            credentials: Arc::new(Mutex::new(Vec::new())),
            in_flight: Arc::new((AtomicUsize::new(0), AtomicUsize::new(0))),
        }
    }

    /// `POST /v1/chat/completions`, `GET /healthz` and `GET /requests`.
    pub fn router(&self) -> axum::Router {
        axum::Router::new()
            .route("/v1/chat/completions", post(complete))
            .route("/healthz", get(|| async { "ok" }))
            .route("/requests", get(requests))
            // Conversations of several megabytes are sent whole, as real endpoints accept them.
            .layer(axum::extract::DefaultBodyLimit::max(64 * 1024 * 1024))
            .with_state(self.clone())
    }

    /// The most requests that were being answered at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.in_flight.1.load(Ordering::SeqCst)
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Value> {
        self.requests.lock().unwrap().clone()
    }

    /// The `Authorization` header of every request so far, in order.
    pub fn credentials(&self) -> Vec<Option<String>> {
        self.credentials.lock().unwrap().clone()
    }
}

/// A running scripted model. Its URL is the base an Agent's `spec.model.endpoint` takes.
pub struct ScriptedModel {
    /// `http://<address>/v1`
    pub url: String,
    service: ScriptedService,
    server: tokio::task::JoinHandle<()>,
}

impl ScriptedModel {
    /// Serves `script` on a free port of 127.0.0.1.
    pub async fn start(script: impl Fn(&Value) -> Reply + Send + Sync + 'static) -> Self {
        Self::bind("127.0.0.1:0", script).await
    }

    /// Serves `script` on `addr` (`host:port`; port 0 picks a free one).
    pub async fn bind(
        addr: &str,
        script: impl Fn(&Value) -> Reply + Send + Sync + 'static,
    ) -> Self {
        let service = ScriptedService::new(script);
        let app = service.router();
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .unwrap_or_else(|e| panic!("bind the scripted model to {addr}: {e}"));
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("scripted model");
        });
        Self {
            url,
            service,
            server,
        }
    }

    /// The most requests that were being answered at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.service.max_in_flight()
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Value> {
        self.service.requests()
    }

    /// The `Authorization` header of every request so far, in order.
    pub fn credentials(&self) -> Vec<Option<String>> {
        self.service.credentials()
    }
}

impl Drop for ScriptedModel {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn requests(State(service): State<ScriptedService>) -> Json<Vec<Value>> {
    Json(service.requests())
}

async fn complete(
    State(shared): State<ScriptedService>,
    headers: axum::http::HeaderMap,
    Json(request): Json<Value>,
) -> Response {
    let credential = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    shared.credentials.lock().unwrap().push(credential);
    let (now, max) = &*shared.in_flight;
    max.fetch_max(now.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
    let response = answer(&shared, request).await;
    now.fetch_sub(1, Ordering::SeqCst);
    response
}

async fn answer(shared: &ScriptedService, request: Value) -> Response {
    shared.requests.lock().unwrap().push(request.clone());
    let mut reply = (shared.script)(&request);
    while let Reply::Delayed(delay, inner) = reply {
        tokio::time::sleep(delay).await;
        reply = *inner;
    }
    let message = match reply {
        Reply::Error(status, body) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return (status, Json(json!({"error": {"message": body}}))).into_response();
        }
        Reply::Answer(text) => json!({"role": "assistant", "content": text}),
        Reply::ToolCalls(calls) => json!({
            "role": "assistant",
            "content": null,
            "tool_calls": calls.iter().map(|(name, arguments)| json!({
                "id": format!("call_{}", NEXT_CALL_ID.fetch_add(1, Ordering::Relaxed)),
                "type": "function",
                "function": {"name": name, "arguments": arguments.to_string()},
            })).collect::<Vec<_>>(),
        }),
        Reply::Delayed(..) => unreachable!("delays are unwrapped above"),
    };
    let finish_reason = if message["tool_calls"].is_array() {
        "tool_calls"
    } else {
        "stop"
    };
    let usage = json!({"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15});
    if request["stream"] == true {
        return stream(message, finish_reason, usage);
    }
    Json(json!({
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "model": request["model"],
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": usage,
    }))
    .into_response()
}

/// The same answer as chat-completion chunks over server-sent events, ending with `[DONE]`.
fn stream(message: Value, finish_reason: &str, usage: Value) -> Response {
    let chunk = |delta: Value, finish: Value, usage: Value| {
        json!({"id": "chatcmpl-scripted", "object": "chat.completion.chunk",
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], "usage": usage})
    };
    let mut body = String::new();
    for event in [
        chunk(message, Value::Null, Value::Null),
        chunk(json!({}), json!(finish_reason), usage),
    ] {
        body.push_str(&format!("data: {event}\n\n"));
    }
    body.push_str("data: [DONE]\n\n");
    ([("content-type", "text/event-stream")], body).into_response()
}

/// The content of the request's first user message (the task's input).
pub fn user_input(request: &Value) -> String {
    messages(request)
        .iter()
        .find(|m| m["role"] == "user")
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_string()
}

/// The request's messages.
pub fn messages(request: &Value) -> Vec<Value> {
    request["messages"].as_array().cloned().unwrap_or_default()
}

/// How many tool results the conversation holds so far.
pub fn tool_results(request: &Value) -> usize {
    messages(request)
        .iter()
        .filter(|m| m["role"] == "tool")
        .count()
}

/// The names of the tools the request offers.
pub fn offered_tools(request: &Value) -> Vec<String> {
    request["tools"]
        .as_array()
        .map(|tools| {
            tools
                .iter()
                .filter_map(|t| t["function"]["name"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The text of a message's `content`: a string, or the text parts of a list of parts.
pub fn content_text(message: &Value) -> String {
    match &message["content"] {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join(""),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The tool results that end the conversation (the last run of `tool` messages), in order; empty
/// when the last message is not a tool result.
pub fn trailing_tool_results(request: &Value) -> Vec<Value> {
    let messages = messages(request);
    let start = messages
        .iter()
        .rposition(|m| m["role"] != "tool")
        .map_or(0, |i| i + 1);
    messages[start..].to_vec()
}

/// A fixed policy for the whole life of a model, the way a pod is configured by its flags (see
/// `src/bin/scripted-model.rs`), as opposed to a test's closure:
///
/// - the conversation ends with tool results: answer `done: <each result's content>` (joined by
///   ` | `), so the real tools' output is visible in the task's result;
/// - else, when the request offers any of the tools in `calls`: call all of those offered, at once;
/// - else answer `answer`.
///
/// Every reply comes after `delay`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rule {
    pub calls: Vec<(String, Value)>,
    pub answer: String,
    pub delay: Duration,
}

impl Rule {
    /// What to answer to `request`.
    pub fn decide(&self, request: &Value) -> Reply {
        let reply = self.reply(request);
        if self.delay.is_zero() {
            reply
        } else {
            Reply::Delayed(self.delay, Box::new(reply))
        }
    }

    fn reply(&self, request: &Value) -> Reply {
        let results = trailing_tool_results(request);
        if !results.is_empty() {
            let quoted: Vec<String> = results.iter().map(content_text).collect();
            return Reply::Answer(format!("done: {}", quoted.join(" | ")));
        }
        let offered = offered_tools(request);
        let calls: Vec<(String, Value)> = self
            .calls
            .iter()
            .filter(|(tool, _)| offered.contains(tool))
            .cloned()
            .collect();
        if calls.is_empty() {
            Reply::Answer(self.answer.clone())
        } else {
            Reply::ToolCalls(calls)
        }
    }
}

/// Parses `TOOL=JSON_ARGS` (the JSON an object), as `--call` takes it.
pub fn parse_call(spec: &str) -> Result<(String, Value), String> {
    let (tool, arguments) = spec
        .split_once('=')
        .ok_or_else(|| format!("{spec:?} is not TOOL=JSON_ARGS"))?;
    if tool.is_empty() {
        return Err(format!("{spec:?} names no tool"));
    }
    let arguments: Value = serde_json::from_str(arguments)
        .map_err(|e| format!("the arguments of {tool} are not JSON: {e}"))?;
    if !arguments.is_object() {
        return Err(format!("the arguments of {tool} are not a JSON object"));
    }
    Ok((tool.to_string(), arguments))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(messages: Value, tools: &[&str]) -> Value {
        let tools: Vec<Value> = tools
            .iter()
            .map(|t| json!({"type": "function", "function": {"name": t, "parameters": {}}}))
            .collect();
        json!({"model": "scripted", "messages": messages, "tools": tools})
    }

    fn rule() -> Rule {
        Rule {
            calls: vec![
                ("echo".into(), json!({"message": "hi"})),
                ("get_current_time".into(), json!({"timezone": "UTC"})),
                ("absent".into(), json!({})),
            ],
            answer: "scripted answer".into(),
            delay: Duration::ZERO,
        }
    }

    #[test]
    fn calls_every_offered_tool_of_the_rule_at_once() {
        let first = request(
            json!([{"role": "system", "content": "be brief"}, {"role": "user", "content": "go"}]),
            &["get_current_time", "echo", "other"],
        );
        assert_eq!(
            rule().decide(&first),
            Reply::ToolCalls(vec![
                ("echo".into(), json!({"message": "hi"})),
                ("get_current_time".into(), json!({"timezone": "UTC"})),
            ])
        );
        let none_offered = request(json!([{"role": "user", "content": "go"}]), &["other"]);
        assert_eq!(
            rule().decide(&none_offered),
            Reply::Answer("scripted answer".into())
        );
    }

    #[test]
    fn quotes_the_tool_results_that_end_the_conversation() {
        let after_tools = request(
            json!([
                {"role": "user", "content": "go"},
                {"role": "assistant", "content": null, "tool_calls": []},
                {"role": "tool", "tool_call_id": "call_1", "content": "Echo: hi"},
                {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "12:00"}]},
            ]),
            &["echo", "get_current_time"],
        );
        assert_eq!(
            rule().decide(&after_tools),
            Reply::Answer("done: Echo: hi | 12:00".into())
        );
        let slow = Rule {
            delay: Duration::from_millis(5),
            ..rule()
        };
        assert_eq!(
            slow.decide(&after_tools),
            Reply::Delayed(
                Duration::from_millis(5),
                Box::new(Reply::Answer("done: Echo: hi | 12:00".into()))
            )
        );
    }

    #[test]
    fn parses_call_flags() {
        assert_eq!(
            parse_call(r#"echo={"message":"a=b"}"#),
            Ok(("echo".into(), json!({"message": "a=b"})))
        );
        assert!(parse_call("echo").is_err());
        assert!(parse_call("echo=[1]").is_err());
        assert!(parse_call("={}").is_err());
    }
}
