#!/usr/bin/env bash
# Runs every test, the cluster tests included: installs what is missing, builds
# (or reuses the cached) kube-apiserver, brings the three-region test
# environment up, runs the suite, and always brings the environment down.
# Extra arguments go to the test binaries (e.g. a test name filter).
set -euo pipefail
cd "$(dirname "$0")/.."

bash tests/cluster/build-apiserver.sh
if ! command -v kubectl >/dev/null 2>&1; then
  # The self-checks use kubectl as an independent client.
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kubernetes-client >/dev/null
fi
if ! command -v tmux >/dev/null 2>&1; then
  # The terminal tests run keysvc-check in a real terminal.
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tmux >/dev/null
fi

if ! command -v prometheus >/dev/null 2>&1; then
  # The telemetry step's tests read a real Prometheus, which the test
  # environment starts on a port of its own (any service the package
  # starts is not used).
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi

cargo build --workspace --quiet
target="${CARGO_TARGET_DIR:-target}"
testenv="$target/debug/keysvc-testenv"

state=$("$testenv" up)
cleanup() {
  "$testenv" down --state "$state" || true
  rm -rf "$(dirname "$state")"
}
trap cleanup EXIT INT TERM
export KEYSVC_TESTENV="$state"

cargo test --workspace -- --include-ignored "$@"
