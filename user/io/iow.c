// SPDX-License-Identifier: MIT
/*
 * The write path under the container writer (iow.h). It is hot: every
 * captured byte passes through it once, at up to disk speed, from the
 * tracer's consumer thread. So the buffers are allocated once (one aligned
 * region, registered with the ring when allowed so the kernel need not pin
 * pages per write), a buffer is found free in O(1) from a stack, SQEs are
 * submitted in batches and CQEs reaped in batches, and nothing locks.
 *
 * Completions come in any order; a short write is requeued for its
 * remainder (as liburing's io_uring-cp does). A filesystem that refuses
 * O_DIRECT at write time (EINVAL) gets the descriptor switched to buffered
 * I/O once, with a one-line note, and the write is retried.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "io/iow.h"

#define CQE_BATCH 16

struct slot {
	size_t len;
	size_t done;
	uint64_t off;
	bool busy;
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
	unsigned inflight;	/* SQEs prepared or submitted, not yet completed */
	unsigned unsubmitted;
	unsigned batch;
	int err;
	uint64_t failed_at;
	char name[128];
};

static void release(struct llmi_iow *w, unsigned idx)
{
	w->slots[idx].busy = false;
	w->free_stack[w->nfree++] = idx;
}

static void fail(struct llmi_iow *w, unsigned idx, int err)
{
	struct slot *s = &w->slots[idx];

	if (!w->err)
		w->err = err;
	if (s->off + s->done < w->failed_at)
		w->failed_at = s->off + s->done;
	release(w, idx);
}

/* Prepares the write of what is left of slot idx; 0 or -errno. */
static int queue(struct llmi_iow *w, unsigned idx)
{
	struct slot *s = &w->slots[idx];
	uint8_t *p = w->base + (size_t)idx * w->buf_size + s->done;
	struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);

	if (!sqe) {
		int ret = io_uring_submit(&w->ring);

		if (ret < 0)
			return ret;
		w->unsubmitted = 0;
		sqe = io_uring_get_sqe(&w->ring);
		if (!sqe)
			return -EBUSY;
	}
	if (w->fixed)
		io_uring_prep_write_fixed(sqe, w->fd, p, s->len - s->done, s->off + s->done, idx);
	else
		io_uring_prep_write(sqe, w->fd, p, s->len - s->done, s->off + s->done);
	io_uring_sqe_set_data64(sqe, idx);
	w->unsubmitted++;
	return 0;
}

static void drop_direct(struct llmi_iow *w)
{
	int fl = fcntl(w->fd, F_GETFL);

	if (fl >= 0 && fcntl(w->fd, F_SETFL, fl & ~O_DIRECT) == 0) {
		fprintf(stderr, "note: %s: the filesystem refused O_DIRECT; writing buffered\n", w->name);
		w->direct = false;
	}
}

static void complete(struct llmi_iow *w, unsigned idx, int res)
{
	struct slot *s = &w->slots[idx];
	int err;

	if (idx >= w->nr || !s->busy)
		return;
	if (res == -EINVAL && w->direct && s->done == 0) {
		drop_direct(w);
		if (w->direct) {
			fail(w, idx, res);
			w->inflight--;
			return;
		}
		res = -EAGAIN;
	}
	if (res == -EAGAIN || res == -EINTR) {
		err = queue(w, idx);
		if (err) {
			fail(w, idx, err);
			w->inflight--;
		}
		return;
	}
	if (res <= 0) {
		fail(w, idx, res ? res : -EIO);
		w->inflight--;
		return;
	}
	s->done += res;
	if (s->done < s->len) {
		/* Short write: requeue the remainder. */
		err = queue(w, idx);
		if (err) {
			fail(w, idx, err);
			w->inflight--;
		}
		return;
	}
	release(w, idx);
	w->inflight--;
}

/* Submits what is prepared and reaps completions; waits for one if wait. */
static int reap(struct llmi_iow *w, bool wait)
{
	struct io_uring_cqe *cqes[CQE_BATCH];
	unsigned n;
	int ret;

	if (w->unsubmitted || wait) {
		ret = io_uring_submit_and_wait(&w->ring, wait ? 1 : 0);
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY)
			return ret;
		if (ret >= 0)
			w->unsubmitted = 0;
	}
	do {
		n = io_uring_peek_batch_cqe(&w->ring, cqes, CQE_BATCH);
		for (unsigned i = 0; i < n; i++)
			complete(w, (unsigned)io_uring_cqe_get_data64(cqes[i]), cqes[i]->res);
		io_uring_cq_advance(&w->ring, n);
	} while (n == CQE_BATCH);
	return 0;
}

static bool uring_usable(struct io_uring *ring)
{
	struct io_uring_probe *p = io_uring_get_probe_ring(ring);
	bool ok;

	if (!p)
		return false;
	ok = io_uring_opcode_supported(p, IORING_OP_WRITE) &&
	     io_uring_opcode_supported(p, IORING_OP_WRITE_FIXED);
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
	w->batch = w->nr > 2 ? w->nr / 2 : 1;
	snprintf(w->name, sizeof(w->name), "%s", opts->name ? opts->name : "output");
	w->slots = calloc(w->nr, sizeof(*w->slots));
	w->free_stack = calloc(w->nr, sizeof(*w->free_stack));
	if (!w->slots || !w->free_stack) {
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
		 * (ENOSYS, EPERM with io_uring_disabled) gets pwrite. */
		err = io_uring_queue_init(w->nr < 8 ? 8 : w->nr, &w->ring, 0);
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
	free(w->base);
	free(w->slots);
	free(w->free_stack);
	free(w);
}

void *llmi_iow__buf(struct llmi_iow *w)
{
	unsigned idx;

	while (!w->nfree) {
		int err;

		if (!w->uring || !w->inflight) {
			errno = EBUSY;	/* all buffers held by the caller */
			return NULL;
		}
		err = reap(w, true);
		if (err) {
			errno = -err;
			return NULL;
		}
	}
	idx = w->free_stack[--w->nfree];
	w->slots[idx].busy = true;
	return w->base + (size_t)idx * w->buf_size;
}

static unsigned slot_of(struct llmi_iow *w, const void *buf)
{
	return (unsigned)(((const uint8_t *)buf - w->base) / w->buf_size);
}

void llmi_iow__put(struct llmi_iow *w, void *buf)
{
	unsigned idx = slot_of(w, buf);

	if (idx < w->nr && w->slots[idx].busy)
		release(w, idx);
}

int llmi_iow__submit(struct llmi_iow *w, void *buf, size_t len, uint64_t off)
{
	unsigned idx = slot_of(w, buf);
	struct slot *s;
	int err;

	if (idx >= w->nr || !w->slots[idx].busy || len > w->buf_size)
		return -EINVAL;
	s = &w->slots[idx];
	s->len = len;
	s->off = off;
	s->done = 0;
	if (w->err) {
		/* After a failure nothing more is written: the file must stay
		 * a prefix of the stream (the writer truncates at failed_at). */
		if (off < w->failed_at)
			w->failed_at = off;
		release(w, idx);
		return w->err;
	}
	if (!w->uring) {
		const uint8_t *p = buf;

		while (s->done < len) {
			ssize_t n = pwrite(w->fd, p + s->done, len - s->done, off + s->done);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno == EINVAL && w->direct && s->done == 0) {
				drop_direct(w);
				if (!w->direct)
					continue;
			}
			if (n <= 0) {
				err = n < 0 ? -errno : -EIO;
				fail(w, idx, err);
				return err;
			}
			s->done += n;
		}
		release(w, idx);
		return 0;
	}
	err = queue(w, idx);
	if (err) {
		fail(w, idx, err);
		return err;
	}
	w->inflight++;
	if (w->unsubmitted >= w->batch) {
		err = reap(w, false);
		if (err)
			return err;
	}
	return w->err;
}

int llmi_iow__drain(struct llmi_iow *w)
{
	while (w->uring && w->inflight) {
		int err = reap(w, true);

		if (err) {
			if (!w->err)
				w->err = err;
			break;
		}
	}
	return w->err;
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
