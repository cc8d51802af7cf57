//! The wire models' conversions to and from the custom resources, without the router: what a
//! body becomes in the spec, and which merge patch an update sends.

use serde_json::json;

use super::*;
use crate::auth::Identity;
use crate::model::agents::{AgentCreate, AgentUpdate, References, present};
use crate::model::mcp_server_instances::{InstanceUpdate, Members};
use crate::model::triggers::{NewTrigger, TriggerCreate, TriggerUpdate};
use crate::model::webhooks::webhook_secret;

fn caller() -> Identity {
    Identity {
        subject: "alice".into(),
        workspace: WORKSPACE.into(),
    }
}

/// A workspace with no skills, instances or agents, for agent bodies that name none.
struct Nothing {
    namespace: String,
    skills: std::sync::Arc<ResourceCache<Skill>>,
    instances: std::sync::Arc<ResourceCache<McpServerInstance>>,
    agents: std::sync::Arc<ResourceCache<Agent>>,
}

impl Nothing {
    fn new() -> Self {
        Self {
            namespace: namespace_for(WORKSPACE),
            skills: ResourceCache::holding([]),
            instances: ResourceCache::holding([]),
            agents: ResourceCache::holding([]),
        }
    }

    fn refs(&self) -> References<'_> {
        References {
            namespace: &self.namespace,
            skills: &self.skills,
            mcp_server_instances: &self.instances,
            agents: &self.agents,
        }
    }
}

fn remote_instance(name: &str) -> McpServerInstance {
    object(
        "McpServerInstance",
        WORKSPACE,
        name,
        0,
        json!({ "remote": { "url": "http://example.test/mcp" } }),
        None,
    )
}

#[test]
fn an_agent_body_names_skills_and_servers_by_id_and_the_spec_by_name() {
    let skills = ResourceCache::holding([object::<Skill>(
        "Skill",
        WORKSPACE,
        "time-math",
        0,
        json!({ "instructions": "Add." }),
        None,
    )]);
    let instances = ResourceCache::holding([remote_instance("clock")]);
    let agents = ResourceCache::holding([]);
    let namespace = namespace_for(WORKSPACE);
    let refs = References {
        namespace: &namespace,
        skills: &skills,
        mcp_server_instances: &instances,
        agents: &agents,
    };
    let body: AgentCreate = serde_json::from_value(json!({
        "name": "Support Bot", "instruction": "Help.", "model_id": "m",
        "skills": ["uid-time-math"],
        "tools_config": {
            "mcp_server_configs": [{ "mcp_server_id": "uid-clock", "allowed_tools": [{ "tool_name": "now" }] }],
            "planning": false,
        },
        "events_config": { "events": [] },
    }))
    .unwrap();
    let agent = body.into_agent(&refs, &caller()).unwrap();
    assert!(
        agent
            .metadata
            .name
            .as_deref()
            .unwrap()
            .starts_with("support-bot-")
    );
    assert_eq!(agent.spec.skills[0].name, "time-math");
    assert_eq!(agent.spec.mcp_servers[0].name, "clock");
    assert_eq!(agent.spec.mcp_servers[0].allowed_tools[0].name, "now");
    assert_eq!(agent.spec.planning, Some(false));
    assert!(agent.spec.events.is_empty());

    let shown = serde_json::to_value(present(&agent, &instances, Some(&agents))).unwrap();
    assert_eq!(shown["name"], "Support Bot");
    assert_eq!(
        shown["tools_config"]["mcp_server_configs"][0]["mcp_server_id"],
        "uid-clock"
    );
    assert_eq!(shown["events_config"]["events"], json!([]));
}

#[test]
fn agent_fields_without_an_effect_are_refused_naming_them_and_their_empty_values_pass() {
    let nothing = Nothing::new();
    let refs = nothing.refs();
    let base = json!({"name": "a", "instruction": "Help.", "model_id": "m"});
    #[rustfmt::skip]
    let cases = [
        (json!({"planning": true}), Some("planning: not supported")),
        (json!({"tools_config": {"planning": true}}), Some("planning: not supported")),
        (json!({"capabilities": ["search"]}), Some("capabilities: not supported")),
        (json!({"events_config": {"events": ["task_done"]}}), Some("events_config: not supported")),
        (json!({"tools_config": {"builtin_tools": [{"tool_name": "web_search"}]}}), Some("tools_config.builtin_tools: not supported")),
        (json!({"planning": false, "capabilities": [], "events_config": {"events": []}, "tools_config": {"builtin_tools": []}}), None),
    ];
    for (fields, want) in cases {
        let mut body = base.clone();
        body.as_object_mut()
            .unwrap()
            .extend(fields.as_object().unwrap().clone());
        let create: AgentCreate = serde_json::from_value(body.clone()).unwrap();
        let update: AgentUpdate = serde_json::from_value(fields.clone()).unwrap();
        let created = create.into_agent(&refs, &caller()).map(|_| ());
        let updated = update.into_patch(&refs, "a").map(|_| ());
        for got in [created, updated] {
            match (got, want) {
                (Ok(()), None) => {}
                (Err(e), Some(want)) => {
                    assert_eq!(e.status.as_u16(), 422, "{fields}");
                    assert!(e.detail.starts_with(want), "{fields}: {}", e.detail);
                }
                (got, want) => panic!("{fields}: got {got:?}, want {want:?}"),
            }
        }
    }
}

#[test]
fn an_agents_tool_approval_is_stored_as_spec_tool_approval_and_shown_back() {
    let nothing = Nothing::new();
    let refs = nothing.refs();
    let body: AgentCreate = serde_json::from_value(json!({
        "name": "careful", "instruction": "Help.", "model_id": "m",
        "tool_approval": { "policy": "Destructive" },
    }))
    .unwrap();
    let mut agent = body.into_agent(&refs, &caller()).unwrap();
    assert_eq!(
        serde_json::to_value(&agent.spec).unwrap()["toolApproval"],
        json!({ "policy": "Destructive" })
    );
    agent.status = Some(
        serde_json::from_value(json!({ "tools": [
            { "name": "echo", "instance": "everything", "tool": "echo",
              "requiresApproval": false, "approvalReason": "readOnlyHint (policy Destructive)" },
            { "name": "wipe", "instance": "everything", "tool": "wipe",
              "requiresApproval": true, "approvalReason": "destructiveHint (policy Destructive)" },
        ]}))
        .unwrap(),
    );
    let shown =
        serde_json::to_value(present(&agent, &nothing.instances, Some(&nothing.agents))).unwrap();
    assert_eq!(
        shown["tool_approval"],
        json!({ "policy": "Destructive", "timeout_seconds": null, "on_timeout": "Reject" })
    );
    assert_eq!(shown["tools_requiring_approval"], json!(["wipe"]));

    // An agent that sets none shows the default.
    agent.spec.tool_approval = None;
    let shown =
        serde_json::to_value(present(&agent, &nothing.instances, Some(&nothing.agents))).unwrap();
    assert_eq!(
        shown["tool_approval"],
        json!({ "policy": "None", "timeout_seconds": null, "on_timeout": "Reject" })
    );

    let update: AgentUpdate =
        serde_json::from_value(json!({ "tool_approval": { "policy": "NotReadOnly" } })).unwrap();
    assert_eq!(
        update.into_patch(&refs, "careful").unwrap(),
        json!({ "spec": { "toolApproval": { "policy": "NotReadOnly" } } })
    );
    let update: AgentUpdate = serde_json::from_value(json!({ "description": "x" })).unwrap();
    assert_eq!(
        update.into_patch(&refs, "careful").unwrap(),
        json!({ "spec": { "description": "x" } })
    );
}

#[test]
fn a_trigger_update_patches_only_what_it_names() {
    let cron: Trigger = object(
        "Trigger",
        WORKSPACE,
        "nightly",
        0,
        json!({ "agent": "helper", "schedule": { "cron": "0 3 * * *" } }),
        None,
    );
    let update: TriggerUpdate = serde_json::from_value(json!({
        "timezone": "Europe/Berlin", "concurrency_policy": "Forbid", "is_active": false, "name": "Nightly",
    }))
    .unwrap();
    assert_eq!(
        update.into_patch(&cron).unwrap(),
        json!({
            "spec": {
                "enabled": false,
                "schedule": { "timeZone": "Europe/Berlin", "concurrencyPolicy": "Forbid" },
            },
            "metadata": { "annotations": { "agentarea.io/display-name": "Nightly" } },
        })
    );
}

#[test]
fn a_new_webhook_trigger_gets_a_key_kept_in_a_secret_it_owns() {
    let body: TriggerCreate = serde_json::from_value(json!({
        "name": "inbox", "agent_id": "helper", "trigger_type": "webhook", "allowed_methods": ["put"],
    }))
    .unwrap();
    let NewTrigger {
        trigger,
        webhook_key,
    } = body
        .into_trigger(
            &agent(WORKSPACE, "helper", 0),
            &namespace_for(WORKSPACE),
            &caller(),
        )
        .unwrap();
    let webhook = trigger.spec.webhook.as_ref().unwrap();
    assert_eq!(webhook.secret_ref.name, "inbox-webhook");
    assert_eq!(webhook.webhook_id.len(), 32, "generated when not given");
    let key = webhook_key.expect("a key for a webhook trigger");
    assert_eq!(key.len(), 64);

    let mut created = trigger.clone();
    created.metadata.uid = Some("uid-inbox".into());
    let secret = webhook_secret(&created, &webhook.secret_ref.name, &key);
    let owner = &secret.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str()),
        ("Trigger", "uid-inbox")
    );
    assert_eq!(secret.data.unwrap()["hmac-key"].0, key.as_bytes());
}

#[test]
fn trigger_settings_that_could_not_work_are_refused_naming_them() {
    let signing = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let discord_key = hex::encode(signing.verifying_key().as_bytes());
    let rule = json!({"rules": [{"field": "payload.action", "operator": "eq", "value": "opened"}]});
    let llm = json!({"type": "llm", "description": "a bug report"});
    #[rustfmt::skip]
    let cases = [
        (json!({"trigger_type": "webhook", "conditions": rule}), None),
        (json!({"trigger_type": "cron", "cron_expression": "0 3 * * *", "conditions": llm}), None),
        (json!({"trigger_type": "webhook", "conditions": llm}), Some("conditions: natural-language (llm) conditions are evaluated for cron and event triggers only")),
        (json!({"trigger_type": "webhook", "conditions": {"rules": [{"field": "a", "operator": "like", "value": 1}]}}), Some("conditions.rules[0].operator:")),
        (json!({"trigger_type": "webhook", "validation_rules": {"required_fields": ["a"]}}), None),
        (json!({"trigger_type": "webhook", "validation_rules": {"max_size": 1}}), Some("validation_rules.max_size: not a rule")),
        (json!({"trigger_type": "webhook", "webhook_config": {"response": 200}}), Some("webhook_config: not supported")),
        (json!({"trigger_type": "webhook", "webhook_config": {}}), None),
        (json!({"trigger_type": "webhook", "webhook_type": "discord"}), Some("webhook_secret: required for discord")),
        (json!({"trigger_type": "webhook", "webhook_type": "discord", "webhook_secret": "nope"}), Some("webhook_secret: The trigger's secret is not a Discord public key")),
        (json!({"trigger_type": "webhook", "webhook_type": "stripe", "webhook_secret": "whsec_x"}), None),
    ];
    for (fields, want) in cases {
        let mut body = json!({"name": "t", "agent_id": "helper"});
        body.as_object_mut()
            .unwrap()
            .extend(fields.as_object().unwrap().clone());
        let body: TriggerCreate = serde_json::from_value(body).unwrap();
        let got = body.into_trigger(
            &agent(WORKSPACE, "helper", 0),
            &namespace_for(WORKSPACE),
            &caller(),
        );
        match (got, want) {
            (Ok(_), None) => {}
            (Err(e), Some(want)) => assert!(e.detail.starts_with(want), "{fields}: {}", e.detail),
            (Ok(_), Some(want)) => panic!("{fields}: accepted, want {want}"),
            (Err(e), None) => panic!("{fields}: {}", e.detail),
        }
    }
    let discord: TriggerCreate = serde_json::from_value(json!({
        "name": "t", "agent_id": "helper", "trigger_type": "webhook", "webhook_type": "discord",
        "webhook_secret": discord_key,
    }))
    .unwrap();
    let NewTrigger { webhook_key, .. } = discord
        .into_trigger(
            &agent(WORKSPACE, "helper", 0),
            &namespace_for(WORKSPACE),
            &caller(),
        )
        .unwrap();
    assert_eq!(
        webhook_key,
        Some(discord_key),
        "the key given is the key kept"
    );
}

#[test]
fn switching_an_instance_kind_clears_the_other_kinds() {
    let instances = ResourceCache::holding([remote_instance("clock")]);
    let namespace = namespace_for(WORKSPACE);
    let members = Members {
        namespace: &namespace,
        instances: &instances,
    };
    let update: InstanceUpdate = serde_json::from_value(json!({
        "json_spec": { "type": "compound", "members": [{ "instance": "uid-clock", "prefix": "c_" }] },
        "status": "running",
    }))
    .unwrap();
    assert_eq!(
        update.into_patch(&members).unwrap(),
        json!({ "spec": {
            "managed": null,
            "remote": null,
            "compound": { "members": [{ "name": "clock", "prefix": "c_" }] },
            "suspend": null,
          },
          // A new json_spec replaces the tags (it gave none).
          "metadata": { "annotations": { "agentarea.io/tags": null } },
        })
    );
}

fn stored_agent(name: &str) -> Agent {
    let mut agent: Agent = serde_json::from_value(json!({
        "apiVersion": "agentarea.io/v1alpha1", "kind": "Agent",
        "metadata": { "name": name, "namespace": namespace_for(WORKSPACE), "uid": format!("uid-{name}") },
        "spec": { "instruction": "Help.", "model": { "name": "m" } },
    }))
    .unwrap();
    agent.metadata.generation = Some(1);
    agent
}

#[test]
fn the_agents_an_agent_calls_are_named_by_id_or_name_and_shown_by_id() {
    let skills = ResourceCache::holding([]);
    let instances = ResourceCache::holding([]);
    let agents = ResourceCache::holding([stored_agent("researcher"), stored_agent("writer")]);
    let namespace = namespace_for(WORKSPACE);
    let refs = References {
        namespace: &namespace,
        skills: &skills,
        mcp_server_instances: &instances,
        agents: &agents,
    };
    let create = |agents: serde_json::Value| {
        let body: AgentCreate = serde_json::from_value(json!({
            "name": "lead", "instruction": "Lead.", "model_id": "m", "agents": agents,
        }))
        .unwrap();
        body.into_agent(&refs, &caller())
    };

    let agent = create(json!([
        { "agent_id": "uid-researcher", "description": "Finds sources" },
        { "agent_id": "writer" },
    ]))
    .unwrap();
    let stored = serde_json::to_value(&agent.spec).unwrap();
    assert_eq!(
        stored["agents"],
        json!([{ "name": "researcher", "description": "Finds sources" }, { "name": "writer" }])
    );
    let shown = serde_json::to_value(present(&agent, &instances, Some(&agents))).unwrap();
    assert_eq!(
        shown["agents"],
        json!([{ "agent_id": "uid-researcher", "description": "Finds sources" }, { "agent_id": "uid-writer" }])
    );
    // While the agents cache starts, the agents are named by name.
    let shown = serde_json::to_value(present(&agent, &instances, None)).unwrap();
    assert_eq!(shown["agents"][1]["agent_id"], "writer");

    let refused = [
        (
            json!([{ "agent_id": "nobody" }]),
            "agents[0].agent_id: agent \"nobody\" not found",
        ),
        (
            json!([{ "agent_id": "writer" }, { "agent_id": "uid-writer" }]),
            "agents[1].agent_id: agent \"uid-writer\" is listed twice",
        ),
    ];
    for (agents, detail) in refused {
        let error = create(agents.clone()).unwrap_err();
        assert_eq!(
            (error.status.as_u16(), error.detail.as_str()),
            (422, detail),
            "{agents}"
        );
    }

    // An update names the agent itself: refused.
    let update: AgentUpdate =
        serde_json::from_value(json!({ "agents": [{ "agent_id": "uid-writer" }] })).unwrap();
    let error = update.into_patch(&refs, "writer").unwrap_err();
    assert_eq!(
        error.detail,
        "agents[0].agent_id: an agent cannot call itself"
    );
    let update: AgentUpdate = serde_json::from_value(json!({ "agents": [] })).unwrap();
    assert_eq!(
        update.into_patch(&refs, "writer").unwrap(),
        json!({ "spec": { "agents": [] } })
    );
}
