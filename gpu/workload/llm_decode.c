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
 * A sequence starts from a prompt (--prompt N, default the one token 1; the
 * rest drawn from the seed). Fed one token per step it goes through the
 * decode path; with --prefill N it goes through the same kernels as one
 * batch of N rows in one step, as an engine's prefill (and activation
 * caching) does: a GEMM for each linear layer, attention over the N
 * positions with the causal mask, the KV cache filled for all N. Both give
 * the same tokens, and the same hidden states up to rounding.
 *
 * Tensors for llminstr's agent: when libllminstr.so is in the process
 * (preloaded by llminstr-trace -- CMD, or by the environment), each layer's
 * attention output (blk.L.attn_out, before the residual add), MLP output
 * (blk.L.mlp_out) and residual stream after the layer (blk.L.resid), and
 * the last row's logits, are handed to llminstr_capture() on the kernels'
 * stream, right after the launch that produced each; llminstr_step() marks
 * each step. The agent is found with dlsym at start, never linked: without
 * it nothing here calls it and the run is what it always was.
 * --reference-dir also reads every such tensor back (after a stream sync)
 * into DIR/NAME.STEP.f32, the raw copy that captures are checked against.
 *
 * --truth writes what was asked of the GPU from the start of the timed
 * decode, counted here at each call (each graph replay counts the kernels it
 * holds): the reference a tracer's counts must equal.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
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
#include "agent/llminstr.h"
#include "kernels.h"

struct opts {
	int layers, hidden, heads, ffn, vocab, tokens, repeat;
	int prompt;		/* prompt tokens (--prompt or --prefill) */
	bool prefill;		/* the prompt as one batch */
	unsigned long long seed;
	bool graphs, quiet;
	const char *truth, *wait_file, *ref_dir;
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
	float *x, *h, *qkv, *att, *o, *gu, *a, *logits;	/* [rows][...], logits [vocab] */
	int *d_pos, *d_tok;
	int *h_pos, *h_tok;			/* pinned */
	int *prompt;				/* host */
	size_t max_seq;
};

/* What is offered for capture, per layer (blk.L.*) and once (logits). */
enum { C_ATTN_OUT, C_MLP_OUT, C_RESID, C_LOGITS, C_KINDS };
static const char *const capture_patterns[C_KINDS] = {
	"blk.*.attn_out", "blk.*.mlp_out", "blk.*.resid", "logits",
};
#define CAPTURE_NAME_MAX 32

struct capture {
	__typeof__(&llminstr_capture) capture;	/* the agent's; NULL: no agent */
	__typeof__(&llminstr_step) step;
	bool on;			/* tensors are offered (agent or --reference-dir) */
	int dir_fd;			/* --reference-dir, or -1 */
	const char *dir;
	float *host;			/* the reference path's read-back buffer */
	char *names;			/* [layers][3][CAPTURE_NAME_MAX] */
	struct truth *t;		/* its read-backs are copies the truth counts */
	uint64_t step_no;		/* the current step, counted over --repeat */
	uint64_t offered[C_KINDS], taken, skipped, refused;
	int first_err;
	char first_name[CAPTURE_NAME_MAX];
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

static CUfunction gemv_fn, lm_head_fn, gemm_fn;
static CUlibrary gemv_lib;

static int gemv(cudaStream_t s, float *y, const float *w, const float *x, int rows, int cols)
{
	void *args[] = { &y, &w, &x, &rows, &cols };

	if (!gemv_fn) {
		CUkernel k;

		CU(cuLibraryLoadData(&gemv_lib, gemv_image(), NULL, NULL, 0, NULL, NULL, 0));
		CU(cuLibraryGetKernel(&k, gemv_lib, GEMV_SYMBOL));
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

/* y[m][n] = x[m][k] w[n][k]^T: a prefill's linear layer, from the GEMVs' library. */
static int gemm(cudaStream_t s, float *y, const float *w, const float *x, int m, int n, int k)
{
	void *args[] = { &y, &w, &x, &m, &n, &k };

	if (!gemm_fn) {
		CUkernel kern;

		if (!gemv_lib)
			CU(cuLibraryLoadData(&gemv_lib, gemv_image(), NULL, NULL, 0, NULL, NULL, 0));
		CU(cuLibraryGetKernel(&kern, gemv_lib, GEMM_SYMBOL));
		CU(cuKernelGetFunction(&gemm_fn, kern));
	}
	CU(cuLaunchKernel(gemm_fn, (n + GEMM_TILE - 1) / GEMM_TILE, (m + GEMM_TILE - 1) / GEMM_TILE,
			  1, GEMM_TILE, GEMM_TILE, 1, 0, (CUstream)s, args, NULL));
	count_into[K_GEMM]++;
	return 0;
}

/* A linear layer over rows tokens: the GEMV of a decode step, else a GEMM. */
static int linear(cudaStream_t s, float *y, const float *w, const float *x, int rows, int n, int k)
{
	return rows == 1 ? gemv(s, y, w, x, n, k) : gemm(s, y, w, x, rows, n, k);
}

#define RT(id, call)							\
	do {								\
		CK(call);						\
		count_into[id]++;					\
	} while (0)

/* ---- model ---- */

static uint64_t rng_state;

/* splitmix64: the same weights and prompt from the same seed on every machine */
static uint64_t splitmix(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static float frand(void)
{
	return (float)((splitmix(&rng_state) >> 40) * (1.0 / 16777216.0)) * 2.f - 1.f;
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
	size_t R = o->prefill ? (size_t)o->prompt : 1;	/* rows of a step, at most */
	uint64_t prompt_state = o->seed ^ 0x70726f6d7074ULL;	/* "prompt": apart from the weights */
	int err = 0, i;
	size_t l;

	rng_state = o->seed;
	/* the prompt, then each generated token but the last goes through the cache */
	m->max_seq = (size_t)o->prompt + o->tokens - 1;
	m->prompt = malloc(o->prompt * sizeof(int));
	if (!m->prompt)
		return -ENOMEM;
	m->prompt[0] = 1;	/* --prompt 1 is the one start token decoding always began with */
	for (i = 1; i < o->prompt; i++)
		m->prompt[i] = (int)(splitmix(&prompt_state) % (uint64_t)o->vocab);
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
	err = err ?: dalloc(&m->x, R * H * sizeof(float));
	err = err ?: dalloc(&m->h, R * H * sizeof(float));
	err = err ?: dalloc(&m->qkv, R * 3 * H * sizeof(float));
	err = err ?: dalloc(&m->att, R * H * sizeof(float));
	err = err ?: dalloc(&m->o, R * H * sizeof(float));
	err = err ?: dalloc(&m->gu, R * 2 * F * sizeof(float));
	err = err ?: dalloc(&m->a, R * F * sizeof(float));
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
	free(m->prompt);
}

static void count_copy(struct truth *t, int dir, size_t bytes)
{
	t->cpy_calls[dir]++;
	t->cpy_bytes[dir] += bytes;
}

/* ---- tensors for the agent and --reference-dir ---- */

/*
 * The agent, if this process has one: libllminstr.so preloaded or linked by
 * whoever started us. Looked up in the global scope, never linked, so that
 * llm_decode runs unchanged without it.
 */
static void capture_resolve(struct capture *c)
{
	c->capture = (__typeof__(c->capture))dlsym(RTLD_DEFAULT, "llminstr_capture");
	if (c->capture)
		c->step = (__typeof__(c->step))dlsym(RTLD_DEFAULT, "llminstr_step");
}

static const char *capture_name(const struct capture *c, int layer, int kind)
{
	return kind == C_LOGITS ? "logits" : c->names + ((size_t)layer * 3 + kind) * CAPTURE_NAME_MAX;
}

/* A raw copy of the tensor, DIR/NAME.STEP.f32, never replacing a file. */
static int write_reference(struct capture *c, const char *name, const float *p, size_t n,
			   cudaStream_t s)
{
	size_t bytes = n * sizeof(float), done = 0;
	char file[CAPTURE_NAME_MAX + 32];
	int fd, err = 0;

	CK(cudaStreamSynchronize(s));
	CK(cudaMemcpy(c->host, p, bytes, cudaMemcpyDeviceToHost));
	count_copy(c->t, D2H, bytes);
	snprintf(file, sizeof(file), "%s.%llu.f32", name, (unsigned long long)c->step_no);
	fd = openat(c->dir_fd, file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0) {
		err = -errno;
		fprintf(stderr, "llm_decode: cannot create %s/%s: %s\n", c->dir, file, strerror(-err));
		return err;
	}
	while (done < bytes) {
		ssize_t w = write(fd, (const char *)c->host + done, bytes - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			err = w < 0 ? -errno : -EIO;
			break;
		}
		done += w;
	}
	if (close(fd) && !err)
		err = -errno;
	if (err)
		fprintf(stderr, "llm_decode: cannot write %s/%s: %s\n", c->dir, file, strerror(-err));
	return err;
}

/*
 * Offers the rows x cols tensor p, just produced on stream s, to the agent
 * (so its producer is the last launch on this thread and stream) and to
 * --reference-dir. The agent's refusals are counted, never fatal.
 */
static int offer(struct capture *c, int layer, int kind, const float *p, int rows, int cols,
		 cudaStream_t s)
{
	const char *name;
	int64_t shape[2] = { rows, cols };

	if (!c || !c->on)
		return 0;
	name = capture_name(c, layer, kind);
	c->offered[kind]++;
	if (c->capture) {
		int rc = c->capture(name, p, LLMINSTR_F32, 2, shape, s);

		if (rc > 0) {
			c->taken++;
		} else if (rc == 0) {
			c->skipped++;
		} else {
			if (!c->refused++) {
				c->first_err = rc;
				snprintf(c->first_name, sizeof(c->first_name), "%s", name);
			}
		}
	}
	return c->dir_fd >= 0 ? write_reference(c, name, p, (size_t)rows * cols, s) : 0;
}

/*
 * Layers, final norm, logits, argmax for rows tokens at positions *d_pos,
 * *d_pos + 1, ...: position-independent (reads d_pos), so one token's body
 * is also what a graph replays. Logits and argmax are of the last row only,
 * the one whose next token is wanted.
 */
static int body(const struct model *m, const struct opts *o, cudaStream_t s, int rows,
		struct capture *c)
{
	int H = o->hidden, F = o->ffn, hd = o->hidden / o->heads, l, err;
	size_t layer_kv = m->max_seq * (size_t)H;

	for (l = 0; l < o->layers; l++) {
		float *kc = m->kcache + l * layer_kv, *vc = m->vcache + l * layer_kv;

		RT(K_RMSNORM, k_rmsnorm(s, m->h, m->x, m->attn_norm[l], rows, H, 1e-5f));
		if (linear(s, m->qkv, m->wqkv[l], m->h, rows, 3 * H, H))
			return -EIO;
		RT(K_ROPE, k_rope(s, m->qkv, m->d_pos, rows, o->heads, hd));
		RT(K_KV_APPEND, k_kv_append(s, kc, vc, m->qkv, m->d_pos, rows, H));
		RT(K_ATTENTION, k_attention(s, m->att, m->qkv, kc, vc, m->d_pos, rows, o->heads,
					    hd));
		if (linear(s, m->o, m->wo[l], m->att, rows, H, H))
			return -EIO;
		if ((err = offer(c, l, C_ATTN_OUT, m->o, rows, H, s)))
			return err;
		RT(K_RESIDUAL, k_residual(s, m->x, m->o, rows * H));
		RT(K_RMSNORM, k_rmsnorm(s, m->h, m->x, m->mlp_norm[l], rows, H, 1e-5f));
		if (linear(s, m->gu, m->wgu[l], m->h, rows, 2 * F, H))
			return -EIO;
		RT(K_SILU_MUL, k_silu_mul(s, m->a, m->gu, rows, F));
		if (linear(s, m->o, m->wdown[l], m->a, rows, H, F))
			return -EIO;
		if ((err = offer(c, l, C_MLP_OUT, m->o, rows, H, s)))
			return err;
		RT(K_RESIDUAL, k_residual(s, m->x, m->o, rows * H));
		if ((err = offer(c, l, C_RESID, m->x, rows, H, s)))
			return err;
	}
	RT(K_RMSNORM, k_rmsnorm(s, m->h, m->x + (size_t)(rows - 1) * H, m->final_norm, 1, H, 1e-5f));
	if (lm_head(s, m->logits, m->wout, m->h, o->vocab, H))
		return -EIO;
	if ((err = offer(c, 0, C_LOGITS, m->logits, 1, o->vocab, s)))
		return err;
	RT(K_ARGMAX, k_argmax(s, m->d_tok, m->logits, o->vocab));
	return 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * One step: rows tokens (the prompt's, or the one token fed back) from
 * position pos through the model; *tok is the next token. The step number
 * goes to the agent first, so that everything the step launches and
 * captures belongs to it.
 */
static int step(struct model *m, const struct opts *o, cudaStream_t s, struct truth *t,
		struct capture *c, cudaGraphExec_t exec, const uint64_t *graph_tally, int pos,
		int rows, const int *toks, int *tok)
{
	size_t H = o->hidden;
	int k, r, err;

	if (c && c->step)
		c->step(c->step_no);
	*m->h_pos = pos;
	CK(cudaMemcpyAsync(m->d_pos, m->h_pos, sizeof(int), cudaMemcpyHostToDevice, s));
	count_copy(t, H2D, sizeof(int));
	for (r = 0; r < rows; r++) {
		CK(cudaMemcpyAsync(m->x + r * H, m->emb + (size_t)toks[r] * H, H * sizeof(float),
				   cudaMemcpyDeviceToDevice, s));
		count_copy(t, D2D, H * sizeof(float));
	}
	if (exec && rows == 1) {
		CK(cudaGraphLaunch(exec, s));
		t->graph_launches++;
		for (k = 0; k < K_COUNT; k++)
			t->kernels[k] += graph_tally[k];
	} else if ((err = body(m, o, s, rows, c))) {
		return err;
	}
	CK(cudaMemcpyAsync(m->h_tok, m->d_tok, sizeof(int), cudaMemcpyDeviceToHost, s));
	count_copy(t, D2H, sizeof(int));
	CK(cudaStreamSynchronize(s));
	if (c)
		c->step_no++;
	*tok = *m->h_tok;
	if (*tok < 0 || *tok >= o->vocab) {
		fprintf(stderr, "llm_decode: argmax returned token %d outside the vocabulary of %d\n",
			*tok, o->vocab);
		return -EIO;
	}
	return 0;
}

static void emit(struct truth *t, FILE *tokens_out, int tok)
{
	t->tokens++;
	if (t->tokens == 1)	/* what a test waits for, rather than a time */
		fprintf(stderr, "llm_decode: decoding (first token out)\n");
	if (tokens_out)
		fprintf(tokens_out, "%s%d", t->tokens > 1 ? " " : "", tok);
}

/*
 * Each repetition: the prompt, as one prefill step or one token per step,
 * then a token per step until --tokens are out. Tokens the model predicts
 * inside the prompt are not output: the prompt's next token is fed instead.
 */
static int decode(struct model *m, const struct opts *o, cudaStream_t s, struct truth *t,
		  struct capture *c, FILE *tokens_out)
{
	size_t H = o->hidden, kv_bytes = 2 * (size_t)o->layers * m->max_seq * H * sizeof(float);
	cudaGraphExec_t exec = NULL;
	cudaGraph_t graph = NULL;
	uint64_t graph_tally[K_COUNT] = { 0 };
	int rep, pos, tok, k, err = 0;
	double t0 = now_s();

	count_into = t->kernels;
	if (o->graphs) {
		/* the layers replay without the host: nothing is offered from them */
		count_into = graph_tally;
		CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
		err = body(m, o, s, 1, NULL);
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
		pos = 0;
		tok = m->prompt[0];
		if (o->prefill) {
			err = step(m, o, s, t, c, exec, graph_tally, 0, o->prompt, m->prompt, &tok);
			if (err)
				break;
			emit(t, tokens_out, tok);
			pos = o->prompt;
		}
		for (; (size_t)pos < m->max_seq && !stop; pos++) {
			err = step(m, o, s, t, c, exec, graph_tally, pos, 1, &tok, &tok);
			if (err)
				break;
			if (pos + 1 < o->prompt)
				tok = m->prompt[pos + 1];
			else
				emit(t, tokens_out, tok);
		}
		if (tokens_out)
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

/*
 * Kernels that were launched at least once: the names a tracer can have
 * seen (a run without --prefill launches no gemm_f32). "captures" (tensors
 * offered per name pattern) only when tensors were offered.
 */
static int write_truth(const char *path, const struct truth *t, const struct capture *c)
{
	static const char *const dir[3] = { "h2d", "d2h", "d2d" };
	uint64_t launches = 0;
	FILE *f = fopen(path, "w");
	int k, n = 0;

	if (!f) {
		fprintf(stderr, "llm_decode: cannot write --truth %s: %s\n", path, strerror(errno));
		return -errno;
	}
	for (k = 0; k < K_COUNT; k++)
		launches += t->kernels[k];
	fprintf(f, "{\n  \"kernels\": {");
	for (k = 0; k < K_COUNT; k++)
		if (t->kernels[k])
			fprintf(f, "%s\n    \"%s\": %llu", n++ ? "," : "", kernel_names[k],
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
	if (c->on) {
		fprintf(f, "  \"captures\": {");
		for (k = 0; k < C_KINDS; k++)
			fprintf(f, "%s\"%s\": %llu", k ? ", " : "", capture_patterns[k],
				(unsigned long long)c->offered[k]);
		fprintf(f, "},\n");
	}
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
"  --seed N        weight and prompt seed (default 1)\n"
"  --prompt N      a prompt of N tokens (token 1, then drawn from the seed),\n"
"                  fed one token per step (default 1)\n"
"  --prefill N     the same N-token prompt as one batch in one step (GEMMs,\n"
"                  causal attention over N positions), as a prefill is\n"
"  --graphs        capture the layers once, replay with cudaGraphLaunch\n"
"                  (a --prefill step runs eagerly; no tensors are offered)\n"
"  --reference-dir DIR  also write every tensor offered for capture to\n"
"                  DIR/NAME.STEP.f32 (raw f32, read back after a stream\n"
"                  sync); DIR must exist and hold no .f32 file\n"
"  --truth FILE    write what was launched and copied, as JSON\n"
"  --wait-file P   after set-up, wait until P exists, then decode\n"
"  -q, --quiet     do not print the tokens on stdout\n"
"  -h, --help      this text\n"
"\n"
"Prints the --tokens generated token ids on stdout (not the prompt), tokens/s\n"
"and a summary on stderr; on stderr too, as they happen (for scripts to wait\n"
"on): 'set up; waiting for P' (--wait-file) and 'decoding (first token out)'.\n"
"SIGINT/SIGTERM stop after the current step; --truth is still written.\n"
"\n"
"Tensors for llminstr: with libllminstr.so in the process (llminstr-trace\n"
"-- llm_decode ..., or LD_PRELOAD), each step offers, in this order, for\n"
"each layer L: blk.L.attn_out (attention output, before the residual add),\n"
"blk.L.mlp_out (MLP output), blk.L.resid (residual stream after the layer);\n"
"then logits (the last row's). All f32, shape [rows, hidden] ([rows, vocab]\n"
"for logits, rows 1): rows is N in a --prefill step, else 1. Steps are\n"
"numbered from 0 over the whole run (llminstr_step, and STEP in\n"
"--reference-dir): with --prefill N the prefill is a sequence's first step\n"
"and each further token one step (--tokens steps per sequence); otherwise\n"
"every token fed is one step (--prompt + --tokens - 1 per sequence).\n"
"Without the library nothing is offered and nothing changes.\n"
"\n"
"Examples:\n"
"  llm_decode --truth truth.json\n"
"  llm_decode --graphs --layers 8 --hidden 1024 --ffn 2816 --tokens 64\n"
"  llm_decode --prefill 128 --tokens 16 --reference-dir ref/\n");
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
		{ "--repeat", NULL, 1, 1 << 30 }, { "--prompt", NULL, 1, 1 << 20 },
		{ "--prefill", NULL, 1, 1 << 20 },
	};
	int *dst[] = { &o->layers, &o->hidden, &o->heads, &o->ffn, &o->vocab, &o->tokens,
		       &o->repeat, &o->prompt, &o->prompt };
	bool prompt_given = false;
	size_t widest;
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
			if (dst[k] == &o->prompt) {
				if (prompt_given) {
					fprintf(stderr, "llm_decode: --prompt and --prefill each give "
						"the prompt once; use one of them\n");
					return -EINVAL;
				}
				prompt_given = true;
				o->prefill = !strcmp(a, "--prefill");
			}
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
		} else if (!strcmp(a, "--truth") || !strcmp(a, "--wait-file") ||
			   !strcmp(a, "--reference-dir")) {
			if (++i >= argc || !argv[i][0]) {
				fprintf(stderr, "llm_decode: %s needs a path\n", a);
				return -EINVAL;
			}
			*(a[2] == 't' ? &o->truth : a[2] == 'w' ? &o->wait_file : &o->ref_dir) =
				argv[i];
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
	/* kernels index a batch with int: its widest buffer must fit */
	widest = 3 * (size_t)o->hidden > 2 * (size_t)o->ffn ? 3 * (size_t)o->hidden :
		 2 * (size_t)o->ffn;
	if (o->prefill && (size_t)o->prompt * widest > INT_MAX) {
		fprintf(stderr, "llm_decode: --prefill %d x %zu values per row is over %d; "
			"prefill fewer tokens\n", o->prompt, widest, INT_MAX);
		return -EINVAL;
	}
	if (o->ref_dir && o->graphs) {
		fprintf(stderr, "llm_decode: --reference-dir needs the eager path: --graphs "
			"replays the layers without the host\n");
		return -EINVAL;
	}
	return 0;
}

/* DIR must exist and hold no .f32 file: a reference is never mixed with another's. */
static int open_reference_dir(const char *dir)
{
	struct dirent *e;
	DIR *d;
	int fd, dfd;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "llm_decode: --reference-dir %s: %s (give an existing directory)\n",
			dir, strerror(errno));
		return -1;
	}
	dfd = dup(fd);
	d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (!d) {
		fprintf(stderr, "llm_decode: --reference-dir %s: %s\n", dir, strerror(errno));
		if (dfd >= 0)
			close(dfd);
		close(fd);
		return -1;
	}
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);

		if (n > 4 && !strcmp(e->d_name + n - 4, ".f32")) {
			fprintf(stderr, "llm_decode: --reference-dir %s already holds .f32 files "
				"(%s); give an empty directory\n", dir, e->d_name);
			closedir(d);
			close(fd);
			return -1;
		}
	}
	closedir(d);
	return fd;
}

/* Names, the read-back buffer and the agent; nothing at all without either. */
static int capture_init(struct capture *c, const struct opts *o, struct truth *t)
{
	size_t rows = o->prefill ? (size_t)o->prompt : 1;
	size_t most = rows * o->hidden > (size_t)o->vocab ? rows * o->hidden : (size_t)o->vocab;
	int l;

	c->dir_fd = -1;
	c->t = t;
	capture_resolve(c);
	if (o->ref_dir && (c->dir_fd = open_reference_dir(o->ref_dir)) < 0)
		return -EINVAL;
	c->dir = o->ref_dir;
	c->on = (c->capture || c->dir_fd >= 0) && !o->graphs;
	if (c->capture && o->graphs)
		fprintf(stderr, "llm_decode: --graphs: no tensors are offered to llminstr "
			"(the layers replay without the host)\n");
	if (!c->on)
		return 0;
	c->names = malloc((size_t)o->layers * 3 * CAPTURE_NAME_MAX);
	if (!c->names || (c->dir_fd >= 0 && !(c->host = malloc(most * sizeof(float))))) {
		fprintf(stderr, "llm_decode: out of host memory for the tensors' names and "
			"read-back\n");
		return -ENOMEM;
	}
	for (l = 0; l < o->layers; l++) {
		snprintf(c->names + ((size_t)l * 3 + C_ATTN_OUT) * CAPTURE_NAME_MAX,
			 CAPTURE_NAME_MAX, "blk.%d.attn_out", l);
		snprintf(c->names + ((size_t)l * 3 + C_MLP_OUT) * CAPTURE_NAME_MAX,
			 CAPTURE_NAME_MAX, "blk.%d.mlp_out", l);
		snprintf(c->names + ((size_t)l * 3 + C_RESID) * CAPTURE_NAME_MAX,
			 CAPTURE_NAME_MAX, "blk.%d.resid", l);
	}
	return 0;
}

static void capture_fini(struct capture *c)
{
	if (c->capture && c->on) {
		uint64_t n = 0;
		int k;

		for (k = 0; k < C_KINDS; k++)
			n += c->offered[k];
		fprintf(stderr, "llm_decode: llminstr: %llu tensors offered, %llu taken, "
			"%llu skipped, %llu refused", (unsigned long long)n,
			(unsigned long long)c->taken, (unsigned long long)c->skipped,
			(unsigned long long)c->refused);
		if (c->refused)
			fprintf(stderr, " (first: %s: %s)", c->first_name, strerror(-c->first_err));
		fputc('\n', stderr);
	}
	if (c->dir_fd >= 0)
		close(c->dir_fd);
	free(c->names);
	free(c->host);
}

int main(int argc, char **argv)
{
	struct opts o = {
		.layers = 4, .hidden = 256, .heads = 4, .ffn = 688, .vocab = 2048,
		.tokens = 512, .repeat = 1, .prompt = 1, .seed = 1,
	};
	struct capture cap;
	char prompt[32];
	struct truth t;
	struct model m;
	struct sigaction sa;
	cudaStream_t s;
	int err;

	memset(&t, 0, sizeof(t));
	memset(&m, 0, sizeof(m));
	memset(&cap, 0, sizeof(cap));
	if (parse_args(argc, argv, &o))
		return 2;
	if ((err = capture_init(&cap, &o, &t))) {
		capture_fini(&cap);
		return err == -EINVAL ? 2 : 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	if (cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) != cudaSuccess) {
		fprintf(stderr, "llm_decode: no CUDA device: %s\n",
			cudaGetErrorString(cudaGetLastError()));
		capture_fini(&cap);
		return 1;
	}
	if (cuInit(0) != CUDA_SUCCESS) {
		fprintf(stderr, "llm_decode: cuInit failed: is libcuda.so.1 the right driver?\n");
		capture_fini(&cap);
		return 1;
	}
	if ((err = model_init(&m, &o))) {
		model_free_host(&m);
		capture_fini(&cap);
		return 1;
	}
	if (o.wait_file) {
		fprintf(stderr, "llm_decode: set up; waiting for %s\n", o.wait_file);
		while (access(o.wait_file, F_OK) && !stop)
			usleep(10000);
	}
	err = decode(&m, &o, s, &t, &cap, o.quiet ? NULL : stdout);
	fflush(stdout);
	model_free_host(&m);
	if (o.truth && write_truth(o.truth, &t, &cap))
		err = err ?: -EIO;
	capture_fini(&cap);
	prompt[0] = '\0';
	if (o.prefill || o.prompt > 1)
		snprintf(prompt, sizeof(prompt), ", %s %d", o.prefill ? "prefill" : "prompt",
			 o.prompt);
	fprintf(stderr, "llm_decode: %llu tokens in %.3f s, %.1f tokens/s (%d layers, hidden %d, "
		"ffn %d, vocab %d%s%s)\n", (unsigned long long)t.tokens, t.seconds,
		t.seconds > 0 ? t.tokens / t.seconds : 0.0, o.layers, o.hidden, o.ffn, o.vocab,
		o.graphs ? ", graphs" : "", prompt);
	return err ? 1 : 0;
}
