//! The web console in headless Chromium, against the real api and operator with a scripted model:
//! what a person does with it, by mouse and by keyboard, at desktop and phone width. Screenshots
//! of the main pages are kept in `target/test-artifacts/console/`.

use std::time::Duration;

use agentarea_tests::api::{ApiServer, token};
use agentarea_tests::browser::{Browser, artifacts_dir};
use agentarea_tests::model::{Reply, tool_results};
use agentarea_tests::world::World;
use agentarea_tests::{cached_build, eventually, free_port, repo_root};
use fantoccini::key::Key;
use serde_json::{Value, json};

/// A final answer that would run script if the console ever put model output into markup.
const HOSTILE_ANSWER: &str = "Done. <script>window.__pwned = 'script'</script>\
     <img src=x onerror=\"window.__pwned = 'img'\"> <b>not bold</b>";

/// The model asks for `echo` once, then answers.
fn echo_then(answer: &'static str) -> impl Fn(&Value) -> Reply + Send + Sync + 'static {
    move |request| match tool_results(request) {
        0 => Reply::ToolCalls(vec![(
            "echo".into(),
            json!({"message": "hello from the console"}),
        )]),
        _ => Reply::Answer(answer.into()),
    }
}

/// The workspace whose namespace the world's namespace is (`ws-<workspace>`).
fn workspace_of(world: &World) -> String {
    world
        .ns
        .name
        .strip_prefix("ws-")
        .expect("the world is made in a workspace namespace")
        .to_string()
}

/// Waits until the api lists the `everything` server with the tools discovery found.
async fn tools_discovered(api: &ApiServer, token: &str) {
    eventually(
        "the everything server's tools",
        Duration::from_secs(90),
        || async {
            let (_, servers) = api.get(token, "/v1/mcp-server-instances").await;
            servers
                .as_array()?
                .iter()
                .any(|s| {
                    s["name"] == "everything"
                        && s["tools"].as_array().is_some_and(|t| !t.is_empty())
                })
                .then_some(())
        },
    )
    .await;
}

/// The sequence numbers of the steps the page shows, in order.
async fn steps_on_page(browser: &Browser) -> Vec<i64> {
    let seqs = browser
        .eval("[...document.querySelectorAll('li.step')].map(e => Number(e.dataset.seq))")
        .await;
    serde_json::from_value(seqs).expect("a list of numbers")
}

/// The sequence numbers of the task's steps as the API lists them.
async fn steps_of_task(api: &ApiServer, token: &str, agent_id: &str, task_id: &str) -> Vec<i64> {
    let (status, page) = api
        .get(
            token,
            &format!("/v1/agents/{agent_id}/tasks/{task_id}/events?page_size=100"),
        )
        .await;
    assert_eq!(status, 200, "{page}");
    page["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| {
            let id = e["id"].as_str().expect("event id");
            id.rsplit('-')
                .next()
                .unwrap()
                .parse()
                .expect("a step number")
        })
        .collect()
}

#[test]
fn the_console_sources_pass_their_type_check() {
    let typescript = cached_build("AGENTAREA_TYPESCRIPT_DIR", "tests/console/install.sh");
    let output = std::process::Command::new(typescript.join("node_modules/.bin/tsc"))
        .args(["-p", "api/console/tsconfig.json", "--pretty", "false"])
        .current_dir(repo_root())
        .output()
        .expect("run tsc");
    assert!(
        output.status.success(),
        "tsc found type errors in api/console:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn the_console_is_served_with_a_strict_policy_and_no_outside_resources() {
    let api = ApiServer::start(&[]).await;
    let page = api.http.get(api.url("/console/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(
            policy.contains(directive),
            "{directive} missing from {policy}"
        );
    }
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");
    let etag = page.headers()["etag"].clone();
    let html = page.text().await.unwrap();
    assert!(html.contains("/console/src/main.js"), "{html}");

    // An unchanged file is not sent again.
    let again = api
        .http
        .get(api.url("/console/"))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    // Modules are served as JavaScript (browsers refuse modules of other types).
    let module = api
        .http
        .get(api.url("/console/src/main.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        module.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    // Unknown files are 404 in the error shape, under the same policy.
    let missing = api
        .http
        .get(api.url("/console/src/nope.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert!(missing.headers().contains_key("content-security-policy"));
    // The sign-in address the operators configured is what the page offers.
    let (_, settings) = api
        .send(api.http.get(api.url("/console/settings.json")))
        .await;
    assert_eq!(settings, json!({"login_url": null}));

    // With a sign-in page configured, the console offers it.
    let login = "https://auth.example.com/self-service/login/browser";
    let api = ApiServer::start(&[("AGENTAREA_CONSOLE_LOGIN_URL", login.into())]).await;
    let (_, settings) = api
        .send(api.http.get(api.url("/console/settings.json")))
        .await;
    assert_eq!(settings, json!({"login_url": login}));
}

#[tokio::test]
async fn a_person_creates_an_agent_runs_a_task_and_approves_its_tool_call_in_the_browser() {
    let world = World::new("ws-console", &[], echo_then(HOSTILE_ANSWER)).await;
    let workspace = workspace_of(&world);
    let token = token(&workspace, "ada");
    let port = free_port();
    let api = ApiServer::start_at(port, &[]).await;
    tools_discovered(&api, &token).await;
    let browser = Browser::start(1280, 900).await;

    // Without credentials the console offers a way in; a token is one.
    browser.goto(&api.url("/console/")).await;
    browser.wait_for_text("h1", "Sign in").await;
    browser.screenshot("01-sign-in").await;
    browser.fill("Bearer token", &token).await;
    browser.click("Use this token").await;
    browser.wait_for_text("h1", "Agents").await;
    browser.wait_for_text("#workspace", &workspace).await;

    // An agent through the form: the model, and `echo` picked from what discovery found,
    // marked as needing approval.
    browser.click("New agent").await;
    browser.fill("Name", "Greeter").await;
    browser.fill("Instruction", "Greet people warmly.").await;
    browser.fill("Model", "scripted").await;
    browser.fill("Model endpoint", &world.model.url).await;
    browser
        .wait_for(r#"input[name="confirm:everything"][value="echo"]"#)
        .await
        .click()
        .await
        .unwrap();
    browser.screenshot("02-agent-form").await;
    browser.click("Create agent").await;
    browser.wait_for_text("h1", "Greeter").await;
    let agent_id = browser.eval("location.hash.split('/')[2]").await;
    let agent_id = agent_id.as_str().unwrap().to_string();
    let (_, agent) = api.get(&token, &format!("/v1/agents/{agent_id}")).await;
    assert_eq!(
        agent["tools_config"]["mcp_server_configs"][0]["allowed_tools"],
        json!([{"tool_name": "echo", "requires_user_confirmation": true}]),
        "{agent}"
    );
    eventually("the agent Ready", Duration::from_secs(90), || async {
        let (_, agent) = api.get(&token, &format!("/v1/agents/{agent_id}")).await;
        (agent["ready"] == true).then_some(())
    })
    .await;
    browser.client.refresh().await.unwrap();
    browser.wait_for_text(".facts dd", "Ready").await;
    browser.screenshot("03-agent").await;

    // A task from the agent's page; its steps arrive live, up to the call that waits.
    browser.fill("What should the agent do?", "Say hello").await;
    browser.click("Start task").await;
    browser
        .wait_for(r#"li.step[data-type="HumanApprovalRequested"]"#)
        .await;
    browser.wait_for_text("button", "Approve echo").await;
    let task_id = browser.eval("location.hash.split('/')[2]").await;
    let task_id = task_id.as_str().unwrap().to_string();
    browser.screenshot("04-task-awaiting-approval").await;

    // Reloaded mid-run, the page shows every step so far exactly once.
    browser.client.refresh().await.unwrap();
    browser.wait_for_text("button", "Approve echo").await;
    let so_far = steps_of_task(&api, &token, &agent_id, &task_id).await;
    browser
        .wait_until(
            "every step so far",
            &format!(
                "document.querySelectorAll('li.step').length >= {}",
                so_far.len()
            ),
        )
        .await;
    assert_eq!(steps_on_page(&browser).await, so_far);

    // The api restarts: the page's stream drops, and reconnects where it left off.
    drop(api);
    browser.wait_for_text(".connection", "Reconnecting").await;
    let api = ApiServer::start_at(port, &[]).await;
    browser.wait_for_text(".connection", "Live").await;

    // Approved from the page, the call is made and the run completes, live.
    browser.click("Approve echo").await;
    browser
        .wait_for(r#"li.step[data-type="WorkflowCompleted"]"#)
        .await;
    browser
        .wait_for_text(".page-head .badge", "completed")
        .await;
    let (_, task) = api.get(&token, &format!("/v1/tasks/{task_id}")).await;
    assert_eq!(task["status"], "completed", "{task}");
    assert_eq!(task["approvals"][0]["decided_by"], "ada", "{task}");
    let all_steps = steps_of_task(&api, &token, &agent_id, &task_id).await;
    assert!(all_steps.len() > so_far.len());
    assert_eq!(
        steps_on_page(&browser).await,
        all_steps,
        "each step once, in order, across a reload and a reconnect"
    );
    let tool_result = browser
        .eval(r#"document.querySelector('li.step[data-type="ToolCallCompleted"]').textContent"#)
        .await;
    assert!(
        tool_result
            .as_str()
            .unwrap()
            .contains("hello from the console"),
        "{tool_result}"
    );

    // The model's answer is shown as the text it is: no markup, no script run.
    browser
        .wait_for_text(".result", "<script>window.__pwned = 'script'</script>")
        .await;
    assert_eq!(
        browser.eval("window.__pwned === undefined").await,
        json!(true)
    );
    assert_eq!(
        browser
            .eval("document.querySelectorAll('main script, main img, main b').length")
            .await,
        json!(0)
    );
    browser.screenshot("05-task-completed").await;

    // The other pages show the same workspace.
    browser.goto(&api.url("/console/#/tasks")).await;
    browser.wait_for_text("td a", "Say hello").await;
    browser.screenshot("06-tasks").await;
    browser.goto(&api.url("/console/#/mcp")).await;
    browser.click("everything").await;
    browser.wait_for_text("td code", "echo").await;
    // `echo` is declared read-only by its server, and the page says so.
    browser.wait_for_text("tr", "read-only").await;
    browser.screenshot("07-mcp-server").await;
    browser.goto(&api.url("/console/#/activity")).await;
    browser.wait_for_text(".connection", "Live").await;
    let (status, _) = api
        .post(
            &token,
            "/v1/tasks",
            &json!({"agent_id": agent_id, "description": "Another one"}),
        )
        .await;
    assert_eq!(status, 201);
    browser
        .wait_for(r#".feed li[data-event="task_created"]"#)
        .await;
    browser.screenshot("08-activity").await;

    // Nothing the pages loaded came from anywhere else.
    let outside = browser
        .eval(
            "performance.getEntriesByType('resource').map(e => e.name)\
             .filter(n => !n.startsWith(location.origin))",
        )
        .await;
    assert_eq!(outside, json!([]));
    browser.close().await;
    eprintln!(
        "console screenshots: {}",
        artifacts_dir("console").display()
    );
}

/// Marks every control a person can act on in `main` and the header (visible, enabled), and
/// returns how many there are.
const MARK_CONTROLS: &str = "(() => {
  const controls = [...document.querySelectorAll('a[href], button, input, select, textarea, summary')]
    .filter(e => !e.disabled && e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden');
  controls.forEach((e, i) => e.dataset.kbd = String(i));
  return controls.length;
})()";

/// Presses Tab until every marked control has had the focus (or twice as many presses as there
/// are controls, and a few more, have gone by); returns the controls never reached.
async fn unreached_by_tab(browser: &Browser) -> Vec<String> {
    let count = browser.eval(MARK_CONTROLS).await.as_u64().unwrap() as usize;
    let mut reached = std::collections::BTreeSet::new();
    for _ in 0..(count * 2 + 5) {
        browser.press(Key::Tab).await;
        if let Some(index) = browser
            .eval("document.activeElement && document.activeElement.dataset.kbd")
            .await
            .as_str()
        {
            reached.insert(index.parse::<usize>().unwrap());
        }
        if reached.len() == count {
            break;
        }
    }
    let mut unreached = Vec::new();
    for index in (0..count).filter(|i| !reached.contains(i)) {
        let described = browser
            .eval(&format!(
                "(e => `${{e.tagName}} ${{e.name || ''}} ${{e.textContent.trim().slice(0, 40)}}`)(document.querySelector('[data-kbd=\"{index}\"]'))"
            ))
            .await;
        unreached.push(described.as_str().unwrap_or_default().to_string());
    }
    unreached
}

#[tokio::test]
async fn every_action_is_reachable_by_keyboard_and_every_page_fits_a_phone() {
    let world = World::new("ws-console-kbd", &[], echo_then("All done.")).await;
    let workspace = workspace_of(&world);
    let token = token(&workspace, "grace");
    let api = ApiServer::start(&[]).await;
    tools_discovered(&api, &token).await;
    let (_, servers) = api.get(&token, "/v1/mcp-server-instances").await;
    let server_id = servers
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "everything")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, agent) = api
        .post(
            &token,
            "/v1/agents",
            &json!({
                "name": "careful", "instruction": "Be careful.", "model_id": "scripted",
                "model_endpoint": world.model.url,
                "tools_config": {"mcp_server_configs": [{"mcp_server_id": server_id,
                    "allowed_tools": [{"tool_name": "echo", "requires_user_confirmation": true}]}]},
            }),
        )
        .await;
    assert_eq!(status, 201, "{agent}");
    let agent_id = agent["id"].as_str().unwrap().to_string();
    let (status, trigger) = api
        .post(
            &token,
            "/v1/triggers",
            &json!({"name": "nightly", "agent_id": agent_id, "trigger_type": "cron",
                    "cron_expression": "0 3 * * *", "timezone": "Europe/Berlin",
                    "task_description": "Tidy up"}),
        )
        .await;
    assert_eq!(status, 201, "{trigger}");
    let trigger_id = trigger["id"].as_str().unwrap().to_string();
    eventually("the agent Ready", Duration::from_secs(90), || async {
        let (_, agent) = api.get(&token, &format!("/v1/agents/{agent_id}")).await;
        (agent["ready"] == true).then_some(())
    })
    .await;
    let (status, task) = api
        .post(
            &token,
            "/v1/tasks",
            &json!({"agent_id": agent_id, "description": "Echo something"}),
        )
        .await;
    assert_eq!(status, 201, "{task}");
    let task_id = task["id"].as_str().unwrap().to_string();

    // A phone-sized window; the token as a person would have left it in this tab.
    let browser = Browser::phone(390, 844).await;
    browser.goto(&api.url("/console/")).await;
    assert_eq!(browser.eval("window.innerWidth").await, json!(390));
    browser
        .eval(&format!(
            "sessionStorage.setItem('agentarea.console.token', {})",
            json!(token)
        ))
        .await;
    let pages = [
        ("agents", "#/agents".to_string()),
        ("agent", format!("#/agents/{agent_id}")),
        ("agent-edit", format!("#/agents/{agent_id}/edit")),
        ("tasks", "#/tasks".to_string()),
        ("task", format!("#/tasks/{task_id}")),
        ("mcp-servers", "#/mcp".to_string()),
        ("mcp-server", format!("#/mcp/{server_id}")),
        ("mcp-new", "#/mcp/new".to_string()),
        ("triggers", "#/triggers".to_string()),
        ("trigger", format!("#/triggers/{trigger_id}")),
        ("activity", "#/activity".to_string()),
    ];
    for (name, hash) in &pages {
        browser.goto(&api.url(&format!("/console/{hash}"))).await;
        browser.client.refresh().await.unwrap();
        browser
            .wait_until(
                &format!("the {name} page"),
                "document.querySelector('main h1') !== null && !document.querySelector('main .loading')",
            )
            .await;
        let overflow = browser
            .eval("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            .await;
        assert_eq!(overflow, json!(0), "the {name} page is wider than a phone");
        let unreached = unreached_by_tab(&browser).await;
        assert!(
            unreached.is_empty(),
            "on the {name} page, Tab never reaches: {unreached:?}"
        );
        browser.screenshot(&format!("phone-{name}")).await;
    }

    // The trigger's next firing is shown in the browser's zone, named.
    browser
        .goto(&api.url(&format!("/console/#/triggers/{trigger_id}")))
        .await;
    browser.wait_for_text("dt", "Next firing (").await;

    // Approving with the keyboard alone: Tab to the button, Enter.
    browser
        .goto(&api.url(&format!("/console/#/tasks/{task_id}")))
        .await;
    browser.wait_for_text("button", "Approve echo").await;
    let mut focused = String::new();
    for _ in 0..100 {
        browser.press(Key::Tab).await;
        focused = browser
            .eval("document.activeElement ? document.activeElement.textContent : ''")
            .await
            .as_str()
            .unwrap_or_default()
            .to_string();
        if focused == "Approve echo" {
            break;
        }
    }
    assert_eq!(
        focused, "Approve echo",
        "Tab never reached the approve button"
    );
    browser.press(Key::Enter).await;
    browser
        .wait_for_text(".page-head .badge", "completed")
        .await;
    let (_, task) = api.get(&token, &format!("/v1/tasks/{task_id}")).await;
    assert_eq!(task["status"], "completed", "{task}");
    assert_eq!(task["approvals"][0]["approved"], true, "{task}");
    browser.close().await;
}
