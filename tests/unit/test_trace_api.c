// SPDX-License-Identifier: MIT
/*
 * The probed-API table (bpf/llminstr_events.h's LLMI_API_LIST, completed by
 * user/trace/api.c): every API has a symbol, a role, a program, a layout and
 * a category that agree with one another and with what the symbol says it
 * is. A row that is missing or wrong (a driver copy read as a runtime launch,
 * an asynchronous call given a return probe, a _ptsz variant probed another
 * way than its base) is caught here rather than as wrong counts on a GPU.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "trace/api.h"

static bool has(const char *sym, const char *part)
{
	return strstr(sym, part) != NULL;
}

static bool is_launch_prog(enum trace_prog p)
{
	return p == PROG_RT_LAUNCH || p == PROG_RT_LAUNCH_EXC || p == PROG_DRV_LAUNCH ||
	       p == PROG_DRV_LAUNCH_EX;
}

/* What the symbol says the call is. */
static int cat_of_symbol(const char *s)
{
	if (has(s, "GraphLaunch"))
		return CAT_GRAPH;
	if (has(s, "LaunchKernel") || has(s, "LaunchCooperativeKernel"))
		return CAT_LAUNCH;
	if (has(s, "Memcpy"))
		return CAT_COPY;
	if (has(s, "Memset"))
		return CAT_MEMSET;
	if (has(s, "Malloc") || has(s, "MemAlloc") || has(s, "HostAlloc"))
		return CAT_ALLOC;
	if (has(s, "Free"))
		return CAT_FREE;
	if (has(s, "Synchronize"))
		return CAT_SYNC;
	if (has(s, "EventRecord") || has(s, "WaitEvent"))
		return CAT_EVENT;
	if (has(s, "Capture") || has(s, "Instantiate"))
		return CAT_CAPTURE;
	if (has(s, "RegisterFunction") || has(s, "GetKernel") || has(s, "GetFunction"))
		return CAT_NAME;
	return -1;
}

/* The symbol without a per-thread-stream suffix, into buf. */
static const char *base_of(const char *sym, char *buf, size_t len)
{
	size_t n = strlen(sym);

	snprintf(buf, len, "%s", sym);
	if (n > 5 && (!strcmp(sym + n - 5, "_ptsz") || !strcmp(sym + n - 5, "_ptds")))
		buf[n - 5] = '\0';
	return buf;
}

static int api_of(const char *sym)
{
	for (unsigned i = 0; i < LLMI_API_MAX; i++)
		if (trace_apis[i].sym && !strcmp(trace_apis[i].sym, sym))
			return (int)i;
	return -1;
}

static void test_every_row(void **state)
{
	for (unsigned i = 0; i < LLMI_API_MAX; i++) {
		const struct trace_api *a = &trace_apis[i];
		bool rt, drv;

		assert_non_null(a->sym);
		assert_true(a->sym[0] != '\0');
		assert_int_equal(api_of(a->sym), (int)i);	/* unique */
		assert_string_equal(trace_api_name(i), a->sym);
		rt = !strncmp(a->sym, "cuda", 4) || !strncmp(a->sym, "__cuda", 6);
		drv = !rt && !strncmp(a->sym, "cu", 2) && a->sym[2] >= 'A' && a->sym[2] <= 'Z';
		if (!rt && !drv)
			fail_msg("%s: neither a runtime nor a driver symbol", a->sym);
		if ((a->role == ROLE_RUNTIME) != rt)
			fail_msg("%s: role %d does not match the symbol", a->sym, a->role);
		assert_true(a->layout < LLMI_L_MAX);
		assert_true(a->slot < LLMI_SLOTS);
		assert_true(a->cat != CAT_NONE);
		if (cat_of_symbol(a->sym) != (int)a->cat)
			fail_msg("%s: category %d, the symbol says %d", a->sym, a->cat,
				 cat_of_symbol(a->sym));
	}
}

static void test_programs(void **state)
{
	for (unsigned i = 0; i < LLMI_API_MAX; i++) {
		const struct trace_api *a = &trace_apis[i];
		bool rt = a->role == ROLE_RUNTIME;

		/* each program reads one API family's arguments */
		switch (a->prog) {
		case PROG_RT_LAUNCH:
		case PROG_RT_LAUNCH_EXC:
		case PROG_CALL_ENTRY:
		case PROG_REGISTER:
			if (!rt)
				fail_msg("%s: a runtime program on a driver API", a->sym);
			break;
		case PROG_DRV_LAUNCH:
		case PROG_DRV_LAUNCH_EX:
		case PROG_DRV_CALL_ENTRY:
			if (rt)
				fail_msg("%s: a driver program on a runtime API", a->sym);
			break;
		case PROG_TIMED:
			break;
		default:
			fail_msg("%s: program %d unknown", a->sym, a->prog);
		}
		if (is_launch_prog(a->prog) != (a->cat == CAT_LAUNCH))
			fail_msg("%s: launch program and launch category disagree", a->sym);
		if (is_launch_prog(a->prog) != (a->layout == LLMI_L_NONE))
			fail_msg("%s: a launch has no layout, anything else has one", a->sym);
		/* ExC / Ex take a config struct, the others their arguments */
		if (a->cat == CAT_LAUNCH)
			assert_int_equal(has(a->sym, "ExC") || has(a->sym, "KernelEx"),
					 a->prog == PROG_RT_LAUNCH_EXC || a->prog == PROG_DRV_LAUNCH_EX);
		/* an asynchronous copy or memset is entry-only; a synchronous one is timed */
		if (a->cat == CAT_COPY || a->cat == CAT_MEMSET)
			if (has(a->sym, "Async") == (a->prog == PROG_TIMED))
				fail_msg("%s: Async calls are entry-only, the others timed", a->sym);
		/* results known only on return, or a duration that is the point */
		if (a->cat == CAT_SYNC || a->cat == CAT_ALLOC || a->layout == LLMI_L_CAPTURE_END ||
		    a->layout == LLMI_L_INSTANTIATE || a->layout == LLMI_L_GET_KERNEL ||
		    a->layout == LLMI_L_GET_NAMED || a->layout == LLMI_L_KERNEL_FUNC)
			if (a->prog != PROG_TIMED)
				fail_msg("%s: needs a return probe", a->sym);
		if (a->cat == CAT_GRAPH || a->cat == CAT_EVENT || a->layout == LLMI_L_CAPTURE_BEGIN)
			if (a->prog == PROG_TIMED)
				fail_msg("%s: entry-only", a->sym);
	}
}

static void test_slots_and_args(void **state)
{
	for (unsigned i = 0; i < LLMI_API_MAX; i++) {
		const struct trace_api *a = &trace_apis[i];
		bool drv_slot = a->slot == LLMI_SLOT_DRV_CALL || a->slot == LLMI_SLOT_DRV_GRAPH ||
				a->slot == LLMI_SLOT_DRV_NAME || a->slot == LLMI_SLOT_DRV_KFUNC;
		unsigned want = 0;

		/* a driver call made inside a runtime call must not share its slot */
		if (a->prog == PROG_TIMED && drv_slot != (a->role == ROLE_DRIVER))
			fail_msg("%s: slot %d belongs to the other library", a->sym, a->slot);
		if (a->layout == LLMI_L_CU_COPY)
			want = has(a->sym, "HtoD") ? LLMI_COPY_H2D : has(a->sym, "DtoH") ? LLMI_COPY_D2H :
			       has(a->sym, "DtoD") ? LLMI_COPY_D2D : LLMI_COPY_DEFAULT;
		else if (a->layout == LLMI_L_CU_MEMSET)
			want = has(a->sym, "D8") ? 1 : has(a->sym, "D16") ? 2 : 4;
		if (a->arg != want)
			fail_msg("%s: cookie argument %u, want %u", a->sym, a->arg, want);
		if ((a->layout == LLMI_L_CU_COPY || a->layout == LLMI_L_CU_MEMSET) &&
		    a->role != ROLE_DRIVER)
			fail_msg("%s: a driver layout on a runtime API", a->sym);
	}
}

/* A per-thread-stream variant is probed exactly as its base function. */
static void test_variants(void **state)
{
	for (unsigned i = 0; i < LLMI_API_MAX; i++) {
		const struct trace_api *a = &trace_apis[i], *b;
		char base[128];
		int j;

		if (!strcmp(base_of(a->sym, base, sizeof(base)), a->sym))
			continue;
		j = api_of(base);
		if (j < 0)
			fail_msg("%s: its base %s is not probed", a->sym, base);
		b = &trace_apis[j];
		if (a->role != b->role || a->prog != b->prog || a->layout != b->layout ||
		    a->slot != b->slot || a->cat != b->cat || a->arg != b->arg)
			fail_msg("%s is probed unlike %s", a->sym, b->sym);
	}
}

/* Every field survives the attach cookie, with the largest target index. */
static void test_cookies(void **state)
{
	for (unsigned i = 0; i < LLMI_API_MAX; i++) {
		const struct trace_api *a = &trace_apis[i];
		uint64_t c = LLMI_COOKIE_WITH_TARGET(trace_api_cookie(i), LLMI_MAX_TARGETS - 1);

		assert_int_equal(LLMI_COOKIE_API(c), i);
		assert_int_equal(LLMI_COOKIE_LAYOUT(c), a->layout);
		assert_int_equal(LLMI_COOKIE_SLOT(c), a->slot);
		assert_int_equal(LLMI_COOKIE_ARG(c), a->arg);
		assert_int_equal(LLMI_COOKIE_TARGET(c), LLMI_MAX_TARGETS - 1);
	}
	/* the api field is 16 bits wide */
	assert_true(LLMI_API_MAX <= 0xffff);
}

/* The functions every CUDA program goes through are there. */
static void test_coverage(void **state)
{
	static const char *const need[] = {
		"cudaLaunchKernel", "cudaLaunchKernelExC", "cuLaunchKernel", "cuLaunchKernelEx",
		"cudaGraphLaunch", "cuGraphLaunch", "cudaMemcpyAsync", "cudaStreamBeginCapture",
		"cudaStreamEndCapture", "cudaGraphInstantiate", "__cudaRegisterFunction",
		"__cudaGetKernel", "cuModuleGetFunction", "cuLibraryGetKernel",
		"cuKernelGetFunction",
	};

	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++)
		if (api_of(need[i]) < 0)
			fail_msg("%s is not probed", need[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_row),
		cmocka_unit_test(test_programs),
		cmocka_unit_test(test_slots_and_args),
		cmocka_unit_test(test_variants),
		cmocka_unit_test(test_cookies),
		cmocka_unit_test(test_coverage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
