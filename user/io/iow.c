// SPDX-License-Identifier: MIT
/*
 * The write path under the container writer (iow.h). It is hot: every
 * captured byte passes through it once, at up to disk speed, from the
 * tracer's consumer thread. So the buffers are allocated once (one aligned
 * region, registered with the ring when allowed so the kernel need not pin
 * pages per write), a buffer is found free in O(1) from a stack, completions
 * are reaped in batches, and nothing locks.
 *
 * Writes run one at a time, in the order they were submitted: the others
 * wait in a FIFO here and the next one goes to the kernel as soon as a
 * call here sees the previous one complete. So a process killed (SIGKILL,
 * OOM) leaves the file a prefix of the stream, never a written extent
 * after an unwritten one, which a reader would have to call damage. Two
 * other ways were tried and rejected: writes in flight together complete
 * in any order (holes), and IOSQE_IO_DRAIN, which orders them in the
 * kernel, leaves a deferred write to the submitting thread's task work, so
 * it fails (ECANCELED, EFAULT) once that thread has exited, which the
 * LLMI_WRITER_LOCKED writers' threads do. One write in flight costs little
 * for 1 MiB appends (ext4 takes the inode lock for each appending O_DIRECT
 * write anyway): benchmarks/io_writer measures the writer against
 * unordered io_uring at depth 8 on the disk at hand. The caller still has
 * every other buffer to fill while a write runs.
 *
 * An fdatasync (llmi_iow__sync) is not in that FIFO: it waits until the
 * writes submitted before it are acknowledged, then runs beside the next
 * writes, so a slow one (hundreds of ms on a busy disk, see
 * benchmarks/io_writer) delays no write.
 *
 * A short write is requeued for its remainder (as liburing's io_uring-cp
 * does), ahead of the FIFO. A write the kernel cancelled (ECANCELED: its
 * submitting thread exited before io_uring's worker started it) is
 * submitted again. A filesystem that refuses O_DIRECT at write time
 * (EINVAL) gets the descriptor switched to buffered I/O once, with a
 * one-line note, and the write is retried.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include "io/iow.h"

#define CQE_BATCH 16
/* user_data of the fdatasync; writes carry their operation's number */
#define SYNC_TAG UINT64_MAX

struct slot {
	bool busy;		/* taken from the free stack */
	bool queued;		/* submitted, its write not yet complete */
};

/* A write: of a pool buffer (slot >= 0) or of memory the caller keeps (-1). */
struct op {
	uint8_t *p;
	size_t len;
	size_t done;
	uint64_t off;
	uint64_t id;		/* user_data of its SQE */
	int slot;
};

struct llmi_iow {
	int fd;
	bool direct;
	bool uring;
	bool fixed;
	struct io_uring ring;
	uint8_t *base;		/* nr * buf_size, 4096-aligned */
	size_t buf_size;
	unsigned nr;
	struct slot *slots;
	unsigned *free_stack;
	unsigned nfree;
	/* writes in submission order; fifo[head] is in flight when running */
	struct op *fifo;
	unsigned head, count, cap;	/* ring of cap, grown for the caller's buffers */
	uint64_t next_id;
	bool running;
	int notify_fd;		/* eventfd registered with the ring, -1: none yet */
	uint64_t sync_want;	/* an fdatasync is due once acked reaches this */
	uint64_t sync_asked;	/* what the sync in flight, or the last one, covers */
	bool sync_running;
	int err;
	uint64_t failed_at;
	uint64_t submitted_end;	/* highest end of a write handed to us */
	char name[128];
};

static void release(struct llmi_iow *w, unsigned idx)
{
	w->slots[idx].busy = false;
	w->slots[idx].queued = false;
	w->free_stack[w->nfree++] = idx;
}

static void fail(struct llmi_iow *w, const struct op *o, int err)
{
	if (!w->err)
		w->err = err;
	if (o->off + o->done < w->failed_at)
		w->failed_at = o->off + o->done;
	if (o->slot >= 0)
		release(w, o->slot);
}

static void done_op(struct llmi_iow *w, const struct op *o)
{
	if (o->slot >= 0)
		release(w, o->slot);
}

static void drop_direct(struct llmi_iow *w)
{
	int fl = fcntl(w->fd, F_GETFL);

	if (fl >= 0 && fcntl(w->fd, F_SETFL, fl & ~O_DIRECT) == 0) {
		fprintf(stderr, "note: %s: the filesystem refused O_DIRECT; writing buffered\n", w->name);
		w->direct = false;
	}
}

/* Removes the operation at the head; after an error, fails those behind it. */
static void pop(struct llmi_iow *w)
{
	w->running = false;
	w->head = (w->head + 1) % w->cap;
	w->count--;
	/* After a failure nothing more is written: the file must stay a
	 * prefix of the stream (the writer truncates at failed_at). */
	while (w->err && w->count) {
		fail(w, &w->fifo[w->head], w->err);
		w->head = (w->head + 1) % w->cap;
		w->count--;
	}
}

static int submit_sqe(struct llmi_iow *w)
{
	int ret;

	do
		ret = io_uring_submit(&w->ring);
	while (ret == -EINTR);
	return ret < 0 ? ret : 0;
}

/* Hands the head of the FIFO to the kernel unless a write runs; 0 or -errno. */
static int start(struct llmi_iow *w)
{
	struct io_uring_sqe *sqe;
	struct op *o;
	int ret;

	if (w->running || !w->count)
		return 0;
	o = &w->fifo[w->head];
	sqe = io_uring_get_sqe(&w->ring);
	if (!sqe)
		return -EBUSY;	/* cannot be: two SQEs at most at a time */
	if (w->fixed && o->slot >= 0)
		io_uring_prep_write_fixed(sqe, w->fd, o->p + o->done, o->len - o->done,
					  o->off + o->done, o->slot);
	else
		io_uring_prep_write(sqe, w->fd, o->p + o->done, o->len - o->done, o->off + o->done);
	io_uring_sqe_set_data64(sqe, o->id);
	ret = submit_sqe(w);
	if (!ret)
		w->running = true;
	return ret;
}

/* Starts the fdatasync that is due once what it covers is acknowledged. */
static void start_sync(struct llmi_iow *w)
{
	struct io_uring_sqe *sqe;
	int ret;

	if (w->err || w->sync_running || w->sync_want <= w->sync_asked ||
	    llmi_iow__acked(w) < w->sync_want)
		return;
	sqe = io_uring_get_sqe(&w->ring);
	if (!sqe)
		return;
	io_uring_prep_fsync(sqe, w->fd, IORING_FSYNC_DATASYNC);
	io_uring_sqe_set_data64(sqe, SYNC_TAG);
	ret = submit_sqe(w);
	if (ret) {
		if (!w->err)
			w->err = ret;
		return;
	}
	w->sync_running = true;
	w->sync_asked = w->sync_want;
}

static void sync_done(struct llmi_iow *w, int res)
{
	w->sync_running = false;
	if (res == -ECANCELED || res == -EINTR || res == -EAGAIN)
		w->sync_asked = 0;	/* not done: asked again */
	else if (res < 0 && !w->err)	/* what was written may not be on stable storage */
		w->err = res;
}

/* The operation in flight completed with res. */
static void complete(struct llmi_iow *w, uint64_t id, int res)
{
	struct op *s;

	if (!w->running || id != w->fifo[w->head].id)
		return;
	w->running = false;
	s = &w->fifo[w->head];
	if (res == -EINVAL && w->direct && s->done == 0) {
		drop_direct(w);
		res = w->direct ? -EINVAL : -EAGAIN;
	}
	if (res == -EAGAIN || res == -EINTR || res == -ECANCELED)
		return;		/* not written: started again */
	if (res <= 0) {
		fail(w, s, res ? res : -EIO);
		pop(w);
		return;
	}
	s->done += res;
	if (s->done < s->len)
		return;		/* short write: the remainder is started again */
	done_op(w, s);
	pop(w);
}

/* Reaps completions and starts what is next; waits for one if wait. */
static int reap(struct llmi_iow *w, bool wait)
{
	struct io_uring_cqe *cqes[CQE_BATCH];
	unsigned n;
	int ret;

	if (wait && (w->running || w->sync_running)) {
		struct io_uring_cqe *cqe;

		ret = io_uring_wait_cqe(&w->ring, &cqe);
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN)
			return ret;
	}
	do {
		n = io_uring_peek_batch_cqe(&w->ring, cqes, CQE_BATCH);
		for (unsigned i = 0; i < n; i++) {
			uint64_t tag = io_uring_cqe_get_data64(cqes[i]);

			if (tag == SYNC_TAG)
				sync_done(w, cqes[i]->res);
			else
				complete(w, tag, cqes[i]->res);
		}
		io_uring_cq_advance(&w->ring, n);
	} while (n == CQE_BATCH);
	ret = start(w);
	if (ret) {	/* the kernel refused the submission itself */
		if (!w->err)
			w->err = ret;
		fail(w, &w->fifo[w->head], ret);
		pop(w);
	}
	start_sync(w);
	return 0;
}

/* Something to wait for: a write, or a sync in flight or due. */
static bool busy(const struct llmi_iow *w)
{
	return w->count || w->sync_running || (!w->err && w->sync_want > w->sync_asked);
}

/* Room for one more operation: the ring grows (in order) past the pool. */
static int fifo_room(struct llmi_iow *w)
{
	struct op *n;
	unsigned cap;

	if (w->count < w->cap)
		return 0;
	cap = w->cap * 2;
	n = malloc(cap * sizeof(*n));
	if (!n)
		return -ENOMEM;
	for (unsigned i = 0; i < w->count; i++)
		n[i] = w->fifo[(w->head + i) % w->cap];
	free(w->fifo);
	w->fifo = n;
	w->cap = cap;
	w->head = 0;
	return 0;
}

/* Puts an operation at the tail of the FIFO and starts it if nothing runs. */
static int enqueue(struct llmi_iow *w, const struct op *o)
{
	struct op *t = &w->fifo[(w->head + w->count) % w->cap];

	*t = *o;
	t->id = w->next_id++;
	w->count++;
	reap(w, false);
	return w->err;
}

static bool uring_usable(struct io_uring *ring)
{
	struct io_uring_probe *p = io_uring_get_probe_ring(ring);
	bool ok;

	if (!p)
		return false;
	ok = io_uring_opcode_supported(p, IORING_OP_WRITE) &&
	     io_uring_opcode_supported(p, IORING_OP_WRITE_FIXED) &&
	     io_uring_opcode_supported(p, IORING_OP_FSYNC);
	io_uring_free_probe(p);
	return ok;
}

struct llmi_iow *llmi_iow__new(int fd, const struct llmi_iow_opts *opts)
{
	struct llmi_iow *w;
	int err;

	if (!opts || opts->sz < sizeof(*opts) || !opts->nr_bufs || !opts->buf_size ||
	    opts->buf_size % 4096) {
		errno = EINVAL;
		return NULL;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->fd = fd;
	w->direct = opts->direct;
	w->nr = opts->nr_bufs;
	w->buf_size = opts->buf_size;
	w->failed_at = UINT64_MAX;
	w->notify_fd = -1;
	w->cap = w->nr;
	snprintf(w->name, sizeof(w->name), "%s", opts->name ? opts->name : "output");
	w->slots = calloc(w->nr, sizeof(*w->slots));
	w->free_stack = calloc(w->nr, sizeof(*w->free_stack));
	w->fifo = calloc(w->cap, sizeof(*w->fifo));
	if (!w->slots || !w->free_stack || !w->fifo) {
		err = -ENOMEM;
		goto fail;
	}
	err = -posix_memalign((void **)&w->base, 4096, (size_t)w->nr * w->buf_size);
	if (err) {
		w->base = NULL;
		goto fail;
	}
	for (unsigned i = 0; i < w->nr; i++)
		w->free_stack[w->nfree++] = w->nr - 1 - i;

	if (!(opts->flags & LLMI_IOW_NO_URING)) {
		/* Probe by trying: a kernel or sandbox without io_uring
		 * (ENOSYS, EPERM with io_uring_disabled) gets pwrite. One
		 * operation is in flight at a time: a small ring does. */
		err = io_uring_queue_init(8, &w->ring, 0);
		if (err == 0 && uring_usable(&w->ring)) {
			w->uring = true;
		} else {
			if (err == 0)
				io_uring_queue_exit(&w->ring);
			fprintf(stderr, "note: %s: io_uring unavailable (%s); writing with pwrite\n",
				w->name, err ? strerror(-err) : "no write opcodes");
		}
	}
	if (w->uring && !(opts->flags & LLMI_IOW_NO_REGISTER)) {
		struct iovec *iov = calloc(w->nr, sizeof(*iov));

		if (iov) {
			for (unsigned i = 0; i < w->nr; i++) {
				iov[i].iov_base = w->base + (size_t)i * w->buf_size;
				iov[i].iov_len = w->buf_size;
			}
			/* Fails with ENOMEM under a small RLIMIT_MEMLOCK without
			 * CAP_IPC_LOCK: plain writes work as well, a bit slower. */
			w->fixed = io_uring_register_buffers(&w->ring, iov, w->nr) == 0;
			free(iov);
		}
	}
	return w;
fail:
	llmi_iow__free(w);
	errno = -err;
	return NULL;
}

void llmi_iow__free(struct llmi_iow *w)
{
	if (!w)
		return;
	if (w->uring) {
		llmi_iow__drain(w);
		if (w->fixed)
			io_uring_unregister_buffers(&w->ring);
		io_uring_queue_exit(&w->ring);
	}
	if (w->notify_fd >= 0)
		close(w->notify_fd);
	free(w->base);
	free(w->slots);
	free(w->free_stack);
	free(w->fifo);
	free(w);
}

static void *take(struct llmi_iow *w)
{
	unsigned idx = w->free_stack[--w->nfree];

	w->slots[idx].busy = true;
	return w->base + (size_t)idx * w->buf_size;
}

void *llmi_iow__buf_try(struct llmi_iow *w)
{
	return w->nfree ? take(w) : NULL;
}

void *llmi_iow__buf(struct llmi_iow *w)
{
	while (!w->nfree) {
		int err;

		if (!w->uring || !w->count) {
			errno = EBUSY;	/* all buffers held by the caller */
			return NULL;
		}
		err = reap(w, true);
		if (err) {
			errno = -err;
			return NULL;
		}
	}
	return take(w);
}

/* The pool index of buf, or nr when buf is the caller's own memory. */
static unsigned slot_of(struct llmi_iow *w, const void *buf)
{
	const uint8_t *p = buf;

	if (p < w->base || p >= w->base + (size_t)w->nr * w->buf_size)
		return w->nr;
	return (unsigned)((p - w->base) / w->buf_size);
}

void llmi_iow__put(struct llmi_iow *w, void *buf)
{
	unsigned idx = slot_of(w, buf);

	if (idx < w->nr && w->slots[idx].busy && !w->slots[idx].queued)
		release(w, idx);
}

int llmi_iow__submit(struct llmi_iow *w, void *buf, size_t len, uint64_t off)
{
	unsigned idx = slot_of(w, buf);
	struct op o = { .p = buf, .len = len, .off = off, .slot = idx < w->nr ? (int)idx : -1 };
	int err;

	if (idx < w->nr && (!w->slots[idx].busy || w->slots[idx].queued || len > w->buf_size ||
			    buf != w->base + (size_t)idx * w->buf_size))
		return -EINVAL;
	if (w->err) {
		/* After a failure nothing more is written: the file must stay
		 * a prefix of the stream (the writer truncates at failed_at). */
		if (off < w->failed_at)
			w->failed_at = off;
		if (o.slot >= 0)
			release(w, idx);
		return w->err;
	}
	if (w->uring) {
		err = fifo_room(w);
		if (err) {	/* not written: nothing after it may be */
			fail(w, &o, err);
			return err;
		}
	}
	if (off + len > w->submitted_end)
		w->submitted_end = off + len;
	if (!w->uring) {
		while (o.done < len) {
			ssize_t n = pwrite(w->fd, o.p + o.done, len - o.done, off + o.done);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno == EINVAL && w->direct && o.done == 0) {
				drop_direct(w);
				if (!w->direct)
					continue;
			}
			if (n <= 0) {
				err = n < 0 ? -errno : -EIO;
				fail(w, &o, err);
				return err;
			}
			o.done += n;
		}
		done_op(w, &o);
		return 0;
	}
	if (o.slot >= 0)
		w->slots[idx].queued = true;
	return enqueue(w, &o);
}

int llmi_iow__drain(struct llmi_iow *w)
{
	while (w->uring && busy(w)) {
		int err = reap(w, true);

		if (err) {
			if (!w->err)
				w->err = err;
			break;
		}
	}
	return w->err;
}

int llmi_iow__poll(struct llmi_iow *w)
{
	if (w->uring && busy(w))
		reap(w, false);
	return w->err;
}

int llmi_iow__sync(struct llmi_iow *w)
{
	if (w->err)
		return w->err;
	if (!w->uring) {
		if (fdatasync(w->fd))
			w->err = -errno;
		return w->err;
	}
	w->sync_want = w->submitted_end;
	reap(w, false);
	return w->err;
}

uint64_t llmi_iow__acked(const struct llmi_iow *w)
{
	uint64_t end = w->submitted_end < w->failed_at ? w->submitted_end : w->failed_at;

	for (unsigned i = 0; i < w->count; i++) {
		const struct op *o = &w->fifo[(w->head + i) % w->cap];

		if (o->off + o->done < end)
			end = o->off + o->done;
	}
	return end;
}

bool llmi_iow__busy(const struct llmi_iow *w)
{
	return w->uring && busy(w);
}

int llmi_iow__notify_fd(struct llmi_iow *w)
{
	int fd, err;

	if (!w->uring)
		return -1;
	if (w->notify_fd >= 0)
		return w->notify_fd;
	fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fd < 0)
		return -errno;
	err = io_uring_register_eventfd(&w->ring, fd);
	if (err) {
		close(fd);
		return err;
	}
	w->notify_fd = fd;
	return fd;
}

int llmi_iow__error(const struct llmi_iow *w)
{
	return w->err;
}

uint64_t llmi_iow__failed_at(const struct llmi_iow *w)
{
	return w->failed_at;
}

const char *llmi_iow__backend(const struct llmi_iow *w)
{
	return !w->uring ? "pwrite" : w->fixed ? "io_uring+fixed" : "io_uring";
}

bool llmi_iow__direct(const struct llmi_iow *w)
{
	return w->direct;
}
