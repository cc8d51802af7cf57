//! The stdio bridge (`agentarea-operator mcp-bridge`) against the real reference servers: what
//! goes through it is what the server says, both ways, and each session has a server of its own.

use std::time::Duration;

use agentarea_operator::mcp::{call_tool, discover};
use agentarea_tests::eventually;
use agentarea_tests::mcp_servers::{
    RecordingClient, assert_server_talks_to_the_client, bridge, bridge_with_env, endpoint,
    everything_command, everything_plan, everything_server, everything_server_at,
    handshake_session, python_sdk_client, time_server_command,
};
use serde_json::json;

#[tokio::test]
async fn the_bridge_serves_what_the_stdio_server_says() {
    let direct = everything_server();
    let bridged = bridge(&[everything_command().to_str().unwrap(), "stdio"]);

    let through_bridge = discover(&endpoint(&bridged.url))
        .await
        .expect("initialize and tools/list through the bridge");
    let straight = discover(&endpoint(&direct.url))
        .await
        .expect("the server itself");
    let names = |d: &agentarea_operator::mcp::Discovery| {
        let mut names: Vec<_> = d.tools.iter().map(|t| t.name.clone()).collect();
        names.sort();
        names
    };
    assert_eq!(names(&through_bridge), names(&straight));
    assert_eq!(
        through_bridge.server_info.name, straight.server_info.name,
        "initialize passes the server's identity"
    );
    let digests = |d: &agentarea_operator::mcp::Discovery| {
        let mut digests: Vec<_> = d
            .tools
            .iter()
            .map(|t| (t.name.clone(), t.input_schema_digest.clone()))
            .collect();
        digests.sort();
        digests
    };
    assert_eq!(
        digests(&through_bridge),
        digests(&straight),
        "schemas pass unchanged"
    );

    let echoed = call_tool(
        &endpoint(&bridged.url),
        "echo",
        json!({"message": "through the bridge"}),
    )
    .await
    .unwrap();
    let direct_echo = call_tool(
        &endpoint(&direct.url),
        "echo",
        json!({"message": "through the bridge"}),
    )
    .await
    .unwrap();
    assert_eq!(echoed["content"], direct_echo["content"]);
    assert!(echoed.to_string().contains("through the bridge"));

    let sum = call_tool(&endpoint(&bridged.url), "get-sum", json!({"a": 2, "b": 40}))
        .await
        .unwrap();
    assert!(sum.to_string().contains("42"), "{sum}");
}

#[tokio::test]
async fn the_python_time_server_works_through_the_bridge() {
    let bridged = bridge(&[
        time_server_command().to_str().unwrap(),
        "--local-timezone",
        "UTC",
    ]);
    let discovery = discover(&endpoint(&bridged.url)).await.unwrap();
    let names: Vec<_> = discovery.tools.iter().map(|t| t.name.as_str()).collect();
    assert!(
        names.contains(&"get_current_time") && names.contains(&"convert_time"),
        "{names:?}"
    );
    let now = call_tool(
        &endpoint(&bridged.url),
        "get_current_time",
        json!({"timezone": "Asia/Tokyo"}),
    )
    .await
    .unwrap();
    assert!(now.to_string().contains("Asia/Tokyo"), "{now}");
    // A bad argument comes back as the server's tool error, not a broken bridge.
    let bad = call_tool(
        &endpoint(&bridged.url),
        "get_current_time",
        json!({"timezone": "Not/AZone"}),
    )
    .await;
    match bad {
        Ok(result) => assert_eq!(result["isError"], true, "{result}"),
        Err(error) => assert!(
            error.to_string().contains("Not/AZone") || error.to_string().contains("error"),
            "{error}"
        ),
    }
}

/// The pids of `process`'s children (the child is forked by whichever runtime thread started it,
/// so look under every thread).
/// The official MCP Python SDK's client through the bridge, in each of its modes: its default
/// (`server/discover`, falling back to `initialize`), the handshake era, and the stateless era. It
/// lists and calls tools, gets progress, gives up a slow call and goes on, answers the server's
/// elicitation during a call, and closes without a complaint (a session's DELETE answered 200);
/// and it sees the server's own tools and answers.
/// The default mode finds the stateless era at the bridge, whatever the server behind it speaks
/// over stdio.
#[tokio::test]
async fn the_python_sdk_connects_through_the_bridge_in_each_of_its_modes() {
    let bridged = bridge(&[everything_command().to_str().unwrap(), "stdio"]);
    // The server itself, over HTTP, speaks the handshake era only (its stdio speaks both).
    let direct = everything_server();
    let straight = python_sdk_client(&direct.url, "legacy", &everything_plan("", "legacy")).await;
    for mode in ["auto", "legacy", "2026-07-28"] {
        let plan = everything_plan("", mode);
        let seen = python_sdk_client(&bridged.url, mode, &plan).await;
        for what in ["tools", "unknown_tool"] {
            assert_eq!(seen[what], straight[what], "{what} in {mode}: {seen}");
        }
        if mode != "2026-07-28" {
            // Adopting the era directly, the SDK asks nothing of the server (no discover).
            assert_eq!(seen["server_name"], straight["server_name"], "{seen}");
        }
        let version = match mode {
            "legacy" => straight["protocol_version"].clone(),
            _ => json!("2026-07-28"),
        };
        assert_eq!(seen["protocol_version"], version, "{seen}");
        assert!(
            seen["tools"].as_array().unwrap().contains(&json!("echo")),
            "{seen}"
        );
        assert_eq!(seen["called"], format!("Echo: hello in {mode}"), "{seen}");
        assert_eq!(
            seen["progress"].as_array().map(Vec::len),
            Some(3),
            "progress of each step in {mode}: {seen}"
        );
        assert_eq!(seen["cancelled"], true, "{seen}");
        assert_eq!(seen["after_cancel"], seen["called"], "{seen}");
        assert_eq!(seen["warnings"], json!([]), "the SDK complained in {mode}");

        // A client that elicits is offered the server's elicitation tool, and is asked during
        // the call as its era asks: on the call's stream, or `input_required` and the call again.
        let plan = json!({"elicit": ["trigger-elicitation-request", {}]});
        let seen = python_sdk_client(&bridged.url, mode, &plan).await;
        assert!(
            seen["elicit_answered"]
                .as_str()
                .is_some_and(|text| text.contains(r#""confirmed": true"#)),
            "{mode}: {seen}"
        );
        assert_eq!(
            seen["elicitations"],
            json!(["Please provide inputs for the following fields:"]),
            "{mode}: {seen}"
        );
        assert_eq!(seen["warnings"], json!([]), "the SDK complained in {mode}");
    }
}

fn children(process: &agentarea_tests::ChildProcess) -> Vec<String> {
    let mut pids = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{}/task", process.pid()))
        .into_iter()
        .flatten()
        .flatten()
    {
        let listed = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        pids.extend(listed.split_whitespace().map(String::from));
    }
    pids.sort();
    pids
}

async fn children_become(process: &agentarea_tests::ChildProcess, count: usize) -> Vec<String> {
    eventually(
        &format!("{count} stdio servers"),
        Duration::from_secs(30),
        || async {
            let now = children(process);
            (now.len() == count).then_some(now)
        },
    )
    .await
}

/// Each session has a stdio server of its own (and one waits, started, for the next session):
/// a server that crashes ends its session only, and one whose session ends is stopped.
#[tokio::test]
async fn each_session_has_its_own_stdio_server() {
    let bridged = bridge(&[everything_command().to_str().unwrap(), "stdio"]);
    let spare = children_become(&bridged.process, 1).await;

    let client = RecordingClient::default();
    let first = client.connect(&bridged.url).await;
    let second = client.connect(&bridged.url).await;
    let running = children_become(&bridged.process, 3).await;
    assert!(
        running.contains(&spare[0]),
        "the spare serves a session: {spare:?} {running:?}"
    );

    // SAFETY: signalling our grandchild by pid.
    unsafe {
        libc::kill(spare[0].parse().unwrap(), libc::SIGKILL);
    }
    let sessions = [&first, &second];
    let failed = eventually("a session fails", Duration::from_secs(30), || async {
        for (index, session) in sessions.iter().enumerate() {
            if session.peer().list_tools(None).await.is_err() {
                return Some(index);
            }
        }
        None
    })
    .await;
    let survivor = sessions[1 - failed];
    survivor
        .peer()
        .list_tools(None)
        .await
        .expect("the other session goes on");
    let third = client.connect(&bridged.url).await;
    third
        .peer()
        .list_tools(None)
        .await
        .expect("a new session gets a new server");

    drop(first);
    drop(second);
    drop(third);
    children_become(&bridged.process, 1).await;
}

/// Requests of the stateless era (2026-07-28: no session, as the operator makes them to a server
/// that speaks it) share one stdio server beside the spare, however many there are, and it counts
/// as one of the bridge's sessions.
#[tokio::test]
async fn stateless_requests_share_one_stdio_server() {
    let bridged = bridge(&[everything_command().to_str().unwrap(), "stdio"]);
    children_become(&bridged.process, 1).await;
    for n in 0..5 {
        let message = format!("stateless {n}");
        let echoed = call_tool(&endpoint(&bridged.url), "echo", json!({"message": message}))
            .await
            .unwrap();
        assert!(echoed.to_string().contains(&message), "{echoed}");
    }
    let found = discover(&endpoint(&bridged.url)).await.unwrap();
    assert_eq!(
        found.server_info.protocol_version.as_deref(),
        Some("2026-07-28")
    );
    let running = children_become(&bridged.process, 2).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        children(&bridged.process),
        running,
        "the spare and the shared server"
    );
}

/// What a server asks of its client, and tells it, crosses the bridge: the server sees the
/// client's capabilities (the sampling tool exists only for clients that offer sampling), its
/// sampling request reaches the client, and progress arrives under the client's own token.
#[tokio::test]
async fn server_requests_and_notifications_cross_the_bridge() {
    let bridged = bridge(&[everything_command().to_str().unwrap(), "stdio"]);
    let client = RecordingClient::default();
    let session = client.connect(&bridged.url).await;
    assert_server_talks_to_the_client(&session, &client, true).await;
}

/// The operator keeps its session with a server between tool calls; when the server restarts and
/// forgets the session, the next call goes through on a new one.
#[tokio::test]
async fn a_kept_session_gives_way_to_a_new_one_when_the_server_restarts() {
    let server = everything_server();
    let port = server.port;
    let echo = |message: &'static str| {
        let endpoint = endpoint(&format!("http://127.0.0.1:{port}/mcp"));
        async move { call_tool(&endpoint, "echo", json!({"message": message})).await }
    };
    assert!(echo("first").await.unwrap().to_string().contains("first"));
    drop(server);
    let _restarted = everything_server_at(port);
    let again = echo("after the restart").await.expect("a new session");
    assert!(again.to_string().contains("after the restart"), "{again}");
}

/// A bridge serves a bounded number of sessions (each a process): one more (here the server that
/// stateless requests share, which the operator's discovery asks for) is refused in words, and a
/// place comes free when a session ends.
#[tokio::test]
async fn sessions_beyond_the_limit_are_refused_until_one_ends() {
    let bridged = bridge_with_env(
        &[everything_command().to_str().unwrap(), "stdio"],
        &[("AGENTAREA_BRIDGE_MAX_SESSIONS", "1".into())],
    );
    let first = handshake_session(&bridged.url, ()).await;
    let refused = discover(&endpoint(&bridged.url)).await.unwrap_err();
    assert!(
        refused.to_string().contains("at most 1 sessions at once"),
        "{refused}"
    );
    first.cancel().await.unwrap();
    eventually("a place free again", Duration::from_secs(30), || async {
        discover(&endpoint(&bridged.url)).await.ok()
    })
    .await;
}

/// A stateless client's `subscriptions/listen` through the bridge: acknowledged with the resource
/// it names (the stdio server offers subscriptions), and the server's updates of that resource,
/// which a stdio server sends on its one connection, arrive on the listen's stream.
#[tokio::test]
async fn a_stateless_listen_hears_the_stdio_servers_resource_updates() {
    use agentarea_tests::mcp_servers::stateless_session;
    use rmcp::model::{CallToolRequestParams, SubscriptionFilter};
    const URI: &str = "demo://resource/static/document/architecture.md";
    let bridged = bridge(&[everything_command().to_str().unwrap(), "stdio"]);
    let listener = stateless_session(&bridged.url, ()).await;
    let mut listen = listener
        .peer()
        .listen(
            SubscriptionFilter::builder()
                .resource_subscription(URI)
                .build(),
        )
        .await
        .expect("subscriptions/listen through the bridge");
    assert_eq!(
        listen.acknowledged().resource_subscriptions,
        Some(vec![URI.to_string()])
    );
    listener
        .peer()
        .call_tool(CallToolRequestParams::new("toggle-subscriber-updates"))
        .await
        .expect("the server starts sending updates");
    let updated = tokio::time::timeout(Duration::from_secs(20), listen.next())
        .await
        .expect("an update within 20 s")
        .expect("the listen goes on")
        .expect("a notification");
    assert!(json!(updated).to_string().contains(URI), "{updated:?}");
}

/// A stdio server of the handshake era asks for input in the middle of a stateless client's call:
/// the client is answered `input_required` (as its era asks), the call waits upstream, and when
/// the client comes again with its answers the server gets them and the call goes on.
#[tokio::test]
async fn a_stdio_server_asking_during_a_stateless_call_is_answered_by_the_client() {
    use agentarea_tests::mcp_servers::{RecordingClient, SAMPLED, stateless_session};
    use rmcp::model::{CallToolRequestParams, CallToolResponse, InputRequest};
    let bridged = bridge(&[everything_command().to_str().unwrap(), "stdio"]);
    let recording = RecordingClient::default();
    let client = stateless_session(&bridged.url, recording.clone()).await;

    // One round by hand: what the client is told.
    let elicit = CallToolRequestParams::new("trigger-elicitation-request");
    let first = client
        .call_tool_once(elicit.clone())
        .await
        .expect("tools/call");
    let CallToolResponse::InputRequired(input) = first else {
        panic!("input_required, not {first:?}");
    };
    let requests = input.input_requests.clone().unwrap_or_default();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert!(
        matches!(requests.values().next(), Some(InputRequest::Elicitation(_))),
        "{requests:?}"
    );
    assert!(input.request_state.is_some());

    // The SDK's own rounds: it answers and comes again, and the server's answer follows.
    let elicited = client
        .call_tool(elicit)
        .await
        .expect("elicitation answered");
    let text = serde_json::to_string(&elicited).unwrap();
    assert!(text.contains(r#"\"confirmed\": true"#), "{text}");
    assert_eq!(
        recording.elicitations.lock().unwrap().clone(),
        ["Please provide inputs for the following fields:"]
    );
    let mut sample = CallToolRequestParams::new("trigger-sampling-request");
    sample.arguments = json!({"prompt": "a haiku about parked calls"})
        .as_object()
        .cloned();
    let sampled = client.call_tool(sample).await.expect("sampling answered");
    let text = serde_json::to_string(&sampled).unwrap();
    assert!(text.contains(SAMPLED), "{text}");

    // A state the bridge never gave (or whose call expired, or was parked on another replica):
    // the client is told to call again from the start. (The first round's call, never come back
    // for, stays parked until it expires, and is then cancelled upstream.)
    let mut unknown = CallToolRequestParams::new("trigger-elicitation-request");
    unknown.request_state = Some("agentarea-relay-parked/never-given".into());
    let refused = client.call_tool_once(unknown).await.unwrap_err();
    assert!(refused.to_string().contains("not held here"), "{refused}");

    // A client that cannot answer elicitation is not offered the tool, as it would not be
    // connecting to the server directly: its calls go to a shared server told so.
    let unable = stateless_session(&bridged.url, ()).await;
    let offered = unable.peer().list_all_tools().await.expect("tools/list");
    assert!(
        offered
            .iter()
            .all(|t| t.name != "trigger-elicitation-request"),
        "{offered:?}"
    );
    let result = unable
        .call_tool(CallToolRequestParams::new("trigger-elicitation-request"))
        .await
        .expect("a tool error");
    assert_eq!(result.is_error, Some(true), "{result:?}");
}
