//! A second kube-apiserver on the local control plane's etcd, which a test may stop and start
//! again: what a client of it (our api, our operator) goes through when its apiserver restarts,
//! while the rest of the run keeps using the control plane's own apiserver undisturbed.
//!
//! It runs the control plane's own kube-apiserver binary with the same arguments (the same
//! etcd, certificates and tokens), found in `/proc`, on a port of its own.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::{ChildProcess, control_plane, free_port};

pub struct RestartableApiserver {
    program: PathBuf,
    args: Vec<String>,
    /// A copy of the control plane's kubeconfig that points at this apiserver.
    pub kubeconfig: PathBuf,
    process: Option<ChildProcess>,
}

impl RestartableApiserver {
    /// Starts one and waits until it serves.
    pub async fn start() -> Self {
        let kubeconfig = Kubeconfig::read_from(&control_plane().kubeconfig).expect("kubeconfig");
        let server = kubeconfig.clusters[0]
            .cluster
            .as_ref()
            .and_then(|c| c.server.clone())
            .expect("a server");
        let port = server.rsplit(':').next().unwrap().trim_end_matches('/');
        let (program, mut args) = running_apiserver(port);
        let own_port = free_port().to_string();
        let at = args
            .iter()
            .position(|a| a == "--secure-port")
            .expect("--secure-port");
        args[at + 1] = own_port.clone();
        let own_server = server.replace(&format!(":{port}"), &format!(":{own_port}"));
        let dir = std::env::temp_dir().join(format!(
            "agentarea-apiserver-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("kubeconfig");
        let text = std::fs::read_to_string(&control_plane().kubeconfig).unwrap();
        std::fs::write(&path, text.replace(&server, &own_server)).unwrap();
        let mut apiserver = Self {
            program,
            args,
            kubeconfig: path,
            process: None,
        };
        apiserver.start_again().await;
        apiserver
    }

    /// Stops it, as a restart or a crash does: its clients' connections and watches break.
    pub fn stop(&mut self) {
        if let Some(process) = self.process.take() {
            process.kill();
        }
    }

    /// Starts it again on the same port, and waits until it serves.
    pub async fn start_again(&mut self) {
        let process = ChildProcess::spawn(
            "second-kube-apiserver",
            Command::new(&self.program).args(&self.args),
        );
        wait_until_serving(&self.kubeconfig, &process).await;
        self.process = Some(process);
    }

    /// A client of this apiserver alone.
    pub async fn client(&self) -> Client {
        client_of(&self.kubeconfig).await
    }
}

async fn client_of(kubeconfig: &Path) -> Client {
    let kubeconfig = Kubeconfig::read_from(kubeconfig).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("config");
    Client::try_from(config).expect("client")
}

async fn wait_until_serving(kubeconfig: &Path, process: &ChildProcess) {
    let client = client_of(kubeconfig).await;
    for _ in 0..600 {
        if client.apiserver_version().await.is_ok()
            && client
                .request_text(http::Request::get("/readyz").body(Vec::new()).unwrap())
                .await
                .is_ok_and(|t| t.trim() == "ok")
        {
            return;
        }
        if let Some(status) = process.exit_status() {
            panic!("kube-apiserver exited with {status}:\n{}", process.output());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!(
        "kube-apiserver not ready after 120 s:\n{}",
        process.output()
    );
}

/// The program and arguments of the kube-apiserver serving on `port`.
fn running_apiserver(port: &str) -> (PathBuf, Vec<String>) {
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let argv: Vec<String> = cmdline
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let serves = argv.iter().any(|a| a == "kube-apiserver")
            && argv
                .windows(2)
                .any(|w| w[0] == "--secure-port" && w[1] == port);
        if serves {
            let program = std::fs::read_link(entry.path().join("exe")).expect("its executable");
            return (program, argv[1..].to_vec());
        }
    }
    panic!("no kube-apiserver serving on port {port}");
}
