// SPDX-License-Identifier: MIT
/*
 * baseline_dump: how fast activations reach the disk the way users dump
 * them today, the figure that llminstr's capture (optimized_streaming) is
 * measured against. A forward hook with `t.cpu()` and `torch.save` per
 * tensor does, per tensor: a synchronous device-to-host copy into freshly
 * allocated pageable memory (the GPU stream waits for it), then a buffered
 * write(2) of the raw bytes to a file of its own; here all files are
 * fsynced at the end, so that the figure is of data on the disk, as
 * llminstr's is.
 *
 * The tensors are llm_decode's residual streams by default: 32 layers x
 * [256 tokens x 4096 hidden] f32 per step (a 256-token prefill of a 7B-size
 * model), distinct device allocations filled once with activation-like
 * values; --layers, --rows and --hidden give other shapes. Steps run until
 * --seconds have passed (default 10), or --steps of them. In the same run
 * the disk's own sequential O_DIRECT write speed is measured (before and
 * after; the higher is disk_limit_gbps), the ceiling any dump has.
 *
 * It links whichever CUDA runtime the build gives it: the CPU stand-in in
 * build/sim (figures then labelled CPU figures: its "device" is host memory,
 * its copies memcpy), NVIDIA's on a GPU host. Files go under --dir (default
 * build/bench/tmp) in a folder of their own, removed at the end; a step
 * that would leave less than 1 GiB (or 5%) of the disk free is not started.
 * Prints a table, and with --json FILE (or -) one object {"benchmark",
 * "env", "cases", "summary"}; summary: raw_gbps, stored_gbps, ratio (1:
 * stored raw), disk_limit_gbps.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <liburing.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <cuda_runtime_api.h>

#include "common/json.h"
#include "common/parse.h"
#include "../bench.h"

#define DISK_BLOCK	(1u << 20)	/* O_DIRECT writes of 1 MiB, */
#define DISK_QD		8		/* 8 in flight: what the disk can take */

struct opts {
	uint64_t layers, rows, hidden, steps, disk_mib;
	double seconds;
	const char *dir, *json;
};

struct run {
	uint64_t tensors, bytes, steps;
	double copy_s, write_s, fsync_s, total_s;
	bool stopped_for_space;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

static int fail(const char *what, const char *obj, int err)
{
	fprintf(stderr, "baseline_dump: %s %s: %s\n", what, obj, strerror(err));
	return -err;
}

/* Free bytes of the filesystem under dir, less what must stay free. */
static uint64_t usable_space(const char *dir)
{
	struct statvfs v;
	uint64_t free_b, keep;

	if (statvfs(dir, &v))
		return 0;
	free_b = (uint64_t)v.f_bavail * v.f_frsize;
	keep = (uint64_t)v.f_blocks * v.f_frsize / 20;
	if (keep < (1ull << 30))
		keep = 1ull << 30;
	return free_b > keep ? free_b - keep : 0;
}

/*
 * The disk's own speed: `mib` MiB of sequential 1 MiB O_DIRECT writes, 8 in
 * flight through io_uring, then fsync. GB/s, or a negative errno.
 */
static double disk_limit(const char *path, uint64_t mib, int *err)
{
	size_t total = mib << 20, off = 0;
	unsigned inflight = 0;
	struct io_uring ring;
	double t0;
	void *b;
	int fd;

	*err = 0;
	if (posix_memalign(&b, 4096, DISK_BLOCK)) {
		*err = -ENOMEM;
		return 0;
	}
	memset(b, 0x5a, DISK_BLOCK);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_DIRECT | O_CLOEXEC, 0644);
	if (fd < 0) {
		*err = fail("cannot create (O_DIRECT)", path, errno);
		free(b);
		return 0;
	}
	if ((*err = io_uring_queue_init(2 * DISK_QD, &ring, 0))) {
		fail("io_uring_queue_init for", path, -*err);
		close(fd);
		unlink(path);
		free(b);
		return 0;
	}
	t0 = bench_now();
	while (!*err && (off < total || inflight)) {
		struct io_uring_cqe *cqe;
		int r;

		while (inflight < DISK_QD && off < total) {
			io_uring_prep_write(io_uring_get_sqe(&ring), fd, b, DISK_BLOCK, off);
			off += DISK_BLOCK;
			inflight++;
		}
		r = io_uring_submit_and_wait(&ring, 1);
		if (r < 0) {
			*err = r;
			break;
		}
		while (io_uring_peek_cqe(&ring, &cqe) == 0) {
			if (cqe->res != (int)DISK_BLOCK && !*err)
				*err = cqe->res < 0 ? cqe->res : -EIO;
			io_uring_cqe_seen(&ring, cqe);
			inflight--;
		}
	}
	if (!*err && fsync(fd))
		*err = -errno;
	t0 = bench_now() - t0;
	if (*err)
		fail("O_DIRECT write of", path, -*err);
	io_uring_queue_exit(&ring);
	close(fd);
	unlink(path);
	free(b);
	return *err ? 0 : total / t0 / 1e9;
}

static int write_all(int fd, const void *p, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t w = write(fd, (const char *)p + done, n - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		done += w;
	}
	return 0;
}

static void file_name(char *buf, size_t len, const char *sub, uint64_t layer, uint64_t step)
{
	snprintf(buf, len, "%s/blk.%llu.resid.%llu.raw", sub, (unsigned long long)layer,
		 (unsigned long long)step);
}

/*
 * The baseline itself, timed from the first copy to the last fsync: per
 * step, per tensor, cudaMemcpy into a new malloc'd buffer, a file of its
 * own, write(2), close, free. Then every file fsynced.
 */
static int dump(const struct opts *o, float **dev, const char *sub, struct run *r)
{
	size_t bytes = o->rows * o->hidden * sizeof(float);
	char path[8192];	/* room for any --dir, which snprintf bounds */
	double t0 = bench_now(), t;
	uint64_t s, l;
	int err = 0, fd;

	for (s = 0; !err && !stop; s++) {
		if (o->steps ? s >= o->steps : bench_now() - t0 >= o->seconds)
			break;
		if (usable_space(sub) < o->layers * bytes) {
			r->stopped_for_space = true;
			break;
		}
		r->steps = s + 1;
		for (l = 0; l < o->layers && !err; l++) {
			void *h = malloc(bytes);
			cudaError_t ce;

			if (!h) {
				err = fail("out of memory for a tensor of", "the host", ENOMEM);
				break;
			}
			t = bench_now();
			ce = cudaMemcpy(h, dev[l], bytes, cudaMemcpyDeviceToHost);
			r->copy_s += bench_now() - t;
			if (ce != cudaSuccess) {
				fprintf(stderr, "baseline_dump: cudaMemcpy of %zu bytes: %s\n", bytes,
					cudaGetErrorString(ce));
				free(h);
				err = -EIO;
				break;
			}
			file_name(path, sizeof(path), sub, l, s);
			t = bench_now();
			fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
			if (fd < 0)
				err = fail("cannot create", path, errno);
			else if ((err = write_all(fd, h, bytes)))
				fail("cannot write", path, -err);
			if (fd >= 0 && close(fd) && !err)
				err = fail("cannot write", path, errno);
			r->write_s += bench_now() - t;
			free(h);
			r->tensors++;
			r->bytes += bytes;
		}
	}
	/* the data on the disk: every file fsynced, as it would be to be kept */
	t = bench_now();
	for (s = 0; s < r->steps && !err; s++)
		for (l = 0; l < o->layers && !err; l++) {
			file_name(path, sizeof(path), sub, l, s);
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0 || fsync(fd))
				err = fail("cannot fsync", path, errno);
			if (fd >= 0)
				close(fd);
		}
	r->fsync_s = bench_now() - t;
	r->total_s = bench_now() - t0;
	return err;
}

/* Removes the run's own folder and everything in it (it made them all). */
static void cleanup(const char *sub)
{
	DIR *d = opendir(sub);
	struct dirent *e;

	while (d && (e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			unlinkat(dirfd(d), e->d_name, 0);
	if (d)
		closedir(d);
	if (rmdir(sub) && errno != ENOENT)
		fprintf(stderr, "baseline_dump: cannot remove %s: %s\n", sub, strerror(errno));
}

static int fill_device(const struct opts *o, float **dev)
{
	size_t n = o->rows * o->hidden;
	float *h = malloc(n * sizeof(float));
	uint64_t seed = 42;

	if (!h)
		return fail("out of memory for", "the tensors' contents", ENOMEM);
	for (uint64_t l = 0; l < o->layers; l++) {
		/* residual-stream-like: the scale grows with depth */
		double scale = 1.0 + 0.25 * l;
		cudaError_t ce;

		for (size_t i = 0; i < n; i++)
			h[i] = (float)(bench_gauss(&seed) * scale);
		ce = cudaMalloc((void **)&dev[l], n * sizeof(float));
		if (ce == cudaSuccess)
			ce = cudaMemcpy(dev[l], h, n * sizeof(float), cudaMemcpyHostToDevice);
		if (ce != cudaSuccess) {
			fprintf(stderr, "baseline_dump: cannot put %llu tensors of %zu bytes on the "
				"device: %s\n", (unsigned long long)o->layers, n * sizeof(float),
				cudaGetErrorString(ce));
			free(h);
			return -EIO;
		}
	}
	free(h);
	return 0;
}

/*
 * Whether the runtime runs on the stand-in: its libcuda.so.1 (loaded by the
 * runtime at first use, so ask after one) exports its engine.
 */
static bool stand_in(void)
{
	void *h = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_NOLOAD);
	bool sim = h && dlsym(h, "llminstr_sim_core");

	if (h)
		dlclose(h);
	return sim;
}

static const char *fs_name(const char *dir)
{
	struct statfs s;

	if (statfs(dir, &s))
		return "?";
	switch ((unsigned long)s.f_type) {
	case 0xEF53: return "ext4";
	case 0x58465342: return "xfs";
	case 0x9123683E: return "btrfs";
	case 0x01021994: return "tmpfs";
	default: return "other";
	}
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: baseline_dump [--layers N] [--rows N] [--hidden N] [--seconds S | --steps N]\n"
"                     [--disk-mib N] [--dir DIR] [--quick] [--json FILE|-]\n"
"What dumping activations costs the way it is done today: per tensor a\n"
"synchronous device-to-host copy into pageable memory and a buffered write(2)\n"
"to its own file, fsync at the end; and the disk's O_DIRECT write speed.\n"
"  --layers N    tensors per step (default 32)\n"
"  --rows N      tokens per tensor (default 256)\n"
"  --hidden N    values per token (default 4096): f32 [rows, hidden] tensors\n"
"  --seconds S   run steps for S seconds (default 10), or\n"
"  --steps N     exactly N steps\n"
"  --disk-mib N  MiB of the O_DIRECT measurement, before and after (default 1024)\n"
"  --dir DIR     where the files go, removed after (default build/bench/tmp)\n"
"  --quick       --seconds 2 --disk-mib 256\n"
"  --json FILE   the figures as JSON ('-': stdout, instead of the table)\n");
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "layers", required_argument, NULL, 'l' }, { "rows", required_argument, NULL, 'r' },
		{ "hidden", required_argument, NULL, 'H' }, { "seconds", required_argument, NULL, 's' },
		{ "steps", required_argument, NULL, 'n' }, { "disk-mib", required_argument, NULL, 'm' },
		{ "dir", required_argument, NULL, 'd' }, { "quick", no_argument, NULL, 'q' },
		{ "json", required_argument, NULL, 'j' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t *num;
	int c, i;

	opterr = 0;	/* one line of our own */
	while ((c = getopt_long(argc, argv, "", lo, &i)) != -1) {
		switch (c) {
		case 'l': num = &o->layers; break;
		case 'r': num = &o->rows; break;
		case 'H': num = &o->hidden; break;
		case 'n': num = &o->steps; break;
		case 'm': num = &o->disk_mib; break;
		case 's':
			if (llmi_parse_seconds(optarg, &o->seconds)) {
				fprintf(stderr, "baseline_dump: --seconds needs a positive number, "
					"got '%s'\n", optarg);
				return -EINVAL;
			}
			continue;
		case 'd': o->dir = optarg; continue;
		case 'j': o->json = optarg; continue;
		case 'q': o->seconds = 2; o->disk_mib = 256; continue;
		case 'h': usage(stdout); exit(0);
		default:
			fprintf(stderr, "baseline_dump: unknown option or missing value: '%s' "
				"(--help lists them)\n", argv[optind - 1]);
			return -EINVAL;
		}
		if (llmi_parse_u64(optarg, num) || !*num || *num > (1ull << 24)) {
			fprintf(stderr, "baseline_dump: --%s needs an integer in [1, %llu], got '%s'\n",
				lo[i].name, 1ull << 24, optarg);
			return -EINVAL;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "baseline_dump: unexpected '%s' (--help lists the options)\n",
			argv[optind]);
		return -EINVAL;
	}
	if (o->rows * o->hidden > (1ull << 31)) {
		fprintf(stderr, "baseline_dump: a tensor of %llu x %llu values is over 8 GiB\n",
			(unsigned long long)o->rows, (unsigned long long)o->hidden);
		return -EINVAL;
	}
	return 0;
}

static int print_json(FILE *f, const struct opts *o, const struct run *r, double raw_gbps,
		       double disk_before, double disk_after, const char *fs, const char *figures)
{
	double disk = disk_before > disk_after ? disk_before : disk_after;
	size_t tb = o->rows * o->hidden * sizeof(float);
	struct llmi_json j;

	bench_json_begin(&j, f, "baseline_dump");
	llmi_json_str(&j, "figures", figures);
	llmi_json_str(&j, "dir", o->dir);
	llmi_json_str(&j, "filesystem", fs);
	llmi_json_u64(&j, "tensors_per_step", o->layers);
	llmi_json_arr_begin(&j, "tensor_shape");
	llmi_json_u64(&j, NULL, o->rows);
	llmi_json_u64(&j, NULL, o->hidden);
	llmi_json_arr_end(&j);
	llmi_json_str(&j, "dtype", "f32");
	llmi_json_u64(&j, "tensor_bytes", tb);
	llmi_json_obj_end(&j);
	llmi_json_arr_begin(&j, "cases");
	llmi_json_obj_begin(&j, NULL);
	llmi_json_str(&j, "name", "baseline");
	llmi_json_str(&j, "what", "per tensor: cudaMemcpy D2H into new pageable memory, "
		      "write(2) to its own file; fsync of every file at the end");
	llmi_json_u64(&j, "steps", r->steps);
	llmi_json_u64(&j, "tensors", r->tensors);
	llmi_json_u64(&j, "raw_bytes", r->bytes);
	llmi_json_double(&j, "seconds", r->total_s);
	llmi_json_double(&j, "copy_s", r->copy_s);
	llmi_json_double(&j, "write_s", r->write_s);
	llmi_json_double(&j, "fsync_s", r->fsync_s);
	llmi_json_double(&j, "raw_gbps", raw_gbps);
	llmi_json_double(&j, "copy_gbps", r->copy_s > 0 ? r->bytes / r->copy_s / 1e9 : 0);
	llmi_json_double(&j, "tensors_per_s", r->total_s > 0 ? r->tensors / r->total_s : 0);
	llmi_json_bool(&j, "stopped_for_disk_space", r->stopped_for_space);
	llmi_json_obj_end(&j);
	llmi_json_obj_begin(&j, NULL);
	llmi_json_str(&j, "name", "disk O_DIRECT");
	llmi_json_str(&j, "what", "sequential 1 MiB O_DIRECT writes, 8 in flight (io_uring), "
		      "fsync; before and after the baseline");
	llmi_json_u64(&j, "mib", o->disk_mib);
	llmi_json_double(&j, "gbps_before", disk_before);
	llmi_json_double(&j, "gbps_after", disk_after);
	llmi_json_obj_end(&j);
	llmi_json_arr_end(&j);
	llmi_json_obj_begin(&j, "summary");
	llmi_json_double(&j, "raw_gbps", raw_gbps);
	llmi_json_double(&j, "stored_gbps", raw_gbps);
	llmi_json_double(&j, "ratio", 1.0);
	llmi_json_double(&j, "disk_limit_gbps", disk);
	llmi_json_double(&j, "fraction_of_disk_limit", disk > 0 ? raw_gbps / disk : 0);
	llmi_json_double(&j, "seconds", r->total_s);
	llmi_json_obj_end(&j);
	llmi_json_obj_end(&j);
	return llmi_json_finish(&j);
}

int main(int argc, char **argv)
{
	struct opts o = { .layers = 32, .rows = 256, .hidden = 4096, .seconds = 10,
			  .disk_mib = 1024, .dir = "build/bench/tmp" };
	double disk_before = 0, disk_after = 0, raw_gbps;
	char sub[4096], probe[4200];
	const char *fs, *figures;
	struct sigaction sa;
	struct run r = { 0 };
	float **dev;
	bool table;
	int err = 0;

	if (parse_opts(argc, argv, &o))
		return 2;
	table = !o.json || strcmp(o.json, "-");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (mkdir(o.dir, 0755) && errno != EEXIST)
		return fail("cannot make", o.dir, errno), 1;
	snprintf(sub, sizeof(sub), "%s/baseline_dump-%d", o.dir, (int)getpid());
	snprintf(probe, sizeof(probe), "%s/disk.tmp", sub);
	if (mkdir(sub, 0755))
		return fail("cannot make", sub, errno), 1;
	fs = fs_name(sub);
	if (usable_space(sub) < (o.disk_mib << 20) + o.layers * o.rows * o.hidden * 4) {
		fprintf(stderr, "baseline_dump: too little free space under %s for one step and "
			"the disk measurement (1 GiB or 5%% stays free); use --dir elsewhere\n", o.dir);
		rmdir(sub);
		return 1;
	}
	dev = calloc(o.layers, sizeof(*dev));
	if (!dev || fill_device(&o, dev)) {
		for (uint64_t l = 0; dev && l < o.layers; l++)
			cudaFree(dev[l]);
		free(dev);
		rmdir(sub);
		return 1;
	}
	figures = stand_in() ? "CPU figures: the stand-in CUDA runtime (build/sim), no GPU" :
			       "GPU figures";
	if (table)
		printf("baseline_dump: %llu tensors x [%llu, %llu] f32 (%.1f MiB) per step, %s "
		       "(%s); %s\n", (unsigned long long)o.layers, (unsigned long long)o.rows,
		       (unsigned long long)o.hidden, o.rows * o.hidden * 4 / 1048576.0, o.dir, fs,
		       figures);
	disk_before = disk_limit(probe, o.disk_mib, &err);
	if (!err)
		err = dump(&o, dev, sub, &r);
	if (!err && !stop)
		disk_after = disk_limit(probe, o.disk_mib, &err);
	cleanup(sub);
	for (uint64_t l = 0; l < o.layers; l++)
		cudaFree(dev[l]);
	free(dev);
	if (err)
		return 1;
	if (stop) {
		fprintf(stderr, "baseline_dump: interrupted; its files are removed\n");
		return 1;
	}
	raw_gbps = r.total_s > 0 ? r.bytes / r.total_s / 1e9 : 0;
	if (table) {
		double disk = disk_before > disk_after ? disk_before : disk_after;

		printf("\n%-34s %8s %9s %10s\n", "case", "GB/s", "seconds", "GiB");
		printf("%-34s %8.2f %9.2f %10.2f\n", "copy + write(2) per tensor, fsync", raw_gbps,
		       r.total_s, r.bytes / 1073741824.0);
		printf("%-34s %8.2f %9.2f\n", "  of which D2H copies (pageable)",
		       r.copy_s > 0 ? r.bytes / r.copy_s / 1e9 : 0, r.copy_s);
		printf("%-34s %8.2f %9.2f\n", "  of which write(2)",
		       r.write_s > 0 ? r.bytes / r.write_s / 1e9 : 0, r.write_s);
		printf("%-34s %8s %9.2f\n", "  of which fsync at the end", "", r.fsync_s);
		printf("%-34s %8.2f %9s %10.2f\n", "disk O_DIRECT write, before", disk_before, "",
		       o.disk_mib / 1024.0);
		printf("%-34s %8.2f %9s %10.2f\n", "disk O_DIRECT write, after", disk_after, "",
		       o.disk_mib / 1024.0);
		printf("\n%llu steps, %llu tensors (%.0f tensors/s); raw = stored, ratio 1.00; "
		       "%.0f%% of the disk's %.2f GB/s%s\n", (unsigned long long)r.steps,
		       (unsigned long long)r.tensors, r.total_s > 0 ? r.tensors / r.total_s : 0,
		       disk > 0 ? 100 * raw_gbps / disk : 0, disk,
		       r.stopped_for_space ? "; stopped early: disk space" : "");
	}
	if (o.json) {
		FILE *f = strcmp(o.json, "-") ? fopen(o.json, "w") : stdout;

		if (!f)
			return fail("cannot write", o.json, errno), 1;
		err = print_json(f, &o, &r, raw_gbps, disk_before, disk_after, fs, figures);
		if ((f != stdout ? fclose(f) : fflush(f)) || err)
			return fail("cannot write", o.json, EIO), 1;
	}
	return 0;
}
