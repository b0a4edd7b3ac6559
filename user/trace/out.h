/* SPDX-License-Identifier: MIT */
/*
 * What llminstr-trace prints: the 80-column summary (also per -i interval),
 * the --json summary (fields of DESIGN.md, "Command-line contract") and the
 * --perfetto timeline (Chrome trace-event JSON, written as events arrive).
 */
#ifndef LLMI_TRACE_OUT_H
#define LLMI_TRACE_OUT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "trace/agg.h"
#include "trace/capture.h"
#include "trace/record.h"

#define OUT_MAX_LIBS 8

struct out_target {
	pid_t pid;
	const char *libs[OUT_MAX_LIBS];
	unsigned lib_probes[OUT_MAX_LIBS];
	size_t nlibs;
	bool late;		/* attached to a running process */
	bool static_cudart;
	bool exited;		/* gone by the end of the trace */
	int exit_status;	/* its exit code; -1: unknown (not our child) or killed */
	int signal;		/* the signal that killed it (our child), else 0 */
};

struct out_info {
	const char *mode;	/* "events" or "timing-only" */
	double duration_s;
	const struct out_target *targets;
	size_t ntargets;
	uint64_t received, lost, dedup, nested, kmap_full, excluded;
	uint64_t agent_calls;	/* CUDA calls the agent made to capture: not in the figures */
	uint64_t probes;	/* attached, entry and return */
	uint64_t top;
	const char *end_reason;	/* "SIGINT", "duration", "targets exited" ... */
	const char *output;	/* -o container, or NULL */
	struct trace_tl_stats out;	/* what went into it */
	/* --capture (NULL otherwise) */
	const struct capture_stats *capture;
	const struct capture_group *groups;
	size_t ngroups;
	const struct capture_drop *drops;
	size_t ndrops;
	const struct llmi_codec_spec *codec;
};

void out_summary(FILE *f, struct agg *a, const struct agg_totals *t, const struct out_info *in,
		 bool interval);
/* 0 or -EIO. */
int out_json(FILE *f, struct agg *a, const struct agg_totals *t, const struct out_info *in);

#endif
