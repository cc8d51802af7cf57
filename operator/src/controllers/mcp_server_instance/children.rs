//! The children of a managed instance: a ServiceAccount, the [`deployment`](super::deployment)
//! and a Service, applied as wholes so that drift is corrected and a child deleted by hand comes
//! back.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Service, ServiceAccount, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};

use agentarea_crds::McpServerInstance;
use agentarea_crds::common::{MANAGED_BY_LABEL, OPERATOR_FIELD_MANAGER};
use agentarea_crds::mcp_server_instance::ManagedServer;

use super::deployment::deployment;
use crate::context::Context;
use crate::error::{Error, Result};

/// The name of the port the server listens on, in the pod and in the Service.
pub const PORT_NAME: &str = "mcp";

/// Server-side applies the ServiceAccount, Deployment and Service of a managed instance.
pub async fn apply_children(
    ctx: &Context,
    instance: &McpServerInstance,
    managed: &ManagedServer,
) -> Result<()> {
    let namespace = instance.namespace().ok_or(Error::NoNamespace)?;
    let name = instance.name_any();
    let params = PatchParams::apply(OPERATOR_FIELD_MANAGER).force();
    Api::<ServiceAccount>::namespaced(ctx.client.clone(), &namespace)
        .patch(&name, &params, &Patch::Apply(&service_account(instance)))
        .await?;
    let deployment = deployment(instance, managed, &ctx.config.bridge_image);
    Api::<Deployment>::namespaced(ctx.client.clone(), &namespace)
        .patch(&name, &params, &Patch::Apply(&deployment))
        .await?;
    Api::<Service>::namespaced(ctx.client.clone(), &namespace)
        .patch(&name, &params, &Patch::Apply(&service(instance, managed)))
        .await?;
    Ok(())
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

/// The pods' own identity, which mounts no token: an MCP server has no business with the
/// Kubernetes API.
pub fn service_account(instance: &McpServerInstance) -> ServiceAccount {
    ServiceAccount {
        metadata: metadata(instance),
        automount_service_account_token: Some(false),
        ..ServiceAccount::default()
    }
}

/// The Service agents reach a managed server through (the default managed endpoint template).
pub fn service(instance: &McpServerInstance, managed: &ManagedServer) -> Service {
    Service {
        metadata: metadata(instance),
        spec: Some(ServiceSpec {
            selector: Some(selector(instance)),
            ports: Some(vec![ServicePort {
                name: Some(PORT_NAME.into()),
                port: managed.port,
                target_port: Some(IntOrString::String(PORT_NAME.into())),
                protocol: Some("TCP".into()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

#[cfg(test)]
pub mod tests {
    use agentarea_crds::McpServerInstanceSpec;
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
    fn the_service_account_mounts_no_token() {
        let instance = stored(ManagedServer::default());
        assert_eq!(
            serde_json::to_value(service_account(&instance)).unwrap(),
            json!({
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": expected_metadata(),
                "automountServiceAccountToken": false,
            })
        );
    }

    #[test]
    fn the_service_selects_the_pods_on_the_named_port() {
        let managed = ManagedServer {
            port: 3001,
            ..ManagedServer::default()
        };
        let instance = stored(managed.clone());
        assert_eq!(
            serde_json::to_value(service(&instance, &managed)).unwrap(),
            json!({
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": expected_metadata(),
                "spec": {
                    "selector": {
                        "app.kubernetes.io/name": "mcp-server",
                        "app.kubernetes.io/instance": "everything",
                    },
                    "ports": [{"name": "mcp", "port": 3001, "targetPort": "mcp", "protocol": "TCP"}],
                },
            })
        );
    }
}
