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
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

struct llmi_writer {
	int fd;
	char *path;
	unsigned flags;
	struct llmi_iow *io;
	size_t ext;
	uint8_t *cur;		/* current extent buffer, NULL between extents */
	size_t fill;
	uint64_t cur_off;	/* file offset of cur[0] */
	uint64_t cur_since;	/* llmi_now_ns() when cur got its first byte */
	uint64_t seq;
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
	int err;
	bool err_said;
	bool closed;
	pthread_mutex_t lock;
};

static const uint8_t zeros[4096];

uint64_t llmi_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void lock(struct llmi_writer *w)
{
	if (w->flags & LLMI_WRITER_LOCKED)
		pthread_mutex_lock(&w->lock);
}

static void unlock(struct llmi_writer *w)
{
	if (w->flags & LLMI_WRITER_LOCKED)
		pthread_mutex_unlock(&w->lock);
}

/* Keeps the first error and says it once. */
static int note_err(struct llmi_writer *w, int err)
{
	if (!err)
		err = llmi_iow__error(w->io);
	if (!err)
		return 0;
	if (!w->err)
		w->err = err;
	if (!w->err_said) {
		uint64_t at = llmi_iow__failed_at(w->io);

		w->err_said = true;
		fprintf(stderr, "%s: write failed%s%llu: %s; the file keeps the records written before it\n",
			w->path, at != UINT64_MAX ? " at offset " : " after byte ",
			(unsigned long long)(at != UINT64_MAX ? at : w->cur_off + w->fill),
			strerror(-w->err));
	}
	return w->err;
}

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

static int put_zeros(struct llmi_writer *w, uint64_t n)
{
	while (n) {
		size_t k = n < sizeof(zeros) ? n : sizeof(zeros);
		int err = put(w, zeros, k);

		if (err)
			return err;
		n -= k;
	}
	return 0;
}

static uint64_t pos(const struct llmi_writer *w)
{
	return w->cur_off + w->fill;
}

static bool listed(unsigned type)
{
	return type != LLMI_REC_PAD && type != LLMI_REC_INDEX && type != LLMI_REC_TRAILER;
}

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
	for (int i = 0; i < iovcnt; i++) {
		len += iov[i].iov_len;
		crc = llmi_crc32c(crc, iov[i].iov_base, iov[i].iov_len);
	}
	if (listed(type) && w->nidx == w->cidx) {
		size_t cap = w->cidx ? w->cidx * 2 : 1024;
		void *p = realloc(w->idx, cap * sizeof(*w->idx));

		if (!p)
			return -ENOMEM;
		w->idx = p;
		p = realloc(w->notes, cap * sizeof(*w->notes));
		if (!p)
			return -ENOMEM;
		w->notes = p;
		w->cidx = cap;
	}
	llmi_rec_hdr_fill(&h, type, w->seq, len, crc);
	err = put(w, &h, sizeof(h));
	for (int i = 0; !err && i < iovcnt; i++)
		err = put(w, iov[i].iov_base, iov[i].iov_len);
	if (!err)
		err = put_zeros(w, llmi_rec_span(len) - sizeof(h) - len);
	if (err)
		return note_err(w, err);
	w->seq++;
	if (listed(type)) {
		w->notes[w->nidx] = note;
		w->idx[w->nidx++] = (struct llmi_index_ent){
			.offset = off, .length = len, .type = type, .data_crc = crc,
		};
		w->sum.records++;
		w->sum.payload_bytes += len;
	}
	return note_err(w, 0);
}

int llmi_writer__append(struct llmi_writer *w, unsigned type, const struct iovec *iov, int iovcnt)
{
	int err;

	if (type == LLMI_REC_INDEX || type == LLMI_REC_TRAILER || type == LLMI_REC_SUMMARY)
		return -EINVAL;	/* the writer's own */
	lock(w);
	err = append_locked(w, type, iov, iovcnt, (struct rec_note){ 0 });
	unlock(w);
	return err;
}

int llmi_writer__tensor(struct llmi_writer *w, struct llmi_tensor_rec *t, const char *name,
			const void *blob, size_t blob_len)
{
	size_t nlen = name ? strlen(name) : 0, esz = llmi_format_dtype_size(t->dtype);
	uint64_t numel = 1;
	int err;

	if (!esz || t->ndim > 8 || nlen > LLMI_NAME_MAX)
		return -EINVAL;
	for (unsigned d = 0; d < t->ndim; d++) {
		if (t->shape[d] && numel > UINT64_MAX / t->shape[d])
			return -EINVAL;
		numel *= t->shape[d];
	}
	if (numel > UINT64_MAX / esz || numel * esz != t->raw_bytes)
		return -EINVAL;
	lock(w);
	t->hdr_size = sizeof(*t);
	t->name_len = nlen;
	t->stored_bytes = blob_len;
	t->tensor_id = w->sum.tensors;
	{
		struct iovec iov[4] = {
			{ t, sizeof(*t) },
			{ (void *)(name ? name : ""), nlen },
			{ (void *)zeros, llmi_align_up(sizeof(*t) + nlen, 8) - sizeof(*t) - nlen },
			{ (void *)blob, blob_len },
		};

		err = append_locked(w, LLMI_REC_TENSOR, iov, 4, (struct rec_note){ 1, 0 });
	}
	if (!err) {
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
	unlock(w);
	return err;
}

int llmi_writer__events(struct llmi_writer *w, const struct llmi_events_rec *hdr, const void *events)
{
	struct iovec iov[2] = {
		{ (void *)hdr, sizeof(*hdr) },
		{ (void *)events, 0 },
	};
	int err;

	if (hdr->count && (!hdr->event_size || hdr->count > SIZE_MAX / hdr->event_size))
		return -EINVAL;
	iov[1].iov_len = hdr->count * hdr->event_size;
	lock(w);
	err = append_locked(w, LLMI_REC_EVENTS, iov, 2, (struct rec_note){ hdr->count, 0 });
	if (!err) {
		w->sum.event_batches++;
		w->sum.events += hdr->count;
	}
	unlock(w);
	return err;
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

		lock(w);
		err = append_locked(w, LLMI_REC_STRINGS, &iov, 1, (struct rec_note){ n, kind });
		unlock(w);
	}
	free(buf);
	return err;
}

int llmi_writer__stats_json(struct llmi_writer *w, const char *json, size_t len)
{
	struct iovec iov = { (void *)json, len };
	int err;

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
	uint32_t crc = 0;
	int err;

	if (!r)
		return 0;
	span = LLMI_ALIGN - r;
	if (span < sizeof(h))
		span += LLMI_ALIGN;
	for (uint64_t left = span - sizeof(h); left;) {
		size_t k = left < sizeof(zeros) ? left : sizeof(zeros);

		crc = llmi_crc32c(crc, zeros, k);
		left -= k;
	}
	llmi_rec_hdr_fill(&h, LLMI_REC_PAD, w->seq, span - sizeof(h), crc);
	err = put(w, &h, sizeof(h));
	if (!err)
		err = put_zeros(w, span - sizeof(h));
	if (err)
		return note_err(w, err);
	w->seq++;
	w->pad_bytes += span;
	return 0;
}

/* Submits the partial extent; the stream position must be aligned. */
static int submit_partial(struct llmi_writer *w)
{
	int err = 0;

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

int llmi_writer__flush(struct llmi_writer *w)
{
	int err;

	lock(w);
	err = w->err;
	if (!w->closed) {
		int e;

		if (!err && w->fill) {
			err = pad_to(w, 0);
			if (!err)
				err = submit_partial(w);
		}
		/* also after an error: what was in flight lands or fails now */
		e = llmi_iow__drain(w->io);
		err = note_err(w, err ? err : e);
	}
	unlock(w);
	return err;
}

int llmi_writer__tick(struct llmi_writer *w, uint64_t now_ns)
{
	int err;

	lock(w);
	err = w->err;
	if (w->closed) {
		unlock(w);
		return err;
	}
	if (!err && w->fill && now_ns >= w->cur_since + w->commit_ns) {
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
	err = note_err(w, err ? err : llmi_iow__poll(w->io));
	unlock(w);
	return err;
}

/* After a failed write: cut the file after the last record written whole. */
static void truncate_after_failure(struct llmi_writer *w)
{
	uint64_t at = llmi_iow__failed_at(w->io), end = LLMI_HEADER_SIZE;

	for (size_t i = 0; i < w->nidx; i++) {
		uint64_t e = w->idx[i].offset + sizeof(struct llmi_rec_hdr) + w->idx[i].length;

		if (e > at)
			break;
		end = e;
	}
	if (at == UINT64_MAX)
		at = end;
	w->disk_end = end;
	if (ftruncate(w->fd, end) == 0)
		fprintf(stderr, "%s: kept %llu bytes: the header and every record written before the failure\n",
			w->path, (unsigned long long)end);
}

int llmi_writer__close(struct llmi_writer *w)
{
	int err;

	lock(w);
	if (w->closed) {
		unlock(w);
		return w->err;
	}
	err = w->err;
	if (!err) {
		struct iovec iov;

		w->sum.closed_realtime_ns = 0;
		{
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			w->sum.closed_realtime_ns = (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
		}
		w->summary_off = pos(w);
		{
			/* Counted before appending itself, so it says "data records". */
			struct llmi_summary_rec s = w->sum;

			iov = (struct iovec){ &s, sizeof(s) };
			err = append_locked(w, LLMI_REC_SUMMARY, &iov, 1, (struct rec_note){ 0 });
			w->sum.records--;
			w->sum.payload_bytes -= sizeof(s);
		}
	}
	if (!err) {
		struct llmi_index_rec ir = { .count = w->nidx };
		struct iovec iov[2] = {
			{ &ir, sizeof(ir) },
			{ w->idx, w->nidx * sizeof(*w->idx) },
		};
		uint64_t ioff = pos(w);
		struct llmi_trailer_rec tr = { .index_offset = ioff };
		struct iovec tiov = { &tr, sizeof(tr) };

		err = append_locked(w, LLMI_REC_INDEX, iov, 2, (struct rec_note){ 0 });
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
	if (!err)
		err = submit_partial(w);
	else if (w->cur)
		llmi_iow__put(w->io, w->cur), w->cur = NULL;
	{
		int e = llmi_iow__drain(w->io);

		err = note_err(w, err ? err : e);
	}
	if (!err && fsync(w->fd))
		err = note_err(w, -errno);
	if (err)
		truncate_after_failure(w);
	w->closed = true;
	unlock(w);
	return err;
}

void llmi_writer__free(struct llmi_writer *w)
{
	if (!w)
		return;
	if (w->io) {
		if (!w->closed)
			llmi_writer__close(w);
		llmi_iow__free(w->io);
	}
	if (w->fd >= 0)
		close(w->fd);
	if (w->flags & LLMI_WRITER_LOCKED)
		pthread_mutex_destroy(&w->lock);
	free(w->idx);
	free(w->notes);
	free(w->path);
	free(w);
}

/* Moves the on-disk totals up to the acknowledged prefix. */
static void count_disk(struct llmi_writer *w)
{
	uint64_t acked = llmi_iow__acked(w->io);

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
	if (!w->closed)
		note_err(w, llmi_iow__poll(w->io));	/* completions the kernel has posted count */
	count_disk(w);
	st->disk = w->disk;
	st->commits = w->commits;
	st->syncs = w->syncs;
	st->pad_bytes = w->pad_bytes;
	st->records = w->sum.records;
	st->bytes = pos(w);
	st->sum = w->sum;
	st->backend = llmi_iow__backend(w->io);
	st->direct = llmi_iow__direct(w->io);
	st->error = w->err;
	unlock(w);
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
		if (uopts->sz < sizeof(opts)) {
			errno = EINVAL;
			return NULL;
		}
		opts = *uopts;
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
	w->disk_end = UINT64_MAX;
	w->flags = opts.flags;
	w->ext = opts.extent_size;
	w->commit_ns = opts.commit_ms * 1000000ull;
	if (w->flags & LLMI_WRITER_LOCKED)
		pthread_mutex_init(&w->lock, NULL);
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
	return w;
fail_unlink:
	unlink(path);
fail:
	if (w->io)
		llmi_iow__free(w->io);
	w->io = NULL;
	llmi_writer__free(w);
	errno = -err;
	return NULL;
}
