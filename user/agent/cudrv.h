/* SPDX-License-Identifier: MIT */
/*
 * The few CUDA driver API types and constants the agent uses, declared here
 * so that libllminstr.so builds without the CUDA toolkit and never links
 * libcuda: the agent finds the driver already loaded in the process at run
 * time (cuda.c). Values are NVIDIA's (cuda.h, stable across releases);
 * tests/unit/test_agent_cuda.c checks them against the toolkit's header.
 */
#ifndef LLMI_AGENT_CUDRV_H
#define LLMI_AGENT_CUDRV_H

#include <stddef.h>
#include <stdint.h>

typedef int ag_CUresult;
typedef int ag_CUdevice;
typedef unsigned long long ag_CUdeviceptr;
typedef struct ag_CUctx_st *ag_CUcontext;
typedef struct ag_CUstream_st *ag_CUstream;
typedef struct ag_CUevent_st *ag_CUevent;
typedef void (*ag_CUhostFn)(void *user);

#define AG_CUDA_SUCCESS				0
#define AG_CUDA_ERROR_INVALID_VALUE		1
#define AG_CUDA_ERROR_NOT_INITIALIZED		3
#define AG_CUDA_ERROR_DEINITIALIZED		4

#define AG_CU_POINTER_ATTRIBUTE_CONTEXT		1
#define AG_CU_POINTER_ATTRIBUTE_MEMORY_TYPE	2
#define AG_CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL	9

#define AG_CU_MEMORYTYPE_HOST			1
#define AG_CU_MEMORYTYPE_DEVICE			2
#define AG_CU_MEMORYTYPE_ARRAY			3
#define AG_CU_MEMORYTYPE_UNIFIED		4

#define AG_CU_STREAM_NON_BLOCKING		1
#define AG_CU_EVENT_DISABLE_TIMING		2
#define AG_CU_MEMHOSTREGISTER_PORTABLE		1
#define AG_CU_STREAM_CAPTURE_STATUS_NONE	0
#define AG_CU_GET_PROC_ADDRESS_LEGACY_STREAM	1
#define AG_CU_GET_PROC_ADDRESS_SUCCESS		0

/* The CUDA version whose entry points the agent asks cuGetProcAddress for
 * (12.0: the _v2 variants of everything below). */
#define AG_CUDA_API_VERSION			12000

#endif
