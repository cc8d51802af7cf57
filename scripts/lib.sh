# Shared by scripts/up.sh, scripts/test.sh and .ci/run. Source it; it defines no side effects
# beyond exporting the cache locations.

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export AGENTAREA_CACHE=${AGENTAREA_CACHE:-$HOME/.cache/agentarea}
# One cargo target for every clone on this machine, so a fresh clone (CI) reuses the compile.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$AGENTAREA_CACHE/target}

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Builds (once) and prints the directory of agentarea-cp and its kubectl symlink.
control_plane_bin_dir() {
  bash "$repo_root/tests/controlplane/build.sh"
}

# Builds (once) and prints the directory of agentarea-otelcol, the OpenTelemetry Collector the tests
# send traces to (tests/otelcol; the tests find it through AGENTAREA_OTELCOL_BIN_DIR).
otelcol_bin_dir() {
  bash "$repo_root/tests/otelcol/build.sh"
}

# start_trace_collector DIR: starts agentarea-otelcol (OTLP/HTTP on a free loopback port, spans
# written to DIR/traces.jsonl), sets TRACE_COLLECTOR_PID, and exports OTEL_EXPORTER_OTLP_ENDPOINT
# so that the binaries started after it export their traces there. The benchmarks use it to
# measure tracing on against off. Stop it with stop_trace_collector.
start_trace_collector() {
  local dir=$1 bin port
  bin=$(otelcol_bin_dir)
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  mkdir -p "$dir"
  cat >"$dir/otelcol.yaml" <<YAML
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:$port
exporters:
  file:
    path: $dir/traces.jsonl
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [file]
YAML
  "$bin/agentarea-otelcol" --config "$dir/otelcol.yaml" >"$dir/otelcol.log" 2>&1 &
  TRACE_COLLECTOR_PID=$!
  for _ in $(seq 1 100); do
    curl -s -o /dev/null "http://127.0.0.1:$port/v1/traces" && break
    sleep 0.1
  done
  export OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$port
}

stop_trace_collector() {
  if [[ -n ${TRACE_COLLECTOR_PID:-} ]]; then
    kill -TERM "$TRACE_COLLECTOR_PID" 2>/dev/null || true
    wait "$TRACE_COLLECTOR_PID" 2>/dev/null || true
  fi
}

# The number of spans a trace collector started by start_trace_collector in DIR has written.
spans_received() {
  python3 - "$1/traces.jsonl" <<'PY'
import json, sys
count = 0
try:
    for line in open(sys.argv[1]):
        for rs in json.loads(line).get("resourceSpans", []):
            for ss in rs.get("scopeSpans", []):
                count += len(ss.get("spans", []))
except FileNotFoundError:
    pass
print(count)
PY
}

# start_control_plane DIR: starts `agentarea-cp up` in the background with its state in DIR,
# waits until it is ready, and sets CONTROL_PLANE_PID. Stop it with stop_control_plane.
start_control_plane() {
  local dir=$1 bin
  bin=$(control_plane_bin_dir)
  mkdir -p "$dir"
  rm -f "$dir/ready"
  "$bin/agentarea-cp" up --dir "$dir" >"$dir/up.log" 2>&1 &
  CONTROL_PLANE_PID=$!
  for _ in $(seq 1 600); do
    [[ -f $dir/ready ]] && return 0
    if ! kill -0 "$CONTROL_PLANE_PID" 2>/dev/null; then
      cat "$dir/up.log" >&2
      return 1
    fi
    sleep 0.2
  done
  echo "control plane not ready after 120s; see $dir/logs" >&2
  return 1
}

stop_control_plane() {
  if [[ -n ${CONTROL_PLANE_PID:-} ]] && kill -0 "$CONTROL_PLANE_PID" 2>/dev/null; then
    kill -TERM "$CONTROL_PLANE_PID" 2>/dev/null || true
    wait "$CONTROL_PLANE_PID" 2>/dev/null || true
  fi
}

# install_crds KUBECONFIG: server-side applies the generated CRDs and waits until they are served.
install_crds() {
  local kubectl
  kubectl="$(control_plane_bin_dir)/kubectl"
  KUBECONFIG=$1 "$kubectl" apply --server-side --force-conflicts --field-manager=agentarea-setup \
    -f "$repo_root/charts/agentarea/crds/" >/dev/null
  KUBECONFIG=$1 "$kubectl" wait --for=condition=Established --timeout=60s \
    crd/agents.agentarea.io crd/skills.agentarea.io crd/mcpserverinstances.agentarea.io \
    crd/triggers.agentarea.io crd/tasks.agentarea.io >/dev/null
}

# wait_for_quota_counting KUBECONFIG: waits until the controller-manager counts AgentArea's kinds
# in ResourceQuotas. It starts doing so some 30 s after the kinds are installed (its discovery
# period); until then a workspace quota refuses what it covers, and the api answers 503 "still being
# set up". A quota it first counted without them is counted again only at its full resync (5 min),
# so the probe is made anew every 10 s: a new quota is counted at once.
wait_for_quota_counting() {
  local kubectl probe=agentarea-quota-probe used= attempt
  kubectl="$(control_plane_bin_dir)/kubectl"
  for attempt in $(seq 1 12); do
    KUBECONFIG=$1 "$kubectl" -n default delete quota "$probe" --ignore-not-found >/dev/null
    KUBECONFIG=$1 "$kubectl" -n default create quota "$probe" \
      --hard=count/agents.agentarea.io=1000000 >/dev/null
    for _ in $(seq 1 20); do
      used=$(KUBECONFIG=$1 "$kubectl" -n default get quota "$probe" \
        -o 'jsonpath={.status.used.count/agents\.agentarea\.io}' 2>/dev/null || true)
      [[ -n $used ]] && break 2
      sleep 0.5
    done
  done
  KUBECONFIG=$1 "$kubectl" -n default delete quota "$probe" --wait=false >/dev/null
  # Not fatal: the api answers 503 "still being set up" until the count is there.
  [[ -n $used ]] || echo "the controller-manager has not counted AgentArea's kinds after" \
    "$attempt probes; a workspace's first writes may be refused for a while" >&2
}

# install_workspace_role KUBECONFIG API_BINARY: applies the ClusterRole the api binds in every
# workspace namespace (the Helm chart installs it in a cluster), as the api binary prints it.
install_workspace_role() {
  local kubectl
  kubectl="$(control_plane_bin_dir)/kubectl"
  "$2" workspace-role | KUBECONFIG=$1 "$kubectl" apply --server-side --force-conflicts \
    --field-manager=agentarea-setup -f - >/dev/null
}

# helm, built from its Go module by scripts/setup-test-deps.sh; the tests find it through
# AGENTAREA_HELM (a path to the binary) or this directory.
# The npm reference MCP server the tests run (pinned so a release cannot change the tests).
export MCP_EVERYTHING_VERSION=${MCP_EVERYTHING_VERSION:-2026.8.31}
export MCP_TIME_VERSION=${MCP_TIME_VERSION:-2026.10.19}
# The official MCP Python SDK, whose client the tests point at our MCP endpoints.
export MCP_PYTHON_SDK_VERSION=${MCP_PYTHON_SDK_VERSION:-2.3.0}
export HELM_VERSION=${HELM_VERSION:-v3.22.0}
# The MCP conformance suite, and the Node it needs (22 or later; the machine may have older).
export MCP_CONFORMANCE_VERSION=${MCP_CONFORMANCE_VERSION:-0.1.16}
export MCP_CONFORMANCE_NODE_VERSION=${MCP_CONFORMANCE_NODE_VERSION:-22.23.5}
mcp_conformance_dir() {
  echo "$AGENTAREA_CACHE/mcp-conformance/$MCP_CONFORMANCE_VERSION-node$MCP_CONFORMANCE_NODE_VERSION"
}
# The contract tests' Python tools (tests/tests/contract.rs): schemathesis fuzzes the api against
# its OpenAPI document; openapi-python-client generates a client from it, which runs on httpx,
# attrs and python-dateutil.
export SCHEMATHESIS_VERSION=${SCHEMATHESIS_VERSION:-4.32.5}
export OPENAPI_PYTHON_CLIENT_VERSION=${OPENAPI_PYTHON_CLIENT_VERSION:-0.29.1}
export HTTPX_VERSION=${HTTPX_VERSION:-0.28.1}
export ATTRS_VERSION=${ATTRS_VERSION:-26.1.0}
export PYTHON_DATEUTIL_VERSION=${PYTHON_DATEUTIL_VERSION:-2.9.0.post0}
# The virtualenv that holds them, keyed by their versions (tests/contract/install.sh fills it).
contract_venv() {
  echo "$AGENTAREA_CACHE/contract/venv-st$SCHEMATHESIS_VERSION-opc$OPENAPI_PYTHON_CLIENT_VERSION-httpx$HTTPX_VERSION-attrs$ATTRS_VERSION-du$PYTHON_DATEUTIL_VERSION"
}
# TypeScript, which checks the console's JSDoc types (tests/tests/console.rs; the console itself
# ships as the JavaScript it is written in).
export TYPESCRIPT_VERSION=${TYPESCRIPT_VERSION:-6.0.3}
typescript_dir() {
  echo "$AGENTAREA_CACHE/typescript/$TYPESCRIPT_VERSION"
}
helm_bin_dir() {
  echo "$AGENTAREA_CACHE/helm/$HELM_VERSION"
}

# musl_binaries BIN...: builds these workspace binaries as static musl executables (release
# profile, the Dockerfile's flags) and prints the directory that holds them. Images built from
# host binaries (Dockerfile.prebuilt, the end-to-end suite's images) use it.
musl_target=x86_64-unknown-linux-musl
musl_target_dir=$AGENTAREA_CACHE/target-musl
musl_binaries() {
  local bins=() b
  for b in "$@"; do bins+=(--bin "$b"); done
  if ! rustup target list --installed 2>/dev/null | grep -qx "$musl_target"; then
    log "adding the Rust target $musl_target"
    rustup target add "$musl_target" >&2
  fi
  # ring's C code is compiled for musl with musl-gcc.
  if ! command -v musl-gcc >/dev/null && command -v apt-get >/dev/null; then
    log "installing musl-tools from Debian"
    flock /tmp/agentarea-apt.lock apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive flock /tmp/agentarea-apt.lock apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends musl-tools >/dev/null
  fi
  # A target directory of its own: cargo locks a target directory for the whole of a build, and a
  # CI run builds these in the background (scripts/e2e-prepare.sh) while it compiles the tests.
  (cd "$repo_root" && CARGO_TARGET_DIR=$musl_target_dir cargo build --quiet --release --locked \
    --target "$musl_target" "${bins[@]}") >&2
  echo "$musl_target_dir/$musl_target/release"
}

# Everything the end-to-end suite builds before it brings a cluster up (scripts/e2e-prepare.sh)
# happens under this lock, so a run that started it in the background and scripts/e2e.sh, which
# asks for it again, never build the same thing twice at once. Take it with `flock --close`: the
# preparation may start dockerd, which must not inherit (and so hold forever) the lock.
e2e_prepare_lock=$AGENTAREA_CACHE/e2e-prepare.lock
