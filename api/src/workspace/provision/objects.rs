//! The objects the api writes into a workspace namespace, as the settings make them: the
//! RoleBinding of the workspace identity, the ResourceQuota and the LimitRange.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    LimitRange, LimitRangeItem, LimitRangeSpec, ResourceQuota, ResourceQuotaSpec,
};
use k8s_openapi::api::rbac::v1::{RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::settings::WorkspaceArgs;
use crate::workspace::identity::IDENTITY;

/// The field manager of everything the api writes into a workspace namespace.
pub const MANAGER: &str = "agentarea-api";
/// The name of the ResourceQuota and the LimitRange the api writes.
pub const POLICY_NAME: &str = "agentarea";

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

#[cfg(test)]
mod tests {
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
}
