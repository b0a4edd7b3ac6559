/* SPDX-License-Identifier: MIT */
/*
 * Extent I/O under the container writer: a pool of aligned buffers, each
 * written at a file offset with io_uring (short writes requeued,
 * registered buffers when the memlock limit allows) or, where io_uring is
 * missing or refused, with pwrite(2).
 *
 * The caller takes a free buffer, fills it, and submits it with its file
 * offset; a buffer comes back free once its write completed. It may also
 * submit memory of its own (4096-aligned for O_DIRECT), written with a plain
 * write and kept by the caller until llmi_iow__acked() passes its end or
 * the iow has failed and is no longer busy: the container writer's thread
 * mode does, when appends outrun the pool. The first error (e.g. ENOSPC) is
 * kept: later submissions are dropped, and llmi_iow__failed_at() says where
 * the file stops being trustworthy. Used by one thread at a time.
 *
 * Writes run one at a time in the order they were submitted (the others
 * wait here; pwrite is in order anyway): the file on disk is always a
 * prefix of what was submitted, so a process killed mid-write leaves no
 * hole before written data, only a missing or partial tail.
 * llmi_iow__acked() is the end of that prefix: the bytes whose writes the
 * kernel acknowledged. A queued write starts when a call here (submit,
 * buf, poll, drain) sees the one before it complete.
 */
#ifndef LLMI_IOW_H
#define LLMI_IOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LLMI_IOW_NO_URING	(1u << 0)	/* use pwrite(2) */
#define LLMI_IOW_NO_REGISTER	(1u << 1)	/* don't register buffers */

struct llmi_iow_opts {
	size_t sz;		/* sizeof(struct llmi_iow_opts) */
	size_t buf_size;	/* bytes per buffer, a multiple of 4096 */
	unsigned nr_bufs;	/* buffers in the pool (queue depth) */
	unsigned flags;		/* LLMI_IOW_* */
	bool direct;		/* fd was opened with O_DIRECT */
	const char *name;	/* for messages */
};

struct llmi_iow;

struct llmi_iow *llmi_iow__new(int fd, const struct llmi_iow_opts *opts);
/* Drains what is in flight, then frees. */
void llmi_iow__free(struct llmi_iow *w);

/* A free buffer of buf_size bytes, waiting for a write to finish if all are busy. */
void *llmi_iow__buf(struct llmi_iow *w);
/* A free buffer, or NULL at once when all are busy. */
void *llmi_iow__buf_try(struct llmi_iow *w);
/*
 * Writes buf[0..len) at off: one of the pool's buffers (then len <=
 * buf_size), or the caller's own memory. len and off must be multiples of
 * 4096 when direct.
 */
int llmi_iow__submit(struct llmi_iow *w, void *buf, size_t len, uint64_t off);
/* Gives an unused buffer back. */
void llmi_iow__put(struct llmi_iow *w, void *buf);
/* Waits for every write in flight; returns the first error. */
int llmi_iow__drain(struct llmi_iow *w);
/*
 * Without waiting: submits what is prepared and reaps what completed (no
 * system call when nothing is prepared). Returns the first error.
 */
int llmi_iow__poll(struct llmi_iow *w);
/*
 * Asks for an fdatasync of what was submitted before it: started once
 * those writes are acknowledged, beside later writes, and not waited for
 * (io_uring), or done at once (pwrite). A failed sync is an error like a
 * failed write. 0 or -errno.
 */
int llmi_iow__sync(struct llmi_iow *w);
/* File offset up to which every byte was written and acknowledged, no gap. */
uint64_t llmi_iow__acked(const struct llmi_iow *w);
/* A write or an fdatasync is queued, in flight or due (io_uring only). */
bool llmi_iow__busy(const struct llmi_iow *w);
/*
 * An eventfd the kernel signals when a completion is posted, for a thread
 * that waits on other things too (poll it, then llmi_iow__poll). -1 with
 * pwrite, where nothing completes later; -errno if it cannot be made.
 */
int llmi_iow__notify_fd(struct llmi_iow *w);

int llmi_iow__error(const struct llmi_iow *w);
/* Lowest file offset a failed write did not reach (UINT64_MAX: none failed). */
uint64_t llmi_iow__failed_at(const struct llmi_iow *w);
/* "io_uring", "io_uring+fixed" or "pwrite"; and whether O_DIRECT is still on. */
const char *llmi_iow__backend(const struct llmi_iow *w);
bool llmi_iow__direct(const struct llmi_iow *w);

#endif
