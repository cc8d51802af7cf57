//! The model client: OpenAI's chat-completions API with function tools, which OpenAI, Ollama,
//! vLLM and LiteLLM all serve. Only what the agent loop needs: one non-streaming completion per
//! call (steps are written to status whole, so streaming tokens would buy nothing here).

use agentarea_crds::reasons;
use agentarea_support::egress::{self, EgressDenied, EgressPolicy};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where an agent's model is and how to call it.
#[derive(Clone, Debug)]
pub struct ModelEndpoint {
    /// Base URL up to and including `/v1`.
    pub base_url: String,
    pub api_key: Option<String>,
    pub model: String,
    pub temperature: Option<f64>,
    pub max_output_tokens: Option<i64>,
    /// Whether the Agent named it (rather than it being the operator's default): such endpoints
    /// are called under the egress policy.
    pub named_by_agent: bool,
}

impl ModelEndpoint {
    pub fn completions_url(&self) -> String {
        format!("{}/chat/completions", self.base_url.trim_end_matches('/'))
    }
}

/// One message of the conversation, in the API's shape.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Message {
    pub role: String,
    /// Absent (null) on an assistant message that only calls tools.
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl Message {
    pub fn system(content: impl Into<String>) -> Self {
        Self::with("system", content)
    }
    pub fn user(content: impl Into<String>) -> Self {
        Self::with("user", content)
    }
    pub fn tool(call_id: &str, content: impl Into<String>) -> Self {
        Self {
            tool_call_id: Some(call_id.to_string()),
            ..Self::with("tool", content)
        }
    }
    fn with(role: &str, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: Some(content.into()),
            ..Self::default()
        }
    }
}

/// A call the model asks for.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ToolCall {
    pub id: String,
    #[serde(rename = "type", default = "function_type")]
    pub type_: String,
    pub function: FunctionCall,
}

#[cfg(test)]
impl ToolCall {
    /// A call of `name` with `arguments`, for tests.
    pub fn of(id: &str, name: &str, arguments: &str) -> Self {
        Self {
            id: id.into(),
            type_: function_type(),
            function: FunctionCall {
                name: name.into(),
                arguments: arguments.into(),
            },
        }
    }
}

fn function_type() -> String {
    "function".into()
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct FunctionCall {
    pub name: String,
    /// JSON text, as the model wrote it (it may not parse).
    #[serde(default)]
    pub arguments: String,
}

/// A tool as the model is offered it.
#[derive(Clone, Debug)]
pub struct ToolDefinition {
    pub name: String,
    pub description: String,
    /// JSON schema of the arguments.
    pub parameters: Value,
}

impl Serialize for ToolDefinition {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serde_json::json!({
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            }
        })
        .serialize(serializer)
    }
}

#[derive(Serialize)]
struct ChatRequest<'a> {
    model: &'a str,
    messages: &'a [Message],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    tools: &'a [ToolDefinition],
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<i64>,
    stream: bool,
}

#[derive(Deserialize)]
struct ChatResponse {
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<TokenUsage>,
}

#[derive(Deserialize)]
struct Choice {
    message: Message,
    #[serde(default)]
    finish_reason: Option<String>,
}

/// Tokens one completion spent, as the endpoint counted them (zero when it does not say).
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq)]
pub struct TokenUsage {
    #[serde(default)]
    pub prompt_tokens: i64,
    #[serde(default)]
    pub completion_tokens: i64,
    #[serde(default)]
    pub total_tokens: i64,
}

/// The model's answer to one request.
#[derive(Clone, Debug)]
pub struct Completion {
    pub message: Message,
    pub usage: TokenUsage,
    pub finish_reason: Option<String>,
}

/// Why a completion failed, in words a person can act on.
#[derive(thiserror::Error, Debug)]
pub enum ModelError {
    #[error(transparent)]
    EgressDenied(#[from] EgressDenied),
    #[error("could not reach {url}: {message}")]
    Unreachable { url: String, message: String },
    /// `message` is the error message of an OpenAI-shaped error body, and empty for any other
    /// body: what an arbitrary server answers is not passed on to the workspace.
    #[error("{url} answered HTTP {status}{}", if message.is_empty() { String::new() } else { format!(": {message}") })]
    Status {
        url: String,
        status: u16,
        message: String,
    },
    #[error("{url} answered something that is not a chat completion: {message}")]
    Invalid { url: String, message: String },
}

impl ModelError {
    /// Whether trying again may help: the endpoint was down, overloaded or rate-limiting.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable { .. } => true,
            Self::Status { status, .. } => *status == 429 || *status >= 500,
            Self::Invalid { .. } | Self::EgressDenied(_) => false,
        }
    }

    /// The CamelCase reason a run that this ends fails with.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::EgressDenied(_) => reasons::EGRESS_DENIED,
            _ => reasons::MODEL_ERROR,
        }
    }
}

/// The HTTP client for the operator's own model endpoint: one per process, so connections are
/// pooled.
pub fn http_client() -> reqwest::Client {
    configured(reqwest::Client::builder())
}

/// The HTTP client for model endpoints that Agents name: every connection and redirect goes
/// through `policy`.
pub fn guarded_http_client(policy: &EgressPolicy) -> reqwest::Client {
    configured(policy.guard(reqwest::Client::builder()))
}

fn configured(builder: reqwest::ClientBuilder) -> reqwest::Client {
    builder
        .connect_timeout(std::time::Duration::from_secs(10))
        .user_agent(concat!("agentarea-operator/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("the TLS provider is installed at start-up")
}

/// The message of an OpenAI-shaped error body (`{"error": {"message": ...}}` or
/// `{"error": "..."}`), else nothing.
fn error_message(body: &[u8]) -> String {
    let Ok(parsed) = serde_json::from_slice::<serde_json::Value>(body) else {
        return String::new();
    };
    let error = &parsed["error"];
    error["message"]
        .as_str()
        .or_else(|| error.as_str())
        .unwrap_or_default()
        .to_string()
}

/// Asks the model for the next message of `messages`, offering `tools`. With `egress`, a literal
/// address in the URL is checked here; `http` (built under the same policy) checks every name
/// it resolves and every redirect.
pub async fn complete(
    http: &reqwest::Client,
    egress: Option<&EgressPolicy>,
    endpoint: &ModelEndpoint,
    messages: &[Message],
    tools: &[ToolDefinition],
) -> Result<Completion, ModelError> {
    let url = endpoint.completions_url();
    if let (Some(policy), Ok(parsed)) = (egress, reqwest::Url::parse(&url)) {
        policy.check_url(&parsed)?;
    }
    let request = ChatRequest {
        model: &endpoint.model,
        messages,
        tools,
        temperature: endpoint.temperature,
        max_tokens: endpoint.max_output_tokens,
        stream: false,
    };
    let mut builder = http.post(&url).json(&request);
    if let Some(key) = &endpoint.api_key {
        builder = builder.bearer_auth(key);
    }
    let unreachable = |e: reqwest::Error| match egress::denial_in(&e) {
        Some(denied) => ModelError::EgressDenied(denied.clone()),
        None => ModelError::Unreachable {
            url: url.clone(),
            message: crate::cause::innermost(&e),
        },
    };
    let response = builder.send().await.map_err(unreachable)?;
    let status = response.status();
    let body = response.bytes().await.map_err(unreachable)?;
    if !status.is_success() {
        return Err(ModelError::Status {
            url,
            status: status.as_u16(),
            message: crate::text::truncate(&error_message(&body), 500),
        });
    }
    let invalid = |message: String| ModelError::Invalid {
        url: url.clone(),
        message,
    };
    let parsed: ChatResponse = serde_json::from_slice(&body).map_err(|e| invalid(e.to_string()))?;
    let choice = parsed
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| invalid("no choices".into()))?;
    let mut usage = parsed.usage.unwrap_or_default();
    if usage.total_tokens == 0 {
        usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
    }
    Ok(Completion {
        message: choice.message,
        usage,
        finish_reason: choice.finish_reason,
    })
}

/// reqwest's top-level message ("error sending request") hides the cause a person needs
/// ("connection refused"); this walks the chain.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tool_calling_answer_parses() {
        let body = serde_json::json!({
            "choices": [{"message": {"role": "assistant", "content": null, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "echo", "arguments": "{\"message\":\"hi\"}"}}
            ]}, "finish_reason": "tool_calls"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 4}
        });
        let parsed: ChatResponse = serde_json::from_value(body).unwrap();
        let message = &parsed.choices[0].message;
        assert_eq!(message.content, None);
        assert_eq!(message.tool_calls[0].function.name, "echo");
        assert_eq!(parsed.usage.unwrap().completion_tokens, 4);
    }

    #[test]
    fn tools_serialize_as_functions() {
        let tool = ToolDefinition {
            name: "echo".into(),
            description: "Echoes".into(),
            parameters: serde_json::json!({"type": "object"}),
        };
        let value = serde_json::to_value(&tool).unwrap();
        assert_eq!(value["type"], "function");
        assert_eq!(value["function"]["name"], "echo");
    }

    #[test]
    fn only_overload_and_outages_are_transient() {
        let status = |status| ModelError::Status {
            url: String::new(),
            status,
            message: String::new(),
        };
        assert!(status(429).is_transient());
        assert!(status(503).is_transient());
        assert!(!status(400).is_transient());
        assert!(!status(401).is_transient());
    }

    #[test]
    fn only_an_openai_shaped_error_message_is_passed_on() {
        let cases: [(&[u8], &str); 5] = [
            (br#"{"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}}"#, "Incorrect API key provided"),
            (br#"{"error": "model not found"}"#, "model not found"),
            (b"<html><body>Method Not Allowed</body></html>", ""),
            (br#"{"status": "ok", "secret": "internal"}"#, ""),
            (b"", ""),
        ];
        for (body, want) in cases {
            assert_eq!(
                error_message(body),
                want,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        let refused = ModelError::Status {
            url: "http://models.example/v1/chat/completions".into(),
            status: 405,
            message: String::new(),
        };
        assert_eq!(
            refused.to_string(),
            "http://models.example/v1/chat/completions answered HTTP 405"
        );
    }
}
