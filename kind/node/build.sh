#!/usr/bin/env bash
# Builds the kind node image for Kubernetes v1.34.4 without any registry, and prints its name.
#
# What `kind build node-image` does, with every image made here: Kubernetes from agentarea-cp
# (tests/controlplane, the same binary the local control plane runs), CoreDNS and pause from their
# Go sources (kind/coredns, kind/pause), kube-router (the NetworkPolicy engine) from its Go module,
# containerd, runc and the CNI plugins from Debian. The
# image is tagged with a hash of everything it is made from, so a second run finds it and returns
# at once; `docker image rm` it to force a rebuild.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
kind_dir=$(dirname "$here")
repo=$(dirname "$kind_dir")
cache=${AGENTAREA_CACHE:-$HOME/.cache/agentarea}
k8s_version=v1.34.4
kind_version=${KIND_VERSION:-v0.33.0}
kube_router_image=$(grep -o 'agentarea.local/kube-router:[^"[:space:]]*' "$here/files/kind/manifests/default-cni.yaml" | head -1)
kube_router_version=${kube_router_image##*:}
log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

debian=$(bash "$kind_dir/debian-image.sh")
cp_dir=$(bash "$repo/tests/controlplane/build.sh")
key=$( (echo "$k8s_version $kind_version $kube_router_version $debian"; docker image inspect -f '{{.Id}}' "$debian";
        sha256sum "$cp_dir/agentarea-cp";
        cd "$kind_dir" && find node coredns pause runc-wrapper -type f | LC_ALL=C sort | xargs sha256sum) \
       | sha256sum | cut -c1-12)
image=${AGENTAREA_KIND_NODE_IMAGE:-agentarea.local/kind-node:$k8s_version-$key}
if docker image inspect "$image" >/dev/null 2>&1; then
  echo "$image"
  exit 0
fi
start=$(date +%s)

# go_binary MODULE_DIR NAME: builds a small Go module once, cached by the hash of its sources.
go_binary() {
  local dir=$1 name=$2 key out
  key=$(cat "$dir"/go.mod "$dir"/*.go $( [[ -f $dir/go.sum ]] && echo "$dir/go.sum") | sha256sum | cut -c1-16)
  out=$cache/kind/$name/$key
  if [[ ! -x $out/$name ]]; then
    log "building $name from $dir (once; cached in $out)"
    (cd "$dir" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out.tmp/$name" .)
    rm -rf "$out" && mv "$out.tmp" "$out"
  fi
  echo "$out/$name"
}

ctx=$(mktemp -d /tmp/agentarea-node-image-XXXXXX)
builder=""
cleanup() {
  [[ -n $builder ]] && docker rm -f -v "$builder" >/dev/null 2>&1
  rm -rf "$ctx"
}
trap cleanup EXIT

# The component images kubeadm runs, named exactly as `kubeadm config images list` prints them.
mapfile -t wanted < <("$cp_dir/agentarea-cp" kubeadm config images list --kubernetes-version "$k8s_version")
image_named() { printf '%s\n' "${wanted[@]}" | grep -m1 "/$1:"; }

log "component images (kube-apiserver, kube-controller-manager, kube-scheduler, kube-proxy, etcd)"
mkdir -p "$ctx/components/bin"
cp "$cp_dir/agentarea-cp" "$ctx/components/bin/"
cp "$here/kube-proxy" "$here/with-node-iptables" "$ctx/components/"
docker build -q --build-arg "DEBIAN_IMAGE=$debian" -f "$here/components.Dockerfile" \
  -t "agentarea.local/kubernetes:$k8s_version" "$ctx/components" >/dev/null
images=()
for name in kube-apiserver kube-controller-manager kube-scheduler kube-proxy etcd; do
  tag=$(image_named "$name")
  docker tag "agentarea.local/kubernetes:$k8s_version" "$tag"
  images+=("$tag")
done

# scratch_image BINARY TAG: an image holding one static binary at /, as the upstream images do.
scratch_image() {
  local binary=$1 tag=$2 name
  name=$(basename "$binary")
  mkdir -p "$ctx/$name" && cp "$binary" "$ctx/$name/"
  printf 'FROM scratch\nCOPY %s /%s\nENTRYPOINT ["/%s"]\n' "$name" "$name" "$name" \
    | docker build -q -t "$tag" -f - "$ctx/$name" >/dev/null
  images+=("$tag")
}
scratch_image "$(go_binary "$kind_dir/coredns" coredns)" "$(image_named coredns)"
pause=$(grep -o 'registry.k8s.io/pause:[^"]*' "$here/files/etc/containerd/config.toml")
scratch_image "$(go_binary "$kind_dir/pause" pause)" "$pause"

# kube-router, the NetworkPolicy engine of this node image (its DaemonSet is in default-cni.yaml,
# which names the image and so the version): the bridge CNI enforces no policy, and kindnetd's
# engine needs nftables queueing, which these kernels lack. Its Go module builds in about 70 s,
# once per version.
log "kube-router $kube_router_version (NetworkPolicy engine)"
kube_router_bin=$cache/kind/kube-router/$kube_router_version
if [[ ! -x $kube_router_bin/kube-router ]]; then
  log "building kube-router $kube_router_version from its Go module (once; cached in $kube_router_bin)"
  rm -rf "$kube_router_bin.tmp"
  CGO_ENABLED=0 GOBIN="$kube_router_bin.tmp" go install -trimpath -ldflags "-s -w" \
    "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router@$kube_router_version"
  rm -rf "$kube_router_bin" && mv "$kube_router_bin.tmp" "$kube_router_bin"
fi
mkdir -p "$ctx/kube-router"
cp "$kube_router_bin/kube-router" "$here/with-node-iptables" "$ctx/kube-router/"
docker build -q --build-arg "DEBIAN_IMAGE=$debian" -f "$here/kube-router.Dockerfile" \
  -t "$kube_router_image" "$ctx/kube-router" >/dev/null
images+=("$kube_router_image")

log "node base image"
kind_module=$(go mod download -json "sigs.k8s.io/kind@$kind_version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
mkdir -p "$ctx/node/bin"
cp -r "$kind_module/images/base/files" "$ctx/node/kind-base"
chmod -R u+w "$ctx/node/kind-base"
cp -r "$here/files" "$ctx/node/files"
cp "$kind_dir/runc-wrapper" "$ctx/node/"
cp "$cp_dir/agentarea-cp" "$ctx/node/bin/"
for c in kubelet kubeadm kubectl; do ln -s agentarea-cp "$ctx/node/bin/$c"; done
docker build -q --build-arg "DEBIAN_IMAGE=$debian" -f "$here/Dockerfile" -t "$image-base" "$ctx/node" >/dev/null

# Into the node's containerd, as kind's builder does: a container of the base image, containerd
# started in it, the images imported pinned (never garbage-collected), the container committed.
log "importing ${#images[@]} images into the node's containerd"
builder=$(docker run -d --privileged --entrypoint sleep "$image-base" infinity)
docker exec "$builder" sh -c 'containerd >/var/log/containerd-build.log 2>&1 &'
for _ in $(seq 1 60); do
  docker exec "$builder" ctr --namespace k8s.io version >/dev/null 2>&1 && break
  sleep 0.5
done
docker save "${images[@]}" | docker exec -i "$builder" ctr --namespace k8s.io images import \
  --label io.cri-containerd.pinned=pinned --all-platforms --no-unpack --digests - >/dev/null
# `sleep` as PID 1 reaps nobody, so containerd lingers as a zombie: wait for it to stop running.
docker exec "$builder" sh -c 'pkill -x containerd; while ps -eo stat=,comm= | grep -v "^Z" | grep -qw containerd; do sleep 0.2; done
  rm -f /var/log/containerd-build.log'
docker commit --change 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]' --change 'CMD []' \
  "$builder" "$image" >/dev/null
docker rm -f -v "$builder" >/dev/null && builder=""
docker image rm "$image-base" >/dev/null
# Node images of earlier sources are superseded: free their space (one a cluster still runs stays).
docker images --format '{{.Repository}}:{{.Tag}}' "${image%:*}" | grep -vxF "$image" \
  | xargs -r docker image rm >/dev/null 2>&1 || true
log "node image $image built in $(( $(date +%s) - start ))s"
echo "$image"
