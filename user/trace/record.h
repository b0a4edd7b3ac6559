/* SPDX-License-Identifier: MIT */
/*
 * The tracer's timeline sinks: --perfetto (Chrome trace-event JSON) and -o
 * (a .llmi container). Both take the same processed events
 * (format/timeline.h), made here from the ring-buffer records once the agg
 * has seen them: graph launches expanded into their replayed kernels,
 * captured work marked, kernel names resolved. The container gets them in
 * batches (one LLMI_REC_EVENTS record per 64 KiB or 100 ms, whichever
 * comes first), kernel names in LLMI_STR_KERNEL tables written before the
 * first batch that uses them, API names once at the start, and at the end
 * the --json summary as a stats record. The container's writer commits what
 * it holds at least every 500 ms (io/writer.h), so with the 100 ms batches
 * an event is in the file, surviving a SIGKILL of the tracer, well within a
 * second of being read from the ring.
 *
 * Write errors (a full disk) never stop the trace. The stats say what is
 * in the file, counted from the writes the kernel acknowledged, and what
 * is not. A --perfetto file that cannot be written to its end is cut back
 * to its last event known to be on disk and closed as valid JSON, or
 * removed when even that cannot be written; either way one line says so.
 */
#ifndef LLMI_TRACE_RECORD_H
#define LLMI_TRACE_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trace/agg.h"

struct trace_rank;

struct trace_tl_opts {
	const char *perfetto;	/* JSON timeline path, or NULL */
	const char *output;	/* container path, or NULL */
	bool events;		/* events into the container (false under -T: summary only) */
	const char *writer;	/* program and version for the file header */
	bool force;		/* --force: replace existing regular files */
	uint64_t writer_mem;	/* the container's writer: bytes held for the disk, 0: TRACE_WRITER_MEM */
	const struct trace_rank *rank;	/* the file header's ranks, NULL: not known */
};

/* What the container's writer holds for the disk at most without capture. */
#define TRACE_WRITER_MEM	(8ull << 20)

struct trace_tl_stats {
	/* in the container: their writes completed (acknowledged by the kernel) */
	uint64_t events, batches, names;
	uint64_t not_written;	/* events of the trace that are not in the container */
	int error;		/* first write error (-ENOSPC: disk full), 0 if none */
};

struct trace_tl;

/* NULL with errno, after one line on stderr naming the file and the reason. */
struct trace_tl *trace_tl__new(const struct trace_tl_opts *o);
/*
 * One ring-buffer record, after agg__event() took it. Hot: runs per record
 * of the consumer; appends into a preallocated batch, allocates only for a
 * kernel name not seen before.
 */
void trace_tl__event(struct trace_tl *t, struct agg *a, const void *data, size_t size);
/*
 * From the consumer loop, at least every 100 ms: closes a batch older than
 * 100 ms, keeps the container's commit interval (llmi_writer__tick) and
 * flushes --perfetto once a second. No system call when nothing is due.
 */
void trace_tl__tick(struct trace_tl *t);
/* The ring's loss count so far, stamped on the next batches. */
void trace_tl__set_lost(struct trace_tl *t, uint64_t lost);
/*
 * Writes the pending batch and names and waits for the writes; then st
 * (NULL accepted) says what is in the file.
 */
void trace_tl__drain(struct trace_tl *t, uint64_t lost, struct trace_tl_stats *st);
/*
 * Ends both outputs: json (the summary, may be NULL) as the container's
 * stats record, then closes. 0, or -EIO after a line on stderr. Frees t.
 */
int trace_tl__close(struct trace_tl *t, const char *json, size_t json_len);
/* Frees without the summary (error paths); accepts NULL. */
void trace_tl__free(struct trace_tl *t);
/*
 * After trace_tl__event(): the launch number (the timeline's launch_id) and
 * kernel name id of the last launch that event made (a launch, or the last
 * kernel a graph launch replays); false if it made none.
 */
bool trace_tl__last_launch(const struct trace_tl *t, uint64_t *launch_id, uint32_t *name_id);
/*
 * -T with --capture: the producer the capture probe found in the kernel
 * (te's launch, api and func; see struct llmi_tensor_event) as the
 * container names it: *launch_id is the launch's number in its process
 * (no launch is in the file under -T) and *name_id the kernel's
 * LLMI_STR_KERNEL id, written to the file now when it is new (under -T no
 * event batch carries names); a graph launch names the last kernel its
 * graph replays. *name_id is 0 without -o or when the kernel has no name;
 * both are 0 when the probe found no producer.
 */
void trace_tl__tensor_producer(struct trace_tl *t, struct agg *a,
			       const struct llmi_tensor_event *te, uint64_t *launch_id,
			       uint32_t *name_id);
/* The container's writer (NULL without -o), for the tensors of capture. */
struct llmi_writer *trace_tl__writer(struct trace_tl *t);
/* A trace that never started: removes the files it created, then frees. */
void trace_tl__discard(struct trace_tl *t);

#endif
