//! Watch-backed caches of the custom resources. Reads and lists come from here, not from the
//! apiserver: one watch per kind for the whole api, kept by a kube-runtime reflector.
//!
//! Writes go to the apiserver; a handler that wrote waits ([`ResourceCache::wait_for_version`])
//! until the watch has delivered its write, so the same client's next read sees it.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::watch;

use agentarea_crds::common::trim_for_store;

use crate::metrics::CacheMetrics;
use crate::relist::{Difference, differences};

/// How long a writer waits for the watch to catch up before answering anyway.
const READ_YOUR_WRITES_TIMEOUT: Duration = Duration::from_secs(10);

/// A change the cache saw after its initial list, handed to the event log.
pub enum Change<K> {
    /// An object the watch delivered (new or changed: the event log tells which).
    Applied(Arc<K>),
    /// An object that a re-list found and the cache did not hold (`crate::relist`).
    Created(Arc<K>),
    Deleted(Arc<K>),
}

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

pub struct ResourceCache<K: CachedResource> {
    store: Store<K>,
    /// `metadata.uid` -> object, since REST ids are uids.
    by_uid: RwLock<HashMap<String, ObjectRef<K>>>,
    /// Bumped on every watch event; waiters and SSE streams wake on it.
    version: watch::Sender<u64>,
    /// What the cache held when a re-list began, until it is done and compared
    /// ([`crate::relist::differences`]).
    before_relist: std::sync::Mutex<Option<Vec<Arc<K>>>>,
    metrics: CacheMetrics,
}

impl<K: CachedResource> ResourceCache<K> {
    /// Starts the watch of every namespace and returns the cache once the initial list is in.
    pub async fn start(
        client: Client,
        metrics: CacheMetrics,
        on_change: impl Fn(Change<K>) + Send + Sync + 'static,
    ) -> anyhow::Result<Arc<Self>> {
        let (store, writer) = reflector::store();
        let cache = Arc::new(Self::over(store, metrics));
        let api: Api<K> = Api::all(client);
        // Trimmed (see `trim_for_store`): the api reads who wrote and when, not which fields.
        let stream = reflector::reflector(
            writer,
            watcher(api, watcher::Config::default().any_semantic()).modify(trim_for_store),
        )
        .default_backoff();
        let weak = Arc::downgrade(&cache);
        tokio::spawn(async move {
            futures::pin_mut!(stream);
            let mut initialised = false;
            while let Some(event) = stream.next().await {
                let Some(cache) = weak.upgrade() else { break };
                match event {
                    Ok(event) => cache.apply(event, &mut initialised, &on_change),
                    Err(error) => {
                        cache.metrics.watch_error();
                        tracing::warn!(kind = %K::kind(&()), %error, "watch error; retrying")
                    }
                }
            }
        });
        cache.store.wait_until_ready().await?;
        Ok(cache)
    }

    fn over(store: Store<K>, metrics: CacheMetrics) -> Self {
        Self {
            store,
            by_uid: RwLock::new(HashMap::new()),
            version: watch::channel(0).0,
            before_relist: std::sync::Mutex::new(None),
            metrics,
        }
    }

    fn apply(
        &self,
        event: watcher::Event<K>,
        initialised: &mut bool,
        on_change: &impl Fn(Change<K>),
    ) {
        match event {
            watcher::Event::Apply(object) => {
                self.index(&object);
                if *initialised {
                    on_change(Change::Applied(Arc::new(object)));
                }
            }
            watcher::Event::Delete(object) => {
                if let Some(uid) = object.uid() {
                    self.by_uid.write().unwrap().remove(&uid);
                }
                if *initialised {
                    on_change(Change::Deleted(Arc::new(object)));
                }
            }
            watcher::Event::InitApply(object) => self.index(&object),
            // A watch that starts again lists again. The store keeps what it held until the list
            // is done, so this is the moment to remember it (once, should lists restart).
            watcher::Event::Init if *initialised => {
                let mut before = self.before_relist.lock().unwrap();
                if before.is_none() {
                    *before = Some(self.store.state());
                }
            }
            watcher::Event::Init => {}
            watcher::Event::InitDone => {
                let listed = self.store.state();
                {
                    // A re-list replaces the store; rebuild the index from it so nothing stale
                    // stays.
                    let mut index = self.by_uid.write().unwrap();
                    index.clear();
                    for object in &listed {
                        if let Some(uid) = object.uid() {
                            index.insert(uid, ObjectRef::from_obj(&**object));
                        }
                    }
                }
                let held = self.before_relist.lock().unwrap().take();
                if let Some(held) = held {
                    self.report_relist(&held, &listed, on_change);
                }
                *initialised = true;
            }
        }
        self.version.send_modify(|v| *v += 1);
    }

    /// Tells `on_change` what the gap before a re-list held: no change is lost because a watch
    /// broke.
    fn report_relist(&self, held: &[Arc<K>], listed: &[Arc<K>], on_change: &impl Fn(Change<K>)) {
        let differences = differences(held, listed);
        if !differences.is_empty() {
            tracing::info!(kind = %K::kind(&()), changes = differences.len(), "changes found by a re-list");
        }
        for difference in differences {
            on_change(match difference {
                Difference::Created(object) => Change::Created(object),
                Difference::Updated(object) => Change::Applied(object),
                Difference::Deleted(object) => Change::Deleted(object),
            });
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
        let mut initialised = false;
        let events = std::iter::once(watcher::Event::Init)
            .chain(objects.into_iter().map(watcher::Event::InitApply))
            .chain(std::iter::once(watcher::Event::InitDone));
        for event in events {
            writer.apply_watcher_event(&event);
            cache.apply(event, &mut initialised, &|_| {});
        }
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

    /// A watch that breaks and lists again: the changes of the gap reach the event log as the
    /// changes they are, and the cache holds what the list gave.
    #[test]
    fn a_relist_reports_what_changed_while_the_watch_was_broken() {
        let (store, mut writer) = reflector::store();
        let cache = ResourceCache::over(store, CacheMetrics::unregistered(""));
        let seen = Mutex::new(Vec::<String>::new());
        let on_change = |change: Change<ConfigMap>| {
            let said = match change {
                Change::Applied(o) => format!("applied {}", o.name_any()),
                Change::Created(o) => format!("created {}", o.name_any()),
                Change::Deleted(o) => format!("deleted {}", o.name_any()),
            };
            seen.lock().unwrap().push(said);
        };
        let mut initialised = false;
        let mut feed = |events: Vec<watcher::Event<ConfigMap>>| {
            for event in events {
                writer.apply_watcher_event(&event);
                cache.apply(event, &mut initialised, &on_change);
            }
        };
        use watcher::Event::{Apply, Init, InitApply, InitDone};
        // The first list is what there is, not news.
        feed(vec![
            Init,
            InitApply(object("kept", "1")),
            InitApply(object("gone", "2")),
            InitDone,
        ]);
        feed(vec![Apply(object("kept", "3"))]);
        // The watch breaks; meanwhile `gone` is deleted, `kept` changes, `new` is made. The list
        // may itself start over (a second Init) before it completes.
        feed(vec![Init, InitApply(object("kept", "5")), Init]);
        feed(vec![
            InitApply(object("new", "4")),
            InitApply(object("kept", "5")),
            InitDone,
        ]);
        assert_eq!(
            *seen.lock().unwrap(),
            [
                "applied kept",
                "deleted gone",
                "created new",
                "applied kept"
            ]
        );
        assert!(cache.find("ws-a", "gone").is_none());
        assert_eq!(
            cache
                .find("ws-a", "new")
                .unwrap()
                .resource_version()
                .as_deref(),
            Some("4")
        );
        // A further list that finds nothing new says nothing.
        feed(vec![
            Init,
            InitApply(object("kept", "5")),
            InitApply(object("new", "4")),
            InitDone,
        ]);
        assert_eq!(seen.lock().unwrap().len(), 4);
    }
}
