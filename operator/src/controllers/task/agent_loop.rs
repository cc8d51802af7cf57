//! The agent loop of one task: send the instructions, the conversation and the tools to the
//! model; when it asks for tool calls, make them over MCP (in parallel) and feed the results back;
//! repeat until it answers without tool calls or a limit is reached. Each event becomes a step in
//! the task's status as it happens.
//!
//! The wall-clock timeout, cancellation and loss of the claim are the caller's: it drops this
//! future when one of them happens.

use std::ops::ControlFlow;
use std::sync::Arc;

use kube::ResourceExt;
use serde_json::Value;
use tokio::sync::Mutex;

use agentarea_crds::agent::AgentLimits;
use agentarea_crds::task::Usage;
use agentarea_crds::{Agent, TaskPhase, reasons};

use super::model_call::{add_usage, call_model, model_endpoint, record_completion};
use super::record::{RecordError, TaskRecord};
use super::toolbox::Toolbox;
use crate::context::Context;
use crate::model::{Message, ModelEndpoint};
use crate::problem::Problem;

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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
    fn parameters_follow_the_input() {
        assert_eq!(user_message("hi", None), "hi");
        assert_eq!(user_message("hi", Some(&json!({}))), "hi");
        assert!(user_message("hi", Some(&json!({"a": 1}))).ends_with("{\"a\":1}"));
    }
}
