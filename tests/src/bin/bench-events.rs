//! Benchmark of `GET /v1/events` under many clients: C SSE clients spread over W workspaces while
//! agents are created through the apiserver. For every client and every create in its workspace,
//! the time from the create's acknowledgement to the client's receipt of `agent_created`, and
//! whether it came at all. Against a baseline measured in the same run: as many watches made
//! directly on the apiserver, over the same namespaces, seeing creates made the same way. Then the
//! api's memory. Then the same with R api replicas (clients spread over them, as a Service
//! would), against the single replica; and what resuming costs: a client that reconnects with
//! its `Last-Event-ID` to the replica it left (served from that replica's ring) and to a replica
//! started after it left (fetched from the apiserver's history).
//!
//! Run by `scripts/bench-events.sh [clients] [workspaces] [creates] [replicas]`, which starts the
//! control plane and builds in release.

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
    let replicas = args.next().unwrap_or(3).max(1);

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

    // The same clients spread over `replicas` api processes.
    let mut fleet = vec![api];
    for _ in 1..replicas {
        fleet.push(ApiServer::start(&[("RUST_LOG", "warn".into())]).await);
    }
    let fleet_before: Vec<u64> = fleet
        .iter()
        .map(|a| rss_kib(a.process.pid(), "VmRSS"))
        .collect();
    let clients_of: Vec<_> = fleet.iter().map(|a| a.client.clone()).collect();
    let through_replicas = measure(
        &kube,
        &names,
        clients,
        creates,
        "replicas",
        |receipts, index, namespace| {
            let client = clients_of[index % clients_of.len()].clone();
            async move { sse_client(client, receipts, index, namespace).await }
        },
    )
    .await;
    let fleet_after: Vec<u64> = fleet
        .iter()
        .map(|a| rss_kib(a.process.pid(), "VmRSS"))
        .collect();
    let resumption = resume_costs(&kube, &fleet[0], &names[0]).await;

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
    let spread = format!("api, {replicas} replicas");
    for (label, result) in [
        ("api  GET /v1/events (SSE, JWT)", &through_api),
        (spread.as_str(), &through_replicas),
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
        "{replicas} replicas / 1 replica: p99 {:.2}x",
        through_replicas.percentile(0.99) / through_api.percentile(0.99)
    );
    println!(
        "api RSS idle {} MiB; with {clients} streams open {} MiB; peak {} MiB",
        idle_kib / 1024,
        api_rss_kib / 1024,
        api_peak_kib / 1024
    );
    let mib = |kib: &[u64]| {
        kib.iter()
            .map(|k| (k / 1024).to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "{replicas} replicas RSS before (MiB): {}; with {clients} streams spread over them: {}",
        mib(&fleet_before),
        mib(&fleet_after)
    );
    println!(
        "resume after one missed change (median of {RESUMES}): from the replica's ring {:.1} ms; \
         on a replica started since (fetched from the apiserver) {:.1} ms; ratio {:.1}x",
        resumption.0,
        resumption.1,
        resumption.1 / resumption.0
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

/// Resumptions measured of each kind.
const RESUMES: usize = 5;

/// Median milliseconds from reconnecting with `Last-Event-ID` to receiving the one change missed:
/// on `api` (its ring holds it), and on a replica started after the change (it fetches it from the
/// apiserver).
async fn resume_costs(kube: &kube::Client, api: &ApiServer, namespace: &str) -> (f64, f64) {
    let workspace = namespace
        .strip_prefix("ws-")
        .expect("a workspace namespace");
    let token = token(workspace, "resumer");
    let mut from_ring = Vec::new();
    let mut fetched = Vec::new();
    for round in 0..RESUMES {
        for fresh_replica in [false, true] {
            let mut stream = api.sse(&token, "/v1/events", None).await;
            stream
                .next(Duration::from_secs(30))
                .await
                .expect("connected");
            let last = stream.last_event_id.clone().expect("an id");
            drop(stream);
            let name = format!("resume-{round}-{fresh_replica}");
            let agent: Agent = serde_json::from_value(json!({
                "apiVersion": "agentarea.io/v1alpha1", "kind": "Agent",
                "metadata": {"name": name},
                "spec": {"instruction": "Benchmark agent", "model": {"name": "m"}}
            }))
            .expect("an agent literal");
            Api::<Agent>::namespaced(kube.clone(), namespace)
                .create(&PostParams::default(), &agent)
                .await
                .expect("create an agent");
            let other;
            let target = if fresh_replica {
                other = ApiServer::start(&[("RUST_LOG", "warn".into())]).await;
                &other.client
            } else {
                // Let this replica's watch deliver it, as it would have by a reconnect.
                tokio::time::sleep(Duration::from_millis(200)).await;
                &api.client
            };
            let started = Instant::now();
            let mut resumed = target.sse(&token, "/v1/events", Some(&last)).await;
            let event = resumed
                .next(Duration::from_secs(60))
                .await
                .expect("the missed change");
            assert_eq!(event.event, "agent_created", "{event:?}");
            assert_eq!(event.data["data"]["name"], name.as_str());
            let millis = started.elapsed().as_secs_f64() * 1e3;
            if fresh_replica {
                fetched.push(millis)
            } else {
                from_ring.push(millis)
            }
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    (median(from_ring), median(fetched))
}
