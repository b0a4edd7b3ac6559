// SPDX-License-Identifier: MIT
/*
 * llm_decode's kernels for the CPU stand-in runtime (gpu/sim/sim.h): each is
 * a CPU function computing the whole grid's result, a host stub carrying the
 * kernel's C++-mangled name (so `nm -C build/bin/llm_decode` shows
 * rmsnorm_kernel(float*, float const*, ...) as an nvcc binary would), and a
 * registration made the way nvcc's constructor makes it. The GEMVs and the
 * GEMM are not registered with the runtime: they live in a separate image
 * that the host loop loads through the driver API, like a cuBLAS kernel.
 *
 * A batch of rows comes in the grid (kernels.h): rmsnorm's grid.x, the
 * others' grid.y. Each row is computed by the same code as a lone row, so
 * a prefill gives the very numbers of the same tokens fed one at a time.
 */
#include <math.h>
#include <string.h>
#include "sim.h"
#include "kernels.h"

#define P(i, T) (*(T *)args[i])

static void rmsnorm_cpu(dim3 g, dim3 b, size_t sh, void **args)
{
	const float *w = P(2, const float *);
	int n = P(3, int), i;
	float eps = P(4, float);

	for (unsigned int row = 0; row < g.x; row++) {
		float *y = P(0, float *) + (size_t)row * n;
		const float *x = P(1, const float *) + (size_t)row * n;
		float ss = 0.f, r;

		for (i = 0; i < n; i++)
			ss += x[i] * x[i];
		r = 1.f / sqrtf(ss / (float)n + eps);
		for (i = 0; i < n; i++)
			y[i] = x[i] * r * w[i];
	}
}

/* RoPE on the q and k of one token at position pos. */
static void rope_row(float *qkv, int pos, int heads, int hd)
{
	int hidden = heads * hd, h, i, part;

	for (part = 0; part < 2; part++)	/* q, then k */
		for (h = 0; h < heads; h++) {
			float *v = qkv + part * hidden + h * hd;

			for (i = 0; i < hd / 2; i++) {
				float th = (float)pos * powf(10000.f, -2.f * (float)i / (float)hd);
				float c = cosf(th), s = sinf(th);
				float a = v[2 * i], bb = v[2 * i + 1];

				v[2 * i] = a * c - bb * s;
				v[2 * i + 1] = a * s + bb * c;
			}
		}
}

static void rope_cpu(dim3 g, dim3 b, size_t sh, void **args)
{
	float *qkv = P(0, float *);
	int pos = *P(1, const int *), heads = P(2, int), hd = P(3, int);

	for (unsigned int row = 0; row < g.y; row++)
		rope_row(qkv + (size_t)row * 3 * heads * hd, pos + (int)row, heads, hd);
}

static void kv_append_cpu(dim3 g, dim3 b, size_t sh, void **args)
{
	float *kc = P(0, float *), *vc = P(1, float *);
	int hidden = P(4, int);

	for (unsigned int row = 0; row < g.y; row++) {
		const float *qkv = P(2, const float *) + (size_t)row * 3 * hidden;
		size_t pos = (size_t)*P(3, const int *) + row;

		memcpy(kc + pos * hidden, qkv + hidden, hidden * sizeof(float));
		memcpy(vc + pos * hidden, qkv + 2 * hidden, hidden * sizeof(float));
	}
}

/* One token's attention over the cache positions 0..pos. */
static void attention_row(float *out, const float *qkv, const float *kc, const float *vc,
			  int pos, int heads, int hd)
{
	int hidden = heads * hd, h, t, i;
	float scale = 1.f / sqrtf((float)hd);

	for (h = 0; h < heads; h++) {
		const float *q = qkv + h * hd;
		float *o = out + h * hd, mx = -INFINITY, sum = 0.f;

		memset(o, 0, hd * sizeof(float));
		/* two passes over the cache: max, then softmax-weighted sum */
		for (t = 0; t <= pos; t++) {
			const float *k = kc + (size_t)t * hidden + h * hd;
			float d = 0.f;

			for (i = 0; i < hd; i++)
				d += q[i] * k[i];
			if (d * scale > mx)
				mx = d * scale;
		}
		for (t = 0; t <= pos; t++) {
			const float *k = kc + (size_t)t * hidden + h * hd;
			const float *v = vc + (size_t)t * hidden + h * hd;
			float d = 0.f, e;

			for (i = 0; i < hd; i++)
				d += q[i] * k[i];
			e = expf(d * scale - mx);
			sum += e;
			for (i = 0; i < hd; i++)
				o[i] += e * v[i];
		}
		for (i = 0; i < hd; i++)
			o[i] /= sum;
	}
}

/*
 * Row r (position *pos + r) attends to the cache up to its own position:
 * the causal mask of a prefill, the whole cache of a decode step.
 */
static void attention_cpu(dim3 g, dim3 b, size_t sh, void **args)
{
	float *out = P(0, float *);
	const float *qkv = P(1, const float *), *kc = P(2, const float *);
	const float *vc = P(3, const float *);
	int pos = *P(4, const int *), heads = P(5, int), hd = P(6, int);
	size_t hidden = (size_t)heads * hd;

	for (unsigned int row = 0; row < g.y; row++)
		attention_row(out + row * hidden, qkv + row * 3 * hidden, kc, vc, pos + (int)row,
			      heads, hd);
}

static void silu_mul_cpu(dim3 g, dim3 b, size_t sh, void **args)
{
	int f = P(2, int), i;

	for (unsigned int row = 0; row < g.y; row++) {
		float *out = P(0, float *) + (size_t)row * f;
		const float *gu = P(1, const float *) + (size_t)row * 2 * f;

		for (i = 0; i < f; i++) {
			float x = gu[i];

			out[i] = x / (1.f + expf(-x)) * gu[f + i];
		}
	}
}

static void argmax_cpu(dim3 g, dim3 b, size_t sh, void **args)
{
	int *out = P(0, int *), n = P(2, int), i, best = 0;
	const float *l = P(1, const float *);

	for (i = 1; i < n; i++)
		if (l[i] > l[best])
			best = i;
	*out = best;
}

static void residual_cpu(dim3 g, dim3 b, size_t sh, void **args)
{
	float *x = P(0, float *);
	const float *d = P(1, const float *);
	int n = P(2, int), i;

	for (i = 0; i < n; i++)
		x[i] += d[i];
}

/*
 * The dot product of gemv_cpu and gemm_cpu: one order of additions for
 * both, so an output computed in a batch equals the output computed alone.
 */
static inline float dot_f32(const float *wr, const float *x, int cols)
{
	float acc[8] = { 0 }, s = 0.f;
	int c;

	for (c = 0; c + 8 <= cols; c += 8)
		for (int k = 0; k < 8; k++)
			acc[k] += wr[c + k] * x[c + k];
	for (; c < cols; c++)
		s += wr[c] * x[c];
	for (int k = 0; k < 8; k++)
		s += acc[k];
	return s;
}

/* y[rows] = W[rows x cols] x[cols], W row-major. */
static void gemv_cpu(dim3 g, dim3 b, size_t sh, void **args)
{
	float *y = P(0, float *);
	const float *w = P(1, const float *), *x = P(2, const float *);
	int rows = P(3, int), cols = P(4, int), r;

	for (r = 0; r < rows; r++)
		y[r] = dot_f32(w + (size_t)r * cols, x, cols);
}

/*
 * y[m][n] = x[m][k] W[n][k]^T. Blocks of W rows (about 1 MiB) are kept in
 * the cache while every x row passes them, so W is read from memory once
 * per call rather than once per token.
 */
static void gemm_cpu(dim3 g, dim3 b, size_t sh, void **args)
{
	float *y = P(0, float *);
	const float *w = P(1, const float *), *x = P(2, const float *);
	int m = P(3, int), n = P(4, int), k = P(5, int);
	int wb = k > 0 && (1 << 18) / k > 1 ? (1 << 18) / k : 1, r0, r, t;

	for (r0 = 0; r0 < n; r0 += wb) {
		int r1 = r0 + wb < n ? r0 + wb : n;

		for (t = 0; t < m; t++)
			for (r = r0; r < r1; r++)
				y[(size_t)t * n + r] = dot_f32(w + (size_t)r * k, x + (size_t)t * k, k);
	}
}

#define PTR sizeof(void *)
#define I4 sizeof(int)

static const struct sim_kernel_desc runtime_kernels[] = {
	{ "_Z14rmsnorm_kernelPfPKfS1_if", rmsnorm_cpu, 5, { PTR, PTR, PTR, I4, sizeof(float) } },
	{ "_Z11rope_kernelPfPKiii", rope_cpu, 4, { PTR, PTR, I4, I4 } },
	{ "_Z16kv_append_kernelPfS_PKfPKii", kv_append_cpu, 5, { PTR, PTR, PTR, PTR, I4 } },
	{ "_Z16attention_kernelPfPKfS1_S1_PKiii", attention_cpu, 7,
	  { PTR, PTR, PTR, PTR, PTR, I4, I4 } },
	{ "_Z15silu_mul_kernelPfPKfi", silu_mul_cpu, 3, { PTR, PTR, I4 } },
	{ "_Z13argmax_kernelPiPKfi", argmax_cpu, 3, { PTR, PTR, I4 } },
	{ "_Z19residual_add_kernelPfPKfi", residual_cpu, 3, { PTR, PTR, I4 } },
};

static const struct sim_image runtime_image = {
	SIM_IMAGE_MAGIC, SIM_IMAGE_VERSION,
	sizeof(runtime_kernels) / sizeof(runtime_kernels[0]), runtime_kernels,
};

static const struct sim_kernel_desc gemv_kernels[] = {
	{ GEMV_SYMBOL, gemv_cpu, 5, { PTR, PTR, PTR, I4, I4 } },
	{ LM_HEAD_SYMBOL, gemv_cpu, 5, { PTR, PTR, PTR, I4, I4 } },
	{ GEMM_SYMBOL, gemm_cpu, 6, { PTR, PTR, PTR, I4, I4, I4 } },
};

static const struct sim_image gemv_img = {
	SIM_IMAGE_MAGIC, SIM_IMAGE_VERSION,
	sizeof(gemv_kernels) / sizeof(gemv_kernels[0]), gemv_kernels,
};

const void *gemv_image(void)
{
	return &gemv_img;
}

/*
 * Host stubs. Each symbol is the kernel's mangled name, as nvcc's host stub
 * for a __global__ function is; the body is nvcc 13's launch sequence.
 */
#define STUB(sym) __asm__(sym) __attribute__((noinline, used))

void rmsnorm_stub(float *y, const float *x, const float *w, int n, float eps)
	STUB("_Z14rmsnorm_kernelPfPKfS1_if");
void rmsnorm_stub(float *y, const float *x, const float *w, int n, float eps)
{
	void *a[] = { &y, &x, &w, &n, &eps };

	SIM_STUB_LAUNCH(rmsnorm_stub, a);
}

void rope_stub(float *qkv, const int *pos, int heads, int hd) STUB("_Z11rope_kernelPfPKiii");
void rope_stub(float *qkv, const int *pos, int heads, int hd)
{
	void *a[] = { &qkv, &pos, &heads, &hd };

	SIM_STUB_LAUNCH(rope_stub, a);
}

void kv_append_stub(float *kc, float *vc, const float *qkv, const int *pos, int hidden)
	STUB("_Z16kv_append_kernelPfS_PKfPKii");
void kv_append_stub(float *kc, float *vc, const float *qkv, const int *pos, int hidden)
{
	void *a[] = { &kc, &vc, &qkv, &pos, &hidden };

	SIM_STUB_LAUNCH(kv_append_stub, a);
}

void attention_stub(float *out, const float *qkv, const float *kc, const float *vc,
		    const int *pos, int heads, int hd) STUB("_Z16attention_kernelPfPKfS1_S1_PKiii");
void attention_stub(float *out, const float *qkv, const float *kc, const float *vc,
		    const int *pos, int heads, int hd)
{
	void *a[] = { &out, &qkv, &kc, &vc, &pos, &heads, &hd };

	SIM_STUB_LAUNCH(attention_stub, a);
}

void silu_mul_stub(float *out, const float *gu, int f) STUB("_Z15silu_mul_kernelPfPKfi");
void silu_mul_stub(float *out, const float *gu, int f)
{
	void *a[] = { &out, &gu, &f };

	SIM_STUB_LAUNCH(silu_mul_stub, a);
}

void argmax_stub(int *out, const float *l, int n) STUB("_Z13argmax_kernelPiPKfi");
void argmax_stub(int *out, const float *l, int n)
{
	void *a[] = { &out, &l, &n };

	SIM_STUB_LAUNCH(argmax_stub, a);
}

void residual_stub(float *x, const float *d, int n) STUB("_Z19residual_add_kernelPfPKfi");
void residual_stub(float *x, const float *d, int n)
{
	void *a[] = { &x, &d, &n };

	SIM_STUB_LAUNCH(residual_stub, a);
}

/* nvcc's module constructor and destructor. */
static const struct sim_fatbin_wrapper fatbin = { SIM_FATBIN_MAGIC, 1, &runtime_image, NULL };
static void **fatbin_handle;

#define REG(stub, name) \
	__cudaRegisterFunction(fatbin_handle, (const char *)(stub), (char *)(name), name, \
			       -1, NULL, NULL, NULL, NULL, NULL)

__attribute__((constructor)) static void register_kernels(void)
{
	fatbin_handle = __cudaRegisterFatBinary((void *)&fatbin);
	REG(rmsnorm_stub, "_Z14rmsnorm_kernelPfPKfS1_if");
	REG(rope_stub, "_Z11rope_kernelPfPKiii");
	REG(kv_append_stub, "_Z16kv_append_kernelPfS_PKfPKii");
	REG(attention_stub, "_Z16attention_kernelPfPKfS1_S1_PKiii");
	REG(silu_mul_stub, "_Z15silu_mul_kernelPfPKfi");
	REG(argmax_stub, "_Z13argmax_kernelPiPKfi");
	REG(residual_stub, "_Z19residual_add_kernelPfPKfi");
	__cudaRegisterFatBinaryEnd(fatbin_handle);
}

__attribute__((destructor)) static void unregister_kernels(void)
{
	__cudaUnregisterFatBinary(fatbin_handle);
}

/* ---- launch sites (kernels.h) ---- */

static dim3 d3(unsigned int x)
{
	dim3 d = { x, 1, 1 };

	return d;
}

static dim3 d3xy(unsigned int x, unsigned int y)
{
	dim3 d = { x, y, 1 };

	return d;
}

static cudaError_t launched(void)
{
	return cudaGetLastError();
}

cudaError_t k_rmsnorm(cudaStream_t s, float *y, const float *x, const float *w, int rows, int n,
		      float eps)
{
	SIM_LAUNCH(rmsnorm_stub, d3(rows), d3(256), 0, s, y, x, w, n, eps);
	return launched();
}

cudaError_t k_rope(cudaStream_t s, float *qkv, const int *pos, int rows, int heads, int hd)
{
	SIM_LAUNCH(rope_stub, d3xy(heads, rows), d3(hd / 2), 0, s, qkv, pos, heads, hd);
	return launched();
}

cudaError_t k_kv_append(cudaStream_t s, float *kc, float *vc, const float *qkv, const int *pos,
			int rows, int hidden)
{
	SIM_LAUNCH(kv_append_stub, d3xy((hidden + 255) / 256, rows), d3(256), 0, s, kc, vc, qkv,
		   pos, hidden);
	return launched();
}

cudaError_t k_attention(cudaStream_t s, float *out, const float *qkv, const float *kc,
			const float *vc, const int *pos, int rows, int heads, int hd)
{
	SIM_LAUNCH(attention_stub, d3xy(heads, rows), d3(hd), 0, s, out, qkv, kc, vc, pos, heads,
		   hd);
	return launched();
}

cudaError_t k_silu_mul(cudaStream_t s, float *out, const float *gu, int rows, int f)
{
	SIM_LAUNCH(silu_mul_stub, d3xy((f + 255) / 256, rows), d3(256), 0, s, out, gu, f);
	return launched();
}

cudaError_t k_argmax(cudaStream_t s, int *out, const float *l, int n)
{
	SIM_LAUNCH(argmax_stub, d3(1), d3(1024), 0, s, out, l, n);
	return launched();
}

cudaError_t k_residual(cudaStream_t s, float *x, const float *d, int n)
{
	void *a[] = { &x, &d, &n };

	/* by stub address, as frameworks that call cudaLaunchKernel do */
	return cudaLaunchKernel((const void *)residual_stub, d3((n + 255) / 256), d3(256), a, 0, s);
}
