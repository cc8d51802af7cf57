//! The agent loop of one task: send the instructions, the conversation and the tools to the
//! model; when it asks for tool calls, make them over MCP (in parallel) and feed the results back;
//! repeat until it answers without tool calls or a limit is reached. Each event becomes a step in
//! the task's status as it happens.
//!
//! The wall-clock timeout, cancellation and loss of the claim are the caller's: it drops this
//! future when one of them happens.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::ResourceExt;
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tracing::Instrument;

use agentarea_crds::agent::{AgentLimits, ModelSpec};
use agentarea_crds::task::Usage;
use agentarea_crds::{Agent, TaskPhase, reasons, steps};

use super::record::{RecordError, Step, TaskRecord};
use super::toolbox::Toolbox;
use crate::context::Context;
use crate::model::{self, Completion, Message, ModelEndpoint};
use crate::problem::Problem;
use crate::secrets::secret_value;

/// How a run ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub phase: TaskPhase,
    /// CamelCase, for `status.reason`.
    pub reason: &'static str,
    pub message: String,
    pub result: Option<Value>,
}

impl Outcome {
    pub fn failed(reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            phase: TaskPhase::Failed,
            reason,
            message: message.into(),
            result: None,
        }
    }

    pub fn cancelled(message: impl Into<String>) -> Self {
        Self {
            phase: TaskPhase::Cancelled,
            reason: reasons::CANCELLED,
            message: message.into(),
            result: None,
        }
    }
}

impl From<Problem> for Outcome {
    fn from(problem: Problem) -> Self {
        Self::failed(problem.reason, problem.message)
    }
}

/// Attempts of one model call when the endpoint is down or overloaded (429, 5xx).
const MODEL_ATTEMPTS: u32 = 3;

pub type SharedRecord = Arc<Mutex<TaskRecord>>;

/// Runs the loop for the task in `record` with `agent`. An `Err` means the task can no longer be
/// written (deleted, or claimed by another runner): the run is abandoned, not finished.
pub async fn execute(
    ctx: Arc<Context>,
    record: SharedRecord,
    agent: Agent,
) -> Result<Outcome, RecordError> {
    let mut run = match Run::prepare(ctx, record, &agent).await {
        Ok(run) => run,
        Err(problem) => return Ok(problem.into()),
    };
    let limits = &agent.spec.limits;
    for step in 1..=limits.max_steps {
        if let ControlFlow::Break(outcome) = run.step(step, limits).await? {
            return Ok(outcome);
        }
    }
    Ok(Outcome::failed(
        reasons::MAX_STEPS_EXCEEDED,
        format!(
            "the model was still calling tools after {} steps (spec.limits.maxSteps)",
            limits.max_steps
        ),
    ))
}

/// One run in progress: what the model is offered and what it has said so far.
struct Run {
    ctx: Arc<Context>,
    record: SharedRecord,
    namespace: String,
    agent: String,
    endpoint: ModelEndpoint,
    tools: Toolbox,
    messages: Vec<Message>,
    usage: Usage,
    /// The error of the last tool calls, until the model calls a tool again.
    unanswered_tool_error: Option<String>,
}

impl Run {
    /// Resolves the model endpoint and connects the tools; a problem here ends the task before
    /// the first model call.
    async fn prepare(
        ctx: Arc<Context>,
        record: SharedRecord,
        agent: &Agent,
    ) -> Result<Self, Problem> {
        let task = record.lock().await.task().clone();
        let namespace = task.namespace().unwrap_or_default();
        let endpoint = model_endpoint(&ctx, agent, &namespace).await?;
        let tools = Toolbox::load(&ctx, agent, &namespace).await;
        let messages = vec![
            Message::system(instructions(agent)),
            Message::user(user_message(
                &task.spec.input,
                task.spec.parameters.as_ref(),
            )),
        ];
        Ok(Self {
            ctx,
            record,
            namespace,
            agent: agent.name_any(),
            endpoint,
            tools,
            messages,
            usage: Usage::default(),
            unanswered_tool_error: None,
        })
    }

    /// One model call and the tool calls it asks for; `Break` when the run ends here.
    async fn step(
        &mut self,
        step: i32,
        limits: &AgentLimits,
    ) -> Result<ControlFlow<Outcome>, RecordError> {
        if self.record.lock().await.task().spec.cancel {
            return Ok(ControlFlow::Break(Outcome::cancelled(
                "cancelled by request",
            )));
        }
        let completion = match call_model(
            &self.ctx,
            &self.record,
            &self.endpoint,
            &self.messages,
            &self.tools,
            step,
        )
        .await?
        {
            Ok(completion) => completion,
            Err(outcome) => return Ok(ControlFlow::Break(outcome)),
        };
        add_usage(&mut self.usage, &completion);
        self.ctx.metrics.tasks.tokens(
            &self.namespace,
            &self.agent,
            &self.endpoint.model,
            completion.usage.prompt_tokens,
            completion.usage.completion_tokens,
        );
        record_completion(&self.record, &completion, &self.usage, step).await;
        if let Some(outcome) = over_budget(&self.usage, limits.max_total_tokens) {
            return Ok(ControlFlow::Break(outcome));
        }
        if completion.message.tool_calls.is_empty() {
            let answer = completion.message.content.unwrap_or_default();
            return Ok(ControlFlow::Break(final_outcome(
                answer,
                self.unanswered_tool_error.take(),
            )));
        }
        let results = self
            .tools
            .call_all(
                &self.ctx,
                &self.record,
                &self.namespace,
                &completion.message.tool_calls,
            )
            .await?;
        self.messages.push(completion.message);
        self.unanswered_tool_error = results.iter().find_map(|r| r.error.clone());
        for result in results {
            self.messages
                .push(Message::tool(&result.call_id, result.text));
        }
        Ok(ControlFlow::Continue(()))
    }
}

/// Fails the task once it has spent more tokens than the agent's budget.
fn over_budget(usage: &Usage, budget: Option<i64>) -> Option<Outcome> {
    let budget = budget?;
    (usage.total_tokens > budget).then(|| {
        Outcome::failed(
            reasons::BUDGET_EXCEEDED,
            format!(
                "the task spent {} tokens, over the agent's budget of {budget}",
                usage.total_tokens
            ),
        )
    })
}

/// A final answer ends the task; but when the last tool calls failed and the model answered
/// without trying again, the task failed with them, and the answer is kept as its result.
fn final_outcome(answer: String, tool_error: Option<String>) -> Outcome {
    match tool_error {
        None => Outcome {
            phase: TaskPhase::Succeeded,
            reason: reasons::COMPLETED,
            message: "the agent answered".into(),
            result: Some(Value::String(answer)),
        },
        Some(error) => Outcome {
            result: Some(Value::String(answer)),
            ..Outcome::failed(reasons::TOOL_ERROR, error)
        },
    }
}

/// The effective instructions the agent controller resolved, or the agent's own.
fn instructions(agent: &Agent) -> String {
    agent
        .status
        .as_ref()
        .and_then(|s| s.instructions.clone())
        .unwrap_or_else(|| agent.spec.instruction.clone())
}

fn user_message(input: &str, parameters: Option<&Value>) -> String {
    match parameters {
        Some(Value::Object(map)) if !map.is_empty() => {
            format!("{input}\n\nParameters:\n{}", Value::Object(map.clone()))
        }
        _ => input.to_string(),
    }
}

/// The agent's model endpoint and key, or why there is none.
async fn model_endpoint(
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
    })
}

/// One model call, retried while the endpoint is down or overloaded. `Ok(Err(outcome))` when it
/// failed for good; every failed attempt is a step.
async fn call_model(
    ctx: &Context,
    record: &SharedRecord,
    endpoint: &ModelEndpoint,
    messages: &[Message],
    tools: &Toolbox,
    step: i32,
) -> Result<Result<Completion, Outcome>, RecordError> {
    record
        .lock()
        .await
        .append(&[Step::new(
            steps::LLM_CALL_STARTED,
            format!("step {step}: asking {}", endpoint.model),
        )
        .with_data(json!({ "step": step, "model": endpoint.model, "messages": messages.len() }))])
        .await?;
    let mut attempt = 1;
    loop {
        match complete_observed(ctx, endpoint, messages, tools, step, attempt).await {
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
                        reasons::MODEL_ERROR,
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
    endpoint: &ModelEndpoint,
    messages: &[Message],
    tools: &Toolbox,
    step: i32,
    attempt: u32,
) -> Result<Completion, model::ModelError> {
    let span = tracing::info_span!(
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
    let result = model::complete(&ctx.http, endpoint, messages, &tools.definitions)
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

/// The host of `url`, for `server.address`.
fn host_of(url: &str) -> String {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default()
}

fn add_usage(total: &mut Usage, completion: &Completion) {
    total.prompt_tokens += completion.usage.prompt_tokens;
    total.completion_tokens += completion.usage.completion_tokens;
    total.total_tokens += completion.usage.total_tokens;
}

/// Stages the model's answer: what follows at once (the tool calls it asks for, or the end of the
/// run) writes it.
async fn record_completion(
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
        super::record::push_step(status, &step);
        status.usage = Some(usage.clone());
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_spending_more_than_the_budget_fails_the_task() {
        let spent = |total_tokens| Usage {
            total_tokens,
            ..Usage::default()
        };
        for (total, budget, fails) in [
            (100, None, false),
            (100, Some(100), false),
            (101, Some(100), true),
            (0, Some(0), false),
        ] {
            let outcome = over_budget(&spent(total), budget);
            assert_eq!(outcome.is_some(), fails, "{total} tokens of {budget:?}");
            if let Some(outcome) = outcome {
                assert_eq!(outcome.reason, reasons::BUDGET_EXCEEDED);
                assert!(
                    outcome.message.contains("101 tokens"),
                    "{}",
                    outcome.message
                );
            }
        }
    }

    #[test]
    fn an_unanswered_tool_error_fails_the_task_but_keeps_the_answer() {
        let outcome = final_outcome("sorry".into(), Some("echo failed".into()));
        assert_eq!(outcome.phase, TaskPhase::Failed);
        assert_eq!(outcome.reason, reasons::TOOL_ERROR);
        assert_eq!(outcome.result, Some(Value::String("sorry".into())));
        assert_eq!(
            final_outcome("done".into(), None).phase,
            TaskPhase::Succeeded
        );
    }

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

    #[test]
    fn parameters_follow_the_input() {
        assert_eq!(user_message("hi", None), "hi");
        assert_eq!(user_message("hi", Some(&json!({}))), "hi");
        assert!(user_message("hi", Some(&json!({"a": 1}))).ends_with("{\"a\":1}"));
    }
}
