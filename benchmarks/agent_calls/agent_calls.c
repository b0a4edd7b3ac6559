// SPDX-License-Identifier: MIT
/*
 * What the agent costs a program that no tracer is attached to: the time
 * of llminstr_capture(), llminstr_selected() and llminstr_step() when
 * capture is off, against a call to an empty function of the same
 * signature in another shared object (the floor of any call into a
 * library: the PLT and the call itself), measured in the same run.
 *
 *   agent_calls [--calls N] [--rounds R] [--json FILE|-]
 *
 * Prints ns per call (median of R rounds of N calls); CPU figures of this
 * machine. Exits 77 when a tracer is attached (that is not this case).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/llminstr.h"
#include "common/json.h"
#include "../bench.h"

/* the floor: an empty call through the PLT of the same library shape */
int agent_calls_empty(const char *name, const void *ptr, int dtype, int ndim,
		      const int64_t *shape, void *stream);

enum { C_EMPTY, C_CAPTURE, C_SELECTED, C_STEP, NC };
static const char *const names[NC] = { "empty call (floor)", "llminstr_capture",
				       "llminstr_selected", "llminstr_step" };

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "calls", required_argument, NULL, 'n' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "json", required_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	long calls = 20000000, rounds = 7;
	const char *json = NULL;
	double ns[NC][64], med[NC];
	int64_t shape[2] = { 16, 4096 };
	static float buf[16];
	volatile int sink = 0;
	int c;

	while ((c = getopt_long(argc, argv, "n:r:j:h", opts, NULL)) != -1) {
		switch (c) {
		case 'n': calls = atol(optarg); break;
		case 'r': rounds = atol(optarg); break;
		case 'j': json = optarg; break;
		case 'h':
			puts("usage: agent_calls [--calls N] [--rounds R] [--json FILE|-]");
			return 0;
		default:
			fprintf(stderr, "agent_calls: bad option (see --help)\n");
			return 2;
		}
	}
	if (calls < 1000 || rounds < 1 || rounds > 64) {
		fprintf(stderr, "agent_calls: --calls >= 1000, --rounds 1..64\n");
		return 2;
	}
	if (llminstr_attached()) {
		fprintf(stderr, "agent_calls: a tracer is attached; this measures the dormant agent\n");
		return 77;
	}
	for (long r = 0; r < rounds; r++)
		for (int k = 0; k < NC; k++) {
			double t = bench_now();

			switch (k) {
			case C_EMPTY:
				for (long i = 0; i < calls; i++)
					sink += agent_calls_empty("blk.0.resid", buf, 1, 2, shape, NULL);
				break;
			case C_CAPTURE:
				for (long i = 0; i < calls; i++)
					sink += llminstr_capture("blk.0.resid", buf, 1, 2, shape, NULL);
				break;
			case C_SELECTED:
				for (long i = 0; i < calls; i++)
					sink += llminstr_selected("blk.0.resid");
				break;
			case C_STEP:
				for (long i = 0; i < calls; i++)
					llminstr_step((uint64_t)i);
				break;
			}
			ns[k][r] = (bench_now() - t) * 1e9 / calls;
		}
	printf("agent_calls: the agent with no tracer attached, %ld calls x %ld rounds "
	       "(median; CPU figures of this machine)\n", calls, rounds);
	printf("%-22s %10s %10s\n", "call", "ns/call", "over floor");
	for (int k = 0; k < NC; k++) {
		qsort(ns[k], rounds, sizeof(double), cmp);
		med[k] = ns[k][rounds / 2];
	}
	for (int k = 0; k < NC; k++)
		printf("%-22s %10.2f %10.2f\n", names[k], med[k], med[k] - med[C_EMPTY]);
	if (json) {
		FILE *f = strcmp(json, "-") ? fopen(json, "w") : stdout;
		struct llmi_json j;

		if (!f) {
			fprintf(stderr, "agent_calls: cannot write %s: %s\n", json, strerror(errno));
			return 1;
		}
		bench_json_begin(&j, f, "agent_calls");
		llmi_json_str(&j, "figures", "CPU figures of this machine");
		llmi_json_i64(&j, "calls", calls);
		llmi_json_i64(&j, "rounds", rounds);
		llmi_json_obj_end(&j);
		llmi_json_arr_begin(&j, "cases");
		for (int k = 0; k < NC; k++) {
			llmi_json_obj_begin(&j, NULL);
			llmi_json_str(&j, "name", names[k]);
			llmi_json_double(&j, "ns_per_call", med[k]);
			llmi_json_double(&j, "over_floor_ns", med[k] - med[C_EMPTY]);
			llmi_json_obj_end(&j);
		}
		llmi_json_arr_end(&j);
		llmi_json_obj_begin(&j, "summary");
		llmi_json_double(&j, "floor_ns_per_call", med[C_EMPTY]);
		llmi_json_double(&j, "capture_dormant_ns_per_call", med[C_CAPTURE]);
		llmi_json_double(&j, "selected_dormant_ns_per_call", med[C_SELECTED]);
		llmi_json_double(&j, "step_dormant_ns_per_call", med[C_STEP]);
		llmi_json_obj_end(&j);
		llmi_json_obj_end(&j);
		if (llmi_json_finish(&j) || (f != stdout && fclose(f)))
			return 1;
	}
	return sink == 12345 ? 3 : 0;
}
