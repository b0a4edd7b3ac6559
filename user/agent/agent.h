/* SPDX-License-Identifier: MIT */
/*
 * Inside libllminstr.so: the state its three parts share.
 *
 *   agent.c    the listener thread: the control socket, the handshake, the
 *              attach and the detach of a tracer (proto.h)
 *   capture.c  the public calls (llminstr.h), selection, host tensors and
 *              the waits and drops of --on-full
 *   cuda.c     device tensors through the driver API found in the process
 *
 * Locking. `on` is the flag every public call reads first (relaxed: a call
 * that races with an attach or a detach may go either way, and both are
 * correct). A capture that goes further holds sess_lock for reading while
 * it touches the session (the ring, the spec, the device state); the
 * listener takes it for writing to attach or detach, after clearing `on`,
 * so a detach waits for the calls in flight and no call sees a ring being
 * unmapped. res_mu serialises reservations (host ring and device ring) and
 * the queueing of device copies, so that both rings are reserved, and the
 * side stream runs its copies, in one order. Nothing that the side stream's
 * callbacks need is ever held while waiting for them, except dev_mu, which
 * a waiter releases in its condition wait.
 */
#ifndef LLMI_AGENT_INTERNAL_H
#define LLMI_AGENT_INTERNAL_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include "agent/proto.h"
#include "agent/ring.h"
#include "agent/spec.h"

#define AGENT_HIDDEN __attribute__((visibility("hidden")))

/*
 * USDT probes for llminstr-trace (sys/sdt.h; semaphores: untraced, each
 * costs a load and a not-taken branch):
 *   llminstr:enter, llminstr:exit  bracket the agent's own CUDA calls on a
 *       thread: the tracer counts what lies between as capture traffic,
 *       not the application's;
 *   llminstr:capture(seq, name, stream, bytes, step)  a tensor was taken
 *       into slot seq: lands next to the launches, so the tracer ties the
 *       tensor to the last launch on this thread and stream;
 *   llminstr:step(n)  llminstr_step().
 */
#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>
extern unsigned short llminstr_enter_semaphore AGENT_HIDDEN;
extern unsigned short llminstr_exit_semaphore AGENT_HIDDEN;
extern unsigned short llminstr_capture_semaphore AGENT_HIDDEN;
extern unsigned short llminstr_step_semaphore AGENT_HIDDEN;
#define AGENT_PROBE_ENTER()						\
	do {								\
		if (__builtin_expect(llminstr_enter_semaphore, 0))	\
			STAP_PROBE(llminstr, enter);			\
	} while (0)
#define AGENT_PROBE_EXIT()						\
	do {								\
		if (__builtin_expect(llminstr_exit_semaphore, 0))	\
			STAP_PROBE(llminstr, exit);			\
	} while (0)
#define AGENT_PROBE_CAPTURE(seq, name, stream, bytes, step)		\
	do {								\
		if (__builtin_expect(llminstr_capture_semaphore, 0))	\
			STAP_PROBE5(llminstr, capture, seq, name, stream, bytes, step); \
	} while (0)

/* How long a blocked capture sleeps before it looks again whether the
 * tracer is still there (a detach also wakes it at once). */
#define AGENT_WAIT_MS	100

/* One selected tensor on its way into the ring. */
struct agent_tensor {
	const char *name;
	size_t name_len;
	const void *ptr;
	int dtype;
	int ndim;
	const int64_t *shape;
	void *stream;
	uint64_t bytes;
	uint64_t step;
	uint64_t capture_ns;
	int ordinal;			/* the device of device memory, -1 unknown */
	/*
	 * pos= of the spec (agent_slice()): shape then points at kept, bytes
	 * is what is kept, and the copy takes outer blocks of row_bytes *
	 * pos_total bytes, pos_count rows from row pos_first of each.
	 */
	bool sliced;
	int pos_dim;
	uint64_t pos_first, pos_count, pos_total;
	uint64_t outer, row_bytes;
	int64_t kept[8];
};

struct agent_session {
	struct llmi_ring ring;
	void *map;
	size_t map_len;
	int memfd, efd, conn;
	struct llmi_cap_spec spec;
	uint32_t on_full;
	uint32_t tracer_pid;
	uint64_t dev_size;
	bool live;			/* attached (written under sess_lock held for writing) */
	atomic_int failed;		/* agent_fail() ran */
	atomic_int used;		/* a tensor was selected: the ring's pages are wanted */
	bool populated;			/* the listener faulted them in */
};

struct agent {
	atomic_int on;			/* a tracer is attached and capture is on */
	_Atomic uint64_t step;
	/* the process's rank in a parallel run, -1 not known: RANK, WORLD_SIZE,
	 * LOCAL_RANK at load, llminstr_set_rank() later; each tensor carries rank */
	_Atomic int32_t rank, world_size, local_rank;
	pthread_rwlock_t sess_lock;
	pthread_mutex_t res_mu;
	struct agent_session s;
};

extern struct agent agent_g AGENT_HIDDEN;

/* agent.c */
void agent_notify(void) AGENT_HIDDEN;
/*
 * A tensor of this session is selected: the first call asks the agent's
 * thread to fault the ring's pages in (a process that never captures never
 * pays for them); later ones cost one relaxed load. sess_lock held.
 */
void agent_first_use(void) AGENT_HIDDEN;
/* Records why capture is off in the ring's header, turns it off and closes
 * the connection (the tracer sees EOF); sess_lock held for reading. */
void agent_fail(const char *fmt, ...) AGENT_HIDDEN __attribute__((format(printf, 1, 2)));
uint64_t agent_now_ns(void) AGENT_HIDDEN;

/*
 * The wait of --on-full block, for either ring: try_room() is tried until
 * it returns anything but -EAGAIN, which is returned; under drop, -ENOBUFS
 * at once; -ECANCELED once capture is off (the tracer is gone: nobody will
 * make room). Between tries wait_room() sleeps until woken or for
 * AGENT_WAIT_MS. Time spent waiting goes to the ring's blocked_ns. Inline,
 * so that each caller's try is a direct call.
 */
static inline int agent_wait_room(int (*try_room)(void *ctx), void (*wait_room)(void *ctx),
				  void *ctx)
{
	uint64_t t0 = 0;
	int rc;

	while ((rc = try_room(ctx)) == -EAGAIN) {
		if (agent_g.s.on_full == LLMI_ON_FULL_DROP) {
			rc = -ENOBUFS;
			break;
		}
		if (!atomic_load(&agent_g.on)) {
			rc = -ECANCELED;
			break;
		}
		if (!t0)
			t0 = agent_now_ns();
		wait_room(ctx);
	}
	if (t0)
		atomic_fetch_add_explicit(&agent_g.s.ring.hdr->blocked_ns, agent_now_ns() - t0,
					  memory_order_relaxed);
	return rc;
}

/* capture.c */
/*
 * Reserves bytes in the host ring under --on-full, res_mu held: 0, -E2BIG,
 * -ENOBUFS (drop), -ECANCELED (the tracer left while this thread waited).
 * Time spent waiting goes to the ring's blocked_ns.
 */
int agent_host_reserve(uint64_t bytes, struct llmi_ring_slot **slot, void **data) AGENT_HIDDEN;
void agent_fill_slot(struct llmi_ring_slot *s, const struct agent_tensor *t,
		     bool device) AGENT_HIDDEN;
/* Where block k of a sliced tensor's kept rows starts in the source. */
static inline uint64_t agent_slice_src(const struct agent_tensor *t, uint64_t k)
{
	return (k * t->pos_total + t->pos_first) * t->row_bytes;
}

/* cuda.c */
/* Whether libcuda.so.1 is loaded in this process (never loads it). */
bool agent_cuda_loaded(void) AGENT_HIDDEN;
/* 1 if t->ptr is device memory, 0 host (or CUDA absent), -EFAULT when the
 * tensor runs past its allocation; fills t->ordinal. */
int agent_cuda_classify(struct agent_tensor *t) AGENT_HIDDEN;
/* Captures a device tensor (sess_lock held for reading): 1, 0 (the tracer
 * left), or a negative errno as llminstr_capture() returns it. */
int agent_cuda_capture(const struct agent_tensor *t) AGENT_HIDDEN;
/* Wakes threads waiting for room in the device ring (detach). */
void agent_cuda_wake(void) AGENT_HIDDEN;
/* Detach: waits for queued copies, frees the staging ring, unregisters the
 * host ring (sess_lock held for writing). */
void agent_cuda_detach(void) AGENT_HIDDEN;
/* In a fork child: forgets the parent's device state without a CUDA call. */
void agent_cuda_forget(void) AGENT_HIDDEN;

#endif
