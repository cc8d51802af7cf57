//! The one way controllers write status: server-side apply of the whole status on the status
//! subresource, under the operator's field manager. Spec is never written by the operator.
//!
//! Tasks are the exception: their status is a claim that must not be overwritten by a replica
//! that has not seen the latest version, so it is written with the resourceVersion as a
//! precondition instead (`controllers::task::record::write_if_unchanged`).

use kube::api::{Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use agentarea_crds::common::OPERATOR_FIELD_MANAGER;

use crate::error::{Error, Result};

/// Applies `status` to `object`'s status subresource.
pub async fn apply_status<K, S>(client: &kube::Client, object: &K, status: &S) -> Result<()>
where
    K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
    S: Serialize,
{
    let namespace = object.namespace().ok_or(Error::NoNamespace)?;
    let api: Api<K> = Api::namespaced(client.clone(), &namespace);
    let patch = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    api.patch_status(
        &object.name_any(),
        &PatchParams::apply(OPERATOR_FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    Ok(())
}
