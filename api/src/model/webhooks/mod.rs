//! Webhook requests on the wire, and the key they are signed with. They carry no bearer token;
//! instead every request is signed with the trigger's HMAC key, which the api generates and keeps
//! in a Secret the trigger owns:
//!
//! ```text
//! X-AgentArea-Timestamp: <unix seconds>
//! X-AgentArea-Signature: sha256=<hex of HMAC-SHA256(key, "<timestamp>.<body>")>
//! ```
//!
//! A timestamp outside the trigger's replay window, or a signature already seen inside it, is
//! refused, so a captured request cannot be replayed.
//!
//! The signature (checking it, making it, the replay window) is in `signature.rs`; a webhook
//! trigger's key and the Secret that keeps it, its allowed methods and a request body as its
//! tasks' payload in `convert.rs`; the answer's body in `wire.rs`. Webhooks have no list.

mod convert;
mod signature;
mod wire;

pub use convert::{
    WEBHOOK_SECRET_KEY, method_allowed, method_name, payload, random_key, webhook_secret,
};
pub use signature::{SIGNATURE_HEADER, SeenSignatures, TIMESTAMP_HEADER, sign, verify};
pub use wire::WebhookAccepted;
