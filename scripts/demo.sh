#!/usr/bin/env bash
# make demo: trace the built-in transformer decode workload on the CPU
# stand-in CUDA runtime, print the tracer's summary, and leave the JSON
# summary, the Perfetto timeline and the workload's own account of what it
# did in build/demo/. Needs root (BPF uprobes).
set -euo pipefail
cd "$(dirname "$0")/.."
out=build/demo
mkdir -p "$out"

if [ "$(id -u)" -ne 0 ]; then
	echo "demo: BPF uprobes need root; run 'sudo make demo'" >&2
	exit 1
fi

echo "demo: tracing build/bin/llm_decode on the CPU stand-in CUDA runtime (CPU figures)"
build/bin/llminstr-trace --json "$out/summary.json" --perfetto "$out/timeline.json" \
	-- build/bin/llm_decode -q --truth "$out/truth.json" "$@"

echo
echo "demo: the workload's own count (build/demo/truth.json) against the tracer's:"
/usr/bin/python3 - "$out/truth.json" "$out/summary.json" <<'PY'
import json, sys
truth = json.load(open(sys.argv[1]))
summ = json.load(open(sys.argv[2]))
seen = {k["name"]: k["launches"] for k in summ["kernels"]}
bad = 0
for name, n in sorted(truth["kernels"].items()):
    mark = "ok" if seen.get(name) == n else "MISMATCH"
    bad += mark != "ok"
    print(f"  {name:<40} truth {n:>7}  traced {seen.get(name, 0):>7}  {mark}")
print(f"  tokens/s (CPU stand-in, traced): {truth['tokens_per_s']:.1f}")
sys.exit(1 if bad else 0)
PY
echo
echo "demo: wrote $out/summary.json, $out/timeline.json (open in ui.perfetto.dev), $out/truth.json"
