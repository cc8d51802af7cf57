//! Objects a GitOps engine owns: what Flux, Argo CD or another pipeline applied from Git is
//! changed in Git, not through the api. The engine would put back any change made here at its
//! next reconcile (or report drift forever), so the api refuses PATCH and DELETE of such an
//! object with a 409 naming the owner, and every response says who manages it (`managed_by`).
//!
//! Who owns an object is read from the marks each engine leaves on what it applies:
//! - Flux's kustomize-controller: labels `kustomize.toolkit.fluxcd.io/name` and `/namespace`;
//! - Flux's helm-controller: labels `helm.toolkit.fluxcd.io/name` and `/namespace`;
//! - Argo CD: the annotation `argocd.argoproj.io/tracking-id` (`<app>:<group>/<kind>:<ns>/<name>`,
//!   the default tracking since Argo CD 3) or the label `argocd.argoproj.io/instance`;
//! - any other pipeline: our own label `agentarea.io/managed-by: gitops`.
//!
//! Helm's own `app.kubernetes.io/managed-by: Helm` is not one: a chart installed by hand is
//! edited through the api like anything else.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// Our label for objects a pipeline other than Flux or Argo CD applies.
pub const MANAGED_BY_LABEL: &str = "agentarea.io/managed-by";
pub const MANAGED_BY_GITOPS: &str = "gitops";

const FLUX_KUSTOMIZATION: (&str, &str) = (
    "kustomize.toolkit.fluxcd.io/name",
    "kustomize.toolkit.fluxcd.io/namespace",
);
const FLUX_HELM_RELEASE: (&str, &str) = (
    "helm.toolkit.fluxcd.io/name",
    "helm.toolkit.fluxcd.io/namespace",
);
const ARGO_TRACKING_ID: &str = "argocd.argoproj.io/tracking-id";
const ARGO_INSTANCE: &str = "argocd.argoproj.io/instance";

/// The engine and the object of it that applies ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitOwner {
    /// "Flux Kustomization", "Flux HelmRelease", "Argo CD Application", "a GitOps pipeline".
    pub engine: &'static str,
    /// `namespace/name` of the engine's object, where the marks name it.
    pub source: Option<String>,
}

impl fmt::Display for GitOwner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Some(source) => write!(f, "{} {source}", self.engine),
            None => f.write_str(self.engine),
        }
    }
}

impl GitOwner {
    /// The 409's `detail`.
    pub fn refusal(&self) -> String {
        format!("managed by {self}: change it in Git")
    }
}

/// Who applies the object from Git, as responses say it (`managed_by`).
pub fn managed_by(meta: &ObjectMeta) -> Option<String> {
    owner_of(meta).map(|owner| owner.to_string())
}

pub fn owner_of(meta: &ObjectMeta) -> Option<GitOwner> {
    let none = BTreeMap::new();
    git_owner(
        meta.labels.as_ref().unwrap_or(&none),
        meta.annotations.as_ref().unwrap_or(&none),
    )
}

/// Who applies an object with these labels and annotations from Git, if anyone.
pub fn git_owner(
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
) -> Option<GitOwner> {
    let flux = |engine, (name, namespace): (&str, &str)| {
        let name = labels.get(name)?;
        let source = match labels.get(namespace) {
            Some(namespace) => format!("{namespace}/{name}"),
            None => name.clone(),
        };
        Some(GitOwner {
            engine,
            source: Some(source),
        })
    };
    flux("Flux Kustomization", FLUX_KUSTOMIZATION)
        .or_else(|| flux("Flux HelmRelease", FLUX_HELM_RELEASE))
        .or_else(|| argo_cd(labels, annotations))
        .or_else(|| {
            (labels.get(MANAGED_BY_LABEL).map(String::as_str) == Some(MANAGED_BY_GITOPS)).then_some(
                GitOwner {
                    engine: "a GitOps pipeline",
                    source: None,
                },
            )
        })
}

fn argo_cd(
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
) -> Option<GitOwner> {
    // `<app>:<group>/<kind>:<namespace>/<name>`; the application may be `<namespace>_<app>` when
    // Argo CD runs applications in any namespace.
    let application = annotations
        .get(ARGO_TRACKING_ID)
        .and_then(|id| id.split_once(':').map(|(app, _)| app.to_string()))
        .filter(|app| !app.is_empty())
        .or_else(|| labels.get(ARGO_INSTANCE).cloned())?;
    Some(GitOwner {
        engine: "Argo CD Application",
        source: Some(application.replacen('_', "/", 1)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_engine_that_applied_an_object_is_read_from_its_marks() {
        type Pairs = &'static [(&'static str, &'static str)];
        // (labels, annotations, the owner as the refusal names it)
        let cases: &[(Pairs, Pairs, Option<&str>)] = &[
            (&[], &[], None),
            (
                &[
                    ("kustomize.toolkit.fluxcd.io/name", "agents"),
                    ("kustomize.toolkit.fluxcd.io/namespace", "ws-team-a"),
                ],
                &[],
                Some("managed by Flux Kustomization ws-team-a/agents: change it in Git"),
            ),
            (
                &[("kustomize.toolkit.fluxcd.io/name", "agents")],
                &[],
                Some("managed by Flux Kustomization agents: change it in Git"),
            ),
            (
                &[
                    ("helm.toolkit.fluxcd.io/name", "bots"),
                    ("helm.toolkit.fluxcd.io/namespace", "flux-system"),
                ],
                &[],
                Some("managed by Flux HelmRelease flux-system/bots: change it in Git"),
            ),
            (
                &[],
                &[(
                    "argocd.argoproj.io/tracking-id",
                    "team-a:agentarea.io/Agent:ws-team-a/helper",
                )],
                Some("managed by Argo CD Application team-a: change it in Git"),
            ),
            (
                &[],
                &[(
                    "argocd.argoproj.io/tracking-id",
                    "apps_team-a:agentarea.io/Agent:ws-team-a/helper",
                )],
                Some("managed by Argo CD Application apps/team-a: change it in Git"),
            ),
            (
                &[("argocd.argoproj.io/instance", "team-a")],
                &[],
                Some("managed by Argo CD Application team-a: change it in Git"),
            ),
            (
                &[("agentarea.io/managed-by", "gitops")],
                &[],
                Some("managed by a GitOps pipeline: change it in Git"),
            ),
            // Not Git: a chart installed by hand, our own other values, unrelated annotations.
            (&[("app.kubernetes.io/managed-by", "Helm")], &[], None),
            (&[("agentarea.io/managed-by", "console")], &[], None),
            (&[("app.kubernetes.io/instance", "team-a")], &[], None),
            (&[], &[("argocd.argoproj.io/tracking-id", ":x")], None),
        ];
        for (labels, annotations, expected) in cases {
            let owner = git_owner(&map(labels), &map(annotations));
            assert_eq!(
                owner.map(|o| o.refusal()).as_deref(),
                *expected,
                "{labels:?} {annotations:?}"
            );
        }
    }
}
