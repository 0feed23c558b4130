#!/usr/bin/env bash
# Benchmarks keysvc-check on the local three-region environment and prints
# figures (nothing is asserted on time):
#  - `diagnose` wall time over repeated runs on healthy regions;
#  - reading 10 million log lines from one pod: wall time, lines per second,
#    and the process's peak memory (it must stay flat: lines are streamed);
#  - `diagnose` of this version against v1 at 0 and 200 ms round-trip time
#    (tests/bench/rtt.sh, RUNS runs each).
# Usage: tests/bench/run.sh [LINES] [RUNS]   (default 10000000 and 10)
set -euo pipefail
cd "$(dirname "$0")/../.."
lines="${1:-10000000}"
runs="${2:-10}"

bash tests/cluster/build-apiserver.sh
command -v /usr/bin/time >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null; }
cargo build --workspace --release --quiet
# Ask cargo where it builds: CARGO_TARGET_DIR may be set or rewritten.
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
bin="$target/release/keysvc-check"
testenv="$target/release/keysvc-testenv"

state=$("$testenv" up)
trap '"$testenv" down --state "$state"; rm -rf "$(dirname "$state")"' EXIT
kubeconfig="$(dirname "$state")/kubeconfig"
work=$(mktemp -d)
trap '"$testenv" down --state "$state"; rm -rf "$(dirname "$state")" "$work"' EXIT

cat >"$work/rb.yaml" <<YAML
service: Key Service API
namespace: api
selector: app=api-key-service
container: api-key-service
environments:
  bench:
    healthz_url: http://127.0.0.1:9/healthz
    regions:
      us-south: { context: oncall@us-south }
      us-east: { context: oncall@us-east }
      eu-de: { context: oncall@eu-de }
YAML
run() { local cmd=$1; shift; "$bin" "$cmd" --env bench --runbook "$work/rb.yaml" --kubeconfig "$kubeconfig" "$@"; }

echo "== diagnose, 3 healthy regions (20 runs)"
times=()
for _ in $(seq 20); do
  start=$(date +%s%N)
  run diagnose -o json >/dev/null || true
  times+=($(( ($(date +%s%N) - start) / 1000000 )))
done
sorted=$(printf '%s\n' "${times[@]}" | sort -n)
echo "diagnose wall time: median $(echo "$sorted" | sed -n 10p) ms, max $(echo "$sorted" | tail -n1) ms"

echo "== logs: $lines lines from one pod"
# Not `head`: it may close the pipe while the other pod names are printed.
pod=$("$testenv" scenario --state "$state" --region us-east --namespace api healthy | sed -n 1p)
"$testenv" logs --state "$state" --region us-east --namespace api --pod "$pod" --count "$lines" --error-every 1000
/usr/bin/time -f '%e %M' -o "$work/time" "$bin" --runbook "$work/rb.yaml" --kubeconfig "$kubeconfig" \
  logs --env bench --region us-east -o json --timeout 30m >"$work/report.json" || true
read -r secs rss_kb < <(tail -n1 "$work/time")
counted=$(python3 -c "import json,sys; r=json.load(open('$work/report.json')); print(sum(p['lines'] for p in r['regions'][0]['logs']['pods']))")
errors=$(python3 -c "import json,sys; r=json.load(open('$work/report.json')); print(r['regions'][0]['logs']['error_lines'])")
echo "lines read: $counted (error lines: $errors) in ${secs}s = $(python3 -c "print(int($counted/max($secs,0.001)))") lines/s"
echo "peak memory (max RSS): $((rss_kb / 1024)) MiB"

echo "== diagnose, this version against v1, with and without latency"
KEYSVC_TESTENV="$state" bash tests/bench/rtt.sh "$runs" 0 200
