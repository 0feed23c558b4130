#!/usr/bin/env bash
# The runbook "Key Service API is down" done by hand, as the on-call engineer
# types it: curl the healthz URL, then one region after the other, list the
# service's pods and read the last five minutes of their logs with kubectl.
# What `diagnose` is measured against (tests/bench/diagnose.sh); prints what
# curl and kubectl print, nothing else.
#
# Usage: tests/bench/manual-runbook.sh KUBECONFIG HEALTHZ_URL CONTEXT...
set -uo pipefail
if [ $# -lt 3 ]; then
  echo "usage: $0 KUBECONFIG HEALTHZ_URL CONTEXT..." >&2
  exit 64
fi
kubeconfig=$1
url=$2
shift 2

# Step 1: the healthz URL.
curl -sS --max-time 10 "$url"
echo
# Steps 2 and 3, region by region ("configure kubectl for a region, one at a time").
for context in "$@"; do
  echo "== $context"
  kubectl --kubeconfig "$kubeconfig" --context "$context" get po -n api -l app=api-key-service
  kubectl --kubeconfig "$kubeconfig" --context "$context" logs -n api -l app=api-key-service -c api-key-service \
    --since=5m --prefix --tail=-1
done
