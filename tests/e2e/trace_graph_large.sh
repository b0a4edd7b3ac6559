#!/usr/bin/env bash
# A CUDA graph of more kernels than any fixed bound (llm_decode --graphs with
# 40 layers: 483 kernels a replay) is expanded whole, every time, in every
# output: the summary counts (--json), the --perfetto timeline and the -o
# container's timeline (redrawn by llminstr-dump perfetto) each hold one
# replayed launch per captured kernel per cudaGraphLaunch, as the workload's
# --truth says. A cut replay would show as missing slices, nowhere else.
set -u
cd "$(dirname "$0")/../.."
T=build/bin/llminstr-trace D=build/bin/llminstr-dump W=build/bin/llm_decode PY=/usr/bin/python3
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root for BPF"; exit 77; }
for b in $T $D $W; do [ -x $b ] || { echo "SKIP: $b not built"; exit 77; }; done
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

timeout 120 $T --json "$tmp/t.json" --perfetto "$tmp/p.json" -o "$tmp/o.llmi" -- \
	$W -q --graphs --layers 40 --hidden 64 --heads 2 --ffn 128 --vocab 256 --tokens 6 \
	--truth "$tmp/w.json" >"$tmp/out" 2>&1 ||
	{ cat "$tmp/out"; echo "FAIL: tracer exited non-zero"; exit 1; }
timeout 60 $D perfetto "$tmp/o.llmi" -o "$tmp/d.json" >"$tmp/dout" 2>&1 ||
	{ cat "$tmp/dout"; echo "FAIL: llminstr-dump perfetto failed"; exit 1; }
$PY - "$tmp/w.json" "$tmp/t.json" "$tmp/p.json" "$tmp/d.json" <<'PY'
import json, sys
w, t, p, d = (json.load(open(f)) for f in sys.argv[1:])
per, n = w["graphs"]["kernels_per_launch"], w["graphs"]["launches"]
bad = []
if per <= 256: bad.append(f"the graph has only {per} kernels: not a large graph")
got = {k["name"]: k["launches"] for k in t["kernels"]}
if got != w["kernels"]: bad.append(f"--json kernels {got} != {w['kernels']}")
for name, tl in (("--perfetto", p), ("-o, redrawn", d)):
    ev = tl["traceEvents"]
    rep = sum(1 for e in ev if e.get("cat") == "launch,replay")
    if rep != per * n: bad.append(f"{name}: {rep} replayed launches, want {per} x {n} = {per * n}")
print("\n".join(bad) or f"{n} replays of a {per}-kernel graph: {per * n} replayed launches in "
      "--json, --perfetto and the container")
sys.exit(1 if bad else 0)
PY
