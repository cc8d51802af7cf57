//! Calls of other agents in a run: a child task started for each call that has none yet (or the
//! call refused: a cycle, too deep, nothing left to give), and the answers of children that have
//! finished. A call whose child still runs has no result yet; the run then waits unclaimed.

use std::collections::HashMap;

use kube::{Api, ResourceExt};
use serde_json::json;

use agentarea_crds::task::ChildTask;
use agentarea_crds::{Task, TaskPhase, steps};

use super::Run;
use super::toolbox::CallResult;
use crate::controllers::task::children::{
    Remaining, agent_input, chain_of, child_answer, child_name, child_step, child_task,
    create_child, plan_child,
};
use crate::controllers::task::record::{RecordError, Step, push_step};
use crate::model::ToolCall;

impl Run {
    /// Settles calls of other agents: starts a child task for each that has none yet (or refuses
    /// the call: a cycle, too deep, nothing left to give), and answers those whose child has
    /// finished. A call whose child still runs has no result yet.
    pub(super) async fn ask_agents(
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
                push_step(status, step);
            }
            for child in &started {
                if !status.children.iter().any(|c| c.name == child.name) {
                    status.children.push(child.clone());
                }
            }
        });
        Ok(answered)
    }
}
