#!/usr/bin/env bash
# The first task, once everything runs: points the example agent `assistant` at the model given in
# the environment and runs one task through the api, printing its answer. Used by scripts/up.sh
# and `make kind`; without a model in the environment it says, once, what to set.
#
#   API_URL=... TOKEN=... NAMESPACE=ws-default KUBECTL=kubectl scripts/first-task.sh
#
# The model, from the environment:
#   AGENTAREA_MODEL_ENDPOINT and AGENTAREA_MODEL    any OpenAI-compatible server (Ollama, vLLM, ...),
#                                                  with AGENTAREA_MODEL_API_KEY if it needs a key;
#   or OPENAI_API_KEY                               OpenAI, model AGENTAREA_MODEL or gpt-4o-mini.
# The endpoint is called from where the operator runs: on this machine for scripts/up.sh, inside
# the cluster for `make kind` (there, localhost is the operator's pod, not this machine).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

: "${API_URL:?}" "${TOKEN:?}" "${NAMESPACE:?}"
kubectl=${KUBECTL:-kubectl}
agent=assistant
endpoint=${AGENTAREA_MODEL_ENDPOINT:-}
model=${AGENTAREA_MODEL:-}
key=${AGENTAREA_MODEL_API_KEY:-}
if [[ -z $endpoint && -n ${OPENAI_API_KEY:-} ]]; then
  endpoint=https://api.openai.com/v1
  model=${model:-gpt-4o-mini}
  key=$OPENAI_API_KEY
fi
if [[ -z $endpoint || -z $model ]]; then
  log "no model given, so no first task: set OPENAI_API_KEY, or AGENTAREA_MODEL_ENDPOINT and AGENTAREA_MODEL (and AGENTAREA_MODEL_API_KEY if it needs one), and run again"
  exit 0
fi

log "pointing agent '$agent' at $model on $endpoint"
model_patch="{\"endpoint\": \"$endpoint\", \"name\": \"$model\", \"apiKeySecretRef\": null}"
if [[ -n $key ]]; then
  # The key goes into a Secret of the workspace, never into the Agent.
  "$kubectl" -n "$NAMESPACE" create secret generic "$agent-model-key" --from-literal=api-key="$key" \
    --dry-run=client -o yaml | "$kubectl" -n "$NAMESPACE" apply -f - >/dev/null
  model_patch="{\"endpoint\": \"$endpoint\", \"name\": \"$model\", \"apiKeySecretRef\": {\"name\": \"$agent-model-key\", \"key\": \"api-key\"}}"
fi
"$kubectl" -n "$NAMESPACE" patch agent "$agent" --type merge -p "{\"spec\": {\"model\": $model_patch}}" >/dev/null
if ! "$kubectl" -n "$NAMESPACE" wait --for=condition=Ready "agent/$agent" --timeout=120s >/dev/null 2>&1; then
  log "agent '$agent' is not ready: $("$kubectl" -n "$NAMESPACE" get agent "$agent" -o jsonpath='{.status.conditions[?(@.type=="Ready")].message}')"
  exit 1
fi

auth="Authorization: Bearer $TOKEN"
task=$(curl -fsS -H "$auth" -H 'content-type: application/json' "$API_URL/v1/tasks" \
  -d "{\"agent_id\": \"$agent\", \"description\": \"Say hello and tell me in one sentence what you can do.\"}")
field() { python3 -c "import json,sys; v=json.load(sys.stdin)$1; print('' if v is None else v)"; }
id=$(field '["id"]' <<<"$task")
[[ -n $id ]] || { log "the task was not created: $task"; exit 1; }
log "first task $id: waiting for its answer (GET $API_URL/v1/tasks/$id/status)"
for _ in $(seq 1 300); do
  status=$(curl -fsS -H "$auth" "$API_URL/v1/tasks/$id/status")
  case $(field '["status"]' <<<"$status") in
    completed)
      printf '\nThe first task answered:\n\n  %s\n\n' "$(field '["result"]["final_response"]' <<<"$status")"
      exit 0 ;;
    failed|cancelled)
      log "the first task did not complete: $(field '["error"]' <<<"$status")"
      exit 1 ;;
  esac
  sleep 1
done
log "the first task has not finished after 300 s; follow it: curl -N -H '$auth' $API_URL/v1/tasks/$id/events"
exit 1
