//! The Deployment of a managed instance: the server's container, locked down (non-root 65532,
//! read-only root filesystem, no capabilities, no token), and for stdio servers the bridge in
//! front of it.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMapEnvSource, ConfigMapKeySelector, Container, ContainerPort,
    EmptyDirVolumeSource, EnvFromSource, EnvVar, EnvVarSource, Lifecycle, LifecycleHandler,
    PodSecurityContext, PodSpec, PodTemplateSpec, Probe, ResourceRequirements, SeccompProfile,
    SecretEnvSource, SecretKeySelector, SecurityContext, SleepAction, TCPSocketAction, Volume,
    VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;

use agentarea_crds::McpServerInstance;
use agentarea_crds::mcp_server_instance::{self as crd, ManagedServer, Transport};

use super::meta::{PORT_NAME, labels, metadata, selector};
use crate::mcp::bridge::BRIDGE_PATH;

/// The unprivileged user and group ("nonroot" of distroless images) the pods run as.
const NONROOT: i64 = 65532;
/// Where the bridge binary is installed in the server's container.
const BRIDGE_DIR: &str = "/agentarea/bin";
/// How long a stopping server's pod goes on serving before it is told to stop, while the proxies
/// stop sending it connections (docs/design.md, "A rolling update of a managed server").
const DRAIN_SECONDS: i64 = 5;

/// The Deployment of `instance`; scaled to zero while it is suspended.
pub fn deployment(
    instance: &McpServerInstance,
    managed: &ManagedServer,
    bridge_image: &str,
) -> Deployment {
    let mut server = server_container(managed);
    // Servers that write temp files still can, with the root filesystem read-only.
    let mut volumes = vec![empty_dir("tmp", "256Mi")];
    let mut init_containers = vec![];
    if managed.transport == Transport::Stdio {
        // The bridge runs in the server's container and starts the stdio server as its child;
        // an init container copies it in from the operator's image.
        server.command = Some(bridged_command(managed));
        server
            .volume_mounts
            .get_or_insert_default()
            .push(VolumeMount {
                name: "bridge".into(),
                mount_path: BRIDGE_DIR.into(),
                read_only: Some(true),
                ..VolumeMount::default()
            });
        volumes.push(empty_dir("bridge", "128Mi"));
        init_containers.push(install_bridge(bridge_image));
    } else {
        server.command = Some(managed.command.clone()).filter(|c| !c.is_empty());
        server.args = Some(managed.args.clone()).filter(|a| !a.is_empty());
    }
    Deployment {
        metadata: metadata(instance),
        spec: Some(DeploymentSpec {
            replicas: Some(if instance.spec.suspend {
                0
            } else {
                managed.replicas
            }),
            selector: LabelSelector {
                match_labels: Some(selector(instance)),
                ..LabelSelector::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels(instance)),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    service_account_name: Some(instance.name_any()),
                    automount_service_account_token: Some(false),
                    security_context: Some(pod_security()),
                    init_containers: Some(init_containers),
                    containers: vec![server],
                    volumes: Some(volumes),
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    }
}

/// The server's container, before the transport decides its command.
fn server_container(managed: &ManagedServer) -> Container {
    let resources = managed
        .resources
        .clone()
        .unwrap_or_else(|| requirements(("50m", "64Mi"), ("1", "512Mi")));
    Container {
        name: "server".into(),
        image: Some(managed.image.clone()),
        ports: Some(vec![ContainerPort {
            name: Some(PORT_NAME.into()),
            container_port: managed.port,
            protocol: Some("TCP".into()),
            ..ContainerPort::default()
        }]),
        env: Some(env(&managed.env)),
        env_from: Some(managed.env_from.iter().map(env_from).collect()),
        resources: Some(resources),
        readiness_probe: Some(Probe {
            tcp_socket: Some(TCPSocketAction {
                port: IntOrString::String(PORT_NAME.into()),
                ..TCPSocketAction::default()
            }),
            period_seconds: Some(5),
            failure_threshold: Some(3),
            ..Probe::default()
        }),
        lifecycle: Some(Lifecycle {
            pre_stop: Some(LifecycleHandler {
                sleep: Some(SleepAction {
                    seconds: DRAIN_SECONDS,
                }),
                ..LifecycleHandler::default()
            }),
            ..Lifecycle::default()
        }),
        security_context: Some(container_security()),
        volume_mounts: Some(vec![VolumeMount {
            name: "tmp".into(),
            mount_path: "/tmp".into(),
            ..VolumeMount::default()
        }]),
        ..Container::default()
    }
}

/// The user's environment, after `HOME=/tmp` unless the user sets `HOME`. Images such as
/// node:22-alpine and uv's run as root by default, which runAsNonRoot refuses: the pod runs as
/// 65532 instead, and HOME points at the writable /tmp, where launchers like npx and uvx keep
/// their caches (the root filesystem is read-only).
fn env(user: &[crd::EnvVar]) -> Vec<EnvVar> {
    let default_home = (!user.iter().any(|e| e.name == "HOME")).then(|| EnvVar {
        name: "HOME".into(),
        value: Some("/tmp".into()),
        value_from: None,
    });
    default_home
        .into_iter()
        .chain(user.iter().map(env_var))
        .collect()
}

fn env_var(variable: &crd::EnvVar) -> EnvVar {
    let value_from = match (
        &variable.value,
        &variable.secret_key_ref,
        &variable.config_map_key_ref,
    ) {
        (Some(_), _, _) => None,
        (_, Some(secret), _) => Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.name.clone(),
                key: secret.key.clone(),
                optional: None,
            }),
            ..EnvVarSource::default()
        }),
        (_, _, Some(config_map)) => Some(EnvVarSource {
            config_map_key_ref: Some(ConfigMapKeySelector {
                name: config_map.name.clone(),
                key: config_map.key.clone(),
                optional: None,
            }),
            ..EnvVarSource::default()
        }),
        _ => None,
    };
    EnvVar {
        name: variable.name.clone(),
        value: variable.value.clone(),
        value_from,
    }
}

fn env_from(source: &crd::EnvFromSource) -> EnvFromSource {
    EnvFromSource {
        secret_ref: source.secret_ref.as_ref().map(|s| SecretEnvSource {
            name: s.name.clone(),
            optional: None,
        }),
        config_map_ref: source.config_map_ref.as_ref().map(|c| ConfigMapEnvSource {
            name: c.name.clone(),
            optional: None,
        }),
        prefix: source.prefix.clone(),
    }
}

/// The bridge in front of the stdio server, which it starts as its child.
fn bridged_command(managed: &ManagedServer) -> Vec<String> {
    let mut command = vec![
        BRIDGE_PATH.to_string(),
        "mcp-bridge".into(),
        "--listen".into(),
        format!("0.0.0.0:{}", managed.port),
        "--path".into(),
        managed.path.clone(),
        "--".into(),
    ];
    command.extend(managed.command.iter().cloned());
    command.extend(managed.args.iter().cloned());
    command
}

/// Copies the bridge from the operator's image into the volume the server's container mounts.
fn install_bridge(bridge_image: &str) -> Container {
    Container {
        name: "install-bridge".into(),
        image: Some(bridge_image.into()),
        args: Some(vec!["install-bridge".into(), BRIDGE_PATH.into()]),
        volume_mounts: Some(vec![VolumeMount {
            name: "bridge".into(),
            mount_path: BRIDGE_DIR.into(),
            ..VolumeMount::default()
        }]),
        resources: Some(requirements(("10m", "16Mi"), ("200m", "64Mi"))),
        security_context: Some(container_security()),
        ..Container::default()
    }
}

/// `(cpu, memory)` requested and at most.
fn requirements(requests: (&str, &str), limits: (&str, &str)) -> ResourceRequirements {
    let amounts = |(cpu, memory): (&str, &str)| {
        BTreeMap::from([
            ("cpu".to_string(), Quantity(cpu.into())),
            ("memory".to_string(), Quantity(memory.into())),
        ])
    };
    ResourceRequirements {
        requests: Some(amounts(requests)),
        limits: Some(amounts(limits)),
        ..ResourceRequirements::default()
    }
}

fn empty_dir(name: &str, size_limit: &str) -> Volume {
    Volume {
        name: name.into(),
        empty_dir: Some(EmptyDirVolumeSource {
            size_limit: Some(Quantity(size_limit.into())),
            ..EmptyDirVolumeSource::default()
        }),
        ..Volume::default()
    }
}

fn runtime_default_seccomp() -> SeccompProfile {
    SeccompProfile {
        type_: "RuntimeDefault".into(),
        ..SeccompProfile::default()
    }
}

fn pod_security() -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(NONROOT),
        run_as_group: Some(NONROOT),
        fs_group: Some(NONROOT),
        seccomp_profile: Some(runtime_default_seccomp()),
        ..PodSecurityContext::default()
    }
}

fn container_security() -> SecurityContext {
    SecurityContext {
        run_as_non_root: Some(true),
        allow_privilege_escalation: Some(false),
        read_only_root_filesystem: Some(true),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            ..Capabilities::default()
        }),
        seccomp_profile: Some(runtime_default_seccomp()),
        ..SecurityContext::default()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::super::meta::tests::{expected_metadata, stored};
    use super::*;

    fn managed(spec: Value) -> ManagedServer {
        serde_json::from_value(spec).unwrap()
    }

    fn built(managed: &ManagedServer) -> Value {
        serde_json::to_value(deployment(&stored(managed.clone()), managed, "operator:1")).unwrap()
    }

    fn locked_down() -> Value {
        json!({
            "runAsNonRoot": true, "allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
            "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"},
        })
    }

    fn pod_spec(init_containers: Value, container: Value, volumes: Value) -> Value {
        json!({
            "serviceAccountName": "everything",
            "automountServiceAccountToken": false,
            "securityContext": {
                "runAsNonRoot": true, "runAsUser": 65532, "runAsGroup": 65532, "fsGroup": 65532,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "initContainers": init_containers,
            "containers": [container],
            "volumes": volumes,
        })
    }

    fn deployment_of(replicas: i32, pod_spec: Value) -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": expected_metadata(),
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {
                    "app.kubernetes.io/name": "mcp-server", "app.kubernetes.io/instance": "everything",
                }},
                "template": {
                    "metadata": {"labels": expected_metadata()["labels"]},
                    "spec": pod_spec,
                },
            },
        })
    }

    #[test]
    fn an_http_server_runs_locked_down_with_its_command_and_environment() {
        let managed = managed(json!({
            "image": "example.org/everything:1.0", "port": 3001,
            "command": ["node", "dist/index.js"], "args": ["streamableHttp"],
            "env": [
                {"name": "PORT", "value": "3001"},
                {"name": "TOKEN", "secretKeyRef": {"name": "tokens", "key": "everything"}},
                {"name": "REGION", "configMapKeyRef": {"name": "settings", "key": "region"}},
            ],
            "envFrom": [{"secretRef": {"name": "keys"}}, {"configMapRef": {"name": "more"}, "prefix": "MORE_"}],
        }));
        let container = json!({
            "name": "server",
            "image": "example.org/everything:1.0",
            "command": ["node", "dist/index.js"],
            "args": ["streamableHttp"],
            "ports": [{"name": "mcp", "containerPort": 3001, "protocol": "TCP"}],
            "env": [
                {"name": "HOME", "value": "/tmp"},
                {"name": "PORT", "value": "3001"},
                {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "tokens", "key": "everything"}}},
                {"name": "REGION", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "region"}}},
            ],
            "envFrom": [{"secretRef": {"name": "keys"}}, {"configMapRef": {"name": "more"}, "prefix": "MORE_"}],
            "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}},
            "readinessProbe": {"tcpSocket": {"port": "mcp"}, "periodSeconds": 5, "failureThreshold": 3},
            "lifecycle": {"preStop": {"sleep": {"seconds": 5}}},
            "securityContext": locked_down(),
            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        });
        let volumes = json!([{"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}]);
        assert_eq!(
            built(&managed),
            deployment_of(1, pod_spec(json!([]), container, volumes))
        );
    }

    #[test]
    fn a_stdio_server_runs_as_the_child_of_the_bridge() {
        let managed = managed(json!({
            "image": "ghcr.io/astral-sh/uv:latest", "transport": "stdio", "port": 8080, "path": "/mcp",
            "command": ["uvx", "mcp-server-time"], "args": ["--local-timezone", "UTC"],
        }));
        let container = json!({
            "name": "server",
            "image": "ghcr.io/astral-sh/uv:latest",
            "command": [
                BRIDGE_PATH, "mcp-bridge", "--listen", "0.0.0.0:8080", "--path", "/mcp", "--",
                "uvx", "mcp-server-time", "--local-timezone", "UTC",
            ],
            "ports": [{"name": "mcp", "containerPort": 8080, "protocol": "TCP"}],
            "env": [{"name": "HOME", "value": "/tmp"}],
            "envFrom": [],
            "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}},
            "readinessProbe": {"tcpSocket": {"port": "mcp"}, "periodSeconds": 5, "failureThreshold": 3},
            "lifecycle": {"preStop": {"sleep": {"seconds": 5}}},
            "securityContext": locked_down(),
            "volumeMounts": [
                {"name": "tmp", "mountPath": "/tmp"},
                {"name": "bridge", "mountPath": "/agentarea/bin", "readOnly": true},
            ],
        });
        let install_bridge = json!({
            "name": "install-bridge",
            "image": "operator:1",
            "args": ["install-bridge", BRIDGE_PATH],
            "volumeMounts": [{"name": "bridge", "mountPath": "/agentarea/bin"}],
            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "200m", "memory": "64Mi"}},
            "securityContext": locked_down(),
        });
        let volumes = json!([
            {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
            {"name": "bridge", "emptyDir": {"sizeLimit": "128Mi"}},
        ]);
        assert_eq!(
            built(&managed),
            deployment_of(1, pod_spec(json!([install_bridge]), container, volumes))
        );
    }

    #[test]
    fn the_spec_shapes_the_server_container() {
        let server =
            |deployment: &Value| deployment["spec"]["template"]["spec"]["containers"][0].clone();
        let cases: Vec<(&str, Value, &str, Value)> = vec![
            (
                "HOME is /tmp by default",
                json!({"image": "a"}),
                "/env",
                json!([{"name": "HOME", "value": "/tmp"}]),
            ),
            (
                "the user's HOME replaces it",
                json!({"image": "a", "env": [{"name": "HOME", "value": "/home/app"}]}),
                "/env",
                json!([{"name": "HOME", "value": "/home/app"}]),
            ),
            (
                "the user's resources replace the defaults",
                json!({"image": "a", "resources": {"limits": {"memory": "1Gi"}}}),
                "/resources",
                json!({"limits": {"memory": "1Gi"}}),
            ),
            (
                "no command: the image's",
                json!({"image": "a"}),
                "/command",
                Value::Null,
            ),
            (
                "no args: the image's",
                json!({"image": "a", "command": ["serve"]}),
                "/args",
                Value::Null,
            ),
            (
                "no environment sources",
                json!({"image": "a"}),
                "/envFrom",
                json!([]),
            ),
        ];
        for (case, spec, pointer, want) in cases {
            let container = server(&built(&managed(spec)));
            assert_eq!(
                container.pointer(pointer).cloned().unwrap_or(Value::Null),
                want,
                "{case}"
            );
        }
    }

    #[test]
    fn a_suspended_instance_scales_to_zero() {
        let managed = managed(json!({"image": "a", "replicas": 3}));
        let mut instance = stored(managed.clone());
        assert_eq!(
            deployment(&instance, &managed, "operator:1")
                .spec
                .unwrap()
                .replicas,
            Some(3)
        );
        instance.spec.suspend = true;
        assert_eq!(
            deployment(&instance, &managed, "operator:1")
                .spec
                .unwrap()
                .replicas,
            Some(0)
        );
    }
}
