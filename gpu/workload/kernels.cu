// SPDX-License-Identifier: MIT
/*
 * llm_decode's runtime-launched kernels as real CUDA C, for
 * build/bin/llm_decode_cuda (NVIDIA's runtime, nvcc -cudart shared). Same
 * names and signatures as the stand-in's (kernels_sim.c), so the tracer sees
 * the same symbols; <<<>>> compiles to nvcc 13's __cudaGetKernel +
 * __cudaLaunchKernel, and residual_add_kernel goes by cudaLaunchKernel with
 * its host stub address. The GEMVs and the GEMM are in gemv.cu (driver API).
 * A batch of rows comes in the grid (kernels.h): rmsnorm's blockIdx.x, the
 * others' blockIdx.y; each row is computed exactly as a lone row is.
 */
#include <math.h>
#include "kernels.h"

__global__ void rmsnorm_kernel(float *y, const float *x, const float *w, int n, float eps)
{
	__shared__ float red[256];
	float s = 0.f;

	x += (size_t)blockIdx.x * n;
	y += (size_t)blockIdx.x * n;
	for (int i = threadIdx.x; i < n; i += blockDim.x)
		s += x[i] * x[i];
	red[threadIdx.x] = s;
	__syncthreads();
	for (int k = blockDim.x / 2; k > 0; k /= 2) {
		if (threadIdx.x < k)
			red[threadIdx.x] += red[threadIdx.x + k];
		__syncthreads();
	}
	float r = rsqrtf(red[0] / n + eps);
	for (int i = threadIdx.x; i < n; i += blockDim.x)
		y[i] = x[i] * r * w[i];
}

__global__ void rope_kernel(float *qkv, const int *pos, int heads, int hd)
{
	int h = blockIdx.x, i = threadIdx.x, hidden = heads * hd, p = *pos + blockIdx.y;
	float th = (float)p * powf(10000.f, -2.f * i / hd), c = cosf(th), s = sinf(th);

	qkv += (size_t)blockIdx.y * 3 * hidden;
	for (int part = 0; part < 2; part++) {
		float *v = qkv + part * hidden + h * hd;
		float a = v[2 * i], b = v[2 * i + 1];

		v[2 * i] = a * c - b * s;
		v[2 * i + 1] = a * s + b * c;
	}
}

__global__ void kv_append_kernel(float *kc, float *vc, const float *qkv, const int *pos, int hidden)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	size_t p = (size_t)*pos + blockIdx.y;

	qkv += (size_t)blockIdx.y * 3 * hidden;
	if (i < hidden) {
		kc[p * hidden + i] = qkv[hidden + i];
		vc[p * hidden + i] = qkv[2 * hidden + i];
	}
}

/*
 * One block per head and row, one thread per head dimension, online
 * softmax. Row r attends to the cache up to its own position *pos + r (the
 * causal mask of a prefill).
 */
__global__ void attention_kernel(float *out, const float *qkv, const float *kc, const float *vc,
				 const int *pos, int heads, int hd)
{
	__shared__ float red[1024];
	int h = blockIdx.x, i = threadIdx.x, hidden = heads * hd, p = *pos + blockIdx.y;
	float q = qkv[(size_t)blockIdx.y * 3 * hidden + h * hd + i], mx = -INFINITY, sum = 0.f, o = 0.f;
	float scale = rsqrtf((float)hd);

	for (int t = 0; t <= p; t++) {
		red[i] = q * kc[(size_t)t * hidden + h * hd + i];
		__syncthreads();
		for (int k = 1; k < hd; k *= 2) {
			float v = (i % (2 * k) == 0 && i + k < hd) ? red[i + k] : 0.f;
			__syncthreads();
			red[i] += v;
			__syncthreads();
		}
		float d = red[0] * scale, nmx = fmaxf(mx, d), c = expf(mx - nmx), e = expf(d - nmx);
		__syncthreads();
		sum = sum * c + e;
		o = o * c + e * vc[(size_t)t * hidden + h * hd + i];
		mx = nmx;
	}
	out[(size_t)blockIdx.y * hidden + h * hd + i] = o / sum;
}

__global__ void silu_mul_kernel(float *out, const float *gu, int f)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;

	gu += (size_t)blockIdx.y * 2 * f;
	out += (size_t)blockIdx.y * f;
	if (i < f) {
		float x = gu[i];
		out[i] = x / (1.f + expf(-x)) * gu[f + i];
	}
}

__global__ void argmax_kernel(int *out, const float *l, int n)
{
	__shared__ float bv[1024];
	__shared__ int bi[1024];
	int best = -1;
	float v = -INFINITY;

	for (int i = threadIdx.x; i < n; i += blockDim.x)
		if (best < 0 || l[i] > v) {
			v = l[i];
			best = i;
		}
	bv[threadIdx.x] = v;
	bi[threadIdx.x] = best;
	__syncthreads();
	for (int k = blockDim.x / 2; k > 0; k /= 2) {
		if (threadIdx.x < k) {
			int j = threadIdx.x + k;
			if (bi[j] >= 0 && (bi[threadIdx.x] < 0 || bv[j] > bv[threadIdx.x] ||
					   (bv[j] == bv[threadIdx.x] && bi[j] < bi[threadIdx.x]))) {
				bv[threadIdx.x] = bv[j];
				bi[threadIdx.x] = bi[j];
			}
		}
		__syncthreads();
	}
	if (threadIdx.x == 0)
		*out = bi[0];
}

__global__ void residual_add_kernel(float *x, const float *d, int n)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;

	if (i < n)
		x[i] += d[i];
}

extern "C" const unsigned char gemv_fatbin[];

extern "C" const void *gemv_image(void)
{
	return gemv_fatbin;
}

extern "C" cudaError_t k_rmsnorm(cudaStream_t s, float *y, const float *x, const float *w,
				 int rows, int n, float eps)
{
	rmsnorm_kernel<<<rows, 256, 0, s>>>(y, x, w, n, eps);
	return cudaGetLastError();
}

extern "C" cudaError_t k_rope(cudaStream_t s, float *qkv, const int *pos, int rows, int heads,
			      int hd)
{
	rope_kernel<<<dim3(heads, rows), hd / 2, 0, s>>>(qkv, pos, heads, hd);
	return cudaGetLastError();
}

extern "C" cudaError_t k_kv_append(cudaStream_t s, float *kc, float *vc, const float *qkv,
				   const int *pos, int rows, int hidden)
{
	kv_append_kernel<<<dim3((hidden + 255) / 256, rows), 256, 0, s>>>(kc, vc, qkv, pos, hidden);
	return cudaGetLastError();
}

extern "C" cudaError_t k_attention(cudaStream_t s, float *out, const float *qkv, const float *kc,
				   const float *vc, const int *pos, int rows, int heads, int hd)
{
	attention_kernel<<<dim3(heads, rows), hd, 0, s>>>(out, qkv, kc, vc, pos, heads, hd);
	return cudaGetLastError();
}

extern "C" cudaError_t k_silu_mul(cudaStream_t s, float *out, const float *gu, int rows, int f)
{
	silu_mul_kernel<<<dim3((f + 255) / 256, rows), 256, 0, s>>>(out, gu, f);
	return cudaGetLastError();
}

extern "C" cudaError_t k_argmax(cudaStream_t s, int *out, const float *l, int n)
{
	argmax_kernel<<<1, 1024, 0, s>>>(out, l, n);
	return cudaGetLastError();
}

extern "C" cudaError_t k_residual(cudaStream_t s, float *x, const float *d, int n)
{
	void *a[] = { &x, &d, &n };

	return cudaLaunchKernel((const void *)residual_add_kernel, dim3((n + 255) / 256), dim3(256),
				a, 0, s);
}
