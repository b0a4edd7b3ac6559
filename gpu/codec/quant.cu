// SPDX-License-Identifier: MIT
/*
 * CUDA quantisation kernel of the activation codec. Every operation is an
 * explicitly rounded intrinsic (__fsub_rn, __fmul_rn, __float2int_rn), so
 * nvcc can neither fuse nor reorder them: the codes equal the CPU's, which
 * does the same IEEE operations in the same order (codec_int.h).
 * One thread per element; grid-stride so any n fits one launch.
 */
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cuda_runtime.h>

#include "gpu_quant.h"

enum { DT_F32 = 1, DT_BF16 = 2, DT_F16 = 3 };

__device__ static inline float ld(const void *p, size_t i, int dt)
{
	if (dt == DT_F32)
		return static_cast<const float *>(p)[i];
	uint16_t h = static_cast<const uint16_t *>(p)[i];
	if (dt == DT_BF16)
		return __uint_as_float(static_cast<uint32_t>(h) << 16);
	/* f16: exact widening, done by hand so no half header is needed. */
	uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff;
	if (e == 0) {
		float f = __fmul_rn(static_cast<float>(m), 0x1p-24f);
		return sign ? -f : f;
	}
	if (e == 31)
		return __uint_as_float(sign | 0x7f800000u | (m << 13));
	return __uint_as_float(sign | ((e + 112) << 23) | (m << 13));
}

__global__ void llmi_quant_kernel(const void *src, int dt, const void *ref, const float *mean,
				  uint32_t hidden, uint64_t e0, size_t n, float recip, int32_t *codes)
{
	for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
	     i += static_cast<size_t>(gridDim.x) * blockDim.x) {
		float x = ld(src, i, dt), t = x;

		if (!isfinite(x)) {
			codes[i] = INT32_MIN;
			continue;
		}
		if (ref)
			t = __fsub_rn(x, ld(ref, i, dt));
		if (mean)
			t = __fsub_rn(t, mean[(e0 + i) % hidden]);
		float v = __fmul_rn(t, recip);
		codes[i] = fabsf(v) < 0x1p30f ? __float2int_rn(v) : INT32_MIN;
	}
}

static int check(cudaError_t e, const char *what)
{
	if (e == cudaSuccess)
		return 0;
	fprintf(stderr, "gpu codec: %s: %s\n", what, cudaGetErrorString(e));
	return -EIO;
}

extern "C" int llmi_gpu_devices(const char **why)
{
	int n = 0;
	cudaError_t e = cudaGetDeviceCount(&n);

	if (e != cudaSuccess) {
		*why = cudaGetErrorString(e);
		return 0;
	}
	if (n == 0)
		*why = "no CUDA device";
	return n;
}

extern "C" int llmi_gpu_quant_codes(const void *src, int dtype, const void *ref, const float *mean,
				    uint32_t hidden, uint64_t e0, size_t n, float recip, int32_t *codes)
{
	size_t es = dtype == DT_F32 ? 4 : 2;
	void *d_src = nullptr, *d_ref = nullptr;
	float *d_mean = nullptr;
	int32_t *d_codes = nullptr;
	int err = 0;

	if (!n)
		return 0;
	err = check(cudaMalloc(&d_src, n * es), "cudaMalloc(src)");
	if (!err)
		err = check(cudaMalloc(&d_codes, n * sizeof(int32_t)), "cudaMalloc(codes)");
	if (!err && ref)
		err = check(cudaMalloc(&d_ref, n * es), "cudaMalloc(ref)");
	if (!err && mean)
		err = check(cudaMalloc(&d_mean, hidden * sizeof(float)), "cudaMalloc(mean)");
	if (!err)
		err = check(cudaMemcpy(d_src, src, n * es, cudaMemcpyHostToDevice), "copy src");
	if (!err && ref)
		err = check(cudaMemcpy(d_ref, ref, n * es, cudaMemcpyHostToDevice), "copy ref");
	if (!err && mean)
		err = check(cudaMemcpy(d_mean, mean, hidden * sizeof(float), cudaMemcpyHostToDevice), "copy mean");
	if (!err) {
		unsigned blocks = static_cast<unsigned>((n + 255) / 256 < 65535 ? (n + 255) / 256 : 65535);
		llmi_quant_kernel<<<blocks, 256>>>(d_src, dtype, d_ref, d_mean, hidden, e0, n, recip, d_codes);
		err = check(cudaGetLastError(), "launch");
	}
	if (!err)
		err = check(cudaMemcpy(codes, d_codes, n * sizeof(int32_t), cudaMemcpyDeviceToHost), "copy codes");
	cudaFree(d_src);
	cudaFree(d_ref);
	cudaFree(d_mean);
	cudaFree(d_codes);
	return err;
}
