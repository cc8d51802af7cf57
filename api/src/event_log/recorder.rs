//! What each kind's cache hands the event log: how a kind's changes are named (`<prefix>_created`,
//! ...), which state word tells a change of state (`task_completed`, `agent_status_changed`)
//! from any other update, and the REST shape the events carry.

use std::sync::Arc;

use kube::{Client, ResourceExt};
use serde::Serialize;

use agentarea_crds::{Agent, McpServerInstance, Skill, Task, Trigger};

use super::history::{Describe, KindHistory};
use super::{ChangeKind, EventLog, Noted};
use crate::cache::feed::revision;
use crate::cache::relist::Difference;
use crate::cache::{CachedResource, Change};
use crate::model::{ready_state, tasks};

pub trait LoggedKind: CachedResource {
    const EVENT_PREFIX: &'static str;
    fn state_word(&self) -> Option<String>;
}

impl LoggedKind for McpServerInstance {
    const EVENT_PREFIX: &'static str = "mcp_server_instance";
    fn state_word(&self) -> Option<String> {
        let phase = self.status.as_ref().and_then(|s| s.phase);
        phase.map(|p| format!("{p:?}"))
    }
}

impl LoggedKind for Skill {
    const EVENT_PREFIX: &'static str = "skill";
    fn state_word(&self) -> Option<String> {
        ready_state(self.status.as_ref().map(|s| &s.conditions))
    }
}

impl LoggedKind for Agent {
    const EVENT_PREFIX: &'static str = "agent";
    fn state_word(&self) -> Option<String> {
        ready_state(self.status.as_ref().map(|s| &s.conditions))
    }
}

impl LoggedKind for Trigger {
    const EVENT_PREFIX: &'static str = "trigger";
    fn state_word(&self) -> Option<String> {
        Some(self.spec.enabled.to_string())
    }
}

impl LoggedKind for Task {
    const EVENT_PREFIX: &'static str = "task";
    fn state_word(&self) -> Option<String> {
        Some(tasks::rest_status(tasks::phase(self)).to_string())
    }
}

/// The change handler of one kind's cache: records each change in `events` in the REST shape
/// `present` gives, and tells the log where the kind's history at the apiserver is.
pub fn recorder<K: LoggedKind, R: Serialize>(
    events: &Arc<EventLog>,
    client: Client,
    present: impl Fn(&K) -> R + Send + Sync + 'static,
) -> impl Fn(Change<K>) + Send + Sync + 'static {
    let events = events.clone();
    let describe = Arc::new(Describe {
        prefix: K::EVENT_PREFIX,
        state_word: K::state_word,
        present: Arc::new(move |object: &K| {
            serde_json::to_value(present(object)).unwrap_or_default()
        }),
        is_new: is_new::<K>,
    });
    let history = Arc::new(KindHistory {
        client,
        describe: describe.clone(),
    });
    move |change| match change {
        Change::Initial {
            objects,
            resource_version,
        } => events.start_kind(
            K::EVENT_PREFIX,
            resource_version,
            objects
                .iter()
                .filter_map(|object| Some((object.uid()?, object.state_word()?))),
            history.clone(),
        ),
        Change::Applied(object) => {
            let change = if is_new(object.as_ref()) {
                ChangeKind::Created
            } else {
                ChangeKind::Updated
            };
            events.record(K::EVENT_PREFIX, noted(&describe, &object, change));
        }
        Change::Deleted(object) => events.record(
            K::EVENT_PREFIX,
            noted(&describe, &object, ChangeKind::Deleted),
        ),
        Change::Gap {
            differences,
            resource_version,
        } => {
            let changes = differences
                .iter()
                .map(|difference| match difference {
                    Difference::Created(o) => noted(&describe, o, ChangeKind::Created),
                    Difference::Updated(o) => noted(&describe, o, ChangeKind::Updated),
                    Difference::Deleted(o) => noted(&describe, o, ChangeKind::Deleted),
                })
                .collect();
            events.record_gap(K::EVENT_PREFIX, changes, resource_version);
        }
        Change::Progress(resource_version) => events.progress(K::EVENT_PREFIX, resource_version),
    }
}

fn noted<K: LoggedKind>(describe: &Describe<K>, object: &K, change: ChangeKind) -> Noted {
    Noted {
        namespace: object.namespace().unwrap_or_default(),
        uid: object.uid().unwrap_or_default(),
        change,
        state: object.state_word(),
        data: (describe.present)(object),
        position: revision(object.resource_version().as_deref()).unwrap_or_default(),
    }
}

/// An object the watch delivers for the first time: generation 1 and no status written yet.
fn is_new<K: kube::Resource>(object: &K) -> bool {
    let meta = object.meta();
    meta.generation == Some(1)
        && meta
            .managed_fields
            .iter()
            .flatten()
            .all(|f| f.subresource.as_deref() != Some("status"))
}
