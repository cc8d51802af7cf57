//! The one error type of the api. Every error leaves as `{"detail": "...", "status_code": N}`,
//! whether a handler, an extractor, the router (404/405), a body limit (413) or the apiserver
//! (conflict, forbidden, invalid) produced it.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub detail: String,
    /// The `Allow` header of a 405: the methods the resource does take.
    pub allow: Option<String>,
    /// The `Retry-After` of a 429 or 503: when to try again.
    pub retry_after: Option<std::time::Duration>,
}

/// The wire shape of every error.
#[derive(Serialize, Debug, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What went wrong, for a person.
    #[schema(example = "Agent not found")]
    pub detail: String,
    /// The HTTP status code, repeated for clients that only read the body.
    #[schema(example = 404)]
    pub status_code: u16,
}

impl ApiError {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: detail.into(),
            allow: None,
            retry_after: None,
        }
    }
    /// 429 with the `Retry-After` HTTP gives it.
    pub fn too_many_requests(detail: impl Into<String>, retry_after: std::time::Duration) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, detail)
        }
    }
    /// 405 with the `Allow` header HTTP requires of it.
    pub fn method_not_allowed(detail: impl Into<String>, allowed: &[&str]) -> Self {
        Self {
            allow: Some(allowed.join(", ")),
            ..Self::new(StatusCode::METHOD_NOT_ALLOWED, detail)
        }
    }
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, detail)
    }
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, detail)
    }
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, detail)
    }
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, detail)
    }
    pub fn unprocessable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, detail)
    }
    pub fn service_unavailable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, detail)
    }
    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, detail)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            detail: self.detail,
            status_code: self.status.as_u16(),
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(allow) = self.allow.and_then(|a| HeaderValue::from_str(&a).ok()) {
            response.headers_mut().insert(header::ALLOW, allow);
        }
        if let Some(after) = self.retry_after {
            let seconds = after.as_secs().max(1);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.status, self.detail)
    }
}

impl std::error::Error for ApiError {}

/// Maps an apiserver answer onto the client's status code. The apiserver's message is kept for
/// validation errors (it names the field); for the rest, the message is ours, so that internal
/// names (namespaces, resource versions) do not leak.
impl From<kube::Error> for ApiError {
    fn from(error: kube::Error) -> Self {
        match &error {
            kube::Error::Api(status) => match status.code {
                404 => Self::not_found("Not found"),
                409 if status.reason == "AlreadyExists" => Self::conflict(format!(
                    "A resource with this name already exists: {}",
                    status.message
                )),
                409 => Self::conflict("The resource was changed by someone else; retry"),
                422 | 400 => Self::unprocessable(strip_object_prefix(&status.message)),
                403 => {
                    quota_refusal(&status.message).unwrap_or_else(|| Self::forbidden("Forbidden"))
                }
                429 => Self::too_many_requests(
                    "Too many requests; retry later",
                    std::time::Duration::from_secs(1),
                ),
                code if (500..600).contains(&code) => {
                    tracing::error!(%error, "apiserver error");
                    Self::service_unavailable("The cluster is unavailable; retry later")
                }
                _ => {
                    tracing::error!(%error, "unexpected apiserver answer");
                    Self::internal("Internal error")
                }
            },
            _ => {
                tracing::error!(%error, "apiserver unreachable");
                Self::service_unavailable("The cluster is unavailable; retry later")
            }
        }
    }
}

/// The workspace's ResourceQuota refused a create: say which limit, as the workspace can do
/// something about it (the quota's name and the namespace are left out).
fn quota_refusal(message: &str) -> Option<ApiError> {
    if message.contains("status unknown for quota") {
        return Some(ApiError::service_unavailable(
            "The workspace is still being set up; retry shortly",
        ));
    }
    let (_, rest) = message.split_once("exceeded quota: ")?;
    let limited = rest
        .split_once("limited: ")
        .map_or("", |(_, limited)| limited.trim());
    let detail = if limited.is_empty() {
        "The workspace's quota is reached".to_string()
    } else {
        let limits = limited.replace('=', " at most ");
        format!("The workspace's quota is reached: {limits}")
    };
    Some(ApiError::forbidden(detail))
}

/// `Agent.agentarea.io "x" is invalid: spec.model.endpoint: ...` -> `spec.model.endpoint: ...`
fn strip_object_prefix(message: &str) -> String {
    match message.split_once(" is invalid: ") {
        Some((_, rest)) => rest.to_string(),
        None => message.to_string(),
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;

    use super::ApiError;

    fn apiserver_answer(code: u16, reason: &str, message: &str) -> ApiError {
        let status = serde_json::from_value(serde_json::json!({
            "status": "Failure", "code": code, "reason": reason, "message": message,
        }))
        .expect("a Status");
        ApiError::from(kube::Error::Api(Box::new(status)))
    }

    #[test]
    fn apiserver_answers_map_onto_the_clients_status_codes() {
        let cases = [
            (404, "NotFound", "tasks \"x\" not found", 404, "Not found"),
            (
                409,
                "AlreadyExists",
                "agents \"a\" already exists",
                409,
                "A resource with this name already exists: agents \"a\" already exists",
            ),
            (
                409,
                "Conflict",
                "the object has been modified",
                409,
                "The resource was changed by someone else; retry",
            ),
            (
                422,
                "Invalid",
                "Agent.agentarea.io \"a\" is invalid: spec.model.endpoint: Invalid value",
                422,
                "spec.model.endpoint: Invalid value",
            ),
            (400, "BadRequest", "bad", 422, "bad"),
            (
                403,
                "Forbidden",
                "ws-acme is forbidden to system:serviceaccount",
                403,
                "Forbidden",
            ),
            (
                403,
                "Forbidden",
                "agents.agentarea.io \"c\" is forbidden: exceeded quota: agentarea, requested: \
                 count/agents.agentarea.io=1, used: count/agents.agentarea.io=2, limited: \
                 count/agents.agentarea.io=2",
                403,
                "The workspace's quota is reached: count/agents.agentarea.io at most 2",
            ),
            (
                403,
                "Forbidden",
                "tasks.agentarea.io \"t\" is forbidden: status unknown for quota: agentarea",
                503,
                "The workspace is still being set up; retry shortly",
            ),
            (
                429,
                "TooManyRequests",
                "slow down",
                429,
                "Too many requests; retry later",
            ),
            (
                500,
                "InternalError",
                "etcd leader changed",
                503,
                "The cluster is unavailable; retry later",
            ),
            (418, "Teapot", "namespace ws-acme", 500, "Internal error"),
        ];
        for (code, reason, message, status, detail) in cases {
            let error = apiserver_answer(code, reason, message);
            assert_eq!(error.status.as_u16(), status, "{code} {reason}");
            assert_eq!(error.detail, detail, "{code} {reason}");
        }
    }

    #[tokio::test]
    async fn a_405_names_the_methods_that_are_allowed() {
        let cases = [
            (vec!["POST"], Some("POST")),
            (vec!["GET", "PUT"], Some("GET, PUT")),
        ];
        for (allowed, header) in cases {
            let response =
                ApiError::method_not_allowed("Method DELETE not allowed", &allowed).into_response();
            assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
            let allow = response.headers().get(axum::http::header::ALLOW);
            assert_eq!(allow.and_then(|v| v.to_str().ok()), header);
            let body = axum::body::to_bytes(response.into_body(), 1024)
                .await
                .unwrap();
            let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(body["status_code"], 405);
        }
        let plain = ApiError::not_found("Not found").into_response();
        assert!(plain.headers().get(axum::http::header::ALLOW).is_none());
    }

    #[test]
    fn an_unreachable_apiserver_is_503_without_its_transport_error() {
        let error = ApiError::from(kube::Error::Service(
            "connection refused to 10.0.0.1".into(),
        ));
        assert_eq!(error.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(!error.detail.contains("10.0.0.1"));
    }
}
