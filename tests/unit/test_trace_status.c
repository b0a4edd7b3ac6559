// SPDX-License-Identifier: MIT
/*
 * The live status line (user/trace/status.c): rates over the interval
 * between two snapshots, counts and the ratio since the start, units and
 * thresholds as a user reads them, the capture half only when capturing,
 * a line cut to the buffer; and the display: nothing without a terminal,
 * and on a pseudo-terminal a line cut to the width, and a message written
 * to stderr erases the line before it, so that it starts on a line of its
 * own.
 */
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "trace/status.h"

static void test_events(void **state)
{
	struct trace_status_snap a = { .run_s = 11.5, .events = 1000, .lost = 3 };
	struct trace_status_snap b = a;
	char line[256];
	int n;

	b.run_s = 12;
	b.events = 1000 + 6170;		/* over 0.5 s: 12340/s */
	n = trace_status_format(line, sizeof(line), &a, &b, 0.5);
	assert_int_equal(n, (int)strlen(line));
	assert_string_equal(line, "0:12 | 12.3k events/s, 3 lost");
	b.events = a.events;		/* nothing came: 0, not a stale rate */
	trace_status_format(line, sizeof(line), &a, &b, 0.5);
	assert_string_equal(line, "0:12 | 0 events/s, 3 lost");
	b.events = a.events + 4;	/* 8/s: two decimals under 10 */
	b.run_s = 3725;			/* past an hour: h:mm:ss */
	trace_status_format(line, sizeof(line), &a, &b, 0.5);
	assert_string_equal(line, "1:02:05 | 8.00 events/s, 3 lost");
	b.events = a.events + 617000000;	/* 1.23G/s */
	trace_status_format(line, sizeof(line), &a, &b, 0.5);
	assert_string_equal(line, "1:02:05 | 1.23G events/s, 3 lost");
	/* a counter that went back (cannot, but never a huge rate) and no time */
	b.events = a.events - 1;
	trace_status_format(line, sizeof(line), &a, &b, 0.5);
	assert_string_equal(line, "1:02:05 | 0 events/s, 3 lost");
	b.events = a.events + 10;
	trace_status_format(line, sizeof(line), &a, &b, 0);
	assert_string_equal(line, "1:02:05 | 0 events/s, 3 lost");
	/* -T: no per-call records, so no rate that would read as none */
	b.timing_only = true;
	trace_status_format(line, sizeof(line), &a, &b, 0.5);
	assert_string_equal(line, "1:02:05 | timing-only, 3 lost");
}

static void test_capture(void **state)
{
	struct trace_status_snap a = {
		.run_s = 4, .events = 100, .capture = true, .tensors = 10,
		.raw_bytes = 4000000000ull, .stored_bytes = 1000000000ull,
	};
	struct trace_status_snap b = a;
	char line[256];

	b.run_s = 4.5;
	b.events = 150;
	b.tensors = 52;				/* 84/s */
	b.raw_bytes += 1050000000ull;		/* 2.10 GB/s */
	b.stored_bytes += 260000000ull;		/* 0.52 GB/s; ratio 5.05/1.26 = 4.0 */
	b.dropped = 7;
	b.blocked_ns = 1300000000ull;
	b.live = 1;
	b.ring_fill = 0.374;
	trace_status_format(line, sizeof(line), &a, &b, 0.5);
	assert_string_equal(line, "0:04 | 84.0 tensors/s, raw 2.10 GB/s, stored 0.52 GB/s (4.0x), "
			    "buffer 37%, 7 dropped, 1.3 s blocked | 100 events/s, 0 lost");
	/* no agent attached now, nothing stored yet: said, not a made-up 0 */
	memset(&a, 0, sizeof(a));
	a.capture = true;
	b = a;
	b.run_s = 0.5;
	b.ring_fill = 0.9;	/* of no live ring: not shown */
	trace_status_format(line, sizeof(line), &a, &b, 0.5);
	assert_string_equal(line, "0:00 | 0 tensors/s, raw 0.00 GB/s, stored 0.00 GB/s, buffer -, "
			    "0 dropped, 0.0 s blocked | 0 events/s, 0 lost");
}

static void test_cut(void **state)
{
	struct trace_status_snap a = { .capture = true }, b = a;
	char line[256], small[20];
	int n = trace_status_format(line, sizeof(line), &a, &b, 1);

	/* snprintf's contract: the whole length, a terminated prefix */
	assert_int_equal(trace_status_format(small, sizeof(small), &a, &b, 1), n);
	assert_int_equal(strlen(small), sizeof(small) - 1);
	assert_memory_equal(small, line, sizeof(small) - 1);
	assert_int_equal(trace_status_format(small, 1, &a, &b, 1), n);
	assert_string_equal(small, "");
}

/*
 * What the pty shows, up to want bytes: the pty hands writes to its master
 * side asynchronously, so this waits for them, up to a deadline only a
 * stuck test reaches.
 */
static size_t drain(int m, char *buf, size_t cap, size_t want)
{
	size_t got = 0;

	while (got < want && got < cap - 1) {
		struct pollfd p = { .fd = m, .events = POLLIN };
		ssize_t r;

		if (poll(&p, 1, 60000) != 1)
			break;
		r = read(m, buf + got, cap - 1 - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	buf[got] = '\0';
	return got;
}

static void test_display(void **state)
{
	int saved = dup(STDERR_FILENO), m, s, fl;
	FILE *before = stderr;
	struct winsize ws = { .ws_row = 24, .ws_col = 28 };
	char out[1024];
	/* the pty turns \n into \r\n */
	const char *want = "\r\033[K0:01 | 5 events/s, 0 lost"
			   "\r\033[Kllminstr-trace: a message\r\n"
			   "and another\r\n"
			   "\r\033[K0:02 | 6 events/s, 0 lost, "
			   "\r\033[K";

	/* not a terminal: nothing replaced, nothing shown */
	int null = open("/dev/null", O_WRONLY);

	assert_true(null >= 0 && saved >= 0);
	dup2(null, STDERR_FILENO);
	assert_false(trace_status__start());
	assert_ptr_equal(stderr, before);
	trace_status__show("not shown");
	trace_status__end();

	assert_int_equal(openpty(&m, &s, NULL, NULL, &ws), 0);
	fl = fcntl(m, F_GETFL);
	fcntl(m, F_SETFL, fl | O_NONBLOCK);
	dup2(s, STDERR_FILENO);
	assert_true(trace_status__start());
	trace_status__show("0:01 | 5 events/s, 0 lost");
	fprintf(stderr, "llminstr-trace: a message\n");
	fprintf(stderr, "and another\n");	/* the line is gone: no second erase */
	/* cut one column short of the width: a wrapped line cannot be erased */
	trace_status__show("0:02 | 6 events/s, 0 lost, and more than fits");
	trace_status__clear();
	trace_status__clear();			/* erased once */
	trace_status__end();
	dup2(saved, STDERR_FILENO);
	assert_ptr_equal(stderr, before);
	drain(m, out, sizeof(out), strlen(want));
	assert_string_equal(out, want);
	close(m);
	close(s);
	close(null);
	close(saved);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_events),
		cmocka_unit_test(test_capture),
		cmocka_unit_test(test_cut),
		cmocka_unit_test(test_display),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
