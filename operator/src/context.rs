//! What every controller shares.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kube::Client;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};

use crate::config::Config;
use crate::metrics::Metrics;

pub struct Context {
    pub client: Client,
    pub config: Config,
    /// This process among the operator's replicas: the holder of its task claims. Unique per
    /// process, so that a restarted replica never mistakes its predecessor's claims for its own.
    pub holder: String,
    /// One HTTP client (and connection pool) for every model endpoint.
    pub http: reqwest::Client,
    pub metrics: Metrics,
    recorder: Recorder,
    /// Consecutive failures per object, for the back-off of its next attempt.
    failures: Mutex<HashMap<String, Failures>>,
}

/// The failures in a row of one object, and when the last one was.
struct Failures {
    controller: &'static str,
    count: u32,
    last: Instant,
}

/// The longest back-off; an object that has not failed for twice as long is forgotten, which
/// also drops objects deleted while they were failing (kube-runtime never reconciles those again).
const MAX_BACKOFF: Duration = Duration::from_secs(300);

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
            metrics: Metrics::new(),
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
    pub fn backoff<K: Resource<DynamicType = ()>>(
        &self,
        controller: &'static str,
        object: &K,
    ) -> Duration {
        let mut failures = self.failures.lock().unwrap();
        let now = Instant::now();
        failures.retain(|_, f| now.duration_since(f.last) < 2 * MAX_BACKOFF);
        let entry = failures.entry(key(controller, object)).or_insert(Failures {
            controller,
            count: 0,
            last: now,
        });
        entry.count = entry.count.saturating_add(1);
        entry.last = now;
        let delay = backoff_after(entry.count);
        self.count_backing_off(&failures, controller);
        delay
    }

    /// Forgets the failures of `object` after a success.
    pub fn succeeded<K: Resource<DynamicType = ()>>(&self, controller: &'static str, object: &K) {
        let mut failures = self.failures.lock().unwrap();
        if failures.remove(&key(controller, object)).is_some() {
            self.count_backing_off(&failures, controller);
        }
    }

    fn count_backing_off(&self, failures: &HashMap<String, Failures>, controller: &'static str) {
        let objects = failures
            .values()
            .filter(|f| f.controller == controller)
            .count();
        self.metrics
            .controllers
            .set_backing_off(controller, objects);
    }
}

/// The back-off after `failures` failures in a row.
fn backoff_after(failures: u32) -> Duration {
    Duration::from_secs(5u64 << failures.saturating_sub(1).min(6)).min(MAX_BACKOFF)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_from_five_seconds_up_to_five_minutes() {
        let seconds: Vec<u64> = (1..=9).map(|n| backoff_after(n).as_secs()).collect();
        assert_eq!(seconds, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
        assert_eq!(backoff_after(u32::MAX), MAX_BACKOFF);
    }
}
