//! Opening a session with a server, over streamable HTTP or the older HTTP+SSE transport ([`sse`]),
//! under the egress policy when a workspace named the URL. Every step is bounded by the endpoint's
//! timeout, so a hung server never holds a reconcile.

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use rmcp::ServiceExt;
use rmcp::service::{ClientInitializeError, ClientServiceExt, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;

use agentarea_support::egress::Refusals;

use super::endpoint::{Endpoint, Wire};
use super::era::{self, Era, Opening};
use super::error::McpError;
use super::sse;
use crate::cause::{self, Cause};

/// Opens a session with the server at `endpoint`, `client` answering what the server sends: over
/// streamable HTTP in the `preferred` era if the server speaks it, else in the other
/// ([`era::openings`]); the older HTTP+SSE transport is of the handshake era only.
pub async fn connect_as<S: rmcp::Service<rmcp::RoleClient> + Clone>(
    endpoint: &Endpoint,
    client: S,
    preferred: Era,
) -> Result<RunningService<rmcp::RoleClient, S>, McpError> {
    let mut headers = HeaderMap::new();
    for (name, value) in &endpoint.headers {
        let name = HeaderName::try_from(name.as_str())
            .map_err(|_| McpError::InvalidHeader(name.clone()))?;
        let value = HeaderValue::try_from(value.as_str())
            .map_err(|_| McpError::InvalidHeader(name.to_string()))?;
        headers.insert(name, value);
    }
    let mut builder = reqwest::Client::builder();
    let mut refusals = None;
    if let Some(policy) = &endpoint.egress {
        // A literal address never reaches the resolver: it is judged here. Names are judged by
        // the guarded client's resolver as it connects, once.
        if let Ok(url) = reqwest::Url::parse(&endpoint.url) {
            policy.check_url(&url)?;
        }
        let (guarded, recorded) = policy.guard_recording(builder);
        builder = guarded;
        refusals = Some(recorded);
    }
    // rmcp reports the HTTP client's errors as text; what the policy refused is known from the
    // client itself.
    let refused = || refusals.as_ref().and_then(Refusals::last);
    let http = builder
        .default_headers(headers)
        .connect_timeout(endpoint.timeout)
        .build()
        .map_err(|e| McpError::Connect {
            url: endpoint.url.clone(),
            message: e.to_string(),
            refused: false,
        })?;
    let connect_error = |error: Cause<'_>| McpError::Connect {
        url: endpoint.url.clone(),
        message: cause::innermost(error),
        refused: cause::refused(error),
    };
    let session = match endpoint.wire {
        Wire::StreamableHttp => {
            let open = |client: S, opening: Opening| {
                let transport = StreamableHttpClientTransport::with_client(
                    http.clone(),
                    StreamableHttpClientTransportConfig::with_uri(endpoint.url.clone()),
                );
                // On the heap: rmcp's opening is a large future, and two of them (the second
                // opening) inside a relay's request overflow a worker's stack in debug builds.
                Box::pin(client.serve_with_lifecycle(transport, era::lifecycle(opening)))
            };
            let [first, second] = era::openings(preferred);
            match within(endpoint, open(client.clone(), first)).await? {
                Err(error) if refused().is_none() && !never_connected(&error) => {
                    tracing::debug!(url = %endpoint.url, %error, ?first, ?second, "opening again");
                    within(endpoint, open(client, second)).await?
                }
                opened => opened,
            }
        }
        Wire::Sse => {
            let opened = within(endpoint, sse::SseTransport::connect(http, &endpoint.url)).await?;
            let transport = opened.map_err(|e| match refused() {
                Some(denied) => McpError::EgressDenied(denied),
                None => connect_error(&e),
            })?;
            within(endpoint, client.serve(transport)).await?
        }
    };
    session.map_err(|e| match refused() {
        Some(denied) => McpError::EgressDenied(denied),
        None => match &e {
            rmcp::service::ClientInitializeError::TransportError { error, .. } => {
                connect_error(error.error.as_ref())
            }
            other => McpError::Connect {
                url: endpoint.url.clone(),
                message: other.to_string(),
                refused: false,
            },
        },
    })
}

/// Whether `error` is a connection that was never made (refused, no such host): no other way of
/// opening a session would fare better.
fn never_connected(error: &ClientInitializeError) -> bool {
    match error {
        ClientInitializeError::TransportError { error, .. } => {
            cause::never_connected(error.error.as_ref())
        }
        ClientInitializeError::Cancelled => true,
        _ => false,
    }
}

/// `future`, or [`McpError::Timeout`] when it takes longer than the endpoint's timeout.
pub(super) async fn within<T>(
    endpoint: &Endpoint,
    future: impl Future<Output = T>,
) -> Result<T, McpError> {
    tokio::time::timeout(endpoint.timeout, future)
        .await
        .map_err(|_| McpError::Timeout {
            url: endpoint.url.clone(),
            seconds: endpoint.timeout.as_secs(),
        })
}
