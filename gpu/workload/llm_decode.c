// SPDX-License-Identifier: MIT
/*
 * llm_decode: a transformer decode loop, the workload the tracer and the
 * benchmarks run. One host loop for both builds: linked with kernels_sim.c
 * against the stand-in runtime (build/bin/llm_decode) and with kernels.cu
 * against NVIDIA's (build/bin/llm_decode_cuda, nvcc -cudart shared).
 *
 * Each token: the position goes up H2D (pinned), the token's embedding row is
 * copied D2D into the hidden state, then per layer RMSNorm, QKV GEMV, RoPE,
 * KV-cache append, attention over the cache, output GEMV, residual add,
 * RMSNorm, gate/up GEMV, SiLU*up, down GEMV, residual add; then final norm,
 * logits GEMV, argmax, and the argmax comes back D2H: it is the next token.
 * The layers-to-argmax part reads the position from device memory, so with
 * --graphs it is captured once and replayed each token with cudaGraphLaunch.
 *
 * --truth writes what was asked of the GPU from the start of the timed
 * decode, counted here at each call (each graph replay counts the kernels it
 * holds): the reference a tracer's counts must equal.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "kernels.h"

struct opts {
	int layers, hidden, heads, ffn, vocab, tokens, repeat;
	unsigned long long seed;
	bool graphs, quiet;
	const char *truth, *wait_file;
};

struct truth {
	uint64_t kernels[K_COUNT];
	uint64_t cpy_calls[3], cpy_bytes[3];	/* h2d, d2h, d2d */
	uint64_t set_calls, set_bytes;
	uint64_t graph_launches, per_graph;
	uint64_t tokens;
	double seconds;
};

enum { H2D, D2H, D2D };

struct model {
	float *emb, *wout, *final_norm;
	float **attn_norm, **wqkv, **wo, **mlp_norm, **wgu, **wdown;
	float *kcache, *vcache;			/* one allocation: [2][layers][max_seq][hidden] */
	float *x, *h, *qkv, *att, *o, *gu, *a, *logits;
	int *d_pos, *d_tok;
	int *h_pos, *h_tok;			/* pinned */
	size_t max_seq;
};

static const char *const kernel_names[K_COUNT] = KERNEL_NAMES;
static volatile sig_atomic_t stop;
static uint64_t *count_into;		/* truth.kernels, or the graph's own tally while capturing */

static void on_signal(int sig)
{
	stop = 1;
}

#define CK(call)							\
	do {								\
		cudaError_t e_ = (call);				\
		if (e_ != cudaSuccess) {				\
			fprintf(stderr, "llm_decode: %s failed: %s (%s)\n", #call, \
				cudaGetErrorString(e_), cudaGetErrorName(e_)); \
			return -EIO;					\
		}							\
	} while (0)

#define CU(call)							\
	do {								\
		CUresult r_ = (call);					\
		if (r_ != CUDA_SUCCESS) {				\
			const char *n_ = NULL;				\
			cuGetErrorName(r_, &n_);			\
			fprintf(stderr, "llm_decode: %s failed: %s\n", #call, \
				n_ ? n_ : "unknown CUresult");		\
			return -EIO;					\
		}							\
	} while (0)

/* ---- driver-API GEMVs, loaded at first use like cuBLAS's kernels ---- */

static CUfunction gemv_fn, lm_head_fn;

static int gemv(cudaStream_t s, float *y, const float *w, const float *x, int rows, int cols)
{
	void *args[] = { &y, &w, &x, &rows, &cols };

	if (!gemv_fn) {
		CUlibrary lib;
		CUkernel k;

		CU(cuLibraryLoadData(&lib, gemv_image(), NULL, NULL, 0, NULL, NULL, 0));
		CU(cuLibraryGetKernel(&k, lib, GEMV_SYMBOL));
		CU(cuKernelGetFunction(&gemv_fn, k));
	}
	CU(cuLaunchKernel(gemv_fn, (rows + GEMV_BLOCK - 1) / GEMV_BLOCK, 1, 1, GEMV_BLOCK, 1, 1,
			  0, (CUstream)s, args, NULL));
	count_into[K_GEMV]++;
	return 0;
}

static int lm_head(cudaStream_t s, float *y, const float *w, const float *x, int rows, int cols)
{
	void *args[] = { &y, &w, &x, &rows, &cols };
	CUlaunchConfig cfg;

	if (!lm_head_fn) {
		CUmodule mod;

		CU(cuModuleLoadData(&mod, gemv_image()));
		CU(cuModuleGetFunction(&lm_head_fn, mod, LM_HEAD_SYMBOL));
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.gridDimX = (rows + GEMV_BLOCK - 1) / GEMV_BLOCK;
	cfg.gridDimY = cfg.gridDimZ = 1;
	cfg.blockDimX = GEMV_BLOCK;
	cfg.blockDimY = cfg.blockDimZ = 1;
	cfg.hStream = (CUstream)s;
	CU(cuLaunchKernelEx(&cfg, lm_head_fn, args, NULL));
	count_into[K_LM_HEAD]++;
	return 0;
}

#define RT(id, call)							\
	do {								\
		CK(call);						\
		count_into[id]++;					\
	} while (0)

/* ---- model ---- */

static uint64_t rng_state;

static float frand(void)
{
	/* splitmix64: the same weights from the same seed on every machine */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	z ^= z >> 31;
	return (float)((z >> 40) * (1.0 / 16777216.0)) * 2.f - 1.f;
}

static int upload(float **dptr, size_t n, float scale, float offset)
{
	float *h = malloc(n * sizeof(float));
	size_t i;

	if (!h) {
		fprintf(stderr, "llm_decode: out of host memory for %zu weights\n", n);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++)
		h[i] = offset + scale * frand();
	if (cudaMalloc((void **)dptr, n * sizeof(float)) != cudaSuccess ||
	    cudaMemcpy(*dptr, h, n * sizeof(float), cudaMemcpyHostToDevice) != cudaSuccess) {
		fprintf(stderr, "llm_decode: cannot upload %zu weights: %s\n", n,
			cudaGetErrorString(cudaGetLastError()));
		free(h);
		return -EIO;
	}
	free(h);
	return 0;
}

static int dalloc(void *p, size_t bytes)
{
	CK(cudaMalloc((void **)p, bytes));
	return 0;
}

static int model_init(struct model *m, const struct opts *o)
{
	size_t H = o->hidden, F = o->ffn, L = o->layers;
	float ws = 1.f / sqrtf((float)H), fs = 1.f / sqrtf((float)F);
	int err = 0;
	size_t l;

	rng_state = o->seed;
	m->max_seq = o->tokens;
	m->attn_norm = calloc(L, sizeof(float *));
	m->wqkv = calloc(L, sizeof(float *));
	m->wo = calloc(L, sizeof(float *));
	m->mlp_norm = calloc(L, sizeof(float *));
	m->wgu = calloc(L, sizeof(float *));
	m->wdown = calloc(L, sizeof(float *));
	if (!m->attn_norm || !m->wqkv || !m->wo || !m->mlp_norm || !m->wgu || !m->wdown)
		return -ENOMEM;
	err = err ?: upload(&m->emb, (size_t)o->vocab * H, 1.f, 0.f);
	err = err ?: upload(&m->wout, (size_t)o->vocab * H, ws, 0.f);
	err = err ?: upload(&m->final_norm, H, 0.1f, 1.f);
	for (l = 0; l < L && !err; l++) {
		err = err ?: upload(&m->attn_norm[l], H, 0.1f, 1.f);
		err = err ?: upload(&m->wqkv[l], 3 * H * H, ws, 0.f);
		err = err ?: upload(&m->wo[l], H * H, ws, 0.f);
		err = err ?: upload(&m->mlp_norm[l], H, 0.1f, 1.f);
		err = err ?: upload(&m->wgu[l], 2 * F * H, ws, 0.f);
		err = err ?: upload(&m->wdown[l], H * F, fs, 0.f);
	}
	if (err)
		return err;
	err = err ?: dalloc(&m->kcache, 2 * L * m->max_seq * H * sizeof(float));
	m->vcache = m->kcache + L * m->max_seq * H;
	err = err ?: dalloc(&m->x, H * sizeof(float));
	err = err ?: dalloc(&m->h, H * sizeof(float));
	err = err ?: dalloc(&m->qkv, 3 * H * sizeof(float));
	err = err ?: dalloc(&m->att, H * sizeof(float));
	err = err ?: dalloc(&m->o, H * sizeof(float));
	err = err ?: dalloc(&m->gu, 2 * F * sizeof(float));
	err = err ?: dalloc(&m->a, F * sizeof(float));
	err = err ?: dalloc(&m->logits, (size_t)o->vocab * sizeof(float));
	err = err ?: dalloc(&m->d_pos, sizeof(int));
	err = err ?: dalloc(&m->d_tok, sizeof(int));
	if (err)
		return err;
	CK(cudaHostAlloc((void **)&m->h_pos, sizeof(int), cudaHostAllocDefault));
	CK(cudaHostAlloc((void **)&m->h_tok, sizeof(int), cudaHostAllocDefault));
	return 0;
}

/* The host side of the model; its device buffers end with the process. */
static void model_free_host(struct model *m)
{
	free(m->attn_norm);
	free(m->wqkv);
	free(m->wo);
	free(m->mlp_norm);
	free(m->wgu);
	free(m->wdown);
}

/* Layers, final norm, logits, argmax: position-independent (reads d_pos). */
static int body(const struct model *m, const struct opts *o, cudaStream_t s)
{
	int H = o->hidden, F = o->ffn, hd = o->hidden / o->heads, l;
	size_t layer_kv = m->max_seq * (size_t)H;

	for (l = 0; l < o->layers; l++) {
		float *kc = m->kcache + l * layer_kv, *vc = m->vcache + l * layer_kv;

		RT(K_RMSNORM, k_rmsnorm(s, m->h, m->x, m->attn_norm[l], H, 1e-5f));
		if (gemv(s, m->qkv, m->wqkv[l], m->h, 3 * H, H))
			return -EIO;
		RT(K_ROPE, k_rope(s, m->qkv, m->d_pos, o->heads, hd));
		RT(K_KV_APPEND, k_kv_append(s, kc, vc, m->qkv, m->d_pos, H));
		RT(K_ATTENTION, k_attention(s, m->att, m->qkv, kc, vc, m->d_pos, o->heads, hd));
		if (gemv(s, m->o, m->wo[l], m->att, H, H))
			return -EIO;
		RT(K_RESIDUAL, k_residual(s, m->x, m->o, H));
		RT(K_RMSNORM, k_rmsnorm(s, m->h, m->x, m->mlp_norm[l], H, 1e-5f));
		if (gemv(s, m->gu, m->wgu[l], m->h, 2 * F, H))
			return -EIO;
		RT(K_SILU_MUL, k_silu_mul(s, m->a, m->gu, F));
		if (gemv(s, m->o, m->wdown[l], m->a, H, F))
			return -EIO;
		RT(K_RESIDUAL, k_residual(s, m->x, m->o, H));
	}
	RT(K_RMSNORM, k_rmsnorm(s, m->h, m->x, m->final_norm, H, 1e-5f));
	if (lm_head(s, m->logits, m->wout, m->h, o->vocab, H))
		return -EIO;
	RT(K_ARGMAX, k_argmax(s, m->d_tok, m->logits, o->vocab));
	return 0;
}

static void count_copy(struct truth *t, int dir, size_t bytes)
{
	t->cpy_calls[dir]++;
	t->cpy_bytes[dir] += bytes;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int decode(struct model *m, const struct opts *o, cudaStream_t s, struct truth *t,
		  FILE *tokens_out)
{
	size_t H = o->hidden, kv_bytes = 2 * (size_t)o->layers * m->max_seq * H * sizeof(float);
	cudaGraphExec_t exec = NULL;
	cudaGraph_t graph = NULL;
	uint64_t graph_tally[K_COUNT] = { 0 };
	int rep, pos, tok, k, err = 0;
	double t0 = now_s();

	count_into = t->kernels;
	if (o->graphs) {
		count_into = graph_tally;
		CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
		err = body(m, o, s);
		if (err) {
			cudaStreamEndCapture(s, &graph);
			return err;
		}
		CK(cudaStreamEndCapture(s, &graph));
		CK(cudaGraphInstantiate(&exec, graph, 0));
		count_into = t->kernels;
		for (k = 0; k < K_COUNT; k++)
			t->per_graph += graph_tally[k];
	}
	for (rep = 0; rep < o->repeat && !stop && !err; rep++) {
		CK(cudaMemsetAsync(m->kcache, 0, kv_bytes, s));
		t->set_calls++;
		t->set_bytes += kv_bytes;
		tok = 1;
		for (pos = 0; pos < o->tokens && !stop; pos++) {
			*m->h_pos = pos;
			CK(cudaMemcpyAsync(m->d_pos, m->h_pos, sizeof(int), cudaMemcpyHostToDevice, s));
			count_copy(t, H2D, sizeof(int));
			CK(cudaMemcpyAsync(m->x, m->emb + (size_t)tok * H, H * sizeof(float),
					   cudaMemcpyDeviceToDevice, s));
			count_copy(t, D2D, H * sizeof(float));
			if (exec) {
				CK(cudaGraphLaunch(exec, s));
				t->graph_launches++;
				for (k = 0; k < K_COUNT; k++)
					t->kernels[k] += graph_tally[k];
			} else if ((err = body(m, o, s))) {
				break;
			}
			CK(cudaMemcpyAsync(m->h_tok, m->d_tok, sizeof(int), cudaMemcpyDeviceToHost, s));
			count_copy(t, D2H, sizeof(int));
			CK(cudaStreamSynchronize(s));
			tok = *m->h_tok;
			if (tok < 0 || tok >= o->vocab) {
				fprintf(stderr, "llm_decode: argmax returned token %d outside the "
					"vocabulary of %d\n", tok, o->vocab);
				return -EIO;
			}
			t->tokens++;
			if (t->tokens == 1)	/* what a test waits for, rather than a time */
				fprintf(stderr, "llm_decode: decoding (first token out)\n");
			if (tokens_out)
				fprintf(tokens_out, "%s%d", pos ? " " : "", tok);
		}
		if (tokens_out && rep == 0)
			fputc('\n', tokens_out);
		tokens_out = NULL;	/* the token sequence once: repeats give the same */
	}
	t->seconds = now_s() - t0;
	if (exec)
		cudaGraphExecDestroy(exec);
	if (graph)
		cudaGraphDestroy(graph);
	return err;
}

static int write_truth(const char *path, const struct truth *t)
{
	static const char *const dir[3] = { "h2d", "d2h", "d2d" };
	uint64_t launches = 0;
	FILE *f = fopen(path, "w");
	int k;

	if (!f) {
		fprintf(stderr, "llm_decode: cannot write --truth %s: %s\n", path, strerror(errno));
		return -errno;
	}
	for (k = 0; k < K_COUNT; k++)
		launches += t->kernels[k];
	fprintf(f, "{\n  \"kernels\": {");
	for (k = 0; k < K_COUNT; k++)
		fprintf(f, "%s\n    \"%s\": %llu", k ? "," : "", kernel_names[k],
			(unsigned long long)t->kernels[k]);
	fprintf(f, "\n  },\n  \"launches\": %llu,\n  \"memcpy\": {", (unsigned long long)launches);
	for (k = 0; k < 3; k++)
		fprintf(f, "%s\n    \"%s\": {\"calls\": %llu, \"bytes\": %llu}", k ? "," : "",
			dir[k], (unsigned long long)t->cpy_calls[k],
			(unsigned long long)t->cpy_bytes[k]);
	fprintf(f, "\n  },\n  \"memset\": {\"calls\": %llu, \"bytes\": %llu},\n",
		(unsigned long long)t->set_calls, (unsigned long long)t->set_bytes);
	fprintf(f, "  \"graphs\": {\"launches\": %llu, \"kernels_per_launch\": %llu},\n",
		(unsigned long long)t->graph_launches, (unsigned long long)t->per_graph);
	fprintf(f, "  \"tokens\": %llu,\n  \"tokens_per_s\": %.3f\n}\n",
		(unsigned long long)t->tokens, t->seconds > 0 ? t->tokens / t->seconds : 0.0);
	if (fclose(f)) {
		fprintf(stderr, "llm_decode: cannot write --truth %s: %s\n", path, strerror(errno));
		return -EIO;
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
"Usage: llm_decode [options]\n"
"Greedy decode with a random-weight transformer on the CUDA runtime it is\n"
"linked with (build/bin/llm_decode: the CPU stand-in in build/sim).\n"
"\n"
"  --layers N      transformer layers (default 4)\n"
"  --hidden N      hidden size, a multiple of 2*heads (default 256)\n"
"  --heads N       attention heads (default 4)\n"
"  --ffn N         MLP inner size (default 688)\n"
"  --vocab N       vocabulary size (default 2048)\n"
"  --tokens N      tokens to decode (default 512)\n"
"  --repeat N      decode the sequence N times (default 1)\n"
"  --seed N        weight seed (default 1)\n"
"  --graphs        capture the layers once, replay with cudaGraphLaunch\n"
"  --truth FILE    write what was launched and copied, as JSON\n"
"  --wait-file P   after set-up, wait until P exists, then decode\n"
"  -q, --quiet     do not print the tokens on stdout\n"
"  -h, --help      this text\n"
"\n"
"Prints the token ids on stdout, tokens/s and a summary on stderr; on\n"
"stderr too, as they happen (for scripts to wait on): 'set up; waiting for\n"
"P' (--wait-file) and 'decoding (first token out)'.\n"
"SIGINT/SIGTERM stop after the current token; --truth is still written.\n"
"\n"
"Examples:\n"
"  llm_decode --truth truth.json\n"
"  llm_decode --graphs --layers 8 --hidden 1024 --ffn 2816 --tokens 64\n");
}

static int parse_int(const char *opt, const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = s ? strtol(s, &end, 10) : 0;
	if (!s || errno || end == s || *end || v < min || v > max) {
		fprintf(stderr, "llm_decode: %s needs an integer in [%ld, %ld], got '%s'\n", opt,
			min, max, s ? s : "");
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct { const char *name; int *dst; long min, max; } ints[] = {
		{ "--layers", NULL, 1, 256 }, { "--hidden", NULL, 2, 65536 },
		{ "--heads", NULL, 1, 1024 }, { "--ffn", NULL, 1, 262144 },
		{ "--vocab", NULL, 2, 1 << 22 }, { "--tokens", NULL, 1, 1 << 20 },
		{ "--repeat", NULL, 1, 1 << 30 },
	};
	int *dst[] = { &o->layers, &o->hidden, &o->heads, &o->ffn, &o->vocab, &o->tokens,
		       &o->repeat };
	int i;
	size_t k;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		long v;

		for (k = 0; k < sizeof(ints) / sizeof(ints[0]); k++)
			if (!strcmp(a, ints[k].name))
				break;
		if (k < sizeof(ints) / sizeof(ints[0])) {
			const char *val = ++i < argc ? argv[i] : NULL;

			if (parse_int(a, val, ints[k].min, ints[k].max, &v))
				return -EINVAL;
			*dst[k] = (int)v;
		} else if (!strcmp(a, "--seed")) {
			char *end;

			errno = 0;
			if (++i >= argc || (o->seed = strtoull(argv[i], &end, 0), errno) ||
			    end == argv[i] || *end || argv[i][0] == '-') {
				fprintf(stderr, "llm_decode: --seed needs a non-negative integer\n");
				return -EINVAL;
			}
		} else if (!strcmp(a, "--graphs")) {
			o->graphs = true;
		} else if (!strcmp(a, "--truth") || !strcmp(a, "--wait-file")) {
			if (++i >= argc || !argv[i][0]) {
				fprintf(stderr, "llm_decode: %s needs a path\n", a);
				return -EINVAL;
			}
			*(a[2] == 't' ? &o->truth : &o->wait_file) = argv[i];
		} else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
			o->quiet = true;
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			exit(0);
		} else {
			fprintf(stderr, "llm_decode: unknown option '%s' (--help lists them)\n", a);
			return -EINVAL;
		}
	}
	if (o->hidden % (2 * o->heads)) {
		fprintf(stderr, "llm_decode: --hidden %d is not a multiple of 2 * --heads %d\n",
			o->hidden, o->heads);
		return -EINVAL;
	}
	if (o->hidden / o->heads > 1024) {
		fprintf(stderr, "llm_decode: head size %d is over 1024; raise --heads\n",
			o->hidden / o->heads);
		return -EINVAL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = {
		.layers = 4, .hidden = 256, .heads = 4, .ffn = 688, .vocab = 2048,
		.tokens = 512, .repeat = 1, .seed = 1,
	};
	struct truth t;
	struct model m;
	struct sigaction sa;
	cudaStream_t s;
	int err;

	memset(&t, 0, sizeof(t));
	memset(&m, 0, sizeof(m));
	if (parse_args(argc, argv, &o))
		return 2;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	if (cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) != cudaSuccess) {
		fprintf(stderr, "llm_decode: no CUDA device: %s\n",
			cudaGetErrorString(cudaGetLastError()));
		return 1;
	}
	if (cuInit(0) != CUDA_SUCCESS) {
		fprintf(stderr, "llm_decode: cuInit failed: is libcuda.so.1 the right driver?\n");
		return 1;
	}
	if ((err = model_init(&m, &o))) {
		model_free_host(&m);
		return 1;
	}
	if (o.wait_file) {
		fprintf(stderr, "llm_decode: set up; waiting for %s\n", o.wait_file);
		while (access(o.wait_file, F_OK) && !stop)
			usleep(10000);
	}
	err = decode(&m, &o, s, &t, o.quiet ? NULL : stdout);
	fflush(stdout);
	model_free_host(&m);
	if (o.truth && write_truth(o.truth, &t))
		err = err ?: -EIO;
	fprintf(stderr, "llm_decode: %llu tokens in %.3f s, %.1f tokens/s (%d layers, hidden %d, "
		"ffn %d, vocab %d%s)\n", (unsigned long long)t.tokens, t.seconds,
		t.seconds > 0 ? t.tokens / t.seconds : 0.0, o.layers, o.hidden, o.ffn, o.vocab,
		o.graphs ? ", graphs" : "");
	return err ? 1 : 0;
}
