//! Benchmark of `GET /v1/events` under many clients: C SSE clients spread over W workspaces while
//! agents are created through the apiserver. For every client and every create in its workspace,
//! the time from the create's acknowledgement to the client's receipt of `agent_created`, and
//! whether it came at all. Against a baseline measured in the same run: as many watches made
//! directly on the apiserver, over the same namespaces, seeing creates made the same way. Then the
//! api's memory.
//!
//! Run by `scripts/bench-events.sh [clients] [workspaces] [creates]`, which starts the control
//! plane and builds in release.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use agentarea_crds::Agent;
use agentarea_tests::api::{ApiServer, SseStream, token};
use agentarea_tests::{TestNamespace, rss_kib};
use futures::{StreamExt, TryStreamExt};
use kube::Api;
use kube::api::{PostParams, WatchEvent, WatchParams};
use serde_json::json;
use tokio::sync::Mutex;

/// Creates per second: a steady rate, so that what is measured is delivery, not a backlog.
const CREATES_PER_SECOND: u64 = 50;
/// How long a client may still wait for what it misses after the last create.
const SETTLE: Duration = Duration::from_secs(20);

/// When each client received each agent, by agent name.
type Receipts = Arc<Mutex<Vec<HashMap<String, Instant>>>>;

#[tokio::main]
async fn main() {
    let mut args = std::env::args()
        .skip(1)
        .map(|a| a.parse::<usize>().expect("a count"));
    let clients = args.next().unwrap_or(1000);
    let workspaces = args.next().unwrap_or(100).max(1);
    let creates = args.next().unwrap_or(500);

    let namespaces: Vec<TestNamespace> = futures::future::join_all(
        (0..workspaces).map(|_| TestNamespace::create("ws-bench-events")),
    )
    .await;
    let names: Vec<String> = namespaces.iter().map(|ns| ns.name.clone()).collect();
    let api = ApiServer::start(&[("RUST_LOG", "warn".into())]).await;
    let idle_kib = rss_kib(api.process.pid(), "VmRSS");

    let kube = namespaces[0].client.clone();
    let through_api = measure(
        &kube,
        &names,
        clients,
        creates,
        "api",
        |receipts, index, namespace| {
            let client = api.client.clone();
            async move { sse_client(client, receipts, index, namespace).await }
        },
    )
    .await;
    let api_rss_kib = rss_kib(api.process.pid(), "VmRSS");
    let api_peak_kib = rss_kib(api.process.pid(), "VmHWM");

    let watcher = kube.clone();
    let direct = measure(
        &kube,
        &names,
        clients,
        creates,
        "direct",
        move |receipts, index, namespace| {
            let kube = watcher.clone();
            async move { watch_client(kube, receipts, index, namespace).await }
        },
    )
    .await;

    println!(
        "\n{clients} clients over {workspaces} workspaces, {creates} agents created at {CREATES_PER_SECOND}/s"
    );
    println!(
        "{:<44} {:>9} {:>9} {:>9} {:>7}",
        "create acknowledged -> client received", "p50 ms", "p99 ms", "max ms", "lost"
    );
    for (label, result) in [
        ("api  GET /v1/events (SSE, JWT)", &through_api),
        ("kube-apiserver watches (baseline)", &direct),
    ] {
        println!(
            "{label:<44} {:>9.2} {:>9.2} {:>9.2} {:>7}",
            result.percentile(0.50),
            result.percentile(0.99),
            result.percentile(1.0),
            result.lost
        );
    }
    // A direct watch often delivers before the create's own response is read, so its p50 can be
    // zero: the p50 is compared as a difference, the p99 as a ratio.
    println!(
        "api/apiserver: p99 {:.2}x; p50 {:+.2} ms",
        through_api.percentile(0.99) / direct.percentile(0.99),
        through_api.percentile(0.50) - direct.percentile(0.50)
    );
    println!(
        "api RSS idle {} MiB; with {clients} streams open {} MiB; peak {} MiB",
        idle_kib / 1024,
        api_rss_kib / 1024,
        api_peak_kib / 1024
    );
    for ns in namespaces {
        ns.delete().await;
    }
}

/// Latencies in milliseconds, sorted, and how many deliveries never came.
struct Deliveries {
    millis: Vec<f64>,
    lost: usize,
}

impl Deliveries {
    fn percentile(&self, p: f64) -> f64 {
        if self.millis.is_empty() {
            return f64::NAN;
        }
        let rank = ((self.millis.len() as f64 * p).ceil() as usize).clamp(1, self.millis.len());
        self.millis[rank - 1]
    }
}

/// Opens `clients` streams with `open` (client `i` in workspace `i % W`), waits until every one
/// is connected, creates `creates` agents round-robin over the workspaces, and collects what each
/// client received of the creates in its workspace.
async fn measure<F, Fut>(
    kube: &kube::Client,
    namespaces: &[String],
    clients: usize,
    creates: usize,
    label: &str,
    open: F,
) -> Deliveries
where
    F: Fn(Receipts, usize, String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let receipts: Receipts = Arc::new(Mutex::new(vec![HashMap::new(); clients]));
    let streams: Vec<_> = (0..clients)
        .map(|index| {
            let namespace = namespaces[index % namespaces.len()].clone();
            tokio::spawn(open(receipts.clone(), index, namespace))
        })
        .collect();
    wait_connected(&receipts, clients).await;

    let mut acknowledged: Vec<(usize, String, Instant)> = Vec::with_capacity(creates);
    let pace = Duration::from_micros(1_000_000 / CREATES_PER_SECOND);
    let start = Instant::now();
    for n in 0..creates {
        let workspace = n % namespaces.len();
        let name = format!("{label}-{n:05}");
        let agent: Agent = serde_json::from_value(json!({
            "apiVersion": "agentarea.io/v1alpha1", "kind": "Agent",
            "metadata": {"name": name},
            "spec": {"instruction": "Benchmark agent", "model": {"name": "m"}}
        }))
        .expect("an agent literal");
        Api::<Agent>::namespaced(kube.clone(), &namespaces[workspace])
            .create(&PostParams::default(), &agent)
            .await
            .expect("create an agent");
        acknowledged.push((workspace, name, Instant::now()));
        tokio::time::sleep_until((start + pace * (n as u32 + 1)).into()).await;
    }

    let expected: usize = (0..clients)
        .map(|c| {
            acknowledged
                .iter()
                .filter(|(w, _, _)| *w == c % namespaces.len())
                .count()
        })
        .sum();
    let deadline = Instant::now() + SETTLE;
    while Instant::now() < deadline {
        let received: usize = receipts.lock().await.iter().map(|r| r.len() - 1).sum();
        if received >= expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for stream in streams {
        stream.abort();
    }

    let receipts = receipts.lock().await;
    let mut millis = Vec::with_capacity(expected);
    let mut lost = 0;
    for (client, received) in receipts.iter().enumerate() {
        for (workspace, name, acked) in &acknowledged {
            if *workspace != client % namespaces.len() {
                continue;
            }
            match received.get(name) {
                Some(at) => millis.push(at.saturating_duration_since(*acked).as_secs_f64() * 1e3),
                None => lost += 1,
            }
        }
    }
    millis.sort_by(f64::total_cmp);
    Deliveries { millis, lost }
}

/// The key a client records once its stream is open, before any create is made.
const CONNECTED: &str = "";

async fn wait_connected(receipts: &Receipts, clients: usize) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let open = receipts
            .lock()
            .await
            .iter()
            .filter(|r| r.contains_key(CONNECTED))
            .count();
        if open == clients {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "only {open} of {clients} streams connected"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One SSE client of `/v1/events` in `namespace`'s workspace.
async fn sse_client(
    api: agentarea_tests::api::ApiClient,
    receipts: Receipts,
    index: usize,
    namespace: String,
) {
    let workspace = namespace
        .strip_prefix("ws-")
        .expect("a workspace namespace");
    let mut stream: SseStream = api
        .sse(
            &token(workspace, &format!("reader-{index}")),
            "/v1/events",
            None,
        )
        .await;
    assert_eq!(stream.status, 200, "stream {index} refused");
    while let Some(event) = stream.next(Duration::from_secs(3600)).await {
        let at = Instant::now();
        let name = match event.event.as_str() {
            "connected" => CONNECTED.to_string(),
            "agent_created" => event.data["data"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            _ => continue,
        };
        receipts.lock().await[index].insert(name, at);
    }
}

/// One watch of Agents in `namespace`, made directly on the apiserver.
async fn watch_client(kube: kube::Client, receipts: Receipts, index: usize, namespace: String) {
    let agents = Api::<Agent>::namespaced(kube, &namespace);
    let version = agents
        .list_metadata(&Default::default())
        .await
        .expect("list agents")
        .metadata
        .resource_version
        .expect("a list has a resourceVersion");
    let mut events = agents
        .watch(&WatchParams::default().timeout(290), &version)
        .await
        .expect("watch agents")
        .boxed();
    receipts.lock().await[index].insert(CONNECTED.to_string(), Instant::now());
    while let Ok(Some(event)) = events.try_next().await {
        if let WatchEvent::Added(agent) = event {
            let at = Instant::now();
            let name = agent.metadata.name.unwrap_or_default();
            receipts.lock().await[index].insert(name, at);
        }
    }
}
