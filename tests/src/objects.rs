//! What the tests read off the objects they watch, for the local control plane and for the kind
//! cluster alike.

use agentarea_crds::Task;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::PodSpec;

/// The Ready condition among `conditions` as (status, reason, message), once it exists.
pub fn ready_of(
    conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
) -> Option<(String, String, String)> {
    conditions
        .iter()
        .find(|c| c.type_ == agentarea_crds::common::condition::READY)
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

/// The `type` of each step in the task's status, in order.
pub fn step_types(task: &Task) -> Vec<String> {
    task.status
        .iter()
        .flat_map(|s| &s.steps)
        .map(|s| s.type_.clone())
        .collect()
}

/// The pod template's spec of a Deployment, which every Deployment the tests look at has.
#[track_caller]
pub fn pod_spec(deployment: &Deployment) -> &PodSpec {
    deployment
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .expect("a Deployment with a pod template")
}

/// The number of the container port called `name` in `pod`.
pub fn container_port(pod: &k8s_openapi::api::core::v1::Pod, name: &str) -> Option<i32> {
    pod.spec
        .as_ref()?
        .containers
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .find(|p| p.name.as_deref() == Some(name))
        .map(|p| p.container_port)
}

/// Writes a Task's status as the operator does (server-side apply under its field manager), for
/// tests of what the api makes of it.
pub async fn write_task_status(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    status: serde_json::Value,
) {
    let patch = serde_json::json!({
        "apiVersion": "agentarea.io/v1alpha1", "kind": "Task", "status": status
    });
    kube::Api::<Task>::namespaced(client.clone(), namespace)
        .patch_status(
            name,
            &kube::api::PatchParams::apply("agentarea-operator").force(),
            &kube::api::Patch::Apply(patch),
        )
        .await
        .expect("status write");
}
