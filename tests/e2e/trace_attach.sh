#!/usr/bin/env bash
# llminstr-trace -p on two running llm_decode processes at once (one with
# CUDA graphs), attached before their first launch through --wait-file:
# kernel names (registered before the attach, so named from the ELF),
# launches, copies per direction and memsets equal the sum of both --truth
# files exactly. Then SIGTERM in the middle of a trace: a full summary,
# valid JSON, exit 0, and the launches the workload made while traced (it is
# released once the tracer has attached, and the tracer is stopped once the
# workload has decoded a token: no step depends on the machine's speed).
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
T=build/bin/llminstr-trace W=build/bin/llm_decode PY=/usr/bin/python3
need_bpf
[ -x $T ] || { echo "SKIP: $T not built"; exit 77; }
[ -x $W ] || { echo "SKIP: $W not built yet"; exit 77; }
tmp=$(mktemp -d); pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$tmp"' EXIT
rc=0

$W -q --tokens 40 --layers 2 --wait-file "$tmp/go" --truth "$tmp/w1.json" 2>"$tmp/w1.err" & p1=$!
$W -q --tokens 30 --layers 3 --graphs --wait-file "$tmp/go" --truth "$tmp/w2.json" 2>"$tmp/w2.err" & p2=$!
pids=($p1 $p2)
# set up (CUDA libraries mapped, kernels registered), not yet decoding
wait_line "$tmp/w1.err" "waiting for" $p1 || exit 1
wait_line "$tmp/w2.err" "waiting for" $p2 || exit 1
timeout 300 $T -p $p1,$p2 --json "$tmp/t.json" >"$tmp/out" 2>&1 & tp=$!
pids+=($tp)
wait_line "$tmp/out" "tracing" $tp || exit 1
touch "$tmp/go"
wait $p1 $p2
if ! wait $tp; then cat "$tmp/out"; echo "FAIL: tracer exited non-zero"; exit 1; fi
grep -q "ended by targets exited" "$tmp/out" || { cat "$tmp/out"; echo "FAIL: no end on exit"; rc=1; }
$PY - "$tmp/t.json" "$tmp/w1.json" "$tmp/w2.json" <<'PY' || rc=1
import json, sys
from collections import Counter
t = json.load(open(sys.argv[1])); ws = [json.load(open(p)) for p in sys.argv[2:]]
bad = []
want = Counter()
for w in ws: want.update(w["kernels"])
got = {k["name"]: k["launches"] for k in t["kernels"]}
if got != dict(want): bad.append(f"kernels {got} != {dict(want)}")
n = sum(w["launches"] for w in ws)
if t["launches"] != n: bad.append(f"launches {t['launches']} != {n}")
for d in ("h2d", "d2h", "d2d"):
    v = {"calls": sum(w["memcpy"][d]["calls"] for w in ws), "bytes": sum(w["memcpy"][d]["bytes"] for w in ws)}
    if t["memcpy"][d] != v: bad.append(f"memcpy {d} {t['memcpy'][d]} != {v}")
if len(t["targets"]) != 2: bad.append("not two targets")
g = sum(w["graphs"]["launches"] for w in ws)
if t["graphs"]["launches"] != g: bad.append(f"graph launches {t['graphs']['launches']} != {g}")
print("\n".join(bad) or "two pids: counts equal the truth")
sys.exit(1 if bad else 0)
PY

# SIGTERM mid-trace: the workload decodes far longer than the test lasts
# (its first token alone clears a ~410 MB KV cache), and is released only
# once the tracer is attached; the tracer is stopped once a token is out.
$W -q --tokens 100000 --layers 2 --wait-file "$tmp/go3" 2>"$tmp/w3.err" & p3=$!
pids+=($p3)
wait_line "$tmp/w3.err" "waiting for" $p3 || exit 1
timeout 300 $T -p $p3 --json "$tmp/s.json" --perfetto "$tmp/p.json" >"$tmp/out2" 2>&1 & tp=$!
pids+=($tp)
wait_line "$tmp/out2" "tracing" $tp || exit 1
touch "$tmp/go3"
wait_line "$tmp/w3.err" "decoding" $p3 || exit 1
kill -TERM $tp
if ! wait $tp; then cat "$tmp/out2"; echo "FAIL: SIGTERM gave a non-zero exit"; rc=1; fi
kill $p3 2>/dev/null
grep -q "ended by SIGTERM" "$tmp/out2" && grep -q "Top kernels" "$tmp/out2" ||
	{ cat "$tmp/out2"; echo "FAIL: no full summary after SIGTERM"; rc=1; }
$PY -m json.tool "$tmp/s.json" >/dev/null || { echo "FAIL: --json is not valid JSON"; rc=1; }
$PY -m json.tool "$tmp/p.json" >/dev/null || { echo "FAIL: --perfetto is not valid JSON"; rc=1; }
$PY - "$tmp/s.json" "$tmp/p.json" <<'PY' || rc=1
import json, sys
s = json.load(open(sys.argv[1])); p = json.load(open(sys.argv[2]))
ev = p["traceEvents"]
ok = s["launches"] > 0 and any(e["cat"] == "launch" for e in ev) and all("ts" in e and "tid" in e for e in ev)
print("SIGTERM: summary, JSON and timeline valid" if ok else "FAIL: empty trace after SIGTERM")
sys.exit(0 if ok else 1)
PY
exit $rc
