// SPDX-License-Identifier: MIT
/*
 * io_writer: what the container writer (user/io) costs on the disk at hand,
 * and what its durability costs.
 *
 * 1. Throughput: the same bytes (4 MiB tensor records) written by the
 *    writer through each backend, against write(2) + fsync and against
 *    plain io_uring with 8 unordered O_DIRECT writes in flight (the
 *    ceiling the writer's one-write-at-a-time ordering gives up, see
 *    user/io/iow.c). Interleaved rounds, median (min-max) of each, since
 *    the disk is shared and noisy. Two cases tick the commit interval
 *    after every append, as llminstr-trace does, with its fdatasyncs and
 *    without them (LLMI_WRITER_NO_SYNC): what the syncs cost at full speed.
 *    The thread mode (LLMI_WRITER_THREAD: a writer thread does the I/O and
 *    the commit interval; appenders copy and checksum outside the lock)
 *    with one, two and three appending threads, against LLMI_WRITER_LOCKED
 *    with three (appends under one mutex, disk waits included).
 * 2. A commit: one 64 KiB events record written as a partial extent (pad
 *    included) and the fdatasync after it, timed apart: what one commit
 *    interval costs the disk. And the owner's tick when nothing is due,
 *    and when a commit is (the consumer thread pays these).
 * 3. What an events append costs the thread that drains the BPF ring while
 *    two threads stream 4 MiB tensors to disk (the case's size each): a
 *    16 KiB batch every millisecond, each call timed (median, 99th
 *    percentile, max; and how many got in while the tensors streamed), with
 *    LLMI_WRITER_LOCKED (a tensor appender may hold the lock while it
 *    waits for the disk) and with LLMI_WRITER_THREAD.
 *
 * Files go under --dir (default build/bench/tmp, on the project's disk, so
 * O_DIRECT meets a real filesystem) and are removed. Figures are this
 * machine's: a CPU machine's disk, not a GPU host's. Prints a table, and
 * with --json FILE (or -) one object {"benchmark", "env", "cases",
 * "summary"}.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <liburing.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "common/json.h"
#include "format/timeline.h"
#include "io/writer.h"
#include "../bench.h"

#define BLOB (4u << 20)
#define MAX_ROUNDS 32
#define COMMITS 20

#define LAT_BATCHES 2000

enum { C_WRITE, C_URING_QD8, C_WRITER, C_WRITER_TICK, C_WRITER_TICK_NOSYNC, C_WRITER_BUF,
       C_WRITER_PWRITE, C_THREAD1, C_THREAD2, C_THREAD3, C_LOCKED3, NC };

static const struct {
	const char *name;
	const char *what;
	unsigned flags;
	int threads;		/* appending threads (0: the main thread alone) */
} cases[NC] = {
	[C_WRITE] = { "write(2)+fsync", "buffered write(2) of 4 MiB, one fsync at the end", 0 },
	[C_URING_QD8] = { "io_uring O_DIRECT qd8", "raw io_uring, 1 MiB O_DIRECT writes, 8 in flight "
			  "in any order, fsync at the end", 0 },
	[C_WRITER] = { "writer io_uring O_DIRECT", "llmi_writer, default (ordered, registered buffers)", 0 },
	[C_WRITER_TICK] = { "writer + commit ticks", "llmi_writer, tick after every append "
			    "(commit interval 500 ms, fdatasync each)", 0 },
	[C_WRITER_TICK_NOSYNC] = { "writer + ticks, no sync", "llmi_writer, tick after every append, "
				   "LLMI_WRITER_NO_SYNC", LLMI_WRITER_NO_SYNC },
	[C_WRITER_BUF] = { "writer io_uring buffered", "llmi_writer, LLMI_WRITER_NO_DIRECT",
			   LLMI_WRITER_NO_DIRECT },
	[C_WRITER_PWRITE] = { "writer pwrite O_DIRECT", "llmi_writer, LLMI_WRITER_NO_URING",
			      LLMI_WRITER_NO_URING },
	[C_THREAD1] = { "thread mode, 1 appender", "llmi_writer, LLMI_WRITER_THREAD, one appending "
			"thread (commit interval kept by the writer thread)", LLMI_WRITER_THREAD, 1 },
	[C_THREAD2] = { "thread mode, 2 appenders", "llmi_writer, LLMI_WRITER_THREAD, two appending "
			"threads", LLMI_WRITER_THREAD, 2 },
	[C_THREAD3] = { "thread mode, 3 appenders", "llmi_writer, LLMI_WRITER_THREAD, three "
			"appending threads", LLMI_WRITER_THREAD, 3 },
	[C_LOCKED3] = { "locked, 3 appenders", "llmi_writer, LLMI_WRITER_LOCKED, three appending "
			"threads, no ticks", LLMI_WRITER_LOCKED, 3 },
};

static void fill(uint8_t *b, size_t n)
{
	uint32_t x = 12345;

	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		b[i] = x >> 16;
	}
}

static int fail(const char *what, const char *path, int err)
{
	fprintf(stderr, "io_writer: %s %s: %s\n", what, path, strerror(err));
	return -err;
}

static int run_write2(const char *path, const uint8_t *b, size_t total)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0)
		return fail("open", path, errno);
	for (size_t done = 0; done < total; done += BLOB)
		if (write(fd, b, BLOB) != BLOB) {
			close(fd);
			return fail("write", path, errno ? errno : EIO);
		}
	if (fsync(fd)) {
		close(fd);
		return fail("fsync", path, errno);
	}
	close(fd);
	return 0;
}

/* 1 MiB O_DIRECT writes, 8 in flight, completing in any order. */
static int run_uring_qd8(const char *path, const uint8_t *b, size_t total)
{
	const size_t ext = 1u << 20;
	struct io_uring ring;
	size_t off = 0;
	unsigned inflight = 0;
	int fd, err = 0;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_DIRECT, 0644);
	if (fd < 0)
		return fail("open O_DIRECT", path, errno);
	err = io_uring_queue_init(16, &ring, 0);
	if (err) {
		close(fd);
		return fail("io_uring_queue_init for", path, -err);
	}
	while (!err && (off < total || inflight)) {
		struct io_uring_cqe *cqe;

		while (inflight < 8 && off < total) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

			/* the source only needs alignment: b is 4096-aligned */
			io_uring_prep_write(sqe, fd, b + off % BLOB, ext, off);
			off += ext;
			inflight++;
		}
		err = io_uring_submit_and_wait(&ring, 1);
		if (err < 0)
			break;
		err = 0;
		while (io_uring_peek_cqe(&ring, &cqe) == 0) {
			if (cqe->res != (int)ext)
				err = cqe->res < 0 ? cqe->res : -EIO;
			io_uring_cqe_seen(&ring, cqe);
			inflight--;
		}
	}
	io_uring_queue_exit(&ring);
	if (!err && fsync(fd))
		err = -errno;
	close(fd);
	return err ? fail("io_uring write", path, -err) : 0;
}

struct appender {
	struct llmi_writer *w;
	const uint8_t *b;
	size_t bytes;		/* to append, in BLOB records */
	volatile bool *stop;	/* ends early when set (the latency runs) */
	int err;
	int finished;		/* set (atomically) when it is done */
};

static void *append_tensors(void *p)
{
	struct appender *a = p;

	for (size_t done = 0; !a->err && done < a->bytes && !(a->stop && *a->stop); done += BLOB) {
		struct llmi_tensor_rec t = { .dtype = 1, .ndim = 1, .shape = { 1 }, .raw_bytes = 4,
					     .ref_tensor_id = LLMI_NO_REF };

		a->err = llmi_writer__tensor(a->w, &t, "x", a->b, BLOB);
	}
	__atomic_store_n(&a->finished, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* nthreads appending threads share total; they start together and the clock runs to close. */
static int run_threads(struct llmi_writer *w, const uint8_t *b, size_t total, int nthreads)
{
	struct appender a[4];
	pthread_t th[4];
	size_t share = total / BLOB / nthreads * BLOB;
	int err = 0;

	for (int i = 0; i < nthreads; i++) {
		a[i] = (struct appender){ w, b, i ? share : total - share * (nthreads - 1), NULL, 0, 0 };
		if (pthread_create(&th[i], NULL, append_tensors, &a[i])) {
			nthreads = i;
			err = -EAGAIN;
			break;
		}
	}
	for (int i = 0; i < nthreads; i++) {
		pthread_join(th[i], NULL);
		err = err ? err : a[i].err;
	}
	return err;
}

static int run_writer(const char *path, const uint8_t *b, size_t total, unsigned flags, bool tick,
		      int nthreads, struct llmi_writer_stats *st)
{
	struct llmi_writer_opts o = { .sz = sizeof(o), .writer = "io_writer", .flags = flags,
				      .owner_uid = (uid_t)-1, .owner_gid = (gid_t)-1 };
	struct llmi_writer *w = llmi_writer__new(path, &o);
	int err = 0;

	if (!w)
		return fail("create", path, errno);
	if (nthreads)
		err = run_threads(w, b, total, nthreads);
	for (size_t done = 0; !nthreads && !err && done < total; done += BLOB) {
		struct llmi_tensor_rec t = { .dtype = 1, .ndim = 1, .shape = { 1 }, .raw_bytes = 4,
					     .ref_tensor_id = LLMI_NO_REF };

		err = llmi_writer__tensor(w, &t, "x", b, BLOB);
		if (!err && tick)
			err = llmi_writer__tick(w, llmi_now_ns());
	}
	if (!err)
		err = llmi_writer__close(w);
	if (st)
		llmi_writer__stats(w, st);
	llmi_writer__free(w);
	return err ? fail("writer on", path, -err) : 0;
}

struct commit_fig {
	double write_ms[COMMITS], sync_ms[COMMITS];
	double tick_idle_ns, tick_commit_us;
	uint64_t pad_bytes, commits;
};

/*
 * One commit at a time: a 64 KiB events record, then a tick that is due
 * (pad + write of the partial extent), waited for; then an fdatasync of
 * the file, timed on its own. LLMI_WRITER_NO_SYNC so the two are apart.
 */
static int run_commits(const char *path, struct commit_fig *cf)
{
	struct llmi_writer_opts o = { .sz = sizeof(o), .writer = "io_writer",
				      .flags = LLMI_WRITER_NO_SYNC, .commit_ms = 1,
				      .owner_uid = (uid_t)-1, .owner_gid = (gid_t)-1 };
	static uint8_t ev[1024 * sizeof(struct llmi_tl_event)];
	struct llmi_events_rec h = { .event_size = sizeof(struct llmi_tl_event),
				     .abi_version = 1, .count = 1024 };
	struct llmi_writer_stats st;
	struct llmi_writer *w = llmi_writer__new(path, &o);
	double idle[1000], commit[COMMITS];
	int fd, err = 0;

	if (!w)
		return fail("create", path, errno);
	fd = open(path, O_RDONLY);
	if (fd < 0) {
		llmi_writer__free(w);
		return fail("open", path, errno);
	}
	/* a tick with nothing due: the price of every pass of the owner's loop */
	for (int i = 0; i < 1000 && !err; i++) {
		double t = bench_now();

		err = llmi_writer__tick(w, llmi_now_ns());
		idle[i] = (bench_now() - t) * 1e9;
	}
	for (int i = 0; i < COMMITS && !err; i++) {
		double t;
		uint64_t due;

		err = llmi_writer__events(w, &h, ev);
		due = llmi_now_ns() + 1000000000ull;	/* certainly past the 1 ms interval */
		t = bench_now();
		if (!err)
			err = llmi_writer__tick(w, due);
		commit[i] = (bench_now() - t) * 1e6;
		if (!err)
			err = llmi_writer__flush(w);	/* waits for the write */
		cf->write_ms[i] = (bench_now() - t) * 1e3;
		t = bench_now();
		if (!err && fdatasync(fd))
			err = -errno;
		cf->sync_ms[i] = (bench_now() - t) * 1e3;
	}
	close(fd);
	llmi_writer__stats(w, &st);
	cf->pad_bytes = st.pad_bytes;
	cf->commits = st.commits;
	if (!err)
		err = llmi_writer__close(w);
	llmi_writer__free(w);
	cf->tick_idle_ns = bench_median(idle, 1000);
	cf->tick_commit_us = bench_median(commit, COMMITS);
	return err ? fail("writer on", path, -err) : 0;
}

struct lat_fig {
	double p50_us, p99_us, max_us;
	double tensor_gbps;
	uint64_t batches;
};

/*
 * Two threads stream total bytes each of 4 MiB tensors; this thread
 * appends a 256-event batch (16 KiB) every millisecond while they do (up
 * to LAT_BATCHES), as the ring consumer does, and times each call
 * (ticking the writer after it, as the tracer's loop does). How many
 * batches got in is a figure too: a consumer starved of the lock makes few.
 */
static int run_latency(const char *path, const uint8_t *b, size_t total, unsigned flags,
		       struct lat_fig *lf)
{
	struct llmi_writer_opts o = { .sz = sizeof(o), .writer = "io_writer", .flags = flags,
				      .owner_uid = (uid_t)-1, .owner_gid = (gid_t)-1 };
	static struct llmi_tl_event ev[256];
	static double us[LAT_BATCHES];
	struct llmi_events_rec h = { .event_size = sizeof(struct llmi_tl_event),
				     .abi_version = 1, .count = 256 };
	struct llmi_writer *w = llmi_writer__new(path, &o);
	volatile bool stop = false;
	struct llmi_writer_stats st;
	struct appender a[2];
	pthread_t th[2];
	double t0;
	int err = 0, n = 0;

	if (!w)
		return fail("create", path, errno);
	t0 = bench_now();
	for (int i = 0; i < 2; i++) {
		a[i] = (struct appender){ w, b, total, &stop, 0, 0 };
		if (pthread_create(&th[i], NULL, append_tensors, &a[i])) {
			stop = true;
			while (i--)
				pthread_join(th[i], NULL);
			llmi_writer__free(w);
			return fail("thread for", path, EAGAIN);
		}
	}
	for (; n < LAT_BATCHES && !err; n++) {
		struct timespec ms = { 0, 1000000 };
		double t;

		if (__atomic_load_n(&a[0].finished, __ATOMIC_ACQUIRE) &&
		    __atomic_load_n(&a[1].finished, __ATOMIC_ACQUIRE))
			break;
		t = bench_now();
		err = llmi_writer__events(w, &h, ev);
		if (!err)
			err = llmi_writer__tick(w, llmi_now_ns());
		us[n] = (bench_now() - t) * 1e6;
		nanosleep(&ms, NULL);
	}
	stop = true;
	for (int i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		err = err ? err : a[i].err;
	}
	if (!err)
		err = llmi_writer__close(w);
	llmi_writer__stats(w, &st);	/* tensors on disk, synced: the clock runs to close */
	lf->tensor_gbps = st.sum.stored_bytes / (bench_now() - t0) / 1e9;
	llmi_writer__free(w);
	qsort(us, n, sizeof(double), bench_cmp_double);
	lf->batches = n;
	lf->p50_us = n ? us[n / 2] : 0;
	lf->p99_us = n ? us[n * 99 / 100] : 0;
	lf->max_us = n ? us[n - 1] : 0;
	return err ? fail("writer on", path, -err) : 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: io_writer [--dir DIR] [--mib N] [--rounds N] [--quick] [--json FILE|-]\n"
		"The container writer's throughput per backend against write(2)+fsync and\n"
		"unordered io_uring, with and without the commit interval's fdatasyncs, its\n"
		"thread mode with 1-3 appending threads against the locked mode, what one\n"
		"commit costs, and how long an events append takes while tensors stream\n"
		"(locked and thread mode). DIR (default build/bench/tmp) should be on the\n"
		"disk you care about; N MiB per case and round (default 256), N rounds\n"
		"(default 5); --quick: 64 MiB, 3 rounds.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' }, { "mib", required_argument, NULL, 'm' },
		{ "rounds", required_argument, NULL, 'r' }, { "quick", no_argument, NULL, 'q' },
		{ "json", required_argument, NULL, 'j' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir = "build/bench/tmp", *json_path = NULL;
	unsigned long mib = 256, rounds = 5;
	static double gbps[NC][MAX_ROUNDS], sorted[NC][MAX_ROUNDS];
	struct llmi_writer_stats tick_st = { 0 };
	struct commit_fig cf = { 0 };
	struct lat_fig lat_locked = { 0 }, lat_thread = { 0 };
	char path[4096], fs[32] = "?", *end;
	struct statfs sfs;
	uint8_t *b;
	size_t total;
	int opt, err = 0;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'd': dir = optarg; break;
		case 'm': mib = strtoul(optarg, &end, 10);
			  if (*end || mib < 4 || mib > (1ul << 20)) goto bad;
			  break;
		case 'r': rounds = strtoul(optarg, &end, 10);
			  if (*end || !rounds || rounds > MAX_ROUNDS) goto bad;
			  break;
		case 'q': mib = 64; rounds = 3; break;
		case 'j': json_path = optarg; break;
		case 'h': usage(stdout); return 0;
		default: goto bad;
		}
	}
	if (optind != argc)
		goto bad;
	if (mkdir(dir, 0755) && errno != EEXIST) {
		fprintf(stderr, "io_writer: cannot make %s: %s\n", dir, strerror(errno));
		return 1;
	}
	if (statfs(dir, &sfs) == 0)
		snprintf(fs, sizeof(fs), "%s", sfs.f_type == 0xEF53 ? "ext4" : sfs.f_type == 0x58465342 ?
			 "xfs" : sfs.f_type == 0x9123683E ? "btrfs" : sfs.f_type == 0x01021994 ? "tmpfs" :
			 "other");
	total = (size_t)(mib & ~3ul) << 20;
	if (posix_memalign((void **)&b, 4096, BLOB)) {
		fprintf(stderr, "io_writer: out of memory\n");
		return 1;
	}
	fill(b, BLOB);
	snprintf(path, sizeof(path), "%s/io_writer-%d.tmp", dir, getpid());
	if (!json_path || strcmp(json_path, "-"))
		printf("io_writer: %lu MiB per case in 4 MiB records, %lu interleaved rounds, %s (%s); "
		       "this machine's disk (CPU machine)\n", mib & ~3ul, rounds, dir, fs);

	for (unsigned long r = 0; r < rounds && !err; r++) {
		for (int c = 0; c < NC && !err; c++) {
			double t = bench_now();

			unlink(path);
			if (c == C_WRITE)
				err = run_write2(path, b, total);
			else if (c == C_URING_QD8)
				err = run_uring_qd8(path, b, total);
			else
				err = run_writer(path, b, total, cases[c].flags,
						 c == C_WRITER_TICK || c == C_WRITER_TICK_NOSYNC,
						 cases[c].threads, c == C_WRITER_TICK ? &tick_st : NULL);
			gbps[c][r] = total / (bench_now() - t) / 1e9;
			unlink(path);
		}
	}
	if (!err) {
		unlink(path);
		err = run_commits(path, &cf);
		unlink(path);
	}
	if (!err) {
		err = run_latency(path, b, total, LLMI_WRITER_LOCKED, &lat_locked);
		unlink(path);
	}
	if (!err) {
		err = run_latency(path, b, total, LLMI_WRITER_THREAD, &lat_thread);
		unlink(path);
	}
	free(b);
	if (err)
		return 1;
	for (int c = 0; c < NC; c++) {
		memcpy(sorted[c], gbps[c], sizeof(gbps[c]));
		bench_median(sorted[c], rounds);
	}
	{
		double med[NC], wms[COMMITS], sms[COMMITS];

		for (int c = 0; c < NC; c++)
			med[c] = sorted[c][rounds / 2];
		memcpy(wms, cf.write_ms, sizeof(wms));
		memcpy(sms, cf.sync_ms, sizeof(sms));
		qsort(wms, COMMITS, sizeof(double), bench_cmp_double);
		qsort(sms, COMMITS, sizeof(double), bench_cmp_double);

		if (!json_path || strcmp(json_path, "-")) {
			printf("\n%-26s %9s %15s %8s %10s\n", "case", "GB/s", "(min-max)", "x write", "x qd8");
			for (int c = 0; c < NC; c++)
				printf("%-26s %9.2f %6.2f-%-8.2f %8.2f %10.2f\n", cases[c].name, med[c],
				       sorted[c][0], sorted[c][rounds - 1], med[c] / med[C_WRITE],
				       med[c] / med[C_URING_QD8]);
			printf("\ncommit (64 KiB events record, padded partial extent), %d times:\n"
			       "  write   median %.2f ms, max %.2f ms\n"
			       "  fdatasync after it: median %.2f ms, max %.2f ms\n"
			       "  pad: %llu bytes over %llu commits (%.0f per commit, bound 4128)\n"
			       "owner's tick: %.0f ns when nothing is due, %.1f us when a commit is\n"
			       "commit ticks in the full-speed run: %llu commits, %llu fdatasyncs\n",
			       COMMITS, wms[COMMITS / 2], wms[COMMITS - 1], sms[COMMITS / 2], sms[COMMITS - 1],
			       (unsigned long long)cf.pad_bytes, (unsigned long long)cf.commits,
			       cf.commits ? (double)cf.pad_bytes / cf.commits : 0, cf.tick_idle_ns,
			       cf.tick_commit_us, (unsigned long long)tick_st.commits,
			       (unsigned long long)tick_st.syncs);
			printf("\nevents append (16 KiB batch + tick, every ms) while 2 threads append "
			       "4 MiB tensors (%lu MiB each):\n%-20s %8s %9s %9s %10s %11s\n", mib & ~3ul,
			       "mode", "batches", "p50 us", "p99 us", "max us", "tensor GB/s");
			printf("%-20s %8llu %9.1f %9.1f %10.1f %11.2f\n", "LLMI_WRITER_LOCKED",
			       (unsigned long long)lat_locked.batches, lat_locked.p50_us, lat_locked.p99_us,
			       lat_locked.max_us, lat_locked.tensor_gbps);
			printf("%-20s %8llu %9.1f %9.1f %10.1f %11.2f\n", "LLMI_WRITER_THREAD",
			       (unsigned long long)lat_thread.batches, lat_thread.p50_us, lat_thread.p99_us,
			       lat_thread.max_us, lat_thread.tensor_gbps);
		}
		if (json_path) {
			struct llmi_json j;
			FILE *f = strcmp(json_path, "-") ? fopen(json_path, "w") : stdout;

			if (!f) {
				fprintf(stderr, "io_writer: cannot write %s: %s\n", json_path, strerror(errno));
				return 1;
			}
			bench_json_begin(&j, f, "io_writer");
			llmi_json_str(&j, "dir", dir);
			llmi_json_str(&j, "filesystem", fs);
			llmi_json_str(&j, "figures", "this machine's disk, a CPU machine (no GPU)");
			llmi_json_u64(&j, "mib_per_case", mib & ~3ul);
			llmi_json_u64(&j, "rounds", rounds);
			llmi_json_u64(&j, "record_bytes", BLOB);
			llmi_json_obj_end(&j);
			llmi_json_arr_begin(&j, "cases");
			for (int c = 0; c < NC; c++) {
				llmi_json_obj_begin(&j, NULL);
				llmi_json_str(&j, "name", cases[c].name);
				llmi_json_str(&j, "what", cases[c].what);
				llmi_json_double(&j, "gbps_median", med[c]);
				llmi_json_double(&j, "gbps_min", sorted[c][0]);
				llmi_json_double(&j, "gbps_max", sorted[c][rounds - 1]);
				llmi_json_arr_begin(&j, "gbps_rounds");
				for (unsigned long r = 0; r < rounds; r++)
					llmi_json_double(&j, NULL, gbps[c][r]);
				llmi_json_arr_end(&j);
				llmi_json_obj_end(&j);
			}
			llmi_json_obj_begin(&j, NULL);
			llmi_json_str(&j, "name", "commit");
			llmi_json_str(&j, "what", "64 KiB events record as a padded partial extent, "
				      "then fdatasync, timed apart");
			llmi_json_arr_begin(&j, "write_ms");
			for (int i = 0; i < COMMITS; i++)
				llmi_json_double(&j, NULL, cf.write_ms[i]);
			llmi_json_arr_end(&j);
			llmi_json_arr_begin(&j, "fdatasync_ms");
			for (int i = 0; i < COMMITS; i++)
				llmi_json_double(&j, NULL, cf.sync_ms[i]);
			llmi_json_arr_end(&j);
			llmi_json_u64(&j, "pad_bytes", cf.pad_bytes);
			llmi_json_u64(&j, "commits", cf.commits);
			llmi_json_obj_end(&j);
			for (int m = 0; m < 2; m++) {
				const struct lat_fig *lf = m ? &lat_thread : &lat_locked;

				llmi_json_obj_begin(&j, NULL);
				llmi_json_str(&j, "name", m ? "events latency, thread mode" :
					      "events latency, locked");
				llmi_json_str(&j, "what", "a 16 KiB events batch and a tick every ms "
					      "while 2 threads append 4 MiB tensors: each call timed");
				llmi_json_u64(&j, "batches", lf->batches);
				llmi_json_double(&j, "p50_us", lf->p50_us);
				llmi_json_double(&j, "p99_us", lf->p99_us);
				llmi_json_double(&j, "max_us", lf->max_us);
				llmi_json_double(&j, "tensor_gbps", lf->tensor_gbps);
				llmi_json_obj_end(&j);
			}
			llmi_json_arr_end(&j);
			llmi_json_obj_begin(&j, "summary");
			llmi_json_double(&j, "write2_gbps", med[C_WRITE]);
			llmi_json_double(&j, "uring_qd8_unordered_gbps", med[C_URING_QD8]);
			llmi_json_double(&j, "writer_gbps", med[C_WRITER]);
			llmi_json_double(&j, "writer_commit_ticks_gbps", med[C_WRITER_TICK]);
			llmi_json_double(&j, "writer_buffered_gbps", med[C_WRITER_BUF]);
			llmi_json_double(&j, "writer_pwrite_gbps", med[C_WRITER_PWRITE]);
			llmi_json_double(&j, "writer_vs_write2", med[C_WRITER] / med[C_WRITE]);
			llmi_json_double(&j, "writer_vs_uring_qd8", med[C_WRITER] / med[C_URING_QD8]);
			llmi_json_double(&j, "writer_commit_ticks_no_sync_gbps", med[C_WRITER_TICK_NOSYNC]);
			llmi_json_double(&j, "commit_ticks_vs_writer", med[C_WRITER_TICK] / med[C_WRITER]);
			llmi_json_double(&j, "commit_ticks_vs_no_sync", med[C_WRITER_TICK] /
					 med[C_WRITER_TICK_NOSYNC]);
			llmi_json_double(&j, "commit_write_ms_p50", wms[COMMITS / 2]);
			llmi_json_double(&j, "fdatasync_ms_p50", sms[COMMITS / 2]);
			llmi_json_double(&j, "fdatasync_ms_max", sms[COMMITS - 1]);
			llmi_json_double(&j, "pad_bytes_per_commit",
					 cf.commits ? (double)cf.pad_bytes / cf.commits : 0);
			llmi_json_double(&j, "tick_idle_ns", cf.tick_idle_ns);
			llmi_json_double(&j, "tick_commit_us", cf.tick_commit_us);
			llmi_json_u64(&j, "commit_interval_ms", LLMI_WRITER_COMMIT_MS);
			llmi_json_double(&j, "thread1_gbps", med[C_THREAD1]);
			llmi_json_double(&j, "thread2_gbps", med[C_THREAD2]);
			llmi_json_double(&j, "thread3_gbps", med[C_THREAD3]);
			llmi_json_double(&j, "locked3_gbps", med[C_LOCKED3]);
			llmi_json_double(&j, "thread1_vs_writer", med[C_THREAD1] / med[C_WRITER]);
			llmi_json_double(&j, "thread3_vs_locked3", med[C_THREAD3] / med[C_LOCKED3]);
			llmi_json_double(&j, "events_p99_us_locked", lat_locked.p99_us);
			llmi_json_double(&j, "events_p99_us_thread", lat_thread.p99_us);
			llmi_json_double(&j, "events_max_us_locked", lat_locked.max_us);
			llmi_json_double(&j, "events_max_us_thread", lat_thread.max_us);
			llmi_json_obj_end(&j);
			llmi_json_obj_end(&j);
			if (llmi_json_finish(&j) || (f != stdout ? fclose(f) : fflush(f))) {
				fprintf(stderr, "io_writer: cannot write %s\n", json_path);
				return 1;
			}
		}
	}
	return 0;
bad:
	usage(stderr);
	return 2;
}
