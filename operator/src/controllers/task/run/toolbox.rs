//! The tools a run offers the model, and making the calls it asks for over MCP.

use std::collections::HashMap;
use std::time::Instant;

use futures::future::join_all;
use kube::{Api, ResourceExt};
use serde_json::{Value, json};
use tracing::Instrument;

use agentarea_crds::agent::ResolvedTool;
use agentarea_crds::{Agent, McpServerInstance, Task, steps};

use crate::context::Context;
use crate::controllers::task::children::{agent_tool_name, agent_tool_parameters};
use crate::controllers::task::record::{RecordError, SharedRecord, Step, push_step};
use crate::mcp;
use crate::mcp::routing::route_tool;
use crate::metrics::ToolLabels;
use crate::model::{ToolCall, ToolDefinition};
use crate::text::truncate;

/// Bytes of one tool result given back to the model; more would crowd out the conversation.
const MAX_TOOL_RESULT_BYTES: usize = 32 * 1024;

/// The tools the model is offered, and where each call goes.
pub struct Toolbox {
    pub definitions: Vec<ToolDefinition>,
    by_name: HashMap<String, ResolvedTool>,
    /// The tools' instances as the run found them at its start (`None`: not found), so that a
    /// tool call does not read its instance again.
    instances: HashMap<String, Option<McpServerInstance>>,
    /// The agents the model may call, by the tool name it calls them by.
    agents: HashMap<String, String>,
}

/// What one tool call gave back to the model.
pub struct CallResult {
    pub call_id: String,
    pub text: String,
    pub error: Option<String>,
}

impl Toolbox {
    /// The agent's resolved tools, with descriptions and schemas from their instances' status.
    /// Tools that need a person's approval are offered too: the run waits for the decision before
    /// it makes such a call.
    pub async fn load(ctx: &Context, agent: &Agent, task: &Task, namespace: &str) -> Self {
        let resolved: Vec<ResolvedTool> = agent
            .status
            .as_ref()
            .map(|s| s.tools.clone())
            .unwrap_or_default();
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
        let mut agents = HashMap::new();
        // Agents as tools, unless the task turned agent communication off.
        if task.spec.enable_agent_communication != Some(false) {
            let api: Api<Agent> = Api::namespaced(ctx.client.clone(), namespace);
            for callee in &agent.spec.agents {
                let Ok(Some(found)) = api.get_opt(&callee.name).await else {
                    tracing::info!(agent = %callee.name, "an agent named as a tool does not exist");
                    continue;
                };
                let name = agent_tool_name(&callee.name);
                if definitions.iter().any(|d| d.name == name) {
                    continue;
                }
                definitions.push(ToolDefinition {
                    name: name.clone(),
                    description: callee
                        .description
                        .clone()
                        .or(found.spec.description.clone())
                        .unwrap_or_else(|| format!("Ask agent {}.", callee.name)),
                    parameters: agent_tool_parameters(),
                });
                agents.insert(name, callee.name.clone());
            }
        }
        Self {
            definitions,
            agents,
            by_name: resolved.into_iter().map(|t| (t.name.clone(), t)).collect(),
            instances,
        }
    }

    /// Why a call of `tool` needs a person's approval, as the Agent controller decided it (from
    /// the agent's listing, the tool's annotations and the agent's policy), if it does. A name
    /// the agent does not have needs none: the call fails without reaching a server.
    pub fn approval_reason(&self, tool: &str) -> Option<String> {
        let tool = self.by_name.get(tool)?;
        (tool.requires_approval || tool.requires_user_confirmation).then(|| {
            tool.approval_reason
                .clone()
                .unwrap_or_else(|| format!("{} of {} needs approval", tool.tool, tool.instance))
        })
    }

    /// Whether a call of `tool` that may or may not have happened can be made again: its server
    /// declares it read-only or idempotent.
    pub fn may_repeat(&self, tool: &str) -> bool {
        // A call of an agent finds the child task the first attempt started.
        self.agents.contains_key(tool)
            || self
                .by_name
                .get(tool)
                .and_then(|t| t.annotations)
                .is_some_and(|a| a.read_only() || a.idempotent())
    }

    /// The agent a call of `tool` asks, if `tool` is an agent.
    pub fn agent_of(&self, tool: &str) -> Option<&str> {
        self.agents.get(tool).map(String::as_str)
    }

    /// Makes `calls` in parallel, each recorded as started and then as completed or failed.
    pub async fn call_all(
        &self,
        ctx: &Context,
        record: &SharedRecord,
        namespace: &str,
        calls: &[ToolCall],
    ) -> Result<Vec<CallResult>, RecordError> {
        if calls.is_empty() {
            return Ok(Vec::new());
        }
        let started: Vec<Step> = calls
            .iter()
            .map(|call| {
                let instance = self.by_name.get(&call.function.name).map(|t| &t.instance);
                Step::new(
                    steps::TOOL_CALL_STARTED,
                    format!("calling {}", call.function.name),
                )
                .with_data(json!({
                    "tool_call_id": call.id,
                    "tool": call.function.name,
                    "instance": instance,
                    "arguments": call.function.arguments,
                }))
            })
            .collect();
        let task_uid = {
            let mut record = record.lock().await;
            record.append(&started).await?;
            record.task().uid().unwrap_or_default()
        };
        let results = join_all(
            calls
                .iter()
                .map(|call| self.call(ctx, namespace, &task_uid, call)),
        )
        .await;
        let finished: Vec<Step> = results
            .iter()
            .zip(calls)
            .map(|(result, call)| match &result.error {
                None => {
                    Step::new(steps::TOOL_CALL_COMPLETED, result.text.clone()).with_data(json!({
                        "tool_call_id": call.id,
                        "tool": call.function.name,
                        "result": result.text,
                    }))
                }
                Some(error) => Step::new(steps::TOOL_CALL_FAILED, error.clone()).with_data(json!({
                    "tool_call_id": call.id,
                    "tool": call.function.name,
                    "error": error,
                })),
            })
            .collect();
        // Written with the next model call, which follows at once.
        record.lock().await.stage(move |status| {
            for step in &finished {
                push_step(status, step);
            }
        });
        Ok(results)
    }

    /// One call, timed and counted (for the agent's own tools only: a name the model made up
    /// must not become a metric label), in an `execute_tool {name}` span.
    async fn call(
        &self,
        ctx: &Context,
        namespace: &str,
        task_uid: &str,
        call: &ToolCall,
    ) -> CallResult {
        let tool = self.by_name.get(&call.function.name);
        let span = tracing::info_span!(
            target: agentarea_support::telemetry::SPANS,
            "execute_tool",
            otel.name = format!("execute_tool {}", call.function.name),
            otel.kind = "client",
            otel.status_code = tracing::field::Empty,
            error.type = tracing::field::Empty,
            gen_ai.operation.name = "execute_tool",
            gen_ai.tool.name = %call.function.name,
            gen_ai.tool.call.id = %call.id,
            gen_ai.tool.type = "extension",
            agentarea.mcp_server_instance = tool.map(|t| t.instance.as_str()),
        );
        let started = Instant::now();
        let result = self
            .make_call(ctx, namespace, task_uid, call)
            .instrument(span.clone())
            .await;
        if let Some(tool) = tool {
            let labels = ToolLabels {
                namespace: namespace.into(),
                instance: tool.instance.clone(),
                tool: tool.tool.clone(),
            };
            let ok = result.error.is_none();
            ctx.metrics.tasks.tool_call(labels, started.elapsed(), ok);
        }
        if let Some(error) = &result.error {
            span.record("otel.status_code", "ERROR");
            span.record("error.type", "tool_error");
            span.in_scope(|| tracing::info!(%error, "tool call failed"));
        }
        result
    }

    /// Makes one call. Every failure (unknown tool, bad arguments, unreachable server, a tool that
    /// reports an error) becomes a result the model reads, as agents expect.
    async fn make_call(
        &self,
        ctx: &Context,
        namespace: &str,
        task_uid: &str,
        call: &ToolCall,
    ) -> CallResult {
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
            Err(problem) => return failed(problem.message),
        };
        // The server (or the bridge in front of it) continues the tool call's trace.
        let mut meta = agentarea_support::telemetry::inject(&tracing::Span::current());
        meta.insert(
            mcp::IDEMPOTENCY_KEY_META.into(),
            format!("{task_uid}/{}", call.id),
        );
        match mcp::call_tool_with_meta(&endpoint, &name, arguments, meta).await {
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
}
