//! What a workspace namespace holds besides the workspace's own objects, written by the api the
//! first time it acts in the workspace: the RoleBinding of the workspace identity
//! ([`super::identity`]), a ResourceQuota on object counts (and whatever else the administrator
//! sets), and a LimitRange whose container defaults make compute quotas usable for the MCP server
//! pods the operator runs there.
//!
//! Each is server-side applied by the api's field manager, so a change of the api's settings
//! reaches existing workspaces when the api next acts in them, and an administrator's own fields
//! on these objects are kept.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use clap::Args;
use k8s_openapi::api::core::v1::{
    LimitRange, LimitRangeItem, LimitRangeSpec, ResourceQuota, ResourceQuotaSpec,
};
use k8s_openapi::api::rbac::v1::{RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};

use super::identity::IDENTITY;
use crate::error::{ApiError, ApiResult};

/// The field manager of everything the api writes into a workspace namespace.
const MANAGER: &str = "agentarea-api";
/// The name of the ResourceQuota and the LimitRange the api writes.
const POLICY_NAME: &str = "agentarea";
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

/// Object counts every workspace may hold, unless the administrator says otherwise. Generous
/// enough for real use; the point is that one workspace cannot fill etcd for everyone.
pub const DEFAULT_QUOTA: &str = "count/agents.agentarea.io=500,count/skills.agentarea.io=500,\
count/mcpserverinstances.agentarea.io=100,count/triggers.agentarea.io=200,\
count/tasks.agentarea.io=10000,count/secrets=500,pods=100";

/// Settings of every workspace namespace.
#[derive(Args, Debug, Clone)]
pub struct WorkspaceArgs {
    /// The ClusterRole each workspace namespace binds to its workspace identity (the chart's
    /// `<release>-workspace`; `agentarea-api workspace-role` prints one).
    #[arg(
        long,
        env = "AGENTAREA_WORKSPACE_ROLE",
        default_value = "agentarea-workspace"
    )]
    pub workspace_role: String,

    /// The ResourceQuota of every workspace namespace, as `resource=quantity` pairs separated by
    /// commas (`count/agents.agentarea.io=100,requests.cpu=4`); empty for none.
    #[arg(long, env = "AGENTAREA_WORKSPACE_QUOTA", default_value = DEFAULT_QUOTA)]
    pub workspace_quota: Resources,

    /// Default limits of containers in workspace namespaces (a LimitRange), e.g. `cpu=1,memory=512Mi`;
    /// empty for none.
    #[arg(
        long,
        env = "AGENTAREA_WORKSPACE_CONTAINER_LIMITS",
        default_value = "cpu=1,memory=512Mi"
    )]
    pub workspace_container_limits: Resources,

    /// Default requests of containers in workspace namespaces (the same LimitRange); empty for none.
    #[arg(
        long,
        env = "AGENTAREA_WORKSPACE_CONTAINER_REQUESTS",
        default_value = "cpu=50m,memory=64Mi"
    )]
    pub workspace_container_requests: Resources,
}

/// `resource=quantity` pairs, as a ResourceQuota's `hard` or a LimitRange's defaults take them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resources(pub BTreeMap<String, Quantity>);

/// Why a `resource=quantity` list was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not resource=quantity (e.g. count/agents.agentarea.io=100 or memory=512Mi)")]
pub struct NotResources(String);

impl FromStr for Resources {
    type Err = NotResources;

    fn from_str(list: &str) -> Result<Self, Self::Err> {
        let mut resources = BTreeMap::new();
        for pair in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, quantity) = pair
                .split_once('=')
                .map(|(n, q)| (n.trim(), q.trim()))
                .filter(|(n, q)| is_resource_name(n) && is_quantity(q))
                .ok_or_else(|| NotResources(pair.to_string()))?;
            resources.insert(name.to_string(), Quantity(quantity.to_string()));
        }
        Ok(Self(resources))
    }
}

fn is_resource_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"./-_".contains(&b))
}

/// A Kubernetes quantity in the forms administrators write: digits with an optional fraction and
/// a suffix (`100`, `0.5`, `50m`, `512Mi`, `1G`). The apiserver has the last word; this catches
/// typos at start-up rather than at a workspace's first write.
fn is_quantity(quantity: &str) -> bool {
    let number_end = quantity
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(quantity.len());
    let (number, suffix) = quantity.split_at(number_end);
    number.parse::<f64>().is_ok()
        && [
            "", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei",
        ]
        .contains(&suffix)
}

impl WorkspaceArgs {
    /// The ResourceQuota of `namespace`, if the administrator set any limits.
    pub fn resource_quota(&self, namespace: &str) -> Option<ResourceQuota> {
        (!self.workspace_quota.0.is_empty()).then(|| ResourceQuota {
            metadata: metadata(namespace, POLICY_NAME),
            spec: Some(ResourceQuotaSpec {
                hard: Some(self.workspace_quota.0.clone()),
                ..ResourceQuotaSpec::default()
            }),
            ..ResourceQuota::default()
        })
    }

    /// The LimitRange of `namespace`, if the administrator set container defaults.
    pub fn limit_range(&self, namespace: &str) -> Option<LimitRange> {
        let limits = &self.workspace_container_limits.0;
        let requests = &self.workspace_container_requests.0;
        if limits.is_empty() && requests.is_empty() {
            return None;
        }
        let nonempty = |r: &BTreeMap<String, Quantity>| (!r.is_empty()).then(|| r.clone());
        Some(LimitRange {
            metadata: metadata(namespace, POLICY_NAME),
            spec: Some(LimitRangeSpec {
                limits: vec![LimitRangeItem {
                    type_: "Container".to_string(),
                    default: nonempty(limits),
                    default_request: nonempty(requests),
                    ..LimitRangeItem::default()
                }],
            }),
        })
    }

    /// The RoleBinding that gives the workspace identity of `namespace` the workspace role there.
    pub fn role_binding(&self, namespace: &str) -> RoleBinding {
        RoleBinding {
            metadata: metadata(namespace, IDENTITY),
            role_ref: RoleRef {
                api_group: "rbac.authorization.k8s.io".to_string(),
                kind: "ClusterRole".to_string(),
                name: self.workspace_role.clone(),
            },
            subjects: Some(vec![Subject {
                kind: "ServiceAccount".to_string(),
                name: IDENTITY.to_string(),
                namespace: Some(namespace.to_string()),
                ..Subject::default()
            }]),
        }
    }

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

fn metadata(namespace: &str, name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(namespace.to_string()),
        labels: Some(BTreeMap::from([(
            "app.kubernetes.io/managed-by".to_string(),
            MANAGER.to_string(),
        )])),
        ..ObjectMeta::default()
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

/// Counts the quota of a namespace this process has just made (so empty), then waits a moment
/// for the quota controller to take the count over.
///
/// The wait closes a race in the controller: its first count of a quota is taken from its own
/// watch caches, and a write admitted just before can be missing from them. Were that first count
/// to come after the workspace's first creates, it would put their use back to what its caches
/// hold, and a create past the limit would be admitted. Counts after the first one are taken the
/// same way, but only on a resync or a delete, not in the burst of a workspace's first writes.
async fn count_new_namespace(
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
async fn wait_until_counted(
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
/// cache of quotas may trail the count [`WorkspaceArgs::provision`] waited for by a moment.
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
    use k8s_openapi::api::core::v1::ResourceQuotaStatus;

    use super::*;

    fn settings(quota: &str, limits: &str, requests: &str) -> WorkspaceArgs {
        WorkspaceArgs {
            workspace_role: "agentarea-workspace".into(),
            workspace_quota: quota.parse().unwrap(),
            workspace_container_limits: limits.parse().unwrap(),
            workspace_container_requests: requests.parse().unwrap(),
        }
    }

    #[test]
    fn resource_lists_parse_and_typos_are_refused() {
        type Parsed<'a> = Result<Vec<(&'a str, &'a str)>, &'a str>;
        let cases: [(&str, Parsed); 7] = [
            ("", Ok(vec![])),
            (
                " cpu=1 , memory=512Mi ",
                Ok(vec![("cpu", "1"), ("memory", "512Mi")]),
            ),
            (
                "count/agents.agentarea.io=3",
                Ok(vec![("count/agents.agentarea.io", "3")]),
            ),
            ("requests.cpu=0.5,", Ok(vec![("requests.cpu", "0.5")])),
            ("cpu", Err("cpu")),
            ("memory=512MB", Err("memory=512MB")),
            ("=3", Err("=3")),
        ];
        for (list, expected) in cases {
            let parsed = list.parse::<Resources>();
            let expected = expected
                .map(|pairs| {
                    Resources(
                        pairs
                            .into_iter()
                            .map(|(n, q)| (n.to_string(), Quantity(q.to_string())))
                            .collect(),
                    )
                })
                .map_err(|pair| NotResources(pair.to_string()));
            assert_eq!(parsed, expected, "{list:?}");
        }
        let default: Resources = DEFAULT_QUOTA.parse().unwrap();
        assert_eq!(default.0.len(), 7);
    }

    #[test]
    fn empty_settings_write_no_quota_and_no_limit_range() {
        let none = settings("", "", "");
        assert!(none.resource_quota("ws-a").is_none());
        assert!(none.limit_range("ws-a").is_none());
        let only_requests = settings("", "", "cpu=50m").limit_range("ws-a").unwrap();
        let item = &only_requests.spec.unwrap().limits[0];
        assert_eq!(item.type_, "Container");
        assert!(item.default.is_none());
        assert_eq!(item.default_request.as_ref().unwrap()["cpu"].0, "50m");
    }

    #[test]
    fn the_role_binding_grants_the_workspace_role_to_that_namespaces_identity_only() {
        let binding = settings("", "", "").role_binding("ws-acme");
        assert_eq!(binding.metadata.namespace.as_deref(), Some("ws-acme"));
        assert_eq!(binding.role_ref.kind, "ClusterRole");
        assert_eq!(binding.role_ref.name, "agentarea-workspace");
        let subjects = binding.subjects.unwrap();
        assert_eq!(subjects.len(), 1);
        assert_eq!(subjects[0].kind, "ServiceAccount");
        assert_eq!(subjects[0].name, IDENTITY);
        assert_eq!(subjects[0].namespace.as_deref(), Some("ws-acme"));
    }

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
