//! The scripted model of the tests (`agentarea_tests::model`) as a server of its own, for the
//! end-to-end suite, which runs it as a pod in the kind cluster. A fixed [`Rule`] made from the
//! flags decides every reply:
//!
//! ```text
//! scripted-model --listen 0.0.0.0:8080 --call 'echo={"message":"hi"}' --delay-ms 4000
//! ```
//!
//! - `POST /v1/chat/completions`: tool calls of every `--call` tool the request offers (unless the
//!   conversation ends with tool results); `done: <the tool results>` after tool results; else
//!   `--answer`.
//! - `GET /healthz`: 200, for a readiness probe.
//! - `GET /requests`: every request body received so far, as a JSON array.

use std::time::Duration;

use agentarea_tests::model::{Rule, ScriptedService, parse_call};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "scripted-model",
    about = "An OpenAI-compatible chat-completions server whose replies follow fixed rules"
)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "SCRIPTED_MODEL_LISTEN", default_value = "0.0.0.0:8080")]
    listen: String,
    /// Call TOOL with these arguments (a JSON object) when a request offers it and the
    /// conversation does not end with tool results. Repeatable; all offered ones are called at
    /// once. The environment variable takes several, separated by newlines.
    #[arg(
        long = "call",
        value_name = "TOOL=JSON_ARGS",
        env = "SCRIPTED_MODEL_CALLS",
        value_delimiter = '\n',
        value_parser = parse_call,
    )]
    calls: Vec<(String, serde_json::Value)>,
    /// The final answer when there is nothing to call and no tool result to quote.
    #[arg(long, env = "SCRIPTED_MODEL_ANSWER", default_value = "scripted answer")]
    answer: String,
    /// Milliseconds to wait before every reply.
    #[arg(long, env = "SCRIPTED_MODEL_DELAY_MS", default_value_t = 0)]
    delay_ms: u64,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let rule = Rule {
        calls: args.calls,
        answer: args.answer,
        delay: Duration::from_millis(args.delay_ms),
    };
    eprintln!("scripted-model: listening on {} with {rule:?}", args.listen);
    let service = ScriptedService::new(move |request| rule.decide(request));
    let listener = tokio::net::TcpListener::bind(&args.listen).await?;
    axum::serve(listener, service.router())
        .with_graceful_shutdown(shutdown())
        .await
}

/// SIGTERM (a pod being deleted; as PID 1 nothing else would end the process) or Ctrl-C.
async fn shutdown() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("install a SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
