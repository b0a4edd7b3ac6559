// SPDX-License-Identifier: MIT
/*
 * The activation codec (codec.h; DESIGN.md, "The activation codec").
 *
 * Encoding a tensor: one pass measures the variance (and, with chanmean, the
 * per-channel means), which fixes the quantisation step for the bound; then
 * every chunk is quantised and entropy coded on its own by whichever worker
 * takes it. A chunk that misses an MSE bound is quantised again with a finer
 * step, so a bound is never reported that was not met; a chunk whose coded
 * form would not be smaller than its input is stored raw.
 *
 * Blob layout (little-endian):
 *   header   40 bytes: "LLMZ", version, mode, dtype, flags, bound (f64),
 *            numel (u64), chunk_elems, nchunks, hidden, means_len (u32)
 *   sizes    u32 per chunk
 *   means    chanmean only, means_len bytes: grid (f32), a bitmap of the
 *            channels whose mean is not 0, then for each of them k as a
 *            zigzag varint; the mean is (float)k * grid. The grid is the
 *            tensor's first step, so a channel whose mean is under half a
 *            step costs one bit and the rest shift codes by whole steps.
 *   chunks   each starts with a kind byte:
 *     RAW    kind, 3 pad, the input bytes
 *     QUANT  kind, 3 pad, step (f32), nexact, rans_len, extra_len (u32),
 *            rANS table + stream, extra bits, exact values (input bytes)
 *     PLANES kind, 3 pad, per byte plane of rotl(bits, 1): method (u8),
 *            len (u32), bytes raw or a rANS table + stream
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/codec_int.h"
#include "codec/rans.h"

#define BLOB_MAGIC	0x5a4d4c4cu	/* "LLMZ" */
#define BLOB_VERSION	1
#define HDR_SIZE	40
#define CHUNK_HDR_Q	20
#define MIN_TOKENS	32	/* fewer rows: a mean table would not pay for itself */
#define MEAN_K_MAX	(1 << 24)
#define MAX_RETRY	8

enum chunk_kind { CK_RAW = 0, CK_QUANT = 1, CK_PLANES = 2 };

size_t llmi_dtype_size(enum llmi_dtype dt)
{
	switch (dt) {
	case LLMI_DTYPE_F32:  return 4;
	case LLMI_DTYPE_BF16: return 2;
	case LLMI_DTYPE_F16:  return 2;
	}
	return 0;
}

const char *llmi_dtype_name(enum llmi_dtype dt)
{
	switch (dt) {
	case LLMI_DTYPE_F32:  return "f32";
	case LLMI_DTYPE_BF16: return "bf16";
	case LLMI_DTYPE_F16:  return "f16";
	}
	return NULL;
}

int llmi_dtype_parse(const char *s, enum llmi_dtype *dt)
{
	static const struct { const char *name; enum llmi_dtype dt; } names[] = {
		{ "f32", LLMI_DTYPE_F32 }, { "fp32", LLMI_DTYPE_F32 }, { "float32", LLMI_DTYPE_F32 },
		{ "bf16", LLMI_DTYPE_BF16 }, { "bfloat16", LLMI_DTYPE_BF16 },
		{ "f16", LLMI_DTYPE_F16 }, { "fp16", LLMI_DTYPE_F16 }, { "float16", LLMI_DTYPE_F16 },
	};

	if (!s)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcmp(s, names[i].name)) {
			*dt = names[i].dt;
			return 0;
		}
	}
	return -EINVAL;
}

uint64_t llmi_tensor_numel(const struct llmi_tensor_desc *d)
{
	uint64_t n = 1;

	if (d->ndim > LLMI_MAX_DIMS)
		return 0;
	for (uint32_t i = 0; i < d->ndim; i++) {
		if (d->shape[i] && n > UINT64_MAX / d->shape[i])
			return 0;
		n *= d->shape[i];
	}
	return n;
}

static const char *mode_name(enum llmi_bound m)
{
	switch (m) {
	case LLMI_BOUND_NMSE: return "nmse";
	case LLMI_BOUND_MSE:  return "mse";
	case LLMI_BOUND_ABS:  return "abs";
	default:	      return NULL;
	}
}

int llmi_codec_spec_parse(const char *s, struct llmi_codec_spec *spec)
{
	struct llmi_codec_spec sp = { .mode = LLMI_BOUND_LOSSLESS };
	char buf[128], *save = NULL, *tok;
	bool first = true;

	if (!s || !*s || strlen(s) >= sizeof(buf) || s[0] == ',' || s[strlen(s) - 1] == ',' ||
	    strstr(s, ",,"))
		return -EINVAL;
	strcpy(buf, s);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save), first = false) {
		if (first) {
			if (!strcmp(tok, "lossless"))
				continue;
			if (strncmp(tok, "quant:", 6))
				return -EINVAL;
			char *kv = tok + 6, *eq = strchr(kv, '='), *end;
			if (!eq)
				return -EINVAL;
			*eq = '\0';
			if (!strcmp(kv, "nmse"))
				sp.mode = LLMI_BOUND_NMSE;
			else if (!strcmp(kv, "mse"))
				sp.mode = LLMI_BOUND_MSE;
			else if (!strcmp(kv, "abs"))
				sp.mode = LLMI_BOUND_ABS;
			else
				return -EINVAL;
			/* Decimal only: strtod would also take " 1", "0x1p-3" and "inf". */
			if (!eq[1] || strspn(eq + 1, "0123456789.eE+-") != strlen(eq + 1))
				return -EINVAL;
			errno = 0;
			sp.bound = strtod(eq + 1, &end);
			if (errno || end == eq + 1 || *end || !isfinite(sp.bound) || !(sp.bound > 0))
				return -EINVAL;
		} else if (!strcmp(tok, "chanmean")) {
			sp.flags |= LLMI_CODEC_CHANNEL_MEAN;
		} else if (!strcmp(tok, "predict")) {
			sp.flags |= LLMI_CODEC_PREDICT;
		} else {
			return -EINVAL;
		}
	}
	if (first)
		return -EINVAL;
	/* Lossless codes the bits themselves; neither stage applies. */
	if (sp.mode == LLMI_BOUND_LOSSLESS && sp.flags)
		return -EINVAL;
	*spec = sp;
	return 0;
}

int llmi_codec_spec_format(const struct llmi_codec_spec *spec, char *buf, size_t len)
{
	char num[40] = "";
	const char *m = mode_name(spec->mode);
	int n;

	if (!len)
		return -EINVAL;
	if (spec->mode == LLMI_BOUND_LOSSLESS) {
		n = snprintf(buf, len, "lossless");
		return n < 0 ? -EINVAL : 0;
	}
	if (!m)
		return -EINVAL;
	/* The shortest text that reads back as the same double. */
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(num, sizeof(num), "%.*g", prec, spec->bound);
		if (strtod(num, NULL) == spec->bound)
			break;
	}
	n = snprintf(buf, len, "quant:%s=%s%s%s", m, num,
		     spec->flags & LLMI_CODEC_CHANNEL_MEAN ? ",chanmean" : "",
		     spec->flags & LLMI_CODEC_PREDICT ? ",predict" : "");
	return n < 0 ? -EINVAL : 0;
}

static uint64_t nchunks_for(uint64_t numel, uint32_t chunk_elems)
{
	return (numel + chunk_elems - 1) / chunk_elems;
}

size_t llmi_codec_bound(size_t raw_bytes)
{
	/* Worst chunks are raw + 4 bytes; the mean table is at most raw / 8. */
	size_t nch = raw_bytes / 2 / (LLMI_CODEC_CHUNK / 4) + 1;

	return HDR_SIZE + raw_bytes + raw_bytes / 8 + 8 * nch + 16;
}

/* ---- worker contexts and the pool ---------------------------------- */

/* What one chunk's encoding measured. */
struct chunk_stats {
	double sse, maxerr;
	uint64_t nfinite, nexact;
};

struct ctx {
	uint8_t *sym;		/* LLMI_CODEC_CHUNK: symbols or byte planes */
	uint32_t *big;		/* LLMI_CODEC_CHUNK / 2 */
	uint8_t *extra;		/* 2 * LLMI_CODEC_CHUNK + 16 */
	uint8_t *rans;		/* rans_stream_bound(LLMI_CODEC_CHUNK / 2) */
	uint8_t *exact;		/* LLMI_CODEC_CHUNK */
	uint32_t *dtab;		/* RANS_M */
	struct rans_enc_sym etab[256];
};

struct job {
	int (*fn)(struct ctx *x, uint32_t idx, void *arg);
	void *arg;
	uint32_t n;
	atomic_uint next;
	atomic_int err;
};

struct llmi_codec {
	unsigned nthreads;
	struct ctx *ctx;
	pthread_t *tids;
	unsigned nstarted;
	pthread_mutex_t mu;
	pthread_cond_t cv_work, cv_done;
	struct job *job;
	uint64_t gen;
	unsigned busy;
	bool stop;
	/* Reused between calls: chunk sizes, offsets and the staging buffer. */
	uint32_t *lens;
	uint64_t *offs;
	struct chunk_stats *cst;
	size_t lens_cap;
	uint8_t *stage;
	size_t stage_cap;
	float *means;
	uint8_t *msec;		/* the encoded mean section */
	double *msum;
	uint64_t *mcnt;
	size_t means_cap;
	struct stream *stream;	/* a streaming encode in progress (llmi_codec__stream_*) */
};

static void stream_free(struct llmi_codec *c);

static void ctx_release(struct ctx *x)
{
	free(x->sym);
	free(x->big);
	free(x->extra);
	free(x->rans);
	free(x->exact);
	free(x->dtab);
	memset(x, 0, sizeof(*x));
}

/* Buffers come on a worker's first chunk, then stay for the codec's life. */
static int ctx_ensure(struct ctx *x)
{
	if (x->sym)
		return 0;
	x->sym = malloc(LLMI_CODEC_CHUNK);
	x->big = malloc(LLMI_CODEC_CHUNK / 2 * sizeof(uint32_t));
	x->extra = malloc(2 * LLMI_CODEC_CHUNK + 16);
	x->rans = malloc(rans_stream_bound(LLMI_CODEC_CHUNK / 2));
	x->exact = malloc(LLMI_CODEC_CHUNK);
	x->dtab = malloc(RANS_M * sizeof(uint32_t));
	if (!x->sym || !x->big || !x->extra || !x->rans || !x->exact || !x->dtab) {
		ctx_release(x);
		return -ENOMEM;
	}
	return 0;
}

static void job_work(struct job *j, struct ctx *x)
{
	for (;;) {
		uint32_t i = atomic_fetch_add(&j->next, 1);
		int err;

		if (i >= j->n)
			return;
		err = ctx_ensure(x);
		if (!err)
			err = j->fn(x, i, j->arg);
		if (err) {
			int zero = 0;
			atomic_compare_exchange_strong(&j->err, &zero, err);
		}
	}
}

struct worker_arg {
	struct llmi_codec *c;
	unsigned id;
};

static void *worker_main(void *p)
{
	struct llmi_codec *c = ((struct worker_arg *)p)->c;
	unsigned id = ((struct worker_arg *)p)->id;
	uint64_t seen = 0;

	free(p);
	pthread_mutex_lock(&c->mu);
	for (;;) {
		while (!c->stop && c->gen == seen)
			pthread_cond_wait(&c->cv_work, &c->mu);
		if (c->stop)
			break;
		seen = c->gen;
		struct job *j = c->job;
		pthread_mutex_unlock(&c->mu);
		job_work(j, &c->ctx[id]);
		pthread_mutex_lock(&c->mu);
		if (--c->busy == 0)
			pthread_cond_signal(&c->cv_done);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

static int run_job(struct llmi_codec *c, int (*fn)(struct ctx *, uint32_t, void *), void *arg,
		   uint32_t n)
{
	struct job j = { .fn = fn, .arg = arg, .n = n };
	unsigned woken = c->nstarted;

	atomic_init(&j.next, 0);
	atomic_init(&j.err, 0);
	if (woken > n - 1)
		woken = n ? n - 1 : 0;
	if (woken) {
		pthread_mutex_lock(&c->mu);
		c->job = &j;
		c->busy = c->nstarted;
		c->gen++;
		pthread_cond_broadcast(&c->cv_work);
		pthread_mutex_unlock(&c->mu);
	}
	job_work(&j, &c->ctx[0]);
	if (woken) {
		pthread_mutex_lock(&c->mu);
		while (c->busy)
			pthread_cond_wait(&c->cv_done, &c->mu);
		pthread_mutex_unlock(&c->mu);
	}
	return atomic_load(&j.err);
}

struct llmi_codec *llmi_codec__new(unsigned threads)
{
	struct llmi_codec *c;

	if (threads == 0 || threads > 256) {
		errno = EINVAL;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		goto nomem;
	c->nthreads = threads;
	c->ctx = calloc(threads, sizeof(*c->ctx));
	c->tids = calloc(threads, sizeof(*c->tids));
	if (!c->ctx || !c->tids)
		goto nomem;
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv_work, NULL);
	pthread_cond_init(&c->cv_done, NULL);
	for (unsigned i = 1; i < threads; i++) {
		struct worker_arg *wa = malloc(sizeof(*wa));
		int err;

		if (!wa)
			goto nomem;
		wa->c = c;
		wa->id = i;
		err = pthread_create(&c->tids[i], NULL, worker_main, wa);
		if (err) {
			free(wa);
			llmi_codec__free(c);
			errno = err;
			return NULL;
		}
		c->nstarted++;
	}
	return c;
nomem:
	llmi_codec__free(c);
	errno = ENOMEM;
	return NULL;
}

void llmi_codec__free(struct llmi_codec *c)
{
	if (!c)
		return;
	if (c->tids) {
		pthread_mutex_lock(&c->mu);
		c->stop = true;
		pthread_cond_broadcast(&c->cv_work);
		pthread_mutex_unlock(&c->mu);
		for (unsigned i = 1; i <= c->nstarted; i++)
			pthread_join(c->tids[i], NULL);
	}
	if (c->ctx)
		for (unsigned i = 0; i < c->nthreads; i++)
			ctx_release(&c->ctx[i]);
	if (c->tids) {
		pthread_mutex_destroy(&c->mu);
		pthread_cond_destroy(&c->cv_work);
		pthread_cond_destroy(&c->cv_done);
	}
	free(c->ctx);
	free(c->tids);
	free(c->lens);
	free(c->offs);
	free(c->cst);
	free(c->stage);
	free(c->means);
	free(c->msec);
	free(c->msum);
	free(c->mcnt);
	stream_free(c);
	free(c);
}

static int grow(void **p, size_t *cap, size_t need)
{
	void *np;

	if (need <= *cap)
		return 0;
	np = realloc(*p, need);
	if (!np)
		return -ENOMEM;
	*p = np;
	*cap = need;
	return 0;
}

/* realloc into *p (left as it was on failure). */
static int resize(void **p, size_t bytes)
{
	void *np = realloc(*p, bytes);

	if (!np)
		return -ENOMEM;
	*p = np;
	return 0;
}

/* Per-chunk and per-channel tables, grown to the largest tensor seen and kept. */
static int ensure_tables(struct llmi_codec *c, uint64_t nchunks, uint64_t hidden)
{
	if (nchunks > c->lens_cap) {
		if (resize((void **)&c->lens, nchunks * sizeof(*c->lens)) ||
		    resize((void **)&c->offs, nchunks * sizeof(*c->offs)) ||
		    resize((void **)&c->cst, nchunks * sizeof(*c->cst)))
			return -ENOMEM;
		c->lens_cap = nchunks;
	}
	if (hidden > c->means_cap) {
		if (resize((void **)&c->means, hidden * sizeof(*c->means)) ||
		    resize((void **)&c->msum, hidden * sizeof(*c->msum)) ||
		    resize((void **)&c->mcnt, hidden * sizeof(*c->mcnt)) ||
		    resize((void **)&c->msec, 4 + (hidden + 7) / 8 + 5 * hidden))
			return -ENOMEM;
		c->means_cap = hidden;
	}
	return 0;
}

/* ---- sizes and little-endian words -------------------------------- */

/* Elements of desc; -EINVAL for too many dims, -EOVERFLOW when they overflow. */
static int desc_numel(const struct llmi_tensor_desc *d, uint64_t *numel)
{
	if (d->ndim > LLMI_MAX_DIMS)
		return -EINVAL;
	*numel = llmi_tensor_numel(d);
	if (*numel)
		return 0;
	for (uint32_t i = 0; i < d->ndim; i++)
		if (!d->shape[i])
			return 0;
	return d->ndim ? -EOVERFLOW : 0;
}

static inline void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static inline void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static inline uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint64_t get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

static inline float elem_f32(const uint8_t *p, size_t i, enum llmi_dtype dt)
{
	switch (dt) {
	case LLMI_DTYPE_BF16: { uint16_t h; memcpy(&h, p + 2 * i, 2); return bf16_to_f32(h); }
	case LLMI_DTYPE_F16:  { uint16_t h; memcpy(&h, p + 2 * i, 2); return f16_to_f32(h); }
	default:	      { float f; memcpy(&f, p + 4 * i, 4); return f; }
	}
}

/* ---- encoding --------------------------------------------------------- */

struct enc_plan {
	enum llmi_bound mode;
	enum llmi_dtype dt;
	size_t es;
	const uint8_t *src, *ref;
	uint64_t numel;
	uint32_t chunk_elems;
	const float *mean;
	uint32_t hidden;
	double target_mse;	/* nmse / mse modes */
	double abs_bound;	/* abs mode; INFINITY otherwise */
	float step0;
	uint8_t *base;
	size_t data_off, slot;
	/* src (and ref) start at chunk ci0, and slots count from it: 0 for a
	 * whole tensor, the first chunk of the piece in a stream. */
	uint64_t ci0;
	/* One worker takes the chunks in order: each goes right after the last. */
	bool seq;
	size_t seq_off;
	uint32_t *lens;
	struct chunk_stats *cst;
};

static size_t chunk_count(uint64_t numel, uint32_t chunk_elems, uint32_t ci)
{
	uint64_t start = (uint64_t)ci * chunk_elems;
	uint64_t left = numel - start;

	return left < chunk_elems ? (size_t)left : chunk_elems;
}

static uint8_t *chunk_out(const struct enc_plan *p, uint32_t ci)
{
	return p->base + (p->seq ? p->seq_off : p->data_off + (size_t)(ci - p->ci0) * p->slot);
}

static size_t put_raw(const struct enc_plan *p, uint8_t *out, const uint8_t *src, size_t n,
		      struct chunk_stats *cs)
{
	uint64_t fin = 0;

	out[0] = CK_RAW;
	out[1] = out[2] = out[3] = 0;
	memcpy(out + 4, src, n * p->es);
	for (size_t i = 0; i < n; i++)
		fin += isfinite(elem_f32(src, i, p->dt));
	cs->sse = 0;
	cs->maxerr = 0;
	cs->nfinite = fin;
	cs->nexact = n;
	return 4 + n * p->es;
}

/* rANS-codes n bytes into out (cap bytes free); 0 if it does not fit or pay. */
static size_t put_rans(struct ctx *x, const uint8_t *sym, size_t n, uint8_t *out, size_t cap)
{
	uint32_t hist[256];
	uint16_t freq[256];
	uint8_t table[RANS_TABLE_MAX];
	size_t tlen, slen;
	uint8_t *s;

	byte_histogram(sym, n, hist);
	rans_normalise(hist, n, freq);
	tlen = rans_write_table(freq, table);
	/*
	 * The coded size is known to within a few bytes from the table: skip
	 * coding what would not fit (near-random mantissa planes).
	 */
	double bits = 0;
	for (int k = 0; k < 256; k++)
		if (hist[k])
			bits += hist[k] * (RANS_SCALE - log2(freq[k]));
	if (tlen + bits / 8 + 4 * RANS_LANES > cap)
		return 0;
	rans_enc_init(freq, x->etab);
	s = rans_encode(sym, n, x->etab, x->rans, rans_stream_bound(n), &slen);
	if (tlen + slen > cap)
		return 0;
	memcpy(out, table, tlen);
	memcpy(out + tlen, s, slen);
	return tlen + slen;
}

static int enc_lossless_chunk(struct ctx *x, uint32_t ci, void *arg)
{
	struct enc_plan *p = arg;
	size_t n = chunk_count(p->numel, p->chunk_elems, ci), es = p->es;
	const uint8_t *src = p->src + (uint64_t)(ci - p->ci0) * p->chunk_elems * es;
	uint8_t *out = chunk_out(p, ci);
	size_t raw = 4 + n * es, off = 4;
	struct chunk_stats *cs = &p->cst[ci];

	/* Rotating the sign to the bottom puts the exponent in one byte plane. */
	if (es == 4) {
		for (size_t i = 0; i < n; i++) {
			uint32_t w;
			memcpy(&w, src + 4 * i, 4);
			w = (w << 1) | (w >> 31);
			x->sym[i] = (uint8_t)w;
			x->sym[n + i] = (uint8_t)(w >> 8);
			x->sym[2 * n + i] = (uint8_t)(w >> 16);
			x->sym[3 * n + i] = (uint8_t)(w >> 24);
		}
	} else {
		for (size_t i = 0; i < n; i++) {
			uint16_t w;
			memcpy(&w, src + 2 * i, 2);
			w = (uint16_t)((w << 1) | (w >> 15));
			x->sym[i] = (uint8_t)w;
			x->sym[n + i] = (uint8_t)(w >> 8);
		}
	}
	out[0] = CK_PLANES;
	out[1] = out[2] = out[3] = 0;
	for (size_t b = 0; b < es; b++) {
		const uint8_t *plane = x->sym + b * n;
		size_t len;

		if (off + 5 >= raw)
			goto raw;
		/* Coded only where smaller than the plane itself. */
		len = put_rans(x, plane, n, out + off + 5, raw - off - 5 < n - 1 ? raw - off - 5 : n - 1);
		if (len && len < n) {
			out[off] = 1;
		} else {
			if (off + 5 + n > raw)
				goto raw;
			out[off] = 0;
			memcpy(out + off + 5, plane, n);
			len = n;
		}
		put32(out + off + 1, (uint32_t)len);
		off += 5 + len;
	}
	if (off >= raw)
		goto raw;
	p->lens[ci] = (uint32_t)off;
	p->seq_off += off;
	uint64_t fin = 0;
	for (size_t i = 0; i < n; i++)
		fin += isfinite(elem_f32(src, i, p->dt));
	cs->sse = 0;
	cs->maxerr = 0;
	cs->nfinite = fin;
	cs->nexact = n;
	return 0;
raw:
	p->lens[ci] = (uint32_t)put_raw(p, out, src, n, cs);
	p->seq_off += p->lens[ci];
	return 0;
}

static void quant_chunk(const struct enc_plan *p, const struct quant_params *qp, struct ctx *x,
			struct quant_out *o, uint64_t e0, size_t n)
{
	uint64_t rel = e0 - p->ci0 * p->chunk_elems;
	const uint8_t *src = p->src + rel * p->es;
	const uint8_t *ref = p->ref ? p->ref + rel * p->es : NULL;

	memset(o, 0, sizeof(*o));
	o->sym = x->sym;
	o->big = x->big;
	o->exact = x->exact;
	if (!p->mean) {
		quant_span(qp, o, src, ref, NULL, n, 0);
		return;
	}
	/* Runs along one row, so the kernel sees contiguous means. */
	for (size_t k = 0; k < n;) {
		uint32_t c = (uint32_t)((e0 + k) % p->hidden);
		size_t seg = p->hidden - c;

		if (seg > n - k)
			seg = n - k;
		quant_span(qp, o, src + k * p->es, ref ? ref + k * p->es : NULL, p->mean + c, seg, k);
		k += seg;
	}
}

static int enc_quant_chunk(struct ctx *x, uint32_t ci, void *arg)
{
	struct enc_plan *p = arg;
	size_t n = chunk_count(p->numel, p->chunk_elems, ci), es = p->es;
	uint64_t e0 = (uint64_t)ci * p->chunk_elems;
	const uint8_t *src = p->src + (e0 - p->ci0 * p->chunk_elems) * es;
	uint8_t *out = chunk_out(p, ci);
	size_t raw = 4 + n * es, off, len, elen;
	struct chunk_stats *cs = &p->cst[ci];
	struct quant_params qp = { .dt = p->dt, .abs_bound = p->abs_bound };
	struct quant_out o;
	float step = p->step0;
	int attempt;

	for (attempt = 0; attempt < MAX_RETRY; attempt++) {
		qp.step = step;
		qp.recip = 1.0f / step;
		if (!isfinite(qp.recip) || !(step > 0) || !isfinite(step))
			goto raw;
		quant_chunk(p, &qp, x, &o, e0, n);
		if (p->mode == LLMI_BOUND_ABS) {
			/* Output rounding (bf16/f16) can push many past the bound. */
			if (o.nviol * 64 > n && attempt < 4) {
				step *= 0.7f;
				continue;
			}
			break;
		}
		double budget = p->target_mse * (double)o.nfinite * (1 - 1e-9);
		if (o.sse <= budget)
			break;
		double f = 0.98 * sqrt(budget / o.sse);
		step *= (float)(f < 0.5 ? 0.5 : f > 0.98 ? 0.98 : f);
	}
	if (attempt == MAX_RETRY)
		goto raw;

	/* Extra bits of the large codes, in element order. */
	{
		uint64_t acc = 0;
		unsigned cnt = 0;
		uint8_t *e = x->extra;

		for (size_t i = 0; i < o.nbig; i++) {
			uint32_t v = o.big[i] - (SYM_DIRECT - 1);
			unsigned k = 31 - __builtin_clz(v);

			acc |= (uint64_t)(v - (1u << k)) << cnt;
			cnt += k;
			while (cnt >= 8) {
				*e++ = (uint8_t)acc;
				acc >>= 8;
				cnt -= 8;
			}
		}
		if (cnt)
			*e++ = (uint8_t)acc;
		elen = (size_t)(e - x->extra);
	}
	off = CHUNK_HDR_Q;
	if (off + elen + o.nexact * es >= raw)
		goto raw;
	len = put_rans(x, x->sym, n, out + off, raw - off - elen - o.nexact * es);
	if (!len)
		goto raw;
	out[0] = CK_QUANT;
	out[1] = out[2] = out[3] = 0;
	memcpy(out + 4, &step, 4);
	put32(out + 8, (uint32_t)o.nexact);
	put32(out + 12, (uint32_t)len);
	put32(out + 16, (uint32_t)elen);
	off += len;
	memcpy(out + off, x->extra, elen);
	off += elen;
	memcpy(out + off, x->exact, o.nexact * es);
	off += o.nexact * es;
	if (off >= raw)
		goto raw;
	p->lens[ci] = (uint32_t)off;
	p->seq_off += off;
	cs->sse = o.sse;
	cs->maxerr = o.maxerr;
	cs->nfinite = o.nfinite;
	cs->nexact = o.nexact;
	return 0;
raw:
	p->lens[ci] = (uint32_t)put_raw(p, out, src, n, cs);
	p->seq_off += p->lens[ci];
	return 0;
}

struct stats_job {
	const struct enc_plan *p;
	double k;
};

/* One chunk's shifted sums, parked in its chunk_stats until encoding. */
static int stats_chunk(struct ctx *x, uint32_t ci, void *arg)
{
	const struct stats_job *j = arg;
	const struct enc_plan *p = j->p;
	size_t n = chunk_count(p->numel, p->chunk_elems, ci);
	struct chunk_stats *cs = &p->cst[ci];
	double a = 0, b = 0;
	uint64_t nf = 0;

	stats_span(p->src + (uint64_t)ci * p->chunk_elems * p->es, p->dt, n, j->k, &a, &b, &nf);
	cs->sse = a;
	cs->maxerr = b;
	cs->nfinite = nf;
	return 0;
}

/* Variance of the finite elements (shifted sums, fp64) and channel means. */
static void prepass(const struct enc_plan *p, struct llmi_codec *c, bool chanmean,
		    double *var, uint64_t *nfin)
{
	double s = 0, s2 = 0, k = 0;
	uint64_t nf = 0;
	uint32_t h = p->hidden;

	for (uint64_t i = 0; i < p->numel; i++) {
		float v = elem_f32(p->src, i, p->dt);
		if (isfinite(v)) {
			k = v;
			break;
		}
	}
	if (chanmean) {
		memset(c->msum, 0, h * sizeof(double));
		memset(c->mcnt, 0, h * sizeof(uint64_t));
	}
	/*
	 * Spans of at most a chunk keep the fp64 sums from losing the small
	 * terms. Without chanmean the chunks are summed by the workers and the
	 * sums added in chunk order, so the result does not depend on the
	 * thread count; with chanmean a span is a row, read twice while it is
	 * in L1.
	 */
	if (!chanmean) {
		struct stats_job sj = { .p = p, .k = k };

		if (p->numel)
			run_job(c, stats_chunk, &sj, (uint32_t)nchunks_for(p->numel, p->chunk_elems));
		for (uint64_t i = 0; i * p->chunk_elems < p->numel; i++) {
			s += p->cst[i].sse;
			s2 += p->cst[i].maxerr;
			nf += p->cst[i].nfinite;
		}
	} else {
		for (uint64_t i = 0; i < p->numel; i += h) {
			double a = 0, b = 0;

			stats_span(p->src + i * p->es, p->dt, h, k, &a, &b, &nf);
			s += a;
			s2 += b;
			chan_accum(p->src + i * p->es, p->ref ? p->ref + i * p->es : NULL, p->dt, h,
				   c->msum, c->mcnt);
		}
	}
	if (chanmean) {
		uint64_t rows = p->numel / h;
		for (uint32_t ch = 0; ch < h; ch++)
			c->mcnt[ch] = rows - c->mcnt[ch];
	}
	*nfin = nf;
	*var = nf ? s2 / nf - (s / nf) * (s / nf) : 0;
	if (*var < 0)
		*var = 0;
	/*
	 * The shift was the first element; if the mean lies far from it in
	 * units of the spread, the difference above has cancelled digits the
	 * bound depends on. Sum again about the mean (rare: a skewed start).
	 */
	if (nf && (s / nf) * (s / nf) > 1e3 * *var) {
		struct stats_job sj = { .p = p, .k = k + s / nf };
		uint32_t nch = (uint32_t)nchunks_for(p->numel, p->chunk_elems);

		s = s2 = 0;
		run_job(c, stats_chunk, &sj, nch);
		for (uint32_t i = 0; i < nch; i++) {
			s += p->cst[i].sse;
			s2 += p->cst[i].maxerr;
		}
		*var = s2 / nf - (s / nf) * (s / nf);
		if (*var < 0)
			*var = 0;
	}
}

/* Means on the grid into c->means, and their encoding into c->msec. */
static size_t build_means(struct llmi_codec *c, uint32_t h, float grid)
{
	uint8_t *bm = c->msec + 4, *p = bm + (h + 7) / 8;

	memcpy(c->msec, &grid, 4);
	memset(bm, 0, (h + 7) / 8);
	for (uint32_t ch = 0; ch < h; ch++) {
		double m = c->mcnt[ch] ? c->msum[ch] / c->mcnt[ch] : 0;
		double kd = nearbyint(m / grid);
		int32_t k = kd > MEAN_K_MAX ? MEAN_K_MAX : kd < -MEAN_K_MAX ? -MEAN_K_MAX : (int32_t)kd;
		uint32_t z = ((uint32_t)k << 1) ^ (uint32_t)(k >> 31);

		if (!isfinite((float)k * grid))
			k = 0;
		c->means[ch] = (float)k * grid;
		if (!k)
			continue;
		z = ((uint32_t)k << 1) ^ (uint32_t)(k >> 31);
		bm[ch >> 3] |= (uint8_t)(1u << (ch & 7));
		while (z >= 0x80) {
			*p++ = (uint8_t)(z | 0x80);
			z >>= 7;
		}
		*p++ = (uint8_t)z;
	}
	return (size_t)(p - c->msec);
}

static int read_means(const uint8_t *in, size_t len, uint32_t h, float *means)
{
	const uint8_t *bm = in + 4, *p, *end = in + len;
	float grid;

	if (len < 4 + (h + 7) / 8)
		return -EBADMSG;
	memcpy(&grid, in, 4);
	if (!isfinite(grid) || !(grid > 0))
		return -EBADMSG;
	p = bm + (h + 7) / 8;
	for (uint32_t ch = 0; ch < h; ch++) {
		uint32_t z = 0;

		if (!(bm[ch >> 3] & (1u << (ch & 7)))) {
			if (means)
				means[ch] = 0.0f;
			continue;
		}
		for (unsigned sh = 0;; sh += 7) {
			if (p == end || sh > 28)
				return -EBADMSG;
			z |= (uint32_t)(*p & 0x7f) << sh;
			if (!(*p++ & 0x80))
				break;
		}
		int32_t k = (int32_t)((z >> 1) ^ (0u - (z & 1)));
		if (!k || k > MEAN_K_MAX || k < -MEAN_K_MAX || !isfinite((float)k * grid))
			return -EBADMSG;
		if (means)	/* NULL: only checked (llmi_codec_blob_check) */
			means[ch] = (float)k * grid;
	}
	return p == end ? 0 : -EBADMSG;
}

int llmi_codec__encode(struct llmi_codec *c, const struct llmi_codec_spec *spec,
		       const struct llmi_tensor_desc *desc, const void *src,
		       const void *ref, void *dst, size_t dst_cap, size_t *dst_len,
		       struct llmi_codec_stats *stats)
{
	struct enc_plan p = { 0 };
	size_t es, raw_bytes, hdr, need, total;
	uint64_t numel, nch, nfin = 0;
	double var = 0, sse = 0, maxerr = 0;
	uint64_t exact = 0, nfinite = 0;
	bool chanmean = false;
	uint8_t flags = 0;
	size_t msec_len = 0;
	int err;

	if (!c || !spec || !desc || !dst || !dst_len)
		return -EINVAL;
	es = llmi_dtype_size(desc->dtype);
	if (!es)
		return -EINVAL;
	err = desc_numel(desc, &numel);
	if (err)
		return err;
	if (numel > SIZE_MAX / 8 || (numel && !src))
		return -EINVAL;
	if (spec->mode != LLMI_BOUND_LOSSLESS &&
	    (!mode_name(spec->mode) || !isfinite(spec->bound) || !(spec->bound > 0)))
		return -EINVAL;
	if (spec->mode == LLMI_BOUND_LOSSLESS && spec->flags)
		return -EINVAL;
	if (spec->flags & ~(LLMI_CODEC_CHANNEL_MEAN | LLMI_CODEC_PREDICT))
		return -EINVAL;
	if ((spec->flags & LLMI_CODEC_PREDICT) && !ref && numel)
		return -EINVAL;
	raw_bytes = numel * es;
	p.mode = spec->mode;
	p.dt = desc->dtype;
	p.es = es;
	p.src = src;
	p.numel = numel;
	p.chunk_elems = (uint32_t)(LLMI_CODEC_CHUNK / es);
	nch = nchunks_for(numel, p.chunk_elems);
	if (nch > UINT32_MAX)
		return -EFBIG;
	if (spec->mode != LLMI_BOUND_LOSSLESS) {
		if (spec->flags & LLMI_CODEC_PREDICT) {
			p.ref = ref;
			flags |= LLMI_CODEC_PREDICT;
		}
		if ((spec->flags & LLMI_CODEC_CHANNEL_MEAN) && desc->ndim == 2 &&
		    desc->shape[0] >= MIN_TOKENS && desc->shape[1] <= UINT32_MAX) {
			chanmean = true;
			flags |= LLMI_CODEC_CHANNEL_MEAN;
			p.hidden = (uint32_t)desc->shape[1];
		}
	}
	err = ensure_tables(c, nch, p.hidden);
	if (err)
		return err;
	p.slot = 4 + (size_t)p.chunk_elems * es;
	p.lens = c->lens;
	struct chunk_stats *cst = c->cst;
	p.cst = cst;

	prepass(&p, c, chanmean, &var, &nfin);
	p.abs_bound = INFINITY;
	switch (spec->mode) {
	case LLMI_BOUND_NMSE:
		p.target_mse = spec->bound * var;
		break;
	case LLMI_BOUND_MSE:
		p.target_mse = spec->bound;
		break;
	case LLMI_BOUND_ABS:
		p.abs_bound = spec->bound;
		break;
	default:
		break;
	}
	if (spec->mode == LLMI_BOUND_ABS)
		p.step0 = (float)(2 * spec->bound * 0.999);
	else
		p.step0 = (float)sqrt(12 * p.target_mse * 0.985);
	/* A zero target (constant tensor under nmse) leaves only exact coding. */
	bool lossless = spec->mode == LLMI_BOUND_LOSSLESS || !(p.step0 > 0) || !isfinite(p.step0);
	if (lossless && spec->mode != LLMI_BOUND_LOSSLESS) {
		chanmean = false;
		flags = 0;
		p.hidden = 0;
		p.ref = NULL;
	}
	if (chanmean) {
		msec_len = build_means(c, p.hidden, p.step0);
		p.mean = c->means;
	}
	hdr = HDR_SIZE + 4 * nch + msec_len;
	/*
	 * Every chunk's slot holds its worst case (raw + 4); the last one's
	 * only its own elements, so that a tensor smaller than a chunk is
	 * coded in dst (llmi_codec_bound() bytes) and not staged and copied.
	 */
	need = hdr + (nch ? (nch - 1) * p.slot + 4 + chunk_count(numel, p.chunk_elems, (uint32_t)(nch - 1)) * es
		      : 0);
	p.data_off = hdr;
	p.seq = c->nstarted == 0 || nch == 1;
	p.seq_off = hdr;

	if (dst_cap >= need) {
		p.base = dst;
	} else {
		err = grow((void **)&c->stage, &c->stage_cap, need);
		if (err)
			goto out;
		p.base = c->stage;
	}
	if (nch) {
		err = run_job(c, lossless ? enc_lossless_chunk : enc_quant_chunk, &p, (uint32_t)nch);
		if (err)
			goto out;
	}
	/* Pack the chunks down from their slots, in order (never overlapping). */
	total = hdr;
	for (uint64_t i = 0; i < nch; i++) {
		uint8_t *from = p.seq ? p.base + total : p.base + p.data_off + i * p.slot;

		if (p.base == dst && from != p.base + total)
			memmove(p.base + total, from, p.lens[i]);
		else if (total + p.lens[i] <= dst_cap)
			memcpy((uint8_t *)dst + total, from, p.lens[i]);
		total += p.lens[i];
		sse += cst[i].sse;
		nfinite += cst[i].nfinite;
		exact += cst[i].nexact;
		if (cst[i].maxerr > maxerr)
			maxerr = cst[i].maxerr;
	}
	if (total > dst_cap) {
		err = -ENOSPC;
		goto out;
	}
	uint8_t *h = dst;
	put32(h, BLOB_MAGIC);
	h[4] = BLOB_VERSION;
	h[5] = (uint8_t)spec->mode;
	h[6] = (uint8_t)p.dt;
	h[7] = flags;
	memcpy(h + 8, &spec->bound, 8);
	if (spec->mode == LLMI_BOUND_LOSSLESS)
		memset(h + 8, 0, 8);
	put64(h + 16, numel);
	put32(h + 24, p.chunk_elems);
	put32(h + 28, (uint32_t)nch);
	put32(h + 32, p.hidden);
	put32(h + 36, (uint32_t)msec_len);
	for (uint64_t i = 0; i < nch; i++)
		put32(h + HDR_SIZE + 4 * i, p.lens[i]);
	if (msec_len)
		memcpy(h + HDR_SIZE + 4 * nch, c->msec, msec_len);
	*dst_len = total;
	if (stats) {
		stats->raw_bytes = raw_bytes;
		stats->stored_bytes = total;
		stats->mse = nfinite ? sse / nfinite : 0;
		stats->variance = var;
		stats->nmse = var > 0 ? stats->mse / var : 0;
		stats->max_abs_err = maxerr;
		stats->exact = exact;
	}
	err = 0;
out:
	return err;
}

/* ---- streaming encode (codec.h, llmi_codec__stream_*) ------------------- */

/*
 * The same steps as llmi_codec__encode(), in passes over an input that
 * arrives in pieces, with the same arithmetic in the same order, so that
 * the blob is the same byte for byte: the variance's sums are taken per
 * chunk about the tensor's first finite element and added in chunk order;
 * with chanmean, per row (a row cut by a piece boundary is put together in
 * a row buffer first). Only the pieces are in memory, plus the chunk table.
 */
enum { SP_NONE, SP_STATS, SP_ENCODE, SP_DONE };

struct stream {
	struct enc_plan p;
	struct llmi_codec_spec spec;
	int pass;
	int round;		/* STATS: 0 sums about k, 1 again about the mean (skewed start) */
	bool stats_first;	/* the step needs the statistics: they come before encoding */
	bool have_stats, encoded, chanmean, lossless, have_k;
	uint8_t flags;
	uint64_t nch, pos;	/* chunks; elements fed in this pass */
	double k, s, s2, var;
	uint64_t nf;
	size_t msec_len, hdr, total;
	double sse, maxerr;
	uint64_t nfinite, exact;
	uint8_t *row;		/* chanmean: a row cut by a piece boundary */
	size_t row_fill;	/* elements in it */
};

static void stream_free(struct llmi_codec *c)
{
	if (c->stream)
		free(c->stream->row);
	free(c->stream);
	c->stream = NULL;
}

int llmi_codec__stream_begin(struct llmi_codec *c, const struct llmi_codec_spec *spec,
			     const struct llmi_tensor_desc *desc)
{
	struct stream *st;
	uint64_t numel;
	size_t es;
	int err;

	if (!c || !spec || !desc)
		return -EINVAL;
	es = llmi_dtype_size(desc->dtype);
	if (!es)
		return -EINVAL;
	err = desc_numel(desc, &numel);
	if (err)
		return err;
	if (numel > SIZE_MAX / 8)
		return -EINVAL;
	if (spec->mode != LLMI_BOUND_LOSSLESS &&
	    (!mode_name(spec->mode) || !isfinite(spec->bound) || !(spec->bound > 0)))
		return -EINVAL;
	if ((spec->mode == LLMI_BOUND_LOSSLESS && spec->flags) ||
	    (spec->flags & ~LLMI_CODEC_CHANNEL_MEAN))
		return -EINVAL;	/* PREDICT needs the reference whole: not streamed */
	stream_free(c);
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	c->stream = st;
	st->spec = *spec;
	st->p.mode = spec->mode;
	st->p.dt = desc->dtype;
	st->p.es = es;
	st->p.numel = numel;
	st->p.chunk_elems = (uint32_t)(LLMI_CODEC_CHUNK / es);
	st->nch = nchunks_for(numel, st->p.chunk_elems);
	if (st->nch > UINT32_MAX)
		goto toobig;
	if (spec->mode != LLMI_BOUND_LOSSLESS && (spec->flags & LLMI_CODEC_CHANNEL_MEAN) &&
	    desc->ndim == 2 && desc->shape[0] >= MIN_TOKENS && desc->shape[1] <= UINT32_MAX) {
		st->chanmean = true;
		st->flags |= LLMI_CODEC_CHANNEL_MEAN;
		st->p.hidden = (uint32_t)desc->shape[1];
	}
	err = ensure_tables(c, st->nch, st->p.hidden);
	if (err)
		goto fail;
	if (st->chanmean) {
		st->row = malloc((size_t)st->p.hidden * es);
		if (!st->row) {
			err = -ENOMEM;
			goto fail;
		}
		memset(c->msum, 0, st->p.hidden * sizeof(double));
		memset(c->mcnt, 0, st->p.hidden * sizeof(uint64_t));
	}
	st->p.slot = 4 + (size_t)st->p.chunk_elems * es;
	st->p.lens = c->lens;
	st->p.cst = c->cst;
	st->stats_first = spec->mode == LLMI_BOUND_NMSE || st->chanmean;
	return 0;
toobig:
	err = -EFBIG;
fail:
	stream_free(c);
	return err;
}

/* The variance from the sums; true when they need taking again about the mean. */
static bool stream_var(struct stream *st)
{
	double n = (double)st->nf;

	st->var = st->nf ? st->s2 / n - (st->s / n) * (st->s / n) : 0;
	if (st->var < 0)
		st->var = 0;
	return st->round == 0 && st->nf && (st->s / n) * (st->s / n) > 1e3 * st->var;
}

/* What llmi_codec__encode() decides after its prepass: the step, the means, the head. */
static void stream_plan(struct llmi_codec *c, struct stream *st)
{
	struct enc_plan *p = &st->p;

	p->abs_bound = INFINITY;
	switch (st->spec.mode) {
	case LLMI_BOUND_NMSE:
		p->target_mse = st->spec.bound * st->var;
		break;
	case LLMI_BOUND_MSE:
		p->target_mse = st->spec.bound;
		break;
	case LLMI_BOUND_ABS:
		p->abs_bound = st->spec.bound;
		break;
	default:
		break;
	}
	if (st->spec.mode == LLMI_BOUND_ABS)
		p->step0 = (float)(2 * st->spec.bound * 0.999);
	else
		p->step0 = (float)sqrt(12 * p->target_mse * 0.985);
	st->lossless = st->spec.mode == LLMI_BOUND_LOSSLESS || !(p->step0 > 0) || !isfinite(p->step0);
	if (st->lossless && st->spec.mode != LLMI_BOUND_LOSSLESS) {
		st->chanmean = false;
		st->flags = 0;
		p->hidden = 0;
	}
	if (st->chanmean) {
		uint64_t rows = p->numel / p->hidden;

		for (uint32_t ch = 0; ch < p->hidden; ch++)
			c->mcnt[ch] = rows - c->mcnt[ch];
		st->msec_len = build_means(c, p->hidden, p->step0);
		p->mean = c->means;
	}
	st->hdr = HDR_SIZE + 4 * st->nch + st->msec_len;
}

int llmi_codec__stream_next(struct llmi_codec *c)
{
	struct stream *st = c ? c->stream : NULL;

	if (!st)
		return -EINVAL;
	if (st->pass != SP_NONE && st->pass != SP_DONE && st->pos != st->p.numel)
		return -EINVAL;	/* the pass did not see the whole input */
	switch (st->pass) {
	case SP_NONE:
		if (st->stats_first) {
			st->pass = SP_STATS;
		} else {
			stream_plan(c, st);
			st->pass = SP_ENCODE;
		}
		break;
	case SP_STATS:
		if (stream_var(st)) {
			/* As the prepass: sum again about the mean, per chunk. */
			st->k += st->s / (double)st->nf;
			st->round = 1;
			break;
		}
		st->have_stats = true;
		if (st->encoded) {
			st->pass = SP_DONE;
			return 0;
		}
		stream_plan(c, st);
		st->pass = SP_ENCODE;
		break;
	case SP_ENCODE:
		st->encoded = true;
		if (!st->have_stats && stream_var(st)) {
			st->k += st->s / (double)st->nf;
			st->round = 1;
			st->pass = SP_STATS;
			break;
		}
		st->have_stats = true;
		st->pass = SP_DONE;
		return 0;
	default:
		return 0;
	}
	st->pos = 0;
	st->s = st->s2 = 0;
	if (st->round == 0)
		st->nf = 0;
	st->row_fill = 0;
	return st->pass == SP_STATS ? LLMI_STREAM_STATS : LLMI_STREAM_ENCODE;
}

size_t llmi_codec__stream_head_len(const struct llmi_codec *c)
{
	return c && c->stream ? c->stream->hdr : 0;
}

/* A piece in a stream: n elements starting at chunk ci0. */
struct piece {
	struct stream *st;
	const uint8_t *src;
	uint64_t ci0;
	bool lossless;
};

static int piece_stats_chunk(struct ctx *x, uint32_t idx, void *arg)
{
	const struct piece *pc = arg;
	const struct stream *st = pc->st;
	uint64_t ci = pc->ci0 + idx;
	size_t n = chunk_count(st->p.numel, st->p.chunk_elems, (uint32_t)ci);
	struct chunk_stats *cs = &st->p.cst[ci];
	double a = 0, b = 0;
	uint64_t nf = 0;

	stats_span(pc->src + (uint64_t)idx * st->p.chunk_elems * st->p.es, st->p.dt, n, st->k,
		   &a, &b, &nf);
	cs->sse = a;
	cs->maxerr = b;
	cs->nfinite = nf;
	return 0;
}

static int piece_enc_chunk(struct ctx *x, uint32_t idx, void *arg)
{
	const struct piece *pc = arg;
	struct enc_plan *p = &pc->st->p;

	return (pc->lossless ? enc_lossless_chunk : enc_quant_chunk)(x, (uint32_t)(pc->ci0 + idx), p);
}

/* The shift of the sums: the tensor's first finite element (0 while none was seen). */
static void find_k(struct stream *st, const uint8_t *src, size_t n)
{
	for (size_t i = 0; i < n && !st->have_k; i++) {
		float v = elem_f32(src, i, st->p.dt);

		if (isfinite(v)) {
			st->k = v;
			st->have_k = true;
		}
	}
}

/* Sums of whole chunks, in parallel, added in chunk order. */
static int piece_chunk_sums(struct llmi_codec *c, struct stream *st, const uint8_t *src, size_t n,
			    uint32_t nch)
{
	struct piece pc = { .st = st, .src = src, .ci0 = st->pos / st->p.chunk_elems };
	int err;

	if (st->round == 0)
		find_k(st, src, n);
	err = run_job(c, piece_stats_chunk, &pc, nch);
	if (err)
		return err;
	for (uint32_t i = 0; i < nch; i++) {
		st->s += st->p.cst[pc.ci0 + i].sse;
		st->s2 += st->p.cst[pc.ci0 + i].maxerr;
		if (st->round == 0)
			st->nf += st->p.cst[pc.ci0 + i].nfinite;
	}
	return 0;
}

/* One whole row of [tokens x hidden], as the prepass takes it. */
static void stream_row(struct llmi_codec *c, struct stream *st, const uint8_t *row)
{
	uint32_t h = st->p.hidden;
	double a = 0, b = 0;

	find_k(st, row, h);
	stats_span(row, st->p.dt, h, st->k, &a, &b, &st->nf);
	st->s += a;
	st->s2 += b;
	chan_accum(row, NULL, st->p.dt, h, c->msum, c->mcnt);
}

static int feed_stats(struct llmi_codec *c, struct stream *st, const uint8_t *src, size_t n)
{
	size_t es = st->p.es, h = st->p.hidden, i = 0;

	if (!st->chanmean || st->round)
		return piece_chunk_sums(c, st, src, n, (uint32_t)nchunks_for(n, st->p.chunk_elems));
	if (st->row_fill) {
		size_t take = h - st->row_fill < n ? h - st->row_fill : n;

		memcpy(st->row + st->row_fill * es, src, take * es);
		st->row_fill += take;
		i = take;
		if (st->row_fill == h) {
			stream_row(c, st, st->row);
			st->row_fill = 0;
		}
	}
	for (; n - i >= h; i += h)
		stream_row(c, st, src + i * es);
	if (i < n) {
		memcpy(st->row, src + i * es, (n - i) * es);
		st->row_fill = n - i;
	}
	return 0;
}

static int feed_encode(struct llmi_codec *c, struct stream *st, const uint8_t *src, size_t n,
		       uint8_t *dst, size_t dst_cap, size_t *dst_len)
{
	struct enc_plan *p = &st->p;
	uint32_t nch = (uint32_t)nchunks_for(n, p->chunk_elems);
	struct piece pc = { .st = st, .src = src, .ci0 = st->pos / p->chunk_elems,
			    .lossless = st->lossless };
	size_t total = 0, need = (size_t)nch * p->slot;
	int err;

	if (!st->have_stats) {
		err = piece_chunk_sums(c, st, src, n, nch);
		if (err)
			return err;
	}
	p->src = src;
	p->ci0 = pc.ci0;
	p->data_off = 0;
	p->seq = c->nstarted == 0 || nch == 1;
	p->seq_off = 0;
	if (dst_cap >= need) {
		p->base = dst;
	} else {
		err = grow((void **)&c->stage, &c->stage_cap, need);
		if (err)
			return err;
		p->base = c->stage;
	}
	err = run_job(c, piece_enc_chunk, &pc, nch);
	if (err)
		return err;
	/* Pack the chunks down from their slots, in order (never overlapping). */
	for (uint32_t i = 0; i < nch; i++) {
		uint64_t ci = pc.ci0 + i;
		uint8_t *from = p->seq ? p->base + total : p->base + (size_t)i * p->slot;
		uint32_t len = p->lens[ci];
		const struct chunk_stats *cs = &p->cst[ci];

		if (total + len > dst_cap)
			return -ENOSPC;
		if (from != dst + total)
			memmove(dst + total, from, len);
		total += len;
		st->sse += cs->sse;
		st->nfinite += cs->nfinite;
		st->exact += cs->nexact;
		if (cs->maxerr > st->maxerr)
			st->maxerr = cs->maxerr;
	}
	st->total += total;
	*dst_len = total;
	return 0;
}

int llmi_codec__stream_feed(struct llmi_codec *c, const void *src, size_t len, void *dst,
			    size_t dst_cap, size_t *dst_len)
{
	struct stream *st = c ? c->stream : NULL;
	size_t n;
	int err;

	if (dst_len)
		*dst_len = 0;
	if (!st || (st->pass != SP_STATS && st->pass != SP_ENCODE) || (len && !src) ||
	    len % st->p.es)
		return -EINVAL;
	n = len / st->p.es;
	/* Whole chunks, except the piece that ends the input. */
	if (n > st->p.numel - st->pos ||
	    (n % st->p.chunk_elems && st->pos + n != st->p.numel))
		return -EINVAL;
	if (!n)
		return 0;
	if (st->pass == SP_STATS)
		err = feed_stats(c, st, src, n);
	else if (!dst || !dst_len)
		err = -EINVAL;
	else
		err = feed_encode(c, st, src, n, dst, dst_cap, dst_len);
	if (!err)
		st->pos += n;
	return err;
}

int llmi_codec__stream_end(struct llmi_codec *c, void *head, size_t head_cap, size_t *blob_len,
			   struct llmi_codec_stats *stats)
{
	struct stream *st = c ? c->stream : NULL;
	uint8_t *h = head;

	if (!st || st->pass != SP_DONE || !head || !blob_len)
		return -EINVAL;
	if (head_cap < st->hdr)
		return -ENOSPC;
	put32(h, BLOB_MAGIC);
	h[4] = BLOB_VERSION;
	h[5] = (uint8_t)st->spec.mode;
	h[6] = (uint8_t)st->p.dt;
	h[7] = st->flags;
	memcpy(h + 8, &st->spec.bound, 8);
	if (st->spec.mode == LLMI_BOUND_LOSSLESS)
		memset(h + 8, 0, 8);
	put64(h + 16, st->p.numel);
	put32(h + 24, st->p.chunk_elems);
	put32(h + 28, (uint32_t)st->nch);
	put32(h + 32, st->p.hidden);
	put32(h + 36, (uint32_t)st->msec_len);
	for (uint64_t i = 0; i < st->nch; i++)
		put32(h + HDR_SIZE + 4 * i, st->p.lens[i]);
	if (st->msec_len)
		memcpy(h + HDR_SIZE + 4 * st->nch, c->msec, st->msec_len);
	*blob_len = st->hdr + st->total;
	if (stats) {
		stats->raw_bytes = st->p.numel * st->p.es;
		stats->stored_bytes = *blob_len;
		stats->mse = st->nfinite ? st->sse / st->nfinite : 0;
		stats->variance = st->var;
		stats->nmse = st->var > 0 ? stats->mse / st->var : 0;
		stats->max_abs_err = st->maxerr;
		stats->exact = st->exact;
	}
	stream_free(c);
	return 0;
}

/* ---- decoding --------------------------------------------------------- */

struct blob_hdr {
	uint8_t mode, dtype, flags;
	double bound;
	uint64_t numel;
	uint32_t chunk_elems, nchunks, hidden, means_len;
};

static int read_hdr(const uint8_t *s, size_t len, struct blob_hdr *h)
{
	if (!s || len < HDR_SIZE || get32(s) != BLOB_MAGIC || s[4] != BLOB_VERSION)
		return -EBADMSG;
	h->mode = s[5];
	h->dtype = s[6];
	h->flags = s[7];
	memcpy(&h->bound, s + 8, 8);
	h->numel = get64(s + 16);
	h->chunk_elems = get32(s + 24);
	h->nchunks = get32(s + 28);
	h->hidden = get32(s + 32);
	h->means_len = get32(s + 36);
	if (h->mode > LLMI_BOUND_ABS || !llmi_dtype_size(h->dtype) || (!h->hidden && h->means_len) ||
	    (h->flags & ~(LLMI_CODEC_CHANNEL_MEAN | LLMI_CODEC_PREDICT)))
		return -EBADMSG;
	if (h->mode == LLMI_BOUND_LOSSLESS ? h->flags || h->bound != 0
					   : !isfinite(h->bound) || !(h->bound > 0))
		return -EBADMSG;
	if (h->chunk_elems != LLMI_CODEC_CHUNK / llmi_dtype_size(h->dtype) ||
	    h->nchunks != nchunks_for(h->numel, h->chunk_elems))
		return -EBADMSG;
	if (!(h->flags & LLMI_CODEC_CHANNEL_MEAN) != !h->hidden)
		return -EBADMSG;
	return 0;
}

int llmi_codec_blob_spec(const void *src, size_t src_len, struct llmi_codec_spec *spec)
{
	struct blob_hdr h;
	int err = read_hdr(src, src_len, &h);

	if (err)
		return err;
	spec->mode = h.mode;
	spec->bound = h.bound;
	spec->flags = h.flags;
	return 0;
}

int llmi_codec_blob_head_len(const void *src, size_t len, uint64_t *head_len)
{
	struct blob_hdr h;
	int err = read_hdr(src, len, &h);

	if (err)
		return err;
	*head_len = HDR_SIZE + 4ull * h.nchunks + h.means_len;
	return 0;
}

int llmi_codec_blob_check(const void *head, size_t head_len, uint64_t blob_len,
			  const struct llmi_tensor_desc *desc, struct llmi_codec_spec *spec)
{
	const uint8_t *s = head;
	struct blob_hdr h;
	uint64_t numel, off;
	size_t es;
	int err;

	err = read_hdr(s, head_len, &h);
	if (err)
		return err;
	es = llmi_dtype_size(desc->dtype);
	if (!es || desc_numel(desc, &numel) || h.dtype != desc->dtype || h.numel != numel)
		return -EBADMSG;
	if ((h.flags & LLMI_CODEC_CHANNEL_MEAN) && (desc->ndim != 2 || desc->shape[1] != h.hidden))
		return -EBADMSG;
	off = HDR_SIZE + 4ull * h.nchunks + h.means_len;
	if (off != head_len || off > blob_len)
		return -EBADMSG;
	/* Each chunk holds its kind word, and is never larger than stored raw. */
	for (uint32_t i = 0; i < h.nchunks; i++) {
		uint32_t len = get32(s + HDR_SIZE + 4 * (size_t)i);
		size_t n = chunk_count(h.numel, h.chunk_elems, i);

		if (len < 4 || len > 4 + n * es || len > blob_len - off)
			return -EBADMSG;
		off += len;
	}
	if (off != blob_len)
		return -EBADMSG;
	if (h.hidden) {
		err = read_means(s + HDR_SIZE + 4 * (size_t)h.nchunks, h.means_len, h.hidden, NULL);
		if (err)
			return err;
	}
	if (spec) {
		spec->mode = h.mode;
		spec->bound = h.bound;
		spec->flags = h.flags;
	}
	return 0;
}

struct dec_plan {
	enum llmi_dtype dt;
	size_t es;
	const uint8_t *blob;
	const uint64_t *offs;
	const uint32_t *lens;
	uint64_t numel;
	uint32_t chunk_elems, hidden;
	const float *mean;
	const uint8_t *ref;
	uint8_t *dst;
};

static int dec_planes(struct ctx *x, const struct dec_plan *p, const uint8_t *in, size_t len,
		      uint8_t *dst, size_t n)
{
	size_t off = 4, es = p->es;
	uint16_t freq[256];

	for (size_t b = 0; b < es; b++) {
		uint8_t *plane = x->sym + b * n;
		uint32_t plen;

		if (len - off < 5)
			return -EBADMSG;
		plen = get32(in + off + 1);
		if (plen > len - off - 5)
			return -EBADMSG;
		const uint8_t *d = in + off + 5;
		if (in[off] == 0) {
			if (plen != n)
				return -EBADMSG;
			memcpy(plane, d, n);
		} else if (in[off] == 1) {
			int t = rans_read_table(d, plen, freq);
			if (t < 0)
				return t;
			rans_dec_init(freq, x->dtab);
			if (rans_decode(d + t, plen - t, x->dtab, plane, n))
				return -EBADMSG;
		} else {
			return -EBADMSG;
		}
		off += 5 + plen;
	}
	if (off != len)
		return -EBADMSG;
	if (es == 4) {
		for (size_t i = 0; i < n; i++) {
			uint32_t w = x->sym[i] | (uint32_t)x->sym[n + i] << 8 |
				     (uint32_t)x->sym[2 * n + i] << 16 | (uint32_t)x->sym[3 * n + i] << 24;
			w = (w >> 1) | (w << 31);
			memcpy(dst + 4 * i, &w, 4);
		}
	} else {
		for (size_t i = 0; i < n; i++) {
			uint16_t w = (uint16_t)(x->sym[i] | x->sym[n + i] << 8);
			w = (uint16_t)((w >> 1) | (w << 15));
			memcpy(dst + 2 * i, &w, 2);
		}
	}
	return 0;
}

static int dec_chunk(struct ctx *x, uint32_t ci, void *arg)
{
	const struct dec_plan *p = arg;
	size_t n = chunk_count(p->numel, p->chunk_elems, ci), es = p->es;
	uint64_t e0 = (uint64_t)ci * p->chunk_elems;
	const uint8_t *in = p->blob + p->offs[ci];
	size_t len = p->lens[ci];
	uint8_t *dst = p->dst + e0 * es;
	const uint8_t *ref = p->ref ? p->ref + e0 * es : NULL;
	uint16_t freq[256];
	struct dequant_in d;
	uint32_t nexact, rlen, elen;
	float step;
	int t;

	if (len < 4 || in[1] || in[2] || in[3])
		return -EBADMSG;
	switch (in[0]) {
	case CK_RAW:
		if (len != 4 + n * es)
			return -EBADMSG;
		memcpy(dst, in + 4, n * es);
		return 0;
	case CK_PLANES:
		return dec_planes(x, p, in, len, dst, n);
	case CK_QUANT:
		break;
	default:
		return -EBADMSG;
	}
	if (len < CHUNK_HDR_Q)
		return -EBADMSG;
	memcpy(&step, in + 4, 4);
	nexact = get32(in + 8);
	rlen = get32(in + 12);
	elen = get32(in + 16);
	if (!isfinite(step) || nexact > n || rlen > len - CHUNK_HDR_Q ||
	    elen > len - CHUNK_HDR_Q - rlen ||
	    (uint64_t)nexact * es != len - CHUNK_HDR_Q - rlen - elen)
		return -EBADMSG;
	t = rans_read_table(in + CHUNK_HDR_Q, rlen, freq);
	if (t < 0)
		return t;
	rans_dec_init(freq, x->dtab);
	if (rans_decode(in + CHUNK_HDR_Q + t, rlen - t, x->dtab, x->sym, n))
		return -EBADMSG;
	d.dt = p->dt;
	d.step = step;
	d.sym = x->sym;
	d.br.p = in + CHUNK_HDR_Q + rlen;
	d.br.end = d.br.p + elen;
	d.br.acc = 0;
	d.br.cnt = 0;
	d.exact = d.br.end;
	d.nexact = nexact;
	if (!p->mean) {
		if (dequant_span(&d, dst, ref, NULL, n, 0))
			return -EBADMSG;
	} else {
		for (size_t k = 0; k < n;) {
			uint32_t c = (uint32_t)((e0 + k) % p->hidden);
			size_t seg = p->hidden - c;

			if (seg > n - k)
				seg = n - k;
			if (dequant_span(&d, dst + k * es, ref ? ref + k * es : NULL, p->mean + c, seg, k))
				return -EBADMSG;
			k += seg;
		}
	}
	/* Everything the chunk carried must have been used. */
	if (d.nexact || d.br.p != d.br.end || d.br.cnt >= 8)
		return -EBADMSG;
	return 0;
}

int llmi_codec__decode(struct llmi_codec *c, const void *src, size_t src_len,
		       const struct llmi_tensor_desc *desc, const void *ref,
		       void *dst, size_t dst_cap)
{
	const uint8_t *s = src;
	struct blob_hdr h;
	struct dec_plan p = { 0 };
	uint64_t numel, off;
	size_t es;
	int err;

	if (!c || !desc || (!dst && dst_cap))
		return -EINVAL;
	err = read_hdr(s, src_len, &h);
	if (err)
		return err;
	es = llmi_dtype_size(desc->dtype);
	if (!es || desc_numel(desc, &numel) || h.dtype != desc->dtype || h.numel != numel)
		return -EBADMSG;
	if (numel > dst_cap / es)
		return -ENOSPC;
	if ((h.flags & LLMI_CODEC_PREDICT) && !ref && numel)
		return -EINVAL;
	if (h.flags & LLMI_CODEC_CHANNEL_MEAN) {
		if (desc->ndim != 2 || desc->shape[1] != h.hidden)
			return -EBADMSG;
	}
	off = HDR_SIZE + 4ull * h.nchunks + h.means_len;
	if (off > src_len)
		return -EBADMSG;
	err = ensure_tables(c, h.nchunks, h.hidden);
	if (err)
		return err;
	for (uint32_t i = 0; i < h.nchunks; i++) {
		c->lens[i] = get32(s + HDR_SIZE + 4 * (size_t)i);
		c->offs[i] = off;
		if (c->lens[i] > src_len - off)
			return -EBADMSG;
		off += c->lens[i];
	}
	if (off != src_len)
		return -EBADMSG;
	if (h.hidden) {
		err = read_means(s + HDR_SIZE + 4 * (size_t)h.nchunks, h.means_len, h.hidden, c->means);
		if (err)
			return err;
		p.mean = c->means;
	}
	p.dt = h.dtype;
	p.es = es;
	p.blob = s;
	p.offs = c->offs;
	p.lens = c->lens;
	p.numel = numel;
	p.chunk_elems = h.chunk_elems;
	p.hidden = h.hidden;
	p.ref = (h.flags & LLMI_CODEC_PREDICT) ? ref : NULL;
	p.dst = dst;
	if (!h.nchunks)
		return 0;
	return run_job(c, dec_chunk, &p, h.nchunks);
}

/* ---- benchmark support --------------------------------------------------- */

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

int codec_blob_entropy(struct llmi_codec *c, const void *blob, size_t len,
		       const struct llmi_tensor_desc *d, double *entropy_bits, double *coded_bits)
{
	const uint8_t *s = blob;
	struct blob_hdr h;
	uint64_t off;
	size_t es = llmi_dtype_size(d->dtype);
	uint32_t *hist = NULL, *big = NULL;
	int err;

	*entropy_bits = *coded_bits = 0;
	err = read_hdr(s, len, &h);
	if (err)
		return err;
	err = ctx_ensure(&c->ctx[0]);
	if (err)
		return err;
	hist = calloc(65536, sizeof(*hist));
	big = malloc(h.chunk_elems * sizeof(*big));
	if (!hist || !big) {
		err = -ENOMEM;
		goto out;
	}
	off = HDR_SIZE + 4ull * h.nchunks + h.means_len;
	for (uint32_t ci = 0; ci < h.nchunks; ci++) {
		struct ctx *x = &c->ctx[0];
		uint32_t clen = get32(s + HDR_SIZE + 4 * (size_t)ci);
		const uint8_t *in = s + off;
		size_t n = chunk_count(h.numel, h.chunk_elems, ci), nb = 0;
		uint16_t freq[256];
		struct bitrd br;
		uint32_t nexact, rlen, elen;
		double bits = 0;
		int t;

		if (off + clen > len) {
			err = -EBADMSG;
			goto out;
		}
		off += clen;
		if (clen < CHUNK_HDR_Q || in[0] != CK_QUANT)
			continue;
		nexact = get32(in + 8);
		rlen = get32(in + 12);
		elen = get32(in + 16);
		if (rlen > clen - CHUNK_HDR_Q || elen > clen - CHUNK_HDR_Q - rlen) {
			err = -EBADMSG;
			goto out;
		}
		t = rans_read_table(in + CHUNK_HDR_Q, rlen, freq);
		if (t < 0 || (rans_dec_init(freq, x->dtab),
			      rans_decode(in + CHUNK_HDR_Q + t, rlen - t, x->dtab, x->sym, n))) {
			err = -EBADMSG;
			goto out;
		}
		br = (struct bitrd){ .p = in + CHUNK_HDR_Q + rlen, .end = in + CHUNK_HDR_Q + rlen + elen };
		memset(hist, 0, 65536 * sizeof(*hist));
		for (size_t i = 0; i < n; i++) {
			uint32_t z = x->sym[i];

			if (z == SYM_EXACT) {
				z = UINT32_MAX;	/* one more code: "stored exactly" */
			} else if (z >= SYM_DIRECT) {
				unsigned k = z - SYM_DIRECT;
				uint32_t lo = 0;

				for (unsigned b = 0; b < k; b++) {
					if (br.cnt == 0) {
						if (br.p == br.end) {
							err = -EBADMSG;
							goto out;
						}
						br.acc = *br.p++;
						br.cnt = 8;
					}
					lo |= (uint32_t)(br.acc & 1) << b;
					br.acc >>= 1;
					br.cnt--;
				}
				z = ((1u << k) | lo) + (SYM_DIRECT - 1);
			}
			if (z < 65536)
				hist[z]++;
			else
				big[nb++] = z;
		}
		for (uint32_t z = 0; z < 65536; z++)
			if (hist[z])
				bits -= hist[z] * log2((double)hist[z] / n);
		qsort(big, nb, sizeof(*big), cmp_u32);
		for (size_t i = 0; i < nb;) {
			size_t j = i;
			while (j < nb && big[j] == big[i])
				j++;
			bits -= (double)(j - i) * log2((double)(j - i) / n);
			i = j;
		}
		*entropy_bits += bits + 8.0 * es * nexact;
		*coded_bits += 8.0 * clen;
	}
	err = 0;
out:
	free(hist);
	free(big);
	return err;
}
