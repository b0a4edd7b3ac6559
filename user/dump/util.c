// SPDX-License-Identifier: MIT
/*
 * What llminstr-dump's subcommands share (dump.h): messages and exit codes,
 * opening a container with the codec's blob check plugged into the reader,
 * creating outputs, saying what a reader could not read, formatting.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/outfile.h"
#include "dump/dump.h"

/* Set by dump_err_to(): messages go there (the first one kept), not to stderr. */
static __thread char *err_buf;
static __thread size_t err_len;

void dump_err_to(char *buf, size_t len)
{
	err_buf = len ? buf : NULL;
	err_len = len;
	if (err_buf)
		err_buf[0] = '\0';
}

int dump_err(int code, const char *fmt, ...)
{
	va_list ap;

	if (err_buf) {
		if (!err_buf[0]) {
			va_start(ap, fmt);
			vsnprintf(err_buf, err_len, fmt, ap);
			va_end(ap);
		}
		return code;
	}
	fputs("llminstr-dump: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

/*
 * The codec's part of checking a tensor record (format/reader.h): the coded
 * blob's head (header, chunk table, means) against the tensor's header,
 * without decoding. Reads only the head.
 */
static int blob_check(struct llmi_reader *r, uint64_t rec_off, const struct llmi_tensor_info *ti,
		      char *why, size_t wl)
{
	uint64_t base = rec_off + sizeof(struct llmi_rec_hdr) + ti->blob_offset, head_len;
	struct llmi_tensor_desc d = { .dtype = ti->rec.dtype, .ndim = ti->rec.ndim };
	uint8_t hdr[LLMI_CODEC_BLOB_HDR];
	struct llmi_codec_spec spec;
	char have[64];
	uint8_t *head;
	int err;

	memcpy(d.shape, ti->rec.shape, sizeof(d.shape));
	if (ti->blob_len < sizeof(hdr)) {
		snprintf(why, wl, "its coded blob is %llu bytes, shorter than a blob header",
			 (unsigned long long)ti->blob_len);
		return -EBADMSG;
	}
	err = llmi_reader__pread(r, base, hdr, sizeof(hdr));
	if (err)
		return err == -ERANGE ? -EIO : err;
	if (llmi_codec_blob_head_len(hdr, sizeof(hdr), &head_len) || head_len > ti->blob_len) {
		snprintf(why, wl, "its coded blob has no valid blob header");
		return -EBADMSG;
	}
	/* Bounded by the blob, itself inside the file. */
	head = malloc(head_len);
	if (!head)
		return -ENOMEM;
	err = llmi_reader__pread(r, base, head, head_len);
	if (!err && llmi_codec_blob_check(head, head_len, ti->blob_len, &d, &spec)) {
		snprintf(why, wl, "its coded blob does not match its header (dtype, shape, chunk sizes "
			 "or channel means)");
		err = -EBADMSG;
	} else if (!err && (spec.mode != ti->rec.codec_mode || (spec.flags & ~ti->rec.codec_flags) ||
			    (spec.mode != LLMI_BOUND_LOSSLESS && spec.bound != ti->rec.codec_bound))) {
		llmi_codec_spec_format(&spec, have, sizeof(have));
		snprintf(why, wl, "its coded blob was made with %s, not the codec its header names", have);
		err = -EBADMSG;
	}
	free(head);
	return err == -ERANGE ? -EIO : err;
}

struct llmi_reader *dump_open(const char *path, int *code)
{
	char err[LLMI_ERRLEN];
	struct llmi_reader *r = llmi_reader__open(path, err, sizeof(err));

	if (!r) {
		*code = errno == EBADMSG ? EXIT_DAMAGED : EXIT_CANNOT;
		dump_err(*code, "%s", err[0] ? err : strerror(errno));
		return NULL;
	}
	llmi_reader__set_blob_check(r, blob_check);
	return r;
}

FILE *dump_create(const char *path, bool force)
{
	unsigned flags = force ? LLMI_OUT_FORCE : 0;
	FILE *f = llmi_out_fopen(path, flags);
	char why[PATH_MAX + 128];

	if (!f)
		dump_err(EXIT_CANNOT, "%s", llmi_out_strerror(why, sizeof(why), path, errno, flags));
	return f;
}

void dump_out_failed(FILE *f, const char *path)
{
	/* Unlinked while still ours (locked), then closed: what a failed
	 * command wrote is never left looking like a result. */
	if (!f)
		return;
	unlink(path);
	fclose(f);
}

void dump_loss(const struct llmi_reader *r, struct dump_loss *l)
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
	if (st->bad_contents)
		snprintf(l->damage[n++], DUMP_LOSS_LEN,
			 "%llu record(s) with impossible contents skipped, the first: %s",
			 (unsigned long long)st->bad_contents, st->contents_note);
	if (st->tail_damaged && !st->tail_torn)
		snprintf(l->damage[n++], DUMP_LOSS_LEN, "%llu bytes at offset %llu not read: %s",
			 (unsigned long long)st->tail_bytes, (unsigned long long)st->tail_offset, st->note);
	l->ndamage = n;
}

int dump_loss_report(const char *path, const struct dump_loss *l)
{
	if (l->ndamage)
		return dump_err(EXIT_DAMAGED, "%s: damaged: %s%s", path, l->damage[0],
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
