// SPDX-License-Identifier: MIT
/*
 * The capture pipeline's sustained rate, against what users do today and
 * against the disk, in one run (DESIGN.md, "Machine-readable outputs"):
 *
 *   disk      the disk's own sequential O_DIRECT write speed (the limit of
 *             any raw dump), and
 *   baseline  a raw dump per tensor, as forward hooks with torch.save do
 *             (a copy to pageable memory, a buffered write(2) into its own
 *             file, fsync at the end): both from build/bench/baseline_dump,
 *             run here on the same shapes for the same time;
 *   capture   llminstr-trace --capture all -o FILE -- this program as a
 *             producer that hands the same tensors to the agent for
 *             --seconds: raw GB/s is the raw bytes the tracer wrote, over
 *             the time from the producer's start to the tracer's exit
 *             (coding, writing and the final fsync included).
 *
 * The tensors: --layers residual streams of [--rows x --hidden] f32 per
 * step, activation-like (Laplace bulk, lognormal channel scales, seeded),
 * made once and handed over again and again (the producer costs a copy,
 * not a generator). Host memory, and (--tensors device or both) the same
 * tensors in device memory: the producer loads libcuda.so.1 (the system's,
 * else the stand-in's in build/sim), uploads the pool with cuMemAlloc and
 * hands device pointers over on its own stream, syncing the stream at each
 * step as a model's sampling does, so that the agent's device path is what
 * is measured (the snapshot into the device staging ring on the producer's
 * stream, the copy to the pinned host ring on the side stream). On the
 * stand-in these are CPU figures of this machine; with a GPU's libcuda the
 * device case gives GPU figures.
 *
 *   optimized_streaming [--seconds S] [--dir DIR] [--rows N] [--hidden N]
 *                       [--layers N] [--codec SPEC] [--threads N]
 *                       [--tensors host|device|both] [--json FILE|-]
 *
 * --threads N: the tracer's coder threads (its --threads; default: the
 * tracer's own default: with -- CMD, --on-full block, the CPUs).
 *
 * Needs root (BPF); exits 77 otherwise.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdbool.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/llminstr.h"
#include "common/json.h"
#include "../bench.h"

#define POOL 8		/* distinct tensors handed over in turn */

struct cfg {
	double seconds;
	const char *dir, *codec, *json;
	long rows, hidden, layers;
	long threads;			/* the tracer's --threads, 0: its default */
	const char *tensors;		/* host, device or both */
	const char *libcuda;		/* the producer's device tensors: this driver */
};

static float *make_pool(const struct cfg *c)
{
	size_t n = (size_t)c->rows * c->hidden;
	float *p = malloc(POOL * n * sizeof(float));
	double *scale = malloc(c->hidden * sizeof(double));
	uint64_t s = 42;

	if (!p || !scale) {
		free(p);
		free(scale);
		return NULL;
	}
	for (long j = 0; j < c->hidden; j++)
		scale[j] = exp(0.5 * bench_gauss(&s));
	for (size_t k = 0; k < POOL * n; k++) {
		double u = bench_urand(&s) - 0.5;

		p[k] = (float)(-scale[k % c->hidden] * copysign(log(1 - 2 * fabs(u)), u));
	}
	free(scale);
	return p;
}

/*
 * The device pool: the driver API from lib (dlopen, the _v2 entry points
 * NVIDIA's libcuda exports), one primary context, a non-blocking stream.
 * Its handles are kept in *dev; 0 or a message on stderr and -1.
 */
struct dev {
	void *lib, *stream;
	unsigned long long dptr;
	int (*sync)(void *);
};

static int dev_pool(const struct cfg *c, const float *pool, size_t bytes, struct dev *d)
{
	int (*init)(unsigned), (*dget)(int *, int), (*retain)(void **, int), (*setcur)(void *);
	int (*alloc)(unsigned long long *, size_t), (*h2d)(unsigned long long, const void *, size_t);
	int (*screate)(void **, unsigned);
	void *ctx = NULL;
	int dv = 0, rc;

	d->lib = dlopen(c->libcuda, RTLD_NOW | RTLD_GLOBAL);
	if (!d->lib) {
		fprintf(stderr, "producer: cannot load %s: %s\n", c->libcuda, dlerror());
		return -1;
	}
	*(void **)&init = dlsym(d->lib, "cuInit");
	*(void **)&dget = dlsym(d->lib, "cuDeviceGet");
	*(void **)&retain = dlsym(d->lib, "cuDevicePrimaryCtxRetain");
	*(void **)&setcur = dlsym(d->lib, "cuCtxSetCurrent");
	*(void **)&alloc = dlsym(d->lib, "cuMemAlloc_v2");
	*(void **)&h2d = dlsym(d->lib, "cuMemcpyHtoD_v2");
	*(void **)&screate = dlsym(d->lib, "cuStreamCreate");
	*(void **)&d->sync = dlsym(d->lib, "cuStreamSynchronize");
	if (!init || !dget || !retain || !setcur || !alloc || !h2d || !screate || !d->sync) {
		fprintf(stderr, "producer: %s lacks a driver entry point it needs\n", c->libcuda);
		return -1;
	}
	/* 1: CU_STREAM_NON_BLOCKING, as engines' compute streams are */
	if ((rc = init(0)) || (rc = dget(&dv, 0)) || (rc = retain(&ctx, dv)) || (rc = setcur(ctx)) ||
	    (rc = alloc(&d->dptr, bytes)) || (rc = h2d(d->dptr, pool, bytes)) ||
	    (rc = screate(&d->stream, 1))) {
		fprintf(stderr, "producer: device set-up through %s failed: CUresult %d\n",
			c->libcuda, rc);
		return -1;
	}
	return 0;
}

/* The producer, run under the tracer: prints what it handed over. */
static int producer(const struct cfg *c)
{
	float *pool = make_pool(c);
	size_t n = (size_t)c->rows * c->hidden;
	int64_t shape[2] = { c->rows, c->hidden };
	uint64_t taken = 0, bytes = 0, refused = 0;
	double t0 = bench_now(), t;
	struct dev d = { 0 };
	char name[64];

	if (!pool)
		return 1;
	if (c->libcuda && dev_pool(c, pool, POOL * n * sizeof(float), &d))
		return 1;
	printf("producer: ready%s%s\n", c->libcuda ? ", device tensors through " : "",
	       c->libcuda ? c->libcuda : "");
	fflush(stdout);
	t0 = bench_now();
	for (uint64_t step = 0; (t = bench_now()) - t0 < c->seconds; step++) {
		llminstr_step(step);
		for (long l = 0; l < c->layers; l++) {
			int rc;

			size_t off = ((step * c->layers + l) % POOL) * n;

			snprintf(name, sizeof(name), "blk.%ld.resid", l);
			if (c->libcuda)
				rc = llminstr_capture(name, (void *)(uintptr_t)(d.dptr + off * sizeof(float)),
						      LLMINSTR_F32, 2, shape, d.stream);
			else
				rc = llminstr_capture(name, pool + off, LLMINSTR_F32, 2, shape, NULL);
			if (rc == 1) {
				taken++;
				bytes += n * sizeof(float);
			} else {
				refused++;
			}
		}
		if (c->libcuda && d.sync(d.stream)) {
			fprintf(stderr, "producer: cuStreamSynchronize failed\n");
			return 1;
		}
	}
	printf("producer: %llu tensors, %llu bytes in %.3f s, %llu not taken\n",
	       (unsigned long long)taken, (unsigned long long)bytes, t - t0,
	       (unsigned long long)refused);
	free(pool);
	return 0;
}

/* Runs a program with stdout to /dev/null; 0, or its exit status, said. */
static int run(char *const argv[])
{
	int st = bench_run(argv, NULL);

	if (st > 0)
		fprintf(stderr, "optimized_streaming: %s exited %d\n", argv[0], st);
	return st;
}

/*
 * The baseline and the disk limit: build/bench/baseline_dump on the same
 * tensors for the same time (a copy to pageable memory and a raw file per
 * tensor, fsync at the end; the disk's O_DIRECT speed beside it).
 */
static int baseline(const struct cfg *c, const char *bench_dir, double *raw_gbps, double *disk)
{
	char bin[4096 + 32], js[4096], secs[32], rows[32], hid[32], lay[32];
	char *argv[] = { bin, "--seconds", secs, "--rows", rows, "--hidden", hid, "--layers", lay,
			 "--dir", (char *)c->dir, "--json", js, NULL };
	char *buf;
	int err;

	snprintf(bin, sizeof(bin), "%s/baseline_dump", bench_dir);
	snprintf(js, sizeof(js), "%s/baseline.json", c->dir);
	snprintf(secs, sizeof(secs), "%g", c->seconds);
	snprintf(rows, sizeof(rows), "%ld", c->rows);
	snprintf(hid, sizeof(hid), "%ld", c->hidden);
	snprintf(lay, sizeof(lay), "%ld", c->layers);
	err = run(argv);
	if (err)
		return err;
	buf = bench_slurp(js);
	unlink(js);
	*raw_gbps = bench_jnum(buf, "\"summary\"", "raw_gbps");
	*disk = bench_jnum(buf, "\"summary\"", "disk_limit_gbps");
	free(buf);
	return isnan(*raw_gbps) || isnan(*disk) ? -EBADMSG : 0;
}

struct cap_res {
	double raw_gbps, stored_gbps, ratio, seconds, max_nmse;
	uint64_t tensors, raw, stored, dropped, blocked_ns;
	uint64_t unfinished;	/* taken, still in flight when the producer exited */
};

/*
 * The libcuda.so.1 for device tensors: the loader's (a GPU's driver), else
 * the stand-in's next to this build (build/sim); NULL if neither loads.
 */
static const char *find_libcuda(const char *bench_dir, char *buf, size_t len)
{
	void *h = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
	struct link_map *lm;

	if (h && !dlinfo(h, RTLD_DI_LINKMAP, &lm) && lm->l_name && lm->l_name[0] == '/') {
		snprintf(buf, len, "%s", lm->l_name);
		dlclose(h);
		return buf;
	}
	if (h)
		dlclose(h);
	snprintf(buf, len, "%s/../sim/libcuda.so.1", bench_dir);
	return access(buf, R_OK) ? NULL : buf;
}

/* The capture run; libcuda non-NULL: device tensors through that driver. */
static int capture(const struct cfg *c, const char *self, const char *libcuda, struct cap_res *r)
{
	char out[4096], js[4096], secs[32], rows[32], hid[32], lay[32], thr[32], tracer[4096];
	char *argv[32];
	int argc = 0, err;
	double t0;
	char *buf;

	snprintf(tracer, sizeof(tracer), "%s", self);
	*strrchr(tracer, '/') = '\0';
	strncat(tracer, "/../bin/llminstr-trace", sizeof(tracer) - strlen(tracer) - 1);
	snprintf(out, sizeof(out), "%s/capture.llmi", c->dir);
	snprintf(js, sizeof(js), "%s/capture.json", c->dir);
	snprintf(secs, sizeof(secs), "%g", c->seconds);
	snprintf(rows, sizeof(rows), "%ld", c->rows);
	snprintf(hid, sizeof(hid), "%ld", c->hidden);
	snprintf(lay, sizeof(lay), "%ld", c->layers);
	unlink(out);
	unlink(js);
	argv[argc++] = tracer;
	argv[argc++] = "--capture";
	argv[argc++] = "all";
	argv[argc++] = "--codec";
	argv[argc++] = (char *)c->codec;
	argv[argc++] = "-o";
	argv[argc++] = out;
	argv[argc++] = "--json";
	argv[argc++] = js;
	if (c->threads) {
		snprintf(thr, sizeof(thr), "%ld", c->threads);
		argv[argc++] = "--threads";
		argv[argc++] = thr;
	}
	argv[argc++] = "--";
	argv[argc++] = (char *)self;
	argv[argc++] = "--producer";
	argv[argc++] = "--seconds";
	argv[argc++] = secs;
	argv[argc++] = "--rows";
	argv[argc++] = rows;
	argv[argc++] = "--hidden";
	argv[argc++] = hid;
	argv[argc++] = "--layers";
	argv[argc++] = lay;
	if (libcuda) {
		argv[argc++] = "--device";
		argv[argc++] = (char *)libcuda;
	}
	argv[argc] = NULL;
	t0 = bench_now();
	err = run(argv);
	r->seconds = bench_now() - t0;
	if (err)
		return err < 0 ? err : -EIO;
	buf = bench_slurp(js);
	if (!buf)
		return -errno;
	r->tensors = (uint64_t)bench_jnum(buf, "\"capture\"", "tensors");
	r->raw = (uint64_t)bench_jnum(buf, "\"capture\"", "raw_bytes");
	r->stored = (uint64_t)bench_jnum(buf, "\"capture\"", "stored_bytes");
	r->dropped = (uint64_t)bench_jnum(buf, "\"capture\"", "dropped");
	r->blocked_ns = (uint64_t)bench_jnum(buf, "\"capture\"", "blocked_ns");
	r->max_nmse = bench_jnum(buf, "\"capture\"", "max_nmse");
	r->unfinished = (uint64_t)bench_jnum(buf, "\"capture\"", "unfinished");
	free(buf);
	r->raw_gbps = r->raw / r->seconds / 1e9;
	r->stored_gbps = r->stored / r->seconds / 1e9;
	r->ratio = r->stored ? (double)r->raw / r->stored : 0;
	unlink(out);
	unlink(js);
	return 0;
}

/* Device tensors' figures are the stand-in's CPU figures, or a GPU's. */
static const char *dev_figures(const char *libcuda)
{
	return strstr(libcuda, "/sim/libcuda") ?
		"CPU figures of this machine (stand-in libcuda, device tensors)" :
		"GPU figures (device tensors through the system's libcuda; coders on this host's CPUs)";
}

static void dev_report(const struct cap_res *d, double base, double disk, const char *libcuda)
{
	printf("%-34s %10.3f %10.3f\n", "--capture, device tensors", d->raw_gbps, d->stored_gbps);
	printf("device tensors (%s, %s): %llu tensors, ratio %.2fx, max nmse %.3g, %llu dropped, "
	       "%llu unfinished at exit, blocked %.1f ms; %.2fx the baseline, %.2fx the disk's raw "
	       "speed\n", dev_figures(libcuda), libcuda, (unsigned long long)d->tensors, d->ratio,
	       d->max_nmse, (unsigned long long)d->dropped, (unsigned long long)d->unfinished,
	       d->blocked_ns / 1e6, base > 0 ? d->raw_gbps / base : 0,
	       disk > 0 ? d->raw_gbps / disk : 0);
}

static void dev_json_case(struct llmi_json *j, const struct cap_res *d, const char *libcuda)
{
	llmi_json_obj_begin(j, NULL);
	llmi_json_str(j, "name", "capture_device");
	llmi_json_str(j, "figures", dev_figures(libcuda));
	llmi_json_str(j, "libcuda", libcuda);
	llmi_json_double(j, "raw_gbps", d->raw_gbps);
	llmi_json_double(j, "stored_gbps", d->stored_gbps);
	llmi_json_double(j, "ratio", d->ratio);
	llmi_json_u64(j, "tensors", d->tensors);
	llmi_json_u64(j, "dropped", d->dropped);
	llmi_json_u64(j, "unfinished", d->unfinished);
	llmi_json_u64(j, "blocked_ns", d->blocked_ns);
	llmi_json_double(j, "max_nmse", d->max_nmse);
	llmi_json_double(j, "seconds", d->seconds);
	llmi_json_obj_end(j);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "seconds", required_argument, NULL, 's' }, { "dir", required_argument, NULL, 'd' },
		{ "rows", required_argument, NULL, 'r' }, { "hidden", required_argument, NULL, 'H' },
		{ "layers", required_argument, NULL, 'l' }, { "codec", required_argument, NULL, 'c' },
		{ "json", required_argument, NULL, 'j' }, { "producer", no_argument, NULL, 'p' },
		{ "threads", required_argument, NULL, 't' },
		{ "tensors", required_argument, NULL, 'T' }, { "device", required_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' }, {},
	};
	struct cfg c = { .seconds = 10, .dir = "build/bench/tmp", .codec = "quant:nmse=1e-3",
			 .rows = 256, .hidden = 4096, .layers = 32, .tensors = "both" };
	bool prod = false;
	struct cap_res cr = { 0 }, dr = { 0 };
	char libcuda_buf[4096 + 32];
	const char *libcuda = NULL;
	bool host_case, dev_case;
	double disk, base;
	char self[4096], bench_dir[4096];
	char thr_s[32];
	ssize_t n;
	int o, err;

	while ((o = getopt_long(argc, argv, "s:d:r:H:l:c:j:t:pT:D:h", opts, NULL)) != -1) {
		switch (o) {
		case 's': c.seconds = atof(optarg); break;
		case 'd': c.dir = optarg; break;
		case 'r': c.rows = atol(optarg); break;
		case 'H': c.hidden = atol(optarg); break;
		case 'l': c.layers = atol(optarg); break;
		case 'c': c.codec = optarg; break;
		case 'j': c.json = optarg; break;
		case 't': c.threads = atol(optarg); break;
		case 'p': prod = true; break;
		case 'T': c.tensors = optarg; break;
		case 'D': c.libcuda = optarg; break;
		case 'h':
			puts("usage: optimized_streaming [--seconds S] [--dir DIR] [--rows N] [--hidden N]\n"
			     "                           [--layers N] [--codec SPEC] [--threads N]\n"
			     "                           [--tensors host|device|both] [--json FILE|-]");
			return 0;
		default:
			fprintf(stderr, "optimized_streaming: bad option (see --help)\n");
			return 2;
		}
	}
	if (c.seconds <= 0 || c.rows < 1 || c.hidden < 1 || c.layers < 1) {
		fprintf(stderr, "optimized_streaming: --seconds, --rows, --hidden, --layers > 0\n");
		return 2;
	}
	if (c.threads < 0 || c.threads > 64) {
		fprintf(stderr, "optimized_streaming: --threads from 1 to 64 (0: the tracer's default)\n");
		return 2;
	}
	host_case = !strcmp(c.tensors, "host") || !strcmp(c.tensors, "both");
	dev_case = !strcmp(c.tensors, "device") || !strcmp(c.tensors, "both");
	if (!host_case && !dev_case) {
		fprintf(stderr, "optimized_streaming: --tensors takes host, device or both, not '%s'\n",
			c.tensors);
		return 2;
	}
	if (prod)
		return producer(&c);
	snprintf(thr_s, sizeof(thr_s), "%ld", c.threads);
	if (geteuid()) {
		fprintf(stderr, "optimized_streaming: needs root (the tracer loads BPF)\n");
		return 77;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return 1;
	self[n] = '\0';
	mkdir(c.dir, 0755);
	snprintf(bench_dir, sizeof(bench_dir), "%s", self);
	*strrchr(bench_dir, '/') = '\0';
	err = baseline(&c, bench_dir, &base, &disk);
	if (err) {
		fprintf(stderr, "optimized_streaming: the baseline run failed: %s\n",
			err < 0 ? strerror(-err) : "see above");
		return 1;
	}
	if (dev_case && !(libcuda = find_libcuda(bench_dir, libcuda_buf, sizeof(libcuda_buf)))) {
		fprintf(stderr, "optimized_streaming: no libcuda.so.1 for device tensors (neither the "
			"loader's nor %s/../sim's); --tensors host measures host tensors only\n", bench_dir);
		return 1;
	}
	err = host_case ? capture(&c, self, NULL, &cr) : 0;
	if (err) {
		fprintf(stderr, "optimized_streaming: the capture run failed: %s\n", strerror(-err));
		return 1;
	}
	err = dev_case ? capture(&c, self, libcuda, &dr) : 0;
	if (err) {
		fprintf(stderr, "optimized_streaming: the capture run of device tensors failed: %s\n",
			strerror(-err));
		return 1;
	}
	if (!host_case)
		cr = dr;	/* the summary's figures are the only capture run's */
	printf("optimized_streaming: %ld x [%ld x %ld] f32 per step for %.0f s, codec %s, "
	       "coder threads %s (%s)\n", c.layers, c.rows, c.hidden, c.seconds, c.codec,
	       c.threads ? thr_s : "the tracer's default",
	       host_case ? "CPU figures of this machine, host tensors" : "device tensors only");
	printf("%-34s %10s %10s\n", "case", "raw GB/s", "stored");
	printf("%-34s %10.3f %10s\n", "disk, O_DIRECT sequential", disk, "-");
	printf("%-34s %10.3f %10.3f\n", "baseline_dump: copy + raw file each", base, base);
	if (host_case)
		printf("%-34s %10.3f %10.3f\n", "llminstr-trace --capture", cr.raw_gbps, cr.stored_gbps);
	if (host_case)
		printf("capture: %llu tensors, ratio %.2fx, max nmse %.3g, %llu dropped, blocked %.1f ms; "
	       "%.2fx the baseline, %.2fx the disk's raw speed\n", (unsigned long long)cr.tensors,
	       cr.ratio, cr.max_nmse, (unsigned long long)cr.dropped, cr.blocked_ns / 1e6,
	       base > 0 ? cr.raw_gbps / base : 0, disk > 0 ? cr.raw_gbps / disk : 0);
	if (dev_case)
		dev_report(&dr, base, disk, libcuda);
	if (c.json) {
		FILE *f = strcmp(c.json, "-") ? fopen(c.json, "w") : stdout;
		struct llmi_json j;

		if (!f)
			return 1;
		bench_json_begin(&j, f, "optimized_streaming");
		llmi_json_str(&j, "figures", "CPU figures of this machine (stand-in runtime, host tensors)");
		llmi_json_str(&j, "dir", c.dir);
		llmi_json_str(&j, "codec", c.codec);
		llmi_json_double(&j, "seconds", c.seconds);
		llmi_json_i64(&j, "layers", c.layers);
		llmi_json_i64(&j, "rows", c.rows);
		llmi_json_i64(&j, "hidden", c.hidden);
		llmi_json_i64(&j, "threads", c.threads);
		llmi_json_obj_end(&j);
		llmi_json_arr_begin(&j, "cases");
		llmi_json_obj_begin(&j, NULL);
		llmi_json_str(&j, "name", "disk");
		llmi_json_double(&j, "gbps", disk);
		llmi_json_obj_end(&j);
		llmi_json_obj_begin(&j, NULL);
		llmi_json_str(&j, "name", "baseline_dump");
		llmi_json_double(&j, "raw_gbps", base);
		llmi_json_obj_end(&j);
		llmi_json_obj_begin(&j, NULL);
		llmi_json_str(&j, "name", "capture");
		llmi_json_double(&j, "raw_gbps", cr.raw_gbps);
		llmi_json_double(&j, "stored_gbps", cr.stored_gbps);
		llmi_json_double(&j, "ratio", cr.ratio);
		llmi_json_u64(&j, "tensors", cr.tensors);
		llmi_json_u64(&j, "dropped", cr.dropped);
		llmi_json_u64(&j, "blocked_ns", cr.blocked_ns);
		llmi_json_double(&j, "max_nmse", cr.max_nmse);
		llmi_json_double(&j, "seconds", cr.seconds);
		llmi_json_obj_end(&j);
		if (dev_case)
			dev_json_case(&j, &dr, libcuda);
		llmi_json_arr_end(&j);
		llmi_json_obj_begin(&j, "summary");
		llmi_json_double(&j, "raw_gbps", cr.raw_gbps);
		llmi_json_double(&j, "stored_gbps", cr.stored_gbps);
		llmi_json_double(&j, "ratio", cr.ratio);
		llmi_json_double(&j, "disk_limit_gbps", disk);
		llmi_json_double(&j, "baseline_raw_gbps", base);
		llmi_json_double(&j, "speedup_vs_baseline", base > 0 ? cr.raw_gbps / base : 0);
		llmi_json_str(&j, "tensors", c.tensors);
		if (dev_case) {
			llmi_json_double(&j, "device_raw_gbps", dr.raw_gbps);
			llmi_json_double(&j, "device_stored_gbps", dr.stored_gbps);
			llmi_json_double(&j, "device_ratio", dr.ratio);
			llmi_json_double(&j, "device_speedup_vs_baseline",
					 base > 0 ? dr.raw_gbps / base : 0);
		}
		llmi_json_obj_end(&j);
		llmi_json_obj_end(&j);
		if (llmi_json_finish(&j) || (f != stdout && fclose(f)))
			return 1;
	}
	return 0;
}
