//! Start-up and shutdown of the operator process.

use agentarea_support::metrics::metrics_routes;
use agentarea_support::{Readiness, health_routes, serve, shutdown_signal};
use anyhow::Context as _;
use kube::Client;
use tokio::sync::watch;

use crate::config::Config;
use crate::context::Context;
use crate::controllers;
use crate::leader::{self, Election};

/// How long in-flight reconciles may take to finish after SIGTERM.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Runs the operator until SIGTERM or Ctrl-C.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let client = Client::try_default()
        .await
        .context("no Kubernetes configuration (in-cluster, KUBECONFIG or ~/.kube/config)")?;
    agentarea_crds::check_served(&client).await?;

    let readiness = Readiness::default();
    let (stop_tx, stop_rx) = watch::channel(false);
    let (health_addr, gateway_addr) = (config.health_addr, config.mcp_gateway_addr);
    let ctx = Context::new(client, config);
    let health = tokio::spawn(serve(
        health_addr,
        health_routes(readiness.clone()).merge(metrics_routes(ctx.metrics.registry.clone())),
        wait_for(stop_rx.clone()),
    ));
    let gateway = gateway_addr.map(|addr| {
        tokio::spawn(crate::mcp::gateway::serve(
            ctx.clone(),
            addr,
            wait_for(stop_rx.clone()),
        ))
    });
    // Without an election this replica always leads; the sender lives as long as `run`.
    let (leading_tx, leading) = watch::channel(!ctx.config.leader_elect);
    let election = ctx.config.leader_elect.then(|| {
        tokio::spawn(campaign(
            ctx.clone(),
            leading_tx.clone(),
            wait_for(stop_rx.clone()),
        ))
    });
    let namespaces = tokio::spawn({
        let ctx = ctx.clone();
        async move {
            let only = ctx.config.watch_namespace.as_deref();
            ctx.egress.watch_namespaces(ctx.client.clone(), only).await
        }
    });
    let controllers = tokio::spawn(run_controllers(ctx.clone(), leading, stop_rx.clone()));
    readiness.set(true);
    tracing::info!("operator started");

    shutdown_signal().await;
    readiness.set(false);
    let _ = stop_tx.send(true);
    // Controllers finish their in-flight reconciles, then stop; a reconcile stuck on a slow MCP
    // server must not outlast the pod's termination grace period.
    if tokio::time::timeout(SHUTDOWN_GRACE, controllers)
        .await
        .is_err()
    {
        tracing::warn!("controllers still busy after {SHUTDOWN_GRACE:?}; stopping anyway");
    }
    if let Some(election) = election {
        let _ = election.await;
    }
    drop(leading_tx);
    namespaces.abort();
    health.await??;
    if let Some(gateway) = gateway {
        gateway.await??;
    }
    tracing::info!("operator stopped");
    Ok(())
}

/// Takes part in the leader election until `stop`, saying in `leading` whether this replica leads.
async fn campaign(
    ctx: std::sync::Arc<Context>,
    leading: watch::Sender<bool>,
    stop: impl Future<Output = ()> + Send + 'static,
) {
    let election = Election {
        lease: ctx.config.leader_election_lease.clone(),
        namespace: ctx.config.lease_namespace(),
        identity: ctx.holder.clone(),
    };
    leader::run(ctx.client.clone(), election, leading, stop).await
}

/// Runs every controller until `stop`: the cluster-wide ones while this replica leads, and the
/// task runner always (each Task is claimed by one replica).
async fn run_controllers(
    ctx: std::sync::Arc<Context>,
    leading: watch::Receiver<bool>,
    stop: watch::Receiver<bool>,
) {
    // A controller that runs while this replica leads, and stops when it no longer does.
    macro_rules! when_leading {
        ($controller:path) => {{
            let ctx = ctx.clone();
            leader::while_leading(leading.clone(), stop.clone(), move |until| {
                $controller(ctx.clone(), until)
            })
        }};
    }
    tokio::join!(
        when_leading!(controllers::mcp_server_instance::run),
        when_leading!(controllers::agent::run),
        when_leading!(controllers::skill::run),
        when_leading!(controllers::trigger::run),
        controllers::task::run(ctx.clone(), wait_for(stop.clone())),
    );
}

/// Resolves once the stop flag is raised.
pub async fn wait_for(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}
