/* SPDX-License-Identifier: MIT */
/*
 * The stand-in's engine, shared by its two libraries. It lives in
 * libcuda.so.1 (the driver, as on a GPU machine); libcudart.so.13 reaches it
 * the way NVIDIA's runtime reaches its driver: it dlopens libcuda.so.1 once
 * and takes a table of entry points (llminstr_sim_core, a private symbol),
 * except for kernel launches, which it makes through libcuda's exported
 * cuLaunchKernel / cuLaunchKernel_ptsz so that a tracer sees the runtime
 * launch and the driver launch it causes, on the same thread, as on NVIDIA's
 * stack. Copies, memsets, events and the rest stay inside the engine: a
 * runtime cudaMemcpy is not also a cuMemcpy.
 *
 * All entry points return CUresult and never crash on bad handles: every
 * handle is checked against a registry before it is dereferenced, and every
 * device range against the allocation table.
 */
#ifndef LLMI_SIM_CORE_H
#define LLMI_SIM_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cuda.h>
#include <cuda_runtime_api.h>
#include "sim.h"

#define SIM_CORE_VERSION 1
#define SIM_CORE_SYMBOL "llminstr_sim_core"

/* Memory kinds of the allocation table. */
enum sim_mem_kind {
	SIM_MEM_HOST = 0,		/* not in the table: pageable host memory */
	SIM_MEM_DEVICE = 1,
	SIM_MEM_PINNED = 2,		/* cudaMallocHost / cudaHostAlloc */
	SIM_MEM_REGISTERED = 3,		/* cuMemHostRegister: the caller's memory, never freed here */
};

/* Handle types of the registry (the driver's CUkernel is registered from driver.c). */
enum htype { H_NONE, H_STREAM, H_EVENT, H_GRAPH, H_EXEC, H_FUNC, H_MOD, H_KERN, H_LIB };

/* Copy directions are the values of enum cudaMemcpyKind. */

struct sim_core_ops {
	uint32_t version;
	CUresult (*init)(void);
	CUresult (*mem_alloc)(void **p, size_t n, enum sim_mem_kind kind);
	CUresult (*mem_free)(void *p, enum sim_mem_kind kind);
	CUresult (*mem_free_async)(void *p, CUstream s, bool ptds);
	CUresult (*mem_alloc_async)(void **p, size_t n, CUstream s, bool ptds);
	int (*mem_kind)(const void *p, void **base, size_t *size);
	CUresult (*copy)(void *dst, size_t dpitch, const void *src, size_t spitch,
			 size_t width, size_t height, int kind, CUstream s,
			 bool ptds, bool sync);
	CUresult (*set)(void *dst, size_t pitch, unsigned int value, unsigned int esz,
			size_t width, size_t height, CUstream s, bool ptds, bool sync);
	CUresult (*launch)(CUfunction f, dim3 grid, dim3 block, size_t shmem,
			   CUstream s, bool ptds, void **params);
	CUresult (*host_func)(CUstream s, bool ptds, void (*fn)(void *), void *arg);
	CUresult (*stream_create)(CUstream *s, unsigned int flags, int prio);
	CUresult (*stream_destroy)(CUstream s);
	CUresult (*stream_sync)(CUstream s, bool ptds);
	CUresult (*stream_query)(CUstream s, bool ptds);
	CUresult (*stream_flags)(CUstream s, bool ptds, unsigned int *flags);
	CUresult (*stream_wait_event)(CUstream s, bool ptds, CUevent e);
	CUresult (*device_sync)(void);
	CUresult (*event_create)(CUevent *e, unsigned int flags);
	CUresult (*event_destroy)(CUevent e);
	CUresult (*event_record)(CUevent e, CUstream s, bool ptds);
	CUresult (*event_query)(CUevent e);
	CUresult (*event_sync)(CUevent e);
	CUresult (*event_elapsed)(float *ms, CUevent start, CUevent end);
	CUresult (*capture_begin)(CUstream s, bool ptds, int mode);
	CUresult (*capture_end)(CUstream s, bool ptds, CUgraph *g);
	CUresult (*capture_status)(CUstream s, bool ptds, int *status);
	CUresult (*graph_instantiate)(CUgraphExec *x, CUgraph g);
	CUresult (*graph_launch)(CUgraphExec x, CUstream s, bool ptds);
	CUresult (*graph_destroy)(CUgraph g);
	CUresult (*graph_exec_destroy)(CUgraphExec x);
	CUresult (*graph_node_count)(CUgraph g, size_t *n);
	CUresult (*module_load)(CUmodule *m, const void *image);
	CUresult (*module_unload)(CUmodule m);
	CUresult (*module_function)(CUfunction *f, CUmodule m, const char *name);
	CUresult (*function_name)(CUfunction f, const char **name);
	/* host memory registered in place (cuMemHostRegister / Unregister) */
	CUresult (*mem_register)(void *p, size_t n);
	CUresult (*mem_unregister)(void *p);
	/* bytes of device memory allocated now */
	size_t (*mem_device_bytes)(void);
};

/* Inside libcuda.so.1 only (hidden). */
int sim_core_handle_type(const void *p);
int sim_core_handle_add(const void *p, int type);
bool sim_core_handle_del(const void *p, int type);
extern const struct sim_core_ops llminstr_sim_core;

#endif
