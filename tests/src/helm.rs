//! The real `helm`, built from its Go module by `scripts/setup-test-deps.sh` and found the way the
//! control plane's binaries are: `AGENTAREA_HELM` (a path to the binary), else the cache directory
//! that `scripts/lib.sh` names, building it there first when it is missing.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use crate::repo_root;

/// The path of the helm binary, installed on first use if needed.
pub fn helm_path() -> &'static PathBuf {
    static HELM: OnceLock<PathBuf> = OnceLock::new();
    HELM.get_or_init(|| {
        if let Some(path) = std::env::var_os("AGENTAREA_HELM") {
            return path.into();
        }
        let path = cached_helm();
        if !path.exists() {
            let status = Command::new("bash")
                .arg(repo_root().join("scripts/setup-test-deps.sh"))
                .stdout(Stdio::inherit())
                .stderr(Stdio::inherit())
                .status()
                .expect("run scripts/setup-test-deps.sh");
            assert!(status.success(), "scripts/setup-test-deps.sh failed");
        }
        assert!(path.exists(), "{} is missing", path.display());
        path
    })
}

/// `$(helm_bin_dir)/helm` as `scripts/lib.sh` defines it, so the version lives in one place.
fn cached_helm() -> PathBuf {
    let lib = repo_root().join("scripts/lib.sh");
    let output = Command::new("bash")
        .arg("-c")
        .arg(format!("source '{}' && helm_bin_dir", lib.display()))
        .output()
        .expect("run bash");
    assert!(
        output.status.success(),
        "scripts/lib.sh: helm_bin_dir failed"
    );
    PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()).join("helm")
}

/// Runs helm with `args`, with its state (config, cache, data) in a directory of the tests' own
/// and, when `kubeconfig` is given, against that cluster.
pub fn helm<I, S>(args: I, kubeconfig: Option<&std::path::Path>) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    static HOME: OnceLock<PathBuf> = OnceLock::new();
    // Apart from the user's own helm, and one for every run (in the project's cache, not a new
    // directory in /tmp per test process): the tests add no repositories or plugins, so helm only
    // reads it, and processes sharing it do not collide.
    let home = HOME.get_or_init(|| {
        let dir = crate::cache_dir().join("helm-home");
        std::fs::create_dir_all(&dir).expect("create helm home");
        dir
    });
    let mut command = Command::new(helm_path());
    command
        .args(args)
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_DATA_HOME", home.join("data"))
        .stdin(Stdio::null());
    match kubeconfig {
        Some(path) => command.env("KUBECONFIG", path),
        None => command.env("KUBECONFIG", "/dev/null"),
    };
    command.output().expect("helm runs")
}
