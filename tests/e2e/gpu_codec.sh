#!/usr/bin/env bash
# The CUDA quantisation kernel (gpu/codec) must give the CPU's codes bit for
# bit. Runs build/bin/llmi_gpu_quant_check where a GPU is usable; exit 77
# (skip) with the reason elsewhere: no GPU, or a tree built without nvcc
# (no CUDA toolkit, or a sanitizer build, which leaves nvcc's programs out).
# On a GPU machine whose plain build has nvcc, a missing checker fails.
set -u
cd "$(dirname "$0")/../.."
bin=build/bin/llmi_gpu_quant_check
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
	echo "SKIP: no NVIDIA GPU on this machine (nvidia-smi finds none)"
	exit 77
fi
if [ ! -x "$bin" ]; then
	if [ -n "${LLMI_SAN:-}" ] && [ "$LLMI_SAN" != none ]; then
		echo "SKIP: $bin is not built in a sanitizer build (make test SAN=none runs it)"
		exit 77
	fi
	if [ -z "$(command -v nvcc || ls /usr/local/cuda/bin/nvcc 2>/dev/null)" ]; then
		echo "SKIP: nvcc not found, $bin was not built"
		exit 77
	fi
	echo "FAIL: $bin is missing: run make first"
	exit 1
fi
exec "$bin"
