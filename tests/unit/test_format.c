// SPDX-License-Identifier: MIT
/*
 * The .llmi container: CRC32C, record round trip through the writer and the
 * reader, the index present / absent / damaged (rebuilt by scanning),
 * truncation at every record boundary and inside records (a torn tail, not
 * damage), resynchronisation past damaged record headers, a writer killed
 * with SIGKILL mid-record, and random bit flips. Files are made with the real writer; tensor blobs are random bytes
 * (the codec is tested on its own).
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
		struct llmi_events_rec eh = { .event_size = 16, .count = 3, .first_ns = 1, .last_ns = 3 };
		uint8_t ev[48];

		fill_blob(ev, sizeof(ev), 99);
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

static void test_not_a_container(void **state)
{
	char err[LLMI_ERRLEN];
	uint8_t junk[8192];
	struct llmi_reader *r;

	memset(junk, 'x', sizeof(junk));
	r = llmi_reader__open_mem(junk, sizeof(junk), err, sizeof(err));
	assert_null(r);
	assert_int_equal(errno, EBADMSG);
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
	/* Inside the header block: not a container, a clean error. */
	for (size_t cut = 0; cut <= LLMI_HEADER_SIZE; cut += cut < 4080 ? 255 : 1) {
		struct llmi_reader *r = llmi_reader__open_mem(buf, cut, err, sizeof(err));

		if (cut < LLMI_HEADER_SIZE) {
			assert_null(r);
			assert_int_equal(errno, EBADMSG);
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
			assert_int_equal(errno, EBADMSG);
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
		cmocka_unit_test(test_index_absent_and_damaged),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_bit_flips),
		cmocka_unit_test(test_resync),
		cmocka_unit_test(test_killed_writer),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
