//! The workspace event log behind `GET /v1/events`: every change the caches see, named
//! (`skill_created`, `task_completed`), kept in a bounded ring so a client that reconnects with
//! `Last-Event-ID` gets what it missed, and fanned out live over a bounded broadcast channel.
//!
//! An event's id is a [`cursor::Cursor`]: for each kind, the resourceVersion the stream has come
//! to. Those mean the same in every api replica and after restarts, so a client resumes on any of
//! them. What a replica's ring no longer holds (it started later, the ring rolled over, a watch
//! broke and listed again), it fetches from the apiserver's history ([`history`]); only a cursor
//! older than that history gets `resync`, telling the client to re-list.
//!
//! Order: each kind's events come in the order the apiserver made them. Across kinds they come in
//! the order this replica's watches delivered them; a resumed stream gives what it fetched from
//! the apiserver first, kind by kind, then the rest.

pub mod cursor;
pub mod history;
pub mod naming;
pub mod recorder;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};

use serde_json::Value;
use tokio::sync::broadcast;

use cursor::{Cursor, Fetch};
use history::History;
pub use naming::ChangeKind;
use naming::name_change;

/// How many entries the ring keeps for resumption.
pub const RING_CAPACITY: usize = 10_000;
/// How many entries a live subscriber may fall behind before it catches up from the ring.
const LIVE_CAPACITY: usize = 1_024;

/// One step of one kind's history in the ring: an event of a workspace, or only a position (how
/// far the kind's watch has come).
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub seq: u64,
    pub kind: &'static str,
    /// Where a stream that takes this entry stands in `kind`'s history.
    pub position: u64,
    /// Streams standing below this take the event as news ([`Cursor::take`]).
    pub news_below: u64,
    pub event: Option<WorkspaceEvent>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WorkspaceEvent {
    pub namespace: String,
    pub name: String,
    pub data: Value,
}

/// A change as the recorder hands it to the log.
pub struct Noted {
    pub namespace: String,
    pub uid: String,
    pub change: ChangeKind,
    /// The object's state word (a task's REST status, an instance's phase, readiness), so that a
    /// change of state is told as such.
    pub state: Option<String>,
    pub data: Value,
    /// The object's resourceVersion: for a deletion, the deletion's.
    pub position: u64,
}

pub struct EventLog {
    inner: Mutex<Ring>,
    live: broadcast::Sender<Arc<Entry>>,
    /// Last seen state word per object uid, to tell `status_changed` from `updated`.
    states: Mutex<HashMap<String, String>>,
    /// Each kind's history at the apiserver, for streams the ring cannot serve.
    histories: RwLock<BTreeMap<&'static str, Arc<dyn History>>>,
}

struct Ring {
    next_seq: u64,
    entries: VecDeque<Arc<Entry>>,
    kinds: BTreeMap<&'static str, Marks>,
}

/// How far the ring goes for one kind.
#[derive(Debug, Clone, Copy)]
struct Marks {
    /// The ring holds every change of the kind after this (the first list, the last re-list, or
    /// the last entry of the kind that rolled out of the ring).
    start: u64,
    /// The furthest position the kind's watch has reached.
    head: u64,
}

/// Where a stream opening or resuming stands.
pub enum Opening {
    /// The entries to take (all the ring holds), and the cursor to take them from.
    Ring(Vec<Arc<Entry>>),
    /// First fetch these from the apiserver's history.
    Fetch(Vec<Fetch>),
    /// The cursor is not one this log can continue.
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
            inner: Mutex::new(Ring {
                next_seq: 1,
                entries: VecDeque::with_capacity(1024),
                kinds: BTreeMap::new(),
            }),
            live: broadcast::channel(LIVE_CAPACITY).0,
            states: Mutex::new(HashMap::new()),
            histories: RwLock::new(BTreeMap::new()),
        }
    }

    /// A kind's first list: its history starts at `resource_version`, and the objects' states are
    /// what later changes are compared with.
    pub fn start_kind(
        &self,
        kind: &'static str,
        resource_version: u64,
        states: impl IntoIterator<Item = (String, String)>,
        history: Arc<dyn History>,
    ) {
        self.states.lock().unwrap().extend(states);
        self.histories.write().unwrap().insert(kind, history);
        self.inner.lock().unwrap().kinds.insert(
            kind,
            Marks {
                start: resource_version,
                head: resource_version,
            },
        );
    }

    /// Records a change the watch delivered and tells live subscribers.
    pub fn record(&self, kind: &'static str, change: Noted) {
        let position = change.position;
        let event = self.name(kind, change);
        self.push(vec![(kind, position, position, Some(event))], None);
    }

    /// Records what a re-list found (in order) and that the kind's history is whole again from
    /// `resource_version`: older positions are fetched from the apiserver.
    pub fn record_gap(&self, kind: &'static str, changes: Vec<Noted>, resource_version: u64) {
        let head = self.head(kind);
        let mut entries: Vec<_> = changes
            .into_iter()
            .map(|change| {
                // When in the gap an object was deleted is not known: it moves no position.
                let position = match change.change {
                    ChangeKind::Deleted => head,
                    _ => change.position,
                };
                let event = self.name(kind, change);
                (kind, position, resource_version, Some(event))
            })
            .collect();
        entries.push((kind, resource_version, 0, None));
        self.push(entries, Some((kind, resource_version)));
    }

    /// The kind's watch has come to `resource_version` (a bookmark).
    pub fn progress(&self, kind: &'static str, resource_version: u64) {
        if resource_version > self.head(kind) {
            self.push(vec![(kind, resource_version, 0, None)], None);
        }
    }

    fn head(&self, kind: &str) -> u64 {
        let ring = self.inner.lock().unwrap();
        ring.kinds.get(kind).map_or(0, |marks| marks.head)
    }

    /// Names a change against the object's last state, and remembers its new one.
    fn name(&self, kind: &'static str, change: Noted) -> WorkspaceEvent {
        let word = {
            let mut states = self.states.lock().unwrap();
            name_change(&mut states, kind, &change.uid, change.change, change.state)
        };
        WorkspaceEvent {
            namespace: change.namespace,
            name: format!("{kind}_{word}"),
            data: change.data,
        }
    }

    /// Appends entries (kind, position, news below, event) as one step, so a subscriber never
    /// sees half of a re-list's findings; `restart` moves a kind's start (a re-list's version).
    /// Entries go to live subscribers under the lock, so they get them in sequence order.
    fn push(
        &self,
        entries: Vec<(&'static str, u64, u64, Option<WorkspaceEvent>)>,
        restart: Option<(&'static str, u64)>,
    ) {
        let mut ring = self.inner.lock().unwrap();
        for (kind, position, news_below, event) in entries {
            let entry = Arc::new(Entry {
                seq: ring.next_seq,
                kind,
                position,
                news_below,
                event,
            });
            ring.next_seq += 1;
            if ring.entries.len() == RING_CAPACITY
                && let Some(oldest) = ring.entries.pop_front()
                && let Some(marks) = ring.kinds.get_mut(oldest.kind)
            {
                marks.start = marks.start.max(oldest.position);
            }
            let marks = ring
                .kinds
                .entry(kind)
                .or_insert(Marks { start: 0, head: 0 });
            marks.head = marks.head.max(position);
            ring.entries.push_back(entry.clone());
            // No receivers is fine: nobody is streaming.
            let _ = self.live.send(entry);
        }
        if let Some((kind, start)) = restart
            && let Some(marks) = ring.kinds.get_mut(kind)
        {
            marks.start = marks.start.max(start);
        }
    }

    /// Where a new stream starts: after the last entry, at every kind's head.
    pub fn now(&self) -> (u64, Cursor) {
        let ring = self.inner.lock().unwrap();
        let cursor = Cursor::new(
            ring.kinds
                .iter()
                .map(|(kind, marks)| (kind.to_string(), marks.head)),
        );
        (ring.next_seq - 1, cursor)
    }

    /// How a stream at `cursor` gets to the present.
    pub fn open(&self, cursor: &Cursor) -> Opening {
        let ring = self.inner.lock().unwrap();
        let starts: BTreeMap<&'static str, u64> = ring
            .kinds
            .iter()
            .map(|(kind, marks)| (*kind, marks.start))
            .collect();
        match cursor::behind(cursor, &starts) {
            None => Opening::Gap,
            Some(fetches) if fetches.is_empty() => {
                Opening::Ring(ring.entries.iter().cloned().collect())
            }
            Some(fetches) => Opening::Fetch(fetches),
        }
    }

    /// Entries after `seq`, for a subscriber that fell behind the live channel; `None` if the
    /// ring has moved past them.
    pub fn after(&self, seq: u64) -> Option<Vec<Arc<Entry>>> {
        let ring = self.inner.lock().unwrap();
        let oldest = ring.entries.front().map_or(ring.next_seq, |e| e.seq);
        (seq + 1 >= oldest).then(|| {
            ring.entries
                .iter()
                .filter(|e| e.seq > seq)
                .cloned()
                .collect()
        })
    }

    pub fn history(&self, kind: &str) -> Option<Arc<dyn History>> {
        self.histories.read().unwrap().get(kind).cloned()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Entry>> {
        self.live.subscribe()
    }
}

#[cfg(test)]
mod tests;
