# AgentArea in kind, on a laptop with Docker or on a machine with no Docker and no registry at all.
# `make kind` runs the whole sequence:
#
#   make kind-up        kind/cluster.sh: a Docker engine if none runs, kind, a node image (the stock
#                       kindest/node where it can be pulled, else one built here), and the cluster
#                       from kind-config.yaml (api NodePort 30800 -> 127.0.0.1:8000)
#   make kind-load      kind/image.sh: build the image (both binaries), and load it into the kind node
#   make kind-install   helm install the chart (CRDs included) with charts/agentarea/ci/kind-values.yaml
#   make kind-examples  create workspace namespace ws-$(WORKSPACE) and apply examples/ into it
#   make kind-call      get a token from the api pod and call the api on http://127.0.0.1:8000
#   make kind-first-task  point the example agent at the model in the environment (OPENAI_API_KEY,
#                       or AGENTAREA_MODEL_ENDPOINT and AGENTAREA_MODEL, reachable from the
#                       cluster) and run a first task; without one, say what to set
#   make kind-down      delete the cluster
#
# Needs curl and, unless on PATH, Go (kind is built from its Go module) and helm
# (`scripts/setup-test-deps.sh` builds it). Every name below can be overridden:
# `make kind-install NAMESPACE=agentarea-dev`. `make e2e` runs the end-to-end suite in its own cluster.

CLUSTER   ?= agentarea
NAMESPACE ?= agentarea
RELEASE   ?= agentarea
WORKSPACE ?= default
CHART     := charts/agentarea
APP_VERSION := $(shell sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\} *$$/\1/p' $(CHART)/Chart.yaml)
IMAGE     ?= agentarea/agentarea:$(APP_VERSION)
API_URL   ?= http://127.0.0.1:8000
CACHE     := $(or $(AGENTAREA_CACHE),$(HOME)/.cache/agentarea)
DOCKER    ?= docker
# The kind on PATH, else the one kind/cluster.sh builds; likewise helm and scripts/setup-test-deps.sh.
KIND      ?= $(or $(shell command -v kind 2>/dev/null),$(CACHE)/kind/bin-v0.33.0/kind)
KUBECTL   ?= kubectl
HELM      ?= $(or $(shell command -v helm 2>/dev/null),$(CACHE)/helm/v3.22.0/helm)
CURL      ?= curl
# The examples' MCP server images: `auto` uses local stand-ins where Docker cannot pull them,
# `upstream` applies them as written, `local` always uses the stand-ins (kind/examples.sh).
EXAMPLE_IMAGES ?= auto
# Extra flags for helm upgrade --install; the default waits until both Deployments are ready.
HELM_FLAGS ?= --wait --timeout 5m

# The fullname the chart gives a release (see _helpers.tpl): the release name when it contains
# "agentarea", else <release>-agentarea.
FULLNAME  := $(if $(findstring agentarea,$(RELEASE)),$(RELEASE),$(RELEASE)-agentarea)

.PHONY: kind kind-up kind-image kind-load kind-install kind-examples kind-token kind-call kind-first-task kind-down e2e

kind: kind-up kind-load kind-install kind-examples kind-call kind-first-task

kind-up:
	bash kind/cluster.sh --name $(CLUSTER) >/dev/null

kind-image:
	IMAGE=$(IMAGE) bash kind/image.sh

kind-load: kind-image
	$(KIND) load docker-image $(IMAGE) --name $(CLUSTER)

kind-install:
	@test -x "$(HELM)" || bash scripts/setup-test-deps.sh
	$(HELM) upgrade --install $(RELEASE) $(CHART) --namespace $(NAMESPACE) --create-namespace \
	  -f $(CHART)/ci/kind-values.yaml --set image.tag=$(lastword $(subst :, ,$(IMAGE))) $(HELM_FLAGS)

kind-examples:
	KUBECTL=$(KUBECTL) KIND=$(KIND) AGENTAREA_EXAMPLE_IMAGES=$(EXAMPLE_IMAGES) bash kind/examples.sh $(WORKSPACE) $(CLUSTER)
	$(KUBECTL) get agentarea -n ws-$(WORKSPACE)

# Prints a token for workspace $(WORKSPACE), signed with the api's HS256 key (inside the api pod).
TOKEN_CMD = $(KUBECTL) -n $(NAMESPACE) exec deploy/$(FULLNAME)-api -- agentarea-api token --workspace $(WORKSPACE)

kind-token:
	@$(TOKEN_CMD)

kind-call:
	@token=$$($(TOKEN_CMD)) && \
	  $(CURL) -fsS $(API_URL)/healthz && echo && \
	  $(CURL) -fsS -H "Authorization: Bearer $$token" $(API_URL)/v1/agents && echo

kind-first-task:
	@token=$$($(TOKEN_CMD)) && API_URL=$(API_URL) TOKEN=$$token NAMESPACE=ws-$(WORKSPACE) KUBECTL=$(KUBECTL) \
	  bash scripts/first-task.sh

kind-down:
	$(KIND) delete cluster --name $(CLUSTER)

e2e:
	bash scripts/e2e.sh
