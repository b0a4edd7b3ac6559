// SPDX-License-Identifier: MIT
/*
 * llminstr-dump export --format hf-arrow: a directory that Hugging Face
 * datasets.load_from_disk() opens, written from Arrow's published format
 * (arrow.c) without an Arrow library:
 *
 *   DIR/data-NNNNN-of-MMMMM.arrow  Arrow IPC streams, each at most
 *                                  --shard-size bytes (2 GB) of values
 *   DIR/dataset_info.json          the features (column types)
 *   DIR/state.json                 the shards, in order
 *
 * A row is a token. Each selected name is a column of fixed-size lists, its
 * values for that token (float32; float16; bf16 widened to float32 exactly,
 * or with --bf16-raw its bits as uint16), with the captured dtype in the
 * field's metadata ("llminstr.captured_dtype"); then token_ids (int64, null
 * where the file holds no ids), step (int64) and rank (int32, the capturing
 * process's, -1 where not known). SAELens-style loaders read the hook column
 * and token_ids.
 *
 * A tensor's rows: its token count when the record has one and it divides
 * the values ([B, S, H, D] with B*S tokens gives rows of H*D), else every
 * dimension but the last. The tensors of one step of one process (of one
 * file) make that step's rows; every name must give the same rows there,
 * or nothing is written and the first mismatch is said.
 *
 * Rows go out in step order (the files in order within a step), in record
 * batches of about 32 MiB (a quarter of a smaller shard); a step larger
 * than that is a batch of its own, written one tensor at a time: memory is
 * one batch or one tensor, whatever the step or the file.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "dump/arrow.h"
#include "dump/exportset.h"

#define SHARD_DEFAULT	2000000000ull	/* "2 GB": what save_to_disk sets its largest shards to */
#define EXTRA		3	/* columns after the names': token_ids, step, rank */
#define BATCH_BYTES	(32ull << 20)	/* at most; a quarter of a smaller shard */

struct hcol {
	const char *name;
	unsigned dtype;			/* captured; 0 until a tensor with rows sets it */
	uint64_t width;			/* values a row */
	size_t esize;			/* bytes a value as written */
	uint8_t *buf;			/* the batch's values */
	size_t cap;
};

struct group {
	size_t a, b;			/* items [a, b) */
	uint64_t rows;
	/* the rows' ids: for each of seqs sequences, kept ids from
	 * tok_first + seq * stride + skip of the process's token stream */
	uint64_t tok_first, seqs, stride, skip, kept;
	bool tokens;			/* ids known */
	unsigned shard;
};

struct hf {
	struct set *s;
	struct hcol *c;
	size_t nc;
	unsigned *col;			/* column of each item */
	uint64_t *rows;			/* rows of each item */
	struct group *g;
	size_t ng;
	unsigned nshards;
	uint64_t batch_bytes;		/* a batch is sent once it holds this much */
	/* the batch being filled */
	uint64_t brows;
	int64_t *tok, *step;
	uint8_t *valid;
	int32_t *rank;
	size_t tok_cap, step_cap, valid_cap, rank_cap;
	uint64_t tok_nulls;		/* of the batch being streamed */
	struct llmi_tensor_info *ti;
	size_t k;			/* items done, for the progress line */
};

/* Step, file, process, record: a group's items together. */
static int by_group(const void *x, const void *y)
{
	const struct item *a = x, *b = y;

	if (a->t.step == b->t.step && a->src == b->src && a->t.pid != b->t.pid)
		return a->t.pid < b->t.pid ? -1 : 1;
	return set_by_step(x, y);
}

static int by_str(const void *x, const void *y)
{
	return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* Sequences before the positions of a tensor pos= sliced (1 when not sliced). */
static uint64_t seqs_of(const struct llmi_tensor_rec *t)
{
	uint64_t n = 1;

	for (unsigned d = 0; t->pos_total && d < t->pos_dim && d < t->ndim; d++)
		n *= t->shape[d];
	return n;
}

/*
 * Values a row of t and its rows (FILE comment); rows 0 for an empty
 * tensor. A tensor pos= sliced has a row per sequence and position kept.
 */
static uint64_t row_width(const struct llmi_tensor_rec *t, uint64_t *rows)
{
	uint64_t numel = t->raw_bytes / llmi_dtype_size(t->dtype), w;

	if (t->pos_total && t->pos_dim < t->ndim && t->shape[t->pos_dim])
		w = numel / (seqs_of(t) * t->shape[t->pos_dim]);
	else if (t->token_count && numel % t->token_count == 0)
		w = numel / t->token_count;
	else
		w = t->ndim ? t->shape[t->ndim - 1] : 1;
	*rows = w ? numel / w : 0;
	return w;
}

/*
 * How t's rows map to ids (group's seqs, stride, skip, kept): its run
 * itself, or for a batch that pos= sliced each sequence's kept positions
 * of the step's whole run (FORMAT.md, "Positions"). False: they do not.
 */
static bool ids_of(const struct llmi_tensor_rec *t, uint64_t rows, struct group *g)
{
	uint64_t seqs = seqs_of(t);

	g->tok_first = t->token_first;
	if (t->token_count == rows) {
		g->seqs = 1;
		g->kept = rows;
		g->stride = g->skip = 0;
		return true;
	}
	if (!t->pos_total || t->pos_dim >= t->ndim || t->token_count != seqs * t->pos_total ||
	    rows != seqs * t->shape[t->pos_dim])
		return false;
	g->seqs = seqs;
	g->kept = t->shape[t->pos_dim];
	g->stride = t->pos_total;
	g->skip = t->pos_first;
	return true;
}

static const char *feature_dtype(const struct hf *h, const struct hcol *c)
{
	return c->dtype == LLMI_DTYPE_F16 ? "float16" :
	       c->dtype == LLMI_DTYPE_BF16 && h->s->bf16_raw ? "uint16" : "float32";
}

static bool same(const uint64_t *colrows, size_t n)
{
	for (size_t c = 1; c < n; c++)
		if (colrows[c] != colrows[0])
			return false;
	return true;
}

/*
 * A step whose names disagree on rows: where a record of the run was
 * damaged (and skipped) the step is skipped, said (0); else nothing is
 * exported (the exit code, said).
 */
static int mismatch(struct hf *h, size_t a, const uint64_t *colrows)
{
	struct set *s = h->s;
	const struct item *it = &s->v[a];
	size_t c = 1;

	while (colrows[c] == colrows[0])
		c++;
	if (s->ret == EXIT_DAMAGED) {
		dump_err(EXIT_DAMAGED, "export: step %llu of %s (process %u) skipped: '%s' has %llu "
			 "rows but '%s' %llu (a damaged record)", (unsigned long long)it->t.step,
			 s->src[it->src].path, it->t.pid, h->c[0].name,
			 (unsigned long long)colrows[0], h->c[c].name, (unsigned long long)colrows[c]);
		return 0;
	}
	return dump_err(EXIT_USAGE, "export: step %llu of %s (process %u): '%s' has %llu rows but "
			"'%s' %llu: a row per token needs every name with the same rows (tokens) at "
			"each step; choose names with --tensor GLOB, or use --format memmap; "
			"nothing exported", (unsigned long long)it->t.step, s->src[it->src].path, it->t.pid,
			h->c[0].name, (unsigned long long)colrows[0], h->c[c].name,
			(unsigned long long)colrows[c]);
}

/* Columns, each tensor's rows, the groups and their shards; 0 or the exit code, said. */
static int plan(struct hf *h)
{
	struct set *s = h->s;
	const char **names = malloc(s->n * sizeof(*names));
	uint64_t *colrows, shard_max = s->o->shard_bytes ? s->o->shard_bytes : SHARD_DEFAULT, in = 0;

	h->col = calloc(s->n, sizeof(*h->col));
	h->rows = calloc(s->n, sizeof(*h->rows));
	h->g = calloc(s->n, sizeof(*h->g));
	h->c = calloc(s->n, sizeof(*h->c));
	if (!names || !h->col || !h->rows || !h->g || !h->c) {
		free(names);
		return dump_err(EXIT_CANNOT, "out of memory");
	}
	qsort(s->v, s->n, sizeof(*s->v), by_group);
	for (size_t i = 0; i < s->n; i++)
		names[i] = s->v[i].name;
	qsort(names, s->n, sizeof(*names), by_str);
	for (size_t i = 0; i < s->n; i++)
		if (!i || strcmp(names[i], names[i - 1]))
			h->c[h->nc++].name = names[i];
	free(names);
	for (size_t i = 0; i < h->nc; i++)
		if (!strcmp(h->c[i].name, "token_ids") || !strcmp(h->c[i].name, "step") ||
		    !strcmp(h->c[i].name, "rank"))
			return dump_err(EXIT_USAGE, "export: a tensor is named '%s', which hf-arrow "
					"uses for its own column; leave it out with --tensor GLOB",
					h->c[i].name);

	/* every name: one dtype and row width */
	for (size_t i = 0; i < s->n; i++) {
		const struct item *it = &s->v[i];
		const char *key = it->name;
		const struct hcol *hit = bsearch(&key, h->c, h->nc, sizeof(*h->c), by_str);
		struct hcol *c;
		uint64_t w = row_width(&it->t, &h->rows[i]);

		h->col[i] = (unsigned)(hit - h->c);	/* every name is there */
		c = &h->c[h->col[i]];
		if (!h->rows[i])
			continue;
		if (!c->dtype) {
			c->dtype = it->t.dtype;
			c->width = w;
			c->esize = it->t.dtype == LLMI_DTYPE_BF16 && !s->bf16_raw ? 4 :
				   llmi_dtype_size(it->t.dtype);
		} else if (c->dtype != it->t.dtype || c->width != w) {
			return dump_err(EXIT_USAGE, "export: '%s' has %s rows of %llu values at "
					"step %llu but %s rows of %llu before: an Arrow column needs "
					"one dtype and row width (use --format safetensors); nothing "
					"exported", c->name, dump_dtype(it->t.dtype),
					(unsigned long long)w, (unsigned long long)it->t.step,
					dump_dtype(c->dtype), (unsigned long long)c->width);
		}
	}

	/* groups: a step of a process of a file; each name the same rows */
	colrows = calloc(h->nc, sizeof(*colrows));
	if (!colrows)
		return dump_err(EXIT_CANNOT, "out of memory");
	for (size_t a = 0, b; a < s->n; a = b) {
		struct group *g = &h->g[h->ng];
		const struct item *first = NULL;
		uint64_t bytes = 0;

		memset(colrows, 0, h->nc * sizeof(*colrows));
		for (b = a + 1; b < s->n && s->v[b].t.step == s->v[a].t.step &&
				s->v[b].src == s->v[a].src && s->v[b].t.pid == s->v[a].t.pid; b++)
			;
		for (size_t i = a; i < b; i++)
			colrows[h->col[i]] += h->rows[i];
		if (!same(colrows, h->nc)) {
			int rc = mismatch(h, a, colrows);

			if (rc) {
				free(colrows);
				return rc;
			}
			continue;	/* skipped, said */
		}
		g->a = a;
		g->b = b;
		g->rows = colrows[0];
		/* the ids are known when every tensor of the step says the same rows' ids */
		g->tokens = true;
		for (size_t i = a; i < b; i++) {
			const struct llmi_tensor_rec *t = &s->v[i].t;
			struct group o;

			if (!t->token_count)
				continue;
			if (!first) {
				first = &s->v[i];
				g->tokens = ids_of(t, g->rows, g);
			} else if (!ids_of(t, g->rows, &o) || o.tok_first != g->tok_first ||
				   o.seqs != g->seqs || o.stride != g->stride || o.skip != g->skip) {
				g->tokens = false;
			}
		}
		g->tokens &= first != NULL;
		for (size_t c = 0; c < h->nc; c++)
			bytes += g->rows * h->c[c].width * h->c[c].esize;
		bytes += g->rows * 16;
		if (s->o->tokens_per_file)	/* whole steps, about tokens_per_file rows a file */
			bytes = g->rows;
		if (in && in + bytes > (s->o->tokens_per_file ? s->o->tokens_per_file : shard_max)) {
			h->nshards++;
			in = 0;
		}
		in += bytes;
		g->shard = h->nshards;
		h->ng++;
	}
	h->nshards++;
	h->batch_bytes = shard_max / 4 < BATCH_BYTES ? shard_max / 4 : BATCH_BYTES;
	free(colrows);
	return 0;
}

static void *grow(void *p, size_t *cap, size_t need)
{
	return set_room(&p, cap, need) ? p : NULL;
}

/* The columns as Arrow sees them: the names', token_ids, step, rank. cols holds nc + EXTRA. */
static void columns(const struct hf *h, struct arrow_col *cols)
{
	for (size_t c = 0; c < h->nc; c++) {
		cols[c].name = h->c[c].name;
		cols[c].type = h->c[c].esize == 4 ? ARROW_F32 :
			       h->c[c].dtype == LLMI_DTYPE_F16 ? ARROW_F16 : ARROW_U16;
		cols[c].list_size = (uint32_t)(h->c[c].width ? h->c[c].width : 1);
		cols[c].meta_key = "llminstr.captured_dtype";
		cols[c].meta_val = dump_dtype(h->c[c].dtype);
	}
	cols[h->nc] = (struct arrow_col){ .name = "token_ids", .type = ARROW_I64 };
	cols[h->nc + 1] = (struct arrow_col){ .name = "step", .type = ARROW_I64 };
	cols[h->nc + 2] = (struct arrow_col){ .name = "rank", .type = ARROW_I32 };
}

/* The schema of the stream (the same in every shard); -1 with errno. */
static int schema(struct hf *h, FILE *f)
{
	struct arrow_col *cols = calloc(h->nc + EXTRA, sizeof(*cols));
	int rc;

	if (!cols) {
		errno = ENOMEM;
		return -1;
	}
	columns(h, cols);
	rc = arrow_schema(f, cols, h->nc + EXTRA);
	free(cols);
	return rc;
}

/*
 * The batch of the h->brows rows gathered (values NULL: a streamed batch's
 * message only, its values to follow); -1 with errno.
 */
static int batch(struct hf *h, FILE *f, bool head_only)
{
	struct arrow_col *cols = calloc(h->nc + EXTRA, sizeof(*cols));
	struct arrow_data *data = calloc(h->nc + EXTRA, sizeof(*data));
	uint64_t nulls = 0;
	int rc = -1;

	if (!cols || !data) {
		errno = ENOMEM;
		goto out;
	}
	columns(h, cols);
	for (size_t c = 0; c < h->nc; c++)
		data[c].values = h->c[c].buf;
	for (uint64_t r = 0; r < h->brows; r++)
		nulls += !(h->valid[r / 8] >> (r % 8) & 1);
	if (h->brows % 8)	/* the bits past the last row: zero, as the format asks */
		h->valid[h->brows / 8] &= (uint8_t)((1u << (h->brows % 8)) - 1);
	data[h->nc] = (struct arrow_data){ .values = h->tok, .validity = nulls ? h->valid : NULL,
					   .null_count = nulls };
	data[h->nc + 1].values = h->step;
	data[h->nc + 2].values = h->rank;
	if (head_only)
		rc = arrow_batch_head(f, cols, h->nc + EXTRA, h->brows, data);
	else
		rc = !h->brows ? 0 : arrow_batch(f, cols, h->nc + EXTRA, h->brows, data);
	if (!rc && head_only)
		h->tok_nulls = nulls;
	if (!head_only)
		h->brows = 0;
out:
	free(cols);
	free(data);
	return rc;
}

/* Room in the batch for g's rows after the h->brows there; 0 or the exit code, said. */
static int room_for(struct hf *h, const struct group *g, bool values)
{
	uint64_t n = h->brows + g->rows;

	for (size_t c = 0; values && c < h->nc; c++)
		if (!(h->c[c].buf = grow(h->c[c].buf, &h->c[c].cap,
					 n * h->c[c].width * h->c[c].esize + 1)))
			return dump_err(EXIT_CANNOT, "out of memory");
	if (!(h->tok = grow(h->tok, &h->tok_cap, n * 8 + 8)) ||
	    !(h->step = grow(h->step, &h->step_cap, n * 8 + 8)) ||
	    !(h->rank = grow(h->rank, &h->rank_cap, n * 4 + 4)) ||
	    !(h->valid = grow(h->valid, &h->valid_cap, n / 8 + 1)))
		return dump_err(EXIT_CANNOT, "out of memory");
	return 0;
}

/* g's token ids, validity and steps appended to the batch; 0 or the exit code, said. */
static int add_ids(struct hf *h, const struct group *g)
{
	struct set *s = h->s;
	uint64_t r0 = h->brows;
	int64_t *ids = h->tok + r0;
	const struct item *it = &s->v[g->a];
	const struct llmi_file_header *fh = llmi_reader__header(s->src[it->src].r);
	int32_t rank = llmi_rank_of(it->t.rank, fh->version_minor);
	struct src *sr = &s->src[it->src];

	if (rank < 0)	/* not said by the process: the file's */
		rank = llmi_rank_of(fh->rank, fh->version_minor);
	if (g->tokens && !sr->tok && !(sr->tok = dump_tokens__load(sr->r)))
		return dump_err(EXIT_CANNOT, "out of memory");
	for (uint64_t r = 0; r < g->rows; r++) {	/* unknown until found */
		ids[r] = 0;
		h->valid[(r0 + r) / 8] &= (uint8_t)~(1u << ((r0 + r) % 8));
	}
	for (uint64_t q = 0; q < (g->tokens ? g->seqs : 0); q++) {
		size_t got = dump_tokens__get(sr->tok, it->t.pid, g->tok_first + q * g->stride + g->skip,
					      ids + q * g->kept, g->kept);

		for (uint64_t k = 0, row = r0 + q * g->kept; k < got; k++, row++)
			h->valid[row / 8] |= (uint8_t)(1u << (row % 8));
	}
	for (uint64_t r = 0; r < g->rows; r++) {
		uint64_t row = r0 + r;

		h->step[row] = (int64_t)s->v[g->a].t.step;
		h->rank[row] = rank;
	}
	h->brows += g->rows;
	return 0;
}

/*
 * Item i decoded as its column holds it (bf16 widened unless --bf16-raw),
 * into dst, or (dst NULL) into s's buffer; NULL after saying why.
 */
static const void *decode_item(struct hf *h, size_t i, void *dst, size_t *len)
{
	struct set *s = h->s;
	const struct item *it = &s->v[i];
	const void *d;
	int rc;

	*len = it->t.raw_bytes;
	if (!dst) {
		d = set_decode(s, it, s->bf16_raw, len);
	} else if (it->t.dtype == LLMI_DTYPE_BF16 && !s->bf16_raw) {
		/* decoded aside, widened straight into the column */
		const uint16_t *b = set_decode(s, it, true, len);

		for (size_t e = 0; b && e < *len / 2; e++)
			((uint32_t *)dst)[e] = (uint32_t)b[e] << 16;
		*len *= 2;
		d = b;
	} else {
		rc = dump_decode_into(s->src[it->src].r, s->src[it->src].path, s->codec, it->rec,
				      h->ti, dst, *len);
		d = rc ? NULL : dst;
		if (rc)
			s->ret = rc;
	}
	if (d) {
		s->done += it->t.raw_bytes;
		set_progress(s, ++h->k, false);
	}
	return d ? (dst ? dst : d) : NULL;
}

/* Group g's rows appended to the batch in memory; 0, or the exit code after saying why. */
static int add_group(struct hf *h, const struct group *g)
{
	struct set *s = h->s;
	int rc = room_for(h, g, true);

	for (size_t c = 0; !rc && c < h->nc; c++) {
		struct hcol *col = &h->c[c];
		uint8_t *at = col->buf + h->brows * col->width * col->esize;

		for (size_t i = g->a; i < g->b; i++) {	/* the column's tensors, in record order */
			size_t len;

			if (h->col[i] != c || !h->rows[i])
				continue;
			if (!decode_item(h, i, at, &len))
				return s->ret;
			at += len;
		}
	}
	return rc ? rc : add_ids(h, g);
}

/*
 * Group g, larger than a batch, as a batch of its own written one tensor at
 * a time: memory is one tensor, not the step. 0, or the exit code, said.
 */
static int stream_group(struct hf *h, FILE *f, const struct group *g, const char *path)
{
	struct set *s = h->s;
	int rc = room_for(h, g, false);

	if (!rc)
		rc = add_ids(h, g);
	if (rc)
		return rc;
	if (batch(h, f, true))
		goto wfail;
	for (size_t c = 0; c < h->nc; c++) {
		for (size_t i = g->a; i < g->b; i++) {
			size_t len;
			const void *d;

			if (h->col[i] != c || !h->rows[i])
				continue;
			d = decode_item(h, i, NULL, &len);
			if (!d)
				return s->ret;
			if (fwrite(d, 1, len, f) != len)
				goto wfail;
		}
		if (arrow_pad(f, g->rows * h->c[c].width * h->c[c].esize))
			goto wfail;
	}
	if ((h->tok_nulls && (fwrite(h->valid, 1, (g->rows + 7) / 8, f) != (g->rows + 7) / 8 ||
			      arrow_pad(f, (g->rows + 7) / 8))) ||
	    fwrite(h->tok, 8, g->rows, f) != g->rows || arrow_pad(f, g->rows * 8) ||
	    fwrite(h->step, 8, g->rows, f) != g->rows || arrow_pad(f, g->rows * 8) ||
	    fwrite(h->rank, 4, g->rows, f) != g->rows || arrow_pad(f, g->rows * 4))
		goto wfail;
	h->brows = 0;
	return 0;
wfail:
	return dump_err(EXIT_CANNOT, "%s: write failed: %s", path, strerror(errno));
}

static int write_shard(struct hf *h, unsigned shard, size_t *gi)
{
	struct set *s = h->s;
	char path[4096];
	uint64_t bytes = 0;
	FILE *f;
	int rc;

	snprintf(path, sizeof(path), "%s/data-%05u-of-%05u.arrow", s->dir, shard, h->nshards);
	f = dump_create(path, s->force);
	if (!f)
		return EXIT_CANNOT;
	if (schema(h, f))
		goto wfail;
	for (; *gi < h->ng && h->g[*gi].shard == shard; (*gi)++) {
		const struct group *g = &h->g[*gi];
		uint64_t gb = 0;

		for (size_t c = 0; c < h->nc; c++)
			gb += g->rows * h->c[c].width * h->c[c].esize;
		if (gb > h->batch_bytes) {	/* what is gathered, then this step alone */
			if (batch(h, f, false))
				goto wfail;
			bytes = 0;
			rc = stream_group(h, f, g, path);
		} else {
			rc = add_group(h, g);
			bytes += gb;
		}
		if (rc) {
			dump_out_failed(f, path);
			return rc;
		}
		if (bytes >= h->batch_bytes) {
			if (batch(h, f, false))
				goto wfail;
			bytes = 0;
		}
	}
	if (batch(h, f, false) || arrow_eos(f))
		goto wfail;
	return set_close(s, f, path);
wfail:
	dump_err(EXIT_CANNOT, "%s: write failed: %s", path, strerror(errno));
	dump_out_failed(f, path);
	return EXIT_CANNOT;
}

static int write_json(struct hf *h, const char *name, bool state)
{
	struct set *s = h->s;
	char path[4096], fp[32], shard[64];
	uint64_t hash = 0xcbf29ce484222325ull, rows = 0;
	struct llmi_json j;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", s->dir, name);
	f = dump_create(path, s->force);
	if (!f)
		return EXIT_CANNOT;
	llmi_json_init(&j, f, true);
	llmi_json_obj_begin(&j, NULL);
	if (state) {
		/* what Dataset.save_to_disk writes: the shards in order, no format set */
		llmi_json_arr_begin(&j, "_data_files");
		for (unsigned i = 0; i < h->nshards; i++) {
			snprintf(shard, sizeof(shard), "data-%05u-of-%05u.arrow", i, h->nshards);
			llmi_json_obj_begin(&j, NULL);
			llmi_json_str(&j, "filename", shard);
			llmi_json_obj_end(&j);
		}
		llmi_json_arr_end(&j);
		/* a fingerprint of what was exported: each tensor's file, id and step */
		for (size_t i = 0; i < s->n; i++) {
			const char *p = s->src[s->v[i].src].path;
			uint64_t v[2] = { s->v[i].t.tensor_id, s->v[i].t.step };

			for (; *p; p++)
				hash = (hash ^ (uint8_t)*p) * 0x100000001b3ull;
			for (size_t b = 0; b < sizeof(v); b++)
				hash = (hash ^ ((const uint8_t *)v)[b]) * 0x100000001b3ull;
		}
		snprintf(fp, sizeof(fp), "%016llx", (unsigned long long)hash);
		llmi_json_str(&j, "_fingerprint", fp);
		llmi_json_null(&j, "_format_columns");
		llmi_json_obj_begin(&j, "_format_kwargs");
		llmi_json_obj_end(&j);
		llmi_json_null(&j, "_format_type");
		llmi_json_bool(&j, "_output_all_columns", false);
		llmi_json_null(&j, "_split");
	} else {
		char desc[256];

		for (size_t g = 0; g < h->ng; g++)
			rows += h->g[g].rows;
		snprintf(desc, sizeof(desc), "llminstr activations: %llu tokens, %zu tensors of %zu "
			 "file(s), a row per token", (unsigned long long)rows, s->n, s->nsrc);
		llmi_json_str(&j, "citation", "");
		llmi_json_str(&j, "description", desc);
		llmi_json_obj_begin(&j, "features");
		for (size_t c = 0; c < h->nc; c++) {
			llmi_json_obj_begin(&j, h->c[c].name);
			llmi_json_obj_begin(&j, "feature");
			llmi_json_str(&j, "dtype", feature_dtype(h, &h->c[c]));
			llmi_json_str(&j, "_type", "Value");
			llmi_json_obj_end(&j);
			llmi_json_u64(&j, "length", h->c[c].width ? h->c[c].width : 1);
			llmi_json_str(&j, "_type", "Sequence");
			llmi_json_obj_end(&j);
		}
		for (int k = 0; k < EXTRA; k++) {
			llmi_json_obj_begin(&j, k == 2 ? "rank" : k ? "step" : "token_ids");
			llmi_json_str(&j, "dtype", k == 2 ? "int32" : "int64");
			llmi_json_str(&j, "_type", "Value");
			llmi_json_obj_end(&j);
		}
		llmi_json_obj_end(&j);
		llmi_json_str(&j, "homepage", "");
		llmi_json_str(&j, "license", "");
	}
	llmi_json_obj_end(&j);
	return set_json_close(s, &j, f, path);
}

static void hf_free(struct hf *h)
{
	for (size_t c = 0; c < h->nc; c++)
		free(h->c[c].buf);
	free(h->c);
	free(h->col);
	free(h->rows);
	free(h->g);
	free(h->tok);
	free(h->step);
	free(h->rank);
	free(h->valid);
	free(h->ti);
}

/* Plans, creates DIR, and writes each shard with one(); 0 or the exit code. */
static int export_rows(struct set *s, int (*one)(struct hf *, unsigned, size_t *),
		       bool (*after)(struct hf *, int *))
{
	struct hf h = { .s = s };
	size_t gi = 0;
	int rc;

	rc = plan(&h);
	if (!rc)
		rc = set_mkdir(s);
	if (!rc && !(h.ti = malloc(sizeof(*h.ti))))
		rc = dump_err(EXIT_CANNOT, "out of memory");
	for (unsigned shard = 0; !rc && shard < h.nshards; shard++)
		rc = one(&h, shard, &gi);
	if (!rc && after)
		after(&h, &rc);
	for (size_t g = 0; !rc && g < h.ng; g++)
		s->exported += h.g[g].b - h.g[g].a;
	hf_free(&h);
	return rc;
}

static bool hf_json(struct hf *h, int *rc)
{
	*rc = write_json(h, "dataset_info.json", false);
	if (!*rc)
		*rc = write_json(h, "state.json", true);
	return !*rc;
}

int export_hf_arrow(struct set *s)
{
	return export_rows(s, write_shard, hf_json);
}

/* The safetensors header of part p: groups [g0, g1) of rows rows; NULL out of memory. */
static char *st_part_header(struct hf *h, size_t g0, size_t g1, uint64_t rows, size_t *hlen)
{
	struct set *s = h->s;
	struct set_st st;
	char v[64];

	if (!set_st_begin(&st, s->src[0].path))
		return NULL;
	snprintf(v, sizeof(v), "%llu-%llu", (unsigned long long)s->v[h->g[g0].a].t.step,
		 (unsigned long long)s->v[h->g[g1 - 1].a].t.step);
	llmi_json_str(&st.j, "llminstr.steps", v);
	llmi_json_str(&st.j, "llminstr.token_ids", "-1 where not known");
	llmi_json_obj_end(&st.j);
	for (size_t c = 0; c < h->nc; c++) {
		uint64_t shape[2] = { rows, h->c[c].width ? h->c[c].width : 1 };

		set_st_tensor(&st, h->c[c].name, set_st_dtype(h->c[c].dtype), shape, 2,
			      rows * h->c[c].width * h->c[c].esize);
	}
	set_st_tensor(&st, "token_ids", "I64", &rows, 1, rows * 8);
	set_st_tensor(&st, "step", "I64", &rows, 1, rows * 8);
	set_st_tensor(&st, "rank", "I32", &rows, 1, rows * 4);
	return set_st_end(&st, hlen);
}

/*
 * DIR/part-NNNNN-of-MMMMM.safetensors: the whole steps of part p, each
 * name one [rows, width] tensor in its captured dtype (bf16 as BF16), then
 * token_ids (I64, -1 where not known), step (I64) and rank (I32) of each
 * row. One tensor decoded at a time.
 */
static int write_st_part(struct hf *h, unsigned part, size_t *gi)
{
	struct set *s = h->s;
	char path[4096], *hdr = NULL;
	size_t g0 = *gi, g1 = g0, hlen = 0;
	uint64_t rows = 0;
	FILE *f = NULL;
	int rc = EXIT_CANNOT;

	while (g1 < h->ng && h->g[g1].shard == part)
		rows += h->g[g1++].rows;
	*gi = g1;
	if (g0 == g1)
		return 0;
	snprintf(path, sizeof(path), "%s/part-%05u-of-%05u.safetensors", s->dir, part, h->nshards);
	h->brows = 0;	/* the ids, steps and ranks of the part, gathered first */
	for (size_t g = g0; g < g1; g++) {
		rc = room_for(h, &h->g[g], false);
		if (rc || (rc = add_ids(h, &h->g[g])))
			return rc;
	}
	for (uint64_t r = 0; r < rows; r++)
		if (!(h->valid[r / 8] >> (r % 8) & 1))
			h->tok[r] = -1;
	hdr = st_part_header(h, g0, g1, rows, &hlen);
	if (!hdr)
		return dump_err(EXIT_CANNOT, "out of memory");
	f = set_st_create(s, path, hdr, hlen);
	if (!f)
		goto out;
	for (size_t c = 0; c < h->nc; c++)
		for (size_t g = g0; g < g1; g++)
			for (size_t i = h->g[g].a; i < h->g[g].b; i++) {
				size_t len;
				const void *d;

				if (h->col[i] != c || !h->rows[i])
					continue;
				d = decode_item(h, i, NULL, &len);
				if (!d) {
					rc = s->ret;
					goto out;
				}
				if (fwrite(d, 1, len, f) != len)
					goto wfail;
			}
	if (fwrite(h->tok, 8, rows, f) != rows || fwrite(h->step, 8, rows, f) != rows ||
	    fwrite(h->rank, 4, rows, f) != rows)
		goto wfail;
	free(hdr);
	h->brows = 0;
	return set_close(s, f, path);
wfail:
	dump_err(EXIT_CANNOT, "%s: write failed: %s", path, strerror(errno));
out:
	free(hdr);
	if (f)
		dump_out_failed(f, path);
	return rc;
}

int export_st_tokens(struct set *s)
{
	s->bf16_raw = true;	/* safetensors keeps bf16 */
	return export_rows(s, write_st_part, NULL);
}
