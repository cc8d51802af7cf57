//! Mechanics every resource route shares: REST names and ids over Kubernetes names and uids,
//! timestamps, list ordering and pagination, and writes that wait for the cache (read-your-writes).

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;

use agentarea_crds::common::{
    CREATED_AT_ANNOTATION, CREATED_BY_ANNOTATION, DISPLAY_NAME_ANNOTATION,
    trace_context_annotations,
};

use crate::audit;
use crate::auth::Identity;
use crate::cache::{CachedResource, ResourceCache};
use crate::constraints::{Cursor, Limit, Name, Offset};
use crate::error::{ApiError, ApiResult};
use crate::gitops;
use crate::workspace::provision::is_quota_settling;
use crate::workspace::{Workspaces, namespace_for};

pub const DEFAULT_LIMIT: usize = 100;

/// `limit`, `offset` and `cursor` of every list route; their types check them and state them in
/// the document.
#[derive(Deserialize, Debug, Default, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Items per page (default 100).
    #[param(inline)]
    pub limit: Option<Limit>,
    /// Items to skip (ignored when `cursor` is given).
    #[param(inline)]
    pub offset: Option<Offset>,
    /// The `X-Next-Cursor` of the previous page: continues after its last item even when items
    /// were added or removed meanwhile.
    #[param(inline)]
    pub cursor: Option<Cursor>,
}

/// One page of a list, with what the response headers say about the rest.
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: usize,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// `X-Total-Count` and, when there is more, `X-Next-Cursor`. The body stays a plain JSON array,
    /// as AgentArea's clients expect.
    pub fn headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            HeaderName::from_static("x-total-count"),
            HeaderValue::from(self.total),
        );
        if let Some(cursor) = &self.next_cursor
            && let Ok(value) = HeaderValue::from_str(cursor)
        {
            headers.insert(HeaderName::from_static("x-next-cursor"), value);
        }
        headers
    }
}

/// Sorts newest first (creation time, then name, so the order is total and stable) and cuts one
/// page out.
pub fn paginate<K: CachedResource>(
    mut objects: Vec<Arc<K>>,
    params: &PageParams,
) -> ApiResult<Page<Arc<K>>> {
    let limit = params.limit.map_or(DEFAULT_LIMIT, Limit::get);
    objects.sort_by_cached_key(|o| std::cmp::Reverse(sort_key(o)));
    let total = objects.len();
    let start = match &params.cursor {
        Some(after) => objects.partition_point(|o| &sort_key(o) >= after),
        None => params.offset.map_or(0, Offset::get).min(total),
    };
    let end = (start + limit).min(total);
    let next_cursor = (end < total && end > start).then(|| sort_key(&objects[end - 1]).encode());
    Ok(Page {
        items: objects[start..end].to_vec(),
        total,
        next_cursor,
    })
}

/// Newest first is descending order of this key.
fn sort_key<K: CachedResource>(object: &Arc<K>) -> Cursor {
    Cursor {
        created: created_at(object.meta()).map_or(0, |t| t.as_microsecond()),
        name: object.name_any(),
    }
}

/// One page of a list paged by number, as AgentArea pages its events and executions (1-based
/// `page`, `page_size` items, the `total` and whether another page follows).
pub struct NumberedPage<T> {
    pub items: Vec<T>,
    pub total: usize,
    pub page: usize,
    pub page_size: usize,
    pub has_next: bool,
}

/// Page `page` of `items`, `page_size` to a page.
pub fn numbered_page<T>(items: Vec<T>, page: usize, page_size: usize) -> NumberedPage<T> {
    let total = items.len();
    let skip = page.saturating_sub(1).saturating_mul(page_size);
    NumberedPage {
        items: items.into_iter().skip(skip).take(page_size).collect(),
        total,
        page,
        page_size,
        has_next: page.saturating_mul(page_size) < total,
    }
}

/// When the object was made: the precise annotation when the product made it, else the
/// apiserver's whole-second `creationTimestamp`.
pub fn created_at(meta: &ObjectMeta) -> Option<k8s_openapi::jiff::Timestamp> {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(CREATED_AT_ANNOTATION))
        .and_then(|t| t.parse().ok())
        .or_else(|| meta.creation_timestamp.as_ref().map(|t| t.0))
}

/// Annotations that every object the product creates carries.
pub fn creation_annotations(
    created_by: Option<&str>,
) -> std::collections::BTreeMap<String, String> {
    let mut annotations = std::collections::BTreeMap::new();
    annotations.insert(
        CREATED_AT_ANNOTATION.to_string(),
        k8s_openapi::jiff::Timestamp::now().to_string(),
    );
    if let Some(subject) = created_by {
        annotations.insert(CREATED_BY_ANNOTATION.to_string(), subject.to_string());
    }
    // The request's trace, for the work the operator does for this object (a Task's run).
    let context = agentarea_support::telemetry::inject(&tracing::Span::current());
    annotations.extend(trace_context_annotations(&context));
    annotations
}

/// The Kubernetes name for a REST `name`: the name itself when it is a valid DNS label (so that
/// `kubectl get agent <name>` works), otherwise a slug with a random suffix, the REST name kept in
/// an annotation.
pub fn object_name_for(display_name: &Name) -> (String, Option<String>) {
    let trimmed = display_name.trim();
    if is_dns_label(trimmed) {
        return (trimmed.to_string(), None);
    }
    let slug: String = trimmed
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect::<String>()
        .split('-')
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    let slug: String = slug.chars().take(50).collect();
    let slug = slug.trim_end_matches('-');
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..6];
    let name = if slug.is_empty() {
        format!("x-{suffix}")
    } else {
        format!("{slug}-{suffix}")
    };
    (name, Some(trimmed.to_string()))
}

pub fn is_dns_label(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 63
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !value.starts_with('-')
        && !value.ends_with('-')
}

/// Metadata of a new object made through the API.
pub fn new_metadata(
    name: String,
    display_name: Option<String>,
    namespace: &str,
    caller: &Identity,
) -> ObjectMeta {
    let mut annotations = creation_annotations(Some(&caller.subject));
    if let Some(display) = display_name {
        annotations.insert(DISPLAY_NAME_ANNOTATION.to_string(), display);
    }
    ObjectMeta {
        name: Some(name),
        namespace: Some(namespace.to_string()),
        annotations: Some(annotations),
        ..ObjectMeta::default()
    }
}

/// The name a REST client sees: the one it gave, or the Kubernetes name.
pub fn display_name(meta: &ObjectMeta) -> String {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(DISPLAY_NAME_ANNOTATION))
        .cloned()
        .or_else(|| meta.name.clone())
        .unwrap_or_default()
}

pub fn created_by(meta: &ObjectMeta) -> Option<String> {
    meta.annotations
        .as_ref()?
        .get(CREATED_BY_ANNOTATION)
        .cloned()
}

/// `created_at`, and `updated_at` as the newest write any field manager made.
pub fn timestamps(meta: &ObjectMeta) -> (Option<String>, Option<String>) {
    let created = created_at(meta).map(|t| t.to_string());
    let updated = meta
        .managed_fields
        .iter()
        .flatten()
        .filter_map(|f| f.time.as_ref())
        .max()
        .map(|t| t.0.to_string())
        .or_else(|| created.clone());
    (created, updated)
}

/// Writes for one caller in their workspace's namespace, that go to the apiserver and return once
/// the cache reflects them. Each is attributed: the caller is recorded on what a patch changes
/// (`agentarea.io/updated-by`; creates carry `agentarea.io/created-by`), and every write that
/// succeeds is an audit log line ([`audit`]).
///
/// The writes act as the workspace's identity ([`Workspaces::acting_in`]), so the apiserver itself
/// keeps them inside the caller's workspace; the workspace namespace is made and set up before
/// the first write.
///
/// An object a GitOps engine applies from Git ([`crate::gitops`]) is not patched or deleted here
/// when the writer guards it (the api's `--gitops-read-only`, for kinds that are edited).
pub struct Writer<'a, K: CachedResource> {
    pub api: Api<K>,
    pub cache: &'a ResourceCache<K>,
    pub namespace: String,
    workspaces: &'a Workspaces,
    actor: &'a Identity,
    guards_git_owned: bool,
}

impl<'a, K: CachedResource + Serialize> Writer<'a, K> {
    pub fn new(
        workspaces: &'a Workspaces,
        cache: &'a ResourceCache<K>,
        actor: &'a Identity,
    ) -> Self {
        let namespace = namespace_for(&actor.workspace);
        Self {
            api: Api::namespaced(workspaces.acting_in(&namespace), &namespace),
            cache,
            namespace,
            workspaces,
            actor,
            guards_git_owned: false,
        }
    }

    /// Refuses changes to objects a GitOps engine owns (409 naming the owner).
    pub fn guarding_git_owned(mut self, guards: bool) -> Self {
        self.guards_git_owned = guards;
        self
    }

    fn refuse_if_git_owned(&self, object: Option<&K>) -> ApiResult<()> {
        let owner = object
            .filter(|_| self.guards_git_owned)
            .and_then(|object| gitops::owner_of(object.meta()));
        match owner {
            Some(owner) => Err(ApiError::conflict(owner.refusal())),
            None => Ok(()),
        }
    }

    pub async fn create(&self, object: &K) -> ApiResult<K> {
        self.workspaces.ensure(&self.actor.workspace).await?;
        let mut attempts = 0;
        let created = loop {
            match self.api.create(&PostParams::default(), object).await {
                Err(error) if is_quota_settling(&error) && attempts < 20 => {
                    attempts += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                result => break result?,
            }
        };
        audit::written(self.actor, audit::Verb::Create, &created);
        self.caught_up(&created).await;
        Ok(created)
    }

    /// A JSON merge patch of the object (spec fields the client sent; absent fields untouched),
    /// recording the caller as the object's last writer.
    pub async fn merge_patch(&self, name: &str, patch: &serde_json::Value) -> ApiResult<K> {
        self.refuse_if_git_owned(self.cache.get(&self.namespace, name).as_deref())?;
        self.workspaces.ensure_set_up(&self.namespace).await?;
        let patch = audit::attributed(patch.clone(), self.actor);
        let patched = self
            .api
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        audit::written(self.actor, audit::Verb::Update, &patched);
        self.caught_up(&patched).await;
        Ok(patched)
    }

    pub async fn delete(&self, object: &K) -> ApiResult<()> {
        self.refuse_if_git_owned(Some(object))?;
        self.workspaces.ensure_set_up(&self.namespace).await?;
        let name = object.name_any();
        match self.api.delete(&name, &DeleteParams::background()).await {
            Ok(_) => audit::written(self.actor, audit::Verb::Delete, object),
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(error) => return Err(error.into()),
        }
        if let Some(uid) = object.uid() {
            self.cache
                .wait_for_deletion(&self.namespace, &name, &uid)
                .await;
        }
        Ok(())
    }

    async fn caught_up(&self, written: &K) {
        if let Some(version) = written.resource_version() {
            self.cache
                .wait_for_version(&self.namespace, &written.name_any(), &version)
                .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_names_are_kept_and_others_slugged() {
        let name = |text: &str| object_name_for(&Name::new(text).unwrap());
        assert_eq!(name("support-bot"), ("support-bot".into(), None));
        let (object, display) = name(" Support Bot (EU) ");
        assert!(object.starts_with("support-bot-eu-"), "{object}");
        assert!(is_dns_label(&object));
        assert_eq!(display.as_deref(), Some("Support Bot (EU)"));
        assert!(is_dns_label(&name("!!!").0));
    }
}
