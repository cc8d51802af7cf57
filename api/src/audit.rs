//! Who wrote what through the api. Every write a caller makes is attributable: the object says
//! who created it (`agentarea.io/created-by`) and who changed it last (`agentarea.io/updated-by`),
//! and each write that succeeded is one structured log line on the `agentarea::audit` target,
//! naming the caller's subject and workspace, the verb, and the object. Never a credential: the
//! identity is what the token or session proved, not the token.

use kube::{Resource, ResourceExt};
use serde_json::{Value, json};

use agentarea_crds::common::UPDATED_BY_ANNOTATION;

use crate::auth::Identity;

/// The log target of audit lines, so they can be routed apart from the rest.
pub const TARGET: &str = "agentarea::audit";

/// What was done to an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    Create,
    Update,
    Delete,
}

impl Verb {
    fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Delete => "delete",
        }
    }
}

/// `patch` with `actor` recorded as the object's last writer.
pub fn attributed(mut patch: Value, actor: &Identity) -> Value {
    if !patch.is_object() {
        return patch;
    }
    let annotations = json!({ UPDATED_BY_ANNOTATION: actor.subject });
    match patch.pointer_mut("/metadata/annotations") {
        Some(Value::Object(existing)) => {
            existing.insert(UPDATED_BY_ANNOTATION.into(), json!(actor.subject));
        }
        _ => match patch.get_mut("metadata") {
            Some(Value::Object(metadata)) => {
                metadata.insert("annotations".into(), annotations);
            }
            _ => {
                patch["metadata"] = json!({ "annotations": annotations });
            }
        },
    }
    patch
}

/// The audit line of a write that succeeded.
pub fn written<K: Resource<DynamicType = ()>>(actor: &Identity, verb: Verb, object: &K) {
    tracing::info!(
        target: TARGET,
        subject = %actor.subject,
        workspace = %actor.workspace,
        verb = %verb.as_str(),
        kind = %K::kind(&()),
        namespace = %object.namespace().unwrap_or_default(),
        name = %object.name_any(),
        uid = %object.uid().unwrap_or_default(),
        "write"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patch_records_its_writer_beside_what_it_sets() {
        let actor = Identity {
            subject: "ada".into(),
            workspace: "acme".into(),
        };
        let cases = [
            (
                json!({"spec": {"paused": true}}),
                json!({"spec": {"paused": true}, "metadata": {"annotations": {UPDATED_BY_ANNOTATION: "ada"}}}),
            ),
            (
                json!({"metadata": {"labels": {"a": "b"}}}),
                json!({"metadata": {"labels": {"a": "b"}, "annotations": {UPDATED_BY_ANNOTATION: "ada"}}}),
            ),
            (
                json!({"metadata": {"annotations": {"x": "1"}}, "spec": {}}),
                json!({"metadata": {"annotations": {"x": "1", UPDATED_BY_ANNOTATION: "ada"}}, "spec": {}}),
            ),
        ];
        for (patch, want) in cases {
            assert_eq!(attributed(patch.clone(), &actor), want, "{patch}");
        }
    }
}
