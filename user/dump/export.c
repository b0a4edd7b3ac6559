// SPDX-License-Identifier: MIT
/*
 * llminstr-dump export: one tensor, decoded, as a numpy .npy file (npy.c).
 *
 * numpy has no bfloat16: bf16 tensors are exported as float32 by default
 * (exact: a bf16 is the top half of an f32) or, with --bf16-raw, as their
 * raw bits in uint16 ('<u2') for callers that convert themselves. f16 is
 * numpy's float16 ('<f2'), f32 its float32 ('<f4').
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dump/dump.h"

#define MAX_REF_DEPTH 64

/* Record index of the tensor with this id, or -1. */
static long find_id(struct llmi_reader *r, uint64_t id)
{
	for (size_t i = 0; i < llmi_reader__nr_records(r); i++) {
		struct llmi_tensor_info ti;

		if (llmi_reader__record(r, i)->type == LLMI_REC_TENSOR &&
		    !llmi_reader__tensor(r, i, &ti) && ti.rec.tensor_id == id)
			return (long)i;
	}
	return -1;
}

static void *decode_depth(struct llmi_reader *r, struct llmi_codec *c, size_t i,
			  struct llmi_tensor_info *ti, int depth)
{
	struct llmi_tensor_desc desc = { 0 };
	void *payload = NULL, *dst = NULL, *ref = NULL;
	size_t len;
	int err;

	err = llmi_reader__tensor(r, i, ti);
	if (err) {
		dump_err(EXIT_BAD, "record %zu: tensor header is inconsistent (%s)", i, strerror(-err));
		return NULL;
	}
	payload = llmi_reader__load(r, i, &len);
	if (!payload) {
		dump_err(EXIT_BAD, "tensor %llu at offset %llu: %s",
			 (unsigned long long)ti->rec.tensor_id,
			 (unsigned long long)llmi_reader__record(r, i)->offset,
			 errno == EBADMSG ? "record damaged (checksum mismatch); 'llminstr-dump verify' says where" :
			 strerror(errno));
		return NULL;
	}
	desc.dtype = ti->rec.dtype;
	desc.ndim = ti->rec.ndim;
	memcpy(desc.shape, ti->rec.shape, sizeof(desc.shape));
	if (ti->rec.codec_flags & LLMI_CODEC_PREDICT) {
		struct llmi_tensor_info rti;
		long ri = ti->rec.ref_tensor_id == LLMI_NO_REF ? -1 : find_id(r, ti->rec.ref_tensor_id);

		if (ri < 0 || depth >= MAX_REF_DEPTH) {
			dump_err(EXIT_BAD, "tensor %llu: its reference tensor %llu is missing",
				 (unsigned long long)ti->rec.tensor_id,
				 (unsigned long long)ti->rec.ref_tensor_id);
			goto fail;
		}
		ref = decode_depth(r, c, ri, &rti, depth + 1);
		if (!ref)
			goto fail;
		if (rti.rec.raw_bytes != ti->rec.raw_bytes || rti.rec.dtype != ti->rec.dtype) {
			dump_err(EXIT_BAD, "tensor %llu: reference tensor %llu has another shape",
				 (unsigned long long)ti->rec.tensor_id,
				 (unsigned long long)ti->rec.ref_tensor_id);
			goto fail;
		}
	}
	/* raw_bytes = numel * dtype size, checked by the reader. */
	dst = malloc(ti->rec.raw_bytes ? ti->rec.raw_bytes : 1);
	if (!dst) {
		dump_err(EXIT_BAD, "tensor %llu: cannot allocate %llu bytes",
			 (unsigned long long)ti->rec.tensor_id, (unsigned long long)ti->rec.raw_bytes);
		goto fail;
	}
	err = llmi_codec__decode(c, (uint8_t *)payload + ti->blob_offset, ti->blob_len, &desc, ref,
				 dst, ti->rec.raw_bytes);
	if (err) {
		dump_err(EXIT_BAD, "tensor %llu: cannot decode its blob: %s",
			 (unsigned long long)ti->rec.tensor_id,
			 err == -EBADMSG ? "damaged or not matching its header" : strerror(-err));
		goto fail;
	}
	free(payload);
	free(ref);
	return dst;
fail:
	free(payload);
	free(ref);
	free(dst);
	return NULL;
}

void *dump_decode(struct llmi_reader *r, struct llmi_codec *c, size_t i, struct llmi_tensor_info *ti)
{
	return decode_depth(r, c, i, ti, 0);
}

/* Finds --tensor ID|NAME; says why not and returns -1. */
static long find_tensor(struct llmi_reader *r, const char *sel)
{
	char *end;
	unsigned long long id;
	long found = -1, matches = 0;

	errno = 0;
	id = strtoull(sel, &end, 10);
	if (sel[0] >= '0' && sel[0] <= '9' && !*end && !errno) {
		found = find_id(r, id);
		if (found < 0)
			dump_err(EXIT_BAD, "no tensor with id %llu (see 'llminstr-dump ls')", id);
		return found;
	}
	for (size_t i = 0; i < llmi_reader__nr_records(r); i++) {
		struct llmi_tensor_info ti;

		if (llmi_reader__record(r, i)->type == LLMI_REC_TENSOR &&
		    !llmi_reader__tensor(r, i, &ti) && !strcmp(ti.name, sel)) {
			if (!matches++)
				found = (long)i;
		}
	}
	if (!matches)
		dump_err(EXIT_BAD, "no tensor named '%s' (see 'llminstr-dump ls')", sel);
	else if (matches > 1)
		dump_err(EXIT_BAD, "%ld tensors are named '%s'; give an ID (see 'llminstr-dump ls')",
			 matches, sel);
	return matches == 1 ? found : -1;
}

static const char export_help[] =
"Usage: llminstr-dump export FILE --tensor ID|NAME -o OUT.npy [--bf16-raw]\n"
"Decodes one tensor and writes it as a numpy .npy file (np.load reads it).\n"
"  -t, --tensor ID|NAME  which tensor ('llminstr-dump ls' shows ids and names)\n"
"  -o, --output OUT.npy  created or replaced; a symbolic link is refused\n"
"      --bf16-raw        bf16 as its raw bits ('<u2') instead of float32\n"
"dtypes: f32 -> float32, f16 -> float16, bf16 -> float32 (exact) by default.\n";

int cmd_export(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tensor", required_argument, NULL, 't' },
		{ "output", required_argument, NULL, 'o' },
		{ "bf16-raw", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	const char *sel = NULL, *out = NULL, *descr;
	struct llmi_tensor_info *ti = NULL;
	struct llmi_reader *r = NULL;
	struct llmi_codec *codec = NULL;
	bool bf16_raw = false;
	void *data = NULL, *conv = NULL;
	size_t len;
	FILE *f = NULL;
	long idx;
	int c, ret = EXIT_BAD;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "t:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 't': sel = optarg; break;
		case 'o': out = optarg; break;
		case 'r': bf16_raw = true; break;
		case 'h': fputs(export_help, stdout); return 0;
		default:
			return dump_err(EXIT_USAGE, "export: unknown or incomplete option '%s' (try --help)",
					argv[optind - 1]);
		}
	}
	if (optind != argc - 1 || !sel || !out)
		return dump_err(EXIT_USAGE, "export: needs FILE, --tensor ID|NAME and -o OUT.npy (try --help)");
	ti = malloc(sizeof(*ti));
	if (!ti)
		return dump_err(EXIT_BAD, "out of memory");
	r = dump_open(argv[optind]);
	if (!r)
		goto out;
	idx = find_tensor(r, sel);
	if (idx < 0)
		goto out;
	codec = llmi_codec__new(1);
	if (!codec) {
		dump_err(EXIT_BAD, "cannot create a codec context: %s", strerror(errno));
		goto out;
	}
	data = dump_decode(r, codec, idx, ti);
	if (!data)
		goto out;
	len = ti->rec.raw_bytes;
	switch (ti->rec.dtype) {
	case LLMI_DTYPE_F32:
		descr = "<f4";
		break;
	case LLMI_DTYPE_F16:
		descr = "<f2";
		break;
	default:	/* bf16 */
		if (bf16_raw) {
			descr = "<u2";
			break;
		}
		descr = "<f4";
		conv = malloc(len ? len * 2 : 1);
		if (!conv) {
			dump_err(EXIT_BAD, "cannot allocate %zu bytes", len * 2);
			goto out;
		}
		for (size_t k = 0; k < len / 2; k++)
			((uint32_t *)conv)[k] = (uint32_t)((uint16_t *)data)[k] << 16;
		free(data);
		data = conv;
		conv = NULL;
		len *= 2;
	}
	f = dump_create(out);
	if (!f)
		goto out;
	if (dump_write_npy(f, descr, &ti->rec, data, len) || fflush(f) || ferror(f)) {
		dump_err(EXIT_BAD, "%s: write failed: %s", out, strerror(errno));
		goto out;
	}
	dump_printable(ti->name);
	printf("exported tensor %llu '%s' (%s) to %s as %s\n", (unsigned long long)ti->rec.tensor_id,
	       ti->name, dump_dtype(ti->rec.dtype), out,
	       !strcmp(descr, "<f4") ? "float32" : !strcmp(descr, "<f2") ? "float16" : "uint16 (bf16 bits)");
	ret = 0;
out:
	if (f && fclose(f) && !ret)
		ret = dump_err(EXIT_BAD, "%s: write failed: %s", out, strerror(errno));
	free(data);
	free(conv);
	free(ti);
	llmi_codec__free(codec);
	llmi_reader__free(r);
	return ret;
}
