//! `GET /v1/me`: who the credentials say the caller is. The console shows it, and a client
//! checks a token with it before doing anything else.

use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Identity;
use crate::error::ErrorBody;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/me", get(who_am_i))
}

/// The caller, as its credentials name it.
#[derive(Serialize, Debug, ToSchema)]
pub struct MeResponse {
    /// The token's `sub`, or the Kratos identity id.
    pub subject: String,
    /// The workspace every request of the caller works in.
    pub workspace: String,
}

/// Who the credentials belong to, and their workspace.
#[utoipa::path(get, path = "/v1/me", tag = "workspace",
    responses((status = 200, body = MeResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn who_am_i(caller: Identity) -> Json<MeResponse> {
    Json(MeResponse {
        subject: caller.subject,
        workspace: caller.workspace,
    })
}
