//! McpServerInstance: runs managed servers as a Deployment and Service, reaches remote ones at
//! their URL, merges compound ones from their members, and keeps each one's tools in status.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Secret, Service, ServiceAccount};
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::{Controller, watcher};
use kube::{Api, Resource, ResourceExt};
use serde_json::{Value, json};

use agentarea_crds::common::{
    OPERATOR_FIELD_MANAGER, condition, is_condition_true, now, set_ready,
};
use agentarea_crds::mcp_server_instance::{
    CompoundServer, DiscoveredTool, Header, ManagedServer, McpPhase, RemoteServer, Transport,
};
use agentarea_crds::{McpServerInstance, McpServerInstanceStatus};

use crate::bridge::BRIDGE_PATH;
use crate::context::Context;
use crate::controllers::{
    announce_ready_transition, in_namespace_where, log_outcomes, retry_with_backoff,
};
use crate::error::{Error, Result};
use crate::mcp::{self, Endpoint};
use crate::status::apply_status;

/// Runs the controller until `shutdown` resolves.
pub async fn run(ctx: Arc<Context>, shutdown: impl Future<Output = ()> + Send + Sync + 'static) {
    let controller = Controller::new(
        ctx.api::<McpServerInstance>(),
        watcher::Config::default().any_semantic(),
    );
    let store = controller.store();
    let results = controller
        .owns(ctx.api::<Deployment>(), watcher::Config::default())
        .owns(ctx.api::<Service>(), watcher::Config::default())
        // A compound instance follows its members: a member's change reconciles the compounds
        // that name it.
        .watches(
            ctx.api::<McpServerInstance>(),
            watcher::Config::default(),
            move |member| {
                let name = member.name_any();
                in_namespace_where(&store, &member.namespace(), |c| {
                    c.spec
                        .compound
                        .as_ref()
                        .is_some_and(|cs| cs.members.iter().any(|m| m.name == name))
                })
            },
        )
        .graceful_shutdown_on(shutdown)
        .run(reconcile, retry_with_backoff, ctx);
    log_outcomes("mcp server instance", results).await;
}

async fn reconcile(instance: Arc<McpServerInstance>, ctx: Arc<Context>) -> Result<Action> {
    let namespace = instance.namespace().ok_or(Error::NoNamespace)?;
    let previous = instance.status.clone().unwrap_or_default();
    let mut status = McpServerInstanceStatus {
        observed_generation: instance.metadata.generation,
        conditions: previous.conditions.clone(),
        ..McpServerInstanceStatus::default()
    };
    let spec = &instance.spec;
    let action = if let Some(managed) = &spec.managed {
        apply_children(&ctx, &instance, managed).await?;
        if spec.suspend {
            suspended(&mut status, &instance)
        } else {
            let endpoint = Endpoint {
                url: ctx.config.managed_endpoint(
                    &instance.name_any(),
                    &namespace,
                    managed.port,
                    &managed.path,
                ),
                headers: vec![],
                timeout: Duration::from_secs(ctx.config.mcp_timeout_seconds),
            };
            discover_into(
                &ctx,
                &instance,
                &previous,
                &mut status,
                endpoint,
                McpPhase::Starting,
            )
            .await
        }
    } else if let Some(remote) = spec
        .remote
        .as_ref()
        .filter(|r| r.transport == Transport::Sse)
    {
        // rmcp, the MCP SDK the operator speaks through, has no client for the older HTTP+SSE
        // transport: say so on the object rather than fail discovery with a protocol error.
        not_ready(
            &mut status,
            &instance,
            McpPhase::Failed,
            "TransportNotSupported",
            format!(
                "{} uses the HTTP+SSE transport, which this operator cannot speak yet; use streamable-http",
                remote.url
            ),
        );
        Action::await_change()
    } else if let Some(remote) = &spec.remote {
        match remote_endpoint(&ctx, &namespace, remote).await {
            Ok(endpoint) => {
                discover_into(
                    &ctx,
                    &instance,
                    &previous,
                    &mut status,
                    endpoint,
                    McpPhase::Failed,
                )
                .await
            }
            Err((reason, message)) => {
                not_ready(&mut status, &instance, McpPhase::Failed, reason, message);
                Action::requeue(ctx.backoff(&*instance))
            }
        }
    } else if let Some(compound) = &spec.compound {
        merge_compound(&ctx, &instance, &namespace, compound, &mut status).await?
    } else {
        // The CRD's exactly-one-of rule makes this unreachable for stored objects.
        Action::await_change()
    };
    announce_ready_transition(&ctx, &*instance, &previous.conditions, &status.conditions).await;
    apply_status(&ctx.client, &*instance, &status).await?;
    Ok(action)
}

fn suspended(status: &mut McpServerInstanceStatus, instance: &McpServerInstance) -> Action {
    status.phase = Some(McpPhase::Stopped);
    set_ready(
        &mut status.conditions,
        false,
        "Suspended",
        "spec.suspend is true: the server is scaled to zero",
        instance.metadata.generation,
    );
    Action::await_change()
}

fn not_ready(
    status: &mut McpServerInstanceStatus,
    instance: &McpServerInstance,
    phase: McpPhase,
    reason: &str,
    message: String,
) {
    status.phase = Some(phase);
    set_ready(
        &mut status.conditions,
        false,
        reason,
        message,
        instance.metadata.generation,
    );
}

/// Connects, lists the tools and fills `status`; on failure keeps the last known tools (agents
/// see them as not ready anyway) and backs off.
async fn discover_into(
    ctx: &Context,
    instance: &McpServerInstance,
    previous: &McpServerInstanceStatus,
    status: &mut McpServerInstanceStatus,
    endpoint: Endpoint,
    phase_on_first_failure: McpPhase,
) -> Action {
    status.endpoint = Some(endpoint.url.clone());
    status.last_checked_time = Some(now());
    match mcp::discover(&endpoint).await {
        Ok(discovery) => {
            ctx.succeeded(instance);
            status.phase = Some(McpPhase::Running);
            status.tool_count = Some(discovery.tools.len() as i32);
            status.tools = discovery.tools;
            status.server_info = Some(discovery.server_info);
            set_ready(
                &mut status.conditions,
                true,
                "ToolsDiscovered",
                format!("{} tools listed by {}", status.tools.len(), endpoint.url),
                instance.metadata.generation,
            );
            Action::requeue(Duration::from_secs(
                instance.spec.discovery_interval_seconds.max(10) as u64,
            ))
        }
        Err(error) => {
            let phase = if previous.phase == Some(McpPhase::Running) {
                McpPhase::Unhealthy
            } else {
                phase_on_first_failure
            };
            status.tools = previous.tools.clone();
            status.tool_count = previous.tool_count;
            status.server_info = previous.server_info.clone();
            not_ready(status, instance, phase, error.reason(), error.to_string());
            Action::requeue(ctx.backoff(instance))
        }
    }
}

/// The remote URL with its headers, values read from Secrets where the spec says so.
async fn remote_endpoint(
    ctx: &Context,
    namespace: &str,
    remote: &RemoteServer,
) -> Result<Endpoint, (&'static str, String)> {
    let mut headers = Vec::new();
    for Header {
        name,
        value,
        secret_key_ref,
    } in &remote.headers
    {
        let value = match (value, secret_key_ref) {
            (Some(value), _) => value.clone(),
            (None, Some(reference)) => {
                secret_value(ctx, namespace, &reference.name, &reference.key).await?
            }
            (None, None) => continue,
        };
        headers.push((name.clone(), value));
    }
    Ok(Endpoint {
        url: remote.url.clone(),
        headers,
        timeout: Duration::from_secs(remote.timeout_seconds.max(1) as u64),
    })
}

async fn get_instance(
    ctx: &Context,
    namespace: &str,
    name: &str,
) -> Result<McpServerInstance, (&'static str, String)> {
    Api::<McpServerInstance>::namespaced(ctx.client.clone(), namespace)
        .get_opt(name)
        .await
        .map_err(|e| ("InstanceUnreadable", e.to_string()))?
        .ok_or((
            "InstanceNotFound",
            format!("MCP server instance {name} not found"),
        ))
}

/// The endpoint of a remote or managed instance.
async fn endpoint_of(
    ctx: &Context,
    namespace: &str,
    instance: &McpServerInstance,
) -> Result<Endpoint, (&'static str, String)> {
    if let Some(remote) = &instance.spec.remote {
        return remote_endpoint(ctx, namespace, remote).await;
    }
    let url = instance
        .status
        .as_ref()
        .and_then(|s| s.endpoint.clone())
        .filter(|_| instance.spec.managed.is_some())
        .ok_or((
            "NoEndpoint",
            format!(
                "MCP server instance {} has no endpoint yet",
                instance.name_any()
            ),
        ))?;
    Ok(Endpoint {
        url,
        headers: vec![],
        timeout: Duration::from_secs(ctx.config.mcp_timeout_seconds),
    })
}

/// Where a call of `tool` on `instance` goes, and the name to call it by there: the instance
/// itself, or, for a compound instance, the member that owns the tool under the member's own name
/// for it. The one routing rule of the gateway and the task runner.
pub async fn route_tool(
    ctx: &Context,
    namespace: &str,
    instance: &McpServerInstance,
    tool: &str,
) -> Result<(Endpoint, String), (&'static str, String)> {
    if instance.spec.compound.is_none() {
        return Ok((
            endpoint_of(ctx, namespace, instance).await?,
            tool.to_string(),
        ));
    }
    let offered = instance
        .status
        .iter()
        .flat_map(|s| &s.tools)
        .find(|t| t.name == tool)
        .ok_or((
            "ToolNotFound",
            format!(
                "MCP server instance {} offers no tool {tool}",
                instance.name_any()
            ),
        ))?;
    let (Some(member), Some(member_tool)) = (&offered.member, &offered.member_tool) else {
        return Err((
            "ToolNotFound",
            format!("tool {tool} of {} has no member", instance.name_any()),
        ));
    };
    let member = get_instance(ctx, namespace, member).await?;
    Ok((
        endpoint_of(ctx, namespace, &member).await?,
        member_tool.clone(),
    ))
}

/// A key of a Secret, or the reason it cannot be had.
pub async fn secret_value(
    ctx: &Context,
    namespace: &str,
    name: &str,
    key: &str,
) -> Result<String, (&'static str, String)> {
    let secret = Api::<Secret>::namespaced(ctx.client.clone(), namespace)
        .get_opt(name)
        .await
        .map_err(|e| ("SecretUnreadable", format!("Secret {name}: {e}")))?
        .ok_or(("SecretNotFound", format!("Secret {name} not found")))?;
    let bytes = secret.data.and_then(|mut data| data.remove(key)).ok_or((
        "SecretKeyNotFound",
        format!("Secret {name} has no key {key}"),
    ))?;
    String::from_utf8(bytes.0).map_err(|_| {
        (
            "SecretKeyNotText",
            format!("Secret {name} key {key} is not UTF-8"),
        )
    })
}

/// The union of the members' tools, prefixed and filtered as the spec says; a name offered by two
/// members goes to the first and is listed as a collision.
async fn merge_compound(
    ctx: &Context,
    instance: &McpServerInstance,
    namespace: &str,
    compound: &CompoundServer,
    status: &mut McpServerInstanceStatus,
) -> Result<Action> {
    let api: Api<McpServerInstance> = Api::namespaced(ctx.client.clone(), namespace);
    let mut tools: Vec<DiscoveredTool> = Vec::new();
    let mut names = HashSet::new();
    let mut collisions = Vec::new();
    let mut problems = Vec::new();
    for member in &compound.members {
        let Some(object) = api.get_opt(&member.name).await? else {
            problems.push(format!("member {} not found", member.name));
            continue;
        };
        if object.spec.compound.is_some() {
            problems.push(format!("member {} is itself compound", member.name));
            continue;
        }
        let member_status = object.status.clone().unwrap_or_default();
        if !is_condition_true(Some(&member_status.conditions), condition::READY) {
            problems.push(format!("member {} is not ready", member.name));
        }
        for tool in &member_status.tools {
            let included = member.include.is_empty() || member.include.contains(&tool.name);
            if !included || member.exclude.contains(&tool.name) {
                continue;
            }
            let exposed = format!("{}{}", member.prefix.as_deref().unwrap_or(""), tool.name);
            if !names.insert(exposed.clone()) {
                collisions.push(exposed);
                continue;
            }
            tools.push(DiscoveredTool {
                name: exposed,
                member: Some(member.name.clone()),
                member_tool: Some(tool.name.clone()),
                ..tool.clone()
            });
        }
    }
    status.tool_count = Some(tools.len() as i32);
    status.tools = tools;
    status.collisions = collisions;
    status.endpoint = ctx
        .config
        .mcp_gateway_url
        .as_deref()
        .map(|base| crate::gateway::endpoint(base, namespace, &instance.name_any()));
    status.last_checked_time = Some(now());
    if problems.is_empty() {
        status.phase = Some(McpPhase::Running);
        set_ready(
            &mut status.conditions,
            true,
            "MembersReady",
            format!(
                "{} tools from {} members",
                status.tools.len(),
                compound.members.len()
            ),
            instance.metadata.generation,
        );
    } else {
        not_ready(
            status,
            instance,
            McpPhase::Pending,
            "MembersNotReady",
            problems.join("; "),
        );
    }
    // Members' changes wake this instance through the watch; nothing to poll.
    Ok(Action::await_change())
}

/// The labels of everything made for `instance`, and the selector of its pods.
fn labels(instance: &McpServerInstance) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".into(), "mcp-server".into()),
        ("app.kubernetes.io/instance".into(), instance.name_any()),
        (
            "app.kubernetes.io/managed-by".into(),
            OPERATOR_FIELD_MANAGER.into(),
        ),
    ])
}

fn selector(instance: &McpServerInstance) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".into(), "mcp-server".into()),
        ("app.kubernetes.io/instance".into(), instance.name_any()),
    ])
}

/// Server-side applies the ServiceAccount, Deployment and Service of a managed instance. Applying
/// the whole wanted object each time corrects drift and re-creates a child deleted by hand.
async fn apply_children(
    ctx: &Context,
    instance: &McpServerInstance,
    managed: &ManagedServer,
) -> Result<()> {
    let namespace = instance.namespace().ok_or(Error::NoNamespace)?;
    let owner = instance
        .controller_owner_ref(&())
        .expect("instance has a uid");
    let name = instance.name_any();
    let params = PatchParams::apply(OPERATOR_FIELD_MANAGER).force();
    let meta = json!({
        "name": name,
        "namespace": namespace,
        "labels": labels(instance),
        "ownerReferences": [owner],
    });
    let service_account = json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta,
        "automountServiceAccountToken": false});
    Api::<ServiceAccount>::namespaced(ctx.client.clone(), &namespace)
        .patch(&name, &params, &Patch::Apply(&service_account))
        .await?;
    let deployment = deployment(instance, managed, &meta, &ctx.config.bridge_image);
    Api::<Deployment>::namespaced(ctx.client.clone(), &namespace)
        .patch(&name, &params, &Patch::Apply(&deployment))
        .await?;
    let service = json!({
        "apiVersion": "v1", "kind": "Service", "metadata": meta,
        "spec": {
            "selector": selector(instance),
            "ports": [{"name": "mcp", "port": managed.port, "targetPort": "mcp", "protocol": "TCP"}],
        }
    });
    Api::<Service>::namespaced(ctx.client.clone(), &namespace)
        .patch(&name, &params, &Patch::Apply(&service))
        .await?;
    Ok(())
}

fn deployment(
    instance: &McpServerInstance,
    managed: &ManagedServer,
    meta: &Value,
    bridge_image: &str,
) -> Value {
    // Images such as node:22-alpine and uv's run as root by default, which runAsNonRoot refuses:
    // the pod runs as the unprivileged 65532 ("nonroot"), and HOME points at the writable /tmp,
    // where launchers like npx and uvx keep their caches (the root filesystem is read-only).
    let default_home = (!managed.env.iter().any(|e| e.name == "HOME"))
        .then(|| json!({"name": "HOME", "value": "/tmp"}));
    let env: Vec<Value> = default_home
        .into_iter()
        .chain(managed.env.iter().map(|e| match (&e.value, &e.secret_key_ref, &e.config_map_key_ref) {
            (Some(value), _, _) => json!({"name": e.name, "value": value}),
            (_, Some(s), _) => json!({"name": e.name, "valueFrom": {"secretKeyRef": {"name": s.name, "key": s.key}}}),
            (_, _, Some(c)) => json!({"name": e.name, "valueFrom": {"configMapKeyRef": {"name": c.name, "key": c.key}}}),
            _ => json!({"name": e.name}),
        }))
        .collect();
    let env_from: Vec<Value> = managed
        .env_from
        .iter()
        .map(|e| {
            let mut source = json!({});
            if let Some(s) = &e.secret_ref {
                source["secretRef"] = json!({"name": s.name});
            }
            if let Some(c) = &e.config_map_ref {
                source["configMapRef"] = json!({"name": c.name});
            }
            if let Some(prefix) = &e.prefix {
                source["prefix"] = json!(prefix);
            }
            source
        })
        .collect();
    let resources = managed.resources.clone().map_or_else(
        || json!({"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}}),
        |r| serde_json::to_value(r).unwrap_or_default(),
    );
    let mut container = json!({
        "name": "server",
        "image": managed.image,
        "ports": [{"name": "mcp", "containerPort": managed.port, "protocol": "TCP"}],
        "env": env,
        "envFrom": env_from,
        "resources": resources,
        "readinessProbe": {"tcpSocket": {"port": "mcp"}, "periodSeconds": 5, "failureThreshold": 3},
        "securityContext": {
            "runAsNonRoot": true,
            "allowPrivilegeEscalation": false,
            "readOnlyRootFilesystem": true,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        // Servers that write temp files still can, with the root filesystem read-only.
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    });
    let mut volumes = vec![json!({"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}})];
    let mut init_containers = vec![];
    if managed.transport == Transport::Stdio {
        // The bridge runs in the server's container and starts the stdio server as its child;
        // an init container copies it in from the operator's image.
        let mut bridged = vec![
            BRIDGE_PATH.to_string(),
            "mcp-bridge".into(),
            "--listen".into(),
            format!("0.0.0.0:{}", managed.port),
            "--path".into(),
            managed.path.clone(),
            "--".into(),
        ];
        bridged.extend(managed.command.iter().cloned());
        bridged.extend(managed.args.iter().cloned());
        container["command"] = json!(bridged);
        container["volumeMounts"]
            .as_array_mut()
            .expect("mounts literal")
            .push(json!({"name": "bridge", "mountPath": "/agentarea/bin", "readOnly": true}));
        volumes.push(json!({"name": "bridge", "emptyDir": {"sizeLimit": "128Mi"}}));
        init_containers.push(json!({
            "name": "install-bridge",
            "image": bridge_image,
            "args": ["install-bridge", BRIDGE_PATH],
            "volumeMounts": [{"name": "bridge", "mountPath": "/agentarea/bin"}],
            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "200m", "memory": "64Mi"}},
            "securityContext": {
                "runAsNonRoot": true, "allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"},
            },
        }));
    } else {
        if !managed.command.is_empty() {
            container["command"] = json!(managed.command);
        }
        if !managed.args.is_empty() {
            container["args"] = json!(managed.args);
        }
    }
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
        "spec": {
            "replicas": if instance.spec.suspend { 0 } else { managed.replicas },
            "selector": {"matchLabels": selector(instance)},
            "template": {
                "metadata": {"labels": labels(instance)},
                "spec": {
                    "serviceAccountName": instance.name_any(),
                    "automountServiceAccountToken": false,
                    "securityContext": {
                        "runAsNonRoot": true, "runAsUser": 65532, "runAsGroup": 65532, "fsGroup": 65532,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "initContainers": init_containers,
                    "containers": [container],
                    "volumes": volumes,
                }
            }
        }
    })
}
