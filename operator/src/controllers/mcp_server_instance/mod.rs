//! McpServerInstance: runs managed servers as a Deployment and Service, reaches remote ones at
//! their URL, merges compound ones from their members, and keeps each one's tools in status.
//!
//! | module | concern |
//! | --- | --- |
//! | [`children`] | the ServiceAccount and Service of a managed instance, and applying its children |
//! | [`deployment`] | the Deployment of a managed instance |
//! | [`meta`] | the name, labels, owner and port name every child of a managed instance carries |
//! | [`discovery`] | status from listing a server's tools |
//! | [`compound`] | a compound instance's tools, merged from its members' |

pub mod children;
pub mod compound;
pub mod deployment;
pub mod discovery;
pub mod meta;

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};

use agentarea_crds::common::{condition, is_condition_true, now, set_ready};
use agentarea_crds::mcp_server_instance::{CompoundServer, ManagedServer, McpPhase, RemoteServer};
use agentarea_crds::{McpServerInstance, McpServerInstanceSpec, McpServerInstanceStatus, reasons};

use self::discovery::{not_ready, record_discovery};
use crate::context::Context;
use crate::controllers::{
    FirstSight, announce_ready_transition, get_named, in_namespace_where, keyed_changes,
    run_observed, spec_driven,
};
use crate::error::{Error, Result};
use crate::mcp::routing::remote_endpoint;
use crate::mcp::{self, Endpoint};
use crate::problem::Problem;
use crate::status::apply_status;

/// The back-off of an instance whose server does not answer: kept apart from the back-off of
/// reconcile errors, because such a reconcile succeeds (it records the problem in status).
const DISCOVERY_BACKOFF: &str = "mcp_discovery";

/// Runs the controller until `shutdown` resolves.
pub async fn run(ctx: Arc<Context>, shutdown: impl Future<Output = ()> + Send + Sync + 'static) {
    let controller = spec_driven(ctx.api::<McpServerInstance>());
    let store = controller.store();
    ctx.metrics.mcp.watch_instances(store.clone());
    let controller = controller
        // A Deployment's rollout status (written by the controller-manager) matters only once its
        // pods are available, when the server can be discovered; a Service only when it is changed.
        .owns_stream(keyed_changes(
            ctx.api::<Deployment>(),
            |d| (d.metadata.generation, available_replicas(d)),
            FirstSight::Ignore,
        ))
        .owns_stream(keyed_changes(
            ctx.api::<Service>(),
            |s| s.spec.clone(),
            FirstSight::Ignore,
        ))
        // A compound instance follows its members: a member's change reconciles the compounds
        // that name it.
        .watches_stream(
            keyed_changes(ctx.api::<McpServerInstance>(), offer, FirstSight::Wake),
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
        .graceful_shutdown_on(shutdown);
    run_observed("mcp_server_instance", controller, reconcile, ctx).await;
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
    let pods_available = match &spec.managed {
        // Suspended ones too: their Deployment is scaled to zero.
        Some(managed) => {
            let deployment = children::apply_children(&ctx, &instance, managed).await?;
            available_replicas(&deployment)
        }
        None => 0,
    };
    let action = if let Some((phase, problem)) = not_served(spec) {
        not_ready(&mut status, phase, problem, instance.metadata.generation);
        Action::await_change()
    } else if let Some(managed) = &spec.managed {
        let endpoint = managed_endpoint(&ctx, &instance, managed, &namespace);
        // Until its pods answer, a new managed server is starting rather than failed.
        let found = Discovery {
            endpoint,
            phase_on_first_failure: McpPhase::Starting,
            retry_floor: managed_retry_floor(pods_available),
        };
        discover(&ctx, &instance, &previous, &mut status, found).await
    } else if let Some(remote) = &spec.remote {
        reconcile_remote(&ctx, &instance, remote, &namespace, &previous, &mut status).await
    } else if let Some(compound) = &spec.compound {
        reconcile_compound(&ctx, &instance, &namespace, compound, &mut status).await?
    } else {
        // The CRD's exactly-one-of rule makes this unreachable for stored objects.
        Action::await_change()
    };
    announce_ready_transition(&ctx, &*instance, &previous.conditions, &status.conditions).await;
    apply_status(&ctx.client, &*instance, &status).await?;
    Ok(action)
}

/// What an instance offers those that name it (agents, skills, compound instances), as a digest:
/// its spec's generation, whether it is Ready, where it answers and its tools. A status rewrite
/// that changes none of these (a health check's time) concerns none of them.
pub fn offer(instance: &McpServerInstance) -> u64 {
    let status = instance.status.as_ref();
    let mut digest = DefaultHasher::new();
    instance.metadata.generation.hash(&mut digest);
    status
        .map(|s| is_condition_true(Some(&s.conditions), condition::READY))
        .hash(&mut digest);
    status.and_then(|s| s.endpoint.as_deref()).hash(&mut digest);
    // Tools hold JSON schemas, which have no Hash of their own.
    status
        .map(|s| serde_json::to_vec(&s.tools).unwrap_or_default())
        .hash(&mut digest);
    digest.finish()
}

/// How many of a Deployment's pods are available.
fn available_replicas(deployment: &Deployment) -> i32 {
    deployment
        .status
        .as_ref()
        .and_then(|status| status.available_replicas)
        .unwrap_or(0)
}

/// Why an instance is not to be reached at all, and the phase that says so: a suspended managed
/// server.
fn not_served(spec: &McpServerInstanceSpec) -> Option<(McpPhase, Problem)> {
    if spec.managed.is_some() && spec.suspend {
        return Some((
            McpPhase::Stopped,
            Problem::new(
                reasons::SUSPENDED,
                "spec.suspend is true: the server is scaled to zero",
            ),
        ));
    }
    None
}

/// A remote instance: discovered at its URL with its headers; a header whose Secret cannot be
/// read fails it before any request.
async fn reconcile_remote(
    ctx: &Context,
    instance: &McpServerInstance,
    remote: &RemoteServer,
    namespace: &str,
    previous: &McpServerInstanceStatus,
    status: &mut McpServerInstanceStatus,
) -> Action {
    match remote_endpoint(
        &ctx.client,
        &ctx.egress.policy(namespace).await,
        namespace,
        remote,
    )
    .await
    {
        Ok(endpoint) => {
            let found = Discovery {
                endpoint,
                phase_on_first_failure: McpPhase::Failed,
                retry_floor: Duration::ZERO,
            };
            discover(ctx, instance, previous, status, found).await
        }
        Err(problem) => {
            not_ready(
                status,
                McpPhase::Failed,
                problem,
                instance.metadata.generation,
            );
            Action::requeue(ctx.backoff(DISCOVERY_BACKOFF, instance))
        }
    }
}

/// Where the operator reaches a managed server (`--managed-endpoint-template`).
fn managed_endpoint(
    ctx: &Context,
    instance: &McpServerInstance,
    managed: &ManagedServer,
    namespace: &str,
) -> Endpoint {
    Endpoint {
        wire: managed.transport.into(),
        url: ctx.config.managed_endpoint(
            &instance.name_any(),
            namespace,
            managed.port,
            &managed.path,
        ),
        headers: vec![],
        timeout: Duration::from_secs(ctx.config.mcp_timeout_seconds),
        egress: None,
    }
}

/// How long a managed server whose discovery failed waits at least before it is tried again.
/// While none of its pods is available there is nothing to reach, and the Deployment's watch
/// wakes the instance as soon as one is (see `run`): retrying every few seconds would only
/// repeat the reconcile's writes, which with many servers starting at once crowds out the
/// first reconcile of the rest. The floor stays as a safety net for a missed watch event.
fn managed_retry_floor(pods_available: i32) -> Duration {
    if pods_available > 0 {
        Duration::ZERO
    } else {
        PODS_PENDING_RECHECK
    }
}

/// See [`managed_retry_floor`].
const PODS_PENDING_RECHECK: Duration = Duration::from_secs(60);

/// A server to list the tools of, and what its status says when it does not answer.
struct Discovery {
    endpoint: Endpoint,
    phase_on_first_failure: McpPhase,
    /// The least wait before trying again after a failure (the back-off decides above it).
    retry_floor: Duration,
}

/// Lists the server's tools into `status`; looks again after the discovery interval, or after
/// the instance's back-off (at least the retry floor) when the server did not answer.
async fn discover(
    ctx: &Context,
    instance: &McpServerInstance,
    previous: &McpServerInstanceStatus,
    status: &mut McpServerInstanceStatus,
    found: Discovery,
) -> Action {
    let Discovery {
        endpoint,
        phase_on_first_failure,
        retry_floor,
    } = found;
    status.endpoint = Some(endpoint.url.clone());
    status.last_checked_time = Some(now());
    let started = std::time::Instant::now();
    // A server that was answering and now fails the connection (refused, or broken as a pod of a
    // rolling update stops) is tried again for a few seconds before it is told unhealthy: such a
    // failure is often a moment's, and telling it would take its tools from every agent, and
    // from their running tasks, meanwhile. A server that never answered is told at once, and
    // holds no reconcile.
    let discovered = if previous.phase == Some(McpPhase::Running) {
        mcp::sessions::retrying_broken_connections(|| mcp::discover(&endpoint)).await
    } else {
        mcp::discover(&endpoint).await
    };
    ctx.metrics
        .mcp
        .discovered(started.elapsed(), discovered.is_ok());
    let listed = record_discovery(
        status,
        previous,
        &endpoint.url,
        discovered,
        phase_on_first_failure,
        instance.metadata.generation,
    );
    if listed {
        ctx.succeeded(DISCOVERY_BACKOFF, instance);
        Action::requeue(Duration::from_secs(
            instance.spec.discovery_interval_seconds.max(10) as u64,
        ))
    } else {
        Action::requeue(ctx.backoff(DISCOVERY_BACKOFF, instance).max(retry_floor))
    }
}

/// A compound instance's status from its members.
async fn reconcile_compound(
    ctx: &Context,
    instance: &McpServerInstance,
    namespace: &str,
    compound: &CompoundServer,
    status: &mut McpServerInstanceStatus,
) -> Result<Action> {
    let member_names: Vec<&str> = compound.members.iter().map(|m| m.name.as_str()).collect();
    let members = get_named(
        &Api::<McpServerInstance>::namespaced(ctx.client.clone(), namespace),
        &member_names,
    )
    .await?;
    let merged = compound::merge(compound, &members);
    status.tool_count = Some(merged.tools.len() as i32);
    status.tools = merged.tools;
    status.collisions = merged.collisions;
    status.endpoint = ctx
        .config
        .mcp_gateway_url
        .as_deref()
        .map(|base| crate::mcp::gateway::endpoint(base, namespace, &instance.name_any()));
    status.last_checked_time = Some(now());
    let generation = instance.metadata.generation;
    match merged.readiness {
        Ok(message) => {
            status.phase = Some(McpPhase::Running);
            set_ready(
                &mut status.conditions,
                true,
                reasons::MEMBERS_READY,
                message,
                generation,
            );
        }
        Err(problem) => not_ready(status, McpPhase::Pending, problem, generation),
    }
    // Members' changes wake this instance through the watch; nothing to poll.
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::fixtures::{instance, tool};

    #[test]
    fn an_instances_offer_changes_with_what_its_namers_read_and_nothing_else() {
        let (_, before) = instance("everything", true, &["echo"]);
        type Change = fn(&mut McpServerInstance);
        let cases: &[(&str, Change, bool)] = &[
            ("nothing", |_| {}, false),
            (
                "a health check's time",
                |i| i.status.as_mut().unwrap().last_checked_time = Some(now()),
                false,
            ),
            (
                "a ready condition's message",
                |i| i.status.as_mut().unwrap().conditions[0].message = "checked again".into(),
                false,
            ),
            (
                "readiness",
                |i| {
                    set_ready(
                        &mut i.status.as_mut().unwrap().conditions,
                        false,
                        "Down",
                        "",
                        None,
                    )
                },
                true,
            ),
            (
                "a tool added",
                |i| i.status.as_mut().unwrap().tools.push(tool("add")),
                true,
            ),
            (
                "a tool's description",
                |i| i.status.as_mut().unwrap().tools[0].description = Some("Echoes.".into()),
                true,
            ),
            (
                "the endpoint",
                |i| i.status.as_mut().unwrap().endpoint = Some("http://elsewhere".into()),
                true,
            ),
            ("the spec", |i| i.metadata.generation = Some(2), true),
            ("the status gone", |i| i.status = None, true),
        ];
        for (case, change, changes_offer) in cases {
            let mut after = before.clone();
            change(&mut after);
            assert_eq!(offer(&before) != offer(&after), *changes_offer, "{case}");
        }
    }

    /// The phase, reason and message, when the instance is not to be reached.
    type Want = Option<(McpPhase, &'static str, &'static str)>;

    #[test]
    fn a_managed_server_without_available_pods_waits_for_them_rather_than_polling() {
        let cases = [
            (0, PODS_PENDING_RECHECK),
            (1, Duration::ZERO),
            (3, Duration::ZERO),
        ];
        for (available, floor) in cases {
            assert_eq!(
                managed_retry_floor(available),
                floor,
                "{available} available"
            );
        }
    }

    #[test]
    fn suspended_and_sse_instances_are_not_reached() {
        let cases: &[(&str, Value, Want)] = &[
            ("managed", json!({"managed": {"image": "a"}}), None),
            (
                "managed, suspended",
                json!({"managed": {"image": "a"}, "suspend": true}),
                Some((
                    McpPhase::Stopped,
                    reasons::SUSPENDED,
                    "spec.suspend is true: the server is scaled to zero",
                )),
            ),
            ("remote", json!({"remote": {"url": "http://x/mcp"}}), None),
            (
                "remote over SSE",
                json!({"remote": {"url": "http://x/sse", "transport": "sse"}}),
                None,
            ),
            // Only a managed server has anything to scale down.
            (
                "remote, suspended",
                json!({"remote": {"url": "http://x/mcp"}, "suspend": true}),
                None,
            ),
            ("compound", json!({"compound": {"members": []}}), None),
        ];
        for (case, spec, want) in cases {
            let spec: McpServerInstanceSpec = serde_json::from_value(spec.clone()).unwrap();
            let got = not_served(&spec);
            let got = got
                .as_ref()
                .map(|(phase, p)| (*phase, p.reason, p.message.as_str()));
            assert_eq!(got, *want, "{case}");
        }
    }
}
