// SPDX-License-Identifier: MIT
/*
 * user/common/json: exact output in compact and pretty form, escaping of
 * quotes, backslashes and control characters, UTF-8 passed through and
 * invalid bytes replaced, NaN/Inf as null, round-tripping doubles, too-deep
 * nesting left out without breaking the document, and write errors reported.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/json.h"

static char *out;
static size_t len;

static FILE *mem(void)
{
	FILE *f;

	free(out);
	out = NULL;
	f = open_memstream(&out, &len);
	assert_non_null(f);
	return f;
}

static void doc(struct llmi_json *j)
{
	llmi_json_obj_begin(j, NULL);
	llmi_json_str(j, "benchmark", "probe_overhead");
	llmi_json_obj_begin(j, "env");
	llmi_json_obj_end(j);
	llmi_json_arr_begin(j, "cases");
	llmi_json_u64(j, NULL, 18446744073709551615ull);
	llmi_json_i64(j, NULL, -42);
	llmi_json_double(j, NULL, 0.1);
	llmi_json_bool(j, NULL, true);
	llmi_json_null(j, NULL);
	llmi_json_str(j, NULL, NULL);
	llmi_json_arr_end(j);
	llmi_json_arr_begin(j, "empty");
	llmi_json_arr_end(j);
	llmi_json_obj_end(j);
}

static void test_compact(void **state)
{
	struct llmi_json j;
	FILE *f = mem();

	llmi_json_init(&j, f, false);
	doc(&j);
	assert_int_equal(llmi_json_finish(&j), 0);
	fclose(f);
	assert_string_equal(out, "{\"benchmark\":\"probe_overhead\",\"env\":{},\"cases\":"
				 "[18446744073709551615,-42,0.1,true,null,null],\"empty\":[]}\n");
}

static void test_pretty(void **state)
{
	struct llmi_json j;
	FILE *f = mem();

	llmi_json_init(&j, f, true);
	doc(&j);
	assert_int_equal(llmi_json_finish(&j), 0);
	fclose(f);
	assert_string_equal(out, "{\n"
				 "  \"benchmark\": \"probe_overhead\",\n"
				 "  \"env\": {},\n"
				 "  \"cases\": [\n"
				 "    18446744073709551615,\n"
				 "    -42,\n"
				 "    0.1,\n"
				 "    true,\n"
				 "    null,\n"
				 "    null\n"
				 "  ],\n"
				 "  \"empty\": []\n"
				 "}\n");
}

static void test_escapes(void **state)
{
	struct llmi_json j;
	FILE *f = mem();

	llmi_json_init(&j, f, false);
	llmi_json_obj_begin(&j, NULL);
	llmi_json_str(&j, "q\"k", "a\"b\\c\n\t\r\b\f\x01\x1f/");
	llmi_json_str(&j, "utf8", "héllo → 世界 😀");
	/* lone continuation byte, truncated sequence, overlong, surrogate, above U+10FFFF */
	llmi_json_str(&j, "bad", "a\x80" "b\xe4\xb8" "c\xc0\xaf" "d\xed\xa0\x80" "e\xf4\x90\x80\x80");
	llmi_json_str(&j, "tail", "x\xe4");
	llmi_json_obj_end(&j);
	assert_int_equal(llmi_json_finish(&j), 0);
	fclose(f);
	assert_string_equal(out, "{\"q\\\"k\":\"a\\\"b\\\\c\\n\\t\\r\\b\\f\\u0001\\u001f/\","
				 "\"utf8\":\"héllo → 世界 😀\","
				 "\"bad\":\"a\\ufffdb\\ufffd\\ufffdc\\ufffd\\ufffdd\\ufffd\\ufffd\\ufffde"
				 "\\ufffd\\ufffd\\ufffd\\ufffd\","
				 "\"tail\":\"x\\ufffd\"}\n");
}

static void test_doubles(void **state)
{
	static const double vals[] = { 0.1, 1.0 / 3, 1e300, -2.5e-308, 123456789.125, 0 };
	struct llmi_json j;
	char *p;
	size_t i;
	FILE *f = mem();

	llmi_json_init(&j, f, false);
	llmi_json_arr_begin(&j, NULL);
	llmi_json_double(&j, NULL, NAN);
	llmi_json_double(&j, NULL, INFINITY);
	llmi_json_double(&j, NULL, -INFINITY);
	for (i = 0; i < sizeof(vals) / sizeof(vals[0]); i++)
		llmi_json_double(&j, NULL, vals[i]);
	llmi_json_arr_end(&j);
	assert_int_equal(llmi_json_finish(&j), 0);
	fclose(f);
	assert_true(!strncmp(out, "[null,null,null,0.1,", 20));
	p = out + 15;	/* the comma after the third null */
	for (i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		char *end;

		assert_true(*p == ',');
		assert_true(strtod(p + 1, &end) == vals[i]);
		p = end;
	}
	assert_string_equal(p, "]\n");
}

static void test_too_deep(void **state)
{
	struct llmi_json j;
	int i;
	FILE *f = mem();

	llmi_json_init(&j, f, false);
	llmi_json_arr_begin(&j, NULL);
	for (i = 0; i < 40; i++)
		llmi_json_arr_begin(&j, NULL);
	llmi_json_u64(&j, NULL, 1);
	for (i = 0; i < 40; i++)
		llmi_json_arr_end(&j);
	llmi_json_u64(&j, NULL, 2);
	llmi_json_arr_end(&j);
	assert_int_equal(llmi_json_finish(&j), -E2BIG);
	fclose(f);
	/* 31 levels written, the rest left out; brackets balance and 2 is still there */
	assert_int_equal(strspn(out, "["), LLMI_JSON_MAX_DEPTH - 1);
	assert_non_null(strstr(out, "]]],2]\n"));
}

static void test_write_error(void **state)
{
	struct llmi_json j;
	FILE *f = fopen("/dev/full", "w");
	int i;

	if (!f)
		skip();
	llmi_json_init(&j, f, true);
	llmi_json_arr_begin(&j, NULL);
	for (i = 0; i < 10000; i++)
		llmi_json_str(&j, NULL, "filling a buffer that cannot be written");
	llmi_json_arr_end(&j);
	assert_int_equal(llmi_json_finish(&j), -EIO);
	fclose(f);
}

/* One document per line: finish ends a value and the next one starts clean. */
static void test_lines(void **state)
{
	struct llmi_json j;
	FILE *f = mem();

	llmi_json_init(&j, f, false);
	llmi_json_obj_begin(&j, NULL);
	llmi_json_u64(&j, "a", 1);
	llmi_json_obj_end(&j);
	assert_int_equal(llmi_json_finish(&j), 0);
	llmi_json_obj_begin(&j, NULL);
	llmi_json_u64(&j, "b", 2);
	llmi_json_obj_end(&j);
	assert_int_equal(llmi_json_finish(&j), 0);
	fclose(f);
	assert_string_equal(out, "{\"a\":1}\n{\"b\":2}\n");
	free(out);
	out = NULL;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_compact),
		cmocka_unit_test(test_pretty),
		cmocka_unit_test(test_escapes),
		cmocka_unit_test(test_doubles),
		cmocka_unit_test(test_too_deep),
		cmocka_unit_test(test_write_error),
		cmocka_unit_test(test_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
