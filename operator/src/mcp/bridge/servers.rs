//! The stdio servers of the bridge's sessions: one per session, with a spare started ahead of the
//! next session so that it does not wait for the process to start, and at most `--max-sessions`
//! at once; and how one is opened, in the era the command's server speaks.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::model::ErrorData;
use rmcp::service::ClientServiceExt;
use rmcp::transport::TokioChildProcess;

use super::metrics::BridgeMetrics;
use crate::mcp::era::{self, Era, Opening};
use crate::mcp::relay::{ToClient, UpstreamSession};
use crate::metrics::OutcomeLabels;

/// How long opening a stdio server (`server/discover` or `initialize`) may take.
const OPEN_WAIT: Duration = Duration::from_secs(30);

/// Starts stdio servers, keeping one started ahead of the next session.
pub(super) struct Servers {
    command: Vec<String>,
    spare: Mutex<Option<TokioChildProcess>>,
    metrics: Arc<BridgeMetrics>,
    /// Sessions with a server, and how many there may be.
    open: AtomicUsize,
    max_sessions: usize,
}

/// A session's place among [`Servers::max_sessions`], given back when the session ends.
pub(super) struct Slot(Arc<Servers>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Servers {
    pub(super) fn new(
        command: Vec<String>,
        max_sessions: usize,
        metrics: Arc<BridgeMetrics>,
    ) -> Arc<Self> {
        let servers = Arc::new(Self {
            command,
            spare: Mutex::new(None),
            metrics,
            open: AtomicUsize::new(0),
            max_sessions,
        });
        servers.refill();
        servers
    }

    /// A place for one more session, unless all are taken.
    pub(super) fn claim(self: &Arc<Self>) -> Result<Slot, ErrorData> {
        let claimed = self
            .open
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |open| {
                (open < self.max_sessions).then_some(open + 1)
            });
        match claimed {
            Ok(_) => Ok(Slot(self.clone())),
            Err(_) => Err(ErrorData::internal_error(
                format!(
                    "the bridge serves at most {} sessions at once; close one, or retry later",
                    self.max_sessions
                ),
                None,
            )),
        }
    }

    fn start(&self) -> std::io::Result<TokioChildProcess> {
        let mut process = tokio::process::Command::new(&self.command[0]);
        process.args(&self.command[1..]);
        let started = TokioChildProcess::new(process);
        let outcome = if started.is_ok() { "ok" } else { "error" };
        self.metrics
            .starts
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
        if let Err(error) = &started {
            tracing::error!(%error, command = %self.command.join(" "), "stdio MCP server did not start");
        }
        started
    }

    fn refill(&self) {
        let spare = self.start().ok();
        *self.spare.lock().unwrap_or_else(|p| p.into_inner()) = spare;
    }

    /// A server for a new session: the spare when there is one, and a new spare behind it.
    pub(super) fn take(&self) -> std::io::Result<TokioChildProcess> {
        let spare = self.spare.lock().unwrap_or_else(|p| p.into_inner()).take();
        self.refill();
        match spare {
            Some(server) => Ok(server),
            None => self.start(),
        }
    }

    /// A server started and opened for `relay`, in the `preferred` era if it speaks it, else in
    /// the other on a new process ([`era::openings`]).
    pub(super) async fn open(
        &self,
        relay: ToClient,
        preferred: Era,
    ) -> Result<UpstreamSession, ErrorData> {
        let [first, second] = era::openings(preferred);
        match self.serve(relay.clone(), first).await {
            // The server answered, refusing the opening (or died of it): the other era, on a new
            // process. A server that did not answer in time would not answer the other either.
            Err(Opened::Refused(error)) => {
                tracing::info!(%error, ?first, ?second, "the stdio MCP server refused the opening; opening a new one");
                self.serve(relay, second).await.map_err(Opened::into_error)
            }
            opened => opened.map_err(Opened::into_error),
        }
    }

    async fn serve(&self, relay: ToClient, opening: Opening) -> Result<UpstreamSession, Opened> {
        let server = self.take().map_err(|e| {
            Opened::Failed(ErrorData::internal_error(
                format!("the stdio MCP server did not start: {e}"),
                None,
            ))
        })?;
        let opened = relay.serve_with_lifecycle(server, era::lifecycle(opening));
        match tokio::time::timeout(OPEN_WAIT, opened).await {
            Ok(Ok(session)) => Ok(session),
            Ok(Err(error)) => Err(Opened::Refused(error.to_string())),
            Err(_) => Err(Opened::Failed(ErrorData::internal_error(
                format!(
                    "the stdio MCP server did not answer within {}s",
                    OPEN_WAIT.as_secs()
                ),
                None,
            ))),
        }
    }
}

/// Why a stdio server did not open.
enum Opened {
    /// It answered, refusing the opening, or closed the connection: another opening may do.
    Refused(String),
    /// It did not start, or did not answer in time.
    Failed(ErrorData),
}

impl Opened {
    fn into_error(self) -> ErrorData {
        match self {
            Self::Refused(error) => ErrorData::internal_error(
                format!("the stdio MCP server did not open: {error}"),
                None,
            ),
            Self::Failed(error) => error,
        }
    }
}
