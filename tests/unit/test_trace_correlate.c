// SPDX-License-Identifier: MIT
/*
 * The producer of a captured tensor (user/trace/correlate.c): the last
 * launch on the tensor's thread and stream before its capture probe; none
 * on another stream; a probe that arrives after the coder started waiting;
 * a probe lost in the ring (drained past the publish time) is unknown, not
 * guessed; thousands of entries through the tables' growth and removals.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "trace/correlate.h"

static void test_last_launch(void **state)
{
	struct corr *k = corr__new();
	struct corr_producer p;

	assert_non_null(k);
	corr__launch(k, 10, 11, 0xa, 1, 5);
	corr__launch(k, 10, 11, 0xa, 2, 6);	/* the last one on (10, 11, 0xa) */
	corr__launch(k, 10, 12, 0xa, 3, 7);	/* another thread */
	corr__launch(k, 10, 11, 0xb, 4, 8);	/* another stream */
	corr__launch(k, 20, 11, 0xa, 5, 9);	/* another process */
	corr__tensor(k, 10, 11, 0xa, 0, 3);
	corr__tensor(k, 10, 11, 0xc, 1, 3);	/* no launch on that stream */
	assert_true(corr__producer(k, 10, 0, 100, 1000, &p));
	assert_int_equal(p.launch_id, 2);
	assert_int_equal(p.name_id, 6);
	assert_int_equal(p.tid, 11);
	assert_int_equal(p.stream, 0xa);
	assert_int_equal(p.step, 3);
	assert_true(corr__producer(k, 10, 1, 100, 1000, &p));
	assert_true(p.probed);
	assert_int_equal(p.launch_id, 0);
	/* taken once: asked again, drained past it, it is unknown */
	corr__drained(k, 200);
	assert_false(corr__producer(k, 10, 0, 100, 1000, &p));
	corr__free(k);
}

struct waiter {
	struct corr *k;
	bool found;
	struct corr_producer p;
};

static void *wait_main(void *arg)
{
	struct waiter *w = arg;

	w->found = corr__producer(w->k, 1, 7, 500, 60000, &w->p);
	return NULL;
}

/* The coder waits for a probe still in the ring; a lost one ends the wait. */
static void test_wait(void **state)
{
	struct waiter w = { .k = corr__new() };
	pthread_t t;

	assert_int_equal(pthread_create(&t, NULL, wait_main, &w), 0);
	corr__launch(w.k, 1, 2, 3, 42, 1);
	corr__drained(w.k, 400);		/* not yet past the publish time (500) */
	corr__tensor(w.k, 1, 2, 3, 7, 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_true(w.found);
	assert_int_equal(w.p.launch_id, 42);

	w.found = true;
	assert_int_equal(pthread_create(&t, NULL, wait_main, &w), 0);
	corr__drained(w.k, 501);		/* the probe of seq 7 never came: lost */
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_false(w.found);
	assert_int_equal(w.p.launch_id, 0);

	w.found = true;
	assert_int_equal(pthread_create(&t, NULL, wait_main, &w), 0);
	corr__close(w.k);			/* the trace ends */
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_false(w.found);
	corr__free(w.k);
}

/* Growth and removal keep every entry findable. */
static void test_many(void **state)
{
	struct corr *k = corr__new();
	struct corr_producer p;

	for (uint32_t s = 0; s < 3000; s++)
		corr__launch(k, 9, s % 7, s, 1000 + s, s);
	for (uint64_t q = 0; q < 5000; q++)
		corr__tensor(k, 9, (uint32_t)((q % 3000) % 7), q % 3000, q, q);
	/* take every other one, then the rest: removals must not hide any */
	for (uint64_t q = 0; q < 5000; q += 2) {
		assert_true(corr__producer(k, 9, q, 0, 1000, &p));
		assert_int_equal(p.launch_id, 1000 + q % 3000);
	}
	for (uint64_t q = 1; q < 5000; q += 2) {
		assert_true(corr__producer(k, 9, q, 0, 1000, &p));
		assert_int_equal(p.step, q);
	}
	corr__drained(k, 1);
	assert_false(corr__producer(k, 9, 0, 0, 1000, &p));
	corr__free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_last_launch),
		cmocka_unit_test(test_wait),
		cmocka_unit_test(test_many),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
