#!/usr/bin/env bash
# Benchmark: the operator's memory with N objects of every AgentArea kind across W workspaces
# (by default 10,000: 2,000 each of McpServerInstance, Skill, Agent, Trigger and Task over 100
# workspaces), against its memory idle in the same run, and the time until it has written the
# status of every one. The instances are managed, so their 4 children each (ServiceAccount,
# Deployment, Service, NetworkPolicy) are in the cluster and in the operator's watches too.
# Nothing the objects name can be reached: the Agents' model endpoint is refused by the egress
# policy, the servers have no pods (no kubelet runs here), so the Tasks wait for their Agents;
# this measures what the operator holds, not what it runs (scripts/bench-tasks.sh does that).
#
#   scripts/bench-operator.sh [objects] [workspaces]        (default 10000 100)
#   BENCH_STATIC=1 scripts/bench-operator.sh                 the static musl binary the image ships
#                                                            (musl's allocator), not the local build
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$repo_root"

objects=${1:-10000}
workspaces=${2:-100}
kinds=(mcpserverinstances skills agents triggers tasks)
per_kind=$(( objects / ${#kinds[@]} / workspaces ))
if [[ ${BENCH_STATIC:-0} == 1 ]]; then
  log "building the operator (static, musl, as in the image)"
  operator=$(musl_binaries agentarea-operator)/agentarea-operator
else
  log "building the operator (release)"
  cargo build --release --quiet -p agentarea-operator
  operator=$CARGO_TARGET_DIR/release/agentarea-operator
fi
bin=$(control_plane_bin_dir)
kubectl=$bin/kubectl
state=$(mktemp -d /tmp/agentarea-bench-operator-XXXXXX)
operator_pid=
trap '[[ -n $operator_pid ]] && kill $operator_pid 2>/dev/null; stop_control_plane; rm -rf "$state"' EXIT
start_control_plane "$state"
export KUBECONFIG=$state/kubeconfig
install_crds "$KUBECONFIG"

log "operator idle, watching every namespace"
AGENTAREA_HEALTH_ADDR=127.0.0.1:0 RUST_LOG=warn AGENTAREA_POD_NAMESPACE=agentarea-system \
  AGENTAREA_MANAGED_ENDPOINT_TEMPLATE='http://127.0.0.1:9{path}' AGENTAREA_MCP_TIMEOUT_SECONDS=2 \
  AGENTAREA_MCP_INGRESS_FROM_LABELS=app.kubernetes.io/name=agentarea,app.kubernetes.io/component=operator \
  "$operator" >"$state/operator.log" 2>&1 &
operator_pid=$!
sleep 5
idle_kib=$(awk '/VmRSS/ {print $2}' "/proc/$operator_pid/status")

log "storing $((per_kind * ${#kinds[@]} * workspaces)) objects: $per_kind of each kind in each of $workspaces workspaces"
mkdir "$state/objects"
for w in $(seq 1 "$workspaces"); do
  ns=$(printf 'ws-bench-%03d' "$w")
  {
  printf -- '---\napiVersion: v1\nkind: Namespace\nmetadata: {name: %s}\n' "$ns"
  printf -- '---\napiVersion: v1\nkind: Secret\nmetadata: {name: webhook, namespace: %s}\nstringData: {key: bench-%s}\n' "$ns" "$w"
  for i in $(seq 1 "$per_kind"); do
    cat <<YAML
---
apiVersion: agentarea.io/v1alpha1
kind: McpServerInstance
metadata: {name: server-$i, namespace: $ns}
spec: {managed: {image: "example.org/mcp/server:1", port: 8080}}
---
apiVersion: agentarea.io/v1alpha1
kind: Skill
metadata: {name: skill-$i, namespace: $ns}
spec:
  description: Benchmark skill $i
  instructions: Call echo with the question, then answer with what it said.
  tools: [{instance: server-$i, tools: [echo]}]
---
apiVersion: agentarea.io/v1alpha1
kind: Agent
metadata: {name: agent-$i, namespace: $ns}
spec:
  instruction: Benchmark agent $i
  model: {name: llama3.1:8b, endpoint: "http://127.0.0.1:9/v1"}
  mcpServers: [{name: server-$i}]
  skills: [{name: skill-$i}]
---
apiVersion: agentarea.io/v1alpha1
kind: Trigger
metadata: {name: trigger-$i, namespace: $ns}
spec:
  agent: agent-$i
  input: "Benchmark trigger $i: {{ payload.text }}"
  webhook: {webhookId: bench-$w-$i, allowedMethods: [POST], secretRef: {name: webhook, key: key}}
---
apiVersion: agentarea.io/v1alpha1
kind: Task
metadata: {name: task-$i, namespace: $ns}
spec: {agent: agent-$i, input: "Benchmark task $i"}
YAML
  done
  } >"$state/objects/$ns.yaml"
done
with_status() { # kind -> how many of it have a status
  $kubectl get "$1" -A -o json | python3 -c '
import json, sys
print(sum(1 for o in json.load(sys.stdin)["items"] if o.get("status")))'
}
start=$(date +%s%3N)
log "kubectl apply, four workspaces at a time"
printf '%s\n' "$state"/objects/*.yaml | xargs -P 4 -I{} "$kubectl" apply --server-side -f {} >/dev/null
applied_ms=$(( $(date +%s%3N) - start ))
want=$(( per_kind * workspaces ))
log "waiting for the operator to write every status"
deadline=$(( $(date +%s) + 600 ))
for kind in "${kinds[@]}"; do
  while (( $(with_status "$kind") < want )); do
    if (( $(date +%s) > deadline )); then
      echo "not every $kind has a status after 10 minutes: $(with_status "$kind") of $want" >&2
      # What is needed to find out why outlives the run's state directory.
      kept=$AGENTAREA_CACHE/bench-operator-failed
      rm -rf "$kept" && mkdir -p "$kept"
      cp "$state/operator.log" "$kept/"
      $kubectl get "$kind" -A -o json >"$kept/$kind.json"
      echo "the operator's log and the $kind are kept in $kept" >&2
      exit 1
    fi
    sleep 2
  done
done
settled_ms=$(( $(date +%s%3N) - start ))
sleep 5 # the last reconciles' buffers, as they would be held in a steady state
kept_kib=$(awk '/VmRSS/ {print $2}' "/proc/$operator_pid/status")
peak_kib=$(awk '/VmHWM/ {print $2}' "/proc/$operator_pid/status")
children=$($kubectl get serviceaccounts,deployments,services,networkpolicies -A \
  -l app.kubernetes.io/managed-by=agentarea-operator --no-headers | wc -l)

printf '\n%d objects (%d of each kind) in %d workspaces, and %d children of the instances\n' \
  "$(( want * ${#kinds[@]} ))" "$want" "$workspaces" "$children"
echo "kubectl apply of them: $applied_ms ms; until the operator had written every status: $settled_ms ms"
echo "operator binary: $operator"
printf '%-44s %8d MiB\n' "operator RSS idle (baseline)" "$((idle_kib / 1024))"
printf '%-44s %8d MiB\n' "operator RSS with every object reconciled" "$((kept_kib / 1024))"
printf '%-44s %8d MiB\n' "operator peak RSS" "$((peak_kib / 1024))"
awk -v k="$kept_kib" -v i="$idle_kib" 'BEGIN { printf "ratio with objects/idle: %.2fx\n", k/i }'
