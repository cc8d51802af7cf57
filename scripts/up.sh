#!/usr/bin/env bash
# Sets everything up and runs the product on this machine: builds what is missing, starts the local
# control plane (etcd, kube-apiserver, kube-controller-manager), installs the CRDs, starts the
# operator and the api, applies an example agent, prints the api's URL, a token and the KUBECONFIG,
# and runs a first task when a model is given in the environment (OPENAI_API_KEY, or
# AGENTAREA_MODEL_ENDPOINT and AGENTAREA_MODEL: scripts/first-task.sh). Stays in the foreground;
# Ctrl-C stops everything it started.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$repo_root"

api_port=${AGENTAREA_API_PORT:-8000}
health_port=${AGENTAREA_OPERATOR_HEALTH_PORT:-8081}
workspace=${AGENTAREA_WORKSPACE:-default}
namespace=ws-$workspace
state=${AGENTAREA_STATE_DIR:-$(mktemp -d /tmp/agentarea-up-XXXXXX)}
export AGENTAREA_JWT_SECRET=${AGENTAREA_JWT_SECRET:-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')}

pids=()
cleanup() {
  trap - EXIT INT TERM
  log "stopping"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  stop_control_plane
  rm -rf "$state"
}
trap cleanup EXIT
trap 'cleanup; exit 0' INT TERM

log "building the local control plane (10-20 minutes the first time, then cached)"
bin=$(control_plane_bin_dir)
log "building the operator and the api"
cargo build --bins -p agentarea-operator -p agentarea-api
target=$CARGO_TARGET_DIR/debug

log "starting the local control plane"
start_control_plane "$state"
export KUBECONFIG=$state/kubeconfig
install_crds "$KUBECONFIG"
install_workspace_role "$KUBECONFIG" "$target/agentarea-api"

log "starting the operator and the api"
# A model on this machine (the example agent's Ollama at localhost:11434) is on loopback, which the
# egress policy refuses to workspaces by default; on a developer's machine it is the point.
export AGENTAREA_EGRESS_ALLOW=${AGENTAREA_EGRESS_ALLOW:-127.0.0.0/8,::1}
AGENTAREA_HEALTH_ADDR=127.0.0.1:$health_port "$target/agentarea-operator" >"$state/operator.log" 2>&1 &
pids+=($!)
AGENTAREA_LISTEN_ADDR=127.0.0.1:$api_port "$target/agentarea-api" >"$state/api.log" 2>&1 &
pids+=($!)
for url in "http://127.0.0.1:$health_port/readyz" "http://127.0.0.1:$api_port/readyz"; do
  for _ in $(seq 1 150); do
    curl -fsS "$url" >/dev/null 2>&1 && break
    sleep 0.2
  done
  curl -fsS "$url" >/dev/null || { tail -n 50 "$state"/*.log >&2; exit 1; }
done

log "waiting for the controller-manager to count AgentArea's kinds in quotas"
wait_for_quota_counting "$KUBECONFIG"

log "applying the example agent to namespace $namespace (workspace '$workspace')"
"$bin/kubectl" create namespace "$namespace" --dry-run=client -o yaml | "$bin/kubectl" apply -f - >/dev/null
"$bin/kubectl" label namespace "$namespace" "agentarea.io/workspace=$workspace" --overwrite >/dev/null
"$bin/kubectl" apply -n "$namespace" -f examples/agent.yaml

token=$("$target/agentarea-api" token --subject developer --workspace "$workspace")
cat <<MSG

AgentArea is running.

  API:         http://127.0.0.1:$api_port   (docs: http://127.0.0.1:$api_port/docs)
  Console:     http://127.0.0.1:$api_port/console/   (paste the token below to sign in)
  Token:       $token
  KUBECONFIG:  export KUBECONFIG=$KUBECONFIG
  kubectl:     $bin/kubectl
  Logs:        $state/operator.log, $state/api.log, $state/logs/

  curl -H "Authorization: Bearer \$TOKEN" http://127.0.0.1:$api_port/v1/agents
  $bin/kubectl get agents -n $namespace

Press Ctrl-C to stop everything.
MSG
# A first task, when a model is given in the environment (scripts/first-task.sh says which).
API_URL=http://127.0.0.1:$api_port TOKEN=$token NAMESPACE=$namespace KUBECTL=$bin/kubectl \
  bash scripts/first-task.sh || log "the first task did not run; everything else runs"
wait -n "${pids[@]}" "$CONTROL_PLANE_PID" || true
log "a component exited; see the logs above"
