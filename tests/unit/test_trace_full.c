// SPDX-License-Identifier: MIT
/*
 * llminstr-trace's timeline sinks (user/trace/record.c) on a full disk, a
 * small tmpfs each:
 * - -o: the trace's stats say how many events are in the file, counted
 *   from the writes the kernel acknowledged, and the file holds exactly
 *   that many; in + not written = every event of the trace;
 * - --perfetto: a failed write is said with the file and the reason, and
 *   the file is cut back to the events flushed before it and closed as
 *   valid JSON (or removed).
 * Needs to mount a tmpfs (root): exits 77 where it cannot.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "format/reader.h"
#include "format/timeline.h"
#include "trace/agg.h"
#include "trace/record.h"

static char dir_o[64], dir_pf[64];
static char errpath[64];
static int saved_stderr = -1;

static struct llmi_event launch(uint64_t i)
{
	struct llmi_event e = { .ts_ns = 1000 + i, .pid = 77, .tid = 77, .version = LLMI_EVENT_VERSION,
				.type = LLMI_EV_LAUNCH, .api = LLMI_API_LAUNCH, .obj = 0x1000 + (i & 3),
				.stream = 1, .arg0 = 64, .arg1 = 256 };
	return e;
}

static void feed(struct agg *a, struct trace_tl *t, uint64_t from, uint64_t n)
{
	for (uint64_t i = from; i < from + n; i++) {
		struct llmi_event e = launch(i);

		agg__event(a, &e, sizeof(e));
		trace_tl__event(t, a, &e, sizeof(e));
		if (!(i & 1023))
			trace_tl__tick(t);
	}
}

/* stderr into a file, to read what the sinks said. */
static void capture_stderr(void)
{
	int fd;

	snprintf(errpath, sizeof(errpath), "/tmp/llmi-full-%d.err", getpid());
	fflush(stderr);
	saved_stderr = dup(2);
	fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(saved_stderr >= 0 && fd >= 0);
	dup2(fd, 2);
	close(fd);
}

/* Restores stderr; returns what was said (malloc'd), echoed. */
static char *said(void)
{
	char *buf = calloc(1, 1 << 16);
	FILE *f;

	fflush(stderr);
	dup2(saved_stderr, 2);
	close(saved_stderr);
	f = fopen(errpath, "r");
	assert_non_null(f);
	assert_non_null(buf);
	if (fread(buf, 1, (1 << 16) - 1, f) == 0)
		buf[0] = '\0';
	fclose(f);
	unlink(errpath);
	fputs(buf, stderr);
	return buf;
}

static void test_output_counts(void **state)
{
	const uint64_t n = 200000;	/* 12.8 MB of events for 1 MiB of room */
	char path[128];
	struct trace_tl_opts o = { .output = path, .events = true, .writer = "test" };
	struct trace_tl_stats st;
	struct agg *a = agg__new(NULL, NULL);
	struct trace_tl *t;
	struct llmi_reader *r;
	uint64_t in_file = 0;
	char why[256], *msg;

	snprintf(path, sizeof(path), "%s/t.llmi", dir_o);
	assert_non_null(a);
	capture_stderr();
	t = trace_tl__new(&o);
	assert_non_null(t);
	feed(a, t, 0, n);
	trace_tl__drain(t, 0, &st);
	assert_int_equal(trace_tl__close(t, "{}", 2), -EIO);
	msg = said();
	assert_non_null(strstr(msg, path));
	assert_non_null(strstr(msg, strerror(ENOSPC)));
	free(msg);

	print_message("-o on 1 MiB: %llu events in the file, %llu not written\n",
		      (unsigned long long)st.events, (unsigned long long)st.not_written);
	assert_int_equal(st.error, -ENOSPC);
	assert_true(st.events > 0);
	assert_int_equal(st.events + st.not_written, n);

	r = llmi_reader__open(path, why, sizeof(why));
	assert_non_null(r);
	assert_false(llmi_reader_status_damaged(llmi_reader__status(r)));
	for (size_t i = 0; i < llmi_reader__nr_records(r); i++) {
		struct llmi_events_rec h;
		const void *ev;
		size_t len;
		void *p;

		if (llmi_reader__record(r, i)->type != LLMI_REC_EVENTS)
			continue;
		p = llmi_reader__load(r, i, &len);
		assert_non_null(p);
		assert_int_equal(llmi_events_parse(p, len, &h, &ev), 0);
		in_file += h.count;
		free(p);
	}
	llmi_reader__free(r);
	assert_int_equal(in_file, st.events);
	agg__free(a);
}

/* Bytes of path, or -1. */
static long long file_size(const char *path)
{
	struct stat sb;

	return stat(path, &sb) ? -1 : (long long)sb.st_size;
}

static void test_perfetto_cut_back(void **state)
{
	char path[128], *msg, *json;
	struct trace_tl_opts o = { .perfetto = path, .writer = "test" };
	struct agg *a = agg__new(NULL, NULL);
	unsigned long long kept = 0;
	struct trace_tl *t;
	long long head;
	size_t len, slices = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/p.json", dir_pf);
	assert_non_null(a);
	capture_stderr();
	t = trace_tl__new(&o);
	assert_non_null(t);
	head = file_size(path);
	feed(a, t, 0, 500);
	/* the once-a-second flush: wait for it (the file grows), 60 s at most */
	for (int i = 0; i < 6000 && file_size(path) == head; i++) {
		struct timespec ts = { 0, 10000000 };

		trace_tl__tick(t);
		nanosleep(&ts, NULL);
	}
	assert_true(file_size(path) > head);
	feed(a, t, 500, 100000);	/* ~20 MB for 256 KiB of room */
	trace_tl__tick(t);
	assert_int_equal(trace_tl__close(t, NULL, 0), -EIO);
	msg = said();
	assert_non_null(strstr(msg, path));
	assert_non_null(strstr(msg, strerror(ENOSPC)));
	assert_null(strstr(msg, "write failed"));
	assert_non_null(strstr(msg, "closed as valid JSON"));
	assert_non_null(strstr(msg, "cut back to the"));
	assert_int_equal(sscanf(strstr(msg, "cut back to the"), "cut back to the %llu events", &kept), 1);
	free(msg);
	assert_int_equal(kept, 500);

	/* the file: the events flushed, then the document's end */
	f = fopen(path, "r");
	assert_non_null(f);
	json = calloc(1, 1 << 18);
	assert_non_null(json);
	len = fread(json, 1, (1 << 18) - 1, f);
	fclose(f);
	assert_true(len > 3);
	assert_string_equal(json + len - 3, "]}\n");
	assert_int_equal(strncmp(json, "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[", 39), 0);
	for (char *p = json; (p = strstr(p, "\"ph\":\"X\"")); p++)
		slices++;
	assert_int_equal(slices, kept);
	assert_int_equal(json[len - 4], '}');	/* the last event's end, no comma */
	free(json);
	agg__free(a);
}

static int mount_small(char *dir, size_t len, const char *size)
{
	snprintf(dir, len, "/tmp/llmi-full-XXXXXX");
	if (!mkdtemp(dir)) {
		printf("SKIP: cannot make a temporary directory: %s\n", strerror(errno));
		return -1;
	}
	if (mount("llmi-full", dir, "tmpfs", MS_NOSUID | MS_NODEV, size)) {
		printf("SKIP: cannot mount a small tmpfs at %s (needs root): %s\n", dir, strerror(errno));
		rmdir(dir);
		return -1;
	}
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_output_counts),
		cmocka_unit_test(test_perfetto_cut_back),
	};
	int ret;

	if (mount_small(dir_o, sizeof(dir_o), "size=1m"))
		return 77;
	if (mount_small(dir_pf, sizeof(dir_pf), "size=256k")) {
		umount2(dir_o, MNT_DETACH);
		rmdir(dir_o);
		return 77;
	}
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	umount2(dir_o, MNT_DETACH);
	umount2(dir_pf, MNT_DETACH);
	rmdir(dir_o);
	rmdir(dir_pf);
	return ret;
}
