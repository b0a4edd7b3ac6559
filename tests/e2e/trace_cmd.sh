#!/usr/bin/env bash
# llminstr-trace -- CMD: the tracer's exit status is the command's (128+N
# when signal N killed it, as time(1) and strace give it) and the summary
# says how the command ended; a command that cannot run gets one line and
# the shell's 126/127, traces nothing and leaves no output file; a trace
# that ends first (-d) leaves the command running and exits 0. Scripts keep
# working: a #! script that execs the workload and "python3 x.py" loading
# libcudart with ctypes are attached once the library is mapped, and every
# call after that is counted.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
T=build/bin/llminstr-trace W=build/bin/llm_decode PY=/usr/bin/python3
RT=build/sim/libcudart.so.13
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root for BPF"; exit 77; }
for b in $T $W $RT $PY; do [ -x $b ] || [ -f $b ] || { echo "SKIP: $b not built"; exit 77; }; done
tmp=$(mktemp -d); kids=()
trap 'touch "$tmp/go"; kill "${kids[@]}" 2>/dev/null; rm -rf "$tmp"' EXIT
rc=0
fail() { echo "FAIL: $*"; rc=1; }


status_case() {	# want-status summary-line-pattern cmd...
	local want=$1 line=$2; shift 2
	timeout 60 $T -- "$@" >"$tmp/out" 2>"$tmp/err"; local st=$?
	if [ $st != "$want" ] || ! grep -q -- "$line" "$tmp/out"; then
		cat "$tmp/out" "$tmp/err"; fail "-- $*: exit $st (want $want) or no '$line'"
	else
		echo "ok: -- $*: exit $st, '$(grep -o -- "$line" "$tmp/out")'"
	fi
}
status_case 0 "exited with status 0" true
status_case 3 "exited with status 3" sh -c 'exit 3'
status_case 137 "killed by SIGKILL" sh -c 'kill -KILL $$'
status_case 139 "killed by SIGSEGV" sh -c 'kill -SEGV $$'

echo "== a command that cannot run: 126/127, one line, nothing traced, no output left"
cant_run() {	# want-status cmd...
	local want=$1; shift
	timeout 60 $T --json "$tmp/c.json" --perfetto "$tmp/c.pf" -o "$tmp/c.llmi" -- "$@" \
		>"$tmp/out" 2>"$tmp/err"; local st=$?
	if [ $st != "$want" ] || [ "$(wc -l <"$tmp/err")" != 1 ] || [ -s "$tmp/out" ] ||
	   grep -q tracing "$tmp/err" || compgen -G "$tmp/c.*" >/dev/null; then
		cat "$tmp/err" "$tmp/out"; ls "$tmp"; fail "-- $*: exit $st (want $want)"
	else
		echo "ok: -- $*: exit $st: $(cat "$tmp/err")"
	fi
	rm -f "$tmp"/c.*
}
cant_run 126 /etc/passwd
cant_run 127 "$tmp/no-such-program"
echo 'echo hi' >"$tmp/noexec"; chmod 644 "$tmp/noexec"
cant_run 126 "$tmp/noexec"

echo "== the trace ends first (SIGTERM to the tracer alone): exit 0, the command runs on"
cat >"$tmp/hold.sh" <<'SH'
#!/bin/sh
echo $$ >"$1.pid"
while [ ! -e "$1" ]; do sleep 0.05; done
exit 9
SH
chmod 755 "$tmp/hold.sh"
$T -- "$tmp/hold.sh" "$tmp/go" >"$tmp/hold.out" 2>"$tmp/hold.err" & tp=$!
kids+=($tp)
if wait_line "$tmp/go.pid" .; then
	hp=$(cat "$tmp/go.pid")
	kill -TERM $tp; wait $tp; st=$?
	if [ $st = 0 ] && kill -0 "$hp" 2>/dev/null && grep -q "ended by SIGTERM" "$tmp/hold.out" &&
	   grep -q "^  pid $hp: no CUDA" "$tmp/hold.out"; then
		echo "ok: SIGTERM: exit 0, pid $hp still runs"
	else
		cat "$tmp/hold.out" "$tmp/hold.err"; fail "SIGTERM: exit $st, command pid $hp"
	fi
else
	fail "the held command never started"
fi
touch "$tmp/go"; rm -f "$tmp/go.pid"

echo "== a #! script that execs the workload"
cat >"$tmp/run.sh" <<SH
#!/bin/sh
exec $PWD/$W -q --tokens 12 --layers 2 --wait-file "$tmp/go" --truth "$tmp/w.json"
SH
chmod 755 "$tmp/run.sh"
# -v lists each probe as it is attached: the workload waits for that
rm -f "$tmp/go"
timeout 120 $T -v --json "$tmp/s.json" -- "$tmp/run.sh" >"$tmp/sh.out" 2>"$tmp/sh.err" & tp=$!
kids+=($tp)
wait_line "$tmp/sh.err" "cudaLaunchKernel at " || fail "script: libcudart never attached"
touch "$tmp/go"
wait $tp; st=$?
[ $st = 0 ] || { cat "$tmp/sh.out" "$tmp/sh.err"; fail "script: tracer exit $st"; }
$PY - "$tmp/s.json" "$tmp/w.json" <<'PY' || fail "script: counts"
import json, sys
s = json.load(open(sys.argv[1])); w = json.load(open(sys.argv[2]))
ok = s["launches"] == w["launches"] and s["targets"][0]["exit_status"] == 0
print(f"ok: script: {s['launches']} launches = truth" if ok else f"script: {s['launches']} launches, truth {w['launches']}")
sys.exit(0 if ok else 1)
PY
rm -f "$tmp/go" "$tmp/s.json"

echo "== python3 x.py loading libcudart with ctypes"
cat >"$tmp/x.py" <<'PY'
import ctypes, os, sys, time
rt = ctypes.CDLL(sys.argv[1])
while not os.path.exists(sys.argv[2]):
    time.sleep(0.05)
for _ in range(7):
    assert rt.cudaDeviceSynchronize() == 0
sys.exit(5)
PY
# under sanitizers libcudart is instrumented and python is not: it preloads their runtimes
LD_PRELOAD="$(san_runtime)" ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0 \
	timeout 120 $T -v --json "$tmp/s.json" -- $PY "$tmp/x.py" "$PWD/$RT" "$tmp/go" >"$tmp/py.out" 2>"$tmp/py.err" & tp=$!
kids+=($tp)
wait_line "$tmp/py.err" "cudaDeviceSynchronize.* at " || fail "python: libcudart never attached"
touch "$tmp/go"
wait $tp; st=$?
[ $st = 5 ] || { cat "$tmp/py.out" "$tmp/py.err"; fail "python: tracer exit $st, the script exited 5"; }
$PY - "$tmp/s.json" <<'PY' || fail "python: counts"
import json, sys
s = json.load(open(sys.argv[1]))
n = s["api"].get("cudaDeviceSynchronize", {}).get("calls")
ok = n == 7 and s["targets"][0]["exit_status"] == 5
print(f"ok: python: 7 cudaDeviceSynchronize calls, exit status 5" if ok else f"python: {n} calls, {s['targets']}")
sys.exit(0 if ok else 1)
PY
exit $rc
