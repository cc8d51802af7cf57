//! The end-to-end suite's view of a real kind cluster (`tests/tests/e2e.rs`), which
//! `scripts/e2e.sh` prepares and describes in `AGENTAREA_E2E_*` environment variables: the chart
//! installed with our image, the images the examples' MCP servers and the scripted model run
//! from, and the real `kubectl` and `helm`.
//!
//! Here: the kube client for the cluster, the real kubectl, port-forwards, tokens made the way the
//! README says (`kubectl exec` into the api pod), workspace namespaces that clean up after
//! themselves and print what went wrong when a test fails, the examples with the local images
//! substituted, and the scripted model as a Deployment.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};

use crate::api::ApiClient;
use crate::{ChildProcess, eventually, eventually_explained, free_port, repo_root};

/// How long a pod may take to be scheduled, pull nothing (images are on the node), start and
/// become Ready on a small shared machine.
pub const POD_START: Duration = Duration::from_secs(300);

/// Tests that stop an operator replica hold this for writing; tests whose outcome a replica
/// going away mid-way would change (a Task run by it, a port-forward to it, counting Ready
/// replicas) hold it for reading. (A `tokio` lock works across the tests' separate runtimes.)
pub static OPERATOR_REPLICAS: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// The same for the api's replicas: the test that rolls the api holds it for writing; tests
/// that call the api through its Service, or count its pods, hold it for reading.
pub static API_REPLICAS: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// How often the waits of the suite look again: pods take seconds, and polling faster would only
/// load the small machine the cluster shares with the tests.
const PACE: Duration = Duration::from_millis(900);

/// [`eventually`] at the pace of a real cluster.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let mut first = true;
    eventually(what, timeout, || paced(&mut first, check())).await
}

/// [`eventually_explained`] at the pace of a real cluster: the panic says what was last seen.
pub async fn wait_explained<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let mut first = true;
    eventually_explained(what, timeout, || paced(&mut first, check())).await
}

/// `next`, after a pause of [`PACE`] unless `first` is set (it clears it): the first look goes at
/// once, the later ones at the cluster's pace.
fn paced<Fut: std::future::Future>(
    first: &mut bool,
    next: Fut,
) -> impl std::future::Future<Output = Fut::Output> + use<Fut> {
    let pause = !std::mem::take(first);
    async move {
        if pause {
            tokio::time::sleep(PACE).await;
        }
        next.await
    }
}

/// What `scripts/e2e.sh` exports.
#[derive(Debug)]
pub struct Env {
    /// `AGENTAREA_E2E_KUBECONFIG`
    pub kubeconfig: PathBuf,
    /// `AGENTAREA_E2E_API_URL`: the api through kind's port mapping.
    pub api_url: String,
    /// `AGENTAREA_E2E_RELEASE_NAMESPACE`
    pub release_namespace: String,
    /// `AGENTAREA_E2E_RELEASE`
    pub release: String,
    /// `AGENTAREA_E2E_IMAGE`: our image, on the node.
    pub image: String,
    /// `AGENTAREA_E2E_IMAGE_NODE`: stands in for `node:22-alpine` in examples/mcp-managed.yaml.
    pub image_node: String,
    /// `AGENTAREA_E2E_IMAGE_UV`: stands in for the uv image in examples/mcp-stdio.yaml.
    pub image_uv: String,
    /// `AGENTAREA_E2E_IMAGE_MODEL`: entrypoint `scripted-model`, user 65532, port 8080.
    pub image_model: String,
    /// `AGENTAREA_E2E_IMAGE_FLUX`: Flux's `source-controller` and `kustomize-controller`.
    pub image_flux: String,
    /// `AGENTAREA_E2E_IMAGE_GIT`: the suite's Git server (smart HTTP on 8080, repositories in
    /// /srv/git).
    pub image_git: String,
    /// `AGENTAREA_E2E_FLUX_CRDS`: the directory of Flux's CRDs, from the modules built.
    pub flux_crds: PathBuf,
    /// `AGENTAREA_KUBECTL`
    pub kubectl: PathBuf,
    /// `AGENTAREA_HELM` (also what [`crate::helm`] runs).
    pub helm: PathBuf,
    /// `AGENTAREA_E2E_CHART_VALUES`: the values file the release was installed with.
    pub chart_values: PathBuf,
}

/// The image of examples/mcp-managed.yaml that `AGENTAREA_E2E_IMAGE_NODE` replaces.
pub const EXAMPLE_NODE_IMAGE: &str = "node:22-alpine";
/// The image of examples/mcp-stdio.yaml that `AGENTAREA_E2E_IMAGE_UV` replaces.
pub const EXAMPLE_UV_IMAGE: &str = "ghcr.io/astral-sh/uv:python3.12-bookworm-slim";

fn required(name: &str) -> String {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => value.trim().to_string(),
        _ => panic!(
            "{name} is not set: the end-to-end tests run against the kind cluster that \
             scripts/e2e.sh prepares; run scripts/e2e.sh (it exports {name} and the other \
             AGENTAREA_E2E_* variables)"
        ),
    }
}

fn required_file(name: &str) -> PathBuf {
    let path = PathBuf::from(required(name));
    assert!(
        path.exists(),
        "{name}={} does not exist; run scripts/e2e.sh",
        path.display()
    );
    path
}

/// An image the operator puts in a Deployment without an `imagePullPolicy`: Kubernetes then
/// pulls `:latest` (and untagged) images always, which a locally loaded image cannot survive.
fn pinned_image(name: &str) -> String {
    let image = required(name);
    let last = image.rsplit('/').next().unwrap_or(&image);
    assert!(
        image.contains('@') || (last.contains(':') && !last.ends_with(":latest")),
        "{name}={image} needs a tag other than latest (or a digest): pods of managed MCP \
         servers have the default pull policy, which always pulls :latest; run scripts/e2e.sh"
    );
    image
}

/// The environment of this run; panics naming the first missing variable.
pub fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| Env {
        kubeconfig: required_file("AGENTAREA_E2E_KUBECONFIG"),
        api_url: required("AGENTAREA_E2E_API_URL")
            .trim_end_matches('/')
            .to_string(),
        release_namespace: required("AGENTAREA_E2E_RELEASE_NAMESPACE"),
        release: required("AGENTAREA_E2E_RELEASE"),
        image: required("AGENTAREA_E2E_IMAGE"),
        image_node: pinned_image("AGENTAREA_E2E_IMAGE_NODE"),
        image_uv: pinned_image("AGENTAREA_E2E_IMAGE_UV"),
        image_model: required("AGENTAREA_E2E_IMAGE_MODEL"),
        image_flux: pinned_image("AGENTAREA_E2E_IMAGE_FLUX"),
        image_git: pinned_image("AGENTAREA_E2E_IMAGE_GIT"),
        flux_crds: required_file("AGENTAREA_E2E_FLUX_CRDS"),
        kubectl: required_file("AGENTAREA_KUBECTL"),
        helm: required_file("AGENTAREA_HELM"),
        chart_values: required_file("AGENTAREA_E2E_CHART_VALUES"),
    })
}

/// The chart's `agentarea.fullname` for a release (no name overrides): the release name when it
/// contains `agentarea`, else `<release>-agentarea`.
pub fn fullname(release: &str) -> String {
    let full = if release.contains("agentarea") {
        release.to_string()
    } else {
        format!("{release}-agentarea")
    };
    full.chars()
        .take(50)
        .collect::<String>()
        .trim_end_matches('-')
        .to_string()
}

impl Env {
    /// Deployment and Service `<fullname>-operator`.
    pub fn operator(&self) -> String {
        format!("{}-operator", fullname(&self.release))
    }

    /// Deployment and Service `<fullname>-api`.
    pub fn api(&self) -> String {
        format!("{}-api", fullname(&self.release))
    }

    /// The label selector of one component's pods (`operator`, `api`).
    pub fn selector(&self, component: &str) -> String {
        format!(
            "app.kubernetes.io/instance={},app.kubernetes.io/component={component}",
            self.release
        )
    }
}

/// A kube client for the kind cluster, made on the calling test's runtime.
pub async fn client() -> Client {
    let path = &env().kubeconfig;
    let kubeconfig = Kubeconfig::read_from(path)
        .unwrap_or_else(|e| panic!("AGENTAREA_E2E_KUBECONFIG={}: {e}", path.display()));
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("a usable AGENTAREA_E2E_KUBECONFIG");
    Client::try_from(config).expect("client from AGENTAREA_E2E_KUBECONFIG")
}

/// The api of the release, as a user reaches it (kind's port mapping).
pub fn api() -> ApiClient {
    ApiClient::new(&env().api_url)
}

/// Runs the real kubectl against the kind cluster.
pub fn kubectl<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    kubectl_with_stdin(args, None)
}

/// Runs kubectl with `stdin` fed to it (for `apply -f -`).
pub fn kubectl_with_stdin<I, S>(args: I, stdin: Option<&str>) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    crate::kubectl::run(&env().kubectl, &env().kubeconfig, args, stdin)
}

/// stdout and stderr of a command, for messages.
pub fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Runs kubectl and returns its stdout; panics with its output if it failed.
pub fn kubectl_ok<I, S>(what: &str, args: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let output = kubectl(args);
    assert!(
        output.status.success(),
        "{what}: kubectl failed with {}:\n{}",
        output.status,
        text(&output)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `kubectl apply -n namespace -f -` of `manifest`.
pub fn apply(namespace: &str, manifest: &str) -> String {
    let output = kubectl_with_stdin(["apply", "-n", namespace, "-f", "-"], Some(manifest));
    assert!(
        output.status.success(),
        "kubectl apply -n {namespace} failed:\n{}\n---\n{manifest}",
        text(&output)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A token for `workspace` the way the README makes one: `kubectl exec` into the api pod, which
/// signs with the release's key (this also shows that exec into the distroless pod works).
pub fn token(workspace: &str) -> String {
    let e = env();
    let deployment = format!("deploy/{}", e.api());
    let stdout = kubectl_ok(
        "make a token in the api pod",
        [
            "-n",
            e.release_namespace.as_str(),
            "exec",
            deployment.as_str(),
            "--",
            "agentarea-api",
            "token",
            "--workspace",
            workspace,
        ],
    );
    let token = stdout
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        token.split('.').count(),
        3,
        "agentarea-api token printed no JWT: {stdout:?}"
    );
    token
}

/// A short random id for names.
pub fn short_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_string()
}

/// `kubectl port-forward` to `target` (`svc/name`, `pod/name`) in `namespace`, on a free port of
/// 127.0.0.1. Stopped when dropped; its output is printed if a test fails meanwhile.
pub struct PortForward {
    pub process: ChildProcess,
    pub port: u16,
}

impl PortForward {
    /// Starts the forward and waits until it accepts connections. kubectl exits when the target
    /// has no running pod yet; it is started again until `POD_START` has passed.
    pub async fn start(namespace: &str, target: &str, remote_port: u16) -> Self {
        let deadline = tokio::time::Instant::now() + POD_START;
        let mut last_output = String::new();
        while tokio::time::Instant::now() < deadline {
            let port = free_port();
            let process = ChildProcess::spawn(
                "kubectl-port-forward",
                Command::new(&env().kubectl)
                    .env("KUBECONFIG", &env().kubeconfig)
                    .args(["port-forward", "--address", "127.0.0.1", "-n", namespace])
                    .arg(target)
                    .arg(format!("{port}:{remote_port}")),
            );
            let listening = format!("Forwarding from 127.0.0.1:{port}");
            let started = tokio::time::Instant::now();
            loop {
                if process.exit_status().is_some() {
                    last_output = process.output();
                    break;
                }
                if process.output().contains(&listening)
                    && tokio::net::TcpStream::connect(("127.0.0.1", port))
                        .await
                        .is_ok()
                {
                    return Self { process, port };
                }
                if started.elapsed() > Duration::from_secs(30) {
                    last_output = process.output();
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            // The process is dropped (stopped) here; try again in a moment.
            drop(process);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        panic!(
            "kubectl port-forward -n {namespace} {target} {remote_port} never became ready; \
             it last said:\n{last_output}"
        );
    }

    /// `http://127.0.0.1:<port><path>`
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

/// Prints what helps to find out why a test failed: the objects of `namespace` with their
/// status, its events and pods' logs, and the operator's recent logs.
pub fn dump(namespace: &str) {
    let e = env();
    let mut report = format!("======== e2e diagnostics for namespace {namespace} ========\n");
    let mut run = |title: &str, args: &[&str]| {
        let output = kubectl(args);
        report.push_str(&format!("---- {title} ----\n{}\n", text(&output)));
    };
    run(
        "objects",
        &[
            "get",
            "agentarea,deployments,replicasets,pods,services",
            "-n",
            namespace,
            "-o",
            "wide",
        ],
    );
    run(
        "agentarea objects (status)",
        &["get", "agentarea", "-n", namespace, "-o", "yaml"],
    );
    run(
        "events",
        &["get", "events", "-n", namespace, "--sort-by=.lastTimestamp"],
    );
    run("pods", &["describe", "pods", "-n", namespace]);
    run(
        "pod logs",
        &[
            "logs",
            "-n",
            namespace,
            "--all-containers",
            "--prefix",
            "--tail=100",
            "-l",
            "app.kubernetes.io/name",
        ],
    );
    let operator = e.selector("operator");
    run(
        "operator logs",
        &[
            "logs",
            "-n",
            e.release_namespace.as_str(),
            "-l",
            operator.as_str(),
            "--all-containers",
            "--prefix",
            "--tail=200",
        ],
    );
    eprintln!("{report}");
}

/// Runs [`dump`] for its namespaces when the test panics.
pub struct DumpOnPanic(pub Vec<String>);

impl Drop for DumpOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for namespace in &self.0 {
                dump(namespace);
            }
        }
    }
}

/// A workspace of its own for a test: namespace `ws-<id>` labelled
/// `agentarea.io/workspace=<id>`. [`Workspace::delete`] at the end of the test removes it; when
/// the test panics, what is in it is printed first, and it is deleted too unless
/// `AGENTAREA_E2E_KEEP=1` (as for `scripts/e2e.sh`, which then keeps the cluster): then it is left
/// for inspection.
pub struct Workspace {
    pub id: String,
    pub namespace: String,
    pub client: Client,
    deleted: bool,
}

impl Workspace {
    pub async fn create(prefix: &str) -> Self {
        let client = client().await;
        let id = format!("e2e-{prefix}-{}", short_id());
        let namespace = agentarea_api::workspace::namespace_for(&id);
        let object: Namespace = serde_json::from_value(json!({
            "metadata": {"name": namespace, "labels": {
                "agentarea.io/workspace": id, "agentarea.io/e2e": "true"}}
        }))
        .expect("namespace literal");
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &object)
            .await
            .unwrap_or_else(|e| panic!("create namespace {namespace}: {e}"));
        Self {
            id,
            namespace,
            client,
            deleted: false,
        }
    }

    /// An `Api` for kind `K` in the workspace.
    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = kube::core::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// Deletes the namespace and waits until it is gone.
    pub async fn delete(mut self) {
        self.deleted = true;
        let namespaces = Api::<Namespace>::all(self.client.clone());
        let _ = namespaces
            .delete(&self.namespace, &DeleteParams::background())
            .await;
        let name = self.namespace.clone();
        wait_for(&format!("namespace {name} deleted"), POD_START, || async {
            matches!(namespaces.get_opt(&name).await, Ok(None)).then_some(())
        })
        .await;
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        if self.deleted {
            return;
        }
        if std::thread::panicking() {
            dump(&self.namespace);
        }
        if std::env::var("AGENTAREA_E2E_KEEP").as_deref() != Ok("1") {
            delete_namespace_later(&self.namespace);
        }
    }
}

/// Starts deleting `namespace` if it exists, without waiting for it to go: cleanup that must not
/// hold up a test, or a panic that is already under way.
pub fn delete_namespace_later(namespace: &str) {
    let _ = kubectl([
        "delete",
        "namespace",
        namespace,
        "--wait=false",
        "--ignore-not-found",
    ]);
}

/// The text of `examples/<file>` with the images the cluster cannot pull replaced by the local
/// stand-ins; nothing else changes.
pub fn example(file: &str) -> String {
    let text = std::fs::read_to_string(repo_root().join("examples").join(file))
        .unwrap_or_else(|e| panic!("read examples/{file}: {e}"));
    substitute_images(file, &text)
}

fn substitute_images(file: &str, text: &str) -> String {
    let e = env();
    let mut text = text.to_string();
    for (from, to) in [
        (EXAMPLE_NODE_IMAGE, &e.image_node),
        (EXAMPLE_UV_IMAGE, &e.image_uv),
    ] {
        let line = format!("image: {from}\n");
        let count = text.matches(&line).count();
        assert!(
            count <= 1,
            "examples/{file} names {from} {count} times; teach the e2e suite about it"
        );
        text = text.replace(&line, &format!("image: {to}\n"));
    }
    text
}

/// A copy of `examples/` in a new temporary directory, images substituted as in [`example`].
pub fn examples_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("agentarea-e2e-examples-{}", short_id()));
    std::fs::create_dir_all(&dir).expect("create the examples copy");
    let mut substituted = Vec::new();
    for entry in std::fs::read_dir(repo_root().join("examples")).expect("examples/") {
        let path = entry.expect("examples/ entry").path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let original = std::fs::read_to_string(&path).expect("read an example");
        let text = substitute_images(&name, &original);
        if text != original {
            substituted.push(name.clone());
        }
        std::fs::write(dir.join(&name), text).expect("write the examples copy");
    }
    substituted.sort();
    assert_eq!(
        substituted,
        ["mcp-managed.yaml", "mcp-stdio.yaml"],
        "the example images the e2e suite replaces moved"
    );
    dir
}

/// Waits until object `name` exists and `done` accepts it, and returns it; until then `done`
/// says what it sees, for the panic after `timeout`.
pub async fn wait_for_object<K, D>(
    api: &Api<K>,
    name: &str,
    what: &str,
    timeout: Duration,
    done: D,
) -> K
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    D: Fn(&K) -> Result<(), String>,
{
    wait_explained(what, timeout, || async {
        let object = api
            .get_opt(name)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("not found")?;
        done(&object).map(|()| object)
    })
    .await
}

/// Waits until Deployment `name` has rolled out: every replica updated, ready and available, and
/// no old one left.
pub async fn deployment_rolled_out(client: &Client, namespace: &str, name: &str) -> Deployment {
    let api: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    let what = format!("deployment {namespace}/{name} rolled out");
    wait_for_object(&api, name, &what, POD_START, |deployment| {
        let wanted = deployment
            .spec
            .as_ref()
            .and_then(|s| s.replicas)
            .unwrap_or(1);
        let status = deployment.status.clone().unwrap_or_default();
        let done = status.observed_generation == deployment.metadata.generation
            && status.updated_replicas.unwrap_or(0) == wanted
            && status.ready_replicas.unwrap_or(0) == wanted
            && status.available_replicas.unwrap_or(0) == wanted
            && status.replicas.unwrap_or(0) == wanted;
        if done {
            Ok(())
        } else {
            Err(format!("{wanted} wanted; status {status:?}"))
        }
    })
    .await
}

/// Whether `pod` is Running with condition Ready.
pub fn pod_ready(pod: &Pod) -> bool {
    let status = pod.status.as_ref();
    status.and_then(|s| s.phase.as_deref()) == Some("Running")
        && pod.metadata.deletion_timestamp.is_none()
        && status
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The pods matching `selector` in `namespace`.
pub async fn pods(client: &Client, namespace: &str, selector: &str) -> Vec<Pod> {
    Api::<Pod>::namespaced(client.clone(), namespace)
        .list(&ListParams::default().labels(selector))
        .await
        .map(|list| list.items)
        .unwrap_or_default()
}

/// The scripted model (`AGENTAREA_E2E_IMAGE_MODEL`) as a Deployment and Service `name` in
/// `namespace`, started with `args`; returns once it is ready, with its in-cluster base URL.
pub struct ModelPod {
    pub namespace: String,
    pub name: String,
    /// `http://<name>.<namespace>.svc:8080/v1`, an Agent's `spec.model.endpoint`.
    pub url: String,
}

impl ModelPod {
    pub async fn deploy(client: &Client, namespace: &str, name: &str, args: &[String]) -> Self {
        let labels =
            json!({"app.kubernetes.io/name": "scripted-model", "app.kubernetes.io/instance": name});
        let deployment = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "labels": labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "automountServiceAccountToken": false,
                        "securityContext": {"runAsNonRoot": true, "runAsUser": 65532, "runAsGroup": 65532,
                                            "seccompProfile": {"type": "RuntimeDefault"}},
                        "terminationGracePeriodSeconds": 5,
                        "containers": [{
                            "name": "model",
                            "image": env().image_model,
                            "imagePullPolicy": "IfNotPresent",
                            "args": args,
                            "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                            "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 2},
                            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "128Mi"}},
                            "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                                                "capabilities": {"drop": ["ALL"]}},
                        }],
                    },
                },
            },
        });
        let service = json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "labels": labels},
            "spec": {"selector": labels,
                     "ports": [{"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"}]},
        });
        let params = PatchParams::apply("agentarea-e2e").force();
        Api::<Deployment>::namespaced(client.clone(), namespace)
            .patch(name, &params, &Patch::Apply(&deployment))
            .await
            .unwrap_or_else(|e| panic!("apply the scripted model's Deployment: {e}"));
        Api::<Service>::namespaced(client.clone(), namespace)
            .patch(name, &params, &Patch::Apply(&service))
            .await
            .unwrap_or_else(|e| panic!("apply the scripted model's Service: {e}"));
        deployment_rolled_out(client, namespace, name).await;
        Self {
            namespace: namespace.to_string(),
            name: name.to_string(),
            url: format!("http://{name}.{namespace}.svc:8080/v1"),
        }
    }

    /// Every request the model has received (its `GET /requests`, through the apiserver's
    /// service proxy).
    pub fn requests(&self) -> Vec<Value> {
        let path = format!(
            "/api/v1/namespaces/{}/services/{}:8080/proxy/requests",
            self.namespace, self.name
        );
        let body = kubectl_ok("the scripted model's requests", ["get", "--raw", &path]);
        serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("GET /requests of the model is not JSON ({e}): {body}"))
    }
}

/// The chart directory.
pub fn chart() -> PathBuf {
    repo_root().join("charts/agentarea")
}

/// The `/metrics` page of every pod of `selector` in `namespace`, read through the apiserver's pod
/// proxy on the container port named `port`: each endpoint a ServiceMonitor makes Prometheus
/// scrape, reached the way it would be, from inside the cluster.
pub async fn scrape_pods(
    client: &Client,
    namespace: &str,
    selector: &str,
    port: &str,
) -> Vec<String> {
    let mut pages = Vec::new();
    for pod in pods(client, namespace, selector).await {
        let declared = crate::objects::container_port(&pod, port)
            .unwrap_or_else(|| panic!("pod {} declares no port {port}", pod.name_any()));
        let path = format!(
            "/api/v1/namespaces/{namespace}/pods/{}:{declared}/proxy/metrics",
            pod.name_any()
        );
        let request = http::Request::get(path).body(Vec::new()).unwrap();
        let page = client
            .request_text(request)
            .await
            .unwrap_or_else(|e| panic!("scraping {}: {e}", pod.name_any()));
        pages.push(page);
    }
    pages
}
