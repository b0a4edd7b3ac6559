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
 * A checksum that holds does not make a record's contents possible: every
 * reader shows a record only after llmi_reader__check() (or a load), which
 * adds the one validation of its contents (llmi_rec_validate()), so that
 * what one reader would reject none shows and verify reports.
 *
 * A reader is used by one thread at a time.
 */
#ifndef LLMI_READER_H
#define LLMI_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <string.h>

#include "format/format.h"
#include "format/timeline.h"

#define LLMI_ERRLEN 256

struct llmi_reader;

/* How far record i has been checked (llmi_reader__check()). */
enum llmi_check_state {
	LLMI_CHECK_NONE = 0,	/* listed from the index: nothing read yet */
	LLMI_CHECK_CRC,		/* its payload checksum held (the scan reads every payload) */
	LLMI_CHECK_OK,		/* checksum and contents checked: safe to show */
	LLMI_CHECK_BAD,		/* damaged (checksum or contents): readers skip it */
};

struct llmi_rec_info {
	uint64_t offset;	/* of the record header */
	uint64_t length;	/* payload bytes */
	uint32_t data_crc;
	uint16_t type;
	uint16_t flags;
	uint8_t state;		/* enum llmi_check_state */
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
	uint64_t bad_contents;	/* records whose checksum held but whose contents are impossible */
	uint64_t first_bad_contents_offset;
	char note[LLMI_ERRLEN];	/* why the index was not used / why the scan stopped */
	char contents_note[LLMI_ERRLEN]; /* what was wrong with the first of bad_contents */
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
	return st->index_damaged || st->bad_records || st->resyncs || st->bad_contents ||
	       (st->tail_damaged && !st->tail_torn);
}

/*
 * NULL with errno set on failure (ENOMSG: not a container, no magic;
 * EBADMSG: a container whose header is damaged or cut short;
 * EPROTONOSUPPORT: a major version this reader does not know; others from
 * open/read); err (may be NULL) then gets one line saying why.
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
 * Reads record i's payload into a new buffer after checking its CRC and its
 * contents (llmi_rec_validate(), and the blob check for a tensor); NULL
 * with errno (EBADMSG when damaged, EIO on a short read). The caller frees
 * it. llmi_reader__load_why() also says what was wrong (why may be NULL).
 * A damaged record is marked LLMI_CHECK_BAD and counted in the status.
 */
void *llmi_reader__load(struct llmi_reader *r, size_t i, size_t *len);
void *llmi_reader__load_why(struct llmi_reader *r, size_t i, size_t *len, char *why, size_t whylen);

/*
 * Checks record i as a reader that shows it must: its header still says
 * what the list says, its payload checksum, and its contents. Every
 * reader (info, ls, export, perfetto, verify) goes through this one
 * validation, so what one of them would reject none of them shows and
 * verify reports. A record is read once: the result is kept in its state.
 * A tensor record's payload is read in pieces (never whole); other record
 * types, which are small batches, are read whole. 0; -EBADMSG when damaged
 * (why, may be NULL, gets "payload checksum mismatch" or what is
 * impossible about the contents); -EIO and such when it cannot be read.
 */
int llmi_reader__check(struct llmi_reader *r, size_t i, char *why, size_t whylen);
/* llmi_reader__check() of every record: 0, or the first error that is not damage. */
int llmi_reader__check_all(struct llmi_reader *r);

/*
 * What the container layer cannot check of a tensor record because it does
 * not link the codec: the coded blob against the header (llminstr-dump sets
 * one that reads the blob's own header and chunk table). Called for each
 * tensor whose header is valid, by llmi_reader__check(), __load() and
 * __verify(); rec_offset is the record header's offset. 0 or -EBADMSG with
 * why filled; other -errno when the blob cannot be read.
 */
struct llmi_tensor_info;
typedef int (*llmi_blob_check_fn)(struct llmi_reader *r, uint64_t rec_offset,
				  const struct llmi_tensor_info *ti, char *why, size_t whylen);
void llmi_reader__set_blob_check(struct llmi_reader *r, llmi_blob_check_fn fn);
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
 * Parses the header of tensor record i (reads only the header, name and
 * the padding after it; no CRC check: llmi_reader__check() does that).
 * -EINVAL when record i is not a tensor, -EBADMSG when its fields are
 * inconsistent (llmi_rec_validate()'s rules for a tensor header).
 */
int llmi_reader__tensor(struct llmi_reader *r, size_t i, struct llmi_tensor_info *ti);
/* The same over a payload already in memory. */
int llmi_tensor_parse(const void *payload, size_t len, struct llmi_tensor_info *ti);

/* Checks a string table payload whole, then calls cb for each entry; stops
 * at the first non-zero return and passes it up. -EBADMSG when the payload
 * is malformed (then cb was not called). */
int llmi_strings_parse(const void *payload, size_t len,
		       int (*cb)(void *ctx, uint32_t kind, uint64_t id, const char *s, uint32_t slen),
		       void *ctx);
/* Checks an events payload whole and points *events at its count *
 * event_size bytes; read event k with llmi_events_get(). */
int llmi_events_parse(const void *payload, size_t len, struct llmi_events_rec *hdr,
		      const void **events);

/*
 * Event k of a batch llmi_events_parse() accepted: the first
 * sizeof(struct llmi_tl_event) bytes of it, the fields this build knows;
 * what a later version appended (event_size is larger) is skipped.
 */
static inline void llmi_events_get(const void *events, const struct llmi_events_rec *h,
				   uint64_t k, struct llmi_tl_event *ev)
{
	memcpy(ev, (const uint8_t *)events + k * h->event_size, sizeof(*ev));
}

/* The launch number of event k (version 2 and later), 0 when it has none. */
static inline uint64_t llmi_events_launch_id(const void *events, const struct llmi_events_rec *h,
					     uint64_t k)
{
	uint64_t id = 0;

	if (h->abi_version >= 2 && h->event_size >= sizeof(struct llmi_tl_event2))
		memcpy(&id, (const uint8_t *)events + k * h->event_size +
		       offsetof(struct llmi_tl_event2, launch_id), sizeof(id));
	return id;
}

/*
 * The one validation of a record's contents, by type (FORMAT.md,
 * "Validation"): for a tensor, the header fields against each other and the
 * payload (dtype, shape and raw size, name, padding, stored size, codec
 * fields, achieved errors); for an events batch, the event size and count
 * against the payload, the layout version, and each event (known kind and
 * flags in version 1, the batch's pid, first and last times); for a string
 * table, every entry inside the payload, no NUL in a string, zero padding,
 * nothing after the last entry; a summary's size. Other types are opaque.
 * Never reads outside payload[0..len); trusts no length before checking it.
 * 0, or -EBADMSG with why (may be NULL) saying what is impossible.
 */
int llmi_rec_validate(unsigned type, const void *payload, size_t len, char *why, size_t whylen);

struct llmi_verify_report {
	uint64_t records;	/* records checked, pad included */
	uint64_t data_records;	/* of which data records (what the index lists) */
	uint64_t bytes;		/* bytes covered */
	bool indexed;		/* the index was present and matched */
	uint64_t bad_seq;	/* first bad record's number (its position in the file) */
	uint64_t bad_offset;	/* and its offset; with -ENODATA, where the intact records end */
	uint64_t tail_bytes;	/* with -ENODATA: bytes after them never completed (0: none) */
	bool tail_zero;		/* ... and they are unwritten (zero) space */
	char what[LLMI_ERRLEN];
};

/*
 * Checks the whole file independently of what open found: the header,
 * every record's header, payload CRC, sequence number and contents
 * (llmi_rec_validate() and the blob check), tensor ids in order, the
 * summary's totals against the records, the trailer, and that the index
 * lists exactly the records found. 0 when the file is complete and intact;
 * -EBADMSG at the first damaged record; -ENODATA when every record is
 * intact but the file is incomplete: no index (its writer did not close it)
 * and, at most, an incomplete last record or unwritten (zero) space after
 * the last complete one (what a writer that died leaves).
 */
int llmi_reader__verify(struct llmi_reader *r, struct llmi_verify_report *rep);

#endif
