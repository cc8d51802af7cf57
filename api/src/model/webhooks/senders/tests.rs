//! Every sender's requests built as the sender documents them, then each way one can be wrong.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{Value, json};

use agentarea_crds::trigger::Delivery;

use super::parts::hex_mac;
use super::*;

const NOW: i64 = 1_767_225_600;
const WINDOW: u64 = 300;

fn headers(pairs: &[(&str, String)]) -> HeaderMap {
    pairs
        .iter()
        .map(|(name, value)| {
            (
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            )
        })
        .collect()
}

/// How a sender signs `body` at time `t` with its own key material.
type SignFn = Box<dyn Fn(&[u8], i64, &[u8]) -> HeaderMap>;

/// A delivery: its sender, body, the id and event it should be read as, and any handshake.
type DeliveryCase = (
    WebhookType,
    &'static [u8],
    Option<&'static str>,
    Option<&'static str>,
    Option<Value>,
);

/// A sender: its type, the secret the trigger keeps, how it signs `body` at time `t` with its
/// own key material, the headers it must send, and whether it signs a time.
struct Sender {
    kind: WebhookType,
    secret: Vec<u8>,
    sign: SignFn,
    key: Vec<u8>,
    wrong_key: Vec<u8>,
    required: &'static [&'static str],
    timed: bool,
}

fn discord_key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn senders() -> Vec<Sender> {
    let hmac = |secret: &str| secret.as_bytes().to_vec();
    vec![
        Sender {
            kind: WebhookType::Generic,
            secret: hmac("k3y"),
            sign: Box::new(|key, t, body| {
                headers(&[
                    ("x-agentarea-timestamp", t.to_string()),
                    ("x-agentarea-signature", sign(key, t, body)),
                ])
            }),
            key: hmac("k3y"),
            wrong_key: hmac("other"),
            required: &["x-agentarea-timestamp", "x-agentarea-signature"],
            timed: true,
        },
        Sender {
            kind: WebhookType::Github,
            secret: hmac("gh-secret"),
            sign: Box::new(|key, _, body| {
                headers(&[
                    (
                        "x-hub-signature-256",
                        format!("sha256={}", hex_mac(key, &[body])),
                    ),
                    ("x-github-event", "issues".into()),
                    (
                        "x-github-delivery",
                        "72d3162e-cc78-11e3-81ab-4c9367dc0958".into(),
                    ),
                ])
            }),
            key: hmac("gh-secret"),
            wrong_key: hmac("other"),
            required: &["x-hub-signature-256"],
            timed: false,
        },
        Sender {
            kind: WebhookType::Slack,
            secret: hmac("8f742231b10e8888abcd99yyyzzz85a5"),
            sign: Box::new(|key, t, body| {
                let t = t.to_string();
                let mac = hex_mac(key, &[b"v0:", t.as_bytes(), b":", body]);
                headers(&[
                    ("x-slack-request-timestamp", t),
                    ("x-slack-signature", format!("v0={mac}")),
                ])
            }),
            key: hmac("8f742231b10e8888abcd99yyyzzz85a5"),
            wrong_key: hmac("other"),
            required: &["x-slack-request-timestamp", "x-slack-signature"],
            timed: true,
        },
        Sender {
            kind: WebhookType::Stripe,
            secret: hmac("whsec_test"),
            sign: Box::new(|key, t, body| {
                let ts = t.to_string();
                let v1 = hex_mac(key, &[ts.as_bytes(), b".", body]);
                // A rolled secret's old signature comes first; one v1 matching is enough.
                let old = hex_mac(b"whsec_old", &[ts.as_bytes(), b".", body]);
                headers(&[("stripe-signature", format!("t={t},v1={old},v1={v1},v0=00"))])
            }),
            key: hmac("whsec_test"),
            wrong_key: hmac("whsec_other"),
            required: &["stripe-signature"],
            timed: true,
        },
        Sender {
            kind: WebhookType::Telegram,
            secret: hmac("tg_S3cret-token"),
            sign: Box::new(|key, _, _| {
                let token = String::from_utf8(key.to_vec()).unwrap();
                headers(&[("x-telegram-bot-api-secret-token", token)])
            }),
            key: hmac("tg_S3cret-token"),
            wrong_key: hmac("tg_other"),
            required: &["x-telegram-bot-api-secret-token"],
            timed: false,
        },
        Sender {
            kind: WebhookType::Discord,
            secret: hex::encode(discord_key(7).verifying_key().as_bytes()).into_bytes(),
            sign: Box::new(|seed, t, body| {
                let t = t.to_string();
                let message = [t.as_bytes(), body].concat();
                let signature = discord_key(seed[0]).sign(&message);
                headers(&[
                    ("x-signature-ed25519", hex::encode(signature.to_bytes())),
                    ("x-signature-timestamp", t),
                ])
            }),
            key: vec![7],
            wrong_key: vec![8],
            required: &["x-signature-ed25519", "x-signature-timestamp"],
            timed: true,
        },
    ]
}

fn check(sender: &Sender, headers: &HeaderMap, body: &[u8]) -> Result<Verified, Refusal> {
    let payload: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let request = Request {
        headers,
        body,
        payload: &payload,
        now: NOW,
        window: WINDOW,
    };
    verify(sender.kind, &request, &sender.secret)
}

const BODY: &[u8] = br#"{"id":"evt_1","type":"invoice.paid","update_id":5,"message":{}}"#;

#[test]
fn a_request_signed_as_its_sender_signs_is_accepted() {
    for sender in senders() {
        let signed = (sender.sign)(&sender.key, NOW - 10, BODY);
        let verified = check(&sender, &signed, BODY);
        assert!(verified.is_ok(), "{:?}: {verified:?}", sender.kind);
    }
}

#[test]
fn each_way_a_request_can_be_wrong_is_a_refusal_naming_it() {
    for sender in senders() {
        let kind = sender.kind;
        let wrong = (sender.sign)(&sender.wrong_key, NOW, BODY);
        let refusal = check(&sender, &wrong, BODY).unwrap_err();
        assert!(
            refusal.contains("match") || refusal.contains("is not the webhook's secret"),
            "{kind:?} wrong key: {refusal}"
        );
        for name in sender.required {
            let mut missing = (sender.sign)(&sender.key, NOW, BODY);
            missing.remove(*name);
            let refusal = check(&sender, &missing, BODY).unwrap_err();
            assert_eq!(refusal, format!("Missing {name} header"), "{kind:?}");
        }
        if sender.timed {
            for stale in [NOW - 301, NOW + 301] {
                let signed = (sender.sign)(&sender.key, stale, BODY);
                let refusal = check(&sender, &signed, BODY).unwrap_err();
                assert!(refusal.contains("stale or replayed"), "{kind:?}: {refusal}");
            }
        }
        // Telegram signs no body: its token is all there is to check.
        if kind != WebhookType::Telegram {
            let signed = (sender.sign)(&sender.key, NOW, BODY);
            let mut altered = BODY.to_vec();
            altered[10] ^= 1;
            let refusal = check(&sender, &signed, &altered).unwrap_err();
            assert!(refusal.contains("does not match"), "{kind:?}: {refusal}");
        }
    }
}

#[test]
fn malformed_signatures_are_refused_saying_how() {
    let sender = |kind| senders().into_iter().find(|s| s.kind == kind).unwrap();
    #[rustfmt::skip]
    let cases = [
        (WebhookType::Generic, vec![("x-agentarea-timestamp", NOW.to_string()), ("x-agentarea-signature", "md5=ab".into())], "X-AgentArea-Signature must be sha256=<hex>"),
        (WebhookType::Generic, vec![("x-agentarea-timestamp", "yesterday".into()), ("x-agentarea-signature", "sha256=ab".into())], "X-AgentArea-Timestamp must be unix seconds"),
        (WebhookType::Github, vec![("x-hub-signature-256", "sha1=ab".into())], "X-Hub-Signature-256 must be sha256=<hex>"),
        (WebhookType::Slack, vec![("x-slack-request-timestamp", NOW.to_string()), ("x-slack-signature", "v1=ab".into())], "X-Slack-Signature must be v0=<hex>"),
        (WebhookType::Stripe, vec![("stripe-signature", "v1=ab".into())], "Stripe-Signature has no t=<timestamp>"),
        (WebhookType::Stripe, vec![("stripe-signature", format!("t={NOW},v0=ab"))], "Stripe-Signature has no v1 signature"),
        (WebhookType::Discord, vec![("x-signature-ed25519", "abcd".into()), ("x-signature-timestamp", NOW.to_string())], "X-Signature-Ed25519 must be 64 bytes in hex"),
    ];
    for (kind, pairs, want) in cases {
        let refusal = check(&sender(kind), &headers(&pairs), BODY).unwrap_err();
        assert_eq!(refusal, want, "{kind:?}");
    }
}

#[test]
fn deliveries_say_their_id_and_event_and_handshakes_are_answered() {
    let sender = |kind| senders().into_iter().find(|s| s.kind == kind).unwrap();
    let slack_event =
        br#"{"type":"event_callback","event_id":"Ev1","event":{"type":"app_mention"}}"#;
    let slack_challenge = br#"{"type":"url_verification","challenge":"3eZbrw1a"}"#;
    let telegram = br#"{"update_id":10000,"message":{"text":"hi"}}"#;
    let discord_command = br#"{"id":"123","type":2}"#;
    #[rustfmt::skip]
    let cases: Vec<DeliveryCase> = vec![
        (WebhookType::Generic, BODY, None, None, None),
        (WebhookType::Github, BODY, Some("72d3162e-cc78-11e3-81ab-4c9367dc0958"), Some("issues"), None),
        (WebhookType::Stripe, BODY, Some("evt_1"), Some("invoice.paid"), None),
        (WebhookType::Slack, slack_event, Some("Ev1"), Some("app_mention"), None),
        (WebhookType::Slack, slack_challenge, None, Some("url_verification"), Some(json!({"challenge": "3eZbrw1a"}))),
        (WebhookType::Telegram, telegram, Some("10000"), Some("message"), None),
        (WebhookType::Discord, discord_command, Some("123"), Some("APPLICATION_COMMAND"), None),
        (WebhookType::Discord, br#"{"type":1}"#, None, Some("PING"), Some(json!({"type": 1}))),
    ];
    for (kind, body, id, event, handshake) in cases {
        let sender = sender(kind);
        let signed = (sender.sign)(&sender.key, NOW, body);
        let verified = check(&sender, &signed, body).unwrap();
        assert_eq!(verified.delivery.id.as_deref(), id, "{kind:?}");
        assert_eq!(verified.delivery.event.as_deref(), event, "{kind:?}");
        assert_eq!(verified.handshake, handshake, "{kind:?}");
    }
    let github = sender(WebhookType::Github);
    let mut ping = (github.sign)(&github.key, NOW, b"{}");
    ping.insert("x-github-event", HeaderValue::from_static("ping"));
    let verified = check(&github, &ping, b"{}").unwrap();
    assert_eq!(verified.handshake, Some(json!({"status": "pong"})));
}

#[test]
fn a_discord_trigger_needs_a_public_key_as_its_secret() {
    let key = hex::encode(discord_key(7).verifying_key().as_bytes());
    assert!(check_secret(WebhookType::Discord, &key).is_ok());
    assert!(check_secret(WebhookType::Discord, "not-hex").is_err());
    assert!(check_secret(WebhookType::Github, "").is_err());
    assert!(check_secret(WebhookType::Github, "anything").is_ok());
}

/// (delivery id, signature) -> what names the delivery's Task.
#[test]
fn a_delivery_is_identified_by_its_id_else_its_signature() {
    let cases: &[(Option<&str>, Option<&str>, Option<&str>)] = &[
        (
            Some("72d3162e-cc78"),
            Some("sha256=ab"),
            Some("delivery/72d3162e-cc78"),
        ),
        (Some("evt_1"), None, Some("delivery/evt_1")),
        (None, Some("v0=ab"), Some("signature/v0=ab")),
        (None, None, None),
    ];
    for (id, signature, identity) in cases {
        let verified = Verified {
            delivery: Delivery {
                id: id.map(Into::into),
                event: None,
            },
            replay_key: signature.map(Into::into),
            handshake: None,
        };
        assert_eq!(
            verified.identity().as_deref(),
            *identity,
            "{id:?} {signature:?}"
        );
    }
}

/// A taken Discord interaction is answered as Discord expects within its three seconds; PING is
/// the handshake, and other senders need nothing of the kind.
#[test]
fn discord_interactions_are_answered_deferred() {
    let cases = [
        (json!({"type": 2, "id": "i1"}), Some(json!({"type": 5}))),
        (json!({"type": 5}), Some(json!({"type": 5}))),
        (json!({"type": 3}), Some(json!({"type": 6}))),
        (
            json!({"type": 4}),
            Some(json!({"type": 8, "data": {"choices": []}})),
        ),
        (json!({"type": 1}), None),
        (json!({"type": "issues.opened"}), None),
        (json!({}), None),
    ];
    for (payload, expected) in cases {
        assert_eq!(reply(WebhookType::Discord, &payload), expected, "{payload}");
        assert_eq!(reply(WebhookType::Github, &payload), None, "{payload}");
    }
}
