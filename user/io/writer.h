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
 * Threads: by default one thread appends and does the I/O itself (it may
 * wait for a free extent, i.e. for the disk, inside an append). With
 * LLMI_WRITER_LOCKED, appends from several threads are serialised by a
 * mutex held across the whole append, disk waits and checksum included.
 *
 * LLMI_WRITER_THREAD (for a process that must not stall on the disk, the
 * tracer): the writer owns a thread that does every io_uring submission and
 * reaping, and keeps the commit interval itself (llmi_writer__tick() is not
 * needed: it only returns the first error, without a lock). Appends may
 * come from any number of threads. An append holds the writer's lock twice,
 * briefly, never across a wait for the disk: once to reserve its bytes in
 * the stream (its place, record number and tensor id), once to release
 * them; in between, without the lock, it computes the payload's CRC32C and
 * copies the bytes into the extents. A closed extent goes to the writer
 * thread once no appender still copies into it, and extents are written in
 * stream order, so a killed writer still leaves a prefix.
 *
 * Back-pressure (thread mode): the memory the writer holds is its extents
 * not yet on disk. llmi_writer__tensor(), and llmi_writer__append() of a
 * tensor or of a payload of an extent or more, wait (on a condition
 * variable, no lock held) while that exceeds mem_limit; a record goes
 * through alone whatever its size when nothing else is queued. Events
 * batches, string tables and stats (llmi_writer__events, __strings,
 * __stats_json, and smaller generic records) never wait for memory: they
 * may take the writer past its limit (they are small and rare beside
 * tensors). That is what keeps the thread draining the BPF ring buffer from
 * stalling on a slow disk: a slow disk slows the tensors' producers, while
 * events keep their way to the file.
 */
#ifndef LLMI_WRITER_H
#define LLMI_WRITER_H

#include <stdbool.h>
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
#define LLMI_WRITER_THREAD	(1u << 7)	/* a writer thread does the I/O; appends from any thread */

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
	/* LLMI_WRITER_THREAD: bytes not yet on disk past which tensors wait;
	 * 0: twice the extents (2 * nr_extents * extent_size, 16 MiB by
	 * default). The registered pool then holds that and one extent (at
	 * most 64 extents), so nr_extents is a minimum. */
	uint64_t mem_limit;
	/* the file header's ranks (format.h); all 0 in an older caller's
	 * struct, so has_rank says they were given: else -1 (not known) */
	bool has_rank;
	int32_t rank, world_size, local_rank;
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
	/* memory: extent buffers allocated now and at most (the pool without
	 * LLMI_WRITER_THREAD); with it, also: */
	uint64_t mem_bytes;
	uint64_t mem_peak;
	int threaded;		/* 1 with LLMI_WRITER_THREAD */
	uint64_t mem_limit;	/* the option in force */
	uint64_t held_bytes;	/* appended, not yet acknowledged by the kernel */
	uint64_t space_waits;	/* appends that waited for memory */
	uint64_t space_wait_ns;	/* their time waiting, in all */
	unsigned waiting;	/* appends waiting now */
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

/*
 * Appends take the lock held by close: an append that starts after close
 * began returns -EBADF (thread mode: also one waiting for memory), and one
 * already placed is in the file. The caller must not free the writer
 * while appends may still start.
 */

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
/*
 * A tensor record coded in place: the caller's codec writes the blob
 * straight into the writer's extent (registered with the ring), with no
 * copy, and the checksum is computed once over the final bytes.
 *
 * llmi_writer__tensor_begin() reserves a record for name with room for a
 * blob of at most max_blob bytes and sets res->blob. Then the caller writes
 * the blob there and calls llmi_writer__tensor_commit() with the record
 * (as for llmi_writer__tensor(); the writer sets hdr_size, name_len,
 * stored_bytes and tensor_id) and the blob's real size, or
 * llmi_writer__tensor_abort() if it has nothing to commit. Commit checks t
 * as llmi_writer__tensor() does (-EINVAL, and the reservation is aborted).
 *
 * -EMSGSIZE from begin: the reservation does not fit in one extent (its
 * rest, when the extent is partly filled): nothing is reserved, and the
 * caller codes into its own buffer and calls llmi_writer__tensor(). Other
 * errors are those of an append.
 *
 * Thread mode: reservations from several threads go on at once and take
 * their place, record number and tensor id at begin (stream order, after
 * waiting for memory as a tensor append does); the lock is not held while
 * the caller codes. At commit a reservation that still ends the stream
 * shrinks to its record; one that others have appended after keeps its
 * place and its unused rest becomes a pad record (written to disk: a cost
 * of max_blob over the real size, and the reason max_blob should be the
 * codec's bound, not a guess). Close waits for open reservations. Abort
 * takes back a reservation that ends the stream; one with records after
 * it cannot be taken back (their numbers follow its own), so the file is
 * made to end before it as after a write error (appends fail from then on
 * with -ECANCELED; close keeps the records before it).
 *
 * Other modes: one reservation at a time (-EBUSY for a second, and for
 * other appends and flush while one is open; tick leaves it alone; close
 * drops it). With LLMI_WRITER_LOCKED the lock is held from begin to commit
 * or abort, which must come from the same thread.
 */
struct llmi_writer_res {
	void *blob;		/* where the blob goes: max_blob bytes */
	size_t max_blob;
	/* the writer's */
	void *ext_, *rec_;
	size_t at_, ix_, nlen_;
	uint64_t off_, span_, seq_, tensor_id_;
};

int llmi_writer__tensor_begin(struct llmi_writer *w, const char *name, size_t max_blob,
			      struct llmi_writer_res *res);
int llmi_writer__tensor_commit(struct llmi_writer *w, struct llmi_writer_res *res,
			       struct llmi_tensor_rec *t, size_t blob_len);
void llmi_writer__tensor_abort(struct llmi_writer *w, struct llmi_writer_res *res);

/* Appends hdr->count events of hdr->event_size bytes each. */
int llmi_writer__events(struct llmi_writer *w, const struct llmi_events_rec *hdr, const void *events);
/* Appends a string table of n (id, string) pairs of one kind. */
/* A tokens record: hdr (its count) and count ids. 0 or -errno. */
int llmi_writer__tokens(struct llmi_writer *w, const struct llmi_tokens_rec *hdr, const int64_t *ids);
int llmi_writer__strings(struct llmi_writer *w, uint32_t kind, size_t n, const uint64_t *ids,
			 const char *const *strs);
/* Appends the producer's JSON summary (a stats record). */
int llmi_writer__stats_json(struct llmi_writer *w, const char *json, size_t len);

/*
 * Makes everything appended so far visible to readers (pads the extent)
 * and waits for the writes; after a write error it only waits, so that
 * llmi_writer__stats() then says what is finally on disk. Waits for the
 * disk: not for a thread that must not stall.
 */
int llmi_writer__flush(struct llmi_writer *w);
/*
 * The commit interval's clock, from the owner's loop; now_ns is
 * llmi_now_ns(). Submits the partial extent once its oldest byte is
 * commit_ms old, asks for an fdatasync of what was written since the last
 * one (at most one per interval), and reaps completed writes. Never waits
 * for the disk; no system call when there is nothing to do. Returns the
 * first error of the file's life. With LLMI_WRITER_THREAD the writer
 * thread does all this: tick only returns that error (no lock, no wait).
 */
int llmi_writer__tick(struct llmi_writer *w, uint64_t now_ns);
/*
 * Summary, index, trailer, fsync; waits for the disk. Returns the first
 * error of the file's life. Thread mode: appends racing with it are
 * refused with -EBADF (see above); a second close waits for the first.
 */
int llmi_writer__close(struct llmi_writer *w);
/* Closes if not closed, then frees; accepts NULL. */
void llmi_writer__free(struct llmi_writer *w);

/*
 * Totals; disk counts the completions the kernel has posted (reaped here, no
 * wait; in thread mode, as the writer thread last reaped them).
 */
void llmi_writer__stats(struct llmi_writer *w, struct llmi_writer_stats *st);

/*
 * For tests, thread mode only: while on, the writer thread hands nothing to
 * the disk, as if it had stopped answering (what is already in flight
 * completes). Close turns it off.
 */
void llmi_writer__stall(struct llmi_writer *w, bool on);

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
	t->rank = LLMI_NO_RANK;
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
