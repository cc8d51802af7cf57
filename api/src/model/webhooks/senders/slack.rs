//! Slack: `X-Slack-Signature: v0=<hex HMAC-SHA256(signing secret, "v0:<ts>:<body>")>` with
//! `X-Slack-Request-Timestamp: <ts>`, refused past the window (Slack says five minutes, the
//! default). The `url_verification` request Slack sends when an Events API URL is set is answered
//! with its `challenge`.

use serde_json::json;

use agentarea_crds::trigger::Delivery;

use super::parts::{Refusal, Request, Verified, fresh, header, hex_mac_holds, text_at};

pub fn verify(request: &Request, secret: &[u8]) -> Result<Verified, Refusal> {
    let (headers, body, payload) = (request.headers, request.body, request.payload);
    let timestamp = header(headers, "x-slack-request-timestamp")?;
    let signature = header(headers, "x-slack-signature")?;
    fresh(
        timestamp,
        "X-Slack-Request-Timestamp",
        request.now,
        request.window,
    )?;
    let hex = signature
        .strip_prefix("v0=")
        .ok_or("X-Slack-Signature must be v0=<hex>")?;
    if !hex_mac_holds(secret, &[b"v0:", timestamp.as_bytes(), b":", body], hex) {
        return Err("X-Slack-Signature does not match the body and timestamp".into());
    }
    let kind = text_at(payload, "type");
    let handshake = (kind.as_deref() == Some("url_verification"))
        .then(|| json!({"challenge": payload["challenge"]}));
    // An Events API callback names its event inside; other requests by their own type.
    let event = payload
        .get("event")
        .and_then(|e| text_at(e, "type"))
        .or(kind);
    Ok(Verified {
        delivery: Delivery {
            id: text_at(payload, "event_id"),
            event,
        },
        replay_key: Some(signature.to_string()),
        handshake,
    })
}
