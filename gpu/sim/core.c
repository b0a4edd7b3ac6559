// SPDX-License-Identifier: MIT
/*
 * The stand-in's engine (see core.h): allocation table, handle registry,
 * streams with worker threads, events, graphs and module images. Linked into
 * libcuda.so.1; libcudart.so.13 uses it through the sim_core_ops table.
 *
 * Streams. Each stream has one worker thread that runs its queue in order;
 * enqueueing returns at once (CUDA's asynchrony). Completion is a sequence
 * number per stream: an operation's seq is its place in the queue, and
 * "completed >= seq" is the whole of what events, waits and synchronisation
 * need, so no per-operation object outlives its run. The legacy default
 * stream keeps CUDA's implicit ordering with blocking streams by queueing
 * waits on their current tails (and they on its), which costs nothing when
 * the legacy stream is idle. Enqueueing is a hot path for the workload (every
 * launch): operations come from a per-stream free list, the worker is
 * signalled only when idle, waiters only when there are some.
 *
 * Graphs. While a stream captures, its operations are appended to the graph
 * instead of queued; instantiation copies them; a launch queues one
 * operation that runs the copies in order on the stream's worker. Capture is
 * single-stream: events recorded during capture make no node.
 *
 * LLMI_SIM_HOSTFN_DELAY_MS=N makes every host function (cuLaunchHostFunc)
 * start N ms late on its stream: a slow device as seen from the host, for
 * tests of what a program's exit does to work still queued.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "core.h"

#define API __attribute__((visibility("default")))

/* ---- handle registry: a pointer is checked here before it is used ---- */

#define H_TOMB ((const void *)1)

struct hslot { const void *p; int type; };
static pthread_rwlock_t hreg_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct hslot *hreg;
static size_t hreg_cap, hreg_used;

static size_t hhash(const void *p)
{
	uint64_t x = (uintptr_t)p;

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return (size_t)x;
}

static int hreg_grow(void)
{
	size_t ncap = hreg_cap ? hreg_cap * 2 : 256, i, j;
	struct hslot *n = calloc(ncap, sizeof(*n));

	if (!n)
		return -ENOMEM;
	for (i = 0; i < hreg_cap; i++) {
		if (!hreg[i].p || hreg[i].p == H_TOMB)
			continue;
		for (j = hhash(hreg[i].p) & (ncap - 1); n[j].p; j = (j + 1) & (ncap - 1))
			;
		n[j] = hreg[i];
	}
	free(hreg);
	hreg = n;
	hreg_cap = ncap;
	hreg_used = 0;
	for (i = 0; i < ncap; i++)
		hreg_used += n[i].p != NULL;
	return 0;
}

static int handle_add(const void *p, int type)
{
	size_t j;
	int err = 0;

	pthread_rwlock_wrlock(&hreg_lock);
	if ((hreg_used + 1) * 2 > hreg_cap && (err = hreg_grow()))
		goto out;
	for (j = hhash(p) & (hreg_cap - 1); hreg[j].p && hreg[j].p != H_TOMB;
	     j = (j + 1) & (hreg_cap - 1))
		;
	if (!hreg[j].p)
		hreg_used++;
	hreg[j].p = p;
	hreg[j].type = type;
out:
	pthread_rwlock_unlock(&hreg_lock);
	return err;
}

static struct hslot *hfind(const void *p)
{
	size_t j;

	if (!hreg_cap || !p || p == H_TOMB)
		return NULL;
	for (j = hhash(p) & (hreg_cap - 1); hreg[j].p; j = (j + 1) & (hreg_cap - 1))
		if (hreg[j].p == p)
			return &hreg[j];
	return NULL;
}

static int handle_type(const void *p)
{
	struct hslot *s;
	int t;

	pthread_rwlock_rdlock(&hreg_lock);
	s = hfind(p);
	t = s ? s->type : H_NONE;
	pthread_rwlock_unlock(&hreg_lock);
	return t;
}

static bool handle_ok(const void *p, int type)
{
	return handle_type(p) == type;
}

/* Removes p if it is registered as type; false if it was not. */
static bool handle_del(const void *p, int type)
{
	struct hslot *s;
	bool ok;

	pthread_rwlock_wrlock(&hreg_lock);
	s = hfind(p);
	ok = s && s->type == type;
	if (ok)
		s->p = H_TOMB;
	pthread_rwlock_unlock(&hreg_lock);
	return ok;
}

/* ---- allocation table: sorted by base, binary-searched ---- */

struct alloc { uintptr_t base; size_t size; int kind; };
static pthread_rwlock_t mem_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct alloc *allocs;
static size_t nallocs, allocs_cap;
static size_t device_bytes;	/* under mem_lock */

/* Index of the first allocation whose base is > p. */
static size_t mem_upper(uintptr_t p)
{
	size_t lo = 0, hi = nallocs;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (allocs[mid].base <= p)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * Classifies [p, p + n): the kind of the allocation that holds it, SIM_MEM_HOST
 * when it touches none, -1 when it straddles an allocation's edge.
 */
static int mem_range(uintptr_t p, size_t n)
{
	size_t i;
	int kind = SIM_MEM_HOST;

	if (n == 0)
		n = 1;
	if (p + n < p)
		return -1;
	pthread_rwlock_rdlock(&mem_lock);
	i = mem_upper(p);
	if (i > 0 && p < allocs[i - 1].base + allocs[i - 1].size) {
		struct alloc *a = &allocs[i - 1];

		kind = p + n <= a->base + a->size ? a->kind : -1;
	} else if (i < nallocs && allocs[i].base < p + n) {
		kind = -1;
	}
	pthread_rwlock_unlock(&mem_lock);
	return kind;
}

static int mem_kind(const void *p, void **base, size_t *size)
{
	uintptr_t a = (uintptr_t)p;
	size_t i;
	int kind = SIM_MEM_HOST;

	pthread_rwlock_rdlock(&mem_lock);
	i = mem_upper(a);
	if (i > 0 && a < allocs[i - 1].base + allocs[i - 1].size) {
		kind = allocs[i - 1].kind;
		if (base)
			*base = (void *)allocs[i - 1].base;
		if (size)
			*size = allocs[i - 1].size;
	}
	pthread_rwlock_unlock(&mem_lock);
	return kind;
}

/* Adds [p, p + n) to the table, with mem_lock held for writing. */
static CUresult mem_insert_locked(void *p, size_t n, int kind)
{
	size_t i;

	if (nallocs == allocs_cap) {
		size_t ncap = allocs_cap ? allocs_cap * 2 : 64;
		struct alloc *na = realloc(allocs, ncap * sizeof(*na));

		if (!na)
			return CUDA_ERROR_OUT_OF_MEMORY;
		allocs = na;
		allocs_cap = ncap;
	}
	i = mem_upper((uintptr_t)p);
	memmove(&allocs[i + 1], &allocs[i], (nallocs - i) * sizeof(*allocs));
	allocs[i] = (struct alloc){ (uintptr_t)p, n, kind };
	nallocs++;
	if (kind == SIM_MEM_DEVICE)
		device_bytes += n;
	return CUDA_SUCCESS;
}

static CUresult mem_alloc(void **out, size_t n, enum sim_mem_kind kind)
{
	size_t rounded;
	CUresult err;
	void *p;

	if (!out)
		return CUDA_ERROR_INVALID_VALUE;
	*out = NULL;
	if (n == 0)
		return CUDA_SUCCESS;
	rounded = (n + 255) & ~(size_t)255;
	if (rounded < n || !(p = aligned_alloc(256, rounded)))
		return CUDA_ERROR_OUT_OF_MEMORY;
	pthread_rwlock_wrlock(&mem_lock);
	err = mem_insert_locked(p, n, kind);
	pthread_rwlock_unlock(&mem_lock);
	if (err) {
		free(p);
		return err;
	}
	*out = p;
	return CUDA_SUCCESS;
}

/*
 * cuMemHostRegister: the caller's pages become "pinned" in place. Like
 * NVIDIA's, a range that overlaps one already known is refused.
 */
static CUresult mem_register(void *p, size_t n)
{
	uintptr_t a = (uintptr_t)p;
	CUresult err;
	size_t i;

	if (!p || !n || a + n < a)
		return CUDA_ERROR_INVALID_VALUE;
	pthread_rwlock_wrlock(&mem_lock);
	i = mem_upper(a);
	if ((i > 0 && a < allocs[i - 1].base + allocs[i - 1].size) ||
	    (i < nallocs && allocs[i].base < a + n)) {
		pthread_rwlock_unlock(&mem_lock);
		return CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED;
	}
	err = mem_insert_locked(p, n, SIM_MEM_REGISTERED);
	pthread_rwlock_unlock(&mem_lock);
	return err;
}

static CUresult mem_unregister(void *p)
{
	size_t i;

	pthread_rwlock_wrlock(&mem_lock);
	i = mem_upper((uintptr_t)p);
	if (!p || i == 0 || allocs[i - 1].base != (uintptr_t)p ||
	    allocs[i - 1].kind != SIM_MEM_REGISTERED) {
		pthread_rwlock_unlock(&mem_lock);
		return CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED;
	}
	memmove(&allocs[i - 1], &allocs[i], (nallocs - i) * sizeof(*allocs));
	nallocs--;
	pthread_rwlock_unlock(&mem_lock);
	return CUDA_SUCCESS;
}

static size_t mem_device_bytes(void)
{
	size_t n;

	pthread_rwlock_rdlock(&mem_lock);
	n = device_bytes;
	pthread_rwlock_unlock(&mem_lock);
	return n;
}

/* Frees an allocation that starts at p and has the given kind. */
static CUresult mem_release(void *p, enum sim_mem_kind kind)
{
	size_t i;

	pthread_rwlock_wrlock(&mem_lock);
	i = mem_upper((uintptr_t)p);
	if (i == 0 || allocs[i - 1].base != (uintptr_t)p || allocs[i - 1].kind != (int)kind) {
		pthread_rwlock_unlock(&mem_lock);
		return CUDA_ERROR_INVALID_VALUE;
	}
	if (kind == SIM_MEM_DEVICE)
		device_bytes -= allocs[i - 1].size;
	memmove(&allocs[i - 1], &allocs[i], (nallocs - i) * sizeof(*allocs));
	nallocs--;
	pthread_rwlock_unlock(&mem_lock);
	free(p);
	return CUDA_SUCCESS;
}

/* ---- operations, streams, events, graphs ---- */

enum op_kind { OP_KERNEL, OP_COPY, OP_SET, OP_RECORD, OP_WAIT, OP_GRAPH, OP_HOST, OP_FREE };

struct sim_op {
	struct sim_op *next;
	uint64_t seq;
	int kind;
	union {
		struct { sim_kernel_fn fn; dim3 grid, block; size_t shmem; unsigned int nparams; } k;
		struct { char *dst; const char *src; size_t width, height, dpitch, spitch; } cp;
		struct { char *dst; uint32_t val; unsigned int esz; size_t width, height, pitch; } set;
		struct { struct CUevent_st *ev; uint64_t gen; } rec;
		struct { struct CUstream_st *s; uint64_t seq; } wait;
		struct { struct CUgraphExec_st *x; } graph;
		struct { void (*fn)(void *); void *arg; } host;
		struct { void *p; } fr;
	} u;
	void *argv[SIM_MAX_PARAMS];
	_Alignas(16) unsigned char argbuf[SIM_MAX_PARAM_BYTES];
};

struct CUgraph_st {
	struct sim_op **nodes;
	size_t n, cap;
};

struct CUgraphExec_st {
	struct sim_op *nodes;
	size_t n;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int inflight;
};

struct CUstream_st {
	pthread_mutex_t mu;
	pthread_cond_t work_cv, done_cv;
	struct sim_op *head, *tail, *free;
	_Atomic uint64_t submitted, completed;
	unsigned int flags;
	int prio;
	bool legacy, blocking, stop, idle;
	int waiters;
	uint64_t legacy_seen;
	struct CUgraph_st *capture;
	int cap_mode;
	bool cap_invalid;
	pthread_t thr;
	struct CUstream_st *next_all;
};

struct CUevent_st {
	pthread_mutex_t mu;
	unsigned int flags;
	struct CUstream_st *s;		/* NULL: never recorded, or recorded in capture */
	uint64_t seq, gen, next_gen;
	uint64_t time_gen, time_ns;
	bool recorded;
};

struct CUmod_st {
	const struct sim_image *img;
	struct CUfunc_st **funcs;	/* one per kernel, made at first lookup */
	pthread_mutex_t mu;
};

struct CUfunc_st {
	const struct sim_kernel_desc *d;
	struct CUmod_st *mod;
};

static pthread_mutex_t streams_mu = PTHREAD_MUTEX_INITIALIZER;
static struct CUstream_st *streams;	/* every live stream, for legacy ordering */
static struct CUstream_st *legacy;
static int global_captures;		/* captures in global mode, under streams_mu */
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static CUresult init_err = CUDA_ERROR_NOT_INITIALIZED;
static pthread_key_t ptds_key;
static __thread struct CUstream_st *ptds_stream;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void stream_wait_seq(struct CUstream_st *s, uint64_t seq)
{
	if (atomic_load_explicit(&s->completed, memory_order_acquire) >= seq)
		return;
	pthread_mutex_lock(&s->mu);
	while (atomic_load_explicit(&s->completed, memory_order_acquire) < seq) {
		s->waiters++;
		pthread_cond_wait(&s->done_cv, &s->mu);
		s->waiters--;
	}
	pthread_mutex_unlock(&s->mu);
}

static void op_run(struct sim_op *op);
static long hostfn_delay_ms;	/* LLMI_SIM_HOSTFN_DELAY_MS */

static void graph_run(struct CUgraphExec_st *x)
{
	size_t i;

	for (i = 0; i < x->n; i++)
		op_run(&x->nodes[i]);
	pthread_mutex_lock(&x->mu);
	if (--x->inflight == 0)
		pthread_cond_broadcast(&x->cv);
	pthread_mutex_unlock(&x->mu);
}

static void op_run(struct sim_op *op)
{
	size_t r;

	switch (op->kind) {
	case OP_KERNEL:
		op->u.k.fn(op->u.k.grid, op->u.k.block, op->u.k.shmem, op->argv);
		break;
	case OP_COPY:
		for (r = 0; r < op->u.cp.height; r++)
			memmove(op->u.cp.dst + r * op->u.cp.dpitch,
				op->u.cp.src + r * op->u.cp.spitch, op->u.cp.width);
		break;
	case OP_SET:
		for (r = 0; r < op->u.set.height; r++) {
			char *d = op->u.set.dst + r * op->u.set.pitch;
			size_t i;

			if (op->u.set.esz == 1) {
				memset(d, (int)op->u.set.val, op->u.set.width);
			} else if (op->u.set.esz == 2) {
				for (i = 0; i < op->u.set.width; i++)
					((uint16_t *)d)[i] = (uint16_t)op->u.set.val;
			} else {
				for (i = 0; i < op->u.set.width; i++)
					((uint32_t *)d)[i] = op->u.set.val;
			}
		}
		break;
	case OP_RECORD: {
		struct CUevent_st *e = op->u.rec.ev;
		uint64_t t = now_ns();

		pthread_mutex_lock(&e->mu);
		if (op->u.rec.gen >= e->time_gen) {
			e->time_gen = op->u.rec.gen;
			e->time_ns = t;
		}
		pthread_mutex_unlock(&e->mu);
		break;
	}
	case OP_WAIT:
		stream_wait_seq(op->u.wait.s, op->u.wait.seq);
		break;
	case OP_GRAPH:
		graph_run(op->u.graph.x);
		break;
	case OP_HOST:
		if (hostfn_delay_ms > 0)
			nanosleep(&(struct timespec){ hostfn_delay_ms / 1000,
						      hostfn_delay_ms % 1000 * 1000000L }, NULL);
		op->u.host.fn(op->u.host.arg);
		break;
	case OP_FREE:
		mem_release(op->u.fr.p, SIM_MEM_DEVICE);
		break;
	}
}

static void *worker(void *arg)
{
	struct CUstream_st *s = arg;
	struct sim_op *op;

	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (!s->head && !s->stop) {
			s->idle = true;
			pthread_cond_wait(&s->work_cv, &s->mu);
		}
		s->idle = false;
		if (!s->head)
			break;
		op = s->head;
		s->head = op->next;
		if (!s->head)
			s->tail = NULL;
		pthread_mutex_unlock(&s->mu);

		op_run(op);

		pthread_mutex_lock(&s->mu);
		atomic_store_explicit(&s->completed, op->seq, memory_order_release);
		op->next = s->free;
		s->free = op;
		if (s->waiters)
			pthread_cond_broadcast(&s->done_cv);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

static struct CUstream_st *stream_new(unsigned int flags, int prio, bool is_legacy)
{
	struct CUstream_st *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->work_cv, NULL);
	pthread_cond_init(&s->done_cv, NULL);
	s->flags = flags;
	s->prio = prio;
	s->legacy = is_legacy;
	s->blocking = !(flags & CU_STREAM_NON_BLOCKING);
	if (pthread_create(&s->thr, NULL, worker, s)) {
		free(s);
		return NULL;
	}
	if (handle_add(s, H_STREAM)) {
		pthread_mutex_lock(&s->mu);
		s->stop = true;
		pthread_cond_signal(&s->work_cv);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->thr, NULL);
		free(s);
		return NULL;
	}
	pthread_mutex_lock(&streams_mu);
	s->next_all = streams;
	streams = s;
	pthread_mutex_unlock(&streams_mu);
	return s;
}

static void stream_free(struct CUstream_st *s)
{
	struct CUstream_st **pp;
	struct sim_op *op;

	stream_wait_seq(s, atomic_load(&s->submitted));
	pthread_mutex_lock(&streams_mu);
	for (pp = &streams; *pp; pp = &(*pp)->next_all)
		if (*pp == s) {
			*pp = s->next_all;
			break;
		}
	pthread_mutex_unlock(&streams_mu);
	pthread_mutex_lock(&s->mu);
	s->stop = true;
	pthread_cond_signal(&s->work_cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->thr, NULL);
	while ((op = s->free)) {
		s->free = op->next;
		free(op);
	}
	free(s);
}

static void ptds_destroy(void *arg)
{
	struct CUstream_st *s = arg;

	if (s && handle_del(s, H_STREAM))
		stream_free(s);
}

static void core_init_once(void)
{
	const char *e = getenv("LLMI_SIM_HOSTFN_DELAY_MS");

	hostfn_delay_ms = e ? strtol(e, NULL, 10) : 0;
	if (pthread_key_create(&ptds_key, ptds_destroy))
		return;
	legacy = stream_new(0, 0, true);
	init_err = legacy ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
}

static CUresult core_init(void)
{
	pthread_once(&init_once, core_init_once);
	return init_err;
}

/* Resolves a stream handle: 0 is the legacy or the per-thread default stream. */
static CUresult stream_get(CUstream h, bool ptds, struct CUstream_st **out)
{
	CUresult err = core_init();

	if (err)
		return err;
	if (h == CU_STREAM_LEGACY || (!h && !ptds)) {
		*out = legacy;
		return CUDA_SUCCESS;
	}
	if (h == CU_STREAM_PER_THREAD || !h) {
		if (!ptds_stream) {
			ptds_stream = stream_new(0, 0, false);
			if (!ptds_stream)
				return CUDA_ERROR_OUT_OF_MEMORY;
			pthread_setspecific(ptds_key, ptds_stream);
		}
		*out = ptds_stream;
		return CUDA_SUCCESS;
	}
	if (!handle_ok(h, H_STREAM))
		return CUDA_ERROR_INVALID_HANDLE;
	*out = h;
	return CUDA_SUCCESS;
}

static struct sim_op *op_get(struct CUstream_st *s)
{
	struct sim_op *op;

	pthread_mutex_lock(&s->mu);
	op = s->free;
	if (op)
		s->free = op->next;
	pthread_mutex_unlock(&s->mu);
	if (!op)
		op = malloc(sizeof(*op));
	return op;
}

static void op_put(struct CUstream_st *s, struct sim_op *op)
{
	pthread_mutex_lock(&s->mu);
	op->next = s->free;
	s->free = op;
	pthread_mutex_unlock(&s->mu);
}

static void op_copy(struct sim_op *dst, const struct sim_op *src)
{
	unsigned int i;

	memcpy(dst, src, sizeof(*dst));
	dst->next = NULL;
	if (src->kind == OP_KERNEL)
		for (i = 0; i < src->u.k.nparams; i++)
			dst->argv[i] = dst->argbuf + ((unsigned char *)src->argv[i] - src->argbuf);
}

/* Queues op on s with s->mu held; returns its seq. */
static uint64_t push_locked(struct CUstream_st *s, struct sim_op *op)
{
	op->seq = atomic_load_explicit(&s->submitted, memory_order_relaxed) + 1;
	op->next = NULL;
	if (s->tail)
		s->tail->next = op;
	else
		s->head = op;
	s->tail = op;
	atomic_store_explicit(&s->submitted, op->seq, memory_order_release);
	if (s->idle)
		pthread_cond_signal(&s->work_cv);
	return op->seq;
}

static CUresult push_wait(struct CUstream_st *s, struct CUstream_st *t, uint64_t seq)
{
	struct sim_op *op = op_get(s);

	if (!op)
		return CUDA_ERROR_OUT_OF_MEMORY;
	op->kind = OP_WAIT;
	op->u.wait.s = t;
	op->u.wait.seq = seq;
	pthread_mutex_lock(&s->mu);
	push_locked(s, op);
	pthread_mutex_unlock(&s->mu);
	return CUDA_SUCCESS;
}

/* The legacy stream's implicit ordering with blocking streams. */
static CUresult legacy_deps(struct CUstream_st *s)
{
	CUresult err = CUDA_SUCCESS;

	if (s->legacy) {
		struct CUstream_st *t;

		pthread_mutex_lock(&streams_mu);
		for (t = streams; t && !err; t = t->next_all) {
			uint64_t sub;

			if (t == s || !t->blocking)
				continue;
			sub = atomic_load_explicit(&t->submitted, memory_order_acquire);
			if (atomic_load_explicit(&t->completed, memory_order_acquire) < sub)
				err = push_wait(s, t, sub);
		}
		pthread_mutex_unlock(&streams_mu);
	} else if (s->blocking) {
		uint64_t sub = atomic_load_explicit(&legacy->submitted, memory_order_acquire);

		if (sub > s->legacy_seen &&
		    atomic_load_explicit(&legacy->completed, memory_order_acquire) < sub) {
			err = push_wait(s, legacy, sub);
			s->legacy_seen = sub;
		}
	}
	return err;
}

/*
 * Queues op on s (or appends it to s's capture); op was taken from s's free
 * list. *seq gets its place in the queue (0 when captured).
 */
static CUresult submit(struct CUstream_st *s, struct sim_op *op, uint64_t *seq)
{
	CUresult err;
	uint64_t q;

	pthread_mutex_lock(&s->mu);
	if (s->capture) {
		struct CUgraph_st *g = s->capture;
		struct sim_op *node;

		if (op->kind == OP_RECORD || op->kind == OP_WAIT || op->kind == OP_GRAPH ||
		    op->kind == OP_FREE) {
			pthread_mutex_unlock(&s->mu);
			op_put(s, op);
			if (seq)
				*seq = 0;
			return CUDA_SUCCESS;
		}
		if (g->n == g->cap) {
			size_t ncap = g->cap ? g->cap * 2 : 32;
			struct sim_op **nn = realloc(g->nodes, ncap * sizeof(*nn));

			if (!nn) {
				pthread_mutex_unlock(&s->mu);
				op_put(s, op);
				return CUDA_ERROR_OUT_OF_MEMORY;
			}
			g->nodes = nn;
			g->cap = ncap;
		}
		node = malloc(sizeof(*node));
		if (!node) {
			pthread_mutex_unlock(&s->mu);
			op_put(s, op);
			return CUDA_ERROR_OUT_OF_MEMORY;
		}
		op_copy(node, op);
		g->nodes[g->n++] = node;
		pthread_mutex_unlock(&s->mu);
		op_put(s, op);
		if (seq)
			*seq = 0;
		return CUDA_SUCCESS;
	}
	pthread_mutex_unlock(&s->mu);

	if (s->legacy && global_captures) {
		op_put(s, op);
		return CUDA_ERROR_STREAM_CAPTURE_IMPLICIT;
	}
	err = legacy_deps(s);
	if (err) {
		op_put(s, op);
		return err;
	}
	pthread_mutex_lock(&s->mu);
	q = push_locked(s, op);
	pthread_mutex_unlock(&s->mu);
	if (seq)
		*seq = q;
	return CUDA_SUCCESS;
}

/* Synchronous calls on a capturing stream end that capture, as in CUDA. */
static CUresult sync_stream(struct CUstream_st *s)
{
	pthread_mutex_lock(&s->mu);
	if (s->capture) {
		s->cap_invalid = true;
		pthread_mutex_unlock(&s->mu);
		return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
	}
	pthread_mutex_unlock(&s->mu);
	if (s->legacy) {
		/* legacy sync waits for the blocking streams its queue waits on */
		stream_wait_seq(s, atomic_load(&s->submitted));
	}
	stream_wait_seq(s, atomic_load(&s->submitted));
	return CUDA_SUCCESS;
}

static CUresult core_stream_sync(CUstream h, bool ptds)
{
	struct CUstream_st *s;
	CUresult err = stream_get(h, ptds, &s);

	if (err)
		return err;
	if (s->legacy) {
		/* queue the implicit waits so that synchronising covers them */
		if (global_captures)
			return CUDA_ERROR_STREAM_CAPTURE_IMPLICIT;
		if ((err = legacy_deps(s)))
			return err;
	}
	return sync_stream(s);
}

static CUresult core_stream_query(CUstream h, bool ptds)
{
	struct CUstream_st *s;
	CUresult err = stream_get(h, ptds, &s);

	if (err)
		return err;
	return atomic_load(&s->completed) >= atomic_load(&s->submitted) ?
		CUDA_SUCCESS : CUDA_ERROR_NOT_READY;
}

static CUresult core_device_sync(void)
{
	struct CUstream_st *t;
	CUresult err = core_init();

	if (err)
		return err;
	pthread_mutex_lock(&streams_mu);
	if (global_captures) {
		pthread_mutex_unlock(&streams_mu);
		return CUDA_ERROR_STREAM_CAPTURE_IMPLICIT;
	}
	/* streams cannot be freed while streams_mu is held */
	for (t = streams; t; t = t->next_all)
		stream_wait_seq(t, atomic_load(&t->submitted));
	pthread_mutex_unlock(&streams_mu);
	return CUDA_SUCCESS;
}

static CUresult core_stream_create(CUstream *out, unsigned int flags, int prio)
{
	CUresult err = core_init();
	struct CUstream_st *s;

	if (err)
		return err;
	if (!out || (flags & ~(unsigned int)CU_STREAM_NON_BLOCKING))
		return CUDA_ERROR_INVALID_VALUE;
	s = stream_new(flags, prio, false);
	if (!s)
		return CUDA_ERROR_OUT_OF_MEMORY;
	*out = s;
	return CUDA_SUCCESS;
}

static CUresult core_stream_destroy(CUstream h)
{
	if (!h || h == CU_STREAM_LEGACY || h == CU_STREAM_PER_THREAD || h == legacy)
		return CUDA_ERROR_INVALID_HANDLE;
	if (!handle_del(h, H_STREAM))
		return CUDA_ERROR_INVALID_HANDLE;
	stream_free(h);
	return CUDA_SUCCESS;
}

static CUresult core_stream_flags(CUstream h, bool ptds, unsigned int *flags)
{
	struct CUstream_st *s;
	CUresult err = stream_get(h, ptds, &s);

	if (err)
		return err;
	if (!flags)
		return CUDA_ERROR_INVALID_VALUE;
	*flags = s->flags;
	return CUDA_SUCCESS;
}

/* ---- memory ---- */

static CUresult core_mem_free(void *p, enum sim_mem_kind kind)
{
	CUresult err;

	if (!p)
		return CUDA_SUCCESS;
	if (mem_kind(p, NULL, NULL) != (int)kind)
		return CUDA_ERROR_INVALID_VALUE;
	/* CUDA's free waits for the device: queued work may still use p */
	err = core_device_sync();
	if (err)
		return err;
	return mem_release(p, kind);
}

static CUresult core_mem_free_async(void *p, CUstream h, bool ptds)
{
	struct CUstream_st *s;
	struct sim_op *op;
	void *base;
	CUresult err = stream_get(h, ptds, &s);

	if (err)
		return err;
	if (!p)
		return CUDA_SUCCESS;
	if (mem_kind(p, &base, NULL) != SIM_MEM_DEVICE || base != p)
		return CUDA_ERROR_INVALID_VALUE;
	if (!(op = op_get(s)))
		return CUDA_ERROR_OUT_OF_MEMORY;
	op->kind = OP_FREE;
	op->u.fr.p = p;
	return submit(s, op, NULL);
}

static CUresult core_mem_alloc_async(void **p, size_t n, CUstream h, bool ptds)
{
	struct CUstream_st *s;
	CUresult err = stream_get(h, ptds, &s);

	if (err)
		return err;
	/* allocation is immediate; stream order only matters for the free */
	return mem_alloc(p, n, SIM_MEM_DEVICE);
}

/* The kinds one side of a copy may have under a cudaMemcpyKind. */
static bool side_ok(int kind, bool want_device)
{
	if (kind < 0)
		return false;
	return want_device ? kind == SIM_MEM_DEVICE : kind != SIM_MEM_DEVICE;
}

static CUresult core_copy(void *dst, size_t dpitch, const void *src, size_t spitch,
			  size_t width, size_t height, int kind, CUstream h,
			  bool ptds, bool sync)
{
	struct CUstream_st *s;
	struct sim_op *op;
	size_t dspan, sspan;
	int dk, sk;
	CUresult err = stream_get(h, ptds, &s);

	if (err)
		return err;
	if (width == 0 || height == 0)
		return CUDA_SUCCESS;
	if (!dst || !src || (height > 1 && (dpitch < width || spitch < width)))
		return CUDA_ERROR_INVALID_VALUE;
	if (height > 1 && ((height - 1) > (SIZE_MAX - width) / dpitch ||
			   (height - 1) > (SIZE_MAX - width) / spitch))
		return CUDA_ERROR_INVALID_VALUE;
	dspan = (height - 1) * dpitch + width;
	sspan = (height - 1) * spitch + width;
	dk = mem_range((uintptr_t)dst, dspan);
	sk = mem_range((uintptr_t)src, sspan);
	if (dk < 0 || sk < 0)
		return CUDA_ERROR_INVALID_VALUE;
	switch (kind) {
	case cudaMemcpyHostToHost:
		err = side_ok(sk, false) && side_ok(dk, false) ? 0 : CUDA_ERROR_INVALID_VALUE;
		break;
	case cudaMemcpyHostToDevice:
		err = side_ok(sk, false) && side_ok(dk, true) ? 0 : CUDA_ERROR_INVALID_VALUE;
		break;
	case cudaMemcpyDeviceToHost:
		err = side_ok(sk, true) && side_ok(dk, false) ? 0 : CUDA_ERROR_INVALID_VALUE;
		break;
	case cudaMemcpyDeviceToDevice:
		err = side_ok(sk, true) && side_ok(dk, true) ? 0 : CUDA_ERROR_INVALID_VALUE;
		break;
	case cudaMemcpyDefault:
		break;
	default:
		return (CUresult)cudaErrorInvalidMemcpyDirection;
	}
	if (err)
		return err;
	if (!(op = op_get(s)))
		return CUDA_ERROR_OUT_OF_MEMORY;
	op->kind = OP_COPY;
	op->u.cp.dst = dst;
	op->u.cp.src = src;
	op->u.cp.width = width;
	op->u.cp.height = height;
	op->u.cp.dpitch = height > 1 ? dpitch : width;
	op->u.cp.spitch = height > 1 ? spitch : width;
	if ((err = submit(s, op, NULL)))
		return err;
	return sync ? core_stream_sync(h, ptds) : CUDA_SUCCESS;
}

static CUresult core_set(void *dst, size_t pitch, unsigned int value, unsigned int esz,
			 size_t width, size_t height, CUstream h, bool ptds, bool sync)
{
	struct CUstream_st *s;
	struct sim_op *op;
	size_t rowbytes, span;
	CUresult err = stream_get(h, ptds, &s);

	if (err)
		return err;
	if (esz != 1 && esz != 2 && esz != 4)
		return CUDA_ERROR_INVALID_VALUE;
	if (width == 0 || height == 0)
		return CUDA_SUCCESS;
	if (!dst || width > SIZE_MAX / esz || ((uintptr_t)dst & (esz - 1)))
		return CUDA_ERROR_INVALID_VALUE;
	rowbytes = width * esz;
	if (height > 1 && (pitch < rowbytes || (height - 1) > (SIZE_MAX - rowbytes) / pitch))
		return CUDA_ERROR_INVALID_VALUE;
	span = (height - 1) * pitch + rowbytes;
	if (mem_range((uintptr_t)dst, span) != SIM_MEM_DEVICE)
		return CUDA_ERROR_INVALID_VALUE;
	if (!(op = op_get(s)))
		return CUDA_ERROR_OUT_OF_MEMORY;
	op->kind = OP_SET;
	op->u.set.dst = dst;
	op->u.set.val = value;
	op->u.set.esz = esz;
	op->u.set.width = width;
	op->u.set.height = height;
	op->u.set.pitch = height > 1 ? pitch : rowbytes;
	if ((err = submit(s, op, NULL)))
		return err;
	return sync ? core_stream_sync(h, ptds) : CUDA_SUCCESS;
}

/* ---- modules and launches ---- */

static CUresult core_module_load(CUmodule *out, const void *image)
{
	const struct sim_image *img = image;
	struct CUmod_st *m;
	CUresult err = core_init();

	if (err)
		return err;
	if (!out || !img)
		return CUDA_ERROR_INVALID_VALUE;
	if (img->magic != SIM_IMAGE_MAGIC || img->version != SIM_IMAGE_VERSION ||
	    (img->nkernels && !img->kernels))
		return CUDA_ERROR_INVALID_IMAGE;
	m = calloc(1, sizeof(*m));
	if (!m)
		return CUDA_ERROR_OUT_OF_MEMORY;
	m->funcs = calloc(img->nkernels ? img->nkernels : 1, sizeof(*m->funcs));
	if (!m->funcs || handle_add(m, H_MOD)) {
		free(m->funcs);
		free(m);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	pthread_mutex_init(&m->mu, NULL);
	m->img = img;
	*out = m;
	return CUDA_SUCCESS;
}

static CUresult core_module_unload(CUmodule m)
{
	uint32_t i;

	if (!handle_del(m, H_MOD))
		return CUDA_ERROR_INVALID_HANDLE;
	for (i = 0; i < m->img->nkernels; i++) {
		if (!m->funcs[i])
			continue;
		handle_del(m->funcs[i], H_FUNC);
		free(m->funcs[i]);
	}
	free(m->funcs);
	free(m);
	return CUDA_SUCCESS;
}

static CUresult core_module_function(CUfunction *out, CUmodule m, const char *name)
{
	const struct sim_image *img;
	CUresult err = CUDA_ERROR_NOT_FOUND;
	uint32_t i;

	if (!out || !name)
		return CUDA_ERROR_INVALID_VALUE;
	if (!handle_ok(m, H_MOD))
		return CUDA_ERROR_INVALID_HANDLE;
	img = m->img;
	pthread_mutex_lock(&m->mu);
	for (i = 0; i < img->nkernels; i++) {
		const struct sim_kernel_desc *d = &img->kernels[i];

		if (!d->name || strcmp(d->name, name))
			continue;
		if (!d->fn || d->nparams > SIM_MAX_PARAMS) {
			err = CUDA_ERROR_INVALID_IMAGE;
			break;
		}
		if (!m->funcs[i]) {
			struct CUfunc_st *f = calloc(1, sizeof(*f));

			if (!f || handle_add(f, H_FUNC)) {
				free(f);
				err = CUDA_ERROR_OUT_OF_MEMORY;
				break;
			}
			f->d = d;
			f->mod = m;
			m->funcs[i] = f;
		}
		*out = m->funcs[i];
		err = CUDA_SUCCESS;
		break;
	}
	pthread_mutex_unlock(&m->mu);
	return err;
}

static CUresult core_function_name(CUfunction f, const char **name)
{
	if (!name)
		return CUDA_ERROR_INVALID_VALUE;
	if (!handle_ok(f, H_FUNC))
		return CUDA_ERROR_INVALID_HANDLE;
	*name = f->d->name;
	return CUDA_SUCCESS;
}

static CUresult core_launch(CUfunction f, dim3 grid, dim3 block, size_t shmem,
			    CUstream h, bool ptds, void **params)
{
	const struct sim_kernel_desc *d;
	struct CUstream_st *s;
	struct sim_op *op;
	size_t off = 0;
	unsigned int i;
	CUresult err;

	if (!handle_ok(f, H_FUNC))
		return CUDA_ERROR_INVALID_HANDLE;
	if (!grid.x || !grid.y || !grid.z || !block.x || !block.y || !block.z ||
	    (uint64_t)block.x * block.y * block.z > 1024 || grid.y > 65535 || grid.z > 65535)
		return CUDA_ERROR_INVALID_VALUE;
	d = f->d;
	if (d->nparams && !params)
		return CUDA_ERROR_INVALID_VALUE;
	if ((err = stream_get(h, ptds, &s)))
		return err;
	if (!(op = op_get(s)))
		return CUDA_ERROR_OUT_OF_MEMORY;
	for (i = 0; i < d->nparams; i++) {
		size_t sz = d->param_size[i];
		size_t al = sz >= 8 ? 8 : sz >= 4 ? 4 : sz >= 2 ? 2 : 1;

		off = (off + al - 1) & ~(al - 1);
		if (!params[i] || sz > SIM_MAX_PARAM_BYTES - off) {
			op_put(s, op);
			return CUDA_ERROR_INVALID_VALUE;
		}
		memcpy(op->argbuf + off, params[i], sz);
		op->argv[i] = op->argbuf + off;
		off += sz;
	}
	op->kind = OP_KERNEL;
	op->u.k.fn = d->fn;
	op->u.k.grid = grid;
	op->u.k.block = block;
	op->u.k.shmem = shmem;
	op->u.k.nparams = d->nparams;
	return submit(s, op, NULL);
}

static CUresult core_host_func(CUstream h, bool ptds, void (*fn)(void *), void *arg)
{
	struct CUstream_st *s;
	struct sim_op *op;
	CUresult err;

	if (!fn)
		return CUDA_ERROR_INVALID_VALUE;
	if ((err = stream_get(h, ptds, &s)))
		return err;
	if (!(op = op_get(s)))
		return CUDA_ERROR_OUT_OF_MEMORY;
	op->kind = OP_HOST;
	op->u.host.fn = fn;
	op->u.host.arg = arg;
	return submit(s, op, NULL);
}

/* ---- events ---- */

static CUresult core_event_create(CUevent *out, unsigned int flags)
{
	struct CUevent_st *e;
	CUresult err = core_init();

	if (err)
		return err;
	if (!out)
		return CUDA_ERROR_INVALID_VALUE;
	if (flags & ~(unsigned int)(CU_EVENT_BLOCKING_SYNC | CU_EVENT_DISABLE_TIMING |
				     CU_EVENT_INTERPROCESS))
		return CUDA_ERROR_INVALID_VALUE;
	e = calloc(1, sizeof(*e));
	if (!e || handle_add(e, H_EVENT)) {
		free(e);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	pthread_mutex_init(&e->mu, NULL);
	e->flags = flags;
	*out = e;
	return CUDA_SUCCESS;
}

static CUresult core_event_destroy(CUevent e)
{
	if (!handle_del(e, H_EVENT))
		return CUDA_ERROR_INVALID_HANDLE;
	/* a queued record may still write the timestamp */
	pthread_mutex_lock(&e->mu);
	if (e->s)
		stream_wait_seq(e->s, e->seq);
	pthread_mutex_unlock(&e->mu);
	free(e);
	return CUDA_SUCCESS;
}

static CUresult core_event_record(CUevent e, CUstream h, bool ptds)
{
	struct CUstream_st *s;
	struct sim_op *op;
	uint64_t gen, seq;
	CUresult err;

	if (!handle_ok(e, H_EVENT))
		return CUDA_ERROR_INVALID_HANDLE;
	if ((err = stream_get(h, ptds, &s)))
		return err;
	if (!(op = op_get(s)))
		return CUDA_ERROR_OUT_OF_MEMORY;
	pthread_mutex_lock(&e->mu);
	gen = ++e->next_gen;
	pthread_mutex_unlock(&e->mu);
	op->kind = OP_RECORD;
	op->u.rec.ev = e;
	op->u.rec.gen = gen;
	if ((err = submit(s, op, &seq)))
		return err;
	pthread_mutex_lock(&e->mu);
	if (gen > e->gen) {
		e->gen = gen;
		e->s = seq ? s : NULL;
		e->seq = seq;
		e->recorded = true;
	}
	pthread_mutex_unlock(&e->mu);
	return CUDA_SUCCESS;
}

static bool event_done(struct CUevent_st *e, struct CUstream_st **s, uint64_t *seq)
{
	bool done;

	pthread_mutex_lock(&e->mu);
	*s = e->s;
	*seq = e->seq;
	done = !e->s || atomic_load(&e->s->completed) >= e->seq;
	pthread_mutex_unlock(&e->mu);
	return done;
}

static CUresult core_event_query(CUevent e)
{
	struct CUstream_st *s;
	uint64_t seq;

	if (!handle_ok(e, H_EVENT))
		return CUDA_ERROR_INVALID_HANDLE;
	return event_done(e, &s, &seq) ? CUDA_SUCCESS : CUDA_ERROR_NOT_READY;
}

static CUresult core_event_sync(CUevent e)
{
	struct CUstream_st *s;
	uint64_t seq;

	if (!handle_ok(e, H_EVENT))
		return CUDA_ERROR_INVALID_HANDLE;
	if (!event_done(e, &s, &seq))
		stream_wait_seq(s, seq);
	return CUDA_SUCCESS;
}

static CUresult core_event_elapsed(float *ms, CUevent a, CUevent b)
{
	struct CUstream_st *s;
	uint64_t seq, ta, tb;
	bool ok;

	if (!ms)
		return CUDA_ERROR_INVALID_VALUE;
	if (!handle_ok(a, H_EVENT) || !handle_ok(b, H_EVENT))
		return CUDA_ERROR_INVALID_HANDLE;
	if ((a->flags | b->flags) & CU_EVENT_DISABLE_TIMING)
		return CUDA_ERROR_INVALID_HANDLE;
	if (!event_done(a, &s, &seq) || !event_done(b, &s, &seq))
		return CUDA_ERROR_NOT_READY;
	pthread_mutex_lock(&a->mu);
	ok = a->recorded && a->s && a->time_gen == a->gen;
	ta = a->time_ns;
	pthread_mutex_unlock(&a->mu);
	pthread_mutex_lock(&b->mu);
	ok = ok && b->recorded && b->s && b->time_gen == b->gen;
	tb = b->time_ns;
	pthread_mutex_unlock(&b->mu);
	if (!ok)
		return CUDA_ERROR_INVALID_HANDLE;
	*ms = (float)((double)((int64_t)(tb - ta)) / 1e6);
	return CUDA_SUCCESS;
}

static CUresult core_stream_wait_event(CUstream h, bool ptds, CUevent e)
{
	struct CUstream_st *s, *es;
	uint64_t seq;
	CUresult err;

	if (!handle_ok(e, H_EVENT))
		return CUDA_ERROR_INVALID_HANDLE;
	if ((err = stream_get(h, ptds, &s)))
		return err;
	if (event_done(e, &es, &seq) || es == s)
		return CUDA_SUCCESS;
	pthread_mutex_lock(&s->mu);
	if (s->capture) {
		/* cross-stream capture (fork/join) is not supported */
		s->cap_invalid = true;
		pthread_mutex_unlock(&s->mu);
		return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
	}
	pthread_mutex_unlock(&s->mu);
	return push_wait(s, es, seq);
}

/* ---- graphs ---- */

static void graph_free(struct CUgraph_st *g)
{
	size_t i;

	if (!g)
		return;
	for (i = 0; i < g->n; i++)
		free(g->nodes[i]);
	free(g->nodes);
	free(g);
}

static CUresult core_capture_begin(CUstream h, bool ptds, int mode)
{
	struct CUstream_st *s;
	struct CUgraph_st *g;
	CUresult err;

	if ((err = stream_get(h, ptds, &s)))
		return err;
	if (s->legacy)
		return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
	if (mode != CU_STREAM_CAPTURE_MODE_GLOBAL && mode != CU_STREAM_CAPTURE_MODE_THREAD_LOCAL &&
	    mode != CU_STREAM_CAPTURE_MODE_RELAXED)
		return CUDA_ERROR_INVALID_VALUE;
	if (!(g = calloc(1, sizeof(*g))))
		return CUDA_ERROR_OUT_OF_MEMORY;
	pthread_mutex_lock(&streams_mu);
	pthread_mutex_lock(&s->mu);
	if (s->capture) {
		pthread_mutex_unlock(&s->mu);
		pthread_mutex_unlock(&streams_mu);
		free(g);
		return CUDA_ERROR_ILLEGAL_STATE;
	}
	s->capture = g;
	s->cap_mode = mode;
	s->cap_invalid = false;
	if (mode == CU_STREAM_CAPTURE_MODE_GLOBAL)
		global_captures++;
	pthread_mutex_unlock(&s->mu);
	pthread_mutex_unlock(&streams_mu);
	return CUDA_SUCCESS;
}

static CUresult core_capture_end(CUstream h, bool ptds, CUgraph *out)
{
	struct CUstream_st *s;
	struct CUgraph_st *g;
	bool invalid;
	CUresult err;

	if (!out)
		return CUDA_ERROR_INVALID_VALUE;
	*out = NULL;
	if ((err = stream_get(h, ptds, &s)))
		return err;
	pthread_mutex_lock(&streams_mu);
	pthread_mutex_lock(&s->mu);
	g = s->capture;
	if (!g) {
		pthread_mutex_unlock(&s->mu);
		pthread_mutex_unlock(&streams_mu);
		return CUDA_ERROR_ILLEGAL_STATE;
	}
	s->capture = NULL;
	invalid = s->cap_invalid;
	if (s->cap_mode == CU_STREAM_CAPTURE_MODE_GLOBAL)
		global_captures--;
	pthread_mutex_unlock(&s->mu);
	pthread_mutex_unlock(&streams_mu);
	if (invalid) {
		graph_free(g);
		return CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
	}
	if (handle_add(g, H_GRAPH)) {
		graph_free(g);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	*out = g;
	return CUDA_SUCCESS;
}

static CUresult core_capture_status(CUstream h, bool ptds, int *status)
{
	struct CUstream_st *s;
	CUresult err;

	if (!status)
		return CUDA_ERROR_INVALID_VALUE;
	if ((err = stream_get(h, ptds, &s)))
		return err;
	pthread_mutex_lock(&s->mu);
	*status = !s->capture ? CU_STREAM_CAPTURE_STATUS_NONE :
		  s->cap_invalid ? CU_STREAM_CAPTURE_STATUS_INVALIDATED :
		  CU_STREAM_CAPTURE_STATUS_ACTIVE;
	pthread_mutex_unlock(&s->mu);
	return CUDA_SUCCESS;
}

static CUresult core_graph_instantiate(CUgraphExec *out, CUgraph g)
{
	struct CUgraphExec_st *x;
	size_t i;

	if (!out)
		return CUDA_ERROR_INVALID_VALUE;
	if (!handle_ok(g, H_GRAPH))
		return CUDA_ERROR_INVALID_HANDLE;
	x = calloc(1, sizeof(*x));
	if (!x)
		return CUDA_ERROR_OUT_OF_MEMORY;
	x->nodes = calloc(g->n ? g->n : 1, sizeof(*x->nodes));
	if (!x->nodes || handle_add(x, H_EXEC)) {
		free(x->nodes);
		free(x);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	for (i = 0; i < g->n; i++)
		op_copy(&x->nodes[i], g->nodes[i]);
	x->n = g->n;
	pthread_mutex_init(&x->mu, NULL);
	pthread_cond_init(&x->cv, NULL);
	*out = x;
	return CUDA_SUCCESS;
}

static CUresult core_graph_launch(CUgraphExec x, CUstream h, bool ptds)
{
	struct CUstream_st *s;
	struct sim_op *op;
	CUresult err;

	if (!handle_ok(x, H_EXEC))
		return CUDA_ERROR_INVALID_HANDLE;
	if ((err = stream_get(h, ptds, &s)))
		return err;
	pthread_mutex_lock(&s->mu);
	if (s->capture) {
		/* child-graph nodes are not supported */
		s->cap_invalid = true;
		pthread_mutex_unlock(&s->mu);
		return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
	}
	pthread_mutex_unlock(&s->mu);
	if (!(op = op_get(s)))
		return CUDA_ERROR_OUT_OF_MEMORY;
	op->kind = OP_GRAPH;
	op->u.graph.x = x;
	pthread_mutex_lock(&x->mu);
	x->inflight++;
	pthread_mutex_unlock(&x->mu);
	if ((err = submit(s, op, NULL))) {
		pthread_mutex_lock(&x->mu);
		x->inflight--;
		pthread_mutex_unlock(&x->mu);
	}
	return err;
}

static CUresult core_graph_destroy(CUgraph g)
{
	if (!handle_del(g, H_GRAPH))
		return CUDA_ERROR_INVALID_HANDLE;
	graph_free(g);
	return CUDA_SUCCESS;
}

static CUresult core_graph_exec_destroy(CUgraphExec x)
{
	if (!handle_del(x, H_EXEC))
		return CUDA_ERROR_INVALID_HANDLE;
	/* CUDA lets queued launches finish before the executable goes */
	pthread_mutex_lock(&x->mu);
	while (x->inflight)
		pthread_cond_wait(&x->cv, &x->mu);
	pthread_mutex_unlock(&x->mu);
	free(x->nodes);
	free(x);
	return CUDA_SUCCESS;
}

static CUresult core_graph_node_count(CUgraph g, size_t *n)
{
	if (!n)
		return CUDA_ERROR_INVALID_VALUE;
	if (!handle_ok(g, H_GRAPH))
		return CUDA_ERROR_INVALID_HANDLE;
	*n = g->n;
	return CUDA_SUCCESS;
}

/* The registry, for the driver API's CUkernel handles (driver.c). */
__attribute__((visibility("hidden"))) int sim_core_handle_type(const void *p)
{
	return handle_type(p);
}

__attribute__((visibility("hidden"))) int sim_core_handle_add(const void *p, int type)
{
	return handle_add(p, type);
}

__attribute__((visibility("hidden"))) bool sim_core_handle_del(const void *p, int type)
{
	return handle_del(p, type);
}

API const struct sim_core_ops llminstr_sim_core = {
	.version = SIM_CORE_VERSION,
	.init = core_init,
	.mem_alloc = mem_alloc,
	.mem_free = core_mem_free,
	.mem_free_async = core_mem_free_async,
	.mem_alloc_async = core_mem_alloc_async,
	.mem_kind = mem_kind,
	.copy = core_copy,
	.set = core_set,
	.launch = core_launch,
	.host_func = core_host_func,
	.stream_create = core_stream_create,
	.stream_destroy = core_stream_destroy,
	.stream_sync = core_stream_sync,
	.stream_query = core_stream_query,
	.stream_flags = core_stream_flags,
	.stream_wait_event = core_stream_wait_event,
	.device_sync = core_device_sync,
	.event_create = core_event_create,
	.event_destroy = core_event_destroy,
	.event_record = core_event_record,
	.event_query = core_event_query,
	.event_sync = core_event_sync,
	.event_elapsed = core_event_elapsed,
	.capture_begin = core_capture_begin,
	.capture_end = core_capture_end,
	.capture_status = core_capture_status,
	.graph_instantiate = core_graph_instantiate,
	.graph_launch = core_graph_launch,
	.graph_destroy = core_graph_destroy,
	.graph_exec_destroy = core_graph_exec_destroy,
	.graph_node_count = core_graph_node_count,
	.module_load = core_module_load,
	.module_unload = core_module_unload,
	.module_function = core_module_function,
	.function_name = core_function_name,
	.mem_register = mem_register,
	.mem_unregister = mem_unregister,
	.mem_device_bytes = mem_device_bytes,
};
