/* SPDX-License-Identifier: MIT */
/*
 * llm_decode's kernels, as the shared host loop (llm_decode.c) sees them. Two
 * back ends implement this header: kernels_sim.c (CPU functions, hand-written
 * nvcc-style host stubs, for the stand-in runtime in build/sim) and
 * kernels.cu (the same kernels as __global__ CUDA C, for NVIDIA's runtime).
 *
 * The launch mix is an engine's: the GEMVs go through the driver API with
 * names looked up lazily at first use, as cuBLAS does (gemv_f32 through
 * cuLibraryLoadData / cuLibraryGetKernel / cuKernelGetFunction /
 * cuLaunchKernel; lm_head_gemv through cuModuleLoadData / cuModuleGetFunction
 * / cuLaunchKernelEx); the rest are runtime launches: <<<>>> (nvcc 13's
 * __cudaGetKernel + __cudaLaunchKernel) except residual_add_kernel, launched
 * by cudaLaunchKernel with its host stub address. Names are C++-mangled in
 * both back ends, so tracers see the same symbols on both.
 *
 * Every runtime kernel takes a batch of rows (tokens at consecutive
 * positions, row r at position *pos + r) through its grid, so a prefill
 * launches the same kernels as a decode step, with the same signatures: the
 * tracer sees one set of names. Rows are contiguous: qkv rows of 3 * hidden,
 * gate/up rows of 2 * ffn. A batched linear layer is gemm_f32, a separate
 * driver kernel as an engine's GEMM is; it adds up each output in the same
 * order as gemv_f32, so a row computed in a batch equals the row computed
 * alone (bit for bit on the stand-in).
 */
#ifndef LLMI_WORKLOAD_KERNELS_H
#define LLMI_WORKLOAD_KERNELS_H

#include <cuda.h>
#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

enum kernel_id {
	K_RMSNORM, K_ROPE, K_KV_APPEND, K_ATTENTION, K_SILU_MUL, K_ARGMAX,
	K_RESIDUAL, K_GEMV, K_LM_HEAD, K_GEMM, K_COUNT
};

/* What a tracer shows: the demangled symbol without its argument list. */
#define KERNEL_NAMES {							\
	"rmsnorm_kernel", "rope_kernel", "kv_append_kernel",		\
	"attention_kernel", "silu_mul_kernel", "argmax_kernel",		\
	"residual_add_kernel", "gemv_f32", "lm_head_gemv", "gemm_f32" }

/* Device symbols of the driver-launched kernels (cuLibraryGetKernel ...). */
#define GEMV_SYMBOL	"_Z8gemv_f32PfPKfS1_ii"
#define LM_HEAD_SYMBOL	"_Z12lm_head_gemvPfPKfS1_ii"
#define GEMM_SYMBOL	"_Z8gemm_f32PfPKfS1_iii"

/*
 * Runtime launches over rows tokens; each returns the launch's cudaError_t.
 * rmsnorm: y, x [rows][n]; rope, kv_append, attention: qkv [rows][3 *
 * hidden], row r at position *pos + r (attention attends to the cache up to
 * its own position: the causal mask); silu_mul: gu [rows][2 * ffn] -> out
 * [rows][ffn]; residual: n elements in all.
 */
cudaError_t k_rmsnorm(cudaStream_t s, float *y, const float *x, const float *w, int rows, int n,
		      float eps);
cudaError_t k_rope(cudaStream_t s, float *qkv, const int *pos, int rows, int heads, int head_dim);
cudaError_t k_kv_append(cudaStream_t s, float *kc, float *vc, const float *qkv, const int *pos,
			int rows, int hidden);
cudaError_t k_attention(cudaStream_t s, float *out, const float *qkv, const float *kc,
			const float *vc, const int *pos, int rows, int heads, int head_dim);
cudaError_t k_silu_mul(cudaStream_t s, float *out, const float *gu, int rows, int ffn);
cudaError_t k_argmax(cudaStream_t s, int *out, const float *logits, int n);
cudaError_t k_residual(cudaStream_t s, float *x, const float *d, int n);

/*
 * The module image the GEMVs are loaded from: a struct sim_image for the
 * stand-in, a fatbinary for NVIDIA's driver.
 */
const void *gemv_image(void);

/* Threads per block of the GEMV launches (one row per thread). */
#define GEMV_BLOCK 128

/*
 * gemm_f32(y, w, x, m, n, k): y[m][n] = x[m][k] w[n][k]^T, in GEMM_TILE x
 * GEMM_TILE blocks of threads (x: output column, y: row).
 */
#define GEMM_TILE 16

#ifdef __cplusplus
}
#endif

#endif
