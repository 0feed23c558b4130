#!/usr/bin/env python3
"""Compares two report dumps (KEYSVC_REPORT_DUMP=DIR, see tests/common/dump.rs).

    tests/bench/compare-reports.py BEFORE_DIR AFTER_DIR

Every file of either directory is compared with its namesake in the other,
after what changes from run to run is taken out: times and durations
(`*_ms`, `*_secs_ago`, `generated_at`…, RFC 3339 times, "38 ms", "4m ago",
ages such as "12m" or "3h4m", a baseline's rate, which follows its span),
temporary paths, ports, the random part of the test environment's pod names,
generated log lines' request numbers, and which words say that a step was cut
by the deadline (the request's own timeout and the run's deadline race). Prints each file that differs, or is in
one directory only, with a diff of the normalised text; exits 1 if any,
0 if none. Standard library only.
"""

import difflib
import json
import re
import sys
from pathlib import Path

# JSON keys whose values are times or durations, whatever their value.
TIME_KEY = re.compile(
    r"(^|_)(ms|secs_ago|at|since|age_secs|span_secs|baseline_secs|elapsed|duration|latency|baseline_rate_per_min)$"
)

# Text that changes from run to run, most specific first.
SUBSTITUTIONS = [
    # A step cut by the deadline says so in the words of whichever of the
    # request's timeout and the run's deadline came first: a race.
    (re.compile(r"\b(?:listing|getting) [a-z]+(?: [a-z]+)? did not finish before the deadline"), "<timed out>"),
    (re.compile(r"\bno answer before the deadline \(--timeout\)"), "<timed out>"),
    (re.compile(r"(?<!<)\btimed out\b(?!>)"), "<timed out>"),
    # Generated log lines are numbered by the time they are read.
    (re.compile(r"\brequest_id=req-\d+"), "request_id=req-<n>"),
    # RFC 3339 times, with or without fractions and offset.
    (re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?"), "<time>"),
    # Clock times (a watch line's "12:03:04").
    (re.compile(r"\b\d\d:\d\d:\d\d\b"), "<clock>"),
    # Temporary files and directories.
    (re.compile(r"/tmp/[^\s\"'`,)]*"), "<tmp>"),
    # Ports of local servers (healthz stand-ins, proxies, API servers).
    (re.compile(r"\b(127\.0\.0\.1|localhost|\[::1\]|0\.0\.0\.0):\d+"), r"\1:<port>"),
    (re.compile(r"(--kubeconfig[ =]\S*kubeconfig-)\d+"), r"\1<n>"),
    # The random part of a scenario's ReplicaSet name (api-key-service-5f6d8XXXXX-…).
    (re.compile(r"\b5f6d8[bcdfghjklmnpqrstvwxz2456789]{5}\b"), "5f6d8<rs>"),
    # Durations in milliseconds or less: "38 ms", "1.2ms", "250µs".
    (re.compile(r"\b\d+(?:\.\d+)?\s?(?:ms|µs|us|ns)\b"), "<ms>"),
    # Ages: "3s ago", "4m ago", "1h2m ago", "2 minutes ago".
    (re.compile(r"\b\d+(?:\.\d+)?\s?(?:[smhd]|sec|secs|seconds?|minutes?|hours?|days?)(?:\s?\d+\s?[smhd])*\s+ago\b"), "<age> ago"),
    # kubectl-style ages on their own: "12m", "3h4m", "45s", "2d3h" (and with "(…)").
    (re.compile(r"(?<![\w=.\-/:])\d+[smhd](?:\d+[smh])?(?![\w/])"), "<age>"),
    # Durations with a fraction of a second: "1.234s".
    (re.compile(r"\b\d+\.\d+s\b"), "<dur>"),
]


def normalise_text(text):
    for pattern, replacement in SUBSTITUTIONS:
        text = pattern.sub(replacement, text)
    return text


def normalise_json(value, key=""):
    if TIME_KEY.search(key) and not isinstance(value, (dict, list)):
        return value if value is None else "<t>"
    if isinstance(value, dict):
        return {k: normalise_json(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise_json(v) for v in value]
    if isinstance(value, str):
        return normalise_text(value)
    return value


def normalised(path):
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix == ".json":
        try:
            doc = json.loads(text)
        except ValueError:
            return normalise_text(text).splitlines()
        return json.dumps(normalise_json(doc), indent=2, ensure_ascii=False, sort_keys=False).splitlines()
    return normalise_text(text).splitlines()


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    before, after = Path(argv[1]), Path(argv[2])
    for d in (before, after):
        if not d.is_dir():
            print(f"compare-reports: {d}: not a directory", file=sys.stderr)
            return 2
    names = sorted({p.name for p in before.iterdir() if p.is_file()} | {p.name for p in after.iterdir() if p.is_file()})
    differ = 0
    for name in names:
        a, b = before / name, after / name
        if not a.exists() or not b.exists():
            differ += 1
            print(f"only in {after if b.exists() else before}: {name}")
            continue
        la, lb = normalised(a), normalised(b)
        if la != lb:
            differ += 1
            print(f"differs: {name}")
            for line in difflib.unified_diff(la, lb, str(a), str(b), lineterm="", n=2):
                print(f"  {line}")
    print(f"compare-reports: {len(names)} files, {differ} differ", file=sys.stderr)
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
