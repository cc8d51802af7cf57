//! The agent runtime on the real apiserver: tasks run by the operator against the scripted model,
//! with the real MCP reference servers (npm `server-everything` over streamable HTTP, PyPI
//! `mcp-server-time` behind the stdio bridge) as tools.

use std::collections::HashMap;
use std::time::Duration;

use agentarea_crds::common::condition;
use agentarea_crds::{Agent, McpServerInstance, Task, TaskPhase};
use agentarea_tests::mcp_servers::{
    McpServer, Operator, bridge, everything_server, time_server_command,
};
use agentarea_tests::model::{Reply, ScriptedModel, tool_results, user_input};
use agentarea_tests::{TestNamespace, eventually};
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(90);

/// A namespace with two MCP server instances (`everything` and `time`), a scripted model and an
/// operator watching the namespace.
struct World {
    ns: TestNamespace,
    model: ScriptedModel,
    operators: Vec<Operator>,
    _servers: (McpServer, McpServer),
}

impl World {
    async fn new(
        prefix: &str,
        operator_env: &[(&str, String)],
        script: impl Fn(&Value) -> Reply + Send + Sync + 'static,
    ) -> Self {
        let ns = TestNamespace::create(prefix).await;
        let everything = everything_server();
        let time_command = time_server_command();
        let time = bridge(&[time_command.to_str().unwrap()]);
        let instances = ns.api::<McpServerInstance>();
        for (name, url) in [("everything", &everything.url), ("time", &time.url)] {
            create(
                &instances,
                json!({"apiVersion": "agentarea.io/v1alpha1", "kind": "McpServerInstance",
                       "metadata": {"name": name}, "spec": {"remote": {"url": url}}}),
            )
            .await;
        }
        let model = ScriptedModel::start(script).await;
        let operator = Operator::start(&ns.name, operator_env).await;
        Self {
            ns,
            model,
            operators: vec![operator],
            _servers: (everything, time),
        }
    }

    /// Creates an agent that may call `echo` on `everything` and every tool of `time`, with
    /// `limits`, and waits until it is Ready.
    async fn agent(&self, name: &str, limits: Value) -> Agent {
        let api = self.ns.api::<Agent>();
        create(
            &api,
            json!({"apiVersion": "agentarea.io/v1alpha1", "kind": "Agent", "metadata": {"name": name},
                   "spec": {"instruction": "You are a careful assistant.",
                            "model": {"name": "scripted", "endpoint": self.model.url},
                            "mcpServers": [{"name": "everything", "allowedTools": [{"name": "echo"}]},
                                           {"name": "time"}],
                            "limits": limits}}),
        )
        .await;
        eventually(&format!("agent {name} Ready"), WAIT, || async {
            let agent = api.get(name).await.ok()?;
            let ready = agent.status.as_ref().is_some_and(|s| {
                agentarea_crds::common::is_condition_true(Some(&s.conditions), condition::READY)
            });
            ready.then_some(agent)
        })
        .await
    }

    async fn task(&self, name: &str, agent: &str, input: &str) {
        create(
            &self.ns.api::<Task>(),
            json!({"apiVersion": "agentarea.io/v1alpha1", "kind": "Task", "metadata": {"name": name},
                   "spec": {"agent": agent, "input": input}}),
        )
        .await;
    }

    /// Waits until task `name` has finished, and returns it.
    async fn finished(&self, name: &str) -> Task {
        let api = self.ns.api::<Task>();
        eventually(&format!("task {name} finished"), WAIT, || async {
            let task = api.get(name).await.ok()?;
            phase(&task)
                .is_some_and(TaskPhase::is_finished)
                .then_some(task)
        })
        .await
    }
}

async fn create<K>(api: &Api<K>, value: Value) -> K
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let object: K = serde_json::from_value(value).expect("manifest literal");
    api.create(&PostParams::default(), &object)
        .await
        .expect("create")
}

fn phase(task: &Task) -> Option<TaskPhase> {
    task.status.as_ref().and_then(|s| s.phase)
}

fn reason(task: &Task) -> String {
    task.status
        .as_ref()
        .and_then(|s| s.reason.clone())
        .unwrap_or_default()
}

fn step_types(task: &Task) -> Vec<String> {
    task.status
        .iter()
        .flat_map(|s| &s.steps)
        .map(|s| s.type_.clone())
        .collect()
}

fn result_text(task: &Task) -> String {
    task.status
        .as_ref()
        .and_then(|s| s.result.as_ref())
        .and_then(|r| r.as_str())
        .unwrap_or_default()
        .to_string()
}

/// The tool results of the conversation's last turn, as the model received them.
fn last_tool_contents(request: &Value) -> Vec<String> {
    request["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["role"] == "tool")
        .map(|m| m["content"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn a_task_calls_two_tools_on_two_instances_and_every_step_is_in_status() {
    let world = World::new("rt-tools", &[], |request| {
        if tool_results(request) == 0 {
            Reply::ToolCalls(vec![
                ("echo".into(), json!({"message": "hello from the agent"})),
                ("get_current_time".into(), json!({"timezone": "UTC"})),
            ])
        } else {
            Reply::Answer(format!("done: {}", last_tool_contents(request).join(" | ")))
        }
    })
    .await;
    let agent = world.agent("helper", json!({})).await;
    let status = agent.status.unwrap();
    assert_eq!(
        status.instructions.as_deref(),
        Some("You are a careful assistant.")
    );
    let offered: Vec<_> = status.tools.iter().map(|t| t.name.as_str()).collect();
    assert!(offered.contains(&"echo") && offered.contains(&"get_current_time"));

    world
        .task("two-tools", "helper", "Echo and tell the time")
        .await;
    let task = world.finished("two-tools").await;
    let task_status = task.status.clone().unwrap();
    assert_eq!(phase(&task), Some(TaskPhase::Succeeded), "{task_status:?}");
    assert_eq!(reason(&task), "Completed");

    assert_eq!(
        step_types(&task),
        [
            "WorkflowStarted",
            "LLMCallStarted",
            "LLMCallCompleted",
            "ToolCallStarted",
            "ToolCallStarted",
            "ToolCallCompleted",
            "ToolCallCompleted",
            "LLMCallStarted",
            "LLMCallCompleted",
            "WorkflowCompleted"
        ]
    );
    let seqs: Vec<i64> = task_status.steps.iter().map(|s| s.seq).collect();
    assert_eq!(seqs, (1..=10).collect::<Vec<_>>(), "gapless, in order");
    assert_eq!(task_status.step_count, Some(10));

    // The real servers answered: server-everything echoed, mcp-server-time told a UTC time.
    let completed: Vec<&Value> = task_status
        .steps
        .iter()
        .filter(|s| s.type_ == "ToolCallCompleted")
        .filter_map(|s| s.data.as_ref())
        .collect();
    let by_tool: HashMap<&str, &str> = completed
        .iter()
        .map(|d| (d["tool"].as_str().unwrap(), d["result"].as_str().unwrap()))
        .collect();
    assert!(
        by_tool["echo"].contains("hello from the agent"),
        "{by_tool:?}"
    );
    assert!(by_tool["get_current_time"].contains("UTC"), "{by_tool:?}");

    // The model saw the tools, then both results, and its answer is the task's result.
    let requests = world.model.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0]["messages"][0]["role"], "system");
    assert_eq!(user_input(&requests[0]), "Echo and tell the time");
    assert_eq!(tool_results(&requests[1]), 2);
    let result = result_text(&task);
    assert!(
        result.starts_with("done:") && result.contains("hello from the agent"),
        "{result}"
    );
    let usage = task_status.usage.unwrap();
    assert_eq!((usage.prompt_tokens, usage.total_tokens), (20, 30));
    assert!(task_status.start_time.is_some() && task_status.completion_time.is_some());
    assert_eq!(task_status.claim.unwrap().attempt, 1);
    world.ns.delete().await;
}

/// What the failures test's model does, by the task's input.
fn failing_script(request: &Value) -> Reply {
    let input = user_input(request);
    match input.as_str() {
        "model-error" => Reply::Error(503, "the model is overloaded".into()),
        "bad-request" => Reply::Error(400, "unknown model".into()),
        "tool-error" if tool_results(request) == 0 => {
            Reply::ToolCalls(vec![("echo".into(), json!({"wrong": true}))])
        }
        "tool-error" => Reply::Answer("I could not echo".into()),
        "slow" => Reply::Delayed(
            Duration::from_secs(8),
            Box::new(Reply::Answer("late".into())),
        ),
        _ => Reply::ToolCalls(vec![("echo".into(), json!({"message": "again"}))]),
    }
}

#[tokio::test]
async fn model_failure_tool_failure_timeout_and_limits_each_fail_the_task_with_their_reason() {
    let world = World::new("rt-fail", &[], failing_script).await;
    world.agent("plain", json!({})).await;
    world.agent("hasty", json!({"timeoutSeconds": 2})).await;
    world.agent("short", json!({"maxSteps": 2})).await;
    world.agent("frugal", json!({"maxTotalTokens": 20})).await;

    let cases = [
        (
            "model-error",
            "plain",
            "model-error",
            "ModelError",
            "overloaded",
        ),
        (
            "bad-request",
            "plain",
            "bad-request",
            "ModelError",
            "HTTP 400",
        ),
        ("tool-error", "plain", "tool-error", "ToolError", "echo"),
        ("timeout", "hasty", "slow", "Timeout", "timeoutSeconds"),
        ("max-steps", "short", "loop", "MaxStepsExceeded", "2 steps"),
        ("budget", "frugal", "loop", "BudgetExceeded", "budget of 20"),
        (
            "no-agent",
            "missing",
            "anything",
            "AgentNotFound",
            "missing",
        ),
    ];
    for (name, agent, input, _, _) in cases {
        world.task(name, agent, input).await;
    }
    for (name, _, _, want_reason, in_message) in cases {
        let task = world.finished(name).await;
        let status = task.status.clone().unwrap();
        assert_eq!(phase(&task), Some(TaskPhase::Failed), "{name}: {status:?}");
        assert_eq!(reason(&task), want_reason, "{name}: {status:?}");
        let message = status.message.unwrap_or_default();
        assert!(message.contains(in_message), "{name}: {message}");
        assert_eq!(
            step_types(&task).last().map(String::as_str),
            Some("WorkflowFailed"),
            "{name}"
        );
    }

    // A transient model error is tried three times; a 400 once.
    let model_error = world.finished("model-error").await;
    let failed_calls = step_types(&model_error)
        .iter()
        .filter(|t| *t == "LLMCallFailed")
        .count();
    assert_eq!(failed_calls, 3);
    let bad_request = world.finished("bad-request").await;
    assert_eq!(
        step_types(&bad_request)
            .iter()
            .filter(|t| *t == "LLMCallFailed")
            .count(),
        1
    );

    // The tool's error went back to the model, whose answer is kept.
    let tool_error = world.finished("tool-error").await;
    assert!(step_types(&tool_error).contains(&"ToolCallFailed".to_string()));
    assert_eq!(result_text(&tool_error), "I could not echo");
    let answered = world
        .model
        .requests()
        .into_iter()
        .find(|r| user_input(r) == "tool-error" && tool_results(r) == 1)
        .expect("the model was given the tool's error");
    assert!(last_tool_contents(&answered)[0].starts_with("Error:"));

    // Max steps: exactly two model calls were made.
    let max_steps = world.finished("max-steps").await;
    let calls = step_types(&max_steps)
        .iter()
        .filter(|t| *t == "LLMCallStarted")
        .count();
    assert_eq!(calls, 2);
    world.ns.delete().await;
}

#[tokio::test]
async fn a_cancelled_task_stops_and_says_so() {
    let world = World::new("rt-cancel", &[], |_| {
        Reply::Delayed(
            Duration::from_secs(60),
            Box::new(Reply::Answer("too late".into())),
        )
    })
    .await;
    world.agent("sleepy", json!({})).await;
    world.task("long", "sleepy", "take your time").await;
    let api = world.ns.api::<Task>();
    eventually("task running", WAIT, || async {
        let task = api.get("long").await.ok()?;
        (phase(&task) == Some(TaskPhase::Running)).then_some(())
    })
    .await;
    api.patch(
        "long",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"cancel": true}})),
    )
    .await
    .unwrap();
    let task = world.finished("long").await;
    assert_eq!(phase(&task), Some(TaskPhase::Cancelled));
    assert_eq!(reason(&task), "Cancelled");
    assert_eq!(
        step_types(&task).last().map(String::as_str),
        Some("WorkflowCancelled")
    );

    // A task cancelled before it ran never reaches the model.
    create(
        &api,
        json!({"apiVersion": "agentarea.io/v1alpha1", "kind": "Task", "metadata": {"name": "never"},
               "spec": {"agent": "no-such-agent-yet", "input": "x", "cancel": true}}),
    )
    .await;
    let never = world.finished("never").await;
    assert_eq!(phase(&never), Some(TaskPhase::Cancelled));
    assert_eq!(world.model.requests().len(), 1);
    world.ns.delete().await;
}

#[tokio::test]
async fn two_operators_run_fifty_tasks_and_none_twice() {
    let mut world = World::new(
        "rt-pair",
        &[
            ("AGENTAREA_POD_NAME", "operator-a".into()),
            ("AGENTAREA_TASK_CONCURRENCY", "8".into()),
        ],
        |request| {
            let input = user_input(request);
            if tool_results(request) == 0 {
                Reply::ToolCalls(vec![("echo".into(), json!({"message": input}))])
            } else {
                Reply::Answer(format!("ok {input}"))
            }
        },
    )
    .await;
    world.operators.push(
        Operator::start(
            &world.ns.name,
            &[
                ("AGENTAREA_POD_NAME", "operator-b".into()),
                ("AGENTAREA_TASK_CONCURRENCY", "8".into()),
            ],
        )
        .await,
    );
    world.agent("worker", json!({})).await;
    let names: Vec<String> = (0..50).map(|i| format!("job-{i:02}")).collect();
    for name in &names {
        world.task(name, "worker", name).await;
    }

    let mut holders: HashMap<String, usize> = HashMap::new();
    for name in &names {
        let task = world.finished(name).await;
        let status = task.status.clone().unwrap();
        assert_eq!(
            phase(&task),
            Some(TaskPhase::Succeeded),
            "{name}: {status:?}"
        );
        assert_eq!(result_text(&task), format!("ok {name}"));
        let started = step_types(&task)
            .iter()
            .filter(|t| *t == "WorkflowStarted")
            .count();
        assert_eq!(started, 1, "{name} started once");
        let claim = status.claim.unwrap();
        assert_eq!(claim.attempt, 1);
        *holders
            .entry(claim.holder.split('/').next().unwrap().to_string())
            .or_default() += 1;
    }
    // The model saw each task's first turn and its second turn exactly once.
    let mut turns: HashMap<(String, usize), usize> = HashMap::new();
    for request in world.model.requests() {
        *turns
            .entry((user_input(&request), tool_results(&request)))
            .or_default() += 1;
    }
    for name in &names {
        assert_eq!(turns.get(&(name.clone(), 0)), Some(&1), "{name} first turn");
        assert_eq!(
            turns.get(&(name.clone(), 1)),
            Some(&1),
            "{name} second turn"
        );
    }
    assert_eq!(turns.len(), 100, "no other conversations: {holders:?}");
    eprintln!("tasks per operator: {holders:?}");
    world.ns.delete().await;
}

#[tokio::test]
async fn killing_the_operator_mid_task_leaves_no_task_stuck() {
    let lease = [("AGENTAREA_TASK_LEASE_SECONDS", "3".to_string())];
    let mut world = World::new("rt-kill", &lease, |request| {
        match (user_input(request).as_str(), tool_results(request)) {
            // Calls a tool, then thinks for a long time: killed after a tool call.
            ("after-tool", 0) => Reply::ToolCalls(vec![("echo".into(), json!({"message": "x"}))]),
            // Thinks for a while before anything: killed before any tool call.
            _ => Reply::Delayed(
                Duration::from_secs(6),
                Box::new(Reply::Answer("survived".into())),
            ),
        }
    })
    .await;
    world.agent("steady", json!({})).await;
    world.task("before-tool", "steady", "before-tool").await;
    world.task("after-tool", "steady", "after-tool").await;
    let api = world.ns.api::<Task>();
    eventually("both tasks in their long model call", WAIT, || async {
        let before = api.get("before-tool").await.ok()?;
        let after = api.get("after-tool").await.ok()?;
        let thinking = step_types(&before).contains(&"LLMCallStarted".to_string())
            && step_types(&after)
                .iter()
                .filter(|t| *t == "LLMCallStarted")
                .count()
                == 2;
        thinking.then_some(())
    })
    .await;

    world.operators.remove(0).process.kill();
    world
        .operators
        .push(Operator::start(&world.ns.name, &lease).await);

    // No tool had run: the task is started again and succeeds.
    let before = world.finished("before-tool").await;
    assert_eq!(
        phase(&before),
        Some(TaskPhase::Succeeded),
        "{:?}",
        before.status
    );
    let types = step_types(&before);
    assert!(types.contains(&"RunnerLost".to_string()), "{types:?}");
    assert_eq!(types.iter().filter(|t| *t == "WorkflowStarted").count(), 2);
    assert_eq!(before.status.unwrap().claim.unwrap().attempt, 2);

    // A tool had run: running it again could repeat it, so the task fails, saying why.
    let after = world.finished("after-tool").await;
    assert_eq!(phase(&after), Some(TaskPhase::Failed), "{:?}", after.status);
    assert_eq!(reason(&after), "RunnerLost");
    let message = after.status.unwrap().message.unwrap();
    assert!(message.contains("tools had been called"), "{message}");
    world.ns.delete().await;
}
