//! A run's start: the agent's model endpoint, its tools, and the conversation so far (read back
//! from where an earlier segment kept it, or begun from the agent's instructions and the task's
//! input). A problem here ends the task before the first model call.

use std::sync::Arc;
use std::time::Instant;

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, ResourceExt};
use serde_json::Value;
use tokio::sync::watch;

use agentarea_crds::{Agent, reasons};

use super::Run;
use super::continuation::{doubt_outcome, recover_answer};
use super::model_call::model_endpoint;
use super::outcome::{Outcome, Stop};
use super::toolbox::Toolbox;
use crate::approval::wait::ApprovalPolicy;
use crate::context::Context;
use crate::controllers::task::children::effective_limits;
use crate::controllers::task::conversation::{Conversation, ConversationError};
use crate::controllers::task::record::{RecordError, SharedRecord};
use crate::model::Message;

impl Run {
    /// Resolves the model endpoint, connects the tools and reads back the kept conversation (or
    /// starts one); a problem here ends the task before the first model call.
    pub(super) async fn prepare(
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
        if let Some(outcome) = doubt_outcome(&conversation, &status, |tool| tools.may_repeat(tool))
        {
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
    fn parameters_follow_the_input() {
        assert_eq!(user_message("hi", None), "hi");
        assert_eq!(user_message("hi", Some(&json!({}))), "hi");
        assert!(user_message("hi", Some(&json!({"a": 1}))).ends_with("{\"a\":1}"));
    }
}
