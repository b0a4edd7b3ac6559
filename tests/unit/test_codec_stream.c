// SPDX-License-Identifier: MIT
/*
 * The codec's streaming encode (llmi_codec__stream_*, what llminstr-dump
 * pack reads files through) against the whole-tensor encode: the same blob
 * byte for byte and the same figures, for every bound, with chanmean (rows
 * cut by piece boundaries), with a first element far from the mean (the
 * second statistics pass), with NaN and Inf, for tensors that end inside a
 * chunk, fed in pieces of one and of several chunks, on one and on three
 * threads. Also what a caller can get wrong: pieces that are not whole
 * chunks, a pass that does not see the whole input, predict. And the blob
 * check a reader uses without decoding (llmi_codec_blob_check).
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "codec/codec.h"

static uint64_t rng = 7;

static uint64_t rnd(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double urand(void)
{
	return (rnd() >> 11) * 0x1p-53;
}

static uint16_t to_half_bits(float v, enum llmi_dtype dt)
{
	uint32_t u;

	memcpy(&u, &v, 4);
	if (dt == LLMI_DTYPE_BF16)
		return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
	/* f16: values here are small and normal or zero; truncation is enough. */
	if (!(u & 0x7fffffffu))
		return (uint16_t)(u >> 16);
	{
		int e = (int)((u >> 23) & 0xff) - 127 + 15;

		if (e <= 0)
			return (uint16_t)((u >> 16) & 0x8000u);
		if (e >= 31)
			return (uint16_t)(((u >> 16) & 0x8000u) | 0x7c00u);
		return (uint16_t)(((u >> 16) & 0x8000u) | (e << 10) | ((u >> 13) & 0x3ffu));
	}
}

/*
 * [rows x hidden] with per-channel scales and means (what chanmean is for);
 * kind 1 starts with an element far from the rest (a skewed start), kind 2
 * sprinkles NaN and Inf.
 */
static void *make(enum llmi_dtype dt, uint64_t rows, uint64_t hidden, int kind)
{
	size_t es = llmi_dtype_size(dt), n = rows * hidden;
	uint8_t *b = malloc(n * es);

	for (size_t i = 0; i < n; i++) {
		size_t ch = i % hidden;
		double x = (urand() - 0.5) * (1 + ch % 7) + 0.3 * (double)(ch % 5);
		float v = (float)x;

		if (kind == 1)
			v = i ? (float)(1000 + 0.01 * x) : -1000.0f;
		if (kind == 2 && rnd() % 97 == 0)
			v = (rnd() & 1) ? NAN : -INFINITY;
		if (es == 4) {
			memcpy(b + 4 * i, &v, 4);
		} else {
			uint16_t h = to_half_bits(v, dt);

			memcpy(b + 2 * i, &h, 2);
		}
	}
	return b;
}

/* Encodes src through the stream in pieces of piece_chunks chunks. */
static uint8_t *stream_encode(struct llmi_codec *c, const struct llmi_codec_spec *sp,
			      const struct llmi_tensor_desc *d, const uint8_t *src, size_t raw,
			      size_t piece_chunks, size_t *len, struct llmi_codec_stats *st, int *passes)
{
	size_t piece = piece_chunks * LLMI_CODEC_CHUNK, cap = llmi_codec_bound(raw), head = 0, used = 0;
	uint8_t *blob = malloc(cap);
	int pass;

	*passes = 0;
	assert_int_equal(llmi_codec__stream_begin(c, sp, d), 0);
	while ((pass = llmi_codec__stream_next(c)) > 0) {
		(*passes)++;
		if (pass == LLMI_STREAM_ENCODE)
			head = llmi_codec__stream_head_len(c);
		for (size_t off = 0; off < raw; off += piece) {
			size_t n = raw - off < piece ? raw - off : piece, out = 0;

			assert_int_equal(llmi_codec__stream_feed(c, src + off, n, blob + head + used,
								 cap - head - used, &out), 0);
			if (pass == LLMI_STREAM_STATS)
				assert_int_equal(out, 0);
			used += out;
		}
	}
	assert_int_equal(pass, 0);
	assert_int_equal(llmi_codec__stream_end(c, blob, head, len, st), 0);
	assert_int_equal(*len, head + used);
	return blob;
}

static void same(enum llmi_dtype dt, uint64_t rows, uint64_t hidden, int kind, const char *spec,
		 int want_passes)
{
	struct llmi_tensor_desc d = { .dtype = dt, .ndim = 2, .shape = { rows, hidden } };
	size_t raw = rows * hidden * llmi_dtype_size(dt), cap = llmi_codec_bound(raw), wlen, slen;
	struct llmi_codec *c1 = llmi_codec__new(1), *c3 = llmi_codec__new(3);
	struct llmi_codec_stats ws, ss;
	struct llmi_codec_spec sp;
	uint8_t *src = make(dt, rows, hidden, kind), *whole = malloc(cap);
	int passes;

	assert_non_null(c1);
	assert_non_null(c3);
	assert_int_equal(llmi_codec_spec_parse(spec, &sp), 0);
	assert_int_equal(llmi_codec__encode(c1, &sp, &d, src, NULL, whole, cap, &wlen, &ws), 0);
	for (int t = 0; t < 2; t++) {
		for (size_t pc = 1; pc <= 3; pc += 2) {
			uint8_t *s = stream_encode(t ? c3 : c1, &sp, &d, src, raw, pc, &slen, &ss, &passes);

			if (slen != wlen || memcmp(s, whole, wlen))
				fail_msg("%s %llux%llu kind %d, %zu-chunk pieces, %d thread(s): the streamed "
					 "blob differs (%zu vs %zu bytes)", spec, (unsigned long long)rows,
					 (unsigned long long)hidden, kind, pc, t ? 3 : 1, slen, wlen);
			assert_int_equal(passes, want_passes);
			assert_memory_equal(&ss, &ws, sizeof(ws));
			free(s);
		}
	}
	{
		/* What a reader checks without decoding: the blob against its tensor. */
		uint64_t head;
		struct llmi_codec_spec got;
		struct llmi_tensor_desc other = d;

		assert_int_equal(llmi_codec_blob_head_len(whole, wlen, &head), 0);
		assert_int_equal(llmi_codec_blob_check(whole, head, wlen, &d, &got), 0);
		assert_int_equal(got.mode, sp.mode);
		assert_int_equal(llmi_codec_blob_check(whole, head, wlen - 1, &d, NULL), -EBADMSG);
		assert_int_equal(llmi_codec_blob_check(whole, head, wlen + 1, &d, NULL), -EBADMSG);
		other.shape[0] = rows + 1;
		assert_int_equal(llmi_codec_blob_check(whole, head, wlen, &other, NULL), -EBADMSG);
		other = d;
		other.dtype = dt == LLMI_DTYPE_F32 ? LLMI_DTYPE_BF16 : LLMI_DTYPE_F32;
		assert_int_equal(llmi_codec_blob_check(whole, head, wlen, &other, NULL), -EBADMSG);
	}
	free(src);
	free(whole);
	llmi_codec__free(c1);
	llmi_codec__free(c3);
}

static void test_same_blob(void **state)
{
	/* Bounds whose step needs the statistics first: two passes. */
	same(LLMI_DTYPE_BF16, 1200, 1000, 0, "quant:nmse=1e-3", 2);
	same(LLMI_DTYPE_F32, 700, 1531, 0, "quant:nmse=1e-3,chanmean", 2);	/* rows cut by pieces */
	same(LLMI_DTYPE_BF16, 600, 1531, 2, "quant:mse=1e-4,chanmean", 2);
	/* The rest measure while encoding: one pass. */
	same(LLMI_DTYPE_F32, 400, 1000, 2, "quant:mse=1e-3", 1);
	same(LLMI_DTYPE_F16, 900, 1000, 0, "quant:abs=0.01", 1);
	same(LLMI_DTYPE_F32, 600, 1000, 2, "lossless", 1);
	/* A skewed start: the sums are taken again about the mean. */
	same(LLMI_DTYPE_F32, 600, 1000, 1, "quant:nmse=1e-3", 3);
	same(LLMI_DTYPE_F32, 600, 1000, 1, "quant:mse=1e-6", 2);
	/* Smaller than a chunk. */
	same(LLMI_DTYPE_BF16, 3, 5, 0, "quant:nmse=1e-2", 2);
}

static void test_misuse(void **state)
{
	struct llmi_tensor_desc d = { .dtype = LLMI_DTYPE_F32, .ndim = 1, .shape = { 600000 } };
	size_t raw = 600000 * 4, cap = llmi_codec_bound(raw), out;
	struct llmi_codec *c = llmi_codec__new(1);
	struct llmi_codec_spec sp = { .mode = LLMI_BOUND_MSE, .bound = 1e-3 };
	uint8_t *src = calloc(1, raw), *blob = malloc(cap), head[64];

	assert_int_equal(llmi_codec__stream_next(c), -EINVAL);	/* no stream begun */
	assert_int_equal(llmi_codec__stream_begin(c, &sp, &d), 0);
	assert_int_equal(llmi_codec__stream_feed(c, src, 4096, blob, cap, &out), -EINVAL); /* before a pass */
	assert_int_equal(llmi_codec__stream_next(c), LLMI_STREAM_ENCODE);
	/* Not whole chunks (and not the end of the input). */
	assert_int_equal(llmi_codec__stream_feed(c, src, 4096, blob, cap, &out), -EINVAL);
	assert_int_equal(llmi_codec__stream_feed(c, src, 3, blob, cap, &out), -EINVAL);
	/* One chunk, then the pass ends short of the input. */
	assert_int_equal(llmi_codec__stream_feed(c, src, LLMI_CODEC_CHUNK, blob, cap, &out), 0);
	assert_int_equal(llmi_codec__stream_next(c), -EINVAL);
	assert_int_equal(llmi_codec__stream_end(c, head, sizeof(head), &out, NULL), -EINVAL);
	/* More than the input. */
	assert_int_equal(llmi_codec__stream_feed(c, src, raw, blob, cap, &out), -EINVAL);
	/* Predict needs its reference whole. */
	sp.flags = LLMI_CODEC_PREDICT;
	assert_int_equal(llmi_codec__stream_begin(c, &sp, &d), -EINVAL);
	free(src);
	free(blob);
	llmi_codec__free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_blob),
		cmocka_unit_test(test_misuse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
