// SPDX-License-Identifier: MIT
/*
 * Arrow IPC stream writer (arrow.h). An encapsulated message is
 *
 *   0xFFFFFFFF, int32 metadata size, a flatbuffer Message (padded to 8),
 *   then the body: the buffers the Message's RecordBatch points at.
 *
 * The flatbuffer is built back to front, as flatbuffers' own builders do:
 * the buffer grows towards lower addresses, a reference is the distance of
 * its object from the buffer's end, and a table's children are finished
 * before the table starts. Tables and fields used, from Arrow's Schema.fbs
 * and Message.fbs (field numbers in brackets):
 *
 *   Message      version[0] short (V5 = 4), header_type[1] ubyte,
 *                header[2] (Schema = 1, RecordBatch = 3), bodyLength[3] long
 *   Schema       endianness[0] short (Little = 0), fields[1] [Field]
 *   Field        name[0], nullable[1] bool, type_type[2] ubyte, type[3],
 *                children[5] [Field], custom_metadata[6] [KeyValue]
 *   KeyValue     key[0], value[1]
 *   Int          bitWidth[0] int, is_signed[1] bool           (type 2)
 *   FloatingPoint precision[0] short (HALF 0, SINGLE 1)       (type 3)
 *   FixedSizeList listSize[0] int                             (type 16)
 *   RecordBatch  length[0] long, nodes[1] [FieldNode {length, null_count}],
 *                buffers[2] [Buffer {offset, length}]
 *
 * In a batch each column is a node and two buffers (validity, values); a
 * fixed-size list is a node and one buffer (validity) for the list, then
 * its child's node and two buffers. A validity buffer of length 0 means
 * every slot is valid. Buffers start 64-aligned within the body.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dump/arrow.h"

#define ALIGN	64

struct fb {
	uint8_t *buf;		/* the data is buf[cap - len, cap) */
	size_t cap, len, minalign;
	uint32_t vt[8];		/* field number -> len when it was added, 0: absent */
	unsigned nvt;
	size_t start;		/* len at the table's start */
	bool oom;
};

static void fb_push(struct fb *b, const void *p, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		uint8_t *nb;

		while (cap < b->len + n)
			cap *= 2;
		nb = malloc(cap);
		if (!nb) {
			b->oom = true;
			return;
		}
		if (b->len)
			memcpy(nb + cap - b->len, b->buf + b->cap - b->len, b->len);
		free(b->buf);
		b->buf = nb;
		b->cap = cap;
	}
	b->len += n;
	if (p)
		memcpy(b->buf + b->cap - b->len, p, n);
	else
		memset(b->buf + b->cap - b->len, 0, n);
}

/* Zeros so that n bytes pushed next end a-aligned (from the buffer's end). */
static void fb_align(struct fb *b, size_t n, size_t a)
{
	if (a > b->minalign)
		b->minalign = a;
	while ((b->len + n) % a)
		fb_push(b, NULL, 1);
}

static void fb_scalar(struct fb *b, const void *p, size_t n)
{
	fb_align(b, n, n);
	fb_push(b, p, n);
}

/* A reference to the object at ref, relative to where it is stored. */
static void fb_uoff(struct fb *b, uint32_t ref)
{
	uint32_t v;

	fb_align(b, 4, 4);
	v = (uint32_t)(b->len + 4 - ref);
	fb_push(b, &v, 4);
}

static uint32_t fb_string(struct fb *b, const char *s)
{
	uint32_t n = (uint32_t)strlen(s);

	fb_align(b, n + 1, 4);
	fb_push(b, NULL, 1);
	fb_push(b, s, n);
	fb_push(b, &n, 4);
	return (uint32_t)b->len;
}

static uint32_t fb_vec_refs(struct fb *b, const uint32_t *refs, uint32_t n)
{
	for (uint32_t i = n; i-- > 0;)
		fb_uoff(b, refs[i]);
	fb_align(b, 4, 4);
	fb_push(b, &n, 4);
	return (uint32_t)b->len;
}

/* A vector of n 16-byte structs of two longs each. */
static uint32_t fb_vec_pairs(struct fb *b, const int64_t (*v)[2], uint32_t n)
{
	fb_align(b, 16 * (size_t)n, 8);
	fb_push(b, v, 16 * (size_t)n);
	fb_push(b, &n, 4);
	return (uint32_t)b->len;
}

static void fb_start(struct fb *b)
{
	memset(b->vt, 0, sizeof(b->vt));
	b->nvt = 0;
	b->start = b->len;
}

static void fb_field(struct fb *b, unsigned id)
{
	b->vt[id] = (uint32_t)b->len;
	if (id + 1 > b->nvt)
		b->nvt = id + 1;
}

static void fb_add(struct fb *b, unsigned id, const void *p, size_t n)
{
	fb_scalar(b, p, n);
	fb_field(b, id);
}

static void fb_add_ref(struct fb *b, unsigned id, uint32_t ref)
{
	fb_uoff(b, ref);
	fb_field(b, id);
}

static uint32_t fb_end(struct fb *b)
{
	uint16_t vt[2 + 8];
	uint32_t obj, vtpos;
	int32_t so = 0;

	fb_scalar(b, &so, 4);	/* the table's offset to its vtable, set below */
	obj = (uint32_t)b->len;
	vt[0] = (uint16_t)(4 + 2 * b->nvt);
	vt[1] = (uint16_t)(obj - b->start);
	for (unsigned i = 0; i < b->nvt; i++)
		vt[2 + i] = b->vt[i] ? (uint16_t)(obj - b->vt[i]) : 0;
	fb_push(b, vt, 4 + 2 * (size_t)b->nvt);
	vtpos = (uint32_t)b->len;
	so = (int32_t)(vtpos - obj);
	if (!b->oom)
		memcpy(b->buf + b->cap - obj, &so, 4);
	return obj;
}

static void fb_finish(struct fb *b, uint32_t root)
{
	fb_align(b, 4, b->minalign > 4 ? b->minalign : 4);
	fb_uoff(b, root);
}

static int64_t elem_size(enum arrow_type t)
{
	return t == ARROW_I64 ? 8 : t == ARROW_F32 || t == ARROW_I32 ? 4 : 2;
}

static uint64_t pad(uint64_t n)
{
	return (n + ALIGN - 1) / ALIGN * ALIGN;
}

/* A type table for a scalar of t; *kind gets its Type union tag. */
static uint32_t type_table(struct fb *b, enum arrow_type t, uint8_t *kind)
{
	fb_start(b);
	if (t == ARROW_F32 || t == ARROW_F16) {
		int16_t prec = t == ARROW_F32 ? 1 : 0;

		fb_add(b, 0, &prec, 2);
		*kind = 3;
	} else {
		int32_t bits = t == ARROW_I64 ? 64 : t == ARROW_I32 ? 32 : 16;
		uint8_t sign = t != ARROW_U16;

		fb_add(b, 0, &bits, 4);
		fb_add(b, 1, &sign, 1);
		*kind = 2;
	}
	return fb_end(b);
}

static uint32_t field(struct fb *b, const char *name, uint8_t kind, uint32_t type,
		      const uint32_t *children, uint32_t nchildren, const char *key,
		      const char *val)
{
	uint32_t nm = fb_string(b, name), ch = fb_vec_refs(b, children, nchildren), meta = 0;
	uint8_t yes = 1;

	if (key) {
		uint32_t k = fb_string(b, key), v = fb_string(b, val), kv;

		fb_start(b);
		fb_add_ref(b, 0, k);
		fb_add_ref(b, 1, v);
		kv = fb_end(b);
		meta = fb_vec_refs(b, &kv, 1);
	}
	fb_start(b);
	fb_add_ref(b, 0, nm);
	fb_add(b, 1, &yes, 1);
	fb_add(b, 2, &kind, 1);
	fb_add_ref(b, 3, type);
	fb_add_ref(b, 5, ch);
	if (meta)
		fb_add_ref(b, 6, meta);
	return fb_end(b);
}

/* Message{version V5, header} around the header table; the flatbuffer in b. */
static void message(struct fb *b, uint8_t kind, uint32_t header, int64_t body)
{
	int16_t v5 = 4;
	uint32_t m;

	fb_start(b);
	fb_add(b, 3, &body, 8);
	fb_add_ref(b, 2, header);
	fb_add(b, 0, &v5, 2);
	fb_add(b, 1, &kind, 1);
	m = fb_end(b);
	fb_finish(b, m);
}

/* Continuation marker, metadata size, the flatbuffer padded to 8; frees b. */
static int put_message(FILE *f, struct fb *b)
{
	static const uint8_t zeros[8];
	uint32_t head[2] = { 0xFFFFFFFFu, 0 };
	size_t padn = (8 - b->len % 8) % 8;
	int ret = 0;

	if (b->oom) {
		errno = ENOMEM;
		ret = -1;
	} else {
		head[1] = (uint32_t)(b->len + padn);
		if (fwrite(head, 4, 2, f) != 2 ||
		    fwrite(b->buf + b->cap - b->len, 1, b->len, f) != b->len ||
		    fwrite(zeros, 1, padn, f) != padn)
			ret = -1;
	}
	free(b->buf);
	return ret;
}

int arrow_schema(FILE *f, const struct arrow_col *cols, size_t n)
{
	struct fb b = { 0 };
	uint32_t *refs = calloc(n ? n : 1, sizeof(*refs)), fields, schema;

	if (!refs) {
		errno = ENOMEM;
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		uint8_t kind, lkind = 16;
		uint32_t type = type_table(&b, cols[i].type, &kind);

		if (cols[i].list_size) {
			uint32_t item = field(&b, "item", kind, type, NULL, 0, NULL, NULL), lt;
			int32_t size = (int32_t)cols[i].list_size;

			fb_start(&b);
			fb_add(&b, 0, &size, 4);
			lt = fb_end(&b);
			refs[i] = field(&b, cols[i].name, lkind, lt, &item, 1, cols[i].meta_key,
					cols[i].meta_val);
		} else {
			refs[i] = field(&b, cols[i].name, kind, type, NULL, 0, cols[i].meta_key,
					cols[i].meta_val);
		}
	}
	fields = fb_vec_refs(&b, refs, (uint32_t)n);
	free(refs);
	fb_start(&b);
	fb_add_ref(&b, 1, fields);
	schema = fb_end(&b);
	message(&b, 1, schema, 0);
	return put_message(f, &b);
}

int arrow_pad(FILE *f, uint64_t len)
{
	static const uint8_t zeros[ALIGN];
	size_t z = (size_t)(pad(len) - len);

	return z && fwrite(zeros, 1, z, f) != z ? -1 : 0;
}

static int put_padded(FILE *f, const void *p, size_t len)
{
	if (len && fwrite(p, 1, len, f) != len)
		return -1;
	return arrow_pad(f, len);
}

int arrow_batch_head(FILE *f, const struct arrow_col *cols, size_t n, uint64_t rows,
		     const struct arrow_data *data)
{
	int64_t (*nodes)[2] = calloc(2 * n + 1, sizeof(*nodes));
	int64_t (*bufs)[2] = calloc(3 * n + 1, sizeof(*bufs));
	uint32_t nn = 0, nb = 0, vn, vb, rb;
	int64_t off = 0, len = (int64_t)rows;
	struct fb b = { 0 };

	if (!nodes || !bufs) {
		free(nodes);
		free(bufs);
		errno = ENOMEM;
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		int64_t vlen = (int64_t)(rows * (cols[i].list_size ? cols[i].list_size : 1) *
					 elem_size(cols[i].type));
		int64_t blen = data[i].validity ? (int64_t)((rows + 7) / 8) : 0;

		nodes[nn][0] = (int64_t)rows;
		nodes[nn++][1] = data[i].validity ? (int64_t)data[i].null_count : 0;
		bufs[nb][0] = off;
		bufs[nb++][1] = blen;
		off += (int64_t)pad((uint64_t)blen);
		if (cols[i].list_size) {
			nodes[nn][0] = (int64_t)(rows * cols[i].list_size);
			nodes[nn++][1] = 0;
			bufs[nb][0] = off;
			bufs[nb++][1] = 0;
		}
		bufs[nb][0] = off;
		bufs[nb++][1] = vlen;
		off += (int64_t)pad((uint64_t)vlen);
	}
	vn = fb_vec_pairs(&b, (const int64_t (*)[2])nodes, nn);
	vb = fb_vec_pairs(&b, (const int64_t (*)[2])bufs, nb);
	free(nodes);
	free(bufs);
	fb_start(&b);
	fb_add(&b, 0, &len, 8);
	fb_add_ref(&b, 1, vn);
	fb_add_ref(&b, 2, vb);
	rb = fb_end(&b);
	message(&b, 3, rb, off);
	return put_message(f, &b);
}

int arrow_batch(FILE *f, const struct arrow_col *cols, size_t n, uint64_t rows,
		const struct arrow_data *data)
{
	if (arrow_batch_head(f, cols, n, rows, data))
		return -1;
	/* the body, in the order of the buffers: validity, values, each padded */
	for (size_t i = 0; i < n; i++)
		if (put_padded(f, data[i].validity, data[i].validity ? (size_t)((rows + 7) / 8) : 0) ||
		    put_padded(f, data[i].values, (size_t)(rows * (cols[i].list_size ? cols[i].list_size : 1) *
							   elem_size(cols[i].type))))
			return -1;
	return 0;
}

int arrow_eos(FILE *f)
{
	uint32_t eos[2] = { 0xFFFFFFFFu, 0 };

	return fwrite(eos, 4, 2, f) == 2 ? 0 : -1;
}
