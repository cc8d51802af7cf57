//! What every controller shares.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::Client;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};

use crate::config::Config;

pub struct Context {
    pub client: Client,
    pub config: Config,
    /// This process among the operator's replicas: the holder of its task claims. Unique per
    /// process, so that a restarted replica never mistakes its predecessor's claims for its own.
    pub holder: String,
    /// One HTTP client (and connection pool) for every model endpoint.
    pub http: reqwest::Client,
    recorder: Recorder,
    /// Consecutive failures per object, for the back-off of its next attempt.
    failures: Mutex<HashMap<String, u32>>,
}

impl Context {
    pub fn new(client: Client, config: Config) -> Arc<Self> {
        let reporter = Reporter {
            controller: "agentarea-operator".into(),
            instance: config.instance_name.clone(),
        };
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
        Arc::new(Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            config,
            holder,
            http,
            failures: Mutex::new(HashMap::new()),
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
        let event = Event {
            type_,
            reason: reason.into(),
            note: Some(truncate(&note, 1000)),
            action: "Reconcile".into(),
            secondary: None,
        };
        if let Err(error) = self.recorder.publish(&event, &object.object_ref(&())).await {
            tracing::warn!(%error, "could not publish event");
        }
    }

    /// Records a failure of `object` and returns how long to wait before the next attempt:
    /// 5 s, doubling per failure in a row, at most 5 minutes.
    pub fn backoff<K: Resource<DynamicType = ()>>(&self, object: &K) -> Duration {
        let mut failures = self.failures.lock().unwrap();
        let count = failures.entry(key(object)).or_insert(0);
        *count = count.saturating_add(1);
        Duration::from_secs((5u64 << (*count - 1).min(6)).min(300))
    }

    /// Forgets the failures of `object` after a success.
    pub fn succeeded<K: Resource<DynamicType = ()>>(&self, object: &K) {
        self.failures.lock().unwrap().remove(&key(object));
    }
}

fn key<K: Resource<DynamicType = ()>>(object: &K) -> String {
    ObjectRef::from_obj(object).to_string() + &object.uid().unwrap_or_default()
}

/// Cuts `text` to at most `max` bytes on a character boundary, marking the cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… [truncated]", &text[..end])
}
