/* SPDX-License-Identifier: MIT */
/*
 * The records and maps that bpf/llminstr_trace.bpf.c shares with
 * llminstr-trace. Every record that crosses the ring buffer is fixed-size and
 * carries LLMI_EVENT_VERSION, so a reader built against another layout can
 * refuse it instead of misreading it. This header is read both by clang
 * -target bpf (with vmlinux.h) and by the C compiler of user space, so it
 * uses only __u8.. __u64 types and no libc.
 *
 * Probe identity travels in the attach cookie (bpf_get_attach_cookie):
 * bits 0-15 the API (enum llmi_api), bits 16-23 the argument layout
 * (enum llmi_layout), bits 24-26 the per-thread save slot of return-probed
 * calls, bits 32-37 the traced process's index. One generic program then
 * serves every API of a layout.
 */
#ifndef LLMI_EVENTS_H
#define LLMI_EVENTS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define LLMI_EVENT_VERSION 1
/*
 * Room for a kernel's mangled name in a name record: C++ template kernels
 * (PyTorch's elementwise kernels, CUTLASS in cuBLAS) run to several hundred
 * characters, past what a short buffer keeps, and a cut name cannot be
 * demangled. Name records are rare (once per kernel), so they are large;
 * user space reads a longer name whole from the process while it lives.
 */
#define LLMI_EV_NAME_MAX 2048

/*
 * Every probed API, in one table that both sides read, so that no API can
 * lack a row: X(id, symbol, role, program, layout, arg).
 *  - id: the enum llmi_api suffix; symbol: the exported name in libcudart /
 *    libcuda (or an executable with static cudart);
 *  - role: RT (the runtime) or DRV (the driver);
 *  - program: the BPF program that serves it (user/trace/api.h, enum
 *    trace_prog without PROG_): TIMED ones also get a return probe, which
 *    is used only where the duration or an out-parameter is the point;
 *  - layout: how the probe reads its arguments (enum llmi_layout, LLMI_L_);
 *  - arg: what the layout leaves to the API, in the cookie: a driver copy's
 *    direction (cudaMemcpyKind), a driver memset's element size; else 0.
 * BPF uses only the ids; user/trace/api.c derives the summary category and
 * the save slot of return-probed calls from role, program and layout.
 */
#define LLMI_API_LIST(X) \
	X(LAUNCH, "cudaLaunchKernel", RT, RT_LAUNCH, NONE, 0) \
	X(LAUNCH_PTSZ, "cudaLaunchKernel_ptsz", RT, RT_LAUNCH, NONE, 0) \
	X(LAUNCH_EXC, "cudaLaunchKernelExC", RT, RT_LAUNCH_EXC, NONE, 0) \
	X(LAUNCH_EXC_PTSZ, "cudaLaunchKernelExC_ptsz", RT, RT_LAUNCH_EXC, NONE, 0) \
	X(LAUNCH_COOP, "cudaLaunchCooperativeKernel", RT, RT_LAUNCH, NONE, 0) \
	X(LAUNCH_COOP_PTSZ, "cudaLaunchCooperativeKernel_ptsz", RT, RT_LAUNCH, NONE, 0) \
	X(GRAPH_LAUNCH, "cudaGraphLaunch", RT, CALL_ENTRY, GRAPH_LAUNCH, 0) \
	X(GRAPH_LAUNCH_PTSZ, "cudaGraphLaunch_ptsz", RT, CALL_ENTRY, GRAPH_LAUNCH, 0) \
	X(MEMCPY, "cudaMemcpy", RT, TIMED, MEMCPY, 0) \
	X(MEMCPY_PTDS, "cudaMemcpy_ptds", RT, TIMED, MEMCPY, 0) \
	X(MEMCPY_ASYNC, "cudaMemcpyAsync", RT, CALL_ENTRY, MEMCPY, 0) \
	X(MEMCPY_ASYNC_PTSZ, "cudaMemcpyAsync_ptsz", RT, CALL_ENTRY, MEMCPY, 0) \
	X(MEMCPY_2D, "cudaMemcpy2D", RT, TIMED, MEMCPY_2D, 0) \
	X(MEMCPY_2D_PTDS, "cudaMemcpy2D_ptds", RT, TIMED, MEMCPY_2D, 0) \
	X(MEMCPY_2D_ASYNC, "cudaMemcpy2DAsync", RT, CALL_ENTRY, MEMCPY_2D, 0) \
	X(MEMCPY_2D_ASYNC_PTSZ, "cudaMemcpy2DAsync_ptsz", RT, CALL_ENTRY, MEMCPY_2D, 0) \
	X(MEMSET, "cudaMemset", RT, TIMED, MEMSET, 0) \
	X(MEMSET_PTDS, "cudaMemset_ptds", RT, TIMED, MEMSET, 0) \
	X(MEMSET_ASYNC, "cudaMemsetAsync", RT, CALL_ENTRY, MEMSET, 0) \
	X(MEMSET_ASYNC_PTSZ, "cudaMemsetAsync_ptsz", RT, CALL_ENTRY, MEMSET, 0) \
	X(MEMSET_2D, "cudaMemset2D", RT, TIMED, MEMSET_2D, 0) \
	X(MEMSET_2D_PTDS, "cudaMemset2D_ptds", RT, TIMED, MEMSET_2D, 0) \
	X(MEMSET_2D_ASYNC, "cudaMemset2DAsync", RT, CALL_ENTRY, MEMSET_2D, 0) \
	X(MEMSET_2D_ASYNC_PTSZ, "cudaMemset2DAsync_ptsz", RT, CALL_ENTRY, MEMSET_2D, 0) \
	X(MALLOC, "cudaMalloc", RT, TIMED, MALLOC, 0) \
	X(MALLOC_HOST, "cudaMallocHost", RT, TIMED, MALLOC, 0) \
	X(MALLOC_MANAGED, "cudaMallocManaged", RT, TIMED, MALLOC, 0) \
	X(MALLOC_ASYNC, "cudaMallocAsync", RT, TIMED, MALLOC, 0) \
	X(MALLOC_ASYNC_PTSZ, "cudaMallocAsync_ptsz", RT, TIMED, MALLOC, 0) \
	X(MALLOC_PITCH, "cudaMallocPitch", RT, TIMED, MALLOC_PITCH, 0) \
	X(HOST_ALLOC, "cudaHostAlloc", RT, TIMED, MALLOC, 0) \
	X(FREE, "cudaFree", RT, TIMED, FREE, 0) \
	X(FREE_HOST, "cudaFreeHost", RT, TIMED, FREE, 0) \
	X(FREE_ASYNC, "cudaFreeAsync", RT, CALL_ENTRY, FREE, 0) \
	X(FREE_ASYNC_PTSZ, "cudaFreeAsync_ptsz", RT, CALL_ENTRY, FREE, 0) \
	X(STREAM_SYNC, "cudaStreamSynchronize", RT, TIMED, SYNC, 0) \
	X(STREAM_SYNC_PTSZ, "cudaStreamSynchronize_ptsz", RT, TIMED, SYNC, 0) \
	X(DEVICE_SYNC, "cudaDeviceSynchronize", RT, TIMED, SYNC, 0) \
	X(EVENT_SYNC, "cudaEventSynchronize", RT, TIMED, SYNC, 0) \
	X(EVENT_RECORD, "cudaEventRecord", RT, CALL_ENTRY, EVENT_RECORD, 0) \
	X(EVENT_RECORD_PTSZ, "cudaEventRecord_ptsz", RT, CALL_ENTRY, EVENT_RECORD, 0) \
	X(EVENT_RECORD_FLAGS, "cudaEventRecordWithFlags", RT, CALL_ENTRY, EVENT_RECORD, 0) \
	X(EVENT_RECORD_FLAGS_PTSZ, "cudaEventRecordWithFlags_ptsz", RT, CALL_ENTRY, EVENT_RECORD, 0) \
	X(STREAM_WAIT, "cudaStreamWaitEvent", RT, CALL_ENTRY, STREAM_WAIT, 0) \
	X(STREAM_WAIT_PTSZ, "cudaStreamWaitEvent_ptsz", RT, CALL_ENTRY, STREAM_WAIT, 0) \
	X(CAPTURE_BEGIN, "cudaStreamBeginCapture", RT, CALL_ENTRY, CAPTURE_BEGIN, 0) \
	X(CAPTURE_BEGIN_PTSZ, "cudaStreamBeginCapture_ptsz", RT, CALL_ENTRY, CAPTURE_BEGIN, 0) \
	X(CAPTURE_END, "cudaStreamEndCapture", RT, TIMED, CAPTURE_END, 0) \
	X(CAPTURE_END_PTSZ, "cudaStreamEndCapture_ptsz", RT, TIMED, CAPTURE_END, 0) \
	X(GRAPH_INSTANTIATE, "cudaGraphInstantiate", RT, TIMED, INSTANTIATE, 0) \
	X(GRAPH_INSTANTIATE_FLAGS, "cudaGraphInstantiateWithFlags", RT, TIMED, INSTANTIATE, 0) \
	X(GRAPH_INSTANTIATE_PARAMS, "cudaGraphInstantiateWithParams", RT, TIMED, INSTANTIATE, 0) \
	X(GRAPH_INSTANTIATE_PARAMS_PTSZ, "cudaGraphInstantiateWithParams_ptsz", RT, TIMED, INSTANTIATE, 0) \
	X(REGISTER_FUNCTION, "__cudaRegisterFunction", RT, REGISTER, REGISTER, 0) \
	X(GET_KERNEL, "__cudaGetKernel", RT, TIMED, GET_KERNEL, 0) \
	X(CU_LAUNCH, "cuLaunchKernel", DRV, DRV_LAUNCH, NONE, 0) \
	X(CU_LAUNCH_PTSZ, "cuLaunchKernel_ptsz", DRV, DRV_LAUNCH, NONE, 0) \
	X(CU_LAUNCH_EX, "cuLaunchKernelEx", DRV, DRV_LAUNCH_EX, NONE, 0) \
	X(CU_LAUNCH_EX_PTSZ, "cuLaunchKernelEx_ptsz", DRV, DRV_LAUNCH_EX, NONE, 0) \
	X(CU_LAUNCH_COOP, "cuLaunchCooperativeKernel", DRV, DRV_LAUNCH, NONE, 0) \
	X(CU_LAUNCH_COOP_PTSZ, "cuLaunchCooperativeKernel_ptsz", DRV, DRV_LAUNCH, NONE, 0) \
	X(CU_MODULE_GET_FUNCTION, "cuModuleGetFunction", DRV, TIMED, GET_NAMED, 0) \
	X(CU_LIBRARY_GET_KERNEL, "cuLibraryGetKernel", DRV, TIMED, GET_NAMED, 0) \
	X(CU_KERNEL_GET_FUNCTION, "cuKernelGetFunction", DRV, TIMED, KERNEL_FUNC, 0) \
	X(CU_CTX_SYNC, "cuCtxSynchronize", DRV, TIMED, SYNC, 0) \
	X(CU_STREAM_SYNC, "cuStreamSynchronize", DRV, TIMED, SYNC, 0) \
	X(CU_STREAM_SYNC_PTSZ, "cuStreamSynchronize_ptsz", DRV, TIMED, SYNC, 0) \
	X(CU_EVENT_SYNC, "cuEventSynchronize", DRV, TIMED, SYNC, 0) \
	X(CU_MEMCPY, "cuMemcpy", DRV, TIMED, CU_COPY, 4) \
	X(CU_MEMCPY_PTDS, "cuMemcpy_ptds", DRV, TIMED, CU_COPY, 4) \
	X(CU_MEMCPY_ASYNC, "cuMemcpyAsync", DRV, DRV_CALL_ENTRY, CU_COPY, 4) \
	X(CU_MEMCPY_ASYNC_PTSZ, "cuMemcpyAsync_ptsz", DRV, DRV_CALL_ENTRY, CU_COPY, 4) \
	X(CU_MEMCPY_HTOD, "cuMemcpyHtoD_v2", DRV, TIMED, CU_COPY, 1) \
	X(CU_MEMCPY_HTOD_PTDS, "cuMemcpyHtoD_v2_ptds", DRV, TIMED, CU_COPY, 1) \
	X(CU_MEMCPY_DTOH, "cuMemcpyDtoH_v2", DRV, TIMED, CU_COPY, 2) \
	X(CU_MEMCPY_DTOH_PTDS, "cuMemcpyDtoH_v2_ptds", DRV, TIMED, CU_COPY, 2) \
	X(CU_MEMCPY_DTOD, "cuMemcpyDtoD_v2", DRV, TIMED, CU_COPY, 3) \
	X(CU_MEMCPY_DTOD_PTDS, "cuMemcpyDtoD_v2_ptds", DRV, TIMED, CU_COPY, 3) \
	X(CU_MEMCPY_HTOD_ASYNC, "cuMemcpyHtoDAsync_v2", DRV, DRV_CALL_ENTRY, CU_COPY, 1) \
	X(CU_MEMCPY_HTOD_ASYNC_PTSZ, "cuMemcpyHtoDAsync_v2_ptsz", DRV, DRV_CALL_ENTRY, CU_COPY, 1) \
	X(CU_MEMCPY_DTOH_ASYNC, "cuMemcpyDtoHAsync_v2", DRV, DRV_CALL_ENTRY, CU_COPY, 2) \
	X(CU_MEMCPY_DTOH_ASYNC_PTSZ, "cuMemcpyDtoHAsync_v2_ptsz", DRV, DRV_CALL_ENTRY, CU_COPY, 2) \
	X(CU_MEMCPY_DTOD_ASYNC, "cuMemcpyDtoDAsync_v2", DRV, DRV_CALL_ENTRY, CU_COPY, 3) \
	X(CU_MEMCPY_DTOD_ASYNC_PTSZ, "cuMemcpyDtoDAsync_v2_ptsz", DRV, DRV_CALL_ENTRY, CU_COPY, 3) \
	X(CU_MEMSET_D8, "cuMemsetD8_v2", DRV, TIMED, CU_MEMSET, 1) \
	X(CU_MEMSET_D8_PTDS, "cuMemsetD8_v2_ptds", DRV, TIMED, CU_MEMSET, 1) \
	X(CU_MEMSET_D16, "cuMemsetD16_v2", DRV, TIMED, CU_MEMSET, 2) \
	X(CU_MEMSET_D16_PTDS, "cuMemsetD16_v2_ptds", DRV, TIMED, CU_MEMSET, 2) \
	X(CU_MEMSET_D32, "cuMemsetD32_v2", DRV, TIMED, CU_MEMSET, 4) \
	X(CU_MEMSET_D32_PTDS, "cuMemsetD32_v2_ptds", DRV, TIMED, CU_MEMSET, 4) \
	X(CU_MEMSET_D8_ASYNC, "cuMemsetD8Async", DRV, DRV_CALL_ENTRY, CU_MEMSET, 1) \
	X(CU_MEMSET_D8_ASYNC_PTSZ, "cuMemsetD8Async_ptsz", DRV, DRV_CALL_ENTRY, CU_MEMSET, 1) \
	X(CU_MEMSET_D16_ASYNC, "cuMemsetD16Async", DRV, DRV_CALL_ENTRY, CU_MEMSET, 2) \
	X(CU_MEMSET_D16_ASYNC_PTSZ, "cuMemsetD16Async_ptsz", DRV, DRV_CALL_ENTRY, CU_MEMSET, 2) \
	X(CU_MEMSET_D32_ASYNC, "cuMemsetD32Async", DRV, DRV_CALL_ENTRY, CU_MEMSET, 4) \
	X(CU_MEMSET_D32_ASYNC_PTSZ, "cuMemsetD32Async_ptsz", DRV, DRV_CALL_ENTRY, CU_MEMSET, 4) \
	X(CU_MEM_ALLOC, "cuMemAlloc_v2", DRV, TIMED, MALLOC, 0) \
	X(CU_MEM_ALLOC_HOST, "cuMemAllocHost_v2", DRV, TIMED, MALLOC, 0) \
	X(CU_MEM_FREE, "cuMemFree_v2", DRV, TIMED, FREE, 0) \
	X(CU_MEM_FREE_HOST, "cuMemFreeHost", DRV, TIMED, FREE, 0) \
	X(CU_EVENT_RECORD, "cuEventRecord", DRV, DRV_CALL_ENTRY, EVENT_RECORD, 0) \
	X(CU_EVENT_RECORD_PTSZ, "cuEventRecord_ptsz", DRV, DRV_CALL_ENTRY, EVENT_RECORD, 0) \
	X(CU_EVENT_RECORD_FLAGS, "cuEventRecordWithFlags", DRV, DRV_CALL_ENTRY, EVENT_RECORD, 0) \
	X(CU_EVENT_RECORD_FLAGS_PTSZ, "cuEventRecordWithFlags_ptsz", DRV, DRV_CALL_ENTRY, EVENT_RECORD, 0) \
	X(CU_STREAM_WAIT, "cuStreamWaitEvent", DRV, DRV_CALL_ENTRY, STREAM_WAIT, 0) \
	X(CU_STREAM_WAIT_PTSZ, "cuStreamWaitEvent_ptsz", DRV, DRV_CALL_ENTRY, STREAM_WAIT, 0) \
	X(CU_CAPTURE_BEGIN, "cuStreamBeginCapture_v2", DRV, DRV_CALL_ENTRY, CAPTURE_BEGIN, 0) \
	X(CU_CAPTURE_BEGIN_PTSZ, "cuStreamBeginCapture_v2_ptsz", DRV, DRV_CALL_ENTRY, CAPTURE_BEGIN, 0) \
	X(CU_CAPTURE_END, "cuStreamEndCapture", DRV, TIMED, CAPTURE_END, 0) \
	X(CU_CAPTURE_END_PTSZ, "cuStreamEndCapture_ptsz", DRV, TIMED, CAPTURE_END, 0) \
	X(CU_GRAPH_INSTANTIATE, "cuGraphInstantiateWithFlags", DRV, TIMED, INSTANTIATE, 0) \
	X(CU_GRAPH_LAUNCH, "cuGraphLaunch", DRV, DRV_CALL_ENTRY, GRAPH_LAUNCH, 0) \
	X(CU_GRAPH_LAUNCH_PTSZ, "cuGraphLaunch_ptsz", DRV, DRV_CALL_ENTRY, GRAPH_LAUNCH, 0)

#define LLMI_API_ENUM(id, sym, role, prog, layout, arg) LLMI_API_##id,
enum llmi_api {
	LLMI_API_LIST(LLMI_API_ENUM)
	LLMI_API_MAX
};
#undef LLMI_API_ENUM

/* How a probe reads its arguments (x86-64 SysV), carried in the cookie. */
enum llmi_layout {
	LLMI_L_NONE,
	LLMI_L_MEMCPY,		/* (dst, src, count, kind[, stream])		*/
	LLMI_L_MEMCPY_2D,	/* (dst, dp, src, sp, w, h, kind[sp+8], stream)	*/
	LLMI_L_MEMSET,		/* (ptr, value, count[, stream])		*/
	LLMI_L_MEMSET_2D,	/* (ptr, pitch, value, w, h[, stream])		*/
	LLMI_L_MALLOC,		/* (void **p, size, ...)			*/
	LLMI_L_MALLOC_PITCH,	/* (void **p, size_t *pitch, w, h)		*/
	LLMI_L_FREE,		/* (ptr[, stream])				*/
	LLMI_L_SYNC,		/* (stream | event | nothing)			*/
	LLMI_L_EVENT_RECORD,	/* (event, stream)				*/
	LLMI_L_STREAM_WAIT,	/* (stream, event, flags)			*/
	LLMI_L_CAPTURE_BEGIN,	/* (stream, mode)				*/
	LLMI_L_CAPTURE_END,	/* (stream, cudaGraph_t *out)			*/
	LLMI_L_INSTANTIATE,	/* (cudaGraphExec_t *out, graph, ...)		*/
	LLMI_L_GRAPH_LAUNCH,	/* (exec, stream)				*/
	LLMI_L_REGISTER,	/* (fatbin, hostFun, deviceFun, ...)		*/
	LLMI_L_GET_KERNEL,	/* (cudaKernel_t *out, const void *stub)	*/
	LLMI_L_GET_NAMED,	/* (CUfunction|CUkernel *out, mod|lib, name)	*/
	LLMI_L_KERNEL_FUNC,	/* (CUfunction *out, CUkernel)			*/
	LLMI_L_CU_COPY,		/* (dst, src, bytes[, stream]); kind: cookie arg	*/
	LLMI_L_CU_MEMSET,	/* (ptr, value, n[, stream]); n * cookie arg bytes	*/
	LLMI_L_MAX
};

/* Save slots for return-probed calls, one per family that may nest. */
enum llmi_slot {
	LLMI_SLOT_CALL,		/* timed runtime calls; nesting depth counted */
	LLMI_SLOT_RT_NAME,	/* __cudaGetKernel */
	LLMI_SLOT_DRV_NAME,	/* cuModuleGetFunction, cuLibraryGetKernel */
	LLMI_SLOT_DRV_KFUNC,	/* cuKernelGetFunction */
	LLMI_SLOT_GRAPH,	/* capture end, instantiate */
	LLMI_SLOT_DRV_CALL,	/* timed driver calls */
	LLMI_SLOT_DRV_GRAPH,	/* driver capture end, instantiate */
	LLMI_SLOTS = 8
};

#define LLMI_MAX_TARGETS 64
#define LLMI_COOKIE(api, layout, slot) \
	((__u64)(api) | ((__u64)(layout) << 16) | ((__u64)(slot) << 24))
/*
 * bits 28-31: what the layout leaves to the API: a driver copy's direction
 * (cudaMemcpyKind's values), a driver memset's element size
 */
#define LLMI_COOKIE_WITH_ARG(c, arg) ((c) | ((__u64)((arg) & 0xf) << 28))
#define LLMI_COOKIE_ARG(c) ((__u32)(((c) >> 28) & 0xf))
/* bits 32-37: the target (traced process) index, for its state (rt_text, rt_abs, captures) */
#define LLMI_COOKIE_WITH_TARGET(c, target) ((c) | ((__u64)(target) << 32))
#define LLMI_COOKIE_TARGET(c) ((__u32)(((c) >> 32) & (LLMI_MAX_TARGETS - 1)))
#define LLMI_COOKIE_API(c) ((__u32)((c) & 0xffff))
#define LLMI_COOKIE_LAYOUT(c) ((__u32)(((c) >> 16) & 0xff))
#define LLMI_COOKIE_SLOT(c) ((__u32)(((c) >> 24) & (LLMI_SLOTS - 1)))

enum llmi_ev_type {
	LLMI_EV_LAUNCH = 1,	/* obj func/handle, stream, arg0 grid, arg1 block */
	LLMI_EV_GRAPH_LAUNCH,	/* obj exec, stream				*/
	LLMI_EV_MEMCPY,		/* obj dst, stream, arg0 bytes, arg1 kind	*/
	LLMI_EV_MEMSET,		/* obj ptr, stream, arg0 bytes			*/
	LLMI_EV_ALLOC,		/* obj ptr (result), arg0 bytes			*/
	LLMI_EV_FREE,		/* obj ptr, stream				*/
	LLMI_EV_SYNC,		/* obj stream or event (0: device)		*/
	LLMI_EV_EVENT_RECORD,	/* obj event, stream				*/
	LLMI_EV_STREAM_WAIT,	/* obj event, stream				*/
	LLMI_EV_CAPTURE_BEGIN,	/* stream					*/
	LLMI_EV_CAPTURE_END,	/* obj graph, stream				*/
	LLMI_EV_INSTANTIATE,	/* obj exec, arg0 graph				*/
	LLMI_EV_REGISTER,	/* obj host stub, arg0 name pointer; name	*/
	LLMI_EV_GET_KERNEL,	/* obj handle, arg0 host stub			*/
	LLMI_EV_NAMED,		/* obj CUfunction/CUkernel, arg0 name ptr; name	*/
	LLMI_EV_KERNEL_FUNC,	/* obj CUfunction, arg0 CUkernel		*/
	LLMI_EV_TENSOR,		/* the agent's llminstr:capture: obj tensor seq, stream,
				 * arg0 bytes, arg1 step; name (struct llmi_tensor_event) */
	LLMI_EV_STEP,		/* the agent's llminstr:step: arg0 step		*/
	LLMI_EV_MAX
};

/* cudaMemcpyKind; LLMI_COPY_DEFAULT is cudaMemcpyDefault (direction by UVA). */
enum llmi_copy_kind {
	LLMI_COPY_H2H, LLMI_COPY_H2D, LLMI_COPY_D2H, LLMI_COPY_D2D,
	LLMI_COPY_DEFAULT, LLMI_COPY_KINDS
};

/*
 * The 64-byte record of every call. ts_ns is CLOCK_MONOTONIC at entry;
 * dur_ns is set by return probes only. Launch dims are packed x | y << 32 |
 * z << 48 (CUDA bounds y, z by 65535).
 */
struct llmi_event {
	__u64 ts_ns;
	__u64 dur_ns;
	__u32 pid;
	__u32 tid;
	__u8 version;
	__u8 type;		/* enum llmi_ev_type */
	__u16 api;		/* enum llmi_api */
	__s32 ret;		/* return value of return-probed calls */
	__u64 obj;
	__u64 stream;
	__u64 arg0;
	__u64 arg1;
};

/* Records that carry a name string (registrations, driver lookups). */
struct llmi_name_event {
	struct llmi_event ev;
	char name[LLMI_EV_NAME_MAX];
};

/*
 * The agent's capture probe: its tensor's name, cut at 255 bytes. Under -T
 * no launch is streamed, so the probe itself reads the producer the launch
 * probes left for its thread and stream (bpf/llminstr_trace.bpf.c,
 * last_launches): its launch number in the process (0: unknown, and always
 * 0 in events mode, where user space finds the producer among the streamed
 * launches) and its handle as the kernel counts it (struct llmi_kernel_key's
 * api and func; a graph launch's api and exec for a graph).
 */
#define LLMI_EV_TENSOR_NAME_MAX 256
struct llmi_tensor_event {
	struct llmi_event ev;
	__u64 launch;
	__u64 func;
	__u32 api;
	__u32 pad;
	char name[LLMI_EV_TENSOR_NAME_MAX];
};

/* -T with capture: the last launch of a (process, thread, stream) (LRU hash "last_launches"). */
struct llmi_stream_key {
	__u32 pid;
	__u32 tid;
	__u64 stream;
};

struct llmi_last_launch {
	__u64 launch;		/* the process's launch number; 0: not counted (see the probes) */
	__u64 func;
	__u32 api;
	__u32 pad;
};

/* excluded_tids values: whose calls a thread's are for now */
#define LLMI_EXCL_TRACER	1	/* the tracer's own threads */
#define LLMI_EXCL_AGENT		2	/* inside the agent (capture traffic) */

/* Counters the probes keep (per-CPU array map "counters"). */
enum llmi_counter {
	LLMI_CTR_LOST,		/* ring buffer reserve failures: events lost */
	LLMI_CTR_DEDUP,		/* driver launches made by a runtime launch */
	LLMI_CTR_NESTED,	/* calls made inside a timed runtime call */
	LLMI_CTR_KMAP_FULL,	/* -T: launches not counted, kernel map full */
	LLMI_CTR_EXCLUDED,	/* calls from excluded threads */
	LLMI_CTR_AGENT,		/* calls the agent made to capture (not the application's) */
	LLMI_CTR_MAX
};

/*
 * Runtime -> driver dedup (see bpf/llminstr_trace.bpf.c). rt_text, key
 * target * LLMI_API_MAX + api: where the runtime library's code lies
 * relative to that probed function, from its ELF file. rt_abs, key target:
 * the same range as addresses in the process, learnt by the first runtime
 * probe that fires there. flags say which method the target uses.
 */
#define LLMI_TEXT_SHARED 1u	/* libcudart.so: code ranges tell callers apart */
#define LLMI_TEXT_STATIC 2u	/* static cudart: per-thread markers */
#define LLMI_TEXT_DRIVER 4u	/* libcuda's code, for its non-launch calls: a call
				   from there is the driver's own, not the app's */

struct llmi_text {
	__s64 lo;
	__s64 hi;
	__u32 flags;
	__u32 depth;	/* BPF's: how far below this API's entry sp the runtime
			   last entered a driver launch (0: not learnt yet) */
};

struct llmi_range {
	__u64 lo;
	__u64 hi;
	__u32 flags;
	__u32 pad;
};

/* -T: per API (per-CPU array "api_stats"). */
struct llmi_api_stat {
	__u64 calls;
	__u64 bytes;
	__u64 sum_ns;
	__u64 slots[64];	/* log2 of ns, as llmi_log2_slot() */
};

/* -T: per copy kind (per-CPU array "copy_stats"). */
struct llmi_copy_stat {
	__u64 calls;
	__u64 bytes;
};

/* -T: launches per kernel handle and API (per-CPU hash "kernel_counts"). */
struct llmi_kernel_key {
	__u32 pid;
	__u32 api;		/* enum llmi_api: runtime handles or CUfunction */
	__u64 func;
};

/* -T: the per-CPU direct-mapped front of kernel_counts (array "kernel_cache"). */
#define LLMI_KCACHE_SLOTS 4096
struct llmi_kcache_slot {
	struct llmi_kernel_key key;
	__u64 count;		/* 0: the slot is free */
};

#endif
