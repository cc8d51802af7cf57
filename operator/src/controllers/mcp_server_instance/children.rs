//! The children of a managed instance: a ServiceAccount, the [`deployment`](super::deployment),
//! a Service and (when the operator knows its own pods' labels) a NetworkPolicy, applied as wholes
//! so that drift is corrected and a child deleted by hand comes back.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Service, ServiceAccount, ServicePort, ServiceSpec};
use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt};

use agentarea_crds::McpServerInstance;
use agentarea_crds::common::OPERATOR_FIELD_MANAGER;
use agentarea_crds::mcp_server_instance::ManagedServer;

use super::deployment::deployment;
use super::meta::{PORT_NAME, match_labels, metadata, selector};
use crate::context::Context;
use crate::error::{Error, Result};

/// Server-side applies the ServiceAccount, Deployment, Service and NetworkPolicy of a managed
/// instance; returns the Deployment as the apiserver answered the apply (with its status).
pub async fn apply_children(
    ctx: &Context,
    instance: &McpServerInstance,
    managed: &ManagedServer,
) -> Result<Deployment> {
    let namespace = instance.namespace().ok_or(Error::NoNamespace)?;
    let name = instance.name_any();
    let params = PatchParams::apply(OPERATOR_FIELD_MANAGER).force();
    // The ServiceAccount first: pods created before it exists are refused.
    Api::<ServiceAccount>::namespaced(ctx.client.clone(), &namespace)
        .patch(&name, &params, &Patch::Apply(&service_account(instance)))
        .await?;
    // The rest depend on nothing of each other: one round trip's wait instead of three.
    let deployment = deployment(instance, managed, &ctx.config.bridge_image);
    let apply_deployment = async {
        Api::<Deployment>::namespaced(ctx.client.clone(), &namespace)
            .patch(&name, &params, &Patch::Apply(&deployment))
            .await
    };
    let apply_service = async {
        Api::<Service>::namespaced(ctx.client.clone(), &namespace)
            .patch(&name, &params, &Patch::Apply(&service(instance, managed)))
            .await
            .map(drop)
    };
    let apply_policy = async {
        let Some(labels) = &ctx.config.mcp_ingress_from_labels else {
            return Ok(());
        };
        let callers = Callers {
            namespace: ctx.config.own_namespace(),
            labels: labels.clone(),
        };
        Api::<NetworkPolicy>::namespaced(ctx.client.clone(), &namespace)
            .patch(
                &name,
                &params,
                &Patch::Apply(&network_policy(instance, managed, &callers)),
            )
            .await
            .map(drop)
    };
    let (deployment, (), ()) = futures::try_join!(apply_deployment, apply_service, apply_policy)?;
    Ok(deployment)
}

/// The pods allowed to call managed servers: the operator's (it discovers tools, runs tasks and
/// serves the gateway).
pub struct Callers {
    pub namespace: String,
    pub labels: BTreeMap<String, String>,
}

/// Who may reach the instance's pods and where they may go: ingress on the server's port from
/// `callers` only (not from other workspaces' pods, nor from its own namespace's); egress to the
/// CIDRs the instance declares and DNS, or anywhere when it declares none.
pub fn network_policy(
    instance: &McpServerInstance,
    managed: &ManagedServer,
    callers: &Callers,
) -> NetworkPolicy {
    let from = NetworkPolicyPeer {
        namespace_selector: Some(match_labels(BTreeMap::from([(
            "kubernetes.io/metadata.name".to_string(),
            callers.namespace.clone(),
        )]))),
        pod_selector: Some(match_labels(callers.labels.clone())),
        ..NetworkPolicyPeer::default()
    };
    let ingress = NetworkPolicyIngressRule {
        from: Some(vec![from]),
        ports: Some(vec![NetworkPolicyPort {
            port: Some(IntOrString::String(PORT_NAME.into())),
            protocol: Some("TCP".into()),
            ..NetworkPolicyPort::default()
        }]),
    };
    let mut policy_types = vec!["Ingress".to_string()];
    let egress = managed.egress.as_ref().map(|cidrs| {
        policy_types.push("Egress".into());
        let dns = ["UDP", "TCP"].map(|protocol| NetworkPolicyPort {
            port: Some(IntOrString::Int(53)),
            protocol: Some(protocol.into()),
            ..NetworkPolicyPort::default()
        });
        let mut rules = vec![NetworkPolicyEgressRule {
            ports: Some(dns.to_vec()),
            to: None,
        }];
        if !cidrs.is_empty() {
            rules.push(NetworkPolicyEgressRule {
                ports: None,
                to: Some(
                    cidrs
                        .iter()
                        .map(|cidr| NetworkPolicyPeer {
                            ip_block: Some(IPBlock {
                                cidr: cidr.clone(),
                                except: None,
                            }),
                            ..NetworkPolicyPeer::default()
                        })
                        .collect(),
                ),
            });
        }
        rules
    });
    NetworkPolicy {
        metadata: metadata(instance),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(match_labels(selector(instance))),
            policy_types: Some(policy_types),
            ingress: Some(vec![ingress]),
            egress,
        }),
    }
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
mod tests {
    use serde_json::{Value, json};

    use super::super::meta::tests::{expected_metadata, stored};
    use super::*;

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

    #[test]
    fn the_network_policy_admits_only_the_operator_and_lets_out_what_the_instance_declares() {
        let callers = Callers {
            namespace: "agentarea".into(),
            labels: BTreeMap::from([(
                "app.kubernetes.io/component".to_string(),
                "operator".to_string(),
            )]),
        };
        let dns =
            json!({"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]});
        let cases = [
            (None, json!(["Ingress"]), Value::Null),
            (Some(vec![]), json!(["Ingress", "Egress"]), json!([dns])),
            (
                Some(vec!["0.0.0.0/0".to_string(), "10.1.0.0/16".to_string()]),
                json!(["Ingress", "Egress"]),
                json!([dns, {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}, {"ipBlock": {"cidr": "10.1.0.0/16"}}]}]),
            ),
        ];
        for (egress, policy_types, egress_rules) in cases {
            let managed = ManagedServer {
                egress: egress.clone(),
                ..ManagedServer::default()
            };
            let policy =
                serde_json::to_value(network_policy(&stored(managed.clone()), &managed, &callers))
                    .unwrap();
            assert_eq!(policy["kind"], "NetworkPolicy");
            assert_eq!(policy["metadata"], expected_metadata());
            let spec = &policy["spec"];
            assert_eq!(
                spec["podSelector"],
                json!({"matchLabels": {"app.kubernetes.io/name": "mcp-server", "app.kubernetes.io/instance": "everything"}})
            );
            assert_eq!(
                spec["ingress"],
                json!([{
                    "from": [{
                        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "agentarea"}},
                        "podSelector": {"matchLabels": {"app.kubernetes.io/component": "operator"}},
                    }],
                    "ports": [{"port": "mcp", "protocol": "TCP"}],
                }]),
                "{egress:?}"
            );
            assert_eq!(spec["policyTypes"], policy_types, "{egress:?}");
            assert_eq!(spec["egress"], egress_rules, "{egress:?}");
        }
    }
}
