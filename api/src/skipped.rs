//! Recording webhook deliveries a trigger's conditions held back, one writer per trigger at a
//! time, each taking every record waiting for that trigger (a group commit). Every record is a
//! compare-and-swap on the trigger's status; deliveries skipped at once, each writing its own,
//! would mostly lose to each other, retry, and lose again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use kube::{Api, ResourceExt};

use agentarea_crds::Trigger;
use agentarea_crds::trigger::{TriggerExecution, record_skipped_firings};

/// The std locks here are held for a map operation, which does not panic.
const UNPOISONED: &str = "no holder panics";

/// Per trigger (by uid): the records waiting, and the lock its writer holds.
#[derive(Default)]
pub struct SkippedFirings {
    waiting: Mutex<HashMap<String, Vec<TriggerExecution>>>,
    writers: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl SkippedFirings {
    /// Records `entry` for `trigger` through `api` (the trigger's namespace, as its workspace):
    /// waits for the trigger's writer, then writes what is waiting, unless a writer before took
    /// `entry` along.
    pub async fn record(
        &self,
        api: &Api<Trigger>,
        trigger: &Trigger,
        entry: TriggerExecution,
    ) -> Result<(), kube::Error> {
        let key = trigger.uid().unwrap_or_default();
        self.waiting
            .lock()
            .expect(UNPOISONED)
            .entry(key.clone())
            .or_default()
            .push(entry);
        let writer = self
            .writers
            .lock()
            .expect(UNPOISONED)
            .entry(key.clone())
            .or_default()
            .clone();
        let _turn = writer.lock().await;
        let batch = self
            .waiting
            .lock()
            .expect(UNPOISONED)
            .remove(&key)
            .unwrap_or_default();
        if batch.is_empty() {
            return Ok(());
        }
        record_skipped_firings(api, trigger, &batch).await
    }
}
