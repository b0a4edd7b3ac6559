// SPDX-License-Identifier: MIT
/*
 * llminstr-dump's .npy writer against the format numpy reads (version 1.0):
 * magic and version, the header length field, the data starting on a
 * 64-byte boundary, the dict for 0-, 1- and n-dimensional shapes, the data
 * bytes unchanged; and names from files made safe for a terminal. (The
 * end-to-end test tests/e2e/dump_roundtrip.sh loads exported files with numpy.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dump/dump.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_npy_shapes),
		cmocka_unit_test(test_npy_large_dims),
		cmocka_unit_test(test_printable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
