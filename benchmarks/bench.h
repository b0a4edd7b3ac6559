/* SPDX-License-Identifier: MIT */
/*
 * What every benchmark shares, so that their figures are taken and labelled
 * alike: a monotonic clock, one seeded generator (the same seed gives the
 * same input on every machine), the CPU's name, and the opening of the
 * --json object ({"benchmark": NAME, "env": {kernel, machine, cpu,
 * cpus_online, ...}), which the benchmark then continues with its own env
 * fields, "cases" and "summary". Header only: benchmarks link nothing more
 * for it.
 */
#ifndef LLMI_BENCH_H
#define LLMI_BENCH_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
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

#endif
