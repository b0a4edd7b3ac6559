// SPDX-License-Identifier: MIT
/*
 * llm_decode's GEMVs as real CUDA C, compiled to a fatbinary that
 * llm_decode_cuda embeds (gemv_fatbin.S) and loads through the driver API at
 * first use (cuLibraryLoadData / cuModuleLoadData), the way cuBLAS loads its
 * kernels: their launches are visible only at cuLaunchKernel*. Not extern "C":
 * the device symbols are the mangled names kernels.h looks up.
 */
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
