#!/usr/bin/env bash
# llminstr-trace on build/bin/llm_decode (CPU stand-in runtime), started with
# "-- CMD": every kernel count, the launch total, memset and the decode-loop
# copies equal what the workload says it did (--truth), in events mode, in -T
# and with CUDA graphs (replays expanded). Set-up uploads (synchronous
# cudaMemcpy of the weights) happen before the truth starts counting, so h2d
# is checked as at least the truth here and exactly in trace_attach.sh.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
T=build/bin/llminstr-trace W=build/bin/llm_decode PY=/usr/bin/python3
need_bpf
[ -x $T ] || { echo "SKIP: $T not built"; exit 77; }
[ -x $W ] || { echo "SKIP: $W not built yet"; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

check() {	# trace.json truth.json h2d_exact
	$PY scripts/trace_vs_truth.py "$@"
}

rc=0
for mode in "" "-T" "--graphs" "-T --graphs"; do
	topt= wopt=
	case $mode in *-T*) topt=-T ;; esac
	case $mode in *--graphs*) wopt=--graphs ;; esac
	echo "== llminstr-trace $topt -- llm_decode $wopt"
	popt=
	[ -z "$topt" ] && popt="--perfetto $tmp/p.json"
	if ! timeout 60 $T --force $topt $popt --json "$tmp/t.json" -- $W -q --tokens 48 --layers 3 $wopt \
		--truth "$tmp/w.json" >"$tmp/out" 2>&1; then
		cat "$tmp/out"; echo "FAIL: tracer exited non-zero"; rc=1; continue
	fi
	grep -q "Top kernels" "$tmp/out" || { cat "$tmp/out"; echo "FAIL: no summary"; rc=1; }
	check "$tmp/t.json" "$tmp/w.json" 0 || rc=1
	[ -n "$popt" ] || continue
	# the timeline: one slice per executed launch, replays marked as such
	$PY - "$tmp/p.json" "$tmp/w.json" <<'PY' || rc=1
import json, sys
p = json.load(open(sys.argv[1])); w = json.load(open(sys.argv[2]))
ev = p["traceEvents"]
run = sum(1 for e in ev if e["cat"] in ("launch", "launch,replay"))
rep = sum(1 for e in ev if e["cat"] == "launch,replay" and e["args"].get("replay"))
want_rep = w["launches"] if w.get("graphs", {}).get("launches") else 0
ok = run == w["launches"] and rep == want_rep and len({e["tid"] for e in ev}) >= 1
print(f"timeline: {run} launch slices, {rep} replayed" + ("" if ok else f" (want {w['launches']}, {want_rep})"))
sys.exit(0 if ok else 1)
PY
done
exit $rc
