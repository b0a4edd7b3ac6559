// SPDX-License-Identifier: MIT
/*
 * Unit tests of the capture spec (user/agent/spec.c): every term, how they
 * combine, and each refusal as one line that names the term.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "agent/spec.h"

static void parse_ok(const char *text, struct llmi_cap_spec *sp)
{
	char err[256] = "untouched";

	if (llmi_cap_spec_parse(text, sp, err, sizeof(err)))
		fail_msg("'%s' refused: %s", text, err);
	assert_string_equal(err, "");
}

/* Refused with a one-line reason that contains each of the words. */
static void parse_bad(const char *text, const char *w1, const char *w2)
{
	struct llmi_cap_spec sp;
	char err[256];

	assert_int_equal(llmi_cap_spec_parse(text, &sp, err, sizeof(err)), -EINVAL);
	if (!strstr(err, w1) || (w2 && !strstr(err, w2)))
		fail_msg("'%s': the reason '%s' does not say '%s'%s%s", text, err, w1,
			 w2 ? " and " : "", w2 ? w2 : "");
	assert_null(strchr(err, '\n'));
	/* an emptied spec selects nothing */
	assert_false(sp.all);
	assert_int_equal(sp.nglobs, 0);
	assert_false(llmi_cap_spec_name(&sp, "x"));
	llmi_cap_spec_free(&sp);
}

static void test_all(void **state)
{
	struct llmi_cap_spec sp;

	parse_ok("all", &sp);
	assert_true(llmi_cap_spec_name(&sp, "anything"));
	assert_true(llmi_cap_spec_name(&sp, ""));
	assert_true(llmi_cap_spec_step(&sp, 0));
	assert_true(llmi_cap_spec_step(&sp, UINT64_MAX));
	llmi_cap_spec_free(&sp);
}

static void test_names(void **state)
{
	struct llmi_cap_spec sp;

	parse_ok("name=blk.*.resid\nname=logits\n", &sp);
	assert_int_equal(sp.nglobs, 2);
	assert_true(llmi_cap_spec_name(&sp, "blk.0.resid"));
	assert_true(llmi_cap_spec_name(&sp, "blk.31.resid"));
	assert_true(llmi_cap_spec_name(&sp, "logits"));
	assert_false(llmi_cap_spec_name(&sp, "blk.0.mlp_out"));
	assert_false(llmi_cap_spec_name(&sp, "logits2"));
	/* fnmatch without flags: '*' crosses dots and slashes */
	assert_true(llmi_cap_spec_name(&sp, "blk.a/b.resid"));
	llmi_cap_spec_free(&sp);

	parse_ok("name=layer[0-2].out", &sp);
	assert_true(llmi_cap_spec_name(&sp, "layer1.out"));
	assert_false(llmi_cap_spec_name(&sp, "layer3.out"));
	llmi_cap_spec_free(&sp);

	/* all wins over names */
	parse_ok("name=a\nall", &sp);
	assert_true(llmi_cap_spec_name(&sp, "b"));
	llmi_cap_spec_free(&sp);
}

static void test_steps(void **state)
{
	struct llmi_cap_spec sp;

	parse_ok("every=4", &sp);
	assert_true(sp.all);	/* only step terms: every name */
	assert_true(llmi_cap_spec_name(&sp, "x"));
	assert_true(llmi_cap_spec_step(&sp, 0));
	assert_false(llmi_cap_spec_step(&sp, 3));
	assert_true(llmi_cap_spec_step(&sp, 8));
	llmi_cap_spec_free(&sp);

	parse_ok(" steps=3-5 \r\n\nname=x", &sp);
	assert_false(sp.all);
	assert_false(llmi_cap_spec_step(&sp, 2));
	assert_true(llmi_cap_spec_step(&sp, 3));
	assert_true(llmi_cap_spec_step(&sp, 5));
	assert_false(llmi_cap_spec_step(&sp, 6));
	assert_false(llmi_cap_spec_name(&sp, "y"));
	llmi_cap_spec_free(&sp);

	parse_ok("steps=7", &sp);
	assert_false(llmi_cap_spec_step(&sp, 6));
	assert_true(llmi_cap_spec_step(&sp, 7));
	assert_false(llmi_cap_spec_step(&sp, 8));
	llmi_cap_spec_free(&sp);

	/* both step terms must pass */
	parse_ok("every=2\nsteps=3-8", &sp);
	assert_false(llmi_cap_spec_step(&sp, 2));
	assert_false(llmi_cap_spec_step(&sp, 3));
	assert_true(llmi_cap_spec_step(&sp, 4));
	assert_true(llmi_cap_spec_step(&sp, 8));
	assert_false(llmi_cap_spec_step(&sp, 10));
	llmi_cap_spec_free(&sp);

	parse_ok("every=1\nsteps=0-18446744073709551615", &sp);
	assert_true(llmi_cap_spec_step(&sp, UINT64_MAX));
	llmi_cap_spec_free(&sp);
}

/* pos=: which positions of a dimension of len are kept */
static void test_pos(void **state)
{
	struct llmi_cap_spec sp;
	uint64_t first = 99, count = 99;

	(void)state;
	parse_ok("name=x", &sp);
	assert_false(llmi_cap_spec_pos(&sp, 10, &first, &count));	/* no pos=: whole */
	llmi_cap_spec_free(&sp);
	parse_ok("pos=last", &sp);
	assert_true(sp.all);	/* only a position term: every name */
	assert_true(llmi_cap_spec_pos(&sp, 10, &first, &count));
	assert_int_equal(first, 9);
	assert_int_equal(count, 1);
	assert_false(llmi_cap_spec_pos(&sp, 1, &first, &count));	/* one position: whole */
	assert_false(llmi_cap_spec_pos(&sp, 0, &first, &count));
	llmi_cap_spec_free(&sp);
	parse_ok("name=blk.*\npos=2:5\nevery=2", &sp);
	assert_false(sp.all);
	assert_true(llmi_cap_spec_pos(&sp, 10, &first, &count));
	assert_int_equal(first, 2);
	assert_int_equal(count, 3);
	assert_true(llmi_cap_spec_pos(&sp, 4, &first, &count));	/* clipped to the end */
	assert_int_equal(first, 2);
	assert_int_equal(count, 2);
	assert_true(llmi_cap_spec_pos(&sp, 2, &first, &count));	/* past the end: none */
	assert_int_equal(first, 2);
	assert_int_equal(count, 0);
	llmi_cap_spec_free(&sp);
	parse_ok("pos=0:5", &sp);
	assert_false(llmi_cap_spec_pos(&sp, 5, &first, &count));	/* all of them: whole */
	assert_false(llmi_cap_spec_pos(&sp, 3, &first, &count));
	assert_true(llmi_cap_spec_pos(&sp, 6, &first, &count));
	assert_int_equal(first, 0);
	assert_int_equal(count, 5);
	llmi_cap_spec_free(&sp);
}

static void test_refusals(void **state)
{
	parse_bad("", "empty", "name=GLOB");
	parse_bad("\n \n", "empty", NULL);
	parse_bad(NULL, "empty", NULL);
	parse_bad("alll", "'alll'", "unknown term");
	parse_bad("name=", "'name='", "empty glob");
	parse_bad("every=0", "'every=0'", ">= 1");
	parse_bad("every=-1", "'every=-1'", ">= 1");
	parse_bad("every=4x", "'every=4x'", NULL);
	parse_bad("every=", "'every='", NULL);
	parse_bad("every=99999999999999999999", "every=9999", NULL);
	parse_bad("every=2\nevery=3", "'every=3'", "twice");
	parse_bad("steps=5-3", "'steps=5-3'", "A <= B");
	parse_bad("steps=a-3", "'steps=a-3'", "steps=A-B");
	parse_bad("steps=3-", "'steps=3-'", NULL);
	parse_bad("steps=-3", "'steps=-3'", NULL);
	parse_bad("steps=1-2-3", "'steps=1-2-3'", NULL);
	parse_bad("steps=1\nsteps=2", "'steps=2'", "twice");
	parse_bad("pos=first", "'pos=first'", "pos=last or pos=A:B");
	parse_bad("pos=3:3", "'pos=3:3'", "A < B");
	parse_bad("pos=4:2", "'pos=4:2'", NULL);
	parse_bad("pos=:2", "'pos=:2'", NULL);
	parse_bad("pos=2:", "'pos=2:'", NULL);
	parse_bad("pos=-1:2", "'pos=-1:2'", NULL);
	parse_bad("pos=last\npos=0:1", "'pos=0:1'", "twice");
	/* the bad term is named even after good ones */
	parse_bad("all\nname=x\nbogus=1", "'bogus=1'", NULL);
}

static void test_too_many_globs(void **state)
{
	char text[LLMI_SPEC_GLOBS_MAX * 16 + 32], *p = text;
	struct llmi_cap_spec sp;
	int i;

	for (i = 0; i < LLMI_SPEC_GLOBS_MAX; i++)
		p += sprintf(p, "name=g%d\n", i);
	parse_ok(text, &sp);
	assert_true(llmi_cap_spec_name(&sp, "g63"));
	llmi_cap_spec_free(&sp);
	strcpy(p, "name=one_more");
	parse_bad(text, "'name=one_more'", "64");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_steps),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_pos),
		cmocka_unit_test(test_too_many_globs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
