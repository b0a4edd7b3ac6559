// SPDX-License-Identifier: MIT
/*
 * llminstr-dump export: one tensor, decoded, as a numpy .npy file (npy.c);
 * with --format safetensors or memmap, many into a directory (exportset.c).
 *
 * numpy has no bfloat16: bf16 tensors are exported as float32 by default
 * (exact: a bf16 is the top half of an f32) or, with --bf16-raw, as their
 * raw bits in uint16 ('<u2') for callers that convert themselves. f16 is
 * numpy's float16 ('<f2'), f32 its float32 ('<f4').
 *
 * The output is created before the tensor is decoded (a name in the way is
 * said at once) and removed again if the export fails: a half-written .npy
 * never looks like a result.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/parse.h"
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

static void *decode_depth(struct llmi_reader *r, const char *path, struct llmi_codec *c, size_t i,
			  struct llmi_tensor_info *ti, struct dump_cache *cache, int depth, void *into,
			  size_t into_len, int *code)
{
	const struct llmi_rec_info *ri = llmi_reader__record(r, i);
	struct llmi_tensor_desc desc = { 0 };
	void *payload = NULL, *dst = NULL, *ref = NULL;
	char why[LLMI_ERRLEN];
	size_t len;
	int err;

	*code = EXIT_DAMAGED;
	/* Loading checks the record (checksum, header, blob structure). */
	payload = llmi_reader__load_why(r, i, &len, why, sizeof(why));
	if (!payload) {
		if (errno == EBADMSG)
			dump_err(EXIT_DAMAGED, "%s: damaged: tensor record at offset %llu: %s", path,
				 (unsigned long long)ri->offset, why);
		else
			*code = dump_err(EXIT_CANNOT, "%s: tensor record at offset %llu: cannot read: %s",
					 path, (unsigned long long)ri->offset, strerror(errno));
		return NULL;
	}
	err = llmi_tensor_parse(payload, len, ti);
	ti->record = i;
	if (err) {	/* checked by the load: only if the file changed meanwhile */
		dump_err(EXIT_DAMAGED, "%s: damaged: tensor record at offset %llu: inconsistent header",
			 path, (unsigned long long)ri->offset);
		goto fail;
	}
	desc.dtype = ti->rec.dtype;
	desc.ndim = ti->rec.ndim;
	memcpy(desc.shape, ti->rec.shape, sizeof(desc.shape));
	if (ti->rec.codec_flags & LLMI_CODEC_PREDICT) {
		uint64_t rid = ti->rec.ref_tensor_id;
		struct dump_ref *cr = cache && rid < cache->n ? &cache->v[rid] : NULL;
		struct llmi_tensor_info rti;
		long rk;

		if (cr && cr->data) {
			/* Decoded before, kept for the tensors predicted from it. */
			rti.rec.raw_bytes = cr->raw_bytes;
			rti.rec.dtype = cr->dtype;
			ref = malloc(cr->raw_bytes ? cr->raw_bytes : 1);
			if (!ref) {
				*code = dump_err(EXIT_CANNOT, "%s: cannot allocate %llu bytes", path,
						 (unsigned long long)cr->raw_bytes);
				goto fail;
			}
			memcpy(ref, cr->data, cr->raw_bytes);
			if (!--cr->uses) {
				free(cr->data);
				cr->data = NULL;
			}
		} else if ((rk = find_id(r, rid)) < 0 || depth >= MAX_REF_DEPTH) {
			dump_err(EXIT_DAMAGED, "%s: damaged: tensor %llu is predicted from tensor %llu, "
				 "which is missing or damaged", path, (unsigned long long)ti->rec.tensor_id,
				 (unsigned long long)ti->rec.ref_tensor_id);
			goto fail;
		} else {
			ref = decode_depth(r, path, c, rk, &rti, NULL, depth + 1, NULL, 0, code);
			if (!ref)
				goto fail;
			if (cr && cr->uses)
				cr->uses--;
		}
		if (rti.rec.raw_bytes != ti->rec.raw_bytes || rti.rec.dtype != ti->rec.dtype) {
			dump_err(EXIT_DAMAGED, "%s: damaged: tensor %llu: its reference tensor %llu has "
				 "another shape", path, (unsigned long long)ti->rec.tensor_id,
				 (unsigned long long)ti->rec.ref_tensor_id);
			goto fail;
		}
	}
	/* raw_bytes = numel * dtype size, checked by the reader. */
	dst = into && into_len >= ti->rec.raw_bytes ? into : malloc(ti->rec.raw_bytes ? ti->rec.raw_bytes : 1);
	if (!dst) {
		*code = dump_err(EXIT_CANNOT, "%s: tensor %llu: cannot allocate %llu bytes", path,
				 (unsigned long long)ti->rec.tensor_id, (unsigned long long)ti->rec.raw_bytes);
		goto fail;
	}
	err = llmi_codec__decode(c, (uint8_t *)payload + ti->blob_offset, ti->blob_len, &desc, ref,
				 dst, ti->rec.raw_bytes);
	if (err == -EBADMSG) {
		dump_err(EXIT_DAMAGED, "%s: damaged: tensor %llu at offset %llu: its coded blob does not "
			 "decode", path, (unsigned long long)ti->rec.tensor_id,
			 (unsigned long long)ri->offset);
		goto fail;
	}
	if (err) {
		*code = dump_err(EXIT_CANNOT, "%s: tensor %llu: cannot decode: %s", path,
				 (unsigned long long)ti->rec.tensor_id, strerror(-err));
		goto fail;
	}
	free(payload);
	free(ref);
	if (cache && ti->rec.tensor_id < cache->n && cache->v[ti->rec.tensor_id].uses &&
	    !cache->v[ti->rec.tensor_id].data) {
		/* Kept for the tensors predicted from it (without: decoded again). */
		struct dump_ref *cr = &cache->v[ti->rec.tensor_id];

		cr->data = malloc(ti->rec.raw_bytes ? ti->rec.raw_bytes : 1);
		if (cr->data) {
			memcpy(cr->data, dst, ti->rec.raw_bytes);
			cr->raw_bytes = ti->rec.raw_bytes;
			cr->dtype = ti->rec.dtype;
		}
	}
	*code = 0;
	return dst;
fail:
	free(payload);
	free(ref);
	if (dst != into)
		free(dst);
	return NULL;
}

void *dump_decode(struct llmi_reader *r, const char *path, struct llmi_codec *c, size_t i,
		  struct llmi_tensor_info *ti, struct dump_cache *cache, int *code)
{
	return decode_depth(r, path, c, i, ti, cache, 0, NULL, 0, code);
}

int dump_decode_into(struct llmi_reader *r, const char *path, struct llmi_codec *c, size_t i,
		     struct llmi_tensor_info *ti, void *dst, size_t len)
{
	int code;
	void *d = decode_depth(r, path, c, i, ti, NULL, 0, dst, len, &code);

	if (d && d != dst) {	/* dst was too small: said as such */
		free(d);
		return dump_err(EXIT_USAGE, "%s: tensor %llu needs %llu bytes, %zu given", path,
				(unsigned long long)ti->rec.tensor_id,
				(unsigned long long)ti->rec.raw_bytes, len);
	}
	return d ? 0 : code;
}

int dump_cache_init(struct dump_cache *cache, struct llmi_reader *r)
{
	uint64_t n = 0;

	for (size_t i = 0; i < llmi_reader__nr_records(r); i++)
		n += llmi_reader__record(r, i)->type == LLMI_REC_TENSOR;
	cache->n = n;
	cache->v = calloc(n ? n : 1, sizeof(*cache->v));
	if (!cache->v)
		return -ENOMEM;
	for (size_t i = 0; i < llmi_reader__nr_records(r); i++) {
		struct llmi_tensor_info ti;

		if (llmi_reader__record(r, i)->type == LLMI_REC_TENSOR && !llmi_reader__tensor(r, i, &ti) &&
		    (ti.rec.codec_flags & LLMI_CODEC_PREDICT) && ti.rec.ref_tensor_id < n)
			cache->v[ti.rec.ref_tensor_id].uses++;
	}
	return 0;
}

void dump_cache_free(struct dump_cache *cache)
{
	for (uint64_t i = 0; i < cache->n; i++)
		free(cache->v[i].data);
	free(cache->v);
	cache->v = NULL;
	cache->n = 0;
}

/*
 * Why --tensor found nothing: the argument, unless the file is damaged
 * (then the tensor may be in a record that could not be read). The whole
 * file is checked to tell.
 */
static int not_found(struct llmi_reader *r, const char **dmg)
{
	llmi_reader__check_all(r);
	if (!llmi_reader_status_damaged(llmi_reader__status(r))) {
		*dmg = "";
		return EXIT_USAGE;
	}
	*dmg = "; the file is damaged (see 'llminstr-dump info')";
	return EXIT_DAMAGED;
}

/* Finds --tensor ID|NAME [--step N]; says why not, sets *code and returns -1. */
static long find_tensor(struct llmi_reader *r, const char *sel, int64_t step, int *code)
{
	const char *dmg;
	char *end;
	unsigned long long id;
	long found = -1, matches = 0;

	errno = 0;
	id = strtoull(sel, &end, 10);
	if (sel[0] >= '0' && sel[0] <= '9' && !*end && !errno) {
		if (step >= 0) {
			*code = dump_err(EXIT_USAGE, "export: --step goes with a tensor NAME, not an ID");
			return -1;
		}
		found = find_id(r, id);
		if (found < 0) {
			*code = not_found(r, &dmg);
			dump_err(*code, "no tensor with id %llu (see 'llminstr-dump ls')%s", id, dmg);
		}
		return found;
	}
	for (size_t i = 0; i < llmi_reader__nr_records(r); i++) {
		struct llmi_tensor_info ti;

		if (llmi_reader__record(r, i)->type == LLMI_REC_TENSOR &&
		    !llmi_reader__tensor(r, i, &ti) && !strcmp(ti.name, sel) &&
		    (step < 0 || ti.rec.step == (uint64_t)step)) {
			if (!matches++)
				found = (long)i;
		}
	}
	if (!matches && step >= 0) {
		*code = not_found(r, &dmg);
		dump_err(*code, "no tensor named '%s' at step %lld (see 'llminstr-dump ls')%s", sel,
			 (long long)step, dmg);
	} else if (!matches) {
		*code = not_found(r, &dmg);
		dump_err(*code, "no tensor named '%s' (see 'llminstr-dump ls')%s", sel, dmg);
	} else if (matches > 1)
		*code = dump_err(EXIT_USAGE, "%ld tensors are named '%s'%s; give --step N or an ID "
				 "(see 'llminstr-dump ls')", matches, sel, step >= 0 ? " at that step" : "");
	return matches == 1 ? found : -1;
}

static const char export_help[] =
"Usage: llminstr-dump export FILE --tensor ID|NAME [--step N] -o OUT.npy [--bf16-raw]\n"
"                          [--force]\n"
"       llminstr-dump export FILE... --format safetensors|memmap|hf-arrow -o DIR\n"
"                          [--tensor GLOB] [--step N] [--bf16-raw] [--force]\n"
"                          [--shard-size SIZE] [--tokens-per-file N]\n"
"Decodes one tensor and writes it as a numpy .npy file (np.load reads it),\n"
"or many into DIR; several FILEs (a run's shards) make one dataset:\n"
"  safetensors  DIR/step-NNNNNNNN.safetensors, one per step, tensors named as\n"
"               captured, bf16 kept as BF16, producer, codec and error in\n"
"               __metadata__ (safetensors.safe_open, transformers read it);\n"
"               a name two shards share gets @SHARD\n"
"  memmap       DIR/NAME.bin, one per name, its steps' rows concatenated (the\n"
"               shards in order within a step), and DIR/NAME.json (dtype,\n"
"               shape, steps, rows, files) for numpy.memmap\n"
"  hf-arrow     what datasets.load_from_disk opens: DIR/data-NNNNN-of-MMMMM.arrow\n"
"               (Arrow IPC streams), dataset_info.json, state.json; a row per\n"
"               token: one fixed-size-list column per name (its values for the\n"
"               token), token_ids (int64, null where not known) and step;\n"
"               every name must have the same rows at each step\n"
"  -t, --tensor ID|NAME  which tensor ('llminstr-dump ls' shows ids and names);\n"
"                        with --format, a name or glob ('blk.*.resid')\n"
"  -s, --step N          with a NAME: the one captured at step N\n"
"  -o, --output OUT      created; an existing file (or DIR) is refused unless\n"
"                        --force, a symbolic link, directory or device always\n"
"  -f, --force           replace an existing OUT, or write into an existing DIR\n"
"      --format F        npy (one tensor, the default), safetensors or memmap\n"
"      --bf16-raw        bf16 as its raw bits ('<u2', Arrow uint16) instead of float32\n"
"      --shard-size SIZE hf-arrow: most bytes in a shard (default 2 GB: 2e9)\n"
"      --tokens-per-file N  safetensors: instead of a file per step, files\n"
"                        DIR/part-NNNNN-of-MMMMM.safetensors of whole steps,\n"
"                        about N rows (tokens) each: every name one [rows, d]\n"
"                        tensor (as hf-arrow's rows), and token_ids (-1 where\n"
"                        not known), step and rank of each row\n"
"dtypes: f32 -> float32, f16 -> float16, bf16 -> float32 (exact) by default.\n"
"Exit 1 when a tensor is damaged (skipped with --format; OUT.npy is not left\n"
"behind), 2 on bad usage or no such tensor, 3 when FILE cannot be read or an\n"
"output written.\n";

int cmd_export(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tensor", required_argument, NULL, 't' },
		{ "output", required_argument, NULL, 'o' },
		{ "bf16-raw", no_argument, NULL, 'r' },
		{ "step", required_argument, NULL, 's' },
		{ "force", no_argument, NULL, 'f' },
		{ "format", required_argument, NULL, 'F' },
		{ "shard-size", required_argument, NULL, 'S' },
		{ "tokens-per-file", required_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	const char *sel = NULL, *out = NULL, *descr, *path, *format = "npy";
	struct llmi_tensor_info *ti = NULL;
	struct llmi_reader *r = NULL;
	struct llmi_codec *codec = NULL;
	bool bf16_raw = false, force = false;
	int64_t step = -1;
	uint64_t shard = 0, per_file = 0;
	void *data = NULL, *conv = NULL;
	size_t len;
	FILE *f = NULL;
	long idx;
	int c, ret = EXIT_CANNOT;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "t:o:s:fh", opts, NULL)) != -1) {
		char *end;

		switch (c) {
		case 't': sel = optarg; break;
		case 's':
			errno = 0;
			step = (int64_t)strtoull(optarg, &end, 10);
			if (optarg[0] < '0' || optarg[0] > '9' || *end || errno || step < 0)
				return dump_err(EXIT_USAGE, "export: --step '%s': expected a step number",
						optarg);
			break;
		case 'o': out = optarg; break;
		case 'r': bf16_raw = true; break;
		case 'f': force = true; break;
		case 'F':
			if (strcmp(optarg, "npy") && strcmp(optarg, "safetensors") &&
			    strcmp(optarg, "memmap") && strcmp(optarg, "hf-arrow"))
				return dump_err(EXIT_USAGE, "export: --format '%s': expected npy, "
						"safetensors, memmap or hf-arrow", optarg);
			format = optarg;
			break;
		case 'S':
			if (llmi_parse_size(optarg, &shard) || shard < 4096)
				return dump_err(EXIT_USAGE, "export: --shard-size '%s': expected a "
						"size of at least 4096 bytes (k, M, G)", optarg);
			break;
		case 'N':
			if (llmi_parse_u64(optarg, &per_file) || !per_file)
				return dump_err(EXIT_USAGE, "export: --tokens-per-file '%s': expected a "
						"number of tokens, at least 1", optarg);
			break;
		case 'h': fputs(export_help, stdout); return 0;
		default:
			return dump_err(EXIT_USAGE, "export: unknown or incomplete option '%s' (try --help)",
					argv[optind - 1]);
		}
	}
	if (shard && strcmp(format, "hf-arrow"))
		return dump_err(EXIT_USAGE, "export: --shard-size goes with --format hf-arrow");
	if (per_file && strcmp(format, "safetensors"))
		return dump_err(EXIT_USAGE, "export: --tokens-per-file goes with --format safetensors");
	if (strcmp(format, "npy")) {
		if (optind >= argc || !out)
			return dump_err(EXIT_USAGE, "export: needs FILE... and -o DIR (try --help)");
		struct dump_export_opts o = { .format = format, .dir = out, .glob = sel,
					      .step = step, .bf16_raw = bf16_raw, .force = force,
					      .shard_bytes = shard, .tokens_per_file = per_file };

		return dump_export_set(argv + optind, (size_t)(argc - optind), &o);
	}
	if (optind != argc - 1 || !sel || !out)
		return dump_err(EXIT_USAGE, "export: needs FILE, --tensor ID|NAME and -o OUT.npy (try --help)");
	path = argv[optind];
	ti = malloc(sizeof(*ti));
	if (!ti)
		return dump_err(EXIT_CANNOT, "out of memory");
	r = dump_open(path, &ret);
	if (!r)
		goto out;
	idx = find_tensor(r, sel, step, &ret);
	if (idx < 0)
		goto out;
	/* The output before the work: a name in the way is said at once. */
	f = dump_create(out, force);
	if (!f) {
		ret = EXIT_CANNOT;
		goto out;
	}
	codec = llmi_codec__new(1);
	if (!codec) {
		ret = dump_err(EXIT_CANNOT, "cannot create a codec context: %s", strerror(errno));
		goto out;
	}
	data = dump_decode(r, path, codec, idx, ti, NULL, &ret);
	if (!data)
		goto out;
	ret = EXIT_CANNOT;
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
			dump_err(EXIT_CANNOT, "cannot allocate %zu bytes", len * 2);
			goto out;
		}
		for (size_t k = 0; k < len / 2; k++)
			((uint32_t *)conv)[k] = (uint32_t)((uint16_t *)data)[k] << 16;
		free(data);
		data = conv;
		conv = NULL;
		len *= 2;
	}
	if (dump_write_npy(f, descr, &ti->rec, data, len) || fflush(f) || ferror(f)) {
		dump_err(EXIT_CANNOT, "%s: write failed: %s", out, strerror(errno));
		goto out;
	}
	if (fclose(f)) {
		f = NULL;
		unlink(out);
		dump_err(EXIT_CANNOT, "%s: write failed: %s", out, strerror(errno));
		goto out;
	}
	f = NULL;
	dump_printable(ti->name);
	printf("exported tensor %llu '%s' (%s) to %s as %s\n", (unsigned long long)ti->rec.tensor_id,
	       ti->name, dump_dtype(ti->rec.dtype), out,
	       !strcmp(descr, "<f4") ? "float32" : !strcmp(descr, "<f2") ? "float16" : "uint16 (bf16 bits)");
	ret = 0;
out:
	dump_out_failed(f, out);	/* set only when the command failed */
	free(data);
	free(conv);
	free(ti);
	llmi_codec__free(codec);
	llmi_reader__free(r);
	return ret;
}
