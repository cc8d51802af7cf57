//! The harness's OpenTelemetry Collector (`agentarea_tests::otel`) on its own, without our product:
//! a span sent to it over OTLP/HTTP comes back out of `Collector::spans` with its ids, parent,
//! attributes and service name.

use std::time::Duration;

use agentarea_tests::otel::Collector;
use serde_json::json;

#[tokio::test]
async fn a_span_posted_over_otlp_http_is_what_the_collector_received() {
    let collector = Collector::start();
    let trace_id = uuid::Uuid::new_v4().simple().to_string();
    let task_id = uuid::Uuid::new_v4().to_string();
    let body = json!({
        "resourceSpans": [{
            "resource": {
                "attributes": [{"key": "service.name", "value": {"stringValue": "harness-check"}}]
            },
            "scopeSpans": [{
                "scope": {"name": "agentarea-tests"},
                "spans": [{
                    "traceId": trace_id,
                    "spanId": "00f067aa0ba902b7",
                    "parentSpanId": "53995c3f42cd8ad8",
                    "name": "task.run",
                    "kind": 2,
                    "startTimeUnixNano": "1700000000000000000",
                    "endTimeUnixNano": "1700000000500000000",
                    "attributes": [
                        {"key": "agentarea.task.id", "value": {"stringValue": task_id}},
                        {"key": "agentarea.task.attempt", "value": {"intValue": "2"}},
                        {"key": "agentarea.task.streamed", "value": {"boolValue": true}}
                    ],
                    "status": {"code": 1}
                }]
            }]
        }]
    });

    let response = reqwest::Client::new()
        .post(format!("{}/v1/traces", collector.otlp_http_endpoint()))
        .json(&body)
        .send()
        .await
        .expect("POST /v1/traces");
    assert!(
        response.status().is_success(),
        "the collector refused the export: {} {}",
        response.status(),
        response.text().await.unwrap_or_default()
    );

    let spans = collector
        .wait_for_spans(
            |span| span.attribute_str("agentarea.task.id") == Some(task_id.as_str()),
            Duration::from_secs(10),
        )
        .await;
    assert_eq!(spans.len(), 1, "{spans:#?}");
    let span = &spans[0];
    assert_eq!(span.trace_id, trace_id);
    assert_eq!(span.span_id, "00f067aa0ba902b7");
    assert_eq!(span.parent_span_id.as_deref(), Some("53995c3f42cd8ad8"));
    assert_eq!(span.name, "task.run");
    assert_eq!(span.kind, 2);
    assert_eq!(span.status_code, 1);
    assert_eq!(span.service_name.as_deref(), Some("harness-check"));
    assert_eq!(span.scope_name, "agentarea-tests");
    assert_eq!(span.attribute_i64("agentarea.task.attempt"), Some(2));
    assert_eq!(span.attributes["agentarea.task.streamed"], json!(true));
    assert_eq!(collector.trace(&trace_id), spans);

    // The gRPC receiver listens too, for SDKs that export over gRPC.
    let grpc = collector.otlp_grpc_endpoint();
    std::net::TcpStream::connect(grpc.trim_start_matches("http://"))
        .expect("the OTLP/gRPC receiver accepts connections");
}
