//! What both of our MCP servers (the bridge and the gateway) put around rmcp's streamable HTTP
//! service.

use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

/// A session's DELETE answered 200, as the reference servers answer it. rmcp answers 202, which
/// the reference clients take for a failure ("Session termination failed: 202").
pub async fn session_end_answered_ok(request: Request, next: Next) -> Response {
    let ending = request.method() == Method::DELETE;
    let mut response = next.run(request).await;
    if ending {
        *response.status_mut() = delete_status(response.status());
    }
    response
}

/// The status a DELETE is answered with, given rmcp's.
fn delete_status(rmcp: StatusCode) -> StatusCode {
    if rmcp == StatusCode::ACCEPTED {
        StatusCode::OK
    } else {
        rmcp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_accepted_delete_becomes_ok() {
        for (rmcp, answered) in [
            (StatusCode::ACCEPTED, StatusCode::OK),
            (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND),
            (StatusCode::BAD_REQUEST, StatusCode::BAD_REQUEST),
            (
                StatusCode::METHOD_NOT_ALLOWED,
                StatusCode::METHOD_NOT_ALLOWED,
            ),
        ] {
            assert_eq!(delete_status(rmcp), answered, "{rmcp}");
        }
    }
}
