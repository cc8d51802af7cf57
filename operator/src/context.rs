//! What every controller shares.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kube::Client;
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};

use crate::backoff::Backoffs;
use crate::budget::Ledger;
use crate::config::Config;
use crate::egress::WorkspaceEgress;
use crate::events::{Occurrence, Recorder};
use crate::metrics::Metrics;
use crate::text::truncate;

/// The operator's name as the reporting controller of its Events.
const CONTROLLER: &str = "agentarea-operator";

pub struct Context {
    pub client: Client,
    pub config: Config,
    /// This process among the operator's replicas: the holder of its task claims. Unique per
    /// process, so that a restarted replica never mistakes its predecessor's claims for its own.
    pub holder: String,
    /// One HTTP client (and connection pool) for the operator's default model endpoint.
    pub http: reqwest::Client,
    /// What may be called for each workspace, and the HTTP clients for model endpoints an Agent
    /// names: every connection and redirect they make goes through that policy.
    pub egress: WorkspaceEgress,
    pub metrics: Metrics,
    /// What each workspace has spent of its token budget.
    pub budget: Ledger,
    recorder: Recorder,
    /// Failures in a row per object, for the back-off of its next attempt.
    backoffs: Mutex<Backoffs>,
}

impl Context {
    pub fn new(client: Client, config: Config) -> Arc<Self> {
        let replica = config
            .instance_name
            .clone()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "agentarea-operator".into());
        let holder = format!(
            "{replica}/{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let http = crate::model::http_client();
        let egress = WorkspaceEgress::new(config.egress.policy());
        Arc::new(Self {
            recorder: Recorder::new(
                client.clone(),
                CONTROLLER,
                config.instance_name.as_deref().unwrap_or(CONTROLLER),
            ),
            budget: Ledger::new(
                client.clone(),
                &config.own_namespace(),
                config.budget.clone(),
            ),
            client,
            config,
            holder,
            http,
            egress,
            metrics: Metrics::new(),
            backoffs: Mutex::default(),
        })
    }

    /// An `Api` over the watched namespaces: one, or all.
    pub fn api<K>(&self) -> kube::Api<K>
    where
        K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>,
    {
        match &self.config.watch_namespace {
            Some(namespace) => kube::Api::namespaced(self.client.clone(), namespace),
            None => kube::Api::all(self.client.clone()),
        }
    }

    /// Publishes a Kubernetes Event about `object`; a failure to publish is logged, never fatal.
    pub async fn event<K>(&self, object: &K, type_: EventType, reason: &str, note: String)
    where
        K: Resource<DynamicType = ()>,
    {
        let note = truncate(&note, 1000);
        let occurrence = Occurrence {
            regarding: object.object_ref(&()),
            type_,
            reason,
            note: &note,
        };
        if let Err(error) = self.recorder.publish(&occurrence).await {
            tracing::warn!(%error, "could not publish event");
        }
    }

    /// Records a failure of `object` and returns how long to wait before the next attempt
    /// (see [`crate::backoff`]).
    pub fn backoff<K: Resource<DynamicType = ()>>(
        &self,
        controller: &'static str,
        object: &K,
    ) -> Duration {
        let mut backoffs = self.backoffs.lock().unwrap();
        let delay = backoffs.failed(controller, key(controller, object), Instant::now());
        self.report_backing_off(&backoffs);
        delay
    }

    /// Forgets the failures of `object` after a success.
    pub fn succeeded<K: Resource<DynamicType = ()>>(&self, controller: &'static str, object: &K) {
        let mut backoffs = self.backoffs.lock().unwrap();
        if backoffs.succeeded(&key(controller, object)) {
            self.report_backing_off(&backoffs);
        }
    }

    fn report_backing_off(&self, backoffs: &Backoffs) {
        for (controller, objects) in backoffs.backing_off() {
            self.metrics
                .controllers
                .set_backing_off(controller, objects);
        }
    }
}

/// One entry per controller and object: a controller may keep a back-off of its own beside the
/// one for reconcile errors (see the McpServerInstance controller's discovery).
fn key<K: Resource<DynamicType = ()>>(controller: &str, object: &K) -> String {
    format!(
        "{controller}/{}/{}",
        ObjectRef::from_obj(object),
        object.uid().unwrap_or_default()
    )
}
