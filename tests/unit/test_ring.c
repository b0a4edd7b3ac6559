// SPDX-License-Identifier: MIT
/*
 * Unit tests of the shared capture ring (user/agent/ring.c): layout and
 * attach checks, wrap-around with contiguous bytes, full and never-fits,
 * out-of-order publishing consumed in order, slots with impossible fields
 * reported BAD, drop counts by name, and a producer and a consumer thread
 * moving 100k tensors of random sizes with their contents checked.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <cmocka.h>
#include "agent/llminstr.h"
#include "agent/ring.h"

struct mapped {
	void *mem;
	size_t len;
	struct llmi_ring r;
};

static void ring_new(struct mapped *m, uint64_t data_size, uint32_t nslots)
{
	m->len = llmi_ring_bytes(data_size, nslots);
	assert_true(m->len > 0);
	m->mem = mmap(NULL, m->len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(m->mem != MAP_FAILED);
	assert_int_equal(llmi_ring_init(&m->r, m->mem, m->len, data_size, nslots), 0);
}

static void ring_del(struct mapped *m)
{
	munmap(m->mem, m->len);
}

/* Fills the fields a READY slot must have to pass peek's checks. */
static void describe(struct llmi_ring_slot *s, const char *name, uint64_t bytes)
{
	s->dtype = bytes % 4 ? LLMINSTR_BF16 : LLMINSTR_F32;
	s->ndim = 1;
	s->shape[0] = bytes / (bytes % 4 ? 2 : 4);
	s->name_len = (uint32_t)strlen(name);
	memcpy(s->name, name, s->name_len + 1);
}

static void put(struct mapped *m, uint64_t bytes, uint8_t fill, struct llmi_ring_slot **out,
		void **data)
{
	struct llmi_ring_slot *s;
	void *d;

	assert_int_equal(llmi_ring_reserve(&m->r, bytes, &s, &d), 0);
	assert_int_equal(atomic_load(&s->state), LLMI_SLOT_RESERVED);
	memset(d, fill, bytes);
	describe(s, "t", bytes);
	if (out)
		*out = s;
	if (data)
		*data = d;
}

static void test_layout(void **state)
{
	struct mapped m;
	struct llmi_ring_hdr *h;

	assert_int_equal(llmi_ring_bytes(0, 8), 0);
	assert_int_equal(llmi_ring_bytes(4096, 3), 0);
	assert_int_equal(llmi_ring_bytes(4096, 1), 0);
	/* data rounded up to a page, after the header and the slots */
	assert_int_equal(llmi_ring_bytes(1, 8), LLMI_RING_HDR_BYTES + 4096 + 4096);
	ring_new(&m, 10000, 16);
	h = m.r.hdr;
	assert_int_equal(h->magic, LLMI_RING_MAGIC);
	assert_int_equal(h->version, LLMI_RING_VERSION);
	assert_int_equal(h->total_bytes, m.len);
	assert_int_equal(h->slot_off, LLMI_RING_HDR_BYTES);
	assert_int_equal(h->data_size, 12288);
	assert_int_equal(h->data_off % 4096, 0);
	assert_true(h->data_off >= h->slot_off + 16 * sizeof(struct llmi_ring_slot));
	assert_int_equal(h->data_off + h->data_size, m.len);
	assert_string_equal(h->drops[LLMI_RING_DROP_NAMES].name, "(other)");
	assert_int_equal(m.r.data_size, 12288);
	/* a mapping too small for what is asked */
	assert_int_equal(llmi_ring_init(&m.r, m.mem, m.len - 1, 10000, 16), -EINVAL);
	ring_del(&m);
}

static void test_attach_checks(void **state)
{
	struct mapped m;
	struct llmi_ring a;
	struct llmi_ring_hdr *h;

	ring_new(&m, 8192, 8);
	h = m.r.hdr;
	assert_int_equal(llmi_ring_attach(&a, m.mem, m.len), 0);
	assert_ptr_equal(a.data, m.r.data);
	assert_int_equal(a.nslots, 8);
	/* a mapping of another size than the header says */
	assert_int_equal(llmi_ring_attach(&a, m.mem, m.len - 4096), -EPROTO);
	assert_int_equal(llmi_ring_attach(&a, m.mem, 100), -EPROTO);
	h->magic ^= 1;
	assert_int_equal(llmi_ring_attach(&a, m.mem, m.len), -EPROTO);
	h->magic ^= 1;
	h->version = LLMI_RING_VERSION + 1;
	assert_int_equal(llmi_ring_attach(&a, m.mem, m.len), -EPROTO);
	h->version = LLMI_RING_VERSION;
	h->nslots = 6;
	assert_int_equal(llmi_ring_attach(&a, m.mem, m.len), -EPROTO);
	h->nslots = 1024;	/* slots that would run into the data area */
	assert_int_equal(llmi_ring_attach(&a, m.mem, m.len), -EPROTO);
	h->nslots = 8;
	h->data_size += 4096;	/* data beyond the mapping */
	assert_int_equal(llmi_ring_attach(&a, m.mem, m.len), -EPROTO);
	h->data_size -= 4096;
	atomic_store(&h->cons_seq, 5);	/* consumer ahead of the producer */
	assert_int_equal(llmi_ring_attach(&a, m.mem, m.len), -EPROTO);
	atomic_store(&h->cons_seq, 0);
	assert_int_equal(llmi_ring_attach(&a, m.mem, m.len), 0);
	ring_del(&m);
}

static void consume(struct mapped *m, uint64_t seq, uint64_t bytes, uint8_t fill)
{
	enum llmi_slot_state st;
	struct llmi_ring_slot *s;
	uint8_t *d;
	uint64_t i;

	s = llmi_ring_peek(&m->r, seq, (void **)&d, &st);
	assert_non_null(s);
	assert_int_equal(st, LLMI_SLOT_READY);
	assert_int_equal(s->bytes, bytes);
	for (i = 0; i < bytes; i++)
		if (d[i] != fill)
			fail_msg("slot %llu byte %llu is %u, not %u", (unsigned long long)seq,
				 (unsigned long long)i, d[i], fill);
}

static void test_wrap_around(void **state)
{
	struct llmi_ring_slot *s[4];
	struct mapped m;
	uint64_t i;
	void *d;

	ring_new(&m, 4096, 8);
	put(&m, 1000, 1, &s[0], NULL);
	put(&m, 1000, 2, &s[1], NULL);
	put(&m, 1000, 3, &s[2], NULL);
	assert_int_equal(s[0]->pos, 0);
	assert_int_equal(s[1]->pos, 1024);	/* 64-byte aligned starts */
	assert_int_equal(s[2]->pos, 2048);
	/* 1200 bytes do not fit before the end (3072 + 1200 > 4096): they would
	 * start at the beginning, which is still in use */
	assert_int_equal(llmi_ring_reserve(&m.r, 1200, &s[3], &d), -EAGAIN);
	for (i = 0; i < 3; i++)
		llmi_ring_publish(&m.r, s[i], true);
	consume(&m, 0, 1000, 1);
	consume(&m, 1, 1000, 2);
	llmi_ring_release(&m.r, 2);
	assert_int_equal(atomic_load(&m.r.hdr->cons_pos), 2024);
	/* now it starts at the area's beginning, all its bytes contiguous */
	put(&m, 1200, 4, &s[3], &d);
	assert_ptr_equal(d, m.r.data);
	assert_int_equal(s[3]->pos, 4096);
	llmi_ring_publish(&m.r, s[3], true);
	consume(&m, 2, 1000, 3);
	consume(&m, 3, 1200, 4);
	/* 2800 bytes at 5312 (area 1216..4016) cover the skipped tail
	 * (3072..4096), which stays used until slot 3 is released, although
	 * slot 2 before it is gone */
	assert_int_equal(llmi_ring_reserve(&m.r, 2800, &s[0], &d), -EAGAIN);
	llmi_ring_release(&m.r, 3);
	assert_int_equal(llmi_ring_reserve(&m.r, 2800, &s[0], &d), -EAGAIN);
	llmi_ring_release(&m.r, 4);
	put(&m, 2800, 5, &s[0], &d);
	assert_int_equal(s[0]->pos, 5312);	/* aligned end of slot 3 */
	assert_ptr_equal(d, m.r.data + 5312 - 4096);
	assert_int_equal(atomic_load(&m.r.hdr->taken), 4);
	assert_int_equal(atomic_load(&m.r.hdr->taken_bytes), 4200);
	ring_del(&m);
}

static void test_full_and_never_fits(void **state)
{
	struct llmi_ring_slot *s, *a, *b;
	struct mapped m;
	void *d;

	ring_new(&m, 4096, 2);
	/* more than the data area: never, whatever is released */
	assert_int_equal(llmi_ring_reserve(&m.r, 4097, &s, &d), -E2BIG);
	put(&m, 4096, 7, &a, NULL);
	assert_int_equal(llmi_ring_reserve(&m.r, 1, &s, &d), -EAGAIN);	/* no bytes */
	llmi_ring_publish(&m.r, a, true);
	consume(&m, 0, 4096, 7);
	llmi_ring_release(&m.r, 1);
	assert_int_equal(atomic_load(&m.r.hdr->space_futex), 1);
	put(&m, 0, 0, &a, NULL);	/* an empty tensor takes a slot, no bytes */
	put(&m, 16, 8, &b, NULL);
	assert_int_equal(llmi_ring_reserve(&m.r, 16, &s, &d), -EAGAIN);	/* no slot */
	llmi_ring_publish(&m.r, a, true);
	llmi_ring_publish(&m.r, b, true);
	consume(&m, 1, 0, 0);
	consume(&m, 2, 16, 8);
	llmi_ring_release(&m.r, 2);
	put(&m, 16, 9, &s, NULL);
	assert_int_equal(s->seq, 3);
	/* nothing to wait for: the wait ends on its timeout */
	assert_int_equal(llmi_ring_wait_space(&m.r, atomic_load(&m.r.hdr->space_futex), 1),
			 -ETIMEDOUT);
	/* a stale value returns at once */
	assert_int_equal(llmi_ring_wait_space(&m.r, 12345, 60000), 0);
	ring_del(&m);
}

static void test_out_of_order_publish(void **state)
{
	struct llmi_ring_slot *s[3], *p;
	enum llmi_slot_state st;
	struct mapped m;
	void *d;

	ring_new(&m, 8192, 4);
	put(&m, 100, 1, &s[0], NULL);
	put(&m, 200, 2, &s[1], NULL);
	put(&m, 300, 3, &s[2], NULL);
	assert_null(llmi_ring_peek(&m.r, 0, &d, &st));	/* reserved, not published */
	llmi_ring_publish(&m.r, s[2], true);
	llmi_ring_publish(&m.r, s[1], false);	/* a copy that failed */
	assert_null(llmi_ring_peek(&m.r, 0, &d, &st));
	llmi_ring_publish(&m.r, s[0], true);
	consume(&m, 0, 100, 1);
	p = llmi_ring_peek(&m.r, 1, &d, &st);
	assert_ptr_equal(p, s[1]);
	assert_int_equal(st, LLMI_SLOT_FAILED);
	assert_null(d);
	consume(&m, 2, 300, 3);
	assert_null(llmi_ring_peek(&m.r, 3, &d, &st));	/* never reserved */
	assert_int_equal(atomic_load(&m.r.hdr->taken), 2);
	llmi_ring_release(&m.r, 3);
	assert_null(llmi_ring_peek(&m.r, 0, &d, &st));	/* released */
	assert_int_equal(atomic_load(&m.r.hdr->cons_seq), 3);
	assert_int_equal(atomic_load(&s[0]->state), LLMI_SLOT_FREE);
	ring_del(&m);
}

static void expect_bad(struct mapped *m, struct llmi_ring_slot *s, uint64_t seq)
{
	enum llmi_slot_state st;
	void *d = (void *)1;

	llmi_ring_publish(&m->r, s, true);
	assert_ptr_equal(llmi_ring_peek(&m->r, seq, &d, &st), s);
	assert_int_equal(st, LLMI_SLOT_BAD);
	assert_null(d);
	llmi_ring_release(&m->r, seq + 1);
}

static void test_bad_slots(void **state)
{
	struct llmi_ring_slot *s;
	struct mapped m;
	uint64_t seq = 0;

	ring_new(&m, 4096, 4);
	put(&m, 64, 1, &s, NULL);
	s->pos = 4090;	/* its bytes would run past the area's end */
	expect_bad(&m, s, seq++);
	put(&m, 64, 1, &s, NULL);
	s->bytes = 8192;	/* longer than the area */
	s->shape[0] = 2048;
	expect_bad(&m, s, seq++);
	put(&m, 64, 1, &s, NULL);
	s->name_len = 300;
	expect_bad(&m, s, seq++);
	put(&m, 64, 1, &s, NULL);
	s->name_len = 0;
	expect_bad(&m, s, seq++);
	put(&m, 64, 1, &s, NULL);
	s->name[0] = 'x';
	s->name_len = 1;
	s->name[1] = 'y';	/* not NUL-terminated at name_len */
	expect_bad(&m, s, seq++);
	put(&m, 64, 1, &s, NULL);
	s->ndim = 9;
	expect_bad(&m, s, seq++);
	put(&m, 64, 1, &s, NULL);
	s->dtype = 99;
	expect_bad(&m, s, seq++);
	put(&m, 64, 1, &s, NULL);
	s->shape[0] = 15;	/* shape and bytes disagree */
	expect_bad(&m, s, seq++);
	put(&m, 64, 1, &s, NULL);
	s->seq = 12345;		/* not the slot of this sequence number */
	expect_bad(&m, s, seq++);
	/* after all that the ring still works */
	put(&m, 2048, 2, &s, NULL);
	llmi_ring_publish(&m.r, s, true);
	consume(&m, seq, 2048, 2);
	ring_del(&m);
}

static void test_drop_counts(void **state)
{
	struct llmi_ring_hdr *h;
	struct mapped m;
	char name[32];
	unsigned i;

	ring_new(&m, 4096, 2);
	h = m.r.hdr;
	llmi_ring_count_drop(&m.r, "blk.0.resid", LLMI_DROP_FULL);
	llmi_ring_count_drop(&m.r, "blk.0.resid", LLMI_DROP_FULL);
	llmi_ring_count_drop(&m.r, "blk.0.resid", LLMI_DROP_TOO_LARGE);
	llmi_ring_count_drop(&m.r, "logits", LLMI_DROP_ERROR);
	assert_string_equal(h->drops[0].name, "blk.0.resid");
	assert_int_equal(atomic_load(&h->drops[0].count[LLMI_DROP_FULL]), 2);
	assert_int_equal(atomic_load(&h->drops[0].count[LLMI_DROP_TOO_LARGE]), 1);
	assert_string_equal(h->drops[1].name, "logits");
	assert_int_equal(atomic_load(&h->drops[1].count[LLMI_DROP_ERROR]), 1);
	/* a name that is a prefix of a counted one is another name */
	llmi_ring_count_drop(&m.r, "blk.0", LLMI_DROP_FULL);
	assert_string_equal(h->drops[2].name, "blk.0");
	/* past LLMI_RING_DROP_NAMES names: "(other)" */
	for (i = 3; i < LLMI_RING_DROP_NAMES + 10; i++) {
		snprintf(name, sizeof(name), "n%u", i);
		llmi_ring_count_drop(&m.r, name, LLMI_DROP_FULL);
	}
	assert_string_equal(h->drops[LLMI_RING_DROP_NAMES - 1].name, "n127");
	assert_string_equal(h->drops[LLMI_RING_DROP_NAMES].name, "(other)");
	assert_int_equal(atomic_load(&h->drops[LLMI_RING_DROP_NAMES].count[LLMI_DROP_FULL]), 10);
	assert_int_equal(atomic_load(&h->dropped[LLMI_DROP_FULL]), 3 + LLMI_RING_DROP_NAMES + 7);
	assert_int_equal(atomic_load(&h->dropped[LLMI_DROP_ERROR]), 1);
	/* a known name still finds its own entry */
	llmi_ring_count_drop(&m.r, "logits", LLMI_DROP_ERROR);
	assert_int_equal(atomic_load(&h->drops[1].count[LLMI_DROP_ERROR]), 2);
	ring_del(&m);
}

/* ---- drop counts from several threads ---- */

static uint64_t rnd(uint64_t *x);

#define DROP_THREADS 4
#define DROPS_EACH 20000

static void *dropper(void *arg)
{
	struct llmi_ring *r = arg;
	uint64_t x = (uint64_t)(uintptr_t)&x | 1;
	char name[16];
	int i;

	for (i = 0; i < DROPS_EACH; i++) {
		snprintf(name, sizeof(name), "d%u", (unsigned)(rnd(&x) % 160));
		llmi_ring_count_drop(r, name, LLMI_DROP_FULL);
	}
	return NULL;
}

static void test_drop_counts_threads(void **state)
{
	pthread_t t[DROP_THREADS];
	struct mapped m;
	uint64_t sum = 0;
	unsigned i, j;

	ring_new(&m, 4096, 2);
	for (i = 0; i < DROP_THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, dropper, &m.r), 0);
	for (i = 0; i < DROP_THREADS; i++)
		pthread_join(t[i], NULL);
	/* every drop counted once, every name in one entry */
	for (i = 0; i <= LLMI_RING_DROP_NAMES; i++) {
		struct llmi_ring_drops *d = &m.r.hdr->drops[i];

		assert_true(d->name[0] && d->name[0] != (char)LLMI_RING_DROP_BUSY);
		sum += atomic_load(&d->count[LLMI_DROP_FULL]);
		for (j = 0; j < i; j++)
			if (!strcmp(d->name, m.r.hdr->drops[j].name))
				fail_msg("'%s' has two entries", d->name);
	}
	assert_int_equal(sum, DROP_THREADS * DROPS_EACH);
	assert_int_equal(atomic_load(&m.r.hdr->dropped[LLMI_DROP_FULL]), DROP_THREADS * DROPS_EACH);
	ring_del(&m);
}

/* ---- a producer and a consumer thread ---- */

#define NTENSORS 100000

struct pc {
	struct mapped m;
	atomic_int failed;
	char why[256];
	uint64_t waits;
};

static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* Tensor seq's length: mostly small, now and then up to half the area. */
static uint64_t len_of(uint64_t seq, uint64_t area)
{
	uint64_t x = seq * 0x9e3779b97f4a7c15ull + 1, r = rnd(&x);

	if (r % 97 == 0)
		return (r >> 8) % (area / 2) & ~(uint64_t)1;
	return (r >> 8) % 2048 & ~(uint64_t)1;
}

static uint32_t word_of(uint64_t seq, uint64_t i)
{
	return (uint32_t)(seq * 2654435761u) ^ (uint32_t)(i * 40503u);
}

static void *producer(void *arg)
{
	struct pc *pc = arg;
	uint64_t seq;

	for (seq = 0; seq < NTENSORS && !atomic_load(&pc->failed); seq++) {
		uint64_t n = len_of(seq, pc->m.r.data_size), i;
		struct llmi_ring_slot *s;
		char name[32];
		uint8_t *d;
		int rc;

		for (;;) {
			uint32_t seen = atomic_load(&pc->m.r.hdr->space_futex);

			rc = llmi_ring_reserve(&pc->m.r, n, &s, (void **)&d);
			if (rc != -EAGAIN || atomic_load(&pc->failed))
				break;
			pc->waits++;
			llmi_ring_wait_space(&pc->m.r, seen, 1000);
		}
		if (rc) {
			snprintf(pc->why, sizeof(pc->why), "reserve %llu: %d", (unsigned long long)seq, rc);
			atomic_store(&pc->failed, 1);
			break;
		}
		for (i = 0; i + 4 <= n; i += 4) {
			uint32_t w = word_of(seq, i);

			memcpy(d + i, &w, 4);
		}
		if (i < n)
			memcpy(d + i, "\xab\xcd", 2);
		snprintf(name, sizeof(name), "t%llu", (unsigned long long)seq);
		describe(s, name, n);
		s->step = seq;
		llmi_ring_publish(&pc->m.r, s, true);
	}
	return NULL;
}

static void *consumer(void *arg)
{
	struct pc *pc = arg;
	uint64_t seq = 0;

	while (seq < NTENSORS && !atomic_load(&pc->failed)) {
		enum llmi_slot_state st;
		struct llmi_ring_slot *s;
		uint8_t *d;
		char name[32];
		uint64_t n, i;

		s = llmi_ring_peek(&pc->m.r, seq, (void **)&d, &st);
		if (!s) {
			/* nothing new: hand back what is done, then look again */
			llmi_ring_release(&pc->m.r, seq);
			sched_yield();
			continue;
		}
		n = len_of(seq, pc->m.r.data_size);
		snprintf(name, sizeof(name), "t%llu", (unsigned long long)seq);
		if (st != LLMI_SLOT_READY || s->bytes != n || s->step != seq || strcmp(s->name, name)) {
			snprintf(pc->why, sizeof(pc->why), "slot %llu: state %d bytes %llu step %llu",
				 (unsigned long long)seq, st, (unsigned long long)s->bytes,
				 (unsigned long long)s->step);
			atomic_store(&pc->failed, 1);
			break;
		}
		for (i = 0; i + 4 <= n; i += 4) {
			uint32_t w;

			memcpy(&w, d + i, 4);
			if (w != word_of(seq, i))
				break;
		}
		if (i + 4 <= n || (i < n && memcmp(d + i, "\xab\xcd", 2))) {
			snprintf(pc->why, sizeof(pc->why), "slot %llu: bytes differ at %llu",
				 (unsigned long long)seq, (unsigned long long)i);
			atomic_store(&pc->failed, 1);
			break;
		}
		seq++;
		/* release in batches, as coder threads would */
		if (seq % 3 == 0 || seq == NTENSORS)
			llmi_ring_release(&pc->m.r, seq);
	}
	return NULL;
}

static void test_two_threads(void **state)
{
	struct pc *pc = calloc(1, sizeof(*pc));
	pthread_t p, c;

	assert_non_null(pc);
	ring_new(&pc->m, 256 << 10, 64);
	assert_int_equal(pthread_create(&c, NULL, consumer, pc), 0);
	assert_int_equal(pthread_create(&p, NULL, producer, pc), 0);
	pthread_join(p, NULL);
	pthread_join(c, NULL);
	if (atomic_load(&pc->failed))
		fail_msg("%s", pc->why);
	assert_int_equal(atomic_load(&pc->m.r.hdr->taken), NTENSORS);
	assert_int_equal(atomic_load(&pc->m.r.hdr->cons_seq), NTENSORS);
	assert_int_equal(atomic_load(&pc->m.r.hdr->cons_pos), atomic_load(&pc->m.r.hdr->prod_pos));
	printf("# 100k tensors moved; the producer waited for room %llu times\n",
	       (unsigned long long)pc->waits);
	ring_del(&pc->m);
	free(pc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_attach_checks),
		cmocka_unit_test(test_wrap_around),
		cmocka_unit_test(test_full_and_never_fits),
		cmocka_unit_test(test_out_of_order_publish),
		cmocka_unit_test(test_bad_slots),
		cmocka_unit_test(test_drop_counts),
		cmocka_unit_test(test_drop_counts_threads),
		cmocka_unit_test(test_two_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
