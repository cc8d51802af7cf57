//! The signature of a webhook request: checking it, making it, and refusing it a second time
//! inside the replay window.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::error::{ApiError, ApiResult};

pub const TIMESTAMP_HEADER: &str = "x-agentarea-timestamp";
pub const SIGNATURE_HEADER: &str = "x-agentarea-signature";

/// Signatures seen recently, to refuse a replay inside the window.
#[derive(Default)]
pub struct SeenSignatures(Mutex<HashMap<String, Instant>>);

impl SeenSignatures {
    /// Records `signature`; false if it was already seen within `window`.
    pub fn first_time(&self, signature: &str, window: Duration) -> bool {
        let mut seen = self.0.lock().unwrap();
        let now = Instant::now();
        seen.retain(|_, at| now.duration_since(*at) < window);
        seen.insert(signature.to_string(), now).is_none()
    }
}

/// Checks the timestamp and the signature; returns the signature for replay detection.
pub fn verify(headers: &HeaderMap, body: &[u8], key: &[u8], window: Duration) -> ApiResult<String> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| ApiError::unauthorized(format!("Missing {name} header")))
    };
    let timestamp = header(TIMESTAMP_HEADER)?;
    let signature = header(SIGNATURE_HEADER)?;
    let sent: i64 = timestamp
        .parse()
        .map_err(|_| ApiError::unauthorized("X-AgentArea-Timestamp must be unix seconds"))?;
    let now = k8s_openapi::jiff::Timestamp::now().as_second();
    if (now - sent).unsigned_abs() > window.as_secs() {
        return Err(ApiError::unauthorized(
            "Request timestamp is outside the replay window",
        ));
    }
    let hex_signature = signature
        .strip_prefix("sha256=")
        .ok_or_else(|| ApiError::unauthorized("X-AgentArea-Signature must be sha256=<hex>"))?;
    let given =
        hex::decode(hex_signature).map_err(|_| ApiError::unauthorized("Signature is not hex"))?;
    mac(key, timestamp, body)
        .verify_slice(&given)
        .map_err(|_| ApiError::unauthorized("Invalid signature"))?;
    Ok(signature.to_string())
}

/// Signs `body` as a sender must (used by clients, tests and the README's example).
pub fn sign(key: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mac = mac(key, &timestamp.to_string(), body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn mac(key: &[u8], timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_request_verifies_and_a_tampered_one_does_not() {
        let key = b"k3y";
        let now = k8s_openapi::jiff::Timestamp::now().as_second();
        let mut headers = HeaderMap::new();
        headers.insert(TIMESTAMP_HEADER, now.to_string().parse().unwrap());
        headers.insert(SIGNATURE_HEADER, sign(key, now, b"{}").parse().unwrap());
        assert!(verify(&headers, b"{}", key, Duration::from_secs(300)).is_ok());
        assert!(verify(&headers, b"{\"x\":1}", key, Duration::from_secs(300)).is_err());
        assert!(verify(&headers, b"{}", b"other", Duration::from_secs(300)).is_err());
    }

    #[test]
    fn old_timestamps_are_refused() {
        let key = b"k3y";
        let then = k8s_openapi::jiff::Timestamp::now().as_second() - 3600;
        let mut headers = HeaderMap::new();
        headers.insert(TIMESTAMP_HEADER, then.to_string().parse().unwrap());
        headers.insert(SIGNATURE_HEADER, sign(key, then, b"{}").parse().unwrap());
        let error = verify(&headers, b"{}", key, Duration::from_secs(300)).unwrap_err();
        assert!(error.detail.contains("replay window"));
    }

    #[test]
    fn a_signature_is_accepted_once_per_window() {
        let seen = SeenSignatures::default();
        let window = Duration::from_secs(300);
        assert!(seen.first_time("sha256=ab", window));
        assert!(!seen.first_time("sha256=ab", window));
        assert!(seen.first_time("sha256=cd", window));
    }
}
