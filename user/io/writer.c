// SPDX-License-Identifier: MIT
/*
 * The container writer (writer.h): frames records into the extent buffers
 * of iow.c and keeps the index in memory until close.
 *
 * The append path is hot (every tensor and event batch of a capture goes
 * through it): it computes the payload CRC while the data is in cache,
 * copies into the current extent, and submits the extent when it fills.
 * The only allocation is the amortised growth of the in-memory index (24
 * bytes per record); the lock is taken only with LLMI_WRITER_LOCKED.
 *
 * The thread mode (LLMI_WRITER_THREAD) splits that path in two. Appenders
 * reserve their record's bytes under the lock (place, record number,
 * tensor id: what must follow stream order), then copy and checksum
 * without it, then release; an extent is a queue element that is written
 * once closed and no longer copied into. The writer thread alone talks to
 * the iow: it submits ready extents in stream order, reaps, keeps the
 * commit interval, and recycles extents, waking appenders that wait for
 * memory. It sleeps in poll(2) on two eventfds: one the appenders write
 * when there is work (only while it sleeps), one io_uring signals on
 * completion. Extents are the iow's registered buffers first, and memory
 * of our own when appends outrun them (kept for reuse up to the limit, so
 * the steady state allocates nothing).
 *
 * A tensor record can also be coded in place (llmi_writer__tensor_begin):
 * its bytes are reserved at their largest inside one extent, the caller's
 * codec writes the blob there, and commit writes the header and checksums
 * the final bytes; the reservation then shrinks to the record when nothing
 * was placed after it, or leaves a pad record. That saves the blob's copy
 * and a pass over it while it is out of cache.
 *
 * The header block is written on its own at creation, so even an empty
 * file that was never closed is a valid container.
 *
 * What reached the disk is counted apart from what was appended: each
 * listed record keeps a note (its events, or its strings and their kind)
 * beside its index entry, and llmi_writer__stats() walks the notes up to
 * the end of the acknowledged prefix (llmi_iow__acked), once per call, not
 * per append.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "io/iow.h"
#include "io/outfile.h"
#include "io/writer.h"

/* Per listed record, beside its index entry: what it counts for. */
struct rec_note {
	uint64_t count;		/* events (events record) or entries (strings record) */
	uint32_t kind;		/* strings kind */
};

/*
 * An extent of the thread mode: bytes are placed (reserved) under the lock
 * and copied outside it; the writer thread writes the extent once it is
 * closed (full, or padded by a commit, a flush or close) and no appender is
 * still copying into it.
 */
struct ext {
	struct ext *next;	/* in the stream queue, the written list or a spare list */
	uint8_t *buf;		/* extent_size bytes: one of the iow's buffers, or our own */
	uint64_t off;		/* file offset of buf[0] */
	size_t fill;		/* bytes placed */
	unsigned pending;	/* appenders still copying into it */
	bool closed;		/* no more bytes: written as fill bytes once pending is 0 */
	bool pool;		/* buf is the iow's (registered with the ring) */
};

/* Where a reserved record lies: its first extent and the offset in it. */
struct span {
	struct ext *e;
	size_t at;
};

struct llmi_writer {
	int fd;
	char *path;
	unsigned flags;
	struct llmi_iow *io;
	size_t ext;
	uint8_t *cur;		/* current extent buffer, NULL between extents (not thread mode) */
	size_t fill;		/* bytes in the current extent */
	uint64_t cur_off;	/* file offset of the current (or next) extent */
	uint64_t cur_since;	/* llmi_now_ns() when the current extent got its first byte */
	uint64_t seq;
	uint64_t next_tensor;	/* the next tensor's id (ids follow stream order) */
	bool res_open;		/* all modes but the thread mode: a tensor reservation is open */
	uint64_t cut_at;	/* a reservation given up here: the file ends before it (UINT64_MAX: none) */
	struct llmi_index_ent *idx;
	struct rec_note *notes;	/* beside idx */
	size_t nidx, cidx;

	/* commit interval */
	uint64_t commit_ns;
	uint64_t last_sync_ns;
	uint64_t synced_end;	/* stream submitted when the last fdatasync was asked */
	uint64_t commits, syncs, pad_bytes;

	/* on disk: the first disk_idx records are, and their totals */
	uint64_t disk_end;	/* the file was cut here after a failure (UINT64_MAX: not) */
	size_t disk_idx;
	struct llmi_writer_disk disk;
	struct llmi_summary_rec sum;
	uint64_t summary_off;
	int err;		/* written under the lock, read without it by tick (thread mode) */
	bool err_said;
	bool closed;
	pthread_mutex_t lock;

	/* thread mode (LLMI_WRITER_THREAD); under lock unless said */
	bool threaded;
	pthread_t thread;
	bool thread_on;
	pthread_cond_t space;	/* appenders that wait for memory wait here */
	pthread_cond_t done;	/* flush and close wait here */
	int wake_fd;		/* eventfd: wakes the writer thread */
	int ring_fd;		/* the iow's completion eventfd, -1 with pwrite */
	bool sleeping;		/* the writer thread waits in poll */
	uint64_t sleep_until;	/* until then (llmi_now_ns), UINT64_MAX: until woken */
	struct ext *qhead, *qtail;	/* placed, not yet handed to the disk, in stream order */
	struct ext *cx;		/* the open extent (qtail), NULL: the next append opens one */
	struct ext *spare_pool, *spare_own;
	unsigned nspare, nalloc, npool, keep;
	uint64_t limit;
	uint64_t acked;		/* llmi_iow__acked(), as the writer thread last saw it */
	bool io_idle;		/* the writer thread holds no write, and the iow is not busy */
	unsigned active;	/* appenders between their reservation and its release */
	unsigned waiting;	/* appenders waiting for memory */
	bool closing, stopping, stalled;
	bool direct_now;
	uint64_t failed_at;	/* llmi_iow__failed_at(), as the writer thread last saw it */
	const char *backend;
	uint64_t space_waits, space_wait_ns, mem_peak;
	/* the writer thread's own */
	struct ext *sub_head, **sub_tail;	/* submitted, not yet acknowledged */
	uint64_t sub_end;	/* end of the last extent submitted */
};

static const uint8_t zeros[4096];

/* Thread mode: at most this many registered extents (the rest of the limit is ours). */
#define POOL_MAX 64

uint64_t llmi_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void lock(struct llmi_writer *w)
{
	if (w->flags & (LLMI_WRITER_LOCKED | LLMI_WRITER_THREAD))
		pthread_mutex_lock(&w->lock);
}

static void unlock(struct llmi_writer *w)
{
	if (w->flags & (LLMI_WRITER_LOCKED | LLMI_WRITER_THREAD))
		pthread_mutex_unlock(&w->lock);
}

static uint64_t pos(const struct llmi_writer *w)
{
	return w->cur_off + w->fill;
}

/*
 * Keeps the first error and says it once; err == 0 changes nothing. In
 * thread mode only the writer thread, or close after it ended, reaches the
 * iow (failed_at).
 */
static int note_err(struct llmi_writer *w, int err)
{
	if (!err)
		return w->err;
	if (!w->err)
		__atomic_store_n(&w->err, err, __ATOMIC_RELEASE);
	if (!w->err_said) {
		uint64_t at = w->threaded ? w->failed_at : llmi_iow__failed_at(w->io);

		w->err_said = true;
		fprintf(stderr, "%s: write failed%s%llu: %s; the file keeps the records written before it\n",
			w->path, at != UINT64_MAX ? " at offset " : " after byte ",
			(unsigned long long)(at != UINT64_MAX ? at : w->acked > pos(w) ? w->acked : pos(w)),
			strerror(-w->err));
	}
	if (w->threaded) {
		pthread_cond_broadcast(&w->space);
		pthread_cond_broadcast(&w->done);
	}
	return w->err;
}

/* note_err() of err, or else of the iow's error: by the thread that uses the iow. */
static int note_io(struct llmi_writer *w, int err)
{
	return note_err(w, err ? err : llmi_iow__error(w->io));
}

/* The appending thread's extent writer (all modes but the thread mode). */
static int put(struct llmi_writer *w, const void *p, size_t n)
{
	const uint8_t *s = p;

	while (n) {
		size_t k;

		if (!w->cur) {
			w->cur = llmi_iow__buf(w->io);
			if (!w->cur)
				return -errno;
			w->fill = 0;
			w->cur_since = llmi_now_ns();
		}
		k = w->ext - w->fill < n ? w->ext - w->fill : n;
		memcpy(w->cur + w->fill, s, k);
		w->fill += k;
		s += k;
		n -= k;
		if (w->fill == w->ext) {
			int err = llmi_iow__submit(w->io, w->cur, w->ext, w->cur_off);

			w->cur = NULL;
			w->cur_off += w->ext;
			w->fill = 0;
			if (err)
				return err;
		}
	}
	return 0;
}

static bool listed(unsigned type)
{
	return type != LLMI_REC_PAD && type != LLMI_REC_INDEX && type != LLMI_REC_TRAILER;
}

/* ---- thread mode: extents, reservations, the writer thread ---- */

static void wake(struct llmi_writer *w)
{
	uint64_t one = 1;

	if (!w->sleeping)
		return;
	w->sleeping = false;	/* one write per sleep */
	if (write(w->wake_fd, &one, sizeof(one)) < 0) {
		/* the counter is saturated: the thread wakes all the same */
	}
}

static struct ext *ext_new(struct llmi_writer *w, uint8_t *pool_buf)
{
	struct ext *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->pool = pool_buf != NULL;
	e->buf = pool_buf;
	if (!e->buf && posix_memalign((void **)&e->buf, 4096, w->ext)) {
		free(e);
		return NULL;
	}
	w->nalloc++;
	if ((uint64_t)w->nalloc * w->ext > w->mem_peak)
		w->mem_peak = (uint64_t)w->nalloc * w->ext;
	return e;
}

static void ext_free(struct llmi_writer *w, struct ext *e)
{
	if (!e->pool)
		free(e->buf);
	free(e);
	w->nalloc--;
}

static void spare_push(struct llmi_writer *w, struct ext *e)
{
	struct ext **l = e->pool ? &w->spare_pool : &w->spare_own;

	e->next = *l;
	*l = e;
	w->nspare++;
}

/* Opens the next extent at cur_off: a pool buffer (registered) when one is spare. */
static void ext_open(struct llmi_writer *w)
{
	struct ext *e = w->spare_pool ? w->spare_pool : w->spare_own;

	if (e == w->spare_pool)
		w->spare_pool = e->next;
	else
		w->spare_own = e->next;
	w->nspare--;
	e->next = NULL;
	e->off = w->cur_off;
	e->fill = 0;
	e->pending = 0;
	e->closed = false;
	if (w->qtail)
		w->qtail->next = e;
	else
		w->qhead = e;
	w->qtail = e;
	w->cx = e;
	w->fill = 0;
	w->cur_since = llmi_now_ns();
	if (w->sleep_until > w->cur_since + w->commit_ns)
		wake(w);	/* it sleeps past the new commit deadline */
}

static bool ext_ready(const struct ext *e)
{
	return e && e->closed && !e->pending;
}

/* No more bytes in the open extent; the writer thread takes it once copied. */
static void ext_close(struct llmi_writer *w)
{
	struct ext *e = w->cx;

	e->closed = true;
	w->cx = NULL;
	w->cur_off += e->fill;
	w->fill = 0;
	if (ext_ready(w->qhead))
		wake(w);
}

/*
 * Reserves span bytes at the end of the stream; never waits. The extents
 * it needs are all found (or allocated) before the first byte is placed,
 * so a failure (ENOMEM) leaves the stream as it was.
 */
static int reserve(struct llmi_writer *w, uint64_t span, struct span *sp)
{
	uint64_t room = w->cx ? w->ext - w->fill : 0;
	uint64_t need = span > room ? (span - room + w->ext - 1) / w->ext : 0;

	while (w->nspare < need) {
		struct ext *e = ext_new(w, NULL);

		if (!e)
			return -ENOMEM;
		spare_push(w, e);
	}
	if (!w->cx)
		ext_open(w);
	sp->e = w->cx;
	sp->at = w->fill;
	while (span) {
		struct ext *e = w->cx;
		size_t k = w->ext - e->fill < span ? w->ext - e->fill : span;

		e->fill += k;
		e->pending++;
		w->fill += k;
		span -= k;
		if (e->fill == w->ext)
			ext_close(w);
		if (span && !w->cx)
			ext_open(w);
	}
	return 0;
}

/* Copies n bytes into a reservation at *sp, moving on; the lock is not needed. */
static void span_put(const struct llmi_writer *w, struct span *sp, const void *src, size_t n)
{
	const uint8_t *s = src;

	while (n) {
		size_t k;

		if (sp->at == w->ext) {
			sp->e = sp->e->next;	/* linked at reservation, before this copy */
			sp->at = 0;
		}
		k = w->ext - sp->at < n ? w->ext - sp->at : n;
		memcpy(sp->e->buf + sp->at, s, k);
		sp->at += k;
		s += k;
		n -= k;
	}
}

static void span_zeros(const struct llmi_writer *w, struct span *sp, size_t n)
{
	while (n) {
		size_t k = n < sizeof(zeros) ? n : sizeof(zeros);

		span_put(w, sp, zeros, k);
		n -= k;
	}
}

/* Ends a reservation of span bytes from sp (under the lock). */
static void release(struct llmi_writer *w, struct span sp, uint64_t span)
{
	bool ready = false;

	while (span) {
		size_t k = w->ext - sp.at < span ? w->ext - sp.at : span;

		if (!--sp.e->pending && sp.e->closed)
			ready = true;
		span -= k;
		sp.e = sp.e->next;
		sp.at = 0;
	}
	if (ready && ext_ready(w->qhead))
		wake(w);
}

/*
 * At close (appends refused, none copying): n bytes at the end of the
 * stream, an extent at a time, waiting for the disk when the writer holds
 * its limit, so that a large index never needs its size in memory.
 */
static int put_closing(struct llmi_writer *w, const void *p, size_t n)
{
	const uint8_t *s = p;

	while (n) {
		size_t k;

		if (!w->cx) {
			while (!w->err && !w->nspare && w->nalloc >= w->keep && w->cur_off > w->acked)
				pthread_cond_wait(&w->space, &w->lock);
			if (w->err)
				return w->err;
			if (!w->nspare) {
				struct ext *e = ext_new(w, NULL);

				if (!e)
					return -ENOMEM;
				spare_push(w, e);
			}
			ext_open(w);
		}
		k = w->ext - w->fill < n ? w->ext - w->fill : n;
		memcpy(w->cx->buf + w->fill, s, k);
		w->cx->fill += k;
		w->fill += k;
		s += k;
		n -= k;
		if (w->fill == w->ext)
			ext_close(w);
	}
	return 0;
}

/* Writes a whole record under the lock: the writer's own (pad, summary, index, trailer). */
static int place_locked(struct llmi_writer *w, const struct llmi_rec_hdr *h, const struct iovec *iov,
			int iovcnt, uint64_t len)
{
	uint64_t span = llmi_rec_span(len);
	struct span sp, at;
	int err = reserve(w, span, &sp);

	if (err)
		return err;
	at = sp;
	span_put(w, &sp, h, sizeof(*h));
	for (int i = 0; i < iovcnt; i++)
		span_put(w, &sp, iov[i].iov_base, iov[i].iov_len);
	span_zeros(w, &sp, span - sizeof(*h) - len);
	release(w, at, span);
	return 0;
}

/* ---- records ---- */

/* Places a record whose header is made: the header, the payload, zeros to 8. */
static int emit(struct llmi_writer *w, const struct llmi_rec_hdr *h, const struct iovec *iov,
		int iovcnt, uint64_t len)
{
	uint64_t pad = llmi_rec_span(len) - sizeof(*h) - len;
	int err;

	int (*put_fn)(struct llmi_writer *, const void *, size_t) = put;

	if (w->threaded && !w->closing)
		return place_locked(w, h, iov, iovcnt, len);
	if (w->threaded)
		put_fn = put_closing;
	err = put_fn(w, h, sizeof(*h));
	for (int i = 0; !err && i < iovcnt; i++)
		err = put_fn(w, iov[i].iov_base, iov[i].iov_len);
	if (!err && pad)
		err = put_fn(w, zeros, pad);
	return err;
}

/* Room in the index for one more record. */
static int index_room(struct llmi_writer *w)
{
	size_t cap;
	void *p;

	if (w->nidx < w->cidx)
		return 0;
	cap = w->cidx ? w->cidx * 2 : 1024;
	p = realloc(w->idx, cap * sizeof(*w->idx));
	if (!p)
		return -ENOMEM;
	w->idx = p;
	p = realloc(w->notes, cap * sizeof(*w->notes));
	if (!p)
		return -ENOMEM;
	w->notes = p;
	w->cidx = cap;
	return 0;
}

/* Lists a record placed at off (the caller holds the lock). */
static void index_add(struct llmi_writer *w, unsigned type, uint64_t off, uint64_t len, uint32_t crc,
		      struct rec_note note)
{
	w->notes[w->nidx] = note;
	w->idx[w->nidx++] = (struct llmi_index_ent){
		.offset = off, .length = len, .type = type, .data_crc = crc,
	};
	w->sum.records++;
	w->sum.payload_bytes += len;
}

/*
 * A record from the appending thread with the lock held (all modes but the
 * thread mode, and the writer's own records at close in every mode).
 */
static int append_locked(struct llmi_writer *w, unsigned type, const struct iovec *iov, int iovcnt,
			 struct rec_note note)
{
	struct llmi_rec_hdr h;
	uint64_t len = 0, off = pos(w);
	uint32_t crc = 0;
	int err;

	if (w->err)
		return w->err;
	if (w->closed)
		return -EBADF;
	if (w->res_open)
		return -EBUSY;	/* a tensor reservation is open (writer.h) */
	for (int i = 0; i < iovcnt; i++) {
		len += iov[i].iov_len;
		crc = llmi_crc32c(crc, iov[i].iov_base, iov[i].iov_len);
	}
	if (listed(type) && index_room(w))
		return -ENOMEM;
	llmi_rec_hdr_fill(&h, type, w->seq, len, crc);
	err = emit(w, &h, iov, iovcnt, len);
	if (w->threaded && err && !w->closing)
		return err;	/* nothing placed (reserve failed whole) */
	if (w->threaded && err)
		return note_err(w, err);	/* a record cut short at close */
	if (err)
		return note_io(w, err);
	w->seq++;
	if (listed(type))
		index_add(w, type, off, len, crc, note);
	return w->threaded ? w->err : note_io(w, 0);
}

/* The counts of a tensor record, once placed. */
static void sum_tensor(struct llmi_writer *w, const struct llmi_tensor_rec *t, size_t blob_len)
{
	w->sum.tensors++;
	w->sum.raw_bytes += t->raw_bytes;
	w->sum.stored_bytes += blob_len;
	if (t->mse > w->sum.max_mse)
		w->sum.max_mse = t->mse;
	if (t->nmse > w->sum.max_nmse)
		w->sum.max_nmse = t->nmse;
	if (t->max_abs_err > w->sum.max_abs_err)
		w->sum.max_abs_err = t->max_abs_err;
}

/*
 * Thread mode, lock held: waits (the lock released) while the writer holds
 * more than its limit with span more bytes. Memory held: the closed extents
 * not yet on disk, the open one, and this record. Alone (nothing queued) a
 * record goes whatever its size, or one larger than the limit never would.
 */
static void wait_space(struct llmi_writer *w, uint64_t span)
{
	uint64_t t0 = 0;

	while (!w->err && !w->closing && !w->closed && w->cur_off > w->acked &&
	       w->cur_off - w->acked + w->fill + span > w->limit) {
		if (!t0) {
			t0 = llmi_now_ns();
			w->space_waits++;
		}
		w->waiting++;
		pthread_cond_wait(&w->space, &w->lock);
		w->waiting--;
	}
	if (t0)
		w->space_wait_ns += llmi_now_ns() - t0;
}

/*
 * Thread mode: the lock is held twice, each time without waiting for the
 * disk: to reserve the record's bytes (waiting first, if may_wait, while the
 * writer holds more than its limit: a condition variable, the lock
 * released), and to release them. Between the two, without the lock, the
 * record is copied and its CRC computed. A tensor's id (part of the
 * payload, so of the CRC) is given at reservation, in stream order. The
 * counts are updated at reservation too: from there on the record is in
 * the stream, whatever happens to the disk.
 */
static int t_append(struct llmi_writer *w, unsigned type, const struct iovec *iov, int iovcnt,
		    struct rec_note note, bool may_wait, struct llmi_tensor_rec *t)
{
	uint64_t len = 0, span, off, seq;
	struct llmi_rec_hdr h;
	struct span sp, at;
	size_t ix;
	uint32_t crc = 0;
	int err;

	for (int i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	span = llmi_rec_span(len);
	pthread_mutex_lock(&w->lock);
	if (may_wait)
		wait_space(w, span);
	err = w->err ? w->err : w->closing || w->closed ? -EBADF : index_room(w);
	if (!err)
		err = reserve(w, span, &sp);
	if (err) {
		pthread_mutex_unlock(&w->lock);
		return err;
	}
	off = (uint64_t)(sp.e->off + sp.at);
	seq = w->seq++;
	ix = w->nidx;
	if (t) {
		t->tensor_id = w->next_tensor++;
		sum_tensor(w, t, t->stored_bytes);
	} else if (type == LLMI_REC_EVENTS) {
		w->sum.event_batches++;
		w->sum.events += note.count;
	}
	index_add(w, type, off, len, 0, note);
	w->active++;
	pthread_mutex_unlock(&w->lock);

	for (int i = 0; i < iovcnt; i++)
		crc = llmi_crc32c(crc, iov[i].iov_base, iov[i].iov_len);
	llmi_rec_hdr_fill(&h, type, seq, len, crc);
	at = sp;
	span_put(w, &sp, &h, sizeof(h));
	for (int i = 0; i < iovcnt; i++)
		span_put(w, &sp, iov[i].iov_base, iov[i].iov_len);
	span_zeros(w, &sp, span - sizeof(h) - len);

	pthread_mutex_lock(&w->lock);
	w->idx[ix].data_crc = crc;	/* idx may have moved (realloc): by number */
	release(w, at, span);
	if (!--w->active && w->closing)
		pthread_cond_broadcast(&w->done);
	pthread_mutex_unlock(&w->lock);
	return 0;
}

int llmi_writer__append(struct llmi_writer *w, unsigned type, const struct iovec *iov, int iovcnt)
{
	int err;

	if (type == LLMI_REC_INDEX || type == LLMI_REC_TRAILER || type == LLMI_REC_SUMMARY)
		return -EINVAL;	/* the writer's own */
	if (w->threaded) {
		uint64_t len = 0;

		for (int i = 0; i < iovcnt; i++)
			len += iov[i].iov_len;
		return t_append(w, type, iov, iovcnt, (struct rec_note){ 0 },
				type == LLMI_REC_TENSOR || len >= w->ext, NULL);
	}
	lock(w);
	err = append_locked(w, type, iov, iovcnt, (struct rec_note){ 0 });
	unlock(w);
	return err;
}

/* 0 if t's dtype, shape and raw_bytes agree, else -EINVAL. */
static int tensor_check(const struct llmi_tensor_rec *t)
{
	size_t esz = llmi_format_dtype_size(t->dtype);
	uint64_t numel = 1;

	if (!esz || t->ndim > 8)
		return -EINVAL;
	for (unsigned d = 0; d < t->ndim; d++) {
		if (t->shape[d] && numel > UINT64_MAX / t->shape[d])
			return -EINVAL;
		numel *= t->shape[d];
	}
	if (numel > UINT64_MAX / esz || numel * esz != t->raw_bytes)
		return -EINVAL;
	return 0;
}

int llmi_writer__tensor(struct llmi_writer *w, struct llmi_tensor_rec *t, const char *name,
			const void *blob, size_t blob_len)
{
	size_t nlen = name ? strlen(name) : 0;
	int err;

	if (nlen > LLMI_NAME_MAX || tensor_check(t))
		return -EINVAL;
	t->hdr_size = sizeof(*t);
	t->name_len = nlen;
	t->stored_bytes = blob_len;
	{
		struct iovec iov[4] = {
			{ t, sizeof(*t) },
			{ (void *)(name ? name : ""), nlen },
			{ (void *)zeros, llmi_align_up(sizeof(*t) + nlen, 8) - sizeof(*t) - nlen },
			{ (void *)blob, blob_len },
		};

		if (w->threaded)
			return t_append(w, LLMI_REC_TENSOR, iov, 4, (struct rec_note){ 1, 0 }, true, t);
		lock(w);
		t->tensor_id = w->next_tensor;
		err = append_locked(w, LLMI_REC_TENSOR, iov, 4, (struct rec_note){ 1, 0 });
	}
	if (!err) {
		w->next_tensor++;
		sum_tensor(w, t, blob_len);
	}
	unlock(w);
	return err;
}

/* ---- tensor records coded in place (llmi_writer__tensor_begin) ---- */

/* The record's fixed part: the tensor header and the name, to 8 bytes. */
static size_t res_head(size_t nlen)
{
	return llmi_align_up(sizeof(struct llmi_tensor_rec) + nlen, 8);
}

/*
 * Bytes a reservation takes: the record at its largest, and room for a pad
 * record's header, so that whatever the blob's real size the rest can
 * become a pad when the reservation cannot shrink (writer.h).
 */
static uint64_t res_span(size_t nlen, size_t max_blob)
{
	return llmi_rec_span(res_head(nlen) + (uint64_t)max_blob) + sizeof(struct llmi_rec_hdr);
}

/* The name and the zeros after it, where the record will be. */
static void res_fill(struct llmi_writer_res *res, const char *name, size_t nlen)
{
	uint8_t *p = (uint8_t *)res->rec_ + sizeof(struct llmi_rec_hdr) + sizeof(struct llmi_tensor_rec);

	memcpy(p, name, nlen);
	memset(p + nlen, 0, res_head(nlen) - sizeof(struct llmi_tensor_rec) - nlen);
	res->blob = (uint8_t *)res->rec_ + sizeof(struct llmi_rec_hdr) + res_head(nlen);
}

/* A pad record of span bytes at p (span >= its header; payload zeroed here). */
static void pad_at(uint8_t *p, uint64_t span, uint64_t seq)
{
	struct llmi_rec_hdr h;
	uint64_t len = span - sizeof(h);

	memset(p + sizeof(h), 0, len);
	llmi_rec_hdr_fill(&h, LLMI_REC_PAD, seq, len, llmi_crc32c(0, p + sizeof(h), len));
	memcpy(p, &h, sizeof(h));
}

/*
 * Thread mode: the reservation is placed like any record's (its place,
 * record number and tensor id in stream order, after waiting for memory),
 * but inside one extent, so that the caller writes into contiguous memory.
 * It takes two record numbers: its own and one for the pad that may fill
 * what it leaves unused; both go back when it stays at the stream's end.
 */
static int t_begin(struct llmi_writer *w, size_t nlen, uint64_t span, struct llmi_writer_res *res)
{
	struct span sp;
	int err;

	pthread_mutex_lock(&w->lock);
	wait_space(w, span);
	err = w->err ? w->err : w->closing || w->closed ? -EBADF : index_room(w);
	if (!err && w->cx && w->ext - w->fill < span)
		err = -EMSGSIZE;	/* not in this extent's rest: the caller copies */
	if (!err)
		err = reserve(w, span, &sp);
	if (err) {
		pthread_mutex_unlock(&w->lock);
		return err;
	}
	res->ext_ = sp.e;
	res->at_ = sp.at;
	res->rec_ = sp.e->buf + sp.at;
	res->off_ = sp.e->off + sp.at;
	res->span_ = span;
	res->seq_ = w->seq;
	w->seq += 2;
	res->ix_ = w->nidx;
	res->tensor_id_ = w->next_tensor++;
	res->nlen_ = nlen;
	index_add(w, LLMI_REC_TENSOR, res->off_, 0, 0, (struct rec_note){ 1, 0 });
	w->active++;
	pthread_mutex_unlock(&w->lock);
	return 0;
}

/* Thread mode, lock held: the reservation still ends the stream (nothing placed after it). */
static bool res_is_tail(const struct llmi_writer *w, const struct llmi_writer_res *res)
{
	return w->cx == res->ext_ && w->fill == res->at_ + res->span_;
}

/* Ends the reservation's hold on its extent (lock held). */
static void res_release(struct llmi_writer *w, struct llmi_writer_res *res, uint64_t span)
{
	release(w, (struct span){ res->ext_, res->at_ }, span);
	if (!--w->active && w->closing)
		pthread_cond_broadcast(&w->done);
}

/*
 * Thread mode: the record is written in place and checksummed without the
 * lock; under it, the reservation shrinks to the record when it still ends
 * the stream, or else its unused rest becomes a pad record (the pad's
 * bytes, written once more without the lock, are still ours: the extent
 * is not written while we hold it).
 */
static int t_commit(struct llmi_writer *w, struct llmi_writer_res *res, const struct llmi_tensor_rec *t,
		    uint64_t len, uint32_t crc)
{
	uint64_t real = llmi_rec_span(len), gap = res->span_ - real;
	bool tail;

	pthread_mutex_lock(&w->lock);
	w->idx[res->ix_].length = len;
	w->idx[res->ix_].data_crc = crc;
	w->sum.payload_bytes += len;
	sum_tensor(w, t, t->stored_bytes);
	tail = res_is_tail(w, res);
	if (tail) {
		((struct ext *)res->ext_)->fill -= gap;
		w->fill -= gap;
		w->seq--;	/* the pad's number: nobody took one after it */
		res_release(w, res, real);
	} else {
		w->pad_bytes += gap;
	}
	pthread_mutex_unlock(&w->lock);
	if (tail)
		return 0;
	pad_at((uint8_t *)res->rec_ + real, gap, res->seq_ + 1);
	pthread_mutex_lock(&w->lock);
	res_release(w, res, res->span_);
	pthread_mutex_unlock(&w->lock);
	return 0;
}

/*
 * Thread mode: a reservation at the stream's end is taken back whole. One
 * with records placed after it cannot be: its tensor id and record number
 * are theirs to follow. It becomes pad records, and the file is made to end
 * before it, as after a write error (appends fail from here on, close
 * keeps what came before).
 */
static void t_abort(struct llmi_writer *w, struct llmi_writer_res *res)
{
	pthread_mutex_lock(&w->lock);
	if (res_is_tail(w, res) && w->seq == res->seq_ + 2 && w->nidx == res->ix_ + 1 &&
	    w->next_tensor == res->tensor_id_ + 1) {
		((struct ext *)res->ext_)->fill -= res->span_;
		w->fill -= res->span_;
		w->seq -= 2;
		w->nidx--;
		w->sum.records--;
		w->next_tensor--;
		((struct ext *)res->ext_)->pending--;	/* open: not ready to write */
		if (!--w->active && w->closing)
			pthread_cond_broadcast(&w->done);
		pthread_mutex_unlock(&w->lock);
		return;
	}
	pad_at(res->rec_, sizeof(struct llmi_rec_hdr), res->seq_);
	pad_at((uint8_t *)res->rec_ + sizeof(struct llmi_rec_hdr), res->span_ - sizeof(struct llmi_rec_hdr),
	       res->seq_ + 1);
	if (res->off_ < w->cut_at)
		w->cut_at = res->off_;
	if (!w->err) {
		fprintf(stderr, "%s: a tensor record at offset %llu was given up after later records "
			"were placed; the file keeps the records before it\n", w->path,
			(unsigned long long)res->off_);
		w->err_said = true;
		note_err(w, -ECANCELED);
	}
	res_release(w, res, res->span_);
	pthread_mutex_unlock(&w->lock);
}

int llmi_writer__tensor_begin(struct llmi_writer *w, const char *name, size_t max_blob,
			      struct llmi_writer_res *res)
{
	size_t nlen = name ? strlen(name) : 0;
	uint64_t span = res_span(nlen, max_blob);
	int err = 0;

	memset(res, 0, sizeof(*res));
	if (nlen > LLMI_NAME_MAX)
		return -EINVAL;
	if (max_blob > w->ext)
		return -EMSGSIZE;
	res->max_blob = max_blob;
	if (span > w->ext)
		return -EMSGSIZE;
	if (w->threaded) {
		err = t_begin(w, nlen, span, res);
		if (!err)
			res_fill(res, name, nlen);
		return err;
	}
	/* The other modes: the current extent's rest, placed at commit. */
	lock(w);
	if (w->err)
		err = w->err;
	else if (w->closed)
		err = -EBADF;
	else if (w->res_open)
		err = -EBUSY;
	else
		err = index_room(w);
	if (!err && !w->cur) {
		w->cur = llmi_iow__buf(w->io);
		if (!w->cur)
			err = note_io(w, -errno);
		w->fill = 0;
		w->cur_since = llmi_now_ns();
	}
	if (!err && w->ext - w->fill < span)
		err = -EMSGSIZE;
	if (err) {
		unlock(w);
		return err;
	}
	w->res_open = true;
	res->rec_ = w->cur + w->fill;
	res->off_ = pos(w);
	res->span_ = span;
	res->seq_ = w->seq;
	res->tensor_id_ = w->next_tensor;
	res->nlen_ = nlen;
	res_fill(res, name, nlen);
	return 0;	/* LLMI_WRITER_LOCKED: the lock is held until commit or abort */
}

void llmi_writer__tensor_abort(struct llmi_writer *w, struct llmi_writer_res *res)
{
	if (!res->rec_)
		return;
	if (w->threaded) {
		t_abort(w, res);
	} else {
		w->res_open = false;
		unlock(w);
	}
	res->rec_ = NULL;
}

int llmi_writer__tensor_commit(struct llmi_writer *w, struct llmi_writer_res *res,
			       struct llmi_tensor_rec *t, size_t blob_len)
{
	uint8_t *p = res->rec_;
	struct llmi_rec_hdr h;
	uint64_t len;
	uint32_t crc;
	int err;

	if (!p)
		return -EINVAL;
	if (blob_len > res->max_blob || tensor_check(t)) {
		llmi_writer__tensor_abort(w, res);
		return -EINVAL;
	}
	t->hdr_size = sizeof(*t);
	t->name_len = res->nlen_;
	t->stored_bytes = blob_len;
	t->tensor_id = res->tensor_id_;
	len = res_head(res->nlen_) + blob_len;
	memcpy(p + sizeof(h), t, sizeof(*t));
	/* zeros to the next record (the blob's rest, 0 to 7 bytes) */
	memset(p + sizeof(h) + len, 0, llmi_rec_span(len) - sizeof(h) - len);
	crc = llmi_crc32c(0, p + sizeof(h), len);
	llmi_rec_hdr_fill(&h, LLMI_REC_TENSOR, res->seq_, len, crc);
	memcpy(p, &h, sizeof(h));
	if (w->threaded) {
		err = t_commit(w, res, t, len, crc);
		res->rec_ = NULL;
		return err;
	}
	w->fill += llmi_rec_span(len);	/* < ext: the reservation kept a header's room */
	w->seq++;
	w->next_tensor++;
	index_add(w, LLMI_REC_TENSOR, res->off_, len, crc, (struct rec_note){ 1, 0 });
	sum_tensor(w, t, blob_len);
	w->res_open = false;
	err = note_io(w, 0);
	unlock(w);
	res->rec_ = NULL;
	return err;
}

int llmi_writer__events(struct llmi_writer *w, const struct llmi_events_rec *hdr, const void *events)
{
	struct iovec iov[2] = {
		{ (void *)hdr, sizeof(*hdr) },
		{ (void *)events, 0 },
	};
	struct rec_note note = { hdr->count, 0 };
	int err;

	if (hdr->count && (!hdr->event_size || hdr->count > SIZE_MAX / hdr->event_size))
		return -EINVAL;
	iov[1].iov_len = hdr->count * hdr->event_size;
	if (w->threaded)
		return t_append(w, LLMI_REC_EVENTS, iov, 2, note, false, NULL);
	lock(w);
	err = append_locked(w, LLMI_REC_EVENTS, iov, 2, note);
	if (!err) {
		w->sum.event_batches++;
		w->sum.events += hdr->count;
	}
	unlock(w);
	return err;
}

int llmi_writer__tokens(struct llmi_writer *w, const struct llmi_tokens_rec *hdr, const int64_t *ids)
{
	struct iovec iov[2] = { { (void *)hdr, sizeof(*hdr) },
				{ (void *)ids, (size_t)hdr->count * sizeof(*ids) } };

	if (hdr->count > (SIZE_MAX - sizeof(*hdr)) / 8)
		return -EINVAL;
	return llmi_writer__append(w, LLMI_REC_TOKENS, iov, hdr->count ? 2 : 1);
}

int llmi_writer__strings(struct llmi_writer *w, uint32_t kind, size_t n, const uint64_t *ids,
			 const char *const *strs)
{
	struct llmi_strings_rec sr = { .kind = kind, .count = n };
	size_t total = sizeof(sr), off;
	uint8_t *buf;
	int err;

	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(strs[i]);

		if (l > UINT32_MAX)
			return -EINVAL;
		total += sizeof(struct llmi_string_ent) + llmi_align_up(l, 8);
	}
	buf = calloc(1, total);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, &sr, sizeof(sr));
	off = sizeof(sr);
	for (size_t i = 0; i < n; i++) {
		struct llmi_string_ent e = { .id = ids[i], .len = strlen(strs[i]) };

		memcpy(buf + off, &e, sizeof(e));
		off += sizeof(e);
		memcpy(buf + off, strs[i], e.len);
		off += llmi_align_up(e.len, 8);
	}
	{
		struct iovec iov = { buf, total };
		struct rec_note note = { n, kind };

		if (w->threaded) {
			err = t_append(w, LLMI_REC_STRINGS, &iov, 1, note, false, NULL);
		} else {
			lock(w);
			err = append_locked(w, LLMI_REC_STRINGS, &iov, 1, note);
			unlock(w);
		}
	}
	free(buf);
	return err;
}

int llmi_writer__stats_json(struct llmi_writer *w, const char *json, size_t len)
{
	struct iovec iov = { (void *)json, len };
	int err;

	if (w->threaded)
		return t_append(w, LLMI_REC_STATS, &iov, 1, (struct rec_note){ 0 }, false, NULL);
	lock(w);
	err = append_locked(w, LLMI_REC_STATS, &iov, 1, (struct rec_note){ 0 });
	unlock(w);
	return err;
}

/* Appends a pad record so that the stream reaches target alignment + extra. */
static int pad_to(struct llmi_writer *w, uint64_t trailing)
{
	uint64_t r = (pos(w) + trailing) % LLMI_ALIGN, span;
	struct llmi_rec_hdr h;
	struct iovec iov = { (void *)zeros, 0 };
	int err;

	if (!r)
		return 0;
	span = LLMI_ALIGN - r;
	if (span < sizeof(h))
		span += LLMI_ALIGN;
	iov.iov_len = span - sizeof(h);	/* < 4096: sizeof(zeros) */
	llmi_rec_hdr_fill(&h, LLMI_REC_PAD, w->seq, iov.iov_len, llmi_crc32c(0, zeros, iov.iov_len));
	err = emit(w, &h, &iov, 1, iov.iov_len);
	if (err)
		return w->threaded ? err : note_io(w, err);
	w->seq++;
	w->pad_bytes += span;
	return 0;
}

/* Submits the partial extent (thread mode: closes it); the stream position must be aligned. */
static int submit_partial(struct llmi_writer *w)
{
	int err = 0;

	if (w->threaded) {
		if (w->cx && w->fill)
			ext_close(w);
		return 0;
	}
	if (w->cur && w->fill) {
		err = llmi_iow__submit(w->io, w->cur, w->fill, w->cur_off);
		w->cur_off += w->fill;
	} else if (w->cur) {
		llmi_iow__put(w->io, w->cur);
	}
	w->cur = NULL;
	w->fill = 0;
	return err;
}

/* Thread mode: pads and closes the open extent, then waits until the disk has it all. */
static int t_flush(struct llmi_writer *w)
{
	uint64_t target;
	int err;

	pthread_mutex_lock(&w->lock);
	if (!w->err && !w->closed && !w->closing && w->fill) {
		err = pad_to(w, 0);
		if (!err)
			submit_partial(w);
		else
			note_err(w, err);
	}
	target = pos(w);
	wake(w);
	/* after an error: until the writer thread holds no write, so that
	 * llmi_writer__stats() says what is finally on disk */
	while (!w->closed && (w->err ? !w->io_idle : w->acked < target))
		pthread_cond_wait(&w->done, &w->lock);
	err = w->err;
	pthread_mutex_unlock(&w->lock);
	return err;
}

int llmi_writer__flush(struct llmi_writer *w)
{
	int err;

	if (w->threaded)
		return t_flush(w);
	lock(w);
	err = w->err;
	if (!err && w->res_open) {
		unlock(w);
		return -EBUSY;	/* commit or abort the reservation first */
	}
	if (!w->closed) {
		int e;

		if (!err && w->fill) {
			err = pad_to(w, 0);
			if (!err)
				err = submit_partial(w);
		}
		/* also after an error: what was in flight lands or fails now */
		e = llmi_iow__drain(w->io);
		err = note_io(w, err ? err : e);
	}
	unlock(w);
	return err;
}

int llmi_writer__tick(struct llmi_writer *w, uint64_t now_ns)
{
	int err;

	/* the writer thread keeps the interval: nothing to do, and no lock
	 * that an appender's copy could hold */
	if (w->threaded)
		return __atomic_load_n(&w->err, __ATOMIC_ACQUIRE);
	lock(w);
	err = w->err;
	if (w->closed) {
		unlock(w);
		return err;
	}
	if (!err && w->fill && !w->res_open && now_ns >= w->cur_since + w->commit_ns) {
		err = pad_to(w, 0);
		if (!err)
			err = submit_partial(w);
		if (!err)
			w->commits++;
	}
	/*
	 * One fdatasync per interval at most, queued behind the writes: the
	 * consumer never waits for it (measured in benchmarks/io_writer).
	 */
	if (!err && !(w->flags & LLMI_WRITER_NO_SYNC) && pos(w) - w->fill > w->synced_end &&
	    now_ns >= w->last_sync_ns + w->commit_ns) {
		w->synced_end = pos(w) - w->fill;
		w->last_sync_ns = now_ns;
		w->syncs++;
		err = llmi_iow__sync(w->io);
	}
	err = note_io(w, err ? err : llmi_iow__poll(w->io));
	unlock(w);
	return err;
}

/* ---- the writer thread ---- */

/*
 * Extents whose writes are done go back to the spares: a pool buffer is
 * taken again from the iow (the one just released, or another: any will
 * do), memory of our own is kept up to w->keep extents and freed beyond.
 * After a failure nothing more is written: once the iow is idle, every
 * extent is done.
 */
static bool recycle(struct llmi_writer *w)
{
	bool any = false, failed = w->err && !llmi_iow__busy(w->io);

	while (w->sub_head && (failed || w->sub_head->off + w->sub_head->fill <= w->acked)) {
		struct ext *e = w->sub_head;

		w->sub_head = e->next;
		if (!w->sub_head)
			w->sub_tail = &w->sub_head;
		any = true;
		if (e->pool) {
			e->buf = llmi_iow__buf_try(w->io);
			if (!e->buf) {	/* cannot be: the iow released it */
				free(e);
				w->nalloc--;
				continue;
			}
			spare_push(w, e);
		} else if (w->nalloc > w->keep) {
			ext_free(w, e);
		} else {
			spare_push(w, e);
		}
	}
	return any;
}

/* The ready extents at the head of the stream queue, detached in order. */
static struct ext *take_ready(struct llmi_writer *w)
{
	struct ext *head = NULL, **tail = &head;

	while (!w->stalled && ext_ready(w->qhead)) {
		struct ext *e = w->qhead;

		w->qhead = e->next;
		if (!w->qhead)
			w->qtail = NULL;
		e->next = NULL;
		*tail = e;
		tail = &e->next;
	}
	return head;
}

/* Sleeps until woken, a completion, or deadline (llmi_now_ns; UINT64_MAX: none); lock held. */
static void sleep_until(struct llmi_writer *w, uint64_t deadline)
{
	struct pollfd fds[2] = {
		{ .fd = w->wake_fd, .events = POLLIN },
		{ .fd = w->ring_fd, .events = POLLIN },
	};
	uint64_t now = llmi_now_ns(), v;
	int timeout = -1;

	if (deadline != UINT64_MAX) {
		uint64_t ms = deadline <= now ? 0 : (deadline - now + 999999) / 1000000;

		timeout = ms > 3600000 ? 3600000 : (int)ms;	/* then it looks again */
	}
	w->sleeping = true;
	w->sleep_until = deadline;
	pthread_mutex_unlock(&w->lock);
	if (poll(fds, w->ring_fd >= 0 ? 2 : 1, timeout) > 0) {
		if (fds[0].revents && read(w->wake_fd, &v, sizeof(v)) < 0) {
			/* EAGAIN: already read */
		}
		if (fds[1].revents && read(w->ring_fd, &v, sizeof(v)) < 0) {
			/* the same */
		}
	}
	pthread_mutex_lock(&w->lock);
	w->sleeping = false;
	w->sleep_until = 0;
}

/*
 * The only thread that submits to the iow and reaps it (the ring has one
 * submitter, which lives as long as the file, so no write is left to a
 * thread that has exited). Each pass: a commit that is due (pad and close
 * the open extent), the ready extents handed to the iow in stream order,
 * an fdatasync when one is due (at most one per commit interval), the
 * completions reaped, done extents recycled and the appenders waiting for
 * memory woken. Then it sleeps until an appender wakes it, a write
 * completes, or the next commit or sync is due. The lock is not held
 * while it submits, reaps or sleeps.
 */
static void *writer_main(void *arg)
{
	struct llmi_writer *w = arg;
	uint64_t synced_end = w->sub_end, last_sync_ns = 0;
	bool nosync = w->flags & LLMI_WRITER_NO_SYNC;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		uint64_t now = llmi_now_ns(), deadline = UINT64_MAX, acked;
		struct ext *batch;
		bool sync = false, stop, drain;
		int err = 0;

		if (!w->err && !w->closing && w->fill && now >= w->cur_since + w->commit_ns) {
			err = pad_to(w, 0);
			if (!err) {
				submit_partial(w);
				w->commits++;
			} else {
				note_err(w, err);
			}
		}
		batch = take_ready(w);
		for (struct ext *e = batch; e; e = e->next)
			w->sub_end = e->off + e->fill;
		if (!w->err && !nosync && w->sub_end > synced_end && now >= last_sync_ns + w->commit_ns) {
			synced_end = w->sub_end;
			last_sync_ns = now;
			w->syncs++;
			sync = true;
		}
		/* closing: everything placed is closed and handed over by now */
		stop = w->stopping && !ext_ready(w->qhead);
		drain = stop || w->err;
		pthread_mutex_unlock(&w->lock);

		while (batch) {
			struct ext *e = batch;

			batch = e->next;
			e->next = NULL;
			*w->sub_tail = e;
			w->sub_tail = &e->next;
			{	/* after a failure the iow drops it at once (and frees its buffer) */
				int e2 = llmi_iow__submit(w->io, e->buf, e->fill, e->off);

				err = err ? err : e2;
			}
		}
		if (!err && sync)
			err = llmi_iow__sync(w->io);
		if (drain)
			err = err ? err : llmi_iow__drain(w->io);
		else
			err = err ? err : llmi_iow__poll(w->io);
		acked = llmi_iow__acked(w->io);

		pthread_mutex_lock(&w->lock);
		if (err || llmi_iow__error(w->io))
			w->failed_at = llmi_iow__failed_at(w->io);
		note_io(w, err);
		w->acked = acked;
		w->direct_now = llmi_iow__direct(w->io);
		if (recycle(w))
			pthread_cond_broadcast(&w->space);
		w->io_idle = !w->sub_head && !llmi_iow__busy(w->io);
		pthread_cond_broadcast(&w->done);
		if (stop && w->io_idle)
			break;
		if (ext_ready(w->qhead) && !w->stalled)
			continue;
		if (w->err && !w->io_idle)
			continue;	/* drain what is left */
		if (w->fill && !w->closing)
			deadline = w->cur_since + w->commit_ns;
		if (!nosync && w->sub_end > synced_end && last_sync_ns + w->commit_ns < deadline)
			deadline = last_sync_ns + w->commit_ns;
		if (w->stopping && !w->stalled)
			deadline = 0;
		sleep_until(w, deadline);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* Starts the writer thread with every signal blocked: they are the owner's to handle. */
static int t_start(struct llmi_writer *w)
{
	sigset_t all, old;
	int err;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = -pthread_create(&w->thread, NULL, writer_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!err)
		w->thread_on = true;
	return err;
}

/* Ends the writer thread once it has written everything handed to it. */
static void t_stop(struct llmi_writer *w)
{
	pthread_mutex_lock(&w->lock);
	w->stopping = true;
	w->stalled = false;
	w->sleeping = true;	/* wake() writes even if it is between two sleeps */
	wake(w);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	w->thread_on = false;
}

/*
 * After a failure (the iow drained): cut the file after the last record
 * written whole. What was written is the acknowledged prefix, which stops
 * at a failed write, or earlier when the failure was not a write's (then
 * later records were never handed to the disk, and must not be kept).
 */
static void truncate_after_failure(struct llmi_writer *w)
{
	uint64_t at = llmi_iow__acked(w->io), end = LLMI_HEADER_SIZE;

	if (llmi_iow__failed_at(w->io) < at)
		at = llmi_iow__failed_at(w->io);
	if (w->cut_at < at)
		at = w->cut_at;
	for (size_t i = 0; i < w->nidx; i++) {
		uint64_t e = w->idx[i].offset + sizeof(struct llmi_rec_hdr) + w->idx[i].length;

		if (e > at)
			break;
		end = e;
	}
	w->disk_end = end;
	if (ftruncate(w->fd, end) == 0)
		fprintf(stderr, "%s: kept %llu bytes: the header and every record written before the failure\n",
			w->path, (unsigned long long)end);
}

/* The summary, index and trailer (lock held). */
static int append_tail(struct llmi_writer *w)
{
	struct iovec iov;
	struct timespec ts;
	int err;

	clock_gettime(CLOCK_REALTIME, &ts);
	w->sum.closed_realtime_ns = (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
	w->summary_off = pos(w);
	{
		/* Counted before appending itself, so it says "data records". */
		struct llmi_summary_rec s = w->sum;

		iov = (struct iovec){ &s, sizeof(s) };
		err = append_locked(w, LLMI_REC_SUMMARY, &iov, 1, (struct rec_note){ 0 });
		if (!err) {
			w->sum.records--;
			w->sum.payload_bytes -= sizeof(s);
		}
	}
	if (!err) {
		struct llmi_index_rec ir = { .count = w->nidx };
		struct iovec iov2[2] = {
			{ &ir, sizeof(ir) },
			{ w->idx, w->nidx * sizeof(*w->idx) },
		};
		uint64_t ioff = pos(w);
		struct llmi_trailer_rec tr = { .index_offset = ioff };
		struct iovec tiov = { &tr, sizeof(tr) };

		err = append_locked(w, LLMI_REC_INDEX, iov2, 2, (struct rec_note){ 0 });
		if (!err)
			err = pad_to(w, LLMI_TRAILER_TOTAL);
		if (!err) {
			memcpy(tr.magic, LLMI_TRAILER_MAGIC, 8);
			tr.index_offset = ioff;
			tr.summary_offset = w->summary_off;
			tr.records = w->nidx;
			err = append_locked(w, LLMI_REC_TRAILER, &tiov, 1, (struct rec_note){ 0 });
		}
	}
	return err;
}

/*
 * Thread mode: new appends are refused (EBADF) from here on, appenders
 * waiting for memory return EBADF, those copying are waited for; then the
 * tail goes out and the writer thread ends once it has written all.
 */
static int t_close(struct llmi_writer *w)
{
	int err;

	pthread_mutex_lock(&w->lock);
	if (w->closing) {
		while (!w->closed)
			pthread_cond_wait(&w->done, &w->lock);
		pthread_mutex_unlock(&w->lock);
		return w->err;
	}
	w->closing = true;
	w->stalled = false;
	pthread_cond_broadcast(&w->space);
	while (w->active)
		pthread_cond_wait(&w->done, &w->lock);
	err = w->err;
	if (!err)
		err = append_tail(w);
	if (!err) {
		submit_partial(w);	/* the trailer ends on a block */
	} else {
		/* a reservation given up (t_abort), the disk fine: what
		 * came before it is written, the file cut after it */
		if (w->cut_at != UINT64_MAX && w->fill && !pad_to(w, 0))
			submit_partial(w);
		note_err(w, err);
	}
	pthread_mutex_unlock(&w->lock);
	t_stop(w);

	/* the writer thread is gone: the iow is ours */
	err = note_io(w, 0);
	if (!err && fsync(w->fd))
		err = note_err(w, -errno);
	pthread_mutex_lock(&w->lock);
	if (err)
		truncate_after_failure(w);
	w->acked = llmi_iow__acked(w->io);
	w->closed = true;
	pthread_cond_broadcast(&w->done);
	pthread_mutex_unlock(&w->lock);
	return err;
}

int llmi_writer__close(struct llmi_writer *w)
{
	int err;

	if (w->threaded)
		return t_close(w);
	lock(w);
	if (w->closed) {
		unlock(w);
		return w->err;
	}
	w->res_open = false;	/* a reservation not committed is dropped (writer.h) */
	err = w->err;
	if (!err)
		err = append_tail(w);
	if (!err)
		err = submit_partial(w);
	else if (w->cur)
		llmi_iow__put(w->io, w->cur), w->cur = NULL;
	{
		int e = llmi_iow__drain(w->io);

		err = note_io(w, err ? err : e);
	}
	if (!err && fsync(w->fd))
		err = note_err(w, -errno);
	if (err)
		truncate_after_failure(w);
	w->closed = true;
	unlock(w);
	return err;
}

static void free_list(struct llmi_writer *w, struct ext *e)
{
	while (e) {
		struct ext *n = e->next;

		if (e->pool) {	/* the iow's memory, freed with it */
			free(e);
			w->nalloc--;
		} else {
			ext_free(w, e);
		}
		e = n;
	}
}

void llmi_writer__free(struct llmi_writer *w)
{
	if (!w)
		return;
	if (w->io && !w->closed)
		llmi_writer__close(w);
	if (w->thread_on)	/* cannot be: close ended it */
		t_stop(w);
	if (w->io)
		llmi_iow__free(w->io);
	free_list(w, w->qhead);
	free_list(w, w->sub_head);
	free_list(w, w->spare_pool);
	free_list(w, w->spare_own);
	if (w->wake_fd >= 0)
		close(w->wake_fd);
	if (w->fd >= 0)
		close(w->fd);
	pthread_mutex_destroy(&w->lock);
	if (w->threaded) {
		pthread_cond_destroy(&w->space);
		pthread_cond_destroy(&w->done);
	}
	free(w->idx);
	free(w->notes);
	free(w->path);
	free(w);
}

/* Moves the on-disk totals up to the acknowledged prefix. */
static void count_disk(struct llmi_writer *w)
{
	uint64_t acked = w->threaded ? w->acked : llmi_iow__acked(w->io);

	if (acked > w->disk_end)
		acked = w->disk_end;

	for (; w->disk_idx < w->nidx; w->disk_idx++) {
		const struct llmi_index_ent *e = &w->idx[w->disk_idx];
		const struct rec_note *n = &w->notes[w->disk_idx];

		if (e->offset + sizeof(struct llmi_rec_hdr) + e->length > acked)
			break;
		if (e->type != LLMI_REC_SUMMARY)
			w->disk.records++;
		if (e->type == LLMI_REC_TENSOR) {
			w->disk.tensors++;
		} else if (e->type == LLMI_REC_EVENTS) {
			w->disk.event_batches++;
			w->disk.events += n->count;
		} else if (e->type == LLMI_REC_STRINGS && n->kind < 4) {
			w->disk.strings[n->kind] += n->count;
		}
	}
	w->disk.bytes = acked;
}

void llmi_writer__stats(struct llmi_writer *w, struct llmi_writer_stats *st)
{
	lock(w);
	memset(st, 0, sizeof(*st));
	if (!w->closed && !w->threaded)
		note_io(w, llmi_iow__poll(w->io));	/* completions the kernel has posted count */
	count_disk(w);
	st->disk = w->disk;
	st->commits = w->commits;
	st->syncs = w->syncs;
	st->pad_bytes = w->pad_bytes;
	st->records = w->sum.records;
	st->bytes = pos(w);
	st->sum = w->sum;
	st->error = w->err;
	if (w->threaded) {
		st->backend = w->backend;
		st->direct = w->direct_now;
		st->threaded = 1;
		st->mem_bytes = (uint64_t)w->nalloc * w->ext;
		st->mem_peak = w->mem_peak;
		st->mem_limit = w->limit;
		st->held_bytes = pos(w) - (w->acked < pos(w) ? w->acked : pos(w));
		st->space_waits = w->space_waits;
		st->space_wait_ns = w->space_wait_ns;
		st->waiting = w->waiting;
	} else {
		st->backend = llmi_iow__backend(w->io);
		st->direct = llmi_iow__direct(w->io);
		st->mem_bytes = st->mem_peak = (uint64_t)w->nalloc * w->ext;
	}
	unlock(w);
}

void llmi_writer__stall(struct llmi_writer *w, bool on)
{
	if (!w->threaded)
		return;
	pthread_mutex_lock(&w->lock);
	w->stalled = on && !w->closing;
	wake(w);
	pthread_mutex_unlock(&w->lock);
}

/*
 * The file is made by io/outfile.c (exclusive, no link followed, locked
 * while we write it); some filesystems refuse O_DIRECT at open.
 */
static int create_file(const char *path, unsigned flags, bool *direct)
{
	unsigned of = flags & LLMI_WRITER_OVERWRITE ? LLMI_OUT_FORCE : 0;
	int fd = llmi_out_create(path, *direct ? O_DIRECT : 0, of);

	if (fd == -EINVAL && *direct) {
		*direct = false;
		if (!(flags & LLMI_WRITER_QUIET))
			fprintf(stderr, "note: %s: the filesystem refused O_DIRECT; writing buffered\n",
				path);
		fd = llmi_out_create(path, 0, of);
	}
	return fd;
}

/* Thread mode: the pool's buffers become spare extents, and the thread starts. */
static int t_init(struct llmi_writer *w)
{
	void *b;
	int err;

	w->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->wake_fd < 0)
		return -errno;
	w->ring_fd = llmi_iow__notify_fd(w->io);
	if (w->ring_fd < -1)
		return w->ring_fd;
	while ((b = llmi_iow__buf_try(w->io))) {
		struct ext *e = ext_new(w, b);

		if (!e) {
			llmi_iow__put(w->io, b);
			return -ENOMEM;
		}
		spare_push(w, e);
		w->npool++;
	}
	/* own extents kept for reuse: what the limit lets tensors fill, and the open one */
	w->keep = (unsigned)((w->limit + w->ext - 1) / w->ext + 1);
	if (w->keep < w->npool)
		w->keep = w->npool;
	w->backend = llmi_iow__backend(w->io);
	w->direct_now = llmi_iow__direct(w->io);
	w->acked = w->sub_end = w->cur_off;
	w->io_idle = true;
	w->sub_tail = &w->sub_head;
	err = t_start(w);
	return err;
}

struct llmi_writer *llmi_writer__new(const char *path, const struct llmi_writer_opts *uopts)
{
	struct llmi_writer_opts opts = { .sz = sizeof(opts), .owner_uid = (uid_t)-1,
					 .owner_gid = (gid_t)-1 };
	struct llmi_iow_opts io = { .sz = sizeof(io) };
	struct llmi_file_header *fh;
	struct timespec rt, mt;
	bool direct;
	uint8_t *hb;
	int err;
	struct llmi_writer *w;

	if (uopts) {
		/* an older caller's smaller struct: the fields it lacks stay 0 */
		if (uopts->sz < offsetof(struct llmi_writer_opts, mem_limit)) {
			errno = EINVAL;
			return NULL;
		}
		memcpy(&opts, uopts, uopts->sz < sizeof(opts) ? uopts->sz : sizeof(opts));
	}
	if (!opts.extent_size)
		opts.extent_size = LLMI_DEFAULT_EXTENT;
	if (!opts.nr_extents)
		opts.nr_extents = 8;
	if (!opts.commit_ms)
		opts.commit_ms = LLMI_WRITER_COMMIT_MS;
	if (opts.extent_size % LLMI_ALIGN || opts.extent_size < LLMI_HEADER_SIZE) {
		errno = EINVAL;
		return NULL;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->fd = -1;
	w->wake_fd = -1;
	w->ring_fd = -1;
	w->disk_end = UINT64_MAX;
	w->cut_at = UINT64_MAX;
	w->failed_at = UINT64_MAX;
	w->flags = opts.flags;
	w->threaded = opts.flags & LLMI_WRITER_THREAD;
	w->ext = opts.extent_size;
	w->commit_ns = opts.commit_ms * 1000000ull;
	pthread_mutex_init(&w->lock, NULL);
	if (w->threaded) {
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_cond_init(&w->space, &ca);
		pthread_cond_init(&w->done, &ca);
		pthread_condattr_destroy(&ca);
	}
	w->path = strdup(path);
	if (!w->path) {
		err = -ENOMEM;
		goto fail;
	}
	direct = !(opts.flags & LLMI_WRITER_NO_DIRECT);
	w->fd = create_file(path, opts.flags, &direct);
	if (w->fd < 0) {
		err = w->fd;
		w->fd = -1;
		goto fail;
	}
	if (opts.owner_uid != (uid_t)-1 && fchown(w->fd, opts.owner_uid, opts.owner_gid)) {
		err = -errno;
		goto fail_unlink;
	}
	io.buf_size = w->ext;
	io.nr_bufs = opts.nr_extents;
	if (w->threaded) {
		/*
		 * Registered extents write faster than our own (no pages pinned
		 * per write: benchmarks/io_writer): the pool covers what
		 * tensors may fill, the limit and the open extent, up to
		 * POOL_MAX; own memory is for events past the limit.
		 */
		uint64_t want;

		w->limit = opts.mem_limit ? opts.mem_limit : 2ull * opts.nr_extents * w->ext;
		want = (w->limit + w->ext - 1) / w->ext + 1;
		if (want > POOL_MAX)
			want = POOL_MAX;
		if (want > io.nr_bufs)
			io.nr_bufs = want;
	}
	io.direct = direct;
	io.name = path;
	io.flags = (opts.flags & LLMI_WRITER_NO_URING ? LLMI_IOW_NO_URING : 0) |
		   (opts.flags & LLMI_WRITER_NO_REGISTER ? LLMI_IOW_NO_REGISTER : 0);
	w->io = llmi_iow__new(w->fd, &io);
	if (!w->io) {
		err = -errno;
		goto fail_unlink;
	}

	hb = llmi_iow__buf(w->io);
	if (!hb) {
		err = -errno;
		goto fail_unlink;
	}
	memset(hb, 0, LLMI_HEADER_SIZE);
	fh = (struct llmi_file_header *)hb;
	memcpy(fh->magic, LLMI_FILE_MAGIC, 8);
	fh->version_major = LLMI_VERSION_MAJOR;
	fh->version_minor = LLMI_VERSION_MINOR;
	fh->header_size = LLMI_HEADER_SIZE;
	fh->extent_size = w->ext;
	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_MONOTONIC, &mt);
	fh->created_realtime_ns = (uint64_t)rt.tv_sec * 1000000000ull + rt.tv_nsec;
	fh->created_monotonic_ns = (uint64_t)mt.tv_sec * 1000000000ull + mt.tv_nsec;
	fh->realtime_offset_ns = (int64_t)(fh->created_realtime_ns - fh->created_monotonic_ns);
	fh->writer_pid = getpid();
	fh->rank = opts.has_rank ? opts.rank : LLMI_NO_RANK;
	fh->world_size = opts.has_rank ? opts.world_size : LLMI_NO_RANK;
	fh->local_rank = opts.has_rank ? opts.local_rank : LLMI_NO_RANK;
	gethostname(fh->host, sizeof(fh->host) - 1);
	snprintf(fh->writer, sizeof(fh->writer), "%s", opts.writer ? opts.writer : "llminstr");
	llmi_file_header_seal(fh);
	err = llmi_iow__submit(w->io, hb, LLMI_HEADER_SIZE, 0);
	if (!err)
		err = llmi_iow__drain(w->io);
	if (err)
		goto fail_unlink;
	w->cur_off = LLMI_HEADER_SIZE;
	w->synced_end = LLMI_HEADER_SIZE;
	if (w->threaded) {
		err = t_init(w);
		if (err)
			goto fail_unlink;
	} else {
		w->nalloc = opts.nr_extents;
	}
	return w;
fail_unlink:
	unlink(path);
fail:
	w->closed = true;	/* nothing to close: free only frees */
	llmi_writer__free(w);
	errno = -err;
	return NULL;
}
