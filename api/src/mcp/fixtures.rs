//! What the unit tests of the agents' endpoint build on.

use agentarea_crds::{Task, TaskStatus};
use serde_json::json;

/// A Task of agent `a` with `status`.
pub fn task_with(status: TaskStatus) -> Task {
    let mut task: Task = serde_json::from_value(json!({
        "apiVersion": "agentarea.io/v1alpha1", "kind": "Task",
        "metadata": {"name": "t", "namespace": "ws-a"},
        "spec": {"agent": "a", "input": "x"},
    }))
    .unwrap();
    task.status = Some(status);
    task
}
