//! Workspaces are namespaces. The mapping is a pure function of the workspace id, so every api
//! replica and every `kubectl` user agrees on it: workspace `acme` is namespace `ws-acme`.
//!
//! In its namespace a workspace has an identity of its own ([`identity`]) that the api acts as,
//! and a quota and container defaults ([`provision`]).

pub mod identity;
pub mod provision;

use std::collections::HashSet;
use std::sync::Mutex;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::PostParams;
use kube::{Api, Client};

use agentarea_crds::common::WORKSPACE_LABEL;
use agentarea_support::egress::{IpNet, workspace_allowances};

use crate::error::ApiResult;
use provision::WorkspaceArgs;

/// The api's side of workspaces: their namespaces made and set up, and clients acting in them.
pub struct Workspaces {
    /// The api's own client (its ServiceAccount): namespaces and their set-up, nothing else.
    client: Client,
    settings: WorkspaceArgs,
    /// Namespaces this process has set up already, to skip the apiserver on every write.
    set_up: Mutex<HashSet<String>>,
}

impl Workspaces {
    pub fn new(client: Client, settings: WorkspaceArgs) -> Self {
        Self {
            client,
            settings,
            set_up: Mutex::default(),
        }
    }

    /// The namespace of `workspace`, created if it does not exist, and set up.
    pub async fn ensure(&self, workspace: &str) -> ApiResult<String> {
        let namespace = namespace_for(workspace);
        if !self.is_set_up(&namespace) {
            let made = ensure_namespace(&self.client, workspace).await?;
            self.set_up(&namespace, made).await?;
        }
        Ok(namespace)
    }

    /// Sets up `namespace` (which exists: it holds the object being acted on) unless this
    /// process did so already. Namespaces made with kubectl get their set-up here, on the api's
    /// first write in them.
    pub async fn ensure_set_up(&self, namespace: &str) -> ApiResult<()> {
        if !self.is_set_up(namespace) {
            self.set_up(namespace, Made::Before).await?;
        }
        Ok(())
    }

    async fn set_up(&self, namespace: &str, made: Made) -> ApiResult<()> {
        self.settings
            .provision(&self.client, namespace, made == Made::Now)
            .await?;
        self.set_up.lock().unwrap().insert(namespace.to_string());
        Ok(())
    }

    fn is_set_up(&self, namespace: &str) -> bool {
        self.set_up.lock().unwrap().contains(namespace)
    }

    /// The egress ranges an administrator allowed the workspace in `namespace` alone (its
    /// annotation `agentarea.io/egress-allow`); none when it has none, or when it is not a list
    /// of ranges.
    pub async fn egress_allowances(&self, namespace: &str) -> ApiResult<Vec<IpNet>> {
        let found = Api::<Namespace>::all(self.client.clone())
            .get_metadata_opt(namespace)
            .await?;
        let annotations = found.as_ref().and_then(|n| n.metadata.annotations.as_ref());
        Ok(workspace_allowances(annotations).unwrap_or_else(|reason| {
            tracing::warn!(namespace, %reason, "the workspace's egress allowances");
            Vec::new()
        }))
    }

    /// A client acting in `namespace` as its workspace identity: whatever it is asked, the
    /// apiserver allows only what that workspace may do ([`identity`]).
    pub fn acting_in(&self, namespace: &str) -> Client {
        identity::client_for(&self.client, namespace)
    }
}

const PREFIX: &str = "ws-";
const MAX_NAMESPACE_LEN: usize = 63;

/// The namespace of `workspace`. Workspace ids that are not already DNS labels (UUIDs in capitals,
/// emails, long ids) are slugged, and a digest of the original keeps two different ids from
/// landing in the same namespace.
pub fn namespace_for(workspace: &str) -> String {
    let slug: String = workspace
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9') => c,
            _ => '-',
        })
        .collect();
    let slug = slug.trim_matches('-');
    let exact =
        slug == workspace && PREFIX.len() + slug.len() <= MAX_NAMESPACE_LEN && !slug.is_empty();
    if exact {
        return format!("{PREFIX}{slug}");
    }
    let digest = short_digest(workspace);
    let room = MAX_NAMESPACE_LEN - PREFIX.len() - digest.len() - 1;
    let head: String = slug.chars().take(room).collect();
    let head = head.trim_end_matches('-');
    if head.is_empty() {
        format!("{PREFIX}{digest}")
    } else {
        format!("{PREFIX}{head}-{digest}")
    }
}

/// The workspace as its namespace names it: the workspace id itself when that is a DNS label,
/// else its slug and digest (for logs, where the namespace is all there is).
pub fn workspace_of(namespace: &str) -> String {
    namespace
        .strip_prefix(PREFIX)
        .unwrap_or(namespace)
        .to_string()
}

fn short_digest(value: &str) -> String {
    // FNV-1a: stable across processes and versions, which std's hasher is not.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in value.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{:010x}", hash & 0xff_ffff_ffff)
}

/// Whether a namespace was made by this call (so it is empty) or was there before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Made {
    Now,
    Before,
}

/// Creates the workspace's namespace if it does not exist. Get-then-create rather than
/// server-side apply, so the api needs no `patch` on namespaces: a patch right would let it
/// relabel every namespace of the cluster (pod-security labels included), not only workspaces.
/// A namespace that exists already, made by an administrator with kubectl, is used as it is.
async fn ensure_namespace(client: &Client, workspace: &str) -> ApiResult<Made> {
    let name = namespace_for(workspace);
    let namespaces = Api::<Namespace>::all(client.clone());
    if namespaces.get_opt(&name).await?.is_some() {
        return Ok(Made::Before);
    }
    let namespace = Namespace {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            labels: Some([(WORKSPACE_LABEL.to_string(), label_value(workspace))].into()),
            annotations: Some(
                [(
                    "agentarea.io/workspace-id".to_string(),
                    workspace.to_string(),
                )]
                .into(),
            ),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    match namespaces.create(&PostParams::default(), &namespace).await {
        // Two first requests of a workspace race; the loser finds it made.
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(Made::Before),
        result => result.map(|_| Made::Now).map_err(Into::into),
    }
}

/// Label values are at most 63 characters of `[A-Za-z0-9._-]`; the full id is in an annotation.
fn label_value(workspace: &str) -> String {
    let value: String = workspace
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(63)
        .collect();
    value
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::namespace_for;

    #[test]
    fn dns_label_workspaces_map_verbatim() {
        assert_eq!(namespace_for("acme"), "ws-acme");
        assert_eq!(namespace_for("team-42"), "ws-team-42");
    }

    #[test]
    fn other_ids_are_slugged_and_kept_apart() {
        let a = namespace_for("Acme");
        let b = namespace_for("acme!");
        assert!(a.starts_with("ws-acme-") && b.starts_with("ws-acme-"));
        assert_ne!(a, b, "different workspaces never share a namespace");
        assert_ne!(a, namespace_for("acme"));
        let long = namespace_for(&"x".repeat(200));
        assert!(long.len() <= 63, "{long}");
        assert!(namespace_for("@@@").starts_with("ws-"));
        assert!(namespace_for("user@example.com").starts_with("ws-user-example-com-"));
    }
}
