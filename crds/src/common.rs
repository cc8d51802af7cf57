//! Types shared by more than one kind: references, secret selectors, conditions and schema helpers.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

/// The API group of every AgentArea resource.
pub const GROUP: &str = "agentarea.io";
/// The one served and stored version.
pub const VERSION: &str = "v1alpha1";

/// Annotation that keeps the name a REST client gave when it is not a valid Kubernetes name.
pub const DISPLAY_NAME_ANNOTATION: &str = "agentarea.io/display-name";
/// Annotation with an MCP server instance's tags (a JSON array of strings), as a REST client gave
/// them in `json_spec.tags`.
pub const TAGS_ANNOTATION: &str = "agentarea.io/tags";
/// Annotation with the identity (JWT `sub` or Kratos identity id) that created the object via the API.
pub const CREATED_BY_ANNOTATION: &str = "agentarea.io/created-by";
/// Annotation with the identity that changed the object last via the API.
pub const UPDATED_BY_ANNOTATION: &str = "agentarea.io/updated-by";
/// Annotation with the creation time to the microsecond, set by whoever creates the object through
/// the product (api, triggers). `metadata.creationTimestamp` has whole seconds only, too coarse to
/// order objects created in a burst newest-first.
pub const CREATED_AT_ANNOTATION: &str = "agentarea.io/created-at";
/// Annotations with the W3C trace context (`traceparent`, `tracestate`) of the request that
/// created the object, so that work done for it later (a Task's run) continues that trace.
pub const TRACEPARENT_ANNOTATION: &str = "agentarea.io/traceparent";
pub const TRACESTATE_ANNOTATION: &str = "agentarea.io/tracestate";
/// Label on a namespace that marks it as an AgentArea workspace, with the workspace id as value.
pub const WORKSPACE_LABEL: &str = "agentarea.io/workspace";
/// Label on objects the operator creates, naming the kind and name of the owner.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// Label on a Task naming its Agent, so a task list can be selected by agent.
pub const AGENT_LABEL: &str = "agentarea.io/agent";
/// Label on a Task naming the Trigger that fired it.
pub const TRIGGER_LABEL: &str = "agentarea.io/trigger";
/// On a Task a trigger with conditions started: why its conditions matched (the rules that
/// held, a model's reason), which the trigger's record of the firing carries.
pub const TRIGGER_DECISION_ANNOTATION: &str = "agentarea.io/trigger-decision";
/// The field manager under which the operator applies children and status.
pub const OPERATOR_FIELD_MANAGER: &str = "agentarea-operator";

/// Pattern of a Kubernetes object name (DNS-1123 subdomain restricted to one label, as most names
/// here also become Service or label values).
pub const NAME_PATTERN: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";

/// A reference to an object of a known kind in the same namespace (workspace).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub struct LocalRef {
    /// Name of the referenced object in the same namespace.
    #[schemars(
        length(min = 1, max = 63),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    )]
    pub name: String,
}

/// A key in a Secret of the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct SecretKeyRef {
    /// Name of the Secret.
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
    )]
    pub name: String,
    /// Key within the Secret's data.
    #[schemars(length(min = 1, max = 253), regex(pattern = r"^[-._a-zA-Z0-9]+$"))]
    pub key: String,
}

/// Condition types and reasons used across kinds, so that every controller and the api speak the
/// same words.
pub mod condition {
    pub const READY: &str = "Ready";
    pub const STATUS_TRUE: &str = "True";
    pub const STATUS_FALSE: &str = "False";
    pub const STATUS_UNKNOWN: &str = "Unknown";
}

/// Builds a `metav1.Condition`, keeping `lastTransitionTime` from `previous` when the status did not
/// change (the apiserver convention: the time says when the status last flipped, not when it was
/// last written).
pub fn condition(
    previous: &[Condition],
    type_: &str,
    status: bool,
    reason: &str,
    message: impl Into<String>,
    observed_generation: Option<i64>,
) -> Condition {
    let status = if status {
        condition::STATUS_TRUE
    } else {
        condition::STATUS_FALSE
    };
    let last_transition_time = previous
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .map(|c| c.last_transition_time.clone())
        .unwrap_or_else(now);
    Condition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: reason.to_string(),
        message: message.into(),
        observed_generation,
        last_transition_time,
    }
}

/// Replaces the condition of the same type in `conditions`, or appends it.
pub fn set_condition(conditions: &mut Vec<Condition>, new: Condition) {
    match conditions.iter_mut().find(|c| c.type_ == new.type_) {
        Some(existing) => *existing = new,
        None => conditions.push(new),
    }
}

/// Whether `conditions` holds `type_` with status `True`.
pub fn is_condition_true(conditions: Option<&Vec<Condition>>, type_: &str) -> bool {
    conditions
        .into_iter()
        .flatten()
        .any(|c| c.type_ == type_ && c.status == condition::STATUS_TRUE)
}

/// The current time as a Kubernetes `Time`.
pub fn now() -> Time {
    Time(Timestamp::now())
}

/// Schema of a free-form JSON object that the apiserver stores as given
/// (`x-kubernetes-preserve-unknown-fields`), for user parameters, tool schemas and results.
pub fn free_form_object(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

/// Schema of any JSON value (object, array, string, number, boolean), stored as given.
pub fn any_value(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

/// Schema of a list of conditions, merged by `type` under server-side apply.
pub fn conditions_schema(generator: &mut SchemaGenerator) -> Schema {
    let item = generator.subschema_for::<Condition>();
    json_schema!({
        "type": "array",
        "items": item,
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["type"],
    })
}

/// Sets the `Ready` condition in `conditions` (see [`condition`] for the transition time).
pub fn set_ready(
    conditions: &mut Vec<Condition>,
    ready: bool,
    reason: &str,
    message: impl Into<String>,
    observed_generation: Option<i64>,
) {
    let new = condition(
        conditions,
        condition::READY,
        ready,
        reason,
        message,
        observed_generation,
    );
    set_condition(conditions, new);
}

/// The trace context headers (`traceparent`, `tracestate`) as annotations.
pub fn trace_context_annotations(
    headers: &std::collections::HashMap<String, String>,
) -> std::collections::BTreeMap<String, String> {
    TRACE_CONTEXT
        .iter()
        .filter_map(|&(header, annotation)| Some((annotation.into(), headers.get(header)?.clone())))
        .collect()
}

/// The trace context headers that `annotations` carry (empty when none).
pub fn trace_context(
    annotations: &std::collections::BTreeMap<String, String>,
) -> std::collections::HashMap<String, String> {
    TRACE_CONTEXT
        .iter()
        .filter_map(|&(header, annotation)| {
            Some((header.into(), annotations.get(annotation)?.clone()))
        })
        .collect()
}

/// Each W3C trace context header and the annotation that keeps it.
const TRACE_CONTEXT: [(&str, &str); 2] = [
    ("traceparent", TRACEPARENT_ANNOTATION),
    ("tracestate", TRACESTATE_ANNOTATION),
];

/// The annotation in which a client-side `kubectl apply` (and Argo CD's default sync) keeps a
/// whole copy of what it applied.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Drops from an object what no cache of ours reads, and what would otherwise be a good part of
/// it: the field sets of its `managedFields` (which fields each manager owns) and the copy a
/// client-side apply keeps in [`LAST_APPLIED_ANNOTATION`]. Which manager wrote, when and to which
/// subresource stay: the api derives `updated_at` and "new" from them. For the `modify` step of
/// a watch whose objects are kept in a store.
pub fn trim_for_store<K: kube::Resource>(object: &mut K) {
    let meta = object.meta_mut();
    for entry in meta.managed_fields.iter_mut().flatten() {
        entry.fields_v1 = None;
    }
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove(LAST_APPLIED_ANNOTATION);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_context_goes_into_annotations_and_back() {
        let parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        type Pairs<'a> = &'a [(&'a str, &'a str)];
        let cases: [(Pairs, Pairs); 3] = [
            (&[], &[]),
            (
                &[("traceparent", parent)],
                &[(TRACEPARENT_ANNOTATION, parent)],
            ),
            (
                &[
                    ("traceparent", parent),
                    ("tracestate", "k=v"),
                    ("baggage", "x=1"),
                ],
                &[
                    (TRACEPARENT_ANNOTATION, parent),
                    (TRACESTATE_ANNOTATION, "k=v"),
                ],
            ),
        ];
        for (headers, annotations) in cases {
            let headers: std::collections::HashMap<String, String> = headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let want: std::collections::BTreeMap<String, String> = annotations
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let got = trace_context_annotations(&headers);
            assert_eq!(got, want);
            let back = trace_context(&got);
            assert_eq!(back.len(), want.len());
            assert!(back.iter().all(|(k, v)| headers.get(k) == Some(v)));
        }
    }

    #[test]
    fn a_stored_object_keeps_who_wrote_it_and_when_but_not_which_fields_nor_a_copy() {
        use k8s_openapi::api::core::v1::ConfigMap;
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::{FieldsV1, ManagedFieldsEntry};
        let entry = |manager: &str| ManagedFieldsEntry {
            manager: Some(manager.into()),
            operation: Some("Apply".into()),
            subresource: Some("status".into()),
            fields_v1: Some(FieldsV1(serde_json::json!({"f:status": {}}))),
            ..Default::default()
        };
        let mut object = ConfigMap::default();
        object.metadata.managed_fields = Some(vec![entry("agentarea-operator"), entry("kubectl")]);
        trim_for_store(&mut object);
        let kept = object.metadata.managed_fields.unwrap();
        assert_eq!(kept.len(), 2);
        for (entry, manager) in kept.iter().zip(["agentarea-operator", "kubectl"]) {
            assert_eq!(entry.manager.as_deref(), Some(manager));
            assert_eq!(entry.subresource.as_deref(), Some("status"));
            assert!(entry.fields_v1.is_none());
        }
        let mut bare = ConfigMap::default();
        trim_for_store(&mut bare);
        assert!(bare.metadata.managed_fields.is_none());

        // A client-side apply's copy goes; the object's own annotations stay.
        let mut applied = ConfigMap::default();
        applied.metadata.annotations = Some(
            [
                (LAST_APPLIED_ANNOTATION, "{\"kind\":\"ConfigMap\"}"),
                ("team", "a"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        );
        trim_for_store(&mut applied);
        let kept = applied.metadata.annotations.unwrap();
        assert_eq!(kept.keys().collect::<Vec<_>>(), ["team"]);
    }
}
