//! What every handler shares: the client, the caches, the event log and the authenticator.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use kube::{Client, ResourceExt};

use agentarea_crds::{Agent, McpServerInstance, Skill, Task, Trigger};

use crate::auth::{Authenticator, Identity};
use crate::cache::{CachedResource, Change, ResourceCache};
use crate::error::ApiResult;
use crate::events::{ChangeKind, EventLog};
use crate::routes;
use crate::workspace;

#[derive(Clone)]
pub struct AppState {
    pub client: Client,
    pub auth: Arc<Authenticator>,
    pub agents: Arc<ResourceCache<Agent>>,
    pub skills: Arc<ResourceCache<Skill>>,
    pub mcp_server_instances: Arc<ResourceCache<McpServerInstance>>,
    pub triggers: Arc<ResourceCache<Trigger>>,
    pub tasks: Arc<ResourceCache<Task>>,
    pub events: Arc<EventLog>,
    pub webhook_signatures: Arc<routes::webhooks::SeenSignatures>,
    /// Namespaces this process has already made sure of, to skip the apply on every write.
    known_namespaces: Arc<Mutex<HashSet<String>>>,
}

impl AppState {
    /// Starts a watch per kind and returns once every cache holds its initial list.
    pub async fn start(client: Client, auth: Authenticator) -> anyhow::Result<Self> {
        let events = Arc::new(EventLog::new());
        // The event log presents objects in their REST shape, which for agents and tasks needs
        // the other caches (ids of referenced objects); it gets a handle once they exist.
        let presenter: Arc<std::sync::OnceLock<AppState>> = Arc::new(std::sync::OnceLock::new());

        let agents = ResourceCache::start(
            client.clone(),
            recorder(
                &events,
                &presenter,
                "agent",
                |s, a| serde_json::to_value(routes::agents::present(s, a)).unwrap_or_default(),
                ready_state,
            ),
        )
        .await?;
        let skills = ResourceCache::start(
            client.clone(),
            recorder(
                &events,
                &presenter,
                "skill",
                |_, s| serde_json::to_value(routes::skills::present(s)).unwrap_or_default(),
                ready_state,
            ),
        )
        .await?;
        let mcp_server_instances = ResourceCache::start(
            client.clone(),
            recorder(
                &events,
                &presenter,
                "mcp_server_instance",
                |_, m| {
                    serde_json::to_value(routes::mcp_server_instances::present(m))
                        .unwrap_or_default()
                },
                |m: &McpServerInstance| {
                    m.status
                        .as_ref()
                        .and_then(|s| s.phase)
                        .map(|p| format!("{p:?}"))
                },
            ),
        )
        .await?;
        let triggers = ResourceCache::start(
            client.clone(),
            recorder(
                &events,
                &presenter,
                "trigger",
                |s, t| serde_json::to_value(routes::triggers::present(s, t)).unwrap_or_default(),
                |t: &Trigger| Some(t.spec.enabled.to_string()),
            ),
        )
        .await?;
        let tasks = ResourceCache::start(
            client.clone(),
            recorder(
                &events,
                &presenter,
                "task",
                |s, t| serde_json::to_value(routes::tasks::present(s, t)).unwrap_or_default(),
                |t: &Task| {
                    Some(
                        t.status
                            .as_ref()
                            .and_then(|s| s.phase)
                            .map_or("Pending".to_string(), |p| format!("{p:?}")),
                    )
                },
            ),
        )
        .await?;

        let state = Self {
            client,
            auth: Arc::new(auth),
            agents,
            skills,
            mcp_server_instances,
            triggers,
            tasks,
            events,
            webhook_signatures: Arc::default(),
            known_namespaces: Arc::default(),
        };
        let _ = presenter.set(state.clone());
        Ok(state)
    }

    /// The caller's namespace (it may not exist yet: reads then find nothing).
    pub fn namespace(&self, caller: &Identity) -> String {
        workspace::namespace_for(&caller.workspace)
    }

    /// The caller's namespace, created on the workspace's first write.
    pub async fn ensure_namespace(&self, caller: &Identity) -> ApiResult<String> {
        let namespace = self.namespace(caller);
        if self.known_namespaces.lock().unwrap().contains(&namespace) {
            return Ok(namespace);
        }
        workspace::ensure_namespace(&self.client, &caller.workspace).await?;
        self.known_namespaces
            .lock()
            .unwrap()
            .insert(namespace.clone());
        Ok(namespace)
    }
}

/// `"True"`/`"False"` of the Ready condition, for objects whose state is their readiness.
fn ready_state<K>(object: &K) -> Option<String>
where
    K: HasConditions,
{
    object
        .conditions()
        .iter()
        .find(|c| c.type_ == agentarea_crds::common::condition::READY)
        .map(|c| c.status.clone())
}

trait HasConditions {
    fn conditions(&self) -> &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition];
}

impl HasConditions for Agent {
    fn conditions(&self) -> &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition] {
        self.status.as_ref().map_or(&[], |s| &s.conditions)
    }
}

impl HasConditions for Skill {
    fn conditions(&self) -> &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition] {
        self.status.as_ref().map_or(&[], |s| &s.conditions)
    }
}

/// The change handler of one kind's cache: records each change in the event log, in REST shape.
fn recorder<K: CachedResource>(
    events: &Arc<EventLog>,
    presenter: &Arc<std::sync::OnceLock<AppState>>,
    kind: &'static str,
    present: impl Fn(&AppState, &K) -> serde_json::Value + Send + Sync + 'static,
    state_of: impl Fn(&K) -> Option<String> + Send + Sync + 'static,
) -> impl Fn(Change<K>) + Send + Sync + 'static {
    let events = events.clone();
    let presenter = presenter.clone();
    move |change| {
        let Some(app) = presenter.get() else { return };
        let (object, change_kind) = match &change {
            Change::Applied(object) if is_new(object.as_ref()) => (object, ChangeKind::Created),
            Change::Applied(object) => (object, ChangeKind::Updated),
            Change::Deleted(object) => (object, ChangeKind::Deleted),
        };
        let namespace = object.namespace().unwrap_or_default();
        let uid = object.uid().unwrap_or_default();
        events.record(
            &namespace,
            kind,
            &uid,
            change_kind,
            state_of(object),
            present(app, object),
        );
    }
}

/// An object the watch delivers for the first time: generation 1 and no status written yet.
fn is_new<K: kube::Resource>(object: &K) -> bool {
    let meta = object.meta();
    meta.generation == Some(1)
        && meta
            .managed_fields
            .iter()
            .flatten()
            .all(|f| f.subresource.as_deref() != Some("status"))
}
