//! Triggers as real senders call them, against the real api and apiserver: each sender's
//! delivery built here exactly as that sender documents it (the HMACs and the Ed25519 signature
//! computed with keys made for the test), each way one can be wrong, the senders' handshakes,
//! conditions that hold deliveries and events back (a natural-language one judged by the
//! scripted model), validation rules, and the fields refused rather than ignored.

use std::time::Duration;

use ed25519_dalek::{Signer, SigningKey};
use hmac::{Hmac, KeyInit, Mac};
use kube::ResourceExt;
use serde_json::{Value, json};
use sha2::Sha256;

use agentarea_crds::{Task, TaskPhase, Trigger};
use agentarea_tests::api::{ApiServer, now, token};
use agentarea_tests::mcp_servers::Operator;
use agentarea_tests::model::{Reply, ScriptedModel, user_input};
use agentarea_tests::{TestNamespace, control_plane, create, eventually};

const WAIT: Duration = Duration::from_secs(30);

fn workspace(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

fn hmac_hex(key: &[u8], parts: &[&[u8]]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    for part in parts {
        mac.update(part);
    }
    hex::encode(mac.finalize().into_bytes())
}

/// A key made for this run: 32 random bytes.
fn random_bytes() -> [u8; 32] {
    let mut bytes = [0; 32];
    bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes
}

/// One sender: its `webhook_type`, the secret the user gives the trigger (None: the trigger's
/// generated one is given to the sender), and how it signs.
struct Sender {
    kind: &'static str,
    given_secret: Option<String>,
    discord: Option<SigningKey>,
    /// Signs the time too (so a stale request is refused).
    timed: bool,
    /// A header whose absence the sender's check must name.
    required: &'static str,
}

impl Sender {
    /// The headers the sender sends with `body` at `t`, signing with `secret` (for Discord, with
    /// its private key, whatever `secret` is).
    fn headers(&self, secret: &str, t: i64, body: &[u8], event: &str) -> Vec<(String, String)> {
        let key = secret.as_bytes();
        let ts = t.to_string();
        let pairs: Vec<(&str, String)> = match self.kind {
            "generic" => vec![
                ("x-agentarea-timestamp", ts.clone()),
                (
                    "x-agentarea-signature",
                    format!("sha256={}", hmac_hex(key, &[ts.as_bytes(), b".", body])),
                ),
            ],
            "github" => vec![
                (
                    "x-hub-signature-256",
                    format!("sha256={}", hmac_hex(key, &[body])),
                ),
                ("x-github-event", event.to_string()),
                ("x-github-delivery", uuid::Uuid::new_v4().to_string()),
            ],
            "slack" => vec![
                ("x-slack-request-timestamp", ts.clone()),
                (
                    "x-slack-signature",
                    format!("v0={}", hmac_hex(key, &[b"v0:", ts.as_bytes(), b":", body])),
                ),
            ],
            "stripe" => vec![(
                "stripe-signature",
                format!("t={ts},v1={}", hmac_hex(key, &[ts.as_bytes(), b".", body])),
            )],
            "telegram" => vec![("x-telegram-bot-api-secret-token", secret.to_string())],
            "discord" => {
                let message = [ts.as_bytes(), body].concat();
                let signing = if secret == "wrong" {
                    SigningKey::from_bytes(&random_bytes())
                } else {
                    self.discord.clone().unwrap()
                };
                vec![
                    (
                        "x-signature-ed25519",
                        hex::encode(signing.sign(&message).to_bytes()),
                    ),
                    ("x-signature-timestamp", ts.clone()),
                ]
            }
            other => panic!("no sender {other}"),
        };
        pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }
}

fn senders() -> Vec<Sender> {
    let discord = SigningKey::from_bytes(&random_bytes());
    let public = hex::encode(discord.verifying_key().as_bytes());
    vec![
        Sender {
            kind: "generic",
            given_secret: None,
            discord: None,
            timed: true,
            required: "x-agentarea-signature",
        },
        Sender {
            kind: "github",
            given_secret: None,
            discord: None,
            timed: false,
            required: "x-hub-signature-256",
        },
        Sender {
            kind: "slack",
            given_secret: Some(format!("slack{}", hex::encode(random_bytes()))),
            discord: None,
            timed: true,
            required: "x-slack-request-timestamp",
        },
        Sender {
            kind: "stripe",
            given_secret: Some(format!("whsec_{}", hex::encode(random_bytes()))),
            discord: None,
            timed: true,
            required: "stripe-signature",
        },
        Sender {
            kind: "telegram",
            given_secret: None,
            discord: None,
            timed: false,
            required: "x-telegram-bot-api-secret-token",
        },
        Sender {
            kind: "discord",
            given_secret: Some(public),
            discord: Some(discord),
            timed: true,
            required: "x-signature-ed25519",
        },
    ]
}

async fn create_agent(api: &ApiServer, token: &str, name: &str) -> String {
    let (status, body) = api
        .post(
            token,
            "/v1/agents",
            &json!({"name": name, "instruction": "Be brief.", "model_id": "m"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_string()
}

/// Creates a webhook trigger with `fields`; returns its REST shape, its URL and its secret.
async fn webhook_trigger(
    api: &ApiServer,
    token: &str,
    agent_id: &str,
    fields: Value,
) -> (Value, String, String) {
    let mut body = json!({"name": format!("hook-{}", &uuid::Uuid::new_v4().simple().to_string()[..6]),
                          "agent_id": agent_id, "trigger_type": "webhook"});
    body.as_object_mut()
        .unwrap()
        .extend(fields.as_object().unwrap().clone());
    let (status, trigger) = api.post(token, "/v1/triggers", &body).await;
    assert_eq!(status, 201, "{trigger}");
    let url = api.url(trigger["webhook_url"].as_str().unwrap());
    let secret = trigger["webhook_secret"].as_str().unwrap().to_string();
    (trigger, url, secret)
}

async fn deliver(
    api: &ApiServer,
    url: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> (u16, Value) {
    let mut request = api
        .http
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_vec());
    for (name, value) in headers {
        request = request.header(name, value);
    }
    api.send(request).await
}

fn assert_401(what: &str, (status, body): (u16, Value), detail: &str) {
    assert_eq!(status, 401, "{what}: {body}");
    let got = body["detail"].as_str().unwrap_or_default();
    assert!(
        got.contains(detail),
        "{what}: detail {got:?} lacks {detail:?}"
    );
}

#[tokio::test]
async fn each_sender_signed_as_it_documents_is_accepted_and_every_fault_is_401() {
    let api = ApiServer::start(&[]).await;
    let t = token(&workspace("senders"), "erin");
    let agent_id = create_agent(&api, &t, "responder").await;
    for sender in senders() {
        let kind = sender.kind;
        let mut fields = json!({"webhook_type": kind,
            "task_description": "{{ webhook.type }} {{ webhook.event }}: {{ payload.title }}"});
        if let Some(secret) = &sender.given_secret {
            fields["webhook_secret"] = json!(secret);
        }
        let (trigger, url, secret) = webhook_trigger(&api, &t, &agent_id, fields).await;
        assert_eq!(trigger["webhook_type"], kind);
        let setup = trigger["webhook_setup"].as_str().unwrap();
        assert!(
            setup.contains(trigger["webhook_url"].as_str().unwrap()),
            "{setup}"
        );
        if let Some(given) = &sender.given_secret {
            assert_eq!(&secret, given, "{kind}: the secret given is the one kept");
        }

        let body = br#"{"id":"evt_1","type":"issues.opened","update_id":7,"message":{},"title":"Disk full"}"#;
        let headers = sender.headers(&secret, now(), body, "issues");
        let (status, accepted) = deliver(&api, &url, &headers, body).await;
        assert_eq!(status, 202, "{kind}: {accepted}");
        let task_id = accepted["task_id"].as_str().unwrap().to_string();
        let task = eventually(&format!("{kind}'s task"), WAIT, || async {
            let (status, task) = api.get(&t, &format!("/v1/tasks/{task_id}")).await;
            (status == 200).then_some(task)
        })
        .await;
        let description = task["description"].as_str().unwrap();
        assert!(
            description.starts_with(kind) && description.ends_with(": Disk full"),
            "{kind}: {description}"
        );
        if kind == "github" {
            assert_eq!(
                description, "github issues: Disk full",
                "X-GitHub-Event in the template"
            );
        }

        let wrong = sender.headers("wrong", now() + 1, body, "issues");
        let refused = deliver(&api, &url, &wrong, body).await;
        let detail = if kind == "telegram" {
            "is not the webhook's secret"
        } else {
            "does not match"
        };
        assert_401(&format!("{kind} wrong secret"), refused, detail);

        let mut missing = sender.headers(&secret, now() + 2, body, "issues");
        missing.retain(|(name, _)| name != sender.required);
        let refused = deliver(&api, &url, &missing, body).await;
        assert_401(
            &format!("{kind} missing header"),
            refused,
            &format!("Missing {}", sender.required),
        );

        if sender.timed {
            let stale = sender.headers(&secret, now() - 3600, body, "issues");
            let refused = deliver(&api, &url, &stale, body).await;
            assert_401(&format!("{kind} stale"), refused, "stale or replayed");
        }
        if kind != "telegram" {
            let signed = sender.headers(&secret, now() + 3, body, "issues");
            let mut altered = body.to_vec();
            altered[8] ^= 1;
            let refused = deliver(&api, &url, &signed, &altered).await;
            assert_401(&format!("{kind} altered body"), refused, "does not match");
        }
    }
}

#[tokio::test]
async fn github_ping_slack_challenge_and_discord_ping_are_answered_and_start_nothing() {
    let api = ApiServer::start(&[]).await;
    let t = token(&workspace("handshakes"), "erin");
    let agent_id = create_agent(&api, &t, "responder").await;
    let by_kind = |kind: &str| senders().into_iter().find(|s| s.kind == kind).unwrap();
    let cases: [(&str, &[u8], &str, Value); 3] = [
        ("github", br#"{"zen":"Keep it logically awesome.","hook_id":1}"#, "ping", json!({"status": "pong"})),
        ("slack", br#"{"token":"x","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#, "",
         json!({"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"})),
        ("discord", br#"{"type":1,"id":"1","application_id":"2"}"#, "", json!({"type": 1})),
    ];
    for (kind, body, event, answer) in cases {
        let sender = by_kind(kind);
        let mut fields = json!({"webhook_type": kind});
        if let Some(secret) = &sender.given_secret {
            fields["webhook_secret"] = json!(secret);
        }
        let (trigger, url, secret) = webhook_trigger(&api, &t, &agent_id, fields).await;
        let headers = sender.headers(&secret, now(), body, event);
        let (status, got) = deliver(&api, &url, &headers, body).await;
        assert_eq!((status, got), (200, answer), "{kind}");
        let refused = deliver(
            &api,
            &url,
            &sender.headers("wrong", now() + 1, body, event),
            body,
        )
        .await;
        assert_401(
            &format!("{kind} handshake with a wrong signature"),
            refused,
            "",
        );
        let id = trigger["id"].as_str().unwrap();
        let (_, executions) = api.get(&t, &format!("/v1/triggers/{id}/executions")).await;
        assert_eq!(
            executions["executions"],
            json!([]),
            "{kind}: a handshake is no firing"
        );
    }
    let (_, tasks) = api.get(&t, "/v1/tasks").await;
    assert_eq!(tasks.as_array().map(Vec::len), Some(0), "{tasks}");
}

#[tokio::test]
async fn deliveries_its_conditions_do_not_match_are_skipped_with_the_reason_and_rules_refuse_bad_ones()
 {
    let api = ApiServer::start(&[]).await;
    let t = token(&workspace("conditions"), "erin");
    let agent_id = create_agent(&api, &t, "triager").await;
    let github = senders().into_iter().find(|s| s.kind == "github").unwrap();
    let conditions = json!({"type": "rule", "logic": "AND", "rules": [
        {"field": "webhook.event", "operator": "eq", "value": "issues"},
        {"field": "payload.action", "operator": "eq", "value": "opened"},
        {"field": "payload.issue.labels", "operator": "contains", "value": "bug"},
    ]});
    let rules = json!({"required_fields": ["issue.title"],
        "json_schema": {"type": "object", "properties": {"issue": {"type": "object", "properties": {"number": {"type": "integer", "minimum": 1}}}}}});
    let (trigger, url, secret) = webhook_trigger(
        &api,
        &t,
        &agent_id,
        json!({"webhook_type": "github", "conditions": conditions, "validation_rules": rules}),
    )
    .await;
    let id = trigger["id"].as_str().unwrap().to_string();

    let send = |action: &str, labels: Value, event: &str| {
        let body =
            json!({"action": action, "issue": {"title": "Crash", "number": 3, "labels": labels}})
                .to_string();
        let headers = github.headers(&secret, now(), body.as_bytes(), event);
        (headers, body)
    };
    let (headers, body) = send("closed", json!(["bug"]), "issues");
    let (status, skipped) = deliver(&api, &url, &headers, body.as_bytes()).await;
    assert_eq!(status, 200, "{skipped}");
    assert_eq!(skipped["status"], "skipped");
    assert_eq!(
        skipped["reason"],
        r#"payload.action eq "opened" does not hold (payload.action is "closed")"#
    );
    let (headers, body) = send("opened", json!(["question"]), "issues");
    let (status, skipped) = deliver(&api, &url, &headers, body.as_bytes()).await;
    assert_eq!((status, skipped["status"].clone()), (200, json!("skipped")));
    let (headers, body) = send("opened", json!(["bug"]), "issues");
    let (status, accepted) = deliver(&api, &url, &headers, body.as_bytes()).await;
    assert_eq!(status, 202, "{accepted}");

    let (status, executions) = api.get(&t, &format!("/v1/triggers/{id}/executions")).await;
    assert_eq!(status, 200);
    let skipped: Vec<&Value> = executions["executions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["status"] == "skipped")
        .collect();
    assert_eq!(skipped.len(), 2, "{executions}");
    assert!(
        skipped[1]["error_message"]
            .as_str()
            .unwrap()
            .contains("payload.action"),
        "the older skip says why: {executions}"
    );
    assert!(
        skipped[0]["error_message"]
            .as_str()
            .unwrap()
            .contains("labels"),
        "{executions}"
    );
    assert!(skipped.iter().all(|e| e["task_id"].is_null()));
    let (_, tasks) = api.get(&t, "/v1/tasks").await;
    assert_eq!(
        tasks.as_array().map(Vec::len),
        Some(1),
        "only the matching delivery started one"
    );

    let body = json!({"action": "opened", "issue": {"number": 4}}).to_string();
    let headers = github.headers(&secret, now(), body.as_bytes(), "issues");
    let (status, refused) = deliver(&api, &url, &headers, body.as_bytes()).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(
        refused["detail"],
        "validation_rules.required_fields: the payload has no issue.title"
    );
    let body = json!({"action": "opened", "issue": {"title": "t", "number": 0}}).to_string();
    let headers = github.headers(&secret, now(), body.as_bytes(), "issues");
    let (status, refused) = deliver(&api, &url, &headers, body.as_bytes()).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(
        refused["detail"],
        "validation_rules.json_schema: payload.issue.number: 0 is below the minimum 1"
    );
}

#[tokio::test]
async fn fields_without_an_effect_are_refused_naming_them_by_the_api_and_by_the_crds() {
    let api = ApiServer::start(&[]).await;
    let ws = workspace("refused");
    let t = token(&ws, "erin");
    let agent_id = create_agent(&api, &t, "plain").await;
    let base = json!({"name": "x", "instruction": "Help.", "model_id": "m"});
    let cases = [
        (json!({"planning": true}), "planning: not supported"),
        (
            json!({"capabilities": ["search"]}),
            "capabilities: not supported",
        ),
        (
            json!({"events_config": {"events": ["task_completed"]}}),
            "events_config: not supported",
        ),
        (
            json!({"tools_config": {"builtin_tools": [{"tool_name": "web_search"}]}}),
            "tools_config.builtin_tools: not supported",
        ),
    ];
    for (fields, detail) in &cases {
        let mut body = base.clone();
        body.as_object_mut()
            .unwrap()
            .extend(fields.as_object().unwrap().clone());
        let (status, refused) = api.post(&t, "/v1/agents", &body).await;
        assert_eq!(status, 422, "{fields}: {refused}");
        assert!(
            refused["detail"].as_str().unwrap().starts_with(detail),
            "{refused}"
        );
        let (status, refused) = api
            .patch(&t, &format!("/v1/agents/{agent_id}"), fields)
            .await;
        assert_eq!(status, 422, "update {fields}: {refused}");
    }
    let (status, refused) = api
        .post(&t, "/v1/triggers", &json!({"name": "h", "agent_id": agent_id, "trigger_type": "webhook", "webhook_config": {"response_code": 200}}))
        .await;
    assert_eq!(status, 422, "{refused}");
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .starts_with("webhook_config: not supported")
    );

    let namespace = agentarea_api::workspace::namespace_for(&ws);
    for (manifest, message) in [
        (
            format!(
                "apiVersion: agentarea.io/v1alpha1\nkind: Agent\nmetadata: {{name: planner, namespace: {namespace}}}\nspec: {{instruction: hi, model: {{name: m}}, planning: true}}\n"
            ),
            "planning is not supported",
        ),
        (
            format!(
                "apiVersion: agentarea.io/v1alpha1\nkind: Agent\nmetadata: {{name: labelled, namespace: {namespace}}}\nspec: {{instruction: hi, model: {{name: m}}, capabilities: [search]}}\n"
            ),
            "capabilities is not supported",
        ),
        (
            format!(
                "apiVersion: agentarea.io/v1alpha1\nkind: Trigger\nmetadata: {{name: hooked, namespace: {namespace}}}\nspec: {{agent: plain, webhook: {{webhookId: hooked-1234, secretRef: {{name: s, key: k}}, webhookConfig: {{a: 1}}}}}}\n"
            ),
            "webhookConfig is not supported",
        ),
    ] {
        let output = control_plane().kubectl_with_stdin(["apply", "-f", "-"], Some(&manifest));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success() && stderr.contains(message),
            "{manifest}: {stderr}"
        );
    }
}

#[tokio::test]
async fn an_event_trigger_with_a_natural_language_condition_fires_on_what_the_model_judges_a_match()
{
    let ns = TestNamespace::create("nl-cond").await;
    let model = ScriptedModel::start(|request| {
        let input = user_input(request);
        if input.starts_with("You decide whether an automation trigger") {
            // The condition's data holds the finished task's input.
            return Reply::Answer(if input.contains("INVOICE-42") {
                r#"{"matched": true, "reason": "the task handled an invoice"}"#.into()
            } else {
                r#"{"matched": false, "reason": "nothing about invoices"}"#.into()
            });
        }
        Reply::Answer("done".into())
    })
    .await;
    let _operator = Operator::start(&ns.name, &[]).await;
    for name in ["worker", "auditor"] {
        create(
            &ns.api::<agentarea_crds::Agent>(),
            json!({"apiVersion": "agentarea.io/v1alpha1", "kind": "Agent", "metadata": {"name": name},
                   "spec": {"instruction": "Be brief.", "model": {"name": "scripted", "endpoint": model.url}}}),
        )
        .await;
    }
    let triggers = ns.api::<Trigger>();
    create(
        &triggers,
        json!({"apiVersion": "agentarea.io/v1alpha1", "kind": "Trigger", "metadata": {"name": "audit-invoices"},
               "spec": {"agent": "auditor", "input": "Audit {{ event.name }}",
                        "event": {"kind": "Task", "agent": "worker", "phases": ["Succeeded"]},
                        "conditions": {"type": "llm", "description": "The finished task was about an invoice",
                                       "context_fields": ["event.input"]}}}),
    )
    .await;
    for (name, input) in [
        ("invoice", "Handle INVOICE-42 for ACME"),
        ("weather", "What is the weather?"),
    ] {
        create(
            &ns.api::<Task>(),
            json!({"apiVersion": "agentarea.io/v1alpha1", "kind": "Task", "metadata": {"name": name},
                   "spec": {"agent": "worker", "input": input}}),
        )
        .await;
    }
    let trigger = eventually(
        "one firing and one skipped event recorded",
        Duration::from_secs(90),
        || async {
            let trigger = triggers.get("audit-invoices").await.ok()?;
            let status = trigger.status.clone()?;
            let fired = status.executions.iter().any(|e| e.task.is_some());
            (fired && status.skipped_firings.len() == 1).then_some(trigger)
        },
    )
    .await;
    let status = trigger.status.unwrap();
    let skipped = &status.skipped_firings[0];
    let message = skipped.message.as_deref().unwrap();
    assert!(
        message.contains("weather") && message.contains("nothing about invoices"),
        "{message}"
    );
    let fired = status.executions.iter().find(|e| e.task.is_some()).unwrap();
    assert!(
        fired
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("the task handled an invoice"),
        "the decision is recorded on the execution: {fired:?}"
    );
    let audits = ns
        .api::<Task>()
        .list(&kube::api::ListParams::default().labels("agentarea.io/trigger=audit-invoices"))
        .await
        .unwrap()
        .items;
    assert_eq!(audits.len(), 1, "only the invoice's end fired");
    assert_eq!(audits[0].spec.input, "Audit invoice");
    let audit = eventually(
        "the audit task succeeded",
        Duration::from_secs(60),
        || async {
            let task = ns.api::<Task>().get(&audits[0].name_any()).await.ok()?;
            (task.status.as_ref()?.phase == Some(TaskPhase::Succeeded)).then_some(task)
        },
    )
    .await;
    assert_eq!(audit.spec.agent, "auditor");
    ns.delete().await;
}

/// One delivery starts one Task, whichever api replica it reaches and however often: each
/// sender's signed delivery sent to two api processes, and again after one restarts, is answered
/// 202 with the same task every time, and one Task exists. (The apiserver refuses the second:
/// the Task is named after the delivery.)
#[tokio::test]
async fn a_delivery_sent_again_to_any_replica_starts_one_task() {
    let first = ApiServer::start(&[]).await;
    let second = ApiServer::start(&[]).await;
    let ws = workspace("once");
    let t = token(&ws, "erin");
    let agent_id = create_agent(&first, &t, "responder").await;
    let mut first = Some(first);
    for sender in senders() {
        let kind = sender.kind;
        let api = first.as_ref().unwrap();
        let mut fields = json!({"webhook_type": kind});
        if let Some(secret) = &sender.given_secret {
            fields["webhook_secret"] = json!(secret);
        }
        let (trigger, url, secret) = webhook_trigger(api, &t, &agent_id, fields).await;
        let path = url.trim_start_matches(&api.url(""));
        let body =
            br#"{"id":"evt_7","event_id":"Ev07","update_id":7,"message":{},"title":"Disk full"}"#;
        let headers = sender.headers(&secret, now(), body, "issues");
        let mut answers = Vec::new();
        for api in [first.as_ref().unwrap(), &second] {
            for _ in 0..2 {
                answers.push(deliver(api, &api.url(path), &headers, body).await);
            }
        }
        // The first replica restarts (the second keeps serving): what it held in memory is gone.
        let port: u16 = api.url("").rsplit(':').next().unwrap().parse().unwrap();
        drop(first.take());
        first = Some(ApiServer::start_at(port, &[]).await);
        answers.push(deliver(first.as_ref().unwrap(), &url, &headers, body).await);

        let task_id = answers[0].1["task_id"].clone();
        assert!(task_id.is_string(), "{kind}: {answers:?}");
        for (status, answer) in &answers {
            assert_eq!(*status, 202, "{kind}: {answer}");
            assert_eq!(
                answer["task_id"], task_id,
                "{kind}: the same task every time"
            );
        }
        let started = tasks_of(&ws, &trigger).await;
        assert_eq!(started.len(), 1, "{kind}: one task for one delivery");
    }
}

/// A Discord slash command is answered with the deferred interaction response Discord needs within
/// three seconds, and starts its Task; a component interaction gets a deferred update.
#[tokio::test]
async fn a_discord_interaction_is_answered_deferred_and_starts_its_task() {
    let api = ApiServer::start(&[]).await;
    let ws = workspace("discord");
    let t = token(&ws, "erin");
    let agent_id = create_agent(&api, &t, "responder").await;
    let discord = senders().into_iter().find(|s| s.kind == "discord").unwrap();
    let fields = json!({"webhook_type": "discord",
        "webhook_secret": discord.given_secret.clone().unwrap(),
        "task_description": "Discord asks: {{ payload.data.name }}"});
    let (trigger, url, secret) = webhook_trigger(&api, &t, &agent_id, fields).await;
    let command = br#"{"type":2,"id":"1234","application_id":"99","data":{"name":"status"}}"#;
    let headers = discord.headers(&secret, now(), command, "");
    let (status, answer) = deliver(&api, &url, &headers, command).await;
    assert_eq!((status, answer), (200, json!({"type": 5})));
    let component = br#"{"type":3,"id":"1235","application_id":"99","data":{"custom_id":"ok"}}"#;
    let headers = discord.headers(&secret, now(), component, "");
    let (status, answer) = deliver(&api, &url, &headers, component).await;
    assert_eq!((status, answer), (200, json!({"type": 6})));

    let started = tasks_of(&ws, &trigger).await;
    assert_eq!(started.len(), 2, "each interaction starts its task");
    assert!(
        started
            .iter()
            .any(|t| t.spec.input == "Discord asks: status"),
        "{:?}",
        started.iter().map(|t| &t.spec.input).collect::<Vec<_>>()
    );
}

/// The Tasks the webhook trigger `trigger` (its REST shape) of workspace `ws` has started.
async fn tasks_of(ws: &str, trigger: &Value) -> Vec<Task> {
    let label = format!(
        "agentarea.io/trigger={}",
        trigger["k8s_name"].as_str().unwrap()
    );
    kube::Api::<Task>::namespaced(
        control_plane().client().await,
        &agentarea_api::workspace::namespace_for(ws),
    )
    .list(&kube::api::ListParams::default().labels(&label))
    .await
    .unwrap()
    .items
}
