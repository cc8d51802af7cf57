# The suite's Git server: Debian's git (its http-backend) behind tests/e2e/gitserver.
ARG DEBIAN_IMAGE
FROM ${DEBIAN_IMAGE}
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends git ca-certificates >/dev/null \
    && rm -rf /var/lib/apt/lists/* && mkdir -p /srv/git
COPY gitserver /usr/local/bin/gitserver
ENTRYPOINT ["/usr/local/bin/gitserver"]
