#!/usr/bin/env bash
# A ring buffer too small for the rate: what does not fit is counted as lost,
# printed in the summary and --json (and carried by the -o container), never
# silent; the launches received plus the records lost account for every
# launch the program made.
#
# A program on the stand-in runtime makes one warm-up launch, then N launches
# of one kernel and nothing else (a runtime launch is one record; the driver
# launch it makes is merged in BPF and makes none), so every lost record is
# one of those launches: received launches + lost = N + 1, exactly.
#  1. Deterministic loss: --ring-size 4K (about 56 records) and the tracer
#     stopped (SIGSTOP) while the N launches are made: at least N - 56 are
#     lost on any machine.
#  2. The tracer running, a 4K ring, a fast loop: whether anything is lost
#     depends on the machine; the accounting holds either way.
set -u
cd "$(dirname "$0")/../.."
T=build/bin/llminstr-trace D=build/bin/llminstr-dump PY=/usr/bin/python3
CUDA_INC=/usr/local/cuda/include
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root for BPF"; exit 77; }
[ -x $T ] && [ -x $D ] || { echo "SKIP: $T or $D not built"; exit 77; }
[ -f build/sim/libcudart.so.13 ] && [ -f build/sim/libcuda.so.1 ] ||
	{ echo "SKIP: stand-in runtime (build/sim) not built yet"; exit 77; }
[ -f $CUDA_INC/cuda.h ] || { echo "SKIP: no CUDA headers"; exit 77; }
tmp=$(mktemp -d); tp=
trap '[ -n "$tp" ] && kill -CONT $tp 2>/dev/null; rm -rf "$tmp"' EXIT

cat >"$tmp/flood.c" <<'C'
/* flood N DIR: warm-up launch, DIR/ready, wait DIR/go, N launches, DIR/done, wait DIR/end */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <cuda.h>
#include "sim.h"

static void k_fn(dim3 g, dim3 b, size_t sh, void **args) {}
static const struct sim_kernel_desc kd[] = { { "flood_kernel", k_fn, 1, { sizeof(int) } } };
static const struct sim_image img = { SIM_IMAGE_MAGIC, SIM_IMAGE_VERSION, 1, kd };

void flood_kernel(int x) { void *a[] = { &x }; SIM_STUB_LAUNCH(flood_kernel, a); }

__attribute__((constructor)) static void reg(void)
{
	static struct sim_fatbin_wrapper w = { SIM_FATBIN_MAGIC, 1, &img, NULL };
	void **fb = __cudaRegisterFatBinary(&w);

	__cudaRegisterFunction(fb, (const char *)flood_kernel, "flood_kernel", "flood_kernel",
			       -1, 0, 0, 0, 0, 0);
	__cudaRegisterFatBinaryEnd(fb);
}

static int step(const char *dir, const char *name, int wait)
{
	char p[4096];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	if (!wait) {
		FILE *f = fopen(p, "w");
		return f && !fclose(f) ? 0 : 4;
	}
	for (int t = 0; access(p, F_OK); t++) {
		if (t > 120000) { fprintf(stderr, "flood: no %s\n", p); return 3; }
		usleep(1000);
	}
	return 0;
}

int main(int argc, char **argv)
{
	dim3 one = { 1, 1, 1 };
	long n = atol(argv[1]);
	const char *dir = argv[2];

	SIM_LAUNCH(flood_kernel, one, one, 0, 0, 1);
	if (cudaDeviceSynchronize() != cudaSuccess) return 2;
	if (step(dir, "ready", 0) || step(dir, "go", 1)) return 3;
	for (long i = 0; i < n; i++)
		SIM_LAUNCH(flood_kernel, one, one, 0, 0, 1);
	/* nothing probed from here on: the launches are the only records made */
	if (step(dir, "done", 0) || step(dir, "end", 1)) return 3;
	return 0;
}
C
cc -O2 ${LLMI_TEST_CFLAGS:-} -D_GNU_SOURCE -I$CUDA_INC -Igpu/sim -o "$tmp/flood" "$tmp/flood.c" -Lbuild/sim \
	-l:libcudart.so.13 -l:libcuda.so.1 -Wl,-rpath,"$PWD/build/sim" ||
	{ echo "FAIL: cannot build the test program"; exit 1; }

wait_file() {	# path what: up to 60 s, for a stuck step only
	for _ in $(seq 1200); do [ -e "$1" ] && return 0; sleep 0.05; done
	echo "FAIL: $2 (no $1 after 60 s)"; exit 1
}

# json out n: received launches + lost == n + 1; the summary says the same
account() {
	$PY - "$1" "$2" "$3" <<'PY'
import json, re, sys
t = json.load(open(sys.argv[1])); out = open(sys.argv[2]).read(); n = int(sys.argv[3])
got = {k["name"]: k["launches"] for k in t["kernels"]}
seen, lost = got.get("flood_kernel", 0), t["events"]["lost"]
bad = []
if set(got) - {"flood_kernel"}: bad.append(f"unexpected kernels {got}")
if seen + lost != n + 1: bad.append(f"{seen} launches received + {lost} lost != {n + 1} made")
m = re.search(r"Events: (\d+) received, (\d+) lost( \(raise --ring-size\))?", out)
if not m: bad.append("the summary has no 'Events: N received, N lost' line")
elif int(m.group(2)) != lost or int(m.group(1)) != t["events"]["received"]:
    bad.append(f"summary '{m.group(0)}' disagrees with --json {t['events']}")
elif lost and not m.group(3): bad.append("a loss without the advice to raise --ring-size")
print("\n".join(bad) or f"{seen} launches received + {lost} lost = {n + 1} made")
sys.exit(1 if bad else 0)
PY
}

rc=0
echo "== 1. a 4K ring, the tracer stopped while 5000 launches are made"
d=$tmp/1; mkdir $d; n=5000
timeout 120 $T --ring-size 4K --json $d/t.json -o $d/o.llmi -- "$tmp/flood" $n $d >$d/out 2>&1 & to=$!
wait_file $d/ready "the program did not start under the tracer"
read -r tp _ < /proc/$to/task/$to/children	# the tracer, timeout's child
[ -n "$tp" ] && grep -q llminstr-trace /proc/$tp/comm || { echo "FAIL: no tracer under $to"; exit 1; }
kill -STOP $tp
touch $d/go
wait_file $d/done "the program did not make its launches"
kill -CONT $tp
touch $d/end
wait $to || { cat $d/out; echo "FAIL: tracer exited non-zero"; exit 1; }
tp=
account $d/t.json $d/out $n || rc=1
$PY - $d/t.json $n <<'PY' || rc=1
import json, sys
t = json.load(open(sys.argv[1])); n = int(sys.argv[2])
lost = t["events"]["lost"]
ok = lost >= n - 4096 // 64
print(f"{lost} lost with the consumer stopped" + ("" if ok else f": want at least {n - 4096 // 64}"))
sys.exit(0 if ok else 1)
PY
# the container says as much
timeout 60 $D info --json $d/o.llmi >$d/info.json 2>$d/info.err ||
	{ cat $d/info.err; echo "FAIL: llminstr-dump info failed"; rc=1; }
$PY - $d/t.json $d/info.json <<'PY' || rc=1
import json, sys
t = json.load(open(sys.argv[1])); i = json.load(open(sys.argv[2]))
ok = i["events"]["lost"] == t["events"]["lost"]
print(f"-o container: {i['events']['lost']} lost" + ("" if ok else f" != {t['events']['lost']}"))
sys.exit(0 if ok else 1)
PY

echo "== 2. a 4K ring, the tracer running, 100000 launches as fast as they go"
d=$tmp/2; mkdir $d; n=100000
touch $d/go $d/end
timeout 300 $T --ring-size 4K --json $d/t.json -- "$tmp/flood" $n $d >$d/out 2>&1 ||
	{ cat $d/out; echo "FAIL: tracer exited non-zero"; exit 1; }
account $d/t.json $d/out $n || rc=1
exit $rc
