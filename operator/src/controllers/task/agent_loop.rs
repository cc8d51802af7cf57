//! The agent loop of one task: send the instructions, the conversation and the tools to the
//! model; when it asks for tool calls, make them over MCP (in parallel) and feed the results back;
//! repeat until it answers without tool calls or a limit is reached. Each event becomes a step in
//! the task's status as it happens.
//!
//! A run may stop part-way and be continued later, by any replica: at a pause, while tool calls
//! wait for a person's approval, or when its replica shuts down. It stops only at a boundary (no
//! model or tool call in flight), after keeping its conversation ([`super::conversation`]); the
//! continuation reads it back and goes on from the model's last answer.
//!
//! The wall-clock timeout, cancellation and loss of the claim are the caller's: it drops this
//! future when one of them happens.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Instant;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt};
use serde_json::{Value, json};
use tokio::sync::{Mutex, watch};

use agentarea_crds::agent::AgentLimits;
use agentarea_crds::common::now;
use agentarea_crds::task::{ChildTask, ConversationRef, PendingApproval, ToolCallDecision, Usage};
use agentarea_crds::{Agent, Task, TaskPhase, reasons, steps};

use super::Stop;
use super::approval::{ApprovalPolicy, decisions_received, pending_approvals};
use super::children::{
    Remaining, agent_input, chain_of, child_answer, child_name, child_step, child_task,
    create_child, effective_limits, plan_child,
};
use super::conversation::{Conversation, ConversationError};
use super::decide::{
    CallPlan, OnTimeout, answer_recorded, calls_in_doubt, decisions, make_call_ids_unique,
    plan_call, unanswered_calls, wait_timed_out,
};
use super::model_call::{add_usage, call_model, model_endpoint, record_completion};
use super::record::{RecordError, Step, TaskRecord};
use super::toolbox::{CallResult, Toolbox};
use crate::context::Context;
use crate::model::{Message, ModelEndpoint, ToolCall};
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

/// How a run's segment ended: with the Task, or stopped part-way with its conversation kept.
#[derive(Debug)]
pub enum RunEnd {
    Finished(Outcome),
    Suspended(Suspension),
}

/// A run that stopped at a step boundary, to be continued by whichever replica claims it next.
#[derive(Debug)]
pub struct Suspension {
    pub why: SuspendedFor,
    /// The kept conversation, to record in status.
    pub conversation: ConversationRef,
}

#[derive(Debug)]
pub enum SuspendedFor {
    /// `spec.paused`.
    Pause,
    /// These tool calls wait for a person.
    Approval(Vec<PendingApproval>),
    /// The replica is shutting down.
    Shutdown,
    /// The child tasks of these agent calls are running.
    Agents(Vec<String>),
}

impl From<Outcome> for RunEnd {
    fn from(outcome: Outcome) -> Self {
        Self::Finished(outcome)
    }
}

/// Runs (or continues) the loop for the task in `record` with `agent` until the task ends or the
/// run must stop at a boundary (`stop` asks for a pause or a shutdown, or tool calls need a
/// person). An `Err` means the task can no longer be written (deleted, or claimed by another
/// runner): the run is abandoned, not finished.
pub async fn execute(
    ctx: Arc<Context>,
    record: SharedRecord,
    agent: Agent,
    stop: watch::Receiver<Option<Stop>>,
) -> Result<RunEnd, RecordError> {
    let mut run = match Run::prepare(ctx, record, &agent, stop).await? {
        Ok(run) => run,
        Err(outcome) => return Ok(outcome.into()),
    };
    let limits = run.limits.clone();
    run.go(&limits).await
}

/// One run in progress: what the model is offered and what it has said so far.
struct Run {
    ctx: Arc<Context>,
    record: SharedRecord,
    namespace: String,
    agent: String,
    endpoint: ModelEndpoint,
    tools: Toolbox,
    approval: ApprovalPolicy,
    conversation: Conversation,
    secrets: Api<Secret>,
    /// Model calls made so far, in this and earlier segments.
    steps_taken: i32,
    /// The Agent's limits, capped by the Task's.
    limits: AgentLimits,
    /// Active seconds of earlier segments, and when this one started.
    seconds_before: i64,
    segment: Instant,
    usage: Usage,
    /// The error of the last tool calls, until the model calls a tool again.
    unanswered_tool_error: Option<String>,
    stop: watch::Receiver<Option<Stop>>,
}

impl Run {
    /// Resolves the model endpoint, connects the tools and reads back the kept conversation (or
    /// starts one); a problem here ends the task before the first model call.
    async fn prepare(
        ctx: Arc<Context>,
        record: SharedRecord,
        agent: &Agent,
        stop: watch::Receiver<Option<Stop>>,
    ) -> Result<Result<Self, Outcome>, RecordError> {
        let task = record.lock().await.task().clone();
        let status = task.status.clone().unwrap_or_default();
        let namespace = task.namespace().unwrap_or_default();
        let endpoint = match model_endpoint(&ctx, agent, &namespace).await {
            Ok(endpoint) => endpoint,
            Err(problem) => return Ok(Err(problem.into())),
        };
        let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
        let mut conversation = match &status.conversation {
            None => Conversation::new(vec![
                Message::system(instructions(agent)),
                Message::user(user_message(
                    &task.spec.input,
                    task.spec.parameters.as_ref(),
                )),
            ]),
            Some(kept) => match Conversation::load(&secrets, kept).await {
                Ok(conversation) => conversation,
                Err(ConversationError::Kube(error)) => return Err(error.into()),
                Err(error) => {
                    return Ok(Err(Outcome::failed(
                        reasons::CONVERSATION_LOST,
                        error.to_string(),
                    )));
                }
            },
        };
        let tools = Toolbox::load(&ctx, agent, &task, &namespace).await;
        recover_answer(&mut conversation, &status);
        if let Some(outcome) = doubt_outcome(&conversation, &status, &tools) {
            return Ok(Err(outcome));
        }
        let steps_taken = conversation
            .messages
            .iter()
            .filter(|m| m.role == "assistant")
            .count() as i32;
        Ok(Ok(Self {
            limits: effective_limits(&agent.spec.limits, task.spec.limits.as_ref()),
            seconds_before: status.active_seconds.unwrap_or(0),
            segment: Instant::now(),
            approval: ApprovalPolicy::of(agent, &task),
            ctx,
            record,
            namespace,
            agent: agent.name_any(),
            endpoint,
            tools,
            conversation,
            secrets,
            steps_taken,
            usage: status.usage.unwrap_or_default(),
            unanswered_tool_error: None,
            stop,
        }))
    }

    async fn go(&mut self, limits: &AgentLimits) -> Result<RunEnd, RecordError> {
        loop {
            let unanswered = unanswered_calls(&self.conversation.messages);
            let step = if unanswered.is_empty() {
                self.ask_model(limits).await?
            } else {
                self.settle(unanswered).await?
            };
            if let ControlFlow::Break(end) = step {
                return Ok(end);
            }
        }
    }

    /// One model call; its tool calls are settled next. `Break` when the run ends or stops here.
    async fn ask_model(
        &mut self,
        limits: &AgentLimits,
    ) -> Result<ControlFlow<RunEnd>, RecordError> {
        if self.record.lock().await.task().spec.cancel {
            return Ok(ControlFlow::Break(
                Outcome::cancelled("cancelled by request").into(),
            ));
        }
        if let Some(why) = self.stop_requested().await {
            return self.suspend(why).await.map(ControlFlow::Break);
        }
        if self.steps_taken >= limits.max_steps {
            return Ok(ControlFlow::Break(
                Outcome::failed(
                    reasons::MAX_STEPS_EXCEEDED,
                    format!(
                        "the model was still calling tools after {} steps (spec.limits.maxSteps)",
                        limits.max_steps
                    ),
                )
                .into(),
            ));
        }
        if let Some(refusal) = self.budget_refusal().await {
            return Ok(ControlFlow::Break(
                Outcome::failed(reasons::BUDGET_EXCEEDED, refusal).into(),
            ));
        }
        self.steps_taken += 1;
        let step = self.steps_taken;
        let completion = match call_model(
            &self.ctx,
            &self.namespace,
            &self.record,
            &self.endpoint,
            &self.conversation.messages,
            &self.tools,
            step,
        )
        .await?
        {
            Ok(completion) => completion,
            Err(outcome) => return Ok(ControlFlow::Break(outcome.into())),
        };
        let mut completion = completion;
        make_call_ids_unique(&mut completion.message, &self.conversation.messages);
        add_usage(&mut self.usage, &completion);
        self.ctx.metrics.tasks.tokens(
            &self.namespace,
            &self.agent,
            &self.endpoint.model,
            completion.usage.prompt_tokens,
            completion.usage.completion_tokens,
        );
        record_completion(&self.record, &completion, &self.usage, step).await;
        self.charge_workspace(completion.usage.total_tokens).await;
        if let Some(outcome) = over_budget(&self.usage, limits.max_total_tokens) {
            return Ok(ControlFlow::Break(outcome.into()));
        }
        if completion.message.tool_calls.is_empty() {
            let answer = completion.message.content.unwrap_or_default();
            return Ok(ControlFlow::Break(
                final_outcome(answer, self.unanswered_tool_error.take()).into(),
            ));
        }
        self.conversation.push(completion.message);
        Ok(ControlFlow::Continue(()))
    }

    /// Why the model may not be called, if the workspace has spent its token budget. A ledger
    /// that cannot be read lets the call go: the budget is a limit on spending, and an apiserver
    /// hiccup should not fail every workspace's tasks.
    async fn budget_refusal(&self) -> Option<String> {
        self.ctx
            .budget
            .refusal(&self.namespace)
            .await
            .inspect_err(|error| tracing::warn!(%error, "the token ledger could not be read"))
            .ok()
            .flatten()
    }

    /// Charges what a model call spent to the workspace's budget, with a `BudgetWarning` Event on
    /// the task whose call crossed the warning share.
    async fn charge_workspace(&self, tokens: i64) {
        let charged = self
            .ctx
            .budget
            .charge(&self.namespace, u64::try_from(tokens).unwrap_or(0))
            .await;
        match charged {
            Ok(Some((before, after))) => {
                if let Some(warning) = self.ctx.budget.settings.warning(before, after) {
                    let task = self.record.lock().await.task().clone();
                    self.ctx
                        .event(&task, EventType::Warning, reasons::BUDGET_WARNING, warning)
                        .await;
                }
            }
            Ok(None) => {}
            Err(error) => tracing::warn!(%error, tokens, "a charge to the token ledger was lost"),
        }
    }

    /// Settles the tool calls of the model's last answer: makes those that need no approval or
    /// were approved, answers rejected ones with the rejection, and keeps the results; or stops
    /// the run while calls wait for a person (or a pause or shutdown was asked for).
    async fn settle(&mut self, calls: Vec<ToolCall>) -> Result<ControlFlow<RunEnd>, RecordError> {
        let task = self.record.lock().await.task().clone();
        let status = task.status.clone().unwrap_or_default();
        let decided = decisions(&task.spec.approvals);
        let timed_out = wait_timed_out(&status.pending_approvals, Timestamp::now());
        let plans: Vec<CallPlan> = calls
            .iter()
            .map(|call| {
                let needs = self.approval.needs(&self.tools, &call.function.name);
                plan_call(
                    needs.as_deref(),
                    decided.get(call.id.as_str()).copied(),
                    timed_out,
                )
            })
            .collect();
        let waiting = self.waiting(&calls, &plans);
        if !waiting.is_empty() {
            return self
                .suspend(SuspendedFor::Approval(waiting))
                .await
                .map(ControlFlow::Break);
        }
        if timed_out
            && self.approval.on_timeout == OnTimeout::Fail
            && calls.iter().any(|c| !decided.contains_key(c.id.as_str()))
            && status
                .pending_approvals
                .iter()
                .any(|p| !decided.contains_key(p.tool_call_id.as_str()))
        {
            return Ok(ControlFlow::Break(
                Outcome::failed(
                    reasons::APPROVAL_TIMED_OUT,
                    "nobody decided on the tool calls waiting for approval in time",
                )
                .into(),
            ));
        }
        if let Some(why) = self.stop_requested().await {
            return self.suspend(why).await.map(ControlFlow::Break);
        }
        self.record_decisions(&calls, &status.pending_approvals, &decided, timed_out)
            .await;
        let (agent_calls, mcp_calls): (Vec<ToolCall>, Vec<ToolCall>) = calls
            .iter()
            .zip(&plans)
            .filter(|(_, plan)| **plan == CallPlan::Make)
            .map(|(call, _)| call.clone())
            .partition(|call| self.tools.agent_of(&call.function.name).is_some());
        let results = self
            .tools
            .call_all(&self.ctx, &self.record, &self.namespace, &mcp_calls)
            .await?;
        let mut made: HashMap<String, CallResult> = results
            .into_iter()
            .map(|r| (r.call_id.clone(), r))
            .collect();
        made.extend(self.ask_agents(&agent_calls).await?);
        self.unanswered_tool_error = None;
        let mut running = Vec::new();
        for (call, plan) in calls.iter().zip(plans) {
            let text = match plan {
                CallPlan::Reject(text) => text,
                _ => {
                    // An agent's child task that is still running answers later.
                    let Some(result) = made.remove(&call.id) else {
                        running.push(call.id.clone());
                        continue;
                    };
                    if self.unanswered_tool_error.is_none() {
                        self.unanswered_tool_error = result.error;
                    }
                    result.text
                }
            };
            self.conversation.push(Message::tool(&call.id, text));
        }
        if !running.is_empty() {
            return self
                .suspend(SuspendedFor::Agents(running))
                .await
                .map(ControlFlow::Break);
        }
        match self.keep().await? {
            Ok(()) => Ok(ControlFlow::Continue(())),
            Err(outcome) => Ok(ControlFlow::Break(outcome.into())),
        }
    }

    /// Settles calls of other agents: starts a child task for each that has none yet (or refuses
    /// the call: a cycle, too deep, nothing left to give), and answers those whose child has
    /// finished. A call whose child still runs has no result yet.
    async fn ask_agents(
        &mut self,
        calls: &[ToolCall],
    ) -> Result<HashMap<String, CallResult>, RecordError> {
        let mut answered = HashMap::new();
        if calls.is_empty() {
            return Ok(answered);
        }
        let task = self.record.lock().await.task().clone();
        let tasks: Api<Task> = Api::namespaced(self.ctx.client.clone(), &self.namespace);
        let mut steps = Vec::new();
        let mut started = Vec::new();
        for call in calls {
            let callee = self
                .tools
                .agent_of(&call.function.name)
                .expect("an agent call")
                .to_string();
            let name = child_name(&task.name_any(), &call.id);
            if let Some(child) = tasks.get_opt(&name).await? {
                let finished = child.status.as_ref().and_then(|s| s.phase);
                if finished.is_some_and(TaskPhase::is_finished) {
                    let (text, error) = child_answer(&child);
                    steps.push(child_step(call, &callee, &name, &text, error.as_deref()));
                    let result = CallResult {
                        call_id: call.id.clone(),
                        text,
                        error,
                    };
                    answered.insert(call.id.clone(), result);
                }
                started.push(ChildTask {
                    name,
                    agent: callee,
                    tool_call_id: call.id.clone(),
                });
                continue;
            }
            let refuse = |error: String| CallResult {
                call_id: call.id.clone(),
                text: format!("Error: {error}"),
                error: Some(error),
            };
            // Started before and deleted since: starting it again would repeat its work.
            if task
                .status
                .iter()
                .flat_map(|s| &s.children)
                .any(|c| c.name == name)
            {
                let gone =
                    format!("the task {name} of agent {callee} was deleted before it answered");
                answered.insert(call.id.clone(), refuse(gone));
                continue;
            }
            let Some(input) = agent_input(&call.function.arguments) else {
                let why = format!("a call of agent {callee} needs an input");
                answered.insert(call.id.clone(), refuse(why));
                continue;
            };
            let spent = self.seconds_before + self.segment.elapsed().as_secs() as i64;
            let left = Remaining::of(&self.limits, self.steps_taken, spent, &self.usage);
            let limits = match plan_child(&chain_of(&task), &callee, left) {
                Ok(limits) => limits,
                Err(refused) => {
                    answered.insert(call.id.clone(), refuse(refused));
                    continue;
                }
            };
            let trace = agentarea_support::telemetry::inject(&tracing::Span::current());
            let child = child_task(&task, &callee, input, &call.id, limits, &trace);
            create_child(&tasks, &child).await?;
            steps.push(
                Step::new(
                    steps::TOOL_CALL_STARTED,
                    format!("asking agent {callee} ({name})"),
                )
                .with_data(json!({
                    "tool_call_id": call.id,
                    "tool": call.function.name,
                    "agent": callee,
                    "child_task": name,
                    "arguments": call.function.arguments,
                })),
            );
            started.push(ChildTask {
                name,
                agent: callee,
                tool_call_id: call.id.clone(),
            });
        }
        self.record.lock().await.stage(move |status| {
            for step in &steps {
                super::record::push_step(status, step);
            }
            for child in &started {
                if !status.children.iter().any(|c| c.name == child.name) {
                    status.children.push(child.clone());
                }
            }
        });
        Ok(answered)
    }

    /// The calls of `plans` that wait, as `status.pendingApprovals` lists them.
    fn waiting(&self, calls: &[ToolCall], plans: &[CallPlan]) -> Vec<PendingApproval> {
        pending_approvals(calls, plans, now(), self.approval.timeout)
    }

    /// Stages the decisions people (or the time-out) took on the waiting calls: their steps,
    /// `status.approvals`, and an empty `status.pendingApprovals`.
    async fn record_decisions(
        &self,
        calls: &[ToolCall],
        pending: &[PendingApproval],
        decided: &HashMap<&str, &ToolCallDecision>,
        timed_out: bool,
    ) {
        if pending.is_empty() {
            return;
        }
        let (received, kept) = decisions_received(calls, pending, decided, timed_out);
        self.record.lock().await.stage(move |status| {
            for step in &received {
                super::record::push_step(status, step);
            }
            for decision in &kept {
                if !status
                    .approvals
                    .iter()
                    .any(|d| d.tool_call_id == decision.tool_call_id)
                {
                    status.approvals.push(decision.clone());
                }
            }
            status.pending_approvals.clear();
        });
    }

    /// Whether the run was asked to stop at this boundary, and for what.
    async fn stop_requested(&self) -> Option<SuspendedFor> {
        match *self.stop.borrow() {
            Some(Stop::Shutdown) => return Some(SuspendedFor::Shutdown),
            Some(Stop::Pause) => return Some(SuspendedFor::Pause),
            _ => {}
        }
        self.record
            .lock()
            .await
            .task()
            .spec
            .paused
            .then_some(SuspendedFor::Pause)
    }

    /// Keeps the conversation and stops the run for `why`.
    async fn suspend(&mut self, why: SuspendedFor) -> Result<RunEnd, RecordError> {
        match self.keep().await? {
            Ok(()) => Ok(RunEnd::Suspended(Suspension {
                why,
                conversation: self.conversation.kept().clone(),
            })),
            Err(outcome) => Ok(outcome.into()),
        }
    }

    /// Writes the messages not kept yet and stages their record for the next status write.
    async fn keep(&mut self) -> Result<Result<(), Outcome>, RecordError> {
        if self.conversation.is_kept() {
            return Ok(Ok(()));
        }
        let (task, execution_id) = {
            let record = self.record.lock().await;
            let execution_id = record.status().execution_id.clone().unwrap_or_default();
            (record.task().clone(), execution_id)
        };
        let limit = self.ctx.config.task_max_conversation_bytes;
        let reference = match self
            .conversation
            .keep(&self.secrets, &task, &execution_id, limit)
            .await
        {
            Ok(reference) => reference,
            Err(ConversationError::Kube(error)) => return Err(error.into()),
            Err(error) => {
                return Ok(Err(Outcome::failed(
                    reasons::CONVERSATION_TOO_LARGE,
                    error.to_string(),
                )));
            }
        };
        self.conversation.kept_as(reference.clone());
        self.record.lock().await.stage(move |status| {
            status.conversation = Some(reference.clone());
        });
        Ok(Ok(()))
    }
}

/// When the previous runner died during tool calls it had not kept the model's answer that asked
/// for them; it is rebuilt from the run's record, so the calls can be settled.
fn recover_answer(conversation: &mut Conversation, status: &agentarea_crds::TaskStatus) {
    let doubtful = calls_in_doubt(&conversation.messages, &status.steps);
    if doubtful.is_empty() || !unanswered_calls(&conversation.messages).is_empty() {
        return;
    }
    if let Some(answer) = answer_recorded(&status.steps, &doubtful) {
        conversation.push(answer);
    }
}

/// A continued run whose previous runner stopped with tool calls in flight fails, unless every
/// such call is still unanswered in the kept conversation and its tool declares that repeating it
/// is harmless (`readOnlyHint` or `idempotentHint`): then the calls are made again, with the same
/// idempotency key. A call that may or may not have happened is never repeated silently.
fn doubt_outcome(
    conversation: &Conversation,
    status: &agentarea_crds::TaskStatus,
    tools: &Toolbox,
) -> Option<Outcome> {
    let doubtful = calls_in_doubt(&conversation.messages, &status.steps);
    if doubtful.is_empty() {
        return None;
    }
    let unanswered = unanswered_calls(&conversation.messages);
    let unsafe_calls: Vec<String> = doubtful
        .iter()
        .filter(|id| {
            !unanswered
                .iter()
                .any(|c| &c.id == *id && tools.may_repeat(&c.function.name))
        })
        .cloned()
        .collect();
    if unsafe_calls.is_empty() {
        return None;
    }
    Some(Outcome::failed(
        reasons::RUNNER_LOST,
        format!(
            "its runner stopped while tool call(s) {} were in flight; they may or may not have \
             happened, and making them again could repeat their effects",
            unsafe_calls.join(", ")
        ),
    ))
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
