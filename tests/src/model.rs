//! A scripted model: a small HTTP server that speaks OpenAI's chat-completions API (`tools` and
//! `tool_calls`, and `stream: true` as server-sent chunks) and answers each request with what the
//! test's script says. No model runs on the test machines; the operator's model client is the
//! real one, pointed at this server's URL like at any other endpoint.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// What the model answers to one request.
#[derive(Clone, Debug)]
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

#[derive(Clone)]
struct Shared {
    script: Arc<Script>,
    requests: Arc<Mutex<Vec<Value>>>,
    /// Requests being answered now, and the most there ever were at once.
    in_flight: Arc<(AtomicUsize, AtomicUsize)>,
}

/// A running scripted model. Its URL is the base an Agent's `spec.model.endpoint` takes.
pub struct ScriptedModel {
    /// `http://127.0.0.1:<port>/v1`
    pub url: String,
    requests: Arc<Mutex<Vec<Value>>>,
    in_flight: Arc<(AtomicUsize, AtomicUsize)>,
    server: tokio::task::JoinHandle<()>,
}

impl ScriptedModel {
    /// Serves `script`, which sees each request body and says what to answer.
    pub async fn start(script: impl Fn(&Value) -> Reply + Send + Sync + 'static) -> Self {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let in_flight = Arc::new((AtomicUsize::new(0), AtomicUsize::new(0)));
        let shared = Shared {
            script: Arc::new(script),
            requests: requests.clone(),
            in_flight: in_flight.clone(),
        };
        let app = axum::Router::new()
            .route("/v1/chat/completions", post(complete))
            .with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the scripted model");
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("scripted model");
        });
        Self {
            url,
            requests,
            in_flight,
            server,
        }
    }

    /// The most requests that were being answered at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.in_flight.1.load(Ordering::SeqCst)
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Value> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for ScriptedModel {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn complete(State(shared): State<Shared>, Json(request): Json<Value>) -> Response {
    let (now, max) = &*shared.in_flight;
    max.fetch_max(now.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
    let response = answer(&shared, request).await;
    now.fetch_sub(1, Ordering::SeqCst);
    response
}

async fn answer(shared: &Shared, request: Value) -> Response {
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
