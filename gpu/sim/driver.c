// SPDX-License-Identifier: MIT
/*
 * The stand-in's driver API: the exported cu* functions of
 * build/sim/libcuda.so.1, under the names cuda.h maps them to (cuMemAlloc is
 * cuMemAlloc_v2 ...), over the engine in core.c. This is where a tracer's
 * driver probes land: cuLaunchKernel{,Ex}{,_ptsz} for every launch (the
 * runtime's included, see runtime.c), cuModuleGetFunction, cuLibraryGetKernel
 * and cuKernelGetFunction for the names. Modules and libraries load
 * struct sim_image (sim.h) instead of cubins.
 *
 * One device, one context: contexts are accepted and returned so that code
 * written for the driver API runs, but every context is the primary one.
 * Each thread has a context stack (push, pop, set) as on NVIDIA's; a thread
 * that never touched it sees the primary context as current, which is what
 * a thread of a runtime-API program sees there. Calls before cuInit return
 * CUDA_ERROR_NOT_INITIALIZED, as NVIDIA's do.
 *
 * cuGetProcAddress hands out these same functions by their base names (the
 * way NVIDIA's runtime and the llminstr agent find the driver's entry
 * points), so a call through its pointers is a call of the exported symbol.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core.h"

#define API __attribute__((visibility("default")))
#define CORE (&llminstr_sim_core)

/* The _ptsz/_ptds names cuda.h declares only under per-thread compilation. */
API CUresult cuLaunchKernel_ptsz(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz,
				 unsigned int bx, unsigned int by, unsigned int bz,
				 unsigned int shmem, CUstream s, void **params, void **extra);
API CUresult cuLaunchKernelEx_ptsz(const CUlaunchConfig *cfg, CUfunction f, void **params,
				   void **extra);
API CUresult cuStreamSynchronize_ptsz(CUstream s);
API CUresult cuMemcpyHtoDAsync_v2_ptsz(CUdeviceptr dst, const void *src, size_t n, CUstream s);
API CUresult cuMemcpyDtoHAsync_v2_ptsz(void *dst, CUdeviceptr src, size_t n, CUstream s);
API CUresult cuMemcpyDtoDAsync_v2_ptsz(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s);
API CUresult cuMemsetD8Async_ptsz(CUdeviceptr dst, unsigned char v, size_t n, CUstream s);
API CUresult cuMemsetD32Async_ptsz(CUdeviceptr dst, unsigned int v, size_t n, CUstream s);
API CUresult cuEventRecord_ptsz(CUevent e, CUstream s);
API CUresult cuStreamWaitEvent_ptsz(CUstream s, CUevent e, unsigned int flags);
API CUresult cuStreamQuery_ptsz(CUstream s);
API CUresult cuStreamBeginCapture_v2_ptsz(CUstream s, CUstreamCaptureMode mode);
API CUresult cuStreamEndCapture_ptsz(CUstream s, CUgraph *g);
API CUresult cuGraphLaunch_ptsz(CUgraphExec x, CUstream s);
API CUresult cuLaunchHostFunc_ptsz(CUstream s, CUhostFn fn, void *arg);
API CUresult cuStreamIsCapturing_ptsz(CUstream s, CUstreamCaptureStatus *st);

static atomic_bool inited;
static struct CUctx_st { int dev; } primary_ctx;

#define NEED_INIT()						\
	do {							\
		if (!atomic_load_explicit(&inited, memory_order_acquire)) \
			return CUDA_ERROR_NOT_INITIALIZED;	\
	} while (0)

API CUresult cuInit(unsigned int flags)
{
	CUresult err;

	if (flags)
		return CUDA_ERROR_INVALID_VALUE;
	err = CORE->init();
	if (!err)
		atomic_store(&inited, true);
	return err;
}

API CUresult cuDriverGetVersion(int *v)
{
	if (!v)
		return CUDA_ERROR_INVALID_VALUE;
	*v = CUDA_VERSION;
	return CUDA_SUCCESS;
}

API CUresult cuDeviceGetCount(int *n)
{
	NEED_INIT();
	if (!n)
		return CUDA_ERROR_INVALID_VALUE;
	*n = 1;
	return CUDA_SUCCESS;
}

API CUresult cuDeviceGet(CUdevice *d, int ordinal)
{
	NEED_INIT();
	if (!d)
		return CUDA_ERROR_INVALID_VALUE;
	if (ordinal != 0)
		return CUDA_ERROR_INVALID_DEVICE;
	*d = 0;
	return CUDA_SUCCESS;
}

API CUresult cuDeviceGetName(char *name, int len, CUdevice d)
{
	NEED_INIT();
	if (!name || len <= 0)
		return CUDA_ERROR_INVALID_VALUE;
	if (d != 0)
		return CUDA_ERROR_INVALID_DEVICE;
	snprintf(name, (size_t)len, "llminstr CPU stand-in");
	return CUDA_SUCCESS;
}

API CUresult cuDeviceTotalMem(size_t *bytes, CUdevice d)
{
	NEED_INIT();
	if (!bytes)
		return CUDA_ERROR_INVALID_VALUE;
	if (d != 0)
		return CUDA_ERROR_INVALID_DEVICE;
	*bytes = (size_t)16 << 30;
	return CUDA_SUCCESS;
}

API CUresult cuDevicePrimaryCtxRetain(CUcontext *ctx, CUdevice d)
{
	NEED_INIT();
	if (!ctx)
		return CUDA_ERROR_INVALID_VALUE;
	if (d != 0)
		return CUDA_ERROR_INVALID_DEVICE;
	*ctx = &primary_ctx;
	return CUDA_SUCCESS;
}

API CUresult cuDevicePrimaryCtxRelease(CUdevice d)
{
	NEED_INIT();
	return d == 0 ? CUDA_SUCCESS : CUDA_ERROR_INVALID_DEVICE;
}

/*
 * The calling thread's context stack. Until the thread touches it, the
 * primary context is current (an implicit bottom entry that push, pop and
 * set turn into a real one).
 */
#define CTX_STACK_MAX 16
static __thread CUcontext ctx_stack[CTX_STACK_MAX];
static __thread int ctx_depth;
static __thread bool ctx_touched;

static void ctx_touch(void)
{
	if (!ctx_touched) {
		ctx_touched = true;
		ctx_stack[0] = &primary_ctx;
		ctx_depth = 1;
	}
}

API CUresult cuCtxGetCurrent(CUcontext *ctx)
{
	NEED_INIT();
	if (!ctx)
		return CUDA_ERROR_INVALID_VALUE;
	ctx_touch();
	*ctx = ctx_depth ? ctx_stack[ctx_depth - 1] : NULL;
	return CUDA_SUCCESS;
}

/* NVIDIA's: replaces the top of the stack; NULL pops it. */
API CUresult cuCtxSetCurrent(CUcontext ctx)
{
	NEED_INIT();
	if (ctx && ctx != &primary_ctx)
		return CUDA_ERROR_INVALID_CONTEXT;
	ctx_touch();
	if (!ctx) {
		if (ctx_depth)
			ctx_depth--;
	} else if (ctx_depth) {
		ctx_stack[ctx_depth - 1] = ctx;
	} else {
		ctx_stack[ctx_depth++] = ctx;
	}
	return CUDA_SUCCESS;
}

API CUresult cuCtxPushCurrent(CUcontext ctx)
{
	NEED_INIT();
	if (!ctx)
		return CUDA_ERROR_INVALID_VALUE;
	if (ctx != &primary_ctx)
		return CUDA_ERROR_INVALID_CONTEXT;
	ctx_touch();
	if (ctx_depth == CTX_STACK_MAX)
		return CUDA_ERROR_OUT_OF_MEMORY;
	ctx_stack[ctx_depth++] = ctx;
	return CUDA_SUCCESS;
}

API CUresult cuCtxPopCurrent(CUcontext *ctx)
{
	NEED_INIT();
	ctx_touch();
	if (!ctx_depth)
		return CUDA_ERROR_INVALID_CONTEXT;
	ctx_depth--;
	if (ctx)
		*ctx = ctx_stack[ctx_depth];
	return CUDA_SUCCESS;
}

API CUresult cuCtxGetDevice(CUdevice *d)
{
	NEED_INIT();
	if (!d)
		return CUDA_ERROR_INVALID_VALUE;
	*d = 0;
	return CUDA_SUCCESS;
}

API CUresult cuCtxSynchronize(void)
{
	NEED_INIT();
	return CORE->device_sync();
}

/* ---- memory ---- */

API CUresult cuMemAlloc(CUdeviceptr *dptr, size_t n)
{
	void *p;
	CUresult err;

	NEED_INIT();
	if (!dptr)
		return CUDA_ERROR_INVALID_VALUE;
	if (n == 0)
		return CUDA_ERROR_INVALID_VALUE;
	err = CORE->mem_alloc(&p, n, SIM_MEM_DEVICE);
	if (!err)
		*dptr = (CUdeviceptr)(uintptr_t)p;
	return err;
}

API CUresult cuMemFree(CUdeviceptr dptr)
{
	NEED_INIT();
	if (!dptr)
		return CUDA_ERROR_INVALID_VALUE;
	return CORE->mem_free((void *)(uintptr_t)dptr, SIM_MEM_DEVICE);
}

API CUresult cuMemAllocHost(void **pp, size_t n)
{
	NEED_INIT();
	if (!pp || !n)
		return CUDA_ERROR_INVALID_VALUE;
	return CORE->mem_alloc(pp, n, SIM_MEM_PINNED);
}

API CUresult cuMemFreeHost(void *p)
{
	NEED_INIT();
	return CORE->mem_free(p, SIM_MEM_PINNED);
}

API CUresult cuMemHostRegister(void *p, size_t n, unsigned int flags)
{
	NEED_INIT();
	if (flags & ~(unsigned int)(CU_MEMHOSTREGISTER_PORTABLE | CU_MEMHOSTREGISTER_DEVICEMAP |
				     CU_MEMHOSTREGISTER_IOMEMORY | CU_MEMHOSTREGISTER_READ_ONLY))
		return CUDA_ERROR_INVALID_VALUE;
	return CORE->mem_register(p, n);
}

API CUresult cuMemHostUnregister(void *p)
{
	NEED_INIT();
	return CORE->mem_unregister(p);
}

API CUresult cuMemGetInfo(size_t *free_bytes, size_t *total)
{
	size_t used, all = (size_t)16 << 30;

	NEED_INIT();
	if (!free_bytes || !total)
		return CUDA_ERROR_INVALID_VALUE;
	used = CORE->mem_device_bytes();
	*free_bytes = used < all ? all - used : 0;
	*total = all;
	return CUDA_SUCCESS;
}

/* The allocation that holds dptr: device memory only, as on NVIDIA's. */
API CUresult cuMemGetAddressRange(CUdeviceptr *pbase, size_t *psize, CUdeviceptr dptr)
{
	void *base;
	size_t size;

	NEED_INIT();
	if (CORE->mem_kind((void *)(uintptr_t)dptr, &base, &size) != SIM_MEM_DEVICE)
		return CUDA_ERROR_NOT_FOUND;
	if (pbase)
		*pbase = (CUdeviceptr)(uintptr_t)base;
	if (psize)
		*psize = size;
	return CUDA_SUCCESS;
}

/*
 * The attributes a caller needs to tell device from host memory. Memory the
 * stand-in did not allocate or register is pageable host memory, for which
 * NVIDIA's driver answers CUDA_ERROR_INVALID_VALUE; so does this one, and for
 * attributes it does not keep.
 */
API CUresult cuPointerGetAttribute(void *data, CUpointer_attribute attr, CUdeviceptr ptr)
{
	int kind;

	NEED_INIT();
	if (!data)
		return CUDA_ERROR_INVALID_VALUE;
	kind = CORE->mem_kind((void *)(uintptr_t)ptr, NULL, NULL);
	if (kind == SIM_MEM_HOST)
		return CUDA_ERROR_INVALID_VALUE;
	switch (attr) {
	case CU_POINTER_ATTRIBUTE_MEMORY_TYPE:
		*(unsigned int *)data = kind == SIM_MEM_DEVICE ? CU_MEMORYTYPE_DEVICE :
				       CU_MEMORYTYPE_HOST;
		return CUDA_SUCCESS;
	case CU_POINTER_ATTRIBUTE_CONTEXT:
		*(CUcontext *)data = &primary_ctx;
		return CUDA_SUCCESS;
	case CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL:
		*(int *)data = 0;
		return CUDA_SUCCESS;
	default:
		return CUDA_ERROR_INVALID_VALUE;
	}
}

#define DP(x) ((void *)(uintptr_t)(x))

static CUresult copy(void *dst, const void *src, size_t n, int kind, CUstream s, bool ptds,
		     bool sync)
{
	NEED_INIT();
	return CORE->copy(dst, n, src, n, n, 1, kind, s, ptds, sync);
}

/*
 * Made of two other exported calls, through the PLT: a driver whose entry
 * points call each other, which a tracer must not count as the
 * application's (tests/e2e/trace_driver.sh checks it does not).
 */
API CUresult cuMemcpyHtoD(CUdeviceptr dst, const void *src, size_t n)
{
	CUresult err = cuMemcpyHtoDAsync(dst, src, n, NULL);

	return err ? err : cuStreamSynchronize(NULL);
}

API CUresult cuMemcpyDtoH(void *dst, CUdeviceptr src, size_t n)
{
	return copy(dst, DP(src), n, cudaMemcpyDeviceToHost, NULL, false, true);
}

API CUresult cuMemcpyDtoD(CUdeviceptr dst, CUdeviceptr src, size_t n)
{
	return copy(DP(dst), DP(src), n, cudaMemcpyDeviceToDevice, NULL, false, true);
}

API CUresult cuMemcpyHtoDAsync(CUdeviceptr dst, const void *src, size_t n, CUstream s)
{
	return copy(DP(dst), src, n, cudaMemcpyHostToDevice, s, false, false);
}

API CUresult cuMemcpyDtoHAsync(void *dst, CUdeviceptr src, size_t n, CUstream s)
{
	return copy(dst, DP(src), n, cudaMemcpyDeviceToHost, s, false, false);
}

API CUresult cuMemcpyDtoDAsync(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s)
{
	return copy(DP(dst), DP(src), n, cudaMemcpyDeviceToDevice, s, false, false);
}

API CUresult cuMemcpyHtoDAsync_v2_ptsz(CUdeviceptr dst, const void *src, size_t n, CUstream s)
{
	return copy(DP(dst), src, n, cudaMemcpyHostToDevice, s, true, false);
}

API CUresult cuMemcpyDtoHAsync_v2_ptsz(void *dst, CUdeviceptr src, size_t n, CUstream s)
{
	return copy(dst, DP(src), n, cudaMemcpyDeviceToHost, s, true, false);
}

API CUresult cuMemcpyDtoDAsync_v2_ptsz(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s)
{
	return copy(DP(dst), DP(src), n, cudaMemcpyDeviceToDevice, s, true, false);
}

API CUresult cuMemsetD8(CUdeviceptr dst, unsigned char v, size_t n)
{
	NEED_INIT();
	return CORE->set(DP(dst), n, v, 1, n, 1, NULL, false, true);
}

API CUresult cuMemsetD32(CUdeviceptr dst, unsigned int v, size_t n)
{
	NEED_INIT();
	return CORE->set(DP(dst), n * 4, v, 4, n, 1, NULL, false, true);
}

API CUresult cuMemsetD8Async(CUdeviceptr dst, unsigned char v, size_t n, CUstream s)
{
	NEED_INIT();
	return CORE->set(DP(dst), n, v, 1, n, 1, s, false, false);
}

API CUresult cuMemsetD32Async(CUdeviceptr dst, unsigned int v, size_t n, CUstream s)
{
	NEED_INIT();
	return CORE->set(DP(dst), n * 4, v, 4, n, 1, s, false, false);
}

API CUresult cuMemsetD8Async_ptsz(CUdeviceptr dst, unsigned char v, size_t n, CUstream s)
{
	NEED_INIT();
	return CORE->set(DP(dst), n, v, 1, n, 1, s, true, false);
}

API CUresult cuMemsetD32Async_ptsz(CUdeviceptr dst, unsigned int v, size_t n, CUstream s)
{
	NEED_INIT();
	return CORE->set(DP(dst), n * 4, v, 4, n, 1, s, true, false);
}

/* ---- streams and events ---- */

API CUresult cuStreamCreate(CUstream *s, unsigned int flags)
{
	NEED_INIT();
	return CORE->stream_create(s, flags, 0);
}

API CUresult cuStreamDestroy(CUstream s)
{
	NEED_INIT();
	return CORE->stream_destroy(s);
}

API CUresult cuStreamSynchronize(CUstream s)
{
	NEED_INIT();
	return CORE->stream_sync(s, false);
}

API CUresult cuStreamSynchronize_ptsz(CUstream s)
{
	NEED_INIT();
	return CORE->stream_sync(s, true);
}

API CUresult cuStreamQuery(CUstream s)
{
	NEED_INIT();
	return CORE->stream_query(s, false);
}

API CUresult cuStreamQuery_ptsz(CUstream s)
{
	NEED_INIT();
	return CORE->stream_query(s, true);
}

API CUresult cuStreamWaitEvent(CUstream s, CUevent e, unsigned int flags)
{
	NEED_INIT();
	return flags ? CUDA_ERROR_INVALID_VALUE : CORE->stream_wait_event(s, false, e);
}

API CUresult cuStreamWaitEvent_ptsz(CUstream s, CUevent e, unsigned int flags)
{
	NEED_INIT();
	return flags ? CUDA_ERROR_INVALID_VALUE : CORE->stream_wait_event(s, true, e);
}

API CUresult cuStreamIsCapturing(CUstream s, CUstreamCaptureStatus *st)
{
	NEED_INIT();
	return CORE->capture_status(s, false, (int *)st);
}

API CUresult cuStreamIsCapturing_ptsz(CUstream s, CUstreamCaptureStatus *st)
{
	NEED_INIT();
	return CORE->capture_status(s, true, (int *)st);
}

/* fn runs on the stream's worker thread once the work before it is done. */
API CUresult cuLaunchHostFunc(CUstream s, CUhostFn fn, void *arg)
{
	NEED_INIT();
	return CORE->host_func(s, false, fn, arg);
}

API CUresult cuLaunchHostFunc_ptsz(CUstream s, CUhostFn fn, void *arg)
{
	NEED_INIT();
	return CORE->host_func(s, true, fn, arg);
}

API CUresult cuEventCreate(CUevent *e, unsigned int flags)
{
	NEED_INIT();
	return CORE->event_create(e, flags);
}

API CUresult cuEventDestroy(CUevent e)
{
	NEED_INIT();
	return CORE->event_destroy(e);
}

API CUresult cuEventRecord(CUevent e, CUstream s)
{
	NEED_INIT();
	return CORE->event_record(e, s, false);
}

API CUresult cuEventRecord_ptsz(CUevent e, CUstream s)
{
	NEED_INIT();
	return CORE->event_record(e, s, true);
}

API CUresult cuEventQuery(CUevent e)
{
	NEED_INIT();
	return CORE->event_query(e);
}

API CUresult cuEventSynchronize(CUevent e)
{
	NEED_INIT();
	return CORE->event_sync(e);
}

API CUresult cuEventElapsedTime(float *ms, CUevent a, CUevent b)
{
	NEED_INIT();
	return CORE->event_elapsed(ms, a, b);
}

/* ---- modules, libraries, kernels ---- */

struct CUlib_st {
	CUmodule mod;
	struct CUkern_st **kerns;	/* one per image kernel, made at first lookup */
	uint32_t n;
};

struct CUkern_st {
	CUfunction f;
};

API CUresult cuModuleLoadData(CUmodule *m, const void *image)
{
	NEED_INIT();
	return CORE->module_load(m, image);
}

API CUresult cuModuleUnload(CUmodule m)
{
	NEED_INIT();
	return CORE->module_unload(m);
}

API CUresult cuModuleGetFunction(CUfunction *f, CUmodule m, const char *name)
{
	NEED_INIT();
	return CORE->module_function(f, m, name);
}

API CUresult cuLibraryLoadData(CUlibrary *out, const void *code, CUjit_option *jo, void **jv,
			       unsigned int njo, CUlibraryOption *lo, void **lv, unsigned int nlo)
{
	const struct sim_image *img = code;
	struct CUlib_st *l;
	CUresult err;

	NEED_INIT();
	if (!out)
		return CUDA_ERROR_INVALID_VALUE;
	l = calloc(1, sizeof(*l));
	if (!l)
		return CUDA_ERROR_OUT_OF_MEMORY;
	err = CORE->module_load(&l->mod, code);
	if (err) {
		free(l);
		return err;
	}
	l->n = img->nkernels;
	l->kerns = calloc(l->n ? l->n : 1, sizeof(*l->kerns));
	if (!l->kerns || sim_core_handle_add(l, H_LIB)) {
		CORE->module_unload(l->mod);
		free(l->kerns);
		free(l);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	*out = l;
	return CUDA_SUCCESS;
}

API CUresult cuLibraryUnload(CUlibrary l)
{
	uint32_t i;

	NEED_INIT();
	if (!sim_core_handle_del(l, H_LIB))
		return CUDA_ERROR_INVALID_HANDLE;
	for (i = 0; i < l->n; i++) {
		if (l->kerns[i])
			sim_core_handle_del(l->kerns[i], H_KERN);
		free(l->kerns[i]);
	}
	free(l->kerns);
	CORE->module_unload(l->mod);
	free(l);
	return CUDA_SUCCESS;
}

API CUresult cuLibraryGetKernel(CUkernel *k, CUlibrary l, const char *name)
{
	static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	CUfunction f;
	CUresult err;
	uint32_t i;

	NEED_INIT();
	if (!k || !name)
		return CUDA_ERROR_INVALID_VALUE;
	if (sim_core_handle_type(l) != H_LIB)
		return CUDA_ERROR_INVALID_HANDLE;
	/* the engine keeps one CUfunction per name; keep one CUkernel per CUfunction */
	err = CORE->module_function(&f, l->mod, name);
	if (err)
		return err;
	pthread_mutex_lock(&mu);
	for (i = 0; i < l->n && l->kerns[i]; i++)
		if (l->kerns[i]->f == f)
			goto found;
	if (i == l->n) {
		err = CUDA_ERROR_NOT_FOUND;
		goto out;
	}
	l->kerns[i] = calloc(1, sizeof(**l->kerns));
	if (!l->kerns[i] || sim_core_handle_add(l->kerns[i], H_KERN)) {
		free(l->kerns[i]);
		l->kerns[i] = NULL;
		err = CUDA_ERROR_OUT_OF_MEMORY;
		goto out;
	}
	l->kerns[i]->f = f;
found:
	*k = l->kerns[i];
out:
	pthread_mutex_unlock(&mu);
	return err;
}

API CUresult cuKernelGetFunction(CUfunction *f, CUkernel k)
{
	NEED_INIT();
	if (!f)
		return CUDA_ERROR_INVALID_VALUE;
	if (sim_core_handle_type(k) != H_KERN)
		return CUDA_ERROR_INVALID_HANDLE;
	*f = k->f;
	return CUDA_SUCCESS;
}

API CUresult cuKernelGetName(const char **name, CUkernel k)
{
	NEED_INIT();
	if (sim_core_handle_type(k) != H_KERN)
		return CUDA_ERROR_INVALID_HANDLE;
	return CORE->function_name(k->f, name);
}

API CUresult cuFuncGetName(const char **name, CUfunction f)
{
	NEED_INIT();
	return CORE->function_name(f, name);
}

/* ---- launches ---- */

/* A CUkernel may stand where a CUfunction is expected, as in CUDA 12+. */
static CUresult launch(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz,
		       unsigned int bx, unsigned int by, unsigned int bz, unsigned int shmem,
		       CUstream s, bool ptds, void **params, void **extra)
{
	dim3 grid = { gx, gy, gz }, block = { bx, by, bz };

	NEED_INIT();
	if (extra)	/* CU_LAUNCH_PARAM_BUFFER_POINTER packing is not supported */
		return CUDA_ERROR_INVALID_VALUE;
	if (sim_core_handle_type(f) == H_KERN)
		f = ((struct CUkern_st *)(void *)f)->f;
	return CORE->launch(f, grid, block, shmem, s, ptds, params);
}

API CUresult cuLaunchKernel(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz,
			    unsigned int bx, unsigned int by, unsigned int bz,
			    unsigned int shmem, CUstream s, void **params, void **extra)
{
	return launch(f, gx, gy, gz, bx, by, bz, shmem, s, false, params, extra);
}

API CUresult cuLaunchKernel_ptsz(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz,
				 unsigned int bx, unsigned int by, unsigned int bz,
				 unsigned int shmem, CUstream s, void **params, void **extra)
{
	return launch(f, gx, gy, gz, bx, by, bz, shmem, s, true, params, extra);
}

static CUresult launch_ex(const CUlaunchConfig *c, CUfunction f, void **params, void **extra,
			  bool ptds)
{
	if (!c)
		return CUDA_ERROR_INVALID_VALUE;
	/* attributes (clusters, priorities ...) change nothing on a CPU */
	if (c->numAttrs && !c->attrs)
		return CUDA_ERROR_INVALID_VALUE;
	return launch(f, c->gridDimX, c->gridDimY, c->gridDimZ, c->blockDimX, c->blockDimY,
		      c->blockDimZ, c->sharedMemBytes, c->hStream, ptds, params, extra);
}

API CUresult cuLaunchKernelEx(const CUlaunchConfig *c, CUfunction f, void **params, void **extra)
{
	return launch_ex(c, f, params, extra, false);
}

API CUresult cuLaunchKernelEx_ptsz(const CUlaunchConfig *c, CUfunction f, void **params,
				   void **extra)
{
	return launch_ex(c, f, params, extra, true);
}

/* ---- errors ---- */

static const struct { CUresult e; const char *name, *str; } errs[] = {
	{ CUDA_SUCCESS, "CUDA_SUCCESS", "no error" },
	{ CUDA_ERROR_INVALID_VALUE, "CUDA_ERROR_INVALID_VALUE", "invalid argument" },
	{ CUDA_ERROR_OUT_OF_MEMORY, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory" },
	{ CUDA_ERROR_NOT_INITIALIZED, "CUDA_ERROR_NOT_INITIALIZED", "initialization error" },
	{ CUDA_ERROR_INVALID_DEVICE, "CUDA_ERROR_INVALID_DEVICE", "invalid device ordinal" },
	{ CUDA_ERROR_INVALID_IMAGE, "CUDA_ERROR_INVALID_IMAGE", "device kernel image is invalid" },
	{ CUDA_ERROR_INVALID_CONTEXT, "CUDA_ERROR_INVALID_CONTEXT", "invalid device context" },
	{ CUDA_ERROR_INVALID_HANDLE, "CUDA_ERROR_INVALID_HANDLE", "invalid resource handle" },
	{ CUDA_ERROR_NOT_FOUND, "CUDA_ERROR_NOT_FOUND", "named symbol not found" },
	{ CUDA_ERROR_NOT_READY, "CUDA_ERROR_NOT_READY", "device not ready" },
	{ CUDA_ERROR_ILLEGAL_STATE, "CUDA_ERROR_ILLEGAL_STATE", "the operation cannot be performed in the present state" },
	{ CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED", "operation not permitted when stream is capturing" },
	{ CUDA_ERROR_STREAM_CAPTURE_INVALIDATED, "CUDA_ERROR_STREAM_CAPTURE_INVALIDATED", "operation failed due to a previous error during capture" },
	{ CUDA_ERROR_STREAM_CAPTURE_IMPLICIT, "CUDA_ERROR_STREAM_CAPTURE_IMPLICIT", "operation would make the legacy stream depend on a capturing blocking stream" },
};

API CUresult cuGetErrorName(CUresult e, const char **s)
{
	size_t i;

	if (!s)
		return CUDA_ERROR_INVALID_VALUE;
	for (i = 0; i < sizeof(errs) / sizeof(errs[0]); i++)
		if (errs[i].e == e) {
			*s = errs[i].name;
			return CUDA_SUCCESS;
		}
	*s = NULL;
	return CUDA_ERROR_INVALID_VALUE;
}

API CUresult cuGetErrorString(CUresult e, const char **s)
{
	size_t i;

	if (!s)
		return CUDA_ERROR_INVALID_VALUE;
	for (i = 0; i < sizeof(errs) / sizeof(errs[0]); i++)
		if (errs[i].e == e) {
			*s = errs[i].str;
			return CUDA_SUCCESS;
		}
	*s = NULL;
	return CUDA_ERROR_INVALID_VALUE;
}

/* ---- capture and graphs (the runtime's are made through these) ---- */

API CUresult cuStreamBeginCapture(CUstream s, CUstreamCaptureMode mode)
{
	NEED_INIT();
	return CORE->capture_begin(s, false, (int)mode);
}

API CUresult cuStreamBeginCapture_v2_ptsz(CUstream s, CUstreamCaptureMode mode)
{
	NEED_INIT();
	return CORE->capture_begin(s, true, (int)mode);
}

API CUresult cuStreamEndCapture(CUstream s, CUgraph *g)
{
	NEED_INIT();
	return CORE->capture_end(s, false, g);
}

API CUresult cuStreamEndCapture_ptsz(CUstream s, CUgraph *g)
{
	NEED_INIT();
	return CORE->capture_end(s, true, g);
}

API CUresult cuGraphInstantiateWithFlags(CUgraphExec *x, CUgraph g, unsigned long long flags)
{
	NEED_INIT();
	return CORE->graph_instantiate(x, g);
}

API CUresult cuGraphLaunch(CUgraphExec x, CUstream s)
{
	NEED_INIT();
	return CORE->graph_launch(x, s, false);
}

API CUresult cuGraphLaunch_ptsz(CUgraphExec x, CUstream s)
{
	NEED_INIT();
	return CORE->graph_launch(x, s, true);
}

API CUresult cuGraphExecDestroy(CUgraphExec x)
{
	NEED_INIT();
	return CORE->graph_exec_destroy(x);
}

API CUresult cuGraphDestroy(CUgraph g)
{
	NEED_INIT();
	return CORE->graph_destroy(g);
}

/* ---- entry points by name ---- */

/*
 * What cuGetProcAddress knows: the base name a caller asks for, the CUDA
 * version since which the variant exported here exists, and the function,
 * with its per-thread-default-stream twin where there is one. A caller
 * asking for an older version than that gets VERSION_NOT_SUFFICIENT (the
 * older variants NVIDIA still carries are not in the stand-in).
 */
struct proc {
	const char *name;
	int since;
	void *fn, *ptsz;
};

/* fn is macro-expanded (cuMemAlloc is cuMemAlloc_v2); #fn is the base name */
#define PROC(fn, since) { #fn, since, (void *)fn, NULL }
#define PROC2(fn, since, ptsz) { #fn, since, (void *)fn, (void *)ptsz }

static const struct proc procs[] = {
	PROC(cuInit, 2000),
	PROC(cuDriverGetVersion, 2020),
	PROC(cuGetProcAddress, 12000),
	PROC(cuGetErrorName, 6000),
	PROC(cuGetErrorString, 6000),
	PROC(cuDeviceGet, 2000),
	PROC(cuDeviceGetCount, 2000),
	PROC(cuDeviceGetName, 2000),
	PROC(cuDeviceTotalMem, 3020),
	PROC(cuDevicePrimaryCtxRetain, 7000),
	PROC(cuDevicePrimaryCtxRelease, 11000),
	PROC(cuCtxGetCurrent, 4000),
	PROC(cuCtxSetCurrent, 4000),
	PROC(cuCtxPushCurrent, 4000),
	PROC(cuCtxPopCurrent, 4000),
	PROC(cuCtxGetDevice, 2000),
	PROC(cuCtxSynchronize, 2000),
	PROC(cuMemAlloc, 3020),
	PROC(cuMemFree, 3020),
	PROC(cuMemAllocHost, 3020),
	PROC(cuMemFreeHost, 2000),
	PROC(cuMemHostRegister, 6050),
	PROC(cuMemHostUnregister, 4000),
	PROC(cuMemGetInfo, 3020),
	PROC(cuMemGetAddressRange, 3020),
	PROC(cuPointerGetAttribute, 4000),
	PROC(cuMemcpyHtoD, 3020),
	PROC(cuMemcpyDtoH, 3020),
	PROC(cuMemcpyDtoD, 3020),
	PROC2(cuMemcpyHtoDAsync, 3020, cuMemcpyHtoDAsync_v2_ptsz),
	PROC2(cuMemcpyDtoHAsync, 3020, cuMemcpyDtoHAsync_v2_ptsz),
	PROC2(cuMemcpyDtoDAsync, 3020, cuMemcpyDtoDAsync_v2_ptsz),
	PROC(cuMemsetD8, 3020),
	PROC(cuMemsetD32, 3020),
	PROC2(cuMemsetD8Async, 3020, cuMemsetD8Async_ptsz),
	PROC2(cuMemsetD32Async, 3020, cuMemsetD32Async_ptsz),
	PROC(cuStreamCreate, 2000),
	PROC(cuStreamDestroy, 4000),
	PROC2(cuStreamSynchronize, 2000, cuStreamSynchronize_ptsz),
	PROC2(cuStreamQuery, 2000, cuStreamQuery_ptsz),
	PROC2(cuStreamWaitEvent, 3020, cuStreamWaitEvent_ptsz),
	PROC2(cuStreamIsCapturing, 10000, cuStreamIsCapturing_ptsz),
	PROC2(cuLaunchHostFunc, 10000, cuLaunchHostFunc_ptsz),
	PROC(cuEventCreate, 2000),
	PROC(cuEventDestroy, 4000),
	PROC2(cuEventRecord, 2000, cuEventRecord_ptsz),
	PROC(cuEventQuery, 2000),
	PROC(cuEventSynchronize, 2000),
	PROC(cuEventElapsedTime, 12080),
	PROC(cuModuleLoadData, 2000),
	PROC(cuModuleUnload, 2000),
	PROC(cuModuleGetFunction, 2000),
	PROC(cuLibraryLoadData, 12000),
	PROC(cuLibraryUnload, 12000),
	PROC(cuLibraryGetKernel, 12000),
	PROC(cuKernelGetFunction, 12000),
	PROC(cuKernelGetName, 12030),
	PROC(cuFuncGetName, 12030),
	PROC2(cuLaunchKernel, 4000, cuLaunchKernel_ptsz),
	PROC2(cuLaunchKernelEx, 11060, cuLaunchKernelEx_ptsz),
	PROC2(cuStreamBeginCapture, 10010, cuStreamBeginCapture_v2_ptsz),
	PROC2(cuStreamEndCapture, 10000, cuStreamEndCapture_ptsz),
	PROC(cuGraphInstantiateWithFlags, 11040),
	PROC2(cuGraphLaunch, 10000, cuGraphLaunch_ptsz),
	PROC(cuGraphExecDestroy, 10000),
	PROC(cuGraphDestroy, 10000),
};

/* No cuInit needed, as on NVIDIA's: it is how a caller finds cuInit. */
API CUresult cuGetProcAddress(const char *symbol, void **pfn, int version, cuuint64_t flags,
			      CUdriverProcAddressQueryResult *status)
{
	CUdriverProcAddressQueryResult st = CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
	CUresult err = CUDA_ERROR_NOT_FOUND;
	size_t i;

	if (!symbol || !pfn)
		return CUDA_ERROR_INVALID_VALUE;
	if (flags & ~(cuuint64_t)(CU_GET_PROC_ADDRESS_LEGACY_STREAM |
				   CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM))
		return CUDA_ERROR_INVALID_VALUE;
	*pfn = NULL;
	for (i = 0; i < sizeof(procs) / sizeof(procs[0]); i++) {
		const struct proc *p = &procs[i];

		if (strcmp(p->name, symbol))
			continue;
		if (version < p->since) {
			st = CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT;
			break;
		}
		/* DEFAULT is the legacy stream for a library (cuda.h's inline
		 * wrapper sets PER_THREAD for code built per-thread) */
		*pfn = (flags & CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM) && p->ptsz ?
			p->ptsz : p->fn;
		st = CU_GET_PROC_ADDRESS_SUCCESS;
		err = CUDA_SUCCESS;
		break;
	}
	if (status)
		*status = st;
	return err;
}
