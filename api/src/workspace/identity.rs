//! The identity the api acts as inside a workspace.
//!
//! Every workspace namespace binds one ClusterRole (the chart's `<release>-workspace`, whose rules
//! are `charts/agentarea/files/workspace-role-rules.yaml`) to the ServiceAccount name
//! [`IDENTITY`] of that namespace, and the api makes its calls for a caller while impersonating
//! that account. The apiserver then checks each call against the caller's workspace alone: a
//! handler that built a request for another namespace would be refused by RBAC, not only by our
//! code. The api's own ServiceAccount keeps only what impersonation, namespace set-up and its
//! watches need.
//!
//! The ServiceAccount object itself is never created: impersonation and RoleBinding subjects name
//! it, and an account that does not exist has no token anyone could steal.

use std::collections::BTreeMap;

use axum::http::{HeaderName, HeaderValue, Request};
use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Client;

/// The ServiceAccount name (and RoleBinding name) of the workspace identity in every workspace
/// namespace.
pub const IDENTITY: &str = "agentarea-workspace";

/// The rules of the workspace role, shared with the Helm chart so the two cannot drift.
const RULES: &str = include_str!("../../../charts/agentarea/files/workspace-role-rules.yaml");

static IMPERSONATE_USER: HeaderName = HeaderName::from_static("impersonate-user");

/// The user name of the workspace identity of `namespace`, as the apiserver sees it.
pub fn username(namespace: &str) -> String {
    format!("system:serviceaccount:{namespace}:{IDENTITY}")
}

/// A client that acts as the workspace identity of `namespace`, over `base`'s connections.
///
/// The apiserver adds the account's groups itself (`system:serviceaccounts`,
/// `system:serviceaccounts:<namespace>`) when impersonation names a ServiceAccount and no groups.
pub fn client_for(base: &Client, namespace: &str) -> Client {
    // Namespace names are DNS labels, so the header value is always valid.
    let user = HeaderValue::from_str(&username(namespace)).expect("a DNS label is a header value");
    let base = base.clone();
    let service = tower::service_fn(move |mut request: Request<kube::client::Body>| {
        let base = base.clone();
        let user = user.clone();
        async move {
            request.headers_mut().insert(IMPERSONATE_USER.clone(), user);
            base.send(request).await
        }
    });
    Client::new(service, namespace)
}

/// The rules a workspace identity holds in its namespace.
pub fn rules() -> Vec<PolicyRule> {
    serde_yaml::from_str(RULES).expect("files/workspace-role-rules.yaml is a list of PolicyRules")
}

/// The ClusterRole every workspace namespace binds, named `name`: what the chart installs, for
/// the places without the chart (the local control plane of `scripts/up.sh` and the tests).
pub fn cluster_role(name: &str) -> ClusterRole {
    ClusterRole {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            labels: Some(BTreeMap::from([(
                "app.kubernetes.io/part-of".to_string(),
                "agentarea".to_string(),
            )])),
            ..ObjectMeta::default()
        },
        rules: Some(rules()),
        ..ClusterRole::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_identity_is_a_service_account_of_the_workspace_namespace() {
        assert_eq!(
            username("ws-acme"),
            "system:serviceaccount:ws-acme:agentarea-workspace"
        );
    }

    #[test]
    fn the_role_covers_what_the_api_does_in_a_workspace_and_nothing_cluster_wide() {
        let rules = rules();
        let grants = |group: &str, resource: &str, verb: &str| {
            rules.iter().any(|r| {
                r.api_groups.iter().flatten().any(|g| g == group)
                    && r.resources.iter().flatten().any(|x| x == resource)
                    && r.verbs.iter().any(|v| v == verb)
            })
        };
        for kind in [
            "agents",
            "skills",
            "mcpserverinstances",
            "triggers",
            "tasks",
        ] {
            for verb in ["get", "create", "patch", "delete"] {
                assert!(grants("agentarea.io", kind, verb), "{verb} {kind}");
            }
        }
        assert!(grants("", "secrets", "get") && grants("", "secrets", "patch"));
        assert!(grants("agentarea.io", "triggers/finalizers", "update"));
        for (group, resource) in [
            ("", "namespaces"),
            ("", "pods"),
            ("", "resourcequotas"),
            ("rbac.authorization.k8s.io", "rolebindings"),
        ] {
            assert!(!grants(group, resource, "create"), "{resource}");
        }
        assert!(
            rules.iter().all(|r| r.non_resource_urls.is_none()),
            "no cluster-wide URLs"
        );
    }
}
