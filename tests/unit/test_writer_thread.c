// SPDX-License-Identifier: MIT
/*
 * The container writer's thread mode (LLMI_WRITER_THREAD): what it promises
 * beyond the other modes (test_io.c runs the common cases in it too).
 *
 * - Several threads append tensors while another appends event batches:
 *   the file read back holds every record, checksums good, each thread's
 *   records in the order it appended them.
 * - Memory: tensors wait while the writer holds more than its limit, so its
 *   extents stay within the limit and two extents; close writes a large
 *   index within that bound too.
 * - A disk that stops answering (llmi_writer__stall, the test hook):
 *   tensors past the limit wait, event batches still return.
 * - The commit interval needs no call from the owner: a record appended
 *   becomes readable by another reader on its own, and is synced.
 * - Close while threads append: appends after it are refused with EBADF,
 *   every append that returned 0 is in the file, and the file is closed
 *   (indexed) and valid.
 *
 * No test here times anything: waits are for a condition, with a deadline.
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
#include <time.h>
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
	return diskdir_make(dir, sizeof(dir), "wthread");
}

static int teardown(void **state)
{
	return diskdir_remove(dir);
}

static void nap(void)
{
	struct timespec ts = { 0, 20 * 1000000 };

	nanosleep(&ts, NULL);
}

static void fill(uint8_t *b, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		b[i] = seed >> 16;
	}
}

static struct llmi_writer *open_thread(const char *name, unsigned flags, uint64_t limit,
				       unsigned commit_ms, char *path)
{
	struct llmi_writer_opts o = { .sz = sizeof(o), .writer = "test_writer_thread",
				      .flags = LLMI_WRITER_THREAD | LLMI_WRITER_QUIET | flags,
				      .extent_size = EXT, .nr_extents = 4, .mem_limit = limit,
				      .commit_ms = commit_ms, .owner_uid = (uid_t)-1,
				      .owner_gid = (gid_t)-1 };

	snprintf(path, 256, "%s/%s", dir, name);
	return llmi_writer__new(path, &o);
}

/* Tensor k of thread th: its layer says the thread, its step the number, its bytes both. */
static size_t tensor_len(int th, int k)
{
	return 1 + (size_t)((k * 7919 + th * 104729) % (3 * EXT));
}

static int put_tensor(struct llmi_writer *w, int th, int k)
{
	size_t n = tensor_len(th, k);
	struct llmi_tensor_rec t = { .dtype = 1, .ndim = 1, .shape = { 1 }, .raw_bytes = 4,
				     .ref_tensor_id = LLMI_NO_REF, .layer = th, .step = k };
	uint8_t *b = malloc(n);
	int err;

	if (!b)
		return -ENOMEM;
	fill(b, n, th * 100000 + k);
	err = llmi_writer__tensor(w, &t, "t", b, n);
	free(b);
	return err;
}

/* Events batch k of source src: every event's time says both, and its args its place. */
#define EV_SIZE sizeof(struct llmi_tl_event)
static void make_events(struct llmi_tl_event *ev, int src, int k, unsigned count)
{
	for (unsigned i = 0; i < count; i++)
		ev[i] = (struct llmi_tl_event){ .ts_ns = (uint64_t)src << 32 | (uint64_t)k,
						.kind = LLMI_TL_API, .arg0 = i,
						.arg1 = (uint64_t)k * 1000003u + i };
}

static int put_events(struct llmi_writer *w, int src, int k, unsigned count)
{
	static __thread struct llmi_tl_event ev[1024];
	struct llmi_events_rec h = { .event_size = EV_SIZE, .abi_version = 1,	/* 64-byte events */
				     .count = count, .first_ns = (uint64_t)src << 32 | (uint64_t)k };

	h.last_ns = h.first_ns;
	make_events(ev, src, k, count);
	return llmi_writer__events(w, &h, ev);
}

struct counts {
	int tensors[8];		/* per thread (layer) */
	int batches[8];		/* per source */
};

/*
 * Reads path back: verifies it (indexed, every checksum), and checks that
 * each thread's tensors and each source's batches come in the order they
 * were appended (0, 1, 2...), with the bytes that were appended. Returns
 * the counts.
 */
static void read_back(const char *path, bool closed, struct counts *c)
{
	struct llmi_verify_report rep;
	struct llmi_reader *r = llmi_reader__open(path, NULL, 0);

	memset(c, 0, sizeof(*c));
	assert_non_null(r);
	if (closed) {
		assert_true(llmi_reader__status(r)->indexed);
		assert_int_equal(llmi_reader__verify(r, &rep), 0);
	} else {
		assert_false(llmi_reader_status_damaged(llmi_reader__status(r)));
	}
	for (size_t i = 0; i < llmi_reader__nr_records(r); i++) {
		unsigned type = llmi_reader__record(r, i)->type;
		size_t len;
		uint8_t *p, *want;

		assert_int_equal(llmi_reader__check(r, i, NULL, 0), 0);
		if (type == LLMI_REC_TENSOR) {
			struct llmi_tensor_info ti;
			int th, k;

			assert_int_equal(llmi_reader__tensor(r, i, &ti), 0);
			th = ti.rec.layer;
			k = (int)ti.rec.step;
			assert_true(th >= 0 && th < 8);
			assert_int_equal(k, c->tensors[th]);	/* in the thread's order */
			c->tensors[th]++;
			assert_int_equal(ti.blob_len, tensor_len(th, k));
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
			int src, k;

			p = llmi_reader__load(r, i, &len);
			assert_non_null(p);
			assert_int_equal(llmi_events_parse(p, len, &h, &ev), 0);
			src = (int)(h.first_ns >> 32);
			k = (int)(h.first_ns & 0xffffffff);
			assert_true(src >= 0 && src < 8);
			assert_int_equal(k, c->batches[src]);
			c->batches[src]++;
			want = malloc(h.count * EV_SIZE);
			make_events((struct llmi_tl_event *)want, src, k, h.count);
			assert_memory_equal(ev, want, h.count * EV_SIZE);
			free(want);
			free(p);
		}
	}
	llmi_reader__free(r);
}

struct app {
	struct llmi_writer *w;
	int th;			/* thread number: layer of its tensors, source of its batches */
	int n;			/* appends to make; < 0: until one fails */
	bool events;		/* appends event batches, not tensors */
	struct app *pace;	/* events: a batch per tensor of these 3 threads, no more */
	int done;		/* appends that returned 0 (read with __atomic) */
	int err;		/* the error that ended it (the same) */
};

/*
 * Event batches never wait for the disk, so a thread that made them
 * faster than the disk writes would keep the writer over its limit and
 * the tensors out; the tracer's events are far slower than the disk. A
 * paced events thread stays behind the tensors' count.
 */
static void pace(const struct app *t, int k)
{
	for (;;) {
		int sum = 0;

		for (int i = 0; i < 3; i++) {
			if (__atomic_load_n(&t[i].err, __ATOMIC_ACQUIRE))
				return;
			sum += __atomic_load_n(&t[i].done, __ATOMIC_ACQUIRE);
		}
		if (sum >= k)
			return;
		{
			struct timespec ts = { 0, 1000000 };

			nanosleep(&ts, NULL);
		}
	}
}

static void *appender(void *p)
{
	struct app *a = p;

	for (int k = 0; a->n < 0 || k < a->n; k++) {
		int err;

		if (a->pace)
			pace(a->pace, k);
		err = a->events ? put_events(a->w, a->th, k, 1 + k % 300) : put_tensor(a->w, a->th, k);
		if (err) {
			__atomic_store_n(&a->err, err, __ATOMIC_RELEASE);
			break;
		}
		__atomic_store_n(&a->done, k + 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

static void start(pthread_t *t, struct app *a)
{
	assert_int_equal(pthread_create(t, NULL, appender, a), 0);
}

/* Waits (60 s at most) until cond(w, arg) holds. */
static void wait_for(bool (*cond)(void *), void *arg, const char *what)
{
	for (int i = 0; i < 3000; i++) {
		if (cond(arg))
			return;
		nap();
	}
	fail_msg("after 60 s: still not %s", what);
}

/*
 * Three threads append tensors (1 byte to 3 extents, so records span
 * extents and go over the limit), a fourth event batches, all at once,
 * with a limit of six extents so that tensors wait for the disk.
 */
static void concurrent(unsigned flags, const char *name)
{
	char path[256];
	struct llmi_writer *w = open_thread(name, flags, 6 * EXT, 0, path);
	struct llmi_writer_stats st;
	struct app a[4];
	pthread_t t[4];
	struct counts c;

	assert_non_null(w);
	for (int i = 0; i < 4; i++) {
		a[i] = (struct app){ .w = w, .th = i, .n = i < 3 ? 150 : 400, .events = i == 3 };
		start(&t[i], &a[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(a[i].err, 0);
	}
	llmi_writer__stats(w, &st);
	print_message("%s: %s, %llu records, %llu MiB, %llu waits for memory, peak %llu KiB "
		      "(limit %llu KiB)\n", name, st.backend, (unsigned long long)st.records,
		      (unsigned long long)st.bytes >> 20, (unsigned long long)st.space_waits,
		      (unsigned long long)st.mem_peak >> 10, (unsigned long long)st.mem_limit >> 10);
	assert_int_equal(st.threaded, 1);
	assert_int_equal(st.sum.tensors, 450);
	assert_int_equal(st.sum.event_batches, 400);
	assert_int_equal(llmi_writer__close(w), 0);
	llmi_writer__stats(w, &st);
	assert_int_equal(st.disk.tensors, 450);
	assert_int_equal(st.disk.event_batches, 400);
	llmi_writer__free(w);

	read_back(path, true, &c);
	for (int i = 0; i < 3; i++)
		assert_int_equal(c.tensors[i], 150);
	assert_int_equal(c.batches[3], 400);
}

static void test_concurrent(void **state)
{
	concurrent(0, "conc-uring.llmi");
	concurrent(LLMI_WRITER_NO_URING, "conc-pwrite.llmi");
	concurrent(LLMI_WRITER_NO_DIRECT | LLMI_WRITER_NO_REGISTER, "conc-buffered.llmi");
}

/*
 * Tensors only, from three threads: the extents allocated never exceed
 * the limit and two extents (the one being filled, and a commit's pad),
 * however the threads interleave, since a tensor is placed only when it
 * fits under the limit (each one here is smaller than the limit).
 */
static void test_memory_bound(void **state)
{
	const uint64_t limit = 8 * EXT;
	char path[256];
	struct llmi_writer *w = open_thread("mem.llmi", 0, limit, 0, path);
	struct llmi_writer_stats st;
	struct app a[3];
	pthread_t t[3];
	struct counts c;

	assert_non_null(w);
	for (int i = 0; i < 3; i++) {
		a[i] = (struct app){ .w = w, .th = i, .n = 200 };
		start(&t[i], &a[i]);
	}
	for (int i = 0; i < 3; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(a[i].err, 0);
	}
	llmi_writer__stats(w, &st);
	print_message("600 tensors, %llu MiB: peak %llu KiB of extents for a limit of %llu KiB, "
		      "%llu waits\n", (unsigned long long)st.bytes >> 20,
		      (unsigned long long)st.mem_peak >> 10, (unsigned long long)limit >> 10,
		      (unsigned long long)st.space_waits);
	assert_int_equal(st.mem_limit, limit);
	assert_true(st.mem_peak <= limit + 2 * EXT);
	assert_true(st.mem_bytes <= st.mem_peak);
	assert_int_equal(llmi_writer__close(w), 0);
	llmi_writer__free(w);
	read_back(path, true, &c);
	for (int i = 0; i < 3; i++)
		assert_int_equal(c.tensors[i], 200);
}

/*
 * Close writes the index (24 bytes a record) through the extents like any
 * record, waiting for the disk when it must: 100000 records make a
 * 2.3 MiB index, and the writer still holds no more than its limit and two
 * extents (flushes keep the appends themselves under it).
 */
static void test_close_large_index(void **state)
{
	const uint64_t limit = 8 * EXT;
	char path[256];
	struct llmi_writer *w = open_thread("index.llmi", 0, limit, 0, path);
	struct llmi_writer_stats st;
	struct counts c;

	assert_non_null(w);
	for (int k = 0; k < 100000; k++) {
		assert_int_equal(put_events(w, 0, k, 1), 0);
		if (k % 1000 == 999)
			assert_int_equal(llmi_writer__flush(w), 0);
	}
	assert_int_equal(llmi_writer__close(w), 0);
	llmi_writer__stats(w, &st);
	print_message("100000 records, a %llu KiB index: peak %llu KiB of extents (limit %llu KiB)\n",
		      (unsigned long long)100000 * sizeof(struct llmi_index_ent) >> 10,
		      (unsigned long long)st.mem_peak >> 10, (unsigned long long)limit >> 10);
	assert_true(st.mem_peak <= limit + 2 * EXT);
	llmi_writer__free(w);
	read_back(path, true, &c);
	assert_int_equal(c.batches[0], 100000);
}

struct waiting_arg {
	struct llmi_writer *w;
	unsigned want;
};

static bool appenders_waiting(void *p)
{
	struct waiting_arg *a = p;
	struct llmi_writer_stats st;

	llmi_writer__stats(a->w, &st);
	return st.waiting == a->want;
}

/*
 * The disk stops answering (the stall hook: the writer thread hands it
 * nothing). A tensor appender fills the limit and then waits; meanwhile
 * event batches, string tables and a stats record, far past the limit,
 * all return. Once the disk answers again everything lands, in order.
 */
static void stalled(unsigned flags, const char *name)
{
	const uint64_t limit = 4 * EXT;
	static const uint64_t ids[2] = { 1, 2 };
	static const char *const strs[2] = { "kernel_a", "kernel_b" };
	char path[256];
	struct llmi_writer *w = open_thread(name, flags, limit, 0, path);
	struct waiting_arg wa = { w, 1 };
	struct llmi_writer_stats st;
	struct app a = { .w = w, .th = 0, .n = 60 };
	pthread_t t;
	struct counts c;
	int done;

	assert_non_null(w);
	llmi_writer__stall(w, true);
	start(&t, &a);
	wait_for(appenders_waiting, &wa, "a tensor appender waiting for memory");
	done = __atomic_load_n(&a.done, __ATOMIC_ACQUIRE);
	llmi_writer__stats(w, &st);
	print_message("%s: stalled disk: %d tensors placed (%llu KiB held, limit %llu KiB), "
		      "the next one waits\n", name, done, (unsigned long long)st.held_bytes >> 10,
		      (unsigned long long)limit >> 10);
	/* nothing reached the disk: the tensors placed fit under the limit */
	assert_true(done < 60);
	assert_int_equal(st.disk.records, 0);
	assert_true(st.held_bytes <= limit + EXT);

	/* 200 batches of up to 1024 events (64 bytes each): ~6 MiB, 24 limits */
	for (int k = 0; k < 200; k++)
		assert_int_equal(put_events(w, 1, k, 1 + (k * 37) % 1024), 0);
	assert_int_equal(llmi_writer__strings(w, LLMI_STR_KERNEL, 2, ids, strs), 0);
	assert_int_equal(llmi_writer__stats_json(w, "{\"stalled\":true}", 16), 0);
	llmi_writer__stats(w, &st);
	print_message("%s: and then 200 event batches returned: %llu KiB held\n", name,
		      (unsigned long long)st.held_bytes >> 10);
	assert_true(st.held_bytes > 4 * limit);
	/* the tensor appender is still waiting, and placed nothing more */
	assert_int_equal(st.waiting, 1);
	assert_int_equal(__atomic_load_n(&a.done, __ATOMIC_ACQUIRE), done);
	assert_int_equal(st.disk.records, 0);

	llmi_writer__stall(w, false);
	pthread_join(t, NULL);
	assert_int_equal(a.err, 0);
	assert_int_equal(a.done, 60);
	llmi_writer__stats(w, &st);
	assert_true(st.space_waits >= 1);
	assert_int_equal(llmi_writer__close(w), 0);
	llmi_writer__free(w);
	read_back(path, true, &c);
	assert_int_equal(c.tensors[0], 60);
	assert_int_equal(c.batches[1], 200);
}

static void test_stalled_disk(void **state)
{
	stalled(0, "stall-uring.llmi");
	stalled(LLMI_WRITER_NO_URING, "stall-pwrite.llmi");
}

/* Records a reader finds in path now (the writer has it open). */
static size_t records_on_disk(const char *path)
{
	struct llmi_reader *r = llmi_reader__open(path, NULL, 0);
	size_t n;

	assert_non_null(r);
	n = llmi_reader__nr_records(r);
	llmi_reader__free(r);
	return n;
}

struct disk_arg {
	const char *path;
	size_t want;
};

static bool readable(void *p)
{
	struct disk_arg *a = p;

	return records_on_disk(a->path) == a->want;
}

static bool synced(void *p)
{
	struct waiting_arg *a = p;
	struct llmi_writer_stats st;

	llmi_writer__stats(a->w, &st);
	return st.syncs >= a->want;
}

/*
 * The commit interval keeps itself: a small record appended, and nothing
 * else called on the writer, is read by another reader of the file within
 * a deadline, and an fdatasync is asked for it. The pad per commit is at
 * most a block and a header, and fdatasyncs come at most one per interval:
 * never more than the time the writer lived over the interval, plus one.
 */
static void commit_interval(unsigned flags, const char *name)
{
	const unsigned ms = 100;
	char path[256];
	uint64_t t0 = llmi_now_ns(), life;
	struct llmi_writer *w = open_thread(name, flags, 0, ms, path);
	struct llmi_writer_stats st;
	struct disk_arg da = { path, 0 };
	struct waiting_arg sa = { w, 1 };

	assert_non_null(w);
	for (int i = 1; i <= 5; i++) {
		assert_int_equal(put_tensor(w, 0, i - 1), 0);
		da.want = i;
		wait_for(readable, &da, "the record readable without a call to the writer");
		sa.want = i;
		wait_for(synced, &sa, "an fdatasync asked for it");
	}
	/* tick is not needed, and harmless */
	assert_int_equal(llmi_writer__tick(w, llmi_now_ns()), 0);
	llmi_writer__stats(w, &st);
	life = llmi_now_ns() - t0;
	print_message("%s: 5 commits on their own: %llu commits, %llu syncs, %llu bytes of pad, "
		      "%llu ms\n", name, (unsigned long long)st.commits, (unsigned long long)st.syncs,
		      (unsigned long long)st.pad_bytes, (unsigned long long)(life / 1000000));
	assert_int_equal(st.commits, 5);
	assert_int_equal(st.disk.records, 5);
	assert_int_equal(st.disk.bytes % 4096, 0);
	assert_true(st.pad_bytes < 5 * (4096 + 32));
	assert_true(st.syncs <= life / (ms * 1000000ull) + 1);
	assert_int_equal(llmi_writer__close(w), 0);
	llmi_writer__free(w);
	assert_int_equal(records_on_disk(path), 6);	/* + summary */
}

static void test_commit_interval(void **state)
{
	commit_interval(0, "commit-uring.llmi");
	commit_interval(LLMI_WRITER_NO_URING, "commit-pwrite.llmi");
}

static bool all_started(void *p)
{
	struct app *a = p;

	for (int i = 0; i < 4; i++)
		if (__atomic_load_n(&a[i].done, __ATOMIC_ACQUIRE) < 20)
			return false;
	return true;
}

/*
 * Close while three threads append tensors (a small limit: some of them
 * are waiting for memory at that moment) and one appends events. Every
 * thread ends with EBADF; each append that returned 0 is in the file, in
 * order; the file is closed, indexed and valid.
 */
static void close_racing(unsigned flags, const char *name)
{
	char path[256];
	struct llmi_writer *w = open_thread(name, flags, 3 * EXT, 0, path);
	struct llmi_writer_stats st;
	struct app a[4];
	pthread_t t[4];
	struct counts c;

	assert_non_null(w);
	for (int i = 0; i < 4; i++) {
		a[i] = (struct app){ .w = w, .th = i, .n = -1, .events = i == 3,
				     .pace = i == 3 ? a : NULL };
		start(&t[i], &a[i]);
	}
	wait_for(all_started, a, "20 appends from each thread");
	llmi_writer__stats(w, &st);
	assert_int_equal(llmi_writer__close(w), 0);
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(a[i].err, -EBADF);
	}
	print_message("%s: closed with %u appenders waiting for memory; appended %d, %d, %d "
		      "tensors and %d batches\n", name, st.waiting, a[0].done, a[1].done, a[2].done,
		      a[3].done);
	/* after close, everything is refused the same way */
	assert_int_equal(put_tensor(w, 0, a[0].done), -EBADF);
	assert_int_equal(put_events(w, 3, a[3].done, 1), -EBADF);
	assert_int_equal(llmi_writer__flush(w), 0);
	assert_int_equal(llmi_writer__close(w), 0);
	llmi_writer__free(w);
	read_back(path, true, &c);
	for (int i = 0; i < 3; i++)
		assert_int_equal(c.tensors[i], a[i].done);
	assert_int_equal(c.batches[3], a[3].done);
}

static void test_close_racing(void **state)
{
	close_racing(0, "close-uring.llmi");
	close_racing(LLMI_WRITER_NO_URING, "close-pwrite.llmi");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_concurrent),
		cmocka_unit_test(test_memory_bound),
		cmocka_unit_test(test_close_large_index),
		cmocka_unit_test(test_stalled_disk),
		cmocka_unit_test(test_commit_interval),
		cmocka_unit_test(test_close_racing),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
