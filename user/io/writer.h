/* SPDX-License-Identifier: MIT */
/*
 * The container writer: appends records to a new .llmi file through the
 * extent I/O of iow.h (io_uring, O_DIRECT where the filesystem allows it).
 *
 * Records are framed into 1 MiB extents (a record may span extents); a full
 * extent is submitted at once, a partial one by llmi_writer__flush(), at
 * close, or by a commit (below), each time closed with a pad record so a
 * reader sees every record appended before it. Close appends the summary,
 * the index and the trailer, waits for every write and fsyncs. Writes
 * complete in stream order (io/iow.h), so a writer that dies leaves a
 * prefix of the stream: a reader recovers every complete record by
 * scanning.
 *
 * Commit interval (a journal's): data appended is handed to the kernel
 * within commit_ms (default 500 ms) of its append, however slowly the
 * extent fills, and followed by an fdatasync, provided the owner's loop
 * calls llmi_writer__tick() at least that often (it never blocks). A commit
 * pads the extent to the next 4 KiB block: at most 4 KiB + 32 bytes per
 * commit interval, and none while extents fill faster than that. What the
 * kernel has acknowledged survives the process being killed; what an
 * fdatasync covered survives a power loss.
 *
 * Disk full (or any write error) is reported once on stderr; from then on
 * appends return the error, and close truncates the file after the last
 * record that was written completely, so what fit stays readable.
 * llmi_writer__stats() says what is on disk (acknowledged writes), which
 * after a failure is less than what was appended.
 *
 * Threads: by default one thread appends (the tracer's consumer thread: the
 * capture workers hand it finished blobs). With LLMI_WRITER_LOCKED, appends
 * from several threads are serialised by a mutex; the blob is copied into the
 * extent under the lock, so the critical section is one memcpy of the
 * stored (compressed) bytes.
 */
#ifndef LLMI_WRITER_H
#define LLMI_WRITER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "codec/codec.h"
#include "format/format.h"

#define LLMI_WRITER_NO_URING	(1u << 0)	/* pwrite(2) instead of io_uring */
#define LLMI_WRITER_NO_DIRECT	(1u << 1)	/* buffered I/O */
#define LLMI_WRITER_NO_REGISTER	(1u << 2)	/* don't register buffers with the ring */
#define LLMI_WRITER_LOCKED	(1u << 3)	/* appends may come from several threads */
#define LLMI_WRITER_OVERWRITE	(1u << 4)	/* replace an existing regular file (never a link) */
#define LLMI_WRITER_QUIET	(1u << 5)	/* no notes on stderr (errors still print) */
#define LLMI_WRITER_NO_SYNC	(1u << 6)	/* commits without fdatasync (close still fsyncs) */

#define LLMI_WRITER_COMMIT_MS	500

struct llmi_writer_opts {
	size_t sz;		/* sizeof(struct llmi_writer_opts) */
	const char *writer;	/* program and version for the header, e.g. "llminstr-trace 0.1" */
	size_t extent_size;	/* 0: 1 MiB; a multiple of 4096 */
	unsigned nr_extents;	/* buffers in flight, 0: 8 */
	unsigned flags;		/* LLMI_WRITER_* */
	uid_t owner_uid;	/* chown the file to this user (sudo's caller); (uid_t)-1: leave */
	gid_t owner_gid;
	unsigned commit_ms;	/* time bound on buffering (see above), 0: LLMI_WRITER_COMMIT_MS */
};

/* What is on disk: records every byte of which an acknowledged write holds. */
struct llmi_writer_disk {
	uint64_t bytes;		/* of the stream from offset 0, with no gap */
	uint64_t records;	/* data records (not pad, index, trailer) */
	uint64_t tensors;
	uint64_t event_batches;
	uint64_t events;
	uint64_t strings[4];	/* string table entries by kind (LLMI_STR_*) */
};

struct llmi_writer_stats {
	uint64_t records;
	uint64_t bytes;		/* stream bytes, headers and pad included */
	struct llmi_summary_rec sum;
	const char *backend;	/* "io_uring+fixed", "io_uring" or "pwrite" */
	int direct;		/* 1 when O_DIRECT is in use */
	int error;		/* first write error, 0 if none */
	uint64_t commits;	/* partial extents submitted by llmi_writer__tick() */
	uint64_t syncs;		/* fdatasyncs asked for by llmi_writer__tick() */
	uint64_t pad_bytes;	/* pad records, headers included */
	struct llmi_writer_disk disk;
};

struct llmi_writer;

/*
 * Creates path through llmi_out_create() (io/outfile.h): an existing file is
 * an error (EEXIST) unless LLMI_WRITER_OVERWRITE, which replaces a regular
 * file nobody is writing but never a symbolic link (ELOOP), a directory or a
 * device; a file another writer holds is EBUSY. The file stays locked until
 * the writer is freed. NULL with errno; llmi_out_strerror() says it to a
 * user. opts may be NULL.
 */
struct llmi_writer *llmi_writer__new(const char *path, const struct llmi_writer_opts *opts);

/* Generic append of a record of type from iov[0..iovcnt); 0 or -errno. */
int llmi_writer__append(struct llmi_writer *w, unsigned type, const struct iovec *iov, int iovcnt);

/*
 * Appends a tensor record. The caller fills t (dtype, ndim, shape, step,
 * layer, tid, launch_id, kernel_name_id, capture_ns, raw_bytes, errors,
 * codec fields; llmi_tensor_rec_init() does most from the codec's
 * structures); the writer sets hdr_size, name_len, stored_bytes and
 * tensor_id (returned in t). -EINVAL if the fields are inconsistent.
 */
int llmi_writer__tensor(struct llmi_writer *w, struct llmi_tensor_rec *t, const char *name,
			const void *blob, size_t blob_len);
/* Appends hdr->count events of hdr->event_size bytes each. */
int llmi_writer__events(struct llmi_writer *w, const struct llmi_events_rec *hdr, const void *events);
/* Appends a string table of n (id, string) pairs of one kind. */
int llmi_writer__strings(struct llmi_writer *w, uint32_t kind, size_t n, const uint64_t *ids,
			 const char *const *strs);
/* Appends the producer's JSON summary (a stats record). */
int llmi_writer__stats_json(struct llmi_writer *w, const char *json, size_t len);

/*
 * Makes everything appended so far visible to readers (pads the extent)
 * and waits for the writes; after a write error it only waits, so that
 * llmi_writer__stats() then says what is finally on disk.
 */
int llmi_writer__flush(struct llmi_writer *w);
/*
 * The commit interval's clock, from the owner's loop; now_ns is
 * llmi_now_ns(). Submits the partial extent once its oldest byte is
 * commit_ms old, asks for an fdatasync of what was written since the last
 * one (at most one per interval), and reaps completed writes. Never waits
 * for the disk; no system call when there is nothing to do. Returns the
 * first error of the file's life.
 */
int llmi_writer__tick(struct llmi_writer *w, uint64_t now_ns);
/* Summary, index, trailer, fsync. Returns the first error of the file's life. */
int llmi_writer__close(struct llmi_writer *w);
/* Closes if not closed, then frees; accepts NULL. */
void llmi_writer__free(struct llmi_writer *w);

/* Totals; disk counts the completions the kernel has posted (reaped here, no wait). */
void llmi_writer__stats(struct llmi_writer *w, struct llmi_writer_stats *st);

/* CLOCK_MONOTONIC in ns, the clock of capture_ns and event stamps. */
uint64_t llmi_now_ns(void);

/* Fills t from the codec's view of a tensor; the caller adds step, layer, launch... */
static inline void llmi_tensor_rec_init(struct llmi_tensor_rec *t, const struct llmi_tensor_desc *d,
					const struct llmi_codec_spec *spec,
					const struct llmi_codec_stats *st)
{
	*t = (struct llmi_tensor_rec){0};
	t->dtype = d->dtype;
	t->ndim = d->ndim;
	for (unsigned i = 0; i < d->ndim && i < 8; i++)
		t->shape[i] = d->shape[i];
	t->layer = -1;
	t->ref_tensor_id = LLMI_NO_REF;
	t->raw_bytes = st->raw_bytes;
	t->mse = st->mse;
	t->nmse = st->nmse;
	t->max_abs_err = st->max_abs_err;
	t->variance = st->variance;
	t->codec_mode = spec->mode;
	t->codec_flags = spec->flags;
	t->codec_bound = spec->bound;
}

#endif
