/* SPDX-License-Identifier: MIT */
/*
 * The CPU stand-in CUDA runtime: how a program supplies "device code" to it.
 *
 * build/sim/libcudart.so.13 and build/sim/libcuda.so.1 export NVIDIA's names
 * and signatures (compiled against the toolkit's own headers), so a tracer
 * attaches to them exactly as to NVIDIA's libraries. What they cannot take
 * from a real program is its device code: a cubin is useless on a CPU. This
 * header defines what replaces it.
 *
 * A kernel is a CPU function that does the work of the whole grid:
 *
 *     void fn(dim3 grid, dim3 block, size_t shmem, void **args);
 *
 * args has one pointer per kernel parameter, exactly as in cudaLaunchKernel;
 * the stand-in copies the values when the launch is queued (sizes from the
 * descriptor), so the function runs later on a stream's worker thread with its
 * own copies. The function loops over the grid itself (or ignores it and
 * computes the whole result: the grid is advice on a CPU).
 *
 * A module image is a struct sim_image listing {name, function, parameter
 * sizes}; name is the device symbol as a cubin would carry it (the mangled
 * C++ name, or the plain name of an extern "C" kernel). The image takes the
 * place of a cubin in both APIs:
 *
 *   driver:  cuModuleLoadData(&mod, &image) / cuLibraryLoadData(&lib, &image,
 *            ...) then cuModuleGetFunction(&f, mod, name) /
 *            cuLibraryGetKernel(&k, lib, name) + cuKernelGetFunction(&f, k),
 *            then cuLaunchKernel(f, ...). Unknown names give
 *            CUDA_ERROR_NOT_FOUND; an image without the magic gives
 *            CUDA_ERROR_INVALID_IMAGE.
 *
 *   runtime: what nvcc emits, written by hand. A host stub is an ordinary
 *            function whose symbol is the kernel's (C++-mangled) name, so a
 *            tracer resolving the stub address finds what it would find in
 *            an nvcc binary. A constructor registers the image the way nvcc's
 *            does: h = __cudaRegisterFatBinary(&wrapper) with a
 *            struct sim_fatbin_wrapper whose image points at the sim_image,
 *            then __cudaRegisterFunction(h, stub, name, name, -1, 0...) per
 *            kernel, then __cudaRegisterFatBinaryEnd(h); a destructor calls
 *            __cudaUnregisterFatBinary(h). The stub body is SIM_STUB_LAUNCH
 *            (nvcc 13's launch sequence: __cudaGetKernel once, then
 *            __cudaPopCallConfiguration and __cudaLaunchKernel), and a launch
 *            site is SIM_LAUNCH, nvcc's expansion of kernel<<<g, b, sh, s>>>.
 *            cudaLaunchKernel also accepts the stub address itself, or the
 *            handle __cudaGetKernel returned.
 *
 * Limits: at most SIM_MAX_PARAMS parameters and SIM_MAX_PARAM_BYTES of
 * parameter data per kernel (CUDA_ERROR_INVALID_VALUE beyond).
 */
#ifndef LLMI_SIM_H
#define LLMI_SIM_H

#include <stddef.h>
#include <stdint.h>
#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SIM_MAX_PARAMS		32
#define SIM_MAX_PARAM_BYTES	512

typedef void (*sim_kernel_fn)(dim3 grid, dim3 block, size_t shmem, void **args);

struct sim_kernel_desc {
	const char *name;		/* device symbol, e.g. "_Z8gemv_f32PfPKfS1_ii" */
	sim_kernel_fn fn;
	unsigned int nparams;
	unsigned short param_size[SIM_MAX_PARAMS];
};

#define SIM_IMAGE_MAGIC		0x314d4953494d4c4cULL	/* "LLMISIM1" */
#define SIM_IMAGE_VERSION	1

struct sim_image {
	uint64_t magic;
	uint32_t version;
	uint32_t nkernels;
	const struct sim_kernel_desc *kernels;
};

/*
 * Laid out like nvcc's __fatBinC_Wrapper_t (magic, version, data, filename),
 * with data pointing at a sim_image instead of a fatbinary.
 */
#define SIM_FATBIN_MAGIC	0x466243b1
struct sim_fatbin_wrapper {
	int magic;
	int version;
	const struct sim_image *image;
	void *unused;
};

/* nvcc's host-side launch entry points (crt/host_runtime.h, device_functions.h). */
void **__cudaRegisterFatBinary(void *fatCubin);
void __cudaRegisterFatBinaryEnd(void **fatCubinHandle);
void __cudaUnregisterFatBinary(void **fatCubinHandle);
void __cudaRegisterFunction(void **fatCubinHandle, const char *hostFun,
			    char *deviceFun, const char *deviceName,
			    int thread_limit, uint3 *tid, uint3 *bid,
			    dim3 *bDim, dim3 *gDim, int *wSize);
cudaError_t __cudaGetKernel(cudaKernel_t *kernel, const void *hostFun);
cudaError_t __cudaLaunchKernel(cudaKernel_t kernel, dim3 gridDim, dim3 blockDim,
			       void **args, size_t sharedMem, cudaStream_t stream);
cudaError_t __cudaLaunchKernel_ptsz(cudaKernel_t kernel, dim3 gridDim,
				    dim3 blockDim, void **args, size_t sharedMem,
				    cudaStream_t stream);
unsigned int __cudaPushCallConfiguration(dim3 gridDim, dim3 blockDim,
					 size_t sharedMem, void *stream);
cudaError_t __cudaPopCallConfiguration(dim3 *gridDim, dim3 *blockDim,
				       size_t *sharedMem, void *stream);

/* Per-thread default stream variants that cuda_runtime_api.h declares only
 * under --default-stream per-thread. */
cudaError_t cudaLaunchKernel_ptsz(const void *func, dim3 gridDim, dim3 blockDim,
				  void **args, size_t sharedMem, cudaStream_t stream);
cudaError_t cudaStreamSynchronize_ptsz(cudaStream_t stream);
cudaError_t cudaMemcpyAsync_ptsz(void *dst, const void *src, size_t count,
				 enum cudaMemcpyKind kind, cudaStream_t stream);
cudaError_t cudaGraphLaunch_ptsz(cudaGraphExec_t exec, cudaStream_t stream);

/*
 * The body of a host stub, as nvcc 13 generates it: the handle is fetched
 * once (lazily, at the first launch), every launch pops the configuration
 * pushed by SIM_LAUNCH and enters __cudaLaunchKernel, which tail-jumps into
 * cudaLaunchKernel. The caller's parameters must be addressable locals.
 */
#define SIM_STUB_LAUNCH(stub, argv)					\
	do {								\
		static cudaKernel_t sim_h_;				\
		cudaKernel_t sim_k_ = __atomic_load_n(&sim_h_, __ATOMIC_ACQUIRE); \
		dim3 sim_g_, sim_b_;					\
		size_t sim_sh_;						\
		cudaStream_t sim_s_;					\
		if (!sim_k_ && __cudaGetKernel(&sim_k_, (const void *)(stub)) == cudaSuccess) \
			__atomic_store_n(&sim_h_, sim_k_, __ATOMIC_RELEASE); \
		if (__cudaPopCallConfiguration(&sim_g_, &sim_b_, &sim_sh_, &sim_s_) != cudaSuccess) \
			return;						\
		(void)__cudaLaunchKernel(sim_k_, sim_g_, sim_b_, (argv), sim_sh_, sim_s_); \
	} while (0)

/* kernel<<<grid, block, shmem, stream>>>(args...) as nvcc expands it. */
#define SIM_LAUNCH(stub, grid, block, shmem, stream, ...)		\
	(__cudaPushCallConfiguration((grid), (block), (shmem), (stream)) ? \
	 (void)0 : stub(__VA_ARGS__))

#ifdef __cplusplus
}
#endif

#endif
