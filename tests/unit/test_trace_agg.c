// SPDX-License-Identifier: MIT
/*
 * llminstr-trace's user-side bookkeeping, fed with records as the BPF
 * programs write them: names from registrations, handle aliases and the
 * symbolizer; graph capture -> instantiate -> launch expansion (a capture
 * joined by a second stream through an event included); copies per
 * direction; interval subtraction; records of another version refused.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "trace/agg.h"

#define PID 77

static int fake_resolve(void *ctx, uint32_t pid, uint64_t addr, char *full, size_t fl,
			char *brief, size_t bl)
{
	(*(int *)ctx)++;
	if (pid != PID || addr != 0x5000)
		return -ENOENT;
	snprintf(full, fl, "gemm(float const*, int)");
	snprintf(brief, bl, "gemm");
	return 0;
}

static struct llmi_event ev(uint8_t type, uint16_t api, uint64_t obj, uint64_t stream,
			    uint64_t arg0, uint64_t arg1)
{
	struct llmi_event e = { .ts_ns = 1, .pid = PID, .tid = PID, .version = LLMI_EVENT_VERSION,
				.type = type, .api = api, .obj = obj, .stream = stream,
				.arg0 = arg0, .arg1 = arg1 };
	return e;
}

static void feed(struct agg *a, struct llmi_event e)
{
	assert_int_equal(agg__event(a, &e, sizeof(e)), 0);
}

static void feed_name(struct agg *a, uint8_t type, uint16_t api, uint64_t obj, const char *n)
{
	struct llmi_name_event ne = { .ev = ev(type, api, obj, 0, 0, 0) };

	snprintf(ne.name, sizeof(ne.name), "%s", n);
	assert_int_equal(agg__event(a, &ne, sizeof(ne)), 0);
}

static uint64_t launches_of(struct agg *a, const char *name)
{
	size_t n;
	const struct agg_kernel *k = agg__kernels(a, &n, NULL);

	for (size_t i = 0; i < n; i++)
		if (!strcmp(k[i].name, name))
			return k[i].launches;
	return 0;
}

static void test_names(void **state)
{
	int calls = 0;
	struct agg *a = agg__new(fake_resolve, &calls);
	uint64_t unnamed;
	size_t n;

	assert_non_null(a);
	feed_name(a, LLMI_EV_REGISTER, LLMI_API_REGISTER_FUNCTION, 0x1000, "_Z12scale_kernelPffi");
	/* __cudaGetKernel: handle 0xa000 -> stub 0x1000 */
	feed(a, ev(LLMI_EV_GET_KERNEL, LLMI_API_GET_KERNEL, 0xa000, 0, 0x1000, 0));
	/* driver: CUkernel 0xb000 named, CUfunction 0xc000 -> CUkernel */
	feed_name(a, LLMI_EV_NAMED, LLMI_API_CU_LIBRARY_GET_KERNEL, 0xb000, "_Z4axpyfPfS_");
	feed(a, ev(LLMI_EV_KERNEL_FUNC, LLMI_API_CU_KERNEL_GET_FUNCTION, 0xc000, 0, 0xb000, 0));
	for (int i = 0; i < 3; i++)
		feed(a, ev(LLMI_EV_LAUNCH, LLMI_API_LAUNCH, 0x1000, 0, 1, 1));	/* by stub */
	for (int i = 0; i < 2; i++)
		feed(a, ev(LLMI_EV_LAUNCH, LLMI_API_LAUNCH, 0xa000, 0, 1, 1));	/* by handle */
	feed(a, ev(LLMI_EV_LAUNCH, LLMI_API_CU_LAUNCH, 0xc000, 0, 1, 1));
	for (int i = 0; i < 4; i++)
		feed(a, ev(LLMI_EV_LAUNCH, LLMI_API_CU_LAUNCH, 0x5000, 0, 1, 1));	/* symbolizer */
	feed(a, ev(LLMI_EV_LAUNCH, LLMI_API_LAUNCH, 0xdead, 0, 1, 1));

	assert_int_equal(launches_of(a, "scale_kernel"), 5);
	assert_int_equal(launches_of(a, "axpy"), 1);
	assert_int_equal(launches_of(a, "gemm"), 4);
	assert_int_equal(launches_of(a, "<unnamed 0xdead>"), 1);
	assert_string_equal(agg__full_name(a, PID, 0xa000), "scale_kernel(float*, float, int)");
	agg__kernels(a, &n, &unnamed);
	assert_int_equal(n, 4);
	assert_int_equal(unnamed, 1);
	assert_int_equal(agg__totals(a)->launches, 11);
	assert_int_equal(agg__totals(a)->driver_launches, 5);
	/* a failed lookup is remembered: the symbolizer is not asked per launch */
	calls = 0;
	for (int i = 0; i < 10; i++)
		feed(a, ev(LLMI_EV_LAUNCH, LLMI_API_LAUNCH, 0xdead, 0, 1, 1));
	agg__kernels(a, &n, NULL);
	assert_true(calls <= 1);
	agg__free(a);
}

static void test_graphs(void **state)
{
	struct agg *a = agg__new(NULL, NULL);
	struct agg_totals *t;
	const uint64_t s1 = 0x51, s2 = 0x52;

	assert_non_null(a);
	feed_name(a, LLMI_EV_REGISTER, LLMI_API_REGISTER_FUNCTION, 0x1000, "k1");
	feed_name(a, LLMI_EV_REGISTER, LLMI_API_REGISTER_FUNCTION, 0x2000, "k2");
	feed(a, ev(LLMI_EV_CAPTURE_BEGIN, LLMI_API_CAPTURE_BEGIN, 0, s1, 0, 0));
	feed(a, ev(LLMI_EV_LAUNCH, LLMI_API_LAUNCH, 0x1000, s1, 1, 1));
	assert_true(agg__last_captured(a));
	feed(a, ev(LLMI_EV_MEMCPY, LLMI_API_MEMCPY_ASYNC, 0x9, s1, 4096, LLMI_COPY_D2D));
	/* fork: s2 joins the capture through an event recorded on s1 */
	feed(a, ev(LLMI_EV_EVENT_RECORD, LLMI_API_EVENT_RECORD, 0xe1, s1, 0, 0));
	feed(a, ev(LLMI_EV_STREAM_WAIT, LLMI_API_STREAM_WAIT, 0xe1, s2, 0, 0));
	feed(a, ev(LLMI_EV_LAUNCH, LLMI_API_LAUNCH, 0x2000, s2, 1, 1));
	feed(a, ev(LLMI_EV_LAUNCH, LLMI_API_LAUNCH, 0x2000, s2, 1, 1));
	/* another stream outside the capture executes normally */
	feed(a, ev(LLMI_EV_LAUNCH, LLMI_API_LAUNCH, 0x1000, 0x99, 1, 1));
	feed(a, ev(LLMI_EV_CAPTURE_END, LLMI_API_CAPTURE_END, 0x6a, s1, 0, 0));
	feed(a, ev(LLMI_EV_INSTANTIATE, LLMI_API_GRAPH_INSTANTIATE, 0xe7, 0, 0x6a, 0));
	assert_false(agg__last_captured(a));
	t = agg__totals(a);
	assert_int_equal(t->launches, 1);
	{
		uint64_t f[4];

		assert_int_equal(agg__exec_kernels(a, PID, 0xe7, f, 4), 3);
		assert_int_equal(f[0], 0x1000);
		assert_int_equal(f[2], 0x2000);
		assert_int_equal(agg__exec_kernels(a, PID, 0xbad, f, 4), 0);
	}
	assert_int_equal(t->captured_nodes, 4);
	/* after the capture s2 executes again */
	feed(a, ev(LLMI_EV_LAUNCH, LLMI_API_LAUNCH, 0x2000, s2, 1, 1));
	assert_int_equal(t->launches, 2);
	for (int i = 0; i < 5; i++)
		feed(a, ev(LLMI_EV_GRAPH_LAUNCH, LLMI_API_GRAPH_LAUNCH, 0xe7, s1, 0, 0));
	feed(a, ev(LLMI_EV_GRAPH_LAUNCH, LLMI_API_GRAPH_LAUNCH, 0xbad, s1, 0, 0));
	assert_int_equal(t->launches, 2 + 5 * 3);
	assert_int_equal(t->replayed, 15);
	assert_int_equal(t->graph_launches, 6);
	assert_int_equal(t->graphs_unknown, 1);
	assert_int_equal(launches_of(a, "k1"), 1 + 5);
	assert_int_equal(launches_of(a, "k2"), 1 + 10);
	assert_int_equal(t->copy[LLMI_COPY_D2D].calls, 5);
	assert_int_equal(t->copy[LLMI_COPY_D2D].bytes, 5 * 4096);
	agg__free(a);
}

/* A graph of any size is walked whole, launches only, in capture order. */
static void test_large_graph(void **state)
{
	struct agg *a = agg__new(NULL, NULL);
	const uint64_t s = 0x51;
	const size_t n = 1000;
	size_t pos = 0, i = 0;
	uint64_t f;

	assert_non_null(a);
	feed(a, ev(LLMI_EV_CAPTURE_BEGIN, LLMI_API_CAPTURE_BEGIN, 0, s, 0, 0));
	for (uint64_t k = 0; k < n; k++) {
		feed(a, ev(LLMI_EV_LAUNCH, LLMI_API_LAUNCH, 0x1000 + k, s, 1, 1));
		if (k % 100 == 0)	/* nodes that are not launches are skipped */
			feed(a, ev(LLMI_EV_MEMCPY, LLMI_API_MEMCPY_ASYNC, 0x9, s, 64, LLMI_COPY_D2D));
	}
	feed(a, ev(LLMI_EV_CAPTURE_END, LLMI_API_CAPTURE_END, 0x6a, s, 0, 0));
	feed(a, ev(LLMI_EV_INSTANTIATE, LLMI_API_GRAPH_INSTANTIATE, 0xe7, 0, 0x6a, 0));
	assert_int_equal(agg__exec_kernels(a, PID, 0xe7, NULL, 0), n);
	while (agg__exec_next_kernel(a, PID, 0xe7, &pos, &f))
		assert_int_equal(f, 0x1000 + i++);
	assert_int_equal(i, n);
	assert_false(agg__exec_next_kernel(a, PID, 0xe7, &pos, &f));	/* stays at the end */
	pos = 0;
	assert_false(agg__exec_next_kernel(a, PID, 0xbad, &pos, &f));	/* unknown exec */
	feed(a, ev(LLMI_EV_GRAPH_LAUNCH, LLMI_API_GRAPH_LAUNCH, 0xe7, s, 0, 0));
	assert_int_equal(agg__totals(a)->replayed, n);
	agg__free(a);
}

static void test_copies_and_intervals(void **state)
{
	struct agg *a = agg__new(NULL, NULL);
	struct agg_totals *before = calloc(1, sizeof(*before)), *d = calloc(1, sizeof(*d));
	struct llmi_event e;
	size_t n;

	assert_non_null(a);
	e = ev(LLMI_EV_MEMCPY, LLMI_API_MEMCPY, 0x1, 0, 1000, LLMI_COPY_H2D);
	e.dur_ns = 500;
	feed(a, e);
	feed(a, ev(LLMI_EV_MEMCPY, LLMI_API_MEMCPY_ASYNC, 0x1, 0, 24, LLMI_COPY_D2H));
	feed(a, ev(LLMI_EV_MEMSET, LLMI_API_MEMSET_ASYNC, 0x1, 0, 64, 0));
	*before = *agg__totals(a);
	agg__interval_reset(a);
	e = ev(LLMI_EV_SYNC, LLMI_API_STREAM_SYNC, 0, 0, 0, 0);
	e.dur_ns = 2000;
	feed(a, e);
	feed(a, ev(LLMI_EV_LAUNCH, LLMI_API_LAUNCH, 0x1000, 0, 1, 1));
	agg_totals_sub(d, agg__totals(a), before);
	assert_int_equal(agg__totals(a)->copy[LLMI_COPY_H2D].sync_ns, 500);
	assert_int_equal(agg__totals(a)->copy[LLMI_COPY_D2H].bytes, 24);
	assert_int_equal(agg__totals(a)->memset_bytes, 64);
	assert_int_equal(d->copy[LLMI_COPY_H2D].calls, 0);
	assert_int_equal(d->api[LLMI_API_STREAM_SYNC].calls, 1);
	assert_int_equal(llmi_hist_quantile(&d->api[LLMI_API_STREAM_SYNC].lat, 0.5), 2000);
	assert_int_equal(d->launches, 1);
	assert_int_equal(agg__kernels_interval(a, &n)[0].launches, 1);

	/* a record of another layout is refused and counted */
	e = ev(LLMI_EV_LAUNCH, LLMI_API_LAUNCH, 0x1000, 0, 1, 1);
	e.version = 99;
	assert_int_equal(agg__event(a, &e, sizeof(e)), -EINVAL);
	assert_int_equal(agg__event(a, &e, 8), -EINVAL);
	assert_int_equal(agg__totals(a)->bad_records, 2);
	free(before);
	free(d);
	agg__free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_graphs),
		cmocka_unit_test(test_large_graph),
		cmocka_unit_test(test_copies_and_intervals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
