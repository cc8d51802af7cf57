//! What every child of a managed instance carries: its name and namespace, the labels and pod
//! selector, the instance as controlling owner; and the name of the server's port. The children
//! ([`children`](super::children)) and the Deployment ([`deployment`](super::deployment)) both
//! build from it.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use kube::{Resource, ResourceExt};

use agentarea_crds::McpServerInstance;
use agentarea_crds::common::{MANAGED_BY_LABEL, OPERATOR_FIELD_MANAGER};

/// The name of the port the server listens on, in the pod and in the Service.
pub const PORT_NAME: &str = "mcp";

/// A selector of the objects that carry all of `labels`.
pub fn match_labels(labels: BTreeMap<String, String>) -> LabelSelector {
    LabelSelector {
        match_labels: Some(labels),
        match_expressions: None,
    }
}

/// The metadata of every child: the instance's name and namespace, its labels, and the instance as
/// controlling owner (so the garbage collector removes the children with it).
pub fn metadata(instance: &McpServerInstance) -> ObjectMeta {
    ObjectMeta {
        name: Some(instance.name_any()),
        namespace: instance.namespace(),
        labels: Some(labels(instance)),
        owner_references: Some(vec![
            instance
                .controller_owner_ref(&())
                .expect("a stored instance has a uid"),
        ]),
        ..ObjectMeta::default()
    }
}

/// The labels of everything made for `instance`.
pub fn labels(instance: &McpServerInstance) -> BTreeMap<String, String> {
    let mut labels = selector(instance);
    labels.insert(MANAGED_BY_LABEL.into(), OPERATOR_FIELD_MANAGER.into());
    labels
}

/// The selector of `instance`'s pods.
pub fn selector(instance: &McpServerInstance) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".into(), "mcp-server".into()),
        ("app.kubernetes.io/instance".into(), instance.name_any()),
    ])
}

#[cfg(test)]
pub mod tests {
    use agentarea_crds::McpServerInstanceSpec;
    use agentarea_crds::mcp_server_instance::ManagedServer;
    use serde_json::{Value, json};

    use super::*;

    /// A stored managed instance `everything` in `ws-acme`.
    pub fn stored(managed: ManagedServer) -> McpServerInstance {
        let mut instance = McpServerInstance::new(
            "everything",
            McpServerInstanceSpec {
                managed: Some(managed),
                ..Default::default()
            },
        );
        instance.metadata.namespace = Some("ws-acme".into());
        instance.metadata.uid = Some("0b7c6f1e-uid".into());
        instance
    }

    /// The metadata every child carries, as the apiserver receives it.
    pub fn expected_metadata() -> Value {
        json!({
            "name": "everything",
            "namespace": "ws-acme",
            "labels": {
                "app.kubernetes.io/name": "mcp-server",
                "app.kubernetes.io/instance": "everything",
                "app.kubernetes.io/managed-by": "agentarea-operator",
            },
            "ownerReferences": [{
                "apiVersion": "agentarea.io/v1alpha1",
                "kind": "McpServerInstance",
                "name": "everything",
                "uid": "0b7c6f1e-uid",
                "controller": true,
            }],
        })
    }

    #[test]
    fn every_child_is_named_labelled_and_owned_as_its_instance() {
        let instance = stored(ManagedServer::default());
        assert_eq!(
            serde_json::to_value(metadata(&instance)).unwrap(),
            expected_metadata()
        );
    }
}
