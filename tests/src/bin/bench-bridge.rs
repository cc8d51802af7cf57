//! Benchmark of the stdio bridge: N calls of the reference server's `echo` tool made the way the
//! operator's task runner makes them (`mcp::call_tool`, on a kept session) through
//! `agentarea-operator mcp-bridge` (the server over stdio), against a baseline measured in the
//! same run: the same calls to the same server reached directly over streamable HTTP. The operator
//! speaks the stateless era (2026-07-28) to a server that does, as this one does: through the
//! bridge its calls share the one stdio server stateless requests share. Two more runs open a
//! connection for every call through the bridge: in the handshake era, which starts a stdio server
//! for every session (what a client that does not keep its session pays), and in the stateless
//! era (a `server/discover` per call, on the shared server). Also the bridge's own memory.
//!
//! Run by `scripts/bench-bridge.sh [count]`, which builds in release.

use std::time::{Duration, Instant};

use agentarea_operator::mcp::era::Era;
use agentarea_operator::mcp::{self, Endpoint};
use agentarea_tests::mcp_servers::{
    bridge_with_env, endpoint, everything_command, everything_server,
};
use agentarea_tests::rss_kib;
use futures::{StreamExt, stream};
use rmcp::model::CallToolRequestParams;
use serde_json::json;

const CONCURRENCY: usize = 4;

#[tokio::main]
async fn main() {
    let count: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse().expect("count"))
        .unwrap_or(200);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let direct = everything_server();
    let bridged = bridge_with_env(
        &[everything_command().to_str().unwrap(), "stdio"],
        &[("RUST_LOG", "warn".into())],
    );

    // One warm-up call each, so neither side pays a first-call cost in the timing.
    operator_calls(&endpoint(&direct.url), 1).await;
    operator_calls(&endpoint(&bridged.url), 1).await;

    let baseline = operator_calls(&endpoint(&direct.url), count).await;
    let through_bridge = operator_calls(&endpoint(&bridged.url), count).await;
    let session_per_call =
        connection_per_call(&endpoint(&bridged.url), Era::Handshake, count).await;
    let discover_per_call =
        connection_per_call(&endpoint(&bridged.url), Era::Stateless, count).await;
    let stdio = over_stdio(count).await;
    let bridge_kib = rss_kib(bridged.process.pid(), "VmHWM");

    let per_second = |elapsed: Duration| count as f64 / elapsed.as_secs_f64();
    println!("\n{count} calls of echo, concurrency {CONCURRENCY}");
    for (label, elapsed) in [
        ("baseline: direct, the operator's calls", baseline),
        ("bridge: the operator's calls", through_bridge),
        (
            "bridge: a handshake session (a stdio server) per call",
            session_per_call,
        ),
        ("bridge: a stateless discover per call", discover_per_call),
        ("no bridge: one session over the server's stdio", stdio),
    ] {
        println!(
            "{label:<52} {:>8} ms {:>8.1} calls/s {:>6.2}x baseline",
            elapsed.as_millis(),
            per_second(elapsed),
            per_second(elapsed) / per_second(baseline),
        );
    }
    println!(
        "bridge peak RSS (without its stdio servers): {} MiB",
        bridge_kib / 1024
    );
}

/// Calls as the task runner makes them: `mcp::call_tool`, which keeps its session.
async fn operator_calls(endpoint: &Endpoint, count: usize) -> Duration {
    let start = Instant::now();
    stream::iter(0..count)
        .for_each_concurrent(CONCURRENCY, |i| async move {
            let message = format!("call {i}");
            let result = mcp::call_tool(endpoint, "echo", json!({"message": message}))
                .await
                .unwrap_or_else(|e| panic!("call {i}: {e}"));
            assert!(result.to_string().contains(&message), "{result}");
        })
        .await;
    start.elapsed()
}

/// The same calls on one session with the server over its stdin and stdout, no HTTP: what the
/// stdio server itself allows.
async fn over_stdio(count: usize) -> Duration {
    use rmcp::ServiceExt;
    let mut command = tokio::process::Command::new(everything_command());
    command.arg("stdio");
    let transport = rmcp::transport::TokioChildProcess::new(command).expect("the stdio server");
    let session = ().serve(transport).await.expect("initialize over stdio");
    let peer = session.peer().clone();
    let start = Instant::now();
    stream::iter(0..count)
        .for_each_concurrent(CONCURRENCY, |i| {
            let peer = peer.clone();
            async move {
                let mut call = CallToolRequestParams::new("echo");
                call.arguments = json!({"message": format!("call {i}")}).as_object().cloned();
                peer.call_tool(call)
                    .await
                    .unwrap_or_else(|e| panic!("call {i}: {e}"));
            }
        })
        .await;
    let elapsed = start.elapsed();
    let _ = session.cancel().await;
    elapsed
}

/// A connection opened and closed for every call, in the `era` preferred.
async fn connection_per_call(endpoint: &Endpoint, era: Era, count: usize) -> Duration {
    let start = Instant::now();
    stream::iter(0..count)
        .for_each_concurrent(CONCURRENCY, |i| async move {
            let session = mcp::connect_as(endpoint, (), era).await.expect("a session");
            let mut call = CallToolRequestParams::new("echo");
            call.arguments = json!({"message": format!("call {i}")}).as_object().cloned();
            session
                .call_tool(call)
                .await
                .unwrap_or_else(|e| panic!("call {i}: {e}"));
            let _ = session.cancel().await;
        })
        .await;
    start.elapsed()
}
