# The Kubernetes components kubeadm runs as pods (kube-apiserver, kube-controller-manager,
# kube-scheduler, kube-proxy, etcd): one image holding agentarea-cp, tagged with each name kubeadm
# expects (kind/node/build.sh). kube-proxy needs iptables, so it is Debian rather than scratch.
ARG DEBIAN_IMAGE
FROM ${DEBIAN_IMAGE}
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends iptables conntrack ipset kmod \
 && rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/*
COPY bin/agentarea-cp /usr/local/bin/agentarea-cp
RUN for c in kube-apiserver kube-controller-manager kube-scheduler etcd kubectl; do \
      ln -s agentarea-cp /usr/local/bin/$c; done
# kube-proxy first picks the iptables backend the node uses (kind/node/with-node-iptables).
COPY with-node-iptables kube-proxy /usr/local/bin/
RUN chmod 0755 /usr/local/bin/with-node-iptables /usr/local/bin/kube-proxy
