// SPDX-License-Identifier: MIT
/*
 * trace_record: what llminstr-trace's consumer thread spends per launch
 * record (CPU time, no BPF): the aggregation alone (user/trace/agg.c), then
 * with --capture's producer table (user/trace/correlate.c: the consumer
 * tells it every launch, with its number and kernel name id), with the -o
 * container sink (user/trace/record.c into the io_uring writer) and with
 * the --perfetto JSON sink. The records are made in memory as the
 * BPF program writes them, so this is the user-space cost only; the loop
 * ticks the sinks every 4096 records, as the consumer loop does between
 * ring-buffer polls, so the commit interval's work is in the figure.
 *
 * Interleaved rounds, median (min-max) per case. Files go under --dir
 * (default build/bench/tmp) and are removed. CPU figures of this machine.
 * Prints a table, and with --json FILE (or -) one object {"benchmark",
 * "env", "cases", "summary"}.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "common/json.h"
#include "trace/agg.h"
#include "trace/correlate.h"
#include "trace/record.h"
#include "../bench.h"

#define MAX_ROUNDS 32

enum { C_AGG, C_PRODUCERS, C_OUTPUT, C_PERFETTO, NC };
static const char *const names[NC] = { "agg", "agg + producers", "agg + -o", "agg + --perfetto" };

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static struct llmi_event launch(uint64_t obj)
{
	struct llmi_event e = { .ts_ns = 1000, .pid = 77, .tid = 77, .version = LLMI_EVENT_VERSION,
				.type = LLMI_EV_LAUNCH, .api = LLMI_API_LAUNCH, .obj = obj, .stream = 1,
				.arg0 = 64, .arg1 = 256 };
	return e;
}

/* One pass of n launch records of 8 named kernels; ns per record, or < 0. */
static double pass(int c, long n, const char *dir)
{
	char path[4096];
	struct trace_tl_opts o = { .events = true, .writer = "trace_record" };
	struct trace_tl_stats st;
	struct agg *a = agg__new(NULL, NULL);
	struct trace_tl *t = NULL;
	struct corr *k = c == C_PRODUCERS ? corr__new() : NULL;
	double t0, ns;

	if (!a || (c == C_PRODUCERS && !k)) {
		agg__free(a);
		corr__free(k);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/trace_record-%d.%s", dir, getpid(),
		 c == C_PERFETTO ? "json" : "llmi");
	unlink(path);
	if (c == C_OUTPUT)
		o.output = path;
	else if (c == C_PERFETTO)
		o.perfetto = path;
	if ((c == C_OUTPUT || c == C_PERFETTO) && !(t = trace_tl__new(&o))) {
		agg__free(a);
		corr__free(k);
		return -1;
	}
	for (int k = 0; k < 8; k++) {
		struct llmi_name_event ne = { .ev = launch(0x1000 + k) };

		ne.ev.type = LLMI_EV_REGISTER;
		ne.ev.api = LLMI_API_REGISTER_FUNCTION;
		snprintf(ne.name, sizeof(ne.name), "_Z7kernel%dPfPKfi", k);
		agg__event(a, &ne, sizeof(ne));
		if (t)
			trace_tl__event(t, a, &ne, sizeof(ne));
	}
	t0 = (bench_now() * 1e9);
	for (long i = 0; i < n; i++) {
		struct llmi_event e = launch(0x1000 + (i & 7));

		e.ts_ns += i;
		agg__event(a, &e, sizeof(e));
		/* as the consumer does while capturing (trace.c, on_event) */
		if (k)
			corr__launch(k, e.pid, e.tid, e.stream, (uint64_t)i + 1, (uint32_t)(i & 7) + 1);
		if (t) {
			trace_tl__event(t, a, &e, sizeof(e));
			if (!(i & 4095))
				trace_tl__tick(t);
		}
	}
	if (t)
		trace_tl__drain(t, 0, &st);
	ns = ((bench_now() * 1e9) - t0) / n;
	if (t && (trace_tl__close(t, NULL, 0) ||
		  (c == C_OUTPUT && st.events != (uint64_t)n)))
		ns = -1;
	unlink(path);
	agg__free(a);
	corr__free(k);
	return ns;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: trace_record [--records N] [--rounds N] [--dir DIR] [--json FILE|-]\n"
		"The tracer's consumer cost per launch record: aggregation alone, with capture's\n"
		"producer table, with -o and with --perfetto (default 1000000 records, 5\n"
		"rounds, files in build/bench/tmp).\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "records", required_argument, NULL, 'n' }, { "rounds", required_argument, NULL, 'r' },
		{ "dir", required_argument, NULL, 'd' }, { "json", required_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	const char *dir = "build/bench/tmp", *json_path = NULL;
	long n = 1000000;
	unsigned long rounds = 5;
	static double ns[NC][MAX_ROUNDS], sorted[NC][MAX_ROUNDS];
	double med[NC];
	char *end;
	int opt;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'n': n = strtol(optarg, &end, 10);
			  if (*end || n < 1000) goto bad;
			  break;
		case 'r': rounds = strtoul(optarg, &end, 10);
			  if (*end || !rounds || rounds > MAX_ROUNDS) goto bad;
			  break;
		case 'd': dir = optarg; break;
		case 'j': json_path = optarg; break;
		case 'h': usage(stdout); return 0;
		default: goto bad;
		}
	}
	if (optind != argc)
		goto bad;
	if (mkdir(dir, 0755) && errno != EEXIST) {
		fprintf(stderr, "trace_record: cannot make %s: %s\n", dir, strerror(errno));
		return 1;
	}
	for (unsigned long r = 0; r < rounds; r++)
		for (int c = 0; c < NC; c++) {
			ns[c][r] = pass(c, n, dir);
			if (ns[c][r] < 0) {
				fprintf(stderr, "trace_record: the %s pass failed\n", names[c]);
				return 1;
			}
		}
	for (int c = 0; c < NC; c++) {
		memcpy(sorted[c], ns[c], sizeof(ns[c]));
		qsort(sorted[c], rounds, sizeof(double), cmp_double);
		med[c] = sorted[c][rounds / 2];
	}
	if (!json_path || strcmp(json_path, "-")) {
		printf("trace_record: consumer cost per launch record, %ld records, median of %lu rounds "
		       "(CPU figures, this machine)\n\n%-20s %10s %17s %12s\n", n, rounds, "case",
		       "ns/record", "(min-max)", "sink adds");
		for (int c = 0; c < NC; c++)
			printf("%-20s %10.1f %8.1f-%-8.1f %12.1f\n", names[c], med[c], sorted[c][0],
			       sorted[c][rounds - 1], med[c] - med[C_AGG]);
	}
	if (json_path) {
		struct llmi_json j;
		FILE *f = strcmp(json_path, "-") ? fopen(json_path, "w") : stdout;

		if (!f) {
			fprintf(stderr, "trace_record: cannot write %s: %s\n", json_path, strerror(errno));
			return 1;
		}
		bench_json_begin(&j, f, "trace_record");
		llmi_json_str(&j, "figures", "CPU time of the consumer thread, this machine; no BPF, no GPU");
		llmi_json_u64(&j, "records", n);
		llmi_json_u64(&j, "rounds", rounds);
		llmi_json_str(&j, "dir", dir);
		llmi_json_obj_end(&j);
		llmi_json_arr_begin(&j, "cases");
		for (int c = 0; c < NC; c++) {
			llmi_json_obj_begin(&j, NULL);
			llmi_json_str(&j, "name", names[c]);
			llmi_json_double(&j, "ns_per_record_median", med[c]);
			llmi_json_double(&j, "ns_per_record_min", sorted[c][0]);
			llmi_json_double(&j, "ns_per_record_max", sorted[c][rounds - 1]);
			llmi_json_obj_end(&j);
		}
		llmi_json_arr_end(&j);
		llmi_json_obj_begin(&j, "summary");
		llmi_json_double(&j, "agg_ns_per_record", med[C_AGG]);
		llmi_json_double(&j, "output_ns_per_record", med[C_OUTPUT]);
		llmi_json_double(&j, "perfetto_ns_per_record", med[C_PERFETTO]);
		llmi_json_double(&j, "output_adds_ns", med[C_OUTPUT] - med[C_AGG]);
		llmi_json_double(&j, "producers_ns_per_record", med[C_PRODUCERS]);
		llmi_json_double(&j, "producers_adds_ns", med[C_PRODUCERS] - med[C_AGG]);
		llmi_json_double(&j, "perfetto_adds_ns", med[C_PERFETTO] - med[C_AGG]);
		llmi_json_obj_end(&j);
		llmi_json_obj_end(&j);
		if (llmi_json_finish(&j) || (f != stdout ? fclose(f) : fflush(f))) {
			fprintf(stderr, "trace_record: cannot write %s\n", json_path);
			return 1;
		}
	}
	return 0;
bad:
	usage(stderr);
	return 2;
}
