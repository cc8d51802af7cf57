//! The agent loop of one task: send the instructions, the conversation and the tools to the
//! model; when it asks for tool calls, make them over MCP (in parallel) and feed the results back;
//! repeat until it answers without tool calls or a limit is reached. Each event becomes a step in
//! the task's status as it happens.
//!
//! The wall-clock timeout, cancellation and loss of the claim are the caller's: it drops this
//! future when one of them happens.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use kube::{Api, ResourceExt};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use agentarea_crds::agent::ResolvedTool;
use agentarea_crds::task::Usage;
use agentarea_crds::{Agent, McpServerInstance, TaskPhase};

use super::record::{RecordError, Step, TaskRecord};
use crate::context::{Context, truncate};
use crate::controllers::mcp_server_instance::{route_tool, secret_value};
use crate::mcp;
use crate::model::{self, Completion, Message, ModelEndpoint, ToolCall, ToolDefinition};

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
            reason: "Cancelled",
            message: message.into(),
            result: None,
        }
    }
}

/// Attempts of one model call when the endpoint is down or overloaded (429, 5xx).
const MODEL_ATTEMPTS: u32 = 3;
/// Bytes of one tool result given back to the model; more would crowd out the conversation.
const MAX_TOOL_RESULT_BYTES: usize = 32 * 1024;

type SharedRecord = Arc<Mutex<TaskRecord>>;

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
        Err((reason, message)) => return Ok(Outcome::failed(reason, message)),
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
                "BudgetExceeded",
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
        "MaxStepsExceeded",
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
            reason: "Completed",
            message: "the agent answered".into(),
            result: Some(Value::String(answer)),
        },
        Some(error) => Outcome {
            result: Some(Value::String(answer)),
            ..Outcome::failed("ToolError", error)
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
) -> Result<ModelEndpoint, (&'static str, String)> {
    let model = &agent.spec.model;
    let base_url = model
        .endpoint
        .clone()
        .or_else(|| ctx.config.default_model_endpoint.clone())
        .ok_or((
            "NoModelEndpoint",
            "the agent names no model endpoint and the operator has no default".to_string(),
        ))?;
    let api_key = match &model.api_key_secret_ref {
        Some(reference) => {
            Some(secret_value(ctx, namespace, &reference.name, &reference.key).await?)
        }
        None if model.endpoint.is_none() => ctx.config.default_model_api_key.clone(),
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
            "LLMCallStarted",
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
                    .append(&[Step::new("LLMCallFailed", error.to_string())
                        .with_data(json!({ "step": step, "attempt": attempt, "retrying": retry }))])
                    .await?;
                if !retry {
                    return Ok(Err(Outcome::failed(
                        "ModelError",
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
    let step = Step::new("LLMCallCompleted", summary).with_data(json!({
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

/// The tools the model is offered, and where each call goes.
struct Toolbox {
    definitions: Vec<ToolDefinition>,
    by_name: HashMap<String, ResolvedTool>,
    /// The tools' instances as the run found them at its start (`None`: not found), so that a
    /// tool call does not read its instance again.
    instances: HashMap<String, Option<McpServerInstance>>,
}

/// What one tool call gave back to the model.
struct CallResult {
    call_id: String,
    text: String,
    error: Option<String>,
}

impl Toolbox {
    /// The agent's resolved tools, with descriptions and schemas from their instances' status.
    /// Tools that need a person's confirmation are left out: a task runs unattended, and a call
    /// nobody confirmed must not happen.
    async fn load(ctx: &Context, agent: &Agent, namespace: &str) -> Self {
        let resolved: Vec<ResolvedTool> = agent
            .status
            .as_ref()
            .map(|s| s.tools.clone())
            .unwrap_or_default()
            .into_iter()
            .filter(|t| !t.requires_user_confirmation)
            .collect();
        let api: Api<McpServerInstance> = Api::namespaced(ctx.client.clone(), namespace);
        let mut instances: HashMap<String, Option<McpServerInstance>> = HashMap::new();
        let mut definitions = Vec::new();
        for tool in &resolved {
            if !instances.contains_key(&tool.instance) {
                let instance = api.get_opt(&tool.instance).await.ok().flatten();
                instances.insert(tool.instance.clone(), instance);
            }
            let discovered = instances[&tool.instance]
                .as_ref()
                .and_then(|i| i.status.as_ref())
                .and_then(|s| s.tools.iter().find(|t| t.name == tool.tool));
            definitions.push(ToolDefinition {
                name: tool.name.clone(),
                description: discovered
                    .and_then(|t| t.description.clone())
                    .unwrap_or_default(),
                parameters: discovered
                    .and_then(|t| t.input_schema.clone())
                    .unwrap_or_else(|| json!({ "type": "object" })),
            });
        }
        Self {
            definitions,
            by_name: resolved.into_iter().map(|t| (t.name.clone(), t)).collect(),
            instances,
        }
    }

    /// Makes `calls` in parallel, each recorded as started and then as completed or failed.
    async fn call_all(
        &self,
        ctx: &Context,
        record: &SharedRecord,
        namespace: &str,
        calls: &[ToolCall],
    ) -> Result<Vec<CallResult>, RecordError> {
        let started: Vec<Step> = calls
            .iter()
            .map(|call| {
                let instance = self.by_name.get(&call.function.name).map(|t| &t.instance);
                Step::new("ToolCallStarted", format!("calling {}", call.function.name)).with_data(
                    json!({
                        "tool_call_id": call.id,
                        "tool": call.function.name,
                        "instance": instance,
                        "arguments": call.function.arguments,
                    }),
                )
            })
            .collect();
        record.lock().await.append(&started).await?;
        let results = join_all(calls.iter().map(|call| self.call(ctx, namespace, call))).await;
        let finished: Vec<Step> = results
            .iter()
            .zip(calls)
            .map(|(result, call)| match &result.error {
                None => Step::new("ToolCallCompleted", result.text.clone()).with_data(json!({
                    "tool_call_id": call.id,
                    "tool": call.function.name,
                    "result": result.text,
                })),
                Some(error) => Step::new("ToolCallFailed", error.clone()).with_data(json!({
                    "tool_call_id": call.id,
                    "tool": call.function.name,
                    "error": error,
                })),
            })
            .collect();
        // Written with the next model call, which follows at once.
        record.lock().await.stage(move |status| {
            for step in &finished {
                super::record::push_step(status, step);
            }
        });
        Ok(results)
    }

    /// One call. Every failure (unknown tool, bad arguments, unreachable server, a tool that
    /// reports an error) becomes a result the model reads, as agents expect.
    async fn call(&self, ctx: &Context, namespace: &str, call: &ToolCall) -> CallResult {
        let failed = |error: String| CallResult {
            call_id: call.id.clone(),
            text: format!("Error: {error}"),
            error: Some(error),
        };
        let Some(tool) = self.by_name.get(&call.function.name) else {
            return failed(format!("the agent has no tool {}", call.function.name));
        };
        let arguments: Value = match call.function.arguments.trim() {
            "" => Value::Null,
            text => match serde_json::from_str(text) {
                Ok(value) => value,
                Err(e) => return failed(format!("arguments of {} are not JSON: {e}", tool.name)),
            },
        };
        let Some(Some(instance)) = self.instances.get(&tool.instance) else {
            return failed(format!("MCP server instance {} not found", tool.instance));
        };
        let (endpoint, name) = match route_tool(ctx, namespace, instance, &tool.tool).await {
            Ok(route) => route,
            Err((_, message)) => return failed(message),
        };
        match mcp::call_tool(&endpoint, &name, arguments).await {
            Err(error) => failed(format!("{} on {}: {error}", tool.tool, tool.instance)),
            Ok(result) => {
                let text = truncate(&result_text(&result), MAX_TOOL_RESULT_BYTES);
                if result["isError"].as_bool() == Some(true) {
                    failed(format!(
                        "{} on {} reported an error: {text}",
                        tool.tool, tool.instance
                    ))
                } else {
                    CallResult {
                        call_id: call.id.clone(),
                        text,
                        error: None,
                    }
                }
            }
        }
    }
}

/// The text of an MCP `CallToolResult`: its text items, and other items as JSON.
fn result_text(result: &Value) -> String {
    let items = result["content"].as_array().cloned().unwrap_or_default();
    let parts: Vec<String> = items
        .iter()
        .map(|item| match item["text"].as_str() {
            Some(text) if item["type"] == "text" => text.to_string(),
            _ => item.to_string(),
        })
        .collect();
    if parts.is_empty() {
        result
            .get("structuredContent")
            .map_or_else(String::new, Value::to_string)
    } else {
        parts.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_text_joins_text_items_and_keeps_others_as_json() {
        let result = json!({"content": [
            {"type": "text", "text": "one"},
            {"type": "image", "data": "AA==", "mimeType": "image/png"},
        ]});
        let text = result_text(&result);
        assert!(text.starts_with("one\n"));
        assert!(text.contains("image/png"));
    }

    #[test]
    fn an_unanswered_tool_error_fails_the_task_but_keeps_the_answer() {
        let outcome = final_outcome("sorry".into(), Some("echo failed".into()));
        assert_eq!(outcome.phase, TaskPhase::Failed);
        assert_eq!(outcome.reason, "ToolError");
        assert_eq!(outcome.result, Some(Value::String("sorry".into())));
        assert_eq!(
            final_outcome("done".into(), None).phase,
            TaskPhase::Succeeded
        );
    }

    #[test]
    fn parameters_follow_the_input() {
        assert_eq!(user_message("hi", None), "hi");
        assert_eq!(user_message("hi", Some(&json!({}))), "hi");
        assert!(user_message("hi", Some(&json!({"a": 1}))).ends_with("{\"a\":1}"));
    }
}
