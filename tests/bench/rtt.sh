#!/usr/bin/env bash
# Compares `diagnose -o json` wall time of this version with a base revision
# (by default v1, commit 880a67e, before the baseline reads, events and
# rollout evidence), side by side in one run, with each region's API server
# reached directly and through a proxy adding a round-trip time. Prints
# min/median/max per version and RTT and the ratio of the medians; nothing is
# asserted on time.
#
# Usage: tests/bench/rtt.sh [RUNS] [RTT_MS...]   (default 10 runs; 0 and 200 ms)
#   KEYSVC_BENCH_BASE=REV   the base revision (default 880a67e, shown as v1);
#                           built once into ~/.cache/keysvc-check/bench-v1
#                           (v1) or bench-<commit> and kept there
#   KEYSVC_BENCH_PODS=N     ready pods per region (default 3)
# With KEYSVC_TESTENV set, uses that environment (it redeploys namespace `api`
# in every region); otherwise brings one up and down.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs="${1:-10}"
[ $# -eq 0 ] || shift
rtts=(0 200)
[ $# -eq 0 ] || rtts=("$@")
v1_rev=880a67e
base_rev="${KEYSVC_BENCH_BASE:-$v1_rev}"
pods="${KEYSVC_BENCH_PODS:-3}"
[[ "$pods" =~ ^[1-9][0-9]*$ ]] || { echo "KEYSVC_BENCH_PODS must be a number of pods, not '$pods'" >&2; exit 64; }
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
base_tree=""
cleanup() {
  [ -z "$proxy_pid" ] || kill "$proxy_pid" 2>/dev/null || true
  [ -z "$base_tree" ] || git worktree remove --force "$base_tree" 2>/dev/null || true
  if [ -n "$own_env" ]; then
    "$testenv" down --state "$state"
    rm -rf "$(dirname "$state")"
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# The base, built once in a worktree of its own and kept in the cache.
base_full=$(git rev-parse "$base_rev^{commit}")
if [ "$base_full" = "$(git rev-parse "$v1_rev^{commit}")" ]; then
  base_name=v1
  base_target="$cache/bench-v1"
else
  base_name=$(git rev-parse --short "$base_full")
  base_target="$cache/bench-${base_full:0:12}"
fi
base_bin="$base_target/release/keysvc-check"
if [ ! -x "$base_bin" ] || [ "$(cat "$base_target/built-from" 2>/dev/null)" != "$base_full" ]; then
  echo "== building $base_name ($base_rev) in $base_target"
  base_tree="$work/base"
  git worktree add --detach --quiet "$base_tree" "$base_full"
  (cd "$base_tree" && CARGO_TARGET_DIR="$base_target" cargo build --release --quiet --locked -p keysvc-check --bin keysvc-check)
  echo "$base_full" >"$base_target/built-from"
  git worktree remove --force "$base_tree"
  base_tree=""
fi

if [ -n "${KEYSVC_TESTENV:-}" ]; then
  state="$KEYSVC_TESTENV"
else
  state=$("$testenv" up)
  own_env=1
fi
kubeconfig="$(dirname "$state")/kubeconfig"

# Three healthy regions, each a Deployment with two revisions and $pods ready
# pods (three by default); each pod logged 300 lines over the last 65 minutes (one in 100 an
# ERROR), so the baseline hour before the 5-minute window has lines to read.
regions=(us-south us-east eu-de)
for region in "${regions[@]}"; do
  for pod in $("$testenv" deploy --state "$state" --region "$region" --namespace api --replicas "$pods" 1.4.2 1.4.3); do
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

# Only keys v1 knows; every later version reads the same file.
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
# may; v1 reads neither and runs as the oncall user. A later base runs with
# the same flags as the current version.
evidence=()
for region in "${regions[@]}"; do evidence+=(--context "$region=evidence@$region"); done
base_flags=()
[ "$base_name" = v1 ] || base_flags=("${evidence[@]}")

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

echo "== diagnose -o json, 3 healthy regions x $pods pods, base $base_name ($base_full), $runs runs per version and RTT ($(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%Y-%m-%dT%H:%MZ))"
printf '%-7s %-8s %7s %9s %7s %6s\n' RTT version min_ms median_ms max_ms exit
for rtt in "${rtts[@]}"; do
  kc="$kubeconfig"
  if [ "$rtt" -gt 0 ]; then
    kc="$work/kubeconfig-$rtt"
    "$testenv" proxy --state "$state" --latency-ms "$rtt" --kubeconfig "$kc" >"$work/proxy.out" &
    proxy_pid=$!
    wait_for_line "$work/proxy.out" "proxy kubeconfig"
  fi
  : >"$work/base.times"
  : >"$work/current.times"
  # One unmeasured run each, then alternate so drift hits both alike.
  timed base "$kc" "$base_bin" ${base_flags[@]+"${base_flags[@]}"} >/dev/null
  timed current "$kc" "$bin" "${evidence[@]}" >/dev/null
  for _ in $(seq "$runs"); do
    timed base "$kc" "$base_bin" ${base_flags[@]+"${base_flags[@]}"} >>"$work/base.times"
    timed current "$kc" "$bin" "${evidence[@]}" >>"$work/current.times"
  done
  read -r base_min base_med base_max base_codes < <(stats "$work/base.times")
  read -r cur_min cur_med cur_max cur_codes < <(stats "$work/current.times")
  printf '%-7s %-8s %7s %9s %7s %6s\n' "${rtt}ms" "$base_name" "$base_min" "$base_med" "$base_max" "$base_codes"
  printf '%-7s %-8s %7s %9s %7s %6s\n' "${rtt}ms" current "$cur_min" "$cur_med" "$cur_max" "$cur_codes"
  echo "${rtt}ms    current/$base_name (medians): $(python3 -c "print(f'{$cur_med / $base_med:.2f}')")"
  if [ -n "$proxy_pid" ]; then
    kill "$proxy_pid"
    wait "$proxy_pid" || true
    proxy_pid=""
  fi
done
