//! Writes the CRD YAML of every kind into the Helm chart (`charts/agentarea/crds/`), or checks that
//! the files there are what the types generate (`--check`, used by the tests and CI).

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let check = std::env::args().any(|a| a == "--check");
    // `cargo run` says where the package is now; the path compiled in is where it was built, which
    // differs when a shared target directory serves several clones.
    let package = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    let dir = package.join("../charts/agentarea/crds");
    if !check && let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("crdgen: {}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    let mut stale = Vec::new();
    for crd in agentarea_crds::all_crds() {
        let path = dir.join(agentarea_crds::crd_file_name(&crd));
        let wanted = agentarea_crds::crd_yaml(&crd);
        if check {
            if std::fs::read_to_string(&path).ok().as_deref() != Some(wanted.as_str()) {
                stale.push(path.display().to_string());
            }
        } else if let Err(e) = std::fs::write(&path, wanted) {
            eprintln!("crdgen: {}: {e}", path.display());
            return ExitCode::FAILURE;
        } else {
            println!("wrote {}", path.display());
        }
    }
    if !stale.is_empty() {
        eprintln!(
            "crdgen: out of date (run `cargo run -p agentarea-crds --bin crdgen`): {}",
            stale.join(", ")
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
