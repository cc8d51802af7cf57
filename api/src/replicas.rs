//! How many api replicas serve: the ready endpoints of the api's own Service, followed through its
//! EndpointSlices, so that each replica enforces its share of the Deployment's limits
//! ([`crate::limits::Limits::set_replicas`]) as replicas come and go.

use std::collections::BTreeSet;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Api, Client};

use crate::limits::Limits;

/// The api's Service and namespace, where the replica count is read.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ReplicaArgs {
    /// The api's own Service: its ready endpoints are the replicas that share the limits. Unset:
    /// this process takes the whole of every limit.
    #[arg(long, env = "AGENTAREA_API_SERVICE")]
    pub api_service: Option<String>,
    /// The namespace the api runs in (the downward API's `metadata.namespace`).
    #[arg(long, env = "AGENTAREA_POD_NAMESPACE")]
    pub pod_namespace: Option<String>,
}

/// The replicas `slices` say are ready: distinct addresses of endpoints whose `ready` condition is
/// not false (unset means ready, as the EndpointSlice API defines it).
pub fn ready_endpoints<'a>(slices: impl IntoIterator<Item = &'a EndpointSlice>) -> usize {
    slices
        .into_iter()
        .flat_map(|slice| &slice.endpoints)
        .filter(|endpoint| {
            endpoint
                .conditions
                .as_ref()
                .and_then(|c| c.ready)
                .unwrap_or(true)
        })
        .filter_map(|endpoint| endpoint.addresses.first())
        .collect::<BTreeSet<_>>()
        .len()
}

/// Follows the Service's EndpointSlices and tells `limits` each new replica count, for as long as
/// the process runs. Without a Service configured, does nothing.
pub fn follow(client: Client, args: &ReplicaArgs, limits: Arc<Limits>) {
    let (Some(service), Some(namespace)) = (&args.api_service, &args.pod_namespace) else {
        return;
    };
    let api: Api<EndpointSlice> = Api::namespaced(client, namespace);
    let config =
        watcher::Config::default().labels(&format!("kubernetes.io/service-name={service}"));
    let (store, writer) = reflector::store();
    let changes = reflector::reflector(writer, watcher(api, config)).default_backoff();
    tokio::spawn(async move {
        futures::pin_mut!(changes);
        while let Some(change) = changes.next().await {
            match change {
                // None ready (this replica starting alone) is one: `set_replicas` takes at least one.
                Ok(_) => limits.set_replicas(ready_endpoints(store.state().iter().map(|s| &**s))),
                Err(error) => tracing::warn!(%error, "watching the api's endpoints; retrying"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions};

    use super::*;

    fn endpoint(address: &str, ready: Option<bool>) -> Endpoint {
        Endpoint {
            addresses: vec![address.into()],
            conditions: Some(EndpointConditions {
                ready,
                ..EndpointConditions::default()
            }),
            ..Endpoint::default()
        }
    }

    fn slice(endpoints: Vec<Endpoint>) -> EndpointSlice {
        EndpointSlice {
            address_type: "IPv4".into(),
            endpoints,
            ..EndpointSlice::default()
        }
    }

    #[test]
    fn ready_endpoints_are_the_replicas() {
        let cases: &[(&str, Vec<EndpointSlice>, usize)] = &[
            ("none", vec![], 0),
            ("an empty slice", vec![slice(vec![])], 0),
            (
                "three ready",
                vec![slice(vec![
                    endpoint("10.0.0.1", Some(true)),
                    endpoint("10.0.0.2", Some(true)),
                    endpoint("10.0.0.3", None),
                ])],
                3,
            ),
            (
                "one not ready (starting, or terminating)",
                vec![slice(vec![
                    endpoint("10.0.0.1", Some(true)),
                    endpoint("10.0.0.2", Some(false)),
                ])],
                1,
            ),
            (
                "across slices, an address counted once",
                vec![
                    slice(vec![endpoint("10.0.0.1", Some(true))]),
                    slice(vec![
                        endpoint("10.0.0.1", Some(true)),
                        endpoint("10.0.0.4", Some(true)),
                    ]),
                ],
                2,
            ),
        ];
        for (what, slices, replicas) in cases {
            assert_eq!(ready_endpoints(slices), *replicas, "{what}");
        }
    }
}
