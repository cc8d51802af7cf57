//! The answer to a webhook request, as its sender receives it.

use serde::Serialize;
use utoipa::ToSchema;

/// `accepted` (202) with the task it started, or `skipped` (200) with why the trigger's
/// conditions held it back: a sender is told its delivery arrived either way, so it does not
/// retry one that was meant to start nothing.
#[derive(Serialize, Debug, ToSchema)]
pub struct WebhookAccepted {
    pub status: String,
    pub task_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl WebhookAccepted {
    pub fn new(task_id: String) -> Self {
        Self {
            status: "accepted".into(),
            task_id: Some(task_id),
            reason: None,
        }
    }

    pub fn skipped(reason: String) -> Self {
        Self {
            status: "skipped".into(),
            task_id: None,
            reason: Some(reason),
        }
    }
}
