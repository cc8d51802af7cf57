//! The operator on the real apiserver, with the real MCP reference server: managed instances' children,
//! discovery of remote and managed servers, unreachable servers, compound instances, and agents
//! and skills that resolve (and recover) by themselves.

use std::time::Duration;

use agentarea_crds::{Agent, McpServerInstance, Skill, reasons};
use agentarea_operator::events::{Occurrence, Recorder};
use agentarea_tests::mcp_servers::{Operator, everything_server};
use agentarea_tests::metrics::sample;
use agentarea_tests::objects::pod_spec;
use agentarea_tests::objects::ready_of;
use agentarea_tests::{TestNamespace, create, eventually, free_port, merge_patch};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Secret, Service, ServiceAccount};
use k8s_openapi::api::events::v1::Event as SeriesEvent;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::events::EventType;
use kube::{Api, Resource};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(60);

fn instance(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "agentarea.io/v1alpha1", "kind": "McpServerInstance", "metadata": {"name": name}, "spec": spec})
}

async fn instance_ready_is(
    api: &Api<McpServerInstance>,
    name: &str,
    status: &str,
) -> McpServerInstance {
    eventually(&format!("{name} Ready={status}"), WAIT, || async {
        let object = api.get(name).await.ok()?;
        let conditions = object
            .status
            .as_ref()
            .map(|s| s.conditions.clone())
            .unwrap_or_default();
        (ready_of(&conditions)?.0 == status).then_some(object)
    })
    .await
}

#[tokio::test]
async fn a_remote_instance_lists_the_real_servers_tools() {
    let ns = TestNamespace::create("op-remote").await;
    let _operator = Operator::start(&ns.name, &[]).await;
    let server = everything_server();
    let api = ns.api::<McpServerInstance>();
    create(
        &api,
        instance("everything", json!({"remote": {"url": server.url}})),
    )
    .await;

    let ready = instance_ready_is(&api, "everything", "True").await;
    let status = ready.status.unwrap();
    let names: Vec<_> = status.tools.iter().map(|t| t.name.as_str()).collect();
    assert!(
        names.contains(&"echo"),
        "server-everything's echo tool in {names:?}"
    );
    assert_eq!(status.tool_count, Some(status.tools.len() as i32));
    assert!(status.server_info.unwrap().name.contains("everything"));
    assert_eq!(status.endpoint.as_deref(), Some(server.url.as_str()));
    assert!(status.last_checked_time.is_some());
    let echo = status.tools.iter().find(|t| t.name == "echo").unwrap();
    assert!(
        echo.input_schema_digest
            .as_deref()
            .unwrap()
            .starts_with("sha256:")
    );
    assert!(echo.input_schema.is_some(), "small schemas are kept");
    ns.delete().await;
}

#[tokio::test]
async fn an_unreachable_server_is_not_ready_with_a_reason_and_an_event() {
    let ns = TestNamespace::create("op-unreachable").await;
    let _operator = Operator::start(&ns.name, &[]).await;
    let api = ns.api::<McpServerInstance>();
    let url = format!("http://127.0.0.1:{}/mcp", free_port());
    create(
        &api,
        instance("gone", json!({"remote": {"url": url, "timeoutSeconds": 2}})),
    )
    .await;

    let object = instance_ready_is(&api, "gone", "False").await;
    let status = object.status.unwrap();
    let (_, reason, message) = ready_of(&status.conditions).unwrap();
    assert_eq!(reason, reasons::UNREACHABLE);
    assert!(
        message.contains(&url),
        "the message names the URL: {message}"
    );
    assert!(matches!(
        status.phase,
        Some(agentarea_crds::mcp_server_instance::McpPhase::Failed)
    ));

    let events: Api<Event> = Api::namespaced(ns.client.clone(), &ns.name);
    let event = eventually("a Warning event", WAIT, || async {
        events
            .list(&ListParams::default())
            .await
            .ok()?
            .items
            .into_iter()
            .find(|e| {
                e.involved_object.name.as_deref() == Some("gone")
                    && e.reason.as_deref() == Some(reasons::UNREACHABLE)
            })
    })
    .await;
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    ns.delete().await;
}

#[tokio::test]
async fn a_managed_instance_gets_owned_children_that_follow_its_spec() {
    let ns = TestNamespace::create("op-managed").await;
    let server = everything_server();
    // No kubelet runs pods here: the operator reaches the managed instance at the real server on
    // loopback, through the same endpoint template an out-of-cluster operator would use.
    let _operator = Operator::start(
        &ns.name,
        &[
            (
                "AGENTAREA_MANAGED_ENDPOINT_TEMPLATE",
                format!("http://127.0.0.1:{}{{path}}", server.port),
            ),
            (
                "AGENTAREA_MCP_INGRESS_FROM_LABELS",
                "app.kubernetes.io/component=operator".into(),
            ),
        ],
    )
    .await;
    let api = ns.api::<McpServerInstance>();
    let created = create(
        &api,
        instance("everything", json!({"managed": {
            "image": "example.org/mcp/everything:1.0", "port": 3001, "command": ["node", "dist/index.js"],
            "egress": ["10.20.0.0/16"],
            "args": ["streamableHttp"],
            "env": [{"name": "PORT", "value": "3001"}, {"name": "TOKEN", "secretKeyRef": {"name": "tokens", "key": "everything"}}]
        }})),
    )
    .await;
    let uid = created.metadata.uid.clone().unwrap();

    let deployments: Api<Deployment> = ns.api();
    let deployment = eventually("the Deployment", WAIT, || async {
        deployments.get_opt("everything").await.ok().flatten()
    })
    .await;
    let owner = &deployment.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
        ("McpServerInstance", uid.as_str(), Some(true))
    );
    let pod = pod_spec(&deployment);
    let container = &pod.containers[0];
    assert_eq!(
        container.image.as_deref(),
        Some("example.org/mcp/everything:1.0")
    );
    let security = container.security_context.as_ref().unwrap();
    assert_eq!(security.run_as_non_root, Some(true));
    assert_eq!(security.allow_privilege_escalation, Some(false));
    assert_eq!(security.read_only_root_filesystem, Some(true));
    assert!(
        container.readiness_probe.is_some()
            && container.resources.as_ref().unwrap().limits.is_some()
    );
    let env = container.env.as_ref().unwrap();
    let named = |name: &str| env.iter().find(|e| e.name == name).unwrap();
    let token = named("TOKEN").value_from.as_ref().unwrap();
    assert_eq!(token.secret_key_ref.as_ref().unwrap().name, "tokens");
    // Root-by-default images run as nonroot, with their caches in the writable /tmp.
    assert_eq!(named("HOME").value.as_deref(), Some("/tmp"));
    let pod_security = pod.security_context.as_ref().unwrap();
    assert_eq!(
        (pod_security.run_as_non_root, pod_security.run_as_user),
        (Some(true), Some(65532))
    );
    let services: Api<Service> = ns.api();
    let service = eventually("the Service", WAIT, || async {
        services.get_opt("everything").await.ok().flatten()
    })
    .await;
    assert_eq!(service.spec.unwrap().ports.unwrap()[0].port, 3001);
    ns.api::<ServiceAccount>().get("everything").await.unwrap();
    // Reached only from the operator's pods (here the watched namespace is its own), and reaching
    // only what the instance declares, and DNS.
    let policy = ns
        .api::<k8s_openapi::api::networking::v1::NetworkPolicy>()
        .get("everything")
        .await
        .expect("the NetworkPolicy");
    let spec = serde_json::to_value(policy.spec.unwrap()).unwrap();
    assert_eq!(
        spec["ingress"][0]["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
        ns.name.as_str()
    );
    assert_eq!(spec["policyTypes"], json!(["Ingress", "Egress"]));
    assert_eq!(
        spec["egress"][1]["to"][0]["ipBlock"]["cidr"],
        "10.20.0.0/16"
    );

    // Discovered through the endpoint template.
    let ready = instance_ready_is(&api, "everything", "True").await;
    assert!(ready.status.unwrap().tools.iter().any(|t| t.name == "echo"));

    // A spec change rolls the Deployment.
    merge_patch(
        &api,
        "everything",
        json!({"spec": {"managed": {"image": "example.org/mcp/everything:1.1"}}}),
    )
    .await;
    eventually("the new image in the pod template", WAIT, || async {
        let d = deployments.get("everything").await.ok()?;
        let image = d.spec?.template.spec?.containers[0].image.clone()?;
        (image == "example.org/mcp/everything:1.1").then_some(())
    })
    .await;

    // Drift is corrected and a child deleted by hand comes back.
    merge_patch(&deployments, "everything", json!({"spec": {"replicas": 5}})).await;
    eventually("replicas put back", WAIT, || async {
        (deployments.get("everything").await.ok()?.spec?.replicas == Some(1)).then_some(())
    })
    .await;
    services
        .delete("everything", &DeleteParams::default())
        .await
        .unwrap();
    eventually("the Service re-created", WAIT, || async {
        services.get_opt("everything").await.ok().flatten()
    })
    .await;

    // Suspending scales to zero.
    merge_patch(&api, "everything", json!({"spec": {"suspend": true}})).await;
    eventually("replicas 0 when suspended", WAIT, || async {
        (deployments.get("everything").await.ok()?.spec?.replicas == Some(0)).then_some(())
    })
    .await;

    // Deleting the instance removes its children: the control plane's garbage collector follows
    // the owner references.
    api.delete("everything", &DeleteParams::foreground())
        .await
        .unwrap();
    eventually("children garbage-collected", WAIT, || async {
        let gone = deployments.get_opt("everything").await.ok()?.is_none()
            && services.get_opt("everything").await.ok()?.is_none()
            && ns
                .api::<ServiceAccount>()
                .get_opt("everything")
                .await
                .ok()?
                .is_none();
        gone.then_some(())
    })
    .await;
    ns.delete().await;
}

#[tokio::test]
async fn a_compound_instance_merges_its_members_tools() {
    let ns = TestNamespace::create("op-compound").await;
    let _operator = Operator::start(&ns.name, &[]).await;
    let (first, second) = (everything_server(), everything_server());
    let api = ns.api::<McpServerInstance>();
    create(&api, instance("one", json!({"remote": {"url": first.url}}))).await;
    create(
        &api,
        instance("two", json!({"remote": {"url": second.url}})),
    )
    .await;
    create(
        &api,
        instance(
            "both",
            json!({"compound": {"members": [
                {"name": "one", "prefix": "one_", "include": ["echo", "get-sum"]},
                {"name": "two", "exclude": ["echo"]},
                {"name": "one", "include": ["get-sum"]}
            ]}}),
        ),
    )
    .await;
    let ready = instance_ready_is(&api, "both", "True").await;
    let status = ready.status.unwrap();
    let names: Vec<_> = status.tools.iter().map(|t| t.name.as_str()).collect();
    assert!(
        names.contains(&"one_echo") && names.contains(&"one_get-sum"),
        "{names:?}"
    );
    assert!(
        names.contains(&"get-sum") && !names.contains(&"echo"),
        "{names:?}"
    );
    let sum = status.tools.iter().find(|t| t.name == "get-sum").unwrap();
    assert_eq!(
        sum.member.as_deref(),
        Some("two"),
        "the first member to offer a name keeps it"
    );
    assert_eq!(status.collisions, vec!["get-sum".to_string()]);

    // A member going away makes the compound not ready, naming it.
    api.delete("two", &DeleteParams::default()).await.unwrap();
    let not_ready = instance_ready_is(&api, "both", "False").await;
    let (_, reason, message) = ready_of(&not_ready.status.unwrap().conditions).unwrap();
    assert_eq!(reason, reasons::MEMBERS_NOT_READY);
    assert!(message.contains("member two not found"), "{message}");
    ns.delete().await;
}

/// A default model endpoint for the operator: agents resolve without naming one (nothing here
/// calls a model).
/// Waits until agent `name`'s Ready condition gives `reason`; its status and message.
async fn agent_reason_is(agents: &Api<Agent>, name: &str, reason: &str) -> (String, String) {
    eventually(&format!("{name}'s reason {reason}"), WAIT, || async {
        let agent = agents.get(name).await.ok()?;
        let (status, r, message) = ready_of(&agent.status?.conditions)?;
        (r == reason).then_some((status, message))
    })
    .await
}

fn default_model() -> [(&'static str, String); 1] {
    [(
        "AGENTAREA_DEFAULT_MODEL_ENDPOINT",
        "http://127.0.0.1:9/v1".into(),
    )]
}

#[tokio::test]
async fn an_agent_is_ready_only_when_everything_it_names_resolves_and_recovers_by_itself() {
    let ns = TestNamespace::create("op-agent").await;
    let server = everything_server();
    let _operator = Operator::start(&ns.name, &default_model()).await;
    let agents = ns.api::<Agent>();
    let skills = ns.api::<Skill>();
    let instances = ns.api::<McpServerInstance>();
    create(&agents, json!({
        "apiVersion": "agentarea.io/v1alpha1", "kind": "Agent", "metadata": {"name": "helper"},
        "spec": {
            "instruction": "Help.", "model": {"name": "m", "apiKeySecretRef": {"name": "model-key", "key": "token"}},
            "skills": [{"name": "echoing"}],
            "mcpServers": [{"name": "everything", "allowedTools": [{"name": "get-sum"}]}]
        }
    }))
    .await;

    let (status, message) = agent_reason_is(&agents, "helper", reasons::SKILL_NOT_FOUND).await;
    assert_eq!(status, "False");
    assert!(message.contains("skill echoing not found"), "{message}");

    create(&skills, json!({
        "apiVersion": "agentarea.io/v1alpha1", "kind": "Skill", "metadata": {"name": "echoing"},
        "spec": {"instructions": "Echo things.", "tools": [{"instance": "everything", "tools": ["echo"]}]}
    }))
    .await;
    agent_reason_is(&agents, "helper", reasons::INSTANCE_NOT_FOUND).await;

    create(
        &instances,
        instance("everything", json!({"remote": {"url": server.url}})),
    )
    .await;
    let (_, message) = agent_reason_is(&agents, "helper", reasons::SECRET_NOT_FOUND).await;
    assert!(message.contains("model-key"), "{message}");

    let secret: Secret = serde_json::from_value(
        json!({"metadata": {"name": "model-key"}, "stringData": {"token": "sk-test"}}),
    )
    .unwrap();
    ns.api::<Secret>()
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    agent_reason_is(&agents, "helper", reasons::RESOLVED).await;
    let agent = agents.get("helper").await.unwrap();
    let status = agent.status.unwrap();
    let tools: Vec<_> = status
        .tools
        .iter()
        .map(|t| (t.name.as_str(), t.skill.as_deref()))
        .collect();
    assert_eq!(tools, [("echo", Some("echoing")), ("get-sum", None)]);
    assert_eq!(
        status.model_endpoint.as_deref(),
        Some("http://127.0.0.1:9/v1")
    );
    assert_eq!(status.observed_generation, agent.metadata.generation);

    // The skill knows who uses it and that its tools resolve.
    let skill = eventually("skill status", WAIT, || async {
        let skill = skills.get("echoing").await.ok()?;
        let status = skill.status.clone()?;
        (status.used_by == ["helper"] && status.resolved_tools == ["everything/echo"])
            .then_some(skill)
    })
    .await;
    assert_eq!(
        ready_of(&skill.status.unwrap().conditions).unwrap().0,
        "True"
    );

    // Asking for a tool the server does not offer is named.
    merge_patch(&agents, "helper", json!({"spec": {"mcpServers": [{"name": "everything", "allowedTools": [{"name": "no-such-tool"}]}]}})).await;
    let (_, message) = agent_reason_is(&agents, "helper", reasons::TOOL_NOT_FOUND).await;
    assert!(message.contains("no-such-tool"), "{message}");
    ns.delete().await;
}

/// A health check rewrites its instance's status (`lastCheckedTime`) on every check. Agents read
/// nothing of that, and with many agents per server re-resolving every agent of the namespace on
/// every check would be most of the operator's work; what they do read (the tools) still wakes them.
#[tokio::test]
async fn an_instances_health_check_rewrites_wake_no_agent_but_its_tools_do() {
    let ns = TestNamespace::create("op-wake").await;
    let server = everything_server();
    let operator = Operator::start(&ns.name, &default_model()).await;
    let instances = ns.api::<McpServerInstance>();
    let agents = ns.api::<Agent>();
    helper_on_a_remote_server(&ns, &server.url, json!({})).await;
    let agent_reconciles = || async { reconciles(&operator, "agent", &ns.name).await };
    let settled = settled(&|| async { agent_reconciles().await }).await;

    for second in 1..=5 {
        let checked = Timestamp::now() + SignedDuration::from_secs(second);
        instances
            .patch_status(
                "everything",
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {"lastCheckedTime": checked.to_string()}})),
            )
            .await
            .unwrap();
    }
    // The watch brings each rewrite within milliseconds; a reconcile it woke would long be counted.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        agent_reconciles().await,
        settled,
        "a health check's rewrite reconciled the agent"
    );

    // The server no longer offering the agent's tool is what the agent reads: it wakes and says so.
    instances
        .patch_status(
            "everything",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"tools": [], "toolCount": 0}})),
        )
        .await
        .unwrap();
    let (_, message) = agent_reason_is(&agents, "helper", reasons::TOOL_NOT_FOUND).await;
    assert!(message.contains("echo"), "{message}");
    assert!(agent_reconciles().await > settled);
    ns.delete().await;
}

#[tokio::test]
async fn a_skill_counts_the_agents_that_name_it_as_they_come_change_and_go() {
    let ns = TestNamespace::create("op-skill-users").await;
    let _operator = Operator::start(&ns.name, &default_model()).await;
    let agents = ns.api::<Agent>();
    let skills = ns.api::<Skill>();
    let agent = |name: &str, skills: &[&str]| {
        let skills: Vec<_> = skills.iter().map(|s| json!({"name": s})).collect();
        json!({
            "apiVersion": "agentarea.io/v1alpha1", "kind": "Agent", "metadata": {"name": name},
            "spec": {"instruction": "Help.", "model": {"name": "m"}, "skills": skills}
        })
    };
    let used_by = |want: &'static [&'static str]| {
        let skills = skills.clone();
        async move {
            eventually(&format!("skill used by {want:?}"), WAIT, || async {
                let status = skills.get("echoing").await.ok()?.status?;
                (status.used_by == want && status.used_by_count == Some(want.len() as i32))
                    .then_some(())
            })
            .await
        }
    };
    // Agents that name the skill before it exists are counted when it comes.
    create(&agents, agent("writer", &["echoing"])).await;
    create(&agents, agent("plain", &[])).await;
    create(
        &skills,
        json!({
            "apiVersion": "agentarea.io/v1alpha1", "kind": "Skill", "metadata": {"name": "echoing"},
            "spec": {"instructions": "Echo things.", "tools": []}
        }),
    )
    .await;
    used_by(&["writer"]).await;

    create(&agents, agent("reader", &["other", "echoing"])).await;
    used_by(&["reader", "writer"]).await;
    merge_patch(
        &agents,
        "writer",
        json!({"spec": {"skills": [{"name": "other"}]}}),
    )
    .await;
    used_by(&["reader"]).await;
    merge_patch(
        &agents,
        "plain",
        json!({"spec": {"skills": [{"name": "echoing"}]}}),
    )
    .await;
    used_by(&["plain", "reader"]).await;
    agents.delete("reader", &Default::default()).await.unwrap();
    used_by(&["plain"]).await;
    ns.delete().await;
}

/// `(name, requires approval, why)` of each tool `agent` resolved to, once it resolved
/// generation `generation` or later with every tool it names.
async fn approvals_once_resolved(
    agents: &Api<Agent>,
    name: &str,
    generation: i64,
) -> (Vec<(String, bool, String)>, Agent) {
    let agent = eventually(&format!("agent {name} resolved"), WAIT, || async {
        let agent = agents.get(name).await.ok()?;
        let status = agent.status.as_ref()?;
        let (ready, _, _) = ready_of(&status.conditions)?;
        (ready == "True" && status.observed_generation >= Some(generation)).then_some(agent)
    })
    .await;
    let approvals = agent
        .status
        .as_ref()
        .unwrap()
        .tools
        .iter()
        .map(|t| {
            (
                t.name.clone(),
                t.requires_approval,
                t.approval_reason.clone().unwrap_or_default(),
            )
        })
        .collect();
    (approvals, agent)
}

fn approvals(want: &[(&str, bool, &str)]) -> Vec<(String, bool, String)> {
    want.iter()
        .map(|(name, required, why)| (name.to_string(), *required, why.to_string()))
        .collect()
}

/// The approval policy over the hints server-everything really declares (in its tools'
/// `annotations`): every tool says `destructiveHint: false`; `echo`, `get-sum` and the other
/// getters say `readOnlyHint: true`; `toggle-simulated-logging` and `gzip-file-as-resource` say
/// `readOnlyHint: false`. The agent is created before its instances, so the hints reach it by
/// re-resolution, directly and through a compound.
#[tokio::test]
async fn an_agents_tools_need_approval_as_their_servers_hints_and_its_policy_say() {
    use agentarea_crds::mcp_server_instance::ToolAnnotations;
    let ns = TestNamespace::create("op-approval").await;
    let server = everything_server();
    let _operator = Operator::start(&ns.name, &default_model()).await;
    let agents = ns.api::<Agent>();
    let instances = ns.api::<McpServerInstance>();
    create(
        &agents,
        json!({
            "apiVersion": "agentarea.io/v1alpha1", "kind": "Agent", "metadata": {"name": "careful"},
            "spec": {
                "instruction": "Help.", "model": {"name": "m"},
                "toolApproval": {"policy": "NotReadOnly"},
                "mcpServers": [
                    {"name": "everything", "allowedTools": [
                        {"name": "echo", "requiresUserConfirmation": true}, {"name": "get-sum"},
                        {"name": "toggle-simulated-logging"}, {"name": "gzip-file-as-resource"}]},
                    {"name": "toolbox"}
                ]
            }
        }),
    )
    .await;
    create(
        &instances,
        instance("everything", json!({"remote": {"url": server.url}})),
    )
    .await;
    create(
        &instances,
        instance(
            "toolbox",
            json!({"compound": {"members": [{"name": "everything", "prefix": "x_",
                "include": ["echo", "toggle-simulated-logging"]}]}}),
        ),
    )
    .await;

    // Discovery keeps the hints as the server declared them.
    let ready = instance_ready_is(&instances, "everything", "True").await;
    let discovered = ready.status.unwrap().tools;
    let hints_of = |name: &str| {
        discovered
            .iter()
            .find(|t| t.name == name)
            .unwrap()
            .annotations
    };
    let hints = |read_only, idempotent, open_world| {
        Some(ToolAnnotations {
            read_only_hint: Some(read_only),
            destructive_hint: Some(false),
            idempotent_hint: Some(idempotent),
            open_world_hint: Some(open_world),
        })
    };
    assert_eq!(hints_of("echo"), hints(true, true, false));
    assert_eq!(
        hints_of("toggle-simulated-logging"),
        hints(false, false, false)
    );
    assert_eq!(hints_of("gzip-file-as-resource"), hints(false, true, true));

    let (decided, agent) = approvals_once_resolved(&agents, "careful", 1).await;
    assert_eq!(
        decided,
        approvals(&[
            ("echo", true, "listed with requiresUserConfirmation"),
            ("get-sum", false, "readOnlyHint (policy NotReadOnly)"),
            (
                "toggle-simulated-logging",
                true,
                "readOnlyHint false (policy NotReadOnly)"
            ),
            (
                "gzip-file-as-resource",
                true,
                "readOnlyHint false (policy NotReadOnly)"
            ),
            ("x_echo", false, "readOnlyHint (policy NotReadOnly)"),
            (
                "x_toggle-simulated-logging",
                true,
                "readOnlyHint false (policy NotReadOnly)"
            ),
        ])
    );
    // The resolved tools carry the hints too, through the compound as well, and keep what the
    // agent listed.
    let tools = agent.status.unwrap().tools;
    let resolved = |name: &str| tools.iter().find(|t| t.name == name).unwrap();
    assert_eq!(
        resolved("gzip-file-as-resource").annotations,
        hints(false, true, true)
    );
    assert_eq!(resolved("x_echo").annotations, hints(true, true, false));
    assert!(resolved("echo").requires_user_confirmation);
    assert!(!resolved("x_echo").requires_user_confirmation);

    // Under Destructive, nothing of this server needs approval but what the agent listed so.
    let patched = merge_patch(
        &agents,
        "careful",
        json!({"spec": {"toolApproval": {"policy": "Destructive"}}}),
    )
    .await;
    let generation = patched.metadata.generation.unwrap();
    let (decided, _) = approvals_once_resolved(&agents, "careful", generation).await;
    assert_eq!(
        decided,
        approvals(&[
            ("echo", true, "listed with requiresUserConfirmation"),
            ("get-sum", false, "readOnlyHint (policy Destructive)"),
            (
                "toggle-simulated-logging",
                false,
                "destructiveHint false (policy Destructive)"
            ),
            (
                "gzip-file-as-resource",
                false,
                "destructiveHint false (policy Destructive)"
            ),
            ("x_echo", false, "readOnlyHint (policy Destructive)"),
            (
                "x_toggle-simulated-logging",
                false,
                "destructiveHint false (policy Destructive)"
            ),
        ])
    );
    ns.delete().await;
}

#[tokio::test]
async fn a_managed_stdio_server_runs_behind_the_bridge_and_its_tools_are_discovered() {
    use agentarea_tests::mcp_servers::{bridge, time_server_command};
    let ns = TestNamespace::create("op-stdio").await;
    // Where the pod would run, the test runs the same bridge on loopback over the real PyPI server.
    let bridged = bridge(&[
        time_server_command().to_str().unwrap(),
        "--local-timezone",
        "UTC",
    ]);
    let _operator = Operator::start(
        &ns.name,
        &[
            (
                "AGENTAREA_MANAGED_ENDPOINT_TEMPLATE",
                format!("http://127.0.0.1:{}{{path}}", bridged.port),
            ),
            (
                "AGENTAREA_MCP_BRIDGE_IMAGE",
                "registry.example/agentarea:test".into(),
            ),
        ],
    )
    .await;
    let api = ns.api::<McpServerInstance>();
    create(
        &api,
        instance(
            "time",
            json!({"managed": {
                "image": "ghcr.io/example/mcp-time:1", "transport": "stdio",
                "command": ["mcp-server-time"], "args": ["--local-timezone", "UTC"]
            }}),
        ),
    )
    .await;
    let ready = instance_ready_is(&api, "time", "True").await;
    let names: Vec<_> = ready
        .status
        .unwrap()
        .tools
        .iter()
        .map(|t| t.name.clone())
        .collect();
    assert!(names.contains(&"get_current_time".to_string()), "{names:?}");

    // The pod runs the server as the bridge's child, the bridge copied in from the operator image.
    let deployment = ns.api::<Deployment>().get("time").await.unwrap();
    let pod = deployment.spec.unwrap().template.spec.unwrap();
    let init = &pod.init_containers.unwrap()[0];
    assert_eq!(
        init.image.as_deref(),
        Some("registry.example/agentarea:test")
    );
    assert_eq!(init.args.as_ref().unwrap()[0], "install-bridge");
    let command = pod.containers[0].command.clone().unwrap();
    assert_eq!(
        command,
        [
            "/agentarea/bin/agentarea-operator",
            "mcp-bridge",
            "--listen",
            "0.0.0.0:8080",
            "--path",
            "/mcp",
            "--",
            "mcp-server-time",
            "--local-timezone",
            "UTC"
        ]
    );
    ns.delete().await;
}

#[tokio::test]
async fn the_gateway_serves_a_compound_instance_as_one_endpoint() {
    use agentarea_operator::mcp::{call_tool, discover};
    use agentarea_tests::mcp_servers::{bridge, endpoint, time_server_command};
    let ns = TestNamespace::create("op-gateway").await;
    let everything = everything_server();
    let time = bridge(&[
        time_server_command().to_str().unwrap(),
        "--local-timezone",
        "UTC",
    ]);
    let (_operator, gateway_port) = Operator::with_gateway(&ns.name).await;
    let api = ns.api::<McpServerInstance>();
    create(
        &api,
        instance("everything", json!({"remote": {"url": everything.url}})),
    )
    .await;
    create(&api, instance("time", json!({"remote": {"url": time.url}}))).await;
    create(
        &api,
        instance(
            "toolbox",
            json!({"compound": {"members": [
                {"name": "everything", "include": ["echo", "get-sum"]},
                {"name": "time", "prefix": "time_"}
            ]}}),
        ),
    )
    .await;
    let ready = instance_ready_is(&api, "toolbox", "True").await;
    let url = ready
        .status
        .unwrap()
        .endpoint
        .expect("the gateway endpoint in status");
    assert_eq!(
        url,
        format!(
            "http://127.0.0.1:{gateway_port}/mcp/compound/{}/toolbox",
            ns.name
        )
    );

    let listed = discover(&endpoint(&url))
        .await
        .expect("tools/list through the gateway");
    let mut names: Vec<_> = listed.tools.iter().map(|t| t.name.clone()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "echo",
            "get-sum",
            "time_convert_time",
            "time_get_current_time"
        ]
    );

    // With the hints the member declared.
    let echo = listed.tools.iter().find(|t| t.name == "echo").unwrap();
    let hints = echo
        .annotations
        .expect("echo's annotations through the gateway");
    assert_eq!(
        (hints.read_only_hint, hints.destructive_hint),
        (Some(true), Some(false))
    );

    let echoed = call_tool(
        &endpoint(&url),
        "echo",
        json!({"message": "via the gateway"}),
    )
    .await
    .unwrap();
    assert!(echoed.to_string().contains("via the gateway"), "{echoed}");
    let now = call_tool(
        &endpoint(&url),
        "time_get_current_time",
        json!({"timezone": "Europe/Berlin"}),
    )
    .await
    .unwrap();
    assert!(now.to_string().contains("Europe/Berlin"), "{now}");
    // As the specification has it: a protocol error, invalid params.
    let unknown = call_tool(&endpoint(&url), "nope", json!({}))
        .await
        .expect_err("an unknown tool is a protocol error");
    assert!(
        unknown.to_string().contains("Unknown tool: nope"),
        "{unknown}"
    );
    ns.delete().await;
}

/// A server of the stateless era alone (2026-07-28: no `initialize`), made with the official
/// Python SDK: the operator discovers it and calls its tools, and its instance is Ready with the
/// protocol version it speaks in status.
#[tokio::test]
async fn a_server_of_the_stateless_era_alone_is_discovered_and_called() {
    use agentarea_operator::mcp::{call_tool, discover};
    use agentarea_tests::mcp_servers::{endpoint, stateless_only_server};
    let server = stateless_only_server();
    let found = discover(&endpoint(&server.url))
        .await
        .expect("server/discover and tools/list");
    let mut names: Vec<_> = found.tools.iter().map(|t| t.name.clone()).collect();
    names.sort();
    assert_eq!(names, ["add", "confirm", "echo", "write_note"]);
    assert_eq!(
        found.server_info.protocol_version.as_deref(),
        Some("2026-07-28")
    );
    let echoed = call_tool(
        &endpoint(&server.url),
        "echo",
        json!({"message": "stateless"}),
    )
    .await
    .unwrap();
    assert!(echoed.to_string().contains("Echo: stateless"), "{echoed}");
    let sum = call_tool(&endpoint(&server.url), "add", json!({"a": 2, "b": 40}))
        .await
        .unwrap();
    assert!(sum.to_string().contains("42"), "{sum}");

    let ns = TestNamespace::create("op-stateless").await;
    let _operator = Operator::start(&ns.name, &default_model()).await;
    let api = ns.api::<McpServerInstance>();
    create(
        &api,
        instance("modern", json!({"remote": {"url": server.url}})),
    )
    .await;
    let ready = instance_ready_is(&api, "modern", "True").await;
    let status = ready.status.unwrap();
    assert_eq!(
        status
            .server_info
            .and_then(|info| info.protocol_version)
            .as_deref(),
        Some("2026-07-28")
    );
    assert_eq!(status.tools.len(), 4);
    ns.delete().await;
}

/// A client of the handshake era reaches a member that speaks only 2026-07-28 through the gateway:
/// what that era lacks (`ping`, `logging/setLevel`) the relay answers, and calls go through with
/// the client's context on each request.
#[tokio::test]
#[allow(deprecated)] // logging/setLevel: deprecated in 2026-07-28, still what this era's clients send
async fn a_handshake_client_reaches_a_stateless_only_member_through_the_gateway() {
    use agentarea_operator::mcp::era::is_stateless;
    use agentarea_tests::mcp_servers::handshake_session;
    use rmcp::model::{
        CallToolRequestParams, ClientRequest, LoggingLevel, PingRequest, ProtocolVersion,
        SetLevelRequestParams,
    };
    let (ns, _modern, _operator, url) = compound_of_a_stateless_member("op-gateway-eras").await;
    let session = handshake_session(&url, ()).await;
    let negotiated = session.peer_info().unwrap().protocol_version.clone();
    assert!(!is_stateless(&negotiated), "{negotiated}");
    assert!(negotiated <= ProtocolVersion::V_2025_11_25);
    let peer = session.peer();
    peer.send_request(ClientRequest::PingRequest(PingRequest::default()))
        .await
        .expect("ping, answered by the relay");
    peer.set_level(SetLevelRequestParams::new(LoggingLevel::Debug))
        .await
        .expect("logging/setLevel, kept by the relay");
    let mut call = CallToolRequestParams::new("add");
    call.arguments = json!({"a": 2, "b": 40}).as_object().cloned();
    let sum = peer
        .call_tool(call)
        .await
        .expect("a call to the stateless member");
    assert!(json!(sum).to_string().contains("42"), "{sum:?}");
    ns.delete().await;
}

/// What a server of the stateless era asks and announces reaches a client of the handshake era
/// through the gateway, and a stateless client's listen reaches it too:
/// - its elicitation (an `input_required` result, in its era) is asked of the handshake client on
///   its session, and the call goes on with the answer;
/// - the handshake client's `resources/subscribe` and the list changes it hears unprompted come
///   from the relay's standing listen upstream;
/// - a stateless client's `subscriptions/listen` is acknowledged and carries the same changes.
#[tokio::test]
#[allow(deprecated)] // resources/subscribe: what a client of the handshake era sends
async fn input_requests_and_subscriptions_cross_the_eras_through_the_gateway() {
    use agentarea_tests::mcp_servers::{RecordingClient, stateless_session};
    use rmcp::model::{
        CallToolRequestParams, SubscribeRequestParams, SubscriptionFilter, UnsubscribeRequestParams,
    };
    let (ns, _modern, _operator, url) = compound_of_a_stateless_member("op-gateway-crossing").await;
    let call = |name: &str, arguments: Value| {
        let mut call = CallToolRequestParams::new(name.to_string());
        call.arguments = arguments.as_object().cloned();
        call
    };
    let text = |result: rmcp::model::CallToolResult| json!(result.content).to_string();

    let client = RecordingClient::default();
    let session = client.connect(&url).await;
    let confirmed = session
        .peer()
        .call_tool(call("confirm", json!({"action": "deploy"})))
        .await
        .expect("a call the member asks input for");
    assert!(text(confirmed).contains("deploy: confirmed"));
    assert_eq!(*client.elicitations.lock().unwrap(), ["Confirm deploy?"]);

    session
        .peer()
        .subscribe(SubscribeRequestParams::new("memo://note"))
        .await
        .expect("resources/subscribe, to a member that has none");
    session
        .peer()
        .call_tool(call("write_note", json!({"text": "first"})))
        .await
        .expect("write_note");
    let heard = client
        .changes_include(&["resources/updated memo://note", "tools/list_changed"])
        .await;
    assert!(
        heard.contains(&"resources/updated memo://note".to_string()),
        "{heard:?}"
    );
    assert!(
        heard.contains(&"tools/list_changed".to_string()),
        "{heard:?}"
    );

    // A stateless client listens to the same compound; the handshake client unsubscribes.
    let listener = stateless_session(&url, ()).await;
    let mut listen = listener
        .peer()
        .listen(
            SubscriptionFilter::builder()
                .resource_subscription("memo://note")
                .build(),
        )
        .await
        .expect("subscriptions/listen through the gateway");
    assert_eq!(
        listen.acknowledged().resource_subscriptions,
        Some(vec!["memo://note".to_string()])
    );
    session
        .peer()
        .unsubscribe(UnsubscribeRequestParams::new("memo://note"))
        .await
        .expect("resources/unsubscribe");
    client.changes.lock().unwrap().clear();
    // rmcp acknowledges a listen from `get_info`, before the gateway has opened the member's own
    // listen (the limit docs/design.md names): a write just after the acknowledgment can come
    // before it, so the client writes until its listen hears one.
    let mut updated = None;
    for attempt in 0..10 {
        listener
            .peer()
            .call_tool(call(
                "write_note",
                json!({ "text": format!("second, {attempt}") }),
            ))
            .await
            .expect("write_note, statelessly");
        let heard = tokio::time::timeout(std::time::Duration::from_secs(2), listen.next()).await;
        if let Ok(next) = heard {
            updated = Some(next.expect("the listen goes on").expect("a notification"));
            break;
        }
    }
    let updated = updated.expect("a change heard within ten writes");
    assert!(
        json!(updated).to_string().contains("memo://note"),
        "{updated:?}"
    );
    let heard = client.changes_include(&["tools/list_changed"]).await;
    assert!(
        !heard.iter().any(|h| h.starts_with("resources/updated")),
        "unsubscribed, yet heard {heard:?}"
    );
    ns.delete().await;
}

/// The official MCP Python SDK's client against a compound, in each of its modes (its default,
/// the handshake era, the stateless era): the compound's tools, a member's progress, a slow call
/// given up, an unknown tool refused as a protocol error, and a close without complaint.
#[tokio::test]
async fn the_python_sdk_uses_the_gateway_in_each_of_its_modes() {
    use agentarea_tests::mcp_servers::{
        assert_answered_as_specified, everything_plan, python_sdk_client,
    };
    let ns = TestNamespace::create("op-gateway-sdk").await;
    let everything = everything_server();
    let (_operator, _) = Operator::with_gateway(&ns.name).await;
    let url = compound_of_remotes(
        &ns,
        &[("everything", &everything.url)],
        json!({"members": [
            {"name": "everything", "include": ["echo", "trigger-long-running-operation"]}
        ]}),
    )
    .await;
    for (mode, version) in [
        ("auto", "2026-07-28"),
        ("legacy", "2025-11-25"),
        ("2026-07-28", "2026-07-28"),
    ] {
        let seen = python_sdk_client(&url, mode, &everything_plan("", mode)).await;
        assert_eq!(seen["protocol_version"], version, "{seen}");
        assert_eq!(
            seen["tools"],
            json!(["echo", "trigger-long-running-operation"]),
            "{seen}"
        );
        assert_eq!(seen["called"], format!("Echo: hello in {mode}"), "{seen}");
        assert_eq!(seen["progress"].as_array().map(Vec::len), Some(3), "{seen}");
        assert_eq!(
            (&seen["cancelled"], &seen["after_cancel"]),
            (&json!(true), &seen["called"]),
            "{seen}"
        );
        assert_answered_as_specified(&seen, mode);
    }
    ns.delete().await;
}

/// The other way round: a member of the handshake era asks for input in the middle of a
/// stateless client's call through the gateway. The client is answered `input_required`; the call
/// waits on the member session of its first request; and the client's next request (new to the
/// gateway, with member sessions of its own) takes the call back with the answer.
#[tokio::test]
async fn a_handshake_member_asking_during_a_stateless_call_is_answered_through_the_gateway() {
    use agentarea_tests::mcp_servers::{RecordingClient, handshake_only_server, stateless_session};
    use rmcp::model::{CallToolRequestParams, CallToolResponse};
    let (_ns, _legacy, _operator, url) =
        compound_of_one_member("op-gateway-asking", "legacy", handshake_only_server()).await;
    let client = RecordingClient::default();
    let session = stateless_session(&url, client.clone()).await;
    let mut confirm = CallToolRequestParams::new("confirm");
    confirm.arguments = json!({"action": "deploy"}).as_object().cloned();

    let first = session
        .call_tool_once(confirm.clone())
        .await
        .expect("tools/call");
    assert!(
        matches!(first, CallToolResponse::InputRequired(_)),
        "{first:?}"
    );
    let confirmed = session
        .call_tool(confirm)
        .await
        .expect("the member's question answered");
    assert!(
        json!(confirmed.content)
            .to_string()
            .contains("deploy: confirmed"),
        "{confirmed:?}"
    );
    assert_eq!(*client.elicitations.lock().unwrap(), ["Confirm deploy?"]);
}

/// A namespace named after `prefix`, a server of the stateless era alone, an operator with its
/// gateway, and the gateway's endpoint of a compound whose one member is that server.
async fn compound_of_a_stateless_member(
    prefix: &str,
) -> (
    TestNamespace,
    agentarea_tests::mcp_servers::McpServer,
    Operator,
    String,
) {
    let modern = agentarea_tests::mcp_servers::stateless_only_server();
    compound_of_one_member(prefix, "modern", modern).await
}

/// `server` as the remote instance `name`, the one member of a compound, behind a gateway:
/// the namespace, the server, the operator and the compound's endpoint.
async fn compound_of_one_member(
    prefix: &str,
    name: &str,
    server: agentarea_tests::mcp_servers::McpServer,
) -> (
    TestNamespace,
    agentarea_tests::mcp_servers::McpServer,
    Operator,
    String,
) {
    let ns = TestNamespace::create(prefix).await;
    let (operator, _) = Operator::with_gateway(&ns.name).await;
    let url = compound_of_remotes(
        &ns,
        &[(name, &server.url)],
        json!({"members": [{ "name": name }]}),
    )
    .await;
    (ns, server, operator, url)
}

/// Remote instances of `remotes` (name and URL) and a compound of them, `compound` its spec, once
/// Ready: the compound's endpoint on the gateway.
async fn compound_of_remotes(
    ns: &TestNamespace,
    remotes: &[(&str, &str)],
    compound: Value,
) -> String {
    let api = ns.api::<McpServerInstance>();
    for (name, url) in remotes {
        create(&api, instance(name, json!({"remote": {"url": url}}))).await;
    }
    create(&api, instance("compound", json!({ "compound": compound }))).await;
    instance_ready_is(&api, "compound", "True")
        .await
        .status
        .unwrap()
        .endpoint
        .expect("the gateway endpoint")
}

/// Through the gateway, prompts are named with the member's prefix like tools (names collide),
/// resources keep their URIs, and each goes to the member that offers it.
#[tokio::test]
async fn the_gateway_prefixes_prompts_and_routes_resources_by_uri() {
    use agentarea_tests::mcp_servers::RecordingClient;
    use rmcp::model::{GetPromptRequestParams, ReadResourceRequestParams};
    let ns = TestNamespace::create("op-gateway-prompts").await;
    let (first, second) = (everything_server(), everything_server());
    let (_operator, _) = Operator::with_gateway(&ns.name).await;
    let url = compound_of_remotes(
        &ns,
        &[("first", &first.url), ("second", &second.url)],
        json!({"members": [
            {"name": "first", "include": ["echo"]},
            {"name": "second", "prefix": "second_", "include": ["echo"]}
        ]}),
    )
    .await;
    let session = RecordingClient::default().connect(&url).await;
    let peer = session.peer();

    let prompts: Vec<String> = peer
        .list_all_prompts()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    let direct = RecordingClient::default().connect(&first.url).await;
    let own: Vec<String> = direct
        .peer()
        .list_all_prompts()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert!(!own.is_empty());
    for name in &own {
        assert!(prompts.contains(name), "{name} in {prompts:?}");
        assert!(prompts.contains(&format!("second_{name}")), "{prompts:?}");
    }
    let simple = own.iter().find(|n| n.contains("simple")).unwrap();
    let got = peer
        .get_prompt(GetPromptRequestParams::new(format!("second_{simple}")))
        .await
        .expect("a prefixed prompt, from its member");
    assert!(!got.messages.is_empty());

    // Both members list the same URIs: the client sees each once, and can read it.
    let resources = peer.list_all_resources().await.unwrap();
    let mut uris: Vec<&str> = resources.iter().map(|r| r.uri.as_str()).collect();
    let listed = uris.len();
    uris.sort();
    uris.dedup();
    assert_eq!(uris.len(), listed, "each URI once");
    let read = peer
        .read_resource(ReadResourceRequestParams::new(uris[0]))
        .await
        .expect("a resource, from its member");
    assert!(!read.contents.is_empty());
    ns.delete().await;
}

#[tokio::test]
async fn one_leader_runs_the_controllers_and_another_takes_over_when_it_dies() {
    use k8s_openapi::api::coordination::v1::Lease;
    let ns = TestNamespace::create("op-leader").await;
    let env = |replica: &str| {
        [
            ("AGENTAREA_LEADER_ELECT", "true".to_string()),
            ("AGENTAREA_LEADER_ELECTION_NAMESPACE", ns.name.clone()),
            ("AGENTAREA_POD_NAME", replica.to_string()),
        ]
    };
    let leases: Api<Lease> = ns.api();
    let holder = || async {
        leases
            .get_opt("agentarea-operator")
            .await
            .ok()
            .flatten()
            .and_then(|l| l.spec)
            .and_then(|s| s.holder_identity)
    };
    let skills = ns.api::<Skill>();
    let skill_ready = |name: &'static str| {
        let skills = skills.clone();
        async move {
            eventually(&format!("skill {name} reconciled"), WAIT, || async {
                let skill = skills.get(name).await.ok()?;
                let conditions = skill.status?.conditions;
                (ready_of(&conditions)?.0 == "True").then_some(())
            })
            .await
        }
    };
    let skill = |name: &str| {
        json!({"apiVersion": "agentarea.io/v1alpha1", "kind": "Skill", "metadata": {"name": name},
               "spec": {"instructions": "Be brief."}})
    };

    let first = Operator::start(&ns.name, &env("replica-a")).await;
    let leader = eventually("a leader", WAIT, || async {
        holder().await.filter(|h| !h.is_empty())
    })
    .await;
    assert!(leader.starts_with("replica-a/"), "{leader}");
    let second = Operator::start(&ns.name, &env("replica-b")).await;
    create(&skills, skill("first")).await;
    skill_ready("first").await;
    assert!(
        holder().await.unwrap().starts_with("replica-a/"),
        "one leader at a time"
    );

    // The leader dies without handing the Lease back: the other replica takes over after it
    // expires, and reconciles what comes next.
    first.process.kill();
    eventually("replica-b leads", WAIT, || async {
        holder().await.filter(|h| h.starts_with("replica-b/"))
    })
    .await;
    create(&skills, skill("second")).await;
    skill_ready("second").await;

    // A leader that stops cleanly hands the Lease back.
    second.process.terminate(Duration::from_secs(10));
    eventually("the Lease released", WAIT, || async {
        holder().await.is_none().then_some(())
    })
    .await;
    ns.delete().await;
}

#[tokio::test]
async fn a_repeated_event_is_counted_on_the_event_it_repeats() {
    let ns = TestNamespace::create("op-events").await;
    let regarded = create(
        &ns.api::<ConfigMap>(),
        json!({"metadata": {"name": "regarded"}}),
    )
    .await;
    let recorder = Recorder::new(ns.client.clone(), "agentarea-operator", "test");
    let occurrence = |note: &'static str| Occurrence {
        regarding: regarded.object_ref(&()),
        type_: EventType::Warning,
        reason: "Unreachable",
        note,
    };
    let events = Api::<SeriesEvent>::namespaced(ns.client.clone(), &ns.name);
    let written = || async {
        let mut all = events.list(&ListParams::default()).await.unwrap().items;
        all.sort_by_key(|e| e.event_time.clone().map(|t| t.0));
        all.into_iter()
            .map(|e| {
                let count = e.series.map_or(1, |s| s.count);
                (e.metadata.name.unwrap(), e.note.unwrap(), count)
            })
            .collect::<Vec<_>>()
    };

    for _ in 0..3 {
        recorder.publish(&occurrence("refused")).await.unwrap();
    }
    recorder.publish(&occurrence("timed out")).await.unwrap();
    let after = written().await;
    let notes: Vec<(&str, i32)> = after.iter().map(|(_, n, c)| (n.as_str(), *c)).collect();
    assert_eq!(notes, [("refused", 3), ("timed out", 1)], "{after:?}");

    // An Event deleted meanwhile (the apiserver expires them after an hour): the next repeat is
    // written as a new one.
    events
        .delete(&after[0].0, &DeleteParams::default())
        .await
        .unwrap();
    recorder.publish(&occurrence("refused")).await.unwrap();
    let again = written().await;
    let notes: Vec<(&str, i32)> = again.iter().map(|(_, n, c)| (n.as_str(), *c)).collect();
    assert_eq!(notes, [("timed out", 1), ("refused", 1)], "{again:?}");
    assert_ne!(again[1].0, after[0].0);
    ns.delete().await;
}

/// Metadata others add to our objects (a GitOps engine's labels, an injector's annotations on
/// our resources and on the pod template of a managed server's Deployment) is not a change the
/// operator fights: over a quiet minute after it is added, no controller reconciles anything
/// (`agentarea_operator_reconciles_total` unchanged), and what the injector added stays.
#[tokio::test]
async fn labels_and_annotations_others_add_reconcile_nothing_over_a_quiet_minute() {
    let ns = TestNamespace::create("op-quiet").await;
    let server = everything_server();
    // No kubelet here: the managed instance is reached at the real server on loopback.
    let [model] = default_model();
    let operator = Operator::start(
        &ns.name,
        &[
            model,
            (
                "AGENTAREA_MANAGED_ENDPOINT_TEMPLATE",
                format!("http://127.0.0.1:{}{{path}}", server.port),
            ),
        ],
    )
    .await;
    let instances = ns.api::<McpServerInstance>();
    let agents = ns.api::<Agent>();
    let skills = ns.api::<Skill>();
    create(
        &skills,
        json!({"apiVersion": "agentarea.io/v1alpha1", "kind": "Skill", "metadata": {"name": "tone"},
               "spec": {"instructions": "Be kind."}}),
    )
    .await;
    helper_on_a_remote_server(&ns, &server.url, json!({"skills": [{"name": "tone"}]})).await;
    create(
        &instances,
        instance(
            "managed",
            json!({"managed": {"image": "example.org/mcp/everything:1.0", "port": 3001,
                               "args": ["streamableHttp"]},
                   "discoveryIntervalSeconds": 86400}),
        ),
    )
    .await;
    instance_ready_is(&instances, "managed", "True").await;
    let counts = || async {
        [
            reconciles(&operator, "agent", &ns.name).await,
            reconciles(&operator, "skill", &ns.name).await,
            reconciles(&operator, "mcp_server_instance", &ns.name).await,
        ]
    };
    let settled = settled(&counts).await;

    // As Flux labels what it applies, and an injector annotates: on every object.
    let marks = json!({"metadata": {
        "labels": {"kustomize.toolkit.fluxcd.io/name": "agents",
                   "kustomize.toolkit.fluxcd.io/namespace": "flux-system"},
        "annotations": {"sidecar.example.com/injected": "true"}}});
    merge_patch(&instances, "everything", marks.clone()).await;
    merge_patch(&instances, "managed", marks.clone()).await;
    merge_patch(&skills, "tone", marks.clone()).await;
    merge_patch(&agents, "helper", marks).await;
    assert_eq!(
        settled_after_a_moment(&counts).await,
        settled,
        "metadata woke a reconcile"
    );
    // An injector annotates the pod template (a spec change of the Deployment: its instance may
    // look once, and must leave the annotation be).
    let deployments = ns.api::<Deployment>();
    let injected = json!({"spec": {"template": {"metadata": {"annotations": {"sidecar.example.com/inject": "true"}}}}});
    deployments
        .patch(
            "managed",
            &PatchParams::apply("sidecar-injector"),
            &Patch::Merge(&injected),
        )
        .await
        .expect("the injector's patch");
    let after_injection = settled_after_a_moment(&counts).await;
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(
        counts().await,
        after_injection,
        "(agent, skill, mcp_server_instance) reconciles over a quiet minute"
    );
    assert!(
        after_injection[2] <= settled[2] + 1.0,
        "the injection woke the instance at most once: {settled:?} -> {after_injection:?}"
    );
    let template = pod_spec_annotations(&deployments.get("managed").await.unwrap());
    assert_eq!(
        template
            .get("sidecar.example.com/inject")
            .map(String::as_str),
        Some("true")
    );
    ns.delete().await;
}

/// A remote instance `everything` (Ready, and checked no more in the test's time: every status
/// rewrite is the test's) and an agent `helper` allowed its `echo`, with `spec` added, resolved.
async fn helper_on_a_remote_server(ns: &TestNamespace, url: &str, spec: Value) {
    let instances = ns.api::<McpServerInstance>();
    let agents = ns.api::<Agent>();
    create(
        &instances,
        instance(
            "everything",
            json!({"remote": {"url": url}, "discoveryIntervalSeconds": 86400}),
        ),
    )
    .await;
    instance_ready_is(&instances, "everything", "True").await;
    let mut agent = json!({
        "apiVersion": "agentarea.io/v1alpha1", "kind": "Agent", "metadata": {"name": "helper"},
        "spec": {"instruction": "Help.", "model": {"name": "m"},
                 "mcpServers": [{"name": "everything", "allowedTools": [{"name": "echo"}]}]}
    });
    agent["spec"]
        .as_object_mut()
        .unwrap()
        .extend(spec.as_object().unwrap().clone());
    create(&agents, agent).await;
    agent_reason_is(&agents, "helper", reasons::RESOLVED).await;
}

/// The operator's count of reconciles of `controller`'s objects in `namespace`.
async fn reconciles(operator: &Operator, controller: &str, namespace: &str) -> f64 {
    let page = operator.metrics().await;
    let series = format!(
        r#"agentarea_operator_reconciles_total{{controller="{controller}",namespace="{namespace}"}}"#
    );
    sample(&page, &series).unwrap_or(0.0)
}

/// The pod template's annotations of `deployment`.
fn pod_spec_annotations(deployment: &Deployment) -> std::collections::BTreeMap<String, String> {
    deployment
        .spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.annotations.clone())
        .unwrap_or_default()
}

/// What `count` gives a few seconds after a change (the watches bring it in milliseconds), once
/// it holds still.
async fn settled_after_a_moment<T: PartialEq, F: Future<Output = T>>(count: &impl Fn() -> F) -> T {
    tokio::time::sleep(Duration::from_secs(3)).await;
    settled(count).await
}

/// What `count` gives once it gives the same twice, seconds apart.
async fn settled<T: PartialEq, F: Future<Output = T>>(count: &impl Fn() -> F) -> T {
    eventually("the reconciles settled", WAIT, || async {
        let before = count().await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        (count().await == before).then_some(before)
    })
    .await
}
