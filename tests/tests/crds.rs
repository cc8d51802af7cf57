//! The CRDs on a real apiserver: served, valid objects round-trip, invalid ones are refused with a
//! message naming the field, and status lives in its subresource.

use agentarea_crds::{Agent, McpServerInstance, Skill, Task, Trigger};
use agentarea_tests::{TestNamespace, control_plane};
use kube::api::{DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Api, CustomResourceExt};
use serde_json::{Value, json};

fn api_resource(kind: &str) -> ApiResource {
    let plural = match kind {
        "Agent" => "agents",
        "Skill" => "skills",
        "McpServerInstance" => "mcpserverinstances",
        "Trigger" => "triggers",
        "Task" => "tasks",
        other => panic!("unknown kind {other}"),
    };
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("agentarea.io", "v1alpha1", kind),
        plural,
    )
}

fn manifest(kind: &str, name: &str, spec: Value) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "agentarea.io/v1alpha1",
        "kind": kind,
        "metadata": { "name": name },
        "spec": spec,
    }))
    .expect("manifest literal")
}

/// One valid spec per kind, as a user would write it.
fn valid_specs() -> Vec<(&'static str, Value)> {
    vec![
        (
            "Agent",
            json!({
                "description": "Answers questions about time zones",
                "instruction": "You are a helpful assistant.",
                "model": {"name": "llama3.1:8b", "endpoint": "http://ollama:11434/v1",
                          "apiKeySecretRef": {"name": "model-key", "key": "token"}, "temperature": 0.2},
                "skills": [{"name": "time-math"}],
                "mcpServers": [{"name": "time", "allowedTools": [{"name": "get_current_time"}]}],
                "limits": {"maxSteps": 8, "timeoutSeconds": 120}
            }),
        ),
        (
            "Skill",
            json!({
                "instructions": "Convert times between zones step by step.",
                "tools": [{"instance": "time", "tools": ["get_current_time", "convert_time"]}],
                "parameters": [{"name": "default_zone", "type": "string", "default": "UTC"}]
            }),
        ),
        (
            "McpServerInstance",
            json!({
                "managed": {"image": "ghcr.io/example/mcp-time:1.0", "transport": "stdio",
                            "command": ["mcp-server-time"], "port": 8080,
                            "env": [{"name": "TZ", "value": "UTC"},
                                    {"name": "TOKEN", "secretKeyRef": {"name": "s", "key": "k"}}]}
            }),
        ),
        (
            "Trigger",
            json!({
                "agent": "time-agent",
                "input": "What time is it in Tokyo?",
                "schedule": {"cron": "*/5 * * * *", "timeZone": "Europe/Berlin", "concurrencyPolicy": "Forbid"}
            }),
        ),
        (
            "Task",
            json!({"agent": "time-agent", "input": "What time is it in Tokyo?", "parameters": {"urgent": true}}),
        ),
    ]
}

/// Invalid manifests, at least three per kind, each with the field its refusal must name.
fn invalid_specs() -> Vec<(&'static str, &'static str, Value, &'static str)> {
    vec![
        (
            "Agent",
            "no instruction",
            json!({"model": {"name": "m"}}),
            "spec.instruction",
        ),
        (
            "Agent",
            "no model",
            json!({"instruction": "x"}),
            "spec.model",
        ),
        (
            "Agent",
            "bad endpoint scheme",
            json!({"instruction": "x", "model": {"name": "m", "endpoint": "ftp://h"}}),
            "spec.model.endpoint",
        ),
        (
            "Agent",
            "temperature too high",
            json!({"instruction": "x", "model": {"name": "m", "temperature": 3.5}}),
            "spec.model.temperature",
        ),
        (
            "Agent",
            "zero max steps",
            json!({"instruction": "x", "model": {"name": "m"}, "limits": {"maxSteps": 0}}),
            "spec.limits.maxSteps",
        ),
        (
            "Agent",
            "skill name not a DNS label",
            json!({"instruction": "x", "model": {"name": "m"}, "skills": [{"name": "Bad_Name"}]}),
            "spec.skills[0].name",
        ),
        (
            "Skill",
            "no instructions",
            json!({"tools": []}),
            "spec.instructions",
        ),
        (
            "Skill",
            "empty tool list",
            json!({"instructions": "x", "tools": [{"instance": "time", "tools": []}]}),
            "spec.tools[0].tools",
        ),
        (
            "Skill",
            "unknown parameter type",
            json!({"instructions": "x", "parameters": [{"name": "p", "type": "date"}]}),
            "spec.parameters[0].type",
        ),
        (
            "McpServerInstance",
            "none of managed/remote/compound",
            json!({"description": "nothing"}),
            "exactly one of spec.managed, spec.remote or spec.compound",
        ),
        (
            "McpServerInstance",
            "an egress that is not a CIDR",
            json!({"managed": {"image": "i", "egress": ["example.com"]}}),
            "spec.managed.egress[0]",
        ),
        (
            "McpServerInstance",
            "both managed and remote",
            json!({"managed": {"image": "i"}, "remote": {"url": "http://h/mcp"}}),
            "exactly one of spec.managed, spec.remote or spec.compound",
        ),
        (
            "McpServerInstance",
            "port out of range",
            json!({"managed": {"image": "i", "port": 70000}}),
            "spec.managed.port",
        ),
        (
            "McpServerInstance",
            "unknown transport",
            json!({"managed": {"image": "i", "transport": "websocket"}}),
            "spec.managed.transport",
        ),
        (
            "McpServerInstance",
            "remote over stdio",
            json!({"remote": {"url": "http://h/mcp", "transport": "stdio"}}),
            "spec.remote.transport",
        ),
        (
            "McpServerInstance",
            "env with value and secret",
            json!({"managed": {"image": "i", "env": [{"name": "A", "value": "1", "secretKeyRef": {"name": "s", "key": "k"}}]}}),
            "spec.managed.env[0]",
        ),
        (
            "McpServerInstance",
            "empty compound",
            json!({"compound": {"members": []}}),
            "spec.compound.members",
        ),
        (
            "Trigger",
            "no kind of trigger",
            json!({"agent": "a"}),
            "exactly one of spec.schedule, spec.webhook or spec.event",
        ),
        (
            "Trigger",
            "cron with three fields",
            json!({"agent": "a", "schedule": {"cron": "* * *"}}),
            "spec.schedule.cron",
        ),
        (
            "Trigger",
            "failure threshold over 100",
            json!({"agent": "a", "failureThreshold": 500, "schedule": {"cron": "@hourly"}}),
            "spec.failureThreshold",
        ),
        (
            "Trigger",
            "webhook without secret",
            json!({"agent": "a", "webhook": {"webhookId": "hook-12345678"}}),
            "spec.webhook.secretRef",
        ),
        (
            "Trigger",
            "unknown concurrency policy",
            json!({"agent": "a", "schedule": {"cron": "@hourly", "concurrencyPolicy": "Sometimes"}}),
            "spec.schedule.concurrencyPolicy",
        ),
        ("Task", "no agent", json!({"input": "x"}), "spec.agent"),
        (
            "Task",
            "empty input",
            json!({"agent": "a", "input": ""}),
            "spec.input",
        ),
        (
            "Task",
            "negative ttl",
            json!({"agent": "a", "input": "x", "ttlSecondsAfterFinished": -1}),
            "spec.ttlSecondsAfterFinished",
        ),
    ]
}

/// Whether every field of `written` is in `stored` with the same value (stored may have more).
fn is_contained(written: &Value, stored: &Value) -> bool {
    match (written, stored) {
        (Value::Object(w), Value::Object(s)) => w
            .iter()
            .all(|(k, v)| s.get(k).is_some_and(|sv| is_contained(v, sv))),
        (Value::Array(w), Value::Array(s)) => {
            w.len() == s.len() && w.iter().zip(s).all(|(a, b)| is_contained(a, b))
        }
        _ => written == stored,
    }
}

#[tokio::test]
async fn every_crd_is_served_and_listed_by_kubectl() {
    let ns = TestNamespace::create("crd-served").await;
    let output = control_plane().kubectl([
        "get",
        "agents,skills,mcpserverinstances,triggers,tasks",
        "-n",
        &ns.name,
    ]);
    assert!(
        output.status.success(),
        "kubectl get failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let output =
        control_plane().kubectl(["api-resources", "--api-group=agentarea.io", "-o", "name"]);
    let listed = String::from_utf8_lossy(&output.stdout);
    for plural in [
        "agents",
        "skills",
        "mcpserverinstances",
        "triggers",
        "tasks",
    ] {
        assert!(
            listed.contains(&format!("{plural}.agentarea.io")),
            "{plural} missing from:\n{listed}"
        );
    }
    // Short names work as in the printer-column docs.
    for short in ["agt", "skl", "mcp", "trg", "tsk"] {
        let output = control_plane().kubectl(["get", short, "-n", &ns.name]);
        assert!(
            output.status.success(),
            "kubectl get {short}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    ns.delete().await;
}

#[tokio::test]
async fn valid_objects_of_every_kind_round_trip() {
    let ns = TestNamespace::create("crd-valid").await;
    for (kind, spec) in valid_specs() {
        let api: Api<DynamicObject> =
            Api::namespaced_with(ns.client.clone(), &ns.name, &api_resource(kind));
        let name = format!("valid-{}", kind.to_lowercase());
        api.create(&PostParams::default(), &manifest(kind, &name, spec.clone()))
            .await
            .unwrap_or_else(|e| panic!("{kind} refused: {e}"));
        let stored = api.get(&name).await.expect("read back");
        let stored_spec = &stored.data["spec"];
        // Everything the user wrote is stored as written (defaults may add fields).
        assert!(
            is_contained(&spec, stored_spec),
            "{kind}.spec changed on the way through:\nwritten: {spec}\nstored:  {stored_spec}"
        );
    }
    // The typed clients read them too, with defaults applied by the apiserver.
    let agent = ns
        .api::<Agent>()
        .get("valid-agent")
        .await
        .expect("typed Agent");
    assert_eq!(agent.spec.limits.max_steps, 8);
    let instance = ns
        .api::<McpServerInstance>()
        .get("valid-mcpserverinstance")
        .await
        .unwrap();
    assert_eq!(
        instance.spec.managed.unwrap().path,
        "/mcp",
        "default path applied by the apiserver"
    );
    assert_eq!(instance.spec.discovery_interval_seconds, 300);
    let trigger = ns.api::<Trigger>().get("valid-trigger").await.unwrap();
    assert!(trigger.spec.enabled, "triggers are enabled by default");
    assert_eq!(trigger.spec.failure_threshold, 5);
    ns.api::<Skill>().get("valid-skill").await.unwrap();
    ns.api::<Task>().get("valid-task").await.unwrap();
    ns.delete().await;
}

#[tokio::test]
async fn invalid_manifests_are_refused_naming_the_field() {
    let ns = TestNamespace::create("crd-invalid").await;
    let mut failures = Vec::new();
    for (i, (kind, case, spec, field)) in invalid_specs().into_iter().enumerate() {
        let api: Api<DynamicObject> =
            Api::namespaced_with(ns.client.clone(), &ns.name, &api_resource(kind));
        match api
            .create(
                &PostParams::default(),
                &manifest(kind, &format!("bad-{i}"), spec),
            )
            .await
        {
            Ok(_) => failures.push(format!("{kind} ({case}) was accepted")),
            Err(kube::Error::Api(status)) => {
                if status.code != 422 || !status.message.contains(field) {
                    failures.push(format!(
                        "{kind} ({case}): expected 422 naming {field:?}, got {}: {}",
                        status.code, status.message
                    ));
                }
            }
            Err(other) => failures.push(format!("{kind} ({case}): unexpected error {other}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Per kind, at least three cases.
    for crd in agentarea_crds::all_crds() {
        let kind = crd.spec.names.kind;
        let cases = invalid_specs().iter().filter(|c| c.0 == kind).count();
        assert!(cases >= 3, "{kind} has only {cases} invalid cases");
    }
    ns.delete().await;
}

#[tokio::test]
async fn kubectl_apply_refuses_a_bad_manifest_with_a_readable_message() {
    let ns = TestNamespace::create("crd-kubectl").await;
    let yaml = format!(
        "apiVersion: agentarea.io/v1alpha1\nkind: Agent\nmetadata:\n  name: broken\n  namespace: {}\nspec:\n  instruction: hi\n  model:\n    name: m\n    endpoint: not-a-url\n",
        ns.name
    );
    let output = control_plane().kubectl_with_stdin(["apply", "-f", "-"], Some(&yaml));
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("spec.model.endpoint"), "{stderr}");
    ns.delete().await;
}

#[tokio::test]
async fn transition_rules_protect_a_task_once_created() {
    let ns = TestNamespace::create("crd-immutable").await;
    let api: Api<DynamicObject> =
        Api::namespaced_with(ns.client.clone(), &ns.name, &api_resource("Task"));
    api.create(
        &PostParams::default(),
        &manifest("Task", "t", json!({"agent": "a", "input": "x"})),
    )
    .await
    .unwrap();
    let params = PatchParams::default();
    let err = api
        .patch("t", &params, &Patch::Merge(json!({"spec": {"agent": "b"}})))
        .await
        .expect_err("agent is immutable");
    assert!(err.to_string().contains("agent is immutable"), "{err}");
    api.patch(
        "t",
        &params,
        &Patch::Merge(json!({"spec": {"cancel": true}})),
    )
    .await
    .expect("cancel can be set");
    let err = api
        .patch(
            "t",
            &params,
            &Patch::Merge(json!({"spec": {"cancel": false}})),
        )
        .await
        .expect_err("cancel cannot be unset");
    assert!(err.to_string().contains("cannot be un-cancelled"), "{err}");
    ns.delete().await;
}

#[tokio::test]
async fn status_is_written_through_the_subresource_only() {
    let ns = TestNamespace::create("crd-status").await;
    let agents = ns.api::<Agent>();
    let agent: Agent = serde_json::from_value(json!({
        "apiVersion": "agentarea.io/v1alpha1", "kind": "Agent",
        "metadata": {"name": "status-test"},
        "spec": {"instruction": "x", "model": {"name": "m"}},
        "status": {"toolCount": 99}
    }))
    .unwrap();
    let created = agents.create(&PostParams::default(), &agent).await.unwrap();
    assert!(created.status.is_none(), "status in a create is dropped");

    // A status write on the main resource is ignored ...
    let patched = agents
        .patch(
            "status-test",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"toolCount": 7}})),
        )
        .await
        .unwrap();
    assert!(
        patched.status.is_none(),
        "status on the main resource is ignored"
    );

    // ... the status subresource takes it, and ignores spec.
    let patched = agents
        .patch_status(
            "status-test",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"toolCount": 3}, "spec": {"instruction": "changed"}})),
        )
        .await
        .unwrap();
    assert_eq!(patched.status.unwrap().tool_count, Some(3));
    assert_eq!(
        patched.spec.instruction, "x",
        "spec through the status subresource is ignored"
    );
    assert_eq!(
        patched.metadata.generation,
        Some(1),
        "a status write does not bump generation"
    );
    ns.delete().await;
}

#[test]
fn checked_in_crd_yaml_matches_the_types() {
    let dir = agentarea_tests::repo_root().join("charts/agentarea/crds");
    for crd in [
        Agent::crd(),
        Skill::crd(),
        McpServerInstance::crd(),
        Trigger::crd(),
        Task::crd(),
    ] {
        let path = dir.join(agentarea_crds::crd_file_name(&crd));
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(
            on_disk,
            agentarea_crds::crd_yaml(&crd),
            "{} is stale: run `cargo run -p agentarea-crds --bin crdgen`",
            path.display()
        );
    }
}
