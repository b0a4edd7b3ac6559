// SPDX-License-Identifier: MIT
/*
 * user/common/hist: the slot BPF computes, log-linear buckets, quantiles
 * against the exact ones of known distributions, clamping, merging, BPF log2
 * slots folded in, and the chart's layout (every line under 80 columns).
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

#include "common/hist.h"

static struct llmi_hist h, h2;

static void test_log2_slot(void **state)
{
	assert_int_equal(llmi_log2_slot(0), 0);
	assert_int_equal(llmi_log2_slot(1), 0);
	assert_int_equal(llmi_log2_slot(2), 1);
	assert_int_equal(llmi_log2_slot(3), 1);
	assert_int_equal(llmi_log2_slot(4), 2);
	assert_int_equal(llmi_log2_slot(1023), 9);
	assert_int_equal(llmi_log2_slot(1024), 10);
	assert_int_equal(llmi_log2_slot(UINT64_MAX), 63);
}

static void test_empty(void **state)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f;

	llmi_hist_init(&h);
	assert_int_equal(llmi_hist_quantile(&h, 0.5), 0);
	assert_true(llmi_hist_mean(&h) == 0.0);
	f = open_memstream(&out, &len);
	llmi_hist_print(f, &h, "nsecs");
	fclose(f);
	assert_int_equal(len, 0);
	free(out);
}

static void test_constant(void **state)
{
	int i;

	llmi_hist_init(&h);
	for (i = 0; i < 1000; i++)
		llmi_hist_add(&h, 1234567);
	assert_int_equal(h.count, 1000);
	assert_int_equal(h.min, 1234567);
	assert_int_equal(h.max, 1234567);
	/* clamped to [min, max]: exact when all samples are equal */
	assert_int_equal(llmi_hist_quantile(&h, 0.5), 1234567);
	assert_int_equal(llmi_hist_quantile(&h, 0.99), 1234567);
	assert_true(llmi_hist_mean(&h) == 1234567.0);

	llmi_hist_init(&h);
	llmi_hist_add(&h, 0);
	llmi_hist_add(&h, 0);
	assert_int_equal(llmi_hist_quantile(&h, 0.5), 0);
	assert_int_equal(llmi_hist_quantile(&h, 1), 0);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* Quantiles of random log-normal latencies within one sub-bucket (1/16) of the exact ones. */
static void test_quantiles(void **state)
{
	static uint64_t v[100000];
	static const double qs[] = { 0.01, 0.1, 0.5, 0.9, 0.99, 0.999 };
	size_t i, n = sizeof(v) / sizeof(v[0]);
	unsigned seed = 12345;

	llmi_hist_init(&h);
	for (i = 0; i < n; i++) {
		double u1 = (rand_r(&seed) + 1.0) / (RAND_MAX + 2.0);
		double u2 = (rand_r(&seed) + 1.0) / (RAND_MAX + 2.0);
		double z = sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);

		v[i] = (uint64_t)exp(9.0 + 1.2 * z);	/* ~8 us median, long tail */
		llmi_hist_add(&h, v[i]);
	}
	qsort(v, n, sizeof(v[0]), cmp_u64);
	for (i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
		double exact = (double)v[(size_t)(qs[i] * n)];
		double got = (double)llmi_hist_quantile(&h, qs[i]);

		assert_true(fabs(got - exact) / exact < 1.0 / LLMI_HIST_SUB);
	}
	assert_int_equal(llmi_hist_quantile(&h, 0), v[0]);
	assert_int_equal(llmi_hist_quantile(&h, 1), v[n - 1]);
	assert_true(llmi_hist_quantile(&h, 0.5) <= llmi_hist_quantile(&h, 0.9));
}

/* Small integers are exact: every value below 16 has its own bucket. */
static void test_small_values(void **state)
{
	uint64_t x;

	llmi_hist_init(&h);
	for (x = 1; x <= 10; x++)
		llmi_hist_add(&h, x);
	assert_int_equal(llmi_hist_quantile(&h, 0.5), 5);
	assert_int_equal(llmi_hist_quantile(&h, 0.95), 10);
	assert_true(llmi_hist_mean(&h) == 5.5);
}

static void test_merge(void **state)
{
	uint64_t i;

	llmi_hist_init(&h);
	llmi_hist_init(&h2);
	for (i = 0; i < 100; i++)
		llmi_hist_add(&h, 1000);
	for (i = 0; i < 100; i++)
		llmi_hist_add(&h2, 100000);
	llmi_hist_merge(&h, &h2);
	assert_int_equal(h.count, 200);
	assert_int_equal(h.sum, 100 * 1000 + 100 * 100000);
	assert_int_equal(h.min, 1000);
	assert_int_equal(h.max, 100000);
	assert_true(llmi_hist_quantile(&h, 0.25) >= 1000 && llmi_hist_quantile(&h, 0.25) < 1100);
	assert_true(llmi_hist_quantile(&h, 0.75) >= 100000 * 15 / 16);
	/* merging an empty one changes nothing, min included */
	llmi_hist_init(&h2);
	llmi_hist_merge(&h, &h2);
	assert_int_equal(h.min, 1000);
	assert_int_equal(h.count, 200);
}

static void test_add_log2(void **state)
{
	uint64_t slots[LLMI_LOG2_SLOTS] = { 0 };

	slots[10] = 90;	/* [1024, 2048) */
	slots[20] = 10;	/* [1 Mi, 2 Mi) */
	llmi_hist_init(&h);
	llmi_hist_add_log2(&h, slots, 123456789);
	assert_int_equal(h.count, 100);
	assert_int_equal(h.sum, 123456789);
	assert_int_equal(h.min, 1024);
	assert_int_equal(h.max, (2u << 20) - 1);
	/* at the slot midpoint, within one sub-bucket */
	assert_true(llmi_hist_quantile(&h, 0.5) >= 1536 && llmi_hist_quantile(&h, 0.5) < 1536 + 64);
	assert_true(llmi_hist_quantile(&h, 0.99) >= 3u << 19);
	assert_true(llmi_hist_quantile(&h, 0.99) < (3u << 19) + (1u << 16));

	memset(slots, 0, sizeof(slots));
	slots[0] = 5;
	slots[63] = 1;
	llmi_hist_init(&h);
	llmi_hist_add_log2(&h, slots, 0);
	assert_int_equal(h.min, 0);
	assert_int_equal(h.max, UINT64_MAX);
	assert_true(llmi_hist_quantile(&h, 0.5) <= 1);
}

static void check_chart(const struct llmi_hist *hh, const char *unit, int first, int last)
{
	char *out = NULL, *line, *save;
	size_t len = 0;
	int nlines = 0, bars = 0;
	FILE *f = open_memstream(&out, &len);

	llmi_hist_print(f, hh, unit);
	fclose(f);
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		assert_true(strlen(line) < 80);
		if (!nlines++) {
			assert_non_null(strstr(line, unit));
			assert_non_null(strstr(line, "distribution"));
			continue;
		}
		assert_non_null(strstr(line, " -> "));
		if (nlines == 2) {
			unsigned long long lo = strtoull(line, NULL, 10);

			assert_int_equal(lo, first ? 1ull << first : 0);
		}
		bars++;
	}
	assert_int_equal(bars, last - first + 1);
	free(out);
}

static void test_print(void **state)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f;

	llmi_hist_init(&h);
	llmi_hist_add(&h, 5);
	llmi_hist_add(&h, 5);
	llmi_hist_add(&h, 300);
	check_chart(&h, "nsecs", 2, 8);
	f = open_memstream(&out, &len);
	llmi_hist_print(f, &h, "nsecs");
	fclose(f);
	/* bcc's line for the fullest slot: "4 -> 7 : 2 |****...|" with a full bar */
	assert_non_null(strstr(out, "4 -> 7"));
	assert_non_null(strstr(out, "|****************************************|"));
	assert_non_null(strstr(out, "256 -> 511"));
	free(out);

	/* wide values and a count of 10 digits still fit */
	llmi_hist_init(&h);
	h.buckets[40 * LLMI_HIST_SUB] = 9999999999ull;
	h.buckets[63 * LLMI_HIST_SUB + 3] = 1;
	h.count = 10000000000ull;
	check_chart(&h, "nsecs", 40, 63);
	llmi_hist_init(&h);
	llmi_hist_add(&h, 0);
	check_chart(&h, "usecs", 0, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_log2_slot),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_constant),
		cmocka_unit_test(test_quantiles),
		cmocka_unit_test(test_small_values),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_add_log2),
		cmocka_unit_test(test_print),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
