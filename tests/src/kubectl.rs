//! Running a real kubectl, for the local control plane and for the kind cluster alike.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Runs the kubectl at `kubectl` against `kubeconfig` with `args`, `stdin` fed to it (for
/// `apply -f -`), and returns what it did.
pub fn run<I, S>(kubectl: &Path, kubeconfig: &Path, args: I, stdin: Option<&str>) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut child = Command::new(kubectl)
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl starts");
    let mut pipe = child.stdin.take().expect("stdin piped");
    if let Some(input) = stdin {
        pipe.write_all(input.as_bytes())
            .expect("write kubectl stdin");
    }
    // Closing stdin lets kubectl see the end of its input.
    drop(pipe);
    child.wait_with_output().expect("kubectl runs")
}
