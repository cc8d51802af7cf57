//! A real GitOps engine against our CRDs and operator: Flux's source-controller and
//! kustomize-controller (built from their modules, `tests/e2e/build-flux.sh`) in the cluster, a
//! Git server in a pod, and a Kustomization applying a repository of agents into a workspace.
//! Asserted on Flux's own status and on ours: it becomes Ready and stays so with no drift while the
//! operator writes statuses, and over a quiet minute (an injector's annotation on our Deployment
//! included) nothing in the workspace is reconciled again; a change pushed to Git reaches the agent, which resolves again; a
//! file removed from Git prunes its object and everything the operator made for it; a manifest
//! our schema refuses shows Flux's error with our field message and leaves the rest applied; and
//! the api refuses to change what Git owns.

use super::*;
use kube::api::{Patch, PatchParams};

/// How often the engine looks at the repository and re-applies it.
const INTERVAL: &str = "10s";
const FLUX: Duration = Duration::from_secs(180);
/// Long enough for six of the engine's intervals.
const QUIET: Duration = Duration::from_secs(60);

/// `kubectl get <what> -o json`, parsed; `None` when it is not there (yet).
fn get_json(args: &[&str]) -> Option<Value> {
    let mut all = vec!["get"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", "json"]);
    let output = kubectl(all);
    output
        .status
        .success()
        .then(|| serde_json::from_slice(&output.stdout).ok())
        .flatten()
}

fn condition_of(object: &Value, type_: &str) -> Option<(String, String, String)> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
        .map(|c| {
            let text = |k: &str| c[k].as_str().unwrap_or_default().to_string();
            (text("status"), text("reason"), text("message"))
        })
}

/// Flux's controllers, once their Deployments are rolled out.
async fn install_flux(client: &Client) {
    let e = env();
    kubectl_ok(
        "Flux's CRDs",
        [
            "apply",
            "--server-side",
            "-f",
            e.flux_crds.to_str().unwrap(),
        ],
    );
    let manifest =
        std::fs::read_to_string(agentarea_tests::repo_root().join("tests/e2e/flux/flux.yaml"))
            .unwrap()
            .replace("image: IMAGE", &format!("image: {}", e.image_flux));
    let output = e2e::kubectl_with_stdin(["apply", "-f", "-"], Some(&manifest));
    assert!(output.status.success(), "{}", text(&output));
    for name in ["source-controller", "kustomize-controller"] {
        deployment_rolled_out(client, "flux-system", name).await;
    }
}

/// The Git server, with an empty repository `agents.git` on branch `main`.
struct GitServer {
    namespace: String,
    pod: String,
}

impl GitServer {
    async fn start(client: &Client) -> Self {
        let e = env();
        let namespace = format!("e2e-git-{}", short_id());
        let manifest = format!(
            r#"apiVersion: v1
kind: Namespace
metadata: {{name: {namespace}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: git, namespace: {namespace}}}
spec:
  selector: {{matchLabels: {{app: git}}}}
  template:
    metadata: {{labels: {{app: git}}}}
    spec:
      containers:
        - name: git
          image: {image}
          imagePullPolicy: IfNotPresent
          ports: [{{name: http, containerPort: 8080}}]
          readinessProbe: {{httpGet: {{port: http, path: /healthz}}}}
---
apiVersion: v1
kind: Service
metadata: {{name: git, namespace: {namespace}}}
spec:
  selector: {{app: git}}
  ports: [{{name: http, port: 80, targetPort: http}}]
"#,
            image = e.image_git
        );
        let output = e2e::kubectl_with_stdin(["apply", "-f", "-"], Some(&manifest));
        assert!(output.status.success(), "{}", text(&output));
        deployment_rolled_out(client, &namespace, "git").await;
        let pod = wait_for("the Git server's pod", POD_START, || async {
            pods(client, &namespace, "app=git")
                .await
                .into_iter()
                .find(pod_ready)
                .map(|p| p.name_any())
        })
        .await;
        let server = Self { namespace, pod };
        server.sh(
            "git init -q --bare -b main /srv/git/agents.git \
             && git clone -q /srv/git/agents.git /tmp/work 2>/dev/null; \
             mkdir -p /tmp/work/agents",
            None,
        );
        server
    }

    fn url(&self) -> String {
        format!("http://git.{}.svc.cluster.local/agents.git", self.namespace)
    }

    fn sh(&self, script: &str, stdin: Option<&str>) -> String {
        let output = e2e::kubectl_with_stdin(
            [
                "exec",
                "-i",
                "-n",
                &self.namespace,
                &self.pod,
                "--",
                "sh",
                "-ec",
                script,
            ],
            stdin,
        );
        assert!(output.status.success(), "{script}: {}", text(&output));
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Writes `agents/<file>` and pushes it as one commit.
    fn push_file(&self, file: &str, content: &str) {
        self.sh(&format!("cat > /tmp/work/agents/{file}"), Some(content));
        self.commit(&format!("write {file}"));
    }

    fn remove_file(&self, file: &str) {
        self.sh(&format!("rm /tmp/work/agents/{file}"), None);
        self.commit(&format!("remove {file}"));
    }

    fn commit(&self, message: &str) {
        self.sh(
            &format!(
                "cd /tmp/work && git add -A && git -c user.name=e2e -c user.email=e2e@example.com \
                 commit -q -m '{message}' && git push -q origin HEAD:main"
            ),
            None,
        );
    }
}

/// The reconciles of the controllers the repository's objects wake, for `namespace` alone (other
/// tests keep other workspaces busy), summed over the operator's pods.
async fn reconciles_in(client: &Client, namespace: &str) -> [f64; 3] {
    let e = env();
    let pages = scrape_pods(
        client,
        &e.release_namespace,
        &e.selector("operator"),
        "health",
    )
    .await;
    ["agent", "skill", "mcp_server_instance"].map(|controller| {
        summed(
            &pages,
            &format!(
                r#"agentarea_operator_reconciles_total{{controller="{controller}",namespace="{namespace}"}}"#
            ),
        )
    })
}

/// [`reconciles_in`] once no pod of `namespace` is stopping and it gives the same twice, ten
/// seconds apart: a rollout's last status changes may still be arriving, and a discovery that
/// began as the old pod stopped may still be trying the server again (for up to about 8 s).
async fn settled_reconciles(client: &Client, namespace: &str) -> [f64; 3] {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let mut last = None;
    for _ in 0..24 {
        let stopping = pods
            .list(&Default::default())
            .await
            .expect("the workspace's pods")
            .items
            .iter()
            .any(|pod| pod.metadata.deletion_timestamp.is_some());
        let now = reconciles_in(client, namespace).await;
        if !stopping && last == Some(now) {
            return now;
        }
        last = Some(now);
        tokio::time::sleep(Duration::from_secs(10)).await;
    }
    panic!("the reconciles in {namespace} never held still for 10 s; last {last:?}");
}

fn skill() -> String {
    "apiVersion: agentarea.io/v1alpha1\nkind: Skill\nmetadata:\n  name: tone\nspec:\n  instructions: Be kind.\n".into()
}

fn agent(instruction: &str) -> String {
    format!(
        "apiVersion: agentarea.io/v1alpha1\nkind: Agent\nmetadata:\n  name: runbook\nspec:\n  \
         instruction: {instruction}\n  model:\n    name: m\n  skills:\n    - name: tone\n"
    )
}

/// The Kustomization's Ready condition, once its last applied revision is `revision`'s commit.
async fn applied(
    revision_of: impl Fn() -> String,
    ready: &str,
) -> (Value, (String, String, String)) {
    wait_explained("the Kustomization at the pushed revision", FLUX, || async {
        let kustomization =
            get_json(&["kustomization", "agents", "-n", "flux-system"]).ok_or("not there")?;
        let condition = condition_of(&kustomization, "Ready").ok_or("no Ready condition")?;
        let commit = revision_of();
        let applied = kustomization["status"]["lastAttemptedRevision"]
            .as_str()
            .unwrap_or_default();
        if condition.0 == ready && applied.contains(commit.trim()) {
            Ok((kustomization, condition))
        } else {
            Err(format!(
                "Ready {condition:?}, attempted {applied}, pushed {commit}"
            ))
        }
    })
    .await
}

#[tokio::test]
async fn flux_reconciles_agents_from_git_and_the_api_leaves_them_to_it() {
    let _operator = OPERATOR_REPLICAS.read().await;
    let _api = API_REPLICAS.read().await;
    let client = e2e::client().await;
    install_flux(&client).await;
    let git = GitServer::start(&client).await;
    let _dump = DumpOnPanic(vec!["flux-system".into(), git.namespace.clone()]);
    let ws = Workspace::create("gitops").await;
    git.push_file("skill.yaml", &skill());
    git.push_file("agent.yaml", &agent("Answer from the runbook."));
    // Rediscovery once a day: the quiet minute below has no tick of the operator's own.
    let mcp = example("mcp-managed.yaml")
        .replace("\nspec:\n", "\nspec:\n  discoveryIntervalSeconds: 86400\n");
    git.push_file("mcp.yaml", &mcp);
    let head = || git.sh("cd /tmp/work && git rev-parse HEAD", None);

    let sources = format!(
        r#"apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {{name: agents, namespace: flux-system}}
spec:
  interval: {INTERVAL}
  url: {url}
  ref: {{branch: main}}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {{name: agents, namespace: flux-system}}
spec:
  interval: {INTERVAL}
  retryInterval: {INTERVAL}
  timeout: 60s
  path: ./agents
  prune: true
  targetNamespace: {namespace}
  sourceRef: {{kind: GitRepository, name: agents}}
"#,
        url = git.url(),
        namespace = ws.namespace
    );
    let output = e2e::kubectl_with_stdin(["apply", "-f", "-"], Some(&sources));
    assert!(output.status.success(), "{}", text(&output));

    // Applied and Ready; our objects are there, labelled by Flux.
    applied(head, "True").await;
    let agents = ws.api::<Agent>();
    let runbook = wait_for_object(&agents, "runbook", "the agent from Git", RUN, |a| {
        let seen = a.status.as_ref().and_then(|s| s.observed_generation);
        if seen.is_some() && seen == a.metadata.generation {
            Ok(())
        } else {
            Err(format!("observed {seen:?} of {:?}", a.metadata.generation))
        }
    })
    .await;
    assert_eq!(
        runbook.labels()["kustomize.toolkit.fluxcd.io/name"],
        "agents"
    );
    let instance = instance_ready(&ws, "everything", &["echo"]).await;
    let instance_uid = instance.uid().unwrap();

    // An injector annotates the managed server's pod template; the Deployment rolls once, and the
    // operator leaves the annotation be.
    let deployments = ws.api::<Deployment>();
    deployments
        .patch(
            "everything",
            &PatchParams::apply("sidecar-injector"),
            &Patch::Merge(json!({"spec": {"template": {"metadata": {"annotations": {
                "sidecar.example.com/inject": "true"}}}}})),
        )
        .await
        .expect("the injector's patch");
    deployment_rolled_out(&client, &ws.namespace, "everything").await;
    instance_ready(&ws, "everything", &["echo"]).await;

    // Steady: over a quiet minute (six of the engine's intervals), no reconcile of anything in the
    // workspace, Ready at the same revision, and the engine changed nothing of ours (its events
    // would say `configured`), while the operator's statuses stand.
    let revision = head();
    let before = settled_reconciles(&client, &ws.namespace).await;
    tokio::time::sleep(QUIET).await;
    assert_eq!(
        reconciles_in(&client, &ws.namespace).await,
        before,
        "(agent, skill, mcp_server_instance) reconciles over a quiet minute with the engine running"
    );
    let template = deployments.get("everything").await.unwrap();
    assert_eq!(
        template
            .spec
            .unwrap()
            .template
            .metadata
            .unwrap()
            .annotations
            .unwrap_or_default()
            .get("sidecar.example.com/inject")
            .map(String::as_str),
        Some("true"),
        "the injector's annotation stays"
    );
    let (kustomization, _) = applied(|| revision.clone(), "True").await;
    let drift = kubectl_ok(
        "the engine's events",
        [
            "get",
            "events",
            "-n",
            "flux-system",
            "--field-selector",
            "involvedObject.name=agents",
            "-o",
            "json",
        ],
    );
    let drifted: Vec<String> = serde_json::from_str::<Value>(&drift).unwrap()["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["message"].as_str())
        .filter(|m| m.contains("configured"))
        .map(String::from)
        .collect();
    assert!(
        drifted.is_empty(),
        "the engine re-applied our objects: {drifted:?}"
    );
    let managers: Vec<(String, Option<String>)> = agents
        .get("runbook")
        .await
        .unwrap()
        .managed_fields()
        .iter()
        .map(|f| (f.manager.clone().unwrap_or_default(), f.subresource.clone()))
        .collect();
    assert!(
        managers
            .iter()
            .all(|(m, sub)| !m.contains("kustomize") || sub.is_none()),
        "the engine owns no status field: {managers:?}"
    );
    assert!(
        kustomization["status"]["inventory"]["entries"]
            .as_array()
            .is_some_and(|e| e.len() >= 3)
    );

    // The api leaves Git's objects to Git.
    let api = e2e::api();
    let token = token(&ws.id);
    let path = format!("/v1/agents/{}", runbook.uid().unwrap());
    let (status, body) = api.get(&token, &path).await;
    assert_eq!(
        (status, body["managed_by"].as_str()),
        (200, Some("Flux Kustomization flux-system/agents")),
        "{body}"
    );
    let (status, body) = api.patch(&token, &path, &json!({"description": "x"})).await;
    assert_eq!(status, 409, "{body}");

    // A change pushed to Git reaches the agent, which resolves again.
    git.push_file("agent.yaml", &agent("Answer from the new runbook."));
    applied(head, "True").await;
    wait_for_object(&agents, "runbook", "the agent changed from Git", RUN, |a| {
        let seen = a.status.as_ref().and_then(|s| s.observed_generation);
        if a.spec.instruction == "Answer from the new runbook." && seen == a.metadata.generation {
            Ok(())
        } else {
            Err(format!(
                "{:?}, observed {seen:?} of {:?}",
                a.spec.instruction, a.metadata.generation
            ))
        }
    })
    .await;

    // A file removed from Git prunes its object, and with it what the operator made for it.
    git.remove_file("mcp.yaml");
    applied(head, "True").await;
    let instances = ws.api::<McpServerInstance>();
    wait_explained("the instance and its children pruned", RUN, || async {
        let left: Vec<String> = [
            instances
                .get_opt("everything")
                .await
                .ok()
                .flatten()
                .map(|_| "instance".to_string()),
            ws.api::<Deployment>()
                .get_opt("everything")
                .await
                .ok()
                .flatten()
                .map(|_| "deployment".into()),
            ws.api::<Service>()
                .get_opt("everything")
                .await
                .ok()
                .flatten()
                .map(|_| "service".into()),
            ws.api::<NetworkPolicy>()
                .list(&ListParams::default())
                .await
                .ok()
                .filter(|l| {
                    l.items
                        .iter()
                        .any(|p| p.owner_references().iter().any(|o| o.uid == instance_uid))
                })
                .map(|_| "network policy".into()),
        ]
        .into_iter()
        .flatten()
        .collect();
        if left.is_empty() {
            Ok(())
        } else {
            Err(format!("still there: {left:?}"))
        }
    })
    .await;

    // A manifest our schema refuses: the engine says so with our field's message, and what was
    // applied stays.
    git.push_file(
        "broken.yaml",
        "apiVersion: agentarea.io/v1alpha1\nkind: Agent\nmetadata:\n  name: broken\nspec:\n  \
         instruction: hi\n  model:\n    name: m\n    endpoint: not-a-url\n",
    );
    let (_, (_, reason, message)) = applied(head, "False").await;
    assert!(
        message.contains("spec.model.endpoint"),
        "{reason}: {message}"
    );
    assert!(agents.get_opt("broken").await.unwrap().is_none());
    assert!(
        agents.get_opt("runbook").await.unwrap().is_some(),
        "the rest stays applied"
    );
    assert!(
        ws.api::<agentarea_crds::Skill>()
            .get_opt("tone")
            .await
            .unwrap()
            .is_some()
    );

    kubectl_ok(
        "remove the sources",
        [
            "delete",
            "kustomization,gitrepository",
            "agents",
            "-n",
            "flux-system",
            "--wait=false",
        ],
    );
    kubectl_ok(
        "remove the Git server",
        ["delete", "namespace", &git.namespace, "--wait=false"],
    );
    ws.delete().await;
}
