/* SPDX-License-Identifier: MIT */
/*
 * llminstr-trace's command line (DESIGN.md, "Command-line contract"):
 * parsed strictly into struct trace_opts, every bad value answered with one
 * line that names the option and what to do. Kept apart from main so the
 * unit tests can drive it.
 */
#ifndef LLMI_TRACE_OPTS_H
#define LLMI_TRACE_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "agent/proto.h"
#include "codec/codec.h"
#include "trace/rank.h"

#define TRACE_MAX_PIDS 64
#define TRACE_MAX_LIBS 16

struct trace_opts {
	pid_t pids[TRACE_MAX_PIDS];
	size_t npids;
	char **cmd;			/* -- CMD ARGS, NULL-terminated */
	const char *libs[TRACE_MAX_LIBS];	/* --lib, overrides discovery */
	size_t nlibs;
	bool timing_only;
	double duration_s;		/* 0: until Ctrl-C, SIGTERM or exit */
	double interval_s;		/* 0: no interval summaries */
	const char *json;		/* "-" for stdout */
	const char *perfetto;
	const char *output;		/* -o (container) */
	bool force;			/* --force: replace existing output files */
	struct trace_rank rank;		/* --rank R[/WORLD]; rank -1: from the targets' RANK */
	/* --capture terms joined by newlines (agent/spec.h); "" = no capture */
	char capture[LLMI_SPEC_MAX];
	struct llmi_codec_spec codec;	/* --codec, default quant:nmse=1e-3 */
	int on_full;			/* LLMI_ON_FULL_*; -1: block with -- CMD, drop with -p */
	uint64_t buffer_size;		/* --buffer-size, host ring per process */
	uint64_t device_buffer;		/* --device-buffer, the agent's device ring */
	unsigned threads;		/* --threads, coder threads */
	uint64_t ring_size;		/* bytes, power of two */
	uint64_t kernels_max;		/* -T kernel map entries */
	uint64_t top;			/* kernels shown in the summary */
	bool verbose;
	int follow;			/* trace descendants that load CUDA (-f) */
	int status;			/* the live status line on a terminal (--status) */
};

enum { TRACE_OPTS_OK = 0, TRACE_OPTS_HELP = 1 };

/*
 * 0 (run), TRACE_OPTS_HELP (help printed to stdout: exit 0) or -EINVAL with
 * the one-line reason in err. argv must outlive o (strings are borrowed).
 */
int trace_opts_parse(int argc, char **argv, struct trace_opts *o, char *err, size_t errlen);
void trace_opts_usage(FILE *f);

/*
 * Two outputs given one file (-o X --perfetto ./X, or through a linked
 * directory): -EINVAL with one line naming both options in err, else 0.
 * The same directory (device and inode) and the same last component is the
 * same file; a directory that does not exist is left to the create to say.
 */
int trace_opts_check_outputs(const struct trace_opts *o, char *err, size_t errlen);

#endif
