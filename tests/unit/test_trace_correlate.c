// SPDX-License-Identifier: MIT
/*
 * The producer of a captured tensor (user/trace/correlate.c): the last
 * launch on the tensor's thread and stream before its capture probe; none
 * on another stream; a probe that arrives after the coder started waiting;
 * a probe lost in the ring (drained past the publish time) is unknown, not
 * guessed; thousands of entries through the tables' growth and removals;
 * under -T the producer the probe carries (corr__tensor_known); the
 * consumer's launches and probes on one thread while coders on three others
 * take every producer out (the launch table takes no lock: it is the
 * consumer's alone).
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

/* -T: the probe's own producer is kept as given, whatever launches the table saw. */
static void test_known(void **state)
{
	struct corr *k = corr__new();
	struct corr_producer p;

	assert_non_null(k);
	corr__launch(k, 10, 11, 0xa, 99, 98);
	corr__tensor_known(k, 10, 11, 0xa, 0, 4, 7, 3);
	corr__tensor_known(k, 10, 11, 0xa, 1, 4, 0, 0);	/* the kernel knew none */
	assert_true(corr__producer(k, 10, 0, 0, 1000, &p));
	assert_true(p.probed);
	assert_int_equal(p.launch_id, 7);
	assert_int_equal(p.name_id, 3);
	assert_int_equal(p.step, 4);
	assert_int_equal(p.stream, 0xa);
	assert_true(corr__producer(k, 10, 1, 0, 1000, &p));
	assert_true(p.probed);
	assert_int_equal(p.launch_id, 0);
	assert_int_equal(p.name_id, 0);
	corr__free(k);
}

#define TENSORS 20000
#define CODERS 3
#define STREAMS 5

struct coder {
	struct corr *k;
	unsigned id;
	unsigned wrong, missing;
};

/* Tensor q is on stream q % STREAMS, after launches 3q+1..3q+3, the last on its stream. */
static void *coder_main(void *arg)
{
	struct coder *c = arg;
	struct corr_producer p;

	for (uint64_t q = c->id; q < TENSORS; q += CODERS) {
		if (!corr__producer(c->k, 1, q, q, 60000, &p))
			c->missing++;
		else if (p.launch_id != 3 * q + 3 || p.name_id != (uint32_t)(q % STREAMS) + 1 ||
			 p.stream != q % STREAMS || p.step != q)
			c->wrong++;
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct corr *k = corr__new();
	struct coder c[CODERS];
	pthread_t t[CODERS];

	assert_non_null(k);
	for (unsigned i = 0; i < CODERS; i++) {
		c[i] = (struct coder){ .k = k, .id = i };
		assert_int_equal(pthread_create(&t[i], NULL, coder_main, &c[i]), 0);
	}
	for (uint64_t q = 0; q < TENSORS; q++) {
		corr__launch(k, 1, 2, (q + 1) % STREAMS, 3 * q + 1, 77);	/* other streams */
		corr__launch(k, 1, 2, (q + 2) % STREAMS, 3 * q + 2, 77);
		corr__launch(k, 1, 2, q % STREAMS, 3 * q + 3, (uint32_t)(q % STREAMS) + 1);
		corr__tensor(k, 1, 2, q % STREAMS, q, q);
		if (q % 64 == 63)
			corr__drained(k, q);	/* the coder of an earlier tensor stops waiting */
	}
	corr__drained(k, TENSORS);
	for (unsigned i = 0; i < CODERS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(c[i].missing, 0);
		assert_int_equal(c[i].wrong, 0);
	}
	corr__free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_last_launch),
		cmocka_unit_test(test_wait),
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_known),
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
