//! Webhook requests on the wire, and the secret they are proven with. They carry no bearer token;
//! instead each is signed (or carries a token) the way its sender does it, chosen by the
//! trigger's `webhook_type` (`senders`). The secret is the trigger's: the api generates one, or
//! keeps the one the sender gave the user (Slack's signing secret, Stripe's endpoint secret,
//! Discord's public key), in a Secret the trigger owns.
//!
//! A signed time outside the trigger's replay window is refused; inside it, a delivery seen again
//! (a sender's retry, a replay) names the Task it already started and starts none
//! ([`Verified::identity`]).
//!
//! | module | what it owns |
//! | --- | --- |
//! | `senders` | each sender's check, what a delivery is and what identifies it |
//! | `validation` | a trigger's `validation_rules`, applied to a delivery |
//! | `schema` | the JSON Schema keywords `validation_rules.json_schema` may use |
//! | `setup` | what a user sets at the sender, per type |
//! | `convert` | the key and its Secret, allowed methods, the body as payload |
//! | `wire` | the answer's body |

mod convert;
mod schema;
mod senders;
mod setup;
mod validation;
mod wire;

pub use convert::{
    WEBHOOK_SECRET_KEY, method_allowed, method_name, payload, random_key, webhook_secret,
};
pub use senders::{
    Refusal, Request, SIGNATURE_HEADER, TIMESTAMP_HEADER, Verified, check_secret, optional_header,
    reply, sign, verify,
};
pub use setup::setup;
pub use validation::{check_rules, validate};
pub use wire::WebhookAccepted;
