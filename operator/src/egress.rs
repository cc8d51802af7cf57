//! The egress policy of each workspace: the platform's (`--egress-allow`, `--egress-deny`) plus
//! the ranges an administrator allowed that workspace alone with the annotation
//! [`WORKSPACE_ALLOW_ANNOTATION`] on its namespace. Namespaces are read from a metadata-only
//! reflector, so judging a call costs no request to the apiserver.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use agentarea_support::egress::{
    EgressPolicy, IpNet, WORKSPACE_ALLOW_ANNOTATION, workspace_allowances,
};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use kube::core::PartialObjectMeta;
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector::{self, ObjectRef, Store, store::Writer};
use kube::runtime::watcher::{self, watcher};
use kube::{Api, Client};

use crate::model::guarded_http_client;

/// How long a call waits for the namespaces to be listed once, right after start-up, before it
/// is judged by the platform's policy alone (which refuses more, never less).
const FIRST_LIST_WITHIN: Duration = Duration::from_secs(10);

type NamespaceMeta = PartialObjectMeta<Namespace>;

pub struct WorkspaceEgress {
    platform: EgressPolicy,
    platform_http: reqwest::Client,
    namespaces: Store<NamespaceMeta>,
    /// Taken by [`Self::watch_namespaces`]; until then no namespace is known.
    writer: Mutex<Option<Writer<NamespaceMeta>>>,
    /// When the watch started: calls in the first [`FIRST_LIST_WITHIN`] wait for its first list.
    watch_started: OnceLock<Instant>,
    /// A guarded client per workspace with allowances of its own (its connection pool with it),
    /// made again when they change.
    clients: Mutex<HashMap<String, Guarded>>,
}

/// A workspace's allowances, the policy they make, and a client that enforces it.
struct Guarded {
    allowances: Vec<IpNet>,
    policy: EgressPolicy,
    http: reqwest::Client,
}

impl WorkspaceEgress {
    pub fn new(platform: EgressPolicy) -> Self {
        let (namespaces, writer) = reflector::store();
        Self {
            platform_http: guarded_http_client(&platform),
            platform,
            namespaces,
            writer: Mutex::new(Some(writer)),
            watch_started: OnceLock::new(),
            clients: Mutex::default(),
        }
    }

    /// What may be called for the workspace in `namespace`.
    pub async fn policy(&self, namespace: &str) -> EgressPolicy {
        self.http(namespace).await.0
    }

    /// The policy of the workspace in `namespace`, and an HTTP client that enforces it on every
    /// connection and redirect.
    pub async fn http(&self, namespace: &str) -> (EgressPolicy, reqwest::Client) {
        let allowances = self.allowances(namespace).await;
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if allowances.is_empty() {
            // An annotation taken away (or its namespace gone) takes its client along.
            clients.remove(namespace);
            return (self.platform.clone(), self.platform_http.clone());
        }
        match clients.get(namespace) {
            Some(known) if known.allowances == allowances => {
                (known.policy.clone(), known.http.clone())
            }
            _ => {
                let policy = self.platform.allowing(&allowances);
                let http = guarded_http_client(&policy);
                let made = (policy.clone(), http.clone());
                let guarded = Guarded {
                    allowances,
                    policy,
                    http,
                };
                clients.insert(namespace.to_string(), guarded);
                made
            }
        }
    }

    async fn allowances(&self, namespace: &str) -> Vec<IpNet> {
        let patience = self.watch_started.get().map_or(Duration::ZERO, |started| {
            FIRST_LIST_WITHIN.saturating_sub(started.elapsed())
        });
        if !patience.is_zero()
            && tokio::time::timeout(patience, self.namespaces.wait_until_ready())
                .await
                .is_err()
        {
            tracing::warn!(
                namespace,
                "namespaces not listed yet: judged by the platform's egress policy alone"
            );
        }
        let Some(meta) = self.namespaces.get(&ObjectRef::new(namespace)) else {
            return Vec::new();
        };
        workspace_allowances(meta.metadata.annotations.as_ref()).unwrap_or_else(|reason| {
            tracing::warn!(namespace, %reason, "the workspace's egress allowances");
            Vec::new()
        })
    }

    /// Keeps the namespaces' metadata (annotations are what matters) until the stream ends: all
    /// of them, or `only` when the operator watches one namespace.
    pub async fn watch_namespaces(&self, client: Client, only: Option<&str>) {
        let Some(writer) = self.writer.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            return;
        };
        let _ = self.watch_started.set(Instant::now());
        let mut config = watcher::Config::default();
        if let Some(name) = only {
            config = config.fields(&format!("metadata.name={name}"));
        }
        // Over `PartialObjectMeta`, the watch asks for metadata only.
        let api = Api::<NamespaceMeta>::all(client);
        reflector::reflector(writer, watcher(api, config))
            .default_backoff()
            .for_each(|event| async move {
                if let Err(error) = event {
                    tracing::warn!(%error, annotation = WORKSPACE_ALLOW_ANNOTATION, "watching namespaces");
                }
            })
            .await;
    }
}
