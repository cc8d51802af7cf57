//! The workspace event log behind `GET /v1/events`: every change the caches see, as an event with
//! an id, kept in a bounded ring so a client that reconnects with `Last-Event-ID` gets what it
//! missed, and fanned out live over a bounded broadcast channel.
//!
//! Ids are `<epoch>-<seq>`: `seq` increases by one per event in this process, `epoch` names the
//! process. Object resourceVersions cannot serve, because the watches of different kinds deliver
//! out of order relative to each other, and a resumed stream would then repeat or skip events. A
//! client whose id is from another epoch (the api restarted, or another replica answered) or older
//! than the ring gets a `resync` event, telling it to re-list, instead of a silent gap.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::broadcast;

/// How many events the ring keeps for resumption.
pub const RING_CAPACITY: usize = 10_000;
/// How many events a live subscriber may fall behind before it catches up from the ring.
const LIVE_CAPACITY: usize = 1_024;

#[derive(Debug, Clone, PartialEq)]
pub struct WorkspaceEvent {
    pub seq: u64,
    pub namespace: String,
    pub event: String,
    pub data: Value,
}

pub struct EventLog {
    epoch: String,
    inner: Mutex<Ring>,
    live: broadcast::Sender<Arc<WorkspaceEvent>>,
    /// Last seen state word per object uid, to tell `status_changed` from `updated`.
    states: Mutex<HashMap<String, String>>,
}

struct Ring {
    next_seq: u64,
    events: VecDeque<Arc<WorkspaceEvent>>,
}

/// Where a resuming client stands.
pub enum Resume {
    /// Everything after the client's id, in order.
    From(Vec<Arc<WorkspaceEvent>>),
    /// The client's id cannot be continued from; it must re-list.
    Gap,
}

impl Default for EventLog {
    fn default() -> Self {
        Self::new()
    }
}

impl EventLog {
    pub fn new() -> Self {
        Self {
            epoch: uuid::Uuid::new_v4().simple().to_string()[..8].to_string(),
            inner: Mutex::new(Ring {
                next_seq: 1,
                events: VecDeque::with_capacity(1024),
            }),
            live: broadcast::channel(LIVE_CAPACITY).0,
            states: Mutex::new(HashMap::new()),
        }
    }

    pub fn id_of(&self, event: &WorkspaceEvent) -> String {
        format!("{}-{}", self.epoch, event.seq)
    }

    /// Records a change of an object and tells live subscribers.
    ///
    /// `kind` is the event prefix (`task`, `agent`, ...); `state` is the object's state word (a
    /// task's REST status, an instance's phase, readiness) so that a change of state is reported
    /// as such.
    pub fn record(
        &self,
        namespace: &str,
        kind: &str,
        uid: &str,
        change: ChangeKind,
        state: Option<String>,
        data: Value,
    ) {
        let word = {
            let mut states = self.states.lock().unwrap();
            match change {
                ChangeKind::Deleted => {
                    states.remove(uid);
                    "deleted".to_string()
                }
                ChangeKind::Created | ChangeKind::Updated => {
                    let previous = match &state {
                        Some(state) => states.insert(uid.to_string(), state.clone()),
                        None => states.get(uid).cloned(),
                    };
                    match (change, state, previous) {
                        (ChangeKind::Created, _, _) => "created".to_string(),
                        (_, Some(now), Some(before)) if now != before => state_event(kind, &now),
                        (_, Some(now), None) if kind == "task" => state_event(kind, &now),
                        _ => "updated".to_string(),
                    }
                }
            }
        };
        self.publish(namespace, format!("{kind}_{word}"), data);
    }

    fn publish(&self, namespace: &str, event: String, data: Value) {
        let event = {
            let mut ring = self.inner.lock().unwrap();
            let event = Arc::new(WorkspaceEvent {
                seq: ring.next_seq,
                namespace: namespace.to_string(),
                event,
                data,
            });
            ring.next_seq += 1;
            if ring.events.len() == RING_CAPACITY {
                ring.events.pop_front();
            }
            ring.events.push_back(event.clone());
            event
        };
        // No receivers is fine: nobody is streaming.
        let _ = self.live.send(event);
    }

    /// Events after `last_event_id` in `namespace`, or `Gap` if they cannot all be given.
    pub fn resume(&self, namespace: &str, last_event_id: &str) -> Resume {
        let Some(seq) = self.parse_id(last_event_id) else {
            return Resume::Gap;
        };
        let ring = self.inner.lock().unwrap();
        let oldest = ring.events.front().map_or(ring.next_seq, |e| e.seq);
        if seq + 1 < oldest || seq >= ring.next_seq {
            return Resume::Gap;
        }
        Resume::From(
            ring.events
                .iter()
                .filter(|e| e.seq > seq && e.namespace == namespace)
                .cloned()
                .collect(),
        )
    }

    fn parse_id(&self, id: &str) -> Option<u64> {
        let (epoch, seq) = id.rsplit_once('-')?;
        (epoch == self.epoch).then(|| seq.parse().ok()).flatten()
    }

    /// The sequence number the next event will get; a new stream starts after `next_seq - 1`.
    pub fn last_seq(&self) -> u64 {
        self.inner.lock().unwrap().next_seq - 1
    }

    /// Events after `seq` (all namespaces), for a subscriber that fell behind the live channel.
    pub fn after(&self, seq: u64) -> Option<Vec<Arc<WorkspaceEvent>>> {
        let ring = self.inner.lock().unwrap();
        let oldest = ring.events.front().map_or(ring.next_seq, |e| e.seq);
        (seq + 1 >= oldest).then(|| {
            ring.events
                .iter()
                .filter(|e| e.seq > seq)
                .cloned()
                .collect()
        })
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<WorkspaceEvent>> {
        self.live.subscribe()
    }

    pub fn epoch(&self) -> &str {
        &self.epoch
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    Created,
    Updated,
    Deleted,
}

/// A task's state word is its REST status, so the event is `task_<status>` (`task_completed`);
/// other kinds report `<kind>_status_changed`.
fn state_event(kind: &str, state: &str) -> String {
    if kind == "task" {
        state.to_string()
    } else {
        "status_changed".to_string()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn log_with(n: usize) -> EventLog {
        let log = EventLog::new();
        for i in 0..n {
            log.publish("ws-a", format!("e{i}"), json!(i));
        }
        log
    }

    #[test]
    fn resume_gives_exactly_the_missed_events() {
        let log = log_with(5);
        let id = format!("{}-2", log.epoch());
        let Resume::From(events) = log.resume("ws-a", &id) else {
            panic!("gap")
        };
        assert_eq!(
            events.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![3, 4, 5]
        );
    }

    #[test]
    fn resume_is_scoped_to_the_namespace() {
        let log = log_with(2);
        log.publish("ws-b", "secret".into(), json!("other workspace"));
        let Resume::From(events) = log.resume("ws-a", &format!("{}-0", log.epoch())) else {
            panic!()
        };
        assert!(events.iter().all(|e| e.namespace == "ws-a"));
        assert_eq!(events.len(), 2);
    }

    #[test]
    fn ids_from_another_process_or_too_old_are_gaps() {
        let log = log_with(RING_CAPACITY + 10);
        assert!(matches!(log.resume("ws-a", "deadbeef-3"), Resume::Gap));
        assert!(matches!(
            log.resume("ws-a", &format!("{}-3", log.epoch())),
            Resume::Gap
        ));
        assert!(matches!(log.resume("ws-a", "garbage"), Resume::Gap));
        let recent = format!("{}-{}", log.epoch(), RING_CAPACITY + 5);
        assert!(matches!(log.resume("ws-a", &recent), Resume::From(e) if e.len() == 5));
    }

    #[test]
    fn state_changes_are_named() {
        use ChangeKind::{Created, Updated};
        // (kind, uid, change, state word, the event it is told as)
        let changes = [
            ("task", "u1", Created, "pending", "task_created"),
            ("task", "u1", Updated, "running", "task_running"),
            ("task", "u1", Updated, "running", "task_updated"),
            ("task", "u1", Updated, "completed", "task_completed"),
            ("agent", "u2", Updated, "True", "agent_updated"),
            ("agent", "u2", Updated, "False", "agent_status_changed"),
        ];
        let log = EventLog::new();
        for (kind, uid, change, state, _) in changes {
            log.record("ns", kind, uid, change, Some(state.into()), json!({}));
        }
        let Resume::From(events) = log.resume("ns", &format!("{}-0", log.epoch())) else {
            panic!()
        };
        let names: Vec<_> = events.iter().map(|e| e.event.as_str()).collect();
        let wanted: Vec<_> = changes.iter().map(|c| c.4).collect();
        assert_eq!(names, wanted);
    }
}
