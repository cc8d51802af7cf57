//! The agent runtime on the real apiserver: tasks run by the operator against the scripted model,
//! with the real MCP reference servers (npm `server-everything` over streamable HTTP, PyPI
//! `mcp-server-time` behind the stdio bridge) as tools.

use std::collections::HashMap;
use std::time::Duration;

use agentarea_crds::common::condition;
use agentarea_crds::{
    Agent, McpServerInstance, Task, TaskPhase, Trigger, TriggerStatus, reasons, steps,
};
use agentarea_tests::mcp_servers::{Operator, everything_sse_server};
use agentarea_tests::model::{Reply, ScriptedModel, offered_tools, tool_results, user_input};
use agentarea_tests::objects::step_types;
use agentarea_tests::world::{WAIT, World, phase, reason, result_text};
use agentarea_tests::{TestNamespace, create, eventually, merge_patch};
use kube::Api;
use serde_json::{Value, json};

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
    assert_eq!(reason(&task), reasons::COMPLETED);

    assert_eq!(
        step_types(&task),
        [
            steps::WORKFLOW_STARTED,
            steps::LLM_CALL_STARTED,
            steps::LLM_CALL_COMPLETED,
            steps::TOOL_CALL_STARTED,
            steps::TOOL_CALL_STARTED,
            steps::TOOL_CALL_COMPLETED,
            steps::TOOL_CALL_COMPLETED,
            steps::LLM_CALL_STARTED,
            steps::LLM_CALL_COMPLETED,
            steps::WORKFLOW_COMPLETED
        ]
    );
    let seqs: Vec<i64> = task_status.steps.iter().map(|s| s.seq).collect();
    assert_eq!(seqs, (1..=10).collect::<Vec<_>>(), "gapless, in order");
    assert_eq!(task_status.step_count, Some(10));

    // The real servers answered: server-everything echoed, mcp-server-time told a UTC time.
    let completed: Vec<&Value> = task_status
        .steps
        .iter()
        .filter(|s| s.type_ == steps::TOOL_CALL_COMPLETED)
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

    // The operator wrote that status from the copy its store keeps, which lacks the field sets
    // of managedFields: the apiserver still knows which fields each writer owns.
    let owned: Vec<(Option<&str>, String)> = task
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .map(|entry| {
            let fields = entry.fields_v1.as_ref().map(|f| f.0.to_string());
            (entry.subresource.as_deref(), fields.unwrap_or_default())
        })
        .collect();
    assert!(
        owned
            .iter()
            .any(|(sub, f)| sub.is_none() && f.contains("f:spec")),
        "{owned:?}"
    );
    assert!(
        owned
            .iter()
            .any(|(sub, f)| *sub == Some("status") && f.contains("f:steps")),
        "{owned:?}"
    );
    world.ns.delete().await;
}

/// A remote server on the older HTTP+SSE transport: discovered (Ready with its tools), and a
/// task's tool call reaches it.
#[tokio::test]
async fn a_task_calls_a_tool_of_a_remote_server_on_the_older_sse_transport() {
    let ns = TestNamespace::create("rt-sse").await;
    let legacy = everything_sse_server();
    let model = ScriptedModel::start(|request| {
        if tool_results(request) == 0 {
            Reply::ToolCalls(vec![("echo".into(), json!({"message": "over SSE"}))])
        } else {
            Reply::Answer(format!(
                "heard: {}",
                last_tool_contents(request).join(" | ")
            ))
        }
    })
    .await;
    let _operator = Operator::start(&ns.name, &[]).await;
    let instances = ns.api::<McpServerInstance>();
    create(
        &instances,
        json!({"apiVersion": "agentarea.io/v1alpha1", "kind": "McpServerInstance",
               "metadata": {"name": "legacy"},
               "spec": {"remote": {"url": legacy.url, "transport": "sse"}}}),
    )
    .await;
    let ready = eventually("the SSE instance Ready", WAIT, || async {
        let instance = instances.get("legacy").await.ok()?;
        let status = instance.status?;
        agentarea_crds::common::is_condition_true(Some(&status.conditions), condition::READY)
            .then_some(status)
    })
    .await;
    assert!(
        ready.tools.iter().any(|t| t.name == "echo"),
        "{:?}",
        ready.tools
    );

    let agents = ns.api::<Agent>();
    create(
        &agents,
        json!({"apiVersion": "agentarea.io/v1alpha1", "kind": "Agent", "metadata": {"name": "old-school"},
               "spec": {"instruction": "Use the old server.",
                        "model": {"name": "scripted", "endpoint": model.url},
                        "mcpServers": [{"name": "legacy", "allowedTools": [{"name": "echo"}]}]}}),
    )
    .await;
    create(
        &ns.api::<Task>(),
        json!({"apiVersion": "agentarea.io/v1alpha1", "kind": "Task", "metadata": {"name": "echo-sse"},
               "spec": {"agent": "old-school", "input": "Echo over SSE"}}),
    )
    .await;
    let tasks = ns.api::<Task>();
    let task = eventually("the task finished", WAIT, || async {
        let task = tasks.get("echo-sse").await.ok()?;
        phase(&task)
            .is_some_and(TaskPhase::is_finished)
            .then_some(task)
    })
    .await;
    assert_eq!(
        phase(&task),
        Some(TaskPhase::Succeeded),
        "{:?}",
        task.status
    );
    assert!(
        result_text(&task).contains("over SSE"),
        "{}",
        result_text(&task)
    );
    ns.delete().await;
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
        "what can you use?" => Reply::Answer("only the clock".into()),
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
    // An agent whose model endpoint nothing listens on.
    let nowhere = format!("http://127.0.0.1:{}/v1", agentarea_tests::free_port());
    create(
        &world.ns.api::<Agent>(),
        json!({"apiVersion": "agentarea.io/v1alpha1", "kind": "Agent", "metadata": {"name": "nowhere"},
               "spec": {"instruction": "Hello.", "model": {"name": "gone", "endpoint": nowhere}}}),
    )
    .await;

    let cases = [
        (
            "model-error",
            "plain",
            "model-error",
            reasons::MODEL_ERROR,
            "overloaded",
        ),
        (
            "bad-request",
            "plain",
            "bad-request",
            reasons::MODEL_ERROR,
            "HTTP 400",
        ),
        (
            "tool-error",
            "plain",
            "tool-error",
            reasons::TOOL_ERROR,
            "echo",
        ),
        (
            "timeout",
            "hasty",
            "slow",
            reasons::TIMEOUT,
            "timeoutSeconds",
        ),
        (
            "max-steps",
            "short",
            "loop",
            reasons::MAX_STEPS_EXCEEDED,
            "2 steps",
        ),
        (
            "budget",
            "frugal",
            "loop",
            reasons::BUDGET_EXCEEDED,
            "budget of 20",
        ),
        (
            "unreachable",
            "nowhere",
            "anyone there?",
            reasons::MODEL_ERROR,
            "could not reach",
        ),
        (
            "no-agent",
            "missing",
            "anything",
            reasons::AGENT_NOT_FOUND,
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
            Some(steps::WORKFLOW_FAILED),
            "{name}"
        );
    }
    // Each failure is also a Warning Event on its Task, named by the reason.
    let events: Api<k8s_openapi::api::core::v1::Event> = world.ns.api();
    for (name, _, _, want_reason, _) in cases {
        eventually(
            &format!("a {want_reason} event on {name}"),
            WAIT,
            || async {
                let selector = format!("involvedObject.name={name},reason={want_reason}");
                let listed = events
                    .list(&kube::api::ListParams::default().fields(&selector))
                    .await
                    .ok()?;
                listed
                    .items
                    .into_iter()
                    .find(|e| e.type_.as_deref() == Some("Warning"))
            },
        )
        .await;
    }

    // A tool that needs a person's confirmation is offered too: a call of it waits for a
    // decision (tests/durability.rs), instead of the tool being hidden.
    create(
        &world.ns.api::<Agent>(),
        json!({"apiVersion": "agentarea.io/v1alpha1", "kind": "Agent", "metadata": {"name": "careful"},
               "spec": {"instruction": "Careful.", "model": {"name": "scripted", "endpoint": world.model.url},
                        "mcpServers": [{"name": "time", "allowedTools": [
                            {"name": "get_current_time"},
                            {"name": "convert_time", "requiresUserConfirmation": true}]}]}}),
    )
    .await;
    world
        .task("careful-task", "careful", "what can you use?")
        .await;
    let careful = world.finished("careful-task").await;
    assert_eq!(
        phase(&careful),
        Some(TaskPhase::Succeeded),
        "{:?}",
        careful.status
    );
    let asked = world
        .model
        .requests()
        .into_iter()
        .find(|r| user_input(r) == "what can you use?")
        .unwrap();
    assert_eq!(offered_tools(&asked), ["get_current_time", "convert_time"]);

    // A transient model error is tried three times; a 400 once.
    let model_error = world.finished("model-error").await;
    let failed_calls = step_types(&model_error)
        .iter()
        .filter(|t| *t == steps::LLM_CALL_FAILED)
        .count();
    assert_eq!(failed_calls, 3);
    let bad_request = world.finished("bad-request").await;
    assert_eq!(
        step_types(&bad_request)
            .iter()
            .filter(|t| *t == steps::LLM_CALL_FAILED)
            .count(),
        1
    );

    // The tool's error went back to the model, whose answer is kept.
    let tool_error = world.finished("tool-error").await;
    assert!(step_types(&tool_error).contains(&steps::TOOL_CALL_FAILED.to_string()));
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
        .filter(|t| *t == steps::LLM_CALL_STARTED)
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
    // Cancel while the model call is in flight: the run has asked the model (so the count of
    // model requests below is settled) and cannot have finished.
    eventually("the model asked", WAIT, || async {
        (world.model.requests().len() == 1).then_some(())
    })
    .await;
    let task = api.get("long").await.unwrap();
    assert_eq!(phase(&task), Some(TaskPhase::Running));
    merge_patch(&api, "long", json!({"spec": {"cancel": true}})).await;
    let task = world.finished("long").await;
    assert_eq!(phase(&task), Some(TaskPhase::Cancelled));
    assert_eq!(reason(&task), reasons::CANCELLED);
    assert_eq!(
        step_types(&task).last().map(String::as_str),
        Some(steps::WORKFLOW_CANCELLED)
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

    // A finished task with a TTL is deleted once it has passed, as a Job is.
    merge_patch(
        &api,
        "long",
        json!({"spec": {"ttlSecondsAfterFinished": 1}}),
    )
    .await;
    eventually("the finished task deleted after its TTL", WAIT, || async {
        api.get_opt("long").await.unwrap().is_none().then_some(())
    })
    .await;
    assert!(
        api.get_opt("never").await.unwrap().is_some(),
        "no TTL: kept"
    );
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
            .filter(|t| *t == steps::WORKFLOW_STARTED)
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
async fn a_replica_runs_no_more_tasks_at_once_than_configured() {
    let world = World::new(
        "rt-bound",
        &[("AGENTAREA_TASK_CONCURRENCY", "2".into())],
        |_| {
            Reply::Delayed(
                Duration::from_millis(800),
                Box::new(Reply::Answer("ok".into())),
            )
        },
    )
    .await;
    world.agent("bounded", json!({})).await;
    let names: Vec<String> = (0..6).map(|i| format!("bounded-{i}")).collect();
    for name in &names {
        world.task(name, "bounded", name).await;
    }
    for name in &names {
        assert_eq!(
            phase(&world.finished(name).await),
            Some(TaskPhase::Succeeded)
        );
    }
    // The model saw at most two conversations at once, and did see two: bounded, yet parallel.
    assert_eq!(world.model.max_in_flight(), 2);
    world.ns.delete().await;
}

#[tokio::test]
async fn killing_the_operator_mid_task_continues_the_kept_conversation() {
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
        let thinking = step_types(&before).contains(&steps::LLM_CALL_STARTED.to_string())
            && step_types(&after)
                .iter()
                .filter(|t| *t == steps::LLM_CALL_STARTED)
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
    assert!(types.contains(&steps::RUNNER_LOST.to_string()), "{types:?}");
    assert_eq!(
        types
            .iter()
            .filter(|t| *t == steps::WORKFLOW_STARTED)
            .count(),
        2
    );
    assert_eq!(before.status.unwrap().claim.unwrap().attempt, 2);

    // A tool had run and its result was kept: the run continues after it, without calling it
    // again.
    let after = world.finished("after-tool").await;
    assert_eq!(
        phase(&after),
        Some(TaskPhase::Succeeded),
        "{:?}",
        after.status
    );
    assert_eq!(result_text(&after), "survived");
    let types = step_types(&after);
    assert!(types.contains(&steps::RUNNER_LOST.to_string()), "{types:?}");
    assert_eq!(
        types
            .iter()
            .filter(|t| *t == steps::TOOL_CALL_STARTED)
            .count(),
        1,
        "{types:?}"
    );
    let status = after.status.unwrap();
    assert_eq!(status.runners_lost, Some(1));
    assert!(status.conversation.is_some());
    world.ns.delete().await;
}

fn trigger(name: &str, agent: &str, input: &str, kind: Value) -> Value {
    let mut spec = json!({"agent": agent, "input": input});
    spec.as_object_mut()
        .unwrap()
        .extend(kind.as_object().unwrap().clone());
    json!({"apiVersion": "agentarea.io/v1alpha1", "kind": "Trigger", "metadata": {"name": name}, "spec": spec})
}

/// The Tasks trigger `name` has fired that still exist.
async fn tasks_of(ns: &TestNamespace, name: &str) -> Vec<Task> {
    ns.api::<Task>()
        .list(&kube::api::ListParams::default().labels(&format!("agentarea.io/trigger={name}")))
        .await
        .unwrap()
        .items
}

fn trigger_status(trigger: &Trigger) -> TriggerStatus {
    trigger.status.clone().unwrap_or_default()
}

#[tokio::test]
async fn schedule_triggers_fire_on_time_forbid_overlaps_keep_history_and_stop_when_disabled() {
    let world = World::new("rt-cron", &[], |request| {
        if user_input(request).starts_with("slow") {
            Reply::Delayed(
                Duration::from_secs(6),
                Box::new(Reply::Answer("slow done".into())),
            )
        } else {
            Reply::Answer("tick done".into())
        }
    })
    .await;
    world.agent("ticker", json!({})).await;
    let triggers = world.ns.api::<Trigger>();
    // Seconds-capable schedules: every two seconds, instead of waiting minutes.
    create(
        &triggers,
        trigger(
            "every-two",
            "ticker",
            "tick at {{ schedule.time }}",
            json!({"schedule": {"cron": "*/2 * * * * *", "successfulHistoryLimit": 1}}),
        ),
    )
    .await;
    create(
        &triggers,
        trigger(
            "no-overlap",
            "ticker",
            "slow run of {{ trigger.name }}",
            json!({"schedule": {"cron": "*/2 * * * * *", "concurrencyPolicy": "Forbid"}}),
        ),
    )
    .await;

    create(
        &triggers,
        trigger(
            "replacing",
            "ticker",
            "slow run of {{ trigger.name }}",
            json!({"schedule": {"cron": "*/2 * * * * *", "concurrencyPolicy": "Replace"}}),
        ),
    )
    .await;

    // It fires again and again, each run succeeds, and only the newest success is kept.
    let fired = eventually(
        "three firings of every-two, history pruned to one",
        WAIT,
        || async {
            let trigger = triggers.get("every-two").await.ok()?;
            let status = trigger_status(&trigger);
            let succeeded = tasks_of(&world.ns, "every-two")
                .await
                .into_iter()
                .filter(|t| phase(t) == Some(TaskPhase::Succeeded))
                .count();
            let recorded = status.executions.iter().any(|e| e.status == "succeeded");
            (status.fired_count >= 3 && recorded && succeeded == 1).then_some(trigger)
        },
    )
    .await;
    let status = trigger_status(&fired);
    assert!(status.next_fire_time.is_some() && status.last_schedule_time.is_some());
    assert!(status.next_fire_time.unwrap().0 > status.last_schedule_time.unwrap().0);
    let task = tasks_of(&world.ns, "every-two").await.pop().unwrap();
    assert!(
        task.spec.input.starts_with("tick at 20"),
        "{}",
        task.spec.input
    );
    assert_eq!(
        task.metadata.owner_references.unwrap()[0].name,
        "every-two",
        "owned by the trigger, as a CronJob owns its Jobs"
    );

    // Forbid: while the slow run goes on, the runs due meanwhile are skipped, and said to be.
    let skipped = eventually("a skipped run of no-overlap", WAIT, || async {
        let active = tasks_of(&world.ns, "no-overlap")
            .await
            .into_iter()
            .filter(|t| !phase(t).is_some_and(TaskPhase::is_finished))
            .count();
        assert!(active <= 1, "Forbid never runs two at once");
        let status = trigger_status(&triggers.get("no-overlap").await.ok()?);
        status
            .executions
            .into_iter()
            .find(|e| e.status == "skipped")
    })
    .await;
    assert!(
        skipped
            .message
            .unwrap()
            .contains("concurrencyPolicy Forbid")
    );

    // Replace: the run still going when the next is due is cancelled for it.
    let replaced = eventually("a run of replacing cancelled by the next", WAIT, || async {
        tasks_of(&world.ns, "replacing")
            .await
            .into_iter()
            .find(|t| phase(t) == Some(TaskPhase::Cancelled))
    })
    .await;
    assert_eq!(reason(&replaced), reasons::CANCELLED);

    // Disabled: no more firings, and status says why.
    merge_patch(&triggers, "every-two", json!({"spec": {"enabled": false}})).await;
    let disabled = eventually("every-two disabled", WAIT, || async {
        let trigger = triggers.get("every-two").await.ok()?;
        let conditions = trigger_status(&trigger).conditions;
        conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.reason == reasons::DISABLED)
            .then_some(trigger)
    })
    .await;
    let count = trigger_status(&disabled).fired_count;
    assert!(trigger_status(&disabled).next_fire_time.is_none());
    tokio::time::sleep(Duration::from_secs(5)).await;
    let later = triggers.get("every-two").await.unwrap();
    assert_eq!(
        trigger_status(&later).fired_count,
        count,
        "a disabled trigger does not fire"
    );

    let events: Api<k8s_openapi::api::core::v1::Event> = world.ns.api();
    let fired_events = events
        .list(
            &kube::api::ListParams::default().fields("involvedObject.name=every-two,reason=Fired"),
        )
        .await
        .unwrap();
    assert!(
        !fired_events.items.is_empty(),
        "each firing is an Event too"
    );
    world.ns.delete().await;
}

#[tokio::test]
async fn an_event_trigger_fires_when_a_task_of_its_agent_succeeds() {
    let world = World::new("rt-event", &[], |request| {
        if user_input(request).starts_with("Report") {
            Reply::Answer("reported".into())
        } else {
            Reply::Answer("written: 42".into())
        }
    })
    .await;
    world.agent("writer", json!({})).await;
    world.agent("reporter", json!({})).await;
    let triggers = world.ns.api::<Trigger>();

    // What the schema cannot check becomes a Ready condition that names it.
    for (name, kind) in [
        ("bad-cron", json!({"schedule": {"cron": "61 * * * *"}})),
        (
            "bad-zone",
            json!({"schedule": {"cron": "* * * * *", "timeZone": "Mars/Olympus"}}),
        ),
        (
            "no-secret",
            json!({"webhook": {"webhookId": format!("{}-hook", world.ns.name),
                                          "secretRef": {"name": "missing", "key": "hmac"}}}),
        ),
    ] {
        create(&triggers, trigger(name, "reporter", "x", kind)).await;
    }
    for (name, want_reason, in_message) in [
        ("bad-cron", reasons::INVALID_SCHEDULE, "cron expression"),
        ("bad-zone", reasons::INVALID_SCHEDULE, "Mars/Olympus"),
        ("no-secret", reasons::SECRET_NOT_FOUND, "missing"),
    ] {
        let ready = eventually(&format!("{name} not ready"), WAIT, || async {
            let status = trigger_status(&triggers.get(name).await.ok()?);
            status.conditions.into_iter().find(|c| c.type_ == "Ready")
        })
        .await;
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("False", want_reason),
            "{name}"
        );
        assert!(
            ready.message.contains(in_message),
            "{name}: {}",
            ready.message
        );
    }
    create(
        &world.ns.api::<Trigger>(),
        trigger(
            "on-written",
            "reporter",
            "Report on {{ event.name }}: {{ event.result }}",
            json!({"event": {"kind": "Task", "agent": "writer", "phases": ["Succeeded"]}}),
        ),
    )
    .await;
    world.task("draft", "writer", "Write the draft").await;
    assert_eq!(
        phase(&world.finished("draft").await),
        Some(TaskPhase::Succeeded)
    );

    let fired = eventually("the event trigger's task", WAIT, || async {
        tasks_of(&world.ns, "on-written").await.pop()
    })
    .await;
    assert_eq!(fired.spec.agent, "reporter");
    assert_eq!(fired.spec.input, "Report on draft: written: 42");
    let report = world.finished(&fired.metadata.name.clone().unwrap()).await;
    assert_eq!(phase(&report), Some(TaskPhase::Succeeded));
    assert_eq!(result_text(&report), "reported");

    let triggers = world.ns.api::<Trigger>();
    let recorded = eventually("the firing recorded as succeeded", WAIT, || async {
        let status = trigger_status(&triggers.get("on-written").await.ok()?);
        let first = status.executions.first()?.clone();
        (first.status == "succeeded").then_some((status, first))
    })
    .await;
    assert_eq!(recorded.0.fired_count, 1);
    assert_eq!(recorded.1.task, report.metadata.name);
    // The reporter's own success matches no filter: still one firing.
    assert_eq!(tasks_of(&world.ns, "on-written").await.len(), 1);
    world.ns.delete().await;
}

#[tokio::test]
async fn through_the_api_a_task_streams_its_steps_and_a_signed_webhook_starts_one() {
    // The api maps workspace <id> to namespace ws-<id>.
    let world = World::new("ws", &[], |request| {
        Reply::Answer(format!("handled: {}", user_input(request)))
    })
    .await;
    let workspace = world.ns.name.trim_start_matches("ws-").to_string();
    world.agent("responder", json!({})).await;
    let api = agentarea_tests::api::ApiServer::start(&[]).await;
    let t = agentarea_tests::api::token(&workspace, "alice");
    // A task made through the api runs, and its steps stream to a real SSE client as they land.
    let (status, created) = api
        .post(
            &t,
            "/v1/tasks",
            &json!({"agent_id": "responder", "description": "stream me"}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let task_id = created["id"].as_str().unwrap().to_string();
    let mut stream = api
        .sse(&t, &format!("/v1/tasks/{task_id}/events"), None)
        .await;
    let events = stream.until("task_completed", WAIT).await;
    let names: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(
        names,
        [
            "connected",
            steps::WORKFLOW_STARTED,
            steps::LLM_CALL_STARTED,
            steps::LLM_CALL_COMPLETED,
            steps::WORKFLOW_COMPLETED,
            "task_completed"
        ],
        "{events:#?}"
    );
    assert_eq!(
        events[3].data["data"]["data"]["content"], "handled: stream me",
        "{:#?}",
        events[3]
    );
    // Resuming after step 2 sends what came after it, and the end.
    let mut resumed = api
        .sse(&t, &format!("/v1/tasks/{task_id}/events"), Some("2"))
        .await;
    let rest = resumed.until("task_completed", WAIT).await;
    assert_eq!(rest[0].id.as_deref(), Some("3"));
    let (_, task) = api.get(&t, &format!("/v1/tasks/{task_id}")).await;
    assert_eq!(task["status"], "completed", "{task}");

    let (status, hook) = api
        .post(
            &t,
            "/v1/triggers",
            &json!({"name": "alerts", "agent_id": "responder",
            "trigger_type": "webhook", "task_description": "Handle alert {{ payload.title }}"}),
        )
        .await;
    assert_eq!(status, 201, "{hook}");
    let key = hook["webhook_secret"].as_str().unwrap().to_string();
    let url = api.url(hook["webhook_url"].as_str().unwrap());
    let body = json!({"title": "disk full"}).to_string();
    let post = |key: &str| api.signed_webhook(&url, key, agentarea_tests::api::now(), &body);
    let (status, refused) = api.send(post("not-the-key")).await;
    assert_eq!(status, 401, "{refused}");
    let (status, accepted) = api.send(post(&key)).await;
    assert_eq!(status, 202, "{accepted}");

    let trigger = world
        .ns
        .api::<Trigger>()
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .pop()
        .unwrap();
    let name = trigger.metadata.name.clone().unwrap();
    let tasks = eventually("the webhook's task", WAIT, || async {
        let tasks = tasks_of(&world.ns, &name).await;
        (!tasks.is_empty()).then_some(tasks)
    })
    .await;
    assert_eq!(tasks.len(), 1, "the refused request created nothing");
    let task = world
        .finished(&tasks[0].metadata.name.clone().unwrap())
        .await;
    assert_eq!(phase(&task), Some(TaskPhase::Succeeded));
    // The agent is given the rendered input, then the task's parameters (the trigger's data).
    let handled = result_text(&task);
    assert!(
        handled.starts_with("handled: Handle alert disk full\n\nParameters:"),
        "{handled}"
    );
    assert!(
        handled.contains("\"trigger_type\":\"webhook\""),
        "{handled}"
    );

    let trigger_id = hook["id"].as_str().unwrap();
    let executions = eventually("the execution through the api", WAIT, || async {
        let (_, executions) = api
            .get(&t, &format!("/v1/triggers/{trigger_id}/executions"))
            .await;
        (executions["executions"][0]["status"] == "succeeded").then_some(executions)
    })
    .await;
    assert_eq!(executions["total"], 1);
    let executions = &executions["executions"];
    assert_eq!(executions[0]["trigger_id"], trigger_id);
    assert_eq!(
        executions[0]["task_id"].as_str(),
        task.metadata.uid.as_deref()
    );
    world.ns.delete().await;
}
