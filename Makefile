# AgentArea on a laptop with Docker and kind. `make kind` runs the whole sequence:
#
#   make kind-up        create the kind cluster from kind-config.yaml (api NodePort 30800 -> 127.0.0.1:8000)
#   make kind-load      docker build the image (both binaries) and load it into the kind node
#   make kind-install   helm install the chart (CRDs included) with charts/agentarea/ci/kind-values.yaml
#   make kind-examples  create workspace namespace ws-$(WORKSPACE) and apply examples/ into it
#   make kind-call      get a token from the api pod and call the api on http://127.0.0.1:8000
#   make kind-down      delete the cluster
#
# Needs docker, kind, kubectl, helm and curl on PATH. Every name below can be overridden:
# `make kind-install NAMESPACE=agentarea-dev`.

CLUSTER   ?= agentarea
NAMESPACE ?= agentarea
RELEASE   ?= agentarea
WORKSPACE ?= default
CHART     := charts/agentarea
APP_VERSION := $(shell sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\} *$$/\1/p' $(CHART)/Chart.yaml)
IMAGE     ?= agentarea/agentarea:$(APP_VERSION)
API_URL   ?= http://127.0.0.1:8000
DOCKER    ?= docker
KIND      ?= kind
KUBECTL   ?= kubectl
HELM      ?= helm
CURL      ?= curl
# Extra flags for helm upgrade --install; the default waits until both Deployments are ready.
HELM_FLAGS ?= --wait --timeout 5m

# The fullname the chart gives a release (see _helpers.tpl): the release name when it contains
# "agentarea", else <release>-agentarea.
FULLNAME  := $(if $(findstring agentarea,$(RELEASE)),$(RELEASE),$(RELEASE)-agentarea)

.PHONY: kind kind-up kind-image kind-load kind-install kind-examples kind-token kind-call kind-down

kind: kind-up kind-load kind-install kind-examples kind-call

kind-up:
	@if $(KIND) get clusters 2>/dev/null | grep -qx '$(CLUSTER)'; then \
	  echo "kind cluster $(CLUSTER) exists"; \
	else \
	  $(KIND) create cluster --name $(CLUSTER) --config kind-config.yaml; \
	fi

kind-image:
	$(DOCKER) build -t $(IMAGE) .

kind-load: kind-image
	$(KIND) load docker-image $(IMAGE) --name $(CLUSTER)

kind-install:
	$(HELM) upgrade --install $(RELEASE) $(CHART) --namespace $(NAMESPACE) --create-namespace \
	  -f $(CHART)/ci/kind-values.yaml --set image.tag=$(lastword $(subst :, ,$(IMAGE))) $(HELM_FLAGS)

kind-examples:
	$(KUBECTL) create namespace ws-$(WORKSPACE) --dry-run=client -o yaml | $(KUBECTL) apply -f -
	$(KUBECTL) label namespace ws-$(WORKSPACE) agentarea.io/workspace=$(WORKSPACE) --overwrite
	$(KUBECTL) apply --server-side -n ws-$(WORKSPACE) -f examples/
	$(KUBECTL) get agentarea -n ws-$(WORKSPACE)

# Prints a token for workspace $(WORKSPACE), signed with the api's HS256 key (inside the api pod).
TOKEN_CMD = $(KUBECTL) -n $(NAMESPACE) exec deploy/$(FULLNAME)-api -- agentarea-api token --workspace $(WORKSPACE)

kind-token:
	@$(TOKEN_CMD)

kind-call:
	@token=$$($(TOKEN_CMD)) && \
	  $(CURL) -fsS $(API_URL)/healthz && echo && \
	  $(CURL) -fsS -H "Authorization: Bearer $$token" $(API_URL)/v1/agents && echo

kind-down:
	$(KIND) delete cluster --name $(CLUSTER)
