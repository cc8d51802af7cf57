//! Benchmark of the task executor: N Tasks, each two model turns (the scripted model) around one
//! call of the real MCP reference server's `echo` tool, run by the operator through the
//! apiserver; against a baseline measured in the same run: the same model and tool calls made
//! directly with the operator's own clients, with the same concurrency and no Kubernetes; and the
//! apiserver floor: the writes any executor that keeps runs as Task objects makes, without one.
//! Then the
//! operator's memory with the N finished Tasks kept, against its memory idle at start.
//!
//! Run by `scripts/bench-tasks.sh [count]`, which starts the control plane and builds in release.

use std::time::{Duration, Instant};

use agentarea_crds::{Agent, McpServerInstance, Task, TaskPhase, TaskStatus};
use agentarea_operator::mcp;
use agentarea_operator::model::{self, Message, ModelEndpoint, ToolDefinition};
use agentarea_tests::mcp_servers::{Operator, endpoint, everything_server};
use agentarea_tests::model::{Reply, ScriptedModel, tool_results, user_input};
use agentarea_tests::{TestNamespace, eventually, rss_kib};
use futures::StreamExt;
use kube::api::{ListParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, ResourceExt};
use serde_json::json;

const CONCURRENCY: usize = 16;

#[tokio::main]
async fn main() {
    let count: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse().expect("count"))
        .unwrap_or(1000);
    // The operator's binary installs this TLS provider at start; its clients need it here too.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = everything_server();
    let model = ScriptedModel::start(|request| {
        if tool_results(request) == 0 {
            Reply::ToolCalls(vec![(
                "echo".into(),
                json!({"message": user_input(request)}),
            )])
        } else {
            Reply::Answer("ok".into())
        }
    })
    .await;

    let baseline = baseline(count, &model.url, &server.url).await;

    let ns = TestNamespace::create("bench-tasks").await;
    let operator = start_operator(&ns.name).await;
    let idle_kib = rss_kib(operator.process.pid(), "VmRSS");
    prepare(&ns, &model.url, &server.url).await;
    save_apiserver_metrics(&ns, "tasks-before").await;
    let executor = through_the_operator(&ns, count).await;
    save_apiserver_metrics(&ns, "tasks-after").await;
    let kept_kib = rss_kib(operator.process.pid(), "VmRSS");
    let peak_kib = rss_kib(operator.process.pid(), "VmHWM");
    let storage = storage_per_task(&ns).await;
    let floor = apiserver_floor(count, &finished_status(&ns).await).await;

    let per_second = |elapsed: Duration| count as f64 / elapsed.as_secs_f64();
    println!("\n{count} tasks: 2 model turns + 1 MCP echo each, concurrency {CONCURRENCY}");
    println!(
        "{:<58} {:>8} ms {:>8.1} tasks/s",
        "baseline (same calls, operator's clients, no Kubernetes)",
        baseline.as_millis(),
        per_second(baseline)
    );
    println!(
        "{:<58} {:>8} ms {:>8.1} tasks/s",
        "operator (Tasks through the apiserver)",
        executor.as_millis(),
        per_second(executor)
    );
    println!(
        "{:<58} {:>8} ms {:>8.1} tasks/s",
        "apiserver floor (create, claim, result; no operator)",
        floor.as_millis(),
        per_second(floor)
    );
    println!(
        "ratio operator/baseline time: {:.2}x; operator/apiserver floor: {:.2}x; floor/baseline: {:.2}x",
        executor.as_secs_f64() / baseline.as_secs_f64(),
        executor.as_secs_f64() / floor.as_secs_f64(),
        floor.as_secs_f64() / baseline.as_secs_f64(),
    );
    println!(
        "operator RSS idle: {} MiB; with {count} finished tasks kept: {} MiB ({:.2}x); peak {} MiB",
        idle_kib / 1024,
        kept_kib / 1024,
        kept_kib as f64 / idle_kib as f64,
        peak_kib / 1024
    );
    println!("{storage}");
    ns.delete().await;
}

/// The status of one of the finished bench Tasks, to write in the floor's runs.
async fn finished_status(ns: &TestNamespace) -> TaskStatus {
    let tasks: Api<Task> = ns.api();
    tasks
        .get("task-0")
        .await
        .unwrap()
        .status
        .expect("a finished task has a status")
}

/// The `i`th Task of a run: the bench agent, an input of its own.
fn bench_task(i: usize) -> Task {
    serde_json::from_value(json!({
        "apiVersion": "agentarea.io/v1alpha1", "kind": "Task",
        "metadata": {"name": format!("task-{i}")},
        "spec": {"agent": "bench", "input": format!("task-{i}")}
    }))
    .unwrap()
}

/// What any executor that keeps its runs as Task objects costs the apiserver at least, with no
/// operator: per task, the create, a claim (a status write naming the runner) and the result
/// (`finished`, as large as the operator's), each on the version last written, at the same
/// concurrency as the operator's runs. In a namespace of its own, which no operator watches.
async fn apiserver_floor(count: usize, finished: &TaskStatus) -> Duration {
    let ns = TestNamespace::create("bench-floor").await;
    let tasks: Api<Task> = ns.api();
    let start = Instant::now();
    futures::stream::iter(0..count)
        .map(|i| {
            let tasks = tasks.clone();
            async move {
                let mut task = tasks
                    .create(&PostParams::default(), &bench_task(i))
                    .await
                    .unwrap();
                let claimed = TaskStatus {
                    phase: Some(TaskPhase::Running),
                    claim: finished.claim.clone(),
                    ..TaskStatus::default()
                };
                for status in [claimed, finished.clone()] {
                    task.status = Some(status);
                    task = tasks
                        .replace_status(&task.name_any(), &PostParams::default(), &task)
                        .await
                        .unwrap();
                }
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<()>>()
        .await;
    let elapsed = start.elapsed();
    ns.delete().await;
    elapsed
}

/// Saves the apiserver's `/metrics` page as `name` in `$BENCH_STATE`, where
/// `scripts/bench-tasks.sh` reads the writes made per Task from two of them.
async fn save_apiserver_metrics(ns: &TestNamespace, name: &str) {
    let Ok(dir) = std::env::var("BENCH_STATE") else {
        return;
    };
    let request = http::Request::get("/metrics").body(vec![]).unwrap();
    let page = ns
        .client
        .request_text(request)
        .await
        .expect("apiserver /metrics");
    std::fs::write(std::path::Path::new(&dir).join(name), page).expect("metrics saved");
}

/// What keeping each Task costs in etcd: the Task object, and its conversation's chunks.
async fn storage_per_task(ns: &TestNamespace) -> String {
    let tasks: Api<Task> = ns.api();
    let list = tasks.list(&ListParams::default()).await.unwrap().items;
    let n = list.len().max(1) as f64;
    let object: usize = list
        .iter()
        .map(|t| serde_json::to_vec(t).unwrap().len())
        .sum();
    let kept = list
        .iter()
        .filter_map(|t| t.status.as_ref()?.conversation.clone());
    let (mut stored, mut raw, mut chunks) = (0i64, 0i64, 0usize);
    for conversation in kept {
        stored += conversation.stored_bytes;
        raw += conversation.bytes;
        chunks += conversation.chunks.len();
    }
    format!(
        "storage per Task: the Task object {:.0} bytes (JSON); its conversation {:.0} bytes \
         stored in {:.1} chunk Secret(s) ({:.0} bytes as JSON before gzip)",
        object as f64 / n,
        stored as f64 / n,
        chunks as f64 / n,
        raw as f64 / n,
    )
}

/// The work of `count` tasks without Kubernetes: per task, a model turn, the echo call over
/// MCP, a second model turn.
async fn baseline(count: usize, model_url: &str, mcp_url: &str) -> Duration {
    let http = model::http_client();
    let mcp_endpoint = endpoint(mcp_url);
    let model_endpoint = ModelEndpoint {
        base_url: model_url.into(),
        api_key: None,
        model: "scripted".into(),
        temperature: None,
        max_output_tokens: None,
        named_by_agent: false,
    };
    let tools = [ToolDefinition {
        name: "echo".into(),
        description: "Echoes".into(),
        parameters: json!({"type": "object"}),
    }];
    let start = Instant::now();
    futures::stream::iter(0..count)
        .map(|i| {
            let (http, model_endpoint, mcp_endpoint) = (&http, &model_endpoint, &mcp_endpoint);
            let tools = &tools;
            async move {
                let mut messages =
                    vec![Message::system("bench"), Message::user(format!("task-{i}"))];
                let first = model::complete(http, None, model_endpoint, &messages, tools)
                    .await
                    .expect("model");
                let call = &first.message.tool_calls[0];
                let arguments = serde_json::from_str(&call.function.arguments).unwrap();
                let result = mcp::call_tool(mcp_endpoint, "echo", arguments)
                    .await
                    .expect("echo");
                messages.push(first.message.clone());
                messages.push(Message::tool(&call.id, result.to_string()));
                model::complete(http, None, model_endpoint, &messages, tools)
                    .await
                    .expect("model");
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<()>>()
        .await;
    start.elapsed()
}

async fn start_operator(namespace: &str) -> Operator {
    let operator = Operator::start(
        namespace,
        &[
            ("AGENTAREA_TASK_CONCURRENCY", CONCURRENCY.to_string()),
            ("RUST_LOG", "warn".into()),
        ],
    )
    .await;
    // Let the watches settle before reading the idle memory.
    tokio::time::sleep(Duration::from_secs(2)).await;
    operator
}

/// The instance and agent the tasks use, Ready.
async fn prepare(ns: &TestNamespace, model_url: &str, mcp_url: &str) {
    let instance: McpServerInstance = serde_json::from_value(json!({
        "apiVersion": "agentarea.io/v1alpha1", "kind": "McpServerInstance",
        "metadata": {"name": "everything"}, "spec": {"remote": {"url": mcp_url}}
    }))
    .unwrap();
    ns.api::<McpServerInstance>()
        .create(&PostParams::default(), &instance)
        .await
        .unwrap();
    let agent: Agent = serde_json::from_value(json!({
        "apiVersion": "agentarea.io/v1alpha1", "kind": "Agent", "metadata": {"name": "bench"},
        "spec": {"instruction": "bench", "model": {"name": "scripted", "endpoint": model_url},
                 "mcpServers": [{"name": "everything", "allowedTools": [{"name": "echo"}]}]}
    }))
    .unwrap();
    let agents = ns.api::<Agent>();
    agents.create(&PostParams::default(), &agent).await.unwrap();
    eventually(
        "the bench agent Ready",
        Duration::from_secs(120),
        || async {
            let agent = agents.get("bench").await.ok()?;
            agentarea_crds::common::is_condition_true(
                agent.status.as_ref().map(|s| &s.conditions),
                "Ready",
            )
            .then_some(())
        },
    )
    .await;
}

/// Creates `count` Tasks and waits until all have succeeded; the time from the first creation.
/// Finished tasks are counted from a watch, not by listing them again and again: a list of
/// thousands of Tasks every fraction of a second would cost the apiserver more CPU than the
/// runs being measured.
async fn through_the_operator(ns: &TestNamespace, count: usize) -> Duration {
    let tasks: Api<Task> = ns.api();
    let finished = tokio::spawn(succeeded_tasks(tasks.clone(), count));
    let start = Instant::now();
    futures::stream::iter(0..count)
        .map(|i| {
            let tasks = tasks.clone();
            async move {
                tasks
                    .create(&PostParams::default(), &bench_task(i))
                    .await
                    .unwrap();
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<()>>()
        .await;
    finished.await.unwrap();
    start.elapsed()
}

/// Resolves once `count` Tasks of `tasks` have succeeded; panics when one fails.
async fn succeeded_tasks(tasks: Api<Task>, count: usize) {
    let mut succeeded = std::collections::HashSet::new();
    let mut events = std::pin::pin!(
        watcher(tasks, watcher::Config::default())
            .default_backoff()
            .applied_objects()
    );
    while let Some(task) = events.next().await {
        let task = task.expect("task watch");
        match task.status.as_ref().and_then(|s| s.phase) {
            Some(TaskPhase::Failed) => panic!("a bench task failed: {:?}", task.status),
            Some(TaskPhase::Succeeded) => {
                succeeded.insert(task.metadata.name.unwrap_or_default());
                if succeeded.len() == count {
                    return;
                }
            }
            _ => {}
        }
    }
}
