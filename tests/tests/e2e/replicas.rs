//! The api as several replicas behind its Service (the suite's release runs `api.replicas: 3`),
//! through a `kubectl rollout restart`: a signed delivery sent to each replica and again after the
//! rollout starts one Task; 200 `/v1/events` clients connected through the Service resume with
//! their `Last-Event-ID` on whichever replica they reach and get every change once, in the order
//! a watch of the apiserver saw them; a caller's rate across the Service stays within its limit.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use agentarea_crds::Skill;
use agentarea_tests::api::ApiClient;
use agentarea_tests::e2e::API_REPLICAS;
use futures::TryStreamExt;
use hmac::{Hmac, KeyInit, Mac};
use kube::api::{WatchEvent, WatchParams};
use sha2::Sha256;
use tokio::sync::Mutex;

use super::*;

const REPLICAS: usize = 3;
const CLIENTS: usize = 200;
/// Clients are spread over workspaces so that no workspace holds more streams than each replica's
/// share of `workspaceMaxStreams` (100 over 3 or 4 replicas during the rollout).
const WORKSPACES: usize = 10;
/// How long a client waits for an event before it takes its stream for dead and reconnects.
const SILENT_STREAM: Duration = Duration::from_secs(40);
/// How long an event client waits for a stream to open before it tries again.
const OPEN_WAIT: Duration = Duration::from_secs(15);
/// A change made through the apiserver every this often while the api rolls.
const CHANGE_EVERY: Duration = Duration::from_millis(300);

#[tokio::test]
async fn three_api_replicas_keep_their_guarantees_through_a_rollout() {
    let e = env();
    let _api = API_REPLICAS.write().await;
    let _dump = DumpOnPanic(vec![e.release_namespace.clone()]);
    let client = e2e::client().await;
    let replicas = ready_api_pods(&client).await;
    assert_eq!(replicas.len(), REPLICAS, "{replicas:?}");

    let api = e2e::api();
    let ws = Workspace::create("replicas").await;
    let t = token(&ws.id);
    let delivery = GithubDelivery::new(&api, &t).await;
    let mut task_ids = Vec::new();
    for pod in &replicas {
        let forward = PortForward::start(&e.release_namespace, &format!("pod/{pod}"), 8000).await;
        task_ids.push(delivery.send(&ApiClient::new(&forward.url(""))).await);
    }

    let workspaces: Vec<Workspace> =
        futures::future::join_all((0..WORKSPACES).map(|_| Workspace::create("resume"))).await;
    let reference = Reference::watch(&workspaces).await;
    let clients = Clients::connect(&api, &workspaces).await;
    let writing = Arc::new(AtomicBool::new(true));
    let writer = tokio::spawn(write_skills(
        workspaces.iter().map(|w| w.namespace.clone()).collect(),
        writing.clone(),
    ));

    kubectl_ok(
        "rollout restart of the api",
        [
            "rollout",
            "restart",
            "-n",
            &e.release_namespace,
            &format!("deployment/{}", e.api()),
        ],
    );
    kubectl_ok(
        "the api rolled out",
        [
            "rollout",
            "status",
            "-n",
            &e.release_namespace,
            &format!("deployment/{}", e.api()),
            "--timeout=5m",
        ],
    );
    // And on, while the new replicas' watches and rings fill.
    tokio::time::sleep(Duration::from_secs(5)).await;
    writing.store(false, Ordering::SeqCst);
    let made = writer.await.expect("the writer");
    assert!(made >= 3, "changes made while the api rolled: {made}");

    // After the rollout, through the Service: the same task.
    task_ids.push(delivery.send(&api).await);
    assert!(task_ids.iter().all(|id| *id == task_ids[0]), "{task_ids:?}");
    let started = Api::<Task>::namespaced(ws.client.clone(), &ws.namespace)
        .list(&ListParams::default().labels(&format!("agentarea.io/trigger={}", delivery.trigger)))
        .await
        .unwrap()
        .items;
    assert_eq!(started.len(), 1, "one Task for one delivery");

    let expected = reference.names().await;
    clients.assert_each_got(&expected).await;

    a_callers_rate_across_the_service_stays_within_its_limit(&api).await;

    for w in workspaces {
        w.delete().await;
    }
    ws.delete().await;
}

/// The api's pods, once as many as the Deployment wants are Ready.
async fn ready_api_pods(client: &Client) -> Vec<String> {
    let e = env();
    deployment_rolled_out(client, &e.release_namespace, &e.api()).await;
    wait_explained("the api's replicas Ready", POD_START, || async {
        let found = pods(client, &e.release_namespace, &e.selector("api")).await;
        let ready: Vec<String> = found
            .iter()
            .filter(|p| pod_ready(p))
            .map(|p| p.name_any())
            .collect();
        if ready.len() == REPLICAS && found.len() == REPLICAS {
            Ok(ready)
        } else {
            Err(format!("{} Ready of {}", ready.len(), found.len()))
        }
    })
    .await
}

/// One GitHub delivery to a webhook trigger, signed as GitHub documents it.
struct GithubDelivery {
    path: String,
    trigger: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl GithubDelivery {
    async fn new(api: &ApiClient, token: &str) -> Self {
        // A new workspace answers 503 while it is being set up (in a cluster that has just
        // started, until the quota controller has discovered our CRDs): retried, as a client would.
        let agent = wait_explained("the agent created", POD_START, || async {
            let body = json!({"name": "responder", "instruction": "Be brief.", "model_id": "m"});
            match api.post(token, "/v1/agents", &body).await {
                (201, agent) => Ok(agent),
                (503, answer) => Err(answer.to_string()),
                (status, answer) => panic!("creating the agent answered {status} {answer}"),
            }
        })
        .await;
        let (status, trigger) = api
            .post(
                token,
                "/v1/triggers",
                &json!({"name": "on-issue", "agent_id": agent["id"], "trigger_type": "webhook", "webhook_type": "github"}),
            )
            .await;
        assert_eq!(status, 201, "{trigger}");
        let secret = trigger["webhook_secret"].as_str().unwrap();
        let body = json!({"action": "opened", "issue": {"title": "Disk full"}}).to_string();
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body.as_bytes());
        Self {
            path: trigger["webhook_url"].as_str().unwrap().to_string(),
            trigger: trigger["k8s_name"]
                .as_str()
                .unwrap_or("on-issue")
                .to_string(),
            headers: vec![
                (
                    "x-hub-signature-256".into(),
                    format!("sha256={}", hex::encode(mac.finalize().into_bytes())),
                ),
                ("x-github-event".into(), "issues".into()),
                ("x-github-delivery".into(), uuid::Uuid::new_v4().to_string()),
            ],
            body,
        }
    }

    /// Sends it to `api`; the task id of the answer, which must be a 2xx. A replica whose watch
    /// has not yet brought it the trigger (made moments ago through another) answers 404: sent
    /// again, as a sender retries.
    async fn send(&self, api: &ApiClient) -> String {
        wait_explained("the delivery accepted", Duration::from_secs(60), || async {
            let mut request = api
                .http
                .post(api.url(&self.path))
                .header("content-type", "application/json")
                .body(self.body.clone());
            for (name, value) in &self.headers {
                request = request.header(name, value);
            }
            let (status, answer) = api.send(request).await;
            match answer["task_id"].as_str() {
                Some(id) if (200..300).contains(&status) => Ok(id.to_string()),
                _ if status == 404 => Err(format!("{status} {answer}")),
                _ => panic!("a delivery answered {status} {answer}"),
            }
        })
        .await
    }
}

/// What a watch of the apiserver saw: the Skills added in each workspace, in order.
struct Reference {
    seen: Arc<Mutex<HashMap<String, Vec<String>>>>,
    watches: Vec<tokio::task::JoinHandle<()>>,
}

impl Reference {
    async fn watch(workspaces: &[Workspace]) -> Self {
        let seen: Arc<Mutex<HashMap<String, Vec<String>>>> = Arc::default();
        let mut watches = Vec::new();
        for w in workspaces {
            let skills = Api::<Skill>::namespaced(w.client.clone(), &w.namespace);
            let version = skills
                .list_metadata(&ListParams::default())
                .await
                .unwrap()
                .metadata
                .resource_version
                .unwrap();
            let events = skills
                .watch(&WatchParams::default().timeout(290), &version)
                .await
                .unwrap();
            let (seen, id) = (seen.clone(), w.id.clone());
            watches.push(tokio::spawn(async move {
                futures::pin_mut!(events);
                while let Ok(Some(event)) = events.try_next().await {
                    if let WatchEvent::Added(skill) = event {
                        seen.lock()
                            .await
                            .entry(id.clone())
                            .or_default()
                            .push(skill.name_any());
                    }
                }
            }));
        }
        Self { seen, watches }
    }

    async fn names(self) -> HashMap<String, Vec<String>> {
        tokio::time::sleep(Duration::from_secs(2)).await;
        for watch in &self.watches {
            watch.abort();
        }
        self.seen.lock().await.clone()
    }
}

/// Creates a Skill in each workspace in turn every `CHANGE_EVERY` until `writing` is cleared;
/// how many it made.
async fn write_skills(namespaces: Vec<String>, writing: Arc<AtomicBool>) -> usize {
    let client = e2e::client().await;
    let mut made = 0;
    while writing.load(Ordering::SeqCst) {
        let namespace = &namespaces[made % namespaces.len()];
        let skill: Skill = serde_json::from_value(json!({
            "apiVersion": "agentarea.io/v1alpha1", "kind": "Skill",
            "metadata": {"name": format!("s-{made:04}")}, "spec": {"instructions": "x"},
        }))
        .unwrap();
        Api::<Skill>::namespaced(client.clone(), namespace)
            .create(&PostParams::default(), &skill)
            .await
            .expect("create a skill");
        made += 1;
        tokio::time::sleep(CHANGE_EVERY).await;
    }
    made
}

/// `/v1/events` clients through the Service, each reconnecting with its last id whenever its
/// stream ends (its replica went away) until told to stop.
struct Clients {
    received: Vec<Arc<Mutex<Vec<String>>>>,
    workspace_of: Vec<String>,
    problems: Arc<Mutex<Vec<String>>>,
    reconnects: Arc<AtomicUsize>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Clients {
    async fn connect(api: &ApiClient, workspaces: &[Workspace]) -> Self {
        let connected = Arc::new(AtomicUsize::new(0));
        let problems: Arc<Mutex<Vec<String>>> = Arc::default();
        let reconnects = Arc::new(AtomicUsize::new(0));
        let mut clients = Self {
            received: Vec::new(),
            workspace_of: Vec::new(),
            problems: problems.clone(),
            reconnects: reconnects.clone(),
            tasks: Vec::new(),
        };
        for index in 0..CLIENTS {
            let workspace = workspaces[index % workspaces.len()].id.clone();
            let received: Arc<Mutex<Vec<String>>> = Arc::default();
            // Each client its own connections, so the Service spreads them over the replicas.
            let api = ApiClient::new(&api.base);
            let token = e2e::token(&workspace);
            let (received_by, connected, problems, reconnects) = (
                received.clone(),
                connected.clone(),
                problems.clone(),
                reconnects.clone(),
            );
            clients.tasks.push(tokio::spawn(async move {
                follow(api, token, received_by, connected, problems, reconnects).await
            }));
            clients.received.push(received);
            clients.workspace_of.push(workspace);
        }
        wait_for(
            "every client connected",
            Duration::from_secs(120),
            || async { (connected.load(Ordering::SeqCst) >= CLIENTS).then_some(()) },
        )
        .await;
        clients
    }

    /// Every client got each Skill of its workspace once, in the apiserver's order.
    async fn assert_each_got(self, expected: &HashMap<String, Vec<String>>) {
        let complete = || async {
            for (index, received) in self.received.iter().enumerate() {
                let wanted = expected
                    .get(&self.workspace_of[index])
                    .cloned()
                    .unwrap_or_default();
                if received.lock().await.len() < wanted.len() {
                    return None;
                }
            }
            Some(())
        };
        let _ = tokio::time::timeout(Duration::from_secs(90), async {
            while complete().await.is_none() {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
        .await;
        for task in &self.tasks {
            task.abort();
        }
        let problems = self.problems.lock().await.clone();
        assert!(problems.is_empty(), "{problems:?}");
        for (index, received) in self.received.iter().enumerate() {
            let wanted = expected
                .get(&self.workspace_of[index])
                .cloned()
                .unwrap_or_default();
            assert_eq!(
                *received.lock().await,
                wanted,
                "client {index}: every change once, in order"
            );
        }
        assert!(
            self.reconnects.load(Ordering::SeqCst) >= CLIENTS,
            "every client lost its replica at least once"
        );
    }
}

async fn follow(
    api: ApiClient,
    token: String,
    received: Arc<Mutex<Vec<String>>>,
    connected: Arc<AtomicUsize>,
    problems: Arc<Mutex<Vec<String>>>,
    reconnects: Arc<AtomicUsize>,
) {
    let mut last_id: Option<String> = None;
    loop {
        // A replica going away mid-request, a 429 (this replica's share of the streams is
        // taken, as replicas come and go) or a 503 while the rollout moves: try again, as an
        // EventSource does.
        // A request to a pod that is gone may never be answered at all (nothing tells the client):
        // like the silent stream below, an open that takes too long is given up and tried again.
        let opening = api.try_sse(&token, "/v1/events", last_id.as_deref());
        let Ok(Ok(mut stream)) = tokio::time::timeout(OPEN_WAIT, opening).await else {
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        };
        if stream.status != 200 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        }
        // The api sends a comment every 15 s and its position every 10 s: a stream that brings
        // no event for longer may be a connection to a pod that is gone, whose close never came
        // (the node dropped it with the pod's address). As a careful client does, reconnect.
        while let Some(event) = stream.next(SILENT_STREAM).await {
            match event.event.as_str() {
                "connected" => {
                    connected.fetch_add(1, Ordering::SeqCst);
                }
                "resync" => problems
                    .lock()
                    .await
                    .push(format!("resync after {last_id:?}: {event:?}")),
                "skill_created" => {
                    let name = event.data["data"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string();
                    received.lock().await.push(name);
                }
                _ => {}
            }
            last_id = stream.last_event_id.clone();
        }
        last_id = stream.last_event_id.clone().or(last_id);
        reconnects.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A caller sends as fast as it can over many connections for a few seconds: what the Service's
/// replicas admit together stays within the caller's configured rate and burst.
async fn a_callers_rate_across_the_service_stays_within_its_limit(api: &ApiClient) {
    const SECONDS: u64 = 6;
    const WORKERS: usize = 16;
    let values: Value =
        serde_yaml::from_str(&std::fs::read_to_string(&env().chart_values).unwrap())
            .unwrap_or(Value::Null);
    let limit = |key: &str, default: f64| values["api"]["limits"][key].as_f64().unwrap_or(default);
    let (rate, burst) = (
        limit("callerRequestsPerSecond", 50.0),
        limit("callerRequestBurst", 200.0),
    );
    let caller = e2e::token(&format!("e2e-rate-{}", short_id()));
    let admitted = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    let until = tokio::time::Instant::now() + Duration::from_secs(SECONDS);
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (api, caller, admitted, refused) = (
                ApiClient::new(&api.base),
                caller.clone(),
                admitted.clone(),
                refused.clone(),
            );
            tokio::spawn(async move {
                while tokio::time::Instant::now() < until {
                    match api.get(&caller, "/v1/skills").await.0 {
                        200 => admitted.fetch_add(1, Ordering::SeqCst),
                        429 => refused.fetch_add(1, Ordering::SeqCst),
                        other => panic!("a request answered {other}"),
                    };
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    let (admitted, refused) = (
        admitted.load(Ordering::SeqCst),
        refused.load(Ordering::SeqCst),
    );
    // Each replica admits its share rounded up: at most one request a second and one of burst
    // more per replica than the configured figures; 10% more for the clock.
    let allowed = ((burst + REPLICAS as f64) + (rate + REPLICAS as f64) * SECONDS as f64) * 1.1;
    assert!(refused > 0, "the limit was reached ({admitted} admitted)");
    assert!(
        (admitted as f64) <= allowed,
        "{admitted} admitted in {SECONDS} s; the caller's limit allows {allowed:.0} ({rate}/s, burst {burst})"
    );
}
