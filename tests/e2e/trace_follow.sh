#!/usr/bin/env bash
# llminstr-trace -- CMD follows CMD's descendants that load CUDA (a launcher
# or server whose GPU work runs in worker processes): a shell starts two
# llm_decode workers and a process that never touches CUDA; both workers are
# traced (the shell and the other process are not targets) and, attached
# before their first timed launch (--wait-file), every kernel count, the
# launches and the decode-loop copies equal the sum of their --truth files,
# in events mode and -T; the same with -f -p on a running shell. With
# --no-follow only the shell is traced. Every step waits for what it needs
# (the tracer following both workers, the workers set up), never a set time.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
T=build/bin/llminstr-trace W=build/bin/llm_decode PY=/usr/bin/python3
need_bpf
[ -x $T ] || { echo "SKIP: $T not built"; exit 77; }
[ -x $W ] || { echo "SKIP: $W not built yet"; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
# Under ASan the workers check for leaks as they exit by cloning a task that
# shares their memory (LeakSanitizer's StopTheWorld): a process that maps
# CUDA, which the tracer may catch and follow as a third worker. Leaks are
# checked by the other tests that run llm_decode; not here.
cat >"$tmp/launch.sh" <<SH
export ASAN_OPTIONS=\${ASAN_OPTIONS:-}:detect_leaks=0
$PWD/$W -q --tokens 24 --layers 2 --wait-file $tmp/go --truth $tmp/w1.json &
$PWD/$W -q --tokens 16 --layers 3 --wait-file $tmp/go --truth $tmp/w2.json &
(until [ -e $tmp/go ]; do sleep 0.05; done) &
wait
SH
# workers the tracer has said it follows (0 before its output exists)
followed() {
	local c
	c=$(grep -c 'following pid' "$tmp/out" 2>/dev/null)
	echo "${c:-0}"
}
# both workers followed, or the tracer gone (its output then says why)
follows_both() {
	[ "$(followed)" -ge 2 ] || ! kill -0 "$1" 2>/dev/null
}
rc=0
for mode in "" -T; do
	rm -f "$tmp/go" "$tmp/w1.json" "$tmp/w2.json"
	timeout 300 $T --force $mode --json "$tmp/t.json" -- bash "$tmp/launch.sh" >"$tmp/out" 2>&1 & tp=$!
	wait_for "the tracer following both workers" follows_both $tp ||
		echo "(the tracer follows $(followed) of the 2 workers)"
	touch "$tmp/go"
	wait $tp || { cat "$tmp/out"; echo "FAIL: tracer exited non-zero (${mode:-events})"; rc=1; continue; }
	$PY - "$tmp/t.json" "$tmp/w1.json" "$tmp/w2.json" "${mode:-events}" <<'PY' || { cat "$tmp/out"; rc=1; }
import json, sys
t = json.load(open(sys.argv[1])); w = [json.load(open(f)) for f in sys.argv[2:4]]
bad = []
kern = {}
for x in w:
    for k, v in x["kernels"].items(): kern[k] = kern.get(k, 0) + v
got = {k["name"]: k["launches"] for k in t["kernels"]}
if got != kern: bad.append(f"kernels {got} != {kern}")
if t["launches"] != sum(x["launches"] for x in w): bad.append("launches differ")
for d in ("d2h", "d2d"):
    want = {"calls": sum(x["memcpy"][d]["calls"] for x in w), "bytes": sum(x["memcpy"][d]["bytes"] for x in w)}
    g = {k: t["memcpy"][d][k] for k in ("calls", "bytes")}
    if g != want: bad.append(f"{d} {g} != {want}")
cuda = [x for x in t["targets"] if x["libs"]]
if len(cuda) != 2: bad.append(f"{len(cuda)} targets with CUDA libraries, want the 2 workers")
if len(t["targets"]) != 3: bad.append(f"{len(t['targets'])} targets, want the shell and 2 workers")
print(f"{sys.argv[4]}: " + ("; ".join(bad) if bad else "both workers followed, counts equal their truth"))
sys.exit(1 if bad else 0)
PY
done
# -f with -p: the shell is already running, its workers are followed
rm -f "$tmp/go" "$tmp/w1.json" "$tmp/w2.json"
bash "$tmp/launch.sh" >/dev/null 2>&1 & sp=$!
timeout 300 $T --force -f -p $sp --json "$tmp/t.json" >"$tmp/out" 2>&1 & tp=$!
wait_for "the tracer following both workers (-f -p)" follows_both $tp ||
	echo "(the tracer follows $(followed) of the 2 workers)"
touch "$tmp/go"
wait $sp
wait $tp || { cat "$tmp/out"; echo "FAIL: tracer exited non-zero (-f -p)"; rc=1; }
$PY - "$tmp/t.json" "$tmp/w1.json" "$tmp/w2.json" <<'PY' || { cat "$tmp/out"; rc=1; }
import json, sys
t = json.load(open(sys.argv[1])); w = [json.load(open(f)) for f in sys.argv[2:4]]
ok = t["launches"] == sum(x["launches"] for x in w) and sum(1 for x in t["targets"] if x["libs"]) == 2
print("-f -p: both workers of a running shell followed" if ok else f"FAIL: -f -p: {t['launches']} launches, {t['targets']}")
sys.exit(0 if ok else 1)
PY

# the workers set up and waiting while the tracer runs (their stderr is the
# tracer's output), then released: none of it is traced
rm -f "$tmp/go"
timeout 300 $T --force --no-follow --json "$tmp/t.json" -- bash "$tmp/launch.sh" >"$tmp/out" 2>&1 & tp=$!
wait_for "both workers set up under --no-follow" \
	eval '[ "$(grep -c "waiting for" "$tmp/out")" -ge 2 ] || ! kill -0 $tp 2>/dev/null'
touch "$tmp/go"
wait $tp || { cat "$tmp/out"; echo "FAIL: tracer exited non-zero (--no-follow)"; exit 1; }
$PY - "$tmp/t.json" <<'PY' || rc=1
import json, sys
t = json.load(open(sys.argv[1]))
ok = len(t["targets"]) == 1 and t["launches"] == 0
print("--no-follow: only the shell" if ok else f"FAIL: --no-follow traced {t['targets']}, {t['launches']} launches")
sys.exit(0 if ok else 1)
PY
exit $rc
