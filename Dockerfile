# syntax=docker/dockerfile:1
# One image with both binaries, agentarea-operator and agentarea-api (the chart runs one per
# Deployment and picks it with `command`). They are linked statically against musl, so the image
# needs no libc, and the operator can copy itself into MCP server pods as the stdio bridge
# (`agentarea-operator mcp-bridge`) whatever their base image.
#
#   docker build -t agentarea/agentarea:0.1.0 .
#   kind load docker-image agentarea/agentarea:0.1.0 --name agentarea      (or: make kind-load)

# The Rust release this repository is developed and tested with.
ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-alpine AS build
RUN apk add --no-cache musl-dev
WORKDIR /src
# .dockerignore keeps target/, .git and everything the build does not read out of the context.
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin agentarea-operator --bin agentarea-api \
 && mkdir -p /out \
 && cp target/release/agentarea-operator target/release/agentarea-api /out/

# distroless "static": CA certificates, /etc/passwd with the nonroot user (65532), no shell.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/agentarea-operator /out/agentarea-api /usr/local/bin/
# The same numeric user the chart's podSecurityContext runs as.
USER 65532:65532
EXPOSE 8000 8081 8090
ENTRYPOINT ["agentarea-operator"]
