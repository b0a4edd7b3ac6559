#!/usr/bin/env bash
# Tensor capture when things go wrong (the program is never harmed, nothing
# is lost silently), with tests/e2e/progs/capture_host.c as the program:
# - -p PID of a process without the agent: one line saying how to load it,
#   timing goes on;
# - an agent of another protocol version: refused, both versions named;
# - an agent that never answers: the trace begins without waiting for it,
#   and says so once it gives up (5 s);
# - the program SIGKILLed mid-capture: the file verifies and holds tensors;
# - the tracer SIGKILLed mid-capture (--on-full block, small buffer, so the
#   program is waiting for room when it happens): the program runs to its
#   end and refuses nothing;
# - the tracer SIGTERMed: a valid file and a summary with the capture table;
# - --on-full drop: every tensor taken or dropped, counted alike on both
#   sides and by name; larger than the buffer: dropped as too large, by
#   name; block: nothing dropped, blocked time in the summary;
# - disk full (a 4 MiB tmpfs): one line, capture stops, the file is valid,
#   the program runs to its end, timing goes on.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
P=build/tests/progs/capture_host
capture_setup $P
mnts=() pids=() skipped=()
cleanup() {
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
	for m in "${mnts[@]}"; do umount "$m" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT

echo "== -p of a process without the agent: said, timing goes on"
# a process that only waits to be killed (not a timed wait: cleanup kills it)
tail -f /dev/null & sp=$!; pids+=($sp)
LD_PRELOAD="$PRE" timeout 60 $T --capture all -o "$tmp/n.llmi" -d 1 -p $sp >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "-p without agent exits non-zero"; }
grep -q "pid $sp has no llminstr agent: start it with LD_PRELOAD=" "$tmp/out" || { cat "$tmp/out"; fail "not said"; }
grep -q "^Capture: 0 tensors" "$tmp/out" || fail "no capture summary"
kill $sp

echo "== an agent of another protocol version: refused, both named"
$PY - "$tmp/ready" <<'PY' & fp=$!
import os, socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.bind(b"\0llminstr-agent.%d" % os.getpid()); s.listen(1)
open(sys.argv[1], "w").close()
c, _ = s.accept()
c.recvmsg(8192, 64)
# magic, proto 99, size, status 0, pid, flags, msg
c.send(struct.pack("<IIIiII256s", 0x414d4c4c, 99, 280, 0, os.getpid(), 0, b"agent 99"))
c.recv(1)
PY
pids+=($fp)
wait_for "fake agent ready" test -e "$tmp/ready" || rc=1
LD_PRELOAD="$PRE" timeout 60 $T --capture all -o "$tmp/v.llmi" -d 1 -p $fp >"$tmp/out" 2>&1
grep -q "pid $fp: the agent speaks protocol 99, this tracer 1" "$tmp/out" || { cat "$tmp/out"; fail "version mismatch not said"; }
kill $fp 2>/dev/null

echo "== an agent that never answers: the trace does not wait for it, and says so"
$PY - "$tmp/ready2" <<'PY' & fp=$!
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.bind(b"\0llminstr-agent.%d" % os.getpid()); s.listen(1)
open(sys.argv[1], "w").close()
c, _ = s.accept()
c.recvmsg(8192, 64)
c.recv(1)	# no answer: returns when the tracer gives up on it
PY
pids+=($fp)
wait_for "silent agent ready" test -e "$tmp/ready2" || rc=1
LD_PRELOAD="$PRE" timeout 60 $T --capture all -o "$tmp/s.llmi" -p $fp >"$tmp/out" 2>&1 & tp=$!; pids+=($tp)
wait_line "$tmp/out" "pid $fp: the agent did not answer" $tp || rc=1
kill -INT $tp 2>/dev/null; wait $tp; st=$?	# or it ended with its target
[ $st = 0 ] || { cat "$tmp/out"; fail "silent agent: tracer exit $st"; }
# the trace began before the answer was given up on: its start was not held
grep -n "tracing 1 process\|did not answer" "$tmp/out" | head -1 | grep -q "tracing 1 process" ||
	{ cat "$tmp/out"; fail "the trace waited for the agent's answer before it began"; }
grep -q "^Capture: 0 tensors" "$tmp/out" || { cat "$tmp/out"; fail "no capture summary"; }
echo "ok: $(grep "did not answer" "$tmp/out")"
kill $fp 2>/dev/null

echo "== the program SIGKILLed mid-capture: the file verifies, tensors kept"
LD_PRELOAD="$PRE" $T --capture all -o "$tmp/k.llmi" -- $P 0 >"$tmp/out" 2>&1 & tp=$!; pids+=($tp)
wait_line "$tmp/out" "capture_host: capturing" $tp || rc=1
cp=$(pgrep -P $tp -x capture_host)
[ -n "$cp" ] && kill -KILL $cp
wait $tp; st=$?
[ $st = 137 ] || { cat "$tmp/out"; fail "tracer exit $st, want 137 (the command's SIGKILL)"; }
$D verify "$tmp/k.llmi" >"$tmp/v" 2>&1 || { cat "$tmp/v"; fail "verify after the program's SIGKILL"; }
n=$($D ls --json "$tmp/k.llmi" | $PY -c 'import json,sys; print(len(json.load(sys.stdin)))')
[ "${n:-0}" -ge 4 ] || fail "$n tensors after the program's SIGKILL"

echo "== the tracer SIGKILLed while the program waits for room: it runs to its end"
CAPTURE_HOST_ROWS=256 LD_PRELOAD="$PRE" $T --capture all --on-full block --buffer-size 1M --threads 1 \
	-o "$tmp/tk.llmi" -- $P 400 >"$tmp/out" 2>&1 & tp=$!; pids+=($tp)
wait_line "$tmp/out" "capture_host: capturing" $tp || rc=1
cp=$(pgrep -P $tp -x capture_host)
kill -KILL $tp
wait_for "capture_host's end after the tracer's SIGKILL" has_line "$tmp/out" "^capture_host: [0-9]* taken" || rc=1
grep -q "^capture_host: [0-9]* taken, [0-9]* skipped, 0 dropped, 0 refused" "$tmp/out" || { cat "$tmp/out"; fail "the program refused calls"; }
[ -z "$cp" ] || ! kill -0 $cp 2>/dev/null || wait_for "capture_host exit" sh -c "! kill -0 $cp 2>/dev/null" || rc=1

echo "== SIGTERM to the tracer: a valid file and a summary"
LD_PRELOAD="$PRE" $T --capture all -o "$tmp/t.llmi" --json "$tmp/t.json" -- $P 0 >"$tmp/out" 2>&1 & tp=$!; pids+=($tp)
wait_line "$tmp/out" "capture_host: capturing" $tp || rc=1
cp=$(pgrep -P $tp -x capture_host); pids+=($cp)
kill -TERM $tp; wait $tp; st=$?
[ $st = 0 ] || fail "tracer exit $st after SIGTERM"
grep -q "^Capture: [1-9][0-9]* tensors" "$tmp/out" || { cat "$tmp/out"; fail "no capture summary after SIGTERM"; }
$D verify "$tmp/t.llmi" >"$tmp/v" 2>&1 || { cat "$tmp/v"; fail "verify after SIGTERM"; }
[ "$(json "$tmp/t.json" 'd["capture"]["tensors"] > 0')" = True ] || fail "JSON capture block"
kill -0 $cp 2>/dev/null || fail "the program died with the tracer's SIGTERM"
kill $cp 2>/dev/null

# Whether the buffers fill depends on the machine's speed: what holds on
# any machine is that every call is taken or dropped, and that both sides
# count the same. Larger than the buffer is a drop on every machine.
echo "== --on-full drop, 1 MiB for 512 KiB tensors: taken + dropped = offered, counted alike"
CAPTURE_HOST_ROWS=256 LD_PRELOAD="$PRE" timeout 120 $T --capture all --on-full drop --buffer-size 1M --threads 1 \
	-o "$tmp/d.llmi" --json "$tmp/d.json" -- $P 50 >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "drop run"; }
drops_agree() {	# json out offered
	$PY - "$@" <<'PY'
import json, re, sys
c = json.load(open(sys.argv[1]))["capture"]
m = re.search(r"capture_host: (\d+) taken, (\d+) skipped, (\d+) dropped, (\d+) refused",
              open(sys.argv[2]).read())
taken, dropped, refused = int(m.group(1)), int(m.group(3)), int(m.group(4))
byname = sum(c["dropped_by_name"].values())
ok = byname == c["dropped"] == dropped and taken == c["tensors"] and \
     taken + dropped == int(sys.argv[3]) and refused == 0
print("taken", taken, "dropped", c["dropped"], "by name", c["dropped_by_name"])
sys.exit(0 if ok else 1)
PY
}
drops_agree "$tmp/d.json" "$tmp/out" 200 || fail "drops counted apart"

echo "== 2 MiB tensors, 1 MiB of buffer: every one dropped as too large, by name"
CAPTURE_HOST_ROWS=1024 LD_PRELOAD="$PRE" timeout 120 $T --capture 'name=layer.0.*' --buffer-size 1M \
	-o "$tmp/l.llmi" --json "$tmp/l.json" -- $P 3 >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "too-large run"; }
drops_agree "$tmp/l.json" "$tmp/out" 3 || fail "too large"
[ "$(json "$tmp/l.json" 'd["capture"]["too_large"] == 3 and d["capture"]["dropped_by_name"] == {"layer.0.out": 3}')" = True ] ||
	fail "too large by name: $(json "$tmp/l.json" 'd["capture"]')"
grep -q "3 too large for the buffers" "$tmp/out" || { cat "$tmp/out"; fail "too large not in the summary"; }

echo "== --on-full block, 1 MiB: nothing dropped, every tensor written"
CAPTURE_HOST_ROWS=256 LD_PRELOAD="$PRE" timeout 300 $T --capture all --on-full block --buffer-size 1M --threads 1 \
	-o "$tmp/b.llmi" --json "$tmp/b.json" -- $P 50 >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "block run"; }
[ "$(json "$tmp/b.json" 'd["capture"]["tensors"] == 200 and d["capture"]["dropped"] == 0')" = True ] ||
	{ cat "$tmp/out"; fail "block: $(json "$tmp/b.json" 'd["capture"]')"; }
grep -q "^Capture: 200 tensors.*blocked [0-9.]* ms" "$tmp/out" || fail "blocked time not in the summary"

echo "== disk full under capture"
if mkdir -p "$tmp/full" && mount -t tmpfs -o size=4m tmpfs "$tmp/full" 2>"$tmp/mount.err"; then
	mnts+=("$tmp/full")
	CAPTURE_HOST_ROWS=256 LD_PRELOAD="$PRE" timeout 300 $T --capture all --codec lossless -o "$tmp/full/f.llmi" \
		--json "$tmp/f.json" -- $P 100 >"$tmp/out" 2>&1; st=$?
	# the output failed: the tracer's own failure, 1 (--help, EXIT STATUS)
	[ $st = 1 ] || { cat "$tmp/out"; fail "disk full: exit $st, want 1"; }
	grep -q "f.llmi: cannot write tensors (No space left on device); tensor capture stops here" "$tmp/out" ||
		{ cat "$tmp/out"; fail "disk full not said"; }
	grep -q "^capture_host: [0-9]* taken, [0-9]* skipped, 0 dropped, 0 refused" "$tmp/out" || fail "the program was harmed"
	$D verify "$tmp/full/f.llmi" >"$tmp/v" 2>&1; [ $? -le 0 ] || $D info "$tmp/full/f.llmi" >/dev/null 2>&1 ||
		{ cat "$tmp/v"; fail "the file on the full disk does not read"; }
	[ "$(json "$tmp/f.json" 'd["capture"]["not_written"] > 0')" = True ] || fail "not_written not counted"
else
	skipped+=("disk full: cannot mount a tmpfs: $(cat "$tmp/mount.err")")
fi

[ $rc != 0 ] && exit $rc
if [ ${#skipped[@]} -gt 0 ]; then
	printf 'SKIP: %s\n' "${skipped[@]}"
	exit 77
fi
exit 0
