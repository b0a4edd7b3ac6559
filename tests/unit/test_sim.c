// SPDX-License-Identifier: MIT
/*
 * Unit tests of the CPU stand-in CUDA runtime (build/sim): stream order and
 * asynchrony, events, cross-stream and legacy-stream ordering, graph capture
 * and replay, copy kinds and bad pointers, driver module lookup, and nvcc's
 * registration / __cudaGetKernel / __cudaLaunchKernel path, and the driver
 * entry points the llminstr agent uses (cuGetProcAddress, pointer
 * attributes, host registration, host functions, the context stack). Linked against
 * build/sim/libcudart.so.13 and libcuda.so.1 by rpath.
 *
 * Nothing here depends on the machine's speed: what must still be running
 * is held by a gate kernel that runs until the test opens it (so "not yet
 * done" is certain, not a race against a timer), and the one duration
 * checked, an event pair's elapsed time, is bounded by host clock readings
 * taken around the gate.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <setjmp.h>
#include <string.h>
#include <time.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>
#include <dlfcn.h>
#include <cmocka.h>

#if !__has_include("sim.h")
int main(void)
{
	printf("SKIP: built without the CUDA toolkit headers, so without the stand-in\n");
	return 77;
}
#else
#include "sim.h"
#include <cuda.h>

#define P(i, T) (*(T *)args[i])

/* log[log[0]+1] = v; log[0]++: records the order kernels ran in */
static void k_append(dim3 g, dim3 b, size_t sh, void **args)
{
	int *log = P(0, int *);

	log[++log[0]] = P(1, int);
}

static void k_sleep(dim3 g, dim3 b, size_t sh, void **args)
{
	usleep((useconds_t)P(0, int) * 1000);
}

/*
 * A kernel that holds its stream until the host opens it: it says it has
 * started, then waits for open. It gives up after a minute (a test that
 * never opens it is stuck; timed_out then fails it).
 */
struct gate {
	atomic_int started, open, timed_out;
};

static double now_ms(void);

static void k_gate(dim3 g, dim3 b, size_t sh, void **args)
{
	struct gate *gt = P(0, struct gate *);
	double t0 = now_ms();

	atomic_store(&gt->started, 1);
	while (!atomic_load(&gt->open)) {
		if (now_ms() - t0 > 60e3) {
			atomic_store(&gt->timed_out, 1);
			return;
		}
		usleep(1000);
	}
}

static void k_set(dim3 g, dim3 b, size_t sh, void **args)
{
	*P(0, int *) = P(1, int);
}

static void k_copy(dim3 g, dim3 b, size_t sh, void **args)
{
	*P(0, int *) = *P(1, volatile int *);
}

static void k_inc(dim3 g, dim3 b, size_t sh, void **args)
{
	(*P(0, int *)) += (int)(g.x * b.x);
}

#define PTR sizeof(void *)
static const struct sim_kernel_desc descs[] = {
	{ "_Z6appendPii", k_append, 2, { PTR, sizeof(int) } },
	{ "nap", k_sleep, 1, { sizeof(int) } },
	{ "set", k_set, 2, { PTR, sizeof(int) } },
	{ "copy", k_copy, 2, { PTR, PTR } },
	{ "inc", k_inc, 1, { PTR } },
	{ "gate", k_gate, 1, { PTR } },
};
static const struct sim_image image = { SIM_IMAGE_MAGIC, SIM_IMAGE_VERSION, 6, descs };

/* Host stubs registered the nvcc way. */
void append_stub(int *log, int v) __asm__("_Z6appendPii");
void append_stub(int *log, int v)
{
	void *a[] = { &log, &v };

	SIM_STUB_LAUNCH(append_stub, a);
}
static void nap_stub(int ms) { (void)ms; }
static void set_stub(int *p, int v) { (void)p; (void)v; }
static void copy_stub(int *d, const int *s) { (void)d; (void)s; }
static void inc_stub(int *p) { (void)p; }
static void gate_stub(struct gate *g) { (void)g; }
static void never_registered(void) {}

static const struct sim_fatbin_wrapper fatbin = { SIM_FATBIN_MAGIC, 1, &image, NULL };

__attribute__((constructor)) static void reg(void)
{
	void **h = __cudaRegisterFatBinary((void *)&fatbin);

	__cudaRegisterFunction(h, (const char *)append_stub, "_Z6appendPii", "_Z6appendPii",
			       -1, NULL, NULL, NULL, NULL, NULL);
	__cudaRegisterFunction(h, (const char *)nap_stub, "nap", "nap", -1, 0, 0, 0, 0, 0);
	__cudaRegisterFunction(h, (const char *)set_stub, "set", "set", -1, 0, 0, 0, 0, 0);
	__cudaRegisterFunction(h, (const char *)copy_stub, "copy", "copy", -1, 0, 0, 0, 0, 0);
	__cudaRegisterFunction(h, (const char *)inc_stub, "inc", "inc", -1, 0, 0, 0, 0, 0);
	__cudaRegisterFunction(h, (const char *)gate_stub, "gate", "gate", -1, 0, 0, 0, 0, 0);
	__cudaRegisterFatBinaryEnd(h);
}

static const dim3 one = { 1, 1, 1 };

static cudaError_t set(cudaStream_t s, int *p, int v)
{
	void *a[] = { &p, &v };

	return cudaLaunchKernel((const void *)set_stub, one, one, a, 0, s);
}

static cudaError_t copy(cudaStream_t s, int *d, int *src)
{
	void *a[] = { &d, &src };

	return cudaLaunchKernel((const void *)copy_stub, one, one, a, 0, s);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Queues a closed gate on s (the gate lives in host memory: the stand-in's
 * kernels run on the CPU). */
static cudaError_t gate(cudaStream_t s, struct gate *g)
{
	void *a[] = { &g };

	memset(g, 0, sizeof(*g));
	return cudaLaunchKernel((const void *)gate_stub, one, one, a, 0, s);
}

/* Waits (a minute at most) until the gate kernel runs. */
static void gate_wait_started(struct gate *g)
{
	double t0 = now_ms();

	while (!atomic_load(&g->started) && now_ms() - t0 < 60e3)
		usleep(1000);
	assert_true(atomic_load(&g->started));
}

static void gate_open(struct gate *g)
{
	atomic_store(&g->open, 1);
}

static void test_stream_order_async(void **state)
{
	enum { N = 2000 };
	static struct gate g;
	cudaStream_t s;
	int *log, *h = calloc(N + 1, sizeof(int)), i;

	assert_int_equal(cudaStreamCreate(&s), cudaSuccess);
	assert_int_equal(cudaMalloc((void **)&log, (N + 1) * sizeof(int)), cudaSuccess);
	assert_int_equal(cudaMemsetAsync(log, 0, (N + 1) * sizeof(int), s), cudaSuccess);
	/*
	 * asynchronous: launches return while a kernel before them still runs
	 * (were they synchronous, the gate would hold the first launch until
	 * it gave up, and timed_out would say so)
	 */
	assert_int_equal(gate(s, &g), cudaSuccess);
	for (i = 0; i < N; i++)
		SIM_LAUNCH(append_stub, one, one, 0, s, log, i);
	assert_int_equal(cudaGetLastError(), cudaSuccess);
	assert_int_equal(cudaMemcpyAsync(h, log, (N + 1) * sizeof(int), cudaMemcpyDeviceToHost, s),
			 cudaSuccess);
	assert_int_equal(cudaStreamQuery(s), cudaErrorNotReady);
	assert_int_equal(h[0], 0);	/* nothing behind the gate has run */
	gate_open(&g);
	/* synchronising waits for all of it, in order */
	assert_int_equal(cudaStreamSynchronize(s), cudaSuccess);
	assert_false(atomic_load(&g.timed_out));
	assert_int_equal(cudaStreamQuery(s), cudaSuccess);
	assert_int_equal(h[0], N);
	for (i = 0; i < N; i++)
		assert_int_equal(h[i + 1], i);
	assert_int_equal(cudaFree(log), cudaSuccess);
	assert_int_equal(cudaStreamDestroy(s), cudaSuccess);
	free(h);
}

static void test_events(void **state)
{
	static struct gate g;
	cudaEvent_t a, b, never;
	cudaStream_t s;
	double t_before, t_held, t_after;
	float ms = -1;

	assert_int_equal(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
	assert_int_equal(cudaEventCreate(&a), cudaSuccess);
	assert_int_equal(cudaEventCreate(&b), cudaSuccess);
	assert_int_equal(cudaEventCreate(&never), cudaSuccess);
	t_before = now_ms();
	assert_int_equal(cudaEventRecord(a, s), cudaSuccess);
	assert_int_equal(gate(s, &g), cudaSuccess);
	assert_int_equal(cudaEventRecord(b, s), cudaSuccess);
	gate_wait_started(&g);
	/* a is recorded (it is before the gate, which runs), b is not */
	assert_int_equal(cudaEventQuery(a), cudaSuccess);
	assert_int_equal(cudaEventQuery(b), cudaErrorNotReady);
	assert_int_equal(cudaEventElapsedTime(&ms, a, b), cudaErrorNotReady);
	/* the gate stays shut for 50 ms by the host's clock: a known interval */
	t_held = now_ms();
	while (now_ms() - t_held < 50)
		usleep(1000);
	gate_open(&g);
	assert_int_equal(cudaEventSynchronize(b), cudaSuccess);
	t_after = now_ms();
	assert_false(atomic_load(&g.timed_out));
	assert_int_equal(cudaEventQuery(b), cudaSuccess);
	assert_int_equal(cudaEventElapsedTime(&ms, a, b), cudaSuccess);
	/*
	 * a was recorded before the gate started (before t_held), b after it
	 * opened (50 ms later); both between t_before and t_after. (0.01 ms:
	 * the float's rounding of a few seconds.)
	 */
	assert_true(ms >= 50.f - 0.01f);
	assert_true(ms <= (float)(t_after - t_before) + 0.01f);
	assert_int_equal(cudaEventElapsedTime(&ms, a, never), cudaErrorInvalidResourceHandle);
	assert_int_equal(cudaEventDestroy(never), cudaSuccess);
	assert_int_equal(cudaEventDestroy(never), cudaErrorInvalidResourceHandle);
	assert_int_equal(cudaEventDestroy(a), cudaSuccess);
	assert_int_equal(cudaEventDestroy(b), cudaSuccess);
	assert_int_equal(cudaStreamDestroy(s), cudaSuccess);
}

static void test_cross_stream_and_legacy(void **state)
{
	static struct gate g;
	cudaStream_t a, b, blocking;
	cudaEvent_t e;
	int *flag, *out, h = 0;

	assert_int_equal(cudaStreamCreateWithFlags(&a, cudaStreamNonBlocking), cudaSuccess);
	assert_int_equal(cudaStreamCreateWithFlags(&b, cudaStreamNonBlocking), cudaSuccess);
	assert_int_equal(cudaStreamCreate(&blocking), cudaSuccess);
	assert_int_equal(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), cudaSuccess);
	assert_int_equal(cudaMalloc((void **)&flag, sizeof(int)), cudaSuccess);
	assert_int_equal(cudaMalloc((void **)&out, sizeof(int)), cudaSuccess);
	assert_int_equal(cudaMemset(flag, 0, sizeof(int)), cudaSuccess);

	/* b waits for a's event: sees the flag a sets once its gate opens */
	assert_int_equal(gate(a, &g), cudaSuccess);
	assert_int_equal(set(a, flag, 7), cudaSuccess);
	assert_int_equal(cudaEventRecord(e, a), cudaSuccess);
	assert_int_equal(cudaStreamWaitEvent(b, e, 0), cudaSuccess);
	assert_int_equal(copy(b, out, flag), cudaSuccess);
	assert_int_equal(cudaMemcpyAsync(&h, out, sizeof(int), cudaMemcpyDeviceToHost, b),
			 cudaSuccess);
	gate_wait_started(&g);
	assert_int_equal(cudaStreamQuery(b), cudaErrorNotReady);	/* held by a's gate */
	gate_open(&g);
	assert_int_equal(cudaStreamSynchronize(b), cudaSuccess);
	assert_false(atomic_load(&g.timed_out));
	assert_int_equal(h, 7);

	/* the legacy default stream waits for blocking streams */
	assert_int_equal(gate(blocking, &g), cudaSuccess);
	assert_int_equal(set(blocking, flag, 9), cudaSuccess);
	assert_int_equal(copy(0, out, flag), cudaSuccess);
	gate_wait_started(&g);
	assert_int_equal(cudaStreamQuery(0), cudaErrorNotReady);	/* held by blocking's gate */
	gate_open(&g);
	assert_int_equal(cudaMemcpy(&h, out, sizeof(int), cudaMemcpyDeviceToHost), cudaSuccess);
	assert_false(atomic_load(&g.timed_out));
	assert_int_equal(h, 9);
	assert_int_equal(cudaDeviceSynchronize(), cudaSuccess);

	cudaFree(flag);
	cudaFree(out);
	cudaEventDestroy(e);
	cudaStreamDestroy(a);
	cudaStreamDestroy(b);
	cudaStreamDestroy(blocking);
}

static void test_graph_capture_replay(void **state)
{
	enum cudaStreamCaptureStatus st;
	cudaGraphExec_t x;
	cudaGraph_t g;
	cudaStream_t s;
	int *c, *c2, h = -1;
	size_t n;
	dim3 g4 = { 4, 1, 1 };
	void *args[] = { &c };

	assert_int_equal(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
	assert_int_equal(cudaMalloc((void **)&c, sizeof(int)), cudaSuccess);
	assert_int_equal(cudaMalloc((void **)&c2, sizeof(int)), cudaSuccess);
	assert_int_equal(cudaMemset(c, 0, sizeof(int)), cudaSuccess);

	assert_int_equal(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal), cudaSuccess);
	assert_int_equal(cudaStreamIsCapturing(s, &st), cudaSuccess);
	assert_int_equal(st, cudaStreamCaptureStatusActive);
	/* global mode: the legacy stream may not be used meanwhile */
	assert_int_equal(cudaMemcpy(&h, c, sizeof(int), cudaMemcpyDeviceToHost),
			 cudaErrorStreamCaptureImplicit);
	assert_int_equal(cudaLaunchKernel((const void *)inc_stub, g4, one, args, 0, s), cudaSuccess);
	assert_int_equal(cudaLaunchKernel((const void *)inc_stub, one, one, args, 0, s), cudaSuccess);
	assert_int_equal(cudaMemcpyAsync(c2, c, sizeof(int), cudaMemcpyDeviceToDevice, s),
			 cudaSuccess);
	assert_int_equal(cudaStreamEndCapture(s, &g), cudaSuccess);
	assert_int_equal(cudaStreamIsCapturing(s, &st), cudaSuccess);
	assert_int_equal(st, cudaStreamCaptureStatusNone);
	assert_int_equal(cudaGraphGetNodes(g, NULL, &n), cudaSuccess);
	assert_int_equal(n, 3);
	/* nothing ran during capture */
	assert_int_equal(cudaMemcpy(&h, c, sizeof(int), cudaMemcpyDeviceToHost), cudaSuccess);
	assert_int_equal(h, 0);

	assert_int_equal(cudaGraphInstantiate(&x, g, 0), cudaSuccess);
	assert_int_equal(cudaGraphDestroy(g), cudaSuccess);	/* the exec keeps its copy */
	for (int i = 0; i < 5; i++)
		assert_int_equal(cudaGraphLaunch(x, s), cudaSuccess);
	assert_int_equal(cudaStreamSynchronize(s), cudaSuccess);
	assert_int_equal(cudaMemcpy(&h, c, sizeof(int), cudaMemcpyDeviceToHost), cudaSuccess);
	assert_int_equal(h, 25);
	assert_int_equal(cudaMemcpy(&h, c2, sizeof(int), cudaMemcpyDeviceToHost), cudaSuccess);
	assert_int_equal(h, 25);
	assert_int_equal(cudaGraphExecDestroy(x), cudaSuccess);
	assert_int_equal(cudaGraphLaunch(x, s), cudaErrorInvalidResourceHandle);

	/* a synchronisation inside a capture invalidates it */
	assert_int_equal(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed), cudaSuccess);
	assert_int_equal(cudaStreamSynchronize(s), cudaErrorStreamCaptureUnsupported);
	assert_int_equal(cudaStreamEndCapture(s, &g), cudaErrorStreamCaptureInvalidated);
	assert_null(g);
	assert_int_equal(cudaStreamEndCapture(s, &g), cudaErrorIllegalState);
	assert_int_equal(cudaStreamBeginCapture(0, cudaStreamCaptureModeGlobal),
			 cudaErrorStreamCaptureUnsupported);
	cudaGetLastError();
	cudaFree(c);
	cudaFree(c2);
	cudaStreamDestroy(s);
}

static void test_memcpy_kinds_and_bad_pointers(void **state)
{
	char host[64] = "stand-in", back[64] = { 0 }, *d, *d2, *pinned;
	cudaStream_t bogus = (cudaStream_t)(uintptr_t)0x1234560;
	cudaEvent_t bogus_ev = (cudaEvent_t)(uintptr_t)0x7777770;

	assert_int_equal(cudaMalloc((void **)&d, 64), cudaSuccess);
	assert_int_equal(cudaMalloc((void **)&d2, 64), cudaSuccess);
	assert_int_equal(cudaHostAlloc((void **)&pinned, 64, cudaHostAllocDefault), cudaSuccess);

	assert_int_equal(cudaMemcpy(d, host, 64, cudaMemcpyHostToDevice), cudaSuccess);
	assert_int_equal(cudaMemcpy(d2, d, 64, cudaMemcpyDeviceToDevice), cudaSuccess);
	assert_int_equal(cudaMemcpy(pinned, d2, 64, cudaMemcpyDefault), cudaSuccess);
	assert_int_equal(cudaMemcpy(back, pinned, 64, cudaMemcpyHostToHost), cudaSuccess);
	assert_string_equal(back, "stand-in");
	/* 2D: two rows of 4 bytes out of a 16-byte pitch */
	assert_int_equal(cudaMemset2D(d, 16, 'x', 4, 2), cudaSuccess);
	assert_int_equal(cudaMemcpy2D(back, 4, d, 16, 4, 2, cudaMemcpyDeviceToHost), cudaSuccess);
	assert_memory_equal(back, "xxxxxxxx", 8);

	/* wrong direction for the pointers given */
	assert_int_equal(cudaMemcpy(host, d, 8, cudaMemcpyHostToDevice), cudaErrorInvalidValue);
	assert_int_equal(cudaGetLastError(), cudaErrorInvalidValue);
	assert_int_equal(cudaGetLastError(), cudaSuccess);
	assert_int_equal(cudaMemcpy(d, host, 8, cudaMemcpyDeviceToDevice), cudaErrorInvalidValue);
	assert_int_equal(cudaMemcpy(d, host, 8, (enum cudaMemcpyKind)7),
			 cudaErrorInvalidMemcpyDirection);
	/* past the end of an allocation, inside it at an offset, and NULL */
	assert_int_equal(cudaMemcpy(d + 32, host, 64, cudaMemcpyHostToDevice), cudaErrorInvalidValue);
	assert_int_equal(cudaMemcpy(d + 32, host, 32, cudaMemcpyHostToDevice), cudaSuccess);
	assert_int_equal(cudaMemcpy(NULL, host, 8, cudaMemcpyHostToDevice), cudaErrorInvalidValue);
	assert_int_equal(cudaMemset(host, 0, 8), cudaErrorInvalidValue);
	assert_int_equal(cudaMemset(d + 60, 0, 8), cudaErrorInvalidValue);
	/* frees of what is not an allocation of that kind */
	assert_int_equal(cudaFree(host), cudaErrorInvalidValue);
	assert_int_equal(cudaFree(d + 8), cudaErrorInvalidValue);
	assert_int_equal(cudaFree(pinned), cudaErrorInvalidValue);
	assert_int_equal(cudaFreeHost(d), cudaErrorInvalidValue);
	/* handles that were never made */
	assert_int_equal(cudaStreamSynchronize(bogus), cudaErrorInvalidResourceHandle);
	assert_int_equal(cudaMemcpyAsync(d, host, 8, cudaMemcpyHostToDevice, bogus),
			 cudaErrorInvalidResourceHandle);
	assert_int_equal(cudaEventRecord(bogus_ev, 0), cudaErrorInvalidResourceHandle);
	assert_int_equal(cudaLaunchKernel((const void *)never_registered, one, one, NULL, 0, 0),
			 cudaErrorInvalidDeviceFunction);
	assert_int_equal(cudaSetDevice(3), cudaErrorInvalidDevice);
	assert_string_equal(cudaGetErrorName(cudaErrorInvalidValue), "cudaErrorInvalidValue");
	assert_string_equal(cudaGetErrorString(cudaErrorInvalidValue), "invalid argument");
	cudaGetLastError();

	assert_int_equal(cudaFree(d), cudaSuccess);
	assert_int_equal(cudaFree(d), cudaErrorInvalidValue);	/* double free */
	assert_int_equal(cudaFree(d2), cudaSuccess);
	assert_int_equal(cudaFreeHost(pinned), cudaSuccess);
	cudaGetLastError();
}

static void test_nvcc_path(void **state)
{
	cudaKernel_t k = NULL, k2 = NULL;
	const char *name = NULL;
	int *log, h[4] = { 0 };
	int v = 42;
	void *args[] = { &log, &v };

	assert_int_equal(__cudaGetKernel(&k, (const void *)append_stub), cudaSuccess);
	assert_non_null(k);
	assert_ptr_not_equal((void *)k, (void *)append_stub);	/* a handle, not code */
	assert_int_equal(__cudaGetKernel(&k2, (const void *)append_stub), cudaSuccess);
	assert_ptr_equal(k, k2);
	assert_int_equal(__cudaGetKernel(&k2, (const void *)never_registered),
			 cudaErrorInvalidDeviceFunction);
	assert_int_equal(cudaFuncGetName(&name, (const void *)append_stub), cudaSuccess);
	assert_string_equal(name, "_Z6appendPii");

	assert_int_equal(cudaMalloc((void **)&log, sizeof(h)), cudaSuccess);
	assert_int_equal(cudaMemset(log, 0, sizeof(h)), cudaSuccess);
	assert_int_equal(__cudaLaunchKernel(k, one, one, args, 0, 0), cudaSuccess);	/* handle */
	v = 43;
	assert_int_equal(cudaLaunchKernel((const void *)append_stub, one, one, args, 0, 0),
			 cudaSuccess);							/* stub */
	SIM_LAUNCH(append_stub, one, one, 0, 0, log, 44);				/* <<<>>> */
	assert_int_equal(cudaMemcpy(h, log, sizeof(h), cudaMemcpyDeviceToHost), cudaSuccess);
	assert_int_equal(h[0], 3);
	assert_int_equal(h[1], 42);
	assert_int_equal(h[2], 43);
	assert_int_equal(h[3], 44);
	/* a launch with no configuration pushed fails, it does not crash */
	append_stub(log, 1);
	assert_int_equal(cudaGetLastError(), cudaErrorMissingConfiguration);
	/* zero-sized grid */
	{
		dim3 zero = { 0, 1, 1 };

		assert_int_equal(cudaLaunchKernel((const void *)append_stub, zero, one, args, 0, 0),
				 cudaErrorInvalidConfiguration);
	}
	cudaGetLastError();
	cudaFree(log);
}

static void *ptsz_thread(void *arg)
{
	int *p = arg, v = 5, ms = 30;
	void *a[] = { &p, &v }, *na[] = { &ms };

	/* stream 0 in a _ptsz call is this thread's own default stream */
	if (cudaLaunchKernel_ptsz((const void *)nap_stub, one, one, na, 0, 0) ||
	    cudaLaunchKernel_ptsz((const void *)set_stub, one, one, a, 0, 0) ||
	    cudaStreamSynchronize_ptsz(0))
		return (void *)1;
	return NULL;
}

static void test_per_thread_stream(void **state)
{
	pthread_t t[2];
	int *p[2], h, i;
	void *ret;

	for (i = 0; i < 2; i++) {
		assert_int_equal(cudaMalloc((void **)&p[i], sizeof(int)), cudaSuccess);
		assert_int_equal(pthread_create(&t[i], NULL, ptsz_thread, p[i]), 0);
	}
	for (i = 0; i < 2; i++) {
		assert_int_equal(pthread_join(t[i], &ret), 0);
		assert_null(ret);
		assert_int_equal(cudaMemcpy(&h, p[i], sizeof(int), cudaMemcpyDeviceToHost),
				 cudaSuccess);
		assert_int_equal(h, 5);
		cudaFree(p[i]);
	}
}

static void test_driver_modules(void **state)
{
	static const struct sim_image bad = { 0x1234, 1, 0, NULL };
	CUmodule m;
	CUlibrary l;
	CUkernel k, k2;
	CUfunction f, f2;
	CUdeviceptr d;
	const char *name;
	int h = 0, v = 11;
	void *args[] = { &d, &v };

	assert_int_equal(cuInit(0), CUDA_SUCCESS);
	assert_int_equal(cuModuleLoadData(&m, &bad), CUDA_ERROR_INVALID_IMAGE);
	assert_int_equal(cuModuleLoadData(&m, &image), CUDA_SUCCESS);
	assert_int_equal(cuModuleGetFunction(&f, m, "no_such_kernel"), CUDA_ERROR_NOT_FOUND);
	assert_int_equal(cuModuleGetFunction(&f, m, "set"), CUDA_SUCCESS);
	assert_int_equal(cuModuleGetFunction(&f2, m, "set"), CUDA_SUCCESS);
	assert_ptr_equal(f, f2);
	assert_int_equal(cuFuncGetName(&name, f), CUDA_SUCCESS);
	assert_string_equal(name, "set");

	assert_int_equal(cuMemAlloc(&d, sizeof(int)), CUDA_SUCCESS);
	assert_int_equal(cuLaunchKernel(f, 1, 1, 1, 1, 1, 1, 0, NULL, args, NULL), CUDA_SUCCESS);
	assert_int_equal(cuMemcpyDtoH(&h, d, sizeof(int)), CUDA_SUCCESS);
	assert_int_equal(h, 11);
	assert_int_equal(cuLaunchKernel((CUfunction)(uintptr_t)0xdead0, 1, 1, 1, 1, 1, 1, 0, NULL,
					args, NULL), CUDA_ERROR_INVALID_HANDLE);
	assert_int_equal(cuLaunchKernel(f, 1, 1, 1, 1, 1, 1, 0, NULL, NULL, NULL),
			 CUDA_ERROR_INVALID_VALUE);

	assert_int_equal(cuLibraryLoadData(&l, &image, NULL, NULL, 0, NULL, NULL, 0), CUDA_SUCCESS);
	assert_int_equal(cuLibraryGetKernel(&k, l, "nope"), CUDA_ERROR_NOT_FOUND);
	assert_int_equal(cuLibraryGetKernel(&k, l, "set"), CUDA_SUCCESS);
	assert_int_equal(cuLibraryGetKernel(&k2, l, "set"), CUDA_SUCCESS);
	assert_ptr_equal(k, k2);
	assert_int_equal(cuKernelGetFunction(&f2, k), CUDA_SUCCESS);
	assert_ptr_not_equal((void *)f2, (void *)k);
	v = 12;
	assert_int_equal(cuLaunchKernel(f2, 1, 1, 1, 1, 1, 1, 0, NULL, args, NULL), CUDA_SUCCESS);
	assert_int_equal(cuMemcpyDtoH(&h, d, sizeof(int)), CUDA_SUCCESS);
	assert_int_equal(h, 12);
	assert_int_equal(cuMemcpyHtoD(d + 2, &h, sizeof(int)), CUDA_ERROR_INVALID_VALUE);
	assert_int_equal(cuMemFree(d), CUDA_SUCCESS);
	assert_int_equal(cuLibraryUnload(l), CUDA_SUCCESS);
	assert_int_equal(cuModuleUnload(m), CUDA_SUCCESS);
	assert_int_equal(cuModuleGetFunction(&f, m, "set"), CUDA_ERROR_INVALID_HANDLE);
}

/* ---- what the llminstr agent needs of the driver ---- */

static void test_driver_get_proc_address(void **state)
{
	CUdriverProcAddressQueryResult st = 99;
	CUresult (*ver)(int *);
	void *fn;
	int v = 0;

	assert_int_equal(cuInit(0), CUDA_SUCCESS);
	/* the exported variant the base name maps to in cuda.h */
	assert_int_equal(cuGetProcAddress("cuMemAlloc", &fn, 12000, 0, &st), CUDA_SUCCESS);
	assert_int_equal(st, CU_GET_PROC_ADDRESS_SUCCESS);
	assert_ptr_equal(fn, dlsym(RTLD_DEFAULT, "cuMemAlloc_v2"));
	assert_int_equal(cuGetProcAddress("cuMemcpyDtoHAsync", &fn, 13000,
					  CU_GET_PROC_ADDRESS_LEGACY_STREAM, &st), CUDA_SUCCESS);
	assert_ptr_equal(fn, dlsym(RTLD_DEFAULT, "cuMemcpyDtoHAsync_v2"));
	assert_int_equal(cuGetProcAddress("cuMemcpyDtoHAsync", &fn, 13000,
					  CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM, &st),
			 CUDA_SUCCESS);
	assert_ptr_equal(fn, dlsym(RTLD_DEFAULT, "cuMemcpyDtoHAsync_v2_ptsz"));
	/* no per-thread twin: the function itself */
	assert_int_equal(cuGetProcAddress("cuMemHostRegister", &fn, 12000,
					  CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM, &st),
			 CUDA_SUCCESS);
	assert_ptr_equal(fn, dlsym(RTLD_DEFAULT, "cuMemHostRegister_v2"));
	assert_int_equal(cuGetProcAddress("cuLaunchHostFunc", &fn, 12000, 0, NULL), CUDA_SUCCESS);
	assert_ptr_equal(fn, dlsym(RTLD_DEFAULT, "cuLaunchHostFunc"));
	/* a pointer it hands out is the function */
	assert_int_equal(cuGetProcAddress("cuDriverGetVersion", (void **)&ver, 12000, 0, &st),
			 CUDA_SUCCESS);
	assert_int_equal(ver(&v), CUDA_SUCCESS);
	assert_int_equal(v, CUDA_VERSION);
	/* asked for a version older than the variant it has */
	fn = (void *)1;
	assert_int_equal(cuGetProcAddress("cuMemAlloc", &fn, 3000, 0, &st), CUDA_ERROR_NOT_FOUND);
	assert_int_equal(st, CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT);
	assert_null(fn);
	assert_int_equal(cuGetProcAddress("cuNoSuchFunction", &fn, 13000, 0, &st),
			 CUDA_ERROR_NOT_FOUND);
	assert_int_equal(st, CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND);
	assert_int_equal(cuGetProcAddress("cuMemAlloc", NULL, 13000, 0, &st),
			 CUDA_ERROR_INVALID_VALUE);
	assert_int_equal(cuGetProcAddress("cuMemAlloc", &fn, 13000, 4, &st),
			 CUDA_ERROR_INVALID_VALUE);
}

static void test_driver_pointer_attributes(void **state)
{
	CUdeviceptr d, base = 0;
	unsigned int type = 0;
	CUcontext ctx, cur;
	size_t size = 0, fr0, fr1, total;
	void *pinned;
	int local = 0, ord = -1;

	assert_int_equal(cuInit(0), CUDA_SUCCESS);
	assert_int_equal(cuMemGetInfo(&fr0, &total), CUDA_SUCCESS);
	assert_int_equal(cuMemAlloc(&d, 1 << 20), CUDA_SUCCESS);
	assert_int_equal(cuMemGetInfo(&fr1, &total), CUDA_SUCCESS);
	assert_int_equal(fr0 - fr1, 1 << 20);
	assert_int_equal(cuPointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, d + 100),
			 CUDA_SUCCESS);
	assert_int_equal(type, CU_MEMORYTYPE_DEVICE);
	assert_int_equal(cuPointerGetAttribute(&ctx, CU_POINTER_ATTRIBUTE_CONTEXT, d), CUDA_SUCCESS);
	assert_int_equal(cuCtxGetCurrent(&cur), CUDA_SUCCESS);
	assert_ptr_equal(ctx, cur);
	assert_int_equal(cuPointerGetAttribute(&ord, CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL, d),
			 CUDA_SUCCESS);
	assert_int_equal(ord, 0);
	assert_int_equal(cuMemGetAddressRange(&base, &size, d + 4096), CUDA_SUCCESS);
	assert_true(base == d);
	assert_int_equal(size, 1 << 20);
	/* pageable host memory: unknown to CUDA, as NVIDIA's answers */
	assert_int_equal(cuPointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE,
					       (CUdeviceptr)(uintptr_t)&local),
			 CUDA_ERROR_INVALID_VALUE);
	assert_int_equal(cuMemGetAddressRange(&base, &size, (CUdeviceptr)(uintptr_t)&local),
			 CUDA_ERROR_NOT_FOUND);
	assert_int_equal(cuMemAllocHost(&pinned, 64), CUDA_SUCCESS);
	assert_int_equal(cuPointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE,
					       (CUdeviceptr)(uintptr_t)pinned), CUDA_SUCCESS);
	assert_int_equal(type, CU_MEMORYTYPE_HOST);
	assert_int_equal(cuMemFreeHost(pinned), CUDA_SUCCESS);
	assert_int_equal(cuMemFree(d), CUDA_SUCCESS);
	assert_int_equal(cuMemGetInfo(&fr1, &total), CUDA_SUCCESS);
	assert_int_equal(fr1, fr0);
	/* freed: unknown again */
	assert_int_equal(cuPointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, d),
			 CUDA_ERROR_INVALID_VALUE);
}

static void test_driver_host_register(void **state)
{
	enum { N = 8192 };
	char *buf = aligned_alloc(4096, N), *buf2 = malloc(N);
	unsigned int type = 0;
	CUdeviceptr d;
	CUstream s;

	assert_non_null(buf);
	assert_non_null(buf2);
	assert_int_equal(cuInit(0), CUDA_SUCCESS);
	assert_int_equal(cuMemHostRegister(buf, N, 0), CUDA_SUCCESS);
	assert_int_equal(cuPointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE,
					       (CUdeviceptr)(uintptr_t)(buf + 10)), CUDA_SUCCESS);
	assert_int_equal(type, CU_MEMORYTYPE_HOST);
	/* a range that overlaps a registered one */
	assert_int_equal(cuMemHostRegister(buf + 4096, 100, 0),
			 CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED);
	assert_int_equal(cuMemHostRegister(NULL, 100, 0), CUDA_ERROR_INVALID_VALUE);
	assert_int_equal(cuMemHostRegister(buf2, 0, 0), CUDA_ERROR_INVALID_VALUE);
	/* the caller's memory is not the driver's to free */
	assert_int_equal(cuMemFreeHost(buf), CUDA_ERROR_INVALID_VALUE);
	/* a copy into it on a stream */
	assert_int_equal(cuMemAlloc(&d, N), CUDA_SUCCESS);
	assert_int_equal(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING), CUDA_SUCCESS);
	assert_int_equal(cuMemsetD8Async(d, 0x5a, N, s), CUDA_SUCCESS);
	assert_int_equal(cuMemcpyDtoHAsync(buf, d, N, s), CUDA_SUCCESS);
	assert_int_equal(cuStreamSynchronize(s), CUDA_SUCCESS);
	assert_int_equal(buf[0], 0x5a);
	assert_int_equal(buf[N - 1], 0x5a);
	assert_int_equal(cuMemHostUnregister(buf + 1), CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED);
	assert_int_equal(cuMemHostUnregister(buf), CUDA_SUCCESS);
	assert_int_equal(cuMemHostUnregister(buf), CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED);
	assert_int_equal(cuPointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE,
					       (CUdeviceptr)(uintptr_t)buf), CUDA_ERROR_INVALID_VALUE);
	/* still the caller's: usable, and freed by the caller */
	buf[0] = 1;
	assert_int_equal(cuStreamDestroy(s), CUDA_SUCCESS);
	assert_int_equal(cuMemFree(d), CUDA_SUCCESS);
	free(buf);
	free(buf2);
}

struct hf {
	int *seen_by_cb;	/* what the callback read */
	int *val;
	atomic_int calls;
	int order[4];
};

static void host_cb(void *arg)
{
	struct hf *h = arg;
	int n = atomic_fetch_add(&h->calls, 1);

	*h->seen_by_cb = *h->val;
	if (n < 4)
		h->order[n] = *h->val;
}

static void test_driver_host_func(void **state)
{
	static struct gate g;
	struct hf h = { 0 };
	CUdeviceptr d;
	CUstream s;
	int val = 0, seen = -1, one_ = 1, two = 2;

	h.seen_by_cb = &seen;
	h.val = &val;
	assert_int_equal(cuInit(0), CUDA_SUCCESS);
	assert_int_equal(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING), CUDA_SUCCESS);
	assert_int_equal(cuMemAlloc(&d, sizeof(int)), CUDA_SUCCESS);
	assert_int_equal(gate((cudaStream_t)s, &g), cudaSuccess);
	assert_int_equal(cuMemcpyHtoDAsync(d, &one_, sizeof(int), s), CUDA_SUCCESS);
	assert_int_equal(cuMemcpyDtoHAsync(&val, d, sizeof(int), s), CUDA_SUCCESS);
	assert_int_equal(cuLaunchHostFunc(s, host_cb, &h), CUDA_SUCCESS);
	assert_int_equal(cuMemcpyHtoDAsync(d, &two, sizeof(int), s), CUDA_SUCCESS);
	assert_int_equal(cuMemcpyDtoHAsync(&val, d, sizeof(int), s), CUDA_SUCCESS);
	assert_int_equal(cuLaunchHostFunc(s, host_cb, &h), CUDA_SUCCESS);
	/* held behind the gate: not run yet */
	gate_wait_started(&g);
	assert_int_equal(atomic_load(&h.calls), 0);
	gate_open(&g);
	assert_int_equal(cuStreamSynchronize(s), CUDA_SUCCESS);
	assert_false(atomic_load(&g.timed_out));
	/* each ran after the copies before it, and before those after it */
	assert_int_equal(atomic_load(&h.calls), 2);
	assert_int_equal(h.order[0], 1);
	assert_int_equal(h.order[1], 2);
	assert_int_equal(cuLaunchHostFunc(s, NULL, &h), CUDA_ERROR_INVALID_VALUE);
	assert_int_equal(cuLaunchHostFunc((CUstream)(uintptr_t)0xbad0, host_cb, &h),
			 CUDA_ERROR_INVALID_HANDLE);
	assert_int_equal(cuMemFree(d), CUDA_SUCCESS);
	assert_int_equal(cuStreamDestroy(s), CUDA_SUCCESS);
}

static void *ctx_thread(void *arg)
{
	CUcontext c = NULL, prim = arg, popped = NULL;
	int *bad = calloc(1, sizeof(int));

	/* a fresh thread sees the primary context, as under the runtime */
	if (cuCtxGetCurrent(&c) || c != prim)
		*bad = 1;
	else if (cuCtxPopCurrent(&popped) || popped != prim)
		*bad = 2;
	else if (cuCtxGetCurrent(&c) || c != NULL)
		*bad = 3;
	else if (cuCtxPopCurrent(&popped) != CUDA_ERROR_INVALID_CONTEXT)
		*bad = 4;
	else if (cuCtxPushCurrent(prim) || cuCtxGetCurrent(&c) || c != prim)
		*bad = 5;
	else if (cuCtxPushCurrent(NULL) != CUDA_ERROR_INVALID_VALUE)
		*bad = 6;
	else if (cuCtxPushCurrent((CUcontext)(uintptr_t)0x1234) != CUDA_ERROR_INVALID_CONTEXT)
		*bad = 7;
	else if (cuCtxSetCurrent(NULL) || cuCtxGetCurrent(&c) || c != NULL)
		*bad = 8;	/* set NULL pops */
	else if (cuCtxSetCurrent(prim) || cuCtxGetCurrent(&c) || c != prim)
		*bad = 9;
	return bad;
}

static void test_driver_context_stack(void **state)
{
	CUcontext prim;
	pthread_t t;
	int *bad;

	assert_int_equal(cuInit(0), CUDA_SUCCESS);
	assert_int_equal(cuDevicePrimaryCtxRetain(&prim, 0), CUDA_SUCCESS);
	assert_int_equal(pthread_create(&t, NULL, ctx_thread, prim), 0);
	assert_int_equal(pthread_join(t, (void **)&bad), 0);
	assert_int_equal(*bad, 0);
	free(bad);
	assert_int_equal(cuDevicePrimaryCtxRelease(0), CUDA_SUCCESS);
}

static void test_driver_stream_is_capturing(void **state)
{
	CUstreamCaptureStatus st = 99;
	CUgraph g;
	CUstream s;

	assert_int_equal(cuInit(0), CUDA_SUCCESS);
	assert_int_equal(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING), CUDA_SUCCESS);
	assert_int_equal(cuStreamIsCapturing(s, &st), CUDA_SUCCESS);
	assert_int_equal(st, CU_STREAM_CAPTURE_STATUS_NONE);
	assert_int_equal(cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_RELAXED), CUDA_SUCCESS);
	assert_int_equal(cuStreamIsCapturing(s, &st), CUDA_SUCCESS);
	assert_int_equal(st, CU_STREAM_CAPTURE_STATUS_ACTIVE);
	assert_int_equal(cuStreamEndCapture(s, &g), CUDA_SUCCESS);
	assert_int_equal(cuStreamIsCapturing(s, &st), CUDA_SUCCESS);
	assert_int_equal(st, CU_STREAM_CAPTURE_STATUS_NONE);
	assert_int_equal(cuGraphDestroy(g), CUDA_SUCCESS);
	assert_int_equal(cuStreamDestroy(s), CUDA_SUCCESS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stream_order_async),
		cmocka_unit_test(test_events),
		cmocka_unit_test(test_cross_stream_and_legacy),
		cmocka_unit_test(test_graph_capture_replay),
		cmocka_unit_test(test_memcpy_kinds_and_bad_pointers),
		cmocka_unit_test(test_nvcc_path),
		cmocka_unit_test(test_per_thread_stream),
		cmocka_unit_test(test_driver_modules),
		cmocka_unit_test(test_driver_get_proc_address),
		cmocka_unit_test(test_driver_pointer_attributes),
		cmocka_unit_test(test_driver_host_register),
		cmocka_unit_test(test_driver_host_func),
		cmocka_unit_test(test_driver_context_stack),
		cmocka_unit_test(test_driver_stream_is_capturing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
#endif
