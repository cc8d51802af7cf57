//! A trigger's records of its firings: the bounded lists of `status`, and how a firing its
//! conditions held back is recorded by whoever decided it.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use serde_json::{Value, json};

use super::spec::{Trigger, TriggerExecution};

/// Entries kept in `status.executions` and in `status.skippedFirings`, each.
pub const MAX_EXECUTIONS: usize = 20;

/// Adds `execution` to `list` as the newest, forgetting the oldest beyond [`MAX_EXECUTIONS`].
pub fn push_newest(list: &mut Vec<TriggerExecution>, execution: TriggerExecution) {
    list.insert(0, execution);
    list.truncate(MAX_EXECUTIONS);
}

/// Records `entries` (oldest first) as the newest of `trigger`'s skipped firings, through `api` (the trigger's
/// namespace, with the writer's credentials): the one way the api (webhooks) and the operator
/// (events) write `status.skippedFirings`. A concurrent record is a conflict, retried on the
/// trigger as it then is; after five tries, the conflict is returned.
pub async fn record_skipped_firings(
    api: &kube::Api<Trigger>,
    trigger: &Trigger,
    entries: &[TriggerExecution],
) -> Result<(), kube::Error> {
    let mut current = trigger.clone();
    let mut attempts = 0;
    loop {
        let patch = skipped_firings_patch(&current, entries);
        let params = kube::api::PatchParams::default();
        match api
            .patch_status(
                &current.name_any(),
                &params,
                &kube::api::Patch::Merge(&patch),
            )
            .await
        {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(status)) if status.is_conflict() && attempts < 4 => {
                attempts += 1;
                current = api.get(&current.name_any()).await?;
            }
            Err(error) => return Err(error),
        }
    }
}

/// The merge patch of the status subresource that records `entries` as the newest skipped
/// firings of `trigger` as it was read: it carries the resourceVersion read, so a concurrent
/// record is a conflict (read again and retry), never a lost entry.
fn skipped_firings_patch(trigger: &Trigger, entries: &[TriggerExecution]) -> Value {
    let mut skipped = trigger
        .status
        .as_ref()
        .map(|s| s.skipped_firings.clone())
        .unwrap_or_default();
    for entry in entries {
        push_newest(&mut skipped, entry.clone());
    }
    json!({
        "metadata": { "resourceVersion": trigger.resource_version() },
        "status": { "skippedFirings": skipped },
    })
}

/// A skipped firing at `time` and why.
pub fn skipped(time: Time, reason: String) -> TriggerExecution {
    TriggerExecution {
        time,
        status: "skipped".into(),
        task: None,
        message: Some(reason),
        execution_time_ms: None,
    }
}
