#!/usr/bin/env bash
# llminstr-trace on a program built here with nvcc -cudart shared against
# NVIDIA's own libcudart.so.13. No GPU is needed: the calls fail without a
# driver, but the entry probes fire first. 1000 launches of scale_kernel, 500
# of a template kernel and 200 of one whose mangled name is longer than a
# short name buffer (as PyTorch's and CUTLASS's are) must be counted exactly
# and named as nm -C names them without the argument list (and without the return type nm -C prints
# for template instances: llmi_demangle's convention, shared with the
# workload's --truth); in the timeline with their arguments. The same
# program linked with nvcc's default static cudart is traced through the
# executable's own symbols. Last, a late attach: an nvcc program whose
# kernels fetched their handles before llminstr-trace -p attached (on the
# stand-in runtime, whose __cudaGetKernel hands out handles as NVIDIA's does
# on a GPU) has them named from the stubs' statics, in events mode and -T;
# stripped of .symtab, the same launches are counted, unnamed. The late
# attach runs as a user would trace a server: the program launches once the
# tracer is attached, lives on after, and the tracer is stopped (SIGTERM)
# once the program says its launches are done.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
T=build/bin/llminstr-trace PY=/usr/bin/python3
NVCC=${NVCC:-/usr/local/cuda/bin/nvcc}
CUDA=$(dirname "$(dirname "$NVCC")")
need_bpf
[ -x $T ] || { echo "SKIP: $T not built"; exit 77; }
[ -x "$NVCC" ] || { echo "SKIP: no nvcc"; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/k.cu" <<'CU'
#include <cstdio>
#include <cstdlib>
template <typename T> __global__ void add_kernel(T *a, T v, int n) { if ((int)threadIdx.x < n) a[threadIdx.x] += v; }
namespace a_kernel_library_namespace_with_a_long_name { namespace elementwise_implementation_details {
template <int V, int U, typename F> struct launch_shape_descriptor { F f; };
struct multiply_by_a_scalar_functor_with_a_descriptive_name { float s; };
template <typename T, typename W> __global__ void elementwise_kernel_with_a_long_name(T *a, W w, int n) { if ((int)threadIdx.x < n) a[threadIdx.x] *= w.f.s; }
}}
using namespace a_kernel_library_namespace_with_a_long_name::elementwise_implementation_details;
typedef launch_shape_descriptor<128, 4, multiply_by_a_scalar_functor_with_a_descriptive_name> shape_t;
__global__ void scale_kernel(float *a, float s, int n) { if ((int)threadIdx.x < n) a[threadIdx.x] *= s; }
int main(int argc, char **argv)
{
	int n1 = atoi(argv[1]), n2 = atoi(argv[2]), n3 = argc > 3 ? atoi(argv[3]) : 0;
	shape_t w = { { 2.0f } };
	float *d = nullptr;
	int *di = nullptr;
	cudaMalloc(&d, 1024);
	cudaMalloc(&di, 1024);
	for (int i = 0; i < n1; i++) scale_kernel<<<1, 32>>>(d, 2.0f, 32);
	for (int i = 0; i < n2; i++) add_kernel<int><<<2, 64>>>(di, 1, 32);
	for (int i = 0; i < n3; i++) elementwise_kernel_with_a_long_name<float, shape_t><<<1, 32>>>(d, w, 32);
	cudaDeviceSynchronize();
	printf("%s\n", cudaGetErrorString(cudaGetLastError()));
	return 0;
}
CU
"$NVCC" -cudart shared -o "$tmp/k" "$tmp/k.cu" || { echo "FAIL: nvcc"; exit 1; }
export LD_LIBRARY_PATH=$CUDA/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
timeout 60 $T --json "$tmp/t.json" --perfetto "$tmp/p.json" -- "$tmp/k" 1000 500 200 >"$tmp/out" 2>&1 ||
	{ cat "$tmp/out"; echo "FAIL: tracer exited non-zero"; exit 1; }
cat "$tmp/out"
want=$(nm -C "$tmp/k" | sed -n 's/^[0-9a-f]* [tT] \(.*add_kernel<int>\)(.*/\1/p' | head -n1)
long=$(nm -C "$tmp/k" | sed -n 's/^[0-9a-f]* [tTW] \(.*elementwise_kernel_with_a_long_name<.*>\)(.*/\1/p' | head -n1)
[ ${#long} -gt 300 ] || { echo "FAIL: nm -C gives no long kernel name ('$long')"; exit 1; }
$PY - "$tmp/t.json" "$tmp/p.json" "$want" "$long" <<'PY'
import json, sys
t = json.load(open(sys.argv[1])); p = json.load(open(sys.argv[2])); tmpl = sys.argv[3]; long = sys.argv[4]
got = {k["name"]: k["launches"] for k in t["kernels"]}
if tmpl.startswith('void '): tmpl = tmpl[5:]
if long.startswith('void '): long = long[5:]
want = {"scale_kernel": 1000, tmpl: 500, long: 200}
bad = []
if got != want: bad.append(f"kernels {got} != {want}")
if t["launches"] != 1700: bad.append(f"launches {t['launches']} != 1700")
if t["api"]["cudaLaunchKernel"]["calls"] != 1700: bad.append("cudaLaunchKernel calls != 1700")
if "libcudart.so.13" not in t["targets"][0]["libs"][0]: bad.append("libcudart.so.13 not found")
# nm -C: 'void add_kernel<int>'; the tracer drops the return type
if tmpl.startswith('void '): tmpl = tmpl[5:]
names = {e["name"] for e in p["traceEvents"] if e["cat"] == "launch"}
if "scale_kernel(float*, float, int)" not in names: bad.append(f"timeline names {names}")
print("\n".join(bad) or "exact counts and demangled names on NVIDIA's libcudart")
sys.exit(1 if bad else 0)
PY
st=$?
[ $st = 0 ] || exit $st
"$NVCC" -o "$tmp/ks" "$tmp/k.cu" || { echo "FAIL: nvcc (static cudart)"; exit 1; }
timeout 60 $T --json "$tmp/s.json" -- "$tmp/ks" 300 200 >"$tmp/out" 2>&1 ||
	{ cat "$tmp/out"; echo "FAIL: tracer exited non-zero (static cudart)"; exit 1; }
$PY - "$tmp/s.json" "$tmp/ks" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
got = {k["name"]: k["launches"] for k in t["kernels"]}
ok = got == {"scale_kernel": 300, "add_kernel<int>": 200} and t["targets"][0]["static_cudart"] \
	and t["targets"][0]["libs"] == [sys.argv[2]]
print("static cudart: exact counts through the executable" if ok else f"FAIL: static cudart {got} {t['targets']}")
sys.exit(0 if ok else 1)
PY
st=$?
[ $st = 0 ] || exit $st

[ -e build/sim/libcudart.so.13 ] || { echo "SKIP: the stand-in runtime is not built"; exit 77; }
cat >"$tmp/w.cu" <<'CU'
#include <cstdio>
#include <unistd.h>
__global__ void scale_kernel(float *a, float s, int n) { if ((int)threadIdx.x < n) a[threadIdx.x] *= s; }
template <typename T> __global__ void add_kernel(T *a, T v, int n) { if ((int)threadIdx.x < n) a[threadIdx.x] += v; }
template <typename F> __global__ void apply_kernel(float *a, F f, int n) { if ((int)threadIdx.x < n) a[threadIdx.x] = f(a[threadIdx.x]); }
static void launch_double(float *d) { auto f = [] __device__ (float x) { return 2 * x; }; apply_kernel<<<1, 32>>>(d, f, 32); }
int main(int argc, char **argv)
{
	float *d = nullptr;
	int *di = nullptr;
	cudaMalloc(&d, 1024);
	cudaMalloc(&di, 1024);
	scale_kernel<<<1, 32>>>(d, 2.0f, 32);	/* handles fetched before the attach */
	add_kernel<int><<<1, 32>>>(di, 1, 32);
	launch_double(d);
	printf("ready\n");
	fflush(stdout);
	while (access(argv[1], F_OK))
		usleep(10000);
	for (int i = 0; i < 100; i++) {
		scale_kernel<<<1, 32>>>(d, 2.0f, 32);
		add_kernel<int><<<1, 32>>>(di, 1, 32);
		launch_double(d);
	}
	cudaDeviceSynchronize();
	printf("launched\n");
	fflush(stdout);
	while (access(argv[2], F_OK))	/* a server lives on after its launches */
		usleep(10000);
	return 0;
}
CU
# On the sanitized stand-in the program carries the same runtime (nvcc splits
# -Xcompiler at commas: one per sanitizer).
nvsan=()
for s in ${LLMI_SAN:+${LLMI_SAN//,/ }}; do
	[ "$s" = none ] || nvsan+=("-Xcompiler=-fsanitize=$s")
done
[ ${#nvsan[@]} -gt 0 ] && nvsan+=("-Xcompiler=-fno-sanitize-recover=all")
"$NVCC" "${nvsan[@]}" --extended-lambda -cudart shared -o "$tmp/w" "$tmp/w.cu" ||
	{ echo "FAIL: nvcc (late attach program)"; exit 1; }
cp "$tmp/w" "$tmp/ws" && strip "$tmp/ws"
late() {	# program tracer-options... : its JSON in $tmp/l.json
	local prog=$1 wp tp st=0
	shift
	rm -f "$tmp/go" "$tmp/quit" "$tmp/l.json"
	LD_LIBRARY_PATH=build/sim "$prog" "$tmp/go" "$tmp/quit" >"$tmp/w.out" 2>&1 & wp=$!
	wait_line "$tmp/w.out" ready $wp || return 1
	timeout 300 $T "$@" -p $wp --json "$tmp/l.json" >"$tmp/l.out" 2>&1 & tp=$!
	wait_line "$tmp/l.out" tracing $tp || { kill $wp; return 1; }
	touch "$tmp/go"
	wait_line "$tmp/w.out" launched $wp || { kill $tp; return 1; }
	kill -TERM $tp
	wait $tp || st=$?
	touch "$tmp/quit"
	wait $wp
	[ $st = 0 ] || { cat "$tmp/l.out"; echo "FAIL: tracer exited with $st"; return 1; }
}
for mode in "" -T; do
	late "$tmp/w" $mode || exit 1
	$PY - "$tmp/l.json" "late attach ${mode:-events}" <<'PY' || exit 1
import json, sys
t = json.load(open(sys.argv[1]))
got = {k["name"]: k["launches"] for k in t["kernels"]}
# a device lambda's kernel: nvcc spells it its own way in the stub's name,
# so it is named from its host function (nvcc's wrapper type, which names
# the function the lambda is in)
lam = [n for n in got if n.startswith("apply_kernel<") and "launch_double" in n]
ok = len(got) == 3 and got.get("scale_kernel") == 100 and got.get("add_kernel<int>") == 100 \
	and len(lam) == 1 and got[lam[0]] == 100 and t["launches"] == 300
print(f"{sys.argv[2]}: handles fetched before the attach named" if ok else f"FAIL: {sys.argv[2]}: {got}")
sys.exit(0 if ok else 1)
PY
done
late "$tmp/ws" || exit 1
$PY - "$tmp/l.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
ok = t["launches"] == 300 and all(k.get("unnamed") for k in t["kernels"])
print("stripped: 300 launches counted, unnamed" if ok else f"FAIL: stripped {t['kernels']} {t['launches']}")
sys.exit(0 if ok else 1)
PY
