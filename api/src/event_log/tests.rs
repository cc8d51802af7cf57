//! The event log's ring, resumption plans and naming.

use std::future::ready;

use futures::future::BoxFuture;
use serde_json::json;

use super::history::{Fetched, Unavailable};
use super::naming::name_change;
use super::*;

/// A history the tests never reach.
struct NoHistory;

impl History for NoHistory {
    fn since<'a>(
        &'a self,
        _: &'a str,
        _: u64,
        _: u64,
    ) -> BoxFuture<'a, Result<Fetched, Unavailable>> {
        Box::pin(ready(Err(Unavailable("none".into()))))
    }
}

/// A log of kinds `skill` and `agent`, both listed at version 10.
fn log() -> EventLog {
    let log = EventLog::new();
    for kind in ["skill", "agent"] {
        log.start_kind(kind, 10, [], Arc::new(NoHistory));
    }
    log
}

fn change(namespace: &str, uid: &str, change: ChangeKind, position: u64) -> Noted {
    Noted {
        namespace: namespace.into(),
        uid: uid.into(),
        change,
        state: None,
        data: json!({ "uid": uid }),
        position,
    }
}

/// What a stream of `namespace` at `cursor` gets from the ring: (event, uid).
fn taken(log: &EventLog, namespace: &str, cursor: &mut Cursor) -> Vec<(String, String)> {
    let Opening::Ring(entries) = log.open(cursor) else {
        panic!("not servable from the ring: {}", cursor.to_id())
    };
    take_all(entries, namespace, cursor)
}

fn take_all(
    entries: Vec<Arc<Entry>>,
    namespace: &str,
    cursor: &mut Cursor,
) -> Vec<(String, String)> {
    let mut events = Vec::new();
    for entry in entries {
        let news = cursor.take(entry.kind, entry.position, entry.news_below);
        if let Some(event) = entry
            .event
            .as_ref()
            .filter(|e| news && e.namespace == namespace)
        {
            events.push((
                event.name.clone(),
                event.data["uid"].as_str().unwrap().into(),
            ));
        }
    }
    events
}

fn at(pairs: &[(&str, u64)]) -> Cursor {
    Cursor::new(pairs.iter().map(|(k, v)| (k.to_string(), *v)))
}

#[test]
fn a_stream_resumes_with_exactly_what_it_missed_of_each_kind() {
    use ChangeKind::{Created, Deleted, Updated};
    let log = log();
    log.record("skill", change("ws-a", "s1", Created, 11));
    log.record("agent", change("ws-a", "a1", Created, 12));
    log.record("skill", change("ws-b", "s2", Created, 13));
    log.record("skill", change("ws-a", "s1", Updated, 14));
    log.record("agent", change("ws-a", "a1", Deleted, 15));
    // (cursor, what it gets)
    let cases: Vec<(Cursor, Vec<(&str, &str)>)> = vec![
        (
            at(&[("skill", 10), ("agent", 10)]),
            vec![
                ("skill_created", "s1"),
                ("agent_created", "a1"),
                ("skill_updated", "s1"),
                ("agent_deleted", "a1"),
            ],
        ),
        (
            at(&[("skill", 11), ("agent", 12)]),
            vec![("skill_updated", "s1"), ("agent_deleted", "a1")],
        ),
        // Each kind from its own position: an agent event delivered late by its watch is
        // not skipped because a later skill event was seen.
        (
            at(&[("skill", 14), ("agent", 10)]),
            vec![("agent_created", "a1"), ("agent_deleted", "a1")],
        ),
        (at(&[("skill", 14), ("agent", 15)]), vec![]),
        // Ahead of this log (it came from a replica further along).
        (at(&[("skill", 99), ("agent", 99)]), vec![]),
    ];
    for (mut cursor, expected) in cases {
        let id = cursor.to_id();
        let got = taken(&log, "ws-a", &mut cursor);
        let got: Vec<(&str, &str)> = got.iter().map(|(e, u)| (e.as_str(), u.as_str())).collect();
        assert_eq!(got, expected, "from {id}");
    }
}

#[test]
fn positions_older_than_the_ring_are_fetched_and_foreign_ids_are_gaps() {
    let log = log();
    let fetch = |cursor: Cursor| match log.open(&cursor) {
        Opening::Fetch(fetches) => fetches.iter().map(|f| (f.kind, f.after, f.until)).collect(),
        Opening::Ring(_) => vec![],
        Opening::Gap => vec![("gap", 0, 0)],
    };
    assert_eq!(fetch(at(&[("skill", 10), ("agent", 10)])), vec![]);
    assert_eq!(
        fetch(at(&[("skill", 4), ("agent", 10)])),
        vec![("skill", 4, 10)]
    );
    assert_eq!(fetch(at(&[("skill", 4)])), vec![("gap", 0, 0)]);
    assert_eq!(fetch(Cursor::default()), vec![("gap", 0, 0)]);
}

#[test]
fn a_relist_is_news_to_streams_before_it_and_moves_the_kind_s_start() {
    use ChangeKind::{Created, Deleted, Updated};
    let log = log();
    log.record("skill", change("ws-a", "kept", Created, 11));
    log.record("skill", change("ws-a", "doomed", Created, 12));
    // The watch broke at 12; a list at 20 finds `doomed` gone, `kept` changed, `born` made.
    log.record_gap(
        "skill",
        vec![
            change("ws-a", "doomed", Deleted, 12),
            change("ws-a", "kept", Updated, 17),
            change("ws-a", "born", Created, 18),
        ],
        20,
    );
    // A stream that was live through it takes the entries as they come.
    let mut live = at(&[("skill", 12), ("agent", 10)]);
    assert_eq!(
        take_all(log.after(2).unwrap(), "ws-a", &mut live),
        [
            ("skill_deleted", "doomed"),
            ("skill_updated", "kept"),
            ("skill_created", "born")
        ]
        .map(|(e, u)| (e.to_string(), u.to_string()))
    );
    assert_eq!(live.get("skill"), Some(20), "past the re-list");
    // A stream from before the re-list can no longer be served from the ring: the gap's
    // exact changes are at the apiserver.
    assert!(
        matches!(log.open(&at(&[("skill", 12), ("agent", 10)])), Opening::Fetch(f) if f[0].until == 20)
    );
    // One past it gets none of the gap again.
    let mut after = at(&[("skill", 20), ("agent", 10)]);
    assert!(taken(&log, "ws-a", &mut after).is_empty());
}

#[test]
fn entries_rolling_out_of_the_ring_move_their_kind_s_start() {
    let log = log();
    for i in 0..(RING_CAPACITY as u64 + 5) {
        log.record(
            "skill",
            change("ws-a", &format!("s{i}"), ChangeKind::Created, 11 + i),
        );
    }
    // The first five skill entries (11..=15) rolled out; agents are untouched.
    let Opening::Fetch(fetches) = log.open(&at(&[("skill", 14), ("agent", 10)])) else {
        panic!("the ring no longer holds 15")
    };
    assert_eq!((fetches[0].after, fetches[0].until), (14, 15));
    assert!(matches!(
        log.open(&at(&[("skill", 15), ("agent", 10)])),
        Opening::Ring(_)
    ));
}

#[test]
fn bookmarks_move_a_new_stream_s_start_without_events() {
    let log = log();
    log.progress("agent", 30);
    log.progress("agent", 25);
    let (_, cursor) = log.now();
    assert_eq!(cursor, at(&[("agent", 30), ("skill", 10)]));
}

#[test]
fn state_changes_are_named() {
    use ChangeKind::{Created, Updated};
    // (kind, uid, change, state word, the event it is told as)
    let changes = [
        ("task", "u1", Created, "pending", "created"),
        ("task", "u1", Updated, "running", "running"),
        ("task", "u1", Updated, "running", "updated"),
        ("task", "u1", Updated, "completed", "completed"),
        ("task", "u9", Updated, "failed", "failed"),
        ("agent", "u2", Updated, "True", "updated"),
        ("agent", "u2", Updated, "False", "status_changed"),
        ("agent", "u2", ChangeKind::Deleted, "False", "deleted"),
        ("agent", "u2", Updated, "True", "updated"),
    ];
    let mut states = HashMap::new();
    for (kind, uid, change, state, expected) in changes {
        let word = name_change(&mut states, kind, uid, change, Some(state.into()));
        assert_eq!(word, expected, "{kind} {uid} {change:?} {state}");
    }
}
