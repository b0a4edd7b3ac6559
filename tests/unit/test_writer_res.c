// SPDX-License-Identifier: MIT
/*
 * Tensor records coded in place (llmi_writer__tensor_begin, _commit,
 * _abort): the blob is written straight into the writer's extent. What a
 * user of the file checks: every record committed is there with its bytes,
 * checksums good, tensor ids and record numbers in order (the reader's
 * verify), and what was aborted is not there.
 *
 * - Thread mode and the default mode: reservations committed with blobs
 *   smaller than reserved, mixed with copied tensors and event batches; in
 *   thread mode alone, a reservation at the stream's end shrinks (no pad).
 * - A reservation that others appended after: its rest becomes a pad.
 * - Larger than an extent, or than the open extent's rest: -EMSGSIZE,
 *   nothing reserved, and the copying append takes the tensor.
 * - Failures in the middle: a bad record at commit (-EINVAL), an abort at
 *   the stream's end (taken back), an abort with records after it (appends
 *   fail, the file keeps what came before), the default mode's rules
 *   while a reservation is open (-EBUSY).
 * - Several threads reserving at once (thread mode; LLMI_WRITER_LOCKED),
 *   with another appending event batches.
 *
 * No test here times anything.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "format/reader.h"
#include "format/timeline.h"
#include "io/writer.h"
#include "diskdir.h"

#define EXT (64u * 1024)

static char dir[128];

static int setup(void **state)
{
	return diskdir_make(dir, sizeof(dir), "wres");
}

static int teardown(void **state)
{
	return diskdir_remove(dir);
}

static struct llmi_writer *open_w(const char *name, unsigned flags, char *path)
{
	/* a long commit interval: no commit pad comes between a reservation and its commit */
	struct llmi_writer_opts o = { .sz = sizeof(o), .writer = "test_writer_res",
				      .flags = LLMI_WRITER_QUIET | flags, .extent_size = EXT,
				      .nr_extents = 4, .commit_ms = 600000,
				      .owner_uid = (uid_t)-1, .owner_gid = (gid_t)-1 };

	snprintf(path, 256, "%s/%s", dir, name);
	return llmi_writer__new(path, &o);
}

static void fill(uint8_t *b, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		b[i] = seed >> 16;
	}
}

/* Tensor k of thread th: its layer says the thread, its step the number, its bytes both. */
static struct llmi_tensor_rec rec_of(int th, int k)
{
	return (struct llmi_tensor_rec){ .dtype = 1, .ndim = 1, .shape = { 1 }, .raw_bytes = 4,
					 .ref_tensor_id = LLMI_NO_REF, .layer = th, .step = k };
}

static size_t blob_len(int th, int k)
{
	return 1 + (size_t)((k * 7919 + th * 104729) % 9000);
}

#define MAX_BLOB 10000	/* what each reservation asks for */

/* A tensor through a reservation: 0, -EMSGSIZE (then copied) or the error. */
static int put_res(struct llmi_writer *w, int th, int k, bool *direct)
{
	struct llmi_tensor_rec t = rec_of(th, k);
	struct llmi_writer_res res;
	size_t n = blob_len(th, k);
	int err = llmi_writer__tensor_begin(w, "res", MAX_BLOB, &res);

	if (direct)
		*direct = !err;
	if (err == -EMSGSIZE) {
		uint8_t *b = malloc(n);

		assert_non_null(b);
		fill(b, n, th * 100000 + k);
		err = llmi_writer__tensor(w, &t, "res", b, n);
		free(b);
		return err;
	}
	if (err)
		return err;
	assert_non_null(res.blob);
	assert_int_equal(res.max_blob, MAX_BLOB);
	/* what a codec does: scribble on all it was given, then say what it used */
	memset(res.blob, 0xee, res.max_blob);
	fill(res.blob, n, th * 100000 + k);
	return llmi_writer__tensor_commit(w, &res, &t, n);
}

static int put_copy(struct llmi_writer *w, int th, int k)
{
	struct llmi_tensor_rec t = rec_of(th, k);
	size_t n = blob_len(th, k);
	uint8_t *b = malloc(n);
	int err;

	assert_non_null(b);
	fill(b, n, th * 100000 + k);
	err = llmi_writer__tensor(w, &t, "res", b, n);
	free(b);
	return err;
}

#define EV_SIZE sizeof(struct llmi_tl_event)
static int put_events(struct llmi_writer *w, int src, int k)
{
	static __thread struct llmi_tl_event ev[64];
	struct llmi_events_rec h = { .event_size = EV_SIZE, .abi_version = 1,
				     .count = 1 + k % 64, .first_ns = (uint64_t)src << 32 | (uint64_t)k };

	h.last_ns = h.first_ns;
	for (unsigned i = 0; i < h.count; i++)
		ev[i] = (struct llmi_tl_event){ .ts_ns = h.first_ns, .kind = LLMI_TL_API, .arg0 = i };
	return llmi_writer__events(w, &h, ev);
}

struct counts {
	int tensors[8];		/* per thread (layer) */
	int batches[8];		/* per source */
	int records;
};

/*
 * Reads path back; closed: verified (indexed, checksums, record numbers,
 * tensor ids in order), else only undamaged. Each thread's tensors come in
 * its order with its bytes.
 */
static void read_back(const char *path, bool closed, struct counts *c)
{
	struct llmi_verify_report rep;
	struct llmi_reader *r = llmi_reader__open(path, NULL, 0);

	memset(c, 0, sizeof(*c));
	assert_non_null(r);
	if (closed) {
		assert_true(llmi_reader__status(r)->indexed);
		if (llmi_reader__verify(r, &rep))
			fail_msg("%s: %s (record %llu at %llu)", path, rep.what,
				 (unsigned long long)rep.bad_seq, (unsigned long long)rep.bad_offset);
	} else {
		assert_false(llmi_reader_status_damaged(llmi_reader__status(r)));
	}
	for (size_t i = 0; i < llmi_reader__nr_records(r); i++) {
		unsigned type = llmi_reader__record(r, i)->type;
		size_t len;
		uint8_t *p, *want;

		assert_int_equal(llmi_reader__check(r, i, NULL, 0), 0);
		c->records++;
		if (type == LLMI_REC_TENSOR) {
			struct llmi_tensor_info ti;
			int th, k;

			assert_int_equal(llmi_reader__tensor(r, i, &ti), 0);
			assert_string_equal(ti.name, "res");
			th = ti.rec.layer;
			k = (int)ti.rec.step;
			assert_true(th >= 0 && th < 8);
			assert_int_equal(k, c->tensors[th]);
			c->tensors[th]++;
			assert_int_equal(ti.blob_len, blob_len(th, k));
			p = llmi_reader__load(r, i, &len);
			assert_non_null(p);
			want = malloc(ti.blob_len);
			fill(want, ti.blob_len, th * 100000 + k);
			assert_memory_equal(p + ti.blob_offset, want, ti.blob_len);
			free(want);
			free(p);
		} else if (type == LLMI_REC_EVENTS) {
			struct llmi_events_rec h;
			const void *ev;
			int src;

			p = llmi_reader__load(r, i, &len);
			assert_non_null(p);
			assert_int_equal(llmi_events_parse(p, len, &h, &ev), 0);
			src = (int)(h.first_ns >> 32);
			assert_true(src >= 0 && src < 8);
			assert_int_equal((int)(h.first_ns & 0xffffffff), c->batches[src]);
			c->batches[src]++;
			free(p);
		}
	}
	llmi_reader__free(r);
}

/*
 * One thread: reservations, copies and event batches in turn. In thread
 * mode a reservation that ends the stream shrinks, so there is no pad but
 * the commit interval's (none here) and close's.
 */
static void sequence(unsigned flags, const char *name)
{
	char path[256];
	struct llmi_writer *w = open_w(name, flags, path);
	struct llmi_writer_stats st;
	struct counts c;
	int direct = 0, copied = 0, ev = 0;

	assert_non_null(w);
	for (int k = 0; k < 300; k++) {
		if (k % 5 == 4) {
			assert_int_equal(put_copy(w, 0, k), 0);
			copied++;
		} else {
			bool d;

			assert_int_equal(put_res(w, 0, k, &d), 0);
			direct += d;
			copied += !d;
		}
		if (k % 7 == 0)
			assert_int_equal(put_events(w, 1, ev++), 0);
	}
	/* most fit the open extent's rest (10 KiB of 64 KiB) */
	assert_true(direct > 150);
	llmi_writer__stats(w, &st);
	assert_int_equal(st.sum.tensors, 300);
	assert_int_equal(st.pad_bytes, 0);
	assert_int_equal(llmi_writer__close(w), 0);
	llmi_writer__stats(w, &st);
	assert_int_equal(st.disk.tensors, 300);
	llmi_writer__free(w);
	read_back(path, true, &c);
	assert_int_equal(c.tensors[0], 300);
	assert_int_equal(c.batches[1], ev);
}

static void test_sequence(void **state)
{
	sequence(LLMI_WRITER_THREAD, "seq-thread.llmi");
	sequence(0, "seq-default.llmi");
	sequence(LLMI_WRITER_NO_URING, "seq-pwrite.llmi");
	sequence(LLMI_WRITER_THREAD | LLMI_WRITER_NO_DIRECT | LLMI_WRITER_NO_REGISTER,
		 "seq-thread-buffered.llmi");
}

/* Thread mode: an event batch placed while a tensor is coded: its rest is a pad. */
static void test_not_tail(void **state)
{
	char path[256];
	struct llmi_writer *w = open_w("pad.llmi", LLMI_WRITER_THREAD, path);
	struct llmi_tensor_rec t0 = rec_of(0, 0), t1 = rec_of(0, 1);
	struct llmi_writer_res a, b;
	struct llmi_writer_stats st;
	struct counts c;

	assert_non_null(w);
	assert_int_equal(llmi_writer__tensor_begin(w, "res", MAX_BLOB, &a), 0);
	assert_int_equal(put_events(w, 1, 0), 0);
	assert_int_equal(llmi_writer__tensor_begin(w, "res", MAX_BLOB, &b), 0);
	/* committed out of order: ids follow the stream, as begun */
	fill(b.blob, blob_len(0, 1), 1);
	assert_int_equal(llmi_writer__tensor_commit(w, &b, &t1, blob_len(0, 1)), 0);
	fill(a.blob, blob_len(0, 0), 0);
	assert_int_equal(llmi_writer__tensor_commit(w, &a, &t0, blob_len(0, 0)), 0);
	assert_int_equal(t0.tensor_id, 0);
	assert_int_equal(t1.tensor_id, 1);
	llmi_writer__stats(w, &st);
	assert_true(st.pad_bytes >= MAX_BLOB - blob_len(0, 0));	/* a's rest */
	assert_int_equal(llmi_writer__close(w), 0);
	llmi_writer__free(w);
	read_back(path, true, &c);
	assert_int_equal(c.tensors[0], 2);
	assert_int_equal(c.batches[1], 1);
}

/* Too large for an extent, or for the open one's rest: nothing reserved. */
static void too_large(unsigned flags, const char *name)
{
	char path[256];
	struct llmi_writer *w = open_w(name, flags, path);
	struct llmi_writer_res res;
	struct counts c;
	int k = 0;

	assert_non_null(w);
	assert_int_equal(llmi_writer__tensor_begin(w, "res", EXT, &res), -EMSGSIZE);
	assert_int_equal(llmi_writer__tensor_begin(w, "res", EXT - 100, &res), -EMSGSIZE);
	assert_int_equal(llmi_writer__tensor_begin(w, "res", SIZE_MAX, &res), -EMSGSIZE);
	assert_null(res.blob);
	/* the open extent half full: a reservation of 40 KiB no longer fits its rest */
	while (k < 4)
		assert_int_equal(put_copy(w, 0, k++), 0);	/* ~4 x 4.5 KiB */
	assert_int_equal(llmi_writer__tensor_begin(w, "res", 50000, &res), -EMSGSIZE);
	assert_int_equal(put_res(w, 0, k++, NULL), 0);	/* 10 KiB still fits */
	assert_int_equal(put_copy(w, 0, k++), 0);
	assert_int_equal(llmi_writer__close(w), 0);
	llmi_writer__free(w);
	read_back(path, true, &c);
	assert_int_equal(c.tensors[0], k);
}

static void test_too_large(void **state)
{
	too_large(LLMI_WRITER_THREAD, "large-thread.llmi");
	too_large(0, "large-default.llmi");
}

/* Bad record at commit, aborts at the end of the stream: nothing of them is left. */
static void undo(unsigned flags, const char *name)
{
	char path[256];
	struct llmi_writer *w = open_w(name, flags, path);
	struct llmi_tensor_rec bad = rec_of(0, 1);
	struct llmi_writer_res res;
	struct llmi_writer_stats st;
	struct counts c;

	assert_non_null(w);
	assert_int_equal(put_res(w, 0, 0, NULL), 0);
	assert_int_equal(llmi_writer__tensor_begin(w, "res", MAX_BLOB, &res), 0);
	bad.raw_bytes = 5;	/* one f32 is 4 bytes */
	assert_int_equal(llmi_writer__tensor_commit(w, &res, &bad, 10), -EINVAL);
	assert_int_equal(llmi_writer__tensor_commit(w, &res, &bad, 10), -EINVAL);	/* gone */
	assert_int_equal(llmi_writer__tensor_begin(w, "res", MAX_BLOB, &res), 0);
	{
		struct llmi_tensor_rec t = rec_of(0, 1);

		/* more than reserved */
		assert_int_equal(llmi_writer__tensor_commit(w, &res, &t, MAX_BLOB + 1), -EINVAL);
	}
	assert_int_equal(llmi_writer__tensor_begin(w, "res", MAX_BLOB, &res), 0);
	llmi_writer__tensor_abort(w, &res);
	llmi_writer__tensor_abort(w, &res);	/* twice: nothing more */
	assert_int_equal(put_res(w, 0, 1, NULL), 0);
	assert_int_equal(put_events(w, 1, 0), 0);
	assert_int_equal(put_res(w, 0, 2, NULL), 0);
	llmi_writer__stats(w, &st);
	assert_int_equal(st.sum.tensors, 3);
	assert_int_equal(st.error, 0);
	assert_int_equal(llmi_writer__close(w), 0);
	llmi_writer__free(w);
	read_back(path, true, &c);
	assert_int_equal(c.tensors[0], 3);
	assert_int_equal(c.records, 5);	/* and the events batch and the summary */
}

static void test_undo(void **state)
{
	undo(LLMI_WRITER_THREAD, "undo-thread.llmi");
	undo(0, "undo-default.llmi");
}

/*
 * Thread mode: a reservation given up after others were placed behind it.
 * Appends fail from then on, close reports it, and the file holds exactly
 * the records before it, intact.
 */
static void test_abort_middle(void **state)
{
	char path[256];
	struct llmi_writer *w = open_w("middle.llmi", LLMI_WRITER_THREAD, path);
	struct llmi_writer_res a, b;
	struct llmi_tensor_rec t = rec_of(0, 4);
	struct llmi_reader *r;
	struct counts c;

	assert_non_null(w);
	for (int k = 0; k < 4; k++)
		assert_int_equal(put_res(w, 0, k, NULL), 0);
	assert_int_equal(put_events(w, 1, 0), 0);
	assert_int_equal(llmi_writer__tensor_begin(w, "res", MAX_BLOB, &a), 0);
	assert_int_equal(llmi_writer__tensor_begin(w, "res", MAX_BLOB, &b), 0);
	assert_int_equal(put_events(w, 1, 1), 0);
	llmi_writer__tensor_abort(w, &a);
	assert_int_equal(put_events(w, 1, 2), -ECANCELED);
	assert_int_equal(put_copy(w, 0, 5), -ECANCELED);
	fill(b.blob, 10, 0);
	t.step = 5;
	llmi_writer__tensor_commit(w, &b, &t, 10);	/* placed after: lost with the rest */
	assert_int_equal(llmi_writer__close(w), -ECANCELED);
	llmi_writer__free(w);

	r = llmi_reader__open(path, NULL, 0);
	assert_non_null(r);
	assert_false(llmi_reader_status_damaged(llmi_reader__status(r)));
	llmi_reader__free(r);
	read_back(path, false, &c);
	assert_int_equal(c.tensors[0], 4);
	assert_int_equal(c.batches[1], 1);
	assert_int_equal(c.records, 5);
}

/* The default mode: one reservation at a time, and nothing else while it is open. */
static void test_default_rules(void **state)
{
	char path[256];
	struct llmi_writer *w = open_w("rules.llmi", 0, path);
	struct llmi_writer_res a, b;
	struct llmi_tensor_rec t = rec_of(0, 0);
	struct counts c;

	assert_non_null(w);
	assert_int_equal(llmi_writer__tensor_begin(w, "res", MAX_BLOB, &a), 0);
	assert_int_equal(llmi_writer__tensor_begin(w, "res", MAX_BLOB, &b), -EBUSY);
	assert_int_equal(put_events(w, 1, 0), -EBUSY);
	assert_int_equal(put_copy(w, 0, 0), -EBUSY);
	assert_int_equal(llmi_writer__flush(w), -EBUSY);
	assert_int_equal(llmi_writer__tick(w, UINT64_MAX / 2), 0);	/* leaves it alone */
	fill(a.blob, blob_len(0, 0), 0);
	assert_int_equal(llmi_writer__tensor_commit(w, &a, &t, blob_len(0, 0)), 0);
	assert_int_equal(put_events(w, 1, 0), 0);
	assert_int_equal(llmi_writer__flush(w), 0);
	/* close drops a reservation left open */
	assert_int_equal(llmi_writer__tensor_begin(w, "res", MAX_BLOB, &b), 0);
	assert_int_equal(llmi_writer__close(w), 0);
	llmi_writer__free(w);
	read_back(path, true, &c);
	assert_int_equal(c.tensors[0], 1);
	assert_int_equal(c.batches[1], 1);
}

struct app {
	struct llmi_writer *w;
	int th, n;
	bool events;
	int err;
};

static void *appender(void *p)
{
	struct app *a = p;

	for (int k = 0; k < a->n && !a->err; k++)
		a->err = a->events ? put_events(a->w, a->th, k) :
			 k % 3 == 2 ? put_copy(a->w, a->th, k) : put_res(a->w, a->th, k, NULL);
	return NULL;
}

/*
 * Four threads reserving, coding and committing at once (with a copy now
 * and then), a fifth appending event batches: every record is there, each
 * thread's in its order, ids and numbers in stream order.
 */
static void concurrent(unsigned flags, const char *name)
{
	char path[256];
	struct llmi_writer *w = open_w(name, flags, path);
	struct llmi_writer_stats st;
	struct app a[5];
	pthread_t t[5];
	struct counts c;

	assert_non_null(w);
	for (int i = 0; i < 5; i++) {
		a[i] = (struct app){ .w = w, .th = i, .n = i < 4 ? 400 : 300, .events = i == 4 };
		assert_int_equal(pthread_create(&t[i], NULL, appender, &a[i]), 0);
	}
	for (int i = 0; i < 5; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(a[i].err, 0);
	}
	llmi_writer__stats(w, &st);
	print_message("%s: %llu records, %llu KiB, pad %llu KiB\n", name,
		      (unsigned long long)st.records, (unsigned long long)st.bytes >> 10,
		      (unsigned long long)st.pad_bytes >> 10);
	assert_int_equal(st.sum.tensors, 1600);
	assert_int_equal(llmi_writer__close(w), 0);
	llmi_writer__free(w);
	read_back(path, true, &c);
	for (int i = 0; i < 4; i++)
		assert_int_equal(c.tensors[i], 400);
	assert_int_equal(c.batches[4], 300);
}

static void test_concurrent(void **state)
{
	concurrent(LLMI_WRITER_THREAD, "conc-thread.llmi");
	concurrent(LLMI_WRITER_LOCKED, "conc-locked.llmi");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sequence),
		cmocka_unit_test(test_not_tail),
		cmocka_unit_test(test_too_large),
		cmocka_unit_test(test_undo),
		cmocka_unit_test(test_abort_middle),
		cmocka_unit_test(test_default_rules),
		cmocka_unit_test(test_concurrent),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
