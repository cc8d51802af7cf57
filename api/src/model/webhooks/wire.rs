//! The answer to a webhook request, as its sender receives it.

use serde::Serialize;
use utoipa::ToSchema;

#[derive(Serialize, Debug, ToSchema)]
pub struct WebhookAccepted {
    pub status: String,
    pub task_id: String,
}

impl WebhookAccepted {
    pub fn new(task_id: String) -> Self {
        Self {
            status: "accepted".into(),
            task_id,
        }
    }
}
