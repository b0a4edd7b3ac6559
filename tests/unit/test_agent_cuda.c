// SPDX-License-Identifier: MIT
/*
 * Unit tests of the agent's device path on the CPU stand-in CUDA driver
 * (build/sim/libcuda.so.1, linked, so the agent finds it loaded): the
 * snapshot taken in stream order, the application's stream never waiting,
 * refusals (too large, past the allocation, a capturing stream), the
 * device ring's --on-full drop, a thread without a current context, a CUDA
 * failure turning capture off, and the staging memory freed at detach.
 *
 * What must still be running is held by a gate kernel that the test opens
 * (so "not yet done" is certain, not a race against a timer).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#if !__has_include("sim.h")
int main(void)
{
	printf("SKIP: built without the CUDA toolkit headers, so without the stand-in\n");
	return 77;
}
#else
#include <cuda.h>
#include <cuda_runtime_api.h>
#include "sim.h"
#include "agent/cudrv.h"
#include "fake_tracer.h"

/* the agent's own declarations of NVIDIA's values, checked against cuda.h */
_Static_assert(AG_CUDA_ERROR_INVALID_VALUE == CUDA_ERROR_INVALID_VALUE, "cudrv.h");
_Static_assert(AG_CUDA_ERROR_NOT_INITIALIZED == CUDA_ERROR_NOT_INITIALIZED, "cudrv.h");
_Static_assert(AG_CUDA_ERROR_DEINITIALIZED == CUDA_ERROR_DEINITIALIZED, "cudrv.h");
_Static_assert(AG_CU_POINTER_ATTRIBUTE_CONTEXT == CU_POINTER_ATTRIBUTE_CONTEXT, "cudrv.h");
_Static_assert(AG_CU_POINTER_ATTRIBUTE_MEMORY_TYPE == CU_POINTER_ATTRIBUTE_MEMORY_TYPE, "cudrv.h");
_Static_assert(AG_CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL == CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL,
	       "cudrv.h");
_Static_assert(AG_CU_MEMORYTYPE_HOST == CU_MEMORYTYPE_HOST, "cudrv.h");
_Static_assert(AG_CU_MEMORYTYPE_DEVICE == CU_MEMORYTYPE_DEVICE, "cudrv.h");
_Static_assert(AG_CU_MEMORYTYPE_ARRAY == CU_MEMORYTYPE_ARRAY, "cudrv.h");
_Static_assert(AG_CU_MEMORYTYPE_UNIFIED == CU_MEMORYTYPE_UNIFIED, "cudrv.h");
_Static_assert(AG_CU_STREAM_NON_BLOCKING == CU_STREAM_NON_BLOCKING, "cudrv.h");
_Static_assert(AG_CU_EVENT_DISABLE_TIMING == CU_EVENT_DISABLE_TIMING, "cudrv.h");
_Static_assert(AG_CU_MEMHOSTREGISTER_PORTABLE == CU_MEMHOSTREGISTER_PORTABLE, "cudrv.h");
_Static_assert(AG_CU_STREAM_CAPTURE_STATUS_NONE == CU_STREAM_CAPTURE_STATUS_NONE, "cudrv.h");
_Static_assert(AG_CU_GET_PROC_ADDRESS_LEGACY_STREAM == CU_GET_PROC_ADDRESS_LEGACY_STREAM,
	       "cudrv.h");
_Static_assert(AG_CU_GET_PROC_ADDRESS_SUCCESS == CU_GET_PROC_ADDRESS_SUCCESS, "cudrv.h");
_Static_assert(sizeof(ag_CUdeviceptr) == sizeof(CUdeviceptr), "cudrv.h");

#define P(i, T) (*(T *)args[i])

struct gate {
	atomic_int started, open, timed_out;
};

static double now_s(void)
{
	return ft_now_s();
}

/* Holds its stream until the test opens it (a minute at most). */
static void k_gate(dim3 g, dim3 b, size_t sh, void **args)
{
	struct gate *gt = P(0, struct gate *);
	double t0 = now_s();

	atomic_store(&gt->started, 1);
	while (!atomic_load(&gt->open)) {
		if (now_s() - t0 > 60) {
			atomic_store(&gt->timed_out, 1);
			return;
		}
		usleep(1000);
	}
}

static void k_fill(dim3 g, dim3 b, size_t sh, void **args)
{
	float *p = P(0, float *), v = P(1, float);
	int n = P(2, int), i;

	for (i = 0; i < n; i++)
		p[i] = v + (float)i;
}

#define PTR sizeof(void *)
static const struct sim_kernel_desc descs[] = {
	{ "gate", k_gate, 1, { PTR } },
	{ "fill", k_fill, 3, { PTR, sizeof(float), sizeof(int) } },
};
static const struct sim_image image = { SIM_IMAGE_MAGIC, SIM_IMAGE_VERSION, 2, descs };

static CUfunction f_gate, f_fill;
static struct ft T;

static const struct ft_opts base = {
	.data_size = 1 << 20, .nslots = 64, .spec = "all",
	.on_full = LLMI_ON_FULL_BLOCK, .device_buffer = 1 << 20,
};

static int setup(void **state)
{
	CUmodule m;

	if (cuInit(0) || cuModuleLoadData(&m, &image) || cuModuleGetFunction(&f_gate, m, "gate") ||
	    cuModuleGetFunction(&f_fill, m, "fill"))
		return -1;
	T.sock = T.memfd = T.efd = -1;
	return 0;
}

static void gate(CUstream s, struct gate *g)
{
	void *a[] = { &g };

	memset(g, 0, sizeof(*g));
	assert_int_equal(cuLaunchKernel(f_gate, 1, 1, 1, 1, 1, 1, 0, s, a, NULL), CUDA_SUCCESS);
}

static void fill(CUstream s, CUdeviceptr p, float v, int n)
{
	void *a[] = { &p, &v, &n };

	assert_int_equal(cuLaunchKernel(f_fill, 1, 1, 1, 1, 1, 1, 0, s, a, NULL), CUDA_SUCCESS);
}

static int teardown(void **state)
{
	if (T.map)
		ft_detach(&T);
	return 0;
}

static size_t dev_free(void)
{
	size_t fr = 0, total;

	cuMemGetInfo(&fr, &total);
	return fr;
}

static void test_snapshot_in_stream_order(void **state)
{
	enum { N = 4096 };
	static struct gate g;
	float *host = malloc(N * sizeof(float));
	struct llmi_ring_slot *s;
	int64_t n = N;
	CUdeviceptr buf;
	CUstream st;
	float *d;
	int i;

	assert_non_null(host);
	assert_int_equal(cuStreamCreate(&st, 0), CUDA_SUCCESS);
	assert_int_equal(cuMemAlloc(&buf, N * sizeof(float)), CUDA_SUCCESS);
	ft_attach(&T, &base);
	assert_int_equal(T.reply.flags & LLMI_AGENT_CUDA, LLMI_AGENT_CUDA);
	llminstr_step(3);
	/* held: the tensor's values are made after the gate, then captured,
	 * then overwritten at once, all on the stream */
	gate(st, &g);
	fill(st, buf, 1.0f, N);
	assert_int_equal(llminstr_capture("blk.0.resid", (void *)(uintptr_t)buf, LLMINSTR_F32, 1,
					  &n, st), 1);
	fill(st, buf, 1000.0f, N);
	/* the capture returned while its stream is still held: it queued
	 * its work and waited for nothing */
	assert_int_equal(atomic_load(&g.open), 0);
	assert_int_equal(cuStreamQuery(st), CUDA_ERROR_NOT_READY);
	assert_null(llmi_ring_peek(&T.r, 0, (void **)&d, &(enum llmi_slot_state){ 0 }));
	atomic_store(&g.open, 1);
	assert_int_equal(ft_wait_slot(&T, 0, &s, (void **)&d), LLMI_SLOT_READY);
	assert_false(atomic_load(&g.timed_out));
	/* the values of the moment of the capture, not the later ones */
	for (i = 0; i < N; i++)
		if (d[i] != 1.0f + (float)i)
			fail_msg("element %d is %g, not %g", i, d[i], 1.0f + (float)i);
	assert_string_equal(s->name, "blk.0.resid");
	assert_int_equal(s->step, 3);
	assert_int_equal(s->flags, LLMI_SLOT_DEVICE);
	assert_int_equal(s->stream, (uint64_t)(uintptr_t)st);
	assert_int_equal(s->bytes, N * sizeof(float));
	assert_true(FT_WAIT_UNTIL(ft_events(&T) == 1));
	/* and the program's own values are the later ones */
	assert_int_equal(cuStreamSynchronize(st), CUDA_SUCCESS);
	assert_int_equal(cuMemcpyDtoH(host, buf, N * sizeof(float)), CUDA_SUCCESS);
	assert_true(host[0] == 1000.0f && host[N - 1] == 1000.0f + (N - 1));
	ft_detach(&T);
	assert_int_equal(cuMemFree(buf), CUDA_SUCCESS);
	assert_int_equal(cuStreamDestroy(st), CUDA_SUCCESS);
	free(host);
}

static void test_staging_freed_at_detach(void **state)
{
	size_t before = dev_free();
	float x[4] = { 1, 2, 3, 4 };
	struct llmi_ring_slot *s;
	int64_t n = 4;
	CUdeviceptr buf;
	void *d;

	assert_int_equal(cuMemAlloc(&buf, sizeof(x)), CUDA_SUCCESS);
	assert_int_equal(cuMemcpyHtoD(buf, x, sizeof(x)), CUDA_SUCCESS);
	ft_attach(&T, &base);
	/* nothing on the device until the first device capture */
	assert_int_equal(dev_free(), before - sizeof(x));
	assert_int_equal(llminstr_capture("x", (void *)(uintptr_t)buf, LLMINSTR_F32, 1, &n, NULL), 1);
	assert_int_equal(dev_free(), before - sizeof(x) - base.device_buffer);
	assert_int_equal(ft_wait_slot(&T, 0, &s, &d), LLMI_SLOT_READY);
	assert_memory_equal(d, x, sizeof(x));
	ft_detach(&T);
	/* the tracer went: the staging ring is given back */
	assert_true(FT_WAIT_UNTIL(dev_free() == before - sizeof(x)));
	assert_int_equal(cuMemFree(buf), CUDA_SUCCESS);
}

static void test_device_refusals(void **state)
{
	struct ft_opts o = base;
	int64_t n_big = 2048, n4 = 4, n8 = 8;
	struct llmi_ring_drops *dr;
	CUdeviceptr buf;

	o.device_buffer = 4096;
	assert_int_equal(cuMemAlloc(&buf, 8192), CUDA_SUCCESS);
	ft_attach(&T, &o);
	/* larger than --device-buffer: refused, counted "too large" */
	assert_int_equal(llminstr_capture("big", (void *)(uintptr_t)buf, LLMINSTR_F32, 1, &n_big,
					  NULL), -E2BIG);
	dr = ft_drops(&T, "big");
	assert_non_null(dr);
	assert_int_equal(atomic_load(&dr->count[LLMI_DROP_TOO_LARGE]), 1);
	assert_int_equal(atomic_load(&T.r.hdr->dropped[LLMI_DROP_TOO_LARGE]), 1);
	/* running past the end of its allocation */
	assert_int_equal(llminstr_capture("past", (void *)(uintptr_t)(buf + 8192 - 16),
					  LLMINSTR_F32, 1, &n8, NULL), -EFAULT);
	assert_int_equal(atomic_load(&ft_drops(&T, "past")->count[LLMI_DROP_ERROR]), 1);
	/* nothing of these reached the ring; capture goes on */
	assert_int_equal(atomic_load(&T.r.hdr->prod_seq), 0);
	assert_int_equal(llminstr_capture("ok", (void *)(uintptr_t)buf, LLMINSTR_F32, 1, &n4, NULL),
			 1);
	assert_int_equal(llminstr_attached(), 1);
	ft_detach(&T);
	assert_int_equal(cuMemFree(buf), CUDA_SUCCESS);
}

static void test_graph_capture_refused(void **state)
{
	int64_t n = 4;
	CUdeviceptr buf;
	CUstream st;
	CUgraph gr;
	size_t nodes = 99;

	assert_int_equal(cuMemAlloc(&buf, 16), CUDA_SUCCESS);
	assert_int_equal(cuStreamCreate(&st, CU_STREAM_NON_BLOCKING), CUDA_SUCCESS);
	ft_attach(&T, &base);
	assert_int_equal(cuStreamBeginCapture(st, CU_STREAM_CAPTURE_MODE_RELAXED), CUDA_SUCCESS);
	assert_int_equal(llminstr_capture("g", (void *)(uintptr_t)buf, LLMINSTR_F32, 1, &n, st),
			 -ENOTSUP);
	/* the program's graph is as it made it: nothing of ours in it */
	assert_int_equal(cuStreamEndCapture(st, &gr), CUDA_SUCCESS);
	assert_int_equal(cudaGraphGetNodes(gr, NULL, &nodes), cudaSuccess);
	assert_int_equal(nodes, 0);
	assert_int_equal(atomic_load(&ft_drops(&T, "g")->count[LLMI_DROP_ERROR]), 1);
	assert_int_equal(llminstr_attached(), 1);
	assert_int_equal(cuGraphDestroy(gr), CUDA_SUCCESS);
	ft_detach(&T);
	assert_int_equal(cuStreamDestroy(st), CUDA_SUCCESS);
	assert_int_equal(cuMemFree(buf), CUDA_SUCCESS);
}

static void test_device_ring_full_drop(void **state)
{
	struct ft_opts o = base;
	static struct gate g;
	struct llmi_ring_slot *s;
	int64_t n = 1024;	/* 4 KiB */
	CUdeviceptr buf;
	CUstream st;
	void *d;

	o.device_buffer = 8192;
	o.on_full = LLMI_ON_FULL_DROP;
	assert_int_equal(cuMemAlloc(&buf, 4096), CUDA_SUCCESS);
	assert_int_equal(cuStreamCreate(&st, CU_STREAM_NON_BLOCKING), CUDA_SUCCESS);
	ft_attach(&T, &o);
	gate(st, &g);
	/* the stream is held: the snapshots stay in the staging ring */
	assert_int_equal(llminstr_capture("a", (void *)(uintptr_t)buf, LLMINSTR_F32, 1, &n, st), 1);
	assert_int_equal(llminstr_capture("b", (void *)(uintptr_t)buf, LLMINSTR_F32, 1, &n, st), 1);
	assert_int_equal(llminstr_capture("c", (void *)(uintptr_t)buf, LLMINSTR_F32, 1, &n, st),
			 -ENOBUFS);
	assert_int_equal(atomic_load(&ft_drops(&T, "c")->count[LLMI_DROP_FULL]), 1);
	atomic_store(&g.open, 1);
	assert_int_equal(ft_wait_slot(&T, 1, &s, &d), LLMI_SLOT_READY);
	/* the side stream has copied them out: room again */
	assert_true(FT_WAIT_UNTIL(llminstr_capture("c", (void *)(uintptr_t)buf, LLMINSTR_F32, 1,
						   &n, st) == 1));
	assert_int_equal(ft_wait_slot(&T, 2, &s, &d), LLMI_SLOT_READY);
	assert_string_equal(s->name, "c");
	ft_detach(&T);
	assert_int_equal(cuStreamDestroy(st), CUDA_SUCCESS);
	assert_int_equal(cuMemFree(buf), CUDA_SUCCESS);
}

struct noctx {
	CUdeviceptr buf;
	int rc;
	CUcontext before, after;
	CUresult popped;
};

static void *noctx_thread(void *arg)
{
	struct noctx *c = arg;
	int64_t n = 4;
	CUcontext old;

	/* this thread has no current context (as a thread that never used
	 * CUDA on NVIDIA's driver) */
	c->popped = cuCtxPopCurrent(&old);
	cuCtxGetCurrent(&c->before);
	c->rc = llminstr_capture("t", (void *)(uintptr_t)c->buf, LLMINSTR_F32, 1, &n, NULL);
	cuCtxGetCurrent(&c->after);
	return NULL;
}

static void test_thread_without_context(void **state)
{
	float x[4] = { 4, 3, 2, 1 };
	struct noctx c = { 0 };
	struct llmi_ring_slot *s;
	pthread_t t;
	void *d;

	assert_int_equal(cuMemAlloc(&c.buf, sizeof(x)), CUDA_SUCCESS);
	assert_int_equal(cuMemcpyHtoD(c.buf, x, sizeof(x)), CUDA_SUCCESS);
	ft_attach(&T, &base);
	assert_int_equal(pthread_create(&t, NULL, noctx_thread, &c), 0);
	pthread_join(t, NULL);
	assert_int_equal(c.popped, CUDA_SUCCESS);
	assert_null(c.before);
	assert_int_equal(c.rc, 1);
	/* the agent left the thread's context as it found it */
	assert_null(c.after);
	assert_int_equal(ft_wait_slot(&T, 0, &s, &d), LLMI_SLOT_READY);
	assert_memory_equal(d, x, sizeof(x));
	ft_detach(&T);
	assert_int_equal(cuMemFree(c.buf), CUDA_SUCCESS);
}

static void test_host_memory_in_a_cuda_process(void **state)
{
	float x[4] = { 1, 2, 3, 4 }, *pinned;
	struct llmi_ring_slot *s;
	int64_t n = 4;
	void *d;

	assert_int_equal(cuMemAllocHost((void **)&pinned, sizeof(x)), CUDA_SUCCESS);
	memcpy(pinned, x, sizeof(x));
	ft_attach(&T, &base);
	assert_int_equal(llminstr_capture("pageable", x, LLMINSTR_F32, 1, &n, NULL), 1);
	assert_int_equal(llminstr_capture("pinned", pinned, LLMINSTR_F32, 1, &n, NULL), 1);
	assert_int_equal(ft_wait_slot(&T, 0, &s, &d), LLMI_SLOT_READY);
	assert_int_equal(s->flags, 0);
	assert_memory_equal(d, x, sizeof(x));
	assert_int_equal(ft_wait_slot(&T, 1, &s, &d), LLMI_SLOT_READY);
	assert_int_equal(s->flags, 0);
	assert_memory_equal(d, x, sizeof(x));
	ft_detach(&T);
	assert_int_equal(cuMemFreeHost(pinned), CUDA_SUCCESS);
}

static void test_cuda_failure_turns_capture_off(void **state)
{
	struct ft_opts o = base;
	int64_t n = 4;
	CUdeviceptr buf;
	char c;

	assert_int_equal(cuMemAlloc(&buf, 16), CUDA_SUCCESS);
	ft_attach(&T, &o);
	/* a stream handle the driver does not know makes its calls fail */
	assert_int_equal(llminstr_capture("x", (void *)(uintptr_t)buf, LLMINSTR_F32, 1, &n,
					  (void *)(uintptr_t)0xdead0), -EIO);
	assert_int_equal(llminstr_attached(), 0);
	assert_int_equal(llminstr_capture("x", (void *)(uintptr_t)buf, LLMINSTR_F32, 1, &n, NULL), 0);
	/* the tracer sees EOF, and why in the ring's header */
	assert_true(FT_WAIT_UNTIL(recv(T.sock, &c, 1, MSG_DONTWAIT) == 0));
	assert_int_equal(atomic_load(&T.r.hdr->agent_error), -EIO);
	if (!strstr(T.r.hdr->agent_msg, "CUDA_ERROR_INVALID_HANDLE"))
		fail_msg("agent_msg: %s", T.r.hdr->agent_msg);
	assert_int_equal(atomic_load(&ft_drops(&T, "x")->count[LLMI_DROP_ERROR]), 1);
	ft_close(&T);
	/* and a new tracer starts afresh */
	ft_attach(&T, &base);
	assert_int_equal(llminstr_capture("x", (void *)(uintptr_t)buf, LLMINSTR_F32, 1, &n, NULL), 1);
	ft_detach(&T);
	assert_int_equal(cuMemFree(buf), CUDA_SUCCESS);
}

/* A tracer that hangs up while a copy is queued: the agent waits for it
 * before it lets go of the ring, and says when it has. */
static void test_hangup_waits_for_copies(void **state)
{
	float x[4] = { 5, 6, 7, 8 };
	static struct gate g;
	struct llmi_ring_slot *s;
	int64_t n = 4;
	CUdeviceptr buf;
	CUstream st;
	void *d;

	assert_int_equal(cuMemAlloc(&buf, sizeof(x)), CUDA_SUCCESS);
	assert_int_equal(cuMemcpyHtoD(buf, x, sizeof(x)), CUDA_SUCCESS);
	assert_int_equal(cuStreamCreate(&st, CU_STREAM_NON_BLOCKING), CUDA_SUCCESS);
	ft_attach(&T, &base);
	gate(st, &g);
	assert_int_equal(llminstr_capture("q", (void *)(uintptr_t)buf, LLMINSTR_F32, 1, &n, st), 1);
	ft_hangup(&T);
	assert_true(FT_WAIT_UNTIL(!llminstr_attached()));
	/* the copy is held behind the gate: the ring is not let go of yet */
	assert_int_equal(atomic_load(&T.r.hdr->agent_done), 0);
	assert_null(llmi_ring_peek(&T.r, 0, &d, &(enum llmi_slot_state){ 0 }));
	atomic_store(&g.open, 1);
	assert_true(FT_WAIT_UNTIL(atomic_load(&T.r.hdr->agent_done) == 1));
	assert_false(atomic_load(&g.timed_out));
	assert_int_equal(ft_wait_slot(&T, 0, &s, &d), LLMI_SLOT_READY);
	assert_memory_equal(d, x, sizeof(x));
	ft_close(&T);
	assert_int_equal(cuStreamDestroy(st), CUDA_SUCCESS);
	assert_int_equal(cuMemFree(buf), CUDA_SUCCESS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_snapshot_in_stream_order, teardown),
		cmocka_unit_test_teardown(test_staging_freed_at_detach, teardown),
		cmocka_unit_test_teardown(test_device_refusals, teardown),
		cmocka_unit_test_teardown(test_graph_capture_refused, teardown),
		cmocka_unit_test_teardown(test_device_ring_full_drop, teardown),
		cmocka_unit_test_teardown(test_thread_without_context, teardown),
		cmocka_unit_test_teardown(test_host_memory_in_a_cuda_process, teardown),
		cmocka_unit_test_teardown(test_cuda_failure_turns_capture_off, teardown),
		cmocka_unit_test_teardown(test_hangup_waits_for_copies, teardown),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
#endif
