//! What every handler shares: the client, the caches, the event log and the authenticator; and
//! the one place a request's reads and writes are scoped to the caller's workspace.

use std::sync::{Arc, OnceLock};

use axum::extract::FromRef;
use kube::Client;
use serde::Serialize;

use agentarea_crds::{Agent, McpServerInstance, Skill, Task, Trigger};
use agentarea_support::egress::EgressPolicy;

use crate::auth::{Authenticator, Identity};
use crate::cache::{CachedResource, ResourceCache};
use crate::error::{ApiError, ApiResult};
use crate::event_log::EventLog;
use crate::event_log::recorder::recorder;
use crate::limits::{LimitArgs, Limits, StreamPermit};
use crate::metrics::ApiMetrics;
use crate::model::mcp_server_instances::InstanceResponse;
use crate::model::skills::SkillResponse;
use crate::model::{agents, tasks, triggers};
use crate::resources::Writer;
use crate::skipped::SkippedFirings;
use crate::workspace;
use crate::workspace::Workspaces;
use crate::workspace::provision::WorkspaceArgs;

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
    /// Webhook deliveries held back by their trigger's conditions, being recorded.
    pub skipped_firings: Arc<SkippedFirings>,
    pub metrics: Arc<ApiMetrics>,
    /// What the operator may call for a workspace (see [`crate::egress`]).
    pub egress: EgressPolicy,
    /// Workspace namespaces, their set-up, and clients acting as their identities.
    pub workspaces: Arc<Workspaces>,
    /// Request rates and open streams per workspace and caller.
    pub limits: Arc<Limits>,
    /// Objects a GitOps engine applies are read-only here ([`crate::gitops`]).
    pub gitops_read_only: bool,
}

impl FromRef<AppState> for Arc<Authenticator> {
    fn from_ref(state: &AppState) -> Self {
        state.auth.clone()
    }
}

impl FromRef<AppState> for Arc<Limits> {
    fn from_ref(state: &AppState) -> Self {
        state.limits.clone()
    }
}

impl AppState {
    /// Starts a watch per kind and returns once every cache holds its initial list.
    ///
    /// The event log records each change in REST shape, and some shapes name related objects
    /// by id: an agent its MCP server instances, tasks and triggers their agent. So the caches
    /// start in that order, each recorder holding the caches its shape reads.
    pub async fn start(
        client: Client,
        auth: Authenticator,
        egress: EgressPolicy,
        workspaces: WorkspaceArgs,
        limits: &LimitArgs,
        gitops_read_only: bool,
    ) -> anyhow::Result<Self> {
        let events = Arc::new(EventLog::new());
        let metrics = ApiMetrics::new(auth.failures.clone());
        let mcp_server_instances = ResourceCache::start(
            client.clone(),
            metrics.cache("McpServerInstance"),
            recorder(&events, client.clone(), |m: &McpServerInstance| {
                InstanceResponse::from(m)
            }),
        )
        .await?;
        let skills = ResourceCache::start(
            client.clone(),
            metrics.cache("Skill"),
            recorder(&events, client.clone(), |s: &Skill| SkillResponse::from(s)),
        )
        .await?;
        let instances = mcp_server_instances.clone();
        // An agent's shape names the agents it calls by id, from the cache being started here:
        // the recorder reads it once it is there.
        let siblings: Arc<OnceLock<Arc<ResourceCache<Agent>>>> = Arc::default();
        let agents_of_agents = siblings.clone();
        let agents = ResourceCache::start(
            client.clone(),
            metrics.cache("Agent"),
            recorder(&events, client.clone(), move |a: &Agent| {
                agents::present(a, &instances, agents_of_agents.get().map(|c| &**c))
            }),
        )
        .await?;
        let _ = siblings.set(agents.clone());
        let agents_of_triggers = agents.clone();
        let triggers = ResourceCache::start(
            client.clone(),
            metrics.cache("Trigger"),
            recorder(&events, client.clone(), move |t: &Trigger| {
                triggers::present(t, &agents_of_triggers, None)
            }),
        )
        .await?;
        let agents_of_tasks = agents.clone();
        let tasks = ResourceCache::start(
            client.clone(),
            metrics.cache("Task"),
            recorder(&events, client.clone(), move |t: &Task| {
                tasks::present(t, &agents_of_tasks)
            }),
        )
        .await?;
        Ok(Self {
            workspaces: Arc::new(Workspaces::new(client.clone(), workspaces)),
            limits: Arc::new(Limits::new(limits)),
            client,
            auth: Arc::new(auth),
            agents,
            skills,
            mcp_server_instances,
            triggers,
            tasks,
            events,
            skipped_firings: Arc::default(),
            metrics,
            egress,
            gitops_read_only,
        })
    }

    /// The caller's namespace (it may not exist yet: reads then find nothing).
    pub fn namespace(&self, caller: &Identity) -> String {
        workspace::namespace_for(&caller.workspace)
    }

    /// The object `id` (uid or name) of the caller's workspace. An object of another workspace
    /// is as missing as one that does not exist.
    pub fn find<K: Served>(&self, caller: &Identity, id: &str) -> ApiResult<Arc<K>> {
        K::cache(self)
            .find(&self.namespace(caller), id)
            .ok_or_else(|| ApiError::not_found(K::NOT_FOUND))
    }

    /// Every object of the kind in the caller's workspace, in no particular order.
    pub fn list<K: Served>(&self, caller: &Identity) -> Vec<Arc<K>> {
        K::cache(self).list(&self.namespace(caller))
    }

    /// Writes for `caller`, in their workspace's namespace and under their name.
    pub fn writer<'a, K: Served>(&'a self, caller: &'a Identity) -> Writer<'a, K> {
        Writer::new(&self.workspaces, K::cache(self), caller)
            .guarding_git_owned(K::EDITED_IN_GIT && self.gitops_read_only)
    }

    /// A place for one more event stream of the caller's workspace (`stream` names it in the
    /// metrics), or 429 when the workspace has as many open as it may.
    pub fn open_stream(&self, caller: &Identity, stream: &'static str) -> ApiResult<StreamPermit> {
        self.limits
            .open_stream(&self.namespace(caller), self.metrics.stream_opened(stream))
    }

    /// A client acting in `namespace` as its workspace identity ([`Workspaces::acting_in`]).
    pub fn acting_in(&self, namespace: &str) -> Client {
        self.workspaces.acting_in(namespace)
    }
}

/// A kind the api serves: the cache its objects are read from, and how a missing one is named.
pub trait Served: CachedResource + Serialize {
    const NOT_FOUND: &'static str;
    /// Whether an object of the kind that a GitOps engine applies is changed only in Git. Not so
    /// for Tasks: approving, pausing or cancelling a run is acting on it, whoever started it.
    const EDITED_IN_GIT: bool = true;
    fn cache(state: &AppState) -> &ResourceCache<Self>;
}

impl Served for Agent {
    const NOT_FOUND: &'static str = "Agent not found";
    fn cache(state: &AppState) -> &ResourceCache<Self> {
        &state.agents
    }
}

impl Served for Skill {
    const NOT_FOUND: &'static str = "Skill not found";
    fn cache(state: &AppState) -> &ResourceCache<Self> {
        &state.skills
    }
}

impl Served for McpServerInstance {
    const NOT_FOUND: &'static str = "MCP server instance not found";
    fn cache(state: &AppState) -> &ResourceCache<Self> {
        &state.mcp_server_instances
    }
}

impl Served for Trigger {
    const NOT_FOUND: &'static str = "Trigger not found";
    fn cache(state: &AppState) -> &ResourceCache<Self> {
        &state.triggers
    }
}

impl Served for Task {
    const NOT_FOUND: &'static str = "Task not found";
    const EDITED_IN_GIT: bool = false;
    fn cache(state: &AppState) -> &ResourceCache<Self> {
        &state.tasks
    }
}

#[cfg(test)]
impl AppState {
    /// A state whose caches no watch feeds: tests put the objects they need in the caches and
    /// hand a client that reaches no apiserver.
    pub(crate) fn unstarted(client: Client, auth: Authenticator) -> Self {
        Self {
            client: client.clone(),
            metrics: ApiMetrics::new(auth.failures.clone()),
            auth: Arc::new(auth),
            agents: ResourceCache::holding([]),
            skills: ResourceCache::holding([]),
            mcp_server_instances: ResourceCache::holding([]),
            triggers: ResourceCache::holding([]),
            tasks: ResourceCache::holding([]),
            events: Arc::new(EventLog::new()),
            skipped_firings: Arc::default(),
            egress: EgressPolicy::default(),
            limits: Arc::new(Limits::new(&LimitArgs::default())),
            gitops_read_only: true,
            workspaces: Arc::new(Workspaces::new(
                client,
                WorkspaceArgs {
                    workspace_role: "agentarea-workspace".into(),
                    workspace_quota: Default::default(),
                    workspace_container_limits: Default::default(),
                    workspace_container_requests: Default::default(),
                },
            )),
        }
    }
}
