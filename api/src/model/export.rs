//! Objects as manifests a Git repository can take: what `kubectl apply` in another workspace
//! needs to make the same object, and nothing the cluster added. No status, no server-set
//! metadata (uid, resourceVersion, generation, managedFields, timestamps, the namespace), no
//! marks of who wrote it or of the GitOps engine that applied it; references to other objects are
//! by name already (the CRDs name them so), and Secrets are referenced, never exported.

use serde_json::{Map, Value};

use agentarea_crds::common::{
    CREATED_AT_ANNOTATION, CREATED_BY_ANNOTATION, LAST_APPLIED_ANNOTATION, TRACEPARENT_ANNOTATION,
    TRACESTATE_ANNOTATION, TRIGGER_DECISION_ANNOTATION, UPDATED_BY_ANNOTATION,
};

/// Annotations the cluster, the api or a pipeline adds: about this copy, not the object.
const DROPPED_ANNOTATIONS: &[&str] = &[
    CREATED_AT_ANNOTATION,
    CREATED_BY_ANNOTATION,
    UPDATED_BY_ANNOTATION,
    TRACEPARENT_ANNOTATION,
    TRACESTATE_ANNOTATION,
    TRIGGER_DECISION_ANNOTATION,
    LAST_APPLIED_ANNOTATION,
    "argocd.argoproj.io/tracking-id",
];

/// Label prefixes of the GitOps engines' marks: the repository that takes the manifest gets its
/// engine's own.
const DROPPED_LABEL_PREFIXES: &[&str] = &[
    "kustomize.toolkit.fluxcd.io/",
    "helm.toolkit.fluxcd.io/",
    "argocd.argoproj.io/",
];

/// The manifest of `object` (a custom resource as the apiserver serializes it).
pub fn manifest(object: &Value) -> Value {
    let meta = &object["metadata"];
    let mut metadata = Map::new();
    metadata.insert("name".into(), meta["name"].clone());
    let labels = kept(&meta["labels"], |key| {
        !DROPPED_LABEL_PREFIXES
            .iter()
            .any(|prefix| key.starts_with(prefix))
    });
    let annotations = kept(&meta["annotations"], |key| {
        !DROPPED_ANNOTATIONS.contains(&key)
    });
    for (field, kept) in [("labels", labels), ("annotations", annotations)] {
        if !kept.is_empty() {
            metadata.insert(field.into(), Value::Object(kept));
        }
    }
    let mut manifest = Map::new();
    manifest.insert("apiVersion".into(), object["apiVersion"].clone());
    manifest.insert("kind".into(), object["kind"].clone());
    manifest.insert("metadata".into(), Value::Object(metadata));
    if let Some(spec) = object.get("spec") {
        manifest.insert("spec".into(), spec.clone());
    }
    Value::Object(manifest)
}

fn kept(map: &Value, keep: impl Fn(&str) -> bool) -> Map<String, Value> {
    map.as_object()
        .map(|map| {
            map.iter()
                .filter(|(key, _)| keep(key))
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// Manifests as one YAML stream, each a document.
pub fn yaml_documents(manifests: &[Value]) -> String {
    manifests
        .iter()
        .map(|manifest| serde_yaml::to_string(manifest).unwrap_or_default())
        .map(|document| format!("---\n{document}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_manifest_keeps_what_makes_the_object_and_drops_what_the_cluster_added() {
        // (the object as stored, its manifest)
        let cases = [
            (
                json!({
                    "apiVersion": "agentarea.io/v1alpha1", "kind": "Agent",
                    "metadata": {
                        "name": "helper", "namespace": "ws-a", "uid": "u-1",
                        "resourceVersion": "42", "generation": 3,
                        "creationTimestamp": "2026-01-01T00:00:00Z",
                        "managedFields": [{"manager": "agentarea-api"}],
                        "labels": {"team": "support",
                                   "kustomize.toolkit.fluxcd.io/name": "agents",
                                   "kustomize.toolkit.fluxcd.io/namespace": "ws-a"},
                        "annotations": {"agentarea.io/display-name": "Helper",
                                        "agentarea.io/created-by": "alice",
                                        "agentarea.io/updated-by": "bob",
                                        "kubectl.kubernetes.io/last-applied-configuration": "{}"},
                        "finalizers": ["agentarea.io/cleanup"],
                    },
                    "spec": {"instruction": "Be brief.", "skills": ["tone"]},
                    "status": {"conditions": []},
                }),
                json!({
                    "apiVersion": "agentarea.io/v1alpha1", "kind": "Agent",
                    "metadata": {"name": "helper", "labels": {"team": "support"},
                                 "annotations": {"agentarea.io/display-name": "Helper"}},
                    "spec": {"instruction": "Be brief.", "skills": ["tone"]},
                }),
            ),
            (
                json!({
                    "apiVersion": "agentarea.io/v1alpha1", "kind": "Skill",
                    "metadata": {"name": "tone", "namespace": "ws-a",
                                 "labels": {"argocd.argoproj.io/instance": "team"},
                                 "annotations": {"argocd.argoproj.io/tracking-id": "team:x"}},
                    "spec": {"instructions": "Be kind."},
                }),
                json!({
                    "apiVersion": "agentarea.io/v1alpha1", "kind": "Skill",
                    "metadata": {"name": "tone"},
                    "spec": {"instructions": "Be kind."},
                }),
            ),
        ];
        for (stored, expected) in cases {
            assert_eq!(manifest(&stored), expected);
        }
    }

    #[test]
    fn manifests_are_one_yaml_stream() {
        let stream = yaml_documents(&[
            json!({"kind": "Skill", "metadata": {"name": "a"}}),
            json!({"kind": "Agent", "metadata": {"name": "b"}}),
        ]);
        assert_eq!(stream.matches("---\n").count(), 2);
        let documents: Vec<Value> = serde_yaml::Deserializer::from_str(&stream)
            .map(|d| serde::Deserialize::deserialize(d).unwrap())
            .collect();
        assert_eq!(documents[1]["metadata"]["name"], "b");
    }
}
