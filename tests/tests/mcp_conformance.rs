//! The official MCP conformance suite (`@modelcontextprotocol/conformance`, installed by
//! `scripts/setup-test-deps.sh`) run three ways against the reference server "everything":
//! reached directly, through `agentarea-operator mcp-bridge` (stdio), and through a compound
//! instance on the operator's gateway. Our hops must be transparent: every check the server
//! passes directly passes the other two ways.
//!
//! The suite scores servers against test tools of its own (`test_simple_text`, ...), which the
//! reference server does not have, so it fails some checks directly; those say nothing about us
//! and are not compared.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use agentarea_crds::McpServerInstance;
use agentarea_tests::api::{ApiServer, token};
use agentarea_tests::mcp_servers::{
    Operator, RecordingClient, assert_server_talks_to_the_client, bridge, endpoint,
    everything_command, everything_server,
};
use agentarea_tests::model::Reply;
use agentarea_tests::namespace::TestNamespace;
use agentarea_tests::proxy::adding_header;
use agentarea_tests::world::World;
use agentarea_tests::{create, eventually_explained};

/// Check id -> passed, as one run of the suite scored a server.
type Scores = BTreeMap<String, bool>;

fn suite_dir() -> PathBuf {
    let dir = std::env::var_os("AGENTAREA_MCP_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .expect("AGENTAREA_MCP_CONFORMANCE_DIR (set by scripts/test.sh)");
    assert!(
        dir.join("node_modules/.bin/conformance").exists(),
        "{} has no conformance suite: run scripts/setup-test-deps.sh",
        dir.display()
    );
    dir
}

/// Runs every active scenario of the suite against `url` and reads the scores it wrote.
fn run_suite(label: &str, url: &str) -> Scores {
    run_scenarios(label, url, &[])
}

/// Runs `scenarios` of the suite (every active one if none) against `url` and reads the scores
/// it wrote.
fn run_scenarios(label: &str, url: &str, scenarios: &[&str]) -> Scores {
    let mut scores = Scores::new();
    if scenarios.is_empty() {
        return run_once(label, url, None);
    }
    for scenario in scenarios {
        scores.extend(run_once(label, url, Some(scenario)));
    }
    scores
}

fn run_once(label: &str, url: &str, scenario: Option<&str>) -> Scores {
    let bin = suite_dir().join("node_modules/.bin");
    let out = std::env::temp_dir()
        .join(format!(
            "agentarea-conformance-{}-{label}",
            std::process::id()
        ))
        .to_string_lossy()
        .replace(' ', "-");
    let out = Path::new(&out);
    let _ = std::fs::remove_dir_all(out);
    // The suite's own Node first: it needs Node 22, which the machine may not have.
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut command = Command::new(bin.join("conformance"));
    command
        .args(["server", "--url", url, "--output-dir"])
        .arg(out);
    if let Some(scenario) = scenario {
        command.args(["--scenario", scenario]);
    }
    let output = command
        .env("PATH", path)
        .output()
        .expect("run the conformance suite");
    let printed = String::from_utf8_lossy(&output.stdout);
    // Failing checks make the runner exit non-zero; the scores are what we compare.
    println!(
        "---- conformance, {label} ({url}) ----\n{}",
        summary(&printed)
    );
    let scores = read_scores(out);
    let _ = std::fs::remove_dir_all(out);
    assert!(
        !scores.is_empty(),
        "the suite wrote no scores for {label}:\n{printed}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    scores
}

fn summary(printed: &str) -> &str {
    printed
        .find("=== SUMMARY ===")
        .map_or(printed, |at| &printed[at..])
}

/// Every `checks.json` under `dir` (one directory a scenario).
fn read_scores(dir: &Path) -> Scores {
    let mut scores = Scores::new();
    for scenario in std::fs::read_dir(dir).unwrap().flatten() {
        let Ok(text) = std::fs::read_to_string(scenario.path().join("checks.json")) else {
            continue;
        };
        let checks: Vec<Value> = serde_json::from_str(&text).unwrap();
        for check in checks {
            let id = check["id"].as_str().unwrap_or_default().to_string();
            scores.insert(id, check["status"] == "SUCCESS");
        }
    }
    scores
}

/// Checks that call a tool of the suite's own, and the tool: the reference server lacks it.
const CALLS_OF_TOOLS_THE_SERVER_LACKS: [(&str, &str); 2] = [
    ("tools-call-simple-text", "test_simple_text"),
    ("tools-call-error", "test_error_handling"),
];

/// The checks `direct` passes that `other` does not.
fn lost(direct: &Scores, other: &Scores) -> Vec<String> {
    direct
        .iter()
        .filter(|(id, passed)| **passed && other.get(*id) != Some(&true))
        .map(|(id, _)| id.clone())
        .collect()
}

#[tokio::test]
async fn the_bridge_and_the_gateway_pass_every_check_the_server_passes() {
    let direct = everything_server();
    let bridged = bridge(&[everything_command().to_str().unwrap(), "stdio"]);
    let ns = TestNamespace::create("mcp-conformance").await;
    let _operator = Operator::with_gateway(&ns.name).await;
    let instances = ns.api::<McpServerInstance>();
    let instance = |name: &str, spec: Value| {
        json!({"apiVersion": "agentarea.io/v1alpha1", "kind": "McpServerInstance",
               "metadata": {"name": name}, "spec": spec})
    };
    create(
        &instances,
        instance("everything", json!({"remote": {"url": direct.url}})),
    )
    .await;
    create(
        &instances,
        instance(
            "compound",
            json!({"compound": {"members": [{"name": "everything"}]}}),
        ),
    )
    .await;
    let compound_url = eventually_explained(
        "the compound instance ready with its endpoint",
        std::time::Duration::from_secs(60),
        || async {
            let object = instances.get("compound").await.map_err(|e| e.to_string())?;
            let status = object.status.unwrap_or_default();
            let ready = status
                .conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True");
            match (ready, status.endpoint) {
                (true, Some(endpoint)) => Ok(endpoint),
                _ => Err(format!("{:?}", status.conditions)),
            }
        },
    )
    .await;

    let direct_scores = run_suite("direct", &direct.url);
    let bridged_scores = run_suite("bridged", &bridged.url);
    let compound_scores = run_suite("through a compound", &compound_url);

    // What the comparison stands on: the server passes the protocol's core directly.
    for core in [
        "server-initialize",
        "ping",
        "tools-list",
        "logging-set-level",
        "resources-list",
        "resources-subscribe",
        "resources-unsubscribe",
        "prompts-list",
    ] {
        assert_eq!(direct_scores.get(core), Some(&true), "direct: {core}");
    }
    assert_eq!(
        lost(&direct_scores, &bridged_scores),
        Vec::<String>::new(),
        "lost by the bridge"
    );
    // Two checks call a tool the reference server lacks and only look at the shape of the answer:
    // the server answers a tool it lacks as a failed result, which they take for a pass; the
    // gateway answers an unknown tool with the protocol error the specification asks for
    // (`-32602`), which they do not. Only while the server lacks those tools.
    let listed = agentarea_operator::mcp::discover(&endpoint(&direct.url))
        .await
        .expect("the server's tools");
    let mut lost_by_gateway = lost(&direct_scores, &compound_scores);
    for (check, tool) in CALLS_OF_TOOLS_THE_SERVER_LACKS {
        assert!(
            !listed.tools.iter().any(|t| t.name == tool),
            "the server has {tool} now: compare {check} through the gateway again"
        );
        lost_by_gateway.retain(|lost| lost != check);
    }
    assert_eq!(lost_by_gateway, Vec::<String>::new(), "lost by the gateway");

    // Beyond the suite: progress from the member reaches a client of the compound.
    let client = RecordingClient::default();
    let session = client.connect(&compound_url).await;
    assert_server_talks_to_the_client(&session, &client, false).await;
    ns.delete().await;
}

#[test]
fn a_check_is_lost_when_it_passes_directly_only() {
    let scores = |pairs: &[(&str, bool)]| -> Scores {
        pairs.iter().map(|(id, ok)| (id.to_string(), *ok)).collect()
    };
    let direct = scores(&[("ping", true), ("tools-list", true), ("sampling", false)]);
    let cases = [
        (scores(&[("ping", true), ("tools-list", true)]), vec![]),
        (
            scores(&[("ping", true), ("tools-list", false)]),
            vec!["tools-list"],
        ),
        (scores(&[("ping", true)]), vec!["tools-list"]),
        (
            scores(&[("ping", true), ("tools-list", true), ("sampling", true)]),
            vec![],
        ),
    ];
    for (other, expected) in cases {
        assert_eq!(lost(&direct, &other), expected, "{other:?}");
    }
}

/// The scenarios of the suite that concern any server, whatever its tools: the handshake, ping,
/// a list of tools every client can read, and refusing pages of other sites (DNS rebinding). The
/// rest call, read or get tools, resources and prompts of the suite's own, which a workspace's
/// agents are not.
const SCENARIOS_FOR_ANY_SERVER: [&str; 4] = [
    "server-initialize",
    "ping",
    "tools-list",
    "dns-rebinding-protection",
];

#[tokio::test]
async fn the_agents_endpoint_passes_the_scenarios_that_concern_any_server() {
    let world = World::new("ws-agents-conformance", &[], |_| {
        Reply::Answer("Hello.".into())
    })
    .await;
    let workspace = world.ns.name.strip_prefix("ws-").unwrap().to_string();
    world
        .agent_with("helper", json!({"description": "Says hello."}))
        .await;
    let api = ApiServer::start(&[]).await;
    // The suite cannot send credentials; the proxy adds the workspace's token to every request.
    let authenticated = adding_header(
        &api.url(""),
        "authorization",
        &format!("Bearer {}", token(&workspace, "ada")),
    )
    .await;

    // The suite runs beside this test's runtime, which serves the proxy.
    let url = format!("{}/v1/mcp", authenticated.url);
    let scores = tokio::task::spawn_blocking(move || {
        run_scenarios("agents", &url, &SCENARIOS_FOR_ANY_SERVER)
    })
    .await
    .unwrap();
    let failed: Vec<&String> = scores
        .iter()
        .filter(|(_, p)| !**p)
        .map(|(id, _)| id)
        .collect();
    assert_eq!(failed, Vec::<&String>::new(), "agents: {scores:?}");
    for check in [
        "server-initialize",
        "ping",
        "tools-list",
        "localhost-host-rebinding-rejected",
        "localhost-host-valid-accepted",
    ] {
        assert!(
            scores.contains_key(check),
            "agents: {check} not run: {scores:?}"
        );
    }
}
