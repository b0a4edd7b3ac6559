#!/usr/bin/env bash
# Sustained launch rate: 1,000,000 launches from a tight loop (an nvcc
# -cudart shared program on NVIDIA's libcudart; without a GPU each launch
# fails right after the entry probe, so the loop runs as fast as the probes
# allow). Events mode must count every launch exactly, lose none and sustain
# at least 200,000 launches/s; the run lasts longer than the tracer's
# library rescans, so a library attached twice would show as a wrong count.
set -u
cd "$(dirname "$0")/../.."
T=build/bin/llminstr-trace PY=/usr/bin/python3
NVCC=${NVCC:-/usr/local/cuda/bin/nvcc}
CUDA=$(dirname "$(dirname "$NVCC")")
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root for BPF"; exit 77; }
[ -x $T ] || { echo "SKIP: $T not built"; exit 77; }
[ -x "$NVCC" ] || { echo "SKIP: no nvcc"; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/r.cu" <<'CU'
#include <cstdio>
#include <cstdlib>
#include <ctime>
__global__ void tick(int *p) { }
int main(int argc, char **argv)
{
	int n = atoi(argv[1]);
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < n; i++) tick<<<1, 1>>>(nullptr);
	clock_gettime(CLOCK_MONOTONIC, &b);
	double s = (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
	fprintf(stderr, "rate %.0f\n", n / s);
	return 0;
}
CU
"$NVCC" -cudart shared -o "$tmp/r" "$tmp/r.cu" || { echo "FAIL: nvcc"; exit 1; }
export LD_LIBRARY_PATH=$CUDA/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
timeout 60 $T --json "$tmp/t.json" -- "$tmp/r" 1000000 >"$tmp/out" 2>&1 ||
	{ cat "$tmp/out"; echo "FAIL: tracer exited non-zero"; exit 1; }
rate=$(sed -n 's/^rate //p' "$tmp/out")
$PY - "$tmp/t.json" "$rate" <<'PY'
import json, sys
t = json.load(open(sys.argv[1])); rate = float(sys.argv[2])
bad = []
if t["launches"] != 1000000: bad.append(f"launches {t['launches']} != 1000000")
if t["events"]["lost"]: bad.append(f"{t['events']['lost']} events lost")
if rate < 200000: bad.append(f"only {rate:.0f} launches/s under the tracer")
print("\n".join(bad) or f"1000000 launches at {rate:.0f}/s (CPU, no GPU), none lost")
sys.exit(1 if bad else 0)
PY
