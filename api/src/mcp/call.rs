//! One call of an agent's tool: a Task for the agent, created as `POST /v1/agents/{id}/tasks`
//! creates it (the caller's identity, limits and audit), followed until it ends. Its steps go to
//! the caller as progress; a caller who goes away, or cancels, cancels the Task.

use std::sync::Arc;

use kube::ResourceExt;
use rmcp::model::{CallToolResult, ContentBlock as Content, ProgressNotificationParam};
use rmcp::service::{Peer, RequestContext};
use rmcp::{ErrorData, RoleServer};
use serde_json::{Value, json};

use agentarea_crds::{Agent, Task, TaskPhase};

use super::progress::{step_message, waiting_message};
use crate::auth::Identity;
use crate::limits::StreamPermit;
use crate::model::tasks::{AgentTaskCreate, TaskIds, cancel_patch, phase, steps};
use crate::state::AppState;

/// Runs `agent` on `input` for `caller` and answers with the agent's final answer.
pub async fn run(
    state: &AppState,
    caller: &Identity,
    agent: &Agent,
    input: String,
    context: &RequestContext<RoleServer>,
) -> Result<CallToolResult, ErrorData> {
    let label = call_label(caller, context);
    let (task, _open) = match created(state, caller, agent, input, label).await? {
        Ok(created) => created,
        Err(refused) => return Ok(refused),
    };
    let progress = context
        .meta
        .get_progress_token()
        .map(|token| Progress::new(context.peer.clone(), token));
    let followed = Followed {
        state,
        namespace: task.namespace().unwrap_or_default(),
        name: task.name_any(),
        task_id: TaskIds::of(&task, &state.agents).task_id,
    };
    tokio::select! {
        ended = followed.until_it_ends(progress) => Ok(match ended {
            Some(task) => answer(&task),
            None => CallToolResult::error(vec![Content::text("the agent's task was deleted")]),
        }),
        () = context.ct.cancelled() => {
            // This replica stopping ends its calls' streams too; their Tasks run on, and the
            // caller can follow them through /v1.
            if !crate::stream::is_stopping() {
                followed.cancel(caller);
            }
            Err(ErrorData::internal_error("the call was cancelled, and its task with it", None))
        }
    }
}

/// The call's Task, created, with the open stream it holds while it runs; or the tool error that
/// tells the caller why it was not (the limits, the workspace's quota).
async fn created(
    state: &AppState,
    caller: &Identity,
    agent: &Agent,
    input: String,
    label: Option<(&str, String)>,
) -> Result<Result<(Task, StreamPermit), CallToolResult>, ErrorData> {
    let body: AgentTaskCreate = serde_json::from_value(json!({ "description": input }))
        .map_err(|e| ErrorData::invalid_params(format!("input: {e}"), None))?;
    // A call streams until its Task ends: it holds one of the workspace's open streams, as a
    // task's SSE stream does, so that no workspace holds them all.
    let submitted = match state.open_stream(caller, "mcp_call") {
        Ok(open) => crate::routes::tasks::submit_labelled(state, caller, agent, body, label)
            .await
            .map(|task| (task, open)),
        Err(refused) => Err(refused),
    };
    match submitted {
        Ok(submitted) => Ok(Ok(submitted)),
        Err(refused) if refused.status.is_client_error() => {
            Ok(Err(CallToolResult::error(vec![Content::text(format!(
                "the agent's task was not created: {}",
                refused.detail
            ))])))
        }
        Err(failed) => Err(ErrorData::internal_error(failed.detail, None)),
    }
}

/// The label that finds the call's Task again when the caller cancels the call by notification:
/// only a call made in a handshake session has one ([`super::cancel`]).
fn call_label(
    caller: &Identity,
    context: &RequestContext<RoleServer>,
) -> Option<(&'static str, String)> {
    let parts = context.extensions.get::<axum::http::request::Parts>()?;
    let session = super::cancel::session_of(&parts.headers)?;
    let key = super::cancel::call_key(caller, session, &context.id);
    Some((super::cancel::CALL_LABEL, key))
}

/// A created Task, followed in the api's cache.
struct Followed<'a> {
    state: &'a AppState,
    namespace: String,
    name: String,
    task_id: String,
}

impl Followed<'_> {
    /// The Task once it has ended (none if it was deleted first), its new steps and waits told to
    /// `progress` on the way.
    async fn until_it_ends(&self, mut progress: Option<Progress>) -> Option<Arc<Task>> {
        let mut changes = self.state.tasks.subscribe();
        let mut told_after = 0;
        let mut told_wait: Option<String> = None;
        let mut seen = false;
        loop {
            let current = self.state.tasks.get(&self.namespace, &self.name);
            // Not yet in the cache just after its creation; gone from it once seen, deleted.
            if current.is_none() && seen {
                return None;
            }
            if let Some(task) = current {
                seen = true;
                if let Some(progress) = progress.as_mut() {
                    let after = told_after;
                    for step in steps(&task).iter().filter(|s| s.seq > after) {
                        progress.tell(step_message(step)).await;
                        told_after = step.seq;
                    }
                    let wait = waiting_message(&task, &self.task_id);
                    if wait.is_some() && wait != told_wait {
                        progress.tell(wait.clone().unwrap_or_default()).await;
                    }
                    told_wait = wait;
                }
                if phase(&task).is_finished() {
                    return Some(task);
                }
            }
            if changes.changed().await.is_err() {
                // The cache is gone: the api is stopping.
                std::future::pending::<()>().await;
            }
        }
    }

    /// Cancels the Task, as `POST /v1/tasks/{id}/cancel` does, in a task of its own: the call's
    /// future may be dropped as soon as the caller is gone.
    fn cancel(&self, caller: &Identity) {
        let (state, caller, name) = (self.state.clone(), caller.clone(), self.name.clone());
        tokio::spawn(async move {
            let ended = state
                .tasks
                .get(&state.namespace(&caller), &name)
                .is_none_or(|task| phase(&task).is_finished());
            if ended {
                return;
            }
            if let Err(error) = state
                .writer::<Task>(&caller)
                .merge_patch(&name, &cancel_patch())
                .await
            {
                tracing::warn!(task = %name, %error, "could not cancel the task of a cancelled MCP call");
            }
        });
    }
}

/// The progress notifications of one call: the count of what was told so far, and its message.
struct Progress {
    peer: Peer<RoleServer>,
    token: rmcp::model::ProgressToken,
    told: u32,
}

impl Progress {
    fn new(peer: Peer<RoleServer>, token: rmcp::model::ProgressToken) -> Self {
        Self {
            peer,
            token,
            told: 0,
        }
    }

    async fn tell(&mut self, message: String) {
        self.told += 1;
        let param = ProgressNotificationParam::new(self.token.clone(), f64::from(self.told))
            .with_message(message);
        // A caller that went away is noticed by the call's cancellation.
        let _ = self.peer.notify_progress(param).await;
    }
}

/// The call's answer from the ended Task: the agent's final answer, or why there is none.
pub fn answer(task: &Task) -> CallToolResult {
    let status = task.status.as_ref();
    let said = |text: String| vec![Content::text(text)];
    match phase(task) {
        TaskPhase::Succeeded => {
            let result = status.and_then(|s| s.result.clone()).unwrap_or(Value::Null);
            let text = match result {
                Value::String(text) => text,
                Value::Null => String::new(),
                other => other.to_string(),
            };
            CallToolResult::success(said(text))
        }
        TaskPhase::Cancelled => {
            CallToolResult::error(said("the agent's task was cancelled".into()))
        }
        _ => {
            let reason = status.and_then(|s| s.reason.clone()).unwrap_or_default();
            let message = status.and_then(|s| s.message.clone()).unwrap_or_default();
            CallToolResult::error(said(format!(
                "the agent's task failed: {reason}: {message}"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use agentarea_crds::TaskStatus;

    use super::*;
    use crate::mcp::fixtures::task_with;

    fn ended(phase: TaskPhase, result: Option<Value>, reason: Option<&str>) -> Task {
        task_with(TaskStatus {
            phase: Some(phase),
            result,
            reason: reason.map(String::from),
            message: reason.map(|_| "the model endpoint did not answer".to_string()),
            ..TaskStatus::default()
        })
    }

    #[test]
    fn the_answer_is_the_agents_or_why_there_is_none() {
        let cases = [
            (
                ended(TaskPhase::Succeeded, Some(json!("42")), None),
                false,
                "42",
            ),
            (
                ended(TaskPhase::Succeeded, Some(json!({"sum": 42})), None),
                false,
                r#"{"sum":42}"#,
            ),
            (ended(TaskPhase::Succeeded, None, None), false, ""),
            (
                ended(TaskPhase::Cancelled, None, None),
                true,
                "the agent's task was cancelled",
            ),
            (
                ended(TaskPhase::Failed, None, Some("ModelUnreachable")),
                true,
                "the agent's task failed: ModelUnreachable: the model endpoint did not answer",
            ),
        ];
        for (task, is_error, text) in cases {
            let result = answer(&task);
            assert_eq!(result.is_error, Some(is_error), "{text}");
            let got = serde_json::to_value(&result).unwrap();
            assert_eq!(got["content"][0]["text"], text);
        }
    }
}
