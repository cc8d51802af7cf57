//! Every `/v1` route but the webhook one needs credentials; refusals are 401 (403 for a token
//! that names no workspace) in the error shape.

use axum::body::Body;
use axum::http::{Request, header};
use base64::Engine as _;
use serde_json::json;
use utoipa::OpenApi;

use super::*;
use crate::docs::ApiDoc;

fn with_authorization(value: &str) -> Request<Body> {
    Request::builder()
        .uri("/v1/agents")
        .header(header::AUTHORIZATION, value)
        .body(Body::empty())
        .unwrap()
}

/// An HS256 token over `claims`, signed with `secret`.
fn signed(claims: serde_json::Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()).unwrap(),
    )
    .unwrap()
}

fn now() -> i64 {
    k8s_openapi::jiff::Timestamp::now().as_second()
}

#[tokio::test]
async fn a_request_without_credentials_is_401_in_the_error_shape() {
    let request = Request::builder()
        .uri("/v1/agents")
        .body(Body::empty())
        .unwrap();
    let (status, _, body) = call(app(), request).await;
    assert_eq!(status, 401);
    assert_eq!(
        body,
        json!({
            "detail": "Not authenticated: send a bearer token or a session cookie",
            "status_code": 401
        })
    );
}

#[tokio::test]
async fn a_scheme_other_than_bearer_is_no_credential() {
    let answer = call(app(), with_authorization("Basic YWxpY2U6c2VjcmV0")).await;
    assert_error(&answer, 401, "Not authenticated");
}

#[tokio::test]
async fn a_malformed_token_is_401() {
    let answer = call(app(), with_authorization("Bearer not.a.token")).await;
    assert_error(&answer, 401, "Invalid token");
}

#[tokio::test]
async fn an_expired_token_is_401() {
    let expired = signed(
        json!({ "sub": "alice", "workspace": WORKSPACE, "exp": now() - 3600 }),
        SECRET,
    );
    let answer = call(app(), with_authorization(&format!("Bearer {expired}"))).await;
    assert_error(&answer, 401, "Invalid token: ExpiredSignature");
}

#[tokio::test]
async fn a_token_signed_with_another_key_is_401() {
    let forged = signed(
        json!({ "sub": "alice", "workspace": WORKSPACE, "exp": now() + 60 }),
        "another-secret",
    );
    let answer = call(app(), with_authorization(&format!("Bearer {forged}"))).await;
    assert_error(&answer, 401, "Invalid token: InvalidSignature");
}

#[tokio::test]
async fn an_asymmetric_token_without_a_jwks_url_is_401() {
    let encode = |json: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
    let token = format!(
        "{}.{}.c2lnbmF0dXJl",
        encode(r#"{"alg":"ES256","typ":"JWT"}"#),
        encode(r#"{"sub":"alice"}"#)
    );
    let answer = call(app(), with_authorization(&format!("Bearer {token}"))).await;
    assert_error(&answer, 401, "asymmetric tokens need a JWKS URL");
}

#[tokio::test]
async fn a_token_naming_no_workspace_is_403() {
    let token = signed(json!({ "sub": "alice", "exp": now() + 60 }), SECRET);
    let answer = call(app(), with_authorization(&format!("Bearer {token}"))).await;
    assert_error(&answer, 403, "no 'workspace' claim");
}

#[tokio::test]
async fn a_valid_token_reaches_the_handler() {
    let (status, headers, body) = call(app(), get("/v1/agents")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!([]));
    assert_eq!(headers["x-total-count"], "0");
}

/// Authentication comes before everything else a route checks: an unauthenticated request with a
/// bad body or an unknown id learns nothing but 401.
#[tokio::test]
async fn every_documented_v1_route_refuses_unauthenticated_requests() {
    let spec = ApiDoc::openapi();
    let mut checked = 0;
    for (path, item) in &spec.paths.paths {
        if path.starts_with("/v1/webhooks/") {
            continue;
        }
        let uri = path
            .replace("{id}", "some-id")
            .replace("{agent_id}", "some-agent")
            .replace("{task_id}", "some-task");
        let methods = [
            ("GET", item.get.is_some()),
            ("POST", item.post.is_some()),
            ("PUT", item.put.is_some()),
            ("PATCH", item.patch.is_some()),
            ("DELETE", item.delete.is_some()),
        ];
        for (method, _) in methods.iter().filter(|(_, documented)| *documented) {
            let request = Request::builder()
                .method(*method)
                .uri(&uri)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from("{"))
                .unwrap();
            let answer = call(app(), request).await;
            assert_eq!(answer.0, 401, "{method} {uri}: {}", answer.2);
            assert_error(&answer, 401, "Not authenticated");
            checked += 1;
        }
    }
    assert!(checked >= 40, "only {checked} operations documented");
}

#[tokio::test]
async fn the_docs_and_the_webhook_endpoint_need_no_bearer_token() {
    for path in ["/openapi.json", "/docs", "/docs/swagger-ui.css"] {
        let request = Request::builder().uri(path).body(Body::empty()).unwrap();
        let (status, _, _) = call(app(), request).await;
        assert_eq!(status, 200, "{path}");
    }
    let request = Request::builder()
        .method("POST")
        .uri("/v1/webhooks/unknown")
        .body(Body::from("{}"))
        .unwrap();
    assert_error(&call(app(), request).await, 404, "Webhook not found");
}
