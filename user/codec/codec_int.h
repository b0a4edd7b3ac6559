/* SPDX-License-Identifier: MIT */
/*
 * Internals shared by the codec's files, the GPU check and the benchmark:
 * the element kernels (quantise a span, dequantise a span) and the exact
 * definition of a quantisation code, which gpu/codec reproduces bit for bit.
 *
 * For an element x (converted to fp32 exactly), an optional reference value
 * p and an optional channel mean b, all fp32 and in this order:
 *     t = x - p;  r = t - b;  v = r * recip;  q = round-to-nearest-even(v)
 * where recip = 1.0f / step. |v| >= 2^30 or a non-finite v stores x exactly.
 * The decoder rebuilds y = ((float)q * step + b) + p and rounds y to the
 * input dtype (round to nearest even). No fused multiply-add anywhere: the
 * files are built with -ffp-contract=off.
 *
 * Symbols: z = zigzag(q); z < 223 is the symbol itself; otherwise symbol
 * 223 + k with k = floor(log2(z - 222)) and the k low bits of z - 222 in the
 * extra-bits stream; symbol 255 takes the next value of the exact list.
 */
#ifndef LLMI_CODEC_INT_H
#define LLMI_CODEC_INT_H

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "codec/codec.h"

#define SYM_DIRECT	223u
#define SYM_EXACT	255u
#define QUANT_LIMIT	0x1p30f

struct quant_params {
	enum llmi_dtype dt;
	float step;
	float recip;
	double abs_bound;	/* INFINITY unless the mode is abs */
};

struct quant_out {
	uint8_t *sym;		/* one symbol per element */
	uint32_t *big;		/* z of the elements with symbols 223..254 */
	size_t nbig;
	uint8_t *exact;		/* raw input bytes of symbol-255 elements */
	size_t nexact;
	double sse;
	double maxerr;
	uint64_t nfinite;
	uint64_t nviol;		/* escaped because they broke the abs bound */
};

struct bitrd {
	const uint8_t *p, *end;
	uint64_t acc;
	unsigned cnt;
};

struct dequant_in {
	enum llmi_dtype dt;
	float step;
	const uint8_t *sym;
	struct bitrd br;
	const uint8_t *exact;	/* next exact value */
	size_t nexact;		/* exact values left */
};

/* Quantises src[0..n) (ref, mean optional, both indexed like src); symbols go to o->sym[pos..]. */
void quant_span(const struct quant_params *qp, struct quant_out *o, const void *src,
		const void *ref, const float *mean, size_t n, size_t pos);
/* Rebuilds dst[0..n) from d->sym[pos..]; -EBADMSG if the side streams run out. */
int dequant_span(struct dequant_in *d, void *dst, const void *ref, const float *mean,
		 size_t n, size_t pos);
/* Adds sums of (x - k) and (x - k)^2 over the finite elements to *s, *s2, *nf. */
void stats_span(const void *src, enum llmi_dtype dt, size_t n, double k, double *s, double *s2,
		uint64_t *nf);
/* One row of [tokens x hidden]: sum[i] += x - ref where finite, else skipped[i]++. */
void chan_accum(const void *src, const void *ref, enum llmi_dtype dt, size_t n, double *sum,
		uint64_t *skipped);
/*
 * The codes alone, as gpu/codec computes them: codes[i] = q, or INT32_MIN
 * where x or v is not finite or |v| >= 2^30 (stored exactly). mean (hidden
 * entries, element e0 + i takes channel (e0 + i) % hidden) and ref are optional.
 */
void quant_codes(const void *src, enum llmi_dtype dt, const void *ref, const float *mean,
		 uint32_t hidden, uint64_t e0, size_t n, float recip, int32_t *codes);
/*
 * For the benchmark: the order-0 entropy of the quantisation codes of every
 * quantised chunk of a blob (each chunk has its own table, so per chunk),
 * plus the raw bits of what is stored exactly; *coded_bits is what the blob
 * spends on the same chunks. Lossless and raw chunks are skipped.
 */
int codec_blob_entropy(struct llmi_codec *c, const void *blob, size_t len,
		       const struct llmi_tensor_desc *d, double *entropy_bits, double *coded_bits);
/* Kernel sets, chosen at run time from what the CPU has. */
enum {
	SIMD_NONE = 0,		/* portable C */
	SIMD_AVX2,		/* AVX2 + F16C element kernels and rANS coder */
	SIMD_AVX512,		/* AVX-512 element kernels and rANS encoder (decoder: AVX2) */
};
int codec_simd_level(void);
/* Caps the level (tests and the benchmark compare the paths). */
void codec_simd_limit(int max);
void codec_force_portable(bool on);

static inline float f32_from_bits(uint32_t u)
{
	float f;

	memcpy(&f, &u, 4);
	return f;
}

static inline uint32_t f32_bits(float f)
{
	uint32_t u;

	memcpy(&u, &f, 4);
	return u;
}

static inline float bf16_to_f32(uint16_t h)
{
	return f32_from_bits((uint32_t)h << 16);
}

/* Round to nearest even; y is finite (overflow gives Inf). */
static inline uint16_t f32_to_bf16_rne(float y)
{
	uint32_t u = f32_bits(y);

	return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

static inline float f16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
	uint32_t e = (h >> 10) & 0x1f, m = h & 0x3ff;

	if (e == 0) {
		float f = (float)m * 0x1p-24f;
		return sign ? -f : f;
	}
	if (e == 31)
		return f32_from_bits(sign | 0x7f800000u | (m << 13));
	return f32_from_bits(sign | ((e + 112) << 23) | (m << 13));
}

/* Round to nearest even, as F16C's vcvtps2ph does. */
static inline uint16_t f32_to_f16_rne(float f)
{
	uint32_t x = f32_bits(f);
	uint32_t sign = (x >> 16) & 0x8000u;

	x &= 0x7fffffffu;
	if (x >= 0x7f800000u)
		return (uint16_t)(sign | (x > 0x7f800000u ? 0x7e00u | ((x >> 13) & 0x3ffu) : 0x7c00u));
	if (x >= 0x477ff000u)
		return (uint16_t)(sign | 0x7c00u);
	if (x < 0x38800000u) {
		/* Adding 0.5 lines the value up on the subnormal grid (2^-24). */
		float a = f32_from_bits(x) + 0.5f;
		return (uint16_t)(sign | (f32_bits(a) - 0x3f000000u));
	}
	uint32_t odd = (x >> 13) & 1u;
	x += ((uint32_t)(15 - 127) << 23) + 0xfffu + odd;
	return (uint16_t)(sign | (x >> 13));
}

/* Round half to even for |v| < 2^30, without libm or SSE4.1. */
static inline int32_t round_even(float v)
{
	if (fabsf(v) < 0x1p23f) {
		/* v + 2^23 lands where the spacing of floats is exactly 1. */
		float s = copysignf(0x1p23f, v);
		return (int32_t)((v + s) - s);
	}
	return (int32_t)v;	/* already whole */
}

#endif
