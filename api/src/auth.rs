//! Who is calling: a JWT bearer token (HS256 with a shared secret, or RS256/ES256 against a JWKS
//! URL) or an Ory Kratos session cookie checked against Kratos' `/sessions/whoami`. The workspace
//! comes from the identity (a claim, or a Kratos identity trait), never from the request.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, jwk::JwkSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::RwLock;

use crate::error::ApiError;
use crate::limits::Limits;
use crate::metrics::AuthFailureLabels;

/// The authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// JWT `sub` or the Kratos identity id.
    pub subject: String,
    /// The workspace the caller works in; maps to one namespace.
    pub workspace: String,
}

/// How the api checks credentials; built once from the configuration.
pub struct Authenticator {
    hs256_secret: Option<Vec<u8>>,
    jwks: Option<JwksCache>,
    issuer: Option<String>,
    audience: Option<String>,
    workspace_claim: String,
    kratos: Option<Kratos>,
    http: reqwest::Client,
    /// Refusals by kind, for `agentarea_api_auth_failures` (never the credential itself).
    pub failures: Family<AuthFailureLabels, Counter>,
}

/// Settings of [`Authenticator`], taken from [`crate::config::Config`].
#[derive(Clone, Debug, Default)]
pub struct AuthSettings {
    pub jwt_secret: Option<String>,
    pub jwks_url: Option<String>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    pub workspace_claim: String,
    pub kratos_url: Option<String>,
    pub kratos_workspace_trait: String,
    pub kratos_cookie: String,
}

struct JwksCache {
    url: String,
    keys: RwLock<Option<(Instant, JwkSet)>>,
}

struct Kratos {
    whoami_url: String,
    workspace_trait: String,
    cookie_name: String,
}

/// JWT claims we read. Extra claims are ignored; the workspace claim is looked up by name.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub exp: u64,
    #[serde(flatten)]
    pub rest: serde_json::Map<String, Value>,
}

const JWKS_TTL: Duration = Duration::from_secs(300);

impl Authenticator {
    pub fn new(settings: AuthSettings) -> anyhow::Result<Self> {
        if settings.jwt_secret.is_none()
            && settings.jwks_url.is_none()
            && settings.kratos_url.is_none()
        {
            anyhow::bail!(
                "no authentication configured: set --jwt-secret, --jwks-url or --kratos-url (every /v1 request needs credentials)"
            );
        }
        Ok(Self {
            hs256_secret: settings.jwt_secret.map(String::into_bytes),
            jwks: settings.jwks_url.map(|url| JwksCache {
                url,
                keys: RwLock::new(None),
            }),
            issuer: settings.issuer,
            audience: settings.audience,
            workspace_claim: settings.workspace_claim,
            kratos: settings.kratos_url.map(|url| Kratos {
                whoami_url: format!("{}/sessions/whoami", url.trim_end_matches('/')),
                workspace_trait: settings.kratos_workspace_trait,
                cookie_name: settings.kratos_cookie,
            }),
            failures: Family::default(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()?,
        })
    }

    /// Authenticates a request from its headers, counting a refusal by its kind.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Identity, ApiError> {
        let (credential, result) = self.verify(headers).await;
        if let Err(error) = &result {
            let kind = failure_kind(credential, error.status);
            self.failures
                .get_or_create(&AuthFailureLabels { kind })
                .inc();
        }
        result
    }

    async fn verify(&self, headers: &HeaderMap) -> (Credential, Result<Identity, ApiError>) {
        if let Some(token) = bearer_token(headers) {
            return (Credential::Bearer, self.verify_jwt(token).await);
        }
        if let Some(kratos) = &self.kratos
            && let Some(cookie) = session_cookie(headers, &kratos.cookie_name)
        {
            let verified = self.verify_kratos_session(kratos, cookie).await;
            return (Credential::Session, verified);
        }
        let missing =
            ApiError::unauthorized("Not authenticated: send a bearer token or a session cookie");
        (Credential::None, Err(missing))
    }

    async fn verify_jwt(&self, token: &str) -> Result<Identity, ApiError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| ApiError::unauthorized(format!("Invalid token: {e}")))?;
        let key = match header.alg {
            Algorithm::HS256 => {
                let secret = self.hs256_secret.as_ref().ok_or_else(|| {
                    ApiError::unauthorized("Invalid token: HS256 tokens are not accepted")
                })?;
                DecodingKey::from_secret(secret)
                    .map_err(|e| ApiError::internal(format!("Bad JWT secret: {e}")))?
            }
            Algorithm::RS256 | Algorithm::ES256 => self.jwks_key(header.kid.as_deref()).await?,
            other => {
                return Err(ApiError::unauthorized(format!(
                    "Invalid token: algorithm {other:?} is not accepted"
                )));
            }
        };
        let mut validation = Validation::new(header.alg);
        validation.leeway = 30;
        match &self.issuer {
            Some(issuer) => validation.set_issuer(&[issuer]),
            None => validation.iss = None,
        }
        match &self.audience {
            Some(audience) => validation.set_audience(&[audience]),
            None => validation.validate_aud = false,
        }
        let data = jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map_err(|e| ApiError::unauthorized(format!("Invalid token: {e}")))?;
        let workspace = data
            .claims
            .rest
            .get(&self.workspace_claim)
            .and_then(Value::as_str)
            .filter(|w| !w.is_empty())
            .ok_or_else(|| {
                ApiError::forbidden(format!(
                    "The token has no '{}' claim naming a workspace",
                    self.workspace_claim
                ))
            })?;
        Ok(Identity {
            subject: data.claims.sub,
            workspace: workspace.to_string(),
        })
    }

    /// The key for `kid` from the JWKS, refreshed every few minutes and when an unknown kid
    /// appears (key rotation).
    async fn jwks_key(&self, kid: Option<&str>) -> Result<DecodingKey, ApiError> {
        let jwks = self.jwks.as_ref().ok_or_else(|| {
            ApiError::unauthorized("Invalid token: asymmetric tokens need a JWKS URL")
        })?;
        let find = |set: &JwkSet| match kid {
            Some(kid) => set.find(kid).cloned(),
            None => set.keys.first().cloned(),
        };
        {
            let cached = jwks.keys.read().await;
            if let Some((fetched, set)) = cached.as_ref()
                && fetched.elapsed() < JWKS_TTL
                && let Some(jwk) = find(set)
            {
                return DecodingKey::from_jwk(&jwk)
                    .map_err(|e| ApiError::unauthorized(format!("Invalid key: {e}")));
            }
        }
        let set: JwkSet = self
            .http
            .get(&jwks.url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| ApiError::service_unavailable(format!("JWKS unavailable: {e}")))?
            .json()
            .await
            .map_err(|e| ApiError::service_unavailable(format!("JWKS unreadable: {e}")))?;
        let jwk = find(&set)
            .ok_or_else(|| ApiError::unauthorized("Invalid token: unknown signing key"))?;
        *jwks.keys.write().await = Some((Instant::now(), set));
        DecodingKey::from_jwk(&jwk).map_err(|e| ApiError::unauthorized(format!("Invalid key: {e}")))
    }

    async fn verify_kratos_session(
        &self,
        kratos: &Kratos,
        cookie: &str,
    ) -> Result<Identity, ApiError> {
        let response = self
            .http
            .get(&kratos.whoami_url)
            .header(header::COOKIE, format!("{}={}", kratos.cookie_name, cookie))
            .header(header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| ApiError::service_unavailable(format!("Kratos unavailable: {e}")))?;
        if response.status() == reqwest::StatusCode::UNAUTHORIZED
            || response.status() == reqwest::StatusCode::FORBIDDEN
        {
            return Err(ApiError::unauthorized("Invalid or expired session"));
        }
        let session: Value = response
            .error_for_status()
            .map_err(|e| ApiError::service_unavailable(format!("Kratos error: {e}")))?
            .json()
            .await
            .map_err(|e| ApiError::service_unavailable(format!("Kratos answer unreadable: {e}")))?;
        if session.get("active").and_then(Value::as_bool) == Some(false) {
            return Err(ApiError::unauthorized("Invalid or expired session"));
        }
        let identity = &session["identity"];
        let subject = identity["id"]
            .as_str()
            .ok_or_else(|| ApiError::unauthorized("Kratos session has no identity"))?;
        let workspace = identity["traits"][&kratos.workspace_trait]
            .as_str()
            .or_else(|| identity["metadata_public"][&kratos.workspace_trait].as_str())
            .filter(|w| !w.is_empty())
            .ok_or_else(|| {
                ApiError::forbidden(format!(
                    "The identity has no '{}' trait naming a workspace",
                    kratos.workspace_trait
                ))
            })?;
        Ok(Identity {
            subject: subject.to_string(),
            workspace: workspace.to_string(),
        })
    }
}

/// What a request presented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Credential {
    None,
    Bearer,
    Session,
}

/// The `kind` label of a refusal.
fn failure_kind(credential: Credential, status: StatusCode) -> &'static str {
    match (credential, status) {
        (_, StatusCode::FORBIDDEN) => "no_workspace",
        (_, status) if status.is_server_error() => "unavailable",
        (Credential::None, _) => "missing",
        (Credential::Bearer, _) => "invalid_token",
        (Credential::Session, _) => "invalid_session",
    }
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn session_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Mints an HS256 token for local use (`agentarea-api token`): the README's run command prints one.
pub fn mint_hs256(
    secret: &str,
    subject: &str,
    workspace_claim: &str,
    workspace: &str,
    issuer: Option<&str>,
    audience: Option<&str>,
    ttl: Duration,
) -> anyhow::Result<String> {
    let exp = jsonwebtoken::get_current_timestamp() + ttl.as_secs();
    let mut rest = serde_json::Map::new();
    rest.insert(workspace_claim.into(), workspace.into());
    if let Some(issuer) = issuer {
        rest.insert("iss".into(), issuer.into());
    }
    if let Some(audience) = audience {
        rest.insert("aud".into(), audience.into());
    }
    rest.insert("iat".into(), jsonwebtoken::get_current_timestamp().into());
    let claims = Claims {
        sub: subject.into(),
        exp,
        rest,
    };
    Ok(jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes())?,
    )?)
}

/// The extractor every `/v1` handler takes: rejects unauthenticated requests with 401. It needs
/// only the authenticator from the router's state, so it knows nothing else of the state.
/// A request's caller: authenticated, then admitted within the caller's and the workspace's
/// request rates ([`Limits`]).
impl<S> FromRequestParts<S> for Identity
where
    S: Send + Sync,
    Arc<Authenticator>: FromRef<S>,
    Arc<Limits>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let caller = Arc::<Authenticator>::from_ref(state)
            .authenticate(&parts.headers)
            .await?;
        Arc::<Limits>::from_ref(state).admit(&caller.workspace, &caller.subject)?;
        Ok(caller)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_is_counted_by_what_was_presented_and_why() {
        let cases = [
            (Credential::None, StatusCode::UNAUTHORIZED, "missing"),
            (
                Credential::Bearer,
                StatusCode::UNAUTHORIZED,
                "invalid_token",
            ),
            (
                Credential::Session,
                StatusCode::UNAUTHORIZED,
                "invalid_session",
            ),
            (Credential::Bearer, StatusCode::FORBIDDEN, "no_workspace"),
            (Credential::Session, StatusCode::FORBIDDEN, "no_workspace"),
            (
                Credential::Bearer,
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
            ),
            (
                Credential::Session,
                StatusCode::INTERNAL_SERVER_ERROR,
                "unavailable",
            ),
        ];
        for (credential, status, want) in cases {
            assert_eq!(
                failure_kind(credential, status),
                want,
                "{credential:?} {status}"
            );
        }
    }
}
