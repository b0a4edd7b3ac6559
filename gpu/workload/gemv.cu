// SPDX-License-Identifier: MIT
/*
 * llm_decode's GEMVs as real CUDA C, compiled to a fatbinary that
 * llm_decode_cuda embeds (gemv_fatbin.S) and loads through the driver API at
 * first use (cuLibraryLoadData / cuModuleLoadData), the way cuBLAS loads its
 * kernels: their launches are visible only at cuLaunchKernel*. Not extern "C":
 * the device symbols are the mangled names kernels.h looks up.
 */
#include "kernels.h"

__global__ void gemv_f32(float *y, const float *w, const float *x, int rows, int cols)
{
	int r = blockIdx.x * blockDim.x + threadIdx.x;
	float s = 0.f;

	if (r >= rows)
		return;
	for (int c = 0; c < cols; c++)
		s += w[(size_t)r * cols + c] * x[c];
	y[r] = s;
}

__global__ void lm_head_gemv(float *y, const float *w, const float *x, int rows, int cols)
{
	int r = blockIdx.x * blockDim.x + threadIdx.x;
	float s = 0.f;

	if (r >= rows)
		return;
	for (int c = 0; c < cols; c++)
		s += w[(size_t)r * cols + c] * x[c];
	y[r] = s;
}

/*
 * y[m][n] = x[m][k] w[n][k]^T, the linear layers of a prefill. Tiles of x
 * and w go through shared memory, but each thread adds up its output over
 * c = 0..k-1 in order, as gemv_f32 does: a row of a batch equals the same
 * row computed alone.
 */
__global__ void gemm_f32(float *y, const float *w, const float *x, int m, int n, int k)
{
	__shared__ float xs[GEMM_TILE][GEMM_TILE + 1], ws[GEMM_TILE][GEMM_TILE + 1];
	int tx = threadIdx.x, ty = threadIdx.y;
	int row = blockIdx.y * GEMM_TILE + ty, col = blockIdx.x * GEMM_TILE + tx;
	int wrow = blockIdx.x * GEMM_TILE + ty;
	float s = 0.f;

	for (int c0 = 0; c0 < k; c0 += GEMM_TILE) {
		xs[ty][tx] = row < m && c0 + tx < k ? x[(size_t)row * k + c0 + tx] : 0.f;
		ws[ty][tx] = wrow < n && c0 + tx < k ? w[(size_t)wrow * k + c0 + tx] : 0.f;
		__syncthreads();
		for (int c = 0; c < GEMM_TILE && c0 + c < k; c++)
			s += ws[tx][c] * xs[ty][c];
		__syncthreads();
	}
	if (row < m && col < n)
		y[(size_t)row * n + col] = s;
}
