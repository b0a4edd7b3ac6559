// SPDX-License-Identifier: MIT
/*
 * The -T decision of bpf/llminstr_trace.bpf.c, per target: a launch is
 * counted in the kernel unless its own process has a stream capture open or
 * user space asked for its calls (user/trace/probes.h). The real program is
 * loaded and its probes attached, as llminstr-trace attaches them, to
 * functions of this test that stand for two processes' cudaLaunchKernel,
 * cudaStreamBeginCapture and cudaStreamEndCapture (the target index travels
 * in the attach cookie, so one process can play two targets); the ring
 * buffer and the kernel's counts then say where each launch went.
 *
 * Needs root (BPF); exits 77 without it.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <bpf/libbpf.h>

#include "llminstr_events.h"
#include "llminstr_trace.skel.h"
#include "trace/api.h"
#include "trace/probes.h"

#define FUNC_A 0xa000	/* the kernel handle each target launches */
#define FUNC_B 0xb000

/* Stand-ins for the CUDA entry points of target 0 (a) and target 1 (b). */
#define STANDIN __attribute__((noinline, noipa, used))
STANDIN int launch_a(uint64_t f, uint64_t g, uint64_t gz, uint64_t b, uint64_t bz)
{
	__asm__ volatile("" ::: "memory");
	return 0;
}
STANDIN int launch_b(uint64_t f, uint64_t g, uint64_t gz, uint64_t b, uint64_t bz)
{
	__asm__ volatile("" ::: "memory");
	return 0;
}
STANDIN int begin_a(uint64_t stream, int mode) { __asm__ volatile("" ::: "memory"); return 0; }
STANDIN int begin_b(uint64_t stream, int mode) { __asm__ volatile("" ::: "memory"); return 0; }
STANDIN int end_a(uint64_t stream, void **graph) { __asm__ volatile("" ::: "memory"); return 0; }
STANDIN int end_b(uint64_t stream, void **graph) { __asm__ volatile("" ::: "memory"); return 0; }

struct fixture {
	struct llminstr_trace_bpf *skel;
	struct ring_buffer *rb;
	struct bpf_link *links[16];
	int nlinks;
	uint64_t streamed_a, streamed_b, captures, ends;
	int ncpus;
};

static int on_record(void *ctx, void *data, size_t size)
{
	struct fixture *f = ctx;
	const struct llmi_event *e = data;

	if (size < sizeof(*e) || e->pid != (uint32_t)getpid())
		return 0;
	if (e->type == LLMI_EV_LAUNCH && e->obj == FUNC_A)
		f->streamed_a++;
	else if (e->type == LLMI_EV_LAUNCH && e->obj == FUNC_B)
		f->streamed_b++;
	else if (e->type == LLMI_EV_CAPTURE_BEGIN)
		f->captures++;
	else if (e->type == LLMI_EV_CAPTURE_END)
		f->ends++;
	return 0;
}

static int attach(struct fixture *f, struct bpf_program *p, const char *fn, bool ret,
		  unsigned api, unsigned target)
{
	LIBBPF_OPTS(bpf_uprobe_opts, o, .func_name = fn, .retprobe = ret,
		    .bpf_cookie = LLMI_COOKIE_WITH_TARGET(trace_api_cookie(api), target));
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	struct bpf_link *l;

	if (n <= 0)
		return -errno;
	exe[n] = '\0';
	l = bpf_program__attach_uprobe_opts(p, getpid(), exe, 0, &o);
	if (!l) {
		fprintf(stderr, "cannot attach to %s in %s: %s\n", fn, exe, strerror(errno));
		return -errno;
	}
	f->links[f->nlinks++] = l;
	return 0;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	int err;

	assert_non_null(f);
	f->ncpus = libbpf_num_possible_cpus();
	f->skel = llminstr_trace_bpf__open();
	assert_non_null(f->skel);
	f->skel->rodata->timing_only = true;
	bpf_map__set_max_entries(f->skel->maps.events, 1 << 20);
	err = llminstr_trace_bpf__load(f->skel);
	if (err)
		fail_msg("cannot load the BPF program: %s", strerror(-err));
	f->rb = ring_buffer__new(bpf_map__fd(f->skel->maps.events), on_record, f, NULL);
	assert_non_null(f->rb);
	assert_int_equal(attach(f, f->skel->progs.rt_launch, "launch_a", false, LLMI_API_LAUNCH, 0), 0);
	assert_int_equal(attach(f, f->skel->progs.rt_launch, "launch_b", false, LLMI_API_LAUNCH, 1), 0);
	assert_int_equal(attach(f, f->skel->progs.call_entry, "begin_a", false,
				LLMI_API_CAPTURE_BEGIN, 0), 0);
	assert_int_equal(attach(f, f->skel->progs.call_entry, "begin_b", false,
				LLMI_API_CAPTURE_BEGIN, 1), 0);
	assert_int_equal(attach(f, f->skel->progs.timed_enter, "end_a", false,
				LLMI_API_CAPTURE_END, 0), 0);
	assert_int_equal(attach(f, f->skel->progs.timed_exit, "end_a", true,
				LLMI_API_CAPTURE_END, 0), 0);
	assert_int_equal(attach(f, f->skel->progs.timed_enter, "end_b", false,
				LLMI_API_CAPTURE_END, 1), 0);
	assert_int_equal(attach(f, f->skel->progs.timed_exit, "end_b", true,
				LLMI_API_CAPTURE_END, 1), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	for (int i = 0; i < f->nlinks; i++)
		bpf_link__destroy(f->links[i]);
	ring_buffer__free(f->rb);
	llminstr_trace_bpf__destroy(f->skel);
	free(f);
	return 0;
}

/* Launches of func the kernel counted in place (cache and overflow map). */
static uint64_t in_place(struct fixture *f, uint64_t func)
{
	struct llmi_kcache_slot slots[f->ncpus];
	uint64_t counts[f->ncpus], n = 0;
	struct llmi_kernel_key k, next, *prev = NULL;

	for (uint32_t i = 0; i < LLMI_KCACHE_SLOTS; i++) {
		if (bpf_map__lookup_elem(f->skel->maps.kernel_cache, &i, sizeof(i), slots,
					 sizeof(slots), 0))
			continue;
		for (int c = 0; c < f->ncpus; c++)
			if (slots[c].count && slots[c].key.func == func)
				n += slots[c].count;
	}
	while (!bpf_map__get_next_key(f->skel->maps.kernel_counts, prev, &next, sizeof(next))) {
		k = next;
		prev = &k;
		if (k.func != func || bpf_map__lookup_elem(f->skel->maps.kernel_counts, &k,
							   sizeof(k), counts, sizeof(counts), 0))
			continue;
		for (int c = 0; c < f->ncpus; c++)
			n += counts[c];
	}
	return n;
}

static void run(int (*fn)(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t), uint64_t func,
		int n)
{
	for (int i = 0; i < n; i++)
		fn(func, 1, 1, 1, 1);
}

/* Where n launches of each target went: streamed (ring) or counted in place. */
static void expect(struct fixture *f, uint64_t streamed_a, uint64_t streamed_b,
		   uint64_t kernel_a, uint64_t kernel_b)
{
	ring_buffer__consume(f->rb);
	assert_int_equal(f->streamed_a, streamed_a);
	assert_int_equal(f->streamed_b, streamed_b);
	assert_int_equal(in_place(f, FUNC_A), kernel_a);
	assert_int_equal(in_place(f, FUNC_B), kernel_b);
}

static void test_capture_per_target(void **state)
{
	struct fixture *f = *state;
	void *graph = NULL;

	/* the first launch of a target learns its pid on the slow path: counted too */
	run(launch_a, FUNC_A, 100);
	run(launch_b, FUNC_B, 100);
	expect(f, 0, 0, 100, 100);

	/* target 0 captures: its launches are graph nodes, streamed; target 1's are not */
	begin_a(0x51, 0);
	assert_int_equal(trace_probes__captures(f->skel, 0), 1);
	assert_int_equal(trace_probes__captures(f->skel, 1), 0);
	run(launch_a, FUNC_A, 10);
	run(launch_b, FUNC_B, 100);
	expect(f, 10, 0, 100, 200);

	/* target 1 ends a capture it began before the attach: target 0's stays open */
	end_b(0x52, &graph);
	assert_int_equal(trace_probes__captures(f->skel, 0), 1);
	assert_int_equal(trace_probes__captures(f->skel, 1), 0);
	run(launch_a, FUNC_A, 10);
	run(launch_b, FUNC_B, 10);
	expect(f, 20, 0, 100, 210);

	/* both capture, then target 0 ends its own */
	begin_b(0x52, 0);
	run(launch_b, FUNC_B, 5);
	end_a(0x51, &graph);
	assert_int_equal(trace_probes__captures(f->skel, 0), 0);
	assert_int_equal(trace_probes__captures(f->skel, 1), 1);
	run(launch_a, FUNC_A, 10);
	run(launch_b, FUNC_B, 5);
	expect(f, 20, 10, 110, 210);
	end_b(0x52, &graph);
	run(launch_b, FUNC_B, 5);
	expect(f, 20, 10, 110, 215);
	assert_int_equal(f->captures, 2);
	assert_int_equal(f->ends, 3);
}

static void test_stream_switch(void **state)
{
	struct fixture *f = *state;

	run(launch_a, FUNC_A, 1);	/* both targets know their pid */
	run(launch_b, FUNC_B, 1);
	expect(f, 0, 0, 1, 1);
	assert_int_equal(trace_probes__set_stream(f->skel, 1, true), 0);
	run(launch_a, FUNC_A, 30);
	run(launch_b, FUNC_B, 30);
	expect(f, 0, 30, 31, 1);
	assert_int_equal(trace_probes__set_stream(f->skel, 1, false), 0);
	run(launch_a, FUNC_A, 30);
	run(launch_b, FUNC_B, 30);
	expect(f, 0, 30, 61, 31);
	/* a stream switch does not touch the capture count, nor the reverse */
	assert_int_equal(trace_probes__captures(f->skel, 1), 0);

	assert_int_equal(trace_probes__set_stream(f->skel, LLMI_MAX_TARGETS, true), -EINVAL);
	assert_int_equal(trace_probes__captures(f->skel, LLMI_MAX_TARGETS), -EINVAL);
	assert_int_equal(trace_probes__set_stream(NULL, 0, true), -ENODEV);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_capture_per_target, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream_switch, setup, teardown),
	};

	if (geteuid() != 0) {
		printf("SKIP: needs root to load BPF programs\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
