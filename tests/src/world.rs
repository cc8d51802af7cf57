//! A namespace in which tasks run: two MCP server instances (the real `server-everything` over
//! streamable HTTP, and the PyPI `mcp-server-time` behind the stdio bridge), a scripted model and
//! operator replicas watching the namespace. Shared by the runtime test files.

use std::time::Duration;

use agentarea_crds::common::condition;
use agentarea_crds::{Agent, McpServerInstance, Task, TaskPhase};
use serde_json::{Value, json};

use crate::mcp_servers::{McpServer, Operator, bridge, everything_server, time_server_command};
use crate::model::{Reply, ScriptedModel};
use crate::{TestNamespace, create, eventually};

pub const WAIT: Duration = Duration::from_secs(90);

/// A namespace with two MCP server instances (`everything` and `time`), a scripted model and an
/// operator watching the namespace.
pub struct World {
    pub ns: TestNamespace,
    pub model: ScriptedModel,
    pub operators: Vec<Operator>,
    /// `server-everything` (instance `everything`).
    pub everything: McpServer,
    /// The bridge in front of `mcp-server-time` (instance `time`).
    pub time: McpServer,
}

impl World {
    pub async fn new(
        prefix: &str,
        operator_env: &[(&str, String)],
        script: impl Fn(&Value) -> Reply + Send + Sync + 'static,
    ) -> Self {
        let ns = TestNamespace::create(prefix).await;
        let everything = everything_server();
        let time_command = time_server_command();
        let time = bridge(&[time_command.to_str().unwrap()]);
        let instances = ns.api::<McpServerInstance>();
        for (name, url) in [("everything", &everything.url), ("time", &time.url)] {
            create(
                &instances,
                json!({"apiVersion": "agentarea.io/v1alpha1", "kind": "McpServerInstance",
                       "metadata": {"name": name}, "spec": {"remote": {"url": url}}}),
            )
            .await;
        }
        let model = ScriptedModel::start(script).await;
        let operator = Operator::start(&ns.name, operator_env).await;
        Self {
            ns,
            model,
            operators: vec![operator],
            everything,
            time,
        }
    }

    /// Creates an agent with `spec` (the model and limits are added) and waits until it is Ready.
    pub async fn agent_with(&self, name: &str, mut spec: Value) -> Agent {
        spec["model"] = json!({"name": "scripted", "endpoint": self.model.url});
        spec["instruction"] = json!("You are a careful assistant.");
        let api = self.ns.api::<Agent>();
        create(
            &api,
            json!({"apiVersion": "agentarea.io/v1alpha1", "kind": "Agent", "metadata": {"name": name},
                   "spec": spec}),
        )
        .await;
        eventually(&format!("agent {name} Ready"), WAIT, || async {
            let agent = api.get(name).await.ok()?;
            let ready = agent.status.as_ref().is_some_and(|s| {
                agentarea_crds::common::is_condition_true(Some(&s.conditions), condition::READY)
            });
            ready.then_some(agent)
        })
        .await
    }

    /// Waits until task `name` is in `phase`, and returns it.
    pub async fn in_phase(&self, name: &str, want: TaskPhase) -> Task {
        let api = self.ns.api::<Task>();
        eventually(&format!("task {name} {want:?}"), WAIT, || async {
            let task = api.get(name).await.ok()?;
            (phase(&task) == Some(want)).then_some(task)
        })
        .await
    }

    /// Creates an agent that may call `echo` on `everything` and every tool of `time`, with
    /// `limits`, and waits until it is Ready.
    pub async fn agent(&self, name: &str, limits: Value) -> Agent {
        let tools =
            json!([{"name": "everything", "allowedTools": [{"name": "echo"}]}, {"name": "time"}]);
        self.agent_with(name, json!({"mcpServers": tools, "limits": limits}))
            .await
    }

    pub async fn task(&self, name: &str, agent: &str, input: &str) {
        create(
            &self.ns.api::<Task>(),
            json!({"apiVersion": "agentarea.io/v1alpha1", "kind": "Task", "metadata": {"name": name},
                   "spec": {"agent": agent, "input": input}}),
        )
        .await;
    }

    /// Waits until task `name` has finished, and returns it.
    pub async fn finished(&self, name: &str) -> Task {
        let api = self.ns.api::<Task>();
        eventually(&format!("task {name} finished"), WAIT, || async {
            let task = api.get(name).await.ok()?;
            phase(&task)
                .is_some_and(TaskPhase::is_finished)
                .then_some(task)
        })
        .await
    }
}

pub fn phase(task: &Task) -> Option<TaskPhase> {
    task.status.as_ref().and_then(|s| s.phase)
}

pub fn reason(task: &Task) -> String {
    task.status
        .as_ref()
        .and_then(|s| s.reason.clone())
        .unwrap_or_default()
}

pub fn result_text(task: &Task) -> String {
    task.status
        .as_ref()
        .and_then(|s| s.result.as_ref())
        .and_then(|r| r.as_str())
        .unwrap_or_default()
        .to_string()
}
