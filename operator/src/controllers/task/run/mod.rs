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
//! The wall-clock timeout, cancellation and loss of the claim are the caller's
//! ([`super::launch`]): it drops this future when one of them happens.
//!
//! | module | what it owns |
//! | --- | --- |
//! | this file | the [`Run`] and its loop: ask the model, or settle the calls it asked for; keep the conversation at a boundary |
//! | [`outcome`] | what a run ends with, where it stops part-way, what asks it to stop |
//! | [`prepare`] | a run's start: the model endpoint, the tools, the kept conversation read back |
//! | [`continuation`] | where a continued run picks up, and whether a call interrupted by a lost runner may be made again |
//! | [`model_turn`] | one turn of the model: limits and budgets checked, the call, its answer recorded and charged |
//! | [`model_call`] | the model call itself: endpoint, retries, spans, the step of its answer |
//! | [`settle`] | the tool calls of one answer: approvals applied, calls made, results kept |
//! | [`agents`] | calls of other agents: their child tasks started and answered |
//! | [`toolbox`] | the tools offered to the model and the MCP calls made for them |

pub mod agents;
pub mod continuation;
pub mod model_call;
pub mod model_turn;
pub mod outcome;
pub mod prepare;
pub mod settle;
pub mod toolbox;

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Instant;

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use tokio::sync::watch;

use agentarea_crds::agent::AgentLimits;
use agentarea_crds::task::Usage;
use agentarea_crds::{Agent, reasons};

use self::continuation::unanswered_calls;
use self::outcome::{Outcome, RunEnd, Stop, SuspendedFor, Suspension};
use self::toolbox::Toolbox;
use crate::approval::wait::ApprovalPolicy;
use crate::context::Context;
use crate::controllers::task::conversation::{Conversation, ConversationError};
use crate::controllers::task::record::{RecordError, SharedRecord};
use crate::model::ModelEndpoint;

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
pub struct Run {
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

    /// Whether the run was asked to stop at this boundary, and for what.
    async fn stop_requested(&self) -> Option<SuspendedFor> {
        let asked = (*self.stop.borrow()).and_then(Stop::at_boundary);
        if asked.is_some() {
            return asked;
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
