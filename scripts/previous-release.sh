#!/usr/bin/env bash
# Builds the operator of the previous release (the last commit before organizations became
# resources) from this repository's own history, for the upgrade test (tests/e2e/upgrade.rs):
# objects made by that operator, then the current one started on them.
#
#   scripts/previous-release.sh          # builds if needed; prints the binary's path last
#
# Cache: $AEO_PREVIOUS_CACHE, else ${XDG_CACHE_HOME:-~/.cache}/airbyte-embedded-operator/previous,
# one folder per commit (its own cargo target folder: the current build's is never touched).
# The source comes from `git archive` of the commit, so a clone needs its history (a shallow
# clone exits 3 with a message saying so).
set -euo pipefail
cd "$(dirname "$0")/.."

commit=b0cc95462954737402886bed00a6a40b7e5f7ab7
name=airbyte-embedded-operator
cache_root=${AEO_PREVIOUS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/airbyte-embedded-operator/previous}
folder="$cache_root/$commit"
binary="$folder/bin/$name"

if [ -x "$binary" ]; then
  echo "previous release cached in $binary" >&2
  echo "$binary"
  exit 0
fi
if ! git cat-file -e "$commit^{commit}" 2>/dev/null; then
  echo "scripts/previous-release.sh: commit $commit is not in this clone's history (a shallow clone?): the upgrade test needs it" >&2
  exit 3
fi
source_dir="$folder/src"
rm -rf "$source_dir"
mkdir -p "$source_dir" "$folder/bin"
git archive "$commit" | tar -x -C "$source_dir"
echo "building the previous release ($commit) in $folder (first time only)" >&2
(cd "$source_dir" && CARGO_TARGET_DIR="$folder/target" cargo build --locked --no-default-features --bin "$name" >&2)
cp "$folder/target/debug/$name" "$binary.partial"
mv "$binary.partial" "$binary"
rm -rf "$source_dir" "$folder/target"
echo "$binary"
