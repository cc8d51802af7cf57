//! A claimed task's status, as its runner writes it.
//!
//! Every write is a `PUT` of the status subresource with the resourceVersion last seen as a
//! precondition, so a write never lands on a version the writer has not seen. That is what makes a
//! claim exclusive (of two replicas claiming the same Pending task, one gets 409 Conflict) and
//! what stops a runner that lost its claim (a replica that was partitioned away and came back)
//! from overwriting the steps of the runner that took over.
//!
//! A conflict is also how a runner learns of changes to the spec (a cancel bumps the
//! resourceVersion): it re-reads, checks that the claim is still its own, and writes again.

use std::sync::Arc;

use k8s_openapi::jiff::Timestamp;
use kube::api::PostParams;
use kube::{Api, ResourceExt};
use serde_json::Value;
use tokio::sync::Mutex;

use agentarea_crds::common::now;
use agentarea_crds::task::{TaskClaim, TaskStep};
use agentarea_crds::{Task, TaskStatus};

use crate::context::Context;

/// Steps kept in status; older ones are dropped (and counted) first.
pub const MAX_KEPT_STEPS: usize = 150;
/// Bytes of a step's message, and of its data as JSON, beyond which they are truncated. With
/// [`MAX_KEPT_STEPS`] this keeps a Task well under etcd's object size limit.
pub const MAX_STEP_BYTES: usize = 4096;

/// Why a runner can no longer write its task.
#[derive(thiserror::Error, Debug)]
pub enum RecordError {
    #[error("the task's claim now belongs to {0}")]
    Lost(String),
    #[error("the task was deleted")]
    Gone,
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
}

/// A step to append: its type (AgentArea's event name), a line for people, and structured data.
pub struct Step {
    pub type_: &'static str,
    pub message: Option<String>,
    pub data: Option<Value>,
}

impl Step {
    pub fn new(type_: &'static str, message: impl Into<String>) -> Self {
        Self {
            type_,
            message: Some(message.into()),
            data: None,
        }
    }

    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }
}

/// The record of a run, shared by the run and the heartbeat that renews its claim.
pub type SharedRecord = Arc<Mutex<TaskRecord>>;

/// An `Api` of kind `K` in `task`'s namespace: where its agent, its child tasks and its kept
/// conversation live.
pub fn tasks_namespace<K>(ctx: &Context, task: &Task) -> Api<K>
where
    K: kube::Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>,
{
    Api::namespaced(ctx.client.clone(), &task.namespace().unwrap_or_default())
}

/// A change to the status that waits for the next write.
type Staged = Box<dyn Fn(&mut TaskStatus) + Send + Sync>;

/// The task as its runner last wrote or read it.
pub struct TaskRecord {
    api: Api<Task>,
    task: Task,
    holder: String,
    execution_id: String,
    /// Changes to go out with the next write, in order.
    staged: Vec<Staged>,
}

impl TaskRecord {
    /// Writes `status` (which names `holder` in its claim) over `task`'s, on the condition that
    /// `task` is still the latest version. `None` when another writer got there first.
    pub async fn claim(
        api: Api<Task>,
        task: &Task,
        status: TaskStatus,
    ) -> Result<Option<Self>, kube::Error> {
        let claim = status
            .claim
            .clone()
            .expect("a claiming status names its holder");
        let execution_id = status.execution_id.clone().unwrap_or_default();
        let written = write_if_unchanged(&api, task, status).await?;
        Ok(written.map(|task| Self {
            api,
            task,
            holder: claim.holder,
            execution_id,
            staged: Vec::new(),
        }))
    }

    pub fn task(&self) -> &Task {
        &self.task
    }

    pub fn status(&self) -> &TaskStatus {
        self.task
            .status
            .as_ref()
            .expect("a claimed task has a status")
    }

    /// Keeps `change` for the next write. For a step that is followed at once by another (a model
    /// answer by the tool calls it asks for, tool results by the next model call): one write for
    /// both halves the status writes of a run without delaying what a watcher sees.
    pub fn stage(&mut self, change: impl Fn(&mut TaskStatus) + Send + Sync + 'static) {
        self.staged.push(Box::new(change));
    }

    /// Keeps `step` for the next write.
    pub fn stage_step(&mut self, step: Step) {
        self.stage(move |status| push_step(status, &step));
    }

    /// Writes what is staged, if anything.
    pub async fn flush(&mut self) -> Result<(), RecordError> {
        if self.staged.is_empty() {
            return Ok(());
        }
        self.update(|_| {}).await
    }

    /// Applies the staged changes and `change` to the status, renews the claim, and writes it. On
    /// a conflict, re-reads the task; if the claim is still this runner's, applies them to the
    /// fresh status and writes again.
    pub async fn update(&mut self, change: impl Fn(&mut TaskStatus)) -> Result<(), RecordError> {
        loop {
            let mut status = self.task.status.clone().unwrap_or_default();
            for staged in &self.staged {
                staged(&mut status);
            }
            change(&mut status);
            if let Some(claim) = status.claim.as_mut() {
                claim.renew_time = now();
            }
            match write_if_unchanged(&self.api, &self.task, status).await {
                Ok(Some(written)) => {
                    self.task = written;
                    self.staged.clear();
                    return Ok(());
                }
                Ok(None) => self.reread().await?,
                Err(kube::Error::Api(status)) if status.is_not_found() => {
                    return Err(RecordError::Gone);
                }
                Err(error) => return Err(error.into()),
            }
        }
    }

    /// Renews the claim without other changes: the runner's heartbeat.
    pub async fn renew(&mut self) -> Result<(), RecordError> {
        self.update(|_| {}).await
    }

    /// Appends `steps` in one write.
    pub async fn append(&mut self, steps: &[Step]) -> Result<(), RecordError> {
        self.update(|status| {
            for step in steps {
                push_step(status, step);
            }
        })
        .await
    }

    /// Re-reads the task after a conflict; fails when the claim is no longer this run's.
    async fn reread(&mut self) -> Result<(), RecordError> {
        let fresh = self
            .api
            .get_opt(&self.task.name_any())
            .await?
            .ok_or(RecordError::Gone)?;
        let status = fresh.status.clone().unwrap_or_default();
        let ours = status
            .claim
            .as_ref()
            .is_some_and(|c| c.holder == self.holder)
            && status.execution_id.as_deref() == Some(self.execution_id.as_str());
        if !ours {
            let holder = status.claim.map_or_else(|| "nobody".into(), |c| c.holder);
            return Err(RecordError::Lost(holder));
        }
        self.task = fresh;
        Ok(())
    }
}

/// Writes `status` over `task`'s on the condition that `task` is still the latest version (its
/// resourceVersion is the precondition): the written task, or `None` if another write came first.
/// Every write of a Task's status goes through here.
pub async fn write_if_unchanged(
    api: &Api<Task>,
    task: &Task,
    status: TaskStatus,
) -> kube::Result<Option<Task>> {
    let mut object = task.clone();
    object.status = Some(status);
    match api
        .replace_status(&task.name_any(), &PostParams::default(), &object)
        .await
    {
        Ok(written) => Ok(Some(written)),
        Err(kube::Error::Api(status)) if status.is_conflict() => Ok(None),
        Err(error) => Err(error),
    }
}

/// Appends `step` with the next sequence number, bounded in size; drops the oldest steps beyond
/// [`MAX_KEPT_STEPS`] and counts them, so sequence numbers stay gapless for the API's resume.
pub fn push_step(status: &mut TaskStatus, step: &Step) {
    let seq = status.step_count.unwrap_or(0) + 1;
    status.steps.push(TaskStep {
        seq,
        time: now(),
        type_: step.type_.to_string(),
        message: step
            .message
            .as_deref()
            .map(|m| crate::text::truncate(m, MAX_STEP_BYTES)),
        data: step.data.clone().map(bounded_data),
    });
    status.step_count = Some(seq);
    let excess = status.steps.len().saturating_sub(MAX_KEPT_STEPS);
    if excess > 0 {
        status.steps.drain(..excess);
        status.dropped_steps = Some(status.dropped_steps.unwrap_or(0) + excess as i64);
    }
}

/// Step data larger than [`MAX_STEP_BYTES`] as JSON is replaced by a truncated preview of it.
fn bounded_data(data: Value) -> Value {
    let text = data.to_string();
    if text.len() <= MAX_STEP_BYTES {
        return data;
    }
    serde_json::json!({
        "truncated": true,
        "bytes": text.len(),
        "preview": crate::text::truncate(&text, MAX_STEP_BYTES),
    })
}

/// A new claim for `holder`, attempt `attempt`.
pub fn new_claim(holder: &str, lease_seconds: u64, attempt: i32) -> TaskClaim {
    TaskClaim {
        holder: holder.to_string(),
        acquire_time: now(),
        renew_time: now(),
        lease_duration_seconds: lease_seconds as i64,
        attempt,
    }
}

/// Whether `claim` has gone unrenewed for longer than its lease (or there is none).
pub fn claim_expired(claim: Option<&TaskClaim>, at: Timestamp) -> bool {
    claim.is_none_or(|claim| {
        let lease = k8s_openapi::jiff::SignedDuration::from_secs(claim.lease_duration_seconds);
        claim.renew_time.0 + lease < at
    })
}

/// How long until `claim` expires (zero if it has).
pub fn until_expiry(claim: &TaskClaim, at: Timestamp) -> std::time::Duration {
    let lease = k8s_openapi::jiff::SignedDuration::from_secs(claim.lease_duration_seconds);
    let expiry = claim.renew_time.0 + lease;
    std::time::Duration::try_from(expiry.duration_since(at)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use agentarea_crds::steps;

    use super::*;

    #[test]
    fn steps_are_numbered_and_bounded() {
        let mut status = TaskStatus::default();
        for i in 0..MAX_KEPT_STEPS + 5 {
            push_step(
                &mut status,
                &Step::new(steps::LLM_CALL_STARTED, format!("call {i}")),
            );
        }
        assert_eq!(status.steps.len(), MAX_KEPT_STEPS);
        assert_eq!(status.dropped_steps, Some(5));
        assert_eq!(status.steps[0].seq, 6);
        assert_eq!(
            status.steps.last().unwrap().seq,
            (MAX_KEPT_STEPS + 5) as i64
        );
    }

    #[test]
    fn large_payloads_are_truncated_with_a_marker() {
        let mut status = TaskStatus::default();
        let big = "x".repeat(MAX_STEP_BYTES * 3);
        push_step(
            &mut status,
            &Step::new(steps::TOOL_CALL_COMPLETED, big.clone())
                .with_data(serde_json::json!({"r": big})),
        );
        let step = &status.steps[0];
        assert!(step.message.as_ref().unwrap().ends_with("[truncated]"));
        assert_eq!(step.data.as_ref().unwrap()["truncated"], true);
        assert!(step.data.as_ref().unwrap().to_string().len() < MAX_STEP_BYTES + 200);
    }

    #[test]
    fn a_claim_expires_after_its_lease() {
        let claim = new_claim("a", 10, 1);
        let renewed = claim.renew_time.0;
        assert!(!claim_expired(Some(&claim), renewed));
        assert!(claim_expired(
            Some(&claim),
            renewed + k8s_openapi::jiff::SignedDuration::from_secs(11)
        ));
        assert!(claim_expired(None, renewed));
    }
}
