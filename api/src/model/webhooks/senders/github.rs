//! GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>` with the secret set on
//! the webhook; `X-GitHub-Event` names the event, `X-GitHub-Delivery` the delivery. GitHub signs
//! no time. The `ping` it sends when a webhook is made is answered and starts nothing.

use serde_json::json;

use agentarea_crds::trigger::Delivery;

use super::parts::{Refusal, Request, Verified, header, hex_mac_holds, optional_header};

pub fn verify(request: &Request, secret: &[u8]) -> Result<Verified, Refusal> {
    let (headers, body) = (request.headers, request.body);
    let signature = header(headers, "x-hub-signature-256")?;
    let hex = signature
        .strip_prefix("sha256=")
        .ok_or("X-Hub-Signature-256 must be sha256=<hex>")?;
    if !hex_mac_holds(secret, &[body], hex) {
        return Err("X-Hub-Signature-256 does not match the body".into());
    }
    let event = optional_header(headers, "x-github-event");
    let handshake = (event.as_deref() == Some("ping")).then(|| json!({"status": "pong"}));
    Ok(Verified {
        delivery: Delivery {
            id: optional_header(headers, "x-github-delivery"),
            event,
        },
        replay_key: None,
        handshake,
    })
}
