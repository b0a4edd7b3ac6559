#!/usr/bin/env bash
# Runtime -> driver dedup on the stand-in runtime, where cudaLaunchKernel
# calls libcuda's exported cuLaunchKernel on the same thread (as NVIDIA's
# does). A program alternates
#   - a runtime launch of a valid stub: counted once, not twice;
#   - a runtime launch that fails before reaching the driver (bad handle);
#   - a direct driver launch right after it, from main and from a deeper
#     frame (as cuBLAS would): each must still be counted.
# Then a sweep: a failed runtime launch, then a direct driver launch of
# another kernel from every depth 0..4 KiB (16-byte steps) below it. The
# tracer's read-free fast path trusts a driver launch made exactly as deep
# below a runtime launch as the runtime itself enters the driver (see
# bpf/llminstr_trace.bpf.c): at most that one depth may be taken for the
# runtime's, every other one must be counted.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
T=build/bin/llminstr-trace PY=/usr/bin/python3
CUDA_INC=/usr/local/cuda/include
need_bpf
[ -x $T ] || { echo "SKIP: $T not built"; exit 77; }
[ -f build/sim/libcudart.so.13 ] && [ -f build/sim/libcuda.so.1 ] ||
	{ echo "SKIP: stand-in runtime (build/sim) not built yet"; exit 77; }
[ -f $CUDA_INC/cuda.h ] || { echo "SKIP: no CUDA headers"; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/d.c" <<'C'
#include <stdio.h>
#include <cuda.h>
#include "sim.h"

static int runs;
static void k_fn(dim3 g, dim3 b, size_t sh, void **args) { __atomic_add_fetch(&runs, 1, 0); }
static const struct sim_kernel_desc kd[] = { { "dedup_kernel", k_fn, 1, { sizeof(int) } },
					      { "sweep_kernel", k_fn, 1, { sizeof(int) } } };
static const struct sim_image img = { SIM_IMAGE_MAGIC, SIM_IMAGE_VERSION, 2, kd };
static void **fatbin;

/* the host stub: its symbol is the kernel's name */
void dedup_kernel(int x) { void *a[] = { &x }; SIM_STUB_LAUNCH(dedup_kernel, a); }

__attribute__((constructor)) static void reg(void)
{
	static struct sim_fatbin_wrapper w = { SIM_FATBIN_MAGIC, 1, &img, NULL };

	fatbin = __cudaRegisterFatBinary(&w);
	__cudaRegisterFunction(fatbin, (const char *)dedup_kernel, "dedup_kernel", "dedup_kernel",
			       -1, 0, 0, 0, 0, 0);
	__cudaRegisterFatBinaryEnd(fatbin);
}

__attribute__((noinline)) static int deep(CUfunction f, int depth)
{
	volatile char pad[256];

	pad[0] = 0;
	if (depth)
		return deep(f, depth - 1) + pad[0];
	int x = 1;
	void *args[] = { &x };
	return cuLaunchKernel(f, 1, 1, 1, 1, 1, 1, 0, 0, args, NULL);
}

/* a direct driver launch from pad bytes (a multiple of 16) deeper */
__attribute__((noinline)) static int at_depth(CUfunction f, unsigned pad)
{
	volatile char *p = __builtin_alloca(pad + 16);
	int x = 1;
	void *args[] = { &x };

	p[0] = 0;
	return cuLaunchKernel(f, 1, 1, 1, 1, 1, 1, 0, 0, args, NULL) + p[0];
}

int main(void)
{
	dim3 one = { 1, 1, 1 };
	CUmodule m;
	CUfunction f, g;
	int x = 1, n = 2000, bad = 0;
	void *args[] = { &x };

	cudaFree(0);
	if (cuModuleLoadData(&m, &img) || cuModuleGetFunction(&f, m, "dedup_kernel") ||
	    cuModuleGetFunction(&g, m, "sweep_kernel"))
		return 2;
	for (int i = 0; i < n; i++) {
		SIM_LAUNCH(dedup_kernel, one, one, 0, 0, 1);		/* runtime, ok */
		bad += cudaLaunchKernel((void *)0x1234, one, one, args, 0, 0) != cudaSuccess;
		if (cuLaunchKernel(f, 1, 1, 1, 1, 1, 1, 0, 0, args, NULL))	/* same depth */
			return 3;
		bad += cudaLaunchKernel((void *)0x1234, one, one, args, 0, 0) != cudaSuccess;
		if (deep(f, 2))						/* deeper */
			return 4;
	}
	for (int i = 0; i < 20; i++) {
		for (unsigned pad = 0; pad <= 4096; pad += 16) {
			SIM_LAUNCH(dedup_kernel, one, one, 0, 0, 1);	/* keeps the depth learnt */
			bad += cudaLaunchKernel((void *)0x1234, one, one, args, 0, 0) != cudaSuccess;
			if (at_depth(g, pad))
				return 6;
		}
	}
	cudaDeviceSynchronize();
	printf("%d runs, %d failed runtime launches\n", runs, bad);
	return runs == 3 * n + 2 * 20 * 257 && bad == 2 * n + 20 * 257 ? 0 : 5;
}
C
cc -O2 ${LLMI_TEST_CFLAGS:-} -D_GNU_SOURCE -I$CUDA_INC -Igpu/sim -o "$tmp/d" "$tmp/d.c" -Lbuild/sim \
	-l:libcudart.so.13 -l:libcuda.so.1 -Wl,-rpath,"$PWD/build/sim" ||
	{ echo "FAIL: cannot build the test program"; exit 1; }
timeout 60 $T --json "$tmp/t.json" -- "$tmp/d" >"$tmp/out" 2>&1 ||
	{ cat "$tmp/out"; echo "FAIL: tracer or program exited non-zero"; exit 1; }
$PY - "$tmp/t.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
got = {k["name"]: k["launches"] for k in t["kernels"]}
sweep, reps = 20 * 257, 20
# at most one depth of the sweep (reps launches) may be taken for the runtime's
missed = sweep - got.get("sweep_kernel", 0)
want = {"dedup_kernel": 6000 + sweep, "<unnamed 0x1234>": 4000 + sweep,
        "sweep_kernel": sweep - missed}
bad = []
if missed not in (0, reps): bad.append(f"sweep: {missed} direct driver launches not counted, not 0 or {reps}")
if got != want: bad.append(f"kernels {got} != {want}")
if t["driver_launches"] != 4000 + sweep - missed:
    bad.append(f"driver launches {t['driver_launches']} != {4000 + sweep - missed}")
if t["dedup"]["driver_launches_merged"] != 2000 + sweep + missed:
    bad.append(f"merged {t['dedup']['driver_launches_merged']} != {2000 + sweep + missed}")
print("\n".join(bad) or "runtime launches counted once; direct driver launches after failed runtime "
      f"launches counted ({missed} of the {sweep} in the depth sweep taken for the runtime's: "
      "the one documented depth)")
sys.exit(1 if bad else 0)
PY
