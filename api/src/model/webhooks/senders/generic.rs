//! AgentArea's own scheme, for any sender that can compute an HMAC:
//!
//! ```text
//! X-AgentArea-Timestamp: <unix seconds>
//! X-AgentArea-Signature: sha256=<hex of HMAC-SHA256(key, "<timestamp>.<body>")>
//! ```

use agentarea_crds::trigger::Delivery;

use super::parts::{Refusal, Request, Verified, fresh, header, hex_mac, hex_mac_holds};

pub const TIMESTAMP_HEADER: &str = "x-agentarea-timestamp";
pub const SIGNATURE_HEADER: &str = "x-agentarea-signature";

pub fn verify(request: &Request, key: &[u8]) -> Result<Verified, Refusal> {
    let (headers, body) = (request.headers, request.body);
    let timestamp = header(headers, TIMESTAMP_HEADER)?;
    let signature = header(headers, SIGNATURE_HEADER)?;
    fresh(
        timestamp,
        "X-AgentArea-Timestamp",
        request.now,
        request.window,
    )?;
    let hex = signature
        .strip_prefix("sha256=")
        .ok_or("X-AgentArea-Signature must be sha256=<hex>")?;
    if !hex_mac_holds(key, &[timestamp.as_bytes(), b".", body], hex) {
        return Err("X-AgentArea-Signature does not match the body and timestamp".into());
    }
    Ok(Verified {
        delivery: Delivery::default(),
        replay_key: Some(signature.to_string()),
        handshake: None,
    })
}

/// Signs `body` as a sender must (used by clients, tests and the README's example).
pub fn sign(key: &[u8], timestamp: i64, body: &[u8]) -> String {
    let timestamp = timestamp.to_string();
    format!(
        "sha256={}",
        hex_mac(key, &[timestamp.as_bytes(), b".", body])
    )
}
