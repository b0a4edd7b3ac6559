/* SPDX-License-Identifier: MIT */
/*
 * The timeline event of LLMI_REC_EVENTS records (user/format/FORMAT.md,
 * "Events"): what llminstr-trace draws, already processed, so that a reader
 * redraws the same timeline without the tracer's state. A graph launch is
 * followed by one LLMI_TL_REPLAY event per kernel it replays; a driver
 * launch that the probes deduplicated is not in the file; launches and
 * copies put on a capturing stream carry LLMI_TL_CAPTURED (graph nodes, not
 * executions). Kernel names are ids into LLMI_STR_KERNEL string tables, API
 * names ids into the LLMI_STR_API table (id = API number).
 *
 * Versioning: llmi_events_rec.abi_version is LLMI_TL_VERSION and
 * event_size is LLMI_TL_EVENT_SIZE of it. A later version only appends
 * fields (event_size grows) and may add kinds and flags; the first 64 bytes
 * keep their meaning. A reader of any version reads the first 64 bytes of
 * each event (llmi_events_get() in format/reader.h) and skips the rest, and
 * leaves out kinds it does not know, counted. An event_size under 64 is
 * damage, and so is a batch of a version this build knows with another
 * size, or kinds or flags that version does not have.
 *
 * Version 2 appends launch_id: launches and replayed kernels are numbered
 * 1, 2, 3 ... in the order the tracer saw them, and a tensor record's
 * launch_id names its producer by that number.
 */
#ifndef LLMI_TIMELINE_H
#define LLMI_TIMELINE_H

#include <stdint.h>

#define LLMI_TL_VERSION 2
#define LLMI_TL_EVENT_SIZE(v)	((v) == 1 ? 64u : 72u)	/* versions 1 and 2 */

enum llmi_tl_kind {
	LLMI_TL_LAUNCH = 1,	/* kernel launch: obj handle, arg0 grid_x, arg1 block_x */
	LLMI_TL_REPLAY = 2,	/* kernel replayed by a graph launch: obj handle, arg0 exec */
	LLMI_TL_COPY   = 3,	/* memcpy: arg0 bytes, arg1 direction (0 h2h .. 4 default) */
	LLMI_TL_WAIT   = 4,	/* synchronisation: dur_ns */
	LLMI_TL_GRAPH  = 5,	/* cudaGraphLaunch: obj exec, arg0 kernels it replays */
	LLMI_TL_API    = 6,	/* any other traced call */
	LLMI_TL_KIND_MAX,
};

#define LLMI_TL_CAPTURED	(1u << 0)	/* put on a capturing stream */

struct llmi_tl_event {
	uint64_t ts_ns;		/*  0: CLOCK_MONOTONIC (bpf_ktime_get_ns) */
	uint64_t dur_ns;	/*  8: 0 when the call is not return-probed */
	uint32_t pid;		/* 16 */
	uint32_t tid;		/* 20 */
	uint64_t stream;	/* 24 */
	uint64_t obj;		/* 32: kernel handle or graph exec (see kinds) */
	uint64_t arg0;		/* 40 */
	uint64_t arg1;		/* 48 */
	uint32_t name_id;	/* 56: LLMI_STR_KERNEL id, 0 = unnamed */
	uint16_t api;		/* 60: LLMI_STR_API id */
	uint8_t kind;		/* 62: enum llmi_tl_kind */
	uint8_t flags;		/* 63: LLMI_TL_* */
};				/* 64 */

_Static_assert(sizeof(struct llmi_tl_event) == 64, "timeline event layout");

/* A version-2 event as written: the 64 bytes above, then its launch number. */
struct llmi_tl_event2 {
	struct llmi_tl_event ev;	/*  0 */
	uint64_t launch_id;		/* 64: LAUNCH and REPLAY: 1, 2, ...; others 0 */
};				/* 72 */

_Static_assert(sizeof(struct llmi_tl_event2) == 72, "timeline event v2 layout");

#endif
