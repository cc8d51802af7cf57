//! Workspaces kept apart by the apiserver, not only by the api's code: the api acts in a workspace
//! as that workspace's identity, which RBAC confines to its namespace; and each workspace namespace
//! holds a quota that refuses what is over it, in the error shape, with nothing half made.

use agentarea_api::workspace::identity::{IDENTITY, client_for};
use agentarea_api::workspace::namespace_for;
use agentarea_crds::{Agent, Task, TaskPhase, reasons};
use agentarea_tests::api::{ApiServer, token};
use agentarea_tests::mcp_servers::Operator;
use agentarea_tests::model::{Reply, ScriptedModel};
use agentarea_tests::objects::ready_of;
use agentarea_tests::world::{phase, reason};
use agentarea_tests::{TestNamespace, control_plane, create, eventually};
use k8s_openapi::api::core::v1::{
    ConfigMap, Event, LimitRange, Namespace, Pod, ResourceQuota, Secret,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::api::{ListParams, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};

fn workspace(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

fn agent_body(name: &str) -> Value {
    json!({"name": name, "description": "d", "instruction": "Be brief.", "model_id": "llama3.1:8b"})
}

fn agent_manifest(name: &str) -> Agent {
    serde_json::from_value(json!({
        "apiVersion": "agentarea.io/v1alpha1", "kind": "Agent",
        "metadata": {"name": name},
        "spec": {"instruction": "Forged.", "model": {"name": "llama3.1:8b"}},
    }))
    .expect("an Agent")
}

/// The status code of an apiserver refusal, or the object if it was allowed.
fn refused<T: std::fmt::Debug>(result: kube::Result<T>) -> u16 {
    match result {
        Err(kube::Error::Api(status)) => status.code,
        other => panic!("the apiserver allowed it: {other:?}"),
    }
}

#[tokio::test]
async fn a_request_forged_to_another_workspace_is_refused_by_the_apiserver() {
    let api = ApiServer::start(&[]).await;
    let (ours, theirs) = (workspace("ours"), workspace("theirs"));
    for ws in [&ours, &theirs] {
        let (status, body) = api
            .post(&token(ws, "ada"), "/v1/agents", &agent_body("helper"))
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let (our_ns, their_ns) = (namespace_for(&ours), namespace_for(&theirs));
    let admin = control_plane().client().await;

    // The namespace holds what the api set up: the identity's binding, the quota, the defaults.
    let binding = Api::<RoleBinding>::namespaced(admin.clone(), &our_ns)
        .get(IDENTITY)
        .await
        .expect("the workspace identity's RoleBinding");
    assert_eq!(binding.role_ref.name, "agentarea-workspace");
    let quota = Api::<ResourceQuota>::namespaced(admin.clone(), &our_ns)
        .get("agentarea")
        .await
        .expect("the workspace quota");
    let hard = quota.spec.unwrap().hard.unwrap();
    assert_eq!(hard["count/agents.agentarea.io"].0, "500");
    Api::<LimitRange>::namespaced(admin.clone(), &our_ns)
        .get("agentarea")
        .await
        .expect("the workspace's container defaults");

    // What a handler would hold for our workspace, pointed at theirs by a bug.
    let acting_as_ours: Client = client_for(&admin, &our_ns);
    let forged = Api::<Agent>::namespaced(acting_as_ours.clone(), &their_ns);
    assert_eq!(refused(forged.get("helper").await), 403);
    assert_eq!(refused(forged.list(&ListParams::default()).await), 403);
    assert_eq!(
        refused(
            forged
                .create(&PostParams::default(), &agent_manifest("forged"))
                .await
        ),
        403
    );
    assert_eq!(
        refused(forged.delete("helper", &Default::default()).await),
        403
    );
    let their_secrets = Api::<Secret>::namespaced(acting_as_ours.clone(), &their_ns);
    assert_eq!(
        refused(their_secrets.list(&ListParams::default()).await),
        403
    );
    // Nor can it reach outside the workspace kinds, in its own namespace or the cluster.
    let own_pods = Api::<Pod>::namespaced(acting_as_ours.clone(), &our_ns);
    assert_eq!(refused(own_pods.list(&ListParams::default()).await), 403);
    let namespaces = Api::<Namespace>::all(acting_as_ours.clone());
    assert_eq!(refused(namespaces.list(&ListParams::default()).await), 403);
    let own_bindings = Api::<RoleBinding>::namespaced(acting_as_ours.clone(), &our_ns);
    assert_eq!(refused(own_bindings.get(IDENTITY).await), 403);

    // In its own namespace the same client does the workspace's work.
    let own = Api::<Agent>::namespaced(acting_as_ours, &our_ns);
    own.get("helper").await.expect("its own agent");
    Api::<Agent>::namespaced(admin.clone(), &their_ns)
        .get("helper")
        .await
        .expect("their agent is untouched");
}

#[tokio::test]
async fn a_full_quota_refuses_in_the_error_shape_and_nothing_is_half_made() {
    let api = ApiServer::start(&[(
        "AGENTAREA_WORKSPACE_QUOTA",
        "count/agents.agentarea.io=2,count/secrets=0".to_string(),
    )])
    .await;
    let ws = workspace("quota");
    let bearer = token(&ws, "ada");
    let mut agent_ids = Vec::new();
    for name in ["one", "two"] {
        let (status, body) = api.post(&bearer, "/v1/agents", &agent_body(name)).await;
        assert_eq!(status, 201, "{body}");
        agent_ids.push(body["id"].as_str().unwrap().to_string());
    }

    let (status, body) = api.post(&bearer, "/v1/agents", &agent_body("three")).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["status_code"], 403);
    assert_eq!(
        body["detail"],
        "The workspace's quota is reached: count/agents.agentarea.io at most 2"
    );
    let (_, agents) = api.get(&bearer, "/v1/agents").await;
    let names: Vec<&str> = agents
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{agents}");
    assert!(!names.contains(&"three"));

    // The api counted the new namespace's quota itself (as empty) so its first write did not wait
    // for the quota controller; the controller then took the count over and agrees with it.
    let quotas =
        Api::<ResourceQuota>::namespaced(control_plane().client().await, &namespace_for(&ws));
    let used = eventually("the quota controller's count", WAIT, || async {
        let used = quotas.get("agentarea").await.ok()?.status?.used?;
        (!used.contains_key("agentarea.io/counted-by-api")).then_some(used)
    })
    .await;
    assert_eq!(used["count/agents.agentarea.io"].0, "2", "{used:?}");

    // A webhook trigger is a Trigger and its key's Secret: with no room for the Secret, neither
    // stays.
    let (status, body) = api
        .post(
            &bearer,
            "/v1/triggers",
            &json!({
                "name": "hook", "agent_id": agent_ids[0], "trigger_type": "webhook",
                "task_description": "Handle {{ payload.title }}",
            }),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("count/secrets at most 0"),
        "{body}"
    );
    let (_, triggers) = api.get(&bearer, "/v1/triggers").await;
    assert_eq!(triggers, json!([]), "the trigger was taken back");
}

/// A GET of `path` with `bearer`: status, `Retry-After`, body.
async fn get_with_retry_after(
    api: &ApiServer,
    bearer: &str,
    path: &str,
) -> (u16, Option<u64>, Value) {
    let response = api
        .http
        .get(api.url(path))
        .header("authorization", format!("Bearer {bearer}"))
        .send()
        .await
        .expect("the api answers");
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().expect("Retry-After in seconds"));
    let body = response.json().await.unwrap_or(Value::Null);
    (status, retry_after, body)
}

#[tokio::test]
async fn a_caller_past_its_rate_gets_429_with_retry_after_and_others_go_on() {
    let api = ApiServer::start(&[
        ("AGENTAREA_CALLER_REQUESTS_PER_SECOND", "1".to_string()),
        ("AGENTAREA_CALLER_REQUEST_BURST", "5".to_string()),
    ])
    .await;
    let ws = workspace("rate");
    let (ada, bob) = (token(&ws, "ada"), token(&ws, "bob"));
    let mut answers = Vec::new();
    for _ in 0..10 {
        answers.push(get_with_retry_after(&api, &ada, "/v1/agents").await);
    }
    let ok = answers
        .iter()
        .filter(|(status, _, _)| *status == 200)
        .count();
    // Five at once, and perhaps one more refilled while the ten were sent.
    assert!((5..=6).contains(&ok), "{answers:?}");
    let (status, retry_after, body) = answers.last().unwrap();
    assert_eq!(*status, 429, "{body}");
    assert_eq!(body["status_code"], 429);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .starts_with("Too many requests from this caller"),
        "{body}"
    );
    assert!(
        retry_after.is_some_and(|s| (1..=2).contains(&s)),
        "{retry_after:?}"
    );

    let (status, _, body) = get_with_retry_after(&api, &bob, "/v1/agents").await;
    assert_eq!(status, 200, "another caller has its own allowance: {body}");
    let (status, _, _) =
        get_with_retry_after(&api, &token(&workspace("other"), "ada"), "/v1/agents").await;
    assert_eq!(status, 200, "as has the same subject in another workspace");

    tokio::time::sleep(std::time::Duration::from_secs(retry_after.unwrap())).await;
    let (status, _, body) = get_with_retry_after(&api, &ada, "/v1/agents").await;
    assert_eq!(
        status, 200,
        "after Retry-After the caller is served: {body}"
    );
}

/// The api's EndpointSlice with `ready` of its endpoints ready and the rest not.
fn api_endpoints(ready: usize, not_ready: usize) -> EndpointSlice {
    let endpoint = |i: usize, ready: bool| json!({"addresses": [format!("10.9.0.{i}")], "conditions": {"ready": ready}});
    let endpoints: Vec<Value> = (0..ready)
        .map(|i| endpoint(i, true))
        .chain((ready..ready + not_ready).map(|i| endpoint(i, false)))
        .collect();
    serde_json::from_value(json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "api-abcde", "labels": {"kubernetes.io/service-name": "agentarea-api"}},
        "addressType": "IPv4", "endpoints": endpoints, "ports": [{"name": "http", "port": 8000}],
    }))
    .unwrap()
}

/// How many of `n` requests in a row the caller gets answered.
async fn answered(api: &ApiServer, bearer: &str, n: usize) -> usize {
    let mut ok = 0;
    for _ in 0..n {
        ok += usize::from(get_with_retry_after(api, bearer, "/v1/agents").await.0 == 200);
    }
    ok
}

/// The limits are the Deployment's: with three ready replicas behind the api's Service, each takes
/// a third of a caller's allowance, and the whole again when it is alone.
#[tokio::test]
async fn each_replica_enforces_its_share_of_the_limits() {
    let ns = TestNamespace::create("api-replicas").await;
    let slices = ns.api::<EndpointSlice>();
    slices
        .create(&PostParams::default(), &api_endpoints(3, 1))
        .await
        .unwrap();
    let api = ApiServer::start(&[
        ("AGENTAREA_CALLER_REQUESTS_PER_SECOND", "1".to_string()),
        ("AGENTAREA_CALLER_REQUEST_BURST", "30".to_string()),
        ("AGENTAREA_API_SERVICE", "agentarea-api".to_string()),
        ("AGENTAREA_POD_NAMESPACE", ns.name.clone()),
    ])
    .await;
    let ws = workspace("share");
    // Three ready (one not): a third of the burst of 30, and perhaps one refilled meanwhile.
    let ok = eventually("a third of the allowance", WAIT, || async {
        let ok = answered(&api, &token(&ws, &uuid::Uuid::new_v4().to_string()), 15).await;
        (ok <= 12).then_some(ok)
    })
    .await;
    assert!((10..=12).contains(&ok), "{ok} of 15");

    // Two go away: the one left takes the whole.
    slices
        .replace("api-abcde", &PostParams::default(), &{
            let mut slice = api_endpoints(1, 0);
            slice.metadata.resource_version = slices
                .get("api-abcde")
                .await
                .unwrap()
                .metadata
                .resource_version;
            slice
        })
        .await
        .unwrap();
    let ok = eventually("the whole allowance", WAIT, || async {
        let ok = answered(&api, &token(&ws, &uuid::Uuid::new_v4().to_string()), 35).await;
        (ok >= 30).then_some(ok)
    })
    .await;
    assert!((30..=32).contains(&ok), "{ok} of 35");
    ns.delete().await;
}

#[tokio::test]
async fn a_workspace_holds_at_most_its_open_streams() {
    let api = ApiServer::start(&[("AGENTAREA_WORKSPACE_MAX_STREAMS", "2".to_string())]).await;
    let ws = workspace("streams");
    let bearer = token(&ws, "ada");
    let first = api.sse(&bearer, "/v1/events", None).await;
    let second = api.sse(&token(&ws, "bob"), "/v1/events", None).await;
    assert_eq!((first.status, second.status), (200, 200));

    let (status, retry_after, body) = get_with_retry_after(&api, &bearer, "/v1/events").await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(
        body["detail"],
        "This workspace has 2 event streams open, the most it may; close one"
    );
    assert!(retry_after.is_some(), "429 says when to retry");

    let elsewhere = api
        .sse(&token(&workspace("other"), "ada"), "/v1/events", None)
        .await;
    assert_eq!(elsewhere.status, 200, "other workspaces are not starved");

    drop(first);
    let third = agentarea_tests::eventually(
        "a stream once one is closed",
        std::time::Duration::from_secs(30),
        || async {
            let stream = api.sse(&bearer, "/v1/events", None).await;
            (stream.status == 200).then_some(stream)
        },
    )
    .await;
    drop((second, third));
}

/// Runs task `name` of agent `scribe` to its end.
async fn run_task(tasks: &Api<Task>, name: &str) -> Task {
    create(
        tasks,
        json!({"apiVersion": "agentarea.io/v1alpha1", "kind": "Task", "metadata": {"name": name},
               "spec": {"agent": "scribe", "input": "hello"}}),
    )
    .await;
    eventually(&format!("task {name} ended"), WAIT, || async {
        let task = tasks.get(name).await.ok()?;
        matches!(phase(&task), Some(TaskPhase::Succeeded | TaskPhase::Failed)).then_some(task)
    })
    .await
}

const WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Agent `scribe` of the model at `model_url`, once Ready.
async fn scribe(ns: &TestNamespace, model_url: &str) {
    let agents = ns.api::<Agent>();
    create(
        &agents,
        json!({"apiVersion": "agentarea.io/v1alpha1", "kind": "Agent", "metadata": {"name": "scribe"},
               "spec": {"instruction": "x", "model": {"name": "m", "endpoint": model_url}}}),
    )
    .await;
    eventually("the agent Ready", WAIT, || async {
        let agent = agents.get("scribe").await.ok()?;
        (ready_of(&agent.status?.conditions)?.0 == "True").then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_workspace_past_its_token_budget_stops_at_the_next_model_call() {
    // Every answer of this model costs 15 tokens; the workspace may spend 40, and is warned at 20.
    let ns = TestNamespace::create("ws-budget").await;
    let model = ScriptedModel::start(|_: &Value| Reply::Answer("hello".into())).await;
    let _operator = Operator::start(
        &ns.name,
        &[
            ("AGENTAREA_WORKSPACE_TOKEN_BUDGET", "40".into()),
            ("AGENTAREA_WORKSPACE_BUDGET_WARNING_PERCENT", "50".into()),
        ],
    )
    .await;
    scribe(&ns, &model.url).await;

    let tasks = ns.api::<Task>();
    // 15, 30 (past the warning), 45: each call was made with budget left.
    for name in ["first", "second", "third"] {
        let task = run_task(&tasks, name).await;
        assert_eq!(
            phase(&task),
            Some(TaskPhase::Succeeded),
            "{name}: {:?}",
            task.status
        );
    }
    let events = ns.api::<Event>();
    let warnings = |name: &'static str| {
        let events = events.clone();
        async move {
            let selector = format!(
                "involvedObject.name={name},reason={}",
                reasons::BUDGET_WARNING
            );
            events
                .list(&ListParams::default().fields(&selector))
                .await
                .map(|l| l.items)
                .unwrap_or_default()
        }
    };
    let warning = eventually("the BudgetWarning of the second task", WAIT, || async {
        warnings("second").await.into_iter().next()
    })
    .await;
    assert_eq!(warning.type_.as_deref(), Some("Warning"));
    assert_eq!(
        warning.message.as_deref(),
        Some("the workspace has spent 30 of its 40 tokens this month (50% or more)")
    );
    assert!(
        warnings("third").await.is_empty(),
        "only the crossing call warns"
    );

    // The budget is spent: the next task stops before its first model call.
    let task = run_task(&tasks, "fourth").await;
    assert_eq!(phase(&task), Some(TaskPhase::Failed));
    assert_eq!(reason(&task), reasons::BUDGET_EXCEEDED, "{:?}", task.status);
    let message = task
        .status
        .as_ref()
        .and_then(|s| s.message.clone())
        .unwrap_or_default();
    assert!(
        message.contains("the workspace has spent 45 tokens this month, its whole budget of 40"),
        "{message}"
    );
    assert_eq!(
        model.requests().len(),
        3,
        "the model was not called for the fourth task"
    );

    // The ledger is the operator's, in its own namespace (here the watched one).
    let ledger = ns
        .api::<ConfigMap>()
        .get(&format!("agentarea-budget-{}", ns.name))
        .await
        .expect("the workspace's ledger");
    assert_eq!(ledger.data.unwrap()["tokens"], "45");
}

/// Many runs sharing one budget: each model call holds its estimate before it is made and settles
/// after, so together they spend at most the budget and one call more, and every charge lands on
/// the ledger however contended it is (the ledger is the sum of what the Tasks recorded).
#[tokio::test]
async fn forty_racing_tasks_spend_at_most_the_budget_and_every_charge_lands() {
    const TASKS: usize = 40;
    const BUDGET: i64 = 150;
    const PER_CALL: i64 = 15;
    let ns = TestNamespace::create("ws-budget-race").await;
    // Every answer costs 15 tokens and takes a second, so that the runs are in flight together.
    let model = ScriptedModel::start(|_: &Value| {
        Reply::Delayed(
            std::time::Duration::from_secs(1),
            Box::new(Reply::Answer("hello".into())),
        )
    })
    .await;
    let _operator = Operator::start(
        &ns.name,
        &[
            ("AGENTAREA_WORKSPACE_TOKEN_BUDGET", BUDGET.to_string()),
            ("AGENTAREA_TASK_CONCURRENCY", "64".into()),
            ("AGENTAREA_WORKSPACE_TASK_CONCURRENCY", "64".into()),
        ],
    )
    .await;
    let agents = ns.api::<Agent>();
    create(
        &agents,
        json!({"apiVersion": "agentarea.io/v1alpha1", "kind": "Agent", "metadata": {"name": "scribe"},
               "spec": {"instruction": "x", "model": {"name": "m", "endpoint": model.url,
                                                      "maxOutputTokens": 10}}}),
    )
    .await;
    eventually("the agent Ready", WAIT, || async {
        let agent = agents.get("scribe").await.ok()?;
        (ready_of(&agent.status?.conditions)?.0 == "True").then_some(())
    })
    .await;

    let tasks = ns.api::<Task>();
    let names: Vec<String> = (0..TASKS).map(|i| format!("race-{i:02}")).collect();
    futures::future::join_all(names.iter().map(|name| {
        create(
            &tasks,
            json!({"apiVersion": "agentarea.io/v1alpha1", "kind": "Task", "metadata": {"name": name},
                   "spec": {"agent": "scribe", "input": "hello"}}),
        )
    }))
    .await;
    let ended = eventually(
        "every task ended",
        std::time::Duration::from_secs(180),
        || async {
            let listed = tasks.list(&ListParams::default()).await.ok()?.items;
            let ended: Vec<Task> = listed
                .into_iter()
                .filter(|t| matches!(phase(t), Some(TaskPhase::Succeeded | TaskPhase::Failed)))
                .collect();
            (ended.len() == TASKS).then_some(ended)
        },
    )
    .await;
    let recorded: i64 = ended
        .iter()
        .filter_map(|t| t.status.as_ref()?.usage.as_ref().map(|u| u.total_tokens))
        .sum();
    let succeeded = ended
        .iter()
        .filter(|t| phase(t) == Some(TaskPhase::Succeeded))
        .count();
    let ledger = ns
        .api::<ConfigMap>()
        .get(&format!("agentarea-budget-{}", ns.name))
        .await
        .expect("the workspace's ledger");
    let charged: i64 = ledger.data.as_ref().unwrap()["tokens"].parse().unwrap();
    assert_eq!(
        charged, recorded,
        "the ledger is what the tasks recorded, every charge landed"
    );
    assert_eq!(
        model.requests().len() as i64 * PER_CALL,
        charged,
        "every call the model answered is charged"
    );
    assert!(
        charged <= BUDGET + PER_CALL,
        "{charged} tokens spent of a budget of {BUDGET} ({succeeded} tasks ran)"
    );
    assert!(
        succeeded >= (BUDGET / PER_CALL) as usize,
        "the budget was used: {succeeded} ran"
    );
    for task in ended.iter().filter(|t| phase(t) == Some(TaskPhase::Failed)) {
        assert_eq!(reason(task), reasons::BUDGET_EXCEEDED, "{:?}", task.status);
    }
    // No call in flight holds anything any more.
    assert!(
        !ledger.data.unwrap().keys().any(|k| k.starts_with("hold.")),
        "every hold settled"
    );
}

#[tokio::test]
async fn a_workspace_runs_at_most_its_share_of_tasks_at_once() {
    // The replica could run four tasks at once; one workspace may take one of them.
    let ns = TestNamespace::create("ws-share").await;
    let model = ScriptedModel::start(|_: &Value| {
        Reply::Delayed(
            std::time::Duration::from_millis(500),
            Box::new(Reply::Answer("done".into())),
        )
    })
    .await;
    let _operator = Operator::start(
        &ns.name,
        &[
            ("AGENTAREA_TASK_CONCURRENCY", "4".into()),
            ("AGENTAREA_WORKSPACE_TASK_CONCURRENCY", "1".into()),
        ],
    )
    .await;
    scribe(&ns, &model.url).await;
    let tasks = ns.api::<Task>();
    let names = ["one", "two", "three"];
    for name in names {
        create(
            &tasks,
            json!({"apiVersion": "agentarea.io/v1alpha1", "kind": "Task", "metadata": {"name": name},
                   "spec": {"agent": "scribe", "input": "hello"}}),
        )
        .await;
    }
    for name in names {
        let task = eventually(&format!("task {name} succeeded"), WAIT, || async {
            let task = tasks.get(name).await.ok()?;
            (phase(&task) == Some(TaskPhase::Succeeded)).then_some(task)
        })
        .await;
        assert_eq!(reason(&task), reasons::COMPLETED);
    }
    assert_eq!(model.requests().len(), 3);
    assert_eq!(
        model.max_in_flight(),
        1,
        "the workspace's tasks ran one at a time, each woken when the last ended"
    );
}
