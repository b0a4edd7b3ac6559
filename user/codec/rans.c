// SPDX-License-Identifier: MIT
/*
 * Interleaved static rANS (see rans.h for the stream layout). The encoder
 * uses Giesen's reciprocal form (no division in the loop); the decoder looks
 * each slot up in a 4096-entry table packing symbol, bias and frequency into
 * one u32 so a symbol costs one load, one multiply and one conditional read.
 * Both loops are hot: they run once per element of every tensor.
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "codec/codec_int.h"
#include "codec/rans.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_X86 1
#define AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,popcnt")))
#else
#define HAVE_X86 0
#endif

static inline uint16_t ld16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return v;
}

static inline uint32_t ld32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

void byte_histogram(const uint8_t *p, size_t n, uint32_t hist[256])
{
	/*
	 * Eight sub-histograms fed from one 8-byte load break the
	 * store-to-load chains that runs of one symbol would make.
	 */
	uint32_t h[8][256];
	size_t i = 0;

	memset(h, 0, sizeof(h));
	for (; i + 8 <= n; i += 8) {
		uint64_t w;

		memcpy(&w, p + i, 8);
		h[0][w & 0xff]++;
		h[1][(w >> 8) & 0xff]++;
		h[2][(w >> 16) & 0xff]++;
		h[3][(w >> 24) & 0xff]++;
		h[4][(w >> 32) & 0xff]++;
		h[5][(w >> 40) & 0xff]++;
		h[6][(w >> 48) & 0xff]++;
		h[7][w >> 56]++;
	}
	for (; i < n; i++)
		h[0][p[i]]++;
	for (int s = 0; s < 256; s++)
		hist[s] = h[0][s] + h[1][s] + h[2][s] + h[3][s] + h[4][s] + h[5][s] + h[6][s] + h[7][s];
}

void rans_normalise(const uint32_t hist[256], uint64_t n, uint16_t freq[256])
{
	int64_t sum = 0;
	double scale = (double)RANS_M / (double)n;

	for (int s = 0; s < 256; s++) {
		if (!hist[s]) {
			freq[s] = 0;
			continue;
		}
		uint32_t f = (uint32_t)(hist[s] * scale + 0.5);
		if (f < 1)
			f = 1;
		if (f > RANS_M)
			f = RANS_M;
		freq[s] = (uint16_t)f;
		sum += f;
	}
	/*
	 * Fix the total one step at a time, each time on the symbol where the
	 * step costs least (hist/f approximates the derivative of the coded
	 * size). Rounding leaves the total a few counts off, but every rare
	 * symbol raised to 1 adds one: each symbol's cost is kept and only the
	 * one changed is computed again, so a step is a scan of compares.
	 */
	if (sum > RANS_M) {
		double c[256];

		for (int s = 0; s < 256; s++)
			c[s] = freq[s] > 1 ? hist[s] / (freq[s] - 0.5) : INFINITY;
		while (sum > RANS_M) {
			int best = 0;

			for (int s = 1; s < 256; s++)
				if (c[s] < c[best])
					best = s;
			freq[best]--;
			sum--;
			c[best] = freq[best] > 1 ? hist[best] / (freq[best] - 0.5) : INFINITY;
		}
	}
	if (sum < RANS_M) {
		double c[256];

		for (int s = 0; s < 256; s++)
			c[s] = hist[s] ? hist[s] / (freq[s] + 0.5) : -1;
		while (sum < RANS_M) {
			int best = 0;

			for (int s = 1; s < 256; s++)
				if (c[s] > c[best])
					best = s;
			freq[best]++;
			sum++;
			c[best] = hist[best] / (freq[best] + 0.5);
		}
	}
}

size_t rans_write_table(const uint16_t freq[256], uint8_t *out)
{
	uint8_t *p = out + 32;

	memset(out, 0, 32);
	for (int s = 0; s < 256; s++) {
		if (!freq[s])
			continue;
		out[s >> 3] |= 1u << (s & 7);
		memcpy(p, &freq[s], 2);
		p += 2;
	}
	return (size_t)(p - out);
}

int rans_read_table(const uint8_t *in, size_t len, uint16_t freq[256])
{
	size_t off = 32;
	uint32_t sum = 0;

	if (len < 32)
		return -EBADMSG;
	for (int s = 0; s < 256; s++) {
		freq[s] = 0;
		if (!(in[s >> 3] & (1u << (s & 7))))
			continue;
		if (len - off < 2)
			return -EBADMSG;
		freq[s] = ld16(in + off);
		off += 2;
		if (!freq[s] || freq[s] > RANS_M)
			return -EBADMSG;
		sum += freq[s];
	}
	if (sum != RANS_M)
		return -EBADMSG;
	return (int)off;
}

void rans_enc_init(const uint16_t freq[256], struct rans_enc_sym tab[256])
{
	uint32_t start = 0;

	for (int s = 0; s < 256; s++) {
		struct rans_enc_sym *e = &tab[s];
		uint32_t f = freq[s], bias, shift = 0;

		memset(e, 0, sizeof(*e));
		if (!f)
			continue;
		if (f < 2) {
			e->rcp_freq = ~0u;
			bias = start + RANS_M - 1;
		} else {
			while (f > (1u << shift))
				shift++;
			e->rcp_freq = (uint32_t)(((1ull << (shift + 31)) + f - 1) / f);
			shift--;
			bias = start;
		}
		e->packed = f | bias << 13 | shift << 26;
		start += f;
	}
}

void rans_dec_init(const uint16_t freq[256], uint32_t tab[RANS_M])
{
	uint32_t start = 0;

	for (uint32_t s = 0; s < 256; s++) {
		uint32_t f = freq[s];

		for (uint32_t k = 0; k < f; k++)
			tab[start + k] = s | (k << 8) | ((f - 1) << 20);
		start += f;
	}
}

static inline void enc_put(uint32_t *xs, uint8_t **pp, const struct rans_enc_sym *e)
{
	uint32_t x = *xs, f = e->packed & 0x1fff;
	uint16_t w = (uint16_t)x;
	/* Branch-free: the renormalisation is a coin toss for the predictor. */
	uint32_t r = x >= f << (31 - RANS_SCALE);

	memcpy(*pp - 2, &w, 2);
	*pp -= 2 * r;
	x >>= 16 * r;
	uint32_t q = (uint32_t)(((uint64_t)x * e->rcp_freq) >> 32) >> (e->packed >> 26);
	*xs = x + ((e->packed >> 13) & 0x1fff) + q * (RANS_M - f);
}

#if HAVE_X86
/*
 * The first 64 symbols' table entries live in registers (four per field) and
 * are looked up with two-source permutes; lanes with a symbol >= 64 (large
 * codes and escapes, rare) fall back to a masked gather. Gathers were half
 * the encoder's time.
 */
struct enc_regs {
	__m512i r0, r1, r2, r3;		/* rcp_freq of symbols 0..63 */
	__m512i k0, k1, k2, k3;		/* packed of symbols 0..63 */
};

static inline AVX512 __m512i lookup64(__m512i s, __mmask16 hi, __m512i t0, __m512i t1, __m512i t2,
				      __m512i t3)
{
	__m512i lo = _mm512_permutex2var_epi32(t0, s, t1);
	__m512i up = _mm512_permutex2var_epi32(t2, s, t3);

	return _mm512_mask_blend_epi32(hi, lo, up);
}

static inline AVX512 __m512i enc_vec(__m512i x, const uint8_t *sym, const struct rans_enc_sym *tab,
				     const struct enc_regs *t, uint8_t **pp)
{
	__m512i s = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)sym));
	__mmask16 hi = _mm512_test_epi32_mask(s, _mm512_set1_epi32(32));
	__mmask16 far = _mm512_cmpge_epu32_mask(s, _mm512_set1_epi32(64));
	__m512i rcp = lookup64(s, hi, t->r0, t->r1, t->r2, t->r3);
	__m512i pk = lookup64(s, hi, t->k0, t->k1, t->k2, t->k3);

	if (far) {
		__m512i idx = _mm512_slli_epi32(s, 1);
		rcp = _mm512_mask_i32gather_epi32(rcp, far, idx, (const int *)tab, 4);
		pk = _mm512_mask_i32gather_epi32(pk, far, idx, (const int *)tab + 1, 4);
	}
	__m512i f = _mm512_and_si512(pk, _mm512_set1_epi32(0x1fff));
	__m512i xmax = _mm512_slli_epi32(f, 31 - RANS_SCALE);
	__m512i bias = _mm512_and_si512(_mm512_srli_epi32(pk, 13), _mm512_set1_epi32(0x1fff));
	__mmask16 m = _mm512_cmpge_epu32_mask(x, xmax);
	unsigned cnt = (unsigned)__builtin_popcount(m);
	/*
	 * The words go right-aligned into one plain 32-byte store ending at
	 * *pp: the lanes below them land in space not written yet (masked
	 * stores are slow on some cores).
	 */
	__m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
	__m512i rot = _mm512_and_si512(_mm512_add_epi32(iota, _mm512_set1_epi32((int)cnt)),
				       _mm512_set1_epi32(15));
	__m256i w = _mm512_cvtepi32_epi16(_mm512_permutexvar_epi32(rot, _mm512_maskz_compress_epi32(m, x)));

	_mm256_storeu_si256((__m256i *)(*pp - 32), w);
	*pp -= 2 * cnt;
	x = _mm512_mask_srli_epi32(x, m, x, 16);
	__m512i ev = _mm512_srli_epi64(_mm512_mul_epu32(x, rcp), 32);
	__m512i od = _mm512_mul_epu32(_mm512_srli_epi64(x, 32), _mm512_srli_epi64(rcp, 32));
	__m512i q = _mm512_mask_blend_epi32(0xaaaa, ev, od);
	q = _mm512_srlv_epi32(q, _mm512_srli_epi32(pk, 26));
	return _mm512_add_epi32(_mm512_add_epi32(x, bias),
				_mm512_mullo_epi32(q, _mm512_sub_epi32(_mm512_set1_epi32(RANS_M), f)));
}

static AVX512 uint8_t *enc_groups_avx512(uint32_t *x, const uint8_t *sym, size_t groups,
					 const struct rans_enc_sym *tab, uint8_t *p)
{
	__m512i xa = _mm512_loadu_si512(x), xb = _mm512_loadu_si512(x + 16);
	uint32_t r[64], k[64];
	struct enc_regs t;

	for (int i = 0; i < 64; i++) {
		r[i] = tab[i].rcp_freq;
		k[i] = tab[i].packed;
	}
	t.r0 = _mm512_loadu_si512(r);
	t.r1 = _mm512_loadu_si512(r + 16);
	t.r2 = _mm512_loadu_si512(r + 32);
	t.r3 = _mm512_loadu_si512(r + 48);
	t.k0 = _mm512_loadu_si512(k);
	t.k1 = _mm512_loadu_si512(k + 16);
	t.k2 = _mm512_loadu_si512(k + 32);
	t.k3 = _mm512_loadu_si512(k + 48);
	/* Group order reversed; within a group the high lanes go first. */
	for (size_t g = groups; g-- > 0;) {
		xb = enc_vec(xb, sym + 32 * g + 16, tab, &t, &p);
		xa = enc_vec(xa, sym + 32 * g, tab, &t, &p);
	}
	_mm512_storeu_si512(x, xa);
	_mm512_storeu_si512(x + 16, xb);
	return p;
}
#endif

#if HAVE_X86
#define AVX2 __attribute__((target("avx2,popcnt")))

/*
 * AVX2 encoder: four vectors of 8 states, table entries gathered, and the
 * renormalisation words moved to the top lanes by a permute from a table
 * over the 8-bit mask (AVX2 has no compress), then one plain store.
 */
static inline AVX2 __m256i enc_vec8(__m256i x, const uint8_t *sym, const struct rans_enc_sym *tab,
				    const uint32_t (*top)[8], uint8_t **pp)
{
	const __m256i sh = _mm256_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, -1, -1, -1, -1, -1, -1, -1, -1,
					    0, 1, 4, 5, 8, 9, 12, 13, -1, -1, -1, -1, -1, -1, -1, -1);
	__m256i s = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)sym));
	__m256i rcp = _mm256_i32gather_epi32((const int *)tab, s, 8);
	__m256i pk = _mm256_i32gather_epi32((const int *)tab + 1, s, 8);
	__m256i f = _mm256_and_si256(pk, _mm256_set1_epi32(0x1fff));
	__m256i xmax = _mm256_slli_epi32(f, 31 - RANS_SCALE);
	__m256i bias = _mm256_and_si256(_mm256_srli_epi32(pk, 13), _mm256_set1_epi32(0x1fff));
	/* x >= xmax unsigned (xmax reaches 2^31). */
	__m256i m = _mm256_cmpeq_epi32(_mm256_max_epu32(x, xmax), x);
	unsigned mb = (unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(m));
	unsigned cnt = (unsigned)__builtin_popcount(mb);
	__m256i w = _mm256_permutevar8x32_epi32(x, _mm256_loadu_si256((const __m256i *)top[mb]));
	__m256i w16 = _mm256_permute4x64_epi64(_mm256_shuffle_epi8(w, sh), 0xd8);

	_mm_storeu_si128((__m128i *)(*pp - 16), _mm256_castsi256_si128(w16));
	*pp -= 2 * cnt;
	x = _mm256_blendv_epi8(x, _mm256_srli_epi32(x, 16), m);
	__m256i ev = _mm256_srli_epi64(_mm256_mul_epu32(x, rcp), 32);
	__m256i od = _mm256_mul_epu32(_mm256_srli_epi64(x, 32), _mm256_srli_epi64(rcp, 32));
	__m256i q = _mm256_blend_epi32(ev, od, 0xaa);
	q = _mm256_srlv_epi32(q, _mm256_srli_epi32(pk, 26));
	return _mm256_add_epi32(_mm256_add_epi32(x, bias),
				_mm256_mullo_epi32(q, _mm256_sub_epi32(_mm256_set1_epi32(RANS_M), f)));
}

static AVX2 uint8_t *enc_groups_avx2(uint32_t *x, const uint8_t *sym, size_t groups,
				     const struct rans_enc_sym *tab, uint8_t *p)
{
	uint32_t top[256][8];
	__m256i x0 = _mm256_loadu_si256((const __m256i *)x), x1 = _mm256_loadu_si256((const __m256i *)(x + 8));
	__m256i x2 = _mm256_loadu_si256((const __m256i *)(x + 16)), x3 = _mm256_loadu_si256((const __m256i *)(x + 24));

	/* top[m]: the lanes set in m, in order, ending at lane 7. */
	for (unsigned m = 0; m < 256; m++) {
		unsigned c = (unsigned)__builtin_popcount(m), k = 8 - c;

		memset(top[m], 0, sizeof(top[m]));
		for (unsigned l = 0; l < 8; l++)
			if (m & (1u << l))
				top[m][k++] = l;
	}
	for (size_t g = groups; g-- > 0;) {
		x3 = enc_vec8(x3, sym + 32 * g + 24, tab, top, &p);
		x2 = enc_vec8(x2, sym + 32 * g + 16, tab, top, &p);
		x1 = enc_vec8(x1, sym + 32 * g + 8, tab, top, &p);
		x0 = enc_vec8(x0, sym + 32 * g, tab, top, &p);
	}
	_mm256_storeu_si256((__m256i *)x, x0);
	_mm256_storeu_si256((__m256i *)(x + 8), x1);
	_mm256_storeu_si256((__m256i *)(x + 16), x2);
	_mm256_storeu_si256((__m256i *)(x + 24), x3);
	return p;
}
#endif

uint8_t *rans_encode(const uint8_t *sym, size_t n, const struct rans_enc_sym *tab,
		     uint8_t *buf, size_t cap, size_t *len)
{
	uint32_t x[RANS_LANES];
	uint8_t *end = buf + (cap & ~(size_t)1), *p = end;
	size_t full = n & ~(size_t)(RANS_LANES - 1), i = n;

	for (int l = 0; l < RANS_LANES; l++)
		x[l] = RANS_L;
	/* Reverse order, so the decoder runs forward and reads forward. */
	for (; i > full; i--)
		enc_put(&x[(i - 1) & (RANS_LANES - 1)], &p, &tab[sym[i - 1]]);
#if HAVE_X86
	int lv = codec_simd_level();

	if (lv >= SIMD_AVX512) {
		p = enc_groups_avx512(x, sym, full / RANS_LANES, tab, p);
		i = 0;
	} else if (lv == SIMD_AVX2) {
		p = enc_groups_avx2(x, sym, full / RANS_LANES, tab, p);
		i = 0;
	}
#endif
	for (; i > 0; i--)
		enc_put(&x[(i - 1) & (RANS_LANES - 1)], &p, &tab[sym[i - 1]]);
	for (int l = RANS_LANES - 1; l >= 0; l--) {
		p -= 4;
		memcpy(p, &x[l], 4);
	}
	*len = (size_t)(end - p);
	return p;
}

static int rans_decode_tail(const uint8_t *p, const uint8_t *end, uint32_t *x,
			    const uint32_t *tab, uint8_t *sym, size_t i, size_t n)
{
	for (; i < n; i++) {
		uint32_t *xs = &x[i & (RANS_LANES - 1)];
		uint32_t e = tab[*xs & (RANS_M - 1)];

		sym[i] = (uint8_t)e;
		*xs = ((e >> 20) + 1) * (*xs >> RANS_SCALE) + ((e >> 8) & 0xfff);
		if (*xs < RANS_L) {
			if (end - p < 2)
				return -EBADMSG;
			*xs = (*xs << 16) | ld16(p);
			p += 2;
		}
	}
	if (p != end)
		return -EBADMSG;
	for (int l = 0; l < RANS_LANES; l++)
		if (x[l] != RANS_L)
			return -EBADMSG;
	return 0;
}

#if HAVE_X86
/*
 * AVX2 decoder: four vectors of 8 states. Without AVX-512's expand, a state's new word
 * is placed with a permute whose index (each lane's rank among the lanes
 * that read) comes from a table over the 8-bit mask.
 */
static inline AVX2 __m256i dec_vec8(__m256i x, const uint32_t *tab, uint8_t *sym, const uint8_t **pp,
				    const uint32_t (*rank)[8])
{
	const __m256i pick = _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
					      0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
	__m256i e = _mm256_i32gather_epi32((const int *)tab,
					   _mm256_and_si256(x, _mm256_set1_epi32(RANS_M - 1)), 4);
	__m256i f = _mm256_add_epi32(_mm256_srli_epi32(e, 20), _mm256_set1_epi32(1));
	__m256i b = _mm256_and_si256(_mm256_srli_epi32(e, 8), _mm256_set1_epi32(0xfff));
	__m256i sb = _mm256_shuffle_epi8(e, pick);

	_mm_storel_epi64((__m128i *)sym, _mm_unpacklo_epi32(_mm256_castsi256_si128(sb),
							     _mm256_extracti128_si256(sb, 1)));
	x = _mm256_add_epi32(_mm256_mullo_epi32(f, _mm256_srli_epi32(x, RANS_SCALE)), b);
	/* States stay below 2^31, so the signed compare is the unsigned one. */
	__m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(RANS_L), x);
	unsigned mb = (unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(m));
	__m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)*pp));

	w = _mm256_permutevar8x32_epi32(w, _mm256_loadu_si256((const __m256i *)rank[mb]));
	x = _mm256_blendv_epi8(x, _mm256_or_si256(_mm256_slli_epi32(x, 16), w), m);
	*pp += 2 * __builtin_popcount(mb);
	return x;
}

static AVX2 size_t dec_groups_avx2(uint32_t *x, const uint32_t *tab, uint8_t *sym, size_t n,
				   const uint8_t **pp, const uint8_t *end)
{
	uint32_t rank[256][8];
	__m256i x0 = _mm256_loadu_si256((const __m256i *)x), x1 = _mm256_loadu_si256((const __m256i *)(x + 8));
	__m256i x2 = _mm256_loadu_si256((const __m256i *)(x + 16)), x3 = _mm256_loadu_si256((const __m256i *)(x + 24));
	const uint8_t *p = *pp;
	size_t i = 0;

	for (unsigned m = 0; m < 256; m++)
		for (unsigned j = 0; j < 8; j++)
			rank[m][j] = (uint32_t)__builtin_popcount(m & ((1u << j) - 1));
	for (; i + RANS_LANES <= n && end - p >= 64; i += RANS_LANES) {
		x0 = dec_vec8(x0, tab, sym + i, &p, rank);
		x1 = dec_vec8(x1, tab, sym + i + 8, &p, rank);
		x2 = dec_vec8(x2, tab, sym + i + 16, &p, rank);
		x3 = dec_vec8(x3, tab, sym + i + 24, &p, rank);
	}
	_mm256_storeu_si256((__m256i *)x, x0);
	_mm256_storeu_si256((__m256i *)(x + 8), x1);
	_mm256_storeu_si256((__m256i *)(x + 16), x2);
	_mm256_storeu_si256((__m256i *)(x + 24), x3);
	*pp = p;
	return i;
}
#endif

int rans_decode(const uint8_t *in, size_t len, const uint32_t *tab, uint8_t *sym, size_t n)
{
	uint32_t x[RANS_LANES];
	const uint8_t *p = in, *end = in + len;
	size_t i = 0;

	if (len < 4 * RANS_LANES || (len & 1))
		return -EBADMSG;
	for (int l = 0; l < RANS_LANES; l++, p += 4) {
		x[l] = ld32(p);
		if (x[l] < RANS_L || x[l] >= (RANS_L << 16))
			return -EBADMSG;
	}
#if HAVE_X86
	/*
	 * The 8-lane decoder runs four independent chains where 16 lanes would
	 * run two; it is the faster one on AVX-512 machines too (measured).
	 */
	if (codec_simd_level() >= SIMD_AVX2)
		i = dec_groups_avx2(x, tab, sym, n, &p, end);
#endif
	/* Hot loop: a whole round reads at most 2 * RANS_LANES bytes, checked once. */
	for (; i + RANS_LANES <= n && end - p >= 2 * RANS_LANES; i += RANS_LANES) {
		for (int l = 0; l < RANS_LANES; l++) {
			uint32_t xs = x[l];
			uint32_t e = tab[xs & (RANS_M - 1)];

			sym[i + l] = (uint8_t)e;
			xs = ((e >> 20) + 1) * (xs >> RANS_SCALE) + ((e >> 8) & 0xfff);
			uint32_t w = ld16(p);
			int r = xs < RANS_L;
			xs = r ? (xs << 16) | w : xs;
			p += 2 * r;
			x[l] = xs;
		}
	}
	return rans_decode_tail(p, end, x, tab, sym, i, n);
}
