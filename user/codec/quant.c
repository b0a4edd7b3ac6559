// SPDX-License-Identifier: MIT
/*
 * Element kernels of the codec: quantise a span of input into symbols, and
 * rebuild a span from symbols (codec_int.h defines the arithmetic). These
 * loops touch every element of every tensor, so they are the hot path: they
 * allocate nothing, and on x86 an AVX-512 version runs 16 elements at a time,
 * chosen at run time. A block of 16 with anything unusual in it (an escape, a
 * large code, a bound violation) is redone by the portable per-element code,
 * so both paths give the same bits by construction, and the tests check it.
 */
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "codec/codec_int.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#define HAVE_X86 1
#else
#define HAVE_X86 0
#endif

static int simd_max = SIMD_AVX512;

void codec_simd_limit(int max)
{
	simd_max = max;
}

void codec_force_portable(bool on)
{
	simd_max = on ? SIMD_NONE : SIMD_AVX512;
}

int codec_simd_level(void)
{
#if HAVE_X86
	static int level = -1;

	if (level < 0) {
		unsigned a, b, c1 = 0, d;
		int l = SIMD_NONE;

		/*
		 * The compiler's probe covers AVX2/AVX-512 including OS support
		 * (XCR0); F16C is read from CPUID, which older compilers'
		 * __builtin_cpu_supports does not know.
		 */
		__builtin_cpu_init();
		__get_cpuid(1, &a, &b, &c1, &d);
		if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt") && (c1 & (1u << 29)))
			l = SIMD_AVX2;
		if (l && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
		    __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
			l = SIMD_AVX512;
		level = l;
	}
	return level < simd_max ? level : simd_max;
#else
	return SIMD_NONE;
#endif
}

static inline __attribute__((always_inline)) float load_el(const void *p, size_t i, enum llmi_dtype dt)
{
	switch (dt) {
	case LLMI_DTYPE_BF16: return bf16_to_f32(((const uint16_t *)p)[i]);
	case LLMI_DTYPE_F16:  return f16_to_f32(((const uint16_t *)p)[i]);
	default:	      return ((const float *)p)[i];
	}
}

/* The value the decoder will store for y, as fp32. */
static inline __attribute__((always_inline)) float round_dt(float y, enum llmi_dtype dt)
{
	switch (dt) {
	case LLMI_DTYPE_BF16: return bf16_to_f32(f32_to_bf16_rne(y));
	case LLMI_DTYPE_F16:  return f16_to_f32(f32_to_f16_rne(y));
	default:	      return y;
	}
}

static inline __attribute__((always_inline)) void store_el(void *p, size_t i, float y, enum llmi_dtype dt)
{
	switch (dt) {
	case LLMI_DTYPE_BF16: ((uint16_t *)p)[i] = f32_to_bf16_rne(y); break;
	case LLMI_DTYPE_F16:  ((uint16_t *)p)[i] = f32_to_f16_rne(y); break;
	default:	      ((float *)p)[i] = y; break;
	}
}

static inline __attribute__((always_inline)) void
quant_one(const struct quant_params *qp, struct quant_out *o, const void *src, const void *ref,
	  const float *mean, size_t i, uint8_t *sym, enum llmi_dtype dt)
{
	size_t es = dt == LLMI_DTYPE_F32 ? 4 : 2;
	float x = load_el(src, i, dt), p = 0, t, r, v, y, out;
	double err;
	int32_t q;
	uint32_t z;

	if (!isfinite(x)) {
		memcpy(o->exact + o->nexact++ * es, (const char *)src + i * es, es);
		*sym = SYM_EXACT;
		return;
	}
	o->nfinite++;
	t = x;
	if (ref) {
		p = load_el(ref, i, dt);
		t = x - p;
	}
	r = mean ? t - mean[i] : t;
	v = r * qp->recip;
	if (!(fabsf(v) < QUANT_LIMIT))
		goto exact;
	q = round_even(v);
	y = (float)q * qp->step;
	if (mean)
		y += mean[i];
	if (ref)
		y += p;
	out = round_dt(y, dt);
	if (!isfinite(out))
		goto exact;
	err = fabs((double)x - (double)out);
	if (err > qp->abs_bound) {
		o->nviol++;
		goto exact;
	}
	o->sse += err * err;
	if (err > o->maxerr)
		o->maxerr = err;
	z = ((uint32_t)q << 1) ^ (uint32_t)(q >> 31);
	if (z < SYM_DIRECT) {
		*sym = (uint8_t)z;
	} else {
		*sym = (uint8_t)(SYM_DIRECT + 31 - __builtin_clz(z - (SYM_DIRECT - 1)));
		o->big[o->nbig++] = z;
	}
	return;
exact:
	memcpy(o->exact + o->nexact++ * es, (const char *)src + i * es, es);
	*sym = SYM_EXACT;
}

static void quant_span_portable(const struct quant_params *qp, struct quant_out *o,
				const void *src, const void *ref, const float *mean,
				size_t n, size_t pos)
{
	uint8_t *sym = o->sym + pos;

	switch (qp->dt) {
	case LLMI_DTYPE_BF16:
		for (size_t i = 0; i < n; i++)
			quant_one(qp, o, src, ref, mean, i, sym + i, LLMI_DTYPE_BF16);
		break;
	case LLMI_DTYPE_F16:
		for (size_t i = 0; i < n; i++)
			quant_one(qp, o, src, ref, mean, i, sym + i, LLMI_DTYPE_F16);
		break;
	default:
		for (size_t i = 0; i < n; i++)
			quant_one(qp, o, src, ref, mean, i, sym + i, LLMI_DTYPE_F32);
		break;
	}
}

void quant_codes(const void *src, enum llmi_dtype dt, const void *ref, const float *mean,
		 uint32_t hidden, uint64_t e0, size_t n, float recip, int32_t *codes)
{
	for (size_t i = 0; i < n; i++) {
		float x = load_el(src, i, dt), t = x, v;

		if (!isfinite(x)) {
			codes[i] = INT32_MIN;
			continue;
		}
		if (ref)
			t = x - load_el(ref, i, dt);
		if (mean)
			t = t - mean[(e0 + i) % hidden];
		v = t * recip;
		codes[i] = fabsf(v) < QUANT_LIMIT ? round_even(v) : INT32_MIN;
	}
}

static inline __attribute__((always_inline)) int bits_get(struct bitrd *b, unsigned k, uint32_t *v)
{
	while (b->cnt < k) {
		if (b->p == b->end)
			return -EBADMSG;
		b->acc |= (uint64_t)*b->p++ << b->cnt;
		b->cnt += 8;
	}
	*v = (uint32_t)(b->acc & ((1ull << k) - 1));
	b->acc >>= k;
	b->cnt -= k;
	return 0;
}

static inline __attribute__((always_inline)) int
dequant_one(struct dequant_in *d, void *dst, const void *ref, const float *mean, size_t i,
	    uint8_t s, enum llmi_dtype dt)
{
	size_t es = dt == LLMI_DTYPE_F32 ? 4 : 2;
	uint32_t z;
	int32_t q;
	float y;

	if (s == SYM_EXACT) {
		if (!d->nexact)
			return -EBADMSG;
		memcpy((char *)dst + i * es, d->exact, es);
		d->exact += es;
		d->nexact--;
		return 0;
	}
	if (s < SYM_DIRECT) {
		z = s;
	} else {
		unsigned k = s - SYM_DIRECT;
		uint32_t lo;

		if (bits_get(&d->br, k, &lo))
			return -EBADMSG;
		z = ((1u << k) | lo) + (SYM_DIRECT - 1);
	}
	q = (int32_t)((z >> 1) ^ (0u - (z & 1)));
	y = (float)q * d->step;
	if (mean)
		y += mean[i];
	if (ref)
		y += load_el(ref, i, dt);
	store_el(dst, i, y, dt);
	return 0;
}

static int dequant_span_portable(struct dequant_in *d, void *dst, const void *ref,
				 const float *mean, size_t n, size_t pos)
{
	const uint8_t *sym = d->sym + pos;
	int err = 0;

	switch (d->dt) {
	case LLMI_DTYPE_BF16:
		for (size_t i = 0; i < n && !err; i++)
			err = dequant_one(d, dst, ref, mean, i, sym[i], LLMI_DTYPE_BF16);
		break;
	case LLMI_DTYPE_F16:
		for (size_t i = 0; i < n && !err; i++)
			err = dequant_one(d, dst, ref, mean, i, sym[i], LLMI_DTYPE_F16);
		break;
	default:
		for (size_t i = 0; i < n && !err; i++)
			err = dequant_one(d, dst, ref, mean, i, sym[i], LLMI_DTYPE_F32);
		break;
	}
	return err;
}

static void stats_span_portable(const void *src, enum llmi_dtype dt, size_t n, double k,
				double *s, double *s2, uint64_t *nf)
{
	double a = 0, b = 0;
	uint64_t c = 0;

	for (size_t i = 0; i < n; i++) {
		float v = load_el(src, i, dt);
		if (isfinite(v)) {
			double d = (double)v - k;
			a += d;
			b += d * d;
			c++;
		}
	}
	*s += a;
	*s2 += b;
	*nf += c;
}

static void chan_accum_portable(const void *src, const void *ref, enum llmi_dtype dt, size_t n,
				double *sum, uint64_t *skipped)
{
	for (size_t i = 0; i < n; i++) {
		float t = load_el(src, i, dt);

		if (ref)
			t = t - load_el(ref, i, dt);
		if (isfinite(t))
			sum[i] += t;
		else
			skipped[i]++;
	}
}

#if HAVE_X86
#define AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,f16c")))

static inline AVX512 __m512 v_load(const void *p, size_t i, enum llmi_dtype dt)
{
	switch (dt) {
	case LLMI_DTYPE_BF16:
		return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(
			_mm256_loadu_si256((const __m256i *)((const uint16_t *)p + i))), 16));
	case LLMI_DTYPE_F16:
		return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)p + i)));
	default:
		return _mm512_loadu_ps((const float *)p + i);
	}
}

static inline AVX512 __m512i v_bf16_bits(__m512 y)
{
	__m512i u = _mm512_castps_si512(y);
	__m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));

	return _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7fff)), lsb), 16);
}

static inline AVX512 __m512 v_round_dt(__m512 y, enum llmi_dtype dt)
{
	switch (dt) {
	case LLMI_DTYPE_BF16:
		return _mm512_castsi512_ps(_mm512_slli_epi32(v_bf16_bits(y), 16));
	case LLMI_DTYPE_F16:
		return _mm512_cvtph_ps(_mm512_cvtps_ph(y, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
	default:
		return y;
	}
}

static inline AVX512 void v_store(void *p, size_t i, __m512 y, enum llmi_dtype dt)
{
	switch (dt) {
	case LLMI_DTYPE_BF16:
		_mm256_storeu_si256((__m256i *)((uint16_t *)p + i), _mm512_cvtepi32_epi16(v_bf16_bits(y)));
		break;
	case LLMI_DTYPE_F16:
		_mm256_storeu_si256((__m256i *)((uint16_t *)p + i),
				    _mm512_cvtps_ph(y, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
		break;
	default:
		_mm512_storeu_ps((float *)p + i, y);
		break;
	}
}

static inline AVX512 __attribute__((always_inline)) void
quant_span_avx512_dt(const struct quant_params *qp, struct quant_out *o, const void *src,
		     const void *ref, const float *mean, size_t n, size_t pos, enum llmi_dtype dt)
{
	const __m512 recip = _mm512_set1_ps(qp->recip), step = _mm512_set1_ps(qp->step);
	const __m512 lim = _mm512_set1_ps(QUANT_LIMIT), inf = _mm512_set1_ps(INFINITY);
	const __m512d bound = _mm512_set1_pd(qp->abs_bound);
	const __m512i direct = _mm512_set1_epi32(SYM_DIRECT);
	__m512d sse = _mm512_setzero_pd(), mx = _mm512_setzero_pd();
	uint8_t *sym = o->sym + pos;
	size_t i = 0;
	uint64_t fast = 0;

	for (; i + 16 <= n; i += 16) {
		__m512 x = v_load(src, i, dt), t = x, p = _mm512_setzero_ps();

		if (ref) {
			p = v_load(ref, i, dt);
			t = _mm512_sub_ps(x, p);
		}
		__m512 r = mean ? _mm512_sub_ps(t, _mm512_loadu_ps(mean + i)) : t;
		__m512 v = _mm512_mul_ps(r, recip);
		__mmask16 ok = _mm512_cmp_ps_mask(_mm512_abs_ps(v), lim, _CMP_LT_OQ);
		__m512i q = _mm512_cvtps_epi32(_mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
		__m512 y = _mm512_mul_ps(_mm512_cvtepi32_ps(q), step);

		if (mean)
			y = _mm512_add_ps(y, _mm512_loadu_ps(mean + i));
		if (ref)
			y = _mm512_add_ps(y, p);
		__m512 out = v_round_dt(y, dt);
		ok &= _mm512_cmp_ps_mask(_mm512_abs_ps(out), inf, _CMP_LT_OQ);
		__m512i z = _mm512_xor_si512(_mm512_slli_epi32(q, 1), _mm512_srai_epi32(q, 31));
		ok &= _mm512_cmplt_epu32_mask(z, direct);
		__m512d e0 = _mm512_abs_pd(_mm512_sub_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(x)),
							_mm512_cvtps_pd(_mm512_castps512_ps256(out))));
		__m512d e1 = _mm512_abs_pd(_mm512_sub_pd(
			_mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1))),
			_mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(out), 1)))));
		ok &= (__mmask16)(_mm512_cmp_pd_mask(e0, bound, _CMP_LE_OQ) |
				  (_mm512_cmp_pd_mask(e1, bound, _CMP_LE_OQ) << 8));
		if (ok != 0xffff) {
			for (size_t k = i; k < i + 16; k++)
				quant_one(qp, o, src, ref, mean, k, sym + k, dt);
			continue;
		}
		sse = _mm512_add_pd(sse, _mm512_add_pd(_mm512_mul_pd(e0, e0), _mm512_mul_pd(e1, e1)));
		mx = _mm512_max_pd(mx, _mm512_max_pd(e0, e1));
		_mm_storeu_si128((__m128i *)(sym + i), _mm512_cvtepi32_epi8(z));
		fast += 16;
	}
	for (; i < n; i++)
		quant_one(qp, o, src, ref, mean, i, sym + i, dt);
	o->sse += _mm512_reduce_add_pd(sse);
	double m = _mm512_reduce_max_pd(mx);
	if (m > o->maxerr)
		o->maxerr = m;
	o->nfinite += fast;
}

static AVX512 void quant_span_avx512(const struct quant_params *qp, struct quant_out *o,
				     const void *src, const void *ref, const float *mean,
				     size_t n, size_t pos)
{
	switch (qp->dt) {
	case LLMI_DTYPE_BF16:
		quant_span_avx512_dt(qp, o, src, ref, mean, n, pos, LLMI_DTYPE_BF16);
		break;
	case LLMI_DTYPE_F16:
		quant_span_avx512_dt(qp, o, src, ref, mean, n, pos, LLMI_DTYPE_F16);
		break;
	default:
		quant_span_avx512_dt(qp, o, src, ref, mean, n, pos, LLMI_DTYPE_F32);
		break;
	}
}

static inline AVX512 __attribute__((always_inline)) int
dequant_span_avx512_dt(struct dequant_in *d, void *dst, const void *ref, const float *mean,
		       size_t n, size_t pos, enum llmi_dtype dt)
{
	const __m512 step = _mm512_set1_ps(d->step);
	const __m128i direct = _mm_set1_epi8((char)(SYM_DIRECT - 128));
	const __m128i flip = _mm_set1_epi8((char)0x80);
	const uint8_t *sym = d->sym + pos;
	size_t i = 0;

	for (; i + 16 <= n; i += 16) {
		__m128i s = _mm_loadu_si128((const __m128i *)(sym + i));

		/* Unsigned s >= 223, as a signed compare after flipping the top bit. */
		if (_mm_movemask_epi8(_mm_cmpgt_epi8(_mm_xor_si128(s, flip),
						     _mm_sub_epi8(direct, _mm_set1_epi8(1))))) {
			for (size_t k = i; k < i + 16; k++)
				if (dequant_one(d, dst, ref, mean, k, sym[k], dt))
					return -EBADMSG;
			continue;
		}
		__m512i z = _mm512_cvtepu8_epi32(s);
		__m512i q = _mm512_xor_si512(_mm512_srli_epi32(z, 1),
					     _mm512_sub_epi32(_mm512_setzero_si512(),
							      _mm512_and_si512(z, _mm512_set1_epi32(1))));
		__m512 y = _mm512_mul_ps(_mm512_cvtepi32_ps(q), step);

		if (mean)
			y = _mm512_add_ps(y, _mm512_loadu_ps(mean + i));
		if (ref)
			y = _mm512_add_ps(y, v_load(ref, i, dt));
		v_store(dst, i, y, dt);
	}
	for (; i < n; i++)
		if (dequant_one(d, dst, ref, mean, i, sym[i], dt))
			return -EBADMSG;
	return 0;
}

static AVX512 int dequant_span_avx512(struct dequant_in *d, void *dst, const void *ref,
				      const float *mean, size_t n, size_t pos)
{
	switch (d->dt) {
	case LLMI_DTYPE_BF16:
		return dequant_span_avx512_dt(d, dst, ref, mean, n, pos, LLMI_DTYPE_BF16);
	case LLMI_DTYPE_F16:
		return dequant_span_avx512_dt(d, dst, ref, mean, n, pos, LLMI_DTYPE_F16);
	default:
		return dequant_span_avx512_dt(d, dst, ref, mean, n, pos, LLMI_DTYPE_F32);
	}
}
#endif

#if HAVE_X86
static AVX512 void stats_span_avx512(const void *src, enum llmi_dtype dt, size_t n, double k,
				     double *s, double *s2, uint64_t *nf)
{
	const __m512 inf = _mm512_set1_ps(INFINITY);
	const __m512d kk = _mm512_set1_pd(k);
	__m512d a0 = _mm512_setzero_pd(), a1 = a0, b0 = a0, b1 = a0;
	uint64_t c = 0;
	size_t i = 0;

	for (; i + 16 <= n; i += 16) {
		__m512 x = v_load(src, i, dt);
		__mmask16 m = _mm512_cmp_ps_mask(_mm512_abs_ps(x), inf, _CMP_LT_OQ);
		__m512d d0 = _mm512_sub_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(x)), kk);
		__m512d d1 = _mm512_sub_pd(_mm512_cvtps_pd(_mm256_castpd_ps(
			_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1))), kk);

		a0 = _mm512_mask_add_pd(a0, (__mmask8)m, a0, d0);
		a1 = _mm512_mask_add_pd(a1, (__mmask8)(m >> 8), a1, d1);
		b0 = _mm512_mask_add_pd(b0, (__mmask8)m, b0, _mm512_mul_pd(d0, d0));
		b1 = _mm512_mask_add_pd(b1, (__mmask8)(m >> 8), b1, _mm512_mul_pd(d1, d1));
		c += (unsigned)__builtin_popcount(m);
	}
	*s += _mm512_reduce_add_pd(_mm512_add_pd(a0, a1));
	*s2 += _mm512_reduce_add_pd(_mm512_add_pd(b0, b1));
	*nf += c;
	stats_span_portable((const char *)src + i * (dt == LLMI_DTYPE_F32 ? 4 : 2), dt, n - i, k, s, s2, nf);
}
#endif

#if HAVE_X86
/*
 * AVX2 + F16C versions of the element kernels, 8 lanes, for x86 hosts
 * without AVX-512. Same operations in the same order as the portable code.
 */
#define AVX2 __attribute__((target("avx2,f16c")))

static inline AVX2 __m256 w_load(const void *p, size_t i, enum llmi_dtype dt)
{
	switch (dt) {
	case LLMI_DTYPE_BF16:
		return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(
			_mm_loadu_si128((const __m128i *)((const uint16_t *)p + i))), 16));
	case LLMI_DTYPE_F16:
		return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)p + i)));
	default:
		return _mm256_loadu_ps((const float *)p + i);
	}
}

static inline AVX2 __m256 w_abs(__m256 v)
{
	return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v);
}

static inline AVX2 __m256i w_bf16_bits(__m256 y)
{
	__m256i u = _mm256_castps_si256(y);
	__m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));

	return _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(u, _mm256_set1_epi32(0x7fff)), lsb), 16);
}

static inline AVX2 __m256 w_round_dt(__m256 y, enum llmi_dtype dt)
{
	switch (dt) {
	case LLMI_DTYPE_BF16:
		return _mm256_castsi256_ps(_mm256_slli_epi32(w_bf16_bits(y), 16));
	case LLMI_DTYPE_F16:
		return _mm256_cvtph_ps(_mm256_cvtps_ph(y, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
	default:
		return y;
	}
}

/* The low 16 bits of each of 8 dwords, in order, as 8 u16. */
static inline AVX2 __m128i w_pack16(__m256i v)
{
	const __m256i sh = _mm256_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, -1, -1, -1, -1, -1, -1, -1, -1,
					    0, 1, 4, 5, 8, 9, 12, 13, -1, -1, -1, -1, -1, -1, -1, -1);
	__m256i p = _mm256_permute4x64_epi64(_mm256_shuffle_epi8(v, sh), 0xd8);

	return _mm256_castsi256_si128(p);
}

static inline AVX2 void w_store(void *p, size_t i, __m256 y, enum llmi_dtype dt)
{
	switch (dt) {
	case LLMI_DTYPE_BF16:
		_mm_storeu_si128((__m128i *)((uint16_t *)p + i), w_pack16(w_bf16_bits(y)));
		break;
	case LLMI_DTYPE_F16:
		_mm_storeu_si128((__m128i *)((uint16_t *)p + i),
				 _mm256_cvtps_ph(y, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
		break;
	default:
		_mm256_storeu_ps((float *)p + i, y);
		break;
	}
}

static inline AVX2 __attribute__((always_inline)) void
quant_span_avx2_dt(const struct quant_params *qp, struct quant_out *o, const void *src,
		   const void *ref, const float *mean, size_t n, size_t pos, enum llmi_dtype dt)
{
	const __m256 recip = _mm256_set1_ps(qp->recip), step = _mm256_set1_ps(qp->step);
	const __m256 lim = _mm256_set1_ps(QUANT_LIMIT), inf = _mm256_set1_ps(INFINITY);
	const __m256d bound = _mm256_set1_pd(qp->abs_bound), sgn = _mm256_set1_pd(-0.0);
	const __m256i lo = _mm256_set1_epi32(-(int)(SYM_DIRECT / 2) - 1);
	const __m256i hi = _mm256_set1_epi32((int)(SYM_DIRECT / 2) + 1);
	const __m256i pick = _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
					      0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
	__m256d sse = _mm256_setzero_pd(), mx = _mm256_setzero_pd();
	uint8_t *sym = o->sym + pos;
	size_t i = 0;
	uint64_t fast = 0;

	for (; i + 8 <= n; i += 8) {
		__m256 x = w_load(src, i, dt), t = x, p = _mm256_setzero_ps();

		if (ref) {
			p = w_load(ref, i, dt);
			t = _mm256_sub_ps(x, p);
		}
		__m256 r = mean ? _mm256_sub_ps(t, _mm256_loadu_ps(mean + i)) : t;
		__m256 v = _mm256_mul_ps(r, recip);
		__m256 ok = _mm256_cmp_ps(w_abs(v), lim, _CMP_LT_OQ);
		__m256i q = _mm256_cvtps_epi32(_mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
		__m256 y = _mm256_mul_ps(_mm256_cvtepi32_ps(q), step);

		if (mean)
			y = _mm256_add_ps(y, _mm256_loadu_ps(mean + i));
		if (ref)
			y = _mm256_add_ps(y, p);
		__m256 out = w_round_dt(y, dt);
		ok = _mm256_and_ps(ok, _mm256_cmp_ps(w_abs(out), inf, _CMP_LT_OQ));
		/* |q| <= 111 is zigzag < 223, in signed compares. */
		__m256i inr = _mm256_and_si256(_mm256_cmpgt_epi32(q, lo), _mm256_cmpgt_epi32(hi, q));
		ok = _mm256_and_ps(ok, _mm256_castsi256_ps(inr));
		__m256d e0 = _mm256_andnot_pd(sgn, _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(x)),
							       _mm256_cvtps_pd(_mm256_castps256_ps128(out))));
		__m256d e1 = _mm256_andnot_pd(sgn, _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(x, 1)),
							       _mm256_cvtps_pd(_mm256_extractf128_ps(out, 1))));
		int okb = _mm256_movemask_ps(ok) &
			  (_mm256_movemask_pd(_mm256_cmp_pd(e0, bound, _CMP_LE_OQ)) |
			   _mm256_movemask_pd(_mm256_cmp_pd(e1, bound, _CMP_LE_OQ)) << 4);
		if (okb != 0xff) {
			for (size_t k = i; k < i + 8; k++)
				quant_one(qp, o, src, ref, mean, k, sym + k, dt);
			continue;
		}
		sse = _mm256_add_pd(sse, _mm256_add_pd(_mm256_mul_pd(e0, e0), _mm256_mul_pd(e1, e1)));
		mx = _mm256_max_pd(mx, _mm256_max_pd(e0, e1));
		__m256i z = _mm256_xor_si256(_mm256_slli_epi32(q, 1), _mm256_srai_epi32(q, 31));
		__m256i b = _mm256_shuffle_epi8(z, pick);
		_mm_storel_epi64((__m128i *)(sym + i), _mm_unpacklo_epi32(_mm256_castsi256_si128(b),
									   _mm256_extracti128_si256(b, 1)));
		fast += 8;
	}
	for (; i < n; i++)
		quant_one(qp, o, src, ref, mean, i, sym + i, dt);
	double e[4], m[4];
	_mm256_storeu_pd(e, sse);
	_mm256_storeu_pd(m, mx);
	o->sse += (e[0] + e[1]) + (e[2] + e[3]);
	for (int k = 0; k < 4; k++)
		if (m[k] > o->maxerr)
			o->maxerr = m[k];
	o->nfinite += fast;
}

static AVX2 void quant_span_avx2(const struct quant_params *qp, struct quant_out *o,
				 const void *src, const void *ref, const float *mean,
				 size_t n, size_t pos)
{
	switch (qp->dt) {
	case LLMI_DTYPE_BF16:
		quant_span_avx2_dt(qp, o, src, ref, mean, n, pos, LLMI_DTYPE_BF16);
		break;
	case LLMI_DTYPE_F16:
		quant_span_avx2_dt(qp, o, src, ref, mean, n, pos, LLMI_DTYPE_F16);
		break;
	default:
		quant_span_avx2_dt(qp, o, src, ref, mean, n, pos, LLMI_DTYPE_F32);
		break;
	}
}

static inline AVX2 __attribute__((always_inline)) int
dequant_span_avx2_dt(struct dequant_in *d, void *dst, const void *ref, const float *mean,
		     size_t n, size_t pos, enum llmi_dtype dt)
{
	const __m256 step = _mm256_set1_ps(d->step);
	const __m128i flip = _mm_set1_epi8((char)0x80);
	const __m128i top = _mm_set1_epi8((char)(SYM_DIRECT - 1 - 128));
	const uint8_t *sym = d->sym + pos;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		__m128i s = _mm_loadl_epi64((const __m128i *)(sym + i));

		if (_mm_movemask_epi8(_mm_cmpgt_epi8(_mm_xor_si128(s, flip), top)) & 0xff) {
			for (size_t k = i; k < i + 8; k++)
				if (dequant_one(d, dst, ref, mean, k, sym[k], dt))
					return -EBADMSG;
			continue;
		}
		__m256i z = _mm256_cvtepu8_epi32(s);
		__m256i q = _mm256_xor_si256(_mm256_srli_epi32(z, 1),
					     _mm256_sub_epi32(_mm256_setzero_si256(),
							      _mm256_and_si256(z, _mm256_set1_epi32(1))));
		__m256 y = _mm256_mul_ps(_mm256_cvtepi32_ps(q), step);

		if (mean)
			y = _mm256_add_ps(y, _mm256_loadu_ps(mean + i));
		if (ref)
			y = _mm256_add_ps(y, w_load(ref, i, dt));
		w_store(dst, i, y, dt);
	}
	for (; i < n; i++)
		if (dequant_one(d, dst, ref, mean, i, sym[i], dt))
			return -EBADMSG;
	return 0;
}

static AVX2 int dequant_span_avx2(struct dequant_in *d, void *dst, const void *ref,
				  const float *mean, size_t n, size_t pos)
{
	switch (d->dt) {
	case LLMI_DTYPE_BF16:
		return dequant_span_avx2_dt(d, dst, ref, mean, n, pos, LLMI_DTYPE_BF16);
	case LLMI_DTYPE_F16:
		return dequant_span_avx2_dt(d, dst, ref, mean, n, pos, LLMI_DTYPE_F16);
	default:
		return dequant_span_avx2_dt(d, dst, ref, mean, n, pos, LLMI_DTYPE_F32);
	}
}

static AVX2 void stats_span_avx2(const void *src, enum llmi_dtype dt, size_t n, double k,
				 double *s, double *s2, uint64_t *nf)
{
	const __m256 inf = _mm256_set1_ps(INFINITY);
	const __m256d kk = _mm256_set1_pd(k);
	__m256d a0 = _mm256_setzero_pd(), a1 = a0, b0 = a0, b1 = a0;
	uint64_t c = 0;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		__m256 x = w_load(src, i, dt);
		__m256 m = _mm256_cmp_ps(w_abs(x), inf, _CMP_LT_OQ);
		/* Zeroing the non-finite lanes first keeps NaN out of the sums. */
		__m256 xz = _mm256_and_ps(x, m);
		__m256d m0 = _mm256_castsi256_pd(_mm256_cvtepi32_epi64(_mm256_castsi256_si128(_mm256_castps_si256(m))));
		__m256d m1 = _mm256_castsi256_pd(_mm256_cvtepi32_epi64(_mm256_extracti128_si256(_mm256_castps_si256(m), 1)));
		__m256d d0 = _mm256_and_pd(_mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(xz)), kk), m0);
		__m256d d1 = _mm256_and_pd(_mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(xz, 1)), kk), m1);

		a0 = _mm256_add_pd(a0, d0);
		a1 = _mm256_add_pd(a1, d1);
		b0 = _mm256_add_pd(b0, _mm256_mul_pd(d0, d0));
		b1 = _mm256_add_pd(b1, _mm256_mul_pd(d1, d1));
		c += (unsigned)__builtin_popcount(_mm256_movemask_ps(m));
	}
	double a[4], b[4];
	_mm256_storeu_pd(a, _mm256_add_pd(a0, a1));
	_mm256_storeu_pd(b, _mm256_add_pd(b0, b1));
	*s += (a[0] + a[1]) + (a[2] + a[3]);
	*s2 += (b[0] + b[1]) + (b[2] + b[3]);
	*nf += c;
	stats_span_portable((const char *)src + i * (dt == LLMI_DTYPE_F32 ? 4 : 2), dt, n - i, k, s, s2, nf);
}

static AVX2 void chan_accum_avx2(const void *src, const void *ref, enum llmi_dtype dt, size_t n,
				 double *sum, uint64_t *skipped)
{
	const __m256 inf = _mm256_set1_ps(INFINITY);
	size_t i = 0, es = dt == LLMI_DTYPE_F32 ? 4 : 2;

	for (; i + 8 <= n; i += 8) {
		__m256 t = w_load(src, i, dt);

		if (ref)
			t = _mm256_sub_ps(t, w_load(ref, i, dt));
		if (_mm256_movemask_ps(_mm256_cmp_ps(w_abs(t), inf, _CMP_LT_OQ)) != 0xff) {
			chan_accum_portable((const char *)src + i * es, ref ? (const char *)ref + i * es : NULL,
					    dt, 8, sum + i, skipped + i);
			continue;
		}
		_mm256_storeu_pd(sum + i, _mm256_add_pd(_mm256_loadu_pd(sum + i),
							_mm256_cvtps_pd(_mm256_castps256_ps128(t))));
		_mm256_storeu_pd(sum + i + 4, _mm256_add_pd(_mm256_loadu_pd(sum + i + 4),
							    _mm256_cvtps_pd(_mm256_extractf128_ps(t, 1))));
	}
	chan_accum_portable((const char *)src + i * es, ref ? (const char *)ref + i * es : NULL, dt,
			    n - i, sum + i, skipped + i);
}
#endif

#if HAVE_X86
static AVX512 void chan_accum_avx512(const void *src, const void *ref, enum llmi_dtype dt, size_t n,
				     double *sum, uint64_t *cnt)
{
	const __m512 inf = _mm512_set1_ps(INFINITY);
	size_t i = 0, es = dt == LLMI_DTYPE_F32 ? 4 : 2;

	for (; i + 16 <= n; i += 16) {
		__m512 t = v_load(src, i, dt);

		if (ref)
			t = _mm512_sub_ps(t, v_load(ref, i, dt));
		if (_mm512_cmp_ps_mask(_mm512_abs_ps(t), inf, _CMP_LT_OQ) != 0xffff) {
			chan_accum_portable((const char *)src + i * es, ref ? (const char *)ref + i * es : NULL,
					    dt, 16, sum + i, cnt + i);
			continue;
		}
		__m512d d0 = _mm512_cvtps_pd(_mm512_castps512_ps256(t));
		__m512d d1 = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(t), 1)));
		_mm512_storeu_pd(sum + i, _mm512_add_pd(_mm512_loadu_pd(sum + i), d0));
		_mm512_storeu_pd(sum + i + 8, _mm512_add_pd(_mm512_loadu_pd(sum + i + 8), d1));
	}
	chan_accum_portable((const char *)src + i * es, ref ? (const char *)ref + i * es : NULL, dt,
			    n - i, sum + i, cnt + i);
}
#endif

void chan_accum(const void *src, const void *ref, enum llmi_dtype dt, size_t n, double *sum,
		uint64_t *skipped)
{
#if HAVE_X86
	int l = codec_simd_level();

	if (l >= SIMD_AVX512) {
		chan_accum_avx512(src, ref, dt, n, sum, skipped);
		return;
	}
	if (l == SIMD_AVX2) {
		chan_accum_avx2(src, ref, dt, n, sum, skipped);
		return;
	}
#endif
	chan_accum_portable(src, ref, dt, n, sum, skipped);
}

void stats_span(const void *src, enum llmi_dtype dt, size_t n, double k, double *s, double *s2,
		uint64_t *nf)
{
#if HAVE_X86
	int l = codec_simd_level();

	if (l >= SIMD_AVX512) {
		stats_span_avx512(src, dt, n, k, s, s2, nf);
		return;
	}
	if (l == SIMD_AVX2) {
		stats_span_avx2(src, dt, n, k, s, s2, nf);
		return;
	}
#endif
	stats_span_portable(src, dt, n, k, s, s2, nf);
}

void quant_span(const struct quant_params *qp, struct quant_out *o, const void *src,
		const void *ref, const float *mean, size_t n, size_t pos)
{
#if HAVE_X86
	int l = codec_simd_level();

	if (l >= SIMD_AVX512) {
		quant_span_avx512(qp, o, src, ref, mean, n, pos);
		return;
	}
	if (l == SIMD_AVX2) {
		quant_span_avx2(qp, o, src, ref, mean, n, pos);
		return;
	}
#endif
	quant_span_portable(qp, o, src, ref, mean, n, pos);
}

int dequant_span(struct dequant_in *d, void *dst, const void *ref, const float *mean,
		 size_t n, size_t pos)
{
#if HAVE_X86
	int l = codec_simd_level();

	if (l >= SIMD_AVX512)
		return dequant_span_avx512(d, dst, ref, mean, n, pos);
	if (l == SIMD_AVX2)
		return dequant_span_avx2(d, dst, ref, mean, n, pos);
#endif
	return dequant_span_portable(d, dst, ref, mean, n, pos);
}
