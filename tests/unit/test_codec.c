// SPDX-License-Identifier: MIT
/*
 * Unit tests of the activation codec (user/codec): spec parsing, and
 * round-trip properties over random lengths, dtypes, bounds and values, each
 * checked element by element against the bound and against the stats the
 * encoder reported; the portable and AVX-512 paths must give the same blob;
 * damaged blobs must give -EBADMSG.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "codec/codec.h"
#include "codec/codec_int.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double urand(void)
{
	return ((rnd() >> 11) + 0.5) * 0x1p-53;
}

static double laplace(void)
{
	double u = urand() - 0.5;

	return -copysign(1.0, u) * log(1 - 2 * fabs(u));
}

static void test_spec_parse(void **state)
{
	struct llmi_codec_spec sp;
	char buf[64];

	assert_int_equal(llmi_codec_spec_parse("lossless", &sp), 0);
	assert_int_equal(sp.mode, LLMI_BOUND_LOSSLESS);
	assert_int_equal(llmi_codec_spec_parse("quant:nmse=1e-3", &sp), 0);
	assert_int_equal(sp.mode, LLMI_BOUND_NMSE);
	assert_true(sp.bound == 1e-3 && sp.flags == 0);
	assert_int_equal(llmi_codec_spec_parse("quant:mse=0.5,chanmean", &sp), 0);
	assert_true(sp.mode == LLMI_BOUND_MSE && sp.bound == 0.5 && sp.flags == LLMI_CODEC_CHANNEL_MEAN);
	assert_int_equal(llmi_codec_spec_parse("quant:abs=0.01,predict,chanmean", &sp), 0);
	assert_true(sp.mode == LLMI_BOUND_ABS && sp.flags == (LLMI_CODEC_PREDICT | LLMI_CODEC_CHANNEL_MEAN));
	assert_int_equal(llmi_codec_spec_format(&sp, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "quant:abs=0.01,chanmean,predict");
	struct llmi_codec_spec back;
	assert_int_equal(llmi_codec_spec_parse(buf, &back), 0);
	assert_true(back.mode == sp.mode && back.bound == sp.bound && back.flags == sp.flags);

	static const char *bad[] = {
		"", "quant", "quant:", "quant:nmse", "quant:nmse=", "quant:nmse=0", "quant:nmse=-1",
		"quant:nmse=nan", "quant:nmse=inf", "quant:nmse=1e-3x", "quant:nmse= 1", "quant:rms=1",
		"quant:mse=1e400", "quant:abs=0x1p-3", "quant:abs=1e-3,", "lossless,chanmean", "quant:mse=1,bogus", "zstd", "LOSSLESS",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (llmi_codec_spec_parse(bad[i], &sp) != -EINVAL)
			fail_msg("spec \"%s\" was accepted", bad[i]);
	}
	assert_int_equal(llmi_codec_spec_parse(NULL, &sp), -EINVAL);
}

static void test_dtype(void **state)
{
	enum llmi_dtype dt;
	struct llmi_tensor_desc d = { .dtype = LLMI_DTYPE_F32, .ndim = 3, .shape = { 1ull << 40, 1ull << 30, 4 } };

	assert_int_equal(llmi_dtype_parse("bfloat16", &dt), 0);
	assert_int_equal(dt, LLMI_DTYPE_BF16);
	assert_int_equal(llmi_dtype_parse("float16", &dt), 0);
	assert_int_equal(dt, LLMI_DTYPE_F16);
	assert_int_equal(llmi_dtype_parse("f64", &dt), -EINVAL);
	assert_int_equal(llmi_dtype_size(LLMI_DTYPE_BF16), 2);
	assert_int_equal(llmi_dtype_size((enum llmi_dtype)9), 0);
	assert_null(llmi_dtype_name((enum llmi_dtype)9));
	assert_int_equal(llmi_tensor_numel(&d), 0);
	d.ndim = 0;
	assert_int_equal(llmi_tensor_numel(&d), 1);
}

static void fill(void *buf, enum llmi_dtype dt, size_t n, int kind)
{
	double scale = exp(urand() * 8 - 4), off = (urand() - 0.5) * 4 * scale;

	for (size_t i = 0; i < n; i++) {
		float v;

		switch (kind) {
		case 0:
			v = (float)(laplace() * scale + off);
			break;
		case 1:
			v = (float)off;
			break;
		case 2: {	/* specials sprinkled over a bulk */
			static const float sp[] = { NAN, INFINITY, -INFINITY, -0.0f, 1e-40f, -3e-39f, 0.0f };
			v = (rnd() % 16 == 0) ? sp[rnd() % 7] : (float)(laplace() * scale);
			break;
		}
		default:	/* huge outliers */
			v = (float)(laplace() * scale);
			if (rnd() % 500 == 0)
				v *= (float)(1e4 * (1 + urand()));
			break;
		}
		switch (dt) {
		case LLMI_DTYPE_BF16: ((uint16_t *)buf)[i] = f32_to_bf16_rne(v); break;
		case LLMI_DTYPE_F16:  ((uint16_t *)buf)[i] = f32_to_f16_rne(v); break;
		default:	      ((float *)buf)[i] = v; break;
		}
	}
}

static float val(const void *buf, enum llmi_dtype dt, size_t i)
{
	switch (dt) {
	case LLMI_DTYPE_BF16: return bf16_to_f32(((const uint16_t *)buf)[i]);
	case LLMI_DTYPE_F16:  return f16_to_f32(((const uint16_t *)buf)[i]);
	default:	      return ((const float *)buf)[i];
	}
}

static void check_close(double a, double b, const char *what)
{
	if (fabs(a - b) > 1e-9 * fmax(fabs(a), fabs(b)) + 1e-300)
		fail_msg("%s: stored %.17g, recomputed %.17g", what, a, b);
}

/* Encodes, decodes and checks every element and every figure. */
static void round_trip(struct llmi_codec *c, const struct llmi_codec_spec *sp,
		       const struct llmi_tensor_desc *d, const void *src, const void *ref)
{
	size_t es = llmi_dtype_size(d->dtype), n = llmi_tensor_numel(d), raw = n * es;
	size_t cap = llmi_codec_bound(raw), len = 0;
	uint8_t *blob = malloc(cap);
	uint8_t *out = malloc(raw + 1);
	struct llmi_codec_stats st;
	struct llmi_codec_spec back;
	double sum = 0, sse = 0, mx = 0;
	uint64_t nf = 0;
	int err;

	assert_non_null(blob);
	assert_non_null(out);
	err = llmi_codec__encode(c, sp, d, src, ref, blob, cap, &len, &st);
	assert_int_equal(err, 0);
	assert_true(len <= cap);
	assert_int_equal(st.stored_bytes, len);
	assert_int_equal(st.raw_bytes, raw);
	assert_int_equal(llmi_codec_blob_spec(blob, len, &back), 0);
	assert_int_equal(back.mode, sp->mode);
	if (sp->mode != LLMI_BOUND_LOSSLESS)
		assert_true(back.bound == sp->bound);
	err = llmi_codec__decode(c, blob, len, d, ref, out, raw);
	assert_int_equal(err, 0);
	/* A buffer of exactly the blob's size (staging path) and a single-thread
	 * codec must both give the same bytes. */
	{
		uint8_t *again = malloc(len + 1);
		struct llmi_codec *c1 = llmi_codec__new(1);
		size_t len2 = 0;

		assert_non_null(again);
		assert_non_null(c1);
		assert_int_equal(llmi_codec__encode(c, sp, d, src, ref, again, len, &len2, NULL), 0);
		assert_int_equal(len2, len);
		assert_memory_equal(again, blob, len);
		assert_int_equal(llmi_codec__encode(c1, sp, d, src, ref, again, len, &len2, NULL), 0);
		assert_int_equal(len2, len);
		assert_memory_equal(again, blob, len);
		if (len > 8)
			assert_int_equal(llmi_codec__encode(c, sp, d, src, ref, again, len - 1, &len2, NULL),
					 -ENOSPC);
		llmi_codec__free(c1);
		free(again);
	}
	for (size_t i = 0; i < n; i++) {
		float x = val(src, d->dtype, i), y = val(out, d->dtype, i);

		if (!isfinite(x)) {
			if (memcmp((const char *)src + i * es, out + i * es, es))
				fail_msg("element %zu: non-finite input not kept exactly", i);
			continue;
		}
		double e = fabs((double)x - (double)y);
		if (!(e <= mx))
			mx = isnan(e) ? INFINITY : e;
		sse += e * e;
		sum += x;
		nf++;
		if (sp->mode == LLMI_BOUND_ABS && !(e <= sp->bound))
			fail_msg("element %zu: |%.9g - %.9g| = %g > abs bound %g", i, x, y, e, sp->bound);
	}
	if (sp->mode == LLMI_BOUND_LOSSLESS && memcmp(src, out, raw))
		fail_msg("lossless round trip differs");
	double mse = nf ? sse / nf : 0;
	check_close(st.mse, mse, "mse");
	check_close(st.max_abs_err, mx, "max_abs_err");
	if (nf > 1) {
		/* Two passes, so the reference does not cancel digits itself. */
		double mean = sum / nf, var = 0;

		for (size_t i = 0; i < n; i++) {
			double x = val(src, d->dtype, i);
			if (isfinite(x))
				var += (x - mean) * (x - mean);
		}
		var /= nf;
		if (fabs(st.variance - var) > 1e-9 * var + 1e-300)
			fail_msg("variance: stored %.17g, recomputed %.17g", st.variance, var);
		if (sp->mode == LLMI_BOUND_NMSE && var > 0 && !(mse / var <= sp->bound * (1 + 1e-9)))
			fail_msg("recomputed nmse %.9g above bound %.9g", mse / var, sp->bound);
	}
	if (sp->mode == LLMI_BOUND_MSE && !(st.mse <= sp->bound))
		fail_msg("mse %.9g above bound %.9g", st.mse, sp->bound);
	if (sp->mode == LLMI_BOUND_NMSE && !(st.nmse <= sp->bound))
		fail_msg("nmse %.9g above bound %.9g", st.nmse, sp->bound);
	if (sp->mode == LLMI_BOUND_ABS && !(st.max_abs_err <= sp->bound))
		fail_msg("max error %.9g above bound %.9g", st.max_abs_err, sp->bound);
	free(blob);
	free(out);
}

static void random_spec(struct llmi_codec_spec *sp)
{
	sp->flags = 0;
	switch (rnd() % 4) {
	case 0:
		sp->mode = LLMI_BOUND_LOSSLESS;
		sp->bound = 0;
		break;
	case 1:
		sp->mode = LLMI_BOUND_NMSE;
		sp->bound = pow(10, -1 - 6 * urand());
		break;
	case 2:
		sp->mode = LLMI_BOUND_MSE;
		sp->bound = pow(10, 1 - 8 * urand());
		break;
	default:
		sp->mode = LLMI_BOUND_ABS;
		sp->bound = pow(10, 1 - 6 * urand());
		break;
	}
}

static void test_round_trip_random(void **state)
{
	static const enum llmi_dtype dts[] = { LLMI_DTYPE_F32, LLMI_DTYPE_BF16, LLMI_DTYPE_F16 };
	struct llmi_codec *c1 = llmi_codec__new(1), *c3 = llmi_codec__new(3);
	size_t maxn = 700000;
	void *src = malloc(maxn * 4);

	assert_non_null(c1);
	assert_non_null(c3);
	for (int it = 0; it < 400; it++) {
		struct llmi_tensor_desc d = { .dtype = dts[rnd() % 3], .ndim = 1 };
		struct llmi_codec_spec sp;
		size_t n;

		switch (rnd() % 5) {
		case 0:  n = rnd() % 3; break;
		case 1:  n = rnd() % 100; break;
		case 2:  n = rnd() % maxn; break;
		default: n = rnd() % 5000; break;
		}
		d.shape[0] = n;
		fill(src, d.dtype, n, (int)(rnd() % 4));
		random_spec(&sp);
		round_trip(it & 1 ? c3 : c1, &sp, &d, src, NULL);
	}
	llmi_codec__free(c1);
	llmi_codec__free(c3);
	free(src);
}

static void test_edge_values(void **state)
{
	struct llmi_codec *c = llmi_codec__new(1);
	float v[9] = { NAN, -NAN, INFINITY, -INFINITY, -0.0f, 1e-45f, -1e-40f, 3.4e38f, -3.4e38f };
	struct llmi_tensor_desc d = { .dtype = LLMI_DTYPE_F32, .ndim = 1, .shape = { 9 } };
	static const char *specs[] = { "lossless", "quant:nmse=1e-3", "quant:mse=1e-6", "quant:abs=1e-3" };

	for (size_t k = 0; k < 4; k++) {
		struct llmi_codec_spec sp;

		assert_int_equal(llmi_codec_spec_parse(specs[k], &sp), 0);
		round_trip(c, &sp, &d, v, NULL);
		d.ndim = 0;	/* scalar */
		round_trip(c, &sp, &d, v + 5, NULL);
		d.ndim = 1;
		d.shape[0] = 0;	/* empty */
		round_trip(c, &sp, &d, v, NULL);
		d.shape[0] = 9;
	}
	llmi_codec__free(c);
}

/* A tensor far from zero and from its first element: the variance must hold. */
static void test_offset_variance(void **state)
{
	struct llmi_codec *c = llmi_codec__new(2);
	size_t n = 400000;
	float *x = malloc(n * 4);
	struct llmi_tensor_desc d = { .dtype = LLMI_DTYPE_F32, .ndim = 1, .shape = { n } };
	struct llmi_codec_spec sp = { .mode = LLMI_BOUND_NMSE, .bound = 1e-4 };

	for (size_t i = 0; i < n; i++)
		x[i] = (float)(3e5 + 0.05 * laplace());
	x[0] = 0;	/* the first element is far from the rest */
	round_trip(c, &sp, &d, x, NULL);
	x[0] = (float)3e5;
	round_trip(c, &sp, &d, x, NULL);
	free(x);
	llmi_codec__free(c);
}

/* chanmean and predict on [tokens x hidden], and the portable path must match. */
static int codec_simd_level_detected(void)
{
	int l;

	codec_simd_limit(SIMD_AVX512);
	l = codec_simd_level();
	return l;
}

static void test_stages_and_paths(void **state)
{
	struct llmi_codec *c = llmi_codec__new(2);
	size_t t = 200, h = 3000, n = t * h;
	float *x = malloc(n * 4), *r = malloc(n * 4), *mean = malloc(h * 4);
	uint16_t *xb = malloc(n * 2), *rb = malloc(n * 2);
	size_t cap = llmi_codec_bound(n * 4), l1, l2;
	uint8_t *b1 = malloc(cap), *b2 = malloc(cap), *y1 = malloc(n * 4), *y2 = malloc(n * 4);
	struct llmi_tensor_desc d = { .dtype = LLMI_DTYPE_F32, .ndim = 2, .shape = { t, h } };
	static const char *specs[] = {
		"quant:nmse=1e-3", "quant:nmse=1e-3,chanmean", "quant:mse=1e-4,chanmean,predict",
		"quant:abs=0.02,predict", "lossless",
	};

	for (size_t j = 0; j < h; j++)
		mean[j] = (float)(laplace() * 3);
	for (size_t i = 0; i < n; i++) {
		r[i] = (float)(laplace() + mean[i % h]);
		x[i] = r[i] + (float)(0.1 * laplace());
		/* Specials and outliers, so the vector kernels take their slow blocks too. */
		if (i % 1009 == 0) {
			static const float sp[] = { NAN, INFINITY, -INFINITY, -0.0f, 1e-41f, 3e38f };
			x[i] = sp[(i / 1009) % 6];
		} else if (i % 499 == 0) {
			x[i] *= 3e4f;
		}
		xb[i] = f32_to_bf16_rne(x[i]);
		rb[i] = f32_to_bf16_rne(r[i]);
	}
	for (size_t k = 0; k < sizeof(specs) / sizeof(specs[0]); k++) {
		struct llmi_codec_spec sp;
		struct llmi_codec_stats s1, s2;

		assert_int_equal(llmi_codec_spec_parse(specs[k], &sp), 0);
		d.dtype = LLMI_DTYPE_F32;
		round_trip(c, &sp, &d, x, r);
		d.dtype = LLMI_DTYPE_BF16;
		round_trip(c, &sp, &d, xb, rb);
		/* Every kernel set this CPU has must write the same blob and decode it alike. */
		for (int dti = 0; dti < 3; dti++) {
			static const enum llmi_dtype dts[] = { LLMI_DTYPE_F32, LLMI_DTYPE_BF16, LLMI_DTYPE_F16 };
			const void *src = dti == 0 ? (const void *)x : xb, *rs = dti == 0 ? (const void *)r : rb;

			d.dtype = dts[dti];
			if (dti == 2) {
				for (size_t i = 0; i < n; i++) {
					xb[i] = f32_to_f16_rne(x[i]);
					rb[i] = f32_to_f16_rne(r[i]);
				}
			}
			codec_simd_limit(SIMD_NONE);
			assert_int_equal(llmi_codec__encode(c, &sp, &d, src, rs, b1, cap, &l1, &s1), 0);
			assert_int_equal(llmi_codec__decode(c, b1, l1, &d, rs, y1, n * 4), 0);
			for (int lv = SIMD_AVX2; lv <= codec_simd_level_detected(); lv++) {
				codec_simd_limit(lv);
				assert_int_equal(llmi_codec__encode(c, &sp, &d, src, rs, b2, cap, &l2, &s2), 0);
				if (l1 != l2 || memcmp(b1, b2, l1))
					fail_msg("%s %s: kernel set %d writes another blob than portable C",
						 specs[k], llmi_dtype_name(d.dtype), lv);
				check_close(s1.mse, s2.mse, "mse portable vs simd");
				assert_int_equal(llmi_codec__decode(c, b1, l1, &d, rs, y2, n * 4), 0);
				if (memcmp(y1, y2, n * llmi_dtype_size(d.dtype)))
					fail_msg("%s %s: kernel set %d decodes differently", specs[k],
						 llmi_dtype_name(d.dtype), lv);
			}
			codec_simd_limit(SIMD_AVX512);
			if (dti == 2) {
				for (size_t i = 0; i < n; i++) {
					xb[i] = f32_to_bf16_rne(x[i]);
					rb[i] = f32_to_bf16_rne(r[i]);
				}
			}
		}
		d.dtype = LLMI_DTYPE_F32;
	}
	free(x); free(r); free(mean); free(xb); free(rb); free(b1); free(b2); free(y1); free(y2);
	llmi_codec__free(c);
}

static void test_bad_args(void **state)
{
	struct llmi_codec *c = llmi_codec__new(1);
	float x[1000], y[1000];
	uint8_t blob[8192];
	size_t len;
	struct llmi_tensor_desc d = { .dtype = LLMI_DTYPE_F32, .ndim = 1, .shape = { 1000 } };
	struct llmi_tensor_desc d2 = d;
	struct llmi_codec_spec sp = { .mode = LLMI_BOUND_NMSE, .bound = 0 };

	for (int i = 0; i < 1000; i++)
		x[i] = (float)laplace();
	assert_int_equal(llmi_codec__encode(c, &sp, &d, x, NULL, blob, sizeof(blob), &len, NULL), -EINVAL);
	sp.bound = NAN;
	assert_int_equal(llmi_codec__encode(c, &sp, &d, x, NULL, blob, sizeof(blob), &len, NULL), -EINVAL);
	sp.bound = 1e-3;
	sp.flags = LLMI_CODEC_PREDICT;
	assert_int_equal(llmi_codec__encode(c, &sp, &d, x, NULL, blob, sizeof(blob), &len, NULL), -EINVAL);
	sp.flags = 0;
	assert_int_equal(llmi_codec__encode(c, &sp, &d, x, NULL, blob, 10, &len, NULL), -ENOSPC);
	assert_int_equal(llmi_codec__encode(c, &sp, &d, x, NULL, blob, sizeof(blob), &len, NULL), 0);
	/* An exact-size buffer goes through the staging path. */
	size_t exact = len;
	assert_int_equal(llmi_codec__encode(c, &sp, &d, x, NULL, blob, exact, &len, NULL), 0);
	assert_int_equal(len, exact);
	assert_int_equal(llmi_codec__decode(c, blob, len, &d, NULL, y, sizeof(y)), 0);
	assert_int_equal(llmi_codec__decode(c, blob, len, &d, NULL, y, sizeof(y) - 4), -ENOSPC);
	d2.shape[0] = 999;
	assert_int_equal(llmi_codec__decode(c, blob, len, &d2, NULL, y, sizeof(y)), -EBADMSG);
	d2.shape[0] = 1000;
	d2.dtype = LLMI_DTYPE_BF16;
	assert_int_equal(llmi_codec__decode(c, blob, len, &d2, NULL, y, sizeof(y)), -EBADMSG);
	assert_null(llmi_codec__new(0));
	llmi_codec__free(NULL);
	llmi_codec__free(c);
}

/* Every truncation and random bit flips: a clean error or a clean decode. */
static void test_damaged(void **state)
{
	struct llmi_codec *c = llmi_codec__new(1);
	size_t n = 300000;
	float *x = malloc(n * 4), *y = malloc(n * 4);
	size_t cap = llmi_codec_bound(n * 4), len;
	uint8_t *blob = malloc(cap), *bad = malloc(cap);
	struct llmi_tensor_desc d = { .dtype = LLMI_DTYPE_F32, .ndim = 2, .shape = { 100, 3000 } };
	static const char *specs[] = { "quant:nmse=1e-3,chanmean", "lossless", "quant:abs=1e-4" };

	for (size_t i = 0; i < n; i++)
		x[i] = (float)(laplace() * (i % 97 == 0 ? 1000 : 1));
	for (size_t k = 0; k < 3; k++) {
		struct llmi_codec_spec sp;

		assert_int_equal(llmi_codec_spec_parse(specs[k], &sp), 0);
		assert_int_equal(llmi_codec__encode(c, &sp, &d, x, NULL, blob, cap, &len, NULL), 0);
		for (size_t cut = 0; cut < len; cut += 1 + cut / 64) {
			memcpy(bad, blob, cut);
			if (llmi_codec__decode(c, bad, cut, &d, NULL, y, n * 4) != -EBADMSG)
				fail_msg("%s: blob cut at %zu of %zu not rejected", specs[k], cut, len);
		}
		for (int f = 0; f < 300; f++) {
			memcpy(bad, blob, len);
			size_t pos = f < 100 ? rnd() % 64 : rnd() % len;	/* header hits too */
			bad[pos] ^= (uint8_t)(1u << (rnd() % 8));
			int err = llmi_codec__decode(c, bad, len, &d, NULL, y, n * 4);
			if (err != 0 && err != -EBADMSG)
				fail_msg("bit flip at %zu: %d", pos, err);
		}
	}
	free(x); free(y); free(blob); free(bad);
	llmi_codec__free(c);
}

/*
 * quant_codes() is the definition gpu/codec reproduces: the encoder's blob
 * must decode to exactly code * step (+ ref) for every element.
 */
static void test_codes_match_encoder(void **state)
{
	struct llmi_codec *c = llmi_codec__new(1);
	size_t n = 100000;
	float *x = malloc(n * 4), *r = malloc(n * 4), *y = malloc(n * 4);
	int32_t *codes = malloc(n * 4);
	size_t cap = llmi_codec_bound(n * 4), len;
	uint8_t *blob = malloc(cap);
	struct llmi_tensor_desc d = { .dtype = LLMI_DTYPE_F32, .ndim = 1, .shape = { n } };
	static const char *specs[] = { "quant:nmse=1e-3", "quant:mse=1e-5,predict" };

	for (size_t i = 0; i < n; i++) {
		r[i] = (float)laplace();
		x[i] = r[i] + (float)(0.3 * laplace());
	}
	for (int k = 0; k < 2; k++) {
		struct llmi_codec_spec sp;
		const float *ref = k ? r : NULL;
		float step;

		assert_int_equal(llmi_codec_spec_parse(specs[k], &sp), 0);
		assert_int_equal(llmi_codec__encode(c, &sp, &d, x, ref, blob, cap, &len, NULL), 0);
		assert_int_equal(llmi_codec__decode(c, blob, len, &d, ref, y, n * 4), 0);
		/* One chunk: header, one size, then the chunk (kind 1 = quantised). */
		assert_int_equal(blob[44], 1);
		memcpy(&step, blob + 48, 4);
		quant_codes(x, LLMI_DTYPE_F32, ref, NULL, 0, 0, n, 1.0f / step, codes);
		for (size_t i = 0; i < n; i++) {
			assert_true(codes[i] != INT32_MIN);
			float want = (float)codes[i] * step;
			if (ref)
				want += ref[i];
			if (want != y[i])
				fail_msg("element %zu: code %d * step %g = %.9g, decoded %.9g", i, codes[i],
					 step, want, y[i]);
		}
	}
	free(x); free(r); free(y); free(codes); free(blob);
	llmi_codec__free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_parse),
		cmocka_unit_test(test_dtype),
		cmocka_unit_test(test_edge_values),
		cmocka_unit_test(test_bad_args),
		cmocka_unit_test(test_stages_and_paths),
		cmocka_unit_test(test_round_trip_random),
		cmocka_unit_test(test_damaged),
		cmocka_unit_test(test_codes_match_encoder),
		cmocka_unit_test(test_offset_variance),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
