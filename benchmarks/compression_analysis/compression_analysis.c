// SPDX-License-Identifier: MIT
/*
 * compression_analysis: the codec against general-purpose compressors and
 * simple float formats on a seeded reference activation suite (or a raw
 * file), in one run, single-threaded (figures are per core).
 *
 * The suite models a residual stream: [tokens x hidden] per layer, layer l
 * = layer l-1 + an update, so sigma grows ~1.045x per layer; a Laplace or
 * Student-t bulk; lognormal per-channel scales and per-channel means; ~0.15%
 * outlier channels at 6-60x; two massive values (10^2 at layer 0 growing to
 * 10^4 at the last layer) at fixed channels of token 0. Each layer is coded
 * as fp32 and as bf16.
 *
 * Methods: zstd -1/-3, lz4, blosc (shuffle + zstd, clevel 5), bf16 and
 * fp8 e4m3 (per-tensor scale) truncation, fixed-length block bit-packing
 * (cuSZp-style, 32-code blocks at our step), and the codec: nmse=1e-3 (plain,
 * chanmean, chanmean+predict), mse=1e-3 on the layers with sigma <= 1, and
 * lossless. Prints an 80-column table, and with --json FILE (or - for stdout,
 * instead of the table) one JSON object.
 */
#include <blosc.h>
#include <errno.h>
#include <getopt.h>
#include <lz4.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zstd.h>

#include "codec/codec.h"
#include "codec/codec_int.h"
#include "../bench.h"

#define MAX_CASES 32

struct tensor {
	void *data;		/* dtype elements */
	uint64_t n;
	double var;
	double sigma;		/* measured std of the tensor */
	double bulk_sigma;	/* the layer's bulk scale */
	int layer;
};

struct acc {
	const char *method;
	const char *dtype;
	const char *note;
	double raw, stored, sse, nfin, max_nmse, maxerr, tc, td;
	double ent_bits, coded_bits;
	int tensors;
};

static struct acc cases[MAX_CASES];
static int ncases;

static uint64_t rng = 42;

static uint64_t rnd(void)
{
	return bench_rnd(&rng);
}

static double urand(void)
{
	return bench_urand(&rng);
}

static double gauss(void)
{
	return bench_gauss(&rng);
}

/* Unit-variance Laplace or Student-t (nu = 5). */
static double bulk(bool student)
{
	if (!student) {
		double u = urand() - 0.5;
		return -copysign(1.0, u) * log(1 - 2 * fabs(u)) / sqrt(2);
	}
	double chi = 0;
	for (int k = 0; k < 5; k++) {
		double g = gauss();
		chi += g * g;
	}
	return gauss() / sqrt(chi / 5) / sqrt(5.0 / 3);
}

static float elem(const void *p, enum llmi_dtype dt, uint64_t i)
{
	return dt == LLMI_DTYPE_BF16 ? bf16_to_f32(((const uint16_t *)p)[i]) : ((const float *)p)[i];
}

static void moments(struct tensor *t, enum llmi_dtype dt)
{
	double s = 0, s2 = 0;

	for (uint64_t i = 0; i < t->n; i++) {
		double v = elem(t->data, dt, i);
		s += v;
		s2 += v * v;
	}
	t->var = s2 / t->n - (s / t->n) * (s / t->n);
	t->sigma = sqrt(t->var);
}

static int build_suite(struct tensor *f32, struct tensor *b16, int layers, uint64_t tokens,
		       uint64_t hidden, int bulk_kind, bool massive)
{
	uint64_t n = tokens * hidden;
	double *scale = malloc(hidden * sizeof(double)), *mean = malloc(hidden * sizeof(double));
	float *x = calloc(n, sizeof(float));
	uint64_t nout = (uint64_t)(hidden * 0.0015 + 0.5), c1 = hidden / 3, c2 = (2 * hidden) / 3 + 1;
	double sigma0 = 0.3, ss = 0;

	if (!scale || !mean || !x)
		return -ENOMEM;
	if (nout < 1)
		nout = 1;
	for (uint64_t c = 0; c < hidden; c++) {
		scale[c] = exp(0.5 * gauss());
		ss += scale[c] * scale[c];
	}
	for (uint64_t c = 0; c < hidden; c++) {
		scale[c] /= sqrt(ss / hidden);
		mean[c] = (urand() < 0.5 ? -1 : 1) * exp(gauss() * 0.5 - 1.0);
	}
	for (uint64_t k = 0; k < nout; k++)
		scale[(rnd() % hidden)] = 6 + 54 * urand();
	for (int l = 0; l < layers; l++) {
		double sig = sigma0 * pow(1.045, l);
		/* Layer 0 is drawn whole; later layers add an update to the last. */
		double upd = l ? sigma0 * pow(1.045, l - 1) * sqrt(1.045 * 1.045 - 1) : sig;
		bool student = bulk_kind == 1 || (bulk_kind == 2 && (l & 1));

		for (uint64_t t = 0; t < tokens; t++) {
			for (uint64_t c = 0; c < hidden; c++) {
				float *v = &x[t * hidden + c];
				*v += (float)((l ? 0 : mean[c] * sig) + upd * scale[c] * bulk(student));
			}
		}
		double mass = pow(10, 2 + 2.0 * l / (layers > 1 ? layers - 1 : 1));
		if (massive) {
			x[c1] = (float)mass;
			x[c2 % hidden] = (float)(-0.7 * mass);
		}
		f32[l].data = malloc(n * 4);
		b16[l].data = malloc(n * 2);
		if (!f32[l].data || !b16[l].data)
			return -ENOMEM;
		memcpy(f32[l].data, x, n * 4);
		for (uint64_t i = 0; i < n; i++)
			((uint16_t *)b16[l].data)[i] = f32_to_bf16_rne(x[i]);
		f32[l].n = b16[l].n = n;
		f32[l].layer = b16[l].layer = l;
		f32[l].bulk_sigma = b16[l].bulk_sigma = sig;
		moments(&f32[l], LLMI_DTYPE_F32);
		moments(&b16[l], LLMI_DTYPE_BF16);
	}
	free(scale);
	free(mean);
	free(x);
	return 0;
}

static struct acc *new_case(const char *method, const char *dtype, const char *note)
{
	struct acc *a = &cases[ncases++];

	memset(a, 0, sizeof(*a));
	a->method = method;
	a->dtype = dtype;
	a->note = note;
	return a;
}

/* Error of out against t, into a. */
static void account(struct acc *a, const struct tensor *t, enum llmi_dtype dt, const void *out,
		    enum llmi_dtype out_dt)
{
	double sse = 0, mx = 0;
	uint64_t nf = 0;

	for (uint64_t i = 0; i < t->n; i++) {
		double x = elem(t->data, dt, i), y = elem(out, out_dt, i);
		if (!isfinite(x))
			continue;
		double e = fabs(x - y);
		sse += e * e;
		if (!(e <= mx))
			mx = e;
		nf++;
	}
	a->sse += sse;
	a->nfin += nf;
	if (mx > a->maxerr)
		a->maxerr = mx;
	if (t->var > 0 && sse / nf / t->var > a->max_nmse)
		a->max_nmse = sse / nf / t->var;
	a->tensors++;
}

/* ---- general-purpose compressors ----------------------------------------- */

enum gp { GP_ZSTD1, GP_ZSTD3, GP_LZ4, GP_BLOSC };

static int run_gp(struct acc *a, enum gp kind, struct tensor *ts, int nt, enum llmi_dtype dt)
{
	size_t es = llmi_dtype_size(dt);
	size_t maxraw = ts[0].n * es;
	size_t cap = ZSTD_compressBound(maxraw) + LZ4_compressBound((int)maxraw) + maxraw + 1024;
	uint8_t *buf = malloc(cap), *out = malloc(maxraw);
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	ZSTD_DCtx *dc = ZSTD_createDCtx();

	if (!buf || !out || !cc || !dc)
		return -ENOMEM;
	for (int l = 0; l < nt; l++) {
		size_t raw = ts[l].n * es, len = 0;
		double t0 = bench_now();

		switch (kind) {
		case GP_ZSTD1:
		case GP_ZSTD3:
			len = ZSTD_compressCCtx(cc, buf, cap, ts[l].data, raw, kind == GP_ZSTD1 ? 1 : 3);
			if (ZSTD_isError(len))
				return -EIO;
			break;
		case GP_LZ4:
			len = (size_t)LZ4_compress_default(ts[l].data, (char *)buf, (int)raw, (int)cap);
			break;
		case GP_BLOSC:
			len = (size_t)blosc_compress_ctx(5, BLOSC_SHUFFLE, es, raw, ts[l].data, buf, cap,
							  "zstd", 0, 1);
			break;
		}
		double t1 = bench_now();
		size_t got = 0;
		switch (kind) {
		case GP_ZSTD1:
		case GP_ZSTD3:
			got = ZSTD_decompressDCtx(dc, out, raw, buf, len);
			break;
		case GP_LZ4:
			got = (size_t)LZ4_decompress_safe((const char *)buf, (char *)out, (int)len, (int)raw);
			break;
		case GP_BLOSC:
			got = (size_t)blosc_decompress_ctx(buf, out, raw, 1);
			break;
		}
		double t2 = bench_now();
		if (got != raw || memcmp(out, ts[l].data, raw))
			return -EIO;
		a->raw += raw;
		a->stored += len;
		a->tc += t1 - t0;
		a->td += t2 - t1;
		a->tensors++;
		a->nfin += ts[l].n;
	}
	ZSTD_freeCCtx(cc);
	ZSTD_freeDCtx(dc);
	free(buf);
	free(out);
	return 0;
}

/* ---- truncation formats ---------------------------------------------------- */

static float e4m3_table[256];

static void e4m3_init(void)
{
	for (int b = 0; b < 256; b++) {
		int s = b >> 7, e = (b >> 3) & 15, m = b & 7;
		float v = e ? ldexpf(1 + m / 8.0f, e - 7) : ldexpf(m / 8.0f, -6);
		if (e == 15 && m == 7)
			v = NAN;
		e4m3_table[b] = s ? -v : v;
	}
}

/* Round to nearest (ties to even code), saturating at 448. */
static uint8_t to_e4m3(float v)
{
	uint8_t s = v < 0 ? 0x80 : 0;
	float a = fabsf(v);
	int lo = 0, hi = 126;

	if (!(a < 448))
		return s | 126;
	while (hi - lo > 1) {
		int mid = (lo + hi) / 2;
		if (e4m3_table[mid] <= a)
			lo = mid;
		else
			hi = mid;
	}
	float dl = a - e4m3_table[lo], dh = e4m3_table[hi] - a;
	int b = dl < dh ? lo : dh < dl ? hi : (lo & 1 ? hi : lo);
	return s | (uint8_t)b;
}

static int run_trunc(struct acc *a, bool fp8, struct tensor *ts, int nt, enum llmi_dtype dt)
{
	size_t es = llmi_dtype_size(dt);
	uint64_t n = ts[0].n;
	uint8_t *q = malloc(n * 2);
	void *out = malloc(n * es);

	if (!q || !out)
		return -ENOMEM;
	for (int l = 0; l < nt; l++) {
		double t0 = bench_now(), t1, t2;
		float sc = 1, amax = 0;

		if (fp8) {
			for (uint64_t i = 0; i < n; i++)
				amax = fmaxf(amax, fabsf(elem(ts[l].data, dt, i)));
			sc = amax > 0 ? amax / 448 : 1;
			float inv = 1 / sc;
			for (uint64_t i = 0; i < n; i++)
				q[i] = to_e4m3(elem(ts[l].data, dt, i) * inv);
			t1 = bench_now();
			for (uint64_t i = 0; i < n; i++) {
				float y = e4m3_table[q[i]] * sc;
				if (dt == LLMI_DTYPE_BF16)
					((uint16_t *)out)[i] = f32_to_bf16_rne(y);
				else
					((float *)out)[i] = y;
			}
		} else {
			uint16_t *h = (uint16_t *)q;
			for (uint64_t i = 0; i < n; i++)
				h[i] = f32_to_bf16_rne(elem(ts[l].data, dt, i));
			t1 = bench_now();
			for (uint64_t i = 0; i < n; i++) {
				float y = bf16_to_f32(h[i]);
				if (dt == LLMI_DTYPE_BF16)
					((uint16_t *)out)[i] = h[i];
				else
					((float *)out)[i] = y;
			}
		}
		t2 = bench_now();
		a->raw += n * es;
		a->stored += n * (fp8 ? 1 : 2) + 4;
		a->tc += t1 - t0;
		a->td += t2 - t1;
		account(a, &ts[l], dt, out, dt);
	}
	free(q);
	free(out);
	return 0;
}

/*
 * Fixed-length block packing as cuSZp does it: the same quantiser and step
 * as the codec, then per block of 32 codes one byte of width and 32 zigzag
 * codes of that many bits. No entropy coding.
 */
static int run_blockpack(struct acc *a, struct tensor *ts, int nt, enum llmi_dtype dt, double nmse)
{
	size_t es = llmi_dtype_size(dt);
	uint64_t n = ts[0].n;
	uint8_t *buf = malloc(n * 5 + 64);
	void *out = malloc(n * es);

	if (!buf || !out)
		return -ENOMEM;
	for (int l = 0; l < nt; l++) {
		float step = (float)sqrt(12 * nmse * ts[l].var * 0.97), recip = 1 / step;
		double t0 = bench_now();
		uint8_t *p = buf;
		for (uint64_t b = 0; b < n; b += 32) {
			uint32_t z[32], mx = 0;
			uint64_t m = n - b < 32 ? n - b : 32;
			for (uint64_t k = 0; k < m; k++) {
				int32_t q = round_even(elem(ts[l].data, dt, b + k) * recip);
				z[k] = ((uint32_t)q << 1) ^ (uint32_t)(q >> 31);
				mx |= z[k];
			}
			unsigned w = mx ? 32 - __builtin_clz(mx) : 0;
			uint64_t acc = 0;
			unsigned cnt = 0;
			*p++ = (uint8_t)w;
			for (uint64_t k = 0; k < m; k++) {
				acc |= (uint64_t)z[k] << cnt;
				cnt += w;
				while (cnt >= 8) {
					*p++ = (uint8_t)acc;
					acc >>= 8;
					cnt -= 8;
				}
			}
			if (cnt)
				*p++ = (uint8_t)acc;
		}
		double t1 = bench_now();
		const uint8_t *r = buf;
		for (uint64_t b = 0; b < n; b += 32) {
			uint64_t m = n - b < 32 ? n - b : 32, acc = 0;
			unsigned w = *r++, cnt = 0;
			for (uint64_t k = 0; k < m; k++) {
				while (cnt < w) {
					acc |= (uint64_t)*r++ << cnt;
					cnt += 8;
				}
				uint32_t z = (uint32_t)(acc & ((1ull << w) - 1));
				acc >>= w;
				cnt -= w;
				int32_t q = (int32_t)((z >> 1) ^ (0u - (z & 1)));
				float y = (float)q * step;
				if (dt == LLMI_DTYPE_BF16)
					((uint16_t *)out)[b + k] = f32_to_bf16_rne(y);
				else
					((float *)out)[b + k] = y;
			}
			acc = 0;
			cnt = 0;
		}
		double t2 = bench_now();
		a->raw += n * es;
		a->stored += (double)(p - buf);
		a->tc += t1 - t0;
		a->td += t2 - t1;
		account(a, &ts[l], dt, out, dt);
	}
	free(buf);
	free(out);
	return 0;
}

/* ---- the codec --------------------------------------------------------------- */

static int run_ours(struct acc *a, const char *spec_s, struct tensor *ts, int nt,
		    enum llmi_dtype dt, uint64_t tokens, uint64_t hidden, double max_sigma)
{
	struct llmi_codec_spec sp;
	struct llmi_codec *c = llmi_codec__new(1);
	size_t es = llmi_dtype_size(dt);
	uint64_t n = ts[0].n;
	size_t cap = llmi_codec_bound(n * es);
	uint8_t *blob = malloc(cap);
	void *out = malloc(n * es), *prev = malloc(n * es);
	struct llmi_tensor_desc d = { .dtype = dt, .ndim = 2, .shape = { tokens, hidden } };
	bool have_prev = false;

	if (!c || !blob || !out || !prev || llmi_codec_spec_parse(spec_s, &sp))
		return -EINVAL;
	for (int l = 0; l < nt; l++) {
		struct llmi_codec_stats st;
		size_t len;
		bool pred = (sp.flags & LLMI_CODEC_PREDICT) != 0;
		struct llmi_codec_spec use = sp;

		if (ts[l].sigma > max_sigma) {
			have_prev = false;
			continue;
		}
		/* The first layer has nothing to predict from. */
		if (pred && !have_prev)
			use.flags &= ~LLMI_CODEC_PREDICT;
		double t0 = bench_now();
		int err = llmi_codec__encode(c, &use, &d, ts[l].data, have_prev ? prev : NULL, blob, cap,
					     &len, &st);
		double t1 = bench_now();
		if (!err)
			err = llmi_codec__decode(c, blob, len, &d, have_prev ? prev : NULL, out, n * es);
		double t2 = bench_now();
		if (err) {
			fprintf(stderr, "compression_analysis: codec %s failed on layer %d: %s\n",
				spec_s, l, strerror(-err));
			return err;
		}
		a->raw += n * es;
		a->stored += len;
		a->tc += t1 - t0;
		a->td += t2 - t1;
		account(a, &ts[l], dt, out, dt);
		if (sp.mode == LLMI_BOUND_LOSSLESS && memcmp(out, ts[l].data, n * es)) {
			fprintf(stderr, "compression_analysis: lossless round trip differs on layer %d\n", l);
			return -EIO;
		}
		double eb, cb;
		if (!codec_blob_entropy(c, blob, len, &d, &eb, &cb)) {
			a->ent_bits += eb;
			a->coded_bits += cb;
		}
		memcpy(prev, out, n * es);
		have_prev = true;
	}
	llmi_codec__free(c);
	free(blob);
	free(out);
	free(prev);
	return 0;
}

/* ---- output -------------------------------------------------------------------- */

static double gbps(double bytes, double s)
{
	return s > 0 ? bytes / s / 1e9 : 0;
}

static double ratio(const struct acc *a)
{
	return a->stored > 0 ? a->raw / a->stored : 0;
}

static struct acc *find(const char *method, const char *dtype)
{
	for (int i = 0; i < ncases; i++)
		if (!strcmp(cases[i].method, method) && !strcmp(cases[i].dtype, dtype))
			return &cases[i];
	return NULL;
}

static const char *simd_name(void)
{
	switch (codec_simd_level()) {
	case SIMD_AVX512:	return "AVX-512";
	case SIMD_AVX2:		return "AVX2";
	default:		return "portable";
	}
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: compression_analysis [--json FILE|-] [--layers N] [--tokens N] [--hidden N]\n"
		"                            [--bulk laplace|t|mixed] [--seed N] [--no-massive]\n"
		"                            [--simd portable|avx2|avx512]\n"
		"       compression_analysis --input FILE --dtype f32|bf16 --shape TOKENSxHIDDEN [--json FILE|-]\n"
		"Compares the codec with zstd, lz4, blosc, bf16/fp8 truncation and block packing,\n"
		"single-threaded, on a seeded activation suite (default 32 layers of 256x4096,\n"
		"fp32 and bf16) or on one raw little-endian file. --no-massive leaves out the\n"
		"massive values (they dominate the variance that NMSE is relative to);\n"
		"--simd caps the codec's kernels (default: the best the CPU has).\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", required_argument, NULL, 'j' }, { "layers", required_argument, NULL, 'l' },
		{ "tokens", required_argument, NULL, 't' }, { "hidden", required_argument, NULL, 'H' },
		{ "bulk", required_argument, NULL, 'b' }, { "seed", required_argument, NULL, 's' },
		{ "input", required_argument, NULL, 'i' }, { "dtype", required_argument, NULL, 'd' },
		{ "shape", required_argument, NULL, 'S' }, { "help", no_argument, NULL, 'h' },
		{ "no-massive", no_argument, NULL, 'M' }, { "simd", required_argument, NULL, 'P' },
		{ NULL, 0, NULL, 0 },
	};
	const char *json_path = NULL;
	bool massive = true;
	int layers = 32, bulk_kind = 2, opt;
	uint64_t tokens = 256, hidden = 4096;
	const char *input = NULL;
	enum llmi_dtype in_dt = LLMI_DTYPE_F32;
	bool have_dt = false, have_shape = false;
	char *end;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'j': json_path = optarg; break;
		case 'l': layers = (int)strtol(optarg, &end, 10);
			  if (*end || layers < 1 || layers > 256) goto bad;
			  break;
		case 't': tokens = strtoull(optarg, &end, 10);
			  if (*end || tokens < 1) goto bad;
			  break;
		case 'H': hidden = strtoull(optarg, &end, 10);
			  if (*end || hidden < 8) goto bad;
			  break;
		case 'b': bulk_kind = !strcmp(optarg, "laplace") ? 0 : !strcmp(optarg, "t") ? 1 :
				      !strcmp(optarg, "mixed") ? 2 : -1;
			  if (bulk_kind < 0) goto bad;
			  break;
		case 's': rng = strtoull(optarg, &end, 10);
			  if (*end) goto bad;
			  break;
		case 'i': input = optarg; break;
		case 'd': if (llmi_dtype_parse(optarg, &in_dt) || in_dt == LLMI_DTYPE_F16) {
				  fprintf(stderr, "compression_analysis: --dtype %s: use f32 or bf16\n", optarg);
				  return 2;
			  }
			  have_dt = true;
			  break;
		case 'S': tokens = strtoull(optarg, &end, 10);
			  if (*end != 'x' || !tokens) goto bad;
			  hidden = strtoull(end + 1, &end, 10);
			  if (*end || !hidden) goto bad;
			  have_shape = true;
			  break;
		case 'h': usage(stdout); return 0;
		case 'M': massive = false; break;
		case 'P': if (!strcmp(optarg, "portable"))
				  codec_simd_limit(SIMD_NONE);
			  else if (!strcmp(optarg, "avx2"))
				  codec_simd_limit(SIMD_AVX2);
			  else if (strcmp(optarg, "avx512"))
				  goto bad;
			  break;
		default: goto bad;
		}
	}
	if (optind != argc)
		goto bad;
	if (tokens > (1ull << 40) / hidden) {
		fprintf(stderr, "compression_analysis: %llu x %llu is too large\n",
			(unsigned long long)tokens, (unsigned long long)hidden);
		return 2;
	}

	struct tensor *f32, *b16;
	int nt;
	bool have_f32 = true, have_b16 = true;
	e4m3_init();
	blosc_init();
	if (input) {
		if (!have_dt || !have_shape) {
			fprintf(stderr, "compression_analysis: --input needs --dtype and --shape TOKENSxHIDDEN\n");
			return 2;
		}
		FILE *f = fopen(input, "rb");
		if (!f) {
			fprintf(stderr, "compression_analysis: cannot open %s: %s\n", input, strerror(errno));
			return 1;
		}
		size_t es = llmi_dtype_size(in_dt), n = tokens * hidden;
		fseek(f, 0, SEEK_END);
		long sz = ftell(f);
		rewind(f);
		if (sz < 0 || (size_t)sz != n * es) {
			fprintf(stderr, "compression_analysis: %s has %ld bytes, --shape %llux%llu of %s needs %zu\n",
				input, sz, (unsigned long long)tokens, (unsigned long long)hidden,
				llmi_dtype_name(in_dt), n * es);
			fclose(f);
			return 2;
		}
		nt = 1;
		f32 = calloc(1, sizeof(*f32));
		b16 = calloc(1, sizeof(*b16));
		struct tensor *t = in_dt == LLMI_DTYPE_F32 ? f32 : b16;
		t->data = malloc(n * es);
		t->n = n;
		if (!t->data || fread(t->data, 1, n * es, f) != n * es) {
			fprintf(stderr, "compression_analysis: cannot read %s\n", input);
			return 1;
		}
		fclose(f);
		moments(t, in_dt);
		t->bulk_sigma = t->sigma;
		have_f32 = in_dt == LLMI_DTYPE_F32;
		have_b16 = !have_f32;
	} else {
		nt = layers;
		f32 = calloc(nt, sizeof(*f32));
		b16 = calloc(nt, sizeof(*b16));
		if (!f32 || !b16 || build_suite(f32, b16, nt, tokens, hidden, bulk_kind, massive)) {
			fprintf(stderr, "compression_analysis: out of memory building the suite\n");
			return 1;
		}
	}

	int err = 0;
	for (int pass = 0; pass < 2 && !err; pass++) {
		bool isb = pass == 1;
		if ((isb && !have_b16) || (!isb && !have_f32))
			continue;
		struct tensor *ts = isb ? b16 : f32;
		enum llmi_dtype dt = isb ? LLMI_DTYPE_BF16 : LLMI_DTYPE_F32;
		const char *dn = llmi_dtype_name(dt);

		err = err ?: run_gp(new_case("zstd -1", dn, NULL), GP_ZSTD1, ts, nt, dt);
		err = err ?: run_gp(new_case("zstd -3", dn, NULL), GP_ZSTD3, ts, nt, dt);
		err = err ?: run_gp(new_case("lz4", dn, NULL), GP_LZ4, ts, nt, dt);
		err = err ?: run_gp(new_case("blosc zstd", dn, "shuffle, clevel 5"), GP_BLOSC, ts, nt, dt);
		if (!isb)
			err = err ?: run_trunc(new_case("bf16 trunc", dn, NULL), false, ts, nt, dt);
		err = err ?: run_trunc(new_case("fp8 e4m3", dn, "per-tensor scale"), true, ts, nt, dt);
		err = err ?: run_blockpack(new_case("blockpack", dn, "nmse=1e-3 step, 32-code blocks"),
					   ts, nt, dt, 1e-3);
		err = err ?: run_ours(new_case("ours nmse", dn, "quant:nmse=1e-3"), "quant:nmse=1e-3",
				      ts, nt, dt, tokens, hidden, INFINITY);
		err = err ?: run_ours(new_case("ours nmse+cm", dn, "quant:nmse=1e-3,chanmean"),
				      "quant:nmse=1e-3,chanmean", ts, nt, dt, tokens, hidden, INFINITY);
		err = err ?: run_ours(new_case("ours nmse+cm+pr", dn, "quant:nmse=1e-3,chanmean,predict"),
				      "quant:nmse=1e-3,chanmean,predict", ts, nt, dt, tokens, hidden, INFINITY);
		err = err ?: run_ours(new_case("ours mse s<=1", dn, "quant:mse=1e-3, sigma<=1 layers"),
				      "quant:mse=1e-3", ts, nt, dt, tokens, hidden, 1.0);
		err = err ?: run_ours(new_case("ours mse+cm s<=1", dn, "quant:mse=1e-3,chanmean, sigma<=1"),
				      "quant:mse=1e-3,chanmean", ts, nt, dt, tokens, hidden, 1.0);
		err = err ?: run_ours(new_case("ours lossless", dn, "lossless"), "lossless", ts, nt, dt,
				      tokens, hidden, INFINITY);
	}
	if (err) {
		fprintf(stderr, "compression_analysis: a method failed to run: %s\n", strerror(-err));
		return 1;
	}

	/* Headline: the best of our nmse variants, per dtype. */
	struct acc *on_f = find("ours nmse", "f32"), *on_b = find("ours nmse", "bf16");
	struct acc *cm_f = find("ours nmse+cm", "f32"), *cm_b = find("ours nmse+cm", "bf16");
	struct acc *pr_f = find("ours nmse+cm+pr", "f32"), *pr_b = find("ours nmse+cm+pr", "bf16");
	struct acc *z1_f = find("zstd -1", "f32");
	struct acc *ms_b = find("ours mse s<=1", "bf16"), *msc_b = find("ours mse+cm s<=1", "bf16");
	struct acc *ll_f = find("ours lossless", "f32"), *ll_b = find("ours lossless", "bf16");
	struct acc *zz_f = find("zstd -3", "f32"), *zz_b = find("zstd -3", "bf16");
	struct acc *best_f = cm_f && ratio(cm_f) > ratio(on_f) ? cm_f : on_f;
	struct acc *best_b = cm_b && ratio(cm_b) > ratio(on_b) ? cm_b : on_b;
	struct acc *best_ms = msc_b && ms_b && ratio(msc_b) > ratio(ms_b) ? msc_b : ms_b;
	double cg_f = on_f && cm_f ? ratio(cm_f) / ratio(on_f) - 1 : NAN;
	double cg_b = on_b && cm_b ? ratio(cm_b) / ratio(on_b) - 1 : NAN;
	double pg_f = cm_f && pr_f ? ratio(pr_f) / ratio(cm_f) - 1 : NAN;
	double pg_b = cm_b && pr_b ? ratio(pr_b) / ratio(cm_b) - 1 : NAN;
	/* Speed over every tensor both dtypes, fp32 figures are the target's. */
	double cgb = best_f ? gbps(best_f->raw, best_f->tc) : 0, dgb = best_f ? gbps(best_f->raw, best_f->td) : 0;
	double z1 = z1_f ? gbps(z1_f->raw, z1_f->tc) : 0;
	double max_nmse = 0, ent_over = 0;
	for (int i = 0; i < ncases; i++)
		if (!strncmp(cases[i].method, "ours nmse", 9) && cases[i].max_nmse > max_nmse)
			max_nmse = cases[i].max_nmse;
	if (best_f && best_f->ent_bits > 0)
		ent_over = best_f->coded_bits / best_f->ent_bits - 1;
	double ent_over_b = best_b && best_b->ent_bits > 0 ? best_b->coded_bits / best_b->ent_bits - 1 : 0;

	struct { const char *what; bool ok; bool have; } tg[] = {
		{ "ratio >= 3.0x on bf16 at nmse <= 1e-3", best_b && ratio(best_b) >= 3.0 && best_b->max_nmse <= 1e-3, best_b != NULL },
		{ "ratio >= 6x on fp32 at nmse <= 1e-3", best_f && ratio(best_f) >= 6.0 && best_f->max_nmse <= 1e-3, best_f != NULL },
		{ "mse <= 1e-3 at >= 3x on bf16, sigma <= 1", best_ms && best_ms->tensors && ratio(best_ms) >= 3.0 &&
			best_ms->sse / best_ms->nfin <= 1e-3, best_ms && best_ms->tensors },
		{ "coder within 5% of the code entropy", ent_over <= 0.05 && ent_over_b <= 0.05, best_f && best_b },
		{ "compress >= 1 GB/s of fp32 per core", cgb >= 1.0, best_f != NULL },
		{ "decompress >= 2 GB/s per core", dgb >= 2.0, best_f != NULL },
		{ "compress >= 2x zstd -1's speed", z1 > 0 && cgb >= 2 * z1, best_f && z1_f },
		{ "lossless beats zstd -3", (!ll_f || ratio(ll_f) > ratio(zz_f)) && (!ll_b || ratio(ll_b) > ratio(zz_b)),
			(ll_f && zz_f) || (ll_b && zz_b) },
	};
	int ntg = sizeof(tg) / sizeof(tg[0]);

	if (!json_path || strcmp(json_path, "-")) {

		printf("compression_analysis: %s%s, %d tensor(s) of %llux%llu, 1 thread, %s (CPU)\n",
		       input ? input : "seeded suite", input || massive ? "" : " without massive values", nt, (unsigned long long)tokens, (unsigned long long)hidden,
		       simd_name());
		printf("%-17s %-4s %7s %9s %9s %9s %6s %6s\n", "method", "type", "ratio", "MSE", "max NMSE",
		       "max err", "comp", "decomp");
		printf("%-17s %-4s %7s %9s %9s %9s %6s %6s\n", "", "", "x", "", "", "", "GB/s", "GB/s");
		for (int i = 0; i < ncases; i++) {
			struct acc *a = &cases[i];
			if (!a->tensors)
				continue;
			printf("%-17s %-4s %7.3f %9.3g %9.3g %9.3g %6.2f %6.2f\n", a->method, a->dtype, ratio(a),
			       a->nfin ? a->sse / a->nfin : 0, a->max_nmse, a->maxerr, gbps(a->raw, a->tc),
			       gbps(a->raw, a->td));
		}
		if (ms_b)
			printf("\n'mse s<=1' rows: the %d of %d tensors whose standard deviation is <= 1\n",
			       ms_b->tensors, nt);
		printf("code entropy vs coded size (ours, nmse=1e-3): f32 %+.2f%%, bf16 %+.2f%%\n",
		       100 * ent_over, 100 * ent_over_b);
		printf("chanmean gain: f32 %+.1f%%, bf16 %+.1f%%; predict (on top): f32 %+.1f%%, bf16 %+.1f%%\n",
		       100 * cg_f, 100 * cg_b, 100 * pg_f, 100 * pg_b);
		printf("compress %.2f GB/s/core = %.2fx zstd -1 (%.2f GB/s); decompress %.2f GB/s/core\n",
		       cgb, z1 > 0 ? cgb / z1 : 0, z1, dgb);
		printf("\ntargets:\n");
		for (int i = 0; i < ntg; i++)
			printf("  %-4s %s\n", !tg[i].have ? "n/a" : tg[i].ok ? "PASS" : "FAIL", tg[i].what);
	}
	if (json_path) {
		fflush(stdout);
		if (strcmp(json_path, "-") && !freopen(json_path, "w", stdout)) {
			fprintf(stderr, "compression_analysis: cannot write %s: %s\n", json_path, strerror(errno));
			return 1;
		}
		printf("{\"benchmark\": \"compression_analysis\", \"env\": {\"cpu_simd\": \"%s\", "
		       "\"threads\": 1, \"massive_values\": %s, \"source\": \"%s\", \"layers\": %d, \"tokens\": %llu, \"hidden\": %llu, "
		       "\"zstd\": \"%s\", \"lz4\": \"%s\", \"blosc\": \"%s\"},\n \"cases\": [",
		       simd_name(),
		       massive && !input ? "true" : "false", input ? input : "suite", nt, (unsigned long long)tokens, (unsigned long long)hidden,
		       ZSTD_versionString(), LZ4_versionString(), BLOSC_VERSION_STRING);
		for (int i = 0; i < ncases; i++) {
			struct acc *a = &cases[i];
			double mse = a->nfin ? a->sse / a->nfin : 0;
			printf("%s\n  {\"method\": \"%s\", \"dtype\": \"%s\", \"note\": \"%s\", \"tensors\": %d, "
			       "\"raw_bytes\": %.0f, \"stored_bytes\": %.0f, \"ratio\": %.4f, \"mse\": %.6g, "
			       "\"max_nmse\": %.6g, \"max_abs_err\": %.6g, \"compress_gbps_per_core\": %.4f, "
			       "\"decompress_gbps_per_core\": %.4f",
			       i ? "," : "", a->method, a->dtype, a->note ? a->note : "", a->tensors, a->raw,
			       a->stored, ratio(a), mse, a->max_nmse, a->maxerr, gbps(a->raw, a->tc),
			       gbps(a->raw, a->td));
			if (a->ent_bits > 0)
				printf(", \"code_entropy_bytes\": %.0f, \"coded_bytes\": %.0f, \"coder_overhead\": %.5f",
				       a->ent_bits / 8, a->coded_bits / 8, a->coded_bits / a->ent_bits - 1);
			printf("}");
		}
		printf("],\n \"summary\": {\"ratio_bf16\": %.4f, \"ratio_f32\": %.4f, \"headline_spec_f32\": \"%s\", "
		       "\"headline_spec_bf16\": \"%s\", \"compress_gbps_per_core\": %.4f, "
		       "\"decompress_gbps_per_core\": %.4f, \"zstd1_compress_gbps_per_core\": %.4f, "
		       "\"speed_vs_zstd1\": %.3f, \"max_nmse\": %.6g, \"coder_overhead_f32\": %.5f, "
		       "\"coder_overhead_bf16\": %.5f, \"chanmean_gain_f32\": %.4f, \"chanmean_gain_bf16\": %.4f, "
		       "\"predict_gain_f32\": %.4f, \"predict_gain_bf16\": %.4f, \"mse_sigma_le1_ratio_bf16\": %.4f, "
		       "\"lossless_ratio_f32\": %.4f, \"lossless_ratio_bf16\": %.4f, \"targets\": {",
		       best_b ? ratio(best_b) : 0, best_f ? ratio(best_f) : 0,
		       best_f ? best_f->note : "", best_b ? best_b->note : "", cgb, dgb, z1,
		       z1 > 0 ? cgb / z1 : 0, max_nmse, ent_over, ent_over_b, cg_f, cg_b, pg_f, pg_b,
		       best_ms ? ratio(best_ms) : 0, ll_f ? ratio(ll_f) : 0, ll_b ? ratio(ll_b) : 0);
		for (int i = 0; i < ntg; i++)
			printf("%s\"%s\": \"%s\"", i ? ", " : "", tg[i].what,
			       !tg[i].have ? "n/a" : tg[i].ok ? "pass" : "fail");
		printf("}}}\n");
		return fflush(stdout) ? 1 : 0;
	}
	return 0;
bad:
	usage(stderr);
	return 2;
}
