//! What a controller watches, and which events wake a reconcile: its own objects when their spec
//! changes, objects it depends on when what it reads of them changes. Every watched object is kept
//! as a controller needs it ([`trim_for_controller`]).

use std::collections::HashMap;
use std::fmt::Debug;
use std::hash::{DefaultHasher, Hash, Hasher};

use futures::{Stream, StreamExt};
use kube::runtime::reflector;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{Controller, WatchStreamExt, watcher};
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;

use agentarea_crds::common::trim_for_store;

/// The objects in `store` of `namespace` that `matches` picks: the mapper of a `watches` relation
/// ("which of mine name this object?").
pub fn in_namespace_where<K>(
    store: &Store<K>,
    namespace: &Option<String>,
    matches: impl Fn(&K) -> bool,
) -> Vec<ObjectRef<K>>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    store
        .state()
        .into_iter()
        .filter(|object| &object.namespace() == namespace && matches(object))
        .map(|object| ObjectRef::from_obj(&*object))
        .collect()
}

/// A Controller over `api` that reconciles an object when it appears and when its spec changes
/// (its `metadata.generation`), but not after its own status writes: each of those would
/// otherwise come back as a watch event and run the whole reconcile (for an MCP server instance,
/// a discovery against the tenant's server) a second time for nothing. What an object depends on
/// is watched separately (`owns`, `watches`), and periodic work asks to be requeued.
///
/// Not for Tasks: their runner reacts to status written by other replicas (claims).
pub fn spec_driven<K>(api: Api<K>) -> Controller<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let (reader, writer) = reflector::store();
    // What kube's `predicate_filter(predicates::generation)` does, on the one record of what was
    // seen that `keyed_changes` keeps too: a compact uid and the generation per object, where the
    // predicate's cache keeps the name, namespace and uid as strings (with 10,000 objects, about
    // 2 MB of the operator's memory).
    let mut seen = SeenObjects::new(|object: &K| object.meta().generation, FirstSight::Wake);
    let changed = reflector::reflector(writer, stored_watch(api))
        .default_backoff()
        .filter_map(move |event| {
            futures::future::ready(match event {
                Ok(event) => seen.on_own(event).map(Ok),
                Err(error) => Some(Err(error)),
            })
        });
    Controller::for_stream(changed, reader)
}

/// The watch of every object of `api` that a controller keeps in its store, as it is to be kept
/// ([`trim_for_controller`]: with thousands of objects what it drops would be a good part of the
/// operator's memory).
pub fn stored_watch<K>(
    api: Api<K>,
) -> impl Stream<Item = std::result::Result<watcher::Event<K>, watcher::Error>> + Send + 'static
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    watcher(api, watcher::Config::default().any_semantic()).modify(trim_for_controller)
}

/// What a controller's store keeps of an object: less than [`trim_for_store`] leaves, as no
/// reconcile reads who wrote what (the api does, from its own cache). Without managedFields, a
/// status written from the stored copy leaves the apiserver's record as it is.
pub fn trim_for_controller<K: Resource>(object: &mut K) {
    trim_for_store(object);
    object.meta_mut().managed_fields = None;
}

/// The events of objects a controller's reconcile depends on that it has to see: a change of what
/// `key` picks from the object, and its deletion; its first appearance as `first_sight` says.
/// Rewrites that change nothing `key` picks go no further: the controller-manager rewrites a
/// Deployment's status several times as it rolls out, and an MCP server's health check rewrites
/// its status, and re-resolving every agent of the namespace for each would be most of the
/// operator's work. For [`Controller::owns_stream`] and [`Controller::watches_stream`].
pub fn keyed_changes<K, Key>(
    api: Api<K>,
    key: fn(&K) -> Key,
    first_sight: FirstSight,
) -> impl Stream<Item = std::result::Result<K, watcher::Error>> + Send + 'static
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    Key: PartialEq + Send + 'static,
{
    let mut seen = SeenObjects::new(key, first_sight);
    watcher(api, watcher::Config::default().any_semantic())
        .default_backoff()
        .filter_map(move |event| {
            futures::future::ready(match event {
                Ok(event) => seen.on(event).map(Ok),
                Err(error) => Some(Err(error)),
            })
        })
}

/// Whether an object seen for the first time wakes the objects related to it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FirstSight {
    /// An owned object: its owner's reconcile made it, so reconciling the owner again for it would
    /// only repeat every write of that reconcile; after a restart of the watch, owners are
    /// reconciled anyway.
    Ignore,
    /// A named object (a `watches` relation): those that name it may have been waiting for it.
    Wake,
}

/// The keys last seen of watched objects, by uid, and whether an event should wake the objects
/// related to it.
struct SeenObjects<K, Key> {
    key: fn(&K) -> Key,
    first_sight: FirstSight,
    current: HashMap<CompactUid, Key>,
    /// While the watch lists again: what was known before, to compare the listed objects with.
    /// Dropped when the list is done, which forgets objects deleted while the watch was down.
    before_relist: Option<HashMap<CompactUid, Key>>,
}

/// An object's uid as a number: the apiserver's uids are UUIDs, 16 bytes instead of a string of
/// 36, and a watch of thousands of objects keeps one for each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct CompactUid(u128);

impl CompactUid {
    fn of(object: &impl Resource) -> Option<Self> {
        let uid = object.meta().uid.as_deref()?;
        Some(match uuid::Uuid::parse_str(uid) {
            Ok(uuid) => Self(uuid.as_u128()),
            // No apiserver makes such a uid; hashed, it is still one key per object.
            Err(_) => {
                let mut hasher = DefaultHasher::new();
                uid.hash(&mut hasher);
                Self(u128::from(hasher.finish()))
            }
        })
    }
}

impl<K: Resource, Key: PartialEq> SeenObjects<K, Key> {
    fn new(key: fn(&K) -> Key, first_sight: FirstSight) -> Self {
        Self {
            key,
            first_sight,
            current: HashMap::new(),
            before_relist: None,
        }
    }

    /// The object that should reconcile itself after `event`, if any: as [`Self::on`], but a
    /// deleted object has nothing left to reconcile (it is gone from the store, and what has to
    /// happen before it goes is a finalizer's, which comes as a change).
    fn on_own(&mut self, event: watcher::Event<K>) -> Option<K> {
        let deleted = matches!(event, watcher::Event::Delete(_));
        let woken = self.on(event);
        woken.filter(|_| !deleted)
    }

    /// The object whose related objects should reconcile after `event`, if any.
    fn on(&mut self, event: watcher::Event<K>) -> Option<K> {
        match event {
            watcher::Event::Init => {
                self.before_relist = Some(std::mem::take(&mut self.current));
                None
            }
            watcher::Event::InitDone => {
                self.before_relist = None;
                None
            }
            watcher::Event::Apply(object) | watcher::Event::InitApply(object) => {
                let uid = CompactUid::of(&object)?;
                let key = (self.key)(&object);
                let known = self.current.remove(&uid).or_else(|| {
                    self.before_relist
                        .as_mut()
                        .and_then(|before| before.remove(&uid))
                });
                let changed = match known {
                    Some(known) => known != key,
                    None => self.first_sight == FirstSight::Wake,
                };
                self.current.insert(uid, key);
                changed.then_some(object)
            }
            watcher::Event::Delete(object) => {
                if let Some(uid) = CompactUid::of(&object) {
                    self.current.remove(&uid);
                }
                Some(object)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::runtime::watcher::Event;

    use super::*;

    #[test]
    fn a_controllers_copy_keeps_neither_managed_fields_nor_an_applied_copy() {
        use agentarea_crds::common::LAST_APPLIED_ANNOTATION;
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;
        let mut object = ConfigMap::default();
        object.metadata.managed_fields = Some(vec![ManagedFieldsEntry::default()]);
        object.metadata.annotations = Some(
            [(LAST_APPLIED_ANNOTATION, "{}"), ("team", "a")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        object.data = Some([("k".to_string(), "v".to_string())].into());
        trim_for_controller(&mut object);
        assert!(object.metadata.managed_fields.is_none());
        let annotations = object.metadata.annotations.unwrap();
        assert_eq!(annotations.keys().collect::<Vec<_>>(), ["team"]);
        assert_eq!(object.data.unwrap()["k"], "v");
    }

    /// A child with a uid and the one value its owner cares about.
    fn child(uid: &str, value: &str) -> ConfigMap {
        let mut child = ConfigMap::default();
        child.metadata.name = Some(format!("child-{uid}"));
        child.metadata.uid = Some(uid.into());
        child.data = Some([("key".to_string(), value.to_string())].into());
        child
    }

    fn value(child: &ConfigMap) -> Option<String> {
        child.data.as_ref()?.get("key").cloned()
    }

    /// Who is woken: the objects related to the watched one, as an owned child's or a named
    /// object's, or (a controller's own watch) the watched object itself.
    #[derive(Clone, Copy)]
    enum Woken {
        RelatedTo(FirstSight),
        Itself,
    }

    /// The uids of the objects that wake, event by event.
    fn woken(who: Woken, events: &[Event<ConfigMap>]) -> Vec<String> {
        let first_sight = match who {
            Woken::RelatedTo(first_sight) => first_sight,
            Woken::Itself => FirstSight::Wake,
        };
        let mut seen = SeenObjects::new(value, first_sight);
        events
            .iter()
            .cloned()
            .filter_map(|event| match who {
                Woken::RelatedTo(_) => seen.on(event),
                Woken::Itself => seen.on_own(event),
            })
            .filter_map(|object| object.metadata.uid)
            .collect()
    }

    #[test]
    fn related_objects_wake_for_key_changes_and_deletions_and_named_ones_for_appearances() {
        use Event::{Apply, Delete, Init, InitApply, InitDone};
        /// A case: its name, the events in order, and the uids that wake the related objects of
        /// an owned child ([`FirstSight::Ignore`]) and of a named object ([`FirstSight::Wake`]),
        /// and that wake themselves in a controller's own watch (keyed by generation there).
        type Case = (
            &'static str,
            Vec<Event<ConfigMap>>,
            &'static [&'static str],
            &'static [&'static str],
            &'static [&'static str],
        );
        let cases: &[Case] = &[
            ("appears", vec![Apply(child("a", "1"))], &[], &["a"], &["a"]),
            (
                "rewritten with the same key (status written by others, a health check's time)",
                vec![Apply(child("a", "1")), Apply(child("a", "1"))],
                &[],
                &["a"],
                &["a"],
            ),
            (
                "key changed",
                vec![Apply(child("a", "1")), Apply(child("a", "2"))],
                &["a"],
                &["a", "a"],
                &["a", "a"],
            ),
            (
                "deleted",
                vec![Apply(child("a", "1")), Delete(child("a", "1"))],
                &["a"],
                &["a", "a"],
                &["a"],
            ),
            (
                "deleted, then made again under a new uid",
                vec![
                    Apply(child("a", "1")),
                    Delete(child("a", "1")),
                    Apply(child("b", "1")),
                ],
                &["a"],
                &["a", "a", "b"],
                &["a", "b"],
            ),
            (
                "the first list of a watch",
                vec![Init, InitApply(child("a", "1")), InitDone],
                &[],
                &["a"],
                &["a"],
            ),
            (
                "listed again: changed while the watch was down, unchanged, and new",
                vec![
                    Apply(child("a", "1")),
                    Apply(child("b", "1")),
                    Init,
                    InitApply(child("a", "2")),
                    InitApply(child("b", "1")),
                    InitApply(child("c", "1")),
                    InitDone,
                ],
                &["a"],
                &["a", "b", "a", "c"],
                &["a", "b", "a", "c"],
            ),
            (
                "deleted while the watch was down, then made again: forgotten, so new",
                vec![
                    Apply(child("a", "1")),
                    Init,
                    InitDone,
                    Apply(child("a", "2")),
                ],
                &[],
                &["a", "a"],
                &["a", "a"],
            ),
        ];
        for (case, events, owned, named, itself) in cases {
            let ignore = Woken::RelatedTo(FirstSight::Ignore);
            assert_eq!(woken(ignore, events), *owned, "owned: {case}");
            let wake = Woken::RelatedTo(FirstSight::Wake);
            assert_eq!(woken(wake, events), *named, "named: {case}");
            assert_eq!(woken(Woken::Itself, events), *itself, "itself: {case}");
        }
    }

    #[test]
    fn a_uid_is_kept_as_a_number() {
        let with_uid = |uid: &str| {
            let mut object = ConfigMap::default();
            object.metadata.uid = Some(uid.into());
            CompactUid::of(&object)
        };
        let uuid = "0a1b2c3d-4e5f-4071-8293-a4b5c6d7e8f9";
        assert_eq!(
            with_uid(uuid),
            Some(CompactUid(0x0a1b2c3d_4e5f_4071_8293_a4b5c6d7e8f9))
        );
        assert_eq!(with_uid("a"), with_uid("a"));
        assert_ne!(with_uid("a"), with_uid("b"));
        assert_eq!(CompactUid::of(&ConfigMap::default()), None);
    }
}
