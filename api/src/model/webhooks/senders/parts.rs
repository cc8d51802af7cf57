//! What every sender's check uses: reading a header, an HMAC-SHA256 compared in constant time, a
//! signed timestamp's freshness, and what a verified request is.

use axum::http::HeaderMap;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;

use agentarea_crds::trigger::Delivery;

/// A request as every sender's check reads it.
pub struct Request<'a> {
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    /// The body as JSON (Null if it is not), for the ids and handshakes inside it.
    pub payload: &'a Value,
    /// Unix seconds now, and how far a signed time may be from it.
    pub now: i64,
    pub window: u64,
}

/// A request whose signature holds.
#[derive(Debug, PartialEq)]
pub struct Verified {
    /// What the sender says the delivery is.
    pub delivery: Delivery,
    /// The request's signature, for senders that sign a time (a new delivery has a new one);
    /// GitHub and Telegram sign none, and their deliveries are told apart by their ids.
    pub replay_key: Option<String>,
    /// The sender's handshake, answered 200 with this body and starting nothing: GitHub's
    /// `ping`, Slack's `url_verification`, Discord's PING.
    pub handshake: Option<Value>,
}

impl Verified {
    /// What identifies the delivery across retries, replicas and restarts: the sender's id for
    /// it, else its signature. It names the Task the delivery starts
    /// (`Trigger::task_name_for`), so a second arrival is the apiserver's `AlreadyExists`.
    /// `None` for a delivery with neither (it cannot be told from a new one).
    pub fn identity(&self) -> Option<String> {
        match (&self.delivery.id, &self.replay_key) {
            (Some(id), _) => Some(format!("delivery/{id}")),
            (None, Some(signature)) => Some(format!("signature/{signature}")),
            (None, None) => None,
        }
    }
}

/// Why a request is refused (a 401's `detail`).
pub type Refusal = String;

/// The header's value, or a refusal naming it.
pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<&'a str, Refusal> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| format!("Missing {name} header"))
}

pub fn optional_header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// HMAC-SHA256 of `parts` in order, keyed with `key`.
pub fn mac(key: &[u8], parts: &[&[u8]]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    for part in parts {
        mac.update(part);
    }
    mac
}

/// Whether `given_hex` is the hex HMAC of `parts`, compared in constant time.
pub fn hex_mac_holds(key: &[u8], parts: &[&[u8]], given_hex: &str) -> bool {
    hex::decode(given_hex).is_ok_and(|given| mac(key, parts).verify_slice(&given).is_ok())
}

/// The hex HMAC of `parts`, as senders send it (and tests sign).
pub fn hex_mac(key: &[u8], parts: &[&[u8]]) -> String {
    hex::encode(mac(key, parts).finalize().into_bytes())
}

/// Refuses a signed unix time (`name` says which header) further than `window` seconds from
/// `now`, either way.
pub fn fresh(timestamp: &str, name: &str, now: i64, window: u64) -> Result<(), Refusal> {
    let sent: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| format!("{name} must be unix seconds"))?;
    if (now - sent).unsigned_abs() > window {
        return Err(format!(
            "{name} is more than {window} seconds from now: a stale or replayed request"
        ));
    }
    Ok(())
}

/// A string field of the payload, or a number written out (Telegram's `update_id`).
pub fn text_at(payload: &Value, key: &str) -> Option<String> {
    match payload.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
