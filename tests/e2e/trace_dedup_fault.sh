#!/usr/bin/env bash
# The runtime/driver dedup state cannot be written into the BPF maps: the
# target is not attached, and one line says which pid, which library and
# why. Traced anyway, every runtime launch would count twice (once more as
# the driver launch the runtime makes for it), without a word.
#
# The fault is injected into the real tracer: a preloaded syscall() fails
# BPF_MAP_UPDATE_ELEM on one named map (rt_text: code ranges per API,
# rt_abs: the mode per process) with ENOMEM; every other call goes through.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
T=build/bin/llminstr-trace W=build/bin/llm_decode PY=/usr/bin/python3
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root for BPF"; exit 77; }
[ -x $T ] || { echo "SKIP: $T not built"; exit 77; }
[ -x $W ] || { echo "SKIP: $W not built yet"; exit 77; }
ldd $T | grep -q 'libc\.so' || { echo "SKIP: $T is static: no syscall() to interpose"; exit 77; }
tmp=$(mktemp -d); pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$tmp"' EXIT

cat >"$tmp/fault.c" <<'C'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <linux/bpf.h>

/* libbpf enters the kernel through libc's syscall(): fail one map's updates */
long syscall(long nr, ...)
{
	static long (*real)(long, ...);
	const char *map = getenv("FAULT_BPF_MAP");
	long a[6];
	va_list ap;

	va_start(ap, nr);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (!real)
		real = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
	if (nr == SYS_bpf && a[0] == BPF_MAP_UPDATE_ELEM && map) {
		union bpf_attr *at = (union bpf_attr *)a[1], q;
		struct bpf_map_info info;

		memset(&q, 0, sizeof(q));
		memset(&info, 0, sizeof(info));
		q.info.bpf_fd = at->map_fd;
		q.info.info_len = sizeof(info);
		q.info.info = (uint64_t)(uintptr_t)&info;
		if (!real(SYS_bpf, BPF_OBJ_GET_INFO_BY_FD, &q, sizeof(q)) && !strcmp(info.name, map)) {
			errno = ENOMEM;
			return -1;
		}
	}
	return real(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}
C
cc -shared -fPIC -O2 ${LLMI_TEST_CFLAGS:-} -o "$tmp/fault.so" "$tmp/fault.c" -ldl ||
	{ echo "FAIL: cannot build the fault library"; exit 1; }

WARGS="-q --tokens 8 --layers 1"
rc=0

# The one line: pid, library, map, reason.
one_line() {	# out pid map
	local n
	n=$(wc -l <"$1")
	if [ "$n" != 1 ] ||
	   ! grep -Eq "^llminstr-trace: pid $2: not attached to /[^ ]*libcudart\.so\.13: .*$3.*: Cannot allocate memory$" "$1"; then
		cat "$1"; echo "FAIL: want one line naming pid $2, libcudart, $3 and the reason"; rc=1
		return 1
	fi
	echo "  $(cat "$1")"
}

for map in rt_text rt_abs; do
	echo "== -- CMD, $map not writable"
	rm -f "$tmp/w.json"
	FAULT_BPF_MAP=$map LD_PRELOAD="$(san_runtime) $tmp/fault.so" timeout 60 $T --json "$tmp/t.json" -- \
		$W $WARGS --truth "$tmp/w.json" >"$tmp/out" 2>&1
	st=$?
	[ $st -ne 0 ] && [ $st -ne 124 ] || { cat "$tmp/out"; echo "FAIL: exit $st, want a failure"; rc=1; }
	one_line "$tmp/out" '[0-9]+' $map
	[ ! -e "$tmp/w.json" ] || { echo "FAIL: the command ran although nothing was attached"; rc=1; }
	[ ! -e "$tmp/t.json" ] || { echo "FAIL: --json written for a trace that never started"; rc=1; }
done

echo "== -p PID, rt_text not writable: the target goes on unharmed"
$W $WARGS --wait-file "$tmp/go" --truth "$tmp/w.json" 2>/dev/null & wp=$!
pids=($wp)
# the workload maps its libraries before it waits; its pid is enough to try
for _ in $(seq 1200); do grep -q libcudart "/proc/$wp/maps" 2>/dev/null && break; sleep 0.05; done
FAULT_BPF_MAP=rt_text LD_PRELOAD="$(san_runtime) $tmp/fault.so" timeout 60 $T -p $wp >"$tmp/out" 2>&1
st=$?
[ $st -ne 0 ] && [ $st -ne 124 ] || { cat "$tmp/out"; echo "FAIL: exit $st, want a failure"; rc=1; }
one_line "$tmp/out" $wp rt_text
touch "$tmp/go"
wait $wp || { echo "FAIL: the target failed after the refused attach"; rc=1; }
pids=()

# The library itself changes nothing: with no map named, the counts are exact.
echo "== the same, no fault"
rm -f "$tmp/t.json"
FAULT_BPF_MAP=none LD_PRELOAD="$(san_runtime) $tmp/fault.so" timeout 60 $T --json "$tmp/t.json" -- \
	$W $WARGS --truth "$tmp/w.json" >"$tmp/out" 2>&1 ||
	{ cat "$tmp/out"; echo "FAIL: tracer failed with no fault"; exit 1; }
$PY - "$tmp/t.json" "$tmp/w.json" <<'PY' || rc=1
import json, sys
t = json.load(open(sys.argv[1])); w = json.load(open(sys.argv[2]))
got = {k["name"]: k["launches"] for k in t["kernels"]}
ok = got == w["kernels"] and t["launches"] == w["launches"]
print(f"  no fault: {t['launches']} launches, truth {w['launches']}" + ("" if ok else f": {got} != {w['kernels']}"))
sys.exit(0 if ok else 1)
PY
exit $rc
