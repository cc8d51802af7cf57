//! What a workspace namespace holds besides the workspace's own objects, written by the api the
//! first time it acts in the workspace: the RoleBinding of the workspace identity
//! ([`super::identity`]), a ResourceQuota on object counts (and whatever else the administrator
//! sets), and a LimitRange whose container defaults make compute quotas usable for the MCP server
//! pods the operator runs there.
//!
//! Each is server-side applied by the api's field manager, so a change of the api's settings
//! reaches existing workspaces when the api next acts in them, and an administrator's own fields
//! on these objects are kept.
//!
//! The settings and their parsing are in `settings.rs`, the objects they make in `objects.rs`,
//! and the wait for (or the writing of) a new quota's count in `quota.rs`; this module writes
//! them.

mod objects;
mod quota;
mod settings;

use std::fmt;

use kube::api::{Patch, PatchParams};
use kube::{Api, Client};

use crate::error::ApiResult;
use objects::MANAGER;
use quota::{count_new_namespace, wait_until_counted};

pub use quota::is_quota_settling;
pub use settings::{DEFAULT_QUOTA, NotResources, Resources, WorkspaceArgs};

impl WorkspaceArgs {
    /// Writes the workspace's RoleBinding, ResourceQuota and LimitRange into `namespace` (which
    /// exists), and makes sure the quota is counted before anything is created under it.
    ///
    /// The apiserver refuses what a quota covers until the quota's status holds its limits. The
    /// quota controller writes that status, but it can take many seconds (it pauses while it
    /// starts watching newly installed kinds). A namespace this process has just made is empty,
    /// so its count is known, zero, and written here at once. A namespace that was there before
    /// waits for the controller's count.
    pub async fn provision(&self, client: &Client, namespace: &str, empty: bool) -> ApiResult<()> {
        apply(client, namespace, &self.role_binding(namespace)).await?;
        if let Some(limit_range) = self.limit_range(namespace) {
            apply(client, namespace, &limit_range).await?;
        }
        if let Some(quota) = self.resource_quota(namespace) {
            let applied = apply(client, namespace, &quota).await?;
            if empty {
                count_new_namespace(client, namespace, applied).await?;
            } else {
                wait_until_counted(client, namespace, applied).await?;
            }
        }
        Ok(())
    }
}

async fn apply<K>(client: &Client, namespace: &str, object: &K) -> ApiResult<K>
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::Serialize
        + serde::de::DeserializeOwned
        + fmt::Debug,
{
    let name = kube::ResourceExt::name_any(object);
    let applied = Api::<K>::namespaced(client.clone(), namespace)
        .patch(
            &name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(object),
        )
        .await
        .inspect_err(|error| {
            tracing::error!(%error, namespace, kind = %K::kind(&()), "workspace set-up failed");
        })?;
    Ok(applied)
}
