//! Stripe: `Stripe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(endpoint secret,
//! "<t>.<body>")>[,v1=...]`. Several `v1` appear while a secret is rolled: one matching is enough.
//! Other schemes (`v0`) are ignored, as Stripe's libraries do. Refused past the window (Stripe's
//! libraries' tolerance is 300 seconds, the default).

use agentarea_crds::trigger::Delivery;

use super::parts::{Refusal, Request, Verified, fresh, header, hex_mac_holds, text_at};

pub fn verify(request: &Request, secret: &[u8]) -> Result<Verified, Refusal> {
    let (headers, body, payload) = (request.headers, request.body, request.payload);
    let signature = header(headers, "stripe-signature")?;
    let pairs = signature.split(',').filter_map(|pair| pair.split_once('='));
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for (key, value) in pairs {
        match key.trim() {
            "t" => timestamp = Some(value.trim()),
            "v1" => signatures.push(value.trim()),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or("Stripe-Signature has no t=<timestamp>")?;
    if signatures.is_empty() {
        return Err("Stripe-Signature has no v1 signature".into());
    }
    fresh(
        timestamp,
        "Stripe-Signature's t",
        request.now,
        request.window,
    )?;
    let signed: [&[u8]; 3] = [timestamp.as_bytes(), b".", body];
    if !signatures
        .iter()
        .any(|v1| hex_mac_holds(secret, &signed, v1))
    {
        return Err(
            "Stripe-Signature does not match the body and timestamp (no v1 signature does)".into(),
        );
    }
    Ok(Verified {
        delivery: Delivery {
            id: text_at(payload, "id"),
            event: text_at(payload, "type"),
        },
        replay_key: Some(signature.to_string()),
        handshake: None,
    })
}
