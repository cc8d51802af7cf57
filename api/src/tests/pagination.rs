//! Lists are newest first and paged by `limit` with `offset` or `cursor`; the body stays a plain
//! array, `X-Total-Count` and `X-Next-Cursor` say what else there is.

use serde_json::{Value, json};

use super::*;

/// Agents `agent-0` (oldest) to `agent-4` (newest), and one of another workspace.
fn five_agents() -> Objects {
    let mut agents: Vec<Agent> = (0..5)
        .map(|i| agent(WORKSPACE, &format!("agent-{i}"), i))
        .collect();
    agents.push(agent(OTHER_WORKSPACE, "elsewhere", 9));
    Objects {
        agents,
        ..Objects::default()
    }
}

fn names(body: &Value) -> Vec<&str> {
    body.as_array()
        .unwrap_or_else(|| panic!("not a list: {body}"))
        .iter()
        .map(|item| item["k8s_name"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn limits_outside_1_to_1000_are_422() {
    for limit in ["0", "1001"] {
        for path in [
            "/v1/agents",
            "/v1/skills",
            "/v1/tasks",
            "/v1/triggers",
            "/v1/mcp-server-instances",
        ] {
            let answer = call(app(), get(&format!("{path}?limit={limit}"))).await;
            assert_error(&answer, 422, "limit: must be between 1 and 1000");
        }
    }
}

#[tokio::test]
async fn page_parameters_that_do_not_parse_are_422_naming_them() {
    for (query, detail) in [
        (
            "limit=ten",
            "query parameter limit: invalid digit found in string",
        ),
        ("limit=-1", "query parameter limit"),
        ("offset=-1", "query parameter offset"),
        (
            "offset=",
            "query parameter offset: cannot parse integer from empty string",
        ),
    ] {
        let answer = call(app(), get(&format!("/v1/agents?{query}"))).await;
        assert_error(&answer, 422, detail);
    }
}

#[tokio::test]
async fn a_cursor_the_api_did_not_issue_is_422() {
    for cursor in ["garbage!", "bm90LWEtY3Vyc29y", "eHxhZ2VudA"] {
        let answer = call(
            app_with(five_agents()),
            get(&format!("/v1/agents?cursor={cursor}")),
        )
        .await;
        assert_error(&answer, 422, "cursor: not a cursor this api issued");
    }
}

#[tokio::test]
async fn pages_are_newest_first_and_the_cursor_walks_them() {
    let (status, headers, body) = call(app_with(five_agents()), get("/v1/agents?limit=2")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(names(&body), ["agent-4", "agent-3"]);
    assert_eq!(
        headers["x-total-count"], "5",
        "only the caller's workspace counts"
    );
    let mut cursor = headers["x-next-cursor"].to_str().unwrap().to_string();

    let (_, headers, body) = call(
        app_with(five_agents()),
        get(&format!("/v1/agents?limit=2&cursor={cursor}")),
    )
    .await;
    assert_eq!(names(&body), ["agent-2", "agent-1"]);
    cursor = headers["x-next-cursor"].to_str().unwrap().to_string();

    // A cursor continues after its item even when newer items appeared meanwhile.
    let mut grown = five_agents();
    grown.agents.push(agent(WORKSPACE, "agent-new", 30));
    let (_, headers, body) = call(
        app_with(grown),
        get(&format!("/v1/agents?limit=2&cursor={cursor}")),
    )
    .await;
    assert_eq!(names(&body), ["agent-0"]);
    assert!(
        headers.get("x-next-cursor").is_none(),
        "the last page has no cursor"
    );
    assert_eq!(headers["x-total-count"], "6");
}

#[tokio::test]
async fn offset_skips_and_a_cursor_overrides_it() {
    let (_, headers, body) = call(app_with(five_agents()), get("/v1/agents?offset=3")).await;
    assert_eq!(names(&body), ["agent-1", "agent-0"]);
    assert!(headers.get("x-next-cursor").is_none());

    let (_, _, body) = call(app_with(five_agents()), get("/v1/agents?offset=99")).await;
    assert_eq!(body, json!([]));

    let (_, headers, _) = call(app_with(five_agents()), get("/v1/agents?limit=1")).await;
    let cursor = headers["x-next-cursor"].to_str().unwrap();
    let path = format!("/v1/agents?limit=1&offset=3&cursor={cursor}");
    let (_, _, body) = call(app_with(five_agents()), get(&path)).await;
    assert_eq!(names(&body), ["agent-3"]);
}

#[tokio::test]
async fn triggers_page_with_their_own_parameters_and_filters() {
    let objects = || Objects {
        agents: vec![agent(WORKSPACE, "helper", 0), agent(WORKSPACE, "other", 1)],
        triggers: vec![
            webhook_trigger(WORKSPACE, "hook-a", "helper", "a"),
            webhook_trigger(WORKSPACE, "hook-b", "helper", "b"),
            webhook_trigger(WORKSPACE, "hook-c", "other", "c"),
        ],
        ..Objects::default()
    };
    let (_, headers, body) = call(
        app_with(objects()),
        get("/v1/triggers?agent_id=helper&limit=1"),
    )
    .await;
    assert_eq!(body.as_array().unwrap().len(), 1);
    assert_eq!(headers["x-total-count"], "2");
    assert!(headers.get("x-next-cursor").is_some());

    let (_, headers, body) = call(app_with(objects()), get("/v1/triggers?agent_id=nobody")).await;
    assert_eq!(body, json!([]), "an unknown agent matches nothing");
    assert_eq!(headers["x-total-count"], "0");

    let (_, _, body) = call(app_with(objects()), get("/v1/triggers?trigger_type=cron")).await;
    assert_eq!(body, json!([]));
}

fn tasks_of_helper() -> Objects {
    let mut bobs = task(WORKSPACE, "bobs", "helper", None);
    bobs.metadata
        .annotations
        .get_or_insert_default()
        .insert("agentarea.io/created-by".into(), "bob".into());
    Objects {
        agents: vec![agent(WORKSPACE, "helper", 0)],
        tasks: vec![
            task(
                WORKSPACE,
                "running",
                "helper",
                Some(json!({ "phase": "Running" })),
            ),
            task(WORKSPACE, "pending", "helper", None),
            task(WORKSPACE, "done", "gone-agent", Some(finished(1))),
            bobs,
        ],
        ..Objects::default()
    }
}

#[tokio::test]
async fn task_lists_filter_by_status_agent_and_creator() {
    let cases: [(&str, &[&str]); 7] = [
        ("/v1/tasks?status=running", &["running"]),
        ("/v1/tasks?status=submitted", &["bobs", "pending"]),
        ("/v1/tasks?status=completed", &["done"]),
        ("/v1/agents/helper/tasks?status=completed", &[]),
        (
            "/v1/tasks?agent_id=uid-helper",
            &["bobs", "pending", "running"],
        ),
        ("/v1/tasks?agent_id=nobody", &[]),
        ("/v1/tasks?created_by=me", &["done", "pending", "running"]),
    ];
    for (path, expected) in cases {
        let (status, _, body) = call(app_with(tasks_of_helper()), get(path)).await;
        assert_eq!(status, 200, "{path}: {body}");
        let mut got = names(&body);
        got.sort();
        assert_eq!(got, expected, "{path}");
    }
}

#[tokio::test]
async fn task_events_come_in_pages_of_page_size() {
    let objects = || Objects {
        agents: vec![agent(WORKSPACE, "helper", 0)],
        tasks: vec![task(WORKSPACE, "task-1", "helper", Some(finished(5)))],
        ..Objects::default()
    };
    let path = "/v1/agents/helper/tasks/task-1/events?page=2&page_size=2";
    let (status, _, body) = call(app_with(objects()), get(path)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total"], 5);
    assert_eq!(body["page"], 2);
    assert_eq!(body["has_next"], true);
    let ids: Vec<_> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].clone())
        .collect();
    assert_eq!(ids, [json!("uid-task-1-3"), json!("uid-task-1-4")]);
    assert_eq!(body["events"][0]["agent_id"], "uid-helper");
    assert_eq!(body["events"][0]["message"], "step 3");

    let path = format!(
        "/v1/agents/helper/tasks/task-1/events?event_type={}",
        steps::TOOL_CALL_COMPLETED
    );
    let (_, _, body) = call(app_with(objects()), get(&path)).await;
    assert_eq!(body["total"], 2);
    assert_eq!(body["has_next"], false);
    assert_eq!(body["events"][1]["id"], "uid-task-1-4");
}
