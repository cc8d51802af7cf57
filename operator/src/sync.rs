//! Locking the small maps that relayed MCP sessions share.

use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`, taking it over from a thread that panicked while holding it: the maps guarded
/// this way change by single inserts and removals, so they stay consistent, and one panicked
/// request must not take every later request of its session down with it.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
