#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60) from its corpus and
# prints how many inputs each ran. Needs cargo-fuzz (installed if missing).
# cargo-fuzz needs unstable compiler flags; RUSTC_BOOTSTRAP lets the stable
# toolchain accept them. No sanitizer: the crate forbids unsafe code, so
# libFuzzer's coverage guidance and Rust's own checks (panics, overflow
# checks) are what find bugs here, and the build is much faster.
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-60}"
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked --quiet
for target in runbook healthz_reply log_lines duration; do
  mkdir -p "corpus/$target"
  # The corpus grows in a scratch copy; the committed seeds stay small.
  work=$(mktemp -d)
  cp -r "corpus/$target/." "$work/"
  log=$(mktemp)
  if ! cargo fuzz run --sanitizer none --debug-assertions "$target" "$work" -- -max_total_time="$secs" -rss_limit_mb=2048 >"$log" 2>&1; then
    tail -n 40 "$log"
    echo "fuzz: $target FAILED (see the crash above; artifacts in fuzz/artifacts/$target)"
    exit 1
  fi
  runs=$(grep -oE 'Done [0-9]+ runs' "$log" | tail -n1 | grep -oE '[0-9]+' || echo "?")
  echo "fuzz: $target: $runs executions in ${secs}s, no crash"
  rm -rf "$work" "$log"
done
