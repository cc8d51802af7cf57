//! One turn of the model in a run: the limits and the workspace's budget checked before it, the
//! call, and its answer recorded, counted and charged.

use std::ops::ControlFlow;

use kube::runtime::events::EventType;

use agentarea_crds::agent::AgentLimits;
use agentarea_crds::reasons;

use super::Run;
use super::continuation::make_call_ids_unique;
use super::model_call::{add_usage, call_model, record_completion};
use super::outcome::{Outcome, RunEnd};
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
}
