#!/usr/bin/env bash
# Builds the kstatus helper (test tooling) into the control-plane cache, keyed by go.sum and the Go
# version; prints the binary's path as its last line. Skips the build when it is there.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
key=$( { go env GOVERSION; cat "$here/go.mod" "$here/go.sum" "$here/main.go"; } | sha256sum | cut -c1-16)
cache_root=${AIRBYTE_CONTROL_PLANE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/airbyte-embedded-operator/control-plane}
bin="$cache_root/kstatus-$key/kstatus"
if [ ! -x "$bin" ]; then
  mkdir -p "$(dirname "$bin")"
  echo "building the kstatus helper (sigs.k8s.io/cli-utils)" >&2
  (cd "$here" && CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" GOWORK=off go build -trimpath -o "$bin.tmp" . && mv "$bin.tmp" "$bin")
fi
echo "$bin"
