//! Telegram: a bot's webhook set with `secret_token` sends it back in
//! `X-Telegram-Bot-Api-Secret-Token` on every update; it must equal the trigger's secret
//! (compared in constant time). Nothing is signed: TLS keeps the token secret, and the body is
//! not bound to it, so a one-byte change cannot be detected here.

use subtle::ConstantTimeEq;

use agentarea_crds::trigger::Delivery;

use super::parts::{Refusal, Request, Verified, header, text_at};

pub fn verify(request: &Request, secret: &[u8]) -> Result<Verified, Refusal> {
    let (headers, payload) = (request.headers, request.payload);
    let token = header(headers, "x-telegram-bot-api-secret-token")?;
    if !bool::from(token.as_bytes().ct_eq(secret)) {
        return Err("X-Telegram-Bot-Api-Secret-Token is not the webhook's secret".into());
    }
    // An update has `update_id` and one field naming what it is (`message`, `callback_query`..).
    let event = payload
        .as_object()
        .and_then(|update| update.keys().find(|k| *k != "update_id").cloned());
    Ok(Verified {
        delivery: Delivery {
            id: text_at(payload, "update_id"),
            event,
        },
        replay_key: None,
        handshake: None,
    })
}
