#!/usr/bin/env bash
# llminstr-trace -- CMD with a statically linked CMD: the command runs exactly
# once, with its arguments (the tracer learns its libraries from its ELF
# headers and never runs it to ask; a static program ignores
# LD_TRACE_LOADED_OBJECTS and used to run an extra time, as root, without its
# arguments, while the tracer waited for it). The tracer ends with its exit
# status.
set -u
cd "$(dirname "$0")/../.."
T=build/bin/llminstr-trace
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root for BPF"; exit 77; }
[ -x $T ] || { echo "SKIP: $T not built"; exit 77; }
tmp=$(mktemp -d); tp=
trap 'touch "$tmp/go"; [ -n "$tp" ] && wait $tp 2>/dev/null; rm -rf "$tmp"' EXIT
rc=0

# Each run leaves ran.PID with its arguments, then waits for $MARK/go.
cat >"$tmp/prog.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv)
{
	char p[4096];
	FILE *f;

	snprintf(p, sizeof(p), "%s/ran.%d", getenv("MARK"), (int)getpid());
	if (!(f = fopen(p, "w")))
		return 2;
	for (int i = 1; i < argc; i++)
		fprintf(f, "%s\n", argv[i]);
	fclose(f);
	snprintf(p, sizeof(p), "%s/go", getenv("MARK"));
	while (access(p, F_OK))
		usleep(50000);
	return 7;
}
C
if ! ${CC:-cc} -static -O1 -o "$tmp/prog" "$tmp/prog.c" 2>"$tmp/cc.err"; then
	echo "SKIP: cannot link a static program here: $(head -n 1 "$tmp/cc.err")"; exit 77
fi
if LC_ALL=C readelf -l "$tmp/prog" 2>/dev/null | grep -q "INTERP"; then
	echo "SKIP: cc -static gave a program with a loader (PT_INTERP)"; exit 77
fi

MARK=$tmp timeout 120 $T -- "$tmp/prog" arg "two words" >"$tmp/out" 2>&1 & tp=$!
# the first run of the program, whichever it is (60 s: a deadline, not a pace)
for _ in $(seq 1200); do compgen -G "$tmp/ran.*" >/dev/null && break; sleep 0.05; done
first=$(compgen -G "$tmp/ran.*" | head -n 1)
if [ -z "$first" ]; then
	cat "$tmp/out"; echo "FAIL: the command never started"; exit 1
fi
printf 'arg\ntwo words\n' >"$tmp/want"
cmp -s "$first" "$tmp/want" || { echo "FAIL: the first run had arguments [$(tr '\n' ' ' <"$first")]"; rc=1; }
touch "$tmp/go"
wait $tp; st=$?; tp=
n=$(compgen -G "$tmp/ran.*" | wc -l)
[ "$n" = 1 ] && echo "ok: the static command ran once, with its arguments" ||
	{ echo "FAIL: the command ran $n times"; rc=1; }
[ $st = 7 ] && echo "ok: the tracer exits with the command's status (7)" ||
	{ cat "$tmp/out"; echo "FAIL: tracer exit $st, the command exited 7"; rc=1; }
grep -q "pid [0-9]* exited with status 7" "$tmp/out" || { cat "$tmp/out"; echo "FAIL: the summary does not say how it ended"; rc=1; }
exit $rc
