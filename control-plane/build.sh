#!/usr/bin/env bash
# Builds the real upstream control plane (etcd, kube-apiserver, kube-controller-manager) and the node
# (kubelet, kube-scheduler; used only by `--with-node`) from the Go modules pinned in ./kubernetes
# and ./etcd, into a cache folder outside the repository.
#
#   control-plane/build.sh            # builds if needed; prints the bin folder as its last line
#   control-plane/build.sh --print    # prints the bin folder without building
#
# Cache: $AIRBYTE_CONTROL_PLANE_CACHE, else ${XDG_CACHE_HOME:-~/.cache}/airbyte-embedded-operator/control-plane,
# in a subfolder keyed by the pinned versions, both go.sum files and the Go version, so a change to any
# of them builds afresh and an unchanged pin is never rebuilt. The operator binary embeds this script
# and the module files and runs it the same way (`sandbox`, `control-plane`).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
k8s_version=v1.35.4
etcd_version=v3.6.6
# Release date of k8s.io/kubernetes v1.35.4 on the module proxy: a reproducible build date.
k8s_build_date=2026-04-15T18:01:22Z

command -v go >/dev/null 2>&1 || {
  echo "control-plane/build.sh: the Go toolchain (go) is needed to build the local control plane; install Go, or use an existing cluster with --kubeconfig" >&2
  exit 127
}

go_version=$(go env GOVERSION)
key=$( { echo "$k8s_version $etcd_version $go_version"; cat "$here/kubernetes/go.sum" "$here/etcd/go.sum" "$here/kubernetes/go.mod" "$here/etcd/go.mod"; } | sha256sum | cut -c1-16)
cache_root=${AIRBYTE_CONTROL_PLANE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/airbyte-embedded-operator/control-plane}
bin="$cache_root/$k8s_version-etcd-$etcd_version-$key/bin"

if [ "${1:-}" = "--print" ]; then
  echo "$bin"
  exit 0
fi

binaries=(etcd kube-apiserver kube-controller-manager kube-scheduler kubelet)
complete=1
for name in "${binaries[@]}"; do [ -x "$bin/$name" ] || complete=0; done
if [ "$complete" = 1 ]; then
  echo "control plane binaries cached in $bin" >&2
  echo "$bin"
  exit 0
fi

mkdir -p "$bin"
# Build into a temporary folder beside the cache and move into place at the end, so an interrupted
# build never leaves a half-written binary that a later run would take for a finished one.
stage=$(mktemp -d "$cache_root/.stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT

start=$(date +%s)
elapsed() { echo "$(( $(date +%s) - start ))s"; }
progress() { echo "[control-plane build $(elapsed)] $*" >&2; }

major=${k8s_version#v}; major=${major%%.*}
minor=${k8s_version#v*.}; minor=${minor%%.*}
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitCommit= -X $pkg.gitTreeState=clean -X $pkg.buildDate=$k8s_build_date"
done

export CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" GOWORK=off
progress "downloading etcd $etcd_version modules"
(cd "$here/etcd" && go mod download)
progress "building etcd $etcd_version"
(cd "$here/etcd" && go build -trimpath -ldflags "-s -w" -o "$stage/etcd" go.etcd.io/etcd/server/v3)
progress "downloading Kubernetes $k8s_version modules"
(cd "$here/kubernetes" && go mod download)
for cmd in kube-apiserver kube-controller-manager kube-scheduler kubelet; do
  progress "building $cmd $k8s_version (kube-apiserver is the longest step on a cold machine)"
  (cd "$here/kubernetes" && go build -trimpath -tags selinux,notest -ldflags "$ldflags" -o "$stage/$cmd" "k8s.io/kubernetes/cmd/$cmd")
done
# The node's sandbox ("pause") process, from the C source in the same Kubernetes module: static, so
# its image needs nothing else (no registry is needed for registry.k8s.io/pause).
progress "building pause $k8s_version"
pause_src="$(go env GOMODCACHE)/k8s.io/kubernetes@$k8s_version/build/pause/linux/pause.c"
if command -v cc >/dev/null 2>&1 && cc -Os -static -DVERSION="$k8s_version" -o "$stage/pause" "$pause_src" 2>"$stage/pause.log"; then
  strip "$stage/pause" 2>/dev/null || true
  mv "$stage/pause" "$bin/"
else
  echo "control-plane/build.sh: warning: no pause binary (a C compiler with a static libc is needed); only --with-node needs it: $(cat "$stage/pause.log" 2>/dev/null)" >&2
fi
for name in "${binaries[@]}"; do mv "$stage/$name" "$bin/"; done
progress "done: $bin"
echo "$bin"
