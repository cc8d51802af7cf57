//! One turn of the model in a run: the limits and the workspace's budget checked before it, the
//! call, and its answer recorded, counted and charged.

use std::ops::ControlFlow;

use std::time::Duration;

use kube::ResourceExt;
use kube::runtime::events::EventType;

use agentarea_crds::agent::AgentLimits;
use agentarea_crds::reasons;

use super::Run;
use super::continuation::make_call_ids_unique;
use super::model_call::{add_usage, call_model, record_completion};
use super::outcome::{Outcome, RunEnd};
use crate::budget::Reservation;
use crate::budget::book::estimate;
use crate::controllers::task::record::RecordError;

impl Run {
    /// One model call; its tool calls are settled next. `Break` when the run ends or stops here.
    pub(super) async fn ask_model(
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
        let step = self.steps_taken + 1;
        let reservation = match self.hold_budget(step).await {
            Ok(reservation) => reservation,
            Err(refusal) => {
                return Ok(ControlFlow::Break(
                    Outcome::failed(reasons::BUDGET_EXCEEDED, refusal).into(),
                ));
            }
        };
        self.steps_taken = step;
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
            Err(outcome) => {
                // No answer, nothing charged: the hold ends.
                self.charge_workspace(&reservation, 0).await?;
                return Ok(ControlFlow::Break(outcome.into()));
            }
        };
        // Charged before the answer is recorded: were the run to stop between the two, the call
        // would be made again, and both calls cost.
        self.charge_workspace(&reservation, completion.usage.total_tokens)
            .await?;
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
        if let Some(outcome) = Outcome::over_budget(&self.usage, limits.max_total_tokens) {
            return Ok(ControlFlow::Break(outcome.into()));
        }
        if completion.message.tool_calls.is_empty() {
            let answer = completion.message.content.unwrap_or_default();
            return Ok(ControlFlow::Break(
                Outcome::answered(answer, self.unanswered_tool_error.take()).into(),
            ));
        }
        self.conversation.push(completion.message);
        Ok(ControlFlow::Continue(()))
    }

    /// Holds the next call's estimate against the workspace's budget (waiting while calls in
    /// flight hold the rest); `Err` with the reason when the budget is spent.
    async fn hold_budget(&self, step: i32) -> Result<Reservation, String> {
        let task_uid = self.record.lock().await.task().uid().unwrap_or_default();
        let prompt = serde_json::to_string(&self.conversation.messages).map_or(0, |p| p.len());
        let output = self
            .endpoint
            .max_output_tokens
            .and_then(|m| u64::try_from(m).ok())
            .unwrap_or(OUTPUT_ESTIMATE_WITHOUT_A_MAXIMUM);
        self.ctx
            .budget
            .reserve(
                &self.namespace,
                &format!("{task_uid}.{step}"),
                estimate(prompt, output),
            )
            .await
    }

    /// Charges what a model call spent to the workspace's budget, with a `BudgetWarning` Event on
    /// the task whose call crossed the warning share. A charge is not dropped: the ledger is tried
    /// again for a while, and if it still cannot be written the run stops here (it is resumed
    /// later, and this call's cost is not lost to a busy or absent apiserver).
    async fn charge_workspace(
        &self,
        reservation: &Reservation,
        tokens: i64,
    ) -> Result<(), RecordError> {
        let tokens = u64::try_from(tokens).unwrap_or(0);
        let mut delay = Duration::from_millis(200);
        let charged = loop {
            match self
                .ctx
                .budget
                .settle(&self.namespace, reservation, tokens)
                .await
            {
                Ok(charged) => break charged,
                Err(error) if delay < CHARGE_RETRY_LIMIT => {
                    tracing::warn!(%error, tokens, "the token ledger could not be charged; trying again");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                Err(error) => return Err(RecordError::Kube(error)),
            }
        };
        if let Some((before, after)) = charged
            && let Some(warning) = self.ctx.budget.settings.warning(before, after)
        {
            let task = self.record.lock().await.task().clone();
            self.ctx
                .event(&task, EventType::Warning, reasons::BUDGET_WARNING, warning)
                .await;
        }
        Ok(())
    }
}

/// The most a call may answer, for its hold, when the model sets no maximum
/// (`spec.model.maxOutputTokens` makes the hold exact).
const OUTPUT_ESTIMATE_WITHOUT_A_MAXIMUM: u64 = 512;
/// How long a charge is tried again (doubling waits) before the run stops for it.
const CHARGE_RETRY_LIMIT: Duration = Duration::from_secs(60);
