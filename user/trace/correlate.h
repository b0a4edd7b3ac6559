/* SPDX-License-Identifier: MIT */
/*
 * Which launch made a captured tensor (DESIGN.md, "Capture, step by
 * step", 3). The consumer of the BPF ring buffer tells this table every
 * kernel launch it sees, in order, with the launch's sequence number (the
 * timeline event's launch_id) and kernel name id; the agent's
 * llminstr:capture probe lands in the same ring, so when the consumer meets
 * it, the producer is the last launch it saw on the same thread and stream.
 * The capture coders then ask for the producer of the tensor they code.
 *
 * The probe is in the ring before the agent publishes the tensor, so once
 * the consumer has drained the ring past the tensor's publish time, a probe
 * it did not see was lost (ring overflow): the producer is then unknown,
 * never guessed. A tensor taken on a stream no launch was seen on (a
 * host tensor, or one made by a copy) has no producer either.
 *
 * Under -T no launch is streamed: the capture probe itself carries its
 * producer, read in the kernel (bpf/llminstr_trace.bpf.c, track_launch),
 * and the consumer hands it over with corr__tensor_known(); launch_id is
 * then the launch's number within its process, not a timeline event's.
 *
 * Threads: the consumer functions (corr__launch, corr__tensor*,
 * corr__drained) are called from one thread, the one that drains the ring;
 * the launch table is its own and takes no lock. Coder threads only wait
 * for and take out probes (corr__producer), which a mutex guards; the
 * consumer holds it only at a capture probe or a drain, never at a launch.
 */
#ifndef LLMI_TRACE_CORRELATE_H
#define LLMI_TRACE_CORRELATE_H

#include <stdbool.h>
#include <stdint.h>

struct corr_producer {
	uint64_t launch_id;	/* 0: unknown */
	uint32_t name_id;	/* LLMI_STR_KERNEL id, 0: unnamed or unknown */
	uint32_t tid;
	uint64_t stream;
	uint64_t step;		/* the step the probe reported */
	bool probed;		/* the capture probe was seen */
};

struct corr;

struct corr *corr__new(void);
void corr__free(struct corr *k);

/* The consumer: a launch (or a graph's replayed kernel), in ring order. Lock-free. */
void corr__launch(struct corr *k, uint32_t pid, uint32_t tid, uint64_t stream, uint64_t launch_id,
		  uint32_t name_id);
/* The consumer: the agent's capture probe of tensor seq. */
void corr__tensor(struct corr *k, uint32_t pid, uint32_t tid, uint64_t stream, uint64_t seq,
		  uint64_t step);
/*
 * The consumer (-T): the capture probe of tensor seq with the producer it
 * carries (launch_id 0: none, name_id 0: unnamed).
 */
void corr__tensor_known(struct corr *k, uint32_t pid, uint32_t tid, uint64_t stream, uint64_t seq,
			uint64_t step, uint64_t launch_id, uint32_t name_id);
/* The consumer: every record committed before now_ns has been consumed. */
void corr__drained(struct corr *k, uint64_t now_ns);

/*
 * A coder: the producer of pid's tensor seq, published at ready_ns. Waits
 * until its probe has been consumed, or the ring was drained past
 * ready_ns, or timeout_ms passed; then forgets it. Returns true when the
 * probe was seen (*p filled; launch_id 0 if no launch preceded it).
 */
bool corr__producer(struct corr *k, uint32_t pid, uint64_t seq, uint64_t ready_ns, int timeout_ms,
		    struct corr_producer *p);
/* Wakes every waiting coder (the trace ends: nothing more will come). */
void corr__close(struct corr *k);

#endif
