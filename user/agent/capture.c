// SPDX-License-Identifier: MIT
/*
 * The agent's public calls (llminstr.h) and the host half of a capture.
 *
 * Hot path: with no tracer attached, llminstr_capture() and
 * llminstr_selected() are one relaxed load of agent_g.on and a return; the
 * rest lives in functions of its own so that the dormant call needs no
 * stack frame. Everything else runs only while a tracer is attached.
 *
 * A host tensor is copied into its ring slot before the call returns. A
 * memcpy from a bad pointer would kill the program with SIGSEGV, so the
 * kernel checks the range first: madvise(MADV_POPULATE_READ) fails on
 * anything unmapped (ENOMEM) or unreadable (EINVAL) and faults in what is
 * swapped out, without copying; then a plain memcpy, about twice as fast
 * here as the kernel's copy. Without that advice (Linux < 5.14), and for
 * ranges it refuses, process_vm_readv() on this very process copies
 * instead, and reports an unreadable pointer as EFAULT.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>
#include "agent/agent.h"
#include "agent/llminstr.h"

#define API __attribute__((visibility("default")))
#define G (&agent_g)

/* The USDT semaphores (agent.h): the kernel counts attached probes here. */
unsigned short llminstr_enter_semaphore __attribute__((section(".probes")));
unsigned short llminstr_exit_semaphore __attribute__((section(".probes")));
unsigned short llminstr_capture_semaphore __attribute__((section(".probes")));
unsigned short llminstr_step_semaphore __attribute__((section(".probes")));

struct host_room {
	uint64_t bytes;
	struct llmi_ring_slot **slot;
	void **data;
	uint32_t seen;		/* the space futex, read before the try */
};

static int host_try(void *ctx)
{
	struct host_room *h = ctx;
	struct llmi_ring *r = &G->s.ring;

	/* read before trying: a release after the failed try moves it */
	h->seen = atomic_load_explicit(&r->hdr->space_futex, memory_order_acquire);
	return llmi_ring_reserve(r, h->bytes, h->slot, h->data);
}

static void host_wait(void *ctx)
{
	struct host_room *h = ctx;

	llmi_ring_wait_space(&G->s.ring, h->seen, AGENT_WAIT_MS);
}

int agent_host_reserve(uint64_t bytes, struct llmi_ring_slot **slot, void **data)
{
	struct host_room h = { .bytes = bytes, .slot = slot, .data = data };

	return agent_wait_room(host_try, host_wait, &h);
}

void agent_fill_slot(struct llmi_ring_slot *s, const struct agent_tensor *t, bool device)
{
	int i;

	s->dtype = (uint16_t)t->dtype;
	s->ndim = (uint16_t)t->ndim;
	for (i = 0; i < LLMINSTR_MAX_DIMS; i++)
		s->shape[i] = i < t->ndim ? (uint64_t)t->shape[i] : 0;
	s->step = t->step;
	s->stream = device ? (uint64_t)(uintptr_t)t->stream : 0;
	s->capture_ns = t->capture_ns;
	s->tid = (uint32_t)gettid();
	s->name_len = (uint32_t)t->name_len;
	memcpy(s->name, t->name, t->name_len);
	s->name[t->name_len] = '\0';
	s->flags = device ? LLMI_SLOT_DEVICE : 0;
	s->rank = atomic_load_explicit(&G->rank, memory_order_relaxed);
	if (s->rank >= 0)
		s->flags |= LLMI_SLOT_RANK;
	s->pos_first = s->pos_total = 0;
	s->pos_dim = 0;
	if (t->sliced) {
		s->flags |= LLMI_SLOT_SLICED;
		s->pos_first = t->pos_first;
		s->pos_total = t->pos_total;
		s->pos_dim = (uint32_t)t->pos_dim;
	}
}

/*
 * pos= of the spec: keeps the positions it names of the second-to-last
 * dimension, the tokens ([S, H], [B, S, H], [B, heads, S, D]). t->shape
 * then points at the kept shape, t->bytes is what is kept. Nothing for a
 * tensor of fewer than two dimensions, or a slice that keeps it whole.
 */
static void agent_slice(struct agent_tensor *t)
{
	uint64_t first, count, esz = llmi_ring_dtype_size((unsigned)t->dtype), outer = 1, row = esz;
	int d = t->ndim - 2;

	if (t->ndim < 2 || !llmi_cap_spec_pos(&G->s.spec, (uint64_t)t->shape[d], &first, &count))
		return;
	for (int i = 0; i < t->ndim; i++) {
		t->kept[i] = t->shape[i];
		if (i < d)
			outer *= (uint64_t)t->shape[i];
		else if (i > d)
			row *= (uint64_t)t->shape[i];
	}
	/* check_args bounded the whole product: these parts are smaller */
	t->kept[d] = (int64_t)count;
	t->sliced = true;
	t->pos_dim = d;
	t->pos_first = first;
	t->pos_count = count;
	t->pos_total = (uint64_t)t->shape[d];
	t->outer = outer;
	t->row_bytes = row;
	t->shape = t->kept;
	t->bytes = outer * count * row;
}

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif

/* Set once process_vm_readv() is refused here (seccomp, an old kernel). */
static atomic_int no_vm_readv;
/* 1: MADV_POPULATE_READ checks ranges here, -1: it does not, 0: not asked yet */
static atomic_int populate_ok;

/*
 * 0: every page of [p, p + n) is mapped readable and present; -EFAULT: it is
 * not mapped; 1: the kernel cannot tell this way (no such advice, or a range
 * it refuses, such as PROT_NONE): let process_vm_readv() decide.
 */
static int check_readable(const void *p, uint64_t n)
{
	uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t a = (uintptr_t)p & ~(pg - 1), e = ((uintptr_t)p + n + pg - 1) & ~(pg - 1);
	int ok = atomic_load_explicit(&populate_ok, memory_order_relaxed);

	if (ok < 0 || (uintptr_t)p + n < (uintptr_t)p)
		return 1;
	if (!ok) {
		/* a page we know is readable: this text */
		uintptr_t self = (uintptr_t)(void *)check_readable & ~(pg - 1);

		ok = madvise((void *)self, pg, MADV_POPULATE_READ) ? -1 : 1;
		atomic_store_explicit(&populate_ok, ok, memory_order_relaxed);
		if (ok < 0)
			return 1;
	}
	while (madvise((void *)a, e - a, MADV_POPULATE_READ)) {
		if (errno == EINTR)
			continue;
		return errno == ENOMEM || errno == EFAULT || errno == EHWPOISON ? -EFAULT : 1;
	}
	return 0;
}

/* Copies n bytes at src of this process to dst; -EFAULT if unreadable. */
static int read_own(void *dst, const void *src, uint64_t n)
{
	pid_t self = getpid();
	uint64_t done = 0;
	int rc = check_readable(src, n);

	if (rc <= 0) {
		if (!rc)
			memcpy(dst, src, n);
		return rc;
	}
	if (atomic_load_explicit(&no_vm_readv, memory_order_relaxed))
		goto plain;
	while (done < n) {
		struct iovec l = { (char *)dst + done, n - done };
		struct iovec r = { (char *)src + done, n - done };
		ssize_t k = process_vm_readv(self, &l, 1, &r, 1, 0);

		if (k > 0) {
			done += (uint64_t)k;
			continue;
		}
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && done == 0 && (errno == ENOSYS || errno == EPERM)) {
			atomic_store(&no_vm_readv, 1);
			goto plain;
		}
		return -EFAULT;
	}
	return 0;
plain:
	/* no way to check the pointer: the program gave it, it must be good */
	memcpy(dst, src, n);
	return 0;
}

static int capture_host(const struct agent_tensor *t)
{
	struct llmi_ring *r = &G->s.ring;
	struct llmi_ring_slot *s;
	void *data;
	int rc;

	pthread_mutex_lock(&G->res_mu);
	rc = agent_host_reserve(t->bytes, &s, &data);
	pthread_mutex_unlock(&G->res_mu);
	switch (rc) {
	case 0:
		break;
	case -E2BIG:
		llmi_ring_count_drop(r, t->name, LLMI_DROP_TOO_LARGE);
		return rc;
	case -ENOBUFS:
		llmi_ring_count_drop(r, t->name, LLMI_DROP_FULL);
		return rc;
	default:
		return 0;	/* -ECANCELED: the tracer left */
	}
	agent_fill_slot(s, t, false);
	AGENT_PROBE_CAPTURE(s->seq, t->name, 0, t->bytes, t->step);
	if (!t->sliced) {
		rc = read_own(data, t->ptr, t->bytes);
	} else {
		uint64_t n = t->pos_count * t->row_bytes;

		/* block by block: each block's kept rows are contiguous */
		rc = 0;
		for (uint64_t k = 0; k < t->outer && !rc && n; k++)
			rc = read_own((uint8_t *)data + k * n,
				      (const uint8_t *)t->ptr + agent_slice_src(t, k), n);
	}
	llmi_ring_publish(r, s, rc == 0);
	agent_notify();
	if (rc) {
		llmi_ring_count_drop(r, t->name, LLMI_DROP_ERROR);
		return rc;
	}
	return 1;
}

/* Argument checks, as llminstr.h lists them; fills t->bytes. */
static int check_args(struct agent_tensor *t)
{
	uint64_t n = 1, esz;
	int i;

	if (!t->name || !t->ptr)
		return -EINVAL;
	t->name_len = strnlen(t->name, LLMINSTR_NAME_MAX + 1);
	if (!t->name_len)
		return -EINVAL;
	if (t->name_len > LLMINSTR_NAME_MAX)
		return -ENAMETOOLONG;
	if (t->ndim < 0 || t->ndim > LLMINSTR_MAX_DIMS || (t->ndim && !t->shape))
		return -EINVAL;
	esz = llmi_ring_dtype_size((unsigned)t->dtype);
	if (!esz)
		return -ENOTSUP;
	for (i = 0; i < t->ndim; i++) {
		uint64_t d;

		if (t->shape[i] < 0)
			return -EINVAL;
		d = (uint64_t)t->shape[i];
		if (d && n > UINT64_MAX / d)
			return -EINVAL;
		n *= d;
	}
	if (n > UINT64_MAX / esz)
		return -EINVAL;
	t->bytes = n * esz;
	return 0;
}

static bool selected_locked(const char *name, uint64_t step)
{
	return atomic_load(&G->on) && G->s.live && llmi_cap_spec_step(&G->s.spec, step) &&
	       llmi_cap_spec_name(&G->s.spec, name);
}

__attribute__((noinline)) static int capture(const char *name, const void *ptr, int dtype,
					     int ndim, const int64_t *shape, void *stream)
{
	struct agent_tensor t = { .name = name, .ptr = ptr, .dtype = dtype, .ndim = ndim,
				  .shape = shape, .stream = stream };
	int rc;

	rc = check_args(&t);
	if (rc)
		return rc;
	t.step = atomic_load_explicit(&G->step, memory_order_relaxed);
	pthread_rwlock_rdlock(&G->sess_lock);
	if (!selected_locked(name, t.step)) {
		rc = 0;
		goto out;
	}
	t.capture_ns = agent_now_ns();
	agent_first_use();
	/* an empty tensor has no bytes to read, wherever it lives */
	rc = t.bytes ? agent_cuda_classify(&t) : 0;
	if (rc >= 0 && G->s.spec.pos) {
		agent_slice(&t);	/* after classify, which checks the whole tensor's range */
		if (!t.bytes)
			rc = 0;		/* nothing kept: nothing to read, wherever it lives */
	}
	if (rc < 0)
		llmi_ring_count_drop(&G->s.ring, name, LLMI_DROP_ERROR);
	else if (rc > 0) {
		AGENT_PROBE_ENTER();
		rc = agent_cuda_capture(&t);
		AGENT_PROBE_EXIT();
	}
	else
		rc = capture_host(&t);
out:
	pthread_rwlock_unlock(&G->sess_lock);
	return rc;
}

/* The step's token ids into the ring, as a host tensor is (capture_host). */
__attribute__((noinline)) static int tokens(const int64_t *ids, int64_t n)
{
	static const char name[] = "llminstr.tokens";
	struct llmi_ring *r = &G->s.ring;
	int64_t shape[1] = { n };
	struct agent_tensor t = { .name = name, .name_len = sizeof(name) - 1, .ptr = ids,
				  .ndim = 1, .shape = shape, .bytes = (uint64_t)n * 8 };
	struct llmi_ring_slot *s;
	void *data;
	int rc = 0;

	if (n < 0 || (n && !ids) || (uint64_t)n > UINT64_MAX / 8)
		return -EINVAL;
	t.step = atomic_load_explicit(&G->step, memory_order_relaxed);
	pthread_rwlock_rdlock(&G->sess_lock);
	if (!atomic_load(&G->on) || !G->s.live || !llmi_cap_spec_step(&G->s.spec, t.step))
		goto out;
	t.capture_ns = agent_now_ns();
	agent_first_use();
	pthread_mutex_lock(&G->res_mu);
	rc = agent_host_reserve(t.bytes, &s, &data);
	pthread_mutex_unlock(&G->res_mu);
	if (rc == -E2BIG || rc == -ENOBUFS) {
		llmi_ring_count_drop(r, name, rc == -E2BIG ? LLMI_DROP_TOO_LARGE : LLMI_DROP_FULL);
		goto out;
	}
	if (rc) {
		rc = 0;		/* the tracer left */
		goto out;
	}
	agent_fill_slot(s, &t, false);
	s->flags |= LLMI_SLOT_TOKENS;
	rc = read_own(data, ids, t.bytes);
	llmi_ring_publish(r, s, rc == 0);
	agent_notify();
	if (rc)
		llmi_ring_count_drop(r, name, LLMI_DROP_ERROR);
	else
		rc = 1;
out:
	pthread_rwlock_unlock(&G->sess_lock);
	return rc;
}

API int llminstr_tokens(const int64_t *ids, int64_t n)
{
	if (!atomic_load_explicit(&agent_g.on, memory_order_relaxed))
		return 0;
	return tokens(ids, n);
}

API int llminstr_capture(const char *name, const void *ptr, int dtype, int ndim,
			 const int64_t *shape, void *stream)
{
	/* dormant: this load is the whole cost */
	if (!atomic_load_explicit(&agent_g.on, memory_order_relaxed))
		return 0;
	return capture(name, ptr, dtype, ndim, shape, stream);
}

API void llminstr_step(uint64_t n)
{
	atomic_store_explicit(&agent_g.step, n, memory_order_relaxed);
	if (__builtin_expect(llminstr_step_semaphore, 0))
		STAP_PROBE1(llminstr, step, n);
}

__attribute__((noinline)) static int selected(const char *name)
{
	int yes;

	if (!name)
		return 0;
	pthread_rwlock_rdlock(&G->sess_lock);
	yes = selected_locked(name, atomic_load_explicit(&G->step, memory_order_relaxed));
	pthread_rwlock_unlock(&G->sess_lock);
	return yes;
}

API int llminstr_selected(const char *name)
{
	if (!atomic_load_explicit(&agent_g.on, memory_order_relaxed))
		return 0;
	return selected(name);
}

API int llminstr_set_rank(int rank, int world_size, int local_rank)
{
	if (rank < -1 || world_size < -1 || !world_size || local_rank < -1 ||
	    (rank >= 0 && world_size > 0 && rank >= world_size))
		return -EINVAL;
	atomic_store(&G->rank, rank);
	atomic_store(&G->world_size, world_size);
	atomic_store(&G->local_rank, local_rank);
	return 0;
}

API int llminstr_rank(int *world_size, int *local_rank)
{
	if (world_size)
		*world_size = atomic_load(&G->world_size);
	if (local_rank)
		*local_rank = atomic_load(&G->local_rank);
	return atomic_load(&G->rank);
}

API int llminstr_attached(void)
{
	return atomic_load_explicit(&agent_g.on, memory_order_relaxed);
}
