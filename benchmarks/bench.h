/* SPDX-License-Identifier: MIT */
/*
 * What every benchmark shares, so that their figures are taken and labelled
 * alike: a monotonic clock, one seeded generator (the same seed gives the
 * same input on every machine), the CPU's name, and the opening of the
 * --json object ({"benchmark": NAME, "env": {kernel, machine, cpu,
 * cpus_online, ...}), which the benchmark then continues with its own env
 * fields, "cases" and "summary"; and for the benchmarks that run the
 * tracer and read its --json: a median, running a program, reading a file
 * and a number out of JSON text. Header only: benchmarks link nothing more
 * for it.
 */
#ifndef LLMI_BENCH_H
#define LLMI_BENCH_H

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* CLOCK_MONOTONIC in seconds. */
static inline double bench_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

/* splitmix64: a seeded, portable stream (the state is the seed). */
static inline uint64_t bench_rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in (0, 1): never 0, so log() of it is finite. */
static inline double bench_urand(uint64_t *s)
{
	return ((bench_rnd(s) >> 11) + 0.5) * 0x1p-53;
}

/* Standard normal (Box-Muller). */
static inline double bench_gauss(uint64_t *s)
{
	return sqrt(-2 * log(bench_urand(s))) * cos(2 * M_PI * bench_urand(s));
}

/* The CPU's model name from /proc/cpuinfo, "?" when unknown. */
static inline const char *bench_cpu_model(char *buf, size_t len)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[256];

	snprintf(buf, len, "?");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "model name", 10) && strchr(line, ':')) {
			snprintf(buf, len, "%s", strchr(line, ':') + 2);
			buf[strcspn(buf, "\n")] = '\0';
			break;
		}
	if (f)
		fclose(f);
	return buf;
}

#ifdef LLMI_JSON_H
/*
 * Opens the benchmark's JSON object and its "env" with what every benchmark
 * reports; the caller adds its own env fields, closes "env" and goes on.
 */
static inline void bench_json_begin(struct llmi_json *j, FILE *f, const char *name)
{
	struct utsname u;
	char model[128];

	uname(&u);
	llmi_json_init(j, f, true);
	llmi_json_obj_begin(j, NULL);
	llmi_json_str(j, "benchmark", name);
	llmi_json_obj_begin(j, "env");
	llmi_json_str(j, "kernel", u.release);
	llmi_json_str(j, "machine", u.machine);
	llmi_json_str(j, "cpu", bench_cpu_model(model, sizeof(model)));
	llmi_json_i64(j, "cpus_online", sysconf(_SC_NPROCESSORS_ONLN));
}
#endif

static inline int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The median of v[0..n) (sorted in place); NAN for none. */
static inline double bench_median(double *v, size_t n)
{
	if (!n)
		return NAN;
	qsort(v, n, sizeof(*v), bench_cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/*
 * Runs argv (argv[0] a path) with stdout to /dev/null and, when errf is
 * not NULL, stderr to that file; 0, its exit status (128 + signal), or
 * -errno if it could not be run.
 */
static inline int bench_run(char *const argv[], const char *errf)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		int nul = open("/dev/null", O_WRONLY);
		int err = errf ? open(errf, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : 2;

		if (nul < 0 || err < 0)
			_exit(126);
		dup2(nul, STDOUT_FILENO);
		dup2(err, STDERR_FILENO);
		execv(argv[0], argv);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &st, 0) < 0)
		return -errno;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* A file's contents, NUL-terminated (free() it); NULL if unreadable. */
static inline char *bench_slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	long len;

	if (!f)
		return NULL;
	if (!fseek(f, 0, SEEK_END) && (len = ftell(f)) >= 0 && !fseek(f, 0, SEEK_SET) &&
	    (buf = calloc(1, len + 1)) && fread(buf, 1, len, f) != (size_t)len) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

/* The number after "key": in js, at or after the first occurrence of after; NAN if none. */
static inline double bench_jnum(const char *js, const char *after, const char *key)
{
	char pat[64];
	const char *a = js ? strstr(js, after) : NULL, *p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = a ? strstr(a, pat) : NULL;
	return p ? strtod(p + strlen(pat), NULL) : NAN;
}

#endif
