//! What changed across a re-list. A watch that breaks (the apiserver restarts, `410 Expired`, the
//! network drops) starts again from a list, and a list says what is, not what happened: an object
//! deleted in the gap is simply missing from it, one created or changed is simply there. Comparing
//! what the cache held before the list with what the list gave turns the gap back into changes,
//! so that `/v1/events` and everything else fed by the cache's changes misses none of them.

use std::collections::HashMap;
use std::sync::Arc;

use kube::{Resource, ResourceExt};

/// One change the gap held, as the list reveals it.
#[derive(Debug, Clone)]
pub enum Difference<K> {
    /// In the list, not held before.
    Created(Arc<K>),
    /// Held before at another resourceVersion.
    Updated(Arc<K>),
    /// Held before, not in the list (as it was last seen).
    Deleted(Arc<K>),
}

/// The changes between what was `held` and what was `listed`, objects matched by uid (an object
/// deleted and made again under its name is a deletion and a creation). Deletions come first:
/// when in the gap they happened is not known. Creations and updates follow in resourceVersion
/// order, which is the order the apiserver made them in.
pub fn differences<K: Resource>(held: &[Arc<K>], listed: &[Arc<K>]) -> Vec<Difference<K>> {
    let held_by_uid: HashMap<String, &Arc<K>> = held
        .iter()
        .filter_map(|object| Some((object.uid()?, object)))
        .collect();
    let listed_uids: std::collections::HashSet<String> =
        listed.iter().filter_map(|object| object.uid()).collect();

    let mut deleted: Vec<Difference<K>> = held
        .iter()
        .filter(|object| object.uid().is_some_and(|uid| !listed_uids.contains(&uid)))
        .map(|object| Difference::Deleted(object.clone()))
        .collect();
    let mut changed: Vec<(u64, Difference<K>)> = listed
        .iter()
        .filter_map(|object| {
            let uid = object.uid()?;
            let difference = match held_by_uid.get(&uid) {
                None => Difference::Created(object.clone()),
                Some(before) if before.resource_version() != object.resource_version() => {
                    Difference::Updated(object.clone())
                }
                Some(_) => return None,
            };
            Some((revision(object.as_ref()), difference))
        })
        .collect();
    changed.sort_by_key(|(revision, _)| *revision);
    deleted.extend(changed.into_iter().map(|(_, difference)| difference));
    deleted
}

/// An object's resourceVersion as the number etcd gives it; an unreadable one sorts last.
fn revision<K: Resource>(object: &K) -> u64 {
    object
        .resource_version()
        .and_then(|rv| rv.parse().ok())
        .unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::ConfigMap;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;

    fn object(uid: &str, resource_version: &str) -> Arc<ConfigMap> {
        Arc::new(ConfigMap {
            metadata: ObjectMeta {
                name: Some(format!("name-of-{uid}")),
                uid: Some(uid.into()),
                resource_version: Some(resource_version.into()),
                ..ObjectMeta::default()
            },
            ..ConfigMap::default()
        })
    }

    fn described(differences: &[Difference<ConfigMap>]) -> Vec<String> {
        differences
            .iter()
            .map(|d| match d {
                Difference::Created(o) => format!("created {}", o.uid().unwrap()),
                Difference::Updated(o) => format!("updated {}", o.uid().unwrap()),
                Difference::Deleted(o) => format!("deleted {}", o.uid().unwrap()),
            })
            .collect()
    }

    /// (held, listed) as (uid, resourceVersion) pairs -> the differences, in order.
    #[test]
    fn a_list_after_a_gap_tells_what_the_gap_held() {
        type Objects = &'static [(&'static str, &'static str)];
        let cases: &[(&str, Objects, Objects, &[&str])] = &[
            (
                "nothing changed",
                &[("a", "5"), ("b", "6")],
                &[("b", "6"), ("a", "5")],
                &[],
            ),
            ("empty before and after", &[], &[], &[]),
            (
                "a creation",
                &[("a", "5")],
                &[("a", "5"), ("b", "9")],
                &["created b"],
            ),
            ("an update", &[("a", "5")], &[("a", "7")], &["updated a"]),
            (
                "a deletion",
                &[("a", "5"), ("b", "6")],
                &[("b", "6")],
                &["deleted a"],
            ),
            (
                "everything went",
                &[("a", "5"), ("b", "6")],
                &[],
                &["deleted a", "deleted b"],
            ),
            (
                "everything is new",
                &[],
                &[("b", "9"), ("a", "8")],
                &["created a", "created b"],
            ),
            (
                "deletions first, then the rest by resourceVersion",
                &[("a", "5"), ("b", "6"), ("c", "7")],
                &[("c", "12"), ("d", "10"), ("a", "11")],
                &["deleted b", "created d", "updated a", "updated c"],
            ),
            (
                "the same name made again is another object",
                &[("old", "5")],
                &[("new", "8")],
                &["deleted old", "created new"],
            ),
            (
                "an unreadable resourceVersion sorts last",
                &[],
                &[("x", "?"), ("y", "3")],
                &["created y", "created x"],
            ),
        ];
        for (what, held, listed, expected) in cases {
            let held: Vec<_> = held.iter().map(|(u, rv)| object(u, rv)).collect();
            let listed: Vec<_> = listed.iter().map(|(u, rv)| object(u, rv)).collect();
            assert_eq!(described(&differences(&held, &listed)), *expected, "{what}");
        }
    }
}
