//! No change is lost while a watch is broken: the apiserver our api (and operator) talks to is
//! stopped and started again, changes are made meanwhile through the control plane's other
//! apiserver (as kubectl or another api replica would), and every one of them reaches the clients
//! of `/v1/events` and of a task's stream, once and in order, and the operator's event trigger
//! fires for a Task that failed in the gap.
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
    skills_api
        .patch(
            "kept",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"instructions": "Be exact, always."}})),
        )
        .await
        .expect("update");
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
