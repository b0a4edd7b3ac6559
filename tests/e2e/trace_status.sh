#!/usr/bin/env bash
# The live status line. On a terminal (a pty from util-linux script), the
# tracer shows one line every half second, rewritten in place: events/s
# and lost; with --capture also tensors/s, raw and stored GB/s, the ratio,
# the host ring's fill, drops and blocked time. What the user sees at the
# end (the byte stream played on a simple terminal: \r, ESC[K, \n) has no
# status left on any line: it was erased before every message, every
# interval summary (-i) and the summary, each of which starts at the
# beginning of its line. Without a terminal no status is written at all
# (no \r in stderr), nor with -- CMD unless --status asks (the command
# writes to the same terminal). The tracer's signal handling (a signalfd) leaves the
# command's signal mask as the tracer got it.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
T=build/bin/llminstr-trace W=build/bin/llm_decode P=build/tests/progs/capture_host
PY=/usr/bin/python3
need_bpf
command -v script >/dev/null || { echo "SKIP: no script (util-linux) to give the tracer a pty"; exit 77; }
for f in $T $W $P build/lib/libllminstr.so build/sim/libcudart.so.13; do
	[ -e $f ] || { echo "SKIP: $f not built"; exit 77; }
done
tmp=$(mktemp -d); pids=()
trap 'touch "$tmp/stop"; kill "${pids[@]}" 2>/dev/null; rm -rf "$tmp"' EXIT
rc=0
fail() { echo "FAIL: $*"; rc=1; }

# screen FILE: the lines a terminal shows after FILE's bytes (the last,
# unfinished one included), one per line, for grep.
screen() {
	$PY - "$1" <<'PY'
import re, sys
data = open(sys.argv[1], "rb").read().decode("utf-8", "replace")
lines, cur, col = [], [], 0
for tok in re.findall(r"\x1b\[K|\r|\n|[^\r\n\x1b]+|\x1b", data):
	if tok == "\r":
		col = 0
	elif tok == "\n":
		lines.append("".join(cur)); cur, col = [], 0
	elif tok == "\x1b[K":
		del cur[col:]
	else:
		for ch in tok:
			if col < len(cur): cur[col] = ch
			else: cur.append(ch)
			col += 1
lines.append("".join(cur))
print("\n".join(lines))
PY
}

# A command that runs a long decode (followed by -f, the default with
# -- CMD) until $tmp/stop appears; its own output is not the tracer's.
cat >"$tmp/cmd.sh" <<EOF
#!/bin/sh
$W --tokens 500 --repeat 100000 >/dev/null 2>&1 & w=\$!
until [ -e "$tmp/stop" ]; do sleep 0.05; done
kill \$w; wait \$w
exit 0
EOF
chmod +x "$tmp/cmd.sh"
status_re='[0-9]+:[0-9]{2} \| [0-9.]+[kMG]? events/s, [0-9]+ lost'

echo "== on a terminal: a status line with events/s, erased before every other output"
script -qfec "stty cols 250; exec $T --status -i 1 -- $tmp/cmd.sh" /dev/null >"$tmp/tty" 2>&1 </dev/null &
sp=$!; pids+=($sp)
wait_line "$tmp/tty" "[1-9][0-9.]*[kMG]? events/s, [0-9]+ lost" $sp || rc=1
wait_line "$tmp/tty" "^interval: events mode" $sp || rc=1
touch "$tmp/stop"
wait $sp; st=$?
[ $st = 0 ] || fail "the tracer under a pty exited $st"
screen "$tmp/tty" >"$tmp/tty.screen"
grep -qa $'\r\e\[K' "$tmp/tty" || fail "no line rewritten in place (\\r ESC[K)"
if grep -Eq "$status_re" "$tmp/tty.screen"; then
	sed 's/^/  | /' "$tmp/tty.screen"; fail "a status line is left on the screen"
fi
for l in "^llminstr-trace: tracing 1 process" "^llminstr-trace: following pid [0-9]+" \
	 "^interval: events mode" "^llminstr-trace: events mode, .*ended by targets exited" \
	 "^Top kernels"; do
	grep -Eq "$l" "$tmp/tty.screen" || { sed 's/^/  | /' "$tmp/tty.screen"; fail "no line '$l' on the screen"; }
done
[ -z "$(tail -n 1 "$tmp/tty.screen")" ] || fail "the last line is not empty: '$(tail -n 1 "$tmp/tty.screen")'"
echo "ok: status shown and erased; $(grep -Eao "$status_re" "$tmp/tty" | tail -1)"

echo "== capturing on a terminal: tensors/s, GB/s, ratio, buffer fill, drops, blocked"
rm -f "$tmp/stop"
CAPTURE_HOST_ROWS=16 $P 0 >"$tmp/prog" 2>&1 & cp=$!; pids+=($cp)
wait_line "$tmp/prog" "capture_host: capturing" $cp || rc=1
script -qfec "stty cols 250; exec $T --capture all -o $tmp/c.llmi -p $cp" /dev/null \
	>"$tmp/ctty" 2>&1 </dev/null &
sp=$!; pids+=($sp)
cap_re='[0-9.]+[kMG]? tensors/s, raw [0-9.]+ GB/s, stored [0-9.]+ GB/s \([0-9.]+x\), buffer [0-9]+%, [0-9]+ dropped, [0-9.]+ s blocked \| [0-9.]+[kMG]? events/s, [0-9]+ lost'
wait_line "$tmp/ctty" "$cap_re" $sp || rc=1
kill $cp; wait $cp 2>/dev/null
wait $sp; st=$?
[ $st = 0 ] || fail "the capturing tracer under a pty exited $st"
screen "$tmp/ctty" >"$tmp/ctty.screen"
if grep -Eq "tensors/s" "$tmp/ctty.screen"; then
	sed 's/^/  | /' "$tmp/ctty.screen"; fail "a capture status line is left on the screen"
fi
grep -Eq "^Capture: [1-9][0-9]* tensors" "$tmp/ctty.screen" ||
	{ sed 's/^/  | /' "$tmp/ctty.screen"; fail "no capture summary at the start of a line"; }
echo "ok: $(grep -Eao "$cap_re" "$tmp/ctty" | tail -1)"

echo "== no terminal: no status, no \\r in stderr"
rm -f "$tmp/stop"
$T -i 1 -- "$tmp/cmd.sh" >"$tmp/out" 2>"$tmp/err" </dev/null & tp=$!; pids+=($tp)
# an interval summary comes after two status periods: a status would be out
wait_line "$tmp/out" "^interval: events mode" $tp || rc=1
touch "$tmp/stop"
wait $tp; st=$?
[ $st = 0 ] || { cat "$tmp/err"; fail "the tracer without a terminal exited $st"; }
if grep -qa $'\r' "$tmp/err" "$tmp/out" || grep -Eq "events/s" "$tmp/err"; then
	cat -A "$tmp/err" | head; fail "a status was written without a terminal"
fi
grep -q "ended by targets exited" "$tmp/out" || { cat "$tmp/out"; fail "no summary without a terminal"; }
echo "ok: stderr clean ($(wc -l <"$tmp/err") lines)"

echo "== -- CMD shares the terminal: no status unless --status"
rm -f "$tmp/stop"
script -qfec "stty cols 250; exec $T -i 1 -- $tmp/cmd.sh" /dev/null >"$tmp/tty2" 2>&1 </dev/null &
sp=$!; pids+=($sp)
# an interval summary comes after two status periods: a status would be out
wait_line "$tmp/tty2" "^interval: events mode" $sp || rc=1
touch "$tmp/stop"
wait $sp; st=$?
[ $st = 0 ] || { cat "$tmp/tty2"; fail "the tracer of a command under a pty exited $st"; }
if grep -qa $'\r\e\[K' "$tmp/tty2" || grep -Eq "$status_re" "$tmp/tty2"; then
	cat -A "$tmp/tty2" | head; fail "a status line with -- CMD and no --status"
fi
echo "ok: -- CMD: no status line"

echo "== the command's signal mask is not the tracer's"
want=$(sh -c 'grep ^SigBlk /proc/self/status')
$T -- sh -c 'grep ^SigBlk /proc/self/status' >"$tmp/out" 2>"$tmp/err" </dev/null ||
	{ cat "$tmp/err"; fail "tracing sh failed"; }
got=$(grep ^SigBlk "$tmp/out")
[ "$got" = "$want" ] || fail "the command starts with '$got', untraced '$want'"
echo "ok: $got"
exit $rc
