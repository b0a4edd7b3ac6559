#!/usr/bin/env bash
# Ranks of a parallel run, end to end (tests/e2e/progs/capture_host.c as
# the program): the tracer writes the target's RANK, WORLD_SIZE and
# LOCAL_RANK (or --rank R/WORLD) into the file header, the agent tags each
# tensor with its process's RANK (llminstr.set_rank overrides it), -o DIR/
# writes the shard DIR/rank-R.llmi (refused when it exists, or when no rank
# is known), and several shards read as one run: llminstr-dump info
# RUN/*.llmi sums them, llminstr.open("RUN/*.llmi") sees every rank.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
P=build/tests/progs/capture_host
capture_setup $P
$PY -c "import numpy" 2>/dev/null || { echo "SKIP: python3-numpy missing"; exit 77; }
tp=
trap '[ -n "$tp" ] && kill $tp 2>/dev/null; rm -rf "$tmp"' EXIT
mkdir "$tmp/run"

echo "== RANK=1 WORLD_SIZE=2 LOCAL_RANK=1, -o RUN/: RUN/rank-1.llmi, every tensor rank 1"
if ! RANK=1 WORLD_SIZE=2 LOCAL_RANK=1 LD_PRELOAD="$PRE" timeout 120 $T --capture all -o "$tmp/run/" \
	-- $P 2 >"$tmp/out" 2>&1; then
	cat "$tmp/out"; fail "capture as rank 1"
fi
[ -f "$tmp/run/rank-1.llmi" ] || { ls -l "$tmp/run"; fail "no RUN/rank-1.llmi"; }
$D verify "$tmp/run/rank-1.llmi" >"$tmp/v" 2>&1 || { cat "$tmp/v"; fail "verify of rank-1.llmi"; }
$D ls --json "$tmp/run/rank-1.llmi" >"$tmp/ls1.json" || fail "ls --json rank-1.llmi"
[ "$(json "$tmp/ls1.json" 'len(d) == 8 and all(x["rank"] == 1 for x in d)')" = True ] ||
	fail "ls --json: not 8 tensors of rank 1: $(json "$tmp/ls1.json" '[x["rank"] for x in d]')"
$D ls "$tmp/run/rank-1.llmi" >"$tmp/ls1" || fail "ls rank-1.llmi"
[ "$(awk 'NR == 1 {print $5} NR > 1 {print $5}' "$tmp/ls1" | sort -u | tr '\n' ' ')" = "1 RANK " ] ||
	{ cat "$tmp/ls1"; fail "ls: no RANK column of 1s"; }
$D info "$tmp/run/rank-1.llmi" >"$tmp/i1" || fail "info rank-1.llmi"
grep -qx "ranks      1 of 2 (local rank 1)" "$tmp/i1" || { cat "$tmp/i1"; fail "info: the ranks line"; }
grep -q "^format     llmi 1.2," "$tmp/i1" || { cat "$tmp/i1"; fail "info: not format 1.2"; }
$D info --json "$tmp/run/rank-1.llmi" >"$tmp/i1.json" || fail "info --json rank-1.llmi"
[ "$(json "$tmp/i1.json" 'd["rank"] == 1 and d["world_size"] == 2 and d["local_rank"] == 1 and d["ranks"] == [1]')" = True ] ||
	fail "info --json: $(json "$tmp/i1.json" '(d["rank"], d["world_size"], d["local_rank"], d["ranks"])')"

echo "== --rank 0/2 with tokens: RUN/rank-0.llmi; again without --force: refused, the file kept"
if ! CAPTURE_HOST_TOKENS=0 LD_PRELOAD="$PRE" timeout 120 $T --rank 0/2 --capture all -o "$tmp/run" \
	-- $P 3 >"$tmp/out" 2>&1; then
	cat "$tmp/out"; fail "capture as --rank 0/2"
fi
[ -f "$tmp/run/rank-0.llmi" ] || { ls -l "$tmp/run"; fail "no RUN/rank-0.llmi"; }
sum=$(md5sum <"$tmp/run/rank-0.llmi")
LD_PRELOAD="$PRE" timeout 120 $T --rank 0 --capture all -o "$tmp/run/" -- $P 1 >"$tmp/out" 2>&1 &&
	fail "an existing shard replaced without --force"
grep -q "rank-0.llmi exists; --force replaces it" "$tmp/out" || { cat "$tmp/out"; fail "not said that the shard exists"; }
[ "$(md5sum <"$tmp/run/rank-0.llmi")" = "$sum" ] || fail "the existing shard changed"
$D info --json "$tmp/run/rank-0.llmi" >"$tmp/i0.json" || fail "info --json rank-0.llmi"
[ "$(json "$tmp/i0.json" 'd["rank"] == 0 and d["world_size"] == 2 and d["local_rank"] is None and d["tensors"]["count"] == 12')" = True ] ||
	fail "rank-0.llmi header: $(json "$tmp/i0.json" '(d["rank"], d["world_size"], d["local_rank"])')"

echo "== -o DIR/ and no rank known: refused, nothing written"
mkdir "$tmp/norank"
LD_PRELOAD="$PRE" timeout 120 $T --capture all -o "$tmp/norank/" -- $P 1 >"$tmp/out" 2>&1 &&
	fail "-o DIR/ without a rank accepted"
grep -q "no rank is known: give --rank" "$tmp/out" || { cat "$tmp/out"; fail "not said why"; }
[ -z "$(ls "$tmp/norank")" ] || fail "a file was written: $(ls "$tmp/norank")"
$T --rank 2/2 -- true >"$tmp/out" 2>&1 && fail "--rank 2/2 accepted"
grep -q "^llminstr-trace: --rank '2/2': expected R or R/WORLD" "$tmp/out" || { cat "$tmp/out"; fail "--rank 2/2: $(cat "$tmp/out")"; }

echo "== info RUN/*.llmi: one run of both shards"
$D info "$tmp"/run/*.llmi >"$tmp/ir" || { cat "$tmp/ir"; fail "info of the run"; }
cat "$tmp/ir"
grep -qx "run        2 files" "$tmp/ir" && grep -qx "ranks      0 1" "$tmp/ir" && grep -qx "world      2" "$tmp/ir" &&
	grep -q "^tensors    20, " "$tmp/ir" && grep -qx "steps      3 (0 to 2)" "$tmp/ir" &&
	grep -qx "tokens     192" "$tmp/ir" &&
	grep -q "^file       $tmp/run/rank-0.llmi: rank 0, 12 tensors" "$tmp/ir" &&
	grep -q "^file       $tmp/run/rank-1.llmi: rank 1, 8 tensors" "$tmp/ir" || fail "info of the run"
$D info --json "$tmp"/run/*.llmi >"$tmp/ir.json" || fail "info --json of the run"
$PY - "$tmp/ir.json" "$tmp/i0.json" "$tmp/i1.json" <<'PY' || fail "info --json of the run: the sums"
import json, sys
run, a, b = (json.load(open(p)) for p in sys.argv[1:])
t = run["tensors"]
ok = run["files_count"] == 2 and run["ranks"] == [0, 1] and run["world_size"] == 2 and \
    t["count"] == a["tensors"]["count"] + b["tensors"]["count"] == 20 and \
    t["raw_bytes"] == a["tensors"]["raw_bytes"] + b["tensors"]["raw_bytes"] and \
    t["stored_bytes"] == a["tensors"]["stored_bytes"] + b["tensors"]["stored_bytes"] and \
    run["steps"] == {"count": 3, "first": 0, "last": 2} and run["tokens"] == 192 and \
    [f["rank"] for f in run["files"]] == [0, 1]
print("run:", {k: run[k] for k in ("files_count", "ranks", "world_size", "steps", "tokens")}, t["count"])
sys.exit(0 if ok else 1)
PY
# one file: as before, no run summary
$D info "$tmp/run/rank-0.llmi" | grep -q "^run " && fail "info of one file shows a run summary"

echo "== llminstr.open(\"RUN/*.llmi\"): both ranks, tokens still tied"
ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0 LD_PRELOAD="$PRE" PYTHONPATH=user/python \
	$PY - "$tmp/run/*.llmi" <<'PY' || fail "python: the run's ranks"
import sys, numpy as np, llminstr
run = llminstr.open(sys.argv[1])
by = {}
for t in run.tensors():
    by.setdefault(t.file.rsplit("/", 1)[1], set()).add(t.rank)
files = [(f.rank, f.world_size, f.local_rank) for f in run.files]
tied = all(np.array_equal(run.tokens(t), 1000 * t.step + np.arange(64)) for t in run.tensors()
           if t.tokens)
ok = run.ranks() == [0, 1] and by == {"rank-0.llmi": {0}, "rank-1.llmi": {1}} and \
    files == [(0, 2, None), (1, 2, 1)] and tied
print("python:", run.ranks(), by, files, "tokens tied" if tied else "tokens WRONG")
sys.exit(0 if ok else 1)
PY

echo "== -p PID: the rank from /proc/PID/environ"
RANK=3 WORLD_SIZE=4 CAPTURE_HOST_WAIT=1 LD_PRELOAD="$PRE" $P 2 >"$tmp/pout" 2>&1 &
tp=$!
if ! timeout 120 $T --capture all -o "$tmp/run/" -p $tp >"$tmp/out" 2>&1; then
	cat "$tmp/out"; fail "capture -p as rank 3"
fi
wait $tp || { cat "$tmp/pout"; fail "the target failed"; }
tp=
grep -q "capture_host: 8 taken" "$tmp/pout" || { cat "$tmp/pout"; fail "-p: not every tensor taken"; }
$D info --json "$tmp/run/rank-3.llmi" >"$tmp/i3.json" || fail "info --json rank-3.llmi"
[ "$(json "$tmp/i3.json" 'd["rank"] == 3 and d["world_size"] == 4 and d["ranks"] == [3]')" = True ] ||
	fail "-p: $(json "$tmp/i3.json" '(d["rank"], d["world_size"], d["ranks"])')"

echo "== llminstr.set_rank overrides RANK, for the tensors that follow"
cat >"$tmp/sr.py" <<'PY'
import numpy as np, llminstr
a = np.arange(64 * 8, dtype=np.float32).reshape(64, 8)
llminstr.step(0)
r0 = llminstr.rank()
ok = llminstr.capture("x", a) == 1
llminstr.set_rank(3, 4)
try:
    llminstr.set_rank(4, 4)
    ok = False
except ValueError:
    pass
llminstr.step(1)
ok &= llminstr.capture("x", a) == 1
print("set_rank:", r0, llminstr.rank(), "ok" if ok else "WRONG")
raise SystemExit(0 if ok and r0 == (5, 8, None) and llminstr.rank() == (3, 4, None) else 1)
PY
if ! RANK=5 WORLD_SIZE=8 ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0 LD_PRELOAD="$PRE" \
	PYTHONPATH=user/python timeout 120 $T --capture all -o "$tmp/sr.llmi" -- $PY "$tmp/sr.py" >"$tmp/out" 2>&1; then
	cat "$tmp/out"; fail "set_rank under the tracer"
fi
grep -q "set_rank: (5, 8, None) (3, 4, None) ok" "$tmp/out" || { cat "$tmp/out"; fail "set_rank in python"; }
$D ls --json "$tmp/sr.llmi" >"$tmp/sr.json" || fail "ls --json sr.llmi"
[ "$(json "$tmp/sr.json" 'sorted((x["step"], x["rank"]) for x in d)')" = "[(0, 5), (1, 3)]" ] ||
	fail "set_rank: $(json "$tmp/sr.json" 'sorted((x["step"], x["rank"]) for x in d)')"
$D info --json "$tmp/sr.llmi" >"$tmp/sri.json" || fail "info --json sr.llmi"
[ "$(json "$tmp/sri.json" '(d["rank"], d["world_size"], d["ranks"])')" = "(5, 8, [3, 5])" ] ||
	fail "set_rank: header and ranks $(json "$tmp/sri.json" '(d["rank"], d["world_size"], d["ranks"])')"
exit $rc
