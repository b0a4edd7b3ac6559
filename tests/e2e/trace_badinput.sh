#!/usr/bin/env bash
# Bad input to llminstr-trace: each case gives exactly one line on stderr,
# nothing on stdout and a non-zero exit, never a crash.
set -u
cd "$(dirname "$0")/../.."
T=build/bin/llminstr-trace
[ -x $T ] || { echo "SKIP: $T not built"; exit 77; }
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (the pid and library cases load BPF)"; exit 77; }
tmp=$(mktemp -d); sleep 30 & sp=$!
trap 'kill $sp 2>/dev/null; rm -rf "$tmp"' EXIT
touch "$tmp/unreadable"; chmod 000 "$tmp/unreadable"
rc=0
one() {	# expected-substring args...
	local want=$1; shift
	timeout 30 $T "$@" >"$tmp/o" 2>"$tmp/e"; local st=$?
	local n; n=$(wc -l <"$tmp/e")
	if [ $st -eq 0 ] || [ $st -ge 124 ] || [ "$n" != 1 ] || [ -s "$tmp/o" ] || ! grep -q -- "$want" "$tmp/e"; then
		echo "FAIL: llminstr-trace $* (exit $st, $n lines):"; cat "$tmp/e" "$tmp/o"; rc=1
	else
		echo "ok: $* -> $(cat "$tmp/e")"
	fi
}
one "unknown option" --frobnicate -p 1
one "unknown option" -Z -p 1
one "-d '12ms'" -d 12ms -p 1
one "-i 'abc'" -i abc -p 1
one "-p 'abc'" -p abc
one "-p '0'" -p 0
one "nothing to trace"
one "needs a value" -p
one "--ring-size" --ring-size 3000 -p 1
one "not available yet" --capture all -p 1
one "--codec 'zip'" --codec zip -p 1
one "-o: give a file name" -o "" -p 1
one "pid 999999 does not exist" -p 999999
one "pid $sp maps no libcudart or libcuda" -p $sp
one "--lib $tmp/none" --lib "$tmp/none" -p $sp
# outputs: said before tracing starts, and a symbolic link is never followed
echo keep >"$tmp/victim"; ln -s "$tmp/victim" "$tmp/link"
one "--json $tmp/nodir/x.json: directory $tmp/nodir does not exist" --json "$tmp/nodir/x.json" -- build/bin/llm_decode -q --tokens 2
one "--json $tmp/link.*symbolic link" --json "$tmp/link" -- build/bin/llm_decode -q --tokens 2
one "--perfetto $tmp/link.*symbolic link" --perfetto "$tmp/link" -- build/bin/llm_decode -q --tokens 2
one "--perfetto $tmp/link.*symbolic link" --json "$tmp/j.json" --perfetto "$tmp/link" -- build/bin/llm_decode -q --tokens 2
[ -e "$tmp/j.json" ] && { echo "FAIL: a failed start left an empty --json file"; rc=1; }
[ "$(cat "$tmp/victim")" = keep ] || { echo "FAIL: a symlinked output was written through"; rc=1; }
if [ -n "$(command -v setpriv)" ] && id nobody >/dev/null 2>&1; then
	# root reads anything; an unprivileged user gets the privilege message
	timeout 10 setpriv --reuid=nobody --regid=nogroup --clear-groups $T -p $sp >"$tmp/o" 2>"$tmp/e"
	st=$?
	if [ $st -eq 0 ] || [ "$(wc -l <"$tmp/e")" != 1 ] || ! grep -q "needs root" "$tmp/e"; then
		echo "FAIL: unprivileged run: exit $st"; cat "$tmp/e"; rc=1
	else
		echo "ok: unprivileged -> $(cat "$tmp/e")"
	fi
fi
exit $rc
