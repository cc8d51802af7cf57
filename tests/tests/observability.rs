//! Operating the product: `/metrics` on the operator and the api move with real work, a Task's
//! run reaches a real OpenTelemetry Collector as one trace (from the REST request through the
//! model calls and the tool call into the MCP bridge), and a failure's status names its cause.

use std::collections::BTreeSet;
use std::time::Duration;

use agentarea_api::workspace::namespace_for;
use agentarea_crds::common::condition;
use agentarea_crds::{Agent, McpServerInstance};
use agentarea_tests::api::{ApiServer, token};
use agentarea_tests::dashboard::{dashboard_metric_families, metric_family};
use agentarea_tests::mcp_servers::{Operator, bridge_with_env, time_server_command};
use agentarea_tests::metrics::{sample, scrape};
use agentarea_tests::model::{Reply, ScriptedModel};
use agentarea_tests::namespace::TestNamespace;
use agentarea_tests::otel::{Collector, OtlpProtocol, Span};
use agentarea_tests::{create, eventually};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(60);

/// The trace id the client starts, and the span it calls from.
const CLIENT_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";

/// The model asks for the bridged time server's tool once, then answers.
fn script(request: &Value) -> Reply {
    let answered = request["messages"]
        .as_array()
        .is_some_and(|m| m.iter().any(|m| m["role"] == "tool"));
    if answered {
        Reply::Answer("It is now.".into())
    } else {
        Reply::ToolCalls(vec![(
            "get_current_time".into(),
            json!({"timezone": "UTC"}),
        )])
    }
}

#[tokio::test]
async fn a_task_run_moves_the_metrics_and_is_one_trace_at_the_collector() {
    let collector = Collector::start();
    let mut otel = collector.sdk_env(OtlpProtocol::HttpProtobuf);
    // Logs turned down must not turn traces off.
    otel.push(("RUST_LOG", "warn".into()));
    let workspace = format!("obs-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let ns = TestNamespace::named(&namespace_for(&workspace)).await;
    let model = ScriptedModel::start(script).await;
    let time = bridge_with_env(&[time_server_command().to_str().unwrap()], &otel);
    let operator = Operator::start(&ns.name, &otel).await;
    let api = ApiServer::start(&otel).await;
    create(
        &ns.api::<McpServerInstance>(),
        json!({"apiVersion": "agentarea.io/v1alpha1", "kind": "McpServerInstance",
               "metadata": {"name": "time"}, "spec": {"remote": {"url": time.url}}}),
    )
    .await;
    let agent = ready_agent(&ns, &model.url).await;

    // The client calls inside its own trace; everything after continues it.
    let t = token(&workspace, "observer");
    let request = api
        .http
        .post(api.url("/v1/tasks"))
        .bearer_auth(&t)
        .header("traceparent", format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"))
        .json(&json!({"agent_id": agent.metadata.uid, "description": "What time is it?"}));
    let (status, task) = api.send(request).await;
    assert_eq!(status, 201, "{task}");
    let task_id = task["id"].as_str().unwrap().to_string();
    eventually("the task succeeded", WAIT, || async {
        let (_, task) = api.get(&t, &format!("/v1/tasks/{task_id}")).await;
        (task["status"] == "completed").then_some(())
    })
    .await;

    // A stream read to its end, and a request without credentials, for the api's families.
    let mut events = api
        .sse(&t, &format!("/v1/tasks/{task_id}/events"), None)
        .await;
    events.until("task_completed", WAIT).await;
    drop(events);
    assert_eq!(api.get("", "/v1/agents").await.0, 401);

    let operator_page = operator.metrics().await;
    let api_page = scrape(&api.url("/metrics")).await;
    assert_operator_metrics(&operator_page, &ns.name);
    assert_api_metrics(&api_page);
    assert_the_dashboard_finds_its_series(&[&operator_page, &api_page]);
    assert_one_trace(&collector, &task_id).await;
    ns.delete().await;
}

async fn ready_agent(ns: &TestNamespace, model: &str) -> Agent {
    let api = ns.api::<Agent>();
    create(
        &api,
        json!({"apiVersion": "agentarea.io/v1alpha1", "kind": "Agent", "metadata": {"name": "clock"},
               "spec": {"instruction": "Tell the time.",
                        "model": {"name": "scripted", "endpoint": model},
                        "mcpServers": [{"name": "time"}]}}),
    )
    .await;
    eventually("agent clock Ready", WAIT, || async {
        let agent = api.get("clock").await.ok()?;
        let conditions = &agent.status.as_ref()?.conditions;
        agentarea_crds::common::is_condition_true(Some(conditions), condition::READY)
            .then_some(agent)
    })
    .await
}

fn assert_operator_metrics(page: &str, namespace: &str) {
    let at_least = |series: &str, least: f64| {
        let value = sample(page, series).unwrap_or_else(|| panic!("no {series} in:\n{page}"));
        assert!(value >= least, "{series} = {value}, want >= {least}");
    };
    at_least("agentarea_operator_tasks_started_total", 1.0);
    at_least(
        r#"agentarea_operator_tasks_finished_total{phase="Succeeded",reason="Completed"}"#,
        1.0,
    );
    at_least(
        r#"agentarea_operator_model_calls_total{model="scripted",outcome="ok"}"#,
        2.0,
    );
    at_least(
        &format!(
            r#"agentarea_operator_model_tokens_total{{namespace="{namespace}",agent="clock",model="scripted",direction="input"}}"#
        ),
        20.0,
    );
    at_least(
        &format!(
            r#"agentarea_operator_tool_calls_total{{namespace="{namespace}",instance="time",tool="get_current_time",outcome="ok"}}"#
        ),
        1.0,
    );
    at_least(
        &format!(
            r#"agentarea_operator_reconciles_total{{controller="agent",namespace="{namespace}"}}"#
        ),
        1.0,
    );
    at_least(
        r#"agentarea_operator_reconcile_duration_seconds_count{controller="mcp_server_instance"}"#,
        1.0,
    );
    at_least(
        r#"agentarea_operator_mcp_server_instances{phase="Running"}"#,
        1.0,
    );
    at_least(
        r#"agentarea_operator_mcp_discovery_duration_seconds_count{outcome="ok"}"#,
        1.0,
    );
    assert_eq!(sample(page, "agentarea_operator_tasks_running"), Some(0.0));
}

fn assert_api_metrics(page: &str) {
    let created =
        r#"agentarea_api_http_requests_total{method="POST",route="/v1/tasks",status="201"}"#;
    assert_eq!(sample(page, created), Some(1.0), "{page}");
    let visible = r#"agentarea_api_watch_cache_write_visibility_seconds_count{kind="Task"}"#;
    assert!(sample(page, visible).is_some_and(|n| n >= 1.0), "{page}");
}

/// Families that only an event this run does not cause fills: a trigger firing, a failed
/// reconcile, a compound gateway request, a watch error, a write the cache missed.
const NOT_EXERCISED: &[&str] = &[
    "agentarea_operator_trigger_firings_total",
    "agentarea_operator_trigger_schedule_lag_seconds",
    "agentarea_operator_reconcile_failures_total",
    "agentarea_operator_objects_backing_off",
    "agentarea_operator_mcp_gateway_requests_total",
    "agentarea_api_watch_cache_errors_total",
    "agentarea_api_watch_cache_write_timeouts_total",
];

/// Every family the chart's Grafana dashboard queries is one the binaries export (a rename
/// breaks this test, not a dashboard nobody looks at), and after a run it has series.
fn assert_the_dashboard_finds_its_series(pages: &[&str]) {
    let exported: BTreeSet<String> = pages
        .iter()
        .flat_map(|page| page.lines())
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| line.split(['{', ' ']).next())
        .map(|sample| metric_family(sample).to_string())
        .collect();
    let missing: Vec<String> = dashboard_metric_families()
        .into_iter()
        .filter(|family| !exported.contains(family) && !NOT_EXERCISED.contains(&family.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "the dashboard queries families with no series: {missing:?}"
    );
}

/// One trace from the client's request to the stdio server's bridge, each span where it belongs.
async fn assert_one_trace(collector: &Collector, task_id: &str) {
    let root = collector
        .wait_for_spans(
            |s| s.attribute_str("agentarea.task.id") == Some(task_id),
            WAIT,
        )
        .await
        .remove(0);
    assert_eq!(
        root.trace_id, CLIENT_TRACE,
        "the run continues the client's trace"
    );
    assert_eq!(root.name, "invoke_agent clock");
    assert_eq!(root.service_name.as_deref(), Some("agentarea-operator"));
    assert_eq!(
        root.attribute_str("agentarea.task.phase"),
        Some("Succeeded")
    );

    // Spans end (and are exported) bottom-up; wait for the last ones to arrive.
    let trace = eventually("the whole trace at the collector", WAIT, || async {
        let trace = collector.trace(CLIENT_TRACE);
        let bridged = trace
            .iter()
            .any(|s| s.service_name.as_deref() == Some("agentarea-mcp-bridge"));
        let requested = trace
            .iter()
            .any(|s| s.service_name.as_deref() == Some("agentarea-api"));
        (bridged && requested).then_some(trace)
    })
    .await;
    let named = |name: &str| -> Vec<&Span> { trace.iter().filter(|s| s.name == name).collect() };

    let request = named("POST /v1/tasks");
    assert_eq!(request.len(), 1, "{trace:#?}");
    assert_eq!(request[0].parent_span_id.as_deref(), Some(CLIENT_SPAN));
    assert_eq!(
        root.parent_span_id.as_deref(),
        Some(request[0].span_id.as_str())
    );

    let chats = named("chat scripted");
    assert_eq!(chats.len(), 2, "{trace:#?}");
    for chat in &chats {
        assert_eq!(chat.parent_span_id.as_deref(), Some(root.span_id.as_str()));
        assert_eq!(chat.attribute_str("gen_ai.request.model"), Some("scripted"));
        assert_eq!(chat.attribute_str("gen_ai.operation.name"), Some("chat"));
        assert_eq!(
            chat.attributes.get("gen_ai.usage.input_tokens"),
            Some(&json!(10))
        );
        assert_eq!(
            chat.attributes.get("gen_ai.usage.output_tokens"),
            Some(&json!(5))
        );
    }

    let tools = named("execute_tool get_current_time");
    assert_eq!(tools.len(), 1, "{trace:#?}");
    let tool = tools[0];
    assert_eq!(tool.parent_span_id.as_deref(), Some(root.span_id.as_str()));
    assert_eq!(
        tool.attribute_str("gen_ai.tool.name"),
        Some("get_current_time")
    );
    assert_eq!(
        tool.attribute_str("agentarea.mcp_server_instance"),
        Some("time")
    );

    // The tool call's context went over HTTP: the bridge's spans hang under it.
    let bridged: Vec<&Span> = trace
        .iter()
        .filter(|s| s.service_name.as_deref() == Some("agentarea-mcp-bridge"))
        .collect();
    assert!(
        bridged
            .iter()
            .any(|s| s.parent_span_id.as_deref() == Some(tool.span_id.as_str())),
        "{bridged:#?}"
    );
}

#[tokio::test]
async fn an_unreachable_server_is_told_by_its_cause_without_type_names() {
    let ns = TestNamespace::create("obs-refused").await;
    let operator = Operator::start(&ns.name, &[]).await;
    let api = ns.api::<McpServerInstance>();
    // A port nothing listens on: the OS refuses the connection.
    let url = format!("http://127.0.0.1:{}/mcp", agentarea_tests::free_port());
    create(
        &api,
        json!({"apiVersion": "agentarea.io/v1alpha1", "kind": "McpServerInstance",
               "metadata": {"name": "refused"}, "spec": {"remote": {"url": url}}}),
    )
    .await;
    let message = eventually("the instance not Ready", WAIT, || async {
        let instance = api.get("refused").await.ok()?;
        let ready = instance
            .status?
            .conditions
            .into_iter()
            .find(|c| c.type_ == condition::READY && c.status == "False")?;
        Some(ready.message)
    })
    .await;
    assert_eq!(
        message,
        format!("could not connect to {url}: connection refused")
    );

    let page = operator.metrics().await;
    let failed = r#"agentarea_operator_mcp_discovery_duration_seconds_count{outcome="error"}"#;
    assert!(sample(&page, failed).is_some_and(|n| n >= 1.0), "{page}");
    let backing_off = r#"agentarea_operator_objects_backing_off{controller="mcp_discovery"}"#;
    assert_eq!(sample(&page, backing_off), Some(1.0), "{page}");
    ns.delete().await;
}

/// A reconcile writes status; that write must not come back as a reason to reconcile (for an
/// instance, to ask the tenant's server for its tools) again. The count of discoveries shows it.
#[tokio::test]
async fn an_instance_is_discovered_once_not_again_for_its_own_status_write() {
    let ns = TestNamespace::create("obs-once").await;
    let server = agentarea_tests::mcp_servers::everything_server();
    let operator = Operator::start(&ns.name, &[]).await;
    let api = ns.api::<McpServerInstance>();
    create(
        &api,
        json!({"apiVersion": "agentarea.io/v1alpha1", "kind": "McpServerInstance",
               "metadata": {"name": "once"},
               "spec": {"remote": {"url": server.url}, "discoveryIntervalSeconds": 600}}),
    )
    .await;
    eventually("the instance Ready", WAIT, || async {
        let instance = api.get("once").await.ok()?;
        let conditions = &instance.status.as_ref()?.conditions;
        agentarea_crds::common::is_condition_true(Some(conditions), condition::READY).then_some(())
    })
    .await;
    // The write's watch event arrives within milliseconds; give it ample time to show.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let page = operator.metrics().await;
    let discoveries = r#"agentarea_operator_mcp_discovery_duration_seconds_count{outcome="ok"}"#;
    assert_eq!(sample(&page, discoveries), Some(1.0), "{page}");
    ns.delete().await;
}
