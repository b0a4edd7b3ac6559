// SPDX-License-Identifier: MIT
/*
 * llminstr-dump: reads, checks, exports and packs .llmi containers. This file
 * dispatches subcommands and holds the helpers they share.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fmt.h"
#include "common/parse.h"
#include "io/outfile.h"
#include "dump/dump.h"

static const char usage[] =
"Usage: llminstr-dump COMMAND [ARGS]\n"
"Read, check, export and pack llminstr containers (.llmi).\n"
"\n"
"  info FILE [--json]            what is inside: records, totals, ratio, errors\n"
"  ls FILE [--wide]              tensors: id, name, step, layer, shape, dtype,\n"
"                                codec, ratio, achieved nmse / max error\n"
"                                (--wide: sizes, mse, whole names)\n"
"  export FILE --tensor ID|NAME -o OUT.npy [--bf16-raw]\n"
"                                one tensor as a numpy .npy file\n"
"  pack --dtype f32|bf16|f16 --shape AxB --codec SPEC IN.raw -o OUT.llmi\n"
"                                a raw array in, a one-tensor container out\n"
"  verify FILE                   checksums of every record and the index\n"
"  perfetto FILE -o OUT.json     Chrome/Perfetto trace-event timeline\n"
"\n"
"'llminstr-dump COMMAND --help' describes a command.\n"
"Exit status: 0 done, 1 bad or damaged data, 2 bad usage. A file whose writer\n"
"died mid-record (a torn tail) is read up to it: not damage, except to verify.\n"
"\n"
"EXAMPLES:\n"
"  llminstr-dump ls run.llmi\n"
"  llminstr-dump export run.llmi --tensor blk.3.resid -o resid.npy\n"
"  llminstr-dump pack --dtype bf16 --shape 512x4096 --codec quant:nmse=1e-3 \\\n"
"      acts.raw -o acts.llmi\n";

int dump_err(int code, const char *fmt, ...)
{
	va_list ap;

	fputs("llminstr-dump: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

struct llmi_reader *dump_open(const char *path)
{
	char err[LLMI_ERRLEN];
	struct llmi_reader *r = llmi_reader__open(path, err, sizeof(err));

	if (!r)
		dump_err(EXIT_BAD, "%s", err[0] ? err : strerror(errno));
	return r;
}

FILE *dump_create(const char *path)
{
	FILE *f = llmi_out_fopen(path, LLMI_OUT_FORCE);
	char why[PATH_MAX + 128];

	if (!f)
		dump_err(EXIT_BAD, "%s", llmi_out_strerror(why, sizeof(why), path, errno,
							 LLMI_OUT_FORCE));
	return f;
}

void dump_loss(const struct llmi_reader *r, uint64_t bad_tensors, uint64_t first_bad_tensor_off,
	       struct dump_loss *l)
{
	const struct llmi_reader_status *st = llmi_reader__status(r);
	int n = 0;

	memset(l, 0, sizeof(*l));
	if (st->tail_torn)
		snprintf(l->torn, sizeof(l->torn),
			 "torn tail at offset %llu: %llu bytes of %s ignored; the index was rebuilt by scanning",
			 (unsigned long long)st->tail_offset, (unsigned long long)st->tail_bytes,
			 st->tail_zero ? "unwritten (zero) space" : "an incomplete record");
	if (st->index_damaged)
		snprintf(l->damage[n++], DUMP_LOSS_LEN, "index damaged, rebuilt by scanning");
	if (st->resyncs)
		snprintf(l->damage[n++], DUMP_LOSS_LEN,
			 "%llu damaged stretch(es) skipped, first at offset %llu: %llu bytes, %llu record(s) lost",
			 (unsigned long long)st->resyncs, (unsigned long long)st->first_skip_offset,
			 (unsigned long long)st->skipped_bytes, (unsigned long long)st->skipped_records);
	if (st->bad_records)
		snprintf(l->damage[n++], DUMP_LOSS_LEN,
			 "%llu record(s) with a bad payload checksum skipped, first at offset %llu",
			 (unsigned long long)st->bad_records, (unsigned long long)st->first_bad_offset);
	if (st->tail_damaged && !st->tail_torn)
		snprintf(l->damage[n++], DUMP_LOSS_LEN, "%llu bytes at offset %llu not read: %s",
			 (unsigned long long)st->tail_bytes, (unsigned long long)st->tail_offset, st->note);
	if (bad_tensors)
		snprintf(l->damage[n++], DUMP_LOSS_LEN,
			 "%llu tensor record(s) with inconsistent headers, first at offset %llu",
			 (unsigned long long)bad_tensors, (unsigned long long)first_bad_tensor_off);
	l->ndamage = n;
}

int dump_loss_report(const char *path, const struct dump_loss *l)
{
	if (l->ndamage)
		return dump_err(EXIT_BAD, "%s: damaged: %s%s", path, l->damage[0],
				l->ndamage > 1 ? " (more: see 'llminstr-dump info')" : "");
	if (l->torn[0])
		dump_err(0, "%s: %s", path, l->torn);
	return 0;
}

const char *dump_dtype(unsigned dtype)
{
	switch (dtype) {
	case LLMI_DTYPE_F32: return "f32";
	case LLMI_DTYPE_BF16: return "bf16";
	case LLMI_DTYPE_F16: return "f16";
	default: return "?";
	}
}

void dump_shape(const struct llmi_tensor_rec *t, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = 0;
	if (!t->ndim) {
		snprintf(buf, len, "scalar");
		return;
	}
	for (unsigned d = 0; d < t->ndim && d < LLMI_MAX_DIMS && o < len; d++)
		o += snprintf(buf + o, len - o, "%s%llu", d ? "x" : "",
			      (unsigned long long)t->shape[d]);
}

void dump_codec(const struct llmi_tensor_rec *t, char *buf, size_t len)
{
	static const char *const modes[] = { "lossless", "nmse", "mse", "abs" };

	if (t->codec_mode == LLMI_BOUND_LOSSLESS)
		snprintf(buf, len, "lossless");
	else if (t->codec_mode < 4)
		snprintf(buf, len, "quant:%s=%.3g%s%s", modes[t->codec_mode], t->codec_bound,
			 t->codec_flags & LLMI_CODEC_CHANNEL_MEAN ? ",chanmean" : "",
			 t->codec_flags & LLMI_CODEC_PREDICT ? ",predict" : "");
	else
		snprintf(buf, len, "mode%u", t->codec_mode);
}

double dump_ratio(uint64_t raw, uint64_t stored)
{
	return stored ? (double)raw / stored : 0.0;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {
		{ "info", cmd_info }, { "ls", cmd_ls }, { "export", cmd_export },
		{ "pack", cmd_pack }, { "verify", cmd_verify }, { "perfetto", cmd_perfetto },
	};

	if (argc < 2)
		return dump_err(EXIT_USAGE, "give a command: info, ls, export, pack, verify or perfetto (try --help)");
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		fputs(usage, stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	return dump_err(EXIT_USAGE, "unknown command '%s' (try --help)", argv[1]);
}
