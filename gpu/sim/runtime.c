// SPDX-License-Identifier: MIT
/*
 * The stand-in's runtime API: build/sim/libcudart.so.13, NVIDIA's names and
 * signatures (from the toolkit's headers), every symbol versioned
 * @@libcudart.so.13 like NVIDIA's, over the engine in libcuda.so.1.
 *
 * The runtime reaches its driver as NVIDIA's does: at first use it dlopens
 * libcuda.so.1 (from its own directory first, so build/sim/libcudart.so.13
 * always pairs with build/sim/libcuda.so.1), calls cuInit, and takes once the
 * engine table and the exported cuLaunchKernel{,_ptsz} / cuLaunchKernelEx
 * {,_ptsz}. Every runtime launch is then made through that exported driver
 * function, on the calling thread: a tracer probing both libraries sees
 * cudaLaunchKernel and, nested in it, cuLaunchKernel, exactly the situation
 * it must count once on a GPU machine. Asynchronous copies between host and
 * device or device and device, asynchronous memsets, event records and
 * stream waits, captures, instantiations and graph launches go through the
 * exported driver calls the same way (cudaMemcpyAsync -> cuMemcpyHtoDAsync_v2,
 * cudaGraphLaunch -> cuGraphLaunch ...), so the tracer's driver-call dedup is
 * tested.
 *
 * nvcc's launch path is reproduced: __cudaRegisterFatBinary /
 * __cudaRegisterFunction record {host stub, device name} (the "fatbin" is a
 * struct sim_fatbin_wrapper, see sim.h); __cudaGetKernel returns an opaque
 * handle (a registration record, never a code address); __cudaLaunchKernel
 * is a thunk that tail-jumps into cudaLaunchKernel (objdump shows
 * `jmp cudaLaunchKernel`, as in NVIDIA's 13.0 library); cudaLaunchKernel
 * takes a stub address or a handle. The module image is loaded lazily at the
 * first launch or lookup, as CUDA 13's lazy loading does.
 *
 * Errors: CUDA's codes (the engine's CUresult values are the runtime's
 * numbers for every code it returns); each failure is also the calling
 * thread's last error.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "core.h"

#define API __attribute__((visibility("default")))

typedef CUresult (*launch_fn)(CUfunction, unsigned int, unsigned int, unsigned int,
			      unsigned int, unsigned int, unsigned int, unsigned int,
			      CUstream, void **, void **);
typedef CUresult (*launch_ex_fn)(const CUlaunchConfig *, CUfunction, void **, void **);

static const struct sim_core_ops *core;
static launch_fn drv_launch, drv_launch_ptsz;
static launch_ex_fn drv_launch_ex, drv_launch_ex_ptsz;
/* the driver calls the runtime's own asynchronous calls are made through */
static struct {
	CUresult (*htod)(CUdeviceptr, const void *, size_t, CUstream);
	CUresult (*dtoh)(void *, CUdeviceptr, size_t, CUstream);
	CUresult (*dtod)(CUdeviceptr, CUdeviceptr, size_t, CUstream);
	CUresult (*set8)(CUdeviceptr, unsigned char, size_t, CUstream);
	CUresult (*record)(CUevent, CUstream);
	CUresult (*wait)(CUstream, CUevent, unsigned int);
	CUresult (*cap_begin)(CUstream, CUstreamCaptureMode);
	CUresult (*cap_end)(CUstream, CUgraph *);
	CUresult (*instantiate)(CUgraphExec *, CUgraph, unsigned long long);
	CUresult (*graph_launch)(CUgraphExec, CUstream);
} drv;
static cudaError_t init_err = cudaErrorInitializationError;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static __thread cudaError_t last_error;
static __thread int cur_device;

static void *open_driver(void)
{
	char path[4096];
	Dl_info info;
	void *h = NULL;

	if (dladdr((void *)open_driver, &info) && info.dli_fname) {
		const char *slash = strrchr(info.dli_fname, '/');

		if (slash && (size_t)(slash - info.dli_fname) + 16 < sizeof(path)) {
			snprintf(path, sizeof(path), "%.*s/libcuda.so.1",
				 (int)(slash - info.dli_fname), info.dli_fname);
			h = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
		}
	}
	return h ? h : dlopen("libcuda.so.1", RTLD_NOW | RTLD_GLOBAL);
}

static void rt_init_once(void)
{
	CUresult (*drv_init)(unsigned int);
	void *h = open_driver();

	init_err = cudaErrorInsufficientDriver;
	if (!h)
		return;
	core = dlsym(h, SIM_CORE_SYMBOL);
	drv_init = (CUresult (*)(unsigned int))dlsym(h, "cuInit");
	drv_launch = (launch_fn)dlsym(h, "cuLaunchKernel");
	drv_launch_ptsz = (launch_fn)dlsym(h, "cuLaunchKernel_ptsz");
	drv_launch_ex = (launch_ex_fn)dlsym(h, "cuLaunchKernelEx");
	drv_launch_ex_ptsz = (launch_ex_fn)dlsym(h, "cuLaunchKernelEx_ptsz");
	*(void **)&drv.htod = dlsym(h, "cuMemcpyHtoDAsync_v2");
	*(void **)&drv.dtoh = dlsym(h, "cuMemcpyDtoHAsync_v2");
	*(void **)&drv.dtod = dlsym(h, "cuMemcpyDtoDAsync_v2");
	*(void **)&drv.set8 = dlsym(h, "cuMemsetD8Async");
	*(void **)&drv.record = dlsym(h, "cuEventRecord");
	*(void **)&drv.wait = dlsym(h, "cuStreamWaitEvent");
	*(void **)&drv.cap_begin = dlsym(h, "cuStreamBeginCapture_v2");
	*(void **)&drv.cap_end = dlsym(h, "cuStreamEndCapture");
	*(void **)&drv.instantiate = dlsym(h, "cuGraphInstantiateWithFlags");
	*(void **)&drv.graph_launch = dlsym(h, "cuGraphLaunch");
	/* NVIDIA's libcuda.so.1 has no engine table: this runtime pairs with ours only */
	if (!core || core->version != SIM_CORE_VERSION || !drv_init || !drv_launch ||
	    !drv_launch_ptsz || !drv_launch_ex || !drv_launch_ex_ptsz || !drv.htod || !drv.dtoh ||
	    !drv.dtod || !drv.set8 || !drv.record || !drv.wait || !drv.cap_begin ||
	    !drv.cap_end || !drv.instantiate || !drv.graph_launch)
		return;
	init_err = drv_init(0) ? cudaErrorInitializationError : cudaSuccess;
}

/* cudaErrorNotReady is an answer (queries), not an error to remember */
static cudaError_t fail(cudaError_t e)
{
	if (e != cudaSuccess && e != cudaErrorNotReady)
		last_error = e;
	return e;
}

static cudaError_t rt_init(void)
{
	pthread_once(&init_once, rt_init_once);
	return init_err;
}

/* Every engine CUresult used has the same number as the runtime's error. */
#define CALL(expr)							\
	do {								\
		cudaError_t e_ = rt_init();				\
		if (e_)							\
			return fail(e_);				\
		return fail((cudaError_t)(expr));			\
	} while (0)

/* ---- registration of nvcc-style "fatbins" and host stubs ---- */

struct fatbin {
	const struct sim_image *img;	/* NULL: not a stand-in image */
	CUmodule mod;			/* loaded at first use */
	struct fatbin *next;
};

struct regfn {
	const void *host;
	const char *name;
	struct fatbin *fb;
	CUfunction f;			/* resolved at first use */
};

/* Map from host stub and from handle to registration: open addressing. */
struct pslot { const void *key; struct regfn *r; };
static pthread_rwlock_t reg_lock = PTHREAD_RWLOCK_INITIALIZER;
static pthread_mutex_t load_mu = PTHREAD_MUTEX_INITIALIZER;
static struct pslot *rmap;
static size_t rmap_cap, rmap_used;
static struct fatbin *fatbins;

static size_t phash(const void *p)
{
	uint64_t x = (uintptr_t)p;

	x ^= x >> 31;
	x *= 0x9e3779b97f4a7c15ULL;
	return (size_t)(x >> 17);
}

static int rmap_put_locked(const void *key, struct regfn *r)
{
	size_t j;

	if ((rmap_used + 1) * 2 > rmap_cap) {
		size_t ncap = rmap_cap ? rmap_cap * 2 : 128, i;
		struct pslot *n = calloc(ncap, sizeof(*n));

		if (!n)
			return -1;
		for (i = 0; i < rmap_cap; i++) {
			if (!rmap[i].key)
				continue;
			for (j = phash(rmap[i].key) & (ncap - 1); n[j].key; j = (j + 1) & (ncap - 1))
				;
			n[j] = rmap[i];
		}
		free(rmap);
		rmap = n;
		rmap_cap = ncap;
	}
	for (j = phash(key) & (rmap_cap - 1); rmap[j].key && rmap[j].key != key;
	     j = (j + 1) & (rmap_cap - 1))
		;
	if (!rmap[j].key)
		rmap_used++;
	rmap[j].key = key;
	rmap[j].r = r;
	return 0;
}

static struct regfn *rmap_get(const void *key)
{
	struct regfn *r = NULL;
	size_t j;

	if (!key)
		return NULL;
	pthread_rwlock_rdlock(&reg_lock);
	if (rmap_cap)
		for (j = phash(key) & (rmap_cap - 1); rmap[j].key; j = (j + 1) & (rmap_cap - 1))
			if (rmap[j].key == key) {
				r = rmap[j].r;
				break;
			}
	pthread_rwlock_unlock(&reg_lock);
	return r;
}

API void **__cudaRegisterFatBinary(void *fatCubin)
{
	const struct sim_fatbin_wrapper *w = fatCubin;
	struct fatbin *fb = calloc(1, sizeof(*fb));

	if (!fb)
		return NULL;
	if (w && w->magic == SIM_FATBIN_MAGIC && w->image &&
	    w->image->magic == SIM_IMAGE_MAGIC && w->image->version == SIM_IMAGE_VERSION)
		fb->img = w->image;
	pthread_rwlock_wrlock(&reg_lock);
	fb->next = fatbins;
	fatbins = fb;
	pthread_rwlock_unlock(&reg_lock);
	return (void **)fb;
}

API void __cudaRegisterFatBinaryEnd(void **handle)
{
}

API void __cudaUnregisterFatBinary(void **handle)
{
	/*
	 * Registrations stay valid until exit (nvcc unregisters from atexit,
	 * when launches may still be queued); the module goes with the process.
	 */
}

API void __cudaRegisterFunction(void **handle, const char *hostFun, char *deviceFun,
				const char *deviceName, int thread_limit, uint3 *tid,
				uint3 *bid, dim3 *bDim, dim3 *gDim, int *wSize)
{
	struct regfn *r;

	if (!handle || !hostFun || !deviceName)
		return;
	r = calloc(1, sizeof(*r));
	if (!r)
		return;
	r->host = hostFun;
	r->name = deviceName;
	r->fb = (struct fatbin *)handle;
	pthread_rwlock_wrlock(&reg_lock);
	if (rmap_put_locked(hostFun, r) || rmap_put_locked(r, r)) {
		pthread_rwlock_unlock(&reg_lock);
		free(r);	/* a stale host key may remain: it is looked up as unknown */
		return;
	}
	pthread_rwlock_unlock(&reg_lock);
}

API void __cudaRegisterVar(void **handle, char *hostVar, char *deviceAddress,
			   const char *deviceName, int ext, size_t size, int constant, int global)
{
}

API char __cudaInitModule(void **handle)
{
	return 1;
}

/* Resolves a stub address or a handle to the driver function it launches. */
static cudaError_t resolve(const void *func, struct regfn **out)
{
	struct regfn *r = rmap_get(func);
	cudaError_t err = cudaSuccess;

	if (!r)
		return cudaErrorInvalidDeviceFunction;
	if (__atomic_load_n(&r->f, __ATOMIC_ACQUIRE)) {
		*out = r;
		return cudaSuccess;
	}
	if (!r->fb->img)
		return cudaErrorNoKernelImageForDevice;
	if ((err = rt_init()))
		return err;
	pthread_mutex_lock(&load_mu);
	if (!r->fb->mod)
		err = (cudaError_t)core->module_load(&r->fb->mod, r->fb->img);
	if (!err && !r->f) {
		CUfunction f;

		err = (cudaError_t)core->module_function(&f, r->fb->mod, r->name);
		if (err == (cudaError_t)CUDA_ERROR_NOT_FOUND)
			err = cudaErrorInvalidDeviceFunction;
		if (!err)
			__atomic_store_n(&r->f, f, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&load_mu);
	if (!err)
		*out = r;
	return err;
}

/*
 * The handle of a registered stub. Like CUDA's lazy loading (the default
 * since 12.2), nothing is loaded here: a kernel with no image for this
 * "device" (nvcc's device code) gets its handle and fails at launch.
 */
API cudaError_t __cudaGetKernel(cudaKernel_t *k, const void *hostFun)
{
	struct regfn *r;

	if (!k)
		return fail(cudaErrorInvalidValue);
	r = rmap_get(hostFun);
	if (!r)
		return fail(cudaErrorInvalidDeviceFunction);
	*k = (cudaKernel_t)(void *)r;
	return cudaSuccess;
}

API cudaError_t cudaGetKernel(cudaKernel_t *k, const void *entryFuncAddr)
{
	return __cudaGetKernel(k, entryFuncAddr);
}

API cudaError_t cudaFuncGetName(const char **name, const void *func)
{
	struct regfn *r = rmap_get(func);

	if (!name)
		return fail(cudaErrorInvalidValue);
	if (!r)
		return fail(cudaErrorInvalidDeviceFunction);
	*name = r->name;
	return cudaSuccess;
}

API cudaError_t cudaGetFuncBySymbol(cudaFunction_t *f, const void *symbol)
{
	struct regfn *r;
	cudaError_t err;

	if (!f)
		return fail(cudaErrorInvalidValue);
	err = resolve(symbol, &r);
	if (err)
		return fail(err);
	*f = (cudaFunction_t)r->f;
	return cudaSuccess;
}

/* <<<>>> configuration: nvcc pushes it before calling the stub, the stub pops it. */
#define CONF_DEPTH 16
struct launch_conf { dim3 grid, block; size_t shmem; void *stream; };
static __thread struct launch_conf conf_stack[CONF_DEPTH];
static __thread int conf_depth;

API unsigned int __cudaPushCallConfiguration(dim3 grid, dim3 block, size_t shmem, void *stream)
{
	if (conf_depth == CONF_DEPTH) {
		last_error = cudaErrorInvalidConfiguration;
		return 1;
	}
	conf_stack[conf_depth++] = (struct launch_conf){ grid, block, shmem, stream };
	return 0;
}

API cudaError_t __cudaPopCallConfiguration(dim3 *grid, dim3 *block, size_t *shmem, void *stream)
{
	struct launch_conf *c;

	if (!conf_depth)
		return fail(cudaErrorMissingConfiguration);
	c = &conf_stack[--conf_depth];
	*grid = c->grid;
	*block = c->block;
	*shmem = c->shmem;
	*(void **)stream = c->stream;
	return cudaSuccess;
}

/* ---- launches ---- */

API cudaError_t cudaLaunchKernel_ptsz(const void *func, dim3 grid, dim3 block, void **args,
				      size_t shmem, cudaStream_t stream);
API cudaError_t cudaLaunchKernelExC_ptsz(const cudaLaunchConfig_t *config, const void *func,
					 void **args);

static cudaError_t launch(const void *func, dim3 grid, dim3 block, void **args, size_t shmem,
			  cudaStream_t stream, bool ptds)
{
	struct regfn *r;
	cudaError_t err = rt_init();

	if (err || (err = resolve(func, &r)))
		return fail(err);
	err = (cudaError_t)(ptds ? drv_launch_ptsz : drv_launch)(r->f, grid.x, grid.y, grid.z,
							       block.x, block.y, block.z,
							       (unsigned int)shmem, stream, args,
							       NULL);
	if (err == (cudaError_t)CUDA_ERROR_INVALID_VALUE)
		err = cudaErrorInvalidConfiguration;
	return fail(err);
}

/* noinline: the thunks below must jump to this entry, not absorb its body */
API __attribute__((noinline)) cudaError_t cudaLaunchKernel(const void *func, dim3 grid,
							   dim3 block, void **args,
							   size_t shmem, cudaStream_t stream)
{
	return launch(func, grid, block, args, shmem, stream, false);
}

API __attribute__((noinline)) cudaError_t cudaLaunchKernel_ptsz(const void *func, dim3 grid,
								dim3 block, void **args,
								size_t shmem,
								cudaStream_t stream)
{
	return launch(func, grid, block, args, shmem, stream, true);
}

/*
 * nvcc 13's thunks. The hidden aliases make the jump land on the exported
 * entry points themselves (not a PLT slot), so a probe on cudaLaunchKernel
 * fires once for a <<<>>> launch, as with NVIDIA's library.
 */
extern cudaError_t rt_launch_alias(const void *, dim3, dim3, void **, size_t, cudaStream_t)
	__attribute__((alias("cudaLaunchKernel"), visibility("hidden")));
extern cudaError_t rt_launch_ptsz_alias(const void *, dim3, dim3, void **, size_t, cudaStream_t)
	__attribute__((alias("cudaLaunchKernel_ptsz"), visibility("hidden")));

API cudaError_t __cudaLaunchKernel(cudaKernel_t k, dim3 grid, dim3 block, void **args,
				   size_t shmem, cudaStream_t stream)
{
	return rt_launch_alias((const void *)k, grid, block, args, shmem, stream);
}

API cudaError_t __cudaLaunchKernel_ptsz(cudaKernel_t k, dim3 grid, dim3 block, void **args,
					size_t shmem, cudaStream_t stream)
{
	return rt_launch_ptsz_alias((const void *)k, grid, block, args, shmem, stream);
}

static cudaError_t launch_ex(const cudaLaunchConfig_t *c, const void *func, void **args,
			     bool ptds)
{
	CUlaunchConfig dc;
	struct regfn *r;
	cudaError_t err = rt_init();

	if (err)
		return fail(err);
	if (!c)
		return fail(cudaErrorInvalidValue);
	if ((err = resolve(func, &r)))
		return fail(err);
	/* launch attributes change nothing on a CPU and are not passed on */
	dc = (CUlaunchConfig){
		.gridDimX = c->gridDim.x, .gridDimY = c->gridDim.y, .gridDimZ = c->gridDim.z,
		.blockDimX = c->blockDim.x, .blockDimY = c->blockDim.y, .blockDimZ = c->blockDim.z,
		.sharedMemBytes = (unsigned int)c->dynamicSmemBytes, .hStream = c->stream,
	};
	err = (cudaError_t)(ptds ? drv_launch_ex_ptsz : drv_launch_ex)(&dc, r->f, args, NULL);
	if (err == (cudaError_t)CUDA_ERROR_INVALID_VALUE)
		err = cudaErrorInvalidConfiguration;
	return fail(err);
}

API cudaError_t cudaLaunchKernelExC(const cudaLaunchConfig_t *config, const void *func, void **args)
{
	return launch_ex(config, func, args, false);
}

API cudaError_t cudaLaunchKernelExC_ptsz(const cudaLaunchConfig_t *config, const void *func,
					 void **args)
{
	return launch_ex(config, func, args, true);
}

API cudaError_t cudaLaunchHostFunc(cudaStream_t s, cudaHostFn_t fn, void *arg)
{
	CALL(core->host_func(s, false, fn, arg));
}

API cudaError_t cudaLaunchHostFunc_ptsz(cudaStream_t s, cudaHostFn_t fn, void *arg)
{
	CALL(core->host_func(s, true, fn, arg));
}

/* ---- device ---- */

API cudaError_t cudaGetDeviceCount(int *n)
{
	cudaError_t err = rt_init();

	if (!n)
		return fail(cudaErrorInvalidValue);
	if (err) {
		*n = 0;
		return fail(cudaErrorNoDevice);
	}
	*n = 1;
	return cudaSuccess;
}

API cudaError_t cudaSetDevice(int d)
{
	cudaError_t err = rt_init();

	if (err)
		return fail(err);
	if (d != 0)
		return fail(cudaErrorInvalidDevice);
	cur_device = d;
	return cudaSuccess;
}

API cudaError_t cudaGetDevice(int *d)
{
	cudaError_t err = rt_init();

	if (err)
		return fail(err);
	if (!d)
		return fail(cudaErrorInvalidValue);
	*d = cur_device;
	return cudaSuccess;
}

API cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp *p, int d)
{
	cudaError_t err = rt_init();
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	if (err)
		return fail(err);
	if (!p)
		return fail(cudaErrorInvalidValue);
	if (d != 0)
		return fail(cudaErrorInvalidDevice);
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "llminstr CPU stand-in");
	p->totalGlobalMem = (size_t)16 << 30;
	p->sharedMemPerBlock = 48 << 10;
	p->regsPerBlock = 65536;
	p->warpSize = 32;
	p->maxThreadsPerBlock = 1024;
	p->maxThreadsDim[0] = p->maxThreadsDim[1] = 1024;
	p->maxThreadsDim[2] = 64;
	p->maxGridSize[0] = 0x7fffffff;
	p->maxGridSize[1] = p->maxGridSize[2] = 65535;
	p->totalConstMem = 64 << 10;
	p->major = 9;
	p->minor = 0;
	p->multiProcessorCount = ncpu > 0 ? (int)ncpu : 1;
	return cudaSuccess;
}

API cudaError_t cudaDeviceSynchronize(void)
{
	CALL(core->device_sync());
}

API cudaError_t cudaDriverGetVersion(int *v)
{
	if (!v)
		return fail(cudaErrorInvalidValue);
	*v = rt_init() ? 0 : CUDART_VERSION;
	return cudaSuccess;
}

API cudaError_t cudaRuntimeGetVersion(int *v)
{
	if (!v)
		return fail(cudaErrorInvalidValue);
	*v = CUDART_VERSION;
	return cudaSuccess;
}

/* ---- memory ---- */

API cudaError_t cudaMalloc(void **p, size_t n)
{
	CALL(core->mem_alloc(p, n, SIM_MEM_DEVICE));
}

API cudaError_t cudaFree(void *p)
{
	CALL(core->mem_free(p, SIM_MEM_DEVICE));
}

API cudaError_t cudaMallocHost(void **p, size_t n)
{
	CALL(core->mem_alloc(p, n, SIM_MEM_PINNED));
}

API cudaError_t cudaHostAlloc(void **p, size_t n, unsigned int flags)
{
	if (flags & ~(unsigned int)(cudaHostAllocPortable | cudaHostAllocMapped |
				     cudaHostAllocWriteCombined))
		return fail(cudaErrorInvalidValue);
	CALL(core->mem_alloc(p, n, SIM_MEM_PINNED));
}

API cudaError_t cudaFreeHost(void *p)
{
	CALL(core->mem_free(p, SIM_MEM_PINNED));
}

API cudaError_t cudaMallocAsync(void **p, size_t n, cudaStream_t s)
{
	CALL(core->mem_alloc_async(p, n, s, false));
}

API cudaError_t cudaMallocAsync_ptsz(void **p, size_t n, cudaStream_t s)
{
	CALL(core->mem_alloc_async(p, n, s, true));
}

API cudaError_t cudaFreeAsync(void *p, cudaStream_t s)
{
	CALL(core->mem_free_async(p, s, false));
}

API cudaError_t cudaFreeAsync_ptsz(void *p, cudaStream_t s)
{
	CALL(core->mem_free_async(p, s, true));
}

API cudaError_t cudaPointerGetAttributes(struct cudaPointerAttributes *a, const void *p)
{
	void *base;
	int kind;
	cudaError_t err = rt_init();

	if (err)
		return fail(err);
	if (!a)
		return fail(cudaErrorInvalidValue);
	memset(a, 0, sizeof(*a));
	kind = core->mem_kind(p, &base, NULL);
	a->device = 0;
	if (kind == SIM_MEM_DEVICE) {
		a->type = cudaMemoryTypeDevice;
		a->devicePointer = (void *)p;
	} else if (kind == SIM_MEM_PINNED || kind == SIM_MEM_REGISTERED) {
		a->type = cudaMemoryTypeHost;
		a->devicePointer = a->hostPointer = (void *)p;
	} else {
		a->type = cudaMemoryTypeUnregistered;
		a->device = -2;
		a->hostPointer = (void *)p;
	}
	return cudaSuccess;
}

API cudaError_t cudaMemcpy_ptds(void *dst, const void *src, size_t n, enum cudaMemcpyKind kind);
API cudaError_t cudaMemcpyAsync_ptsz(void *dst, const void *src, size_t n,
				     enum cudaMemcpyKind kind, cudaStream_t s);
API cudaError_t cudaMemcpy2D_ptds(void *dst, size_t dpitch, const void *src, size_t spitch,
				  size_t w, size_t h, enum cudaMemcpyKind kind);
API cudaError_t cudaMemcpy2DAsync_ptsz(void *dst, size_t dpitch, const void *src, size_t spitch,
				       size_t w, size_t h, enum cudaMemcpyKind kind,
				       cudaStream_t s);
API cudaError_t cudaMemset_ptds(void *p, int v, size_t n);
API cudaError_t cudaMemsetAsync_ptsz(void *p, int v, size_t n, cudaStream_t s);
API cudaError_t cudaMemset2D_ptds(void *p, size_t pitch, int v, size_t w, size_t h);
API cudaError_t cudaMemset2DAsync_ptsz(void *p, size_t pitch, int v, size_t w, size_t h,
				       cudaStream_t s);

API cudaError_t cudaMemcpy(void *dst, const void *src, size_t n, enum cudaMemcpyKind kind)
{
	CALL(core->copy(dst, n, src, n, n, 1, kind, NULL, false, true));
}

API cudaError_t cudaMemcpy_ptds(void *dst, const void *src, size_t n, enum cudaMemcpyKind kind)
{
	CALL(core->copy(dst, n, src, n, n, 1, kind, NULL, true, true));
}

API cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t n, enum cudaMemcpyKind kind,
				cudaStream_t s)
{
	/* the driver's own checks are the engine's: the same answers either way */
	switch (kind) {
	case cudaMemcpyHostToDevice:
		CALL(drv.htod((CUdeviceptr)dst, src, n, (CUstream)s));
	case cudaMemcpyDeviceToHost:
		CALL(drv.dtoh(dst, (CUdeviceptr)src, n, (CUstream)s));
	case cudaMemcpyDeviceToDevice:
		CALL(drv.dtod((CUdeviceptr)dst, (CUdeviceptr)src, n, (CUstream)s));
	default:
		CALL(core->copy(dst, n, src, n, n, 1, kind, s, false, false));
	}
}

API cudaError_t cudaMemcpyAsync_ptsz(void *dst, const void *src, size_t n,
				     enum cudaMemcpyKind kind, cudaStream_t s)
{
	CALL(core->copy(dst, n, src, n, n, 1, kind, s, true, false));
}

API cudaError_t cudaMemcpy2D(void *dst, size_t dpitch, const void *src, size_t spitch,
			     size_t w, size_t h, enum cudaMemcpyKind kind)
{
	CALL(core->copy(dst, dpitch, src, spitch, w, h, kind, NULL, false, true));
}

API cudaError_t cudaMemcpy2D_ptds(void *dst, size_t dpitch, const void *src, size_t spitch,
				  size_t w, size_t h, enum cudaMemcpyKind kind)
{
	CALL(core->copy(dst, dpitch, src, spitch, w, h, kind, NULL, true, true));
}

API cudaError_t cudaMemcpy2DAsync(void *dst, size_t dpitch, const void *src, size_t spitch,
				  size_t w, size_t h, enum cudaMemcpyKind kind, cudaStream_t s)
{
	CALL(core->copy(dst, dpitch, src, spitch, w, h, kind, s, false, false));
}

API cudaError_t cudaMemcpy2DAsync_ptsz(void *dst, size_t dpitch, const void *src, size_t spitch,
				       size_t w, size_t h, enum cudaMemcpyKind kind,
				       cudaStream_t s)
{
	CALL(core->copy(dst, dpitch, src, spitch, w, h, kind, s, true, false));
}

API cudaError_t cudaMemset(void *p, int v, size_t n)
{
	CALL(core->set(p, n, (unsigned char)v, 1, n, 1, NULL, false, true));
}

API cudaError_t cudaMemset_ptds(void *p, int v, size_t n)
{
	CALL(core->set(p, n, (unsigned char)v, 1, n, 1, NULL, true, true));
}

API cudaError_t cudaMemsetAsync(void *p, int v, size_t n, cudaStream_t s)
{
	CALL(drv.set8((CUdeviceptr)p, (unsigned char)v, n, (CUstream)s));
}

API cudaError_t cudaMemsetAsync_ptsz(void *p, int v, size_t n, cudaStream_t s)
{
	CALL(core->set(p, n, (unsigned char)v, 1, n, 1, s, true, false));
}

API cudaError_t cudaMemset2D(void *p, size_t pitch, int v, size_t w, size_t h)
{
	CALL(core->set(p, pitch, (unsigned char)v, 1, w, h, NULL, false, true));
}

API cudaError_t cudaMemset2D_ptds(void *p, size_t pitch, int v, size_t w, size_t h)
{
	CALL(core->set(p, pitch, (unsigned char)v, 1, w, h, NULL, true, true));
}

API cudaError_t cudaMemset2DAsync(void *p, size_t pitch, int v, size_t w, size_t h,
				  cudaStream_t s)
{
	CALL(core->set(p, pitch, (unsigned char)v, 1, w, h, s, false, false));
}

API cudaError_t cudaMemset2DAsync_ptsz(void *p, size_t pitch, int v, size_t w, size_t h,
				       cudaStream_t s)
{
	CALL(core->set(p, pitch, (unsigned char)v, 1, w, h, s, true, false));
}

/* ---- streams ---- */

API cudaError_t cudaStreamSynchronize_ptsz(cudaStream_t s);
API cudaError_t cudaStreamQuery_ptsz(cudaStream_t s);
API cudaError_t cudaStreamWaitEvent_ptsz(cudaStream_t s, cudaEvent_t e, unsigned int flags);
API cudaError_t cudaEventRecord_ptsz(cudaEvent_t e, cudaStream_t s);
API cudaError_t cudaEventRecordWithFlags_ptsz(cudaEvent_t e, cudaStream_t s, unsigned int flags);
API cudaError_t cudaStreamBeginCapture_ptsz(cudaStream_t s, enum cudaStreamCaptureMode mode);
API cudaError_t cudaStreamEndCapture_ptsz(cudaStream_t s, cudaGraph_t *g);
API cudaError_t cudaStreamIsCapturing_ptsz(cudaStream_t s, enum cudaStreamCaptureStatus *st);
API cudaError_t cudaGraphLaunch_ptsz(cudaGraphExec_t x, cudaStream_t s);

API cudaError_t cudaStreamCreate(cudaStream_t *s)
{
	CALL(core->stream_create(s, 0, 0));
}

API cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned int flags)
{
	CALL(core->stream_create(s, flags, 0));
}

API cudaError_t cudaStreamCreateWithPriority(cudaStream_t *s, unsigned int flags, int prio)
{
	CALL(core->stream_create(s, flags, prio));
}

API cudaError_t cudaStreamDestroy(cudaStream_t s)
{
	CALL(core->stream_destroy(s));
}

API cudaError_t cudaStreamSynchronize(cudaStream_t s)
{
	CALL(core->stream_sync(s, false));
}

API cudaError_t cudaStreamSynchronize_ptsz(cudaStream_t s)
{
	CALL(core->stream_sync(s, true));
}

API cudaError_t cudaStreamQuery(cudaStream_t s)
{
	CALL(core->stream_query(s, false));
}

API cudaError_t cudaStreamQuery_ptsz(cudaStream_t s)
{
	CALL(core->stream_query(s, true));
}

API cudaError_t cudaStreamGetFlags(cudaStream_t s, unsigned int *flags)
{
	CALL(core->stream_flags(s, false, flags));
}

API cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned int flags)
{
	CALL(drv.wait((CUstream)s, (CUevent)e, 0));
}

API cudaError_t cudaStreamWaitEvent_ptsz(cudaStream_t s, cudaEvent_t e, unsigned int flags)
{
	CALL(core->stream_wait_event(s, true, e));
}

/* ---- events ---- */

API cudaError_t cudaEventCreate(cudaEvent_t *e)
{
	CALL(core->event_create(e, 0));
}

API cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned int flags)
{
	CALL(core->event_create(e, flags));
}

API cudaError_t cudaEventDestroy(cudaEvent_t e)
{
	CALL(core->event_destroy(e));
}

API cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s)
{
	CALL(drv.record((CUevent)e, (CUstream)s));
}

API cudaError_t cudaEventRecord_ptsz(cudaEvent_t e, cudaStream_t s)
{
	CALL(core->event_record(e, s, true));
}

API cudaError_t cudaEventRecordWithFlags(cudaEvent_t e, cudaStream_t s, unsigned int flags)
{
	CALL(core->event_record(e, s, false));
}

API cudaError_t cudaEventRecordWithFlags_ptsz(cudaEvent_t e, cudaStream_t s, unsigned int flags)
{
	CALL(core->event_record(e, s, true));
}

API cudaError_t cudaEventQuery(cudaEvent_t e)
{
	CALL(core->event_query(e));
}

API cudaError_t cudaEventSynchronize(cudaEvent_t e)
{
	CALL(core->event_sync(e));
}

API cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t a, cudaEvent_t b)
{
	CALL(core->event_elapsed(ms, a, b));
}

/* ---- capture and graphs ---- */

API cudaError_t cudaStreamBeginCapture(cudaStream_t s, enum cudaStreamCaptureMode mode)
{
	CALL(drv.cap_begin((CUstream)s, (CUstreamCaptureMode)mode));
}

API cudaError_t cudaStreamBeginCapture_ptsz(cudaStream_t s, enum cudaStreamCaptureMode mode)
{
	CALL(core->capture_begin(s, true, (int)mode));
}

API cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t *g)
{
	CALL(drv.cap_end((CUstream)s, (CUgraph *)g));
}

API cudaError_t cudaStreamEndCapture_ptsz(cudaStream_t s, cudaGraph_t *g)
{
	CALL(core->capture_end(s, true, g));
}

API cudaError_t cudaStreamIsCapturing(cudaStream_t s, enum cudaStreamCaptureStatus *st)
{
	CALL(core->capture_status(s, false, (int *)st));
}

API cudaError_t cudaStreamIsCapturing_ptsz(cudaStream_t s, enum cudaStreamCaptureStatus *st)
{
	CALL(core->capture_status(s, true, (int *)st));
}

API cudaError_t cudaGraphInstantiate(cudaGraphExec_t *x, cudaGraph_t g, unsigned long long flags)
{
	CALL(drv.instantiate((CUgraphExec *)x, (CUgraph)g, flags));
}

API cudaError_t cudaGraphInstantiateWithFlags(cudaGraphExec_t *x, cudaGraph_t g,
					      unsigned long long flags)
{
	CALL(core->graph_instantiate(x, g));
}

API cudaError_t cudaGraphLaunch(cudaGraphExec_t x, cudaStream_t s)
{
	CALL(drv.graph_launch((CUgraphExec)x, (CUstream)s));
}

API cudaError_t cudaGraphLaunch_ptsz(cudaGraphExec_t x, cudaStream_t s)
{
	CALL(core->graph_launch(x, s, true));
}

API cudaError_t cudaGraphExecDestroy(cudaGraphExec_t x)
{
	CALL(core->graph_exec_destroy(x));
}

API cudaError_t cudaGraphDestroy(cudaGraph_t g)
{
	CALL(core->graph_destroy(g));
}

API cudaError_t cudaGraphGetNodes(cudaGraph_t g, cudaGraphNode_t *nodes, size_t *n)
{
	/* the count only: nodes are not objects of their own here */
	if (nodes)
		return fail(cudaErrorNotSupported);
	CALL(core->graph_node_count(g, n));
}

/* ---- errors ---- */

API cudaError_t cudaGetLastError(void)
{
	cudaError_t e = last_error;

	last_error = cudaSuccess;
	return e;
}

API cudaError_t cudaPeekAtLastError(void)
{
	return last_error;
}

#define E(name, str) { name, #name, str }
static const struct { cudaError_t e; const char *name, *str; } errs[] = {
	E(cudaSuccess, "no error"),
	E(cudaErrorInvalidValue, "invalid argument"),
	E(cudaErrorMemoryAllocation, "out of memory"),
	E(cudaErrorInitializationError, "initialization error"),
	E(cudaErrorMissingConfiguration, "__global__ function call is not configured"),
	E(cudaErrorInvalidConfiguration, "invalid configuration argument"),
	E(cudaErrorInvalidMemcpyDirection, "invalid copy direction for memcpy"),
	E(cudaErrorInsufficientDriver, "CUDA driver version is insufficient for CUDA runtime version"),
	E(cudaErrorInvalidDeviceFunction, "invalid device function"),
	E(cudaErrorNoDevice, "no CUDA-capable device is detected"),
	E(cudaErrorInvalidDevice, "invalid device ordinal"),
	E(cudaErrorInvalidKernelImage, "device kernel image is invalid"),
	E(cudaErrorNoKernelImageForDevice, "no kernel image is available for execution on the device"),
	E(cudaErrorInvalidResourceHandle, "invalid resource handle"),
	E(cudaErrorIllegalState, "the operation cannot be performed in the present state"),
	E(cudaErrorSymbolNotFound, "named symbol not found"),
	E(cudaErrorNotReady, "device not ready"),
	E(cudaErrorNotSupported, "operation not supported"),
	E(cudaErrorStreamCaptureUnsupported, "operation not permitted when stream is capturing"),
	E(cudaErrorStreamCaptureInvalidated, "operation failed due to a previous error during capture"),
	E(cudaErrorStreamCaptureImplicit, "operation would make the legacy stream depend on a capturing blocking stream"),
};

API const char *cudaGetErrorName(cudaError_t e)
{
	size_t i;

	for (i = 0; i < sizeof(errs) / sizeof(errs[0]); i++)
		if (errs[i].e == e)
			return errs[i].name;
	return "cudaErrorUnknown";
}

API const char *cudaGetErrorString(cudaError_t e)
{
	size_t i;

	for (i = 0; i < sizeof(errs) / sizeof(errs[0]); i++)
		if (errs[i].e == e)
			return errs[i].str;
	return "unrecognized error code";
}
