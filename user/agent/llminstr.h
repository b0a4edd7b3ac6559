/* SPDX-License-Identifier: MIT */
/*
 * llminstr's in-process agent (build/lib/libllminstr.so): hands tensors of a
 * running program to an attached llminstr-trace, which compresses them and
 * writes them into its .llmi file, each tied to the kernel launch that made
 * it. C and C++; link with -lllminstr, or let `llminstr-trace -- CMD`
 * preload the library, or load it into a service's environment
 * (LD_PRELOAD) so that `llminstr-trace -p PID` finds it later.
 *
 * With no tracer attached every call returns at once (a flag read; the
 * arguments are not even looked at: llminstr_capture() returns 0). While a
 * tracer is attached, llminstr_capture() of a device tensor queues a
 * device-to-device snapshot on the caller's stream and returns: the stream
 * never waits for the host, and the application may overwrite the tensor
 * as soon as its stream has moved past the snapshot. A host tensor is
 * copied before the call returns.
 *
 * Thread-safe. The library never aborts, never prints to stdout, and fails
 * closed: any error inside it turns capture off and the program goes on.
 */
#ifndef LLMINSTR_H
#define LLMINSTR_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Element types (values shared with the .llmi container). */
#define LLMINSTR_F32	1
#define LLMINSTR_BF16	2
#define LLMINSTR_F16	3

#define LLMINSTR_MAX_DIMS	8	/* ndim 0..8 */
#define LLMINSTR_NAME_MAX	255	/* bytes of a tensor name, no NUL */

/*
 * Captures a contiguous tensor if a tracer is attached and its --capture
 * spec selects name at the current step. ptr is device memory (any CUDA
 * allocation of the process's current context) or host memory; stream is
 * the CUstream / cudaStream_t the tensor was produced on (NULL: the legacy
 * default stream; ignored for host memory).
 *
 * Returns 1 taken, 0 skipped (no tracer, or not selected), or a negative
 * errno, the tensor not taken and the program unharmed:
 *   -EINVAL   name or ptr NULL, name empty, ndim > 8, a dimension < 0
 *   -ENAMETOOLONG  a name over LLMINSTR_NAME_MAX bytes
 *   -ENOTSUP  a dtype other than the three above; a device tensor on a
 *             stream that is capturing a CUDA graph, or on another device
 *             (or under another current context) than the first device
 *             tensor since the tracer attached: counted by name
 *   -EFAULT   ptr is not readable memory (freed, unmapped), or a device
 *             tensor runs past the end of its allocation: counted by name
 *   -E2BIG    larger than the tracer's buffers (--device-buffer for device
 *             tensors, --buffer-size for any): counted by name
 *   -ENOBUFS  buffers full under --on-full drop: counted by name
 *   -EIO      a CUDA call failed: capture is off until the tracer reattaches
 */
int llminstr_capture(const char *name, const void *ptr, int dtype, int ndim,
		     const int64_t *shape, void *stream);

/* Marks the start of step n (a decode step, a batch): tensors captured after
 * it carry n, and the tracer's every=/steps= selections count in it. */
void llminstr_step(uint64_t n);

/*
 * The input token ids of the current step, in the order of the rows its
 * tensors hold (batch and positions flattened): the file then ties each
 * tensor of the step captured after this call to its tokens. Taken when a tracer is attached and the
 * step is selected (every=, steps=); returns as llminstr_capture does (1,
 * 0, -EINVAL for n < 0 or a null ids with n > 0, -EFAULT, -E2BIG, -ENOBUFS).
 */
int llminstr_tokens(const int64_t *ids, int64_t n);

/* 1 if a capture of name would be taken now (attached, selected at this
 * step), else 0: lets a caller skip work it does only to capture. */
int llminstr_selected(const char *name);

/*
 * The process's rank in a tensor- or pipeline-parallel run: every tensor
 * captured after this call carries rank (the file's tensor records). At
 * load the agent takes RANK, WORLD_SIZE and LOCAL_RANK from the environment
 * (torchrun sets them); this overrides all three. -1 for one not known.
 * Works with or without a tracer. 0, or -EINVAL for a value under -1, a
 * world_size of 0, or a rank not under a known world_size.
 */
int llminstr_set_rank(int rank, int world_size, int local_rank);

/* The rank in effect (-1: not known), and the other two where not NULL. */
int llminstr_rank(int *world_size, int *local_rank);

/* 1 while a tracer is attached with a capture spec, else 0. */
int llminstr_attached(void);

#ifdef __cplusplus
}
#endif

#endif
