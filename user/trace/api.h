/* SPDX-License-Identifier: MIT */
/*
 * The probed CUDA API, user side: for each enum llmi_api (bpf/llminstr_events.h)
 * the library it lives in, the argument layout its probe decodes, whether a
 * return probe is attached and the BPF program that serves it. The attach
 * code walks this table; the summaries use it for names and categories.
 */
#ifndef LLMI_TRACE_API_H
#define LLMI_TRACE_API_H

#include <stdbool.h>
#include <stdint.h>

#include "llminstr_events.h"

enum trace_role { ROLE_RUNTIME, ROLE_DRIVER };

enum trace_prog {
	PROG_RT_LAUNCH,
	PROG_RT_LAUNCH_EXC,
	PROG_DRV_LAUNCH,
	PROG_DRV_LAUNCH_EX,
	PROG_CALL_ENTRY,
	PROG_DRV_CALL_ENTRY,	/* entry-only driver calls (async copies ...) */
	PROG_TIMED,		/* timed_enter + timed_exit */
	PROG_REGISTER,		/* reg_function (sleepable) */
};

enum trace_cat {
	CAT_LAUNCH, CAT_GRAPH, CAT_COPY, CAT_MEMSET, CAT_ALLOC, CAT_FREE,
	CAT_SYNC, CAT_EVENT, CAT_CAPTURE, CAT_NAME,
	CAT_NONE,		/* a layout api.c has no category for: a bug */
};

struct trace_api {
	const char *sym;
	enum trace_role role;
	enum trace_prog prog;
	enum llmi_layout layout;
	enum llmi_slot slot;
	enum trace_cat cat;
	unsigned arg;		/* LLMI_COOKIE_ARG: copy kind, memset element size */
};

/* LLMI_API_LIST, with what follows from it (api.c): one row per enum llmi_api. */
extern const struct trace_api trace_apis[LLMI_API_MAX];

static inline const char *trace_api_name(unsigned api)
{
	return api < LLMI_API_MAX ? trace_apis[api].sym : "?";
}

static inline uint64_t trace_api_cookie(unsigned api)
{
	const struct trace_api *a = &trace_apis[api];

	return LLMI_COOKIE_WITH_ARG(LLMI_COOKIE(api, a->layout, a->slot), a->arg);
}

#endif
