// SPDX-License-Identifier: MIT
/*
 * The .llmi container: CRC32C, record round trip through the writer and the
 * reader, the index present / absent / damaged (rebuilt by scanning),
 * truncation at every record boundary and inside records (a torn tail, not
 * damage), resynchronisation past damaged record headers, a writer killed
 * with SIGKILL mid-record, and random bit flips. The validation of record
 * contents: every rule on crafted payloads, events of a later version (80
 * bytes), damage behind a valid index (a flipped bit; 2^60 events with a
 * checksum rewritten to match) found by llmi_reader__check, verify's totals
 * (summary, tensor ids) and its incomplete files against holes. Files are
 * made with the real writer; tensor blobs are random bytes (the codec is
 * tested on its own).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "format/format.h"
#include "format/reader.h"
#include "io/writer.h"

#define NT 12

static char dir[64];

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/llmi-format-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

static uint8_t *read_all(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *buf;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	buf = malloc(st.st_size + 1);
	assert_non_null(buf);
	assert_int_equal(pread(fd, buf, st.st_size, 0), st.st_size);
	close(fd);
	*len = st.st_size;
	return buf;
}

static void fill_blob(uint8_t *b, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		b[i] = seed >> 16;
	}
}

static size_t blob_len(int i)
{
	/* Small, odd, and one larger than an extent, so records span extents. */
	return i == 5 ? (1u << 20) + 333 : 37 + 1000 * (size_t)i;
}

/* n timeline events of pid 42 at times 1..n, every kind in turn. */
static void make_events(struct llmi_tl_event *ev, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ev[i] = (struct llmi_tl_event){
			.ts_ns = 1 + i, .dur_ns = 10, .pid = 42, .tid = 43, .stream = 7, .obj = 0x1000 + i,
			.name_id = 7, .api = 3, .kind = LLMI_TL_LAUNCH + i % (LLMI_TL_KIND_MAX - 1),
		};
}

/* A file with NT tensors, a string table, an events batch and a stats record. */
static void make_file(const char *path, unsigned flags)
{
	struct llmi_writer_opts o = { .sz = sizeof(o), .writer = "test_format", .flags = flags,
				      .owner_uid = (uid_t)-1, .owner_gid = (gid_t)-1 };
	struct llmi_writer *w = llmi_writer__new(path, &o);
	uint64_t ids[2] = { 7, 9 };
	const char *names[2] = { "gemm_kernel", "rmsnorm" };

	assert_non_null(w);
	assert_int_equal(llmi_writer__strings(w, LLMI_STR_KERNEL, 2, ids, names), 0);
	for (int i = 0; i < NT; i++) {
		size_t n = blob_len(i);
		uint8_t *b = malloc(n);
		struct llmi_tensor_rec t = { .dtype = 2, .ndim = 2, .shape = { 4, 8 + i },
					     .step = i / 3, .layer = i % 3, .tid = 100 + i,
					     .launch_id = 1000 + i, .kernel_name_id = 7,
					     .capture_ns = 5000 + i, .mse = 1e-4 * i, .nmse = 2e-4 * i,
					     .max_abs_err = 0.01 * i, .codec_mode = 1,
					     .codec_bound = 1e-3, .ref_tensor_id = LLMI_NO_REF };
		char name[32];

		t.raw_bytes = 4 * (8 + i) * 2;
		snprintf(name, sizeof(name), "blk.%d.resid", i);
		fill_blob(b, n, i);
		assert_int_equal(llmi_writer__tensor(w, &t, name, b, n), 0);
		assert_int_equal(t.tensor_id, (uint64_t)i);
		free(b);
	}
	{
		struct llmi_events_rec eh = { .event_size = sizeof(struct llmi_tl_event),
					      .abi_version = 1, .count = 3,
					      .first_ns = 1, .last_ns = 3, .pid = 42 };
		struct llmi_tl_event ev[3];

		make_events(ev, 3);
		assert_int_equal(llmi_writer__events(w, &eh, ev), 0);
	}
	assert_int_equal(llmi_writer__stats_json(w, "{\"mode\":\"test\"}", 15), 0);
	assert_int_equal(llmi_writer__close(w), 0);
	llmi_writer__free(w);
}

static void test_crc32c(void **state)
{
	uint8_t buf[4099];

	assert_int_equal(llmi_crc32c(0, "123456789", 9), 0xe3069283);
	assert_int_equal(llmi_crc32c_sw(0, "123456789", 9), 0xe3069283);
	fill_blob(buf, sizeof(buf), 1);
	for (size_t a = 0; a < 9; a++)
		for (size_t n = 0; n + a < sizeof(buf); n += 97)
			assert_int_equal(llmi_crc32c(0, buf + a, n), llmi_crc32c_sw(0, buf + a, n));
	/* Chaining equals one pass. */
	assert_int_equal(llmi_crc32c(llmi_crc32c(0, buf, 1000), buf + 1000, 3000),
			 llmi_crc32c(0, buf, 4000));
	print_message("crc32c implementation: %s\n", llmi_crc32c_impl());
}

static int count_strings(void *ctx, uint32_t kind, uint64_t id, const char *s, uint32_t len)
{
	int *n = ctx;

	assert_int_equal(kind, LLMI_STR_KERNEL);
	if (id == 7)
		assert_memory_equal(s, "gemm_kernel", len);
	(*n)++;
	return 0;
}

static int count_nothing(void *ctx, uint32_t kind, uint64_t id, const char *s, uint32_t len)
{
	fail_msg("a malformed string table handed out an entry");
	return 0;
}

/* A kernel string table as the writer lays it out: ids 7, 9, ... */
static size_t strings_payload(uint8_t *p, const char *const *names, size_t n)
{
	struct llmi_strings_rec sr = { .kind = LLMI_STR_KERNEL, .count = n };
	size_t off = sizeof(sr);

	memcpy(p, &sr, sizeof(sr));
	for (size_t i = 0; i < n; i++) {
		struct llmi_string_ent e = { .id = 7 + 2 * i, .len = strlen(names[i]) };
		size_t padded = (e.len + 7) / 8 * 8;

		memcpy(p + off, &e, sizeof(e));
		off += sizeof(e);
		memset(p + off, 0, padded);
		memcpy(p + off, names[i], e.len);
		off += padded;
	}
	return off;
}

static void check_contents(struct llmi_reader *r)
{
	size_t nt = 0, nrec = llmi_reader__nr_records(r);
	bool strings = false, events = false, stats = false;

	for (size_t i = 0; i < nrec; i++) {
		const struct llmi_rec_info *ri = llmi_reader__record(r, i);
		size_t len;
		uint8_t *p = llmi_reader__load(r, i, &len);

		assert_non_null(p);
		if (ri->type == LLMI_REC_TENSOR) {
			struct llmi_tensor_info ti;
			char name[32];
			uint8_t *want;
			int k = nt++;

			assert_int_equal(llmi_reader__tensor(r, i, &ti), 0);
			snprintf(name, sizeof(name), "blk.%d.resid", k);
			assert_string_equal(ti.name, name);
			assert_int_equal(ti.rec.tensor_id, k);
			assert_int_equal(ti.rec.step, k / 3);
			assert_int_equal(ti.rec.layer, k % 3);
			assert_int_equal(ti.rec.shape[1], 8 + k);
			assert_int_equal(ti.rec.launch_id, 1000 + k);
			assert_true(ti.rec.nmse == 2e-4 * k);
			assert_int_equal(ti.blob_len, blob_len(k));
			want = malloc(ti.blob_len);
			fill_blob(want, ti.blob_len, k);
			assert_memory_equal(p + ti.blob_offset, want, ti.blob_len);
			free(want);
		} else if (ri->type == LLMI_REC_STRINGS) {
			int n = 0;

			assert_int_equal(llmi_strings_parse(p, len, count_strings, &n), 0);
			assert_int_equal(n, 2);
			strings = true;
		} else if (ri->type == LLMI_REC_EVENTS) {
			struct llmi_events_rec eh;
			const void *ev;

			assert_int_equal(llmi_events_parse(p, len, &eh, &ev), 0);
			assert_int_equal(eh.count, 3);
			events = true;
		} else if (ri->type == LLMI_REC_STATS) {
			assert_memory_equal(p, "{\"mode\":\"test\"}", 15);
			stats = true;
		} else if (ri->type == LLMI_REC_SUMMARY) {
			struct llmi_summary_rec s;

			assert_int_equal(len, sizeof(s));
			memcpy(&s, p, sizeof(s));
			assert_int_equal(s.tensors, NT);
			assert_int_equal(s.events, 3);
			assert_int_equal(s.records, NT + 3);
		}
		free(p);
	}
	assert_int_equal(nt, NT);
	assert_true(strings && events && stats);
}

static void test_round_trip(void **state)
{
	char path[128], err[LLMI_ERRLEN];
	struct llmi_reader *r;
	struct llmi_verify_report rep;
	size_t len;
	uint8_t *buf;

	snprintf(path, sizeof(path), "%s/rt.llmi", dir);
	make_file(path, 0);
	r = llmi_reader__open(path, err, sizeof(err));
	assert_non_null(r);
	assert_true(llmi_reader__status(r)->indexed);
	assert_string_equal(llmi_reader__header(r)->writer, "test_format");
	assert_int_equal(llmi_reader__nr_records(r), NT + 4);	/* + strings, events, stats, summary */
	check_contents(r);
	assert_int_equal(llmi_reader__verify(r, &rep), 0);
	assert_true(rep.indexed);
	llmi_reader__free(r);

	/* A closed file ends on the O_DIRECT alignment. */
	buf = read_all(path, &len);
	assert_int_equal(len % LLMI_ALIGN, 0);
	r = llmi_reader__open_mem(buf, len, err, sizeof(err));
	assert_non_null(r);
	check_contents(r);
	llmi_reader__free(r);
	free(buf);
}

/*
 * Ranks (1.2): the header's from the writer's options (-1 when not given),
 * each tensor's as written; a 1.1 file's reserved zeros read as -1, not
 * as rank 0.
 */
static void test_ranks(void **state)
{
	struct llmi_writer_opts o = { .sz = sizeof(o), .writer = "test_format",
				      .owner_uid = (uid_t)-1, .owner_gid = (gid_t)-1,
				      .has_rank = true, .rank = 2, .world_size = 4, .local_rank = 0 };
	char path[128], err[LLMI_ERRLEN];
	const struct llmi_file_header *h;
	struct llmi_tensor_info ti;
	struct llmi_reader *r;
	struct llmi_writer *w;
	uint8_t blob[16] = { 0 }, *buf;
	size_t len, got = 0;
	int32_t want[2] = { 3, -1 };

	(void)state;
	snprintf(path, sizeof(path), "%s/ranks.llmi", dir);
	w = llmi_writer__new(path, &o);
	assert_non_null(w);
	for (int i = 0; i < 2; i++) {
		struct llmi_tensor_rec t = { .dtype = 1, .ndim = 1, .shape = { 4 }, .raw_bytes = 16,
					     .layer = -1, .ref_tensor_id = LLMI_NO_REF,
					     .rank = want[i] };

		assert_int_equal(llmi_writer__tensor(w, &t, "x", blob, sizeof(blob)), 0);
	}
	assert_int_equal(llmi_writer__close(w), 0);
	llmi_writer__free(w);
	buf = read_all(path, &len);
	for (int minor = 2; minor >= 1; minor--) {
		struct llmi_file_header *fh = (struct llmi_file_header *)buf;

		fh->version_minor = (uint16_t)minor;	/* as a 1.1 writer: the same bytes, 1.1 */
		llmi_file_header_seal(fh);
		r = llmi_reader__open_mem(buf, len, err, sizeof(err));
		assert_non_null(r);
		h = llmi_reader__header(r);
		assert_int_equal(h->rank, minor == 2 ? 2 : -1);
		assert_int_equal(h->world_size, minor == 2 ? 4 : -1);
		assert_int_equal(h->local_rank, minor == 2 ? 0 : -1);
		got = 0;
		for (size_t i = 0; i < llmi_reader__nr_records(r); i++) {
			if (llmi_reader__record(r, i)->type != LLMI_REC_TENSOR)
				continue;
			assert_int_equal(llmi_reader__tensor(r, i, &ti), 0);
			assert_int_equal(ti.rec.rank, minor == 2 ? want[got] : -1);
			got++;
		}
		assert_int_equal(got, 2);
		llmi_reader__free(r);
	}
	free(buf);
	/* no ranks given: not known */
	snprintf(path, sizeof(path), "%s/norank.llmi", dir);
	o.has_rank = false;
	w = llmi_writer__new(path, &o);
	assert_non_null(w);
	assert_int_equal(llmi_writer__close(w), 0);
	llmi_writer__free(w);
	r = llmi_reader__open(path, err, sizeof(err));
	assert_non_null(r);
	assert_int_equal(llmi_reader__header(r)->version_minor, 2);
	assert_int_equal(llmi_reader__header(r)->rank, -1);
	assert_int_equal(llmi_reader__header(r)->world_size, -1);
	llmi_reader__free(r);
}

static void test_not_a_container(void **state)
{
	char err[LLMI_ERRLEN];
	uint8_t junk[8192];
	struct llmi_reader *r;

	memset(junk, 'x', sizeof(junk));
	r = llmi_reader__open_mem(junk, sizeof(junk), err, sizeof(err));
	assert_null(r);
	assert_int_equal(errno, ENOMSG);
	assert_non_null(strstr(err, "not an llminstr container"));
	r = llmi_reader__open_mem(junk, 10, err, sizeof(err));
	assert_null(r);
	r = llmi_reader__open("/nonexistent/x.llmi", err, sizeof(err));
	assert_null(r);
	assert_int_equal(errno, ENOENT);
}

static void test_index_absent_and_damaged(void **state)
{
	char path[128], err[LLMI_ERRLEN];
	struct llmi_reader *r;
	struct llmi_verify_report rep;
	size_t len;
	uint8_t *buf;
	uint64_t ioff;
	struct llmi_trailer_rec tr;

	snprintf(path, sizeof(path), "%s/idx.llmi", dir);
	make_file(path, 0);
	buf = read_all(path, &len);

	/* Without the trailer (a writer that died before it): rebuilt. */
	r = llmi_reader__open_mem(buf, len - LLMI_TRAILER_TOTAL, err, sizeof(err));
	assert_non_null(r);
	assert_false(llmi_reader__status(r)->indexed);
	assert_false(llmi_reader__status(r)->index_damaged);
	assert_int_equal(llmi_reader__nr_records(r), NT + 4);
	check_contents(r);
	assert_int_equal(llmi_reader__verify(r, &rep), -ENODATA);
	assert_non_null(strstr(rep.what, "no index"));
	llmi_reader__free(r);

	/* A damaged index: the reader notices and scans instead. */
	memcpy(&tr, buf + len - sizeof(tr), sizeof(tr));
	ioff = tr.index_offset;
	assert_true(ioff < len);
	buf[ioff + sizeof(struct llmi_rec_hdr) + 20] ^= 0x10;
	r = llmi_reader__open_mem(buf, len, err, sizeof(err));
	assert_non_null(r);
	assert_false(llmi_reader__status(r)->indexed);
	assert_true(llmi_reader__status(r)->index_damaged);
	assert_int_equal(llmi_reader__nr_records(r), NT + 4);
	check_contents(r);
	assert_int_equal(llmi_reader__verify(r, &rep), -EBADMSG);
	assert_int_equal(rep.bad_offset, ioff);
	llmi_reader__free(r);
	free(buf);
}

/* Offsets of every record (pad and index included) by walking the file. */
static size_t record_offsets(const uint8_t *buf, size_t len, uint64_t *offs, size_t cap)
{
	size_t n = 0;
	uint64_t off = LLMI_HEADER_SIZE;

	while (off + sizeof(struct llmi_rec_hdr) <= len && n < cap) {
		struct llmi_rec_hdr h;

		memcpy(&h, buf + off, sizeof(h));
		assert_int_equal(llmi_rec_hdr_check(&h), 0);
		offs[n++] = off;
		off += llmi_rec_span(h.length);
	}
	return n;
}

static void test_truncation(void **state)
{
	char path[128], err[LLMI_ERRLEN];
	uint64_t offs[64];
	size_t len, n, complete_data;
	uint8_t *buf;

	snprintf(path, sizeof(path), "%s/trunc.llmi", dir);
	make_file(path, 0);
	buf = read_all(path, &len);
	n = record_offsets(buf, len, offs, 64);
	assert_true(n >= NT + 6);
	/* Cut at each boundary and at several points inside each record. */
	for (size_t i = 0; i < n; i++) {
		uint64_t next = i + 1 < n ? offs[i + 1] : len;
		uint64_t cuts[] = { offs[i], offs[i] + 1, offs[i] + 31, offs[i] + 32,
				    offs[i] + 33, (offs[i] + next) / 2, next - 1 };

		for (size_t c = 0; c < sizeof(cuts) / sizeof(cuts[0]); c++) {
			uint64_t cut = cuts[c];
			struct llmi_reader *r;
			struct llmi_verify_report rep;
			struct llmi_rec_hdr h;

			if (cut > len || cut < offs[i])
				continue;
			/* Data records whose header and payload lie before cut. */
			complete_data = 0;
			for (size_t k = 0; k < n; k++) {
				memcpy(&h, buf + offs[k], sizeof(h));
				if (offs[k] + sizeof(h) + h.length <= cut && h.type != LLMI_REC_PAD &&
				    h.type != LLMI_REC_INDEX && h.type != LLMI_REC_TRAILER)
					complete_data++;
			}
			r = llmi_reader__open_mem(buf, cut, err, sizeof(err));
			assert_non_null(r);
			/* A cut is a torn tail, never damage: nothing written whole is lost. */
			{
				const struct llmi_reader_status *st = llmi_reader__status(r);

				assert_false(llmi_reader_status_damaged(st));
				if (st->tail_damaged) {
					assert_true(st->tail_torn);
					assert_false(st->tail_zero);
					assert_int_equal(st->tail_offset + st->tail_bytes, cut);
					assert_int_equal(st->tail_offset, offs[i]);
				}
			}
			if (cut == len) {
				assert_true(llmi_reader__status(r)->indexed);
			} else {
				assert_false(llmi_reader__status(r)->indexed);
				assert_int_equal(llmi_reader__nr_records(r), complete_data);
				assert_true(llmi_reader__verify(r, &rep) < 0);
				assert_true(rep.what[0] != 0);
			}
			for (size_t k = 0; k < llmi_reader__nr_records(r); k++) {
				size_t l;
				void *p = llmi_reader__load(r, k, &l);

				assert_non_null(p);
				free(p);
			}
			llmi_reader__free(r);
		}
	}
	/* Inside the header block: a clean error. */
	for (size_t cut = 0; cut <= LLMI_HEADER_SIZE; cut += cut < 4080 ? 255 : 1) {
		struct llmi_reader *r = llmi_reader__open_mem(buf, cut, err, sizeof(err));

		if (cut < LLMI_HEADER_SIZE) {
			/* Without its 8-byte magic it is no container; with it, a damaged one. */
			assert_null(r);
			assert_int_equal(errno, cut < 8 ? ENOMSG : EBADMSG);
		} else {
			/* The header alone: an empty container, readable. */
			assert_non_null(r);
			assert_int_equal(llmi_reader__nr_records(r), 0);
		}
		llmi_reader__free(r);
	}
	/* The same through a real file. */
	{
		char tp[160];
		int fd;
		struct llmi_reader *r;

		snprintf(tp, sizeof(tp), "%s/cut.llmi", dir);
		fd = open(tp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, buf, offs[4] + 40), (ssize_t)(offs[4] + 40));
		close(fd);
		r = llmi_reader__open(tp, err, sizeof(err));
		assert_non_null(r);
		assert_int_equal(llmi_reader__nr_records(r), 4);
		assert_true(llmi_reader__status(r)->tail_damaged);
		assert_true(llmi_reader__status(r)->tail_torn);
		assert_int_equal(llmi_reader__status(r)->tail_offset, offs[4]);
		assert_int_equal(llmi_reader__status(r)->tail_bytes, 40);
		llmi_reader__free(r);
	}
	free(buf);
}

static void test_bit_flips(void **state)
{
	char path[128], err[LLMI_ERRLEN];
	size_t len;
	uint8_t *buf, *copy;
	unsigned seed = 12345;
	int detected = 0, flips = 3000;

	snprintf(path, sizeof(path), "%s/flip.llmi", dir);
	make_file(path, 0);
	buf = read_all(path, &len);
	copy = malloc(len);
	for (int i = 0; i < flips; i++) {
		struct llmi_reader *r;
		struct llmi_verify_report rep;
		size_t at;

		seed = seed * 1103515245u + 12345u;
		/* Half the flips land in the first 64 KiB, where the headers are dense. */
		at = (i & 1) ? (seed >> 4) % len : (seed >> 4) % 65536;
		memcpy(copy, buf, len);
		copy[at] ^= 1u << (seed & 7);
		r = llmi_reader__open_mem(copy, len, err, sizeof(err));
		if (!r) {
			/* Only a damaged file header may refuse the open. */
			assert_true(at < sizeof(struct llmi_file_header));
			assert_int_equal(errno, at < 8 ? ENOMSG : EBADMSG);
			detected++;
			continue;
		}
		if (llmi_reader__verify(r, &rep) != 0)
			detected++;
		else
			fail_msg("bit flip at %zu not detected by verify", at);
		/* Whatever open listed is either intact or fails its CRC. */
		for (size_t k = 0; k < llmi_reader__nr_records(r); k++) {
			size_t l;
			void *p = llmi_reader__load(r, k, &l);

			if (p) {
				struct llmi_tensor_info ti;

				if (llmi_reader__record(r, k)->type == LLMI_REC_TENSOR)
					assert_int_equal(llmi_tensor_parse(p, l, &ti), 0);
				free(p);
			} else {
				assert_int_equal(errno, EBADMSG);
			}
		}
		llmi_reader__free(r);
	}
	assert_int_equal(detected, flips);
	free(copy);
	free(buf);
}

/* ---- contents: checksums that hold over impossible contents ------------- */

/* A tensor payload: t (hdr_size, name_len, stored_bytes set here), name, zero pad, blob_len zeros. */
static size_t tensor_payload(uint8_t *p, struct llmi_tensor_rec *t, const char *name, size_t blob_len)
{
	size_t nl = strlen(name), off = (sizeof(*t) + nl + 7) / 8 * 8;

	t->hdr_size = sizeof(*t);
	t->name_len = nl;
	t->stored_bytes = blob_len;
	memset(p, 0, off + blob_len);
	memcpy(p, t, sizeof(*t));
	memcpy(p + sizeof(*t), name, nl);
	return off + blob_len;
}

static struct llmi_tensor_rec good_tensor(void)
{
	return (struct llmi_tensor_rec){ .dtype = 2, .ndim = 2, .shape = { 4, 8 }, .raw_bytes = 64,
					 .layer = -1, .codec_mode = 1, .codec_bound = 1e-3,
					 .ref_tensor_id = LLMI_NO_REF, .mse = 1e-4, .nmse = 1e-3 };
}

/* An events payload of n version-1 events (or version v of event_size es). */
static size_t events_payload(uint8_t *p, uint32_t v, uint32_t es, uint64_t n)
{
	struct llmi_events_rec h = { .event_size = es, .abi_version = v, .count = n,
				     .first_ns = 1, .last_ns = n, .pid = 42 };
	struct llmi_tl_event ev[8];

	assert_true(n <= 8 && es >= sizeof(ev[0]));
	make_events(ev, n);
	memcpy(p, &h, sizeof(h));
	for (uint64_t k = 0; k < n; k++) {
		memset(p + sizeof(h) + k * es, 0xab, es);	/* a later version's fields */
		memcpy(p + sizeof(h) + k * es, &ev[k], sizeof(ev[k]));
	}
	return sizeof(h) + n * es;
}

static void expect_bad(unsigned type, const void *p, size_t len, const char *says)
{
	char why[LLMI_ERRLEN] = "";

	if (llmi_rec_validate(type, p, len, why, sizeof(why)) != -EBADMSG)
		fail_msg("%s record accepted; expected \"%s\"", llmi_rec_type_name(type), says);
	if (!strstr(why, says))
		fail_msg("%s record: \"%s\" does not say \"%s\"", llmi_rec_type_name(type), why, says);
}

static void test_validate_tensor(void **state)
{
	uint8_t p[1024];
	struct llmi_tensor_rec t;
	struct llmi_tensor_info ti;
	size_t len;

#define TENSOR_CASE(change, says) do {					\
		t = good_tensor();					\
		len = tensor_payload(p, &t, "blk.0.resid", 100);	\
		change;							\
		expect_bad(LLMI_REC_TENSOR, p, len, says);		\
	} while (0)
	t = good_tensor();
	len = tensor_payload(p, &t, "blk.0.resid", 100);
	assert_int_equal(llmi_rec_validate(LLMI_REC_TENSOR, p, len, NULL, 0), 0);
	assert_int_equal(llmi_tensor_parse(p, len, &ti), 0);
	assert_string_equal(ti.name, "blk.0.resid");
	assert_int_equal(ti.blob_len, 100);
	/* Shapes and sizes that do not add up. */
	TENSOR_CASE(((struct llmi_tensor_rec *)p)->raw_bytes = 66, "does not make its raw size");
	TENSOR_CASE(((struct llmi_tensor_rec *)p)->shape[1] = 1ull << 62, "overflows 64 bits");
	TENSOR_CASE(((struct llmi_tensor_rec *)p)->stored_bytes = 99, "stored size 99");
	TENSOR_CASE(len -= 1, "stored size 100");
	TENSOR_CASE(((struct llmi_tensor_rec *)p)->ndim = 9, "9 dimensions");
	TENSOR_CASE(((struct llmi_tensor_rec *)p)->dtype = 7, "unknown dtype 7");
	/* Positions kept (1.2) that the shape cannot hold: shape [4, 8]. */
#define POS(f, tot, dim) do {						\
		((struct llmi_tensor_rec *)p)->pos_first = (f);		\
		((struct llmi_tensor_rec *)p)->pos_total = (tot);	\
		((struct llmi_tensor_rec *)p)->pos_dim = (dim);		\
	} while (0)
	TENSOR_CASE(POS(0, 4, 0), "positions 0 + 4 of 4 kept in dimension 0");
	TENSOR_CASE(POS(7, 10, 0), "positions 7 + 4 of 10");
	TENSOR_CASE(POS(0, 10, 2), "dimension 2");
	TENSOR_CASE(POS(UINT64_MAX, 10, 0), "of 10");
	t = good_tensor();
	len = tensor_payload(p, &t, "blk.0.resid", 100);
	POS(6, 10, 0);	/* positions 6 .. 9 of 10 */
	assert_int_equal(llmi_rec_validate(LLMI_REC_TENSOR, p, len, NULL, 0), 0);
	POS(0, 9, 1);
	assert_int_equal(llmi_rec_validate(LLMI_REC_TENSOR, p, len, NULL, 0), 0);
#undef POS
	/* Lengths past the payload. */
	TENSOR_CASE(((struct llmi_tensor_rec *)p)->name_len = 5000, "name of 5000 bytes");
	TENSOR_CASE(((struct llmi_tensor_rec *)p)->name_len = 900, "runs past");
	TENSOR_CASE(((struct llmi_tensor_rec *)p)->hdr_size = 100, "header size 100");
	TENSOR_CASE(((struct llmi_tensor_rec *)p)->hdr_size = 2000, "header size 2000");
	TENSOR_CASE(len = 200, "shorter than a tensor header");
	TENSOR_CASE(p[sizeof(t) + 3] = 0, "NUL");
	TENSOR_CASE(p[sizeof(t) + 12] = 1, "non-zero padding");
	/* Codec fields no encoder writes. */
	TENSOR_CASE(((struct llmi_tensor_rec *)p)->codec_mode = 9, "unknown codec mode 9");
	TENSOR_CASE(((struct llmi_tensor_rec *)p)->codec_flags = 8, "unknown codec flags");
	TENSOR_CASE(((struct llmi_tensor_rec *)p)->codec_bound = 0, "not a positive number");
	TENSOR_CASE((((struct llmi_tensor_rec *)p)->codec_mode = 0,
		     ((struct llmi_tensor_rec *)p)->codec_flags = 1), "lossless with codec flags");
	TENSOR_CASE(((struct llmi_tensor_rec *)p)->codec_flags = 2, "no reference tensor");
	TENSOR_CASE(((struct llmi_tensor_rec *)p)->mse = -1, "achieved mse");
	TENSOR_CASE(((struct llmi_tensor_rec *)p)->nmse = 0.0 / 0.0, "achieved nmse");
#undef TENSOR_CASE
}

static void test_validate_events(void **state)
{
	uint8_t p[1024];
	struct llmi_events_rec h;
	struct llmi_tl_event ev;
	const void *evs;
	size_t len;

#define EVENTS_CASE(change, says) do {						\
		len = events_payload(p, 1, sizeof(struct llmi_tl_event), 3);	\
		change;								\
		expect_bad(LLMI_REC_EVENTS, p, len, says);			\
		assert_int_equal(llmi_events_parse(p, len, &h, &evs), -EBADMSG);	\
	} while (0)
	len = events_payload(p, 1, sizeof(struct llmi_tl_event), 3);
	assert_int_equal(llmi_events_parse(p, len, &h, &evs), 0);
	assert_int_equal(h.count, 3);
	/* The counts of the issue: 2^60 events, events of 0 bytes. */
	EVENTS_CASE(((struct llmi_events_rec *)p)->count = 1ull << 60, "event count 1152921504606846976");
	EVENTS_CASE(((struct llmi_events_rec *)p)->event_size = 0, "event size 0");
	EVENTS_CASE(((struct llmi_events_rec *)p)->event_size = 48, "event size 48");
	EVENTS_CASE(((struct llmi_events_rec *)p)->count = 2, "2 events of 64 bytes");
	EVENTS_CASE(len -= 1, "event count 3 does not fit its 191 bytes");
	EVENTS_CASE(len = 40, "shorter than an events header");
	EVENTS_CASE(((struct llmi_events_rec *)p)->abi_version = 0, "version 0");
	/* Each event of version 1, and what the header says of them. */
	EVENTS_CASE(p[sizeof(h) + 64 + 62] = 0, "event 1: kind 0");
	EVENTS_CASE(p[sizeof(h) + 128 + 62] = LLMI_TL_KIND_MAX, "event 2: kind 7");
	EVENTS_CASE(p[sizeof(h) + 63] = 0x80, "flags 0x80");
	EVENTS_CASE(p[sizeof(h) + 64 + 16] = 7, "event 1: pid 7 in a batch of pid 42");
	EVENTS_CASE(((struct llmi_events_rec *)p)->first_ns = 5, "first time 5");
	EVENTS_CASE(((struct llmi_events_rec *)p)->last_ns = 5, "last time 5");
#undef EVENTS_CASE
	/* Events of 80 bytes in version 1: not its layout. */
	len = events_payload(p, 1, 80, 3);
	expect_bad(LLMI_REC_EVENTS, p, len, "version 1 events are 64 bytes, not 80");
	/* Events of 64 bytes in version 2: it appends the launch number. */
	len = events_payload(p, 2, 64, 3);
	expect_bad(LLMI_REC_EVENTS, p, len, "version 2 events are 72 bytes, not 64");
	/* No events, only losses: a header alone. */
	memset(&h, 0, sizeof(h));
	h.event_size = sizeof(ev);
	h.abi_version = 1;
	h.lost = 9;
	assert_int_equal(llmi_rec_validate(LLMI_REC_EVENTS, &h, sizeof(h), NULL, 0), 0);
}

/*
 * Events of a later version: longer (80 bytes here), kinds versions 1 and
 * 2 do not have. A reader takes the 64 bytes it knows of each and skips
 * the rest; shorter than 64 is damage whatever the version.
 */
static void test_events_later(void **state)
{
	uint8_t p[1024];
	struct llmi_events_rec h;
	struct llmi_tl_event ev, want[3];
	const void *evs;
	size_t len = events_payload(p, 3, 80, 3);

	make_events(want, 3);
	assert_int_equal(llmi_rec_validate(LLMI_REC_EVENTS, p, len, NULL, 0), 0);
	assert_int_equal(llmi_events_parse(p, len, &h, &evs), 0);
	assert_int_equal(h.event_size, 80);
	for (uint64_t k = 0; k < 3; k++) {
		llmi_events_get(evs, &h, k, &ev);
		assert_memory_equal(&ev, &want[k], sizeof(ev));
		/* what a later version put at 64 is still version 2's launch number */
		assert_int_equal(llmi_events_launch_id(evs, &h, k), 0xabababababababab);
	}
	p[sizeof(h) + 80 + 62] = 9;	/* a kind added by version 3 */
	assert_int_equal(llmi_rec_validate(LLMI_REC_EVENTS, p, len, NULL, 0), 0);
	len = events_payload(p, 3, 80, 3);
	((struct llmi_events_rec *)p)->event_size = 56;
	((struct llmi_events_rec *)p)->count = 240 / 56;
	expect_bad(LLMI_REC_EVENTS, p, sizeof(h) + 56 * (240 / 56), "event size 56");
}

/* Version 2, as the tracer writes it: 72 bytes, the launch number at 64. */
static void test_events_v2(void **state)
{
	uint8_t p[1024];
	struct llmi_events_rec h;
	const void *evs;
	size_t len = events_payload(p, 2, 72, 3);

	for (uint64_t k = 0; k < 3; k++) {
		uint64_t id = 100 + k;

		memcpy(p + sizeof(h) + k * 72 + 64, &id, 8);
	}
	assert_int_equal(llmi_rec_validate(LLMI_REC_EVENTS, p, len, NULL, 0), 0);
	assert_int_equal(llmi_events_parse(p, len, &h, &evs), 0);
	for (uint64_t k = 0; k < 3; k++)
		assert_int_equal(llmi_events_launch_id(evs, &h, k), 100 + k);
	p[sizeof(h) + 72 + 62] = 9;	/* not a kind of version 2 */
	expect_bad(LLMI_REC_EVENTS, p, len, "not a version 2 event");
	/* version 1 has no launch numbers */
	len = events_payload(p, 1, 64, 3);
	assert_int_equal(llmi_events_parse(p, len, &h, &evs), 0);
	assert_int_equal(llmi_events_launch_id(evs, &h, 0), 0);
}

static void test_validate_strings(void **state)
{
	const char *names[2] = { "gemm_kernel", "rmsnorm" };
	uint8_t p[256];
	size_t len;

	/* The writer's layout: header, then per entry id, len, string, zero pad. */
#define STRINGS_CASE(change, says) do {					\
		len = strings_payload(p, names, 2);			\
		change;							\
		expect_bad(LLMI_REC_STRINGS, p, len, says);		\
		assert_int_equal(llmi_strings_parse(p, len, count_nothing, NULL), -EBADMSG); \
	} while (0)
	len = strings_payload(p, names, 2);
	assert_int_equal(llmi_rec_validate(LLMI_REC_STRINGS, p, len, NULL, 0), 0);
	/* A string length past the payload (entry 1's len field is at 16 + 16 + 16 + 8). */
	STRINGS_CASE(p[56] = 200, "entry 1 (id 9): string length 200 runs past the payload");
	STRINGS_CASE(((struct llmi_strings_rec *)p)->count = 1ull << 40, "entries cannot fit");
	STRINGS_CASE(((struct llmi_strings_rec *)p)->count = 1, "24 bytes after the last of its 1 entries");
	STRINGS_CASE(((struct llmi_strings_rec *)p)->count = 3, "entry 2 runs past");
	STRINGS_CASE(((struct llmi_strings_rec *)p)->kind = 0, "kind 0");
	STRINGS_CASE(p[32 + 2] = 0, "NUL byte");
	STRINGS_CASE(p[32 + 13] = 1, "non-zero padding");
	STRINGS_CASE(len += 8, "8 bytes after the last");
	STRINGS_CASE(len -= 1, "padding runs past");
	STRINGS_CASE(len = 8, "shorter than a string table header");
#undef STRINGS_CASE
	{
		struct llmi_summary_rec sum = { 0 };

		assert_int_equal(llmi_rec_validate(LLMI_REC_SUMMARY, &sum, sizeof(sum), NULL, 0), 0);
		expect_bad(LLMI_REC_SUMMARY, &sum, 64, "shorter than a summary");
		/* Stats are free-form; a type of a later version is opaque. */
		assert_int_equal(llmi_rec_validate(LLMI_REC_STATS, "x", 1, NULL, 0), 0);
		assert_int_equal(llmi_rec_validate(42, "x", 1, NULL, 0), 0);
	}
}

/*
 * Rewrites the checksum of the record at off after its payload was
 * changed, as a writer that wrote those contents would have: its header,
 * and in a closed file its index entry and the index record.
 */
static void reseal(uint8_t *buf, size_t len, uint64_t off)
{
	struct llmi_rec_hdr h, ih;
	struct llmi_trailer_rec tr;
	struct llmi_index_rec ir;
	uint32_t crc;
	uint8_t *ip;

	memcpy(&h, buf + off, sizeof(h));
	crc = llmi_crc32c(0, buf + off + sizeof(h), h.length);
	llmi_rec_hdr_fill(&h, h.type, h.seq, h.length, crc);
	memcpy(buf + off, &h, sizeof(h));
	memcpy(&tr, buf + len - sizeof(tr), sizeof(tr));
	if (memcmp(tr.magic, LLMI_TRAILER_MAGIC, 8))
		return;
	memcpy(&ih, buf + tr.index_offset, sizeof(ih));
	ip = buf + tr.index_offset + sizeof(ih);
	memcpy(&ir, ip, sizeof(ir));
	for (uint64_t k = 0; k < ir.count; k++) {
		struct llmi_index_ent e;

		memcpy(&e, ip + sizeof(ir) + k * sizeof(e), sizeof(e));
		if (e.offset == off) {
			e.data_crc = crc;
			memcpy(ip + sizeof(ir) + k * sizeof(e), &e, sizeof(e));
		}
	}
	llmi_rec_hdr_fill(&ih, LLMI_REC_INDEX, ih.seq, ih.length, llmi_crc32c(0, ip, ih.length));
	memcpy(buf + tr.index_offset, &ih, sizeof(ih));
}

/* Offset of the first record of type in buf (walking the stream). */
static uint64_t find_type(const uint8_t *buf, size_t len, unsigned type)
{
	uint64_t offs[64];
	size_t n = record_offsets(buf, len, offs, 64);

	for (size_t k = 0; k < n; k++) {
		struct llmi_rec_hdr h;

		memcpy(&h, buf + offs[k], sizeof(h));
		if (h.type == type)
			return offs[k];
	}
	fail_msg("no %s record", llmi_rec_type_name(type));
	return 0;
}

/* Index of the listed record at off. */
static size_t rec_at(struct llmi_reader *r, uint64_t off)
{
	for (size_t k = 0; k < llmi_reader__nr_records(r); k++)
		if (llmi_reader__record(r, k)->offset == off)
			return k;
	fail_msg("no record listed at offset %llu", (unsigned long long)off);
	return 0;
}

/*
 * A closed file lists its records from the index without reading them, so
 * damage to a payload shows only when the record is checked: a checksum
 * that fails, or one that holds over impossible contents (an event count of
 * 2^60). llmi_reader__check() finds both, marks the record, and counts it in
 * the status, so a reader that checked never calls the file clean;
 * verify finds them too.
 */
static void test_check_indexed(void **state)
{
	char path[128], err[LLMI_ERRLEN], why[LLMI_ERRLEN];
	struct llmi_verify_report rep;
	const struct llmi_reader_status *st;
	struct llmi_reader *r;
	uint64_t eoff, big = 1ull << 60;
	size_t len, l, k;
	uint8_t *buf;

	snprintf(path, sizeof(path), "%s/check.llmi", dir);
	make_file(path, 0);
	buf = read_all(path, &len);
	eoff = find_type(buf, len, LLMI_REC_EVENTS);

	/* Intact: every record checks out. */
	r = llmi_reader__open_mem(buf, len, err, sizeof(err));
	assert_non_null(r);
	assert_int_equal(llmi_reader__record(r, 0)->state, LLMI_CHECK_NONE);
	assert_int_equal(llmi_reader__check_all(r), 0);
	for (k = 0; k < llmi_reader__nr_records(r); k++)
		assert_int_equal(llmi_reader__record(r, k)->state, LLMI_CHECK_OK);
	assert_false(llmi_reader_status_damaged(llmi_reader__status(r)));
	llmi_reader__free(r);

	/* A flipped bit in the events payload: the index still lists it. */
	buf[eoff + sizeof(struct llmi_rec_hdr) + 8] ^= 0x01;
	r = llmi_reader__open_mem(buf, len, err, sizeof(err));
	assert_non_null(r);
	st = llmi_reader__status(r);
	assert_true(st->indexed);
	k = rec_at(r, eoff);
	assert_int_equal(llmi_reader__check(r, k, why, sizeof(why)), -EBADMSG);
	assert_non_null(strstr(why, "checksum"));
	assert_int_equal(llmi_reader__check_all(r), 0);
	assert_int_equal(llmi_reader__record(r, k)->state, LLMI_CHECK_BAD);
	assert_true(llmi_reader_status_damaged(st));
	assert_int_equal(st->bad_records, 1);
	assert_int_equal(st->first_bad_offset, eoff);
	assert_null(llmi_reader__load(r, k, &l));
	assert_int_equal(errno, EBADMSG);
	assert_int_equal(st->bad_records, 1);	/* counted once */
	assert_int_equal(llmi_reader__verify(r, &rep), -EBADMSG);
	assert_int_equal(rep.bad_offset, eoff);
	llmi_reader__free(r);

	/* The same record claiming 2^60 events, its checksum rewritten to match. */
	buf[eoff + sizeof(struct llmi_rec_hdr) + 8] ^= 0x01;
	memcpy(buf + eoff + sizeof(struct llmi_rec_hdr) + 8, &big, sizeof(big));
	reseal(buf, len, eoff);
	r = llmi_reader__open_mem(buf, len, err, sizeof(err));
	assert_non_null(r);
	st = llmi_reader__status(r);
	assert_true(st->indexed);
	k = rec_at(r, eoff);
	assert_null(llmi_reader__load_why(r, k, &l, why, sizeof(why)));
	assert_int_equal(errno, EBADMSG);
	assert_non_null(strstr(why, "event count 1152921504606846976"));
	assert_int_equal(llmi_reader__check_all(r), 0);
	assert_int_equal(st->bad_contents, 1);
	assert_int_equal(st->bad_records, 0);
	assert_int_equal(st->first_bad_contents_offset, eoff);
	assert_non_null(strstr(st->contents_note, "events record at offset"));
	assert_true(llmi_reader_status_damaged(st));
	assert_int_equal(llmi_reader__verify(r, &rep), -EBADMSG);
	assert_int_equal(rep.bad_offset, eoff);
	assert_non_null(strstr(rep.what, "event count 1152921504606846976"));
	llmi_reader__free(r);
	free(buf);
}

/*
 * verify checks what the records add up to: tensor ids in file order and
 * the summary's totals. And it tells an unclosed file (intact records, then
 * unwritten space or an incomplete record: -ENODATA) from one with a hole
 * (unwritten space with records after it: damage).
 */
static void test_verify_totals_and_tails(void **state)
{
	char path[128], err[LLMI_ERRLEN];
	struct llmi_verify_report rep;
	struct llmi_summary_rec sum;
	struct llmi_tensor_rec t;
	struct llmi_reader *r;
	uint64_t soff, toff, offs[64];
	size_t len, n, cut;
	uint8_t *buf, *copy;

	snprintf(path, sizeof(path), "%s/totals.llmi", dir);
	make_file(path, 0);
	buf = read_all(path, &len);
	copy = malloc(len + 8192);

	/* A summary counting one tensor too many. */
	memcpy(copy, buf, len);
	soff = find_type(copy, len, LLMI_REC_SUMMARY);
	memcpy(&sum, copy + soff + sizeof(struct llmi_rec_hdr), sizeof(sum));
	sum.tensors++;
	memcpy(copy + soff + sizeof(struct llmi_rec_hdr), &sum, sizeof(sum));
	reseal(copy, len, soff);
	r = llmi_reader__open_mem(copy, len, err, sizeof(err));
	assert_non_null(r);
	assert_int_equal(llmi_reader__check_all(r), 0);
	assert_int_equal(llmi_reader__verify(r, &rep), -EBADMSG);
	assert_int_equal(rep.bad_offset, soff);
	assert_non_null(strstr(rep.what, "13 tensors, the records before it hold 12"));
	llmi_reader__free(r);

	/* A tensor whose id is out of order. */
	memcpy(copy, buf, len);
	toff = find_type(copy, len, LLMI_REC_TENSOR);
	memcpy(&t, copy + toff + sizeof(struct llmi_rec_hdr), sizeof(t));
	t.tensor_id = 5;
	memcpy(copy + toff + sizeof(struct llmi_rec_hdr), &t, sizeof(t));
	reseal(copy, len, toff);
	r = llmi_reader__open_mem(copy, len, err, sizeof(err));
	assert_non_null(r);
	assert_int_equal(llmi_reader__verify(r, &rep), -EBADMSG);
	assert_non_null(strstr(rep.what, "tensor id 5, expected 0"));
	llmi_reader__free(r);

	/* Unclosed, then 8 KiB of unwritten space: intact, incomplete. */
	cut = len - LLMI_TRAILER_TOTAL;
	n = record_offsets(buf, cut, offs, 64);
	memcpy(copy, buf, cut);
	memset(copy + cut, 0, 8192);
	r = llmi_reader__open_mem(copy, cut + 8192, err, sizeof(err));
	assert_non_null(r);
	assert_int_equal(llmi_reader__verify(r, &rep), -ENODATA);
	assert_true(rep.tail_zero);
	assert_int_equal(rep.bad_offset, cut);
	assert_int_equal(rep.tail_bytes, 8192);
	assert_int_equal(rep.data_records, NT + 4);
	llmi_reader__free(r);

	/* A record never written with records after it: a hole, damage. */
	memcpy(copy, buf, cut);
	memset(copy + offs[3], 0, offs[4] - offs[3]);
	r = llmi_reader__open_mem(copy, cut, err, sizeof(err));
	assert_non_null(r);
	assert_int_equal(llmi_reader__verify(r, &rep), -EBADMSG);
	assert_int_equal(rep.bad_offset, offs[3]);
	assert_non_null(strstr(rep.what, "a hole in the file"));
	llmi_reader__free(r);
	(void)n;
	free(copy);
	free(buf);
}

/* Names of the tensors a reader lists, in order, as a bit mask of ids. */
static uint64_t tensor_mask(struct llmi_reader *r)
{
	uint64_t m = 0;

	for (size_t k = 0; k < llmi_reader__nr_records(r); k++) {
		struct llmi_tensor_info ti;
		size_t l;
		void *p;

		if (llmi_reader__record(r, k)->type != LLMI_REC_TENSOR)
			continue;
		assert_int_equal(llmi_reader__tensor(r, k, &ti), 0);
		p = llmi_reader__load(r, k, &l);
		assert_non_null(p);
		free(p);
		m |= 1ull << ti.rec.tensor_id;
	}
	return m;
}

/*
 * Without an index, a damaged record header (bit flip, or zeros: an extent
 * a dying writer never wrote) no longer ends the scan: it resynchronises on
 * the next record and counts what it skipped.
 */
static void test_resync(void **state)
{
	char path[128], err[LLMI_ERRLEN];
	uint64_t offs[64];
	size_t len, n, cut;
	uint8_t *buf, *copy;

	snprintf(path, sizeof(path), "%s/resync.llmi", dir);
	make_file(path, 0);
	buf = read_all(path, &len);
	cut = len - LLMI_TRAILER_TOTAL;		/* no trailer: the reader must scan */
	n = record_offsets(buf, cut, offs, 64);
	copy = malloc(len);
	/* offs[0] is the string table; tensors are offs[1..NT]. */
	for (int k = 0; k < NT; k++) {
		for (int how = 0; how < 3; how++) {
			struct llmi_reader *r;
			const struct llmi_reader_status *st;
			uint64_t o = offs[k + 1], lost = 1;

			memcpy(copy, buf, len);
			if (how == 0) {
				copy[o + 9] ^= 0x20;		/* the length field */
			} else if (how == 1) {
				memset(copy + o, 0, offs[k + 2] - o);	/* never written */
			} else {
				if (k + 1 >= NT)
					continue;
				copy[o] ^= 1;			/* two headers in a row */
				copy[offs[k + 2] + 26] ^= 1;
				lost = 2;
			}
			r = llmi_reader__open_mem(copy, cut, err, sizeof(err));
			assert_non_null(r);
			st = llmi_reader__status(r);
			assert_true(llmi_reader_status_damaged(st));
			assert_false(st->tail_damaged);
			assert_int_equal(st->resyncs, 1);
			assert_int_equal(st->first_skip_offset, o);
			assert_int_equal(st->skipped_records, lost);
			assert_int_equal(st->skipped_bytes, offs[k + 1 + lost] - o);
			assert_int_equal(llmi_reader__nr_records(r), n - 2 - lost);	/* pad, index */
			assert_int_equal(tensor_mask(r), ((1ull << NT) - 1) & ~(((1ull << lost) - 1) << k));
			llmi_reader__free(r);
		}
	}
	/* Zeros from a record to the end: unwritten space, a torn tail, not damage. */
	{
		struct llmi_reader *r;
		const struct llmi_reader_status *st;

		memcpy(copy, buf, len);
		memset(copy + offs[4], 0, cut - offs[4]);
		r = llmi_reader__open_mem(copy, cut, err, sizeof(err));
		assert_non_null(r);
		st = llmi_reader__status(r);
		assert_false(llmi_reader_status_damaged(st));
		assert_true(st->tail_torn && st->tail_zero);
		assert_int_equal(st->tail_offset, offs[4]);
		assert_int_equal(tensor_mask(r), 7);
		llmi_reader__free(r);
		/* Garbage there instead is damage. */
		copy[cut - 3] = 0x55;
		r = llmi_reader__open_mem(copy, cut, err, sizeof(err));
		assert_non_null(r);
		st = llmi_reader__status(r);
		assert_true(llmi_reader_status_damaged(st));
		assert_false(st->tail_torn);
		llmi_reader__free(r);
	}
	/* A complete record that fails its payload CRC is damage; the rest is read. */
	{
		struct llmi_reader *r;
		const struct llmi_reader_status *st;

		memcpy(copy, buf, len);
		copy[offs[3] + 300] ^= 0x01;
		r = llmi_reader__open_mem(copy, cut, err, sizeof(err));
		assert_non_null(r);
		st = llmi_reader__status(r);
		assert_true(llmi_reader_status_damaged(st));
		assert_int_equal(st->bad_records, 1);
		assert_int_equal(st->first_bad_offset, offs[3]);
		assert_int_equal(st->resyncs, 0);
		assert_int_equal(tensor_mask(r), ((1ull << NT) - 1) & ~4ull);
		llmi_reader__free(r);
	}
	free(copy);
	free(buf);
}

/*
 * A writer killed with SIGKILL in the middle of a record larger than two
 * extents. With the pwrite back end every full extent is on disk when the
 * append that filled it returns, so what the file holds is deterministic:
 * the flushed records whole, then the big record's first two extents.
 */
static void test_killed_writer(void **state)
{
	char path[128], err[LLMI_ERRLEN];
	struct llmi_verify_report rep;
	struct llmi_reader *r;
	const struct llmi_reader_status *st;
	struct stat sb;
	int status;
	pid_t pid;

	snprintf(path, sizeof(path), "%s/killed.llmi", dir);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct llmi_writer_opts o = { .sz = sizeof(o), .writer = "test_format",
					      .flags = LLMI_WRITER_NO_URING | LLMI_WRITER_QUIET,
					      .owner_uid = (uid_t)-1, .owner_gid = (gid_t)-1 };
		struct llmi_writer *w = llmi_writer__new(path, &o);
		size_t big = (5u << 20) / 2;
		uint8_t *b = malloc(big);

		if (!w || !b)
			_exit(3);
		fill_blob(b, big, 1);
		for (int i = 0; i < 4; i++) {
			struct llmi_tensor_rec t = { .dtype = 1, .ndim = 1, .shape = { 10 + i },
						     .raw_bytes = 4 * (10 + i), .layer = -1,
						     .ref_tensor_id = LLMI_NO_REF };
			size_t bl = i == 3 ? big : 1000;

			if (i == 3 && llmi_writer__flush(w))
				_exit(3);
			if (llmi_writer__tensor(w, &t, "t", b, bl))
				_exit(3);
		}
		raise(SIGKILL);
		_exit(4);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	assert_int_equal(stat(path, &sb), 0);
	/* The header block, the flushed 4096 bytes (three small tensors and a
	 * pad) and the two full 1 MiB extents of the big record. */
	assert_int_equal(sb.st_size, LLMI_HEADER_SIZE + 4096 + (2u << 20));
	r = llmi_reader__open(path, err, sizeof(err));
	assert_non_null(r);
	st = llmi_reader__status(r);
	assert_false(st->indexed);
	assert_false(llmi_reader_status_damaged(st));
	assert_true(st->tail_torn);
	assert_false(st->tail_zero);
	assert_int_equal(st->tail_offset + st->tail_bytes, (uint64_t)sb.st_size);
	assert_int_equal(tensor_mask(r), 7);
	assert_int_equal(llmi_reader__verify(r, &rep), -ENODATA);
	assert_int_equal(rep.bad_offset, st->tail_offset);
	llmi_reader__free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_not_a_container),
		cmocka_unit_test(test_ranks),
		cmocka_unit_test(test_index_absent_and_damaged),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_bit_flips),
		cmocka_unit_test(test_resync),
		cmocka_unit_test(test_killed_writer),
		cmocka_unit_test(test_validate_tensor),
		cmocka_unit_test(test_validate_events),
		cmocka_unit_test(test_events_v2),
		cmocka_unit_test(test_events_later),
		cmocka_unit_test(test_validate_strings),
		cmocka_unit_test(test_check_indexed),
		cmocka_unit_test(test_verify_totals_and_tails),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
