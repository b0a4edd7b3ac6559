/* SPDX-License-Identifier: MIT */
/*
 * Reading a .llmi container: from a file (pread, never mmap, so a file that
 * shrinks under us is an error and not a SIGBUS) or from memory (the fuzzer).
 *
 * Opening reads the header, then the trailer and index of a closed file; a
 * file without them (its writer died, or it is still being written), or
 * whose index does not check out, is scanned record by record instead. The
 * scan stops at an incomplete last record (a torn tail: everything before
 * it is readable); past a damaged record header it searches for the next
 * valid one (8-byte aligned magic, header CRC, a plausible sequence number)
 * and goes on from there, counting what it skipped. Every length, offset and count read from
 * the file is checked against the file size and the record that holds it
 * before it is used.
 *
 * A reader is used by one thread at a time.
 */
#ifndef LLMI_READER_H
#define LLMI_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format/format.h"

#define LLMI_ERRLEN 256

struct llmi_reader;

struct llmi_rec_info {
	uint64_t offset;	/* of the record header */
	uint64_t length;	/* payload bytes */
	uint32_t data_crc;
	uint16_t type;
	uint16_t flags;
};

struct llmi_reader_status {
	uint64_t file_size;
	bool indexed;		/* records listed from the index of a closed file */
	bool index_damaged;	/* a trailer was there but did not check out: scanned */
	bool tail_damaged;	/* the scan stopped before the end of the file */
	bool tail_torn;		/* ... at a torn tail (below), not at damage */
	bool tail_zero;		/* the torn tail is unwritten (zero) bytes, not a partial record */
	uint64_t tail_offset;	/* where it stopped */
	uint64_t tail_bytes;	/* bytes from there to the end of the file, not read */
	uint64_t bad_records;	/* complete records whose payload CRC failed, skipped */
	uint64_t first_bad_offset; /* the first of them */
	uint64_t resyncs;	/* damaged stretches the scan skipped to the next valid record */
	uint64_t skipped_bytes;	/* bytes in them */
	uint64_t skipped_records; /* records lost in them (from the sequence numbers) */
	uint64_t first_skip_offset; /* where the first of them starts */
	char note[LLMI_ERRLEN];	/* why the index was not used / why the scan stopped */
};

/*
 * A torn tail is what a writer that died leaves: the file ends inside a
 * record (its header or payload runs past the end of the file), or in
 * unwritten (zero) bytes, and no valid record follows. It loses only what
 * was never written completely, so it is not damage. Everything else the
 * scan had to skip is: a record whose payload checksum fails although the
 * file holds all of it, a damaged record header (the scan resynchronises on
 * the next valid header), a damaged index, or bytes that are not a record
 * at the end of the file.
 */
static inline bool llmi_reader_status_damaged(const struct llmi_reader_status *st)
{
	return st->index_damaged || st->bad_records || st->resyncs ||
	       (st->tail_damaged && !st->tail_torn);
}

/*
 * NULL with errno set on failure (EBADMSG: not a container or its header is
 * damaged; EPROTONOSUPPORT: a major version this reader does not know); err
 * (may be NULL) then gets one line saying why.
 */
struct llmi_reader *llmi_reader__open(const char *path, char *err, size_t errlen);
struct llmi_reader *llmi_reader__open_mem(const void *buf, size_t len, char *err, size_t errlen);
void llmi_reader__free(struct llmi_reader *r);

const struct llmi_file_header *llmi_reader__header(const struct llmi_reader *r);
const struct llmi_reader_status *llmi_reader__status(const struct llmi_reader *r);

/* Data records in file order (pad, index and trailer records are not listed). */
size_t llmi_reader__nr_records(const struct llmi_reader *r);
const struct llmi_rec_info *llmi_reader__record(const struct llmi_reader *r, size_t i);

/*
 * Reads record i's payload into a new buffer after checking its CRC;
 * NULL with errno (EBADMSG on a checksum mismatch, EIO on a short read).
 * The caller frees it.
 */
void *llmi_reader__load(struct llmi_reader *r, size_t i, size_t *len);
/* Reads len bytes at off, checked against the file size; 0 or -errno. */
int llmi_reader__pread(struct llmi_reader *r, uint64_t off, void *buf, size_t len);

struct llmi_tensor_info {
	struct llmi_tensor_rec rec;	/* fields past a shorter hdr_size read as zero */
	char name[LLMI_NAME_MAX + 1];
	size_t record;			/* index into the record list */
	uint64_t blob_offset;		/* in the payload */
	uint64_t blob_len;
};

/*
 * Parses the header of tensor record i (reads only the header and name, no
 * CRC check: llmi_reader__load does that). -EINVAL when record i is not a
 * tensor, -EBADMSG when its fields are inconsistent.
 */
int llmi_reader__tensor(struct llmi_reader *r, size_t i, struct llmi_tensor_info *ti);
/* The same over a payload already in memory. */
int llmi_tensor_parse(const void *payload, size_t len, struct llmi_tensor_info *ti);

/* Calls cb for each entry of a string table payload; stops at the first
 * non-zero return and passes it up. -EBADMSG when the payload is malformed
 * (entries already passed to cb were well formed). */
int llmi_strings_parse(const void *payload, size_t len,
		       int (*cb)(void *ctx, uint32_t kind, uint64_t id, const char *s, uint32_t slen),
		       void *ctx);
/* Checks an events payload and points *events at its count * event_size bytes. */
int llmi_events_parse(const void *payload, size_t len, struct llmi_events_rec *hdr,
		      const void **events);

struct llmi_verify_report {
	uint64_t records;	/* records checked, pad included */
	uint64_t data_records;	/* of which data records (what the index lists) */
	uint64_t bytes;		/* bytes covered */
	bool indexed;		/* the index was present and matched */
	uint64_t bad_seq;	/* first bad record's number (its position in the file) */
	uint64_t bad_offset;	/* and its offset */
	char what[LLMI_ERRLEN];
};

/*
 * Checks the whole file independently of what open found: the header, every
 * record's header and payload CRC and sequence number, the trailer, and that
 * the index lists exactly the records found. 0 when the file is complete and
 * intact; -EBADMSG at the first damaged record; -ENODATA when the records
 * are intact but the file has no index (its writer did not close it) or ends
 * in an incomplete record.
 */
int llmi_reader__verify(struct llmi_reader *r, struct llmi_verify_report *rep);

#endif
