// SPDX-License-Identifier: MIT
/*
 * The container reader (reader.h). The design point is distrust: a file may
 * be half-written, truncated, bit-flipped or not a container at all, and a
 * reader of it must never read outside the file or a record, nor allocate
 * what a damaged length asks for. So every number read from disk is checked
 * against two bounds before use: the file size and the enclosing record.
 *
 * The record list comes from the index when the trailer and the index both
 * check out, else from a scan that checks each record's header CRC, bounds
 * and payload CRC, stops at a record the file ends inside (a torn tail), and
 * resynchronises past a damaged header on the next one that checks out.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format/reader.h"

#define SCAN_CHUNK (1u << 20)

struct llmi_reader {
	int fd;			/* -1 for a memory reader */
	const uint8_t *mem;
	uint64_t size;
	struct llmi_file_header hdr;
	struct llmi_reader_status st;
	struct llmi_rec_info *recs;
	size_t nr, cap;
	uint8_t *scratch;	/* SCAN_CHUNK bytes for CRC passes */
	llmi_blob_check_fn blob_check;
};

static void seterr(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!err || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

int llmi_reader__pread(struct llmi_reader *r, uint64_t off, void *buf, size_t len)
{
	uint8_t *p = buf;

	if (off > r->size || len > r->size - off)
		return -ERANGE;
	if (r->fd < 0) {
		memcpy(buf, r->mem + off, len);
		return 0;
	}
	while (len) {
		ssize_t n = pread(r->fd, p, len, off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;	/* the file shrank under us */
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}

static int crc_range(struct llmi_reader *r, uint64_t off, uint64_t len, uint32_t *crc)
{
	uint32_t c = 0;
	int err;

	if (r->fd < 0) {
		if (off > r->size || len > r->size - off)
			return -ERANGE;
		*crc = llmi_crc32c(0, r->mem + off, len);
		return 0;
	}
	while (len) {
		size_t n = len < SCAN_CHUNK ? len : SCAN_CHUNK;

		err = llmi_reader__pread(r, off, r->scratch, n);
		if (err)
			return err;
		c = llmi_crc32c(c, r->scratch, n);
		off += n;
		len -= n;
	}
	*crc = c;
	return 0;
}

static int push(struct llmi_reader *r, const struct llmi_rec_info *ri)
{
	if (r->nr == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 64;
		void *p = realloc(r->recs, cap * sizeof(*r->recs));

		if (!p)
			return -ENOMEM;
		r->recs = p;
		r->cap = cap;
	}
	r->recs[r->nr++] = *ri;
	return 0;
}

static bool listed(unsigned type)
{
	return type != LLMI_REC_PAD && type != LLMI_REC_INDEX && type != LLMI_REC_TRAILER;
}

static bool all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

/* Reads and checks the record header at off; why says what is wrong. */
static int read_rec_hdr(struct llmi_reader *r, uint64_t off, uint64_t end,
			struct llmi_rec_hdr *h, char *why, size_t whylen)
{
	if (end - off < sizeof(*h)) {
		seterr(why, whylen, "incomplete record header at offset %llu (file ends at %llu)",
		       (unsigned long long)off, (unsigned long long)end);
		return -ENODATA;
	}
	if (llmi_reader__pread(r, off, h, sizeof(*h))) {
		seterr(why, whylen, "read error at offset %llu", (unsigned long long)off);
		return -EIO;
	}
	if (llmi_rec_hdr_check(h)) {
		if (all_zero(h, sizeof(*h)))
			seterr(why, whylen, "unwritten (zero) bytes at offset %llu: the writer stopped here",
			       (unsigned long long)off);
		else
			seterr(why, whylen, "bad record header at offset %llu (magic or checksum)",
			       (unsigned long long)off);
		return -EBADMSG;
	}
	if (h->length > end - off - sizeof(*h)) {
		seterr(why, whylen, "%s record at offset %llu is incomplete: %llu payload bytes, %llu in the file",
		       llmi_rec_type_name(h->type), (unsigned long long)off,
		       (unsigned long long)h->length, (unsigned long long)(end - off - sizeof(*h)));
		return -ENODATA;
	}
	return 0;
}

/*
 * After a damaged record header at bad, finds the next offset where a record
 * header checks out: 8-byte aligned, the record magic, the header CRC, and a
 * sequence number that can follow the last good record (next_seq is the one
 * expected at bad): not lower, and no more records missing than fit in the
 * bytes skipped (each takes at least a 32-byte header). The CRC makes a
 * false match in random bytes a 2^-32 event per magic found; the sequence
 * test rejects most of what a payload holding another container would show.
 * *found is end when none follows; *zero says whether every byte in
 * [bad, *found) is zero (unwritten). 0 or -errno.
 */
static int resync(struct llmi_reader *r, uint64_t bad, uint64_t end, uint64_t next_seq,
		  uint64_t *found, bool *zero)
{
	uint64_t pos = bad;
	int err;

	*zero = true;
	*found = end;
	while (pos < end) {
		size_t n = end - pos < SCAN_CHUNK ? end - pos : SCAN_CHUNK;
		const uint8_t *p;

		if (r->fd < 0) {
			p = r->mem + pos;
		} else {
			err = llmi_reader__pread(r, pos, r->scratch, n);
			if (err)
				return err;
			p = r->scratch;
		}
		/* pos is 8-aligned (records and header_size are), and so is every candidate. */
		for (size_t i = 0; i < n; i += LLMI_REC_ALIGN) {
			uint64_t at = pos + i, missing;
			struct llmi_rec_hdr h;
			uint32_t magic;

			if (at > bad && n - i >= sizeof(magic)) {
				memcpy(&magic, p + i, sizeof(magic));
				if (magic == LLMI_REC_MAGIC && end - at >= sizeof(h) &&
				    !llmi_reader__pread(r, at, &h, sizeof(h)) && !llmi_rec_hdr_check(&h) &&
				    h.seq >= next_seq) {
					missing = h.seq - next_seq;
					if (missing <= (at - bad) / sizeof(h)) {
						*found = at;
						return 0;
					}
				}
			}
			if (*zero && !all_zero(p + i, n - i < LLMI_REC_ALIGN ? n - i : LLMI_REC_ALIGN))
				*zero = false;
		}
		pos += n;
	}
	return 0;
}

/*
 * Builds the record list by walking the file from the header on. It runs
 * once per open of an unclosed or damaged file and is bounded by the file
 * size, not hot: clarity over speed, except that payloads are CRC'd in
 * SCAN_CHUNK pieces through one scratch buffer.
 */
static int scan(struct llmi_reader *r)
{
	uint64_t off = r->hdr.header_size, end = r->size, next_seq = 0;
	struct llmi_rec_hdr h;
	char why[LLMI_ERRLEN];
	int err;

	r->nr = 0;
	while (off < end) {
		struct llmi_rec_info ri;
		uint32_t crc;

		err = read_rec_hdr(r, off, end, &h, why, sizeof(why));
		if (err == -EBADMSG) {
			uint64_t found;
			bool zero;

			err = resync(r, off, end, next_seq, &found, &zero);
			if (err == -ENOMEM)
				return err;
			if (!err && found < end) {
				/* Damage in the middle: skip it, count what was lost. */
				if (!r->st.resyncs) {
					r->st.first_skip_offset = off;
					if (!r->st.bad_records)
						seterr(r->st.note, sizeof(r->st.note), "%s", why);
				}
				r->st.resyncs++;
				r->st.skipped_bytes += found - off;
				{
					struct llmi_rec_hdr nh;

					if (!llmi_reader__pread(r, found, &nh, sizeof(nh)))
						r->st.skipped_records += nh.seq - next_seq;
				}
				off = found;
				continue;
			}
			r->st.tail_damaged = true;
			r->st.tail_offset = off;
			r->st.tail_bytes = end - off;
			/* Zeros to the end of the file: never written, a torn tail. */
			r->st.tail_torn = r->st.tail_zero = !err && zero;
			if (!r->st.bad_records && !r->st.resyncs)
				seterr(r->st.note, sizeof(r->st.note), "%s", why);
			return 0;
		}
		if (err == -ENOMEM)
			return err;
		if (err) {
			/* -ENODATA: the file ends inside this record: a torn tail. */
			r->st.tail_damaged = true;
			r->st.tail_torn = err == -ENODATA;
			r->st.tail_offset = off;
			r->st.tail_bytes = end - off;
			if (!r->st.bad_records && !r->st.resyncs)
				seterr(r->st.note, sizeof(r->st.note), "%s", why);
			return 0;
		}
		next_seq = h.seq + 1;
		if (h.type == LLMI_REC_TRAILER)
			break;
		err = crc_range(r, off + sizeof(h), h.length, &crc);
		if (err) {
			r->st.tail_damaged = true;
			r->st.tail_offset = off;
			r->st.tail_bytes = end - off;
			seterr(r->st.note, sizeof(r->st.note), "read error at offset %llu",
			       (unsigned long long)off);
			return 0;
		}
		if (crc != h.data_crc) {
			/* The header checked out, so its length can be trusted
			 * to skip this record and keep the ones after it. */
			if (!r->st.bad_records) {
				r->st.first_bad_offset = off;
				if (!r->st.resyncs)
					seterr(r->st.note, sizeof(r->st.note),
					       "%s record at offset %llu: payload checksum mismatch, skipped",
					       llmi_rec_type_name(h.type), (unsigned long long)off);
			}
			r->st.bad_records++;
		} else if (listed(h.type)) {
			ri = (struct llmi_rec_info){
				.offset = off, .length = h.length, .data_crc = h.data_crc,
				.type = h.type, .flags = h.flags, .state = LLMI_CHECK_CRC,
			};
			err = push(r, &ri);
			if (err)
				return err;
		}
		off += llmi_rec_span(h.length);
	}
	return 0;
}

/* Uses the trailer and index of a closed file; -EBADMSG (note set) if any check fails. */
static int load_index(struct llmi_reader *r)
{
	struct llmi_rec_hdr th, ih;
	struct llmi_trailer_rec tr;
	struct llmi_index_rec ir;
	uint64_t toff, ioff, prev_end, n;
	char *note = r->st.note;
	size_t nl = sizeof(r->st.note);
	struct llmi_index_ent *ents = NULL;
	int err = -EBADMSG;

	if (r->size < r->hdr.header_size + LLMI_TRAILER_TOTAL) {
		seterr(note, nl, "no trailer: the file has no index");
		return -ENOENT;
	}
	toff = r->size - LLMI_TRAILER_TOTAL;
	if (llmi_reader__pread(r, toff, &th, sizeof(th)) || llmi_rec_hdr_check(&th) ||
	    th.type != LLMI_REC_TRAILER || th.length != sizeof(tr)) {
		seterr(note, nl, "no trailer: the writer did not close the file");
		return -ENOENT;
	}
	if (llmi_reader__pread(r, toff + sizeof(th), &tr, sizeof(tr)) ||
	    llmi_crc32c(0, &tr, sizeof(tr)) != th.data_crc ||
	    memcmp(tr.magic, LLMI_TRAILER_MAGIC, 8)) {
		seterr(note, nl, "trailer at offset %llu is damaged", (unsigned long long)toff);
		return -EBADMSG;
	}
	ioff = tr.index_offset;
	if (ioff < r->hdr.header_size || ioff % LLMI_REC_ALIGN || ioff > toff ||
	    toff - ioff < sizeof(ih) + sizeof(ir)) {
		seterr(note, nl, "trailer points at index offset %llu outside the file",
		       (unsigned long long)ioff);
		return -EBADMSG;
	}
	if (llmi_reader__pread(r, ioff, &ih, sizeof(ih)) || llmi_rec_hdr_check(&ih) ||
	    ih.type != LLMI_REC_INDEX || ih.length > toff - ioff - sizeof(ih) ||
	    ih.length < sizeof(ir)) {
		seterr(note, nl, "index record at offset %llu is damaged", (unsigned long long)ioff);
		return -EBADMSG;
	}
	if (llmi_reader__pread(r, ioff + sizeof(ih), &ir, sizeof(ir)))
		return -EBADMSG;
	n = ir.count;
	if (n > (ih.length - sizeof(ir)) / sizeof(*ents) ||
	    ih.length != sizeof(ir) + n * sizeof(*ents)) {
		seterr(note, nl, "index at offset %llu: count %llu does not match its length",
		       (unsigned long long)ioff, (unsigned long long)n);
		return -EBADMSG;
	}
	{
		uint32_t crc;

		if (crc_range(r, ioff + sizeof(ih), ih.length, &crc) || crc != ih.data_crc) {
			seterr(note, nl, "index at offset %llu: checksum mismatch", (unsigned long long)ioff);
			return -EBADMSG;
		}
	}
	/* n is now bounded by the index length, itself bounded by the file. */
	ents = malloc(n ? n * sizeof(*ents) : 1);
	if (!ents)
		return -ENOMEM;
	if (llmi_reader__pread(r, ioff + sizeof(ih) + sizeof(ir), ents, n * sizeof(*ents)))
		goto out;
	r->nr = 0;
	prev_end = r->hdr.header_size;
	for (uint64_t i = 0; i < n; i++) {
		const struct llmi_index_ent *e = &ents[i];
		struct llmi_rec_info ri;

		if (e->offset < prev_end || e->offset % LLMI_REC_ALIGN || e->offset > ioff ||
		    ioff - e->offset < sizeof(struct llmi_rec_hdr) ||
		    e->length > ioff - e->offset - sizeof(struct llmi_rec_hdr) || !listed(e->type)) {
			seterr(note, nl, "index entry %llu (offset %llu) is out of bounds",
			       (unsigned long long)i, (unsigned long long)e->offset);
			goto out;
		}
		prev_end = e->offset + llmi_rec_span(e->length);
		ri = (struct llmi_rec_info){
			.offset = e->offset, .length = e->length, .data_crc = e->data_crc,
			.type = e->type, .flags = e->flags, .state = LLMI_CHECK_NONE,
		};
		err = push(r, &ri);
		if (err)
			goto out;
		err = -EBADMSG;
	}
	err = 0;
out:
	free(ents);
	if (err)
		r->nr = 0;
	return err;
}

static struct llmi_reader *open_common(struct llmi_reader *r, char *err, size_t errlen,
				       const char *what)
{
	int e;

	/* No magic: not a container (ENOMSG). The magic and less: a damaged one. */
	if (r->size < sizeof(r->hdr.magic) ||
	    llmi_reader__pread(r, 0, r->hdr.magic, sizeof(r->hdr.magic)) ||
	    memcmp(r->hdr.magic, LLMI_FILE_MAGIC, 8)) {
		seterr(err, errlen, "%s: not an llminstr container (%s)", what,
		       r->size < sizeof(r->hdr.magic) ? "too short" : "no container magic");
		e = ENOMSG;
		goto fail;
	}
	if (r->size < sizeof(r->hdr)) {
		seterr(err, errlen, "%s: truncated inside its file header (%llu bytes)", what,
		       (unsigned long long)r->size);
		e = EBADMSG;
		goto fail;
	}
	if (llmi_reader__pread(r, 0, &r->hdr, sizeof(r->hdr))) {
		seterr(err, errlen, "%s: cannot read the header", what);
		e = EIO;
		goto fail;
	}
	if (llmi_file_header_check(&r->hdr)) {
		seterr(err, errlen, "%s: file header is damaged (checksum mismatch)", what);
		e = EBADMSG;
		goto fail;
	}
	if (r->hdr.version_major != LLMI_VERSION_MAJOR) {
		seterr(err, errlen, "%s: container version %u.%u; this reader knows %u.x",
		       what, r->hdr.version_major, r->hdr.version_minor, LLMI_VERSION_MAJOR);
		e = EPROTONOSUPPORT;
		goto fail;
	}
	if (r->hdr.header_size >= sizeof(r->hdr) && r->hdr.header_size <= (1u << 20) &&
	    r->hdr.header_size > r->size) {
		seterr(err, errlen, "%s: truncated inside its %u-byte header block", what,
		       r->hdr.header_size);
		e = EBADMSG;
		goto fail;
	}
	if (r->hdr.header_size < sizeof(r->hdr) || r->hdr.header_size % LLMI_REC_ALIGN ||
	    r->hdr.header_size > r->size) {
		seterr(err, errlen, "%s: header size %u is invalid", what, r->hdr.header_size);
		e = EBADMSG;
		goto fail;
	}
	r->hdr.host[sizeof(r->hdr.host) - 1] = 0;
	r->hdr.writer[sizeof(r->hdr.writer) - 1] = 0;
	/* a 1.0 or 1.1 file's reserved zeros are no rank */
	r->hdr.rank = llmi_rank_of(r->hdr.rank, r->hdr.version_minor);
	r->hdr.world_size = r->hdr.world_size > 0 ? llmi_rank_of(r->hdr.world_size, r->hdr.version_minor) :
		LLMI_NO_RANK;
	r->hdr.local_rank = llmi_rank_of(r->hdr.local_rank, r->hdr.version_minor);
	r->scratch = r->fd >= 0 ? malloc(SCAN_CHUNK) : NULL;
	if (r->fd >= 0 && !r->scratch) {
		e = ENOMEM;
		goto fail;
	}
	e = load_index(r);
	if (e == -ENOMEM) {
		e = ENOMEM;
		goto fail;
	}
	if (e == 0) {
		r->st.indexed = true;
		return r;
	}
	r->st.index_damaged = e == -EBADMSG;
	{
		char why[LLMI_ERRLEN];

		memcpy(why, r->st.note, sizeof(why));
		e = scan(r);
		if (e) {
			e = -e;
			goto fail;
		}
		/* Keep the first reason when the scan ran clean to the end. */
		if (!r->st.tail_damaged && !r->st.bad_records && !r->st.resyncs)
			memcpy(r->st.note, why, sizeof(why));
	}
	return r;
fail:
	if (e == ENOMEM)
		seterr(err, errlen, "%s: out of memory", what);
	llmi_reader__free(r);
	errno = e;
	return NULL;
}

struct llmi_reader *llmi_reader__open(const char *path, char *err, size_t errlen)
{
	struct llmi_reader *r;
	struct stat st;
	int e;

	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (r->fd < 0) {
		e = errno;
		seterr(err, errlen, "%s: cannot open: %s", path, strerror(e));
		goto fail;
	}
	if (fstat(r->fd, &st)) {
		e = errno;
		seterr(err, errlen, "%s: cannot stat: %s", path, strerror(e));
		goto fail;
	}
	/* readers go through a file front to back: a larger readahead */
	(void)posix_fadvise(r->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	if (!S_ISREG(st.st_mode)) {
		e = EINVAL;
		seterr(err, errlen, "%s: not a regular file", path);
		goto fail;
	}
	r->size = st.st_size;
	r->st.file_size = r->size;
	return open_common(r, err, errlen, path);
fail:
	llmi_reader__free(r);
	errno = e;
	return NULL;
}

struct llmi_reader *llmi_reader__open_mem(const void *buf, size_t len, char *err, size_t errlen)
{
	struct llmi_reader *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->fd = -1;
	r->mem = buf;
	r->size = len;
	r->st.file_size = len;
	return open_common(r, err, errlen, "<memory>");
}

void llmi_reader__free(struct llmi_reader *r)
{
	if (!r)
		return;
	if (r->fd >= 0)
		close(r->fd);
	free(r->recs);
	free(r->scratch);
	free(r);
}

const struct llmi_file_header *llmi_reader__header(const struct llmi_reader *r)
{
	return &r->hdr;
}

const struct llmi_reader_status *llmi_reader__status(const struct llmi_reader *r)
{
	return &r->st;
}

size_t llmi_reader__nr_records(const struct llmi_reader *r)
{
	return r->nr;
}

const struct llmi_rec_info *llmi_reader__record(const struct llmi_reader *r, size_t i)
{
	return i < r->nr ? &r->recs[i] : NULL;
}


void llmi_reader__set_blob_check(struct llmi_reader *r, llmi_blob_check_fn fn)
{
	r->blob_check = fn;
}

/* ---- validation of record contents (FORMAT.md, "Validation") ---------- */

static int __attribute__((format(printf, 3, 4))) bad(char *why, size_t wl, const char *fmt, ...)
{
	va_list ap;

	if (why && wl) {
		va_start(ap, fmt);
		vsnprintf(why, wl, fmt, ap);
		va_end(ap);
	}
	return -EBADMSG;
}

/* "AxBxC" of the first ndim (at most 8) dimensions. */
static const char *shape_str(const struct llmi_tensor_rec *t, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = 0;
	for (unsigned d = 0; d < t->ndim && d < 8 && o < len; d++)
		o += snprintf(buf + o, len - o, "%s%llu", d ? "x" : "", (unsigned long long)t->shape[d]);
	return t->ndim ? buf : "scalar";
}

/*
 * Where the name and the blob of a tensor payload of len bytes lie, from
 * its fixed header in ti->rec; *tail_len is the length of the name and the
 * padding after it, which start at hdr_size.
 */
static int tensor_bounds(const struct llmi_tensor_info *ti, uint64_t len, uint64_t *tail_len,
			 char *why, size_t wl)
{
	const struct llmi_tensor_rec *t = &ti->rec;
	uint64_t off;

	if (t->hdr_size < sizeof(*t) || t->hdr_size > len)
		return bad(why, wl, "header size %u (at least %zu, and inside its %llu-byte payload)",
			   t->hdr_size, sizeof(*t), (unsigned long long)len);
	if (t->name_len > LLMI_NAME_MAX)
		return bad(why, wl, "name of %u bytes (at most %u)", t->name_len, LLMI_NAME_MAX);
	if (t->name_len > len - t->hdr_size)
		return bad(why, wl, "name of %u bytes runs past its %llu-byte payload", t->name_len,
			   (unsigned long long)len);
	off = llmi_align_up((uint64_t)t->hdr_size + t->name_len, 8);
	if (off > len)
		return bad(why, wl, "the padding after its name runs past its payload");
	*tail_len = off - t->hdr_size;
	return 0;
}

/*
 * The tensor header rules, once its bounds hold: tail is the name and its
 * padding (tensor_bounds()), len the payload's length.
 */
static int tensor_validate(struct llmi_tensor_info *ti, const uint8_t *tail, uint64_t tail_len,
			   uint64_t len, char *why, size_t wl)
{
	const struct llmi_tensor_rec *t = &ti->rec;
	const double errs[4] = { t->mse, t->nmse, t->max_abs_err, t->variance };
	static const char *const err_names[4] = { "mse", "nmse", "max error", "variance" };
	uint64_t numel = 1, esz, off = t->hdr_size + tail_len;
	char sh[200];

	memcpy(ti->name, tail, t->name_len);
	ti->name[t->name_len] = 0;
	if (memchr(tail, 0, t->name_len))
		return bad(why, wl, "its name holds a NUL byte");
	if (!all_zero(tail + t->name_len, tail_len - t->name_len))
		return bad(why, wl, "non-zero padding after its name");
	esz = llmi_format_dtype_size(t->dtype);
	if (!esz)
		return bad(why, wl, "unknown dtype %u", t->dtype);
	if (t->ndim > 8)
		return bad(why, wl, "%u dimensions (at most 8)", t->ndim);
	for (unsigned d = 0; d < t->ndim; d++) {
		if (t->shape[d] && numel > UINT64_MAX / t->shape[d])
			return bad(why, wl, "shape %s overflows 64 bits", shape_str(t, sh, sizeof(sh)));
		numel *= t->shape[d];
	}
	if (numel > UINT64_MAX / esz || numel * esz != t->raw_bytes)
		return bad(why, wl, "shape %s of %zu-byte elements does not make its raw size of %llu bytes",
			   shape_str(t, sh, sizeof(sh)), (size_t)esz, (unsigned long long)t->raw_bytes);
	/* 1.2: positions kept by pos= (a 1.0/1.1 file has zeros: all kept) */
	if (t->pos_total && (t->pos_dim >= t->ndim || t->shape[t->pos_dim] >= t->pos_total ||
			     t->pos_first > t->pos_total - t->shape[t->pos_dim]))
		return bad(why, wl, "positions %llu + %llu of %llu kept in dimension %u of shape %s",
			   (unsigned long long)t->pos_first,
			   (unsigned long long)(t->pos_dim < t->ndim ? t->shape[t->pos_dim] : 0),
			   (unsigned long long)t->pos_total, t->pos_dim, shape_str(t, sh, sizeof(sh)));
	if (t->stored_bytes != len - off)
		return bad(why, wl, "stored size %llu, but %llu bytes follow its header and name",
			   (unsigned long long)t->stored_bytes, (unsigned long long)(len - off));
	if (t->codec_mode > 3)	/* enum llmi_bound (codec/codec.h) */
		return bad(why, wl, "unknown codec mode %u", t->codec_mode);
	if (t->codec_flags & ~3u)
		return bad(why, wl, "unknown codec flags 0x%x", t->codec_flags);
	if (t->codec_mode == 0 && t->codec_flags)
		return bad(why, wl, "lossless with codec flags 0x%x", t->codec_flags);
	if (t->codec_mode != 0 && !(isfinite(t->codec_bound) && t->codec_bound > 0))
		return bad(why, wl, "codec bound %g is not a positive number", t->codec_bound);
	if ((t->codec_flags & 2u) && (t->ref_tensor_id == LLMI_NO_REF || t->ref_tensor_id == t->tensor_id))
		return bad(why, wl, "predicted from %s", t->ref_tensor_id == LLMI_NO_REF ?
			   "no reference tensor" : "itself");
	for (int k = 0; k < 4; k++)
		if (!(errs[k] >= 0))
			return bad(why, wl, "achieved %s %g is negative or not a number", err_names[k], errs[k]);
	ti->blob_offset = off;
	ti->blob_len = t->stored_bytes;
	return 0;
}

static int tensor_parse(const void *payload, size_t len, struct llmi_tensor_info *ti,
			char *why, size_t wl)
{
	const uint8_t *p = payload;
	uint64_t tail_len;
	int err;

	memset(&ti->rec, 0, sizeof(ti->rec));
	ti->name[0] = 0;
	if (len < sizeof(ti->rec))
		return bad(why, wl, "%zu bytes, shorter than a tensor header (%zu)", len, sizeof(ti->rec));
	memcpy(&ti->rec, p, sizeof(ti->rec));
	err = tensor_bounds(ti, len, &tail_len, why, wl);
	if (err)
		return err;
	return tensor_validate(ti, p + ti->rec.hdr_size, tail_len, len, why, wl);
}

int llmi_tensor_parse(const void *payload, size_t len, struct llmi_tensor_info *ti)
{
	return tensor_parse(payload, len, ti, NULL, 0);
}

/* The tensor header of the record at off (payload len bytes), read from the file. */
static int tensor_at(struct llmi_reader *r, uint64_t off, uint64_t len, struct llmi_tensor_info *ti,
		     char *why, size_t wl)
{
	uint8_t tail[LLMI_NAME_MAX + LLMI_REC_ALIGN];
	uint64_t base = off + sizeof(struct llmi_rec_hdr), tail_len;
	int err;

	memset(&ti->rec, 0, sizeof(ti->rec));
	ti->name[0] = 0;
	if (len < sizeof(ti->rec))
		return bad(why, wl, "%llu bytes, shorter than a tensor header (%zu)",
			   (unsigned long long)len, sizeof(ti->rec));
	err = llmi_reader__pread(r, base, &ti->rec, sizeof(ti->rec));
	if (err)
		return err == -ERANGE ? bad(why, wl, "outside the file") : err;
	err = tensor_bounds(ti, len, &tail_len, why, wl);
	if (err)
		return err;
	/* name_len <= LLMI_NAME_MAX and the padding is under 8 bytes. */
	err = llmi_reader__pread(r, base + ti->rec.hdr_size, tail, tail_len);
	if (err)
		return err == -ERANGE ? bad(why, wl, "outside the file") : err;
	ti->rec.rank = llmi_rank_of(ti->rec.rank, r->hdr.version_minor);
	return tensor_validate(ti, tail, tail_len, len, why, wl);
}

int llmi_reader__tensor(struct llmi_reader *r, size_t i, struct llmi_tensor_info *ti)
{
	const struct llmi_rec_info *ri = llmi_reader__record(r, i);

	if (!ri || ri->type != LLMI_REC_TENSOR)
		return -EINVAL;
	ti->record = i;
	return tensor_at(r, ri->offset, ri->length, ti, NULL, 0);
}

static int strings_validate(const uint8_t *p, size_t len, char *why, size_t wl)
{
	struct llmi_strings_rec sr;
	size_t off = sizeof(sr);

	if (len < sizeof(sr))
		return bad(why, wl, "%zu bytes, shorter than a string table header (%zu)", len, sizeof(sr));
	memcpy(&sr, p, sizeof(sr));
	if (!sr.kind)
		return bad(why, wl, "string table of kind 0");
	/* Each entry takes at least its 16-byte head: bounds count by len. */
	if (sr.count > (len - sizeof(sr)) / sizeof(struct llmi_string_ent))
		return bad(why, wl, "%llu entries cannot fit its %zu bytes",
			   (unsigned long long)sr.count, len);
	for (uint64_t i = 0; i < sr.count; i++) {
		struct llmi_string_ent e;
		size_t pad;

		if (len - off < sizeof(e))
			return bad(why, wl, "entry %llu runs past the payload", (unsigned long long)i);
		memcpy(&e, p + off, sizeof(e));
		off += sizeof(e);
		if (e.len > len - off)
			return bad(why, wl, "entry %llu (id %llu): string length %u runs past the payload",
				   (unsigned long long)i, (unsigned long long)e.id, e.len);
		if (memchr(p + off, 0, e.len))
			return bad(why, wl, "entry %llu (id %llu): a NUL byte inside the string",
				   (unsigned long long)i, (unsigned long long)e.id);
		off += e.len;
		pad = llmi_align_up(e.len, 8) - e.len;
		if (pad > len - off)
			return bad(why, wl, "entry %llu (id %llu): its padding runs past the payload",
				   (unsigned long long)i, (unsigned long long)e.id);
		if (!all_zero(p + off, pad))
			return bad(why, wl, "entry %llu (id %llu): non-zero padding",
				   (unsigned long long)i, (unsigned long long)e.id);
		off += pad;
	}
	if (off != len)
		return bad(why, wl, "%zu bytes after the last of its %llu entries", len - off,
			   (unsigned long long)sr.count);
	return 0;
}

int llmi_strings_parse(const void *payload, size_t len,
		       int (*cb)(void *ctx, uint32_t kind, uint64_t id, const char *s, uint32_t slen),
		       void *ctx)
{
	const uint8_t *p = payload;
	struct llmi_strings_rec sr;
	size_t off = sizeof(sr);
	int ret;

	/* Whole first: a malformed table hands out nothing. */
	ret = strings_validate(p, len, NULL, 0);
	if (ret)
		return ret;
	memcpy(&sr, p, sizeof(sr));
	for (uint64_t i = 0; i < sr.count; i++) {
		struct llmi_string_ent e;

		memcpy(&e, p + off, sizeof(e));
		off += sizeof(e);
		ret = cb(ctx, sr.kind, e.id, (const char *)p + off, e.len);
		if (ret)
			return ret;
		off += llmi_align_up(e.len, 8);
	}
	return 0;
}

static int events_validate(const uint8_t *p, size_t len, struct llmi_events_rec *h,
			   char *why, size_t wl)
{
	const uint8_t *events = p + sizeof(*h);
	struct llmi_tl_event ev;
	uint64_t body;

	if (len < sizeof(*h))
		return bad(why, wl, "%zu bytes, shorter than an events header (%zu)", len, sizeof(*h));
	memcpy(h, p, sizeof(*h));
	body = len - sizeof(*h);
	if (!h->abi_version)
		return bad(why, wl, "event layout version 0 (versions start at 1)");
	if (h->event_size < sizeof(ev))
		return bad(why, wl, "event size %u, smaller than the %zu bytes every version starts with",
			   h->event_size, sizeof(ev));
	if (h->abi_version <= LLMI_TL_VERSION &&
	    h->event_size != LLMI_TL_EVENT_SIZE(h->abi_version))
		return bad(why, wl, "version %u events are %u bytes, not %u", h->abi_version,
			   LLMI_TL_EVENT_SIZE(h->abi_version), h->event_size);
	if (h->count > body / h->event_size)
		return bad(why, wl, "event count %llu does not fit its %llu bytes of events (%u bytes each)",
			   (unsigned long long)h->count, (unsigned long long)body, h->event_size);
	if (h->count * h->event_size != body)
		return bad(why, wl, "%llu events of %u bytes, but it holds %llu bytes of events",
			   (unsigned long long)h->count, h->event_size, (unsigned long long)body);
	for (uint64_t k = 0; k < h->count; k++) {
		llmi_events_get(events, h, k, &ev);
		/* A later version may add kinds and flags; versions 1 and 2 have these only. */
		if (h->abi_version <= LLMI_TL_VERSION &&
		    (!ev.kind || ev.kind >= LLMI_TL_KIND_MAX || (ev.flags & ~LLMI_TL_CAPTURED)))
			return bad(why, wl, "event %llu: kind %u, flags 0x%x: not a version %u event",
				   (unsigned long long)k, ev.kind, ev.flags, h->abi_version);
		if (h->pid && ev.pid != h->pid)
			return bad(why, wl, "event %llu: pid %u in a batch of pid %u", (unsigned long long)k,
				   ev.pid, h->pid);
		if ((k == 0 && ev.ts_ns != h->first_ns) || (k == h->count - 1 && ev.ts_ns != h->last_ns))
			return bad(why, wl, "its %s time %llu is not its %s event's (%llu)",
				   k ? "last" : "first", (unsigned long long)(k ? h->last_ns : h->first_ns),
				   k ? "last" : "first", (unsigned long long)ev.ts_ns);
	}
	return 0;
}

int llmi_events_parse(const void *payload, size_t len, struct llmi_events_rec *hdr,
		      const void **events)
{
	int err = events_validate(payload, len, hdr, NULL, 0);

	if (err)
		return err;
	*events = (const uint8_t *)payload + sizeof(*hdr);
	return 0;
}

int llmi_rec_validate(unsigned type, const void *payload, size_t len, char *why, size_t wl)
{
	switch (type) {
	case LLMI_REC_TENSOR: {
		struct llmi_tensor_info ti;

		return tensor_parse(payload, len, &ti, why, wl);
	}
	case LLMI_REC_EVENTS: {
		struct llmi_events_rec h;

		return events_validate(payload, len, &h, why, wl);
	}
	case LLMI_REC_STRINGS:
		return strings_validate(payload, len, why, wl);
	case LLMI_REC_TOKENS: {
		struct llmi_tokens_rec h;

		if (len < sizeof(h))
			return bad(why, wl, "%zu bytes, shorter than a tokens header (%zu)", len, sizeof(h));
		memcpy(&h, payload, sizeof(h));
		if (h.count != (len - sizeof(h)) / 8 || (len - sizeof(h)) % 8)
			return bad(why, wl, "%llu tokens in %zu bytes", (unsigned long long)h.count, len);
		return 0;
	}
	case LLMI_REC_SUMMARY:
		if (len < sizeof(struct llmi_summary_rec))
			return bad(why, wl, "%zu bytes, shorter than a summary (%zu)", len,
				   sizeof(struct llmi_summary_rec));
		return 0;
	default:
		return 0;	/* stats are free-form; unknown types are a later version's */
	}
}

/* ---- checking listed records ------------------------------------------- */

/* Types whose payload is read whole to validate it (batches, not tensors). */
static bool read_whole(unsigned type)
{
	return type == LLMI_REC_EVENTS || type == LLMI_REC_STRINGS || type == LLMI_REC_SUMMARY ||
	       type == LLMI_REC_TOKENS;
}

/* Marks record i damaged and counts it once: crc_bad when its header or
 * checksum failed, else its contents. */
static void mark_bad(struct llmi_reader *r, size_t i, bool crc_bad, const char *why)
{
	struct llmi_rec_info *ri = &r->recs[i];
	struct llmi_reader_status *st = &r->st;

	if (ri->state == LLMI_CHECK_BAD)
		return;
	ri->state = LLMI_CHECK_BAD;
	if (crc_bad) {
		if (!st->bad_records || ri->offset < st->first_bad_offset)
			st->first_bad_offset = ri->offset;
		st->bad_records++;
		return;
	}
	if (!st->bad_contents || ri->offset < st->first_bad_contents_offset) {
		st->first_bad_contents_offset = ri->offset;
		seterr(st->contents_note, sizeof(st->contents_note), "%s record at offset %llu: %s",
		       llmi_rec_type_name(ri->type), (unsigned long long)ri->offset, why);
	}
	st->bad_contents++;
}

/* Record i's header on disk still says what the list says (an index can
 * outlive damage to the record it points at). */
static int recheck_hdr(struct llmi_reader *r, const struct llmi_rec_info *ri, char *why, size_t wl)
{
	struct llmi_rec_hdr h;
	int err = llmi_reader__pread(r, ri->offset, &h, sizeof(h));

	if (err)
		return err == -ERANGE ? -EIO : err;	/* the file shrank */
	if (llmi_rec_hdr_check(&h) || h.type != ri->type || h.length != ri->length ||
	    h.data_crc != ri->data_crc)
		return bad(why, wl, "its record header does not match the index");
	return 0;
}

static int check_rec(struct llmi_reader *r, size_t i, char *why, size_t wl, bool *crc_bad)
{
	const struct llmi_rec_info *ri = &r->recs[i];
	uint64_t base = ri->offset + sizeof(struct llmi_rec_hdr);
	uint32_t crc;
	int err;

	*crc_bad = true;
	err = recheck_hdr(r, ri, why, wl);
	if (err)
		return err;
	if (read_whole(ri->type)) {
		size_t len;
		void *p = llmi_reader__load_why(r, i, &len, why, wl);

		if (!p)
			return -errno;
		free(p);
		return 0;
	}
	if (ri->state < LLMI_CHECK_CRC) {
		err = crc_range(r, base, ri->length, &crc);
		if (err)
			return err == -ERANGE ? -EIO : err;
		if (crc != ri->data_crc)
			return bad(why, wl, "payload checksum mismatch");
	}
	*crc_bad = false;
	if (ri->type == LLMI_REC_TENSOR) {
		struct llmi_tensor_info ti;

		ti.record = i;
		err = tensor_at(r, ri->offset, ri->length, &ti, why, wl);
		if (!err && r->blob_check)
			err = r->blob_check(r, ri->offset, &ti, why, wl);
	}
	return err;
}

int llmi_reader__check(struct llmi_reader *r, size_t i, char *why, size_t wl)
{
	char tmp[LLMI_ERRLEN];
	bool crc_bad;
	int err;

	if (i >= r->nr)
		return -EINVAL;
	if (r->recs[i].state == LLMI_CHECK_OK)
		return 0;
	if (!why) {
		why = tmp;
		wl = sizeof(tmp);
	}
	err = check_rec(r, i, why, wl, &crc_bad);
	if (err == -EBADMSG)
		mark_bad(r, i, crc_bad, why);
	else if (!err)
		r->recs[i].state = LLMI_CHECK_OK;
	return err;
}

int llmi_reader__check_all(struct llmi_reader *r)
{
	for (size_t i = 0; i < r->nr; i++) {
		int err = llmi_reader__check(r, i, NULL, 0);

		if (err && err != -EBADMSG)
			return err;
	}
	return 0;
}

void *llmi_reader__load_why(struct llmi_reader *r, size_t i, size_t *len, char *why, size_t wl)
{
	struct llmi_rec_info *ri = i < r->nr ? &r->recs[i] : NULL;
	char tmp[LLMI_ERRLEN];
	bool crc_bad = true;
	void *buf;
	int err;

	if (!ri) {
		errno = EINVAL;
		return NULL;
	}
	if (!why) {
		why = tmp;
		wl = sizeof(tmp);
	}
	/* Bounded by the file size when the record was listed. */
	if (ri->length > SIZE_MAX - 1) {
		errno = EFBIG;
		return NULL;
	}
	err = recheck_hdr(r, ri, why, wl);
	if (err)
		goto fail;
	buf = malloc(ri->length ? ri->length : 1);
	if (!buf)
		return NULL;
	err = llmi_reader__pread(r, ri->offset + sizeof(struct llmi_rec_hdr), buf, ri->length);
	if (err) {
		free(buf);
		errno = err == -ERANGE ? EIO : -err;
		return NULL;
	}
	if (llmi_crc32c(0, buf, ri->length) != ri->data_crc) {
		err = bad(why, wl, "payload checksum mismatch");
	} else {
		crc_bad = false;
		if (ri->type == LLMI_REC_TENSOR) {
			struct llmi_tensor_info ti;

			ti.record = i;
			err = tensor_parse(buf, ri->length, &ti, why, wl);
			if (!err && r->blob_check)
				err = r->blob_check(r, ri->offset, &ti, why, wl);
		} else {
			err = llmi_rec_validate(ri->type, buf, ri->length, why, wl);
		}
	}
	if (err) {
		free(buf);
		goto fail;
	}
	ri->state = LLMI_CHECK_OK;
	*len = ri->length;
	return buf;
fail:
	if (err == -EBADMSG)
		mark_bad(r, i, crc_bad, why);
	errno = -err;
	return NULL;
}

void *llmi_reader__load(struct llmi_reader *r, size_t i, size_t *len)
{
	return llmi_reader__load_why(r, i, len, NULL, 0);
}

/* ---- verify ------------------------------------------------------------- */

static int vfail(struct llmi_verify_report *rep, int err, uint64_t seq, uint64_t off,
		 const char *fmt, ...)
{
	va_list ap;

	rep->bad_seq = seq;
	rep->bad_offset = off;
	va_start(ap, fmt);
	vsnprintf(rep->what, sizeof(rep->what), fmt, ap);
	va_end(ap);
	return err;
}

/* Every record up to off is intact, and nothing after it was completed. */
static int incomplete(struct llmi_verify_report *rep, uint64_t seq, uint64_t off, uint64_t end,
		      bool zero, const char *tail_why)
{
	rep->bytes = off;
	rep->tail_bytes = end - off;
	rep->tail_zero = zero;
	if (off == end)
		return vfail(rep, -ENODATA, seq, off,
			     "no index: the writer did not close the file; %llu records intact up to offset %llu",
			     (unsigned long long)rep->data_records, (unsigned long long)off);
	return vfail(rep, -ENODATA, seq, off,
		     "no index: the writer did not close the file; %llu records intact up to offset %llu, "
		     "then %llu bytes never completed (%s)", (unsigned long long)rep->data_records,
		     (unsigned long long)off, (unsigned long long)(end - off), tail_why);
}

/* The totals a closed file's summary must hold: what the records before it add up to. */
static int summary_check(const struct llmi_summary_rec *want, const uint8_t *p, char *why, size_t wl)
{
	struct llmi_summary_rec s;

	memcpy(&s, p, sizeof(s));
#define SUM_U64(f, what)								\
	if (s.f != want->f)								\
		return bad(why, wl, "it says %llu %s, the records before it hold %llu",	\
			   (unsigned long long)s.f, what, (unsigned long long)want->f)
	SUM_U64(records, "data records");
	SUM_U64(tensors, "tensors");
	SUM_U64(event_batches, "event batches");
	SUM_U64(events, "events");
	SUM_U64(raw_bytes, "raw tensor bytes");
	SUM_U64(stored_bytes, "stored tensor bytes");
	SUM_U64(payload_bytes, "payload bytes");
#undef SUM_U64
	if (s.max_mse != want->max_mse || s.max_nmse != want->max_nmse ||
	    s.max_abs_err != want->max_abs_err)
		return bad(why, wl, "its largest errors are not those of its tensors");
	return 0;
}

/*
 * One record's payload at off (header h): checksum, then contents. Batches
 * are read whole once; a tensor's payload is checksummed in pieces and its
 * header read apart. Totals for the summary check go to sum; tensors must
 * come with ids 0, 1, 2... in file order.
 */
static int verify_payload(struct llmi_reader *r, uint64_t off, const struct llmi_rec_hdr *h,
			  struct llmi_summary_rec *sum, char *why, size_t wl)
{
	uint64_t base = off + sizeof(*h);
	uint32_t crc;
	int err;

	if (read_whole(h->type)) {
		uint8_t *p;

		if (h->length > SIZE_MAX - 1)
			return -EFBIG;
		p = malloc(h->length ? h->length : 1);
		if (!p)
			return -ENOMEM;
		err = llmi_reader__pread(r, base, p, h->length);
		if (err)
			err = -EIO;
		else if (llmi_crc32c(0, p, h->length) != h->data_crc)
			err = bad(why, wl, "payload checksum mismatch");
		else
			err = llmi_rec_validate(h->type, p, h->length, why, wl);
		if (!err && h->type == LLMI_REC_SUMMARY)
			err = summary_check(sum, p, why, wl);
		if (!err && h->type == LLMI_REC_EVENTS) {
			struct llmi_events_rec eh;

			memcpy(&eh, p, sizeof(eh));
			sum->event_batches++;
			sum->events += eh.count;
		}
		free(p);
		return err;
	}
	err = crc_range(r, base, h->length, &crc);
	if (err)
		return -EIO;
	if (crc != h->data_crc)
		return bad(why, wl, "payload checksum mismatch");
	if (h->type == LLMI_REC_TENSOR) {
		struct llmi_tensor_info ti;

		ti.record = SIZE_MAX;
		err = tensor_at(r, off, h->length, &ti, why, wl);
		if (!err && r->blob_check)
			err = r->blob_check(r, off, &ti, why, wl);
		if (err)
			return err;
		if (ti.rec.tensor_id != sum->tensors)
			return bad(why, wl, "tensor id %llu, expected %llu (ids count the tensors in file order)",
				   (unsigned long long)ti.rec.tensor_id, (unsigned long long)sum->tensors);
		sum->tensors++;
		sum->raw_bytes += ti.rec.raw_bytes;
		sum->stored_bytes += ti.blob_len;
		if (ti.rec.mse > sum->max_mse)
			sum->max_mse = ti.rec.mse;
		if (ti.rec.nmse > sum->max_nmse)
			sum->max_nmse = ti.rec.nmse;
		if (ti.rec.max_abs_err > sum->max_abs_err)
			sum->max_abs_err = ti.rec.max_abs_err;
	}
	return 0;
}

int llmi_reader__verify(struct llmi_reader *r, struct llmi_verify_report *rep)
{
	uint64_t off = r->hdr.header_size, end = r->size, seq = 0;
	uint64_t data_recs = 0, index_off = UINT64_MAX, summary_off = UINT64_MAX;
	struct llmi_summary_rec sum = { 0 };
	struct llmi_trailer_rec tr;
	bool trailer = false;
	struct llmi_rec_hdr h;
	char why[LLMI_ERRLEN];
	int err;

	memset(rep, 0, sizeof(*rep));
	/* Header: checked at open, but read again in case the file changed. */
	{
		struct llmi_file_header fh;

		if (llmi_reader__pread(r, 0, &fh, sizeof(fh)) || llmi_file_header_check(&fh))
			return vfail(rep, -EBADMSG, 0, 0, "file header: checksum mismatch");
	}
	/* The rest of the header block is zero: no bit in the file is unchecked. */
	for (uint64_t o = sizeof(struct llmi_file_header); o < r->hdr.header_size; o += 512) {
		uint8_t blk[512];
		size_t n = r->hdr.header_size - o < sizeof(blk) ? r->hdr.header_size - o : sizeof(blk);

		if (llmi_reader__pread(r, o, blk, n) || !all_zero(blk, n))
			return vfail(rep, -EBADMSG, 0, o, "file header block: non-zero bytes in its reserved part");
	}
	while (off < end) {
		uint8_t gap[LLMI_REC_ALIGN];
		uint64_t glen;

		err = read_rec_hdr(r, off, end, &h, why, sizeof(why));
		if (err == -EBADMSG && all_zero(&h, sizeof(h))) {
			/* Unwritten space: the end of an unclosed file only if
			 * nothing was written after it. */
			uint64_t found;
			bool zero;

			err = resync(r, off, end, seq, &found, &zero);
			if (err)
				return vfail(rep, err, seq, off, "read error after offset %llu",
					     (unsigned long long)off);
			if (found == end && zero)
				return incomplete(rep, seq, off, end, true, "unwritten (zero) space");
			return vfail(rep, -EBADMSG, seq, off,
				     "record %llu at offset %llu: unwritten (zero) bytes, then %s at offset %llu: "
				     "a hole in the file", (unsigned long long)seq, (unsigned long long)off,
				     found < end ? "a record" : "non-zero bytes",
				     (unsigned long long)(found < end ? found : off));
		}
		if (err == -ENODATA)
			return incomplete(rep, seq, off, end, false, "an incomplete record");
		if (err)
			return vfail(rep, err, seq, off, "record %llu: %s", (unsigned long long)seq, why);
		if (h.seq != seq)
			return vfail(rep, -EBADMSG, seq, off,
				     "record %llu at offset %llu: sequence number %llu, expected %llu (a record is missing)",
				     (unsigned long long)seq, (unsigned long long)off,
				     (unsigned long long)h.seq, (unsigned long long)seq);
		if (h.type == LLMI_REC_TRAILER) {
			if (h.length != sizeof(tr) || llmi_reader__pread(r, off + sizeof(h), &tr, sizeof(tr)))
				return vfail(rep, -EBADMSG, seq, off, "trailer at offset %llu: %llu bytes, not %zu",
					     (unsigned long long)off, (unsigned long long)h.length, sizeof(tr));
			if (llmi_crc32c(0, &tr, sizeof(tr)) != h.data_crc)
				return vfail(rep, -EBADMSG, seq, off, "trailer at offset %llu: payload checksum mismatch",
					     (unsigned long long)off);
		} else {
			err = verify_payload(r, off, &h, &sum, why, sizeof(why));
			if (err == -EIO || err == -ENOMEM || err == -EFBIG)
				return vfail(rep, err, seq, off, "record %llu at offset %llu: %s",
					     (unsigned long long)seq, (unsigned long long)off,
					     err == -EIO ? "read error" : "too large to read");
			if (err)
				return vfail(rep, -EBADMSG, seq, off, "record %llu (%s) at offset %llu: %s",
					     (unsigned long long)seq, llmi_rec_type_name(h.type),
					     (unsigned long long)off, why);
		}
		/* The alignment gap after the payload is zero (a short tail is a torn record). */
		glen = llmi_rec_span(h.length) - sizeof(h) - h.length;
		if (h.type != LLMI_REC_TRAILER && glen) {
			uint64_t goff = off + sizeof(h) + h.length;

			if (end - goff < glen)
				return incomplete(rep, seq, off, end, false, "an incomplete record");
			if (llmi_reader__pread(r, goff, gap, glen) || !all_zero(gap, glen))
				return vfail(rep, -EBADMSG, seq, off,
					     "record %llu (%s) at offset %llu: damaged alignment bytes after it",
					     (unsigned long long)seq, llmi_rec_type_name(h.type),
					     (unsigned long long)off);
		}
		rep->records++;
		if (listed(h.type)) {
			data_recs++;
			if (h.type != LLMI_REC_SUMMARY) {
				sum.records++;
				sum.payload_bytes += h.length;
			}
		}
		rep->data_records = data_recs;
		if (h.type == LLMI_REC_INDEX)
			index_off = off;
		if (h.type == LLMI_REC_SUMMARY)
			summary_off = off;
		if (h.type == LLMI_REC_TRAILER) {
			trailer = true;
			off += sizeof(h) + h.length;
			break;
		}
		off += llmi_rec_span(h.length);
		seq++;
	}
	rep->bytes = off < end ? off : end;
	if (!trailer)
		return incomplete(rep, seq, off < end ? off : end, end, false, "");
	if (off != end)
		return vfail(rep, -EBADMSG, seq, off, "%llu bytes after the trailer",
			     (unsigned long long)(end - off));
	if (memcmp(tr.magic, LLMI_TRAILER_MAGIC, 8) || tr.summary_offset != summary_off ||
	    tr.records != data_recs)
		return vfail(rep, -EBADMSG, seq, end - LLMI_TRAILER_TOTAL,
			     "trailer: it points at a summary at offset %llu and counts %llu records; "
			     "the file has %s%llu and %llu", (unsigned long long)tr.summary_offset,
			     (unsigned long long)tr.records, summary_off == UINT64_MAX ? "no summary, " : "",
			     (unsigned long long)(summary_off == UINT64_MAX ? 0 : summary_off),
			     (unsigned long long)data_recs);
	/* The records are intact; the index must list exactly the data records. */
	{
		/* A shallow copy shares the source and scratch, not the list. */
		struct llmi_reader copy = *r, *ir = &copy;
		int ok = 0;

		copy.recs = NULL;
		copy.nr = copy.cap = 0;
		memset(&copy.st, 0, sizeof(copy.st));
		err = load_index(ir);
		if (err == -ENOMEM)
			return vfail(rep, -ENOMEM, seq, 0, "out of memory");
		if (err) {
			ok = vfail(rep, -EBADMSG, seq, index_off == UINT64_MAX ? off : index_off,
				   "index: %s", ir->st.note);
		} else if (ir->nr != data_recs) {
			ok = vfail(rep, -EBADMSG, seq, index_off, "index lists %zu records, the file holds %llu",
				   ir->nr, (unsigned long long)data_recs);
		} else {
			/* Every indexed record must be a real, intact record. */
			for (size_t i = 0; i < ir->nr && !ok; i++) {
				const struct llmi_rec_info *e = &ir->recs[i];

				if (read_rec_hdr(r, e->offset, end, &h, why, sizeof(why)) ||
				    h.type != e->type || h.length != e->length || h.data_crc != e->data_crc)
					ok = vfail(rep, -EBADMSG, seq, index_off,
						   "index entry %zu does not match the record at offset %llu",
						   i, (unsigned long long)e->offset);
			}
		}
		free(copy.recs);
		if (ok)
			return ok;
	}
	rep->indexed = true;
	return 0;
}
