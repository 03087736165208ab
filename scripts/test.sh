#!/usr/bin/env bash
# The project's one test command (see README). On a fresh machine it installs what the tests need
# (kubectl and helm of two generations, the control plane built from the Go modules, the crates),
# then runs every test. Where the machine allows it, the tests run in a network namespace that has
# only loopback, so no test can reach any host but 127.0.0.1 (tests/network_isolation.rs checks it).
#
#   scripts/test.sh                 # everything
#   scripts/test.sh --test e2e      # extra arguments go to `cargo test`
#   E2E_KUBECONFIG=~/.kube/config scripts/test.sh   # end-to-end tests against your cluster
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
step() { echo "==> [$(( $(date +%s) - started ))s] $*" >&2; }

step "kubectl and helm, two generations"
DEST="$PWD/.tools/helm4-kubectl1.35/bin" HELM_MAJOR=4 bash scripts/get-k8s-tools.sh >/dev/null
DEST="$PWD/.tools/helm3-kubectl1.32/bin" HELM_MAJOR=3 bash scripts/get-k8s-tools.sh >/dev/null

if [ -z "${E2E_KUBECONFIG:-}" ]; then
  step "control plane binaries (built from the Go modules on first use; cached)"
  AIRBYTE_CONTROL_PLANE_BIN=$(bash control-plane/build.sh | tail -n 1)
  export AIRBYTE_CONTROL_PLANE_BIN
fi
if command -v go >/dev/null 2>&1; then
  step "kstatus helper (sigs.k8s.io/cli-utils, for the GitOps health test)"
  AEO_KSTATUS_BIN=$(bash control-plane/kstatus/build.sh | tail -n 1)
  export AEO_KSTATUS_BIN
fi

if [ -z "${E2E_KUBECONFIG:-}" ]; then
  step "the node's host programs (containerd, runc, CNI plugins, buildah, iptables)"
  node_programs=(containerd runc ctr buildah iptables)
  missing=0
  for program in "${node_programs[@]}"; do command -v "$program" >/dev/null 2>&1 || missing=1; done
  [ -x /usr/lib/cni/bridge ] || [ -x /opt/cni/bin/bridge ] || missing=1
  if [ "$missing" = 1 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      packages=(containerd runc containernetworking-plugins buildah iptables)
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${packages[@]}" >/dev/null \
        || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${packages[@]}" >/dev/null; }
    else
      echo "scripts/test.sh: the node's tests need containerd, runc, the CNI plugins, buildah and iptables (and root)" >&2
    fi
  fi
  step "operator image (scripts/build-image.sh, release build)"
  AEO_IMAGE_ARCHIVE=$(bash scripts/build-image.sh --tag e2e | tail -n 1)
  export AEO_IMAGE_ARCHIVE
fi

step "the previous release's operator, for the upgrade test (built from this clone's history; cached)"
if previous=$(bash scripts/previous-release.sh | tail -n 1); then
  export AEO_PREVIOUS_OPERATOR_BIN="$previous"
else
  echo "scripts/test.sh: the previous release could not be built; the upgrade test will say why" >&2
fi

step "format and lints"
cargo fmt --all -- --check
cargo clippy --locked --workspace --all-targets -- -D warnings
cargo clippy --locked -p airbyte-embedded-operator --no-default-features -- -D warnings

step "build"
cargo test --locked --workspace --no-run

isolate=()
if [ -z "${E2E_KUBECONFIG:-}" ] && [ "${AEO_NETWORK_ISOLATION:-auto}" != off ]; then
  if unshare --net true 2>/dev/null; then
    isolate=(unshare --net)
  elif unshare --map-root-user --net true 2>/dev/null; then
    isolate=(unshare --map-root-user --net)
  fi
fi
if [ ${#isolate[@]} -gt 0 ]; then
  step "tests (network namespace: loopback only)"
  export AEO_NETWORK_ISOLATED=1 CARGO_NET_OFFLINE=true
  "${isolate[@]}" bash -c 'ip link set lo up && exec cargo test --locked --offline --workspace "$@"' _ "$@"
else
  if [ "${AEO_REQUIRE_NETWORK_ISOLATION:-}" = 1 ]; then
    echo "scripts/test.sh: a loopback-only network namespace is required (AEO_REQUIRE_NETWORK_ISOLATION=1) but unshare --net is not permitted here" >&2
    exit 1
  fi
  step "tests (no network namespace available: running without isolation)"
  cargo test --locked --workspace "$@"
fi
step "all tests passed"
