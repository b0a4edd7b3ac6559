#!/usr/bin/env bash
# -T with stream captures in two processes traced at once (-p A,B). Under -T a
# launch is counted in the kernel, except in a process that has a CUDA stream
# capture open: there it is a graph node, streamed for user space to record.
# That state is per process:
#  1. A has a capture open (begun before the attach) and ends it while B's is
#     open: B's capture must stay open, its 50 launches graph nodes replayed
#     3 times, not 50 executions (a count shared by all processes would drop
#     to 0 at A's end: B would count 57 launches instead of 157).
#  2. A holds a capture open while B makes 5000 plain launches: B's are
#     counted in the kernel, not streamed (-T streams almost nothing), and
#     exactly.
# A small program on the stand-in runtime plays A and B, step by step, each
# step started by a file the test creates (no timing assumed).
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
T=build/bin/llminstr-trace PY=/usr/bin/python3
CUDA_INC=/usr/local/cuda/include
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root for BPF"; exit 77; }
[ -x $T ] || { echo "SKIP: $T not built"; exit 77; }
[ -f build/sim/libcudart.so.13 ] && [ -f build/sim/libcuda.so.1 ] ||
	{ echo "SKIP: stand-in runtime (build/sim) not built yet"; exit 77; }
[ -f $CUDA_INC/cuda.h ] || { echo "SKIP: no CUDA headers"; exit 77; }
tmp=$(mktemp -d); pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$tmp"' EXIT

cat >"$tmp/cap.c" <<'C'
/* cap a|b STEP...: wait:F touch:F begin end launch:N graph:N sync */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cuda.h>
#include "sim.h"

static void k_fn(dim3 g, dim3 b, size_t sh, void **args) {}
static const struct sim_kernel_desc kd[] = { { "cap_a_kernel", k_fn, 1, { sizeof(int) } },
					      { "cap_b_kernel", k_fn, 1, { sizeof(int) } } };
static const struct sim_image img = { SIM_IMAGE_MAGIC, SIM_IMAGE_VERSION, 2, kd };

void cap_a_kernel(int x) { void *a[] = { &x }; SIM_STUB_LAUNCH(cap_a_kernel, a); }
void cap_b_kernel(int x) { void *a[] = { &x }; SIM_STUB_LAUNCH(cap_b_kernel, a); }

__attribute__((constructor)) static void reg(void)
{
	static struct sim_fatbin_wrapper w = { SIM_FATBIN_MAGIC, 1, &img, NULL };
	void **fb = __cudaRegisterFatBinary(&w);

	__cudaRegisterFunction(fb, (const char *)cap_a_kernel, "cap_a_kernel", "cap_a_kernel",
			       -1, 0, 0, 0, 0, 0);
	__cudaRegisterFunction(fb, (const char *)cap_b_kernel, "cap_b_kernel", "cap_b_kernel",
			       -1, 0, 0, 0, 0, 0);
	__cudaRegisterFatBinaryEnd(fb);
}

#define CK(x) do { if ((x) != cudaSuccess) { fprintf(stderr, "cap: %s failed\n", #x); return 2; } } while (0)

int main(int argc, char **argv)
{
	dim3 one = { 1, 1, 1 };
	cudaStream_t s;
	cudaGraph_t g = NULL;
	cudaGraphExec_t x = NULL;
	int b = argv[1][0] == 'b';

	CK(cudaStreamCreate(&s));
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];

		if (!strncmp(a, "wait:", 5)) {
			for (int t = 0; access(a + 5, F_OK); t++) {
				if (t > 120000) { fprintf(stderr, "cap: no %s\n", a + 5); return 3; }
				usleep(1000);
			}
		} else if (!strncmp(a, "touch:", 6)) {
			FILE *f = fopen(a + 6, "w");
			if (!f || fclose(f)) return 4;
		} else if (!strcmp(a, "begin")) {
			CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
		} else if (!strcmp(a, "end")) {
			CK(cudaStreamEndCapture(s, &g));
		} else if (!strncmp(a, "launch:", 7)) {
			for (int n = atoi(a + 7); n > 0; n--) {
				if (b) SIM_LAUNCH(cap_b_kernel, one, one, 0, s, 1);
				else SIM_LAUNCH(cap_a_kernel, one, one, 0, s, 1);
			}
		} else if (!strncmp(a, "graph:", 6)) {
			if (!x) CK(cudaGraphInstantiate(&x, g, 0));
			for (int n = atoi(a + 6); n > 0; n--)
				CK(cudaGraphLaunch(x, s));
		} else if (!strcmp(a, "sync")) {
			CK(cudaStreamSynchronize(s));
		} else {
			fprintf(stderr, "cap: unknown step %s\n", a);
			return 5;
		}
	}
	CK(cudaStreamSynchronize(s));
	return 0;
}
C
cc -O2 ${LLMI_TEST_CFLAGS:-} -D_GNU_SOURCE -I$CUDA_INC -Igpu/sim -o "$tmp/cap" "$tmp/cap.c" -Lbuild/sim \
	-l:libcudart.so.13 -l:libcuda.so.1 -Wl,-rpath,"$PWD/build/sim" ||
	{ echo "FAIL: cannot build the test program"; exit 1; }

# Waits (tests/lib.sh) for a file; only a stuck step fails.
wait_file() {
	wait_for "$2" test -e "$1" || exit 1
}

start_tracer() {	# json out pids
	timeout 120 $T -T -p "$3" --json "$1" >"$2" 2>&1 &
	tp=$!
	wait_line "$2" "tracing" $tp || { echo "FAIL: the tracer did not start"; exit 1; }
}

finish() {	# out: waits for the programs and the tracer
	local p
	for p in "${pids[@]}"; do wait "$p" || { echo "FAIL: test program $p failed"; exit 1; }; done
	pids=()
	wait $tp || { cat "$1"; echo "FAIL: tracer exited non-zero"; exit 1; }
	grep -q "ended by targets exited" "$1" || { cat "$1"; echo "FAIL: no end on exit"; exit 1; }
}

rc=0
d=$tmp/1
mkdir "$d"
echo "== 1. A ends a capture begun before the attach while B's is open"
"$tmp/cap" a begin touch:$d/a_ready wait:$d/a_go end touch:$d/a_done launch:5 & pa=$!
"$tmp/cap" b touch:$d/b_ready wait:$d/b_go begin touch:$d/b_begun wait:$d/b_go2 \
	launch:50 end graph:3 launch:7 & pb=$!
pids=($pa $pb)
wait_file $d/a_ready "A did not start"
wait_file $d/b_ready "B did not start"
start_tracer $d/t.json $d/out $pa,$pb
touch $d/b_go; wait_file $d/b_begun "B did not begin its capture"
touch $d/a_go; wait_file $d/a_done "A did not end its capture"
touch $d/b_go2
finish $d/out
$PY - $d/t.json <<'PY' || rc=1
import json, sys
t = json.load(open(sys.argv[1]))
got = {k["name"]: k["launches"] for k in t["kernels"]}
want = {"cap_a_kernel": 5, "cap_b_kernel": 3 * 50 + 7}
bad = [] if got == want else [f"kernels {got} != {want}"]
if t["graphs"]["launches"] != 3: bad.append(f"graph launches {t['graphs']['launches']} != 3")
print("\n".join(bad) or "B's capture stayed open through A's end: 50 nodes replayed 3 times, 7 launches")
sys.exit(1 if bad else 0)
PY

d=$tmp/2
mkdir "$d"
echo "== 2. A holds a capture open while B launches"
"$tmp/cap" a touch:$d/a_ready wait:$d/a_go begin launch:1 touch:$d/a_begun wait:$d/a_go2 end \
	graph:1 & pa=$!
"$tmp/cap" b touch:$d/b_ready wait:$d/b_go launch:5000 touch:$d/b_done & pb=$!
pids=($pa $pb)
wait_file $d/a_ready "A did not start"
wait_file $d/b_ready "B did not start"
start_tracer $d/t.json $d/out $pa,$pb
touch $d/a_go; wait_file $d/a_begun "A did not begin its capture"
touch $d/b_go; wait_file $d/b_done "B did not launch"
touch $d/a_go2
finish $d/out
$PY - $d/t.json <<'PY' || rc=1
import json, sys
t = json.load(open(sys.argv[1]))
got = {k["name"]: k["launches"] for k in t["kernels"]}
want = {"cap_a_kernel": 1, "cap_b_kernel": 5000}
bad = [] if got == want else [f"kernels {got} != {want}"]
# A's few records (names, its capture, one captured launch, the graph launch)
ev = t["events"]["received"]
if ev >= 1000: bad.append(f"{ev} records streamed: B's launches were streamed during A's capture")
if t["events"]["lost"]: bad.append(f"{t['events']['lost']} records lost")
print("\n".join(bad) or f"B's 5000 launches counted in the kernel during A's capture ({ev} records streamed)")
sys.exit(1 if bad else 0)
PY
exit $rc
