// SPDX-License-Identifier: MIT
/*
 * libllminstr_read.so (llminstr_read.h): the reader tool's own opening,
 * checking, naming and decoding behind a small C API. Messages the tool
 * would print go into the caller's buffer instead (dump_err_to).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dump/dump.h"
#include "dump/llminstr_read.h"

#define API __attribute__((visibility("default")))

struct llmi_read {
	char *path;
	struct llmi_reader *r;
	struct llmi_codec *codec;
	struct dump_names *names;
	size_t n;
	struct llmi_read_tensor *t;
	size_t *rec;			/* record index of each tensor */
	char (*codecs)[96];
	uint64_t skipped;
	struct dump_tokens *tok;		/* for llmi_read_tokens() */
	struct dump_loss loss;
};

static void set_err(char *err, size_t len, const char *msg)
{
	if (err && len)
		snprintf(err, len, "%s", msg[0] ? msg : "failed");
}

API int llmi_read_abi(void)
{
	return LLMI_READ_ABI;
}

API void llmi_read_close(struct llmi_read *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->n; i++)
		free((char *)h->t[i].name);
	free(h->t);
	free(h->rec);
	free(h->codecs);
	dump_tokens__free(h->tok);
	dump_names__free(h->names);
	llmi_codec__free(h->codec);
	llmi_reader__free(h->r);
	free(h->path);
	free(h);
}

/* Tensor record i as the API's struct (name and codec owned by h). */
static int add(struct llmi_read *h, size_t i, const struct llmi_tensor_info *ti)
{
	const struct llmi_tensor_rec *t = &ti->rec;
	struct llmi_read_tensor *o = &h->t[h->n];

	memset(o, 0, sizeof(*o));
	o->name = strdup(ti->name);
	if (!o->name)
		return -ENOMEM;
	o->id = t->tensor_id;
	o->step = t->step;
	for (unsigned d = 0; d < 8; d++)
		o->shape[d] = d < t->ndim ? t->shape[d] : 0;
	o->raw_bytes = t->raw_bytes;
	o->stored_bytes = t->stored_bytes;
	o->launch_id = t->launch_id;
	o->capture_ns = t->capture_ns;
	o->mse = t->mse;
	o->nmse = t->nmse;
	o->max_abs_err = t->max_abs_err;
	o->codec_bound = t->codec_bound;
	o->layer = t->layer;
	o->tid = t->tid;
	o->dtype = t->dtype;
	o->ndim = t->ndim;
	o->kernel = t->launch_id && t->kernel_name_id && h->names ?
		dump_names__get(h->names, LLMI_STR_KERNEL, t->kernel_name_id) : NULL;
	dump_codec(t, h->codecs[h->n], sizeof(h->codecs[h->n]));
	o->codec = h->codecs[h->n];
	o->token_first = t->token_first;
	o->token_count = t->token_count;
	o->pid = t->pid;
	o->rank = t->rank;	/* -1 for a 1.0 or 1.1 file: the reader sees to it */
	o->pos_first = t->pos_first;
	o->pos_total = t->pos_total;
	o->pos_dim = t->pos_dim;
	h->rec[h->n++] = i;
	return 0;
}

API struct llmi_read *llmi_read_open(const char *path, int flags, char *err, size_t errlen)
{
	struct llmi_read *h = calloc(1, sizeof(*h));
	char msg[512];
	size_t nrec, ntens = 0;
	uint64_t bad = 0;
	int code;

	dump_err_to(msg, sizeof(msg));
	if (!h || !(h->path = strdup(path)))
		goto nomem;
	h->r = dump_open(path, &code);
	if (!h->r)
		goto fail;
	if ((flags & LLMI_READ_CHECK) && llmi_reader__check_all(h->r) < 0) {
		snprintf(msg, sizeof(msg), "%s: cannot read: %s", path, strerror(errno));
		goto fail;
	}
	nrec = llmi_reader__nr_records(h->r);
	for (size_t i = 0; i < nrec; i++)
		ntens += llmi_reader__record(h->r, i)->type == LLMI_REC_TENSOR;
	h->t = calloc(ntens ? ntens : 1, sizeof(*h->t));
	h->rec = calloc(ntens ? ntens : 1, sizeof(*h->rec));
	h->codecs = calloc(ntens ? ntens : 1, sizeof(*h->codecs));
	h->codec = llmi_codec__new(1);
	if (!h->t || !h->rec || !h->codecs || !h->codec)
		goto nomem;
	h->names = dump_names__load(h->r, &bad);
	for (size_t i = 0; i < nrec; i++) {
		const struct llmi_rec_info *ri = llmi_reader__record(h->r, i);
		struct llmi_tensor_info ti;

		if (ri->type != LLMI_REC_TENSOR)
			continue;
		if (ri->state == LLMI_CHECK_BAD || ((flags & LLMI_READ_CHECK) && ri->state != LLMI_CHECK_OK) ||
		    llmi_reader__tensor(h->r, i, &ti)) {
			h->skipped++;
			continue;
		}
		if (add(h, i, &ti))
			goto nomem;
	}
	h->tok = dump_tokens__load(h->r);
	if (!h->tok)
		goto nomem;
	dump_loss(h->r, &h->loss);
	dump_err_to(NULL, 0);
	return h;
nomem:
	snprintf(msg, sizeof(msg), "out of memory");
fail:
	dump_err_to(NULL, 0);
	set_err(err, errlen, msg);
	llmi_read_close(h);
	return NULL;
}

API size_t llmi_read_count(const struct llmi_read *h)
{
	return h->n;
}

API uint64_t llmi_read_skipped(const struct llmi_read *h, char *what, size_t whatlen)
{
	if (what && whatlen)
		snprintf(what, whatlen, "%s", h->loss.ndamage ? h->loss.damage[0] : h->loss.torn);
	return h->skipped;
}

API int llmi_read_info(const struct llmi_read *h, size_t i, struct llmi_read_tensor *out)
{
	if (i >= h->n)
		return -1;
	*out = h->t[i];
	return 0;
}

API size_t llmi_read_tokens(const struct llmi_read *h, uint32_t pid, uint64_t first, int64_t *ids,
			       size_t n)
{
	return dump_tokens__get(h->tok, pid, first, ids, n);
}

API int32_t llmi_read_rank(const struct llmi_read *h, int32_t *world_size, int32_t *local_rank)
{
	const struct llmi_file_header *fh = llmi_reader__header(h->r);

	if (world_size)
		*world_size = fh->world_size;
	if (local_rank)
		*local_rank = fh->local_rank;
	return fh->rank;
}

API int llmi_read_decode(struct llmi_read *h, size_t i, void *dst, size_t len, char *err,
			 size_t errlen)
{
	struct llmi_tensor_info *ti;
	char msg[512];
	int code;

	if (i >= h->n) {
		set_err(err, errlen, "no such tensor");
		return -1;
	}
	if (len < h->t[i].raw_bytes) {
		snprintf(msg, sizeof(msg), "tensor %zu needs %llu bytes, %zu given", i,
			 (unsigned long long)h->t[i].raw_bytes, len);
		set_err(err, errlen, msg);
		return -1;
	}
	ti = malloc(sizeof(*ti));
	if (!ti) {
		set_err(err, errlen, "out of memory");
		return -1;
	}
	dump_err_to(msg, sizeof(msg));
	code = dump_decode_into(h->r, h->path, h->codec, h->rec[i], ti, dst, len);
	dump_err_to(NULL, 0);
	free(ti);
	if (code) {
		set_err(err, errlen, msg);
		return -1;
	}
	return 0;
}

API int llmi_read_export(const char *const *paths, size_t npaths, const char *format,
			 const char *dir, const char *glob, int64_t step, int bf16_raw, int force,
			 uint64_t shard_bytes, uint64_t tokens_per_file, char *err, size_t errlen)
{
	struct dump_export_opts o = { .format = format, .dir = dir, .glob = glob, .step = step,
				      .bf16_raw = bf16_raw, .force = force, .quiet = true,
				      .shard_bytes = shard_bytes, .tokens_per_file = tokens_per_file };
	char msg[512];
	int rc;

	if (!format || (strcmp(format, "safetensors") && strcmp(format, "memmap") &&
			strcmp(format, "hf-arrow"))) {
		set_err(err, errlen, "format: expected safetensors, memmap or hf-arrow");
		return EXIT_USAGE;
	}
	if (!npaths) {
		set_err(err, errlen, "no file to export");
		return EXIT_USAGE;
	}
	if ((shard_bytes && strcmp(format, "hf-arrow")) ||
	    (tokens_per_file && strcmp(format, "safetensors"))) {
		set_err(err, errlen, "shard size goes with hf-arrow, tokens per file with safetensors");
		return EXIT_USAGE;
	}
	dump_err_to(msg, sizeof(msg));
	rc = dump_export_set((char *const *)paths, npaths, &o);
	dump_err_to(NULL, 0);
	if (rc)
		set_err(err, errlen, msg);
	return rc;
}

API int llmi_read_threads(struct llmi_read *h, unsigned n)
{
	struct llmi_codec *c;

	if (n < 1 || n > 64)
		return -1;
	c = llmi_codec__new(n);
	if (!c)
		return -1;
	llmi_codec__free(h->codec);
	h->codec = c;
	return 0;
}
