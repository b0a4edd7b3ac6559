#!/usr/bin/env bash
# Turns the JSON that scripts/run_benchmarks.sh kept in build/bench/results/
# into one Markdown report (build/bench/report.md): per benchmark, the
# machine it ran on and every summary figure, so README's performance
# section can be checked against what a run printed.
#
#   scripts/generate_reports.sh [RESULTS_DIR] [OUT.md]
set -euo pipefail
cd "$(dirname "$0")/.."
res=${1:-build/bench/results}
out=${2:-build/bench/report.md}
ls "$res"/*.json >/dev/null 2>&1 || { echo "generate_reports: no results in $res; run 'make bench' first" >&2; exit 1; }

python3 - "$res" "$out" <<'PY'
import glob, json, os, sys
res, out = sys.argv[1], sys.argv[2]
lines = ["# llminstr benchmark report", ""]
for path in sorted(glob.glob(os.path.join(res, "*.json"))):
    try:
        doc = json.load(open(path))
    except (OSError, ValueError) as e:
        lines += [f"## {os.path.basename(path)}", "", f"unreadable: {e}", ""]
        continue
    lines += [f"## {doc.get('benchmark', os.path.basename(path))}", ""]
    env = doc.get("env", {})
    if env:
        lines.append("Ran on: " + ", ".join(f"{k}={v}" for k, v in env.items()
                                            if not isinstance(v, (dict, list))))
        lines.append("")
    lines += ["| figure | value |", "| --- | --- |"]
    def walk(prefix, v):
        if isinstance(v, dict):
            for k, x in v.items():
                walk(f"{prefix}.{k}" if prefix else k, x)
        else:
            if isinstance(v, float):
                v = f"{v:.4g}"
            lines.append(f"| {prefix} | {v} |")
    walk("", doc.get("summary", {}))
    lines += ["", f"{len(doc.get('cases', []))} cases in {path}", ""]
open(out, "w").write("\n".join(lines) + "\n")
print(f"generate_reports: wrote {out}")
PY
