// SPDX-License-Identifier: MIT
/*
 * pack_e2e: llminstr-dump pack end to end against zstd -1 on the same file,
 * one CPU each: the time from starting the command to its exit, reading
 * the raw input and writing the output included, as a user who packs a
 * dump sees it. Each command runs in a child pinned to one CPU (the same
 * one for all), so pack's reader thread and zstd's I/O share that core with
 * the coding; pack codes with --threads 1.
 *
 * Cases, on a seeded activation-like bf16 file ([tokens x 4096]: Laplace
 * bulk, lognormal per-channel scales, small per-channel means; --input
 * takes a file of your own):
 *   pack       llminstr-dump pack --threads 1 --codec SPEC (its container
 *              is written with O_DIRECT and fsynced by the writer)
 *   zstd -1    the zstd binary, -1 -T1 (output in the page cache, no fsync)
 *   libzstd -1 libzstd level 1 in a child, reading the input in 1 MiB
 *              pieces and streaming the output, then fsync: durable like
 *              pack's container
 * with the input in the page cache (warm; a warm-up read first) and, where
 * it can drop the page cache (root: /proc/sys/vm/drop_caches), cold. The
 * output says whether it could. Figures are the median of --reps runs, in
 * MB/s of raw input (MB = 10^6 bytes), with the command's CPU time (user +
 * system) beside it: on a busy machine the pinned CPU is shared and the wall
 * time grows, the CPU time much less. They are CPU figures of the machine
 * that ran it, on whatever disk holds --dir.
 *
 *   pack_e2e [--json FILE|-] [--size MIB] [--codec SPEC] [--reps N] [--dir DIR]
 *            [--input FILE --shape AxB] [--no-cold]
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "common/json.h"
#include "../bench.h"

#define MAX_REPS 15
#define HIDDEN 4096

enum { WARM, COLD, NCACHE };
enum { C_PACK, C_ZSTD, C_LIBZSTD, NCASE };
static const char *const case_names[NCASE] = { "pack", "zstd -1", "libzstd -1" };
static const char *const cache_names[NCACHE] = { "warm", "cold" };

struct result {
	bool ran;
	double s[MAX_REPS];	/* wall seconds */
	double cpu[MAX_REPS];	/* the command's user + system seconds */
	int n;
	uint64_t out_bytes;
};

static struct result res[NCASE][NCACHE];
static int cpu = -1;

static uint64_t rng = 42;

static double urand(void)
{
	return bench_urand(&rng);
}

/* The seeded input: bf16 [tokens x HIDDEN], written and fsynced. */
static int make_input(const char *path, uint64_t tokens)
{
	float scale[HIDDEN], mean[HIDDEN];
	uint16_t row[HIDDEN];
	FILE *f = fopen(path, "wb");

	if (!f)
		return -errno;
	for (int j = 0; j < HIDDEN; j++) {
		double g = bench_gauss(&rng);

		scale[j] = (float)exp(0.5 * g);
		mean[j] = (float)(0.1 * g);
	}
	for (uint64_t t = 0; t < tokens; t++) {
		for (int j = 0; j < HIDDEN; j++) {
			double u = urand() - 0.5;
			float y = (float)(mean[j] - scale[j] * copysign(log(1 - 2 * fabs(u)), u));
			uint32_t b;

			memcpy(&b, &y, 4);
			row[j] = (uint16_t)((b + 0x7fffu + ((b >> 16) & 1u)) >> 16);
		}
		if (fwrite(row, 2, HIDDEN, f) != HIDDEN) {
			fclose(f);
			return -EIO;
		}
	}
	if (fflush(f) || fsync(fileno(f))) {
		fclose(f);
		return -errno;
	}
	return fclose(f) ? -errno : 0;
}

static void pin(void)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

/* libzstd level 1 streaming, 1 MiB in, then fsync of the output; in the child. */
static int libzstd_child(const char *in, const char *out)
{
	size_t ib = 1 << 20, ob = ZSTD_CStreamOutSize();
	void *ibuf = malloc(ib), *obuf = malloc(ob);
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	int fi = open(in, O_RDONLY), fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ssize_t n;

	if (!ibuf || !obuf || !cc || fi < 0 || fo < 0)
		return 1;
	ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, 1);
	for (;;) {
		n = read(fi, ibuf, ib);
		if (n < 0)
			return 1;
		ZSTD_inBuffer zi = { ibuf, (size_t)n, 0 };
		ZSTD_EndDirective mode = n ? ZSTD_e_continue : ZSTD_e_end;
		size_t left;

		do {
			ZSTD_outBuffer zo = { obuf, ob, 0 };

			left = ZSTD_compressStream2(cc, &zo, &zi, mode);
			if (ZSTD_isError(left) || write(fo, obuf, zo.pos) != (ssize_t)zo.pos)
				return 1;
		} while (mode == ZSTD_e_end ? left != 0 : zi.pos < zi.size);
		if (!n)
			break;
	}
	return fsync(fo) || close(fo) ? 1 : 0;
}

/* Runs one case in a pinned child; wall seconds (CPU seconds in *cpus), or < 0 on failure (said). */
static double run_case(int c, const char *dump, const char *in, const char *out, const char *shape,
		       const char *codec, double *cpus)
{
	char cmdline[PATH_MAX * 2 + 256];
	struct rusage ru;
	double t0;
	pid_t pid;
	int st;

	unlink(out);
	t0 = bench_now();
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);

		pin();
		if (devnull >= 0)
			dup2(devnull, 1);
		switch (c) {
		case C_PACK:
			execl(dump, dump, "pack", "--threads", "1", "--dtype", "bf16", "--shape", shape,
			      "--codec", codec, in, "-o", out, (char *)NULL);
			break;
		case C_ZSTD:
			execlp("zstd", "zstd", "-1", "-T1", "-q", "-f", in, "-o", out, (char *)NULL);
			break;
		default:
			_exit(libzstd_child(in, out));
		}
		_exit(127);
	}
	if (wait4(pid, &st, 0, &ru) != pid || !WIFEXITED(st) || WEXITSTATUS(st)) {
		snprintf(cmdline, sizeof(cmdline), "%s failed (status 0x%x)", case_names[c], st);
		fprintf(stderr, "pack_e2e: %s\n", cmdline);
		return -1;
	}
	*cpus = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
	return bench_now() - t0;
}

static bool drop_caches(void)
{
	int fd;
	bool ok;

	sync();
	fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
	if (fd < 0)
		return false;
	ok = write(fd, "3", 1) == 1;
	close(fd);
	return ok;
}

static void warm_read(const char *path)
{
	char buf[1 << 16];
	int fd = open(path, O_RDONLY);

	while (fd >= 0 && read(fd, buf, sizeof(buf)) > 0)
		;
	if (fd >= 0)
		close(fd);
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median_of(const double *x, int n)
{
	double v[MAX_REPS];

	memcpy(v, x, n * sizeof(double));
	qsort(v, n, sizeof(double), cmp_d);
	return n ? (n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2) : 0;
}

static double median(struct result *r)
{
	double v[MAX_REPS];

	memcpy(v, r->s, r->n * sizeof(double));
	qsort(v, r->n, sizeof(double), cmp_d);
	return r->n ? (r->n % 2 ? v[r->n / 2] : (v[r->n / 2 - 1] + v[r->n / 2]) / 2) : 0;
}

static uint64_t file_size(const char *p)
{
	struct stat st;

	return stat(p, &st) ? 0 : (uint64_t)st.st_size;
}

static bool have_zstd_binary(void)
{
	return system("zstd --version >/dev/null 2>&1") == 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pack_e2e [--json FILE|-] [--size MIB] [--codec SPEC] [--reps N] [--dir DIR]\n"
		"                [--input FILE --shape AxB] [--no-cold]\n"
		"llminstr-dump pack end to end against zstd -1 (binary and libzstd), one CPU\n"
		"each, input in the page cache and, as root, cold. Defaults: a seeded 256 MiB\n"
		"bf16 file, quant:nmse=1e-3, 5 runs, files in $TMPDIR or /tmp.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", required_argument, NULL, 'j' }, { "size", required_argument, NULL, 's' },
		{ "codec", required_argument, NULL, 'c' }, { "reps", required_argument, NULL, 'r' },
		{ "dir", required_argument, NULL, 'd' }, { "input", required_argument, NULL, 'i' },
		{ "shape", required_argument, NULL, 'S' }, { "no-cold", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	const char *json = NULL, *codec = "quant:nmse=1e-3", *input = NULL, *shape_arg = NULL;
	const char *tmp = getenv("TMPDIR");
	char dir[PATH_MAX], dump[PATH_MAX + 32], in[PATH_MAX + 16], out[NCASE][PATH_MAX + 16];
	char shape[64], self[PATH_MAX], *slash;
	uint64_t mib = 256, raw;
	int reps = 5, opt, err;
	bool cold = true, dropped = false, zbin;
	cpu_set_t set;
	ssize_t n;
	FILE *jf = NULL;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'j': json = optarg; break;
		case 's': mib = strtoull(optarg, NULL, 10); break;
		case 'c': codec = optarg; break;
		case 'r': reps = atoi(optarg); break;
		case 'd': tmp = optarg; break;
		case 'i': input = optarg; break;
		case 'S': shape_arg = optarg; break;
		case 'n': cold = false; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (mib < 8 || mib > (1u << 20) || reps < 1 || reps > MAX_REPS || (!input != !shape_arg)) {
		usage(stderr);
		return 2;
	}
	/* llminstr-dump next to the benchmark: build/bench/.. /bin. */
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		return 1;
	self[n] = 0;
	slash = strrchr(self, '/');
	*slash = 0;
	snprintf(dump, sizeof(dump), "%s/../bin/llminstr-dump", self);
	if (access(dump, X_OK)) {
		fprintf(stderr, "pack_e2e: %s is not built (make)\n", dump);
		return 1;
	}
	snprintf(dir, sizeof(dir), "%s/pack_e2e.XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		fprintf(stderr, "pack_e2e: cannot create a directory under %s: %s\n", tmp ? tmp : "/tmp",
			strerror(errno));
		return 1;
	}
	sched_getaffinity(0, sizeof(set), &set);
	for (int k = CPU_SETSIZE - 1; k >= 0; k--)
		if (CPU_ISSET(k, &set))
			cpu = k;
	if (input) {
		snprintf(in, sizeof(in), "%s", input);
		snprintf(shape, sizeof(shape), "%s", shape_arg);
	} else {
		uint64_t tokens = (mib << 20) / (2 * HIDDEN);

		snprintf(in, sizeof(in), "%s/acts.bf16", dir);
		snprintf(shape, sizeof(shape), "%llux%d", (unsigned long long)tokens, HIDDEN);
		fprintf(stderr, "pack_e2e: making a %llu MiB bf16 input...\n", (unsigned long long)mib);
		err = make_input(in, tokens);
		if (err) {
			fprintf(stderr, "pack_e2e: cannot write %s: %s\n", in, strerror(-err));
			return 1;
		}
	}
	raw = file_size(in);
	zbin = have_zstd_binary();
	for (int c = 0; c < NCASE; c++)
		snprintf(out[c], sizeof(out[c]), "%s/out.%d", dir, c);
	/* Can we drop the page cache? Try once; cold runs only if so. */
	if (cold)
		dropped = drop_caches();
	for (int k = 0; k < NCACHE; k++) {
		if (k == COLD && !dropped)
			break;
		for (int r = 0; r < reps; r++) {
			for (int c = 0; c < NCASE; c++) {
				double s, cs;

				if (c == C_ZSTD && !zbin)
					continue;
				/* The previous case's output on disk first: no writeback in the timing. */
				sync();
				if (k == WARM)
					warm_read(in);
				else
					drop_caches();
				s = run_case(c, dump, in, out[c], shape, codec, &cs);
				if (s < 0)
					return 1;
				res[c][k].ran = true;
				res[c][k].cpu[res[c][k].n] = cs;
				res[c][k].s[res[c][k].n++] = s;
				res[c][k].out_bytes = file_size(out[c]);
			}
		}
	}
	for (int c = 0; c < NCASE; c++)
		unlink(out[c]);
	if (!input)
		unlink(in);
	rmdir(dir);

	{
		struct utsname u;
		char model[128];
		double pw = 0, zw = 0, pc = 0, zc = 0;

		uname(&u);
		bench_cpu_model(model, sizeof(model));
		printf("pack_e2e: %s (%.1f MB), codec %s, one CPU (cpu %d) for each command, median of %d\n",
		       input ? in : "seeded activation-like bf16", raw / 1e6, codec, cpu, reps);
		printf("CPU figures of this machine (%s, %ld CPUs online, kernel %s); page cache %s\n",
		       model, sysconf(_SC_NPROCESSORS_ONLN), u.release,
		       dropped ? "dropped for the cold runs" :
		       cold ? "could not be dropped (needs root): no cold runs" : "not dropped (--no-cold)");
		printf("%-12s %-5s %9s %9s %9s %12s %7s\n", "command", "cache", "median s", "MB/s", "CPU s",
		       "output B", "ratio");
		for (int k = 0; k < NCACHE; k++)
			for (int c = 0; c < NCASE; c++) {
				struct result *r = &res[c][k];

				if (!r->ran)
					continue;
				printf("%-12s %-5s %9.3f %9.1f %9.3f %12llu %6.2fx\n", case_names[c],
				       cache_names[k], median(r), raw / 1e6 / median(r), median_of(r->cpu, r->n),
				       (unsigned long long)r->out_bytes, (double)raw / r->out_bytes);
			}
		if (res[C_PACK][WARM].ran)
			pw = raw / 1e6 / median(&res[C_PACK][WARM]);
		/* zstd -1: the binary, or libzstd where there is none. */
		int z = res[C_ZSTD][WARM].ran ? C_ZSTD : C_LIBZSTD;

		if (res[z][WARM].ran)
			zw = raw / 1e6 / median(&res[z][WARM]);
		if (res[C_PACK][COLD].ran)
			pc = raw / 1e6 / median(&res[C_PACK][COLD]);
		if (res[z][COLD].ran)
			zc = raw / 1e6 / median(&res[z][COLD]);
		if (zw > 0)
			printf("pack end to end: %.2fx %s warm%s", pw / zw, case_names[z],
			       pc > 0 && zc > 0 ? "" : "\n");
		if (pc > 0 && zc > 0)
			printf(", %.2fx cold\n", pc / zc);
		if (json) {
			jf = strcmp(json, "-") ? fopen(json, "w") : stdout;
			if (!jf) {
				fprintf(stderr, "pack_e2e: cannot write %s: %s\n", json, strerror(errno));
				return 1;
			}
			struct llmi_json j;

			bench_json_begin(&j, jf, "pack_e2e");
			llmi_json_str(&j, "figures", "CPU figures of this machine");
			llmi_json_i64(&j, "pinned_cpu", cpu);
			llmi_json_str(&j, "zstd", ZSTD_versionString());
			llmi_json_bool(&j, "zstd_binary", zbin);
			llmi_json_str(&j, "input", input ? in : "seeded");
			llmi_json_u64(&j, "raw_bytes", raw);
			llmi_json_str(&j, "codec", codec);
			llmi_json_i64(&j, "reps", reps);
			llmi_json_bool(&j, "page_cache_dropped", dropped);
			llmi_json_obj_end(&j);
			llmi_json_arr_begin(&j, "cases");
			for (int k = 0; k < NCACHE; k++)
				for (int c = 0; c < NCASE; c++) {
					struct result *r = &res[c][k];

					if (!r->ran)
						continue;
					llmi_json_obj_begin(&j, NULL);
					llmi_json_str(&j, "command", case_names[c]);
					llmi_json_str(&j, "cache", cache_names[k]);
					llmi_json_double(&j, "median_s", median(r));
					llmi_json_double(&j, "mb_per_s", raw / 1e6 / median(r));
					llmi_json_double(&j, "median_cpu_s", median_of(r->cpu, r->n));
					llmi_json_u64(&j, "output_bytes", r->out_bytes);
					llmi_json_arr_begin(&j, "runs_s");
					for (int i = 0; i < r->n; i++)
						llmi_json_double(&j, NULL, r->s[i]);
					llmi_json_arr_end(&j);
					llmi_json_obj_end(&j);
				}
			llmi_json_arr_end(&j);
			llmi_json_obj_begin(&j, "summary");
			llmi_json_str(&j, "zstd1_command", case_names[z]);
			llmi_json_double(&j, "pack_mbps_warm", pw);
			llmi_json_double(&j, "zstd1_mbps_warm", zw);
			if (zw > 0)
				llmi_json_double(&j, "speedup_warm", pw / zw);
			else
				llmi_json_null(&j, "speedup_warm");
			if (pc > 0 && zc > 0) {
				llmi_json_double(&j, "pack_mbps_cold", pc);
				llmi_json_double(&j, "zstd1_mbps_cold", zc);
				llmi_json_double(&j, "speedup_cold", pc / zc);
			} else {
				llmi_json_null(&j, "pack_mbps_cold");
				llmi_json_null(&j, "zstd1_mbps_cold");
				llmi_json_null(&j, "speedup_cold");
			}
			llmi_json_obj_end(&j);
			llmi_json_obj_end(&j);
			if (llmi_json_finish(&j)) {
				fprintf(stderr, "pack_e2e: cannot write %s\n", json);
				return 1;
			}
			if (jf != stdout && fclose(jf))
				return 1;
		}
	}
	return 0;
}
