//! No change is lost while a watch is broken: the apiserver our api (and operator) talks to is
//! stopped and started again, changes are made meanwhile through the control plane's other
//! apiserver (as kubectl or another api replica would), and every one of them reaches the clients
//! of `/v1/events` and of a task's stream, once and in order, and the operator's event trigger
//! fires for a Task that failed in the gap. And a client of `/v1/events` resumes with its
//! `Last-Event-ID` on another api replica, or on one started after it left, exactly: what it
//! missed, once.
//!
//! The restarted apiserver is a second kube-apiserver on the control plane's etcd
//! (`agentarea_tests::apiserver`), so the rest of the run is not disturbed.

use std::time::Duration;

use agentarea_api::workspace::namespace_for;
use agentarea_crds::{Task, Trigger};
use agentarea_tests::api::{ApiServer, SseEvent, SseStream, token};
use agentarea_tests::apiserver::RestartableApiserver;
use agentarea_tests::mcp_servers::Operator;
use agentarea_tests::objects::write_task_status;
use agentarea_tests::{TestNamespace, control_plane, eventually};
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(120);

fn workspace(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

/// An update of Skill `name`, as kubectl makes one.
async fn reword(skills: &Api<agentarea_crds::Skill>, name: &str) {
    skills
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"instructions": "Be exact, always."}})),
        )
        .await
        .expect("update");
}

/// Events of `stream` until `wanted` (event, name) pairs have all come, or `WAIT` passes.
async fn collect(stream: &mut SseStream, wanted: &[(&str, &str)]) -> Vec<(String, String)> {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut seen: Vec<(String, String)> = Vec::new();
    while !wanted
        .iter()
        .all(|w| seen.iter().any(|(e, n)| (e.as_str(), n.as_str()) == *w))
    {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let Some(SseEvent { event, data, .. }) = stream.next(left).await else {
            panic!("missing some of {wanted:?}; got {seen:?}");
        };
        assert_ne!(event, "resync", "a gap the api could not close: {seen:?}");
        let name = data["data"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        seen.push((event, name));
    }
    seen
}

#[tokio::test]
async fn changes_made_while_the_apiserver_is_away_reach_event_and_task_stream_clients() {
    let mut apiserver = RestartableApiserver::start().await;
    let api = ApiServer::start(&[("KUBECONFIG", apiserver.kubeconfig.display().to_string())]).await;
    let ws = workspace("gap");
    let t = token(&ws, "watcher");
    let namespace = namespace_for(&ws);
    for name in ["kept", "doomed"] {
        let (status, body) = api
            .post(
                &t,
                "/v1/skills",
                &json!({"name": name, "instructions": "Be exact."}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, agent) = api
        .post(
            &t,
            "/v1/agents",
            &json!({"name": "helper", "instruction": "Be brief.", "model_id": "m"}),
        )
        .await;
    assert_eq!(status, 201, "{agent}");
    let (status, task) = api
        .post(
            &t,
            "/v1/tasks",
            &json!({"agent_id": "helper", "description": "Wait."}),
        )
        .await;
    assert_eq!(status, 201, "{task}");
    let task_id = task["id"].as_str().unwrap().to_string();
    let task_name = task["k8s_name"].as_str().unwrap().to_string();

    let mut events = api.sse(&t, "/v1/events", None).await;
    let mut task_stream = api
        .sse(&t, &format!("/v1/tasks/{task_id}/events"), None)
        .await;
    assert_eq!((events.status, task_stream.status), (200, 200));
    // Both streams are live before the break (the task stream says `connected` first).
    task_stream.until("connected", WAIT).await;

    apiserver.stop();
    // While it is away the api answers reads from its caches, and writes 503.
    let (status, skills) = api.get(&t, "/v1/skills").await;
    assert_eq!((status, skills.as_array().map(Vec::len)), (200, Some(2)));
    let (status, refused) = api
        .post(
            &t,
            "/v1/skills",
            &json!({"name": "later", "instructions": "x"}),
        )
        .await;
    assert_eq!(status, 503, "{refused}");

    // Meanwhile, through the control plane's own apiserver: a deletion, a creation, an update,
    // and the task's end.
    let client = control_plane().client().await;
    let skills_api = Api::<agentarea_crds::Skill>::namespaced(client.clone(), &namespace);
    skills_api
        .delete("doomed", &DeleteParams::default())
        .await
        .expect("delete");
    skills_api
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "agentarea.io/v1alpha1", "kind": "Skill",
                "metadata": {"name": "born"}, "spec": {"instructions": "New."},
            }))
            .unwrap(),
        )
        .await
        .expect("create");
    reword(&skills_api, "kept").await;
    write_task_status(
        &client,
        &namespace,
        &task_name,
        json!({"phase": "Failed", "reason": "ModelError", "message": "refused",
               "steps": [{"seq": 1, "time": "2026-01-01T00:00:00Z", "type": "WorkflowFailed", "message": "refused"}]}),
    )
    .await;

    apiserver.start_again().await;

    let seen = collect(
        &mut events,
        &[
            ("skill_deleted", "doomed"),
            ("skill_created", "born"),
            ("skill_updated", "kept"),
            ("task_failed", ""),
        ],
    )
    .await;
    let skill_events: Vec<_> = seen
        .iter()
        .filter(|(e, _)| e.starts_with("skill_"))
        .collect();
    assert_eq!(
        skill_events,
        [
            &("skill_deleted".to_string(), "doomed".to_string()),
            &("skill_created".to_string(), "born".to_string()),
            &("skill_updated".to_string(), "kept".to_string()),
        ],
        "each once, in the order they were made: {seen:?}"
    );
    // The task's stream gets its end.
    let ended = task_stream.until("task_failed", WAIT).await;
    assert!(
        ended
            .iter()
            .any(|e| e.event == "WorkflowFailed" || e.data.to_string().contains("WorkflowFailed")),
        "{ended:#?}"
    );

    // And the api writes again.
    let (status, body) = api
        .post(
            &t,
            "/v1/skills",
            &json!({"name": "after", "instructions": "x"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    collect(&mut events, &[("skill_created", "after")]).await;
}

#[tokio::test]
async fn an_event_trigger_fires_for_a_task_that_failed_while_the_apiserver_was_away() {
    let mut apiserver = RestartableApiserver::start().await;
    let ns = TestNamespace::create("gap-trigger").await;
    let name = ns.name.clone();
    let _operator = Operator::start(
        &name,
        &[("KUBECONFIG", apiserver.kubeconfig.display().to_string())],
    )
    .await;
    let triggers = ns.api::<Trigger>();
    let trigger: Trigger = serde_json::from_value(json!({
        "apiVersion": "agentarea.io/v1alpha1", "kind": "Trigger", "metadata": {"name": "on-failure"},
        "spec": {"agent": "reporter", "input": "Why did {{ event.name }} fail?",
                 "event": {"kind": "Task", "agent": "worker", "phases": ["Failed"]}},
    }))
    .unwrap();
    triggers
        .create(&PostParams::default(), &trigger)
        .await
        .unwrap();
    // The trigger is watched (Ready) before the break.
    eventually("the trigger ready", WAIT, || async {
        let trigger = triggers.get("on-failure").await.ok()?;
        let conditions = trigger.status?.conditions;
        conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
            .then_some(())
    })
    .await;

    apiserver.stop();
    // A Task of `worker` made and failed while the operator's apiserver is away (the operator
    // never saw it run).
    let tasks = ns.api::<Task>();
    let failed: Task = serde_json::from_value(json!({
        "apiVersion": "agentarea.io/v1alpha1", "kind": "Task", "metadata": {"name": "broke"},
        "spec": {"agent": "worker", "input": "x"},
    }))
    .unwrap();
    tasks.create(&PostParams::default(), &failed).await.unwrap();
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    write_task_status(
        &ns.client,
        &name,
        "broke",
        json!({"phase": "Failed", "reason": "ModelError", "message": "refused",
               "startTime": now, "completionTime": now}),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    apiserver.start_again().await;

    let fired = eventually("the trigger's task", WAIT, || async {
        let fired = tasks
            .list(&ListParams::default().labels("agentarea.io/trigger=on-failure"))
            .await
            .ok()?
            .items;
        (!fired.is_empty()).then_some(fired)
    })
    .await;
    assert_eq!(fired.len(), 1, "it fires once");
    assert_eq!(fired[0].spec.input, "Why did broke fail?");
    ns.delete().await;
}

/// Events of `stream` until `count` (event, name) pairs have come, then any more within a few
/// seconds (there must be none).
async fn exactly(stream: &mut SseStream, count: usize) -> Vec<(String, String)> {
    let mut seen = Vec::new();
    while seen.len() < count {
        let event = stream
            .next(WAIT)
            .await
            .unwrap_or_else(|| panic!("only {seen:?} of {count} events came"));
        assert_ne!(
            event.event, "resync",
            "a stream that could resume: {seen:?}, then resync: {}",
            event.data
        );
        let name = event.data["data"]["name"].as_str().unwrap_or_default();
        seen.push((event.event.clone(), name.to_string()));
    }
    if let Some(extra) = stream.next(Duration::from_secs(3)).await {
        panic!("an event more than the changes made: {extra:?} after {seen:?}");
    }
    seen
}

#[tokio::test]
async fn an_event_stream_resumes_on_another_replica_and_after_a_restart() {
    let replica_a = ApiServer::start(&[]).await;
    let replica_b = ApiServer::start(&[]).await;
    let ws = workspace("resume");
    let t = token(&ws, "watcher");
    let namespace = namespace_for(&ws);
    let skill = |name: &str| json!({"name": name, "instructions": "Be exact."});

    let mut stream = replica_a.sse(&t, "/v1/events", None).await;
    assert_eq!(stream.next(WAIT).await.unwrap().event, "connected");
    let (status, _) = replica_a.post(&t, "/v1/skills", &skill("one")).await;
    assert_eq!(status, 201);
    assert_eq!(
        exactly(&mut stream, 1).await,
        [("skill_created".to_string(), "one".to_string())]
    );
    // Quiet, the stream still moves its position (an id with no event) as the cluster changes.
    let elsewhere = token(&workspace("elsewhere"), "other");
    let (status, _) = replica_a
        .post(&elsewhere, "/v1/skills", &skill("noise"))
        .await;
    assert_eq!(status, 201);
    let after_one = stream.last_event_id.clone().expect("an id");
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert!(stream.next(Duration::from_millis(100)).await.is_none());
    let quiet_position = stream.last_event_id.clone().expect("an id");
    assert_ne!(
        quiet_position, after_one,
        "the position moved without an event"
    );
    drop(stream);

    // Missed: changes through the other replica and through kubectl, of two kinds.
    let client = control_plane().client().await;
    let skills = Api::<agentarea_crds::Skill>::namespaced(client.clone(), &namespace);
    let (status, _) = replica_b.post(&t, "/v1/skills", &skill("two")).await;
    assert_eq!(status, 201);
    reword(&skills, "one").await;
    skills
        .delete("two", &DeleteParams::default())
        .await
        .expect("delete");
    let (status, agent) = replica_b
        .post(
            &t,
            "/v1/agents",
            &json!({"name": "helper", "instruction": "Be brief.", "model_id": "m"}),
        )
        .await;
    assert_eq!(status, 201, "{agent}");
    let missed = [
        ("skill_created", "two"),
        ("skill_updated", "one"),
        ("skill_deleted", "two"),
        ("agent_created", "helper"),
    ];
    let skills_in_order = |seen: &[(String, String)]| -> Vec<(String, String)> {
        seen.iter()
            .filter(|(e, _)| e.starts_with("skill_"))
            .cloned()
            .collect()
    };
    let expected_skills: Vec<(String, String)> = missed[..3]
        .iter()
        .map(|(e, n)| (e.to_string(), n.to_string()))
        .collect();

    // On the other replica, from the quiet position: what was missed, each once, each kind in
    // the order it was made.
    let mut resumed = replica_b.sse(&t, "/v1/events", Some(&quiet_position)).await;
    let seen = exactly(&mut resumed, missed.len()).await;
    assert_eq!(skills_in_order(&seen), expected_skills, "{seen:?}");
    assert!(
        seen.contains(&("agent_created".into(), "helper".into())),
        "{seen:?}"
    );
    drop(resumed);

    // On a replica started after all of it, whose own history begins later: the same, fetched
    // from the apiserver's history.
    let replica_c = ApiServer::start(&[]).await;
    let mut restarted = replica_c.sse(&t, "/v1/events", Some(&quiet_position)).await;
    let seen_again = exactly(&mut restarted, missed.len()).await;
    assert_eq!(
        skills_in_order(&seen_again),
        expected_skills,
        "{seen_again:?}"
    );
    // And from the id of an event it gave, on the first replica: nothing twice.
    let midway = restarted.last_event_id.clone().unwrap();
    let mut back_on_a = replica_a.sse(&t, "/v1/events", Some(&midway)).await;
    assert!(
        back_on_a.next(Duration::from_secs(3)).await.is_none(),
        "nothing is repeated"
    );

    // A position older than the apiserver's history asks the client to re-list.
    let ancient = "v1.agent=1,mcp_server_instance=1,skill=1,task=1,trigger=1";
    let mut stale = replica_b.sse(&t, "/v1/events", Some(ancient)).await;
    assert_eq!(stale.next(WAIT).await.unwrap().event, "resync");
}
