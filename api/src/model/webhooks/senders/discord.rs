//! Discord interactions: `X-Signature-Ed25519: <hex signature>` over `<X-Signature-Timestamp>` +
//! body, made with the application's key; the trigger keeps the application's public key (hex,
//! from the developer portal). The PING Discord sends when the endpoint is set (`{"type": 1}`) is
//! answered `{"type": 1}`. Discord signs a time, which is held to the replay window. Every other
//! interaction must be answered with an interaction response within three seconds, or Discord
//! shows it as failed: once its Task is started (or the delivery skipped), it is answered as
//! deferred ([`interaction_reply`]); the agent's answer comes later, as Discord allows.

use ed25519_dalek::{Signature, VerifyingKey};
use serde_json::{Value, json};

use agentarea_crds::trigger::Delivery;

use super::parts::{Refusal, Request, Verified, fresh, header, text_at};

/// Interaction types by number, as Discord documents them.
const TYPES: [(u64, &str); 5] = [
    (1, "PING"),
    (2, "APPLICATION_COMMAND"),
    (3, "MESSAGE_COMPONENT"),
    (4, "APPLICATION_COMMAND_AUTOCOMPLETE"),
    (5, "MODAL_SUBMIT"),
];

pub fn verify(request: &Request, public_key_hex: &[u8]) -> Result<Verified, Refusal> {
    let (headers, body, payload) = (request.headers, request.body, request.payload);
    let signature = header(headers, "x-signature-ed25519")?;
    let timestamp = header(headers, "x-signature-timestamp")?;
    let key = public_key(public_key_hex)?;
    let signature: [u8; 64] = hex::decode(signature)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or("X-Signature-Ed25519 must be 64 bytes in hex")?;
    fresh(
        timestamp,
        "X-Signature-Timestamp",
        request.now,
        request.window,
    )?;
    let message = [timestamp.as_bytes(), body].concat();
    key.verify_strict(&message, &Signature::from_bytes(&signature))
        .map_err(|_| "X-Signature-Ed25519 does not match the body and timestamp")?;
    let kind = payload.get("type").and_then(Value::as_u64);
    let handshake = (kind == Some(1)).then(|| json!({"type": 1}));
    let event = kind.map(|k| {
        TYPES
            .iter()
            .find(|(n, _)| *n == k)
            .map_or_else(|| k.to_string(), |(_, name)| name.to_string())
    });
    Ok(Verified {
        delivery: Delivery {
            id: text_at(payload, "id"),
            event,
        },
        replay_key: Some(hex::encode(signature)),
        handshake,
    })
}

/// The interaction response Discord expects for a verified interaction that was taken: a deferred
/// message for a command or a modal (the user sees "thinking..."), a deferred update for a
/// component, no choices for an autocomplete. `None` for a PING (answered as the handshake) and
/// for what is not an interaction.
pub fn interaction_reply(payload: &Value) -> Option<Value> {
    match payload.get("type").and_then(Value::as_u64)? {
        2 | 5 => Some(json!({"type": 5})),
        3 => Some(json!({"type": 6})),
        4 => Some(json!({"type": 8, "data": {"choices": []}})),
        _ => None,
    }
}

/// The application's public key as the trigger keeps it: 64 hex digits. A key that is not one
/// is the trigger's fault, told as such, not the sender's.
pub fn public_key(hex_text: &[u8]) -> Result<VerifyingKey, Refusal> {
    std::str::from_utf8(hex_text)
        .ok()
        .and_then(|text| hex::decode(text.trim()).ok())
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .and_then(|bytes| VerifyingKey::from_bytes(&bytes).ok())
        .ok_or_else(|| {
            "The trigger's secret is not a Discord public key (64 hex digits): set it to the application's public key".into()
        })
}
