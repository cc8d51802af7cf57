//! The runs of this replica: admission (one permit per run, at most a workspace's share of
//! them), the queue of tasks that found no permit, and the switch that stops each run.
//!
//! Nothing here is a guarantee across replicas: a permit bounds what this process runs at once,
//! and the claim written to the Task ([`super::record`]) is what makes a run exclusive.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::channel::mpsc;
use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use agentarea_crds::Task;

use super::run::outcome::Stop;
use crate::context::Context;
use crate::controllers::HasContext;

/// A waiting task is also looked at again after this long, in case its wake-up went to a task
/// that another replica had taken meanwhile.
const WAITING_RECHECK: Duration = Duration::from_secs(30);

/// The switch a run listens on for a request to stop.
pub type StopSwitch = Arc<watch::Sender<Option<Stop>>>;

/// The runs of this replica.
pub struct Runner {
    pub ctx: Arc<Context>,
    /// Running tasks by uid, with the switch that stops each.
    runs: Mutex<HashMap<String, StopSwitch>>,
    /// One permit per task this replica may run at once.
    permits: Arc<Semaphore>,
    /// Runs per workspace, against the share one workspace may take.
    workspaces: Arc<WorkspaceRuns>,
    /// Tasks that found no free permit, oldest first; a run that ends wakes as many as it frees.
    waiting: Mutex<VecDeque<ObjectRef<Task>>>,
    /// Tasks to reconcile again: the controller reads this channel.
    wake: mpsc::UnboundedSender<ObjectRef<Task>>,
}

impl HasContext for Runner {
    fn context(&self) -> &Context {
        &self.ctx
    }
}

/// What a run holds while it runs: a place among this replica's runs and among its workspace's.
pub struct RunPermit {
    _replica: OwnedSemaphorePermit,
    _workspace: WorkspaceRun,
}

impl Runner {
    /// A runner with the replica's and each workspace's concurrency from the config; tasks it
    /// wakes are sent on `wake`.
    pub fn new(ctx: Arc<Context>, wake: mpsc::UnboundedSender<ObjectRef<Task>>) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(ctx.config.task_concurrency as usize)),
            workspaces: Arc::new(WorkspaceRuns::new(
                ctx.config.workspace_task_concurrency as usize,
            )),
            runs: Mutex::new(HashMap::new()),
            waiting: Mutex::new(VecDeque::new()),
            wake,
            ctx,
        }
    }

    /// Notes that `task` waits for a permit.
    pub fn wait_for_permit(&self, task: &Task) -> Action {
        let reference = ObjectRef::from_obj(task);
        let mut waiting = self.waiting.lock().unwrap();
        if !waiting.contains(&reference) {
            waiting.push_back(reference);
        }
        Action::requeue(WAITING_RECHECK)
    }

    /// A permit to run `task` now: one of this replica's, and one of its workspace's share.
    pub fn admit(&self, task: &Task) -> Option<RunPermit> {
        let namespace = task.namespace().unwrap_or_default();
        let workspace = self.workspaces.take(&namespace)?;
        let replica = self.permits.clone().try_acquire_owned().ok()?;
        Some(RunPermit {
            _replica: replica,
            _workspace: workspace,
        })
    }

    /// Whether this replica runs the task of `uid`.
    pub fn is_running(&self, uid: &str) -> bool {
        self.runs.lock().unwrap().contains_key(uid)
    }

    /// Registers the run of `uid`, and the switch that stops it.
    pub fn started(&self, uid: &str, stop: StopSwitch) {
        self.runs.lock().unwrap().insert(uid.to_string(), stop);
    }

    /// Forgets the run of `uid`, gives its permit back and wakes the tasks that waited for one.
    pub fn ended(&self, uid: &str, permit: RunPermit) {
        self.runs.lock().unwrap().remove(uid);
        drop(permit);
        self.wake_waiting();
    }

    /// Reconciles `task` again soon (a parent whose child finished).
    pub fn wake(&self, task: ObjectRef<Task>) {
        let _ = self.wake.unbounded_send(task);
    }

    /// Wakes the oldest waiting tasks, one per free permit, passing over those whose workspace
    /// has no room (they wait for a run of their own workspace to end).
    fn wake_waiting(&self) {
        let free = self.permits.available_permits().max(1);
        let mut waiting = self.waiting.lock().unwrap();
        let mut woken = 0;
        waiting.retain(|reference| {
            let namespace = reference.namespace.as_deref().unwrap_or_default();
            if woken >= free || self.workspaces.is_full(namespace) {
                return true;
            }
            woken += 1;
            let _ = self.wake.unbounded_send(reference.clone());
            false
        });
    }

    /// Asks the run of `uid` to stop; a request to stop at once overrides one to stop later.
    pub fn stop(&self, uid: &str, why: Stop) {
        if let Some(stop) = self.runs.lock().unwrap().get(uid) {
            stop.send_if_modified(|current| {
                let stronger = why.overrides(*current);
                if stronger {
                    *current = Some(why);
                }
                stronger
            });
        }
    }

    /// Stops every run of this replica and waits for each to hand its claim back.
    pub async fn stop_all(&self) {
        let uids: Vec<String> = self.runs.lock().unwrap().keys().cloned().collect();
        for uid in &uids {
            self.stop(uid, Stop::Shutdown);
        }
        // Each run holds a permit until it has written its last status.
        let all = self.ctx.config.task_concurrency;
        let _ = self.permits.acquire_many(all).await;
    }
}

/// Runs of this replica per workspace (namespace), each workspace at most `max` (0: no cap of
/// its own).
struct WorkspaceRuns {
    max: usize,
    running: Mutex<HashMap<String, usize>>,
}

impl WorkspaceRuns {
    fn new(max: usize) -> Self {
        Self {
            max,
            running: Mutex::default(),
        }
    }

    fn is_full(&self, namespace: &str) -> bool {
        self.max > 0
            && self
                .running
                .lock()
                .unwrap()
                .get(namespace)
                .copied()
                .unwrap_or(0)
                >= self.max
    }

    fn take(self: &Arc<Self>, namespace: &str) -> Option<WorkspaceRun> {
        let mut running = self.running.lock().unwrap();
        let count = running.entry(namespace.to_string()).or_default();
        if self.max > 0 && *count >= self.max {
            return None;
        }
        *count += 1;
        Some(WorkspaceRun {
            runs: self.clone(),
            namespace: namespace.to_string(),
        })
    }
}

/// One run of a workspace; dropping it gives the place back.
struct WorkspaceRun {
    runs: Arc<WorkspaceRuns>,
    namespace: String,
}

impl Drop for WorkspaceRun {
    fn drop(&mut self) {
        let mut running = self.runs.running.lock().unwrap();
        if let Some(count) = running.get_mut(&self.namespace) {
            *count -= 1;
            if *count == 0 {
                running.remove(&self.namespace);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_workspace_takes_at_most_its_share_and_gives_it_back() {
        let runs = Arc::new(WorkspaceRuns::new(2));
        let first = runs.take("ws-a").expect("room");
        let _second = runs.take("ws-a").expect("room");
        assert!(runs.is_full("ws-a"));
        assert!(runs.take("ws-a").is_none(), "a third run of ws-a waits");
        let _other = runs
            .take("ws-b")
            .expect("another workspace has its own share");
        drop(first);
        assert!(!runs.is_full("ws-a"));
        assert!(runs.take("ws-a").is_some());

        let uncapped = Arc::new(WorkspaceRuns::new(0));
        let held: Vec<_> = (0..100).filter_map(|_| uncapped.take("ws-a")).collect();
        assert_eq!(held.len(), 100);
        assert!(!uncapped.is_full("ws-a"));
    }
}
