//! The API contract, end to end: the `/openapi.json` the api publishes, against the real api on
//! the real local control plane.
//! - schemathesis generates requests from the document (a fixed seed, a bounded number per
//!   operation, every phase including the stateful one that follows the document's links from
//!   each create) and checks every answer against it with all its checks;
//! - openapi-python-client generates a client from the document, and
//!   `tests/python/client_roundtrip.py` drives every kind through that client;
//! - every example in the document validates against its schema (`tests/contract/check_examples.py`).
//!
//! The Python tools live in a virtualenv of their own (`tests/contract/install.sh`, versions
//! pinned in `scripts/lib.sh`), found through `AGENTAREA_CONTRACT_VENV`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use agentarea_tests::api::{ApiServer, token};
use agentarea_tests::{cached_build, repo_root};

/// Fixed, so that a run is repeatable: the same seed draws the same requests.
const SEED: &str = "20261129";
/// A second seed, run with the request limits on: other requests, and 429s among the answers.
const SECOND_SEED: &str = "20261207";
/// The limits of the second run: low enough that a stream of generated requests meets them
/// (schemathesis sends one after another, tens a second), high enough that most get through.
const LIMITS_ON: [(&str, &str); 4] = [
    ("AGENTAREA_CALLER_REQUESTS_PER_SECOND", "40"),
    ("AGENTAREA_CALLER_REQUEST_BURST", "20"),
    ("AGENTAREA_WORKSPACE_REQUESTS_PER_SECOND", "60"),
    ("AGENTAREA_WORKSPACE_MAX_STREAMS", "4"),
];
/// Requests per operation and phase. Bounded so the run fits CI (about 70 s on two cores).
const MAX_EXAMPLES: &str = "100";

/// Operations schemathesis leaves alone, because their success answer never ends here: no operator
/// runs in this test, so a task stays pending, and these wait for a task (or the workspace) to
/// finish streaming. A request that never completes is a timeout to schemathesis. Their errors come
/// from the same extractors and lookups as the operations it does test, and `tests/api.rs` runs
/// their streams to the end with the operator.
const NEVER_ENDING: [&str; 5] = [
    // Server-Sent Events until the task ends.
    "stream_task_events",
    "stream_agent_task_events",
    "create_agent_task_streaming",
    // The workspace's events as Server-Sent Events, for as long as the client listens.
    "stream_events",
    // Waits until the task ends (up to the agent's timeout plus 30 s).
    "create_agent_task_sync",
];

fn venv() -> PathBuf {
    cached_build("AGENTAREA_CONTRACT_VENV", "tests/contract/install.sh")
}

/// A workspace of this run alone, so what one run creates never meets another's.
fn workspace() -> String {
    format!(
        "contract-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

/// A directory for what a run writes (reports, the generated client), under the target directory.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("contract-{name}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("create a scratch directory");
    dir
}

/// Runs `command`, prints what it said and how long it took, and fails unless it succeeded.
async fn run(what: &str, command: &mut tokio::process::Command) {
    let started = Instant::now();
    let output = command
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap_or_else(|e| panic!("start {what}: {e}"));
    println!("{}", String::from_utf8_lossy(&output.stdout));
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    println!("{what}: {} in {:.0?}", output.status, started.elapsed());
    assert!(output.status.success(), "{what} failed: {}", output.status);
}

#[tokio::test]
async fn schemathesis_finds_the_api_as_its_document_says() {
    let api = ApiServer::start(&[]).await;
    schemathesis(&api, SEED).await;
}

/// Another seed draws other requests; with the request limits on, some are answered 429, which
/// every operation's document lists.
#[tokio::test]
async fn schemathesis_with_another_seed_and_the_limits_on_finds_nothing() {
    let limits: Vec<(&str, String)> = LIMITS_ON.iter().map(|(k, v)| (*k, v.to_string())).collect();
    let api = ApiServer::start(&limits).await;
    schemathesis(&api, SECOND_SEED).await;
    // The run met the limits: it is about 429s as much as anything.
    let metrics = api.http.get(api.url("/metrics")).send().await.unwrap();
    let limited: f64 = metrics
        .text()
        .await
        .unwrap()
        .lines()
        .filter(|l| {
            l.starts_with("agentarea_api_http_requests_total") && l.contains("status=\"429\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    println!("answered 429: {limited}");
    assert!(limited > 0.0, "no request met the limits");
}

/// Runs schemathesis with `seed` against `api`, every check on, and fails on any finding.
async fn schemathesis(api: &ApiServer, seed: &str) {
    let token = token(&workspace(), "contract-tester");
    let reports = scratch("schemathesis");
    let contract = repo_root().join("tests/contract");
    let mut command = tokio::process::Command::new(venv().join("bin/st"));
    command
        .arg("--config-file")
        .arg(contract.join("schemathesis.toml"))
        .arg("run")
        .arg(api.url("/openapi.json"))
        .args(["--header", &format!("Authorization: Bearer {token}")])
        // Every check: tests/contract/schemathesis.toml enables each by name.
        .args(["--seed", seed, "--max-examples", MAX_EXAMPLES])
        // No example database: a run draws from the seed alone, not from what earlier runs found.
        .args(["--generation-database", "none"])
        // One worker: requests go out in the order the seed draws them, so a run can be replayed.
        .args(["--workers", "1", "--request-timeout", "10"])
        .args(["--report", "junit", "--report-dir"])
        .arg(&reports)
        .arg("--no-color");
    for operation in NEVER_ENDING {
        command.args(["--exclude-operation-id", operation]);
    }
    // tests/contract/st_hooks.py, loaded by schemathesis; the scratch directory as the working
    // directory keeps whatever else it writes out of the repository.
    command
        .env("SCHEMATHESIS_HOOKS", "st_hooks")
        .env("PYTHONPATH", &contract)
        .current_dir(&reports);
    run(&format!("schemathesis (seed {seed})"), &mut command).await;
}

/// Writes the api's `/openapi.json` into `dir`.
async fn save_document(api: &ApiServer, dir: &Path) {
    let document = api
        .http
        .get(api.url("/openapi.json"))
        .send()
        .await
        .expect("the api answers")
        .bytes()
        .await
        .expect("the document");
    std::fs::write(dir.join("openapi.json"), &document).expect("write the document");
}

#[tokio::test]
async fn every_example_in_the_document_is_valid() {
    let api = ApiServer::start(&[]).await;
    let dir = scratch("examples");
    save_document(&api, &dir).await;
    run(
        "tests/contract/check_examples.py",
        tokio::process::Command::new(venv().join("bin/python"))
            .arg(repo_root().join("tests/contract/check_examples.py"))
            .arg("openapi.json")
            .current_dir(&dir),
    )
    .await;
}

#[tokio::test]
async fn a_generated_python_client_drives_every_kind() {
    let api = ApiServer::start(&[]).await;
    let token = token(&workspace(), "client-tester");
    let dir = scratch("client");
    save_document(&api, &dir).await;

    let venv = venv();
    run(
        "openapi-python-client",
        tokio::process::Command::new(venv.join("bin/openapi-python-client"))
            .args(["generate", "--path", "openapi.json"])
            .args(["--output-path", "agentarea_client", "--meta", "none"])
            .arg("--config")
            .arg(repo_root().join("tests/contract/openapi-python-client.yaml"))
            .arg("--fail-on-warning")
            .current_dir(&dir),
    )
    .await;
    run(
        "tests/python/client_roundtrip.py",
        tokio::process::Command::new(venv.join("bin/python"))
            .arg(repo_root().join("tests/python/client_roundtrip.py"))
            .args([&api.base, &token])
            .env("PYTHONPATH", &dir),
    )
    .await;
}
