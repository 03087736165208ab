#!/usr/bin/env bash
# Builds the operator's container image from ./Dockerfile with buildah (no daemon, no registry) and
# writes it as a docker-archive, which `ctr images import`, `docker load` and `podman load` take.
#
#   scripts/build-image.sh                          # tag: the crate's version; archive in target/image/
#   scripts/build-image.sh --tag 0.2.0 --out /tmp/aeo.tar
#   AEO_IMAGE_PROFILE=dev scripts/build-image.sh    # a debug binary (quicker to build)
#
# The image's context is a root file system prepared here from this machine: the operator built
# with --no-default-features (only what `run` needs), the C libraries it links, CA certificates,
# and passwd/group entries for the non-root user 65532. Prints the archive's path as its last line.
set -euo pipefail
cd "$(dirname "$0")/.."

tag=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
out=""
profile=${AEO_IMAGE_PROFILE:-release}
while [ $# -gt 0 ]; do
  case "$1" in
    --tag) tag=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --profile) profile=$2; shift 2 ;;
    *) echo "scripts/build-image.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
name=airbyte-embedded-operator
for tool in buildah ldd strip; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "scripts/build-image.sh: $tool is needed (Debian: apt-get install buildah binutils)" >&2
    exit 127
  }
done

cargo build --locked --profile "$profile" --no-default-features --bin "$name" >&2
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
case "$profile" in dev | test) folder=debug ;; *) folder=$profile ;; esac
out=${out:-$target_dir/image/$name-$tag.tar}
binary="$target_dir/$folder/$name"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rootfs="$work/context/rootfs"
install -D -m 0755 "$binary" "$rootfs/usr/local/bin/$name"
strip "$rootfs/usr/local/bin/$name"
# The C libraries the binary links (glibc, libgcc_s) and the dynamic loader, from this machine.
for lib in $(ldd "$binary" | grep -o '/[^ ]*' | sort -u); do
  install -D -m 0755 "$(readlink -f "$lib")" "$rootfs$lib"
done
install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
printf 'nonroot:x:65532:65532:nonroot:/nonexistent:/sbin/nologin\n' > "$work/passwd"
printf 'nonroot:x:65532:\n' > "$work/group"
install -D -m 0644 "$work/passwd" "$rootfs/etc/passwd"
install -D -m 0644 "$work/group" "$rootfs/etc/group"
cp Dockerfile "$work/context/Dockerfile"

buildah_() { buildah --root "$work/storage" --runroot "$work/run" --storage-driver vfs "$@"; }
buildah_ bud --quiet --format docker --file "$work/context/Dockerfile" --tag "$name:$tag" "$work/context" >&2
mkdir -p "$(dirname "$out")"
rm -f "$out"
buildah_ push --quiet "$name:$tag" "docker-archive:$out:$name:$tag" >&2
echo "scripts/build-image.sh: $name:$tag, $(du -k "$rootfs" | tail -n 1 | cut -f1) KiB unpacked, archive $(du -k "$out" | cut -f1) KiB" >&2
echo "$out"
