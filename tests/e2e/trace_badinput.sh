#!/usr/bin/env bash
# Bad input to llminstr-trace: each case gives exactly one line on stderr,
# nothing on stdout and a non-zero exit (1, or 126/127 for a command that
# cannot run, as a shell gives), never a crash. A process the tracer may not
# look into is named with the file and the reason.
set -u
cd "$(dirname "$0")/../.."
T=build/bin/llminstr-trace
[ -x $T ] || { echo "SKIP: $T not built"; exit 77; }
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (the pid and library cases load BPF)"; exit 77; }
tmp=$(mktemp -d); sleep 30 & sp=$!
trap 'kill $sp 2>/dev/null; rm -rf "$tmp"' EXIT
touch "$tmp/unreadable"; chmod 000 "$tmp/unreadable"
rc=0 pre=()
one_st() {	# exit-status expected-substring args...
	local want_st=$1 want=$2; shift 2
	timeout 30 "${pre[@]}" $T "$@" >"$tmp/o" 2>"$tmp/e"; local st=$?
	local n; n=$(wc -l <"$tmp/e")
	if [ $st != "$want_st" ] || [ "$n" != 1 ] || [ -s "$tmp/o" ] || ! grep -q -- "$want" "$tmp/e"; then
		echo "FAIL: llminstr-trace $* (exit $st, want $want_st; $n lines):"; cat "$tmp/e" "$tmp/o"; rc=1
	else
		echo "ok: $* -> exit $st: $(cat "$tmp/e")"
	fi
}
one() { one_st 1 "$@"; }
one "unknown option" --frobnicate -p 1
one "unknown option" -Z -p 1
one "-d '12ms'" -d 12ms -p 1
one "-i 'abc'" -i abc -p 1
one "-p 'abc'" -p abc
one "-p '0'" -p 0
one "nothing to trace"
one "needs a value" -p
one "--ring-size" --ring-size 3000 -p 1
one "--capture: capture spec term 'every=0'" --capture every=0 -p 1
one "add --capture SPEC" --codec lossless -p 1
one "--codec 'zip'" --codec zip -p 1
one "-o: give a file name" -o "" -p 1
one "--json: give a file name" --json "" -p 1
one "--perfetto: give a file name" --perfetto "" -p 1
one "pid 999999 does not exist" -p 999999
one "pid $sp maps no libcudart or libcuda" -p $sp
one "--lib $tmp/none" --lib "$tmp/none" -p $sp
# a command that cannot run: a shell's status, nothing traced (no "tracing" line)
cp /etc/hostname "$tmp/noexec" 2>/dev/null || echo x >"$tmp/noexec"; chmod 644 "$tmp/noexec"
one_st 126 "cannot run /etc/passwd: Permission denied" -- /etc/passwd
one_st 126 "cannot run $tmp/noexec: Permission denied" -- "$tmp/noexec"
one_st 127 "cannot run $tmp/missing: No such file or directory" -- "$tmp/missing"
one_st 127 "cannot run no-such-command-llmi: command not found in PATH" -- no-such-command-llmi
one_st 126 "cannot run $tmp: Is a directory" -- "$tmp"
printf '#!/nonexistent/interp\n' >"$tmp/bad.sh"; chmod 755 "$tmp/bad.sh"
one_st 126 "its interpreter /nonexistent/interp: No such file" -- "$tmp/bad.sh"
# a process the tracer may not look into: said before anything is loaded, naming
# the pid and the file. The tracer runs as root of a user namespace owned by
# nobody: root there (it passes the privilege check), nobody to the kernel.
if setpriv --reuid=nobody --regid=nogroup --clear-groups unshare -r true 2>/dev/null; then
	pre=(setpriv --reuid=nobody --regid=nogroup --clear-groups unshare -r)
	one "pid $sp: cannot read /proc/$sp/maps: Permission denied" -p $sp
	pre=()
else
	echo "note: no unprivileged user namespace here: the unreadable-maps case is not run"
fi
# where even root may not read pid 1's maps (a microVM's init), as first reported
if ! cat /proc/1/maps >/dev/null 2>&1; then
	one "pid 1: cannot read /proc/1/maps: Permission denied" -p 1
fi
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
