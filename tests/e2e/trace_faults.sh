#!/usr/bin/env bash
# Faults under llminstr-trace's outputs, on build/bin/llm_decode (CPU
# stand-in runtime):
# - the tracer SIGKILLed while writing -o: the file gets the workload's
#   set-up calls while it waits at its --wait-file gate (a few dozen
#   events, far from filling an extent: only the writer's commit interval
#   writes them), then grows while it decodes; after the kill it reads up
#   to its last complete record: every event seen in it before the kill
#   is still there, nothing is damaged, and llminstr-dump info says how
#   much it recovered;
# - disk full under -o (a 1 MiB tmpfs): the trace goes on to its summary,
#   the file stays valid, the summary says what was not written, and the
#   events it says reached the disk are the events the file holds;
# - disk full under --perfetto (a 16 MiB tmpfs): one line names the file and
#   the reason, and the file is valid JSON (cut back to what was written)
#   or removed.
# No case asserts a time; every wait is for the thing itself, with a
# generous deadline. A case that cannot run here makes the test exit 77.
set -u
cd "$(dirname "$0")/../.."
T=build/bin/llminstr-trace D=build/bin/llminstr-dump W=build/bin/llm_decode PY=/usr/bin/python3
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root for BPF"; exit 77; }
for b in $T $D $W; do [ -x $b ] || { echo "SKIP: $b not built"; exit 77; }; done
tmp=$(mktemp -d); mnts=() pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
	for m in "${mnts[@]}"; do umount "$m" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT
rc=0 skipped=()
fail() { echo "FAIL: $*"; rc=1; }

# events in a .llmi file per llminstr-dump info --json ("" when info fails)
events_in() {
	$D info --json "$1" 2>/dev/null |
		$PY -c 'import json,sys; print(json.load(sys.stdin)["events"]["count"])' 2>/dev/null
}

# Waits (0.05 s steps, 60 s at most) while pid $1 lives until file $2 holds
# more than $3 events; prints the count, or nothing on timeout or exit.
wait_events_above() {
	local n
	for _ in $(seq 1200); do
		kill -0 "$1" 2>/dev/null || return 1
		n=$(events_in "$2")
		[ -n "$n" ] && [ "$n" -gt "$3" ] && { echo "$n"; return 0; }
		sleep 0.05
	done
	return 1
}

mount_small() {	# dir size
	mkdir -p "$1"
	mount -t tmpfs -o "size=$2" tmpfs "$1" 2>"$tmp/mount.err" || return 1
	mnts+=("$1")
}

echo "== SIGKILL of the tracer while it writes -o"
f=$tmp/k.llmi
$T -o "$f" -- $W -q --wait-file "$tmp/go" --tokens 200 --repeat 1000000 --layers 2 \
	>"$tmp/k.out" 2>&1 & tp=$!
pids+=("$tp")
if ! n1=$(wait_events_above $tp "$f" 0); then
	fail "the set-up's events did not reach the file while the tracer ran ($(stat -c %s "$f" 2>/dev/null) bytes after 60 s)"
	cat "$tmp/k.out"
elif ! touch "$tmp/go" || ! n2=$(wait_events_above $tp "$f" "$n1"); then
	fail "the file did not grow while the tracer ran (stuck at $n1 events)"
else
	echo "ok: the file grows while the tracer lives: $n1 events at the gate, then $n2"
	wl=$(pgrep -P $tp)	# the workload, left running by a killed tracer
	[ -n "$wl" ] && pids+=($wl)
	n2=$(events_in "$f")	# what is there just before the kill
	kill -KILL $tp; wait $tp 2>/dev/null
	[ -n "$wl" ] && kill -KILL $wl 2>/dev/null
	$D info --json "$f" >"$tmp/k.json" 2>"$tmp/k.err"; st=$?
	$D info "$f" >"$tmp/k.info" 2>&1
	$D verify "$f" >"$tmp/k.verify" 2>&1; vst=$?
	$PY - "$tmp/k.json" "$n2" "$st" <<'PY' || { cat "$tmp/k.err" "$tmp/k.info"; fail "SIGKILL: file after the kill"; }
import json, sys
info = json.load(open(sys.argv[1])); before = int(sys.argv[2]); st = int(sys.argv[3])
bad = []
if st != 0 or info["errors"]:
    bad.append(f"info exit {st}, errors {info['errors']}")
if info["indexed"]:
    bad.append("an index in a file whose writer was killed")
if info["events"]["count"] < before:
    bad.append(f"{info['events']['count']} events after the kill, {before} were there before it")
print("\n".join(bad) or f"ok: SIGKILL: {info['events']['count']} events readable "
      f"(>= the {before} seen before the kill), no damage")
sys.exit(1 if bad else 0)
PY
	grep -q "did not close" "$tmp/k.info" && grep -q "^events *[1-9]" "$tmp/k.info" &&
		echo "ok: info says what it recovered: $(grep -E '^(index|events) ' "$tmp/k.info" | tr -s ' ' | paste -sd ';')" ||
		{ cat "$tmp/k.info"; fail "SIGKILL: info does not say what it recovered"; }
	# An intact file whose writer died is "incomplete", never damage: verify
	# exits 0 with "incomplete: N records intact, writer did not close".
	if [ $vst = 0 ] && grep -q "incomplete: [1-9][0-9]* records intact, writer did not close" "$tmp/k.verify"; then
		echo "ok: verify (exit $vst): $(cat "$tmp/k.verify")"
	else
		cat "$tmp/k.verify"; fail "SIGKILL: verify exit $vst"
	fi
fi

echo "== disk full under -o"
if mount_small "$tmp/full" 1m; then
	# ~20 MiB of events for 1 MiB of room: the writes fail mid-trace
	timeout 300 $T -o "$tmp/full/t.llmi" --json "$tmp/s.json" -- $W -q --tokens 200 --repeat 40 \
		--layers 3 --truth "$tmp/w.json" >"$tmp/out" 2>"$tmp/err"; st=$?
	echo "tracer exit $st"
	grep "Output:" "$tmp/out"
	if ! grep -q "No space left" "$tmp/err" ||
	   ! grep -q "^Output: $tmp/full/t.llmi: No space left on device; [0-9]* events written to the file, [1-9][0-9]* not written" "$tmp/out"; then
		cat "$tmp/out" "$tmp/err"; fail "disk full: not said"
	fi
	$D info --json "$tmp/full/t.llmi" >"$tmp/info.json" 2>"$tmp/info.err"; ist=$?
	$PY - "$tmp/s.json" "$tmp/w.json" "$tmp/info.json" "$ist" "$tmp/out" <<'PY' || fail "disk full"
import json, re, sys
s = json.load(open(sys.argv[1])); w = json.load(open(sys.argv[2]))
info = json.load(open(sys.argv[3])); ist = int(sys.argv[4])
line = next(l for l in open(sys.argv[5]) if l.startswith("Output:"))
said = int(re.search(r"(\d+) events written to the file", line).group(1))
bad = []
if s["launches"] != w["launches"] or s["events"]["lost"] != 0:
    bad.append(f"the trace did not go on: {s['launches']} launches, truth {w['launches']}, "
               f"{s['events']['lost']} lost")
o = s["output"]
if not o["error"] or o["events_not_written"] == 0:
    bad.append(f"the summary does not say what was not written: {o}")
if ist != 0 or info["errors"]:
    bad.append(f"the file is not valid: info exit {ist}, errors {info['errors']}")
if info["events"]["count"] != o["events"] or said != o["events"]:
    bad.append(f"{info['events']['count']} events in the file, the summary says {said}, "
               f"--json {o['events']}")
if info["events"]["count"] == 0:
    bad.append("no events in the file")
print("\n".join(bad) or f"ok: disk full: {s['launches']} launches counted (= truth); "
      f"{o['events']} events reached the disk = {info['events']['count']} in the file; "
      f"{o['events_not_written']} not written")
sys.exit(1 if bad else 0)
PY
else
	skipped+=("disk full under -o: cannot mount a tmpfs: $(cat "$tmp/mount.err")")
fi

echo "== disk full under --perfetto"
if mount_small "$tmp/pf" 16m; then
	p=$tmp/pf/p.json
	timeout 300 $T --perfetto "$p" -- $W -q --tokens 200 --repeat 40 --layers 3 \
		>"$tmp/pout" 2>"$tmp/perr"; st=$?
	echo "tracer exit $st"
	cat "$tmp/perr"
	grep -q "Top kernels" "$tmp/pout" || fail "perfetto: no summary"
	grep -q "write failed" "$tmp/perr" && fail "perfetto: says only 'write failed'"
	grep -q -- "--perfetto $p: No space left on device" "$tmp/perr" ||
		fail "perfetto: the file and the reason are not said"
	if [ -e "$p" ]; then
		n=$(sed -n 's/.*--perfetto .*: cut back to the \([0-9]*\) events.*valid JSON$/\1/p' "$tmp/perr")
		$PY - "$p" "${n:--1}" <<'PY' || fail "perfetto: the file left is not what was said"
import json, sys
try:
    ev = json.load(open(sys.argv[1]))["traceEvents"]
except ValueError as e:
    print(f"not valid JSON: {e}"); sys.exit(1)
ok = len(ev) == int(sys.argv[2])
print(f"ok: perfetto: valid JSON, {len(ev)} events, as said" if ok else
      f"{len(ev)} events in the file, the tracer said {sys.argv[2]}")
sys.exit(0 if ok else 1)
PY
	else
		grep -q -- "--perfetto $p: removed" "$tmp/perr" && echo "ok: perfetto: removed, and said" ||
			fail "perfetto: the file is gone without a word"
	fi
else
	skipped+=("disk full under --perfetto: cannot mount a tmpfs: $(cat "$tmp/mount.err")")
fi

[ $rc != 0 ] && exit $rc
if [ ${#skipped[@]} -gt 0 ]; then
	printf 'SKIP: %s\n' "${skipped[@]}"
	exit 77
fi
exit 0
