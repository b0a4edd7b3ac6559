#!/usr/bin/env bash
# Two llminstr-trace runs on one process: both count exactly. Each run loads
# its own BPF object, so everything the probes keep (the runtime/driver
# dedup state, the per-thread marks of timed calls, the capture counts, the
# ring buffer, the -T counters) is its own; the kernel runs both programs on
# each probed call, and a return probe's hijack of the return address comes
# after every entry program has read it. The one cost: each call pays both
# tracers' probes.
#  1. llm_decode --graphs, attached by both before its first launch (one in
#     events mode, one -T): kernels, launches, graph launches, copies and
#     memsets equal its --truth in both.
#  2. A program alternating launches and synchronous copies (return probes):
#     one tracer is stopped (SIGINT) half way and detaches; the other (with
#     classic uprobes, the first with uprobe_multi links) goes on and counts
#     every call, the first counts the first half.
set -u
cd "$(dirname "$0")/../.."
T=build/bin/llminstr-trace W=build/bin/llm_decode PY=/usr/bin/python3
CUDA_INC=/usr/local/cuda/include
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root for BPF"; exit 77; }
[ -x $T ] || { echo "SKIP: $T not built"; exit 77; }
[ -x $W ] || { echo "SKIP: $W not built yet"; exit 77; }
[ -f build/sim/libcudart.so.13 ] && [ -f build/sim/libcuda.so.1 ] ||
	{ echo "SKIP: stand-in runtime (build/sim) not built yet"; exit 77; }
[ -f $CUDA_INC/cuda.h ] || { echo "SKIP: no CUDA headers"; exit 77; }
tmp=$(mktemp -d); pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$tmp"' EXIT

wait_file() {	# path what: up to 60 s, for a stuck step only
	for _ in $(seq 1200); do [ -e "$1" ] && return 0; sleep 0.05; done
	echo "FAIL: $2 (no $1 after 60 s)"; exit 1
}

start_tracer() {	# out command...: returns when it says it is tracing
	local out=$1 p; shift
	timeout 120 "$@" >"$out" 2>&1 & p=$!
	pids+=($p)
	for _ in $(seq 1200); do
		grep -q "tracing" "$out" && { tracer=$p; return 0; }
		kill -0 $p 2>/dev/null || { cat "$out"; echo "FAIL: a tracer did not start"; exit 1; }
		sleep 0.05
	done
	echo "FAIL: a tracer did not start in 60 s"; exit 1
}

rc=0
echo "== 1. llm_decode --graphs under two tracers (events and -T)"
$W -q --tokens 24 --layers 2 --graphs --wait-file "$tmp/go" --truth "$tmp/w.json" \
	2>"$tmp/w.err" & wp=$!
pids=($wp)
# attach once its set-up (weights copied in, which the truth leaves out) is
# done and it waits: on a loaded machine set-up outlasts the library's mapping
for _ in $(seq 1200); do grep -q "set up; waiting for" "$tmp/w.err" 2>/dev/null && break; sleep 0.05; done
start_tracer "$tmp/a.out" $T -p $wp --json "$tmp/a.json"; ta=$tracer
start_tracer "$tmp/b.out" $T -T -p $wp --json "$tmp/b.json"; tb=$tracer
touch "$tmp/go"
wait $wp || { echo "FAIL: llm_decode failed under two tracers"; exit 1; }
wait $ta || { cat "$tmp/a.out"; echo "FAIL: the events-mode tracer exited non-zero"; rc=1; }
wait $tb || { cat "$tmp/b.out"; echo "FAIL: the -T tracer exited non-zero"; rc=1; }
pids=()
for m in a b; do
	$PY - "$tmp/$m.json" "$tmp/w.json" $m <<'PY' || rc=1
import json, sys
t = json.load(open(sys.argv[1])); w = json.load(open(sys.argv[2]))
bad = []
got = {k["name"]: k["launches"] for k in t["kernels"]}
if got != w["kernels"]: bad.append(f"kernels {got} != {w['kernels']}")
if t["launches"] != w["launches"]: bad.append(f"launches {t['launches']} != {w['launches']}")
if t["graphs"]["launches"] != w["graphs"]["launches"]:
    bad.append(f"graph launches {t['graphs']['launches']} != {w['graphs']['launches']}")
for d in ("h2d", "d2h", "d2d"):
    if t["memcpy"][d] != w["memcpy"][d]: bad.append(f"memcpy {d} {t['memcpy'][d]} != {w['memcpy'][d]}")
if t["events"]["lost"]: bad.append(f"{t['events']['lost']} events lost")
print(f"tracer {sys.argv[3]} ({t['mode']}): " + ("; ".join(bad) or f"{t['launches']} launches, all counts equal the truth"))
sys.exit(1 if bad else 0)
PY
done

echo "== 2. one of two tracers detaches half way"
cat >"$tmp/half.c" <<'C'
/* half N DIR: N launches and N/10 cudaMemcpy, DIR/half, wait DIR/on, the same again */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <cuda.h>
#include "sim.h"

static void k_fn(dim3 g, dim3 b, size_t sh, void **args) {}
static const struct sim_kernel_desc kd[] = { { "half_kernel", k_fn, 1, { sizeof(int) } } };
static const struct sim_image img = { SIM_IMAGE_MAGIC, SIM_IMAGE_VERSION, 1, kd };

void half_kernel(int x) { void *a[] = { &x }; SIM_STUB_LAUNCH(half_kernel, a); }

__attribute__((constructor)) static void reg(void)
{
	static struct sim_fatbin_wrapper w = { SIM_FATBIN_MAGIC, 1, &img, NULL };
	void **fb = __cudaRegisterFatBinary(&w);

	__cudaRegisterFunction(fb, (const char *)half_kernel, "half_kernel", "half_kernel",
			       -1, 0, 0, 0, 0, 0);
	__cudaRegisterFatBinaryEnd(fb);
}

static int run(long n, int *dev)
{
	dim3 one = { 1, 1, 1 };
	int host = 1;

	for (long i = 0; i < n; i++) {
		SIM_LAUNCH(half_kernel, one, one, 0, 0, 1);
		if (i % 10 == 0 && cudaMemcpy(dev, &host, sizeof(host), cudaMemcpyHostToDevice))
			return 2;
	}
	return 0;
}

int main(int argc, char **argv)
{
	long n = atol(argv[1]);
	char p[4096];
	int *dev;
	FILE *f;

	if (cudaMalloc((void **)&dev, sizeof(int)))
		return 2;
	snprintf(p, sizeof(p), "%s/ready", argv[2]);
	if (!(f = fopen(p, "w")) || fclose(f))
		return 4;
	snprintf(p, sizeof(p), "%s/go", argv[2]);
	while (access(p, F_OK))
		usleep(1000);
	if (run(n, dev))
		return 2;
	snprintf(p, sizeof(p), "%s/half", argv[2]);
	if (!(f = fopen(p, "w")) || fclose(f))
		return 4;
	snprintf(p, sizeof(p), "%s/on", argv[2]);
	while (access(p, F_OK))
		usleep(1000);
	return run(n, dev) || cudaDeviceSynchronize() ? 2 : 0;
}
C
cc -O2 ${LLMI_TEST_CFLAGS:-} -D_GNU_SOURCE -I$CUDA_INC -Igpu/sim -o "$tmp/half" "$tmp/half.c" -Lbuild/sim \
	-l:libcudart.so.13 -l:libcuda.so.1 -Wl,-rpath,"$PWD/build/sim" ||
	{ echo "FAIL: cannot build the test program"; exit 1; }
d=$tmp/2; mkdir $d; n=5000
"$tmp/half" $n $d & hp=$!
pids=($hp)
wait_file $d/ready "the program did not start"
start_tracer $d/a.out $T -p $hp --json $d/a.json; ta=$tracer
# the other with one classic uprobe per function instead of uprobe_multi links
start_tracer $d/b.out env LLMI_TRACE_NO_UPROBE_MULTI=1 $T -p $hp --json $d/b.json; tb=$tracer
touch $d/go
wait_file $d/half "the program did not finish its first half"
kill -INT $ta
wait $ta || { cat $d/a.out; echo "FAIL: the stopped tracer exited non-zero"; rc=1; }
touch $d/on
wait $hp || { echo "FAIL: the program failed after a tracer detached"; rc=1; }
wait $tb || { cat $d/b.out; echo "FAIL: the other tracer exited non-zero"; rc=1; }
pids=()
$PY - $d/a.json $d/b.json $n <<'PY' || rc=1
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3]); n = int(sys.argv[3])
bad = []
for name, t, k in (("stopped half way", a, 1), ("kept on", b, 2)):
    got = {x["name"]: x["launches"] for x in t["kernels"]}
    if got != {"half_kernel": k * n}: bad.append(f"{name}: kernels {got} != half_kernel: {k * n}")
    h2d = t["memcpy"]["h2d"]["calls"]
    if h2d != k * n // 10: bad.append(f"{name}: {h2d} H2D copies != {k * n // 10}")
    if t["events"]["lost"]: bad.append(f"{name}: {t['events']['lost']} events lost")
print("\n".join(bad) or f"the tracer kept on counted {2 * n} launches and {2 * n // 10} copies, the "
      f"one stopped half way {n} and {n // 10}")
sys.exit(1 if bad else 0)
PY
exit $rc
