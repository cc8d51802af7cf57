//! The count of a workspace's quota. The apiserver refuses what a quota covers until the quota's
//! status holds its limits and their use; the quota controller writes that count, but only some
//! time after a kind is installed. A workspace's first write waits for it here, or, in a
//! namespace the api has just made (so empty), the api writes the count itself.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::ResourceQuota;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};

use super::objects::POLICY_NAME;
use crate::error::{ApiError, ApiResult};

/// How long the first write of a new workspace waits for the quota controller to count its
/// quota (until then the apiserver refuses what the quota covers).
const QUOTA_COUNTED_WITHIN: Duration = Duration::from_secs(60);
/// How long the first write of a namespace the api has just made waits for the quota controller
/// to take over the count the api wrote. Normally a few milliseconds; the controller only takes
/// longer while it pauses to watch newly installed kinds, and then the api's count stands alone.
const QUOTA_HANDED_OVER_WITHIN: Duration = Duration::from_secs(3);
/// A use the api writes beside its own count of a new namespace's quota. The quota controller
/// keeps only the uses of the quota's limits, so its first count drops this one: while it is
/// there, the controller has not counted the quota yet.
const COUNTED_BY_API: &str = "agentarea.io/counted-by-api";

/// Counts the quota of a namespace this process has just made (so empty), then waits a moment
/// for the quota controller to take the count over.
///
/// The wait closes a race in the controller: its first count of a quota is taken from its own
/// watch caches, and a write admitted just before can be missing from them. Were that first count
/// to come after the workspace's first creates, it would put their use back to what its caches
/// hold, and a create past the limit would be admitted. Counts after the first one are taken the
/// same way, but only on a resync or a delete, not in the burst of a workspace's first writes.
pub async fn count_new_namespace(
    client: &Client,
    namespace: &str,
    mut quota: ResourceQuota,
) -> ApiResult<()> {
    let quotas = Api::<ResourceQuota>::namespaced(client.clone(), namespace);
    let deadline = tokio::time::Instant::now() + QUOTA_HANDED_OVER_WITHIN;
    loop {
        match QuotaCount::of(&quota) {
            QuotaCount::ByController => return Ok(()),
            QuotaCount::ByApi if tokio::time::Instant::now() >= deadline => {
                tracing::warn!(
                    namespace,
                    "the quota controller has not counted the new workspace's quota yet; the api's count stands"
                );
                return Ok(());
            }
            QuotaCount::ByApi => tokio::time::sleep(Duration::from_millis(20)).await,
            QuotaCount::None => match count_as_empty(&quotas, &quota).await {
                Ok(()) => {}
                // The controller (or another replica) wrote the status first: read what it wrote.
                Err(kube::Error::Api(status)) if status.code == 409 => {}
                Err(error) => {
                    tracing::error!(%error, namespace, "counting a new quota failed");
                    return Err(error.into());
                }
            },
        }
        quota = quotas.get(POLICY_NAME).await?;
    }
}

/// Writes the count of an empty namespace into its new quota: every limit, nothing used, and
/// [`COUNTED_BY_API`]. Only over the status `quota` holds, so a count written meanwhile stays.
async fn count_as_empty(quotas: &Api<ResourceQuota>, quota: &ResourceQuota) -> kube::Result<()> {
    let hard = quota
        .spec
        .as_ref()
        .and_then(|s| s.hard.clone())
        .unwrap_or_default();
    let used: BTreeMap<String, Quantity> = hard
        .keys()
        .map(String::as_str)
        .chain([COUNTED_BY_API])
        .map(|k| (k.to_string(), Quantity("0".to_string())))
        .collect();
    let status = serde_json::json!({
        "metadata": { "resourceVersion": quota.metadata.resource_version },
        "status": { "hard": hard, "used": used },
    });
    quotas
        .patch_status(POLICY_NAME, &PatchParams::default(), &Patch::Merge(&status))
        .await?;
    Ok(())
}

/// Until the quota controller has counted a quota, the apiserver refuses creates it covers
/// ("status unknown for quota"): a workspace's first write waits for it here instead.
pub async fn wait_until_counted(
    client: &Client,
    namespace: &str,
    mut quota: ResourceQuota,
) -> ApiResult<()> {
    let quotas = Api::<ResourceQuota>::namespaced(client.clone(), namespace);
    let deadline = tokio::time::Instant::now() + QUOTA_COUNTED_WITHIN;
    while QuotaCount::of(&quota) == QuotaCount::None {
        if tokio::time::Instant::now() >= deadline {
            tracing::warn!(namespace, "the workspace quota was not counted in time");
            return Err(ApiError::service_unavailable(
                "The workspace is still being set up; retry shortly",
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        quota = quotas.get(POLICY_NAME).await?;
    }
    Ok(())
}

/// Whether the apiserver refused a create because it has not seen the quota counted yet: its own
/// cache of quotas may trail the count [`super::WorkspaceArgs::provision`] waited for by a moment.
pub fn is_quota_settling(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status)
        if status.code == 403 && status.message.contains("status unknown for quota"))
}

/// Who has counted a quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QuotaCount {
    /// Nobody: the status lacks a limit or a use of one, and the apiserver refuses what the
    /// quota covers ("status unknown for quota"). The quota controller counts a kind only once
    /// it watches it, some time after the kind is installed.
    None,
    /// The api, as an empty namespace's; the controller has not counted it since.
    ByApi,
    /// The quota controller (or a quota without limits, which needs no count).
    ByController,
}

impl QuotaCount {
    fn of(quota: &ResourceQuota) -> Self {
        let Some(spec) = quota.spec.as_ref().and_then(|s| s.hard.as_ref()) else {
            return Self::ByController;
        };
        let status = quota.status.as_ref();
        let used = status.and_then(|s| s.used.as_ref());
        let has_all = |counted: Option<&BTreeMap<String, Quantity>>| {
            spec.keys()
                .all(|k| counted.is_some_and(|counted| counted.contains_key(k)))
        };
        if !(has_all(status.and_then(|s| s.hard.as_ref())) && has_all(used)) {
            Self::None
        } else if used.is_some_and(|used| used.contains_key(COUNTED_BY_API)) {
            Self::ByApi
        } else {
            Self::ByController
        }
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{ResourceQuotaSpec, ResourceQuotaStatus};

    use super::*;

    #[test]
    fn a_quota_is_counted_once_its_status_holds_every_limit_and_its_use() {
        let quota = |spec: &[&str], status: Option<(&[&str], &[&str])>| {
            let hard = |names: &[&str]| {
                names
                    .iter()
                    .map(|n| (n.to_string(), Quantity("1".into())))
                    .collect::<BTreeMap<_, _>>()
            };
            ResourceQuota {
                spec: Some(ResourceQuotaSpec {
                    hard: Some(hard(spec)),
                    ..ResourceQuotaSpec::default()
                }),
                status: status.map(|(limits, used)| ResourceQuotaStatus {
                    hard: Some(hard(limits)),
                    used: Some(hard(used)),
                }),
                ..ResourceQuota::default()
            }
        };
        type Names<'a> = &'a [&'a str];
        let agents = "count/agents.agentarea.io";
        // (limits, status (limits copied, uses counted), who counted)
        type Status<'a> = Option<(Names<'a>, Names<'a>)>;
        let cases: [(Names, Status, QuotaCount); 9] = [
            (&["pods"], None, QuotaCount::None),
            (&["pods"], Some((&[], &[])), QuotaCount::None),
            (
                &["pods", agents],
                Some((&["pods"], &["pods"])),
                QuotaCount::None,
            ),
            // Limits copied, but the kind not counted yet: the controller does not watch it.
            (
                &["pods", agents],
                Some((&["pods", agents], &["pods"])),
                QuotaCount::None,
            ),
            (
                &["pods", agents],
                Some((&["pods", agents], &["pods", agents])),
                QuotaCount::ByController,
            ),
            (
                &["pods"],
                Some((&["pods"], &["pods"])),
                QuotaCount::ByController,
            ),
            // The api's count of a new namespace, until the controller's first count drops the
            // use that marks it.
            (
                &["pods", agents],
                Some((&["pods", agents], &["pods", agents, COUNTED_BY_API])),
                QuotaCount::ByApi,
            ),
            // The mark alone does not count a quota.
            (
                &["pods", agents],
                Some((&["pods", agents], &["pods", COUNTED_BY_API])),
                QuotaCount::None,
            ),
            // A quota without limits needs no count.
            (&[], None, QuotaCount::ByController),
        ];
        for (spec, status, count) in cases {
            assert_eq!(
                QuotaCount::of(&quota(spec, status)),
                count,
                "{spec:?} {status:?}"
            );
        }
    }
}
