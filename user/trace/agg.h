/* SPDX-License-Identifier: MIT */
/*
 * What the tracer learns, in user space: launches per kernel handle, the
 * names of handles, per-API counts and latency histograms, copies per
 * direction, memsets, and the CUDA-graph bookkeeping that turns one
 * cudaGraphLaunch into the launches it replays.
 *
 * Events arrive in ring-buffer order (per thread: call order). Graphs: a
 * stream in capture (cudaStreamBeginCapture, or joined to a capture through
 * an event recorded on a capturing stream) does not execute what is put on
 * it; those launches, copies and memsets are recorded as the nodes of the
 * capture. cudaStreamEndCapture gives the graph, cudaGraphInstantiate maps
 * graph -> exec, and each cudaGraphLaunch(exec) counts every node again,
 * marked as replayed.
 *
 * agg__event() is the hot path of the consumer: no allocation except when a
 * new kernel handle is first seen (table growth), no lock (single consumer).
 */
#ifndef LLMI_TRACE_AGG_H
#define LLMI_TRACE_AGG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/hist.h"
#include "llminstr_events.h"

/*
 * Names a runtime address in process pid: the demangled name with its
 * arguments in full, without in brief. 0 or -ENOENT. Tests pass their own.
 */
typedef int (*agg_resolve_fn)(void *ctx, uint32_t pid, uint64_t addr, char *full,
			      size_t full_len, char *brief, size_t brief_len);

struct agg_api {
	uint64_t calls;
	uint64_t bytes;
	struct llmi_hist lat;		/* return-probed calls only */
};

struct agg_copy {
	uint64_t calls, bytes;
	uint64_t sync_calls, sync_bytes, sync_ns;	/* for GB/s */
};

/* Counters that do not depend on names; summed and subtracted per interval. */
struct agg_totals {
	struct agg_api api[LLMI_API_MAX];
	struct agg_copy copy[LLMI_COPY_KINDS];
	uint64_t memset_calls, memset_bytes;
	uint64_t launches, driver_launches, replayed, captured_nodes;
	uint64_t graph_launches, graphs_unknown, captures, instantiations;
	uint64_t events;		/* records consumed */
	uint64_t bad_records;		/* wrong version or size */
};

struct agg;

/* A kernel as reported: name (brief), launches, handles that carry it. */
struct agg_kernel {
	const char *name;		/* owned by the agg */
	uint64_t launches;
	uint64_t replayed;
	bool unnamed;
};

struct agg *agg__new(agg_resolve_fn resolve, void *resolve_ctx);
void agg__free(struct agg *a);

/* One ring-buffer record; 0, or -EINVAL for a record this build cannot read. */
int agg__event(struct agg *a, const void *data, size_t size);

/* Whether the last record given to agg__event() became a graph node (captured, not run). */
bool agg__last_captured(const struct agg *a);
/*
 * Changes whenever a name string agg__full_name() returned may have been
 * freed: a cache keyed by those pointers is stale when it changes.
 */
uint64_t agg__name_gen(const struct agg *a);

/*
 * The name of a stub or handle, mangled, read in full from the process when
 * its record's copy was cut short (LLMI_EV_NAME_MAX): replaces that copy.
 */
void agg__set_name(struct agg *a, uint32_t pid, uint64_t addr, const char *sym);

/* Adds n launches of a handle, as if streamed. */
void agg__add_launches(struct agg *a, uint32_t pid, uint32_t api, uint64_t func, uint64_t n);
/* -T: the kernel map's running total for a handle; the growth is added. */
void agg__set_bpf_launches(struct agg *a, uint32_t pid, uint32_t api, uint64_t func,
			   uint64_t total);
/* dst = now - before, for interval summaries (histogram buckets included). */
void agg_totals_sub(struct agg_totals *dst, const struct agg_totals *now,
		    const struct agg_totals *before);
/* dst += BPF per-API stats (-T), as counts, bytes and log2 latency slots. */
void agg_totals_add_bpf(struct agg_totals *dst, unsigned api, const struct llmi_api_stat *s);

/*
 * The full name (with arguments) of a launched handle, for the timeline;
 * resolves and caches it on first use.
 */
const char *agg__full_name(struct agg *a, uint32_t pid, uint64_t func);
/* Resolve names of every handle seen so far (while the targets still live). */
void agg__resolve_all(struct agg *a);

/*
 * The kernels a graph executable replays, in capture order: fills up to cap
 * handles (funcs may be NULL with cap 0) and returns how many the graph has
 * (0 if unknown).
 */
size_t agg__exec_kernels(struct agg *a, uint32_t pid, uint64_t exec, uint64_t *funcs,
			 size_t cap);
/*
 * The same one at a time, however many: *pos starts at 0; true with *func
 * set while the graph has one more. Reads the graph in place (no copy, no
 * bound); valid until the next agg__event().
 */
bool agg__exec_next_kernel(struct agg *a, uint32_t pid, uint64_t exec, size_t *pos,
			   uint64_t *func);

struct agg_totals *agg__totals(struct agg *a);
/*
 * Kernels by launches, descending, merged by name; *n gets the count.
 * Returns an array owned by the agg, valid until the next call.
 * unnamed_handles gets the handles that have no name.
 */
const struct agg_kernel *agg__kernels(struct agg *a, size_t *n, uint64_t *unnamed_handles);
/* Kernel launch counts since the last agg__interval_reset(). */
const struct agg_kernel *agg__kernels_interval(struct agg *a, size_t *n);
void agg__interval_reset(struct agg *a);

#endif
