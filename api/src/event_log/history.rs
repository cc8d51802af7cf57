//! A kind's history as the apiserver keeps it, for a stream whose cursor is older than what this
//! replica's ring holds: the changes of one workspace after a resourceVersion, fetched with a
//! watch from that version and named exactly as the live log names them (the states to compare
//! with come from a list at that very version).
//!
//! The apiserver keeps a few minutes of history; a cursor older than that is `Unavailable`, and
//! the stream tells its client to re-list (`resync`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use futures::future::BoxFuture;
use kube::api::{ListParams, VersionMatch, WatchEvent, WatchParams};
use kube::{Api, Client, ResourceExt};
use serde_json::Value;

use super::naming::{ChangeKind, name_change};
use crate::cache::CachedResource;
use crate::cache::feed::revision;

/// A watch request of a fetch lasts this long. The apiserver sends a bookmark (how far it has
/// come) two seconds before a watch ends, which is how a fetch learns it has reached its end
/// when the workspace had no later change of the kind.
const FETCH_WATCH_SECONDS: u32 = 3;
/// Watch requests one fetch may take before it gives up.
const FETCH_ROUNDS: usize = 5;
/// Longest a fetch may take in all.
const FETCH_DEADLINE: Duration = Duration::from_secs(30);

/// What a fetch found: the changes, named, and how far the history it read goes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fetched {
    pub changes: Vec<FetchedChange>,
    pub reached: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FetchedChange {
    pub position: u64,
    pub name: String,
    pub data: Value,
}

/// The apiserver no longer has (or could not give) the history asked for.
#[derive(Debug)]
pub struct Unavailable(pub String);

pub trait History: Send + Sync {
    /// `namespace`'s changes of this kind after `after`, at least up to `until`, in order.
    fn since<'a>(
        &'a self,
        namespace: &'a str,
        after: u64,
        until: u64,
    ) -> BoxFuture<'a, Result<Fetched, Unavailable>>;
}

/// How the log describes one kind: its event prefix, its state word, its REST shape, and whether
/// an object the watch delivers is new.
pub struct Describe<K> {
    pub prefix: &'static str,
    pub state_word: fn(&K) -> Option<String>,
    pub present: Arc<dyn Fn(&K) -> Value + Send + Sync>,
    pub is_new: fn(&K) -> bool,
}

/// [`History`] of kind `K`, from the apiserver.
pub struct KindHistory<K> {
    pub client: Client,
    pub describe: Arc<Describe<K>>,
}

impl<K: CachedResource> History for KindHistory<K> {
    fn since<'a>(
        &'a self,
        namespace: &'a str,
        after: u64,
        until: u64,
    ) -> BoxFuture<'a, Result<Fetched, Unavailable>> {
        Box::pin(async move {
            tokio::time::timeout(FETCH_DEADLINE, self.fetch(namespace, after, until))
                .await
                .unwrap_or_else(|_| Err(Unavailable("the fetch took too long".into())))
        })
    }
}

impl<K: CachedResource> KindHistory<K> {
    async fn fetch(&self, namespace: &str, after: u64, until: u64) -> Result<Fetched, Unavailable> {
        let api: Api<K> = Api::namespaced(self.client.clone(), namespace);
        let mut states = self.states_at(&api, after).await?;
        let mut fetched = Fetched::default();
        let mut at = after;
        for _ in 0..FETCH_ROUNDS {
            let params = WatchParams::default().timeout(FETCH_WATCH_SECONDS);
            let events = api
                .watch(&params, &at.to_string())
                .await
                .map_err(unavailable)?;
            futures::pin_mut!(events);
            while let Some(event) = events.try_next().await.map_err(unavailable)? {
                let (object, deleted) = match event {
                    WatchEvent::Added(object) | WatchEvent::Modified(object) => (object, false),
                    WatchEvent::Deleted(object) => (object, true),
                    WatchEvent::Bookmark(bookmark) => {
                        at = at
                            .max(revision(Some(&bookmark.metadata.resource_version)).unwrap_or(at));
                        if at >= until {
                            fetched.reached = at;
                            return Ok(fetched);
                        }
                        continue;
                    }
                    WatchEvent::Error(status) => return Err(Unavailable(status.message)),
                };
                let position = revision(object.resource_version().as_deref()).unwrap_or(at);
                at = at.max(position);
                fetched
                    .changes
                    .push(self.named(&mut states, &object, deleted, position));
                if at >= until {
                    fetched.reached = at;
                    return Ok(fetched);
                }
            }
        }
        Err(Unavailable(format!(
            "the apiserver's history did not reach {until}"
        )))
    }

    /// The state word of every object of the namespace as it was at `version`.
    async fn states_at(
        &self,
        api: &Api<K>,
        version: u64,
    ) -> Result<HashMap<String, String>, Unavailable> {
        let params = ListParams::default()
            .at(&version.to_string())
            .matching(VersionMatch::Exact);
        let listed = api.list(&params).await.map_err(unavailable)?;
        Ok(listed
            .items
            .iter()
            .filter_map(|object| Some((object.uid()?, (self.describe.state_word)(object)?)))
            .collect())
    }

    fn named(
        &self,
        states: &mut HashMap<String, String>,
        object: &K,
        deleted: bool,
        position: u64,
    ) -> FetchedChange {
        let describe = &self.describe;
        let change = if deleted {
            ChangeKind::Deleted
        } else if (describe.is_new)(object) {
            ChangeKind::Created
        } else {
            ChangeKind::Updated
        };
        let uid = object.uid().unwrap_or_default();
        let word = name_change(
            states,
            describe.prefix,
            &uid,
            change,
            (describe.state_word)(object),
        );
        FetchedChange {
            position,
            name: format!("{}_{word}", describe.prefix),
            data: (describe.present)(object),
        }
    }
}

fn unavailable(error: kube::Error) -> Unavailable {
    Unavailable(error.to_string())
}
