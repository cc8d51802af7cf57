#!/usr/bin/env bash
# The whole test suite: builds what is missing (the control plane once, the workspace), starts one
# local control plane for the run, and runs every test of the workspace against it.
# Arguments replace the default selection of `cargo test` (e.g. `scripts/test.sh -p agentarea-tests --test crds`).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$repo_root"

bash scripts/setup-test-deps.sh

log "building the local control plane (cached after the first time)"
AGENTAREA_CP_BIN_DIR=$(control_plane_bin_dir)
export AGENTAREA_CP_BIN_DIR

log "building the workspace"
cargo build --workspace --bins --tests --quiet

state=$(mktemp -d /tmp/agentarea-test-run-XXXXXX)
trap 'stop_control_plane; rm -rf "$state"' EXIT
log "starting the local control plane"
start_control_plane "$state"
export AGENTAREA_TEST_KUBECONFIG=$state/kubeconfig

log "running the tests"
results=$state/results.txt
set +e
# Every unit and integration test, unless arguments choose (e.g. `-p agentarea-tests --test api`).
if (($#)); then selection=("$@"); else selection=(--workspace --lib --bins --tests); fi
cargo test --no-fail-fast "${selection[@]}" 2>&1 | tee "$results"
status=${PIPESTATUS[0]}
set -e
# One closing line over every test binary, so the total is visible at a glance (and to CI).
passed=$(grep -Eo '^test result: .* ([0-9]+) passed' "$results" | grep -Eo '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed;' "$results" | awk '{s+=$1} END {print s+0}')
echo "all tests: $passed passed, $failed failed"
exit "$status"
