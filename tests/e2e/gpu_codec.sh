#!/usr/bin/env bash
# The CUDA quantisation kernel (gpu/codec) must give the CPU's codes bit for
# bit. Runs build/bin/llmi_gpu_quant_check where a GPU is usable; exit 77
# (skip) with the reason elsewhere.
set -u
cd "$(dirname "$0")/../.."
bin=build/bin/llmi_gpu_quant_check
if [ ! -x "$bin" ]; then
	if [ -z "$(command -v nvcc || ls /usr/local/cuda/bin/nvcc 2>/dev/null)" ]; then
		echo "skip: nvcc not found, $bin was not built"
		exit 77
	fi
	echo "$bin is missing: run make first" >&2
	exit 1
fi
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
	echo "skip: no NVIDIA GPU on this machine (nvidia-smi finds none)"
	exit 77
fi
exec "$bin"
