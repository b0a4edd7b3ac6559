/* SPDX-License-Identifier: MIT */
/*
 * The activation codec: error-bounded compression of fp32 / bf16 / fp16
 * tensors (DESIGN.md, "The activation codec").
 *
 * A tensor is encoded into one self-describing blob: a header that carries
 * the codec, its parameters and a chunk table, then chunks of at most
 * LLMI_CODEC_CHUNK input bytes, each decodable on its own. The container
 * (user/format) stores the blob as the payload of a tensor record and the
 * stats next to it; nothing else is needed to decode.
 *
 * A codec object holds one reusable context per worker thread; it is created
 * once and used for every tensor (zstd's ZSTD_CCtx discipline). One codec
 * object is used by one caller thread at a time.
 *
 * All functions return 0 or a negative errno; constructors return NULL with
 * errno set.
 */
#ifndef LLMI_CODEC_H
#define LLMI_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LLMI_CODEC_CHUNK (1u << 20)	/* input bytes per independent chunk */
#define LLMI_MAX_DIMS 8

enum llmi_dtype {
	LLMI_DTYPE_F32  = 1,
	LLMI_DTYPE_BF16 = 2,
	LLMI_DTYPE_F16  = 3,
};

/* Bytes per element; 0 for an unknown dtype. */
size_t llmi_dtype_size(enum llmi_dtype dt);
/* "f32", "bf16", "f16"; NULL for an unknown dtype. */
const char *llmi_dtype_name(enum llmi_dtype dt);
/* Accepts the names above (and "fp32", "float32", "bfloat16", "fp16", "float16"). */
int llmi_dtype_parse(const char *s, enum llmi_dtype *dt);

enum llmi_bound {
	LLMI_BOUND_LOSSLESS = 0,	/* bit exact */
	LLMI_BOUND_NMSE     = 1,	/* mean squared error / variance of the tensor */
	LLMI_BOUND_MSE      = 2,	/* mean squared error, absolute */
	LLMI_BOUND_ABS      = 3,	/* max absolute error of any element */
};

/* Optional stages, switched on by flags in llmi_codec_spec. */
#define LLMI_CODEC_CHANNEL_MEAN	(1u << 0)	/* 2-D [tokens x hidden]: subtract per-channel mean */
#define LLMI_CODEC_PREDICT	(1u << 1)	/* code the difference from a reference tensor */

struct llmi_codec_spec {
	enum llmi_bound mode;
	double bound;		/* > 0 and finite, unused for LOSSLESS */
	uint32_t flags;		/* LLMI_CODEC_* */
};

/*
 * Parses a --codec SPEC: "lossless", "quant:nmse=1e-3", "quant:mse=1e-3",
 * "quant:abs=0.01"; optional ",chanmean" / ",predict" suffixes set flags.
 * A bound that is <= 0, NaN, Inf or not a whole number literal is -EINVAL.
 */
int llmi_codec_spec_parse(const char *s, struct llmi_codec_spec *spec);
/* Writes the canonical text of spec into buf (NUL-terminated, truncated). */
int llmi_codec_spec_format(const struct llmi_codec_spec *spec, char *buf, size_t len);

struct llmi_tensor_desc {
	enum llmi_dtype dtype;
	uint32_t ndim;			/* 0..LLMI_MAX_DIMS; 0 = scalar */
	uint64_t shape[LLMI_MAX_DIMS];
};

/* Elements of a tensor (product of its shape); 0 when it overflows. */
uint64_t llmi_tensor_numel(const struct llmi_tensor_desc *d);

/* What encoding measured: the error against the input, computed in fp64. */
struct llmi_codec_stats {
	uint64_t raw_bytes;		/* input size */
	uint64_t stored_bytes;		/* blob size */
	double mse;			/* mean squared error over finite elements */
	double nmse;			/* mse / variance (0 when the variance is 0) */
	double max_abs_err;		/* max |x - x'| over finite elements */
	double variance;		/* of the finite input elements */
	uint64_t exact;			/* elements stored exactly: NaN, Inf, escapes */
};

struct llmi_codec;

/* threads: worker threads for chunks (1 = the caller's thread only). */
struct llmi_codec *llmi_codec__new(unsigned threads);
void llmi_codec__free(struct llmi_codec *c);

/* Upper bound of a blob's size for raw_bytes of input, any spec. */
size_t llmi_codec_bound(size_t raw_bytes);

/*
 * Encodes src (desc) into dst[0..dst_cap) and sets *dst_len. The achieved
 * error never exceeds spec's bound; stats (may be NULL) gets the figures.
 * ref, with LLMI_CODEC_PREDICT, is the *decoded* reference tensor of the
 * same desc (as a reader will have it); otherwise NULL.
 */
int llmi_codec__encode(struct llmi_codec *c, const struct llmi_codec_spec *spec,
		       const struct llmi_tensor_desc *desc, const void *src,
		       const void *ref, void *dst, size_t dst_cap, size_t *dst_len,
		       struct llmi_codec_stats *stats);

/*
 * Decodes a blob into dst, which holds desc's tensor (numel * dtype size
 * bytes). A blob that does not match desc, or is damaged, is -EBADMSG; no
 * length inside the blob is trusted before it is checked.
 */
int llmi_codec__decode(struct llmi_codec *c, const void *src, size_t src_len,
		       const struct llmi_tensor_desc *desc, const void *ref,
		       void *dst, size_t dst_cap);

/*
 * Streaming encode: the same blob as llmi_codec__encode(), byte for byte,
 * from an input that arrives in pieces (llminstr-dump pack reads a file in
 * chunks), so that only a piece of it is in memory at a time. The input goes
 * through the codec in passes, each over the whole input from its start:
 *
 *	err = llmi_codec__stream_begin(c, &spec, &desc);
 *	while ((pass = llmi_codec__stream_next(c)) > 0)
 *		for each piece of the input, in order:
 *			llmi_codec__stream_feed(c, piece, n, out, cap, &out_len);
 *	llmi_codec__stream_end(c, head, head_cap, &blob_len, &stats);
 *
 * A LLMI_STREAM_STATS pass measures the variance and the channel means, and
 * comes first when the step depends on them (an nmse bound, chanmean);
 * otherwise they are measured while encoding. A second STATS pass follows
 * only where llmi_codec__encode() sums twice (a first element far from the
 * mean). In the LLMI_STREAM_ENCODE pass, feed writes the piece's coded
 * chunks to out (cap >= llmi_codec_bound(n) always suffices); the blob is
 * the head, llmi_codec__stream_head_len() bytes (known from the start of
 * that pass, written by _end), then what feed wrote, in order. A piece holds
 * whole chunks (a multiple of LLMI_CODEC_CHUNK bytes) unless it ends the
 * input. LLMI_CODEC_PREDICT is not streamed (-EINVAL). _next returns a pass,
 * 0 when done, or -EINVAL when a pass did not see the whole input.
 */
#define LLMI_STREAM_STATS	1
#define LLMI_STREAM_ENCODE	2
int llmi_codec__stream_begin(struct llmi_codec *c, const struct llmi_codec_spec *spec,
			     const struct llmi_tensor_desc *desc);
int llmi_codec__stream_next(struct llmi_codec *c);
size_t llmi_codec__stream_head_len(const struct llmi_codec *c);
int llmi_codec__stream_feed(struct llmi_codec *c, const void *src, size_t len, void *dst,
			    size_t dst_cap, size_t *dst_len);
int llmi_codec__stream_end(struct llmi_codec *c, void *head, size_t head_cap, size_t *blob_len,
			   struct llmi_codec_stats *stats);

/* Reads the spec a blob was encoded with (for llminstr-dump ls / info). */
int llmi_codec_blob_spec(const void *src, size_t src_len, struct llmi_codec_spec *spec);

/*
 * Checking a blob without decoding it, for a reader that validates a file
 * (llminstr-dump): llmi_codec_blob_head_len() reads the first
 * LLMI_CODEC_BLOB_HDR bytes and says how long the blob's head is (header,
 * chunk table, channel means); llmi_codec_blob_check() takes that head and
 * checks it against desc and the blob's whole length: version, mode, dtype,
 * element count, chunking, chunk sizes that add up to blob_len and are each
 * possible for their elements, the means table. spec (may be NULL) gets the
 * blob's codec. 0 or -EBADMSG. What it cannot see (a chunk's coded bits) only
 * decoding checks.
 */
#define LLMI_CODEC_BLOB_HDR 40
int llmi_codec_blob_head_len(const void *src, size_t len, uint64_t *head_len);
int llmi_codec_blob_check(const void *head, size_t head_len, uint64_t blob_len,
			  const struct llmi_tensor_desc *desc, struct llmi_codec_spec *spec);

#endif
