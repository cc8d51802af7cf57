//! Finding, starting and connecting to the local control plane.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::process::ChildProcess;
use crate::repo_root;

/// A running control plane with the CRDs installed.
pub struct ControlPlane {
    /// The admin kubeconfig (client certificate in `system:masters`).
    pub kubeconfig: PathBuf,
    /// The directory holding `agentarea-cp` and the `kubectl` symlink.
    pub bin_dir: PathBuf,
    /// Kept alive for the life of the test binary when this process started the control plane.
    _owned: Option<ChildProcess>,
}

/// The control plane of this test run, started (or found) on first use.
pub fn control_plane() -> &'static ControlPlane {
    static CONTROL_PLANE: OnceLock<ControlPlane> = OnceLock::new();
    CONTROL_PLANE.get_or_init(|| {
        let control_plane = ControlPlane::start_or_reuse();
        control_plane.install_crds();
        control_plane.install_workspace_role();
        control_plane
    })
}

impl ControlPlane {
    fn start_or_reuse() -> Self {
        let bin_dir = control_plane_bin_dir();
        if let Some(kubeconfig) = std::env::var_os("AGENTAREA_TEST_KUBECONFIG") {
            return Self {
                kubeconfig: kubeconfig.into(),
                bin_dir,
                _owned: None,
            };
        }
        let dir = tempdir("agentarea-test-cp");
        let child = ChildProcess::spawn(
            "control-plane",
            Command::new(bin_dir.join("agentarea-cp"))
                .arg("up")
                .arg("--dir")
                .arg(&dir),
        );
        wait_for_file(&dir.join("ready"), Duration::from_secs(120), &child);
        Self {
            kubeconfig: dir.join("kubeconfig"),
            bin_dir,
            _owned: Some(child),
        }
    }

    /// A new client for the calling test's runtime. (A kube `Client` is bound to the tokio runtime
    /// it was made on, and each `#[tokio::test]` has its own, so clients are not shared.)
    pub async fn client(&self) -> Client {
        let kubeconfig = Kubeconfig::read_from(&self.kubeconfig).expect("readable kubeconfig");
        let config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .expect("valid kubeconfig");
        Client::try_from(config).expect("client from kubeconfig")
    }

    /// Runs the real kubectl against the control plane.
    pub fn kubectl<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.kubectl_with_stdin(args, None)
    }

    /// Runs kubectl with `stdin` fed to it (for `apply -f -`).
    pub fn kubectl_with_stdin<I, S>(&self, args: I, stdin: Option<&str>) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let kubectl = self.bin_dir.join("kubectl");
        crate::kubectl::run(&kubectl, &self.kubeconfig, args, stdin)
    }

    /// Applies the generated CRDs (server-side, so re-applying is a no-op) and waits until the
    /// apiserver serves them.
    fn install_crds(&self) {
        let crds = repo_root().join("charts/agentarea/crds");
        let output = self.kubectl(
            [
                "apply",
                "--server-side",
                "--force-conflicts",
                "--field-manager=agentarea-tests",
                "-f",
            ]
            .iter()
            .map(|s| s.to_string())
            .chain([crds.display().to_string()]),
        );
        assert_success("install CRDs", &output);
        let output = self.kubectl([
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/agents.agentarea.io",
            "crd/skills.agentarea.io",
            "crd/mcpserverinstances.agentarea.io",
            "crd/triggers.agentarea.io",
            "crd/tasks.agentarea.io",
        ]);
        assert_success("wait for CRDs", &output);
    }
}

impl ControlPlane {
    /// Applies the ClusterRole workspace namespaces bind (the chart installs it in a cluster), as
    /// the api binary prints it.
    fn install_workspace_role(&self) {
        let role = agentarea_api::workspace::identity::cluster_role(WORKSPACE_ROLE);
        let yaml = serde_yaml::to_string(&role).expect("a ClusterRole serializes");
        let output = self.kubectl_with_stdin(
            [
                "apply",
                "--server-side",
                "--force-conflicts",
                "--field-manager=agentarea-tests",
                "-f",
                "-",
            ],
            Some(&yaml),
        );
        assert_success("install the workspace role", &output);
    }
}

/// The name of the workspace ClusterRole on the local control plane: the api's default.
pub const WORKSPACE_ROLE: &str = "agentarea-workspace";

/// Panics with kubectl's stderr if it failed.
pub fn assert_success(what: &str, output: &Output) {
    assert!(
        output.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
}

/// Builds agentarea-cp if it is not cached yet and returns its directory.
fn control_plane_bin_dir() -> PathBuf {
    crate::cached_build("AGENTAREA_CP_BIN_DIR", "tests/controlplane/build.sh")
}

fn tempdir(prefix: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

fn wait_for_file(path: &Path, timeout: Duration, process: &ChildProcess) {
    let start = Instant::now();
    while !path.exists() {
        if let Some(status) = process.exit_status() {
            panic!("control plane exited with {status} before it was ready");
        }
        assert!(
            start.elapsed() < timeout,
            "control plane not ready after {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
