//! One model call of a run: the endpoint and key it goes to, the call with its retries (each
//! attempt timed, counted and traced as a `chat {model}` span), and the step that records its
//! answer.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tracing::Instrument;

use agentarea_crds::agent::ModelSpec;
use agentarea_crds::task::Usage;
use agentarea_crds::{Agent, reasons, steps};

use super::outcome::Outcome;
use super::toolbox::Toolbox;
use crate::context::Context;
use crate::controllers::task::record::{RecordError, SharedRecord, Step, push_step};
use agentarea_support::egress::EgressPolicy;

use crate::model::{self, Completion, Message, ModelEndpoint};
use crate::problem::Problem;
use crate::secrets::secret_value;

/// Attempts of one model call when the endpoint is down or overloaded (429, 5xx).
const MODEL_ATTEMPTS: u32 = 3;

/// The agent's model endpoint and key, or why there is none.
pub async fn model_endpoint(
    ctx: &Context,
    agent: &Agent,
    namespace: &str,
) -> Result<ModelEndpoint, Problem> {
    let model = &agent.spec.model;
    let api_key = match &model.api_key_secret_ref {
        Some(key) => Some(secret_value(&ctx.client, namespace, &key.name, &key.key).await),
        None => None,
    };
    let defaults = &ctx.config;
    choose_model_endpoint(
        model,
        defaults.default_model_endpoint.as_deref(),
        defaults.default_model_api_key.as_deref(),
        api_key,
    )
}

/// The agent's endpoint, else the operator's default; the key the agent names (`api_key`, as its
/// Secret was read), else the operator's default key, which goes only with the default endpoint.
fn choose_model_endpoint(
    model: &ModelSpec,
    default_endpoint: Option<&str>,
    default_api_key: Option<&str>,
    api_key: Option<Result<String, Problem>>,
) -> Result<ModelEndpoint, Problem> {
    let base_url = model
        .endpoint
        .clone()
        .or_else(|| default_endpoint.map(str::to_string))
        .ok_or_else(|| {
            Problem::new(
                reasons::NO_MODEL_ENDPOINT,
                "the agent names no model endpoint and the operator has no default",
            )
        })?;
    let api_key = match api_key {
        Some(key) => Some(key?),
        None if model.endpoint.is_none() => default_api_key.map(str::to_string),
        None => None,
    };
    Ok(ModelEndpoint {
        base_url,
        api_key,
        model: model.name.clone(),
        temperature: model.temperature,
        max_output_tokens: model.max_output_tokens,
        named_by_agent: model.endpoint.is_some(),
    })
}

/// How long a model call may take before what is staged (that it started) is written on its
/// own. A model call has no effect to record ahead of it (unlike a tool call, which may not be
/// repeated), so its start needs no write of its own when the answer comes soon: it goes out
/// with the answer's write. A watcher sees a slow call's start this much late.
const PROGRESS_DELAY: Duration = Duration::from_millis(250);

/// Awaits `call`, writing the record's staged steps if it takes longer than [`PROGRESS_DELAY`].
async fn written_if_slow<T>(
    record: &SharedRecord,
    call: impl Future<Output = T>,
) -> Result<T, RecordError> {
    let mut call = std::pin::pin!(call);
    tokio::select! {
        done = &mut call => return Ok(done),
        () = tokio::time::sleep(PROGRESS_DELAY) => {}
    }
    record.lock().await.flush().await?;
    Ok(call.await)
}

/// One model call, retried while the endpoint is down or overloaded. `Ok(Err(outcome))` when it
/// failed for good; every failed attempt is a step.
pub async fn call_model(
    ctx: &Context,
    namespace: &str,
    record: &SharedRecord,
    endpoint: &ModelEndpoint,
    messages: &[Message],
    tools: &Toolbox,
    step: i32,
) -> Result<Result<Completion, Outcome>, RecordError> {
    let started = Step::new(
        steps::LLM_CALL_STARTED,
        format!("step {step}: asking {}", endpoint.model),
    )
    .with_data(json!({ "step": step, "model": endpoint.model, "messages": messages.len() }));
    record.lock().await.stage_step(started);
    let mut attempt = 1;
    loop {
        let call = complete_observed(ctx, namespace, endpoint, messages, tools, step, attempt);
        match written_if_slow(record, call).await? {
            Ok(completion) => return Ok(Ok(completion)),
            Err(error) => {
                let retry = error.is_transient() && attempt < MODEL_ATTEMPTS;
                record
                    .lock()
                    .await
                    .append(&[Step::new(steps::LLM_CALL_FAILED, error.to_string())
                        .with_data(json!({ "step": step, "attempt": attempt, "retrying": retry }))])
                    .await?;
                if !retry {
                    return Ok(Err(Outcome::failed(
                        error.reason(),
                        format!("model {}: {error}", endpoint.model),
                    )));
                }
                tokio::time::sleep(Duration::from_secs(1 << (attempt - 1))).await;
                attempt += 1;
            }
        }
    }
}

/// One attempt at a model call, timed and counted, in a span that follows the OpenTelemetry
/// GenAI conventions (`chat {model}`, with the token usage the endpoint reported).
async fn complete_observed(
    ctx: &Context,
    namespace: &str,
    endpoint: &ModelEndpoint,
    messages: &[Message],
    tools: &Toolbox,
    step: i32,
    attempt: u32,
) -> Result<Completion, model::ModelError> {
    let span = tracing::info_span!(
        target: agentarea_support::telemetry::SPANS,
        "chat",
        otel.name = format!("chat {}", endpoint.model),
        otel.kind = "client",
        otel.status_code = tracing::field::Empty,
        gen_ai.operation.name = "chat",
        gen_ai.provider.name = "openai",
        gen_ai.request.model = %endpoint.model,
        gen_ai.usage.input_tokens = tracing::field::Empty,
        gen_ai.usage.output_tokens = tracing::field::Empty,
        gen_ai.response.finish_reasons = tracing::field::Empty,
        server.address = host_of(&endpoint.base_url),
        agentarea.step = step,
        agentarea.attempt = attempt,
    );
    let started = Instant::now();
    let (http, egress) = client_for(ctx, namespace, endpoint).await;
    let result = model::complete(
        &http,
        egress.as_ref(),
        endpoint,
        messages,
        &tools.definitions,
    )
    .instrument(span.clone())
    .await;
    ctx.metrics
        .tasks
        .model_call(&endpoint.model, started.elapsed(), result.is_ok());
    match &result {
        Ok(completion) => {
            span.record("gen_ai.usage.input_tokens", completion.usage.prompt_tokens);
            span.record(
                "gen_ai.usage.output_tokens",
                completion.usage.completion_tokens,
            );
            if let Some(reason) = &completion.finish_reason {
                span.record("gen_ai.response.finish_reasons", reason.as_str());
            }
        }
        Err(error) => {
            span.record("otel.status_code", "ERROR");
            span.in_scope(|| tracing::warn!(%error, "model call failed"));
        }
    }
    result
}

/// The HTTP client (and the policy it enforces) to call `endpoint` with for the workspace in
/// `namespace`. An agent's own endpoint is the workspace's choice, so it goes through the
/// workspace's egress policy; the operator's default is the administrator's.
pub async fn client_for(
    ctx: &Context,
    namespace: &str,
    endpoint: &ModelEndpoint,
) -> (reqwest::Client, Option<EgressPolicy>) {
    if endpoint.named_by_agent {
        let (policy, http) = ctx.egress.http(namespace).await;
        (http, Some(policy))
    } else {
        (ctx.http.clone(), None)
    }
}

/// The host of `url`, for `server.address`.
fn host_of(url: &str) -> String {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default()
}

pub fn add_usage(total: &mut Usage, completion: &Completion) {
    total.prompt_tokens += completion.usage.prompt_tokens;
    total.completion_tokens += completion.usage.completion_tokens;
    total.total_tokens += completion.usage.total_tokens;
}

/// Stages the model's answer: what follows at once (the tool calls it asks for, or the end of the
/// run) writes it.
pub async fn record_completion(
    record: &SharedRecord,
    completion: &Completion,
    usage: &Usage,
    step: i32,
) {
    let message = &completion.message;
    let summary = match (&message.content, message.tool_calls.len()) {
        (Some(content), 0) => content.clone(),
        (_, n) => format!(
            "asked for {n} tool call(s): {}",
            message
                .tool_calls
                .iter()
                .map(|c| c.function.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let calls: Vec<Value> = message
        .tool_calls
        .iter()
        .map(|c| json!({ "id": c.id, "name": c.function.name, "arguments": c.function.arguments }))
        .collect();
    let step = Step::new(steps::LLM_CALL_COMPLETED, summary).with_data(json!({
        "step": step,
        "content": message.content,
        "tool_calls": calls,
        "usage": completion.usage,
        "finish_reason": completion.finish_reason,
    }));
    let usage = usage.clone();
    record.lock().await.stage(move |status| {
        push_step(status, &step);
        status.usage = Some(usage.clone());
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_endpoint_is_the_agents_else_the_operators_and_so_is_its_key() {
        let model = |endpoint: Option<&str>| ModelSpec {
            name: "gpt".into(),
            endpoint: endpoint.map(Into::into),
            ..ModelSpec::default()
        };
        let agents = || Some(Ok("agent-key".to_string()));
        let missing = || {
            Some(Err(Problem::new(
                reasons::SECRET_NOT_FOUND,
                "Secret keys not found",
            )))
        };
        let no_endpoint = Err((
            reasons::NO_MODEL_ENDPOINT,
            "the agent names no model endpoint and the operator has no default",
        ));
        type Case = (
            &'static str,
            ModelSpec,
            Option<&'static str>,
            Option<Result<String, Problem>>,
            Result<(&'static str, Option<&'static str>), (&'static str, &'static str)>,
        );
        let cases: Vec<Case> = vec![
            (
                "the agent's endpoint, no key",
                model(Some("http://a/v1")),
                Some("http://d/v1"),
                None,
                Ok(("http://a/v1", None)),
            ),
            (
                "the agent's endpoint and key",
                model(Some("http://a/v1")),
                None,
                agents(),
                Ok(("http://a/v1", Some("agent-key"))),
            ),
            (
                "the default endpoint with the default key",
                model(None),
                Some("http://d/v1"),
                None,
                Ok(("http://d/v1", Some("default-key"))),
            ),
            (
                "the default endpoint with the agent's key",
                model(None),
                Some("http://d/v1"),
                agents(),
                Ok(("http://d/v1", Some("agent-key"))),
            ),
            (
                "the agent's key cannot be read",
                model(Some("http://a/v1")),
                None,
                missing(),
                Err((reasons::SECRET_NOT_FOUND, "Secret keys not found")),
            ),
            ("no endpoint anywhere", model(None), None, None, no_endpoint),
            (
                "no endpoint is told before the key",
                model(None),
                None,
                missing(),
                no_endpoint,
            ),
        ];
        for (case, model, default_endpoint, api_key, want) in cases {
            let got = choose_model_endpoint(&model, default_endpoint, Some("default-key"), api_key);
            let got = got
                .as_ref()
                .map(|e| (e.base_url.as_str(), e.api_key.as_deref()))
                .map_err(|p| (p.reason, p.message.as_str()));
            assert_eq!(got, want, "{case}");
        }
    }
}
