#!/usr/bin/env bash
# Compares `diagnose -o json` wall time of this version with v1 (commit
# 880a67e, before the baseline reads, events and rollout evidence), side by
# side in one run, with each region's API server reached directly and through
# a proxy adding a round-trip time. Prints min/median/max per version and RTT
# and the ratio of the medians; nothing is asserted on time.
#
# Usage: tests/bench/rtt.sh [RUNS] [RTT_MS...]   (default 10 runs; 0 and 200 ms)
# With KEYSVC_TESTENV set, uses that environment (it redeploys namespace `api`
# in every region); otherwise brings one up and down.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs="${1:-10}"
[ $# -eq 0 ] || shift
rtts=(0 200)
[ $# -eq 0 ] || rtts=("$@")
v1_rev=880a67e
cache="${KEYSVC_CACHE:-$HOME/.cache/keysvc-check}"

bash tests/cluster/build-apiserver.sh
cargo build --workspace --release --quiet
# Ask cargo where it builds: CARGO_TARGET_DIR may be set or rewritten.
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
bin="$target/release/keysvc-check"
testenv="$target/release/keysvc-testenv"

work=$(mktemp -d)
state=""
own_env=""
proxy_pid=""
v1_tree=""
cleanup() {
  [ -z "$proxy_pid" ] || kill "$proxy_pid" 2>/dev/null || true
  [ -z "$v1_tree" ] || git worktree remove --force "$v1_tree" 2>/dev/null || true
  if [ -n "$own_env" ]; then
    "$testenv" down --state "$state"
    rm -rf "$(dirname "$state")"
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# v1, built once in a worktree of its own and kept in the cache.
v1_target="$cache/bench-v1"
v1_bin="$v1_target/release/keysvc-check"
v1_full=$(git rev-parse "$v1_rev^{commit}")
if [ ! -x "$v1_bin" ] || [ "$(cat "$v1_target/built-from" 2>/dev/null)" != "$v1_full" ]; then
  echo "== building v1 ($v1_rev) in $v1_target"
  v1_tree="$work/v1"
  git worktree add --detach --quiet "$v1_tree" "$v1_full"
  (cd "$v1_tree" && CARGO_TARGET_DIR="$v1_target" cargo build --release --quiet --locked -p keysvc-check --bin keysvc-check)
  echo "$v1_full" >"$v1_target/built-from"
  git worktree remove --force "$v1_tree"
  v1_tree=""
fi

if [ -n "${KEYSVC_TESTENV:-}" ]; then
  state="$KEYSVC_TESTENV"
else
  state=$("$testenv" up)
  own_env=1
fi
kubeconfig="$(dirname "$state")/kubeconfig"

# Three healthy regions, each a Deployment with two revisions and three ready
# pods; each pod logged 300 lines over the last 65 minutes (one in 100 an
# ERROR), so the baseline hour before the 5-minute window has lines to read.
regions=(us-south us-east eu-de)
for region in "${regions[@]}"; do
  for pod in $("$testenv" deploy --state "$state" --region "$region" --namespace api 1.4.2 1.4.3); do
    "$testenv" logs --state "$state" --region "$region" --namespace api --pod "$pod" \
      --count 300 --span-secs 3900 --error-every 100
  done
done

# The environment's healthz stand-in, which answers as the service does when
# it is up (`keysvc-testenv up` starts it).
healthz=$(python3 -c 'import json, sys; print((json.load(open(sys.argv[1]))["healthz"] or [None, ""])[1])' "$state")
[ -n "$healthz" ] || { echo "the environment in $state has no healthz stand-in; start it with keysvc-testenv up" >&2; exit 1; }
wait_for_line() { # FILE WHAT
  local deadline=$((SECONDS + 30))
  until [ -s "$1" ]; do
    [ $SECONDS -lt $deadline ] || { echo "no $2 after 30 s" >&2; exit 1; }
    sleep 0.05
  done
}

# Only keys v1 knows; the current version reads the same file.
cat >"$work/rb.yaml" <<YAML
service: Key Service API
namespace: api
selector: app=api-key-service
container: api-key-service
environments:
  bench:
    healthz_url: $healthz
    regions:
      us-south: { context: oncall@us-south }
      us-east: { context: oncall@us-east }
      eu-de: { context: oncall@eu-de }
YAML
# The current version reads events and rollouts as well, with the user that
# may; v1 reads neither.
evidence=()
for region in "${regions[@]}"; do evidence+=(--context "$region=evidence@$region"); done

# One timed run: prints milliseconds, keeps the exit code.
timed() { # NAME KUBECONFIG BIN ARGS...
  local name=$1 kc=$2 b=$3 start code=0
  shift 3
  start=$(date +%s%N)
  "$b" diagnose --env bench --runbook "$work/rb.yaml" --kubeconfig "$kc" -o json "$@" >"$work/$name.json" 2>/dev/null || code=$?
  echo "$(( ($(date +%s%N) - start) / 1000000 )) $code"
}

stats() { # FILE: one "ms code" a line -> "min median max codes"
  python3 - "$1" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
ms = sorted(int(r[0]) for r in rows)
codes = ",".join(sorted({r[1] for r in rows}))
print(min(ms), statistics.median(ms), max(ms), codes)
PY
}

echo "== diagnose -o json, 3 healthy regions x 3 pods, $runs runs per version and RTT ($(nproc) cores, $(date -u +%Y-%m-%d))"
printf '%-7s %-8s %7s %9s %7s %6s\n' RTT version min_ms median_ms max_ms exit
for rtt in "${rtts[@]}"; do
  kc="$kubeconfig"
  if [ "$rtt" -gt 0 ]; then
    kc="$work/kubeconfig-$rtt"
    "$testenv" proxy --state "$state" --latency-ms "$rtt" --kubeconfig "$kc" >"$work/proxy.out" &
    proxy_pid=$!
    wait_for_line "$work/proxy.out" "proxy kubeconfig"
  fi
  : >"$work/v1.times"
  : >"$work/current.times"
  # One unmeasured run each, then alternate so drift hits both alike.
  timed v1 "$kc" "$v1_bin" >/dev/null
  timed current "$kc" "$bin" "${evidence[@]}" >/dev/null
  for _ in $(seq "$runs"); do
    timed v1 "$kc" "$v1_bin" >>"$work/v1.times"
    timed current "$kc" "$bin" "${evidence[@]}" >>"$work/current.times"
  done
  read -r v1_min v1_med v1_max v1_codes < <(stats "$work/v1.times")
  read -r cur_min cur_med cur_max cur_codes < <(stats "$work/current.times")
  printf '%-7s %-8s %7s %9s %7s %6s\n' "${rtt}ms" v1 "$v1_min" "$v1_med" "$v1_max" "$v1_codes"
  printf '%-7s %-8s %7s %9s %7s %6s\n' "${rtt}ms" current "$cur_min" "$cur_med" "$cur_max" "$cur_codes"
  echo "${rtt}ms    current/v1 (medians): $(python3 -c "print(f'{$cur_med / $v1_med:.2f}')")"
  if [ -n "$proxy_pid" ]; then
    kill "$proxy_pid"
    wait "$proxy_pid" || true
    proxy_pid=""
  fi
done
