//! Objects a GitOps engine applies are read-only through the api (409 naming the owner) unless
//! the administrator turns that off; responses say who manages an object; and any object, or the
//! whole workspace, reads back as manifests for Git.

use super::*;

/// `agent` as Flux's kustomize-controller applies it.
fn flux_agent(name: &str) -> Agent {
    let mut agent = agent(WORKSPACE, name, 1);
    agent.metadata.labels = Some(
        [
            ("kustomize.toolkit.fluxcd.io/name", "agents"),
            ("kustomize.toolkit.fluxcd.io/namespace", "flux-system"),
            ("team", "support"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .into(),
    );
    agent
}

fn skill(name: &str, labels: &[(&str, &str)]) -> Skill {
    let mut skill: Skill = object(
        "Skill",
        WORKSPACE,
        name,
        2,
        json!({"instructions": "Be kind."}),
        Some(json!({"conditions": []})),
    );
    skill.metadata.labels = Some(
        labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    );
    skill
}

fn objects() -> Objects {
    Objects {
        agents: vec![flux_agent("from-git"), agent(WORKSPACE, "by-hand", 3)],
        skills: vec![
            skill("piped", &[("agentarea.io/managed-by", "gitops")]),
            skill("tone", &[]),
        ],
        ..Objects::default()
    }
}

#[tokio::test]
async fn changing_a_git_owned_object_is_refused_naming_its_owner() {
    let flux = "managed by Flux Kustomization flux-system/agents: change it in Git";
    let pipeline = "managed by a GitOps pipeline: change it in Git";
    // (method, path, body, the refusal)
    let cases = [
        (
            "PATCH",
            "/v1/agents/from-git",
            json!({"description": "x"}),
            flux,
        ),
        ("DELETE", "/v1/agents/uid-from-git", Value::Null, flux),
        (
            "PATCH",
            "/v1/skills/piped",
            json!({"instructions": "x"}),
            pipeline,
        ),
        ("DELETE", "/v1/skills/piped", Value::Null, pipeline),
    ];
    for (method, path, body, detail) in cases {
        let request = if body.is_null() {
            authed(method, path, &token()).body(Body::empty()).unwrap()
        } else {
            send_json(method, path, &body)
        };
        let answer = call(app_with(objects()), request).await;
        assert_eq!(answer.0, 409, "{method} {path}: {}", answer.2);
        assert_error(&answer, 409, detail);
    }
}

#[tokio::test]
async fn responses_say_who_manages_an_object() {
    let (status, _, agents) = call(app_with(objects()), get("/v1/agents")).await;
    assert_eq!(status, 200);
    let managed_by = |name: &str| {
        agents
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == name)
            .map(|a| a["managed_by"].clone())
            .unwrap()
    };
    assert_eq!(
        managed_by("from-git"),
        "Flux Kustomization flux-system/agents"
    );
    assert_eq!(managed_by("by-hand"), Value::Null);
    let (_, _, skill) = call(app_with(objects()), get("/v1/skills/piped")).await;
    assert_eq!(skill["managed_by"], "a GitOps pipeline");
}

#[tokio::test]
async fn with_read_only_off_the_api_changes_them_like_any_other() {
    let mut state = state_with(objects());
    state.gitops_read_only = false;
    let app = edge(router(state), &[]);
    // Past the guard: the request reaches the apiserver, which this test has none of (503).
    let (status, _, body) = call(
        app,
        send_json("PATCH", "/v1/skills/piped", &json!({"instructions": "x"})),
    )
    .await;
    assert_eq!(status, 503, "{body}");
}

async fn text_of(request: Request<Body>) -> (StatusCode, HeaderMap, String) {
    let response = app_with(objects()).oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    (
        parts.status,
        parts.headers,
        String::from_utf8(bytes.to_vec()).unwrap(),
    )
}

fn documents(yaml: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(yaml)
        .map(|document| serde::Deserialize::deserialize(document).unwrap())
        .collect()
}

#[tokio::test]
async fn an_object_asked_for_as_yaml_is_a_clean_manifest() {
    for accept in [
        "application/yaml",
        "text/yaml, application/json;q=0.5",
        "application/x-yaml",
    ] {
        let request = authed("GET", "/v1/agents/from-git", &token())
            .header(header::ACCEPT, accept)
            .body(Body::empty())
            .unwrap();
        let (status, headers, yaml) = text_of(request).await;
        assert_eq!(status, 200, "{yaml}");
        assert_eq!(headers[header::CONTENT_TYPE], "application/yaml");
        let manifest = &documents(&yaml)[0];
        assert_eq!(
            *manifest,
            json!({
                "apiVersion": "agentarea.io/v1alpha1", "kind": "Agent",
                "metadata": {"name": "from-git", "labels": {"team": "support"}},
                "spec": {"instruction": "Be brief.", "model": {"name": "m"},
                         "limits": {"maxSteps": 20, "timeoutSeconds": 600}},
            }),
            "{accept}"
        );
    }
    // Without it, the REST shape as always.
    let (_, headers, body) = call(app_with(objects()), get("/v1/agents/from-git")).await;
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    assert_eq!(body["name"], "from-git");
}

#[tokio::test]
async fn the_workspace_exports_as_one_stream_of_manifests() {
    let (status, headers, yaml) = text_of(get("/v1/export")).await;
    assert_eq!(status, 200, "{yaml}");
    assert_eq!(headers[header::CONTENT_TYPE], "application/yaml");
    assert_eq!(
        headers[header::CONTENT_DISPOSITION],
        format!("attachment; filename=\"{WORKSPACE}.yaml\"")
    );
    let listed: Vec<(String, String)> = documents(&yaml)
        .iter()
        .map(|d| {
            (
                d["kind"].as_str().unwrap().into(),
                d["metadata"]["name"].as_str().unwrap().into(),
            )
        })
        .collect();
    let expected = [
        ("Skill", "piped"),
        ("Skill", "tone"),
        ("Agent", "by-hand"),
        ("Agent", "from-git"),
    ]
    .map(|(k, n)| (k.to_string(), n.to_string()));
    assert_eq!(listed, expected, "what each names comes first");
    assert!(!yaml.contains("status"), "{yaml}");
    assert!(!yaml.contains("uid-"), "{yaml}");
    assert!(!yaml.contains(&namespace_for(WORKSPACE)), "{yaml}");
}
