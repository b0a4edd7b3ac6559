/* SPDX-License-Identifier: MIT */
/*
 * libllminstr_read.so: llminstr-dump's reading and decoding as a library,
 * for the Python module (user/python/llminstr, ctypes) and any C caller.
 * One implementation of the format: the same reader, record validation and
 * codec as llminstr-dump, so a file reads the same everywhere.
 *
 * A handle is used by one thread at a time; handles are independent. Errors
 * come back as text in the caller's err buffer (one line, no prefix).
 */
#ifndef LLMINSTR_READ_H
#define LLMINSTR_READ_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LLMI_READ_ABI	3	/* llmi_read_abi(): bumped when a struct below changes */

struct llmi_read;

/* One tensor of a file, as llminstr-dump ls --json shows it. */
struct llmi_read_tensor {
	uint64_t id;			/* per file, in write order */
	uint64_t step;
	uint64_t shape[8];
	uint64_t raw_bytes;		/* what llmi_read_decode() writes */
	uint64_t stored_bytes;
	uint64_t launch_id;		/* producing launch, 0: not known */
	uint64_t capture_ns;
	double mse, nmse, max_abs_err;
	double codec_bound;
	int32_t layer;			/* -1: not known */
	uint32_t tid;
	uint32_t dtype;			/* 1 f32, 2 bf16, 3 f16 (llminstr.h's LLMINSTR_*) */
	uint32_t ndim;
	const char *name;		/* valid until llmi_read_close() */
	const char *kernel;		/* the producer's kernel, or NULL */
	const char *codec;		/* "quant:nmse=0.001", "lossless" ... */
	uint64_t token_first;		/* its rows' tokens in its process's stream ... */
	uint64_t token_count;		/* ... 0: not known (llmi_read_tokens) */
	uint32_t pid;			/* capturing process, 0: not known */
	int32_t rank;			/* the capturing process's rank, -1: not known (ABI 3) */
	/*
	 * pos= of the capture kept positions pos_first .. pos_first +
	 * shape[pos_dim] - 1 of the pos_total the dimension had; pos_total 0:
	 * all kept. The token run (token_first, token_count) is then that of
	 * the rows kept when the step's tokens were one sequence; when they
	 * were several (token_count == rows before pos_dim * pos_total), it is
	 * the step's whole run, and the rows kept are positions pos_first ..
	 * of each sequence of pos_total ids (ABI 3).
	 */
	uint64_t pos_first;
	uint64_t pos_total;
	uint32_t pos_dim;
	uint32_t reserved;
};

int llmi_read_abi(void);
/*
 * Opens a container; with LLMI_READ_CHECK it first checks every record
 * (reads the whole file): tensors in damaged records are then left out
 * and counted (llmi_read_skipped). Without it only the records' headers
 * are read, and damage shows when a tensor is decoded. A torn tail (a
 * writer that died) is read up to its last whole record. NULL with err set.
 */
#define LLMI_READ_CHECK	1
struct llmi_read *llmi_read_open(const char *path, int flags, char *err, size_t errlen);
void llmi_read_close(struct llmi_read *h);
/* Tensors that check out, in file order. */
size_t llmi_read_count(const struct llmi_read *h);
/* Tensor records left out as damaged; what was lost, said (empty if nothing). */
uint64_t llmi_read_skipped(const struct llmi_read *h, char *what, size_t whatlen);
/*
 * The file header's rank of the run (what the tracer knew: --rank, the
 * target's RANK), and world size and local rank where not NULL; -1 each
 * when not known (and for files of format 1.0 and 1.1).
 */
int32_t llmi_read_rank(const struct llmi_read *h, int32_t *world_size, int32_t *local_rank);
/* 0, or -1 when i is out of range. */
int llmi_read_info(const struct llmi_read *h, size_t i, struct llmi_read_tensor *out);
/*
 * Decodes tensor i into dst (its raw_bytes, the captured dtype's bits):
 * 0, or -1 with err set (len too small, damage found while decoding).
 */
int llmi_read_decode(struct llmi_read *h, size_t i, void *dst, size_t len, char *err,
		     size_t errlen);
/*
 * Token ids of process pid (0: any) from its token stream's position first
 * on (llminstr_tokens(); a tensor's token_first), n of them into ids: the
 * number copied, which is less than n where the file has fewer.
 */
size_t llmi_read_tokens(const struct llmi_read *h, uint32_t pid, uint64_t first, int64_t *ids,
			size_t n);

/*
 * Decode h's tensors with n threads (1..64; 1, the caller's own, at open):
 * a tensor's 1 MiB chunks are decoded in parallel. The threads live until
 * the next call or llmi_read_close(). 0, or -1 (n out of range, or no
 * threads could be made: h keeps what it had).
 */
int llmi_read_threads(struct llmi_read *h, unsigned n);

/*
 * llminstr-dump export --format FORMAT (safetensors, memmap, hf-arrow) of
 * paths (one file, or a run's shards: one dataset) into dir: glob (or
 * NULL) and step (-1: all) select; bf16_raw, force, shard_bytes
 * (--shard-size, 0: the default) and tokens_per_file (--tokens-per-file,
 * 0: a file per step) as the options. The command's exit status (0 done,
 * 1 damaged records skipped, 2 nothing selected or bad options, 3 cannot),
 * err set when not 0.
 */
int llmi_read_export(const char *const *paths, size_t npaths, const char *format,
		     const char *dir, const char *glob, int64_t step, int bf16_raw, int force,
		     uint64_t shard_bytes, uint64_t tokens_per_file, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
