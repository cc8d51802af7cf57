//! Leader election through a `coordination.k8s.io/v1` Lease, as client-go's leaderelection does:
//! the leader renews the Lease every retry period; a candidate takes it over once it has gone
//! unrenewed for its duration; every write carries the resourceVersion it read, so two candidates
//! cannot both win. The leader hands the Lease back when it stops, so a rolling update fails over
//! at once.
//!
//! Only the controllers whose work must not be done twice at once wait for leadership (status
//! writers, trigger firing, events); Tasks are claimed one by one, so every replica runs them.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};
use tokio::sync::watch;

/// How long a Lease lasts unrenewed.
const LEASE_DURATION: Duration = Duration::from_secs(15);
/// How often the leader renews and candidates retry.
const RETRY_PERIOD: Duration = Duration::from_secs(2);
/// A leader that could not renew for this long stops leading, before its Lease can expire.
const RENEW_DEADLINE: Duration = Duration::from_secs(10);

/// Who this replica is and which Lease it competes for.
#[derive(Clone, Debug)]
pub struct Election {
    pub lease: String,
    pub namespace: String,
    pub identity: String,
}

/// Runs the election until `stop` resolves, publishing whether this replica leads. On stop, a
/// leader releases the Lease.
pub async fn run(
    client: Client,
    election: Election,
    leading: watch::Sender<bool>,
    stop: impl Future<Output = ()>,
) {
    let api: Api<Lease> = Api::namespaced(client, &election.namespace);
    let mut last_renewal = tokio::time::Instant::now();
    tokio::pin!(stop);
    loop {
        match try_acquire_or_renew(&api, &election).await {
            Ok(true) => {
                last_renewal = tokio::time::Instant::now();
                if !*leading.borrow() {
                    tracing::info!(lease = %election.lease, identity = %election.identity, "became the leader");
                    leading.send_replace(true);
                }
            }
            Ok(false) => {
                if *leading.borrow() {
                    tracing::warn!(lease = %election.lease, "lost the lease to another replica");
                }
                leading.send_replace(false);
            }
            Err(error) => {
                tracing::warn!(%error, lease = %election.lease, "leader election");
                if *leading.borrow() && last_renewal.elapsed() > RENEW_DEADLINE {
                    tracing::warn!("could not renew the lease in time; stepping down");
                    leading.send_replace(false);
                }
            }
        }
        tokio::select! {
            _ = &mut stop => break,
            _ = tokio::time::sleep(RETRY_PERIOD) => {}
        }
    }
    if leading.send_replace(false) {
        release(&api, &election).await;
    }
}

/// Takes or renews the Lease; false when another replica holds it.
async fn try_acquire_or_renew(api: &Api<Lease>, election: &Election) -> kube::Result<bool> {
    let now = Timestamp::now();
    let Some(mut lease) = api.get_opt(&election.lease).await? else {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(election.lease.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(held_by(&election.identity, now, now, 0)),
        };
        return match api.create(&PostParams::default(), &lease).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(status)) if status.is_already_exists() => Ok(false),
            Err(error) => Err(error),
        };
    };
    let spec = lease.spec.clone().unwrap_or_default();
    let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
    let ours = holder.as_deref() == Some(election.identity.as_str());
    if !ours && holder.is_some() && !expired(&spec, now) {
        return Ok(false);
    }
    let (acquired, transitions) = match (ours, spec.acquire_time) {
        (true, Some(acquired)) => (acquired.0, spec.lease_transitions.unwrap_or(0)),
        _ => (now, spec.lease_transitions.unwrap_or(0) + 1),
    };
    lease.spec = Some(held_by(&election.identity, acquired, now, transitions));
    // The resourceVersion read above makes this a compare-and-swap.
    match api
        .replace(&election.lease, &PostParams::default(), &lease)
        .await
    {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.is_conflict() => Ok(false),
        Err(error) => Err(error),
    }
}

fn held_by(identity: &str, acquired: Timestamp, renewed: Timestamp, transitions: i32) -> LeaseSpec {
    LeaseSpec {
        holder_identity: Some(identity.to_string()),
        lease_duration_seconds: Some(LEASE_DURATION.as_secs() as i32),
        acquire_time: Some(MicroTime(acquired)),
        renew_time: Some(MicroTime(renewed)),
        lease_transitions: Some(transitions),
        ..LeaseSpec::default()
    }
}

fn expired(spec: &LeaseSpec, now: Timestamp) -> bool {
    let duration = SignedDuration::from_secs(spec.lease_duration_seconds.unwrap_or(0) as i64);
    spec.renew_time
        .as_ref()
        .is_none_or(|renewed| renewed.0 + duration < now)
}

/// Gives the Lease up (empty holder), so a candidate takes it at its next retry.
async fn release(api: &Api<Lease>, election: &Election) {
    let Ok(Some(mut lease)) = api.get_opt(&election.lease).await else {
        return;
    };
    let Some(spec) = lease.spec.as_mut() else {
        return;
    };
    if spec.holder_identity.as_deref() != Some(election.identity.as_str()) {
        return;
    }
    spec.holder_identity = None;
    spec.lease_duration_seconds = Some(1);
    match api
        .replace(&election.lease, &PostParams::default(), &lease)
        .await
    {
        Ok(_) => tracing::info!(lease = %election.lease, "released the lease"),
        Err(error) => tracing::warn!(%error, "could not release the lease"),
    }
}

/// Resolves when a controller started by [`while_leading`] must stop.
pub type Until = std::pin::Pin<Box<dyn Future<Output = ()> + Send + Sync>>;

/// Runs `work` whenever `leading` is true, stopping it when leadership is lost or `stop`
/// resolves. `work` gets a future that resolves when it must stop.
pub async fn while_leading<F, Fut>(
    mut leading: watch::Receiver<bool>,
    stop: watch::Receiver<bool>,
    work: F,
) where
    F: Fn(Until) -> Fut,
    Fut: Future<Output = ()>,
{
    loop {
        let stopping = {
            let mut stop = stop.clone();
            async move {
                let _ = stop.wait_for(|s| *s).await;
            }
        };
        tokio::select! {
            became = leading.wait_for(|l| *l) => if became.is_err() { return },
            _ = stopping => return,
        }
        let until = {
            let mut leading = leading.clone();
            let mut stop = stop.clone();
            let until: Until = Box::pin(async move {
                tokio::select! {
                    _ = leading.wait_for(|l| !*l) => {}
                    _ = stop.wait_for(|s| *s) => {}
                }
            });
            until
        };
        work(until).await;
        if *stop.borrow() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_expires_after_its_duration_unrenewed() {
        let now = Timestamp::now();
        let spec = held_by("a", now, now, 0);
        assert!(!expired(&spec, now));
        assert!(expired(&spec, now + SignedDuration::from_secs(16)));
        assert!(expired(&LeaseSpec::default(), now));
    }
}
