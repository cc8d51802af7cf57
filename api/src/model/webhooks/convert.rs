//! A webhook trigger's key and its Secret, its allowed methods, and a request body as the payload
//! its tasks' input sees.

use axum::http::Method;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::{Resource, ResourceExt};
use serde_json::Value;

use agentarea_crds::Trigger;
use agentarea_crds::common::TRIGGER_LABEL;
use agentarea_crds::trigger::HttpMethod;

/// The key of the HMAC secret in the Secret the api makes for a webhook trigger.
pub const WEBHOOK_SECRET_KEY: &str = "hmac-key";

pub fn method_allowed(allowed: &[HttpMethod], method: &Method) -> bool {
    allowed
        .iter()
        .any(|allowed| method_name(allowed) == method.as_str())
}

/// The HTTP name of a method a webhook can allow.
pub fn method_name(method: &HttpMethod) -> &'static str {
    match method {
        HttpMethod::Get => "GET",
        HttpMethod::Post => "POST",
        HttpMethod::Put => "PUT",
        HttpMethod::Patch => "PATCH",
    }
}

/// The Secret that keeps a webhook trigger's HMAC key, owned by the trigger so it goes when the
/// trigger does.
pub fn webhook_secret(trigger: &Trigger, name: &str, key: &str) -> Secret {
    let owner = OwnerReference {
        api_version: Trigger::api_version(&()).into_owned(),
        kind: Trigger::kind(&()).into_owned(),
        name: trigger.name_any(),
        uid: trigger.uid().unwrap_or_default(),
        controller: Some(false),
        block_owner_deletion: Some(false),
    };
    Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(name.to_string()),
            namespace: trigger.namespace(),
            owner_references: Some(vec![owner]),
            labels: Some([(TRIGGER_LABEL.to_string(), trigger.name_any())].into()),
            ..Default::default()
        },
        data: Some(
            [(
                WEBHOOK_SECRET_KEY.to_string(),
                ByteString(key.as_bytes().to_vec()),
            )]
            .into(),
        ),
        type_: Some("Opaque".into()),
        ..Default::default()
    }
}

/// A new HMAC key: 64 hex digits from two random UUIDs (244 random bits).
pub fn random_key() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// The payload a task's input template sees: the body as JSON, or as text when it is not JSON.
pub fn payload(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}
