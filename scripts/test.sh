#!/usr/bin/env bash
# The whole test suite, in two parts:
# 1. every unit and integration test of the workspace, against one local control plane (a real
#    kube-apiserver, etcd and controller-manager) that it builds once and starts for the run;
# 2. the end-to-end suite in a real kind cluster (scripts/e2e.sh: Docker, a node image, our image
#    and the chart), for everything that runs in a pod.
# Arguments replace the default selection of part 1 and skip part 2
# (e.g. `scripts/test.sh -p agentarea-tests --test crds`); `scripts/e2e.sh` runs part 2 alone.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$repo_root"

bash scripts/setup-test-deps.sh

log "building the local control plane (cached after the first time)"
AGENTAREA_CP_BIN_DIR=$(control_plane_bin_dir)
export AGENTAREA_CP_BIN_DIR
# The OpenTelemetry Collector the tracing tests send to (built by setup-test-deps.sh above).
AGENTAREA_OTELCOL_BIN_DIR=$(otelcol_bin_dir)
export AGENTAREA_OTELCOL_BIN_DIR
# The MCP conformance suite (installed by setup-test-deps.sh above).
AGENTAREA_MCP_CONFORMANCE_DIR=$(mcp_conformance_dir)
export AGENTAREA_MCP_CONFORMANCE_DIR
# schemathesis and openapi-python-client for the contract tests (installed by setup-test-deps.sh).
AGENTAREA_CONTRACT_VENV=$(bash tests/contract/install.sh)
export AGENTAREA_CONTRACT_VENV
# TypeScript for the console's type check (installed by setup-test-deps.sh).
AGENTAREA_TYPESCRIPT_DIR=$(bash tests/console/install.sh)
export AGENTAREA_TYPESCRIPT_DIR

state=$(mktemp -d /tmp/agentarea-test-run-XXXXXX)
trap 'stop_control_plane; rm -rf "$state" "${results:-}"' EXIT
log "starting the local control plane"
start_control_plane "$state"
export AGENTAREA_TEST_KUBECONFIG=$state/kubeconfig
# The controller-manager counts AgentArea's kinds in quotas some 30 s after they are installed, and
# a workspace quota refuses them until then: install them now and wait for that while the
# workspace builds, so no test's first write lands in that window (the tests re-apply them).
install_crds "$AGENTAREA_TEST_KUBECONFIG"
wait_for_quota_counting "$AGENTAREA_TEST_KUBECONFIG" &
quota_counting=$!

log "building the workspace"
cargo build --workspace --bins --tests --quiet
wait "$quota_counting"

log "running the tests"
# Outside $state: the control plane removes its directory when it stops.
results=$(mktemp /tmp/agentarea-test-results-XXXXXX)
set +e
# Every unit and integration test, unless arguments choose (e.g. `-p agentarea-tests --test api`).
if (($#)); then selection=("$@"); else selection=(--workspace --lib --bins --tests); fi
cargo test --no-fail-fast "${selection[@]}" 2>&1 | tee "$results"
status=${PIPESTATUS[0]}
stop_control_plane
if ((! $#)); then
  log "running the end-to-end suite in kind"
  bash scripts/e2e.sh 2>&1 | tee -a "$results"
  e2e_status=${PIPESTATUS[0]}
  ((status == 0)) && status=$e2e_status
fi
set -e
# One closing line over every test binary, so the total is visible at a glance (and to CI).
passed=$(grep -Eo '^test result: .* ([0-9]+) passed' "$results" | grep -Eo '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed;' "$results" | awk '{s+=$1} END {print s+0}')
echo "all tests: $passed passed, $failed failed"
exit "$status"
