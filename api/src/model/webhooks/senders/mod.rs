//! Checking a webhook request the way its sender signs it, chosen by the trigger's
//! `webhook_type`. Each check is a pure function of the headers, the body, the trigger's secret
//! and the time, returning what the sender says the delivery is ([`Verified`]) or why it is
//! refused (a 401's detail).
//!
//! | module | sender | what proves the request |
//! | --- | --- | --- |
//! | [`generic`] | anyone | `X-AgentArea-Signature`, HMAC of `<timestamp>.<body>` |
//! | [`github`] | GitHub | `X-Hub-Signature-256`, HMAC of the body |
//! | [`slack`] | Slack | `X-Slack-Signature`, HMAC of `v0:<timestamp>:<body>` |
//! | [`stripe`] | Stripe | `Stripe-Signature`, HMAC of `<t>.<body>` |
//! | [`telegram`] | Telegram | `X-Telegram-Bot-Api-Secret-Token`, the secret itself |
//! | [`discord`] | Discord | `X-Signature-Ed25519` over `<timestamp><body>` |
//!
//! `parts` holds what they share, and what identifies a delivery ([`Verified::identity`]): it
//! names the Task the delivery starts, so a retry or a replay, on any replica, starts none.

mod discord;
mod generic;
mod github;
mod parts;
mod slack;
mod stripe;
mod telegram;

use agentarea_crds::trigger::WebhookType;

pub use generic::{SIGNATURE_HEADER, TIMESTAMP_HEADER, sign};
pub use parts::{Refusal, Request, Verified, optional_header};

/// Checks `request` as `kind`'s sender signs it, with the trigger's `secret`.
pub fn verify(kind: WebhookType, request: &Request, secret: &[u8]) -> Result<Verified, Refusal> {
    match kind {
        WebhookType::Generic => generic::verify(request, secret),
        WebhookType::Github => github::verify(request, secret),
        WebhookType::Slack => slack::verify(request, secret),
        WebhookType::Stripe => stripe::verify(request, secret),
        WebhookType::Telegram => telegram::verify(request, secret),
        WebhookType::Discord => discord::verify(request, secret),
    }
}

/// The body `kind`'s sender needs in place of ours once a verified delivery is taken (its Task
/// started, or the delivery skipped), if it needs one: only Discord does
/// ([`discord::interaction_reply`]).
pub fn reply(kind: WebhookType, payload: &serde_json::Value) -> Option<serde_json::Value> {
    match kind {
        WebhookType::Discord => discord::interaction_reply(payload),
        _ => None,
    }
}

/// Whether `secret` can be the trigger's secret for `kind` (a Discord key must be a public key).
pub fn check_secret(kind: WebhookType, secret: &str) -> Result<(), Refusal> {
    match kind {
        WebhookType::Discord => discord::public_key(secret.as_bytes()).map(|_| ()),
        _ if secret.is_empty() => Err("the secret is empty".into()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
