// SPDX-License-Identifier: MIT
/*
 * Host memory under capture: the peak resident set (VmHWM) of the tracer
 * and of its target against --buffer-size, at three sizes, and the
 * tracer's resident set sampled every 100 ms through each run (growth: the
 * mean of the last quarter of the samples over the mean of the second).
 * The target is optimized_streaming's producer (host tensors handed over
 * as fast as the pipeline takes them). The capture ring is shared memory:
 * it counts in both processes' RSS once touched, and once in the machine's.
 *
 *   memory_profiling [--seconds S] [--sizes 64M,256M,512M] [--dir DIR] [--json FILE|-]
 *
 * Summary: peak_rss_bytes and buffer_size_bytes of the default size (512M,
 * the last), and whether the tracer stayed within buffer-size + 64 MiB.
 * CPU figures of this machine; needs root (BPF), exits 77 otherwise.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/json.h"
#include "common/parse.h"
#include "../bench.h"

#define MAX_SIZES 8
#define MAX_SAMPLES 100000

struct run {
	uint64_t buffer;
	uint64_t tracer_hwm, target_hwm;	/* bytes */
	double growth;				/* last quarter / second quarter */
	uint64_t samples;
	uint64_t tensors;
	int status;
};

/* A field of /proc/PID/status in bytes (kB there), 0 when gone. */
static uint64_t status_kb(pid_t pid, const char *key)
{
	char path[64], line[256];
	uint64_t v = 0;
	size_t kl = strlen(key);
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, kl) && line[kl] == ':') {
			v = strtoull(line + kl + 1, NULL, 10) * 1024;
			break;
		}
	fclose(f);
	return v;
}

/* The first child of pid (the traced command), 0 if none yet. */
static pid_t child_of(pid_t pid)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t found = 0;

	while (d && (e = readdir(d)) && !found) {
		char path[300], buf[512], *p;
		int fd, n;
		pid_t ppid;

		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		fd = open(path, O_RDONLY);
		if (fd < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		p = strrchr(buf, ')');
		if (p && sscanf(p + 2, "%*c %d", &ppid) == 1 && ppid == pid)
			found = atoi(e->d_name);
	}
	if (d)
		closedir(d);
	return found;
}

static int one(const char *self, const char *dir, double seconds, struct run *r, uint64_t *rss)
{
	char tracer[4096], prod[4096 + 32], out[4096], js[4096], buf[32], secs[32];
	uint64_t n = 0;
	pid_t pid, target = 0;
	int st;

	snprintf(tracer, sizeof(tracer), "%s", self);
	*strrchr(tracer, '/') = '\0';
	snprintf(prod, sizeof(prod), "%s/optimized_streaming", tracer);
	strncat(tracer, "/../bin/llminstr-trace", sizeof(tracer) - strlen(tracer) - 1);
	snprintf(out, sizeof(out), "%s/memory.llmi", dir);
	snprintf(js, sizeof(js), "%s/memory.json", dir);
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)r->buffer);
	snprintf(secs, sizeof(secs), "%g", seconds);
	unlink(out);
	unlink(js);
	pid = fork();
	if (pid == 0) {
		int nul = open("/dev/null", O_WRONLY);

		if (nul >= 0)
			dup2(nul, STDOUT_FILENO);
		execl(tracer, tracer, "--capture", "all", "--buffer-size", buf, "-o", out, "--json", js,
		      "--", prod, "--producer", "--seconds", secs, (char *)NULL);
		_exit(127);
	}
	if (pid < 0)
		return -errno;
	for (;;) {
		struct timespec ts = { 0, 100000000 };
		uint64_t v, h;

		if (waitpid(pid, &st, WNOHANG) == pid)
			break;
		if (!target)
			target = child_of(pid);
		v = status_kb(pid, "VmRSS");
		h = status_kb(pid, "VmHWM");
		if (h > r->tracer_hwm)
			r->tracer_hwm = h;
		if (target && (h = status_kb(target, "VmHWM")) > r->target_hwm)
			r->target_hwm = h;
		if (v && n < MAX_SAMPLES)
			rss[n++] = v;
		nanosleep(&ts, NULL);
	}
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	r->samples = n;
	if (n >= 8) {
		double q2 = 0, q4 = 0;

		for (uint64_t i = n / 4; i < n / 2; i++)
			q2 += rss[i];
		for (uint64_t i = 3 * n / 4; i < n; i++)
			q4 += rss[i];
		q2 /= n / 2 - n / 4;
		q4 /= n - 3 * n / 4;
		r->growth = q2 > 0 ? q4 / q2 : 0;
	}
	{
		FILE *f = fopen(js, "r");
		char line[512];

		while (f && fgets(line, sizeof(line), f)) {
			char *p = strstr(line, "\"tensors\":");

			if (p)
				r->tensors = strtoull(p + 10, NULL, 10);	/* the capture block's is last */
		}
		if (f)
			fclose(f);
	}
	unlink(out);
	unlink(js);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "seconds", required_argument, NULL, 's' }, { "sizes", required_argument, NULL, 'S' },
		{ "dir", required_argument, NULL, 'd' }, { "json", required_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' }, {},
	};
	const char *sizes = "64M,256M,512M", *dir = "build/bench/tmp", *json = NULL;
	struct run runs[MAX_SIZES] = { 0 };
	double seconds = 20;
	char self[4096], list[256], *save = NULL, *tok;
	uint64_t *rss = malloc(MAX_SAMPLES * sizeof(*rss));
	int nruns = 0, o, rc = 0;
	ssize_t n;

	while ((o = getopt_long(argc, argv, "s:S:d:j:h", opts, NULL)) != -1) {
		switch (o) {
		case 's': seconds = atof(optarg); break;
		case 'S': sizes = optarg; break;
		case 'd': dir = optarg; break;
		case 'j': json = optarg; break;
		case 'h':
			puts("usage: memory_profiling [--seconds S] [--sizes 64M,256M,512M] [--dir DIR] "
			     "[--json FILE|-]");
			return 0;
		default:
			fprintf(stderr, "memory_profiling: bad option (see --help)\n");
			return 2;
		}
	}
	if (geteuid()) {
		fprintf(stderr, "memory_profiling: needs root (the tracer loads BPF)\n");
		return 77;
	}
	snprintf(list, sizeof(list), "%s", sizes);
	for (tok = strtok_r(list, ",", &save); tok && nruns < MAX_SIZES; tok = strtok_r(NULL, ",", &save))
		if (llmi_parse_size(tok, &runs[nruns].buffer) || runs[nruns].buffer < (1u << 20)) {
			fprintf(stderr, "memory_profiling: --sizes: '%s' is not a size of 1M or more\n", tok);
			return 2;
		} else {
			nruns++;
		}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0 || !rss || seconds <= 0 || !nruns)
		return 2;
	self[n] = '\0';
	mkdir(dir, 0755);
	printf("memory_profiling: capture of host tensors for %.0f s per size (CPU figures of this "
	       "machine)\n", seconds);
	printf("%12s %14s %14s %10s %8s %9s\n", "buffer", "tracer peak", "target peak",
	       "bound", "growth", "tensors");
	for (int i = 0; i < nruns; i++) {
		struct run *r = &runs[i];
		bool within;

		if (one(self, dir, seconds, r, rss) || r->status) {
			fprintf(stderr, "memory_profiling: the run with --buffer-size %llu failed (%d)\n",
				(unsigned long long)r->buffer, r->status);
			rc = 1;
			continue;
		}
		within = r->tracer_hwm <= r->buffer + (64ull << 20);
		printf("%10lluM %12.1fM %12.1fM %10s %8.3f %9llu\n",
		       (unsigned long long)(r->buffer >> 20), r->tracer_hwm / 1048576.0,
		       r->target_hwm / 1048576.0, within ? "within" : "OVER", r->growth,
		       (unsigned long long)r->tensors);
	}
	if (json && !rc) {
		FILE *f = strcmp(json, "-") ? fopen(json, "w") : stdout;
		struct run *d = &runs[nruns - 1];
		struct llmi_json j;

		if (!f)
			return 1;
		bench_json_begin(&j, f, "memory_profiling");
		llmi_json_str(&j, "figures", "CPU figures of this machine (stand-in, host tensors)");
		llmi_json_double(&j, "seconds", seconds);
		llmi_json_obj_end(&j);
		llmi_json_arr_begin(&j, "cases");
		for (int i = 0; i < nruns; i++) {
			llmi_json_obj_begin(&j, NULL);
			llmi_json_u64(&j, "buffer_size_bytes", runs[i].buffer);
			llmi_json_u64(&j, "tracer_peak_rss_bytes", runs[i].tracer_hwm);
			llmi_json_u64(&j, "target_peak_rss_bytes", runs[i].target_hwm);
			llmi_json_double(&j, "tracer_rss_growth", runs[i].growth);
			llmi_json_u64(&j, "samples", runs[i].samples);
			llmi_json_u64(&j, "tensors", runs[i].tensors);
			llmi_json_obj_end(&j);
		}
		llmi_json_arr_end(&j);
		llmi_json_obj_begin(&j, "summary");
		llmi_json_u64(&j, "peak_rss_bytes", d->tracer_hwm);
		llmi_json_u64(&j, "buffer_size_bytes", d->buffer);
		llmi_json_u64(&j, "target_peak_rss_bytes", d->target_hwm);
		llmi_json_bool(&j, "within_buffer_plus_64m", d->tracer_hwm <= d->buffer + (64ull << 20));
		llmi_json_double(&j, "rss_growth", d->growth);
		llmi_json_obj_end(&j);
		llmi_json_obj_end(&j);
		if (llmi_json_finish(&j) || (f != stdout && fclose(f)))
			return 1;
	}
	free(rss);
	return rc;
}
