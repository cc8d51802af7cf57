//! One kind's list and watch, as the api's caches and event log need it: every change with the
//! resourceVersion the apiserver gave it, and how far the watch has come when nothing changes.
//!
//! kube-runtime's watcher hides both (it keeps bookmarks and list versions to itself), and the
//! event log's ids are built from them (`crate::event_log::cursor`): a position in a kind's
//! history is a resourceVersion, which means the same thing in every api replica because they all
//! watch the same etcd. So the caches run this loop instead: list, then watch from the list's
//! version with bookmarks; a broken watch resumes from the last version seen; `410 Gone` (the
//! history was compacted away) lists again.

use std::fmt::Debug;
use std::ops::ControlFlow;
use std::time::Duration;

use futures::TryStreamExt;
use kube::api::{ListParams, WatchEvent, WatchParams};
use kube::{Api, Resource, ResourceExt};

use serde::de::DeserializeOwned;

/// How long one watch request lasts before the apiserver ends it and the loop starts the next.
const WATCH_TIMEOUT_SECONDS: u32 = 290;
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const LAST_BACKOFF: Duration = Duration::from_secs(30);

/// A kind the api caches: namespaced, and read as a whole.
pub trait CachedResource:
    Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
    + Clone
    + DeserializeOwned
    + Debug
    + Send
    + Sync
    + 'static
{
}

impl<K> CachedResource for K where
    K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Debug
        + Send
        + Sync
        + 'static
{
}

/// What the loop tells its handler.
#[derive(Debug)]
pub enum Fed<K> {
    /// All there is at `resource_version` (the first list, or a re-list after a gap).
    Listed {
        objects: Vec<K>,
        resource_version: u64,
    },
    /// An object added or changed, at its own resourceVersion.
    Applied(K),
    /// An object deleted; its resourceVersion is the deletion's.
    Deleted(K),
    /// Every change up to this resourceVersion has been delivered (a bookmark).
    Progress(u64),
}

/// What to do after a list or a watch failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// The history the watch would resume from is gone: list again.
    Relist,
    /// Wait, then watch again from the last version seen.
    Rewatch,
}

/// `410 Gone` (the apiserver's `Expired` and `too old resource version`) means the history is
/// gone; anything else (a broken connection, an apiserver away, a 5xx) is worth resuming.
pub fn recovery(status_code: Option<u16>) -> Recovery {
    match status_code {
        Some(410) => Recovery::Relist,
        _ => Recovery::Rewatch,
    }
}

/// A resourceVersion as the number etcd gives it.
pub fn revision(resource_version: Option<&str>) -> Option<u64> {
    resource_version?.parse().ok()
}

/// Lists and watches `api` for as long as `handle` says to continue, changing each object with
/// `modify` before it is handed over. `on_error` hears every failure the loop recovers from.
pub async fn run<K: CachedResource>(
    api: Api<K>,
    modify: fn(&mut K),
    mut handle: impl FnMut(Fed<K>) -> ControlFlow<()>,
    on_error: impl Fn(&kube::Error),
) {
    // Where the next watch starts; `None` lists first.
    let mut from: Option<u64> = None;
    let mut backoff = FIRST_BACKOFF;
    loop {
        let outcome = match from {
            None => list(&api, modify, &mut handle).await,
            Some(version) => watch(&api, version, modify, &mut handle).await,
        };
        match outcome {
            Ok(Reached::Stopped) => return,
            Ok(Reached::Version(version)) => {
                from = Some(version);
                backoff = FIRST_BACKOFF;
            }
            Err(Failed { error, at }) => {
                on_error(&error);
                from = match recovery(status_of(&error)) {
                    Recovery::Relist => None,
                    Recovery::Rewatch => at.or(from),
                };
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(LAST_BACKOFF);
            }
        }
    }
}

/// Where a list or a watch request left the loop.
enum Reached {
    /// The handler is done (its cache is gone).
    Stopped,
    /// Everything up to this version is delivered.
    Version(u64),
}

struct Failed {
    error: kube::Error,
    /// The last version delivered before the failure, to resume from.
    at: Option<u64>,
}

impl From<kube::Error> for Failed {
    fn from(error: kube::Error) -> Self {
        Self { error, at: None }
    }
}

async fn list<K: CachedResource>(
    api: &Api<K>,
    modify: fn(&mut K),
    handle: &mut impl FnMut(Fed<K>) -> ControlFlow<()>,
) -> Result<Reached, Failed> {
    // Any version will do (the apiserver's watch cache answers); the watch that follows catches
    // up from the list's own version.
    let listed = api.list(&ListParams::default().match_any()).await?;
    let Some(resource_version) = revision(listed.metadata.resource_version.as_deref()) else {
        return Err(Failed::from(unreadable_version()));
    };
    let mut objects = listed.items;
    objects.iter_mut().for_each(modify);
    Ok(
        match handle(Fed::Listed {
            objects,
            resource_version,
        }) {
            ControlFlow::Break(()) => Reached::Stopped,
            ControlFlow::Continue(()) => Reached::Version(resource_version),
        },
    )
}

async fn watch<K: CachedResource>(
    api: &Api<K>,
    from: u64,
    modify: fn(&mut K),
    handle: &mut impl FnMut(Fed<K>) -> ControlFlow<()>,
) -> Result<Reached, Failed> {
    let params = WatchParams::default().timeout(WATCH_TIMEOUT_SECONDS);
    let events = api.watch(&params, &from.to_string()).await?;
    futures::pin_mut!(events);
    let mut at = from;
    loop {
        let event = match events.try_next().await {
            Ok(Some(event)) => event,
            // The apiserver ended the request (its time-out): the next one resumes.
            Ok(None) => return Ok(Reached::Version(at)),
            Err(error) => {
                return Err(Failed {
                    error,
                    at: Some(at),
                });
            }
        };
        let fed = match event {
            WatchEvent::Added(mut object) | WatchEvent::Modified(mut object) => {
                modify(&mut object);
                at = revision(object.resource_version().as_deref())
                    .unwrap_or(at)
                    .max(at);
                Fed::Applied(object)
            }
            WatchEvent::Deleted(mut object) => {
                modify(&mut object);
                at = revision(object.resource_version().as_deref())
                    .unwrap_or(at)
                    .max(at);
                Fed::Deleted(object)
            }
            WatchEvent::Bookmark(bookmark) => {
                match revision(Some(&bookmark.metadata.resource_version)) {
                    Some(version) if version > at => {
                        at = version;
                        Fed::Progress(version)
                    }
                    _ => continue,
                }
            }
            WatchEvent::Error(status) => {
                return Err(Failed {
                    error: kube::Error::Api(status),
                    at: Some(at),
                });
            }
        };
        if handle(fed).is_break() {
            return Ok(Reached::Stopped);
        }
    }
}

fn unreadable_version() -> kube::Error {
    kube::Error::Api(Box::new(kube::core::Status::failure(
        "the list has no resourceVersion",
        "Unreadable",
    )))
}

fn status_of(error: &kube::Error) -> Option<u16> {
    match error {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_resumes_the_watch_unless_the_history_is_gone() {
        // (status code of the failure, what the loop does)
        let cases = [
            (Some(410), Recovery::Relist),
            (Some(500), Recovery::Rewatch),
            (Some(503), Recovery::Rewatch),
            (Some(429), Recovery::Rewatch),
            (Some(404), Recovery::Rewatch),
            (None, Recovery::Rewatch),
        ];
        for (code, expected) in cases {
            assert_eq!(recovery(code), expected, "{code:?}");
        }
    }

    #[test]
    fn resource_versions_are_read_as_numbers() {
        let cases = [
            (Some("42"), Some(42)),
            (Some(""), None),
            (Some("abc"), None),
            (None, None),
        ];
        for (text, expected) in cases {
            assert_eq!(revision(text), expected, "{text:?}");
        }
    }
}
