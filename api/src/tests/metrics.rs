//! The api's metrics move with real requests: counted by route template (never by path), auth
//! refusals by kind, open SSE streams while a client reads one.

use agentarea_support::metrics::prometheus_client::encoding::text::encode;

use super::*;

fn scrape(state: &AppState) -> String {
    let mut text = String::new();
    encode(&mut text, &state.metrics.registry).unwrap();
    text
}

/// The value of the sample line that starts with `series` (name and labels), if any.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

#[tokio::test]
async fn requests_are_counted_by_route_template_and_status() {
    let state = state_with(Objects {
        agents: vec![agent(WORKSPACE, "helper", 1)],
        ..Objects::default()
    });
    let uid = state.agents.all()[0].metadata.uid.clone().unwrap();
    for path in [format!("/v1/agents/{uid}"), "/v1/agents/not-there".into()] {
        call(router(state.clone()), get(&path)).await;
    }
    call(router(state.clone()), get("/v1/agents/%FF")).await;
    call(router(state.clone()), get("/no/such/path")).await;

    let text = scrape(&state);
    let by_id = r#"agentarea_api_http_requests_total{method="GET",route="/v1/agents/{id}""#;
    assert_eq!(
        sample(&text, &format!(r#"{by_id},status="200"}}"#)),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, &format!(r#"{by_id},status="404"}}"#)),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, &format!(r#"{by_id},status="400"}}"#)),
        Some(1.0),
        "{text}"
    );
    let unmatched =
        r#"agentarea_api_http_requests_total{method="GET",route="unmatched",status="404"}"#;
    assert_eq!(sample(&text, unmatched), Some(1.0), "{text}");
    assert!(!text.contains(&uid), "no ids in labels: {text}");
    let latency = r#"agentarea_api_http_request_duration_seconds_count{method="GET",route="/v1/agents/{id}"}"#;
    assert_eq!(sample(&text, latency), Some(3.0), "{text}");
}

#[tokio::test]
async fn auth_refusals_are_counted_by_kind_and_never_by_token() {
    let state = state_with(Objects::default());
    let unauthenticated = Request::get("/v1/agents").body(Body::empty()).unwrap();
    call(router(state.clone()), unauthenticated).await;
    let forged = authed("GET", "/v1/agents", "not.a.jwt")
        .body(Body::empty())
        .unwrap();
    call(router(state.clone()), forged).await;
    call(router(state.clone()), get("/v1/agents")).await;

    let text = scrape(&state);
    let kind = |kind: &str| {
        sample(
            &text,
            &format!(r#"agentarea_api_auth_failures_total{{kind="{kind}"}}"#),
        )
    };
    assert_eq!(kind("missing"), Some(1.0), "{text}");
    assert_eq!(kind("invalid_token"), Some(1.0), "{text}");
    assert!(!text.contains("not.a.jwt"));
}

#[tokio::test]
async fn an_sse_stream_counts_as_open_while_the_client_reads_it() {
    let state = state_with(Objects::default());
    let open = r#"agentarea_api_sse_streams_open{stream="workspace"}"#;
    let response = router(state.clone())
        .oneshot(get("/v1/events"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(sample(&scrape(&state), open), Some(1.0));
    drop(response);
    assert_eq!(sample(&scrape(&state), open), Some(0.0));
}
