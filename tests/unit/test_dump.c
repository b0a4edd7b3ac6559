// SPDX-License-Identifier: MIT
/*
 * llminstr-dump's .npy writer against the format numpy reads (version 1.0):
 * magic and version, the header length field, the data starting on a
 * 64-byte boundary, the dict for 0-, 1- and n-dimensional shapes, the data
 * bytes unchanged; and names from files made safe for a terminal. (The
 * end-to-end test tests/e2e/dump_roundtrip.sh loads exported files with numpy.)
 *
 * And verify's decoding of predicted tensors: two chains of tensors each
 * predicted from the one before it in its chain, interleaved in the file,
 * decode to the same bytes through the cache verify keeps (each reference
 * kept until its last user) as one by one; a tensor predicted from one the
 * file does not hold passes every structural check, so only decoding finds
 * it: verify exits 1 (damaged), and 0 with --no-decode.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <getopt.h>
#include <math.h>
#include <unistd.h>

#include "dump/dump.h"
#include "dump/llminstr_read.h"
#include "io/writer.h"

static char *npy(const struct llmi_tensor_rec *t, const char *descr, const void *data,
		 size_t len, size_t *out_len)
{
	char *buf = NULL;
	size_t sz = 0;
	FILE *f = open_memstream(&buf, &sz);

	assert_non_null(f);
	assert_int_equal(dump_write_npy(f, descr, t, data, len), 0);
	fclose(f);
	*out_len = sz;
	return buf;
}

static void check(unsigned ndim, const uint64_t *shape, const char *want_shape)
{
	struct llmi_tensor_rec t = { .dtype = LLMI_DTYPE_F32, .ndim = ndim };
	float data[6] = { 1, 2, 3, 4, 5, 6 };
	char want[256];
	size_t len, hl, n = 1;
	uint16_t hl16;
	char *b;

	for (unsigned d = 0; d < ndim; d++) {
		t.shape[d] = shape[d];
		n *= shape[d];
	}
	b = npy(&t, "<f4", data, n * 4, &len);
	assert_memory_equal(b, "\x93NUMPY\x01\x00", 8);
	memcpy(&hl16, b + 8, 2);
	hl = hl16;
	assert_int_equal((10 + hl) % 64, 0);
	assert_int_equal(len, 10 + hl + n * 4);
	assert_int_equal(b[10 + hl - 1], '\n');
	snprintf(want, sizeof(want), "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }",
		 want_shape);
	assert_memory_equal(b + 10, want, strlen(want));
	for (size_t i = 10 + strlen(want); i < 10 + hl - 1; i++)
		assert_int_equal(b[i], ' ');
	assert_memory_equal(b + 10 + hl, data, n * 4);
	free(b);
}

static void test_npy_shapes(void **state)
{
	uint64_t s1[] = { 6 }, s2[] = { 2, 3 }, s3[] = { 1, 2, 3 };
	uint64_t big[8] = { 1, 1, 1, 1, 1, 1, 1, 6 };

	check(0, NULL, "");
	check(1, s1, "6,");
	check(2, s2, "2, 3");
	check(3, s3, "1, 2, 3");
	check(8, big, "1, 1, 1, 1, 1, 1, 1, 6");
}

static void test_npy_large_dims(void **state)
{
	struct llmi_tensor_rec t = { .dtype = LLMI_DTYPE_BF16, .ndim = 8 };
	size_t len;
	char *b;

	/* Eight 20-digit dimensions still fit the v1.0 header; no data needed for the check. */
	for (int d = 0; d < 8; d++)
		t.shape[d] = UINT64_MAX - d;
	b = npy(&t, "<u2", NULL, 0, &len);
	assert_int_equal(len % 64, 0);
	assert_non_null(memmem(b, len, "18446744073709551608)", 21));
	free(b);
}

static void test_printable(void **state)
{
	char s[] = "blk.\x1b[2J\x07name\x80";

	dump_printable(s);
	assert_string_equal(s, "blk.?[2J?name?");
}

#define ROWS 64
#define COLS 256
#define LAYERS 3

/* Chains A and B, layers 0..LAYERS-1, interleaved: A0 B0 A1 B1 ...; tensor
 * id = 2 * layer + chain. Layer l > 0 is predicted from layer l - 1 of its
 * chain (bad_ref: the last one names a tensor the file does not hold). */
static void make_chains(const char *path, bool bad_ref, float *want)
{
	struct llmi_writer_opts o = { .sz = sizeof(o), .writer = "test_dump",
				      .flags = LLMI_WRITER_QUIET, .owner_uid = (uid_t)-1,
				      .owner_gid = (gid_t)-1 };
	struct llmi_tensor_desc d = { .dtype = LLMI_DTYPE_F32, .ndim = 2, .shape = { ROWS, COLS } };
	struct llmi_codec *c = llmi_codec__new(1);
	struct llmi_writer *w;
	size_t n = ROWS * COLS, cap = llmi_codec_bound(n * 4), len;
	float *x = malloc(n * 4), *dec[2] = { malloc(n * 4), malloc(n * 4) };
	uint8_t *blob = malloc(cap);
	uint64_t seed = 1;

	unlink(path);
	w = llmi_writer__new(path, &o);
	assert_non_null(w);
	for (int l = 0; l < LAYERS; l++) {
		for (int ch = 0; ch < 2; ch++) {
			struct llmi_codec_spec sp = { .mode = LLMI_BOUND_NMSE, .bound = 1e-3,
						      .flags = l ? LLMI_CODEC_PREDICT : 0 };
			struct llmi_codec_stats st;
			struct llmi_tensor_rec t;
			char name[32];

			for (size_t i = 0; i < n; i++) {
				seed = seed * 6364136223846793005ull + 1442695040888963407ull;
				/* A residual stream: the layer before plus a small update. */
				x[i] = (l ? dec[ch][i] : (float)(ch + 1)) + (float)((int)(seed >> 40) % 1000) * 1e-3f;
			}
			assert_int_equal(llmi_codec__encode(c, &sp, &d, x, l ? dec[ch] : NULL, blob, cap,
							    &len, &st), 0);
			llmi_tensor_rec_init(&t, &d, &sp, &st);
			if (l)
				t.ref_tensor_id = bad_ref && l == LAYERS - 1 && ch ? 99 : 2 * (l - 1) + ch;
			snprintf(name, sizeof(name), "%c.%d", "AB"[ch], l);
			assert_int_equal(llmi_writer__tensor(w, &t, name, blob, len), 0);
			assert_int_equal(t.tensor_id, 2 * l + ch);
			/* What a reader decodes: the reference of the next layer. */
			assert_int_equal(llmi_codec__decode(c, blob, len, &d, l ? dec[ch] : NULL, x, n * 4), 0);
			memcpy(dec[ch], x, n * 4);
			if (want)
				memcpy(want + (size_t)(2 * l + ch) * n, x, n * 4);
		}
	}
	assert_int_equal(llmi_writer__close(w), 0);
	llmi_writer__free(w);
	llmi_codec__free(c);
	free(x);
	free(dec[0]);
	free(dec[1]);
	free(blob);
}

static int run_verify(const char *path, bool decode)
{
	char *argv[] = { "verify", (char *)path, decode ? NULL : "--no-decode", NULL };

	optind = 0;	/* getopt starts over */
	return cmd_verify(decode ? 2 : 3, argv);
}

static void test_verify_predicted(void **state)
{
	char path[64];
	size_t n = ROWS * COLS;
	float *want = malloc(2 * LAYERS * n * 4);
	struct dump_cache cache;
	struct llmi_codec *c = llmi_codec__new(1);
	struct llmi_reader *r;
	int code;

	snprintf(path, sizeof(path), "/tmp/test_dump_chains.%d.llmi", (int)getpid());
	make_chains(path, false, want);
	assert_int_equal(run_verify(path, true), 0);
	r = dump_open(path, &code);
	assert_non_null(r);
	assert_int_equal(dump_cache_init(&cache, r), 0);
	assert_int_equal(cache.n, 2 * LAYERS);
	for (size_t i = 0, k = 0; i < llmi_reader__nr_records(r); i++) {
		struct llmi_tensor_info ti;
		void *a, *b;

		if (llmi_reader__record(r, i)->type != LLMI_REC_TENSOR)
			continue;
		a = dump_decode(r, path, c, i, &ti, &cache, &code);
		b = dump_decode(r, path, c, i, &ti, NULL, &code);
		assert_non_null(a);
		assert_non_null(b);
		assert_memory_equal(a, b, n * 4);
		assert_memory_equal(a, want + k * n, n * 4);
		free(a);
		free(b);
		k++;
	}
	/* Every kept reference was given back after its last user. */
	for (uint64_t k = 0; k < cache.n; k++)
		assert_null(cache.v[k].data);
	dump_cache_free(&cache);
	llmi_reader__free(r);

	/* A reference the file does not hold: only decoding can tell. */
	make_chains(path, true, NULL);
	assert_int_equal(run_verify(path, false), 0);
	assert_int_equal(run_verify(path, true), EXIT_DAMAGED);
	unlink(path);
	llmi_codec__free(c);
	free(want);
}

/*
 * llmi_read_tokens() finds a run's records by bisection (sorted by pid and
 * first at open); it must give what a scan of the records in file order
 * gives (the first record holding each position, a run going on in
 * another record): checked against that scan for every start and length,
 * with records out of order, runs spanning records, two processes whose
 * streams overlap, a gap, and the same run written twice.
 */
#define TOK_RECS 9
static const struct llmi_tokens_rec tok_recs[TOK_RECS] = {
	{ .step = 1, .first = 64, .count = 64, .pid = 7 },
	{ .step = 0, .first = 0, .count = 64, .pid = 7 },
	{ .step = 0, .first = 0, .count = 10, .pid = 9 },
	{ .step = 2, .first = 128, .count = 32, .pid = 7 },
	{ .step = 1, .first = 10, .count = 5, .pid = 9 },
	{ .step = 3, .first = 170, .count = 3, .pid = 7 },	/* a gap at 160..169 */
	{ .step = 2, .first = 10, .count = 5, .pid = 9 },	/* the same run again, other ids */
	{ .step = 0, .first = 0, .count = 0, .pid = 11 },	/* empty */
	{ .step = 2, .first = 15, .count = 50, .pid = 9 },
};

static int64_t tok_id(size_t rec, uint64_t k)
{
	return (int64_t)(rec * 100000 + k);
}

/* The scan in file order that llmi_read_tokens() replaced. */
static size_t tokens_scan(uint32_t pid, uint64_t first, int64_t *ids, size_t n)
{
	size_t done = 0;

	for (size_t i = 0; i < TOK_RECS && done < n; i++) {
		const struct llmi_tokens_rec *t = &tok_recs[i];
		uint64_t at = first + done;

		if ((pid && t->pid != pid) || at < t->first || at >= t->first + t->count)
			continue;
		for (uint64_t k = at - t->first; k < t->count && done < n; k++)
			ids[done++] = tok_id(i, k);
		i = (size_t)-1;
	}
	return done;
}

static void test_read_tokens(void **state)
{
	struct llmi_writer_opts o = { .sz = sizeof(o), .writer = "test_dump",
				      .owner_uid = (uid_t)-1, .owner_gid = (gid_t)-1 };
	static const uint32_t pids[] = { 0, 7, 9, 11, 8 };
	int64_t ids[256], want[256], buf[64];
	struct llmi_read *h;
	struct llmi_writer *w;
	char path[64], err[256];
	size_t checked = 0;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/test_dump_tokens.%d.llmi", (int)getpid());
	unlink(path);
	w = llmi_writer__new(path, &o);
	assert_non_null(w);
	for (size_t i = 0; i < TOK_RECS; i++) {
		for (uint64_t k = 0; k < tok_recs[i].count; k++)
			buf[k] = tok_id(i, k);
		assert_int_equal(llmi_writer__tokens(w, &tok_recs[i], buf), 0);
	}
	assert_int_equal(llmi_writer__close(w), 0);
	llmi_writer__free(w);
	h = llmi_read_open(path, LLMI_READ_CHECK, err, sizeof(err));
	assert_non_null(h);
	/* pid 7: 60 .. 99 runs from the record of step 0 into that of step 1 */
	assert_int_equal(llmi_read_tokens(h, 7, 60, ids, 40), 40);
	for (int k = 0; k < 40; k++)
		assert_int_equal(ids[k], k < 4 ? tok_id(1, 60 + k) : tok_id(0, k - 4));
	/* to the gap and no further */
	assert_int_equal(llmi_read_tokens(h, 7, 100, ids, 200), 60);
	for (uint32_t p = 0; p < sizeof(pids) / sizeof(pids[0]); p++)
		for (uint64_t first = 0; first < 180; first++)
			for (size_t n = 0; n <= 200; n += 1 + n / 4) {
				size_t got = llmi_read_tokens(h, pids[p], first, ids, n);
				size_t exp = tokens_scan(pids[p], first, want, n);

				if (got != exp || memcmp(ids, want, got * sizeof(*ids)))
					fail_msg("pid %u first %llu n %zu: %zu ids, the scan %zu",
						 pids[p], (unsigned long long)first, n, got, exp);
				checked += got;
			}
	assert_true(checked > 10000);
	assert_int_equal(llmi_read_tokens(h, 7, UINT64_MAX, ids, 4), 0);
	llmi_read_close(h);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_npy_shapes),
		cmocka_unit_test(test_npy_large_dims),
		cmocka_unit_test(test_printable),
		cmocka_unit_test(test_verify_predicted),
		cmocka_unit_test(test_read_tokens),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
