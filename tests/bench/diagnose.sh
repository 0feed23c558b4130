#!/usr/bin/env bash
# How long `diagnose` takes next to the runbook done by hand, and how it
# scales. Prints figures; nothing is asserted on time.
#
#  1. `diagnose -o json` and tests/bench/manual-runbook.sh (curl, then per
#     region `kubectl get po` and `kubectl logs -l … --since=5m`) side by side,
#     RUNS alternating runs each, at 0, 50 and 200 ms round-trip time per
#     region (`keysvc-testenv proxy --latency-ms`), 3 regions x 3 pods;
#  2. at 200 ms, `diagnose` of every region next to `diagnose --region` of
#     the slowest one alone (the floor a run of all regions can reach);
#  3. at 200 ms, the scale: 3 regions x 3 pods, 3 x 20 and 30 x 20 (30
#     regions, each a cluster of its own in the kubeconfig behind its own
#     proxy, ten to each of the three API servers), with the peak RSS.
# Every pod logged 300 lines over the last 65 minutes (one in 100 an ERROR),
# so each has a 5-minute window and an hour of baseline to read; `diagnose`
# runs as `evidence@REGION` (events, ReplicaSets and the Deployment too).
#
# Usage: tests/bench/diagnose.sh [RUNS] [EXTRA DIAGNOSE ARGS...]  (default 10 runs)
# With KEYSVC_TESTENV set, uses that environment (it redeploys namespace `api`
# in every region, and puts it back to three healthy pods at the end);
# otherwise brings one up and down. KEYSVC_BIN runs another
# keysvc-check binary (e.g. an older build, for before/after figures).
set -euo pipefail
cd "$(dirname "$0")/../.."
runs="${1:-10}"
[ $# -eq 0 ] || shift
extra=("$@")

bash tests/cluster/build-apiserver.sh
command -v /usr/bin/time >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null; }
command -v kubectl >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kubernetes-client >/dev/null; }
cargo build --workspace --release --quiet
# Ask cargo where it builds: CARGO_TARGET_DIR may be set or rewritten.
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
bin="${KEYSVC_BIN:-$target/release/keysvc-check}"
testenv="$target/release/keysvc-testenv"
manual="$PWD/tests/bench/manual-runbook.sh"

work=$(mktemp -d)
state=""
own_env=""
proxy_pid=""
cleanup() {
  [ -z "$proxy_pid" ] || kill "$proxy_pid" 2>/dev/null || true
  if [ -n "$own_env" ]; then
    "$testenv" down --state "$state"
    rm -rf "$(dirname "$state")"
  elif [ -n "$state" ]; then
    # Leave namespace `api` as the environment seeds it (three healthy
    # pods), which its own checks expect.
    for region in us-south us-east eu-de; do
      "$testenv" scenario --state "$state" --region "$region" --namespace api healthy >/dev/null || true
    done
  fi
  rm -rf "$work"
}
trap cleanup EXIT

if [ -n "${KEYSVC_TESTENV:-}" ]; then
  state="$KEYSVC_TESTENV"
else
  state=$("$testenv" up)
  own_env=1
fi
kubeconfig="$(dirname "$state")/kubeconfig"
regions=(us-south us-east eu-de)

# Each region a Deployment with two revisions and REPLICAS ready pods, each
# pod with an hour and five minutes of logs.
deploy() { # REPLICAS
  local region pod
  for region in "${regions[@]}"; do
    for pod in $("$testenv" deploy --state "$state" --region "$region" --namespace api --replicas "$1" 1.4.2 1.4.3); do
      "$testenv" logs --state "$state" --region "$region" --namespace api --pod "$pod" \
        --count 300 --span-secs 3900 --error-every 100
    done
  done
}

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

runbook() { # FILE REGION...
  local file=$1 r
  shift
  {
    echo "service: Key Service API"
    echo "namespace: api"
    echo "selector: app=api-key-service"
    echo "container: api-key-service"
    echo "environments:"
    echo "  bench:"
    echo "    healthz_url: $healthz"
    echo "    regions:"
    for r in "$@"; do echo "      $r: { context: evidence@$r }"; done
  } >"$file"
}
runbook "$work/rb3.yaml" "${regions[@]}"
many=()
for i in $(seq 0 29); do many+=("$(printf 'r%02d' "$i")"); done
runbook "$work/rb30.yaml" "${many[@]}"

# CPU time (ms, user and system) used so far by the environment's processes:
# the API servers, etcd, the kubelet stand-ins and the proxies, each of which
# names a file of the environment's directory on its command line.
env_cpu_ms() {
  local dir pid total=0 ticks
  dir=$(dirname "$state")
  for pid in $(pgrep -f -- "$dir" || true); do
    ticks=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null) || continue
    total=$((total + ticks))
  done
  echo $((total * 1000 / $(getconf CLK_TCK)))
}

# One timed run: "ms peak_rss_kib exit cpu_ms env_cpu_ms" on stdout (the CPU
# time of the command, and of the environment while it ran).
timed() { # OUT CMD...
  local out=$1 start code=0 env_before
  shift
  env_before=$(env_cpu_ms)
  start=$(date +%s%N)
  /usr/bin/time -f '%M %U %S' -o "$work/rss" "$@" >"$out" 2>"$out.err" || code=$?
  local ms=$(( ($(date +%s%N) - start) / 1000000 )) rss user sys
  read -r rss user sys < <(tail -n1 "$work/rss")
  echo "$ms $rss $code $(python3 -c "print(round(($user + $sys) * 1000))") $(( $(env_cpu_ms) - env_before ))"
}
diagnose() { # KUBECONFIG RUNBOOK ARGS...
  local kc=$1 rb=$2
  shift 2
  timed "$work/diagnose.json" "$bin" diagnose --env bench --runbook "$rb" --kubeconfig "$kc" -o json "${extra[@]}" "$@"
}
by_hand() { # KUBECONFIG CONTEXT...
  local kc=$1
  shift
  timed "$work/manual.out" "$manual" "$kc" "$healthz" "$@"
}

stats() { # FILE: timed's lines -> "min median max peak_rss_mib codes cpu_ms env_cpu_ms" (CPU: medians)
  python3 - "$1" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
ms = sorted(int(r[0]) for r in rows)
rss = max(int(r[1]) for r in rows) / 1024
codes = ",".join(sorted({r[2] for r in rows}))
cpu = int(statistics.median(int(r[3]) for r in rows))
env = int(statistics.median(int(r[4]) for r in rows))
print(min(ms), int(statistics.median(ms)), max(ms), f"{rss:.1f}", codes, cpu, env)
PY
}
row() { # LABEL FILE
  local min med max rss codes cpu env
  read -r min med max rss codes cpu env < <(stats "$2")
  printf '%-34s %7s %9s %7s %9s %5s %7s %11s\n' "$1" "$min" "$med" "$max" "$rss" "$codes" "$cpu" "$env"
}
header() {
  printf '%-34s %7s %9s %7s %9s %5s %7s %11s\n' "" min_ms median_ms max_ms rss_mib exit cpu_ms env_cpu_ms
}

start_proxy() { # RTT_MS [REGIONS] -> sets $proxy_kc
  stop_proxy
  proxy_kc="$work/kubeconfig-$1-${2:-3}"
  local more=()
  [ -z "${2:-}" ] || more=(--regions "$2")
  "$testenv" proxy --state "$state" --latency-ms "$1" --kubeconfig "$proxy_kc" "${more[@]}" >"$work/proxy.out" &
  proxy_pid=$!
  wait_for_line "$work/proxy.out" "proxy kubeconfig"
}
stop_proxy() {
  if [ -n "$proxy_pid" ]; then
    kill "$proxy_pid"
    wait "$proxy_pid" || true
    proxy_pid=""
  fi
}

contexts=()
for r in "${regions[@]}"; do contexts+=("evidence@$r"); done

echo "== keysvc-check diagnose vs the runbook by hand (curl + kubectl), 3 regions x 3 pods, $runs runs each"
echo "   $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ), load average $(cut -d' ' -f1-3 /proc/loadavg)"
deploy 3
header
for rtt in 0 50 200; do
  kc="$kubeconfig"
  if [ "$rtt" -gt 0 ]; then
    start_proxy "$rtt"
    kc="$proxy_kc"
  fi
  : >"$work/d.times"
  : >"$work/m.times"
  # One unmeasured run each (kubectl's discovery cache is warm, as on an
  # engineer's laptop), then alternate so drift hits both alike.
  diagnose "$kc" "$work/rb3.yaml" >/dev/null
  by_hand "$kc" "${contexts[@]}" >/dev/null
  for _ in $(seq "$runs"); do
    diagnose "$kc" "$work/rb3.yaml" >>"$work/d.times"
    by_hand "$kc" "${contexts[@]}" >>"$work/m.times"
  done
  row "${rtt} ms  diagnose" "$work/d.times"
  row "${rtt} ms  by hand" "$work/m.times"
  if [ "$rtt" -eq 200 ]; then
    # The slowest region of the last run, then it alone.
    slowest=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["regions"]; print(max(r, key=lambda x: x["duration_ms"])["name"])' "$work/diagnose.json")
    : >"$work/one.times"
    for _ in $(seq "$runs"); do
      diagnose "$kc" "$work/rb3.yaml" --region "$slowest" >>"$work/one.times"
    done
    row "${rtt} ms  diagnose --region $slowest" "$work/one.times"
  fi
  stop_proxy
done

echo
echo "== scale at 200 ms per region, $runs runs each"
header
scale() { # LABEL KUBECONFIG RUNBOOK
  : >"$work/s.times"
  diagnose "$2" "$3" >/dev/null
  for _ in $(seq "$runs"); do
    diagnose "$2" "$3" >>"$work/s.times"
  done
  row "$1" "$work/s.times"
}
start_proxy 200
scale "3 regions x 3 pods" "$proxy_kc" "$work/rb3.yaml"
deploy 20
scale "3 regions x 20 pods" "$proxy_kc" "$work/rb3.yaml"
start_proxy 200 30
scale "30 regions x 20 pods" "$proxy_kc" "$work/rb30.yaml"
stop_proxy
python3 - "$work/diagnose.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
pods = sum(len((r.get("logs") or {}).get("pods") or []) for r in j["regions"])
verdicts = sorted({r["verdict"] for r in j["regions"]})
print(f"   last 30-region run: {len(j['regions'])} regions, {pods} pods' logs read, verdicts {', '.join(verdicts)}")
PY
