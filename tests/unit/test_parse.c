// SPDX-License-Identifier: MIT
/*
 * user/common/parse: the values a user types after -p, -d, -i and
 * --buffer-size, and the mistakes they make ("12ms", "abc", "", "-1",
 * "1e999", "0x10", " 5", "1,,2"): each either parses exactly or fails with
 * the documented error, never a silent wrong number.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cmocka.h>

#include "common/parse.h"

static void test_u64(void **state)
{
	uint64_t v = 42;

	assert_int_equal(llmi_parse_u64("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(llmi_parse_u64("1234", &v), 0);
	assert_int_equal(v, 1234);
	assert_int_equal(llmi_parse_u64("007", &v), 0);
	assert_int_equal(v, 7);
	assert_int_equal(llmi_parse_u64("18446744073709551615", &v), 0);
	assert_int_equal(v, UINT64_MAX);

	v = 42;
	assert_int_equal(llmi_parse_u64("18446744073709551616", &v), -ERANGE);
	assert_int_equal(llmi_parse_u64("99999999999999999999999", &v), -ERANGE);
	assert_int_equal(llmi_parse_u64("12ms", &v), -EINVAL);
	assert_int_equal(llmi_parse_u64("abc", &v), -EINVAL);
	assert_int_equal(llmi_parse_u64("", &v), -EINVAL);
	assert_int_equal(llmi_parse_u64("-1", &v), -EINVAL);
	assert_int_equal(llmi_parse_u64("+1", &v), -EINVAL);
	assert_int_equal(llmi_parse_u64("0x10", &v), -EINVAL);
	assert_int_equal(llmi_parse_u64(" 5", &v), -EINVAL);
	assert_int_equal(llmi_parse_u64("5 ", &v), -EINVAL);
	assert_int_equal(llmi_parse_u64("1.0", &v), -EINVAL);
	assert_int_equal(llmi_parse_u64(NULL, &v), -EINVAL);
	assert_int_equal(v, 42);	/* untouched on error */
}

static void test_double(void **state)
{
	double d = -7;

	assert_int_equal(llmi_parse_double("1.5", &d), 0);
	assert_true(d == 1.5);
	assert_int_equal(llmi_parse_double("-2", &d), 0);
	assert_true(d == -2);
	assert_int_equal(llmi_parse_double(".5", &d), 0);
	assert_true(d == 0.5);
	assert_int_equal(llmi_parse_double("5.", &d), 0);
	assert_true(d == 5);
	assert_int_equal(llmi_parse_double("1e-3", &d), 0);
	assert_true(d == 1e-3);
	assert_int_equal(llmi_parse_double("+2.5E+2", &d), 0);
	assert_true(d == 250);

	d = -7;
	assert_int_equal(llmi_parse_double("1e999", &d), -ERANGE);
	assert_int_equal(llmi_parse_double("-1e999", &d), -ERANGE);
	assert_int_equal(llmi_parse_double("1e-999", &d), -ERANGE);
	assert_int_equal(llmi_parse_double("inf", &d), -EINVAL);
	assert_int_equal(llmi_parse_double("nan", &d), -EINVAL);
	assert_int_equal(llmi_parse_double("0x1p3", &d), -EINVAL);
	assert_int_equal(llmi_parse_double("12ms", &d), -EINVAL);
	assert_int_equal(llmi_parse_double("abc", &d), -EINVAL);
	assert_int_equal(llmi_parse_double("", &d), -EINVAL);
	assert_int_equal(llmi_parse_double(".", &d), -EINVAL);
	assert_int_equal(llmi_parse_double("1e", &d), -EINVAL);
	assert_int_equal(llmi_parse_double("1e+", &d), -EINVAL);
	assert_int_equal(llmi_parse_double(" 1", &d), -EINVAL);
	assert_int_equal(llmi_parse_double("1 ", &d), -EINVAL);
	assert_int_equal(llmi_parse_double("--1", &d), -EINVAL);
	assert_true(d == -7);
}

static void test_seconds(void **state)
{
	double d = 0;

	assert_int_equal(llmi_parse_seconds("10", &d), 0);
	assert_true(d == 10);
	assert_int_equal(llmi_parse_seconds("0.25", &d), 0);
	assert_true(d == 0.25);
	assert_int_equal(llmi_parse_seconds("0", &d), -ERANGE);
	assert_int_equal(llmi_parse_seconds("-1", &d), -ERANGE);
	assert_int_equal(llmi_parse_seconds("12ms", &d), -EINVAL);
	assert_int_equal(llmi_parse_seconds("5s", &d), -EINVAL);
	assert_int_equal(llmi_parse_seconds("1e999", &d), -ERANGE);
	assert_int_equal(llmi_parse_seconds("abc", &d), -EINVAL);
}

static void test_size(void **state)
{
	uint64_t v = 0;

	assert_int_equal(llmi_parse_size("4096", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(llmi_parse_size("64K", &v), 0);
	assert_int_equal(v, 64 << 10);
	assert_int_equal(llmi_parse_size("64k", &v), 0);
	assert_int_equal(v, 64 << 10);
	assert_int_equal(llmi_parse_size("256M", &v), 0);
	assert_int_equal(v, 256ull << 20);
	assert_int_equal(llmi_parse_size("2GiB", &v), 0);
	assert_int_equal(v, 2ull << 30);
	assert_int_equal(llmi_parse_size("3MB", &v), 0);
	assert_int_equal(v, 3ull << 20);
	assert_int_equal(llmi_parse_size("1T", &v), 0);
	assert_int_equal(v, 1ull << 40);
	assert_int_equal(llmi_parse_size("100B", &v), 0);
	assert_int_equal(v, 100);
	assert_int_equal(llmi_parse_size("16777215T", &v), 0);
	assert_int_equal(v, 16777215ull << 40);

	v = 1;
	assert_int_equal(llmi_parse_size("16777216T", &v), -ERANGE);
	assert_int_equal(llmi_parse_size("18446744073709551616", &v), -ERANGE);
	assert_int_equal(llmi_parse_size("", &v), -EINVAL);
	assert_int_equal(llmi_parse_size("K", &v), -EINVAL);
	assert_int_equal(llmi_parse_size("1.5G", &v), -EINVAL);
	assert_int_equal(llmi_parse_size("12X", &v), -EINVAL);
	assert_int_equal(llmi_parse_size("12KK", &v), -EINVAL);
	assert_int_equal(llmi_parse_size("12iB", &v), -EINVAL);
	assert_int_equal(llmi_parse_size("-1M", &v), -EINVAL);
	assert_int_equal(llmi_parse_size("1 M", &v), -EINVAL);
	assert_int_equal(v, 1);
}

static void test_pids(void **state)
{
	pid_t p[4];
	size_t n = 99;

	assert_int_equal(llmi_parse_pids("1234", p, 4, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(p[0], 1234);
	assert_int_equal(llmi_parse_pids("12,34,56", p, 4, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(p[0], 12);
	assert_int_equal(p[1], 34);
	assert_int_equal(p[2], 56);
	assert_int_equal(llmi_parse_pids("1,2,3,4", p, 4, &n), 0);
	assert_int_equal(n, 4);

	n = 99;
	assert_int_equal(llmi_parse_pids("1,2,3,4,5", p, 4, &n), -ERANGE);
	assert_int_equal(llmi_parse_pids("0", p, 4, &n), -ERANGE);
	assert_int_equal(llmi_parse_pids("2147483648", p, 4, &n), -ERANGE);
	assert_int_equal(llmi_parse_pids("1,,2", p, 4, &n), -EINVAL);
	assert_int_equal(llmi_parse_pids("1,2,", p, 4, &n), -EINVAL);
	assert_int_equal(llmi_parse_pids(",1", p, 4, &n), -EINVAL);
	assert_int_equal(llmi_parse_pids("", p, 4, &n), -EINVAL);
	assert_int_equal(llmi_parse_pids("12,12", p, 4, &n), -EINVAL);
	assert_int_equal(llmi_parse_pids("-5", p, 4, &n), -EINVAL);
	assert_int_equal(llmi_parse_pids("12ms", p, 4, &n), -EINVAL);
	assert_int_equal(llmi_parse_pids("1, 2", p, 4, &n), -EINVAL);
	assert_int_equal(n, 99);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_u64),
		cmocka_unit_test(test_double),
		cmocka_unit_test(test_seconds),
		cmocka_unit_test(test_size),
		cmocka_unit_test(test_pids),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
