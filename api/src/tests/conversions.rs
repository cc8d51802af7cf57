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
            "planning": true,
        },
        "events_config": { "events": ["task_done"] },
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
    assert_eq!(agent.spec.planning, Some(true));
    assert!(agent.spec.events[0].enabled);

    let shown = serde_json::to_value(present(&agent, &instances, Some(&agents))).unwrap();
    assert_eq!(shown["name"], "Support Bot");
    assert_eq!(
        shown["tools_config"]["mcp_server_configs"][0]["mcp_server_id"],
        "uid-clock"
    );
    assert_eq!(
        shown["events_config"]["events"][0],
        json!({ "event_type": "task_done", "enabled": true })
    );
}

#[test]
fn an_agents_tool_approval_is_stored_as_spec_tool_approval_and_shown_back() {
    let skills = ResourceCache::holding([]);
    let instances = ResourceCache::holding([]);
    let agents = ResourceCache::holding([]);
    let namespace = namespace_for(WORKSPACE);
    let refs = References {
        namespace: &namespace,
        skills: &skills,
        mcp_server_instances: &instances,
        agents: &agents,
    };
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
    let shown = serde_json::to_value(present(&agent, &instances, Some(&agents))).unwrap();
    assert_eq!(
        shown["tool_approval"],
        json!({ "policy": "Destructive", "timeout_seconds": null, "on_timeout": "Reject" })
    );
    assert_eq!(shown["tools_requiring_approval"], json!(["wipe"]));

    // An agent that sets none shows the default.
    agent.spec.tool_approval = None;
    let shown = serde_json::to_value(present(&agent, &instances, Some(&agents))).unwrap();
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
