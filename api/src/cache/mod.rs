//! Watch-backed caches of the custom resources. Reads and lists come from here, not from the
//! apiserver: one list and watch per kind for the whole api ([`feed`]), kept in a kube-runtime
//! reflector store.
//!
//! Writes go to the apiserver; a handler that wrote waits ([`ResourceCache::wait_for_version`])
//! until the watch has delivered its write, so the same client's next read sees it.

pub mod feed;
pub mod relist;

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use kube::runtime::reflector::{self, ObjectRef, Store, store::Writer};
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};
use tokio::sync::watch;

use agentarea_crds::common::trim_for_store;

use crate::metrics::CacheMetrics;
pub use feed::CachedResource;
use feed::Fed;
use relist::{Difference, differences};

/// How long a writer waits for the watch to catch up before answering anyway.
const READ_YOUR_WRITES_TIMEOUT: Duration = Duration::from_secs(10);

/// What the cache's watch saw, handed to the event log. Versions are resourceVersions as numbers
/// ([`feed`]), which mean the same in every api replica.
pub enum Change<K> {
    /// The first list: what there was when the api started (not news).
    Initial {
        objects: Vec<Arc<K>>,
        resource_version: u64,
    },
    /// An object the watch delivered, new or changed (the event log tells which).
    Applied(Arc<K>),
    Deleted(Arc<K>),
    /// A re-list after a broken watch: the changes the gap held ([`relist`]), in order, and the
    /// list's version, up to which they account for everything.
    Gap {
        differences: Vec<Difference<K>>,
        resource_version: u64,
    },
    /// Every change up to this version has been delivered (a watch bookmark).
    Progress(u64),
}

pub struct ResourceCache<K: CachedResource> {
    store: Store<K>,
    /// `metadata.uid` -> object, since REST ids are uids.
    by_uid: RwLock<HashMap<String, ObjectRef<K>>>,
    /// Bumped on every watch event; waiters and SSE streams wake on it.
    version: watch::Sender<u64>,
    metrics: CacheMetrics,
}

impl<K: CachedResource> ResourceCache<K> {
    /// Starts the watch of every namespace and returns the cache once the initial list is in.
    pub async fn start(
        client: Client,
        metrics: CacheMetrics,
        on_change: impl Fn(Change<K>) + Send + Sync + 'static,
    ) -> anyhow::Result<Arc<Self>> {
        let (store, mut writer) = reflector::store();
        let cache = Arc::new(Self::over(store, metrics));
        let api: Api<K> = Api::all(client);
        let weak = Arc::downgrade(&cache);
        let errors = Arc::downgrade(&cache);
        tokio::spawn(async move {
            let mut initialised = false;
            // Trimmed (see `trim_for_store`): the api reads who wrote and when, not which fields.
            feed::run(
                api,
                trim_for_store,
                |fed| match weak.upgrade() {
                    Some(cache) => {
                        cache.apply(fed, &mut writer, &mut initialised, &on_change);
                        ControlFlow::Continue(())
                    }
                    None => ControlFlow::Break(()),
                },
                |error| {
                    if let Some(cache) = errors.upgrade() {
                        cache.metrics.watch_error();
                    }
                    tracing::warn!(kind = %K::kind(&()), %error, "watch error; retrying")
                },
            )
            .await
        });
        cache.store.wait_until_ready().await?;
        Ok(cache)
    }

    fn over(store: Store<K>, metrics: CacheMetrics) -> Self {
        Self {
            store,
            by_uid: RwLock::new(HashMap::new()),
            version: watch::channel(0).0,
            metrics,
        }
    }

    fn apply(
        &self,
        fed: Fed<K>,
        writer: &mut Writer<K>,
        initialised: &mut bool,
        on_change: &impl Fn(Change<K>),
    ) {
        match fed {
            Fed::Applied(object) => {
                let event = watcher::Event::Apply(object);
                writer.apply_watcher_event(&event);
                let watcher::Event::Apply(object) = event else {
                    unreachable!()
                };
                self.index(&object);
                on_change(Change::Applied(Arc::new(object)));
            }
            Fed::Deleted(object) => {
                if let Some(uid) = object.uid() {
                    self.by_uid.write().unwrap().remove(&uid);
                }
                let event = watcher::Event::Delete(object);
                writer.apply_watcher_event(&event);
                let watcher::Event::Delete(object) = event else {
                    unreachable!()
                };
                on_change(Change::Deleted(Arc::new(object)));
            }
            Fed::Progress(version) => on_change(Change::Progress(version)),
            Fed::Listed {
                objects,
                resource_version,
            } => {
                // A re-list replaces what the store holds: remember that first, to compare.
                let held = initialised.then(|| self.store.state());
                writer.apply_watcher_event(&watcher::Event::Init);
                for object in objects {
                    writer.apply_watcher_event(&watcher::Event::InitApply(object));
                }
                writer.apply_watcher_event(&watcher::Event::InitDone);
                let listed = self.store.state();
                self.reindex(&listed);
                on_change(match held {
                    Some(held) => self.gap(&held, &listed, resource_version),
                    None => Change::Initial {
                        objects: listed,
                        resource_version,
                    },
                });
                *initialised = true;
            }
        }
        self.version.send_modify(|v| *v += 1);
    }

    /// A re-list replaces the store; the index is rebuilt from it so nothing stale stays.
    fn reindex(&self, listed: &[Arc<K>]) {
        let mut index = self.by_uid.write().unwrap();
        index.clear();
        for object in listed {
            if let Some(uid) = object.uid() {
                index.insert(uid, ObjectRef::from_obj(&**object));
            }
        }
    }

    /// What the gap before a re-list held: no change is lost because a watch broke.
    fn gap(&self, held: &[Arc<K>], listed: &[Arc<K>], resource_version: u64) -> Change<K> {
        let differences = differences(held, listed);
        if !differences.is_empty() {
            tracing::info!(kind = %K::kind(&()), changes = differences.len(), "changes found by a re-list");
        }
        Change::Gap {
            differences,
            resource_version,
        }
    }

    fn index(&self, object: &K) {
        if let Some(uid) = object.uid() {
            self.by_uid
                .write()
                .unwrap()
                .insert(uid, ObjectRef::from_obj(object));
        }
    }

    /// The object `id` (a uid or a Kubernetes name) in `namespace`.
    pub fn find(&self, namespace: &str, id: &str) -> Option<Arc<K>> {
        let by_uid = self.by_uid.read().unwrap().get(id).cloned();
        let object = match by_uid {
            Some(reference) => self.store.get(&reference),
            None => self.store.get(&ObjectRef::new(id).within(namespace)),
        }?;
        (object.namespace().as_deref() == Some(namespace)).then_some(object)
    }

    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<K>> {
        self.store.get(&ObjectRef::new(name).within(namespace))
    }

    /// Every object in `namespace`, in no particular order.
    pub fn list(&self, namespace: &str) -> Vec<Arc<K>> {
        self.store
            .state_filter(|object| object.meta().namespace.as_deref() == Some(namespace))
    }

    /// Every object in every namespace (for lookups that are not workspace-scoped, such as the
    /// webhook endpoint finding its trigger).
    pub fn all(&self) -> Vec<Arc<K>> {
        self.store.state()
    }

    /// A receiver that changes whenever the cache does.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    /// Waits until the cache holds `name` at `resource_version` or later (read-your-writes).
    pub async fn wait_for_version(&self, namespace: &str, name: &str, resource_version: &str) {
        let written: Option<u64> = resource_version.parse().ok();
        self.wait_for_write(|| {
            self.get(namespace, name).is_some_and(|object| {
                let seen = object.resource_version();
                seen.as_deref() == Some(resource_version)
                    || matches!((seen.and_then(|s| s.parse::<u64>().ok()), written), (Some(s), Some(w)) if s >= w)
            })
        })
        .await;
    }

    /// Waits until `name` is gone from the cache, or replaced by an object with another uid.
    pub async fn wait_for_deletion(&self, namespace: &str, name: &str, uid: &str) {
        self.wait_for_write(|| {
            self.get(namespace, name).is_none_or(|object| {
                object.uid().as_deref() != Some(uid) || object.meta().deletion_timestamp.is_some()
            })
        })
        .await;
    }

    /// Waits at most `timeout` until the cache holds `name` and `done` holds for it.
    pub async fn wait_for(
        &self,
        namespace: &str,
        name: &str,
        timeout: Duration,
        done: impl Fn(&K) -> bool,
    ) {
        self.wait_until(timeout, || {
            self.get(namespace, name)
                .is_some_and(|object| done(&object))
        })
        .await;
    }

    /// Waits until `seen` says the cache holds a write, recording how long that took.
    async fn wait_for_write(&self, seen: impl FnMut() -> bool) {
        let started = Instant::now();
        let in_time = self.wait_until(READ_YOUR_WRITES_TIMEOUT, seen).await;
        self.metrics.write_seen(started.elapsed(), in_time);
    }

    /// Waits at most `timeout` for `done`; whether it came in time.
    async fn wait_until(&self, timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
        let mut changes = self.subscribe();
        tokio::time::timeout(timeout, async {
            loop {
                if done() {
                    return true;
                }
                if changes.changed().await.is_err() {
                    return false;
                }
            }
        })
        .await
        .unwrap_or(false)
    }
}

#[cfg(test)]
impl<K: CachedResource> ResourceCache<K> {
    /// A cache holding `objects` as a watch that listed them would leave it, with no watch
    /// running: for tests of what the api reads and decides without an apiserver.
    pub(crate) fn holding(objects: impl IntoIterator<Item = K>) -> Arc<Self> {
        let (store, mut writer) = reflector::store();
        let cache = Self::over(store, CacheMetrics::unregistered(""));
        let listed = Fed::Listed {
            objects: objects.into_iter().collect(),
            resource_version: 1,
        };
        cache.apply(listed, &mut writer, &mut false, &|_| {});
        Arc::new(cache)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use k8s_openapi::api::core::v1::ConfigMap;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;

    fn object(uid: &str, resource_version: &str) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                name: Some(uid.into()),
                namespace: Some("ws-a".into()),
                uid: Some(uid.into()),
                resource_version: Some(resource_version.into()),
                ..ObjectMeta::default()
            },
            ..ConfigMap::default()
        }
    }

    fn listed(objects: &[(&str, &str)], resource_version: u64) -> Fed<ConfigMap> {
        Fed::Listed {
            objects: objects.iter().map(|(u, rv)| object(u, rv)).collect(),
            resource_version,
        }
    }

    /// A watch that breaks and lists again: the changes of the gap reach the event log as the
    /// changes they are, with the list's version, and the cache holds what the list gave.
    #[test]
    fn a_relist_reports_what_changed_while_the_watch_was_broken() {
        let (store, mut writer) = reflector::store();
        let cache = ResourceCache::over(store, CacheMetrics::unregistered(""));
        let seen = Mutex::new(Vec::<String>::new());
        let on_change = |change: Change<ConfigMap>| {
            let said = match change {
                Change::Initial {
                    objects,
                    resource_version,
                } => format!("initial {} at {resource_version}", objects.len()),
                Change::Applied(o) => format!("applied {}", o.name_any()),
                Change::Deleted(o) => format!("deleted {}", o.name_any()),
                Change::Progress(v) => format!("progress {v}"),
                Change::Gap {
                    differences,
                    resource_version,
                } => {
                    let said: Vec<_> = differences
                        .iter()
                        .map(|d| match d {
                            Difference::Created(o) => format!("created {}", o.name_any()),
                            Difference::Updated(o) => format!("updated {}", o.name_any()),
                            Difference::Deleted(o) => format!("deleted {}", o.name_any()),
                        })
                        .collect();
                    format!("gap to {resource_version}: {}", said.join(", "))
                }
            };
            seen.lock().unwrap().push(said);
        };
        let mut initialised = false;
        let mut feed = |events: Vec<Fed<ConfigMap>>| {
            for fed in events {
                cache.apply(fed, &mut writer, &mut initialised, &on_change);
            }
        };
        feed(vec![listed(&[("kept", "1"), ("gone", "2")], 2)]);
        feed(vec![Fed::Applied(object("kept", "3")), Fed::Progress(4)]);
        // The watch breaks; meanwhile `gone` is deleted, `kept` changes, `new` is made.
        feed(vec![listed(&[("new", "6"), ("kept", "5")], 7)]);
        assert_eq!(
            *seen.lock().unwrap(),
            [
                "initial 2 at 2",
                "applied kept",
                "progress 4",
                "gap to 7: deleted gone, updated kept, created new",
            ]
        );
        assert!(cache.find("ws-a", "gone").is_none());
        assert_eq!(
            cache
                .find("ws-a", "new")
                .unwrap()
                .resource_version()
                .as_deref(),
            Some("6")
        );
        // A further list that finds nothing new has an empty gap.
        feed(vec![listed(&[("kept", "5"), ("new", "6")], 9)]);
        assert_eq!(seen.lock().unwrap()[4], "gap to 9: ");
    }
}
