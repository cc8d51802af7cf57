# Flux's source-controller and kustomize-controller, built from their Go modules
# (tests/e2e/build-flux.sh), on the local Debian image: no registry is reachable here.
ARG DEBIAN_IMAGE
FROM ${DEBIAN_IMAGE}
COPY source-controller kustomize-controller /usr/local/bin/
USER 65534:65534
