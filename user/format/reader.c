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
			ri.offset = off;
			ri.length = h.length;
			ri.data_crc = h.data_crc;
			ri.type = h.type;
			ri.flags = h.flags;
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
		ri.offset = e->offset;
		ri.length = e->length;
		ri.data_crc = e->data_crc;
		ri.type = e->type;
		ri.flags = e->flags;
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

	if (r->size < sizeof(r->hdr)) {
		seterr(err, errlen, "%s: not an llminstr container (%llu bytes, too short)", what,
		       (unsigned long long)r->size);
		e = EBADMSG;
		goto fail;
	}
	if (llmi_reader__pread(r, 0, &r->hdr, sizeof(r->hdr))) {
		seterr(err, errlen, "%s: cannot read the header", what);
		e = EIO;
		goto fail;
	}
	if (memcmp(r->hdr.magic, LLMI_FILE_MAGIC, 8)) {
		seterr(err, errlen, "%s: not an llminstr container (bad magic)", what);
		e = EBADMSG;
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

void *llmi_reader__load(struct llmi_reader *r, size_t i, size_t *len)
{
	const struct llmi_rec_info *ri = llmi_reader__record(r, i);
	void *buf;
	int err;

	if (!ri) {
		errno = EINVAL;
		return NULL;
	}
	/* Bounded by the file size when the record was listed. */
	if (ri->length > SIZE_MAX - 1) {
		errno = EFBIG;
		return NULL;
	}
	/* The record header must still say what the list says (an index can
	 * outlive damage to the record it points at). */
	{
		struct llmi_rec_hdr h;

		err = llmi_reader__pread(r, ri->offset, &h, sizeof(h));
		if (err) {
			errno = -err;
			return NULL;
		}
		if (llmi_rec_hdr_check(&h) || h.type != ri->type || h.length != ri->length ||
		    h.data_crc != ri->data_crc) {
			errno = EBADMSG;
			return NULL;
		}
	}
	buf = malloc(ri->length ? ri->length : 1);
	if (!buf)
		return NULL;
	err = llmi_reader__pread(r, ri->offset + sizeof(struct llmi_rec_hdr), buf, ri->length);
	if (err) {
		free(buf);
		errno = -err;
		return NULL;
	}
	if (llmi_crc32c(0, buf, ri->length) != ri->data_crc) {
		free(buf);
		errno = EBADMSG;
		return NULL;
	}
	*len = ri->length;
	return buf;
}

/* Checks a tensor header whose fixed part and name are in hdr/name. */
static int tensor_check(struct llmi_tensor_info *ti, uint64_t payload_len)
{
	const struct llmi_tensor_rec *t = &ti->rec;
	uint64_t numel = 1, esz, off;

	if (t->ndim > 8 || t->name_len > LLMI_NAME_MAX)
		return -EBADMSG;
	esz = llmi_format_dtype_size(t->dtype);
	if (!esz)
		return -EBADMSG;
	for (unsigned d = 0; d < t->ndim; d++) {
		if (t->shape[d] && numel > UINT64_MAX / t->shape[d])
			return -EBADMSG;
		numel *= t->shape[d];
	}
	if (numel > UINT64_MAX / esz || numel * esz != t->raw_bytes)
		return -EBADMSG;
	off = llmi_align_up((uint64_t)t->hdr_size + t->name_len, 8);
	if (off > payload_len || t->stored_bytes != payload_len - off)
		return -EBADMSG;
	ti->blob_offset = off;
	ti->blob_len = t->stored_bytes;
	return 0;
}

int llmi_tensor_parse(const void *payload, size_t len, struct llmi_tensor_info *ti)
{
	const uint8_t *p = payload;
	uint32_t hs;

	memset(&ti->rec, 0, sizeof(ti->rec));
	if (len < sizeof(ti->rec))
		return -EBADMSG;
	memcpy(&hs, p, sizeof(hs));
	if (hs < sizeof(ti->rec) || hs > len)
		return -EBADMSG;
	memcpy(&ti->rec, p, sizeof(ti->rec));
	if (ti->rec.name_len > LLMI_NAME_MAX || ti->rec.name_len > len - hs)
		return -EBADMSG;
	memcpy(ti->name, p + hs, ti->rec.name_len);
	ti->name[ti->rec.name_len] = 0;
	return tensor_check(ti, len);
}

int llmi_reader__tensor(struct llmi_reader *r, size_t i, struct llmi_tensor_info *ti)
{
	const struct llmi_rec_info *ri = llmi_reader__record(r, i);
	uint64_t base;
	int err;

	if (!ri || ri->type != LLMI_REC_TENSOR)
		return -EINVAL;
	memset(&ti->rec, 0, sizeof(ti->rec));
	ti->record = i;
	if (ri->length < sizeof(ti->rec))
		return -EBADMSG;
	base = ri->offset + sizeof(struct llmi_rec_hdr);
	err = llmi_reader__pread(r, base, &ti->rec, sizeof(ti->rec));
	if (err)
		return err == -ERANGE ? -EBADMSG : err;
	if (ti->rec.hdr_size < sizeof(ti->rec) || ti->rec.hdr_size > ri->length ||
	    ti->rec.name_len > LLMI_NAME_MAX || ti->rec.name_len > ri->length - ti->rec.hdr_size)
		return -EBADMSG;
	err = llmi_reader__pread(r, base + ti->rec.hdr_size, ti->name, ti->rec.name_len);
	if (err)
		return err == -ERANGE ? -EBADMSG : err;
	ti->name[ti->rec.name_len] = 0;
	return tensor_check(ti, ri->length);
}

int llmi_strings_parse(const void *payload, size_t len,
		       int (*cb)(void *ctx, uint32_t kind, uint64_t id, const char *s, uint32_t slen),
		       void *ctx)
{
	const uint8_t *p = payload;
	struct llmi_strings_rec sr;
	size_t off = sizeof(sr);
	int ret;

	if (len < sizeof(sr))
		return -EBADMSG;
	memcpy(&sr, p, sizeof(sr));
	/* Each entry takes at least its 16-byte head: bounds count by len. */
	if (sr.count > (len - sizeof(sr)) / sizeof(struct llmi_string_ent))
		return -EBADMSG;
	for (uint64_t i = 0; i < sr.count; i++) {
		struct llmi_string_ent e;

		if (len - off < sizeof(e))
			return -EBADMSG;
		memcpy(&e, p + off, sizeof(e));
		off += sizeof(e);
		if (e.len > len - off)
			return -EBADMSG;
		ret = cb(ctx, sr.kind, e.id, (const char *)p + off, e.len);
		if (ret)
			return ret;
		off += e.len;
		off = llmi_align_up(off, 8) <= len ? llmi_align_up(off, 8) : len;
	}
	return 0;
}

int llmi_events_parse(const void *payload, size_t len, struct llmi_events_rec *hdr,
		      const void **events)
{
	if (len < sizeof(*hdr))
		return -EBADMSG;
	memcpy(hdr, payload, sizeof(*hdr));
	if (hdr->count && (hdr->event_size == 0 ||
			   hdr->count > (len - sizeof(*hdr)) / hdr->event_size))
		return -EBADMSG;
	if (hdr->count * hdr->event_size != len - sizeof(*hdr))
		return -EBADMSG;
	*events = (const uint8_t *)payload + sizeof(*hdr);
	return 0;
}

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

int llmi_reader__verify(struct llmi_reader *r, struct llmi_verify_report *rep)
{
	uint64_t off = r->hdr.header_size, end = r->size, seq = 0;
	uint64_t data_recs = 0, index_off = UINT64_MAX;
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
		uint32_t crc;
		uint8_t gap[LLMI_REC_ALIGN];
		uint64_t glen;

		err = read_rec_hdr(r, off, end, &h, why, sizeof(why));
		if (err == -EBADMSG && seq > 0 && all_zero(&h, sizeof(h)))
			err = -ENODATA;	/* unwritten tail, not damage */
		if (err)
			return vfail(rep, err, seq, off, "record %llu: %s", (unsigned long long)seq, why);
		if (h.seq != seq)
			return vfail(rep, -EBADMSG, seq, off,
				     "record %llu at offset %llu: sequence number %llu, expected %llu (a record is missing)",
				     (unsigned long long)seq, (unsigned long long)off,
				     (unsigned long long)h.seq, (unsigned long long)seq);
		err = crc_range(r, off + sizeof(h), h.length, &crc);
		if (err)
			return vfail(rep, -EIO, seq, off, "record %llu at offset %llu: read error",
				     (unsigned long long)seq, (unsigned long long)off);
		if (crc != h.data_crc)
			return vfail(rep, -EBADMSG, seq, off,
				     "record %llu (%s) at offset %llu: payload checksum mismatch",
				     (unsigned long long)seq, llmi_rec_type_name(h.type),
				     (unsigned long long)off);
		/* The alignment gap after the payload is zero (a short tail is a torn record). */
		glen = llmi_rec_span(h.length) - sizeof(h) - h.length;
		if (h.type != LLMI_REC_TRAILER && glen) {
			uint64_t goff = off + sizeof(h) + h.length;

			if (end - goff < glen)
				return vfail(rep, -ENODATA, seq, off, "record %llu at offset %llu: file ends inside it",
					     (unsigned long long)seq, (unsigned long long)off);
			if (llmi_reader__pread(r, goff, gap, glen) || !all_zero(gap, glen))
				return vfail(rep, -EBADMSG, seq, off,
					     "record %llu (%s) at offset %llu: damaged alignment bytes after it",
					     (unsigned long long)seq, llmi_rec_type_name(h.type),
					     (unsigned long long)off);
		}
		rep->records++;
		if (listed(h.type))
			data_recs++;
		rep->data_records = data_recs;
		if (h.type == LLMI_REC_INDEX)
			index_off = off;
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
		return vfail(rep, -ENODATA, seq, off,
			     "no index: the writer did not close the file (%llu records intact up to offset %llu)",
			     (unsigned long long)rep->records, (unsigned long long)rep->bytes);
	if (off != end)
		return vfail(rep, -EBADMSG, seq, off, "%llu bytes after the trailer",
			     (unsigned long long)(end - off));
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
