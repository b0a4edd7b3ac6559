// SPDX-License-Identifier: MIT
/*
 * The io_uring container writer: the same records through io_uring (with
 * and without registered buffers, O_DIRECT and buffered) and through the
 * pwrite fallback give the same stream; a flush makes records visible to a
 * reader while the file is still open; the output path is never followed
 * through a symbolic link; an ordinary user's 8 MiB RLIMIT_MEMLOCK (or
 * less) makes buffer registration fall back cleanly; the commit interval
 * hands a partial extent to the disk once it is due and not before, with
 * a bounded pad; the writer's count of what is on disk follows the
 * acknowledged writes; and a writer SIGKILLed in full flow leaves a file
 * whose records are all intact, with no hole before its end. Each holds for
 * the thread mode (LLMI_WRITER_THREAD) too, whose own cases (concurrency,
 * back-pressure, its commit interval, close racing appends) are in
 * test_writer_thread.c. (Throughput: benchmarks/io_writer.)
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "format/reader.h"
#include "io/writer.h"
#include "diskdir.h"

static char dir[128];

static int setup(void **state)
{
	return diskdir_make(dir, sizeof(dir), "io");
}

static int teardown(void **state)
{
	return diskdir_remove(dir);
}

static void fill(uint8_t *b, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		b[i] = seed >> 16;
	}
}

static struct llmi_writer *open_writer(const char *path, unsigned flags)
{
	/* no commit in the middle (thread mode keeps the interval itself):
	 * the stream depends on the appends only */
	struct llmi_writer_opts o = { .sz = sizeof(o), .writer = "test_io", .flags = flags,
				      .extent_size = 256 * 1024, .nr_extents = 4, .commit_ms = 3600000,
				      .owner_uid = (uid_t)-1, .owner_gid = (gid_t)-1 };

	return llmi_writer__new(path, &o);
}

static int put_tensor(struct llmi_writer *w, int i, size_t n)
{
	struct llmi_tensor_rec t = { .dtype = 1, .ndim = 1, .shape = { 1 }, .raw_bytes = 4,
				     .ref_tensor_id = LLMI_NO_REF };
	uint8_t *b = malloc(n);
	char name[32];
	int err;

	fill(b, n, i);
	snprintf(name, sizeof(name), "t%d", i);
	t.step = i;
	err = llmi_writer__tensor(w, &t, name, b, n);
	free(b);
	return err;
}

/* Writes a fixed set of records with flags; returns the stream after the header. */
static uint8_t *write_set(const char *name, unsigned flags, size_t *len, struct llmi_writer_stats *st)
{
	char path[256];
	struct llmi_writer *w;
	struct stat sb;
	uint8_t *buf;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	w = open_writer(path, flags);
	assert_non_null(w);
	for (int i = 0; i < 40; i++)
		assert_int_equal(put_tensor(w, i, 1 + 9973 * (size_t)i), 0);
	assert_int_equal(llmi_writer__close(w), 0);
	llmi_writer__stats(w, st);
	llmi_writer__free(w);

	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	fstat(fd, &sb);
	*len = sb.st_size - LLMI_HEADER_SIZE;
	buf = malloc(*len);
	assert_int_equal(pread(fd, buf, *len, LLMI_HEADER_SIZE), (ssize_t)*len);
	close(fd);
	{
		struct llmi_reader *r = llmi_reader__open(path, NULL, 0);
		struct llmi_verify_report rep;

		assert_non_null(r);
		assert_int_equal(llmi_reader__verify(r, &rep), 0);
		assert_int_equal(llmi_reader__nr_records(r), 41);
		llmi_reader__free(r);
	}
	return buf;
}

static void test_backends_agree(void **state)
{
	static const struct { const char *name; unsigned flags; } cases[] = {
		{ "uring-direct-fixed.llmi", 0 },
		{ "uring-direct.llmi", LLMI_WRITER_NO_REGISTER },
		{ "uring-buffered.llmi", LLMI_WRITER_NO_DIRECT },
		{ "pwrite-direct.llmi", LLMI_WRITER_NO_URING },
		{ "pwrite-buffered.llmi", LLMI_WRITER_NO_URING | LLMI_WRITER_NO_DIRECT },
		{ "thread-direct-fixed.llmi", LLMI_WRITER_THREAD },
		{ "thread-direct.llmi", LLMI_WRITER_THREAD | LLMI_WRITER_NO_REGISTER },
		{ "thread-buffered.llmi", LLMI_WRITER_THREAD | LLMI_WRITER_NO_DIRECT },
		{ "thread-pwrite.llmi", LLMI_WRITER_THREAD | LLMI_WRITER_NO_URING },
	};
	uint8_t *ref = NULL;
	size_t ref_len = 0;

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct llmi_writer_stats st;
		size_t len;
		uint8_t *b = write_set(cases[c].name, cases[c].flags, &len, &st);

		print_message("%-24s backend %-15s O_DIRECT %s, %llu bytes\n", cases[c].name,
			      st.backend, st.direct ? "on" : "off", (unsigned long long)st.bytes);
		if (cases[c].flags & LLMI_WRITER_NO_URING)
			assert_string_equal(st.backend, "pwrite");
		else
			assert_true(strncmp(st.backend, "io_uring", 8) == 0 || !strcmp(st.backend, "pwrite"));
		if (cases[c].flags & LLMI_WRITER_NO_DIRECT)
			assert_int_equal(st.direct, 0);
		if (!ref) {
			ref = b;
			ref_len = len;
			continue;
		}
		assert_int_equal(len, ref_len);
		/* Between the header (time, pid) and the summary (close time)
		 * the stream is byte-identical. */
		{
			struct llmi_trailer_rec tr;

			memcpy(&tr, ref + len - sizeof(tr), sizeof(tr));
			assert_true(tr.summary_offset > LLMI_HEADER_SIZE &&
				    tr.summary_offset < len + LLMI_HEADER_SIZE);
			assert_memory_equal(b, ref, tr.summary_offset - LLMI_HEADER_SIZE);
		}
		free(b);
	}
	free(ref);
}

static void flush_visible(unsigned flags)
{
	char path[256];
	struct llmi_writer *w;
	struct llmi_reader *r;

	snprintf(path, sizeof(path), "%s/live%u.llmi", dir, flags);
	w = open_writer(path, flags);
	assert_non_null(w);
	/* A file just created is already a valid (empty) container. */
	r = llmi_reader__open(path, NULL, 0);
	assert_non_null(r);
	assert_int_equal(llmi_reader__nr_records(r), 0);
	llmi_reader__free(r);

	for (int i = 0; i < 5; i++)
		assert_int_equal(put_tensor(w, i, 1000), 0);
	assert_int_equal(llmi_writer__flush(w), 0);
	r = llmi_reader__open(path, NULL, 0);
	assert_non_null(r);
	assert_int_equal(llmi_reader__nr_records(r), 5);
	assert_false(llmi_reader__status(r)->indexed);
	llmi_reader__free(r);

	for (int i = 5; i < 8; i++)
		assert_int_equal(put_tensor(w, i, 300000), 0);
	assert_int_equal(llmi_writer__close(w), 0);
	llmi_writer__free(w);
	r = llmi_reader__open(path, NULL, 0);
	assert_non_null(r);
	assert_true(llmi_reader__status(r)->indexed);
	assert_int_equal(llmi_reader__nr_records(r), 9);	/* + summary */
	llmi_reader__free(r);
}

static void test_flush_visible_while_open(void **state)
{
	flush_visible(0);
	flush_visible(LLMI_WRITER_THREAD);
}

static void test_no_symlink_follow(void **state)
{
	char path[256], target[256];
	struct llmi_writer *w;
	struct stat st;
	int fd;

	snprintf(target, sizeof(target), "%s/victim", dir);
	snprintf(path, sizeof(path), "%s/link.llmi", dir);
	fd = open(target, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "keep", 4), 4);
	close(fd);
	assert_int_equal(symlink("victim", path), 0);

	w = open_writer(path, 0);
	assert_null(w);
	assert_int_equal(errno, ELOOP);
	w = open_writer(path, LLMI_WRITER_OVERWRITE);
	assert_null(w);
	assert_int_equal(errno, ELOOP);
	assert_int_equal(stat(target, &st), 0);
	assert_int_equal(st.st_size, 4);

	/* A dangling link is refused too. */
	unlink(target);
	w = open_writer(path, LLMI_WRITER_OVERWRITE);
	assert_null(w);
	assert_int_equal(lstat(target, &st), -1);

	/* A regular file is replaced only when asked. */
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	close(fd);
	w = open_writer(path, 0);
	assert_null(w);
	w = open_writer(path, LLMI_WRITER_OVERWRITE);
	assert_non_null(w);

	/* A file another writer holds is never replaced, even when asked. */
	struct llmi_writer *w2 = open_writer(path, LLMI_WRITER_OVERWRITE);
	assert_null(w2);
	assert_int_equal(errno, EBUSY);
	llmi_writer__free(w);
	w2 = open_writer(path, LLMI_WRITER_OVERWRITE);
	assert_non_null(w2);
	llmi_writer__free(w2);
}

struct mt_arg {
	struct llmi_writer *w;
	int base;
};

static void *mt_worker(void *p)
{
	struct mt_arg *a = p;

	for (int i = 0; i < 200; i++)
		if (put_tensor(a->w, a->base + i, 100 + (size_t)(a->base + i) * 7))
			return (void *)1;
	return NULL;
}

/* Tensors appended from 4 threads all arrive whole. */
static void many_threads(unsigned flags)
{
	char path[256];
	struct llmi_writer *w;
	struct llmi_reader *r;
	struct mt_arg args[4];
	pthread_t th[4];
	bool seen[800] = { 0 };
	struct llmi_verify_report rep;

	snprintf(path, sizeof(path), "%s/mt%u.llmi", dir, flags);
	w = open_writer(path, flags);
	assert_non_null(w);
	for (int t = 0; t < 4; t++) {
		args[t] = (struct mt_arg){ w, t * 200 };
		assert_int_equal(pthread_create(&th[t], NULL, mt_worker, &args[t]), 0);
	}
	for (int t = 0; t < 4; t++) {
		void *ret;

		pthread_join(th[t], &ret);
		assert_null(ret);
	}
	assert_int_equal(llmi_writer__close(w), 0);
	llmi_writer__free(w);
	r = llmi_reader__open(path, NULL, 0);
	assert_non_null(r);
	assert_int_equal(llmi_reader__verify(r, &rep), 0);
	for (size_t i = 0; i < llmi_reader__nr_records(r); i++) {
		struct llmi_tensor_info ti;
		size_t len;
		uint8_t *p, *want;
		int k;

		if (llmi_reader__record(r, i)->type != LLMI_REC_TENSOR)
			continue;
		assert_int_equal(llmi_reader__tensor(r, i, &ti), 0);
		k = ti.rec.step;	/* put_tensor stores its index as the step */
		assert_true(k >= 0 && k < 800 && !seen[k]);
		seen[k] = true;
		assert_int_equal(ti.blob_len, 100 + (size_t)k * 7);
		p = llmi_reader__load(r, i, &len);
		assert_non_null(p);
		want = malloc(ti.blob_len);
		fill(want, ti.blob_len, k);
		assert_memory_equal(p + ti.blob_offset, want, ti.blob_len);
		free(want);
		free(p);
	}
	for (int k = 0; k < 800; k++)
		assert_true(seen[k]);
	llmi_reader__free(r);
}

static void test_locked_threads(void **state)
{
	many_threads(LLMI_WRITER_LOCKED);
	many_threads(LLMI_WRITER_THREAD);
}

/*
 * The writer as an ordinary user: RLIMIT_MEMLOCK at the usual 8 MiB and
 * none (64 KiB), no CAP_IPC_LOCK. Registering the eight 1 MiB buffers may
 * then fail; the writer must carry on with plain io_uring writes (or
 * pwrite), and a 12 MiB tensor must come back intact. A child process does
 * it, as nobody when the test runs as root (dropping root drops
 * CAP_IPC_LOCK), else as the current user with the limit lowered.
 */
static int nonroot_child(const char *sub, rlim_t lim, int fd, unsigned flags)
{
	struct llmi_writer_opts o = { .sz = sizeof(o), .writer = "test_io", .flags = flags,
				      .owner_uid = (uid_t)-1, .owner_gid = (gid_t)-1 };
	struct rlimit rl = { lim, lim };
	struct llmi_tensor_rec t = { .dtype = 1, .ndim = 2, .shape = { 3072, 1024 },
				     .raw_bytes = 12u << 20, .layer = -1,
				     .ref_tensor_id = LLMI_NO_REF };
	size_t n = 12u << 20, l;
	struct llmi_writer_stats st;
	struct llmi_verify_report rep;
	struct llmi_reader *r;
	struct llmi_writer *w;
	char path[256], err[LLMI_ERRLEN];
	uint8_t *b = malloc(n), *p;

	if (!b || setrlimit(RLIMIT_MEMLOCK, &rl))
		return 10;
	if (geteuid() == 0 && (setgroups(0, NULL) || setgid(65534) || setuid(65534)))
		return 11;
	snprintf(path, sizeof(path), "%s/big.llmi", sub);
	w = llmi_writer__new(path, &o);
	if (!w)
		return 12;
	fill(b, n, 5);
	if (llmi_writer__tensor(w, &t, "big", b, n))
		return 13;
	llmi_writer__stats(w, &st);
	if (dprintf(fd, "%s, O_DIRECT %s", st.backend, st.direct ? "on" : "off") < 0 || llmi_writer__close(w))
		return 14;
	llmi_writer__free(w);
	r = llmi_reader__open(path, err, sizeof(err));
	if (!r || llmi_reader__verify(r, &rep) || llmi_reader__nr_records(r) < 2)
		return 15;
	p = llmi_reader__load(r, 0, &l);
	if (!p || l < n || memcmp(p + l - n, b, n))
		return 16;
	free(p);
	llmi_reader__free(r);
	free(b);
	return 0;
}

static void test_nonroot_memlock(void **state)
{
	static const rlim_t lims[] = { 8u << 20, 64u << 10, 8u << 20, 64u << 10 };

	for (size_t i = 0; i < sizeof(lims) / sizeof(lims[0]); i++) {
		unsigned flags = i >= 2 ? LLMI_WRITER_THREAD : 0;
		char sub[192], got[64] = "";
		int pfd[2], status;
		pid_t pid;

		snprintf(sub, sizeof(sub), "%s/user%zu", dir, i);
		assert_int_equal(mkdir(sub, 0755), 0);
		/* The test directory is 0700 (mkdtemp): let nobody through. */
		if (geteuid() == 0) {
			assert_int_equal(chmod(dir, 0711), 0);
			assert_int_equal(chown(sub, 65534, 65534), 0);
		}
		assert_int_equal(pipe(pfd), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(pfd[0]);
			_exit(nonroot_child(sub, lims[i], pfd[1], flags));
		}
		close(pfd[1]);
		assert_true(read(pfd[0], got, sizeof(got) - 1) >= 0);
		close(pfd[0]);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		print_message("%s%s, RLIMIT_MEMLOCK %llu KiB: backend %s, exit %d\n",
			      geteuid() == 0 ? "as nobody" : "as this user", flags ? ", thread mode" : "",
			      (unsigned long long)lims[i] >> 10, got,
			      WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
		/* 64 KiB cannot pin eight 1 MiB buffers: the fallback ran. */
		if (lims[i] < (8u << 20))
			assert_true(strncmp(got, "io_uring+fixed", 14) != 0);
	}
}

/* Records a reader finds in path now (the writer may still have it open). */
static size_t records_on_disk(const char *path)
{
	struct llmi_reader *r = llmi_reader__open(path, NULL, 0);
	size_t n;

	assert_non_null(r);
	n = llmi_reader__nr_records(r);
	llmi_reader__free(r);
	return n;
}

/* Ticks the writer until a reader sees want records; fails after 60 s. */
static void wait_records(struct llmi_writer *w, const char *path, size_t want)
{
	for (int i = 0; i < 6000; i++) {
		struct timespec ts = { 0, 10000000 };

		assert_int_equal(llmi_writer__tick(w, llmi_now_ns()), 0);
		if (records_on_disk(path) == want)
			return;
		nanosleep(&ts, NULL);
	}
	fail_msg("%s: %zu records on disk after 60 s, want %zu", path, records_on_disk(path), want);
}

/*
 * The commit interval. Times are passed to tick() relative to the clock
 * read around the append, so the test does not depend on how fast this
 * machine runs: before the interval nothing moves, once it passed the
 * partial extent goes out (padded, and synced), and a later tick with
 * nothing new does nothing.
 */
static void test_commit_interval(void **state)
{
	const uint64_t iv = 200 * 1000000ull;
	struct llmi_writer_opts o = { .sz = sizeof(o), .writer = "test_io",
				      .extent_size = 256 * 1024, .nr_extents = 4, .commit_ms = 200,
				      .owner_uid = (uid_t)-1, .owner_gid = (gid_t)-1 };
	struct llmi_writer_stats st;
	struct llmi_writer *w;
	uint64_t t0, t1, pad;
	char path[256];

	for (unsigned flags = 0; flags <= LLMI_WRITER_NO_URING; flags += LLMI_WRITER_NO_URING) {
		snprintf(path, sizeof(path), "%s/commit%u.llmi", dir, flags);
		o.flags = flags;
		w = llmi_writer__new(path, &o);
		assert_non_null(w);

		t0 = llmi_now_ns();
		assert_int_equal(put_tensor(w, 0, 1000), 0);
		t1 = llmi_now_ns();
		/* not yet due: still only in the writer's buffer */
		assert_int_equal(llmi_writer__tick(w, t0 + iv - 1), 0);
		llmi_writer__stats(w, &st);
		assert_int_equal(st.commits, 0);
		assert_int_equal(st.disk.records, 0);
		assert_int_equal(records_on_disk(path), 0);

		/* due: handed to the kernel, and on disk once acknowledged */
		assert_int_equal(llmi_writer__tick(w, t1 + iv), 0);
		llmi_writer__stats(w, &st);
		assert_int_equal(st.commits, 1);
		assert_int_equal(st.syncs, 1);
		wait_records(w, path, 1);
		llmi_writer__stats(w, &st);
		assert_int_equal(st.disk.records, 1);
		assert_int_equal(st.disk.tensors, 1);
		assert_int_equal(st.disk.bytes % 4096, 0);
		/* the pad brought the stream to a block: under one block and a header */
		assert_true(st.pad_bytes >= sizeof(struct llmi_rec_hdr) && st.pad_bytes < 4096 + 32);
		assert_int_equal(st.bytes, st.disk.bytes);

		/* nothing new: nothing written, no pad, no sync */
		pad = st.pad_bytes;
		assert_int_equal(llmi_writer__tick(w, t1 + 10 * iv), 0);
		llmi_writer__stats(w, &st);
		assert_int_equal(st.commits, 1);
		assert_int_equal(st.syncs, 1);
		assert_int_equal(st.pad_bytes, pad);

		/* ten more commits of one small record each: at most a block and a
		 * header of pad each */
		for (int i = 1; i <= 10; i++) {
			t0 = llmi_now_ns();
			assert_int_equal(put_tensor(w, i, 100), 0);
			assert_int_equal(llmi_writer__tick(w, t0 + (uint64_t)i * 20 * iv), 0);
		}
		wait_records(w, path, 11);
		llmi_writer__stats(w, &st);
		assert_int_equal(st.commits, 11);
		assert_int_equal(st.syncs, 11);
		assert_true(st.pad_bytes < 11 * (4096 + 32));
		assert_int_equal(st.disk.records, 11);
		assert_int_equal(llmi_writer__close(w), 0);
		llmi_writer__free(w);
		assert_int_equal(records_on_disk(path), 12);	/* + summary */
	}
}

/* What the writer says is on disk is what a reader finds there. */
static void disk_counts(unsigned flags)
{
	/* no commit in the middle: the first extent stays the writer's */
	struct llmi_writer_opts o = { .sz = sizeof(o), .writer = "test_io", .flags = flags,
				      .extent_size = 64 * 1024, .nr_extents = 4, .commit_ms = 3600000,
				      .owner_uid = (uid_t)-1, .owner_gid = (gid_t)-1 };
	static uint8_t ev[1000 * 64];
	struct llmi_events_rec h = { .event_size = 64, .abi_version = 1 };
	static const uint64_t ids[3] = { 1, 2, 3 };
	static const char *const strs[3] = { "a", "bb", "ccc" };
	struct llmi_writer_stats st;
	struct llmi_writer *w;
	char path[256];
	uint64_t total = 0;

	snprintf(path, sizeof(path), "%s/disk%u.llmi", dir, flags);
	w = llmi_writer__new(path, &o);
	assert_non_null(w);
	assert_int_equal(llmi_writer__strings(w, LLMI_STR_KERNEL, 3, ids, strs), 0);
	h.count = 10;
	assert_int_equal(llmi_writer__events(w, &h, ev), 0);
	total += h.count;
	/* everything still in the first extent: nothing on disk but the header */
	llmi_writer__stats(w, &st);
	assert_int_equal(st.disk.bytes, LLMI_HEADER_SIZE);
	assert_int_equal(st.disk.records, 0);
	assert_int_equal(st.disk.events, 0);
	/* ~1 MiB of events in 64 KiB extents: full extents go out on their own */
	for (int i = 0; i < 16; i++) {
		h.count = 1000;
		assert_int_equal(llmi_writer__events(w, &h, ev), 0);
		total += h.count;
	}
	assert_int_equal(llmi_writer__flush(w), 0);
	llmi_writer__stats(w, &st);
	assert_int_equal(st.disk.events, total);
	assert_int_equal(st.disk.event_batches, 17);
	assert_int_equal(st.disk.strings[LLMI_STR_KERNEL], 3);
	assert_int_equal(st.disk.records, 18);
	assert_int_equal(st.disk.bytes, st.bytes);
	assert_int_equal(st.sum.events, total);
	assert_int_equal(llmi_writer__close(w), 0);
	llmi_writer__free(w);
}

static void test_disk_counts(void **state)
{
	disk_counts(0);
	disk_counts(LLMI_WRITER_THREAD);
}

/* The child of test_killed_prefix: appends until killed. */
static void killed_child(const char *path, unsigned flags)
{
	struct llmi_writer_opts o = { .sz = sizeof(o), .writer = "test_io", .flags = flags,
				      .owner_uid = (uid_t)-1, .owner_gid = (gid_t)-1 };
	struct llmi_writer *w = llmi_writer__new(path, &o);

	if (!w)
		_exit(2);
	for (int i = 0;; i++)
		if (put_tensor(w, i, 200000 + (size_t)(i % 7) * 10000))
			_exit(3);
}

/*
 * SIGKILL while extents are in flight: the file must be a prefix of the
 * stream (writes complete in order), so the reader finds no damage, only
 * a torn or clean tail, and every record it lists loads. Five kills, each
 * once the file holds 8 MiB or more (or 60 s passed), then three of a
 * writer in thread mode.
 */
static void test_killed_prefix(void **state)
{
	for (int round = 0; round < 8; round++) {
		unsigned flags = round >= 5 ? LLMI_WRITER_THREAD : 0;
		char path[256], why[LLMI_ERRLEN];
		struct llmi_reader *r;
		struct stat sb;
		int status;
		pid_t pid;

		snprintf(path, sizeof(path), "%s/killed%d.llmi", dir, round);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0)
			killed_child(path, flags);
		for (int i = 0; i < 6000; i++) {
			struct timespec ts = { 0, 10000000 };

			if (stat(path, &sb) == 0 && sb.st_size >= (8 << 20))
				break;
			if (waitpid(pid, &status, WNOHANG) == pid)
				fail_msg("the writer exited with %d", status);
			nanosleep(&ts, NULL);
		}
		assert_int_equal(kill(pid, SIGKILL), 0);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFSIGNALED(status));

		r = llmi_reader__open(path, why, sizeof(why));
		assert_non_null(r);
		stat(path, &sb);
		print_message("kill %d%s: %lld bytes, %zu records, tail %s\n", round, flags ? " (thread mode)" : "",
			      (long long)sb.st_size, llmi_reader__nr_records(r),
			      llmi_reader__status(r)->tail_torn ? "torn" : "clean");
		assert_false(llmi_reader_status_damaged(llmi_reader__status(r)));
		assert_true(llmi_reader__nr_records(r) > 0);
		for (size_t k = 0; k < llmi_reader__nr_records(r); k++) {
			size_t l;
			void *p = llmi_reader__load(r, k, &l);

			assert_non_null(p);
			free(p);
		}
		llmi_reader__free(r);
		unlink(path);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backends_agree),
		cmocka_unit_test(test_flush_visible_while_open),
		cmocka_unit_test(test_no_symlink_follow),
		cmocka_unit_test(test_locked_threads),
		cmocka_unit_test(test_nonroot_memlock),
		cmocka_unit_test(test_commit_interval),
		cmocka_unit_test(test_disk_counts),
		cmocka_unit_test(test_killed_prefix),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
