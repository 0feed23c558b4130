#!/usr/bin/env bash
# Shows keysvc-check on a real (local) three-region environment: builds what is
# missing, brings the regions up with a crash-looping pod in us-east and a
# healthy healthz stand-in, runs `keysvc-check diagnose`, and tears down —
# or, with --keep, leaves it running and prints how to use it by hand.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tests/cluster/build-apiserver.sh
cargo build --workspace --quiet
target="${CARGO_TARGET_DIR:-target}"
exec "$target/debug/keysvc-testenv" demo --keysvc-check "$target/debug/keysvc-check" "$@"
