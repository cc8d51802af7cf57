//! The operator as an MCP client: discovery of a server's tools, and tool calls on kept sessions
//! ([`sessions`]). Every call is bounded by the endpoint's timeout, so a hung server never holds a
//! reconcile.

use std::collections::HashMap;

use rmcp::model::{CallToolRequestParams, Tool};
use rmcp::service::RunningService;
use serde_json::Value;
use sha2::{Digest, Sha256};

use agentarea_crds::mcp_server_instance::{DiscoveredTool, ServerInfo, ToolAnnotations};

use super::connect::{connect_as, within};
use super::endpoint::Endpoint;
use super::era::Era;
use super::error::McpError;
use super::sessions;
use crate::cause;

/// Input schemas larger than this are left out of status (the digest stays), so that one server
/// with huge schemas cannot push its object towards etcd's size limit.
pub const MAX_SCHEMA_BYTES: usize = 8 * 1024;

/// What `initialize` and `tools/list` said.
#[derive(Clone, Debug)]
pub struct Discovery {
    pub server_info: ServerInfo,
    pub tools: Vec<DiscoveredTool>,
}

type Client = RunningService<rmcp::RoleClient, ()>;

async fn connect(endpoint: &Endpoint) -> Result<Client, McpError> {
    connect_as(endpoint, (), Era::Stateless).await
}

/// Ends the session. Closing sends a request of its own (DELETE of the session), which a server may
/// never answer: bounded like every other call, or one silent server holds its reconcile forever.
async fn close(endpoint: &Endpoint, client: Client) {
    let _ = within(endpoint, client.cancel()).await;
}

/// Runs `initialize` and `tools/list` against the server.
pub async fn discover(endpoint: &Endpoint) -> Result<Discovery, McpError> {
    let client = connect(endpoint).await?;
    let result = async {
        let tools = within(endpoint, client.list_all_tools())
            .await?
            .map_err(|e| McpError::Protocol {
                url: endpoint.url.clone(),
                operation: "tools/list",
                message: service_cause(&e),
            })?;
        let info = client.peer_info();
        let implementation = info.as_ref().and_then(|i| i.server_info.as_ref());
        let server_info = ServerInfo {
            name: implementation.map_or_else(String::new, |i| i.name.clone()),
            version: implementation.map(|i| i.version.clone()),
            protocol_version: info.as_ref().map(|i| i.protocol_version.to_string()),
        };
        Ok(Discovery {
            server_info,
            tools: tools.iter().map(discovered).collect(),
        })
    }
    .await;
    close(endpoint, client).await;
    result
}

/// The `_meta` key of a tool call's idempotency key: the same for every attempt to make one call
/// the model asked for (`<task uid>/<tool call id>`), different for every other call. A server
/// that remembers the keys it has seen can answer a repeated call without repeating its effect.
pub const IDEMPOTENCY_KEY_META: &str = "agentarea.io/idempotency-key";

/// Calls `name` with `arguments` on a kept session ([`sessions`]); the result is the server's
/// `CallToolResult` as JSON.
pub async fn call_tool(
    endpoint: &Endpoint,
    name: &str,
    arguments: Value,
) -> Result<Value, McpError> {
    call_tool_with_meta(endpoint, name, arguments, HashMap::new()).await
}

/// [`call_tool`] with `meta` in the request's `_meta`: the trace context (W3C `traceparent`,
/// `tracestate`) and the call's [`IDEMPOTENCY_KEY_META`]. They go there, where MCP carries
/// request metadata, because the session is shared by calls of many traces and tasks: an HTTP
/// header would name the wrong one.
pub async fn call_tool_with_meta(
    endpoint: &Endpoint,
    name: &str,
    arguments: Value,
    meta: HashMap<String, String>,
) -> Result<Value, McpError> {
    let arguments = match arguments {
        Value::Object(map) => Some(map),
        Value::Null => None,
        other => {
            let mut map = serde_json::Map::new();
            map.insert("input".into(), other);
            Some(map)
        }
    };
    let mut params = CallToolRequestParams::new(name.to_string());
    params.arguments = arguments;
    if !meta.is_empty() {
        let meta: serde_json::Map<String, Value> = meta
            .into_iter()
            .map(|(key, value)| (key, Value::String(value)))
            .collect();
        params.meta = Some(meta.into());
    }
    let (session, reused) = sessions::session(endpoint).await?;
    let mut result = within(endpoint, session.call_tool(params.clone())).await?;
    // The server's own error leaves the session as good as it was; any other failure ends it.
    if let Err(error) = &result
        && !matches!(error, rmcp::ServiceError::McpError(_))
    {
        sessions::discard(endpoint);
        if sessions::retry_on_fresh_session(reused, error) {
            let (fresh, _) = sessions::session(endpoint).await?;
            result = within(endpoint, fresh.call_tool(params)).await?;
        }
    }
    let result = result.map_err(|e| McpError::Protocol {
        url: endpoint.url.clone(),
        operation: "tools/call",
        message: service_cause(&e),
    })?;
    Ok(serde_json::to_value(result).unwrap_or(Value::Null))
}

fn discovered(tool: &Tool) -> DiscoveredTool {
    let schema = Value::Object((*tool.input_schema).clone());
    let text = schema.to_string();
    DiscoveredTool {
        name: tool.name.to_string(),
        description: tool.description.as_ref().map(|d| d.to_string()),
        input_schema: (text.len() <= MAX_SCHEMA_BYTES).then_some(schema),
        input_schema_digest: Some(format!(
            "sha256:{}",
            hex::encode(Sha256::digest(text.as_bytes()))
        )),
        member: None,
        member_tool: None,
        annotations: tool.annotations.as_ref().and_then(hints),
    }
}

/// The behaviour hints of a tool's annotations; none when the server gave none of them (a title
/// alone is no hint).
fn hints(annotations: &rmcp::model::ToolAnnotations) -> Option<ToolAnnotations> {
    let hints = ToolAnnotations {
        read_only_hint: annotations.read_only_hint,
        destructive_hint: annotations.destructive_hint,
        idempotent_hint: annotations.idempotent_hint,
        open_world_hint: annotations.open_world_hint,
    };
    (hints != ToolAnnotations::default()).then_some(hints)
}

/// Why a request failed: the server's own error message, or the transport's innermost cause.
fn service_cause(error: &rmcp::ServiceError) -> String {
    match error {
        rmcp::ServiceError::McpError(data) => data.message.to_string(),
        rmcp::ServiceError::TransportSend(error) => cause::innermost(error.error.as_ref()),
        rmcp::ServiceError::TransportClosed => "the server closed the connection".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use agentarea_crds::reasons;

    use super::*;
    use crate::mcp::endpoint::Wire;

    /// A real connection to a closed port, on either transport: the status message a user reads
    /// says why.
    #[tokio::test]
    async fn a_refused_connection_is_said_in_words() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        for (wire, url) in [
            (Wire::StreamableHttp, "http://127.0.0.1:1/mcp"),
            (Wire::Sse, "http://127.0.0.1:1/sse"),
        ] {
            let endpoint = Endpoint {
                url: url.into(),
                wire,
                headers: vec![],
                timeout: Duration::from_secs(5),
                egress: None,
            };
            let error = discover(&endpoint).await.unwrap_err();
            assert_eq!(
                error.to_string(),
                format!("could not connect to {url}: connection refused")
            );
            assert_eq!(error.reason(), reasons::UNREACHABLE);
            // Known as a refusal from the error itself, so a tool call's session may be opened
            // again (mcp::sessions).
            assert!(
                matches!(error, McpError::Connect { refused: true, .. }),
                "{wire:?}: {error:?}"
            );
        }
    }

    #[test]
    fn a_tools_hints_are_kept_as_the_server_gave_them() {
        let tool = |annotations: Option<rmcp::model::ToolAnnotations>| {
            let tool = Tool::new("t", "", std::sync::Arc::new(serde_json::Map::new()));
            match annotations {
                Some(annotations) => tool.with_annotations(annotations),
                None => tool,
            }
        };
        let annotations = rmcp::model::ToolAnnotations::from_raw;
        let cases = [
            ("no annotations", tool(None), None),
            (
                "a title alone is no hint",
                tool(Some(rmcp::model::ToolAnnotations::with_title("T"))),
                None,
            ),
            (
                "the hints given, the others left absent",
                tool(Some(annotations(None, Some(true), None, Some(true), None))),
                Some(ToolAnnotations {
                    read_only_hint: Some(true),
                    idempotent_hint: Some(true),
                    ..Default::default()
                }),
            ),
            (
                "all four",
                tool(Some(annotations(
                    None,
                    Some(false),
                    Some(true),
                    Some(false),
                    Some(false),
                ))),
                Some(ToolAnnotations {
                    read_only_hint: Some(false),
                    destructive_hint: Some(true),
                    idempotent_hint: Some(false),
                    open_world_hint: Some(false),
                }),
            ),
        ];
        for (case, tool, want) in cases {
            assert_eq!(discovered(&tool).annotations, want, "{case}");
        }
    }
}
