//! Delivery: the Helm chart with the real `helm` (lint, template, schema, install) and the rendered
//! manifests checked by the real apiserver; the examples applied with `kubectl` (validation,
//! printer columns, and a second apply that changes nothing, server-side and client-side); the
//! kind configuration, the Makefile's kind sequence and the Dockerfile, as far as they run without
//! Docker.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Output;

use agentarea_tests::control_plane::assert_success;
use agentarea_tests::{
    ChildProcess, TestNamespace, control_plane, dashboard, eventually, free_port, helm, helm_path,
    repo_root, wait_until_ok, workspace_binary,
};
use serde::Deserialize;
use serde_json::{Value, json};

fn chart() -> String {
    repo_root().join("charts/agentarea").display().to_string()
}

fn ci_values(name: &str) -> String {
    repo_root()
        .join("charts/agentarea/ci")
        .join(name)
        .display()
        .to_string()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// `helm template <release> <chart> -n <namespace> <extra...>`, which must succeed.
fn render(release: &str, namespace: &str, extra: &[&str]) -> String {
    let chart = chart();
    let mut args = vec![
        "template",
        release,
        chart.as_str(),
        "--namespace",
        namespace,
    ];
    args.extend_from_slice(extra);
    let output = helm(&args, None);
    assert_success(&format!("helm template {extra:?}"), &output);
    String::from_utf8(output.stdout).expect("utf-8 manifests")
}

/// The documents of a multi-document YAML stream, empty ones left out.
fn documents(yaml: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(yaml)
        .map(|document| Value::deserialize(document).expect("rendered YAML parses"))
        .filter(|value| !value.is_null())
        .collect()
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| {
            panic!(
                "no {kind} {name} among {:?}",
                objects
                    .iter()
                    .map(|o| format!("{}/{}", o["kind"], o["metadata"]["name"]))
                    .collect::<Vec<_>>()
            )
        })
}

fn kinds(objects: &[Value]) -> BTreeSet<String> {
    objects
        .iter()
        .map(|o| o["kind"].as_str().unwrap().to_string())
        .collect()
}

/// The env of the first container of a Deployment, as name -> the env entry.
fn env(deployment: &Value) -> BTreeMap<String, Value> {
    deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .expect("env list")
        .iter()
        .map(|e| (e["name"].as_str().unwrap().to_string(), e.clone()))
        .collect()
}

fn env_value(deployment: &Value, name: &str) -> Option<String> {
    env(deployment)
        .get(name)
        .and_then(|e| e["value"].as_str().map(str::to_string))
}

/// The names of the env entries of a Deployment's first container that configure traces (the
/// OTEL_* variables and the pod name they refer to), in their order.
fn tracing_env(deployment: &Value) -> Vec<String> {
    deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .expect("env list")
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_string())
        .filter(|name| name.starts_with("OTEL_") || name == "K8S_POD_NAME")
        .collect()
}

fn rule_grants(role: &Value, group: &str, resource: &str, verb: &str) -> bool {
    role["rules"].as_array().unwrap().iter().any(|rule| {
        let has = |field: &str, wanted: &str| {
            rule[field]
                .as_array()
                .is_some_and(|v| v.iter().any(|x| x == wanted || x == "*"))
        };
        has("apiGroups", group) && has("resources", resource) && has("verbs", verb)
    })
}

#[test]
fn helm_lint_passes_with_default_and_ci_values() {
    let chart = chart();
    let output = helm(["lint", "--strict", chart.as_str()], None);
    assert_success("helm lint", &output);
    for values in ["kind-values.yaml", "production-values.yaml"] {
        let file = ci_values(values);
        let output = helm(
            ["lint", "--strict", chart.as_str(), "-f", file.as_str()],
            None,
        );
        assert_success(&format!("helm lint -f {values}"), &output);
    }
}

#[test]
fn default_values_render_a_hardened_operator_and_api() {
    let objects = documents(&render("aa", "agentarea", &[]));
    let expected: BTreeSet<String> = [
        "ServiceAccount",
        "Secret",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "Service",
        "Deployment",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(kinds(&objects), expected);
    for object in &objects {
        let cluster_scoped = [
            "ClusterRole",
            "ClusterRoleBinding",
            "ValidatingAdmissionPolicy",
            "ValidatingAdmissionPolicyBinding",
        ];
        if !cluster_scoped.contains(&object["kind"].as_str().unwrap_or_default()) {
            assert_eq!(
                object["metadata"]["namespace"], "agentarea",
                "every namespaced object names its namespace (GitOps tools apply it as rendered): {object}"
            );
        }
        assert_eq!(
            object["metadata"]["labels"]["app.kubernetes.io/instance"],
            "aa"
        );
    }

    let operator = find(&objects, "Deployment", "aa-agentarea-operator");
    let pod = &operator["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    assert_eq!(container["image"], "agentarea/agentarea:0.1.0");
    assert_eq!(container["imagePullPolicy"], "IfNotPresent");
    assert_eq!(container["command"][0], "agentarea-operator");
    assert_eq!(pod["serviceAccountName"], "aa-agentarea-operator");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["ports"][0]["name"], "health");
    assert_eq!(container["ports"][0]["containerPort"], 8081);
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["securityContext"]["runAsUser"], 65532);
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(
        container["securityContext"]["allowPrivilegeEscalation"],
        false
    );
    assert_eq!(
        container["securityContext"]["capabilities"]["drop"],
        serde_json::json!(["ALL"])
    );
    assert_eq!(
        env_value(operator, "AGENTAREA_HEALTH_ADDR").as_deref(),
        Some("0.0.0.0:8081")
    );
    assert_eq!(
        env_value(operator, "AGENTAREA_LEADER_ELECT").as_deref(),
        Some("true")
    );
    assert_eq!(
        env_value(operator, "AGENTAREA_TASK_CONCURRENCY").as_deref(),
        Some("4")
    );
    assert_eq!(
        env_value(operator, "AGENTAREA_MCP_BRIDGE_IMAGE").as_deref(),
        Some("agentarea/agentarea:0.1.0")
    );
    assert_eq!(
        env_value(operator, "AGENTAREA_RECONCILE_CONCURRENCY").as_deref(),
        Some("8")
    );
    assert!(env_value(operator, "AGENTAREA_DEFAULT_MODEL_ENDPOINT").is_none());

    let api = find(&objects, "Deployment", "aa-agentarea-api");
    for deployment in [operator, api] {
        assert_eq!(
            tracing_env(deployment),
            Vec::<String>::new(),
            "no traces without tracing.otlpEndpoint"
        );
    }
    let container = &api["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["command"][0], "agentarea-api");
    assert_eq!(container["ports"][0]["containerPort"], 8000);
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    let api_env = env(api);
    assert_eq!(
        api_env["AGENTAREA_JWT_SECRET"]["valueFrom"]["secretKeyRef"],
        serde_json::json!({"name": "aa-agentarea-api-auth", "key": "jwt-secret"})
    );
    assert!(!api_env.contains_key("AGENTAREA_JWKS_URL"));
    assert_eq!(
        env_value(api, "AGENTAREA_WORKSPACE_CLAIM").as_deref(),
        Some("workspace")
    );

    let secret = find(&objects, "Secret", "aa-agentarea-api-auth");
    let key = secret["data"]["jwt-secret"]
        .as_str()
        .expect("generated key");
    assert!(key.len() >= 48, "a generated HS256 key of 48 characters");

    let service = find(&objects, "Service", "aa-agentarea-api");
    assert_eq!(service["spec"]["type"], "ClusterIP");
    assert_eq!(service["spec"]["ports"][0]["port"], 8000);
    assert!(service["spec"]["ports"][0].get("nodePort").is_none());
    assert_eq!(
        service["spec"]["selector"],
        api["spec"]["selector"]["matchLabels"]
    );
}

#[test]
fn rbac_is_least_privilege_as_rendered() {
    let objects = documents(&render("aa", "agentarea", &[]));
    let operator = find(&objects, "ClusterRole", "aa-agentarea-operator");
    for (group, resource, verb) in [
        ("agentarea.io", "agents", "watch"),
        ("agentarea.io", "tasks", "create"),
        ("agentarea.io", "tasks", "delete"),
        ("agentarea.io", "tasks/status", "patch"),
        ("agentarea.io", "mcpserverinstances/status", "update"),
        ("apps", "deployments", "patch"),
        ("", "services", "create"),
        ("", "serviceaccounts", "delete"),
        ("", "secrets", "get"),
        ("", "secrets", "create"),
        ("", "configmaps", "watch"),
        ("", "namespaces", "watch"),
        ("events.k8s.io", "events", "create"),
    ] {
        assert!(
            rule_grants(operator, group, resource, verb),
            "operator may {verb} {group}/{resource}"
        );
    }
    for (group, resource, verb) in [
        ("agentarea.io", "agents", "delete"),
        ("agentarea.io", "agents", "create"),
        ("", "secrets", "update"),
        ("", "secrets", "delete"),
        ("", "namespaces", "create"),
        ("coordination.k8s.io", "leases", "create"),
    ] {
        assert!(
            !rule_grants(operator, group, resource, verb),
            "operator must not {verb} {group}/{resource} cluster-wide"
        );
    }
    let leases = find(&objects, "Role", "aa-agentarea-operator-leader-election");
    assert!(rule_grants(
        leases,
        "coordination.k8s.io",
        "leases",
        "update"
    ));

    // The api acts in workspaces as their identities: as itself it watches, makes namespaces and
    // sets them up, and nothing else.
    let api = find(&objects, "ClusterRole", "aa-agentarea-api");
    for (group, resource, verb) in [
        ("agentarea.io", "agents", "watch"),
        ("agentarea.io", "tasks", "list"),
        ("", "namespaces", "create"),
        ("", "serviceaccounts", "impersonate"),
        ("rbac.authorization.k8s.io", "rolebindings", "create"),
        ("rbac.authorization.k8s.io", "clusterroles", "bind"),
        ("", "resourcequotas", "patch"),
        ("", "limitranges", "create"),
        ("", "resourcequotas/status", "patch"),
    ] {
        assert!(
            rule_grants(api, group, resource, verb),
            "api may {verb} {group}/{resource}"
        );
    }
    for (group, resource, verb) in [
        ("agentarea.io", "agents", "create"),
        ("agentarea.io", "triggers", "delete"),
        ("agentarea.io", "tasks/status", "patch"),
        ("", "secrets", "get"),
        ("", "secrets", "list"),
        ("", "namespaces", "delete"),
        ("", "users", "impersonate"),
        ("", "groups", "impersonate"),
        ("rbac.authorization.k8s.io", "clusterroles", "create"),
        ("rbac.authorization.k8s.io", "clusterrolebindings", "create"),
        ("apps", "deployments", "create"),
    ] {
        assert!(
            !rule_grants(api, group, resource, verb),
            "api must not {verb} {group}/{resource}"
        );
    }
    let restricted_to = |resource: &str, verb: &str| -> Vec<Value> {
        let rules = api["rules"].as_array().unwrap();
        let rule = rules
            .iter()
            .find(|r| {
                r["resources"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|x| x == resource)
                    && r["verbs"].as_array().unwrap().iter().any(|x| x == verb)
            })
            .unwrap();
        rule["resourceNames"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(
        restricted_to("serviceaccounts", "impersonate"),
        [json!("agentarea-workspace")],
        "the api impersonates workspace identities only"
    );
    assert_eq!(
        restricted_to("clusterroles", "bind"),
        [json!("aa-agentarea-workspace")],
        "the api binds the workspace role only"
    );

    // The workspace role is what the api binary knows it as.
    let workspace = find(&objects, "ClusterRole", "aa-agentarea-workspace");
    let rules: Vec<k8s_openapi::api::rbac::v1::PolicyRule> =
        serde_json::from_value(workspace["rules"].clone()).unwrap();
    assert_eq!(rules, agentarea_api::workspace::identity::rules());

    for object in &objects {
        if let Some(rules) = object["rules"].as_array() {
            for rule in rules {
                for field in ["apiGroups", "resources", "verbs"] {
                    assert!(
                        !rule[field].as_array().unwrap().iter().any(|v| v == "*"),
                        "no wildcards in {}: {rule}",
                        object["metadata"]["name"]
                    );
                }
            }
        }
    }
}

#[test]
fn production_values_map_to_env_ingress_and_service_monitor() {
    let values = ci_values("production-values.yaml");
    let objects = documents(&render("prod", "platform", &["-f", values.as_str()]));
    assert!(kinds(&objects).contains("Ingress"));
    assert!(kinds(&objects).contains("ServiceMonitor"));
    assert!(
        !objects.iter().any(|o| o["kind"] == "Secret"),
        "an existing Secret is used, none is created"
    );

    let api = find(&objects, "Deployment", "prod-agentarea-api");
    assert_eq!(api["spec"]["replicas"], 2);
    let container = &api["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        container["image"],
        "registry.example.com/platform/agentarea:0.1.0"
    );
    assert_eq!(container["imagePullPolicy"], "Always");
    assert_eq!(
        api["spec"]["template"]["spec"]["imagePullSecrets"][0]["name"],
        "registry-credentials"
    );
    let api_env = env(api);
    assert_eq!(
        api_env["AGENTAREA_JWT_SECRET"]["valueFrom"]["secretKeyRef"],
        serde_json::json!({"name": "agentarea-jwt", "key": "hs256"})
    );
    for (name, value) in [
        (
            "AGENTAREA_JWKS_URL",
            "https://id.example.com/.well-known/jwks.json",
        ),
        ("AGENTAREA_JWT_ISSUER", "https://id.example.com/"),
        ("AGENTAREA_JWT_AUDIENCE", "agentarea"),
        ("AGENTAREA_WORKSPACE_CLAIM", "org"),
        ("AGENTAREA_KRATOS_URL", "http://kratos-public.identity.svc"),
        (
            "AGENTAREA_CORS_ALLOWED_ORIGINS",
            "https://agents.example.com,http://localhost:3000",
        ),
    ] {
        assert_eq!(env_value(api, name).as_deref(), Some(value), "{name}");
    }

    let operator = find(&objects, "Deployment", "prod-agentarea-operator");
    assert_eq!(operator["spec"]["replicas"], 2);
    assert_eq!(
        operator["spec"]["template"]["spec"]["priorityClassName"],
        "system-cluster-critical"
    );
    assert_eq!(
        env_value(operator, "AGENTAREA_DEFAULT_MODEL_ENDPOINT").as_deref(),
        Some("http://vllm.models.svc:8000/v1")
    );
    assert_eq!(
        env(operator)["AGENTAREA_DEFAULT_MODEL_API_KEY"]["valueFrom"]["secretKeyRef"],
        serde_json::json!({"name": "model-credentials", "key": "api-key"})
    );
    assert_eq!(
        env_value(operator, "AGENTAREA_TASK_CONCURRENCY").as_deref(),
        Some("16")
    );
    assert_eq!(
        env_value(operator, "AGENTAREA_RECONCILE_CONCURRENCY").as_deref(),
        Some("16")
    );
    assert_eq!(
        env_value(operator, "RUST_LOG").as_deref(),
        Some("info,agentarea_operator=debug")
    );
    assert_eq!(
        operator["metadata"]["labels"]["team"], "platform",
        "commonLabels"
    );

    for component in ["operator", "api"] {
        let name = format!("prod-agentarea-{component}");
        let budget = find(&objects, "PodDisruptionBudget", &name);
        assert_eq!(
            budget["spec"]["selector"]["matchLabels"],
            find(&objects, "Deployment", &name)["spec"]["selector"]["matchLabels"]
        );
    }
    assert_eq!(
        find(&objects, "PodDisruptionBudget", "prod-agentarea-api")["spec"]["maxUnavailable"],
        "50%"
    );

    let ingress = find(&objects, "Ingress", "prod-agentarea-api");
    assert_eq!(ingress["spec"]["ingressClassName"], "nginx");
    assert_eq!(ingress["spec"]["rules"][0]["host"], "agentarea.example.com");
    assert_eq!(
        ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"],
        "prod-agentarea-api"
    );
    assert_eq!(ingress["spec"]["tls"][0]["secretName"], "agentarea-tls");

    // A ServiceMonitor for each binary: it selects that binary's Service (and only that one) and
    // scrapes /metrics on a port of it that leads to a port of the binary's container.
    let monitors: Vec<&Value> = objects
        .iter()
        .filter(|o| o["kind"] == "ServiceMonitor")
        .collect();
    assert_eq!(monitors.len(), 2, "one ServiceMonitor per binary");
    for (component, port_name) in [("operator", "metrics"), ("api", "http")] {
        let name = format!("prod-agentarea-{component}");
        let monitor = find(&objects, "ServiceMonitor", &name);
        assert_eq!(monitor["apiVersion"], "monitoring.coreos.com/v1");
        assert_eq!(monitor["metadata"]["namespace"], "platform");
        assert_eq!(
            monitor["metadata"]["labels"]["release"], "kube-prometheus-stack",
            "{name}: monitoring.serviceMonitor.labels"
        );
        assert_eq!(
            monitor["spec"]["namespaceSelector"]["matchNames"],
            serde_json::json!(["platform"])
        );
        let selector = monitor["spec"]["selector"]["matchLabels"]
            .as_object()
            .unwrap();
        let selected: Vec<&Value> = objects
            .iter()
            .filter(|o| {
                o["kind"] == "Service"
                    && selector
                        .iter()
                        .all(|(key, value)| &o["metadata"]["labels"][key] == value)
            })
            .collect();
        assert_eq!(
            selected
                .iter()
                .map(|service| service["metadata"]["name"].as_str().unwrap())
                .collect::<Vec<_>>(),
            vec![name.as_str()],
            "{name} selects its binary's Service only"
        );
        let service = selected[0];
        let endpoints = monitor["spec"]["endpoints"].as_array().unwrap();
        assert_eq!(endpoints.len(), 1);
        let endpoint = &endpoints[0];
        assert_eq!(endpoint["port"], port_name, "{name}");
        assert_eq!(endpoint["path"], "/metrics");
        assert_eq!(endpoint["interval"], "30s");
        assert_eq!(endpoint["scrapeTimeout"], "10s");
        let service_port = service["spec"]["ports"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == port_name)
            .unwrap_or_else(|| panic!("{name}: the Service has no port {port_name}"));
        let container =
            &find(&objects, "Deployment", &name)["spec"]["template"]["spec"]["containers"][0];
        assert!(
            container["ports"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == service_port["targetPort"]),
            "{name}: port {port_name} targets a port of the container"
        );
    }
    // The operator's series keep their `namespace` (workspace) and `instance` (MCP server
    // instance) labels, which the dashboard filters and groups by.
    assert_eq!(
        find(&objects, "ServiceMonitor", "prod-agentarea-operator")["spec"]["endpoints"][0]["honorLabels"],
        true
    );
}

#[test]
fn tracing_values_map_to_the_otel_variables_of_both_binaries() {
    let values = ci_values("production-values.yaml");
    let objects = documents(&render("prod", "platform", &["-f", values.as_str()]));
    for (deployment, service) in [
        ("prod-agentarea-operator", "agentarea-operator"),
        ("prod-agentarea-api", "agentarea-api"),
    ] {
        let deployment = find(&objects, "Deployment", deployment);
        let env = env(deployment);
        for (name, value) in [
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "http://otel-collector.observability.svc:4318",
            ),
            ("OTEL_SERVICE_NAME", service),
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "deployment.environment.name=production,k8s.cluster.name=eu-1,\
                 k8s.namespace.name=platform,k8s.pod.name=$(K8S_POD_NAME)",
            ),
        ] {
            assert_eq!(
                env_value(deployment, name).as_deref(),
                Some(value),
                "{service}: {name}"
            );
        }
        assert_eq!(
            env["OTEL_EXPORTER_OTLP_HEADERS"]["valueFrom"]["secretKeyRef"],
            serde_json::json!({"name": "otlp-credentials", "key": "headers"})
        );
        assert_eq!(
            env["K8S_POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"],
            "metadata.name"
        );
        // The kubelet expands $(K8S_POD_NAME) only when that variable comes first.
        let order = tracing_env(deployment);
        let position = |name: &str| order.iter().position(|n| n == name).unwrap();
        assert!(position("K8S_POD_NAME") < position("OTEL_RESOURCE_ATTRIBUTES"));
        assert!(
            !order.contains(&"OTEL_EXPORTER_OTLP_PROTOCOL".to_string()),
            "http/protobuf is the binaries' only protocol and their default"
        );
    }

    // An endpoint alone: the rest is left to the SDK's defaults; an attribute given in values
    // wins over the one the chart derives.
    let objects = documents(&render(
        "traced",
        "agentarea",
        &[
            "--set",
            "tracing.otlpEndpoint=https://otlp.example.com",
            "--set",
            "tracing.resourceAttributes.k8s\\.namespace\\.name=agents",
        ],
    ));
    for (deployment, service) in [
        ("traced-agentarea-operator", "agentarea-operator"),
        ("traced-agentarea-api", "agentarea-api"),
    ] {
        let deployment = find(&objects, "Deployment", deployment);
        assert_eq!(
            tracing_env(deployment),
            [
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "OTEL_SERVICE_NAME",
                "K8S_POD_NAME",
                "OTEL_RESOURCE_ATTRIBUTES"
            ]
        );
        assert_eq!(
            env_value(deployment, "OTEL_SERVICE_NAME").as_deref(),
            Some(service)
        );
        assert_eq!(
            env_value(deployment, "OTEL_RESOURCE_ATTRIBUTES").as_deref(),
            Some("k8s.namespace.name=agents,k8s.pod.name=$(K8S_POD_NAME)")
        );
    }
}

#[test]
fn the_grafana_dashboard_is_a_config_map_for_the_sidecar() {
    // Production values: in Grafana's namespace, with the sidecar's label and a folder.
    let values = ci_values("production-values.yaml");
    let objects = documents(&render("prod", "platform", &["-f", values.as_str()]));
    let config_map = find(&objects, "ConfigMap", "prod-agentarea-dashboard");
    assert_eq!(config_map["metadata"]["namespace"], "monitoring");
    assert_eq!(config_map["metadata"]["labels"]["grafana_dashboard"], "1");
    assert_eq!(config_map["metadata"]["labels"]["team"], "platform");
    assert_eq!(
        config_map["metadata"]["annotations"]["grafana_folder"],
        "AgentArea"
    );
    let data = config_map["data"].as_object().unwrap();
    assert_eq!(
        data.keys().collect::<Vec<_>>(),
        ["agentarea.json"],
        "one dashboard file"
    );
    let shipped: Value = serde_json::from_str(data["agentarea.json"].as_str().unwrap())
        .expect("the dashboard in the ConfigMap is JSON");
    assert_eq!(
        shipped,
        dashboard::dashboard(),
        "the chart's dashboard file"
    );

    // Enabled with its defaults: in the release namespace, labelled for the sidecar.
    let objects = documents(&render(
        "aa",
        "agentarea",
        &["--set", "monitoring.grafanaDashboard.enabled=true"],
    ));
    let config_map = find(&objects, "ConfigMap", "aa-agentarea-dashboard");
    assert_eq!(config_map["metadata"]["namespace"], "agentarea");
    assert_eq!(config_map["metadata"]["labels"]["grafana_dashboard"], "1");
    assert!(config_map["metadata"].get("annotations").is_none());
}

/// The metric families the operator and the api serve, as their samples name them (counters with
/// `_total`, histograms without `_bucket`, `_count` and `_sum`). The MCP stdio bridge's
/// `agentarea_bridge_*` runs in MCP server pods, which the chart does not scrape.
const METRIC_FAMILIES: &[&str] = &[
    "agentarea_operator_reconciles_total",
    "agentarea_operator_reconcile_failures_total",
    "agentarea_operator_reconcile_duration_seconds",
    "agentarea_operator_reconciles_in_flight",
    "agentarea_operator_objects_backing_off",
    "agentarea_operator_tasks_started_total",
    "agentarea_operator_task_claim_takeovers_total",
    "agentarea_operator_tasks_running",
    "agentarea_operator_tasks_finished_total",
    "agentarea_operator_task_run_duration_seconds",
    "agentarea_operator_task_steps",
    "agentarea_operator_model_calls_total",
    "agentarea_operator_model_call_duration_seconds",
    "agentarea_operator_model_tokens_total",
    "agentarea_operator_tool_calls_total",
    "agentarea_operator_tool_call_duration_seconds",
    "agentarea_operator_trigger_firings_total",
    "agentarea_operator_trigger_schedule_lag_seconds",
    "agentarea_operator_mcp_discovery_duration_seconds",
    "agentarea_operator_mcp_gateway_requests_total",
    "agentarea_operator_mcp_server_instances",
    "agentarea_api_http_requests_total",
    "agentarea_api_http_request_duration_seconds",
    "agentarea_api_sse_streams_open",
    "agentarea_api_auth_failures_total",
    "agentarea_api_watch_cache_write_visibility_seconds",
    "agentarea_api_watch_cache_write_timeouts_total",
    "agentarea_api_watch_cache_errors_total",
];

/// The histograms among [`METRIC_FAMILIES`]: only these have `_bucket` series.
const HISTOGRAMS: &[&str] = &[
    "agentarea_operator_reconcile_duration_seconds",
    "agentarea_operator_task_run_duration_seconds",
    "agentarea_operator_task_steps",
    "agentarea_operator_model_call_duration_seconds",
    "agentarea_operator_tool_call_duration_seconds",
    "agentarea_operator_trigger_schedule_lag_seconds",
    "agentarea_operator_mcp_discovery_duration_seconds",
    "agentarea_api_http_request_duration_seconds",
    "agentarea_api_watch_cache_write_visibility_seconds",
];

#[test]
fn the_dashboard_queries_only_the_metrics_the_binaries_serve() {
    let board = dashboard::dashboard();
    assert_eq!(board["schemaVersion"], 39);
    assert_eq!(board["uid"], "agentarea");
    let variables: BTreeMap<&str, &Value> = board["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["name"].as_str().unwrap(), v))
        .collect();
    assert_eq!(
        variables.keys().copied().collect::<Vec<_>>(),
        ["agent", "datasource", "namespace"]
    );
    assert_eq!(variables["datasource"]["type"], "datasource");
    assert_eq!(variables["datasource"]["query"], "prometheus");
    for name in ["namespace", "agent"] {
        assert_eq!(variables[name]["type"], "query");
        assert_eq!(variables[name]["datasource"]["uid"], "${datasource}");
        let query = variables[name]["query"]["query"].as_str().unwrap();
        assert!(
            query.starts_with("label_values(") && query.ends_with(&format!(", {name})")),
            "{name}: {query}"
        );
    }

    // Every panel reads the chosen data source; ids are unique; the grid is 24 wide.
    let panels = board["panels"].as_array().unwrap();
    let mut ids = BTreeSet::new();
    for panel in panels {
        assert!(
            ids.insert(panel["id"].as_i64().unwrap()),
            "unique id: {panel}"
        );
        let grid = &panel["gridPos"];
        assert!(grid["x"].as_i64().unwrap() + grid["w"].as_i64().unwrap() <= 24);
        if panel["type"] == "row" {
            continue;
        }
        assert_eq!(
            panel["datasource"]["uid"], "${datasource}",
            "{}",
            panel["title"]
        );
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{} has queries", panel["title"]);
        for target in targets {
            assert_eq!(target["datasource"]["uid"], "${datasource}");
        }
    }

    let exprs = dashboard::dashboard_exprs(&board);
    let known: BTreeSet<String> = METRIC_FAMILIES.iter().map(|f| f.to_string()).collect();
    for expr in &exprs {
        let families = dashboard::metric_families_in(expr);
        assert!(!families.is_empty(), "{expr} queries AgentArea's metrics");
        for family in &families {
            assert!(
                known.contains(family),
                "{expr}: {family} is not a metric the binaries serve"
            );
        }
        // Rates over Grafana's rate interval, never a fixed window.
        for after in expr.split("rate(").skip(1) {
            assert!(
                after.find('[').is_some() && after.find('[') == after.find("[$__rate_interval]"),
                "{expr}: rate() over [$__rate_interval]"
            );
        }
        // Quantiles from the rate of buckets summed by `le`; buckets of histograms only.
        let quantiles: Vec<&str> = expr.split("histogram_quantile(").skip(1).collect();
        for after in &quantiles {
            let (quantile, rest) = after.split_once(", ").unwrap();
            let quantile: f64 = quantile.parse().unwrap();
            assert!(0.0 < quantile && quantile < 1.0, "{expr}");
            assert!(rest.starts_with("sum by (le"), "{expr}: sum by (le, ...)");
            assert!(rest.contains("_bucket"), "{expr}: over buckets");
        }
        assert_eq!(
            expr.matches("_bucket").count(),
            quantiles.len(),
            "{expr}: buckets only inside histogram_quantile"
        );
        for name in dashboard::metric_names_in(expr) {
            let family = dashboard::metric_family(&name);
            assert!(
                family == name || HISTOGRAMS.contains(&family),
                "{expr}: {family} is no histogram, it has no {name}"
            );
        }
    }
    // Every family is on the dashboard, and the harness function agrees with the scan above.
    assert_eq!(dashboard::dashboard_metric_families(), known);
}

#[test]
fn kind_values_expose_the_api_on_node_port_30800() {
    let values = ci_values("kind-values.yaml");
    let objects = documents(&render("agentarea", "agentarea", &["-f", values.as_str()]));
    let service = find(&objects, "Service", "agentarea-api");
    assert_eq!(service["spec"]["type"], "NodePort");
    assert_eq!(service["spec"]["ports"][0]["nodePort"], 30800);
    assert_eq!(service["spec"]["ports"][0]["port"], 8000);
    assert_eq!(
        kind_config().nodes[0].extra_port_mappings[0].container_port,
        30800,
        "kind-config.yaml maps the node port the kind values set"
    );
}

#[test]
fn optional_parts_are_left_out_when_disabled() {
    let objects = documents(&render(
        "lean",
        "agentarea",
        &[
            "--set",
            "rbac.aggregateToDefaultRoles=false",
            "--set",
            "operator.leaderElection.enabled=false",
            "--set",
            "api.enabled=false",
            "--set",
            "approvals.verifyDecidedBy=false",
        ],
    ));
    assert_eq!(
        kinds(&objects),
        [
            "ClusterRole",
            "ClusterRoleBinding",
            "Deployment",
            "Service",
            "ServiceAccount"
        ]
        .into_iter()
        .map(String::from)
        .collect()
    );
    let operator = find(&objects, "Deployment", "lean-agentarea-operator");
    assert_eq!(
        env_value(operator, "AGENTAREA_LEADER_ELECT").as_deref(),
        Some("false")
    );
    assert!(!objects.iter().any(|o| o["kind"] == "Role"));
    assert_eq!(tracing_env(operator), Vec::<String>::new());

    // Monitoring on with the api off: the operator's ServiceMonitor only.
    let objects = documents(&render(
        "lean",
        "agentarea",
        &[
            "--set",
            "api.enabled=false",
            "--set",
            "monitoring.serviceMonitor.enabled=true",
        ],
    ));
    let monitors: Vec<&str> = objects
        .iter()
        .filter(|o| o["kind"] == "ServiceMonitor")
        .map(|o| o["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(monitors, ["lean-agentarea-operator"]);
}

#[test]
fn rendering_with_a_given_key_is_deterministic() {
    // GitOps tools render the chart on every sync: with the key given (or an existing Secret) two
    // renders are byte-for-byte the same, so nothing shows as drifted.
    let args = [
        "--set",
        "api.auth.jwtSecret.value=0123456789abcdef0123456789abcdef",
    ];
    assert_eq!(
        render("gitops", "agentarea", &args),
        render("gitops", "agentarea", &args)
    );
    let args = ["--set", "api.auth.jwtSecret.existingSecret=mine"];
    assert_eq!(
        render("gitops", "agentarea", &args),
        render("gitops", "agentarea", &args)
    );
}

#[test]
fn bad_values_are_refused_by_the_schema() {
    let chart = chart();
    let cases: &[(&[&str], &str)] = &[
        (&["--set", "image.pullPolicy=Sometimes"], "pullPolicy"),
        (&["--set", "api.service.nodePort=80"], "nodePort"),
        (&["--set", "operator.replicas=-1"], "replicas"),
        (&["--set", "operator.replica=2"], "replica"),
        (&["--set", "operator.taskConcurrency=0"], "taskConcurrency"),
        (&["--set", "operator.logFormat=xml"], "logFormat"),
        (
            &["--set", "operator.defaultModel.endpoint=ollama:11434"],
            "endpoint",
        ),
        (&["--set", "api.service.type=ExternalName"], "type"),
        (&["--set", "api.auth.jwtSecret.value=short"], "value"),
        (&["--set", "api.auth.jwksUrl=not a url"], "jwksUrl"),
        (
            &["--set", "monitoring.serviceMonitor.interval=often"],
            "interval",
        ),
        (&["--set", "api.auth.jwtSecret.create=false"], "auth"),
        (
            &["--set", "api.podDisruptionBudget.maxUnavailable=most"],
            "maxUnavailable",
        ),
        (
            &["--set", "operator.reconcileConcurrency=0"],
            "reconcileConcurrency",
        ),
        (
            &["--set", "operator.reconcileConcurrency=1000"],
            "reconcileConcurrency",
        ),
        (
            &["--set", "monitoring.grafanaDashboard.namespace=Monitoring"],
            "grafanaDashboard/namespace",
        ),
        (
            &[
                "--set",
                "monitoring.grafanaDashboard.labels.grafana_dashboard=1",
            ],
            "grafana_dashboard",
        ),
        (
            &["--set", "tracing.otlpEndpoint=otel-collector:4318"],
            "otlpEndpoint",
        ),
        (&["--set", "tracing.protocol=grpc"], "protocol"),
        (
            &[
                "--set",
                "api.cors.allowedOrigins={https://app.example.com/}",
            ],
            "allowedOrigins",
        ),
        (&["--set", "api.cors.allowedOrigins={*}"], "allowedOrigins"),
        (&["--set", "tracing.sampler=sometimes"], "sampler"),
        (&["--set", "tracing.samplerArg=2"], "samplerArg"),
        (&["--set-string", "tracing.samplerArg=half"], "samplerArg"),
        (
            &["--set", "tracing.resourceAttributes.team=a\\,b"],
            "resourceAttributes",
        ),
        (
            &["--set", "tracing.headersSecret.key=a/b"],
            "headersSecret/key",
        ),
    ];
    for (args, field) in cases {
        let mut full = vec!["template", "bad", chart.as_str()];
        full.extend_from_slice(args);
        let output = helm(&full, None);
        let said = text(&output);
        assert!(!output.status.success(), "{args:?} was accepted");
        assert!(
            said.contains("values don't meet the specifications of the schema"),
            "{args:?} refused by the schema: {said}"
        );
        assert!(
            said.contains(field),
            "{args:?}: the error names {field}: {said}"
        );
    }
}

/// `helm template` output against the real apiserver's OpenAPI: a server-side dry run with strict
/// field validation refuses unknown fields and wrong types.
fn assert_valid_for_apiserver(manifests: &str, namespace: &str) {
    let output = control_plane().kubectl_with_stdin(
        [
            "apply",
            "--dry-run=server",
            "--validate=strict",
            "-n",
            namespace,
            "-f",
            "-",
        ],
        Some(manifests),
    );
    assert_success("server-side dry run of the rendered chart", &output);
}

#[tokio::test]
async fn rendered_manifests_are_valid_kubernetes_objects() {
    let ns = TestNamespace::create("render").await;
    assert_valid_for_apiserver(&render("dry", &ns.name, &[]), &ns.name);
    // The kind values with another node port: 30800 may be taken by the Makefile test meanwhile.
    let kind = ci_values("kind-values.yaml");
    assert_valid_for_apiserver(
        &render(
            "dry",
            &ns.name,
            &["-f", kind.as_str(), "--set", "api.service.nodePort=30801"],
        ),
        &ns.name,
    );
    // Without the ServiceMonitors: their CRD belongs to the prometheus-operator, not this
    // cluster. The dashboard's ConfigMap goes to the test's namespace rather than Grafana's.
    let production = ci_values("production-values.yaml");
    let objects = documents(&render(
        "dry",
        &ns.name,
        &[
            "-f",
            production.as_str(),
            "--set",
            "monitoring.serviceMonitor.enabled=false",
            "--set",
            "monitoring.grafanaDashboard.namespace=",
        ],
    ));
    assert!(kinds(&objects).contains("ConfigMap"), "the dashboard");
    let stream: String = objects
        .iter()
        .map(|o| format!("---\n{}", serde_yaml::to_string(o).unwrap()))
        .collect();
    assert_valid_for_apiserver(&stream, &ns.name);
    ns.delete().await;
}

fn can_i(service_account: &str, namespace: &str, verb_and_resource: &[&str]) -> bool {
    let subject = format!("system:serviceaccount:{namespace}:{service_account}");
    let mut args = vec!["auth", "can-i", "--as", subject.as_str(), "-n", "ws-anyone"];
    args.extend_from_slice(verb_and_resource);
    let output = control_plane().kubectl(&args);
    let answer = String::from_utf8_lossy(&output.stdout).trim().to_string();
    assert!(
        answer == "yes" || answer == "no",
        "kubectl auth can-i {verb_and_resource:?}: {}",
        text(&output)
    );
    answer == "yes"
}

fn secret_value(namespace: &str, name: &str, key: &str) -> String {
    let output = control_plane().kubectl([
        "get",
        "secret",
        name,
        "-n",
        namespace,
        "-o",
        &format!("jsonpath={{.data.{key}}}"),
    ]);
    assert_success("get secret", &output);
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn helm_install_upgrade_uninstall_on_the_control_plane() {
    let cp = control_plane();
    let ns = TestNamespace::create("helm").await;
    let release = ns.name.clone(); // unique, so the cluster-scoped roles of parallel runs differ
    let kubeconfig = cp.kubeconfig.as_path();
    let chart = chart();

    // The CRDs are installed already (by the harness); helm skips them and installs the rest.
    let output = helm(
        [
            "install",
            release.as_str(),
            chart.as_str(),
            "-n",
            ns.name.as_str(),
        ],
        Some(kubeconfig),
    );
    assert_success("helm install", &output);
    let full = format!("{release}-agentarea");
    for object in [
        format!("deployment/{full}-operator"),
        format!("deployment/{full}-api"),
        format!("service/{full}-api"),
        format!("service/{full}-operator"),
        format!("serviceaccount/{full}-operator"),
        format!("serviceaccount/{full}-api"),
        format!("secret/{full}-api-auth"),
        format!("role/{full}-operator-leader-election"),
        format!("rolebinding/{full}-operator-leader-election"),
        format!("clusterrole/{full}-operator"),
        format!("clusterrole/{full}-api"),
        format!("clusterrole/{full}-workspace"),
        format!("clusterrolebinding/{full}-operator"),
        format!("clusterrolebinding/{full}-api"),
    ] {
        let output = cp.kubectl(["get", object.as_str(), "-n", ns.name.as_str()]);
        assert_success(&format!("get {object}"), &output);
    }

    // What the service accounts may do, asked of the apiserver's RBAC authorizer.
    let operator = format!("{full}-operator");
    let api = format!("{full}-api");
    let yes = |sa: &str, args: &[&str]| assert!(can_i(sa, &ns.name, args), "{sa} may {args:?}");
    let no = |sa: &str, args: &[&str]| assert!(!can_i(sa, &ns.name, args), "{sa} may not {args:?}");
    yes(
        &operator,
        &["patch", "tasks.agentarea.io", "--subresource=status"],
    );
    yes(&operator, &["watch", "agents.agentarea.io"]);
    yes(&operator, &["create", "tasks.agentarea.io"]);
    yes(&operator, &["delete", "tasks.agentarea.io"]);
    yes(&operator, &["create", "deployments.apps"]);
    yes(&operator, &["patch", "services"]);
    yes(&operator, &["get", "secrets"]);
    yes(&operator, &["create", "events.events.k8s.io"]);
    yes(&operator, &["create", "secrets"]);
    no(&operator, &["delete", "secrets"]);
    no(&operator, &["update", "secrets"]);
    no(&operator, &["delete", "agents.agentarea.io"]);
    no(&operator, &["create", "namespaces"]);
    yes(&operator, &["watch", "namespaces"]);
    no(&operator, &["patch", "namespaces"]);
    no(&operator, &["create", "pods"]);
    // Leases only in the release namespace.
    assert!(can_i_in(
        &operator,
        &ns.name,
        &ns.name,
        &["update", "leases.coordination.k8s.io"]
    ));
    no(&operator, &["update", "leases.coordination.k8s.io"]);
    yes(&api, &["watch", "agents.agentarea.io"]);
    yes(&api, &["create", "namespaces"]);
    yes(
        &api,
        &["impersonate", "serviceaccounts/agentarea-workspace"],
    );
    yes(&api, &["create", "rolebindings.rbac.authorization.k8s.io"]);
    let workspace_role = format!("clusterroles.rbac.authorization.k8s.io/{full}-workspace");
    yes(&api, &["bind", workspace_role.as_str()]);
    no(
        &api,
        &[
            "bind",
            "clusterroles.rbac.authorization.k8s.io/cluster-admin",
        ],
    );
    no(&api, &["impersonate", "serviceaccounts/default"]);
    no(&api, &["impersonate", "users"]);
    no(&api, &["create", "agents.agentarea.io"]);
    no(&api, &["delete", "triggers.agentarea.io"]);
    no(&api, &["get", "secrets"]);
    no(
        &api,
        &["patch", "tasks.agentarea.io", "--subresource=status"],
    );
    no(&api, &["list", "secrets"]);
    no(&api, &["delete", "namespaces"]);
    no(&api, &["create", "deployments.apps"]);

    // A decision on a tool call written outside the api must name its writer as the decider,
    // and the apiserver checks it (the chart's admission policy).
    let task = json!({"apiVersion": "agentarea.io/v1alpha1", "kind": "Task",
        "metadata": {"name": "decided", "namespace": ns.name}, "spec": {"agent": "a", "input": "x"}})
    .to_string();
    assert_success(
        "create a task",
        &cp.kubectl_with_stdin(["apply", "-f", "-"], Some(&task)),
    );
    let decide = |by: &str| {
        let patch = json!({"spec": {"approvals": [
            {"toolCallId": "call_1", "decision": "Approved", "decidedBy": by}]}})
        .to_string();
        cp.kubectl([
            "patch", "task", "decided", "-n", &ns.name, "--type", "merge", "-p", &patch,
        ])
    };
    // The policy takes effect once the apiserver has loaded it.
    let refused = eventually(
        "the approvals policy in force",
        std::time::Duration::from_secs(30),
        || async {
            let output = decide("someone-else");
            (!output.status.success()).then_some(output)
        },
    )
    .await;
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("decidedBy must be \"agentarea-admin\""),
        "{stderr}"
    );
    assert_success("decide as oneself", &decide("agentarea-admin"));

    // An upgrade keeps the generated HS256 key, so issued tokens stay valid.
    let key = secret_value(&ns.name, &format!("{full}-api-auth"), "jwt-secret");
    let output = helm(
        [
            "upgrade",
            release.as_str(),
            chart.as_str(),
            "-n",
            ns.name.as_str(),
            "--set",
            "operator.replicas=2",
        ],
        Some(kubeconfig),
    );
    assert_success("helm upgrade", &output);
    assert_eq!(
        secret_value(&ns.name, &format!("{full}-api-auth"), "jwt-secret"),
        key
    );
    let output = cp.kubectl([
        "get",
        &format!("deployment/{full}-operator"),
        "-n",
        &ns.name,
        "-o",
        "jsonpath={.spec.replicas}",
    ]);
    assert_eq!(String::from_utf8_lossy(&output.stdout), "2");

    // Uninstall removes the cluster-scoped objects too, and keeps the key (resource-policy keep)
    // and the CRDs (helm never deletes CRDs).
    let output = helm(
        [
            "uninstall",
            release.as_str(),
            "-n",
            ns.name.as_str(),
            "--wait",
        ],
        Some(kubeconfig),
    );
    assert_success("helm uninstall", &output);
    let output = cp.kubectl(["get", "clusterrole", operator.as_str()]);
    assert!(!output.status.success(), "cluster role left behind");
    assert_eq!(
        secret_value(&ns.name, &format!("{full}-api-auth"), "jwt-secret"),
        key
    );
    assert_success(
        "CRDs stay",
        &cp.kubectl(["get", "crd", "agents.agentarea.io"]),
    );
    ns.delete().await;
}

fn can_i_in(service_account: &str, sa_namespace: &str, namespace: &str, args: &[&str]) -> bool {
    let subject = format!("system:serviceaccount:{sa_namespace}:{service_account}");
    let mut full = vec!["auth", "can-i", "--as", subject.as_str(), "-n", namespace];
    full.extend_from_slice(args);
    String::from_utf8_lossy(&control_plane().kubectl(&full).stdout).trim() == "yes"
}

// ---- examples ----

fn examples_dir() -> String {
    repo_root().join("examples").display().to_string()
}

/// Every document of every file in examples/, files in name order (as `kubectl apply -f` reads them).
fn example_documents() -> Vec<Value> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo_root().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let mut docs = Vec::new();
    for file in files {
        for doc in documents(&std::fs::read_to_string(&file).unwrap()) {
            assert!(
                doc["metadata"].get("namespace").is_none(),
                "{}: examples leave the namespace to `kubectl apply -n`",
                file.display()
            );
            docs.push(doc);
        }
    }
    docs
}

/// Every object of examples/, as (kind, name).
fn example_objects() -> Vec<(String, String)> {
    example_documents()
        .iter()
        .map(|doc| {
            (
                doc["kind"].as_str().unwrap().to_string(),
                doc["metadata"]["name"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn examples_cover_every_kind_and_mode() {
    let docs = example_documents();
    let count = |pred: &dyn Fn(&Value) -> bool| docs.iter().filter(|d| pred(d)).count();
    assert!(count(&|d| d["kind"] == "McpServerInstance" && d["spec"]["remote"].is_object()) >= 1);
    assert!(
        count(&|d| d["kind"] == "McpServerInstance"
            && d["spec"]["managed"].is_object()
            && d["spec"]["managed"]["transport"] != "stdio")
            >= 1
    );
    assert!(
        count(&|d| d["kind"] == "McpServerInstance" && d["spec"]["managed"]["transport"] == "stdio")
            >= 1
    );
    assert!(count(&|d| d["kind"] == "McpServerInstance" && d["spec"]["compound"].is_object()) >= 1);
    assert!(count(&|d| d["kind"] == "Skill") >= 2);
    assert!(
        count(&|d| d["kind"] == "Agent"
            && d["spec"]["skills"].as_array().is_some_and(|s| s.len() >= 2))
            >= 1
    );
    assert!(count(&|d| d["kind"] == "Trigger" && d["spec"]["schedule"].is_object()) >= 1);
    assert!(count(&|d| d["kind"] == "Trigger" && d["spec"]["webhook"].is_object()) >= 1);
    assert!(count(&|d| d["kind"] == "Trigger" && d["spec"]["event"].is_object()) >= 1);
    assert!(count(&|d| d["kind"] == "Task") >= 1);
    // The webhook's Secret ships with it, and what the examples reference exists in them.
    let names = |kind: &str| -> BTreeSet<String> {
        docs.iter()
            .filter(|d| d["kind"] == kind)
            .map(|d| d["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    for trigger in docs.iter().filter(|d| d["kind"] == "Trigger") {
        assert!(names("Agent").contains(trigger["spec"]["agent"].as_str().unwrap()));
        if let Some(secret) = trigger["spec"]["webhook"]["secretRef"]["name"].as_str() {
            assert!(
                names("Secret").contains(secret),
                "Secret {secret} in examples/"
            );
        }
    }
    for agent in docs.iter().filter(|d| d["kind"] == "Agent") {
        for skill in agent["spec"]["skills"].as_array().into_iter().flatten() {
            assert!(names("Skill").contains(skill["name"].as_str().unwrap()));
        }
        for server in agent["spec"]["mcpServers"].as_array().into_iter().flatten() {
            assert!(names("McpServerInstance").contains(server["name"].as_str().unwrap()));
        }
    }
    for skill in docs.iter().filter(|d| d["kind"] == "Skill") {
        for tools in skill["spec"]["tools"].as_array().into_iter().flatten() {
            assert!(names("McpServerInstance").contains(tools["instance"].as_str().unwrap()));
        }
    }
    for task in docs.iter().filter(|d| d["kind"] == "Task") {
        assert!(names("Agent").contains(task["spec"]["agent"].as_str().unwrap()));
    }
}

/// `resourceVersion` of every example object, by kind/name.
fn resource_versions(namespace: &str) -> BTreeMap<String, String> {
    example_objects()
        .into_iter()
        .map(|(kind, name)| {
            let output = control_plane().kubectl([
                "get",
                &format!("{}/{name}", resource_of(&kind)),
                "-n",
                namespace,
                "-o",
                "jsonpath={.metadata.resourceVersion}",
            ]);
            assert_success(&format!("get {kind}/{name}"), &output);
            (
                format!("{kind}/{name}"),
                String::from_utf8(output.stdout).unwrap(),
            )
        })
        .collect()
}

fn resource_of(kind: &str) -> &'static str {
    match kind {
        "Agent" => "agents.agentarea.io",
        "Skill" => "skills.agentarea.io",
        "McpServerInstance" => "mcpserverinstances.agentarea.io",
        "Trigger" => "triggers.agentarea.io",
        "Task" => "tasks.agentarea.io",
        "Secret" => "secrets",
        other => panic!("examples/ holds a {other}; teach resource_of about it"),
    }
}

/// The field managers that own anything under `.spec` (or `.data` of a Secret) of each example.
fn spec_managers(namespace: &str) -> BTreeMap<String, BTreeSet<String>> {
    example_objects()
        .into_iter()
        .map(|(kind, name)| {
            let output = control_plane().kubectl([
                "get",
                &format!("{}/{name}", resource_of(&kind)),
                "-n",
                namespace,
                "--show-managed-fields",
                "-o",
                "json",
            ]);
            assert_success("get with managed fields", &output);
            let object: Value = serde_json::from_slice(&output.stdout).unwrap();
            let managers = object["metadata"]["managedFields"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|entry| {
                    let fields = &entry["fieldsV1"];
                    fields.get("f:spec").is_some() || fields.get("f:data").is_some()
                })
                .map(|entry| {
                    format!(
                        "{}:{}",
                        entry["manager"].as_str().unwrap(),
                        entry["operation"].as_str().unwrap()
                    )
                })
                .collect();
            (format!("{kind}/{name}"), managers)
        })
        .collect()
}

fn kubectl_diff(args: &[&str]) -> Output {
    control_plane().kubectl(args)
}

#[tokio::test]
async fn examples_are_accepted_and_listed_with_printer_columns() {
    let ns = TestNamespace::create("examples").await;
    let dir = examples_dir();
    let output = control_plane().kubectl(["apply", "-n", ns.name.as_str(), "-f", dir.as_str()]);
    assert_success("kubectl apply -f examples/", &output);
    let applied = text(&output);
    for (kind, name) in example_objects() {
        assert!(
            applied.contains(&format!("/{name} created")),
            "{kind}/{name} created: {applied}"
        );
    }
    for (resource, header) in [
        (
            "agents",
            ["NAME", "MODEL", "READY", "TOOLS", "AGE"].as_slice(),
        ),
        ("skills", &["NAME", "READY", "USED BY", "AGE"]),
        (
            "mcpserverinstances",
            &["NAME", "PHASE", "READY", "TOOLS", "AGE"],
        ),
        (
            "triggers",
            &[
                "NAME",
                "AGENT",
                "TYPE",
                "ENABLED",
                "LAST FIRED",
                "NEXT FIRE",
            ],
        ),
        ("tasks", &["NAME", "AGENT", "PHASE", "STEPS", "AGE"]),
    ] {
        let output = control_plane().kubectl(["get", resource, "-n", ns.name.as_str()]);
        assert_success(&format!("kubectl get {resource}"), &output);
        let listing = String::from_utf8_lossy(&output.stdout).into_owned();
        let first = listing.lines().next().unwrap_or_default();
        for column in header {
            assert!(
                first.contains(column),
                "{resource}: column {column} in {listing}"
            );
        }
        for (kind, name) in example_objects() {
            if resource_of(&kind).starts_with(resource) {
                assert!(
                    listing.contains(&name),
                    "{resource} lists {name}: {listing}"
                );
            }
        }
    }
    let output = control_plane().kubectl(["get", "agents", "-n", ns.name.as_str()]);
    assert!(String::from_utf8_lossy(&output.stdout).contains("llama3.1:8b"));
    // The `agentarea` category lists every kind at once.
    let output = control_plane().kubectl(["get", "agentarea", "-n", ns.name.as_str()]);
    assert_success("kubectl get agentarea", &output);
    for kind in [
        "agent.agentarea.io/researcher",
        "task.agentarea.io/tokyo-time",
        "mcpserverinstance.agentarea.io/time",
    ] {
        assert!(
            String::from_utf8_lossy(&output.stdout).contains(kind),
            "{kind}"
        );
    }
    ns.delete().await;
}

#[tokio::test]
async fn applying_the_examples_again_server_side_changes_nothing() {
    let ns = TestNamespace::create("ssa").await;
    let dir = examples_dir();
    let apply = [
        "apply",
        "--server-side",
        "-n",
        ns.name.as_str(),
        "-f",
        dir.as_str(),
    ];
    assert_success("first server-side apply", &control_plane().kubectl(apply));
    let before = resource_versions(&ns.name);
    let output = control_plane().kubectl(apply);
    assert_success("second server-side apply", &output);
    assert_eq!(
        resource_versions(&ns.name),
        before,
        "the second apply wrote nothing"
    );
    let output = kubectl_diff(&[
        "diff",
        "--server-side",
        "-n",
        ns.name.as_str(),
        "-f",
        dir.as_str(),
    ]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "kubectl diff shows drift: {}",
        text(&output)
    );
    for (object, managers) in spec_managers(&ns.name) {
        assert_eq!(
            managers,
            BTreeSet::from(["kubectl:Apply".to_string()]),
            "{object}: only the applier owns spec"
        );
    }
    ns.delete().await;
}

#[tokio::test]
async fn applying_the_examples_again_client_side_changes_nothing() {
    let ns = TestNamespace::create("csa").await;
    let dir = examples_dir();
    let apply = ["apply", "-n", ns.name.as_str(), "-f", dir.as_str()];
    assert_success("first client-side apply", &control_plane().kubectl(apply));
    let before = resource_versions(&ns.name);
    let output = control_plane().kubectl(apply);
    assert_success("second client-side apply", &output);
    let said = text(&output);
    for (_, name) in example_objects() {
        assert!(
            said.contains(&format!("/{name} unchanged")),
            "{name} unchanged: {said}"
        );
    }
    assert_eq!(
        resource_versions(&ns.name),
        before,
        "the second apply wrote nothing"
    );
    let output = kubectl_diff(&["diff", "-n", ns.name.as_str(), "-f", dir.as_str()]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "kubectl diff shows drift: {}",
        text(&output)
    );
    for (object, managers) in spec_managers(&ns.name) {
        assert_eq!(
            managers,
            BTreeSet::from(["kubectl-client-side-apply:Update".to_string()]),
            "{object}: only the applier owns spec"
        );
    }
    ns.delete().await;
}

#[tokio::test]
async fn rendered_chart_applied_twice_server_side_changes_nothing() {
    // The GitOps path: `helm template` with the key in an existing Secret, applied as a GitOps
    // controller would, twice.
    let ns = TestNamespace::create("gitops").await;
    let manifests = render(
        &ns.name,
        &ns.name,
        &["--set", "api.auth.jwtSecret.existingSecret=agentarea-jwt"],
    );
    let apply = [
        "apply",
        "--server-side",
        "--field-manager=gitops",
        "-n",
        ns.name.as_str(),
        "-f",
        "-",
    ];
    assert_success(
        "first apply",
        &control_plane().kubectl_with_stdin(apply, Some(&manifests)),
    );
    let versions = || {
        let output = control_plane().kubectl([
            "get",
            "deployments,services,serviceaccounts,roles,rolebindings",
            "-n",
            ns.name.as_str(),
            "-o",
            "jsonpath={range .items[*]}{.kind}/{.metadata.name}={.metadata.resourceVersion}{\"\\n\"}{end}",
        ]);
        assert_success("list rendered objects", &output);
        String::from_utf8(output.stdout).unwrap()
    };
    let before = versions();
    assert!(before.contains("Deployment/"), "{before}");
    assert_success(
        "second apply",
        &control_plane().kubectl_with_stdin(apply, Some(&manifests)),
    );
    assert_eq!(versions(), before);
    let output = control_plane().kubectl_with_stdin(
        [
            "diff",
            "--server-side",
            "--field-manager=gitops",
            "-n",
            ns.name.as_str(),
            "-f",
            "-",
        ],
        Some(&manifests),
    );
    assert_eq!(output.status.code(), Some(0), "drift: {}", text(&output));
    // Cluster-scoped roles of this render carry the namespace in their name; remove them.
    let _ =
        control_plane().kubectl_with_stdin(["delete", "-f", "-", "--wait=false"], Some(&manifests));
    ns.delete().await;
}

#[test]
fn explain_documents_the_agent_spec() {
    let output = control_plane().kubectl(["explain", "agent.spec"]);
    assert_success("kubectl explain agent.spec", &output);
    let said = String::from_utf8_lossy(&output.stdout);
    for expected in [
        "KIND:       Agent",
        "instruction",
        "The system prompt",
        "model",
        "The OpenAI-compatible chat-completions model",
        "-required-",
    ] {
        assert!(
            said.contains(expected),
            "explain shows {expected:?}: {said}"
        );
    }
    let output = control_plane().kubectl(["explain", "agent.spec.model.endpoint"]);
    assert!(String::from_utf8_lossy(&output.stdout).contains("Empty means the operator's default"));
}

// ---- kind, the Makefile and the Dockerfile ----

/// kind's `Cluster` (kind.x-k8s.io/v1alpha4), the parts this repository uses, strict: a misspelt
/// field fails to parse as it would fail `kind create cluster`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct KindCluster {
    kind: String,
    api_version: String,
    name: String,
    nodes: Vec<KindNode>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct KindNode {
    role: String,
    #[serde(default)]
    extra_port_mappings: Vec<KindPortMapping>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct KindPortMapping {
    container_port: u16,
    host_port: u16,
    #[serde(default)]
    listen_address: Option<std::net::IpAddr>,
    #[serde(default)]
    protocol: Option<String>,
}

fn kind_config() -> KindCluster {
    let text = std::fs::read_to_string(repo_root().join("kind-config.yaml")).unwrap();
    serde_yaml::from_str(&text).expect("kind-config.yaml is a kind Cluster")
}

#[test]
fn kind_config_maps_the_api_node_port_to_localhost_8000() {
    let config = kind_config();
    assert_eq!(config.kind, "Cluster");
    assert_eq!(config.api_version, "kind.x-k8s.io/v1alpha4");
    assert_eq!(config.nodes.len(), 1);
    let node = &config.nodes[0];
    assert_eq!(node.role, "control-plane");
    let mapping = &node.extra_port_mappings[0];
    assert_eq!((mapping.container_port, mapping.host_port), (30800, 8000));
    assert_eq!(mapping.listen_address, Some([127, 0, 0, 1].into()));
    assert!(matches!(mapping.protocol.as_deref(), None | Some("TCP")));
    // The Makefile creates and loads into the cluster of that name.
    let makefile = std::fs::read_to_string(repo_root().join("Makefile")).unwrap();
    assert!(makefile.contains(&format!("CLUSTER   ?= {}", config.name)));
}

/// `make -n <target>` with the given variables: the commands the target runs, not run.
fn make_dry_run(target: &str, vars: &[&str]) -> String {
    let output = std::process::Command::new("make")
        .arg("-n")
        .arg("--no-print-directory")
        .arg(target)
        .args(vars)
        .current_dir(repo_root())
        .output()
        .expect("make runs");
    assert_success(&format!("make -n {target}"), &output);
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn makefile_kind_sequence_builds_loads_and_installs_one_image() {
    let commands = make_dry_run("kind", &[]);
    let position = |needle: &str| {
        commands
            .find(needle)
            .unwrap_or_else(|| panic!("`make kind` runs {needle:?}:\n{commands}"))
    };
    let order = [
        position("bash kind/cluster.sh --name agentarea"),
        position("IMAGE=agentarea/agentarea:0.1.0 bash kind/image.sh"),
        position("load docker-image agentarea/agentarea:0.1.0 --name agentarea"),
        position("upgrade --install agentarea charts/agentarea --namespace agentarea"),
        position("bash kind/examples.sh default agentarea"),
        position("exec deploy/agentarea-api -- agentarea-api token --workspace default"),
        position("http://127.0.0.1:8000/v1/agents"),
    ];
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "in order:\n{commands}"
    );
    assert!(commands.contains("-f charts/agentarea/ci/kind-values.yaml --set image.tag=0.1.0"));
    // The image the Makefile builds is the chart's default image.
    let defaults = documents(&render("agentarea", "agentarea", &[]));
    let operator = find(&defaults, "Deployment", "agentarea-operator");
    assert_eq!(
        operator["spec"]["template"]["spec"]["containers"][0]["image"],
        "agentarea/agentarea:0.1.0"
    );
    // Another release name gives the api Deployment the chart's name for it.
    let commands = make_dry_run("kind-token", &["RELEASE=demo"]);
    assert!(commands.contains("deploy/demo-agentarea-api"), "{commands}");
}

#[tokio::test]
async fn makefile_install_and_examples_targets_run_against_a_cluster() {
    // The two targets of the kind sequence that need no Docker, run for real (with this run's
    // helm and kubectl, and without waiting for pods: there is no kubelet here).
    let cp = control_plane();
    let ns = TestNamespace::create("make").await;
    let workspace = format!("w{}", &ns.name[ns.name.len() - 8..]);
    let helm_var = format!("HELM={}", helm_path().display());
    let kubectl_var = format!("KUBECTL={}", cp.bin_dir.join("kubectl").display());
    let run = |target: &str| {
        let output = std::process::Command::new("make")
            .arg("--no-print-directory")
            .arg(target)
            .args([
                helm_var.as_str(),
                kubectl_var.as_str(),
                &format!("NAMESPACE={}", ns.name),
                &format!("RELEASE={}", ns.name),
                &format!("WORKSPACE={workspace}"),
                "HELM_FLAGS=",
                // No kubelet here either, so nothing pulls the examples' images: apply them as
                // they are rather than build stand-ins for a kind node.
                "EXAMPLE_IMAGES=upstream",
            ])
            .env("KUBECONFIG", &cp.kubeconfig)
            .env(
                "HELM_CONFIG_HOME",
                std::env::temp_dir().join(format!("{}-helm", ns.name)),
            )
            .current_dir(repo_root())
            .output()
            .expect("make runs");
        assert_success(&format!("make {target}"), &output);
        text(&output)
    };
    run("kind-install");
    let service = cp.kubectl([
        "get",
        "service",
        &format!("{}-agentarea-api", ns.name),
        "-n",
        ns.name.as_str(),
        "-o",
        "jsonpath={.spec.type}/{.spec.ports[0].nodePort}",
    ]);
    assert_eq!(String::from_utf8_lossy(&service.stdout), "NodePort/30800");
    let said = run("kind-examples");
    assert!(said.contains("agent.agentarea.io/researcher"), "{said}");
    let label = cp.kubectl([
        "get",
        "namespace",
        &format!("ws-{workspace}"),
        "-o",
        "jsonpath={.metadata.labels.agentarea\\.io/workspace}",
    ]);
    assert_eq!(String::from_utf8_lossy(&label.stdout), workspace);
    // Running them again is harmless (helm upgrade, server-side apply).
    run("kind-examples");

    let _ = helm(
        ["uninstall", ns.name.as_str(), "-n", ns.name.as_str()],
        Some(cp.kubeconfig.as_path()),
    );
    let _ = cp.kubectl([
        "delete",
        "namespace",
        &format!("ws-{workspace}"),
        "--wait=false",
    ]);
    ns.delete().await;
}

fn package_name(manifest: &Path) -> String {
    let text = std::fs::read_to_string(manifest).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("name = \""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("package name")
        .to_string()
}

#[test]
fn dockerfile_builds_both_binaries_for_a_non_root_static_image() {
    let dockerfile = std::fs::read_to_string(repo_root().join("Dockerfile")).unwrap();
    let instructions: Vec<&str> = dockerfile
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let froms: Vec<&&str> = instructions
        .iter()
        .filter(|l| l.starts_with("FROM "))
        .collect();
    assert_eq!(froms.len(), 2, "a builder stage and a runtime stage");
    assert!(froms[0].contains("rust:") && froms[0].ends_with(" AS build"));
    assert!(
        froms[1].contains("distroless/static"),
        "a static runtime base: {}",
        froms[1]
    );
    // The binaries the build names are the workspace's binaries.
    for krate in ["operator", "api"] {
        let binary = package_name(&repo_root().join(krate).join("Cargo.toml"));
        assert!(
            dockerfile.contains(&format!("--bin {binary}")),
            "Dockerfile builds {binary}"
        );
        assert!(dockerfile.contains(&format!("/out/{binary}")));
    }
    assert!(dockerfile.contains("cargo build --release --locked"));
    // Runs as the numeric user the chart's podSecurityContext sets.
    let defaults = documents(&render("agentarea", "agentarea", &[]));
    let operator = find(&defaults, "Deployment", "agentarea-operator");
    let uid = operator["spec"]["template"]["spec"]["securityContext"]["runAsUser"]
        .as_i64()
        .unwrap();
    let user = instructions
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("a USER instruction");
    assert_eq!(user, format!("{uid}:{uid}"));
    // The Rust release pinned for the image builds the workspace's rust-version.
    let rust_version = instructions
        .iter()
        .find_map(|l| l.strip_prefix("ARG RUST_VERSION="))
        .expect("ARG RUST_VERSION");
    let workspace = std::fs::read_to_string(repo_root().join("Cargo.toml")).unwrap();
    let minimum = workspace
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = \""))
        .and_then(|l| l.strip_suffix('"'))
        .unwrap();
    let parse = |v: &str| -> (u32, u32) {
        let mut parts = v.split('.').map(|p| p.parse::<u32>().unwrap());
        (parts.next().unwrap(), parts.next().unwrap())
    };
    assert!(parse(rust_version) >= parse(minimum));
    // Everything the build context must hold is let through .dockerignore, and target/ is not.
    let ignore = std::fs::read_to_string(repo_root().join(".dockerignore")).unwrap();
    for member in [
        "crds/",
        "support/",
        "operator/",
        "api/",
        "Cargo.lock",
        "tests/src/",
    ] {
        assert!(
            ignore.contains(&format!("!{member}")),
            ".dockerignore lets {member} in"
        );
    }
    assert!(!ignore.contains("!target"));
    let workspace_members = workspace
        .lines()
        .find_map(|l| l.strip_prefix("members = "))
        .unwrap();
    for member in ["crds", "support", "operator", "api", "tests"] {
        assert!(workspace_members.contains(&format!("\"{member}\"")));
    }
}

// ---- the chart's configuration and the binaries ----

/// Environment variables the chart sets that the binaries do not read yet (none today). An unknown
/// variable is harmless; one that the binary names differently is a bug this test makes visible.
/// A variable the chart sets ahead of the flag that will read it goes here until then.
const ENV_AHEAD_OF_THE_BINARIES: &[&str] = &[];

/// The environment variables a binary reads, from its `--help` (`[env: NAME=...]`).
fn env_of_binary(binary: &str) -> BTreeSet<String> {
    let output = std::process::Command::new(workspace_binary(binary))
        .arg("--help")
        .output()
        .expect("binary runs");
    assert_success(&format!("{binary} --help"), &output);
    let help = String::from_utf8_lossy(&output.stdout).into_owned();
    help.split("[env: ")
        .skip(1)
        .map(|rest| {
            rest.split(['=', ']'])
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

#[test]
fn every_variable_the_chart_sets_is_read_by_its_binary() {
    let values = ci_values("production-values.yaml");
    let objects = documents(&render("env", "agentarea", &["-f", values.as_str()]));
    for (deployment, binary) in [
        ("env-agentarea-operator", "agentarea-operator"),
        ("env-agentarea-api", "agentarea-api"),
    ] {
        let read = env_of_binary(binary);
        for name in env(find(&objects, "Deployment", deployment)).keys() {
            if name.starts_with("AGENTAREA_") {
                assert!(
                    read.contains(name) || ENV_AHEAD_OF_THE_BINARIES.contains(&name.as_str()),
                    "{deployment} sets {name}, which {binary} does not read (it reads {read:?})"
                );
            }
        }
    }
}

#[tokio::test]
async fn the_rendered_configuration_starts_the_real_binaries() {
    // Each binary started with exactly the environment its Deployment gets (Secret references
    // resolved to the value the Secret is rendered with), against the control plane: the chart's
    // values are ones the binaries accept, and they come up ready. Traces are on, to a port
    // nothing listens on: the binaries take the OTEL_* variables the chart renders.
    let key = "a-test-hs256-key-of-at-least-32-characters";
    let isolation = TestNamespace::create("rendered-config").await;
    let (health_port, api_port) = (free_port(), free_port());
    let objects = documents(&render(
        "run",
        "agentarea",
        &[
            "--set",
            &format!("api.auth.jwtSecret.value={key}"),
            "--set",
            &format!("operator.healthPort={health_port}"),
            "--set",
            &format!("api.port={api_port}"),
            "--set",
            &format!("tracing.otlpEndpoint=http://127.0.0.1:{}", free_port()),
            "--set",
            "tracing.sampler=parentbased_traceidratio",
            "--set",
            "tracing.samplerArg=0.5",
        ],
    ));
    for (deployment, binary, port) in [
        ("run-agentarea-operator", "agentarea-operator", health_port),
        ("run-agentarea-api", "agentarea-api", api_port),
    ] {
        let mut command = std::process::Command::new(workspace_binary(binary));
        command.env("KUBECONFIG", &control_plane().kubeconfig);
        // Not from the chart: keeps this operator off the objects of tests running beside it.
        command.env("AGENTAREA_WATCH_NAMESPACE", &isolation.name);
        for (name, entry) in env(find(&objects, "Deployment", deployment)) {
            let value = if let Some(value) = entry["value"].as_str() {
                value.to_string()
            } else if entry["valueFrom"]["secretKeyRef"]["name"] == "run-agentarea-api-auth" {
                key.to_string()
            } else if entry["valueFrom"]["fieldRef"].is_object() {
                "agentarea".to_string()
            } else {
                panic!("{deployment}: no local stand-in for {name}: {entry}");
            };
            command.env(name, value);
        }
        let process = ChildProcess::spawn(binary, &mut command);
        wait_until_ok(&format!("http://127.0.0.1:{port}/readyz"), &process).await;
        let (status, in_time) = process.terminate(std::time::Duration::from_secs(10));
        assert!(
            in_time && status.success(),
            "{binary}: {}",
            process.output()
        );
        assert!(
            process.output().contains("exporting traces over OTLP"),
            "{binary} exports traces: {}",
            process.output()
        );
        if binary == "agentarea-api" {
            assert!(
                process.output().contains('{'),
                "logFormat json gives JSON logs: {}",
                process.output()
            );
        }
    }
}

/// Copies what `.dockerignore` lets into a Docker build context (the subset of its syntax this
/// repository uses: `*`, then `!path` exceptions) to `dest`.
fn docker_context(dest: &Path) {
    let ignore = std::fs::read_to_string(repo_root().join(".dockerignore")).unwrap();
    let mut rules = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'));
    assert_eq!(
        rules.next(),
        Some("*"),
        ".dockerignore starts by leaving everything out"
    );
    for rule in rules {
        let path = rule
            .strip_prefix('!')
            .unwrap_or_else(|| panic!(".dockerignore: only `!path` exceptions follow `*`: {rule}"));
        let (from, to) = (repo_root().join(path), dest.join(path));
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        let status = std::process::Command::new("cp")
            .arg("-R")
            .arg(from.as_os_str())
            .arg(to.as_os_str())
            .status()
            .unwrap();
        assert!(status.success(), "copy {path} into the context");
    }
}

#[test]
fn the_docker_build_context_holds_a_complete_locked_workspace() {
    // What the Dockerfile's `cargo build --locked` sees: resolve the workspace in a copy of the
    // build context, with the lock file as it is (for this machine's platform, whose crates the
    // test build has fetched already).
    let context = std::env::temp_dir().join(format!(
        "agentarea-docker-context-{}",
        uuid::Uuid::new_v4().simple()
    ));
    docker_context(&context);
    assert!(!context.join("target").exists());
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let rustc = std::process::Command::new("rustc")
        .arg("-vV")
        .output()
        .expect("rustc runs");
    let host = String::from_utf8_lossy(&rustc.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .expect("rustc -vV names the host");
    let output = std::process::Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked"])
        .args(["--filter-platform", host.as_str()])
        .current_dir(&context)
        .output()
        .expect("cargo metadata runs");
    assert_success(
        "cargo metadata --locked in the Docker build context",
        &output,
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).unwrap();
    let binaries: BTreeSet<String> = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["source"].is_null())
        .flat_map(|p| p["targets"].as_array().unwrap().iter())
        .filter(|t| t["kind"].as_array().unwrap().iter().any(|k| k == "bin"))
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    for binary in ["agentarea-operator", "agentarea-api"] {
        assert!(binaries.contains(binary), "{binary} among {binaries:?}");
    }
    for (source, included) in files_included_by_sources(&context) {
        assert!(
            included.exists(),
            "{} embeds {}, which is not in the Docker build context",
            source.display(),
            included.display()
        );
    }
    let _ = std::fs::remove_dir_all(&context);
}

/// Every file an `include_str!` or `include_bytes!` of the crates under `root` names, with the
/// source that names it.
fn files_included_by_sources(root: &Path) -> Vec<(std::path::PathBuf, std::path::PathBuf)> {
    let mut found = Vec::new();
    let mut directories = vec![root.to_path_buf()];
    while let Some(directory) = directories.pop() {
        for entry in std::fs::read_dir(&directory).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                directories.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for macro_call in ["include_str!(\"", "include_bytes!(\""] {
                for (at, _) in text.match_indices(macro_call) {
                    let rest = &text[at + macro_call.len()..];
                    let Some(end) = rest.find('"') else { continue };
                    found.push((path.clone(), path.parent().unwrap().join(&rest[..end])));
                }
            }
        }
    }
    found
}
