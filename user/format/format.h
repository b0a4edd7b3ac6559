/* SPDX-License-Identifier: MIT */
/*
 * The .llmi container layout (DESIGN.md, "The container"; the byte-level
 * description with offsets is user/format/FORMAT.md).
 *
 * A file is a 4096-byte header block, then a stream of records, each an
 * 8-byte aligned 32-byte header (magic, type, length, sequence, two CRC32Cs)
 * and a payload. The writer (user/io) emits the stream in extents aligned
 * for O_DIRECT, closing a partial extent with a pad record; at close it adds
 * a summary, an index of every record and a fixed-size trailer that ends the
 * file on a 4096-byte boundary and points at the index. A reader that finds
 * no valid trailer rebuilds the index by scanning (user/format/reader.c).
 *
 * Every structure here is the on-disk image, little-endian, with explicit
 * padding so that sizeof() is the size on disk. The version rule: a reader
 * refuses a major version it does not know; minor versions only add fields
 * at the end of a structure whose size is stored next to it (tensor
 * hdr_size) or add record types, which old readers skip.
 */
#ifndef LLMI_FORMAT_H
#define LLMI_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the .llmi layout is little-endian; a big-endian port needs byte swaps in user/format"
#endif

#define LLMI_FILE_MAGIC		"LLMI\r\n\x1a\n"	/* 8 bytes; catches text-mode and truncating transfers */
#define LLMI_VERSION_MAJOR	1
#define LLMI_VERSION_MINOR	2
#define LLMI_HEADER_SIZE	4096u	/* the header block; records start here */
#define LLMI_ALIGN		4096u	/* O_DIRECT alignment of every write */
#define LLMI_REC_ALIGN		8u	/* every record starts 8-byte aligned */
#define LLMI_REC_MAGIC		0x4345524cu	/* "LREC" */
#define LLMI_DEFAULT_EXTENT	(1u << 20)

struct llmi_file_header {
	char magic[8];			/*   0 */
	uint16_t version_major;		/*   8 */
	uint16_t version_minor;		/*  10 */
	uint32_t header_size;		/*  12: LLMI_HEADER_SIZE */
	uint32_t extent_size;		/*  16: bytes per write extent */
	uint32_t flags;			/*  20: LLMI_FILE_* */
	uint64_t created_realtime_ns;	/*  24: CLOCK_REALTIME at creation */
	uint64_t created_monotonic_ns;	/*  32: CLOCK_MONOTONIC at the same moment */
	int64_t realtime_offset_ns;	/*  40: add to a CLOCK_MONOTONIC stamp to get wall time */
	uint32_t writer_pid;		/*  48 */
	uint32_t reserved0;		/*  52 */
	char host[64];			/*  56: NUL-terminated */
	char writer[64];		/* 120: program and version, NUL-terminated */
	int32_t rank;			/* 184: (1.2) the run's rank this file holds, -1 = not known */
	int32_t world_size;		/* 188: (1.2) ranks in the run, -1 = not known */
	int32_t local_rank;		/* 192: (1.2) rank on its node, -1 = not known */
	uint8_t reserved[56];		/* 196: zero */
	uint32_t crc;			/* 252: CRC32C of bytes 0..251 */
};					/* 256; rest of the header block is zero */

_Static_assert(sizeof(struct llmi_file_header) == 256, "file header layout");

enum llmi_rec_type {
	LLMI_REC_PAD     = 0,	/* filler to an alignment boundary */
	LLMI_REC_TENSOR  = 1,	/* struct llmi_tensor_rec + name + codec blob */
	LLMI_REC_EVENTS  = 2,	/* struct llmi_events_rec + count fixed-size events */
	LLMI_REC_STRINGS = 3,	/* struct llmi_strings_rec + entries */
	LLMI_REC_STATS   = 4,	/* free-form UTF-8 JSON summary from the producer */
	LLMI_REC_SUMMARY = 5,	/* struct llmi_summary_rec, written by the writer at close */
	LLMI_REC_INDEX   = 6,	/* struct llmi_index_rec + entries, written at close */
	LLMI_REC_TRAILER = 7,	/* struct llmi_trailer_rec, the last 64 bytes of a closed file */
	LLMI_REC_TOKENS  = 8,	/* struct llmi_tokens_rec + count int64 token ids */
	LLMI_REC_TYPE_MAX,
};

struct llmi_rec_hdr {
	uint32_t magic;		/*  0: LLMI_REC_MAGIC */
	uint16_t type;		/*  4: enum llmi_rec_type */
	uint16_t flags;		/*  6: zero in version 1 */
	uint64_t length;	/*  8: payload bytes that follow this header */
	uint64_t seq;		/* 16: record number, 0-based, in file order */
	uint32_t hdr_crc;	/* 24: CRC32C of bytes 0..23 */
	uint32_t data_crc;	/* 28: CRC32C of the payload */
};				/* 32; the next record starts at align8(32 + length) */

_Static_assert(sizeof(struct llmi_rec_hdr) == 32, "record header layout");

/* Tensor record payload: this header, name bytes, zero pad to 8, codec blob. */
struct llmi_tensor_rec {
	uint32_t hdr_size;		/*   0: sizeof this struct as written (>= 256) */
	uint16_t dtype;			/*   4: enum llmi_dtype (user/codec/codec.h) */
	uint16_t ndim;			/*   6: 0..8 */
	uint64_t shape[8];		/*   8 */
	uint64_t tensor_id;		/*  72: 0-based, per file, in write order */
	uint64_t step;			/*  80: decode step */
	int32_t layer;			/*  88: -1 when not known */
	uint32_t tid;			/*  92: producing thread (gettid) */
	uint64_t launch_id;		/*  96: sequence number of the producing kernel launch, 0 = unknown */
	uint64_t kernel_name_id;	/* 104: id in a string table record, 0 = unknown */
	uint64_t capture_ns;		/* 112: CLOCK_MONOTONIC; header has the wall-clock offset */
	uint64_t raw_bytes;		/* 120: numel * dtype size */
	uint64_t stored_bytes;		/* 128: blob size */
	double mse;			/* 136: achieved, over finite elements */
	double nmse;			/* 144 */
	double max_abs_err;		/* 152 */
	double variance;		/* 160 */
	uint32_t codec_mode;		/* 168: enum llmi_bound */
	uint32_t codec_flags;		/* 172: LLMI_CODEC_* */
	double codec_bound;		/* 176 */
	uint32_t name_len;		/* 184: bytes, no NUL, <= LLMI_NAME_MAX */
	uint32_t reserved0;		/* 188 */
	uint64_t ref_tensor_id;		/* 192: reference tensor for LLMI_CODEC_PREDICT, else UINT64_MAX */
	uint64_t token_first;		/* 200: the rows' first token in its process's token stream */
	uint64_t token_count;		/* 208: tokens the rows hold, 0 = not known (see tokens) */
	uint32_t pid;			/* 216: capturing process, 0 = not known */
	int32_t rank;			/* 220: (1.2) the capturing process's rank, -1 = not known */
	uint64_t pos_first;		/* 224: (1.2) with pos_total: the first position kept */
	uint64_t pos_total;		/* 232: (1.2) positions before pos= kept some, 0 = all kept */
	uint32_t pos_dim;		/* 240: (1.2) the dimension of positions (shape[pos_dim] kept) */
	uint8_t reserved[12];		/* 244: zero */
};					/* 256 */

_Static_assert(sizeof(struct llmi_tensor_rec) == 256, "tensor record layout");

#define LLMI_NAME_MAX	4096u
#define LLMI_NO_RANK	(-1)

/*
 * The ranks of a file of minor version < 2 are reserved zeros, not rank 0:
 * what they mean, given the file header's minor version.
 */
static inline int32_t llmi_rank_of(int32_t v, unsigned version_minor)
{
	return version_minor >= 2 && v >= 0 ? v : LLMI_NO_RANK;
}
#define LLMI_NO_REF	UINT64_MAX

/* Events batch payload: this header then count * event_size bytes. */
/*
 * Tokens payload: this header then count int64 token ids: the input tokens
 * of one step of process pid (llminstr_tokens()), numbered first, first + 1
 * ... in that process's token stream. A tensor record of the same process
 * and step names the run [token_first, token_first + token_count) its rows
 * were computed from.
 */
struct llmi_tokens_rec {
	uint64_t step;		/*  0 */
	uint64_t first;		/*  8 */
	uint64_t count;		/* 16 */
	uint32_t pid;		/* 24 */
	uint32_t tid;		/* 28 */
};			/* 32 */

_Static_assert(sizeof(struct llmi_tokens_rec) == 32, "tokens record layout");

struct llmi_events_rec {
	uint32_t event_size;	/*  0: bytes per event (the tracer's ABI) */
	uint32_t abi_version;	/*  4: version of the event struct */
	uint64_t count;		/*  8 */
	uint64_t first_ns;	/* 16: CLOCK_MONOTONIC of the first event */
	uint64_t last_ns;	/* 24 */
	uint64_t lost;		/* 32: events lost before this batch (ring overflow) */
	uint32_t pid;		/* 40: 0 when events of several processes are mixed */
	uint32_t reserved;	/* 44 */
};				/* 48 */

_Static_assert(sizeof(struct llmi_events_rec) == 48, "events record layout");

/* String table payload: this header then count entries, each
 * struct llmi_string_ent + len bytes (no NUL) + zero pad to 8. */
struct llmi_strings_rec {
	uint32_t kind;		/* 0: LLMI_STR_* */
	uint32_t reserved;	/* 4 */
	uint64_t count;		/* 8 */
};				/* 16 */

struct llmi_string_ent {
	uint64_t id;		/* 0: what records refer to (e.g. kernel_name_id) */
	uint32_t len;		/* 8 */
	uint32_t reserved;	/* 12 */
};				/* 16 */

enum llmi_str_kind {
	LLMI_STR_KERNEL = 1,	/* kernel function names */
	LLMI_STR_API    = 2,	/* CUDA API names */
	LLMI_STR_OTHER  = 3,
};

/* Totals the writer keeps; written once at close. */
struct llmi_summary_rec {
	uint64_t records;		/*  0: data records (not pad/summary/index/trailer) */
	uint64_t tensors;		/*  8 */
	uint64_t event_batches;		/* 16 */
	uint64_t events;		/* 24 */
	uint64_t raw_bytes;		/* 32: tensor raw bytes */
	uint64_t stored_bytes;		/* 40: tensor blob bytes */
	uint64_t payload_bytes;		/* 48: all record payloads */
	uint64_t closed_realtime_ns;	/* 56 */
	double max_mse;			/* 64 */
	double max_nmse;		/* 72 */
	double max_abs_err;		/* 80 */
	uint64_t reserved[5];		/* 88 */
};					/* 128 */

_Static_assert(sizeof(struct llmi_summary_rec) == 128, "summary record layout");

struct llmi_index_rec {
	uint64_t count;		/* 0 */
	uint64_t reserved;	/* 8 */
};				/* 16, then count * struct llmi_index_ent */

struct llmi_index_ent {
	uint64_t offset;	/*  0: of the record header */
	uint64_t length;	/*  8: payload length */
	uint16_t type;		/* 16 */
	uint16_t flags;		/* 18 */
	uint32_t data_crc;	/* 20: the record's payload CRC, so the index alone can vouch for it */
};				/* 24 */

_Static_assert(sizeof(struct llmi_index_ent) == 24, "index entry layout");

#define LLMI_TRAILER_MAGIC "LLMIEND\n"

struct llmi_trailer_rec {
	char magic[8];		/*  0: LLMI_TRAILER_MAGIC */
	uint64_t index_offset;	/*  8: of the index record header */
	uint64_t summary_offset;/* 16: of the summary record header */
	uint64_t records;	/* 24: records indexed */
};				/* 32; the trailer record is 64 bytes, ending the file */

#define LLMI_TRAILER_TOTAL (sizeof(struct llmi_rec_hdr) + sizeof(struct llmi_trailer_rec))

static inline uint64_t llmi_align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/* Bytes a record of payload length len takes in the stream. */
static inline uint64_t llmi_rec_span(uint64_t len)
{
	return llmi_align_up(sizeof(struct llmi_rec_hdr) + len, LLMI_REC_ALIGN);
}

const char *llmi_rec_type_name(unsigned type);
/* Element size of a container dtype (codec.h numbering); 0 when unknown. */
size_t llmi_format_dtype_size(unsigned dtype);

/* CRC32C (Castagnoli), as iSCSI/ext4: crc = llmi_crc32c(0, buf, len) and
 * chained with llmi_crc32c(crc, next, len). Hardware instruction when the
 * CPU has it (checked at run time), slicing-by-8 table otherwise. */
uint32_t llmi_crc32c(uint32_t crc, const void *buf, size_t len);
uint32_t llmi_crc32c_sw(uint32_t crc, const void *buf, size_t len);
/* "sse4.2" or "table": which implementation llmi_crc32c uses. */
const char *llmi_crc32c_impl(void);

/* Fills hdr (magic, CRCs) for a payload given as one buffer. */
void llmi_rec_hdr_fill(struct llmi_rec_hdr *hdr, unsigned type, uint64_t seq,
		       uint64_t length, uint32_t data_crc);
/* 0, or -EBADMSG when magic or header CRC is wrong. */
int llmi_rec_hdr_check(const struct llmi_rec_hdr *hdr);
/* Fills the header's crc; 0 or -EBADMSG for llmi_file_header_check. */
void llmi_file_header_seal(struct llmi_file_header *h);
int llmi_file_header_check(const struct llmi_file_header *h);

#endif
