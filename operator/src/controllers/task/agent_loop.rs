//! The agent loop of one task: send the instructions, the conversation and the tools to the
//! model; when it asks for tool calls, make them over MCP (in parallel) and feed the results back;
//! repeat until it answers without tool calls or a limit is reached. Each event becomes a step in
//! the task's status as it happens.
//!
//! The wall-clock timeout, cancellation and loss of the claim are the caller's: it drops this
//! future when one of them happens.

use std::sync::Arc;
use std::time::Duration;

use kube::ResourceExt;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use agentarea_crds::agent::ModelSpec;
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
    let (task, namespace) = {
        let record = record.lock().await;
        let task = record.task().clone();
        let namespace = task.namespace().unwrap_or_default();
        (task, namespace)
    };
    let endpoint = match model_endpoint(&ctx, &agent, &namespace).await {
        Ok(endpoint) => endpoint,
        Err(problem) => return Ok(problem.into()),
    };
    let tools = Toolbox::load(&ctx, &agent, &namespace).await;
    let mut messages = vec![
        Message::system(instructions(&agent)),
        Message::user(user_message(
            &task.spec.input,
            task.spec.parameters.as_ref(),
        )),
    ];
    let limits = &agent.spec.limits;
    let mut usage = Usage::default();
    let mut unanswered_tool_error: Option<String> = None;

    for step in 1..=limits.max_steps {
        if record.lock().await.task().spec.cancel {
            return Ok(Outcome::cancelled("cancelled by request"));
        }
        let completion = match call_model(&ctx, &record, &endpoint, &messages, &tools, step).await?
        {
            Ok(completion) => completion,
            Err(outcome) => return Ok(outcome),
        };
        add_usage(&mut usage, &completion);
        record_completion(&record, &completion, &usage, step).await;
        if let Some(budget) = limits.max_total_tokens
            && usage.total_tokens > budget
        {
            return Ok(Outcome::failed(
                reasons::BUDGET_EXCEEDED,
                format!(
                    "the task spent {} tokens, over the agent's budget of {budget}",
                    usage.total_tokens
                ),
            ));
        }
        let answer = completion.message.content.clone().unwrap_or_default();
        if completion.message.tool_calls.is_empty() {
            return Ok(final_outcome(answer, unanswered_tool_error));
        }
        messages.push(completion.message.clone());
        let results = tools
            .call_all(&ctx, &record, &namespace, &completion.message.tool_calls)
            .await?;
        unanswered_tool_error = results.iter().find_map(|r| r.error.clone());
        for result in results {
            messages.push(Message::tool(&result.call_id, result.text));
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
        match model::complete(&ctx.http, endpoint, messages, &tools.definitions).await {
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
