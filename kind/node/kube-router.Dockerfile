# kube-router as a NetworkPolicy engine only (kind/node/files/kind/manifests/default-cni.yaml runs
# it with --run-firewall alone): its binary, built from its Go module by kind/node/build.sh, with
# the iptables and ipset it drives, on the node's iptables backend (with-node-iptables).
ARG DEBIAN_IMAGE
FROM ${DEBIAN_IMAGE}
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends iptables ipset conntrack \
 && rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/*
COPY with-node-iptables kube-router /usr/local/bin/
RUN chmod 0755 /usr/local/bin/with-node-iptables /usr/local/bin/kube-router
ENTRYPOINT ["/usr/local/bin/with-node-iptables", "/usr/local/bin/kube-router"]
