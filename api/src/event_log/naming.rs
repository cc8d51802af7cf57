//! How a change is named in `/v1/events`: `<kind>_created`, `_updated`, `_deleted`, or the
//! change of state it is (`task_completed`, `agent_status_changed`).

use std::collections::HashMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    Created,
    Updated,
    Deleted,
}

/// The word after a kind's prefix for a change of object `uid` now in state `state`, given the
/// states last seen (which it updates): `created`, `deleted`, `updated`, or the state change
/// (`task_completed`, `agent_status_changed`). The live log and a fetch from the apiserver's
/// history name changes with this, each from the states it has seen, so both say the same.
pub fn name_change(
    states: &mut HashMap<String, String>,
    kind: &str,
    uid: &str,
    change: ChangeKind,
    state: Option<String>,
) -> String {
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
