#!/usr/bin/env bash
# llminstr-trace on a program that uses only the driver API (as JAX/XLA and
# hand-written driver code do), on the stand-in's libcuda.so.1: its
# synchronous and asynchronous copies per direction with bytes, its memsets
# (bytes = count x element size), allocations, event records, stream waits
# and event syncs are counted exactly, and a graph captured, instantiated
# and launched through the driver API is seen (its nodes once per replay),
# in events mode and in -T. (The runtime
# side, whose asynchronous copies the stand-in makes through these same
# driver calls, is counted once: trace_decode.sh checks it against --truth.)
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
T=build/bin/llminstr-trace PY=/usr/bin/python3 CC=${CC:-cc}
CUDA_INC=${CUDA_INC:-/usr/local/cuda/include}
need_bpf
[ -x $T ] || { echo "SKIP: $T not built"; exit 77; }
[ -e build/sim/libcuda.so.1 ] || { echo "SKIP: the stand-in runtime is not built"; exit 77; }
[ -e "$CUDA_INC/cuda.h" ] || { echo "SKIP: no cuda.h (CUDA toolkit) for the test program"; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

cat >"$tmp/drv.c" <<'C'
#include <cuda.h>
#include <stdio.h>
#include <stdlib.h>
#define CK(x) do { CUresult r_ = (x); if (r_) { fprintf(stderr, "%s: %d\n", #x, r_); exit(1); } } while (0)
int main(int argc, char **argv)
{
	int n = atoi(argv[1]);
	CUdevice dev;
	CUcontext ctx;
	CUstream s;
	CUevent e;
	CUdeviceptr d1, d2;
	void *h;

	CK(cuInit(0));
	CK(cuDeviceGet(&dev, 0));
	CK(cuDevicePrimaryCtxRetain(&ctx, dev));
	CK(cuCtxSetCurrent(ctx));
	CK(cuStreamCreate(&s, 0));
	CK(cuEventCreate(&e, 0));
	CK(cuMemAlloc(&d1, 1 << 20));
	CK(cuMemAlloc(&d2, 1 << 20));
	CK(cuMemAllocHost(&h, 1 << 20));
	for (int i = 0; i < n; i++) {
		CK(cuMemcpyHtoD(d1, h, 4096));
		CK(cuMemcpyHtoDAsync(d1, h, 8192, s));
		CK(cuMemcpyDtoDAsync(d2, d1, 1024, s));
		CK(cuMemcpyDtoHAsync(h, d2, 512, s));
		CK(cuMemsetD32Async(d1, 0, 256, s));
		CK(cuMemsetD8(d2, 1, 100));
		CK(cuEventRecord(e, s));
		CK(cuStreamWaitEvent(s, e, 0));
		CK(cuEventSynchronize(e));
	}
	CK(cuStreamSynchronize(s));
	/* a graph captured on the driver API: its nodes are not executions */
	CUstream s2;
	CUgraph g;
	CUgraphExec x;
	CK(cuStreamCreate(&s2, 0));
	CK(cuStreamBeginCapture(s2, CU_STREAM_CAPTURE_MODE_GLOBAL));
	CK(cuMemsetD32Async(d1, 0, 256, s2));
	CK(cuMemcpyDtoDAsync(d2, d1, 1024, s2));
	CK(cuStreamEndCapture(s2, &g));
	CK(cuGraphInstantiate(&x, g, 0));
	for (int i = 0; i < 10; i++)
		CK(cuGraphLaunch(x, s2));
	CK(cuStreamSynchronize(s2));
	CK(cuGraphExecDestroy(x));
	CK(cuGraphDestroy(g));
	CK(cuMemFree(d1));
	CK(cuMemFree(d2));
	CK(cuMemFreeHost(h));
	return 0;
}
C
$CC -O1 ${LLMI_TEST_CFLAGS:-} -I"$CUDA_INC" -o "$tmp/drv" "$tmp/drv.c" -Lbuild/sim -l:libcuda.so.1 \
	-Wl,-rpath,"$PWD/build/sim" || { echo "FAIL: cannot build the driver-API program"; exit 1; }
rc=0
for mode in "" -T; do
	timeout 60 $T --force $mode --json "$tmp/t.json" -- "$tmp/drv" 50 >"$tmp/out" 2>&1 ||
		{ cat "$tmp/out"; echo "FAIL: tracer exited non-zero (${mode:-events})"; rc=1; continue; }
	$PY - "$tmp/t.json" "${mode:-events}" <<'PY' || { cat "$tmp/out"; rc=1; }
import json, sys
t = json.load(open(sys.argv[1])); n = 50; bad = []
def want(what, got, exp):
    if got != exp: bad.append(f"{what}: {got} != {exp}")
m = t["memcpy"]
want("h2d", m["h2d"]["calls"], 2 * n); want("h2d bytes", m["h2d"]["bytes"], n * (4096 + 8192))
# the graph's copy and memset ran 10 times: replays count as executions
want("d2d", (m["d2d"]["calls"], m["d2d"]["bytes"]), (n + 10, (n + 10) * 1024))
want("d2h", (m["d2h"]["calls"], m["d2h"]["bytes"]), (n, n * 512))
want("memset", (t["memset"]["calls"], t["memset"]["bytes"]),
     (2 * n + 10, n * (256 * 4 + 100) + 10 * 256 * 4))
g = t["graphs"]
want("graphs", (g["captures"], g["captured_nodes"], g["instantiations"], g["launches"]), (1, 2, 1, 10))
a = {k: v["calls"] for k, v in t["api"].items()}
for name, c in (("cuMemcpyHtoD_v2", n), ("cuMemcpyHtoDAsync_v2", n), ("cuMemsetD32Async", n),
                ("cuMemsetD8_v2", n), ("cuEventRecord", n), ("cuStreamWaitEvent", n),
                ("cuEventSynchronize", n), ("cuMemAlloc_v2", 2), ("cuMemAllocHost_v2", 1),
                ("cuMemFree_v2", 2), ("cuMemFreeHost", 1), ("cuStreamSynchronize", 2),
                ("cuStreamBeginCapture_v2", 1), ("cuStreamEndCapture", 1),
                ("cuGraphInstantiateWithFlags", 1), ("cuGraphLaunch", 10)):
    want(name, a.get(name), c)
if t["api"]["cuMemcpyHtoD_v2"]["mean_ns"] is None: bad.append("no duration for a synchronous copy")
if t["events"]["lost"]: bad.append("events lost")
print(f"{sys.argv[2]}: " + ("; ".join(bad) if bad else "driver-API copies, memsets, allocations, events, graphs counted exactly"))
sys.exit(1 if bad else 0)
PY
done
exit $rc
