//! Tasks that stop part-way and go on, on the real apiserver with the real MCP servers and the
//! scripted model: a rolling restart and a crash of operator replicas with Tasks in flight, a
//! crash during a tool call, pause and resume on another replica with a conversation larger than
//! one object may hold, and tool calls that wait for people's approval.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use agentarea_crds::task::Decision;
use agentarea_crds::{Task, TaskPhase, reasons, steps};
use agentarea_tests::control_plane::{assert_success, control_plane};
use agentarea_tests::mcp_servers::Operator;
use agentarea_tests::model::{Reply, messages, tool_results, user_input};
use agentarea_tests::objects::step_types;
use agentarea_tests::world::{WAIT, World, phase, reason, result_text};
use agentarea_tests::{eventually, merge_patch};
use k8s_openapi::api::core::v1::Secret;
use kube::api::ListParams;
use serde_json::{Value, json};

/// The ids of the tool calls a task's runners started, once per start, in order.
fn started_calls(task: &Task) -> Vec<String> {
    task.status
        .iter()
        .flat_map(|s| &s.steps)
        .filter(|s| s.type_ == steps::TOOL_CALL_STARTED)
        .filter_map(|s| s.data.as_ref()?["tool_call_id"].as_str().map(String::from))
        .collect()
}

fn operator_env(name: &str, lease: u64) -> Vec<(&'static str, String)> {
    vec![
        ("AGENTAREA_POD_NAME", name.to_string()),
        ("AGENTAREA_TASK_CONCURRENCY", "8".to_string()),
        ("AGENTAREA_TASK_LEASE_SECONDS", lease.to_string()),
    ]
}

/// Each task: one model call that asks for a tool with a side effect (`toggle-simulated-logging`
/// declares itself neither read-only nor idempotent, so a call in doubt may not be repeated),
/// the call, and one more model call.
fn toggle_script(request: &Value) -> Reply {
    let reply = if tool_results(request) == 0 {
        Reply::ToolCalls(vec![("toggle-simulated-logging".into(), json!({}))])
    } else {
        Reply::Answer(format!("ok {}", user_input(request)))
    };
    Reply::Delayed(Duration::from_millis(800), Box::new(reply))
}

#[tokio::test]
async fn a_rolling_restart_fails_no_task_and_a_crash_fails_only_calls_in_flight() {
    let mut world = World::new("dur-roll", &operator_env("operator-a", 5), toggle_script).await;
    world
        .operators
        .push(Operator::start(&world.ns.name, &operator_env("operator-b", 5)).await);
    world
        .agent_with(
            "toggler",
            json!({"mcpServers": [{"name": "everything",
                                   "allowedTools": [{"name": "toggle-simulated-logging"}]}]}),
        )
        .await;

    // A rolling update: replica A is asked to stop (SIGTERM) with tasks in flight, and a new
    // replica starts.
    let rolled: Vec<String> = (0..40).map(|i| format!("roll-{i:02}")).collect();
    for name in &rolled {
        world.task(name, "toggler", name).await;
    }
    // SIGTERM once replica A is in the first turn of one of them: its next boundary is then the
    // tool call, where it hands the task back. (A fixed sleep was too short on a loaded machine,
    // where A had not claimed any yet; any running task was too late there, when A's only one was
    // in its last turn and finished instead.)
    let tasks = world.ns.api::<Task>();
    eventually(
        "replica A in the first turn of a task",
        Duration::from_secs(60),
        || async {
            let listed = tasks.list(&Default::default()).await.ok()?;
            listed
                .items
                .iter()
                .any(|t| {
                    phase(t) == Some(TaskPhase::Running)
                        && started_calls(t).is_empty()
                        && t.status
                            .as_ref()
                            .and_then(|s| s.claim.as_ref())
                            .is_some_and(|c| c.holder.starts_with("operator-a"))
                })
                .then_some(())
        },
    )
    .await;
    let stopping = world.operators.remove(0);
    stopping.process.signal(libc::SIGTERM);
    let status = stopping
        .process
        .exited_within(Duration::from_secs(40))
        .await;
    assert!(
        status.is_some_and(|s| s.success()),
        "replica A did not stop cleanly on SIGTERM: {status:?}"
    );
    world
        .operators
        .push(Operator::start(&world.ns.name, &operator_env("operator-c", 5)).await);
    let mut handed_back = 0;
    for name in &rolled {
        let task = world.finished(name).await;
        assert_eq!(
            phase(&task),
            Some(TaskPhase::Succeeded),
            "{name}: {:?}",
            task.status
        );
        assert_eq!(result_text(&task), format!("ok {name}"));
        let calls = started_calls(&task);
        assert_eq!(calls.len(), 1, "{name} called the tool once: {calls:?}");
        handed_back += step_types(&task).contains(&steps::RUNNER_STOPPED.to_string()) as usize;
    }
    assert!(
        handed_back > 0,
        "replica A handed no task back: SIGTERM came too late to test anything"
    );
    // Nothing was asked twice: the model saw each task's two turns once.
    let mut turns: HashMap<(String, usize), usize> = HashMap::new();
    for request in world.model.requests() {
        *turns
            .entry((user_input(&request), tool_results(&request)))
            .or_default() += 1;
    }
    for name in &rolled {
        for turn in [0, 1] {
            assert_eq!(
                turns.get(&(name.clone(), turn)),
                Some(&1),
                "{name} turn {turn}"
            );
        }
    }

    // A crash: replica B is killed with tasks in flight.
    let crashed: Vec<String> = (0..40).map(|i| format!("crash-{i:02}")).collect();
    for name in &crashed {
        world.task(name, "toggler", name).await;
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    world.operators.remove(0).process.kill();
    let mut failed = 0;
    for name in &crashed {
        let task = world.finished(name).await;
        let calls = started_calls(&task);
        let unique: HashSet<&String> = calls.iter().collect();
        assert_eq!(unique.len(), calls.len(), "{name}: a call started twice");
        match phase(&task) {
            Some(TaskPhase::Succeeded) => assert_eq!(result_text(&task), format!("ok {name}")),
            _ => {
                // Only a call in flight at the crash may fail the task, and it says which.
                assert_eq!(
                    reason(&task),
                    reasons::RUNNER_LOST,
                    "{name}: {:?}",
                    task.status
                );
                let message = task.status.as_ref().unwrap().message.clone().unwrap();
                assert!(
                    calls.iter().any(|id| message.contains(id.as_str())),
                    "{name}: {message}"
                );
                failed += 1;
            }
        }
    }
    eprintln!("after the crash, {failed} of 40 tasks had a tool call in flight and failed");
    world.ns.delete().await;
}

#[tokio::test]
async fn a_crash_during_a_tool_call_fails_the_task_unless_its_tool_is_safe_to_repeat() {
    let lease = operator_env("operator-a", 3);
    let mut world = World::new("dur-doubt", &lease, |request| {
        if tool_results(request) > 0 {
            let last = messages(request).last().cloned().unwrap_or_default();
            return Reply::Answer(last["content"].as_str().unwrap_or_default().to_string());
        }
        match user_input(request).as_str() {
            // `echo` declares itself read-only and idempotent.
            "safe" => Reply::ToolCalls(vec![("echo".into(), json!({"message": "again"}))]),
            // `toggle-simulated-logging` declares itself neither.
            _ => Reply::ToolCalls(vec![("toggle-simulated-logging".into(), json!({}))]),
        }
    })
    .await;
    world
        .agent_with(
            "doubter",
            json!({"mcpServers": [{"name": "everything", "allowedTools": [
                {"name": "echo"}, {"name": "toggle-simulated-logging"}]}]}),
        )
        .await;
    // The server freezes, so that each call is in flight when the runner dies.
    world.everything.process.signal(libc::SIGSTOP);
    world.task("safe", "doubter", "safe").await;
    world.task("unsafe", "doubter", "unsafe").await;
    let api = world.ns.api::<Task>();
    for name in ["safe", "unsafe"] {
        eventually(&format!("{name} calling its tool"), WAIT, || async {
            let task = api.get(name).await.ok()?;
            (!started_calls(&task).is_empty()).then_some(())
        })
        .await;
    }
    world.operators.remove(0).process.kill();
    world.everything.process.signal(libc::SIGCONT);
    world
        .operators
        .push(Operator::start(&world.ns.name, &operator_env("operator-b", 3)).await);

    let unsafe_task = world.finished("unsafe").await;
    assert_eq!(reason(&unsafe_task), reasons::RUNNER_LOST);
    let message = unsafe_task.status.clone().unwrap().message.unwrap();
    let call = &started_calls(&unsafe_task)[0];
    assert!(
        message.contains(call.as_str()) && message.contains("may or may not have happened"),
        "{message}"
    );
    assert_eq!(started_calls(&unsafe_task).len(), 1, "never repeated");

    let safe = world.finished("safe").await;
    assert_eq!(
        phase(&safe),
        Some(TaskPhase::Succeeded),
        "{:?}",
        safe.status
    );
    assert_eq!(result_text(&safe), "Echo: again");
    // Made again under the same id (and so the same idempotency key).
    let calls = started_calls(&safe);
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0], calls[1]);
    world.ns.delete().await;
}

/// Random letters and digits (incompressible enough that gzip does not hide the size).
fn noise(seed: u64, bytes: usize) -> String {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let alphabet = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    (0..bytes)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            alphabet[(state >> 33) as usize % alphabet.len()] as char
        })
        .collect()
}

const CALLS_PER_TURN: usize = 20;
const TURNS: usize = 3;
const ARGUMENT_BYTES: usize = 24 * 1024;

#[tokio::test]
async fn a_paused_task_with_a_conversation_larger_than_an_object_resumes_on_another_replica() {
    let mut world = World::new("dur-pause", &operator_env("operator-a", 5), |request| {
        let turn = tool_results(request) / CALLS_PER_TURN;
        if turn < TURNS {
            let calls = (0..CALLS_PER_TURN)
                .map(|i| {
                    let seed = (turn * CALLS_PER_TURN + i) as u64;
                    (
                        "echo".to_string(),
                        json!({"message": noise(seed, ARGUMENT_BYTES)}),
                    )
                })
                .collect();
            Reply::Delayed(
                Duration::from_millis(300),
                Box::new(Reply::ToolCalls(calls)),
            )
        } else {
            Reply::Answer(format!("{} tool results", tool_results(request)))
        }
    })
    .await;
    world.agent("talker", json!({"maxSteps": 10})).await;
    world.task("long", "talker", "talk at length").await;
    let api = world.ns.api::<Task>();
    // Paused after two turns of tool results: more than one object may hold.
    eventually("the third model call", WAIT, || async {
        (world.model.requests().len() >= 3).then_some(())
    })
    .await;
    merge_patch(&api, "long", json!({"spec": {"paused": true}})).await;
    let paused = world.in_phase("long", TaskPhase::Paused).await;
    let status = paused.status.clone().unwrap();
    assert!(status.claim.is_none(), "a paused task holds no claim");
    assert!(step_types(&paused).contains(&steps::WORKFLOW_PAUSED.to_string()));
    let seen_before = world.model.requests().len();

    // Nothing of the run survives in memory: the replica that paused it dies.
    world.operators.remove(0).process.kill();
    let kept = status.conversation.expect("the conversation is kept");
    let secrets = world.ns.api::<Secret>();
    let uid = paused.metadata.uid.clone().unwrap();
    let chunks = secrets
        .list(&ListParams::default().labels(&format!("agentarea.io/task-uid={uid}")))
        .await
        .unwrap();
    assert!(
        kept.bytes > 3 * 512 * 1024 && kept.chunks.len() >= 2,
        "more than one object could hold: {kept:?}"
    );
    assert!(chunks.items.len() >= kept.chunks.len());
    for chunk in &chunks.items {
        let owner = &chunk.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(owner.uid, uid, "owned by the task, so deleted with it");
    }
    world
        .operators
        .push(Operator::start(&world.ns.name, &operator_env("operator-b", 5)).await);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        world.model.requests().len(),
        seen_before,
        "a paused task does not run"
    );
    merge_patch(&api, "long", json!({"spec": {"paused": false}})).await;
    let done = world.finished("long").await;
    assert_eq!(
        phase(&done),
        Some(TaskPhase::Succeeded),
        "{:?}",
        done.status
    );
    let total = TURNS * CALLS_PER_TURN;
    assert_eq!(result_text(&done), format!("{total} tool results"));
    assert!(step_types(&done).contains(&steps::WORKFLOW_RESUMED.to_string()));
    assert!(
        done.status
            .unwrap()
            .claim
            .unwrap()
            .holder
            .starts_with("operator-b"),
        "resumed by the other replica"
    );
    // The model's last request holds the whole conversation, every argument and result intact.
    let last = world.model.requests().last().cloned().unwrap();
    let all = messages(&last);
    let arguments: Vec<String> = all
        .iter()
        .flat_map(|m| m["tool_calls"].as_array().cloned().unwrap_or_default())
        .map(|c| c["function"]["arguments"].as_str().unwrap().to_string())
        .collect();
    let results: Vec<String> = all
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| m["content"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(arguments.len(), total);
    assert_eq!(results.len(), total);
    for seed in 0..total {
        let text = noise(seed as u64, ARGUMENT_BYTES);
        assert_eq!(arguments[seed], json!({"message": text}).to_string());
        assert_eq!(results[seed], format!("Echo: {text}"));
    }
    world.ns.delete().await;
}

/// The local control plane's user: a decision made with kubectl names its writer (the chart's
/// admission policy checks it where the chart is installed).
const ADMIN: &str = "agentarea-admin";

/// Sets decisions on a task the way a person does with kubectl (`spec.approvals`).
fn kubectl_decide(namespace: &str, task: &str, approvals: Value) -> std::process::Output {
    let patch = json!({"spec": {"approvals": approvals}}).to_string();
    control_plane().kubectl([
        "patch", "task", task, "-n", namespace, "--type", "merge", "-p", &patch,
    ])
}

#[tokio::test]
async fn tool_calls_wait_for_people_who_approve_and_reject_them_with_kubectl() {
    let mut world =
        World::new(
            "dur-approve",
            &operator_env("operator-a", 5),
            |request| match tool_results(request) {
                0 => Reply::ToolCalls(vec![
                    ("echo".into(), json!({"message": "first"})),
                    ("get-sum".into(), json!({"a": 1, "b": 2})),
                ]),
                2 => Reply::ToolCalls(vec![("echo".into(), json!({"message": "second"}))]),
                _ => {
                    let last = messages(request).last().cloned().unwrap_or_default();
                    Reply::Answer(last["content"].as_str().unwrap_or_default().to_string())
                }
            },
        )
        .await;
    world
        .agent_with(
            "careful",
            json!({"mcpServers": [{"name": "everything", "allowedTools": [
                {"name": "echo", "requiresUserConfirmation": true}, {"name": "get-sum"}]}]}),
        )
        .await;
    world.task("ask", "careful", "ask first").await;
    let waiting = world.in_phase("ask", TaskPhase::AwaitingApproval).await;
    let status = waiting.status.clone().unwrap();
    assert!(status.claim.is_none(), "no replica holds a waiting task");
    assert_eq!(status.pending_approvals.len(), 1, "{status:?}");
    let first = status.pending_approvals[0].clone();
    assert_eq!(first.tool, "echo");
    assert_eq!(first.arguments, json!({"message": "first"}).to_string());
    assert!(
        first.because.contains("requiresUserConfirmation"),
        "{}",
        first.because
    );
    assert!(
        started_calls(&waiting).is_empty(),
        "no call of the turn is made yet"
    );
    assert!(step_types(&waiting).contains(&steps::HUMAN_APPROVAL_REQUESTED.to_string()));

    // The replica dies while the task waits; the decision still completes the run.
    world.operators.remove(0).process.kill();
    world
        .operators
        .push(Operator::start(&world.ns.name, &operator_env("operator-b", 5)).await);
    let approved =
        json!([{"toolCallId": first.tool_call_id, "decision": "Approved", "decidedBy": ADMIN}]);
    let output = kubectl_decide(&world.ns.name, "ask", approved.clone());
    assert_success("kubectl patch (approve)", &output);

    let again = eventually("the second echo waits", WAIT, || async {
        let task = world.ns.api::<Task>().get("ask").await.ok()?;
        let status = task.status.clone()?;
        (status.phase == Some(TaskPhase::AwaitingApproval)
            && status
                .pending_approvals
                .iter()
                .any(|p| p.arguments.contains("second")))
        .then_some(task)
    })
    .await;
    assert_eq!(started_calls(&again).len(), 2, "echo and get-sum were made");
    let second = again.status.clone().unwrap().pending_approvals[0].clone();

    // A decision is final: the apiserver refuses changing or withdrawing it.
    let changed =
        json!([{"toolCallId": first.tool_call_id, "decision": "Rejected", "decidedBy": ADMIN}]);
    let output = kubectl_decide(&world.ns.name, "ask", changed);
    assert!(!output.status.success(), "a decision was changed");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("a decision cannot be changed"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let output = kubectl_decide(&world.ns.name, "ask", json!([]));
    assert!(!output.status.success(), "a decision was withdrawn");

    let both = json!([
        {"toolCallId": first.tool_call_id, "decision": "Approved", "decidedBy": ADMIN},
        {"toolCallId": second.tool_call_id, "decision": "Rejected", "reason": "not twice", "decidedBy": ADMIN},
    ]);
    assert_success(
        "kubectl patch (reject)",
        &kubectl_decide(&world.ns.name, "ask", both),
    );
    let done = world.finished("ask").await;
    assert_eq!(
        phase(&done),
        Some(TaskPhase::Succeeded),
        "{:?}",
        done.status
    );
    // The rejection went back to the model as the tool's answer.
    assert_eq!(
        result_text(&done),
        format!("The call was rejected by {ADMIN} and not made. Reason: not twice")
    );
    let status = done.status.clone().unwrap();
    let decided: Vec<(String, Decision, Option<String>)> = status
        .approvals
        .iter()
        .map(|d| (d.tool_call_id.clone(), d.decision, d.decided_by.clone()))
        .collect();
    assert_eq!(
        decided,
        vec![
            (
                first.tool_call_id.clone(),
                Decision::Approved,
                Some(ADMIN.into())
            ),
            (
                second.tool_call_id.clone(),
                Decision::Rejected,
                Some(ADMIN.into())
            ),
        ]
    );
    assert_eq!(
        step_types(&done)
            .iter()
            .filter(|t| *t == steps::HUMAN_APPROVAL_RECEIVED)
            .count(),
        2
    );
    assert!(status.pending_approvals.is_empty());
    assert_eq!(
        started_calls(&done).len(),
        2,
        "the rejected call was not made"
    );
    world.ns.delete().await;
}

#[tokio::test]
async fn a_wait_nobody_answers_ends_as_the_agents_time_out_policy_says() {
    let world = World::new("dur-timeout", &operator_env("operator-a", 5), |request| {
        if tool_results(request) == 0 {
            return match user_input(request).as_str() {
                "reject" => Reply::ToolCalls(vec![("echo".into(), json!({"message": "hi"}))]),
                _ => Reply::ToolCalls(vec![("toggle-simulated-logging".into(), json!({}))]),
            };
        }
        let last = messages(request).last().cloned().unwrap_or_default();
        Reply::Answer(last["content"].as_str().unwrap_or_default().to_string())
    })
    .await;
    // Listed for confirmation, rejected after two seconds without a decision.
    world
        .agent_with(
            "rejecting",
            json!({"mcpServers": [{"name": "everything", "allowedTools": [
                       {"name": "echo", "requiresUserConfirmation": true}]}],
                   "toolApproval": {"timeoutSeconds": 2, "onTimeout": "Reject"}}),
        )
        .await;
    // Needs approval by its server's hints (not read-only), and fails the task after two seconds.
    world
        .agent_with(
            "failing",
            json!({"mcpServers": [{"name": "everything",
                                   "allowedTools": [{"name": "toggle-simulated-logging"}]}],
                   "toolApproval": {"policy": "NotReadOnly", "timeoutSeconds": 2, "onTimeout": "Fail"}}),
        )
        .await;
    world.task("reject", "rejecting", "reject").await;
    world.task("fail", "failing", "fail").await;

    let waiting = world.in_phase("fail", TaskPhase::AwaitingApproval).await;
    let pending = &waiting.status.as_ref().unwrap().pending_approvals[0];
    assert!(
        pending.because.contains("readOnlyHint"),
        "{}",
        pending.because
    );
    assert!(pending.deadline.is_some());

    let rejected = world.finished("reject").await;
    assert_eq!(
        phase(&rejected),
        Some(TaskPhase::Succeeded),
        "{:?}",
        rejected.status
    );
    assert_eq!(
        result_text(&rejected),
        "The call was not made: nobody approved it in time. Do not try it again."
    );
    let decision = &rejected.status.as_ref().unwrap().approvals[0];
    assert_eq!(decision.decision, Decision::Rejected);
    assert_eq!(decision.decided_by, None, "nobody decided");
    assert!(started_calls(&rejected).is_empty());

    let failed = world.finished("fail").await;
    assert_eq!(
        reason(&failed),
        reasons::APPROVAL_TIMED_OUT,
        "{:?}",
        failed.status
    );
    assert!(started_calls(&failed).is_empty());
    world.ns.delete().await;
}

#[tokio::test]
async fn an_agent_calls_another_as_a_tool_which_calls_a_tool_while_cycles_are_refused_and_cancels_reach_children()
 {
    let world = World::new("dur-agents", &operator_env("operator-a", 5), |request| {
        let last = messages(request).last().cloned().unwrap_or_default();
        let last = last["content"].as_str().unwrap_or_default().to_string();
        match (user_input(request).as_str(), tool_results(request)) {
            // The lead asks the helper; the helper calls echo.
            ("plan the trip", 0) => Reply::ToolCalls(vec![(
                "agent_helper".into(),
                json!({"input": "echo hello"}),
            )]),
            ("echo hello", 0) => {
                Reply::ToolCalls(vec![("echo".into(), json!({"message": "hello"}))])
            }
            ("echo hello", _) => Reply::Answer(format!("helper says {last}")),
            // The helper tries to call the lead back.
            ("go round", 0) => Reply::ToolCalls(vec![(
                "agent_helper".into(),
                json!({"input": "call the lead back"}),
            )]),
            ("call the lead back", 0) => {
                Reply::ToolCalls(vec![("agent_lead".into(), json!({"input": "again"}))])
            }
            // The helper thinks for a long time.
            ("wait for it", 0) => Reply::ToolCalls(vec![(
                "agent_helper".into(),
                json!({"input": "think slowly"}),
            )]),
            ("think slowly", _) => Reply::Delayed(
                Duration::from_secs(60),
                Box::new(Reply::Answer("late".into())),
            ),
            _ => Reply::Answer(last),
        }
    })
    .await;
    world
        .agent_with(
            "helper",
            json!({"description": "Echoes things.", "agents": [{"name": "lead"}],
                   "mcpServers": [{"name": "everything", "allowedTools": [{"name": "echo"}]}]}),
        )
        .await;
    world
        .agent_with("lead", json!({"agents": [{"name": "helper"}]}))
        .await;
    let api = world.ns.api::<Task>();
    let children_of = |parent: &str| {
        let api = api.clone();
        let selector = format!("agentarea.io/parent-task={parent}");
        async move {
            api.list(&ListParams::default().labels(&selector))
                .await
                .unwrap()
                .items
        }
    };

    world.task("trip", "lead", "plan the trip").await;
    let trip = world.finished("trip").await;
    assert_eq!(
        phase(&trip),
        Some(TaskPhase::Succeeded),
        "{:?}",
        trip.status
    );
    assert_eq!(result_text(&trip), "helper says Echo: hello");
    let status = trip.status.clone().unwrap();
    assert_eq!(status.children.len(), 1);
    let child = api.get(&status.children[0].name).await.unwrap();
    assert_eq!(child.spec.agent, "helper");
    assert_eq!(child.spec.parent.as_ref().unwrap().name, "trip");
    assert_eq!(
        child.metadata.owner_references.as_ref().unwrap()[0].uid,
        trip.metadata.uid.clone().unwrap()
    );
    assert_eq!(phase(&child), Some(TaskPhase::Succeeded));
    assert_eq!(started_calls(&child).len(), 1, "the helper called echo");
    // The child's limits are what the parent had left.
    let limits = child.spec.limits.clone().unwrap();
    assert_eq!(limits.max_steps, Some(20 - 1));
    let asked = trip
        .status
        .iter()
        .flat_map(|s| &s.steps)
        .find(|s| s.type_ == steps::TOOL_CALL_STARTED)
        .unwrap();
    assert_eq!(
        asked.data.as_ref().unwrap()["child_task"],
        child.metadata.name.clone().unwrap()
    );

    world.task("round", "lead", "go round").await;
    let round = world.finished("round").await;
    let helper = &children_of("round").await[0];
    let refused = helper.status.clone().unwrap();
    assert!(
        refused
            .message
            .unwrap_or_default()
            .contains("would form a cycle: lead → helper → lead"),
        "{:?}",
        helper.status
    );
    assert!(
        children_of(&helper.metadata.name.clone().unwrap())
            .await
            .is_empty()
    );
    assert!(
        result_text(&round).contains("would form a cycle"),
        "{:?}",
        round.status
    );

    world.task("wait", "lead", "wait for it").await;
    let slow = eventually("the helper thinking", WAIT, || async {
        let child = children_of("wait").await.pop()?;
        (phase(&child) == Some(TaskPhase::Running)).then_some(child)
    })
    .await;
    world.in_phase("wait", TaskPhase::AwaitingAgents).await;
    merge_patch(&api, "wait", json!({"spec": {"cancel": true}})).await;
    let cancelled = world.finished("wait").await;
    assert_eq!(phase(&cancelled), Some(TaskPhase::Cancelled));
    let child = world.finished(&slow.metadata.name.clone().unwrap()).await;
    assert_eq!(
        phase(&child),
        Some(TaskPhase::Cancelled),
        "cancelling a parent cancels its child"
    );
    world.ns.delete().await;
}
