// SPDX-License-Identifier: MIT
/*
 * The shared capture ring (ring.h): the memfd through which the agent in the
 * program hands tensors to llminstr-trace. Both sides link this file; the
 * agent produces, the tracer consumes.
 *
 * Two monotonic counters per side (slots and data bytes) are the whole
 * protocol: the producer owns prod_seq / prod_pos, the consumer cons_seq /
 * cons_pos, and each slot's state word hands the slot back and forth. No
 * lock is shared between the processes; the only blocking is the
 * producer's optional futex wait for the consumer to release something.
 *
 * The producer does not trust the consumer's counters either: whatever they
 * say, a reservation never leaves the data area (the offset is taken modulo
 * its size and a reservation never crosses its end), so a confused tracer
 * can lose tensors but cannot make the program write outside the mapping.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "agent/llminstr.h"
#include "agent/ring.h"

/* Every tensor's bytes start on this boundary (a row of floats stays
 * aligned for the coder's vector loads; and a cache line of its own). */
#define RING_ALIGN	64u
#define RING_PAGE	4096u
#define RING_MAX_SLOTS	(1u << 24)
#define RING_MAX_DATA	((uint64_t)1 << 46)

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static bool pow2(uint32_t n)
{
	return n && !(n & (n - 1));
}

static uint64_t data_off_for(uint32_t nslots)
{
	uint64_t end = LLMI_RING_HDR_BYTES + (uint64_t)nslots * sizeof(struct llmi_ring_slot);

	return (end + RING_PAGE - 1) & ~(uint64_t)(RING_PAGE - 1);
}

size_t llmi_ring_bytes(uint64_t data_size, uint32_t nslots)
{
	uint64_t total;

	if (!data_size || data_size > RING_MAX_DATA || nslots < 2 || nslots > RING_MAX_SLOTS ||
	    !pow2(nslots))
		return 0;
	data_size = (data_size + RING_PAGE - 1) & ~(uint64_t)(RING_PAGE - 1);
	total = data_off_for(nslots) + data_size;
	if (total > SIZE_MAX)
		return 0;
	return (size_t)total;
}

static void ring_map(struct llmi_ring *r, void *mem)
{
	struct llmi_ring_hdr *h = mem;

	r->hdr = h;
	r->slots = (struct llmi_ring_slot *)((uint8_t *)mem + h->slot_off);
	r->data = (uint8_t *)mem + h->data_off;
	r->data_size = h->data_size;
	r->nslots = h->nslots;
}

int llmi_ring_init(struct llmi_ring *r, void *mem, size_t len, uint64_t data_size,
		   uint32_t nslots)
{
	size_t need = llmi_ring_bytes(data_size, nslots);
	struct llmi_ring_hdr *h = mem;

	if (!r || !mem || !need || len < need)
		return -EINVAL;
	memset(mem, 0, LLMI_RING_HDR_BYTES + (size_t)nslots * sizeof(struct llmi_ring_slot));
	h->magic = LLMI_RING_MAGIC;
	h->version = LLMI_RING_VERSION;
	h->total_bytes = need;
	h->slot_off = LLMI_RING_HDR_BYTES;
	h->data_off = data_off_for(nslots);
	h->data_size = need - h->data_off;
	h->nslots = nslots;
	strcpy(h->drops[LLMI_RING_DROP_NAMES].name, "(other)");
	ring_map(r, mem);
	return 0;
}

int llmi_ring_attach(struct llmi_ring *r, void *mem, size_t len)
{
	struct llmi_ring_hdr *h = mem;
	uint64_t ps, cs, pp, cp;

	if (!r || !mem || len < LLMI_RING_HDR_BYTES)
		return -EPROTO;
	if (h->magic != LLMI_RING_MAGIC || h->version != LLMI_RING_VERSION)
		return -EPROTO;
	if (h->total_bytes != len || h->slot_off != LLMI_RING_HDR_BYTES)
		return -EPROTO;
	if (h->nslots < 2 || h->nslots > RING_MAX_SLOTS || !pow2(h->nslots))
		return -EPROTO;
	if (h->data_off < data_off_for(h->nslots) || h->data_off % RING_ALIGN ||
	    !h->data_size || h->data_size % RING_ALIGN || h->data_off > len ||
	    h->data_size > len - h->data_off)
		return -EPROTO;
	/* counters a fresh or a consistent ring can have */
	ps = atomic_load(&h->prod_seq);
	cs = atomic_load(&h->cons_seq);
	pp = atomic_load(&h->prod_pos);
	cp = atomic_load(&h->cons_pos);
	if (ps < cs || ps - cs > h->nslots || pp < cp || pp - cp > h->data_size)
		return -EPROTO;
	ring_map(r, mem);
	return 0;
}

int llmi_ring_reserve(struct llmi_ring *r, uint64_t bytes, struct llmi_ring_slot **slot,
		      void **data)
{
	struct llmi_ring_hdr *h = r->hdr;
	uint64_t seq, pos, off, start, end, cons;
	struct llmi_ring_slot *s;

	if (bytes > r->data_size)
		return -E2BIG;
	seq = atomic_load_explicit(&h->prod_seq, memory_order_relaxed);
	/* pairs with the release store of cons_seq in llmi_ring_release() */
	if (seq - atomic_load_explicit(&h->cons_seq, memory_order_acquire) >= r->nslots)
		return -EAGAIN;
	s = &r->slots[seq & (r->nslots - 1)];
	if (atomic_load_explicit(&s->state, memory_order_acquire) != LLMI_SLOT_FREE)
		return -EAGAIN;	/* a consumer that advanced cons_seq too early */

	pos = atomic_load_explicit(&h->prod_pos, memory_order_relaxed);
	pos = (pos + RING_ALIGN - 1) & ~(uint64_t)(RING_ALIGN - 1);
	off = pos % r->data_size;
	start = off + bytes > r->data_size ? pos + (r->data_size - off) : pos;
	end = start + bytes;
	cons = atomic_load_explicit(&h->cons_pos, memory_order_acquire);
	if (end - cons > r->data_size)
		return -EAGAIN;

	s->seq = seq;
	s->pos = start;
	s->bytes = bytes;
	atomic_store_explicit(&s->state, LLMI_SLOT_RESERVED, memory_order_relaxed);
	atomic_store_explicit(&h->prod_pos, end, memory_order_relaxed);
	/* the consumer reads prod_seq before looking at the slot */
	atomic_store_explicit(&h->prod_seq, seq + 1, memory_order_release);
	*slot = s;
	*data = r->data + start % r->data_size;
	return 0;
}

void llmi_ring_publish(struct llmi_ring *r, struct llmi_ring_slot *s, bool ok)
{
	s->ready_ns = now_ns();
	if (ok) {
		atomic_fetch_add_explicit(&r->hdr->taken, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&r->hdr->taken_bytes, s->bytes, memory_order_relaxed);
	}
	/* the bytes and fields before the state: pairs with peek's acquire */
	atomic_store_explicit(&s->state, ok ? LLMI_SLOT_READY : LLMI_SLOT_FAILED,
			      memory_order_release);
}

static long futex(_Atomic uint32_t *uaddr, int op, uint32_t val, const struct timespec *ts)
{
	/* not FUTEX_PRIVATE_FLAG: the word is in memory shared by two processes */
	return syscall(SYS_futex, (uint32_t *)uaddr, op, val, ts, NULL, 0);
}

int llmi_ring_wait_space(struct llmi_ring *r, uint32_t seen, int timeout_ms)
{
	struct timespec ts = { timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L };

	if (futex(&r->hdr->space_futex, FUTEX_WAIT, seen, timeout_ms < 0 ? NULL : &ts) < 0 &&
	    errno == ETIMEDOUT)
		return -ETIMEDOUT;
	return 0;	/* woken, the word moved already (EAGAIN) or a signal (EINTR) */
}

/*
 * Drop counts by name. Only the agent writes the table, from any of its
 * threads, without a lock (a lock held by another thread at a fork would
 * stay held in the child): an entry is claimed by moving name[0] from 0 to
 * LLMI_RING_DROP_BUSY, filled, then given its first byte with release
 * order. A reader sees an entry once name[0] is neither 0 nor BUSY.
 */
static struct llmi_ring_drops *drops_entry(struct llmi_ring_hdr *h, const char *name)
{
	size_t len = strnlen(name, LLMI_RING_NAME_MAX);
	struct llmi_ring_drops *d;
	unsigned i;

	for (i = 0; len && i < LLMI_RING_DROP_NAMES; i++) {
		d = &h->drops[i];
		for (;;) {
			char c = __atomic_load_n(&d->name[0], __ATOMIC_ACQUIRE), z = 0;

			if (c == (char)LLMI_RING_DROP_BUSY) {
				sched_yield();	/* another thread is writing this entry */
				continue;
			}
			if (c)
				break;
			if (!__atomic_compare_exchange_n(&d->name[0], &z, (char)LLMI_RING_DROP_BUSY,
							 false, __ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE))
				continue;
			memcpy(d->name + 1, name + 1, len - 1);
			d->name[len] = '\0';
			__atomic_store_n(&d->name[0], name[0], __ATOMIC_RELEASE);
			return d;
		}
		if (!strncmp(d->name, name, len) && d->name[len] == '\0')
			return d;
	}
	d = &h->drops[LLMI_RING_DROP_NAMES];
	if (!__atomic_load_n(&d->name[0], __ATOMIC_ACQUIRE)) {
		memcpy(d->name + 1, "other)", sizeof("other)"));
		__atomic_store_n(&d->name[0], '(', __ATOMIC_RELEASE);
	}
	return d;
}

void llmi_ring_count_drop(struct llmi_ring *r, const char *name, enum llmi_drop_reason why)
{
	struct llmi_ring_drops *d;

	if ((unsigned)why >= LLMI_DROP_MAX)
		return;
	atomic_fetch_add_explicit(&r->hdr->dropped[why], 1, memory_order_relaxed);
	d = drops_entry(r->hdr, name ? name : "");
	atomic_fetch_add_explicit(&d->count[why], 1, memory_order_relaxed);
}

uint64_t llmi_ring_dtype_size(unsigned dtype)
{
	switch (dtype) {
	case LLMINSTR_F32:
		return 4;
	case LLMINSTR_BF16:
	case LLMINSTR_F16:
		return 2;
	default:
		return 0;
	}
}

/* Whether a READY slot describes a tensor that lies inside the data area. */
static bool slot_fits(const struct llmi_ring *r, const struct llmi_ring_slot *s)
{
	uint64_t off = s->pos % r->data_size, n = 1, esz = llmi_ring_dtype_size(s->dtype);
	unsigned i;

	if (s->flags & LLMI_SLOT_TOKENS)	/* int64 ids, no tensor dtype */
		esz = s->ndim == 1 ? 8 : 0;
	if (s->bytes > r->data_size || off + s->bytes > r->data_size)
		return false;
	if (s->name_len == 0 || s->name_len > LLMI_RING_NAME_MAX || s->name[s->name_len] ||
	    memchr(s->name, '\0', s->name_len))
		return false;
	if (s->ndim > LLMINSTR_MAX_DIMS || !esz)
		return false;
	for (i = 0; i < s->ndim; i++) {
		if (s->shape[i] && n > UINT64_MAX / s->shape[i])
			return false;
		n *= s->shape[i];
	}
	return n <= UINT64_MAX / esz && n * esz == s->bytes;
}

struct llmi_ring_slot *llmi_ring_peek(struct llmi_ring *r, uint64_t seq, void **data,
				      enum llmi_slot_state *state)
{
	struct llmi_ring_slot *s = &r->slots[seq & (r->nslots - 1)];
	uint32_t st;

	*data = NULL;
	*state = LLMI_SLOT_FREE;
	if (seq >= atomic_load_explicit(&r->hdr->prod_seq, memory_order_acquire) ||
	    seq < atomic_load_explicit(&r->hdr->cons_seq, memory_order_relaxed))
		return NULL;
	/* pairs with the release store in llmi_ring_publish() */
	st = atomic_load_explicit(&s->state, memory_order_acquire);
	if (st != LLMI_SLOT_READY && st != LLMI_SLOT_FAILED)
		return NULL;
	if (s->seq != seq || (st == LLMI_SLOT_READY && !slot_fits(r, s))) {
		*state = LLMI_SLOT_BAD;
		return s;
	}
	*state = st;
	if (st == LLMI_SLOT_READY)
		*data = r->data + s->pos % r->data_size;
	return s;
}

void llmi_ring_release(struct llmi_ring *r, uint64_t seq_end)
{
	struct llmi_ring_hdr *h = r->hdr;
	uint64_t seq = atomic_load_explicit(&h->cons_seq, memory_order_relaxed);
	uint64_t prod = atomic_load_explicit(&h->prod_seq, memory_order_acquire);
	uint64_t cpos = atomic_load_explicit(&h->cons_pos, memory_order_relaxed);
	uint64_t ppos = atomic_load_explicit(&h->prod_pos, memory_order_relaxed);

	if (seq_end > prod)
		seq_end = prod;
	if (seq_end <= seq)
		return;
	for (; seq < seq_end; seq++) {
		struct llmi_ring_slot *s = &r->slots[seq & (r->nslots - 1)];
		uint64_t end = s->pos + s->bytes;

		/* a slot's bytes end where the next one may begin; a slot
		 * whose numbers are implausible frees nothing */
		if (s->pos <= end && end >= cpos && end <= ppos)
			cpos = end;
		atomic_store_explicit(&s->state, LLMI_SLOT_FREE, memory_order_relaxed);
	}
	atomic_store_explicit(&h->cons_pos, cpos, memory_order_release);
	/* the FREE states before cons_seq: pairs with reserve's acquire */
	atomic_store_explicit(&h->cons_seq, seq_end, memory_order_release);
	atomic_fetch_add_explicit(&h->space_futex, 1, memory_order_release);
	futex(&h->space_futex, FUTEX_WAKE, INT_MAX, NULL);
}
