#!/usr/bin/env bash
# The target SIGKILLed mid-trace, once it is decoding: the tracer ends with
# a full summary that says so ("pid N killed by SIGKILL" for a command it
# started, whose wait status it has; "pid N exited" for a -p target, of
# which it only sees the exit), and a complete, valid --json: every kernel
# named, per-kernel launches adding up to the total, nothing lost. With
# -- CMD the exit status is the command's: 137.
set -u
cd "$(dirname "$0")/../.."
T=build/bin/llminstr-trace W=build/bin/llm_decode PY=/usr/bin/python3
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root for BPF"; exit 77; }
for b in $T $W; do [ -x $b ] || { echo "SKIP: $b not built"; exit 77; }; done
tmp=$(mktemp -d); pids=()
trap 'kill -KILL "${pids[@]}" 2>/dev/null; rm -rf "$tmp"' EXIT
rc=0
fail() { echo "FAIL: $*"; rc=1; }

# Waits (60 s at most: a deadline, not a pace) for a condition.
wait_until() {
	for _ in $(seq 1200); do "$@" && return 0; sleep 0.05; done
	return 1
}
# llm_decode prints its tokens on stdout once it decodes (a file: in 4 KiB blocks)
decoding() { [ -s "$1" ]; }

complete() {	# label summary-json: every kernel named, counts add up, nothing lost
	$PY - "$2" "$1" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); label = sys.argv[2]
bad = []
ks = s["kernels"]
if s["launches"] == 0 or not ks: bad.append("no launches")
if any(k["unnamed"] for k in ks): bad.append("unnamed kernels")
if sum(k["launches"] for k in ks) != s["launches"]:
    bad.append(f"kernels add up to {sum(k['launches'] for k in ks)}, launches {s['launches']}")
if s["events"]["lost"]: bad.append(f"{s['events']['lost']} events lost")
if s["ended_by"] != "targets exited": bad.append(f"ended by {s['ended_by']}")
print("\n".join(bad) or f"ok: {label}: --json complete: {s['launches']} launches of "
      f"{len(ks)} named kernels, target {s['targets'][0]}")
sys.exit(1 if bad else 0)
PY
}

echo "== -- CMD, the command SIGKILLed while decoding"
# the tracer's stdout is the workload's too: its tokens come first, the summary after
$T --json "$tmp/c.json" -- $W --tokens 2000 --repeat 100000 --layers 2 >"$tmp/c.out" 2>"$tmp/c.err" & tp=$!
pids+=($tp)
if wait_until decoding "$tmp/c.out"; then
	wp=$(pgrep -P $tp | head -n 1)
	[ -n "$wp" ] && kill -KILL "$wp"
	wait $tp; st=$?
	[ $st = 137 ] && echo "ok: the tracer exits 137, the command's status" ||
		{ cat "$tmp/c.err"; fail "tracer exit $st, want 137"; }
	grep -q "^  pid $wp killed by SIGKILL$" "$tmp/c.out" && grep -q "^Events: " "$tmp/c.out" &&
		echo "ok: the summary says: $(grep -o "pid $wp killed by SIGKILL" "$tmp/c.out")" ||
		{ tail -n 30 "$tmp/c.out"; fail "the summary does not say the command was killed"; }
	complete "-- CMD" "$tmp/c.json" || fail "-- CMD: --json"
	$PY -c 'import json,sys; t=json.load(open(sys.argv[1]))["targets"][0]; sys.exit(0 if t["signal"] == "SIGKILL" and t["exit_status"] is None and t["exited"] else 1)' \
		"$tmp/c.json" || fail "-- CMD: --json targets[0] does not say SIGKILL"
else
	cat "$tmp/c.err"; fail "-- CMD: the workload never decoded"
fi

echo "== -p, the process SIGKILLed while decoding"
$W --tokens 2000 --repeat 100000 --layers 2 --wait-file "$tmp/go" >"$tmp/tokens" 2>/dev/null & wp=$!
pids+=($wp)
$T -p $wp --json "$tmp/p.json" >"$tmp/p.out" 2>"$tmp/p.err" & tp=$!
pids+=($tp)
wait_until grep -q tracing "$tmp/p.err" || fail "-p: the tracer never attached"
touch "$tmp/go"
if wait_until decoding "$tmp/tokens"; then
	kill -KILL $wp
	wait $tp; st=$?
	[ $st = 0 ] && echo "ok: -p: the tracer exits 0" || { cat "$tmp/p.err"; fail "-p: tracer exit $st"; }
	grep -q "^  pid $wp exited$" "$tmp/p.out" && grep -q "ended by targets exited" "$tmp/p.out" &&
		echo "ok: -p: the summary says: pid $wp exited" ||
		{ cat "$tmp/p.out"; fail "-p: the summary does not say the process exited"; }
	complete "-p" "$tmp/p.json" || fail "-p: --json"
else
	fail "-p: the workload never decoded"
fi
exit $rc
