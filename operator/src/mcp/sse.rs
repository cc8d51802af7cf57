//! The client side of MCP's older HTTP+SSE transport (protocol 2024-11-05), which many published
//! remote servers still speak: the client GETs an event stream, whose first `endpoint` event
//! names the URL to POST messages to; the server's messages arrive as `message` events on the
//! stream. rmcp, the SDK the operator speaks through, dropped its client for it, so this is
//! ours, on the same reqwest client (headers, timeouts) as the streamable HTTP transport.
//!
//! The POST URL comes from the server, so it must not lead elsewhere: it has to be on the origin
//! of the stream's URL (scheme, host and port). Otherwise a server could have the operator send
//! the instance's headers (bearer tokens from Secrets) to a host of its choosing.

use std::borrow::Cow;
use std::pin::Pin;

use futures::{Stream, StreamExt};
use reqwest::Url;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use rmcp::RoleClient;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::Transport;
use sse_stream::{Sse, SseStream};

/// Why the HTTP+SSE transport failed.
#[derive(thiserror::Error, Debug)]
pub enum SseError {
    #[error(transparent)]
    Http(#[from] reqwest::Error),
    #[error("{url} answered {status} to {what}")]
    Status {
        url: String,
        status: reqwest::StatusCode,
        what: &'static str,
    },
    #[error("the event stream ended before it named the endpoint to post messages to")]
    NoEndpoint,
    #[error("the server named {0:?} to post messages to, which is not a URL")]
    BadEndpoint(String),
    #[error("the server named {endpoint} to post messages to, which is not on {origin}")]
    ForeignEndpoint { endpoint: String, origin: String },
    #[error("the event stream broke: {0}")]
    Stream(String),
}

type Events = Pin<Box<dyn Stream<Item = Result<Sse, sse_stream::Error>> + Send>>;

/// An open HTTP+SSE session: the event stream, and where to post.
pub struct SseTransport {
    http: reqwest::Client,
    endpoint: Url,
    events: Events,
}

impl SseTransport {
    /// Opens the event stream at `url` and waits for its `endpoint` event.
    pub async fn connect(http: reqwest::Client, url: &str) -> Result<Self, SseError> {
        let stream_url = Url::parse(url).map_err(|_| SseError::BadEndpoint(url.to_string()))?;
        let response = http
            .get(stream_url.clone())
            .header(ACCEPT, "text/event-stream")
            .send()
            .await?;
        if !response.status().is_success() {
            return Err(SseError::Status {
                url: url.to_string(),
                status: response.status(),
                what: "the event stream's GET",
            });
        }
        let mut events: Events = Box::pin(SseStream::from_bytes_stream(response.bytes_stream()));
        while let Some(event) = events.next().await {
            let event = event.map_err(|e| SseError::Stream(e.to_string()))?;
            if event.event.as_deref() == Some("endpoint") {
                let endpoint = message_endpoint(&stream_url, event.data.as_deref().unwrap_or(""))?;
                return Ok(Self {
                    http,
                    endpoint,
                    events,
                });
            }
        }
        Err(SseError::NoEndpoint)
    }
}

/// The URL the `endpoint` event names, resolved against the stream's URL, if it is on the same
/// origin.
pub fn message_endpoint(stream: &Url, named: &str) -> Result<Url, SseError> {
    let endpoint = stream
        .join(named.trim())
        .map_err(|_| SseError::BadEndpoint(named.to_string()))?;
    if endpoint.origin() != stream.origin() {
        return Err(SseError::ForeignEndpoint {
            endpoint: endpoint.to_string(),
            origin: stream.origin().ascii_serialization(),
        });
    }
    Ok(endpoint)
}

impl Transport<RoleClient> for SseTransport {
    type Error = SseError;

    fn name() -> Cow<'static, str> {
        "HTTP+SSE".into()
    }

    fn send(
        &mut self,
        message: ClientJsonRpcMessage,
    ) -> impl Future<Output = Result<(), SseError>> + Send + 'static {
        let request = self
            .http
            .post(self.endpoint.clone())
            .header(CONTENT_TYPE, "application/json")
            .json(&message);
        let url = self.endpoint.to_string();
        async move {
            // The answer comes on the event stream; the POST only says whether it was taken.
            let response = request.send().await?;
            if response.status().is_success() {
                Ok(())
            } else {
                Err(SseError::Status {
                    url,
                    status: response.status(),
                    what: "a message's POST",
                })
            }
        }
    }

    async fn receive(&mut self) -> Option<ServerJsonRpcMessage> {
        while let Some(event) = self.events.next().await {
            let Ok(event) = event else {
                return None; // the stream broke: the session ends
            };
            // `message` is the default event type; others (keep-alives, extensions) are not ours.
            if event.event.as_deref().is_some_and(|kind| kind != "message") {
                continue;
            }
            let data = event.data.unwrap_or_default();
            match serde_json::from_str(&data) {
                Ok(message) => return Some(message),
                Err(error) => {
                    tracing::warn!(%error, "an SSE message that is not JSON-RPC, skipped")
                }
            }
        }
        None
    }

    async fn close(&mut self) -> Result<(), SseError> {
        // Dropping the stream closes the GET; the older transport has no session to delete.
        self.events = Box::pin(futures::stream::empty());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_event_resolves_on_the_streams_origin_only() {
        let stream = Url::parse("https://mcp.example.com:8443/v1/sse?team=a").unwrap();
        let cases = [
            (
                "/v1/messages?sessionId=42",
                Ok("https://mcp.example.com:8443/v1/messages?sessionId=42"),
            ),
            (
                "messages?sessionId=42",
                Ok("https://mcp.example.com:8443/v1/messages?sessionId=42"),
            ),
            (
                " https://mcp.example.com:8443/m\n",
                Ok("https://mcp.example.com:8443/m"),
            ),
            ("https://evil.example.net/steal", Err("not on")),
            ("http://mcp.example.com:8443/m", Err("not on")),
            ("https://mcp.example.com/m", Err("not on")),
            ("//evil.example.net/m", Err("not on")),
            ("http://[::1", Err("not a URL")),
        ];
        for (named, expected) in cases {
            let got = message_endpoint(&stream, named).map(|u| u.to_string());
            match (got, expected) {
                (Ok(url), Ok(want)) => assert_eq!(url, want, "{named}"),
                (Err(error), Err(want)) => {
                    assert!(error.to_string().contains(want), "{named}: {error}")
                }
                (got, want) => panic!("{named}: got {got:?}, want {want:?}"),
            }
        }
    }
}
