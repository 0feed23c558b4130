#!/usr/bin/env bash
# The log reader on loghub's samples: for each system directory given
# (`NAME/NAME_2k.log`, `NAME/NAME_2k.log_structured.csv`), group accuracy
# (GA) of the template miner on the Content column, error-line precision,
# recall and F1 of the format reader on the raw lines against the Level
# column (where the system has one), lines per second (reading and mining,
# one core) and peak RSS. One configuration for every system.
#
#   tests/bench/loghub.sh ../shared/loghub/*/
#
# Error levels in the Level column: ERROR, FATAL, SEVERE, CRITICAL, CRIT,
# EMERG, ALERT, PANIC, E, F (any case); WARN/WARNING are not errors. The
# F1 on the last line pools the lines of every system with a Level column
# (systems without errors count their false positives). Nothing is
# asserted: it prints figures, BENCHMARKS.md records them.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -gt 0 ] || { echo "usage: $0 DIR..." >&2; exit 2; }
cargo build --quiet --release --example loghub
# Ask cargo where it builds: CARGO_TARGET_DIR may be set or rewritten.
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
bin="$target/release/examples/loghub"

rows=$(mktemp)
trap 'rm -f "$rows"' EXIT
for dir in "$@"; do
    "$bin" "${dir%/}" >>"$rows"
done

awk -F'\t' '
function f1(tp, fp, fn) { return (2 * tp + fp + fn) > 0 ? 2 * tp / (2 * tp + fp + fn) : 1 }
BEGIN {
    printf "| %-12s | %5s | %5s | %9s | %5s | %5s | %5s | %6s | %6s | %6s | %10s | %8s |\n", "system", "lines", "GA", "templates", "truth", "TP", "FP", "FN", "P", "R", "lines/s", "peak RSS"
    print "|--------------|-------|-------|-----------|-------|-------|-------|--------|--------|--------|------------|----------|"
}
{
    n++; ga += $3
    if ($6 == "-") { p = r = f = "-" } else {
        m++; tp += $6; fp += $7; fn += $8
        p = ($6 + $7) > 0 ? sprintf("%.3f", $6 / ($6 + $7)) : "-"
        r = ($6 + $8) > 0 ? sprintf("%.3f", $6 / ($6 + $8)) : "-"
        f = sprintf("%.3f", f1($6, $7, $8))
    }
    printf "| %-12s | %5d | %.3f | %9d | %5d | %5s | %5s | %6s | %6s | %6s | %10d | %5.1f MiB |\n", $1, $2, $3, $4, $5, $6, $7, $8, p, r, $9, $10 / 1024
}
END {
    if (n == 0) exit 1
    printf "pooled over %d systems with levels: TP %d, FP %d, FN %d, precision %.3f, recall %.3f\n", m, tp, fp, fn, (tp + fp) ? tp / (tp + fp) : 0, (tp + fn) ? tp / (tp + fn) : 0
    printf "loghub: %d systems, GA average %.3f, error-line F1 %.3f (%d systems with levels)\n", n, ga / n, f1(tp, fp, fn), m
}' "$rows"
