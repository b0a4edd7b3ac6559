/* SPDX-License-Identifier: MIT */
/*
 * The Chrome/Perfetto trace-event JSON writer of timeline events
 * (format/timeline.h), shared by llminstr-trace --perfetto, which draws
 * events as it consumes them, and llminstr-dump perfetto, which draws them
 * from a .llmi file: one writer, so both give the same timeline.
 */
#ifndef LLMI_PERFETTO_H
#define LLMI_PERFETTO_H

#include <stdint.h>
#include <stdio.h>

#include "common/json.h"
#include "format/timeline.h"

struct llmi_perfetto {
	struct llmi_json j;
	uint64_t t0;		/* stamp of the first event: ts 0 */
	int have_t0;
};

/* Opens the JSON document on f (the caller owns f). */
void llmi_perfetto_begin(struct llmi_perfetto *p, FILE *f);
/*
 * One event as a slice. kernel: the kernel's name (NULL: unnamed, drawn
 * from its handle); api: the API's name. Buffered stdio only: hot when
 * the tracer draws as it consumes.
 */
void llmi_perfetto_event(struct llmi_perfetto *p, const struct llmi_tl_event *e,
			 const char *kernel, const char *api);
/* Timestamp of ns in the document's microseconds (signed: may precede t0). */
double llmi_perfetto_us(const struct llmi_perfetto *p, uint64_t ns);
/* Closes the document; 0 or -EIO. */
int llmi_perfetto_end(struct llmi_perfetto *p);

#endif
