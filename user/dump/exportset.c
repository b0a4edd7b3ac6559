// SPDX-License-Identifier: MIT
/*
 * llminstr-dump export --format safetensors|memmap: many tensors into a
 * directory, in the forms activation tools load (export.c keeps the one-
 * tensor .npy).
 *
 *   safetensors  DIR/step-NNNNNNNN.safetensors, one per step: the step's
 *                tensors named as captured (a second tensor of one name in
 *                a step gets "@ID"), f32/bf16/f16 as F32/BF16/F16 (bf16
 *                kept as bf16), and __metadata__ (string to string, as the
 *                format wants) with the step, the source file and, per
 *                tensor, its producer, codec, achieved error, token
 *                range ("first,count" of process pid's token stream) and
 *                the positions pos= kept ("dim,first,count,of").
 *   memmap       DIR/NAME.bin, one per name: its tensors in step order,
 *                concatenated along the first dimension (rows), raw
 *                little-endian, with DIR/NAME.json giving dtype and shape
 *                for numpy.memmap, the step and rows of each piece, and
 *                the worst error. bf16 becomes float32 (exact) unless
 *                --bf16-raw keeps its bits as uint16: numpy has no bf16.
 *
 * Several files (the shards of a run: RUN/rank-*.llmi) export as one
 * dataset: a step's file holds every shard's tensors of that step (a name
 * two shards share gets "@SHARD", the shard's file name without .llmi),
 * and a name's rows run through the shards in order within each step.
 *
 * Streaming: the records are checked first (a damaged one is skipped and
 * said, the rest exported, exit 1), then one tensor is decoded at a time,
 * so memory is one tensor whatever the file size. A file being written is
 * removed if the export fails; the files finished before it stay (each is
 * whole). An existing DIR is refused unless --force, which writes into it
 * and replaces only the files this export makes.
 */
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/fmt.h"
#include "common/json.h"
#include "dump/dump.h"
#include "dump/exportset.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* On a terminal, at most five times a second: tensors and bytes done. */
void set_progress(struct set *s, size_t k, bool last)
{
	char a[32], b[32];
	double t = now_s();

	if (!s->tty || (!last && t < s->next_show))
		return;
	s->next_show = t + 0.2;
	if (last) {
		fputs("\r\033[K", stderr);
		return;
	}
	fprintf(stderr, "\r\033[Kexport: %zu/%zu tensors, %s of %s (%.0f%%)", k, s->n,
		llmi_fmt_bytes(a, sizeof(a), s->done), llmi_fmt_bytes(b, sizeof(b), s->total),
		s->total ? 100.0 * s->done / s->total : 100.0);
}

int set_by_step(const void *x, const void *y)
{
	const struct item *a = x, *b = y;

	if (a->t.step != b->t.step)
		return a->t.step < b->t.step ? -1 : 1;
	if (a->src != b->src)
		return a->src < b->src ? -1 : 1;
	return a->rec < b->rec ? -1 : a->rec > b->rec;
}

static int by_name(const void *x, const void *y)
{
	const struct item *a = x, *b = y;
	int c = strcmp(a->name, b->name);

	return c ? c : set_by_step(x, y);
}

/* The tensors of one file that check out and are selected; damaged ones said and skipped. */
static int collect(struct set *s, unsigned f, size_t *cap)
{
	struct src *sr = &s->src[f];
	size_t skipped = 0;

	if (llmi_reader__check_all(sr->r) < 0)
		return dump_err(EXIT_CANNOT, "%s: cannot read: %s", sr->path, strerror(errno));
	for (size_t i = 0; i < llmi_reader__nr_records(sr->r); i++) {
		const struct llmi_rec_info *ri = llmi_reader__record(sr->r, i);
		struct llmi_tensor_info ti;

		if (ri->type != LLMI_REC_TENSOR)
			continue;
		if (ri->state != LLMI_CHECK_OK || llmi_reader__tensor(sr->r, i, &ti)) {
			skipped++;
			continue;
		}
		if ((s->o->glob && fnmatch(s->o->glob, ti.name, 0)) ||
		    (s->o->step >= 0 && ti.rec.step != (uint64_t)s->o->step))
			continue;
		if (s->n == *cap) {
			struct item *nv = realloc(s->v, (*cap ? 2 * *cap : 64) * sizeof(*nv));

			if (!nv)
				return dump_err(EXIT_CANNOT, "out of memory");
			s->v = nv;
			*cap = *cap ? 2 * *cap : 64;
		}
		s->v[s->n].src = f;
		s->v[s->n].rec = i;
		s->v[s->n].t = ti.rec;
		s->v[s->n].name = strdup(ti.name);
		if (!s->v[s->n].name)
			return dump_err(EXIT_CANNOT, "out of memory");
		s->total += ti.rec.raw_bytes;
		s->n++;
	}
	if (skipped) {
		dump_err(EXIT_DAMAGED, "%s: %zu damaged tensor record(s) skipped (see 'llminstr-dump "
			 "verify'); exporting the rest", sr->path, skipped);
		s->ret = EXIT_DAMAGED;
	}
	return 0;
}

/* A file name from a tensor name: [A-Za-z0-9._-] kept, the rest '_', no leading dot. */
static void file_name(char *buf, size_t len, const char *name, const char *ext)
{
	size_t k = 0;

	if (name[0] == '.' || !name[0])
		buf[k++] = '_';
	for (const char *p = name; *p && k + strlen(ext) + 2 < len && k < 200; p++) {
		char ch = *p;

		buf[k++] = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			   (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-' ? ch : '_';
	}
	snprintf(buf + k, len - k, "%s", ext);
}

/* A buffer of s that holds n bytes (kept: a fresh one per tensor faults every page in). */
void *set_room(void **buf, size_t *cap, size_t n)
{
	if (n > *cap) {
		void *p = realloc(*buf, n);

		if (!p)
			return NULL;
		*buf = p;
		*cap = n;
	}
	return *buf;
}

/*
 * Decodes it as the export writes it (bf16 widened unless keep16) into one
 * of s's buffers, valid until the next call; NULL after saying why.
 */
const void *set_decode(struct set *s, const struct item *it, bool keep16, size_t *len)
{
	struct llmi_tensor_info *ti = malloc(sizeof(*ti));
	size_t n = it->t.raw_bytes;
	void *d = set_room(&s->buf, &s->buf_cap, n ? n : 1);
	int code;

	if (!ti || !d) {
		free(ti);
		s->ret = dump_err(EXIT_CANNOT, "cannot allocate %zu bytes", n);
		return NULL;
	}
	code = dump_decode_into(s->src[it->src].r, s->src[it->src].path, s->codec, it->rec, ti, d, n);
	free(ti);
	if (code) {
		s->ret = code;
		return NULL;
	}
	*len = n;
	if (it->t.dtype == LLMI_DTYPE_BF16 && !keep16) {
		uint32_t *w = set_room(&s->wide, &s->wide_cap, n ? n * 2 : 1);

		if (!w) {
			s->ret = dump_err(EXIT_CANNOT, "cannot allocate %zu bytes", n * 2);
			return NULL;
		}
		for (size_t k = 0; k < n / 2; k++)
			w[k] = (uint32_t)((const uint16_t *)d)[k] << 16;
		*len = n * 2;
		return w;
	}
	return d;
}

/* Flushes and closes a finished output; on failure says why and removes it. 0 or EXIT_CANNOT. */
int set_close(struct set *s, FILE *f, const char *path)
{
	if (fflush(f) || ferror(f)) {
		dump_err(EXIT_CANNOT, "%s: write failed: %s", path, strerror(errno));
		dump_out_failed(f, path);
		return EXIT_CANNOT;
	}
	if (fclose(f)) {
		unlink(path);
		return dump_err(EXIT_CANNOT, "%s: write failed: %s", path, strerror(errno));
	}
	s->files++;
	return 0;
}

int set_json_close(struct set *s, struct llmi_json *j, FILE *f, const char *path)
{
	if (llmi_json_finish(j) || fputc('\n', f) == EOF) {
		dump_err(EXIT_CANNOT, "%s: write failed: %s", path, strerror(errno));
		dump_out_failed(f, path);
		return EXIT_CANNOT;
	}
	return set_close(s, f, path);
}

static void meta(struct llmi_json *j, const char *name, const char *key, const char *val)
{
	char k[LLMI_NAME_MAX + 64];

	snprintf(k, sizeof(k), "%s.%s", name, key);
	llmi_json_str(j, k, val);
}

FILE *set_st_begin(struct set_st *h, const char *source)
{
	memset(h, 0, sizeof(*h));
	h->f = open_memstream(&h->buf, &h->len);
	if (!h->f)
		return NULL;
	llmi_json_init(&h->j, h->f, false);
	llmi_json_obj_begin(&h->j, NULL);
	llmi_json_obj_begin(&h->j, "__metadata__");
	llmi_json_str(&h->j, "format", "pt");
	llmi_json_str(&h->j, "llminstr.source", source);
	return h->f;
}

void set_st_tensor(struct set_st *h, const char *name, const char *dtype, const uint64_t *shape,
		   unsigned nd, uint64_t bytes)
{
	llmi_json_obj_begin(&h->j, name);
	llmi_json_str(&h->j, "dtype", dtype);
	llmi_json_arr_begin(&h->j, "shape");
	for (unsigned d = 0; d < nd; d++)
		llmi_json_u64(&h->j, NULL, shape[d]);
	llmi_json_arr_end(&h->j);
	llmi_json_arr_begin(&h->j, "data_offsets");
	llmi_json_u64(&h->j, NULL, h->off);
	llmi_json_u64(&h->j, NULL, h->off + bytes);
	llmi_json_arr_end(&h->j);
	llmi_json_obj_end(&h->j);
	h->off += bytes;
}

char *set_st_end(struct set_st *h, size_t *hlen)
{
	llmi_json_obj_end(&h->j);
	if (llmi_json_finish(&h->j) || fflush(h->f)) {
		fclose(h->f);
		free(h->buf);
		return NULL;
	}
	/* the data starts 8-aligned: the header is padded with spaces */
	while (h->len % 8 && fputc(' ', h->f) != EOF && !fflush(h->f))
		;
	if (fclose(h->f) || h->len % 8) {
		free(h->buf);
		return NULL;
	}
	*hlen = h->len;
	return h->buf;
}

FILE *set_st_create(struct set *s, const char *path, const char *hdr, size_t hlen)
{
	FILE *f = dump_create(path, s->force);
	uint8_t le[8];

	if (!f)
		return NULL;
	for (int b = 0; b < 8; b++)
		le[b] = (uint8_t)((uint64_t)hlen >> (8 * b));
	if (fwrite(le, 1, 8, f) != 8 || fwrite(hdr, 1, hlen, f) != hlen) {
		dump_err(EXIT_CANNOT, "%s: write failed: %s", path, strerror(errno));
		dump_out_failed(f, path);
		return NULL;
	}
	return f;
}

const char *set_st_dtype(unsigned dtype)
{
	return dtype == LLMI_DTYPE_BF16 ? "BF16" : dtype == LLMI_DTYPE_F16 ? "F16" : "F32";
}

/* The safetensors header of items v[0..n) with their names in nm; NULL when out of memory. */
static char *st_header(struct set *s, const struct item *v, size_t n, char **nm, size_t *hlen)
{
	char val[512], codec[96];
	struct set_st st;

	if (!set_st_begin(&st, s->src[v[0].src].path))
		return NULL;
	snprintf(val, sizeof(val), "%llu", (unsigned long long)v[0].t.step);
	llmi_json_str(&st.j, "llminstr.step", val);
	for (size_t i = 0; i < n; i++) {
		const struct llmi_tensor_rec *t = &v[i].t;
		const struct dump_names *names = s->src[v[i].src].names;
		const char *k = names && t->kernel_name_id ?
			dump_names__get(names, LLMI_STR_KERNEL, t->kernel_name_id) : NULL;

		if (t->launch_id)
			snprintf(val, sizeof(val), "%s (launch %llu, thread %u)", k ? k : "?",
				 (unsigned long long)t->launch_id, t->tid);
		else
			snprintf(val, sizeof(val), "unknown");
		meta(&st.j, nm[i], "producer", val);
		dump_codec(t, codec, sizeof(codec));
		meta(&st.j, nm[i], "codec", codec);
		snprintf(val, sizeof(val), "%.9g", t->nmse);
		meta(&st.j, nm[i], "nmse", val);
		snprintf(val, sizeof(val), "%.9g", t->max_abs_err);
		meta(&st.j, nm[i], "max_abs_err", val);
		snprintf(val, sizeof(val), "%llu", (unsigned long long)t->tensor_id);
		meta(&st.j, nm[i], "id", val);
		if (t->token_count) {	/* "first,count" in process pid's token stream */
			snprintf(val, sizeof(val), "%llu,%llu", (unsigned long long)t->token_first,
				 (unsigned long long)t->token_count);
			meta(&st.j, nm[i], "tokens", val);
			snprintf(val, sizeof(val), "%u", t->pid);
			meta(&st.j, nm[i], "pid", val);
		}
		if (t->pos_total) {	/* pos= kept "dim,first,count,of" (FORMAT.md, Positions) */
			snprintf(val, sizeof(val), "%u,%llu,%llu,%llu", t->pos_dim,
				 (unsigned long long)t->pos_first,
				 (unsigned long long)(t->pos_dim < t->ndim ? t->shape[t->pos_dim] : 0),
				 (unsigned long long)t->pos_total);
			meta(&st.j, nm[i], "positions", val);
		}
		if (s->nsrc > 1)
			meta(&st.j, nm[i], "file", s->src[v[i].src].path);
	}
	llmi_json_obj_end(&st.j);
	for (size_t i = 0; i < n; i++)
		set_st_tensor(&st, nm[i], set_st_dtype(v[i].t.dtype), v[i].t.shape,
			      v[i].t.ndim < 8 ? v[i].t.ndim : 8, v[i].t.raw_bytes);
	return set_st_end(&st, hlen);
}

/* One step's file from v[0..n); 0, or the exit code after saying why. */
static int st_file(struct set *s, const struct item *v, size_t n, size_t *k)
{
	char path[4096], **nm = calloc(n, sizeof(*nm)), *hdr = NULL;
	size_t hlen = 0;
	FILE *f = NULL;
	int ret = EXIT_CANNOT;

	snprintf(path, sizeof(path), "%s/step-%08llu.safetensors", s->dir,
		 (unsigned long long)v[0].t.step);
	if (!nm)
		goto nomem;
	for (size_t i = 0; i < n; i++) {
		bool dup = false;

		bool other = false;

		for (size_t q = 0; q < i; q++)
			if (!strcmp(v[q].name, v[i].name)) {
				dup = true;
				other |= v[q].src != v[i].src;
			}
		/* a shard's own: NAME@SHARD; a second of one file: NAME@ID */
		if (dup && other && s->nsrc > 1 ?
			    asprintf(&nm[i], "%s@%s", v[i].name, s->src[v[i].src].stem) < 0 :
		    dup ? asprintf(&nm[i], "%s@%llu", v[i].name,
				   (unsigned long long)v[i].t.tensor_id) < 0 :
			  !(nm[i] = strdup(v[i].name))) {
			nm[i] = NULL;
			goto nomem;
		}
	}
	hdr = st_header(s, v, n, nm, &hlen);
	if (!hdr)
		goto nomem;
	f = set_st_create(s, path, hdr, hlen);
	if (!f)
		goto out;
	for (size_t i = 0; i < n; i++, (*k)++) {
		size_t len;
		const void *d = set_decode(s, &v[i], true, &len);

		if (!d) {
			ret = s->ret;
			goto out;
		}
		if (fwrite(d, 1, len, f) != len)
			goto wfail;
		s->done += v[i].t.raw_bytes;
		set_progress(s, *k + 1, false);
	}
	ret = set_close(s, f, path);
	f = NULL;
	if (!ret)
		s->exported += n;
	goto out;
nomem:
	dump_err(EXIT_CANNOT, "out of memory");
	goto out;
wfail:
	dump_err(EXIT_CANNOT, "%s: write failed: %s", path, strerror(errno));
out:
	dump_out_failed(f, path);
	for (size_t i = 0; nm && i < n; i++)
		free(nm[i]);
	free(nm);
	free(hdr);
	return ret;
}

static int export_safetensors(struct set *s)
{
	size_t k = 0;

	qsort(s->v, s->n, sizeof(*s->v), set_by_step);
	for (size_t a = 0, b; a < s->n; a = b) {
		int rc;

		for (b = a + 1; b < s->n && s->v[b].t.step == s->v[a].t.step; b++)
			;
		rc = st_file(s, s->v + a, b - a, &k);
		if (rc)
			return rc;
	}
	return 0;
}

/* The row shape of t (all dimensions but the first) equals that of u. */
static bool same_rows(const struct llmi_tensor_rec *t, const struct llmi_tensor_rec *u)
{
	if (t->dtype != u->dtype || (t->ndim > 1 ? t->ndim : 1) != (u->ndim > 1 ? u->ndim : 1))
		return false;
	for (unsigned d = 1; d < t->ndim && d < 8; d++)
		if (t->shape[d] != u->shape[d])
			return false;
	return true;
}

static uint64_t rows_of(const struct llmi_tensor_rec *t)
{
	return t->ndim ? t->shape[0] : 1;
}

/* NAME.json beside NAME.bin, for the items of one name v[0..n). */
static int mm_sidecar(struct set *s, const struct item *v, size_t n, const char *base)
{
	char path[4096], sh[128];
	const struct llmi_tensor_rec *t = &v[0].t;
	uint64_t rows = 0;
	double worst = 0;
	struct llmi_json j;
	FILE *f;

	for (size_t i = 0; i < n; i++) {
		rows += rows_of(&v[i].t);
		if (v[i].t.nmse > worst)
			worst = v[i].t.nmse;
	}
	snprintf(path, sizeof(path), "%s/%s.json", s->dir, base);
	f = dump_create(path, s->force);
	if (!f)
		return EXIT_CANNOT;
	llmi_json_init(&j, f, true);
	llmi_json_obj_begin(&j, NULL);
	llmi_json_str(&j, "name", v[0].name);
	snprintf(sh, sizeof(sh), "%s.bin", base);
	llmi_json_str(&j, "file", sh);
	llmi_json_str(&j, "dtype", t->dtype == LLMI_DTYPE_F16 ? "float16" :
			  t->dtype == LLMI_DTYPE_BF16 && s->bf16_raw ? "uint16" : "float32");
	llmi_json_str(&j, "captured_dtype", dump_dtype(t->dtype));
	llmi_json_arr_begin(&j, "shape");
	llmi_json_u64(&j, NULL, rows);
	for (unsigned d = 1; d < t->ndim && d < 8; d++)
		llmi_json_u64(&j, NULL, t->shape[d]);
	llmi_json_arr_end(&j);
	llmi_json_str(&j, "order", "C");
	llmi_json_arr_begin(&j, "steps");
	for (size_t i = 0; i < n; i++)
		llmi_json_u64(&j, NULL, v[i].t.step);
	llmi_json_arr_end(&j);
	llmi_json_arr_begin(&j, "rows");
	for (size_t i = 0; i < n; i++)
		llmi_json_u64(&j, NULL, rows_of(&v[i].t));
	llmi_json_arr_end(&j);
	llmi_json_arr_begin(&j, "tokens");	/* each piece's [first, count], or null */
	for (size_t i = 0; i < n; i++) {
		if (!v[i].t.token_count) {
			llmi_json_null(&j, NULL);
			continue;
		}
		llmi_json_arr_begin(&j, NULL);
		llmi_json_u64(&j, NULL, v[i].t.token_first);
		llmi_json_u64(&j, NULL, v[i].t.token_count);
		llmi_json_arr_end(&j);
	}
	llmi_json_arr_end(&j);
	llmi_json_arr_begin(&j, "positions");	/* pos= kept: [dim, first, count, of], or null */
	for (size_t i = 0; i < n; i++) {
		const struct llmi_tensor_rec *t = &v[i].t;

		if (!t->pos_total) {
			llmi_json_null(&j, NULL);
			continue;
		}
		llmi_json_arr_begin(&j, NULL);
		llmi_json_u64(&j, NULL, t->pos_dim);
		llmi_json_u64(&j, NULL, t->pos_first);
		llmi_json_u64(&j, NULL, t->pos_dim < t->ndim ? t->shape[t->pos_dim] : 0);
		llmi_json_u64(&j, NULL, t->pos_total);
		llmi_json_arr_end(&j);
	}
	llmi_json_arr_end(&j);
	llmi_json_arr_begin(&j, "files");	/* the shard of each piece */
	for (size_t i = 0; i < n; i++)
		llmi_json_str(&j, NULL, s->src[v[i].src].path);
	llmi_json_arr_end(&j);
	llmi_json_double(&j, "max_nmse", worst);
	llmi_json_obj_end(&j);
	return set_json_close(s, &j, f, path);
}

/* NAME.bin and NAME.json for the items of one name; 0, -1 when skipped (said), or the exit code. */
static int mm_name(struct set *s, const struct item *v, size_t n, size_t *k, char (*used)[256],
		   size_t nused)
{
	char base[256], path[4096];
	FILE *f;

	for (size_t i = 1; i < n; i++)
		if (!same_rows(&v[i].t, &v[0].t)) {
			char a[128], b[128];

			dump_shape(&v[0].t, a, sizeof(a));
			dump_shape(&v[i].t, b, sizeof(b));
			for (size_t q = 0; q < n; q++)	/* what is skipped counts as done */
				s->done += v[q].t.raw_bytes;
			*k += n;
			dump_err(EXIT_CANNOT, "export: '%s' is %s %s at step %llu but %s %s at step %llu: "
				 "a memmap needs one dtype and row shape per name (use --format "
				 "safetensors); not exported", v[0].name, dump_dtype(v[0].t.dtype), a,
				 (unsigned long long)v[0].t.step, dump_dtype(v[i].t.dtype), b,
				 (unsigned long long)v[i].t.step);
			return -1;
		}
	file_name(base, sizeof(base) - 8, v[0].name, "");
	/* two names that map to one file name: the later gets -2, -3 ... */
	for (int tag = 2;; tag++) {
		bool taken = false;

		for (size_t q = 0; q < nused && !taken; q++)
			taken = !strcmp(used[q], base);
		if (!taken)
			break;
		file_name(base, sizeof(base) - 16, v[0].name, "");
		snprintf(base + strlen(base), 16, "-%d", tag);
	}
	strcpy(used[nused], base);
	snprintf(path, sizeof(path), "%s/%s.bin", s->dir, base);
	f = dump_create(path, s->force);
	if (!f)
		return EXIT_CANNOT;
	for (size_t i = 0; i < n; i++, (*k)++) {
		size_t len;
		const void *d = set_decode(s, &v[i], s->bf16_raw, &len);

		if (!d) {
			dump_out_failed(f, path);
			return s->ret;
		}
		if (fwrite(d, 1, len, f) != len) {
			dump_err(EXIT_CANNOT, "%s: write failed: %s", path, strerror(errno));
			dump_out_failed(f, path);
			return EXIT_CANNOT;
		}
		s->done += v[i].t.raw_bytes;
		set_progress(s, *k + 1, false);
	}
	if (set_close(s, f, path) || mm_sidecar(s, v, n, base))
		return EXIT_CANNOT;
	s->exported += n;
	return 0;
}

static int export_memmap(struct set *s)
{
	char (*used)[256] = calloc(s->n, sizeof(*used));
	size_t k = 0, nused = 0;
	int worst = 0;

	if (!used)
		return dump_err(EXIT_CANNOT, "out of memory");
	qsort(s->v, s->n, sizeof(*s->v), by_name);
	for (size_t a = 0, b; a < s->n; a = b) {
		int rc;

		for (b = a + 1; b < s->n && !strcmp(s->v[b].name, s->v[a].name); b++)
			;
		rc = mm_name(s, s->v + a, b - a, &k, used, nused++);
		if (rc > 0) {
			free(used);
			return rc;
		}
		if (rc < 0)	/* this name skipped, said: the others go on */
			worst = EXIT_CANNOT;
	}
	free(used);
	return worst;
}

int set_mkdir(struct set *s)
{
	if (mkdir(s->dir, 0755) && (errno != EEXIST || !s->force))
		return errno == EEXIST ?
			dump_err(EXIT_CANNOT, "export: %s exists: give --force to write into it", s->dir) :
			dump_err(EXIT_CANNOT, "export: cannot create %s: %s", s->dir, strerror(errno));
	return 0;
}

int dump_export_set(char *const *paths, size_t npaths, const struct dump_export_opts *o)
{
	const char *dir = o->dir, *format = o->format;
	struct set s = { .o = o, .dir = dir, .bf16_raw = o->bf16_raw, .force = o->force,
			 .tty = !o->quiet && isatty(STDERR_FILENO) };
	uint64_t bad = 0;
	size_t cap = 0;
	int ret = 0;

	s.src = calloc(npaths ? npaths : 1, sizeof(*s.src));
	if (!s.src)
		return dump_err(EXIT_CANNOT, "out of memory");
	for (size_t f = 0; f < npaths; f++) {
		struct src *sr = &s.src[f];
		const char *base = strrchr(paths[f], '/');
		size_t len;

		sr->path = paths[f];
		snprintf(sr->stem, sizeof(sr->stem), "%s", base ? base + 1 : paths[f]);
		len = strlen(sr->stem);
		if (len > 5 && !strcmp(sr->stem + len - 5, ".llmi"))
			sr->stem[len - 5] = '\0';
		sr->r = dump_open(paths[f], &ret);
		s.nsrc = f + 1;
		if (!sr->r || (ret = collect(&s, (unsigned)f, &cap)))
			goto out;
		sr->names = dump_names__load(sr->r, &bad);
	}
	if (!s.n) {
		ret = dump_err(EXIT_USAGE, "%s%s: no%s tensors to export (see 'llminstr-dump ls')",
			       paths[0], npaths > 1 ? " ..." : "",
			       o->glob || o->step >= 0 ? " selected" : "");
		goto out;
	}
	/* hf-arrow and safetensors by tokens check their columns first, then create DIR */
	if (strcmp(format, "hf-arrow") && !o->tokens_per_file && (ret = set_mkdir(&s)))
		goto out;
	s.codec = llmi_codec__new(1);
	if (!s.codec) {
		ret = dump_err(EXIT_CANNOT, "cannot create a codec context: %s", strerror(errno));
		goto out;
	}
	ret = !strcmp(format, "safetensors") ?
		(o->tokens_per_file ? export_st_tokens(&s) : export_safetensors(&s)) :
	      !strcmp(format, "hf-arrow") ? export_hf_arrow(&s) : export_memmap(&s);
	set_progress(&s, 0, true);
	if (!o->quiet)
		printf("exported %zu of %zu tensors to %s: %zu %s files\n", s.exported, s.n, dir,
		       s.files, format);
	if (s.ret > ret)
		ret = s.ret;
out:
	for (size_t i = 0; i < s.n; i++)
		free(s.v[i].name);
	free(s.v);
	for (size_t f = 0; f < s.nsrc; f++) {
		dump_names__free(s.src[f].names);
		dump_tokens__free(s.src[f].tok);
		llmi_reader__free(s.src[f].r);
	}
	free(s.src);
	free(s.buf);
	free(s.wide);
	llmi_codec__free(s.codec);
	return ret;
}
