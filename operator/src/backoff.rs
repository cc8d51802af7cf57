//! The back-off of objects whose reconcile failed: 5 s, doubling per failure in a row, at most
//! 5 minutes; forgotten on success, or when the object has not failed for twice the longest
//! back-off (which also drops objects deleted while they were failing: kube-runtime never
//! reconciles those again, so no success would ever clear them).
//!
//! Entries are per controller and object, so a controller may keep a back-off of its own beside
//! the one for reconcile errors (the McpServerInstance controller's discovery does).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

/// The longest back-off.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);

#[derive(Default)]
pub struct Backoffs {
    entries: HashMap<String, Failures>,
    /// Every controller that ever backed off, so its count is reported when it drops to zero.
    controllers: BTreeSet<&'static str>,
}

/// The failures in a row of one object, and when the last one was.
struct Failures {
    controller: &'static str,
    count: u32,
    last: Instant,
}

impl Backoffs {
    /// Records a failure of the object `key` at `now` and returns how long to wait before its
    /// next attempt.
    pub fn failed(&mut self, controller: &'static str, key: String, now: Instant) -> Duration {
        self.entries
            .retain(|_, f| now.duration_since(f.last) < 2 * MAX_BACKOFF);
        self.controllers.insert(controller);
        let entry = self.entries.entry(key).or_insert(Failures {
            controller,
            count: 0,
            last: now,
        });
        entry.count = entry.count.saturating_add(1);
        entry.last = now;
        backoff_after(entry.count)
    }

    /// Forgets the failures of `key`; whether there were any.
    pub fn succeeded(&mut self, key: &str) -> bool {
        self.entries.remove(key).is_some()
    }

    /// Objects backing off, per controller (zero for those that no longer have any).
    pub fn backing_off(&self) -> BTreeMap<&'static str, usize> {
        let mut counts: BTreeMap<&'static str, usize> =
            self.controllers.iter().map(|&c| (c, 0)).collect();
        for failures in self.entries.values() {
            *counts.entry(failures.controller).or_default() += 1;
        }
        counts
    }
}

/// The back-off after `failures` failures in a row.
fn backoff_after(failures: u32) -> Duration {
    Duration::from_secs(5u64 << failures.saturating_sub(1).min(6)).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_from_five_seconds_up_to_five_minutes() {
        let seconds: Vec<u64> = (1..=9).map(|n| backoff_after(n).as_secs()).collect();
        assert_eq!(seconds, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
        assert_eq!(backoff_after(u32::MAX), MAX_BACKOFF);
    }

    #[test]
    fn failures_in_a_row_grow_a_success_resets_and_a_quiet_object_is_forgotten() {
        let start = Instant::now();
        let at = |seconds: u64| start + Duration::from_secs(seconds);
        let mut backoffs = Backoffs::default();
        let fail = |b: &mut Backoffs, controller, key: &str, now| {
            b.failed(controller, key.to_string(), now).as_secs()
        };

        assert_eq!(fail(&mut backoffs, "agent", "a", at(0)), 5);
        assert_eq!(fail(&mut backoffs, "agent", "a", at(5)), 10);
        // Another controller's entry for the same object is its own.
        assert_eq!(fail(&mut backoffs, "discovery", "d/a", at(5)), 5);
        assert_eq!(
            backoffs.backing_off(),
            BTreeMap::from([("agent", 1), ("discovery", 1)])
        );

        assert!(backoffs.succeeded("a"));
        assert!(!backoffs.succeeded("a"));
        assert_eq!(
            fail(&mut backoffs, "agent", "a", at(20)),
            5,
            "reset by the success"
        );

        // Ten minutes without a failure: "d/a" is forgotten, and its controller counts zero.
        assert_eq!(fail(&mut backoffs, "agent", "a", at(20 + 600)), 5);
        assert_eq!(
            backoffs.backing_off(),
            BTreeMap::from([("agent", 1), ("discovery", 0)])
        );
    }
}
