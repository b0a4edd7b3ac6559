// SPDX-License-Identifier: MIT
/*
 * The live status line (status.h): its format, and its display on a
 * terminal.
 *
 * Why stderr is replaced while the line is shown: messages come from many
 * places (the main loop, capture's coder threads, libbpf through the
 * tracer's print callback), and each must start on a line of its own. A
 * stream made with fopencookie() stands in for stderr; its write erases
 * the status first. glibc locks a stream for each call on it, so the erase
 * and the message go out together, and __show()/__clear() take the same
 * lock (flockfile) to draw.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "trace/status.h"

/* v with three significant digits and k, M, G: "0", "8.50", "85.0", "850", "1.23k". */
static const char *num(char *b, size_t len, double v)
{
	static const char unit[] = " kMG";
	int u = 0;

	if (!(v > 0)) {	/* NaN too */
		snprintf(b, len, "0");
		return b;
	}
	while (v >= 999.5 && u < 3) {
		v /= 1000;
		u++;
	}
	if (v >= 99.95)
		snprintf(b, len, "%.0f", v);
	else if (v >= 9.995)
		snprintf(b, len, "%.1f", v);
	else
		snprintf(b, len, "%.2f", v);
	if (u)
		snprintf(b + strlen(b), len - strlen(b), "%c", unit[u]);
	return b;
}

/* (b - a) / dt, 0 when the counter went back or no time passed. */
static double rate(uint64_t a, uint64_t b, double dt)
{
	return b > a && dt > 0 ? (double)(b - a) / dt : 0;
}

int trace_status_format(char *buf, size_t len, const struct trace_status_snap *prev,
			const struct trace_status_snap *now, double dt_s)
{
	unsigned long long s = now->run_s > 0 ? (unsigned long long)now->run_s : 0;
	char clock[32], ev[16], t[16];
	size_t k = 0;
	int n;

	if (!len)
		return 0;
	if (s >= 3600)
		snprintf(clock, sizeof(clock), "%llu:%02llu:%02llu", s / 3600, s / 60 % 60, s % 60);
	else
		snprintf(clock, sizeof(clock), "%llu:%02llu", s / 60, s % 60);
#define ADD(...)                                                                    \
	do {                                                                        \
		n = snprintf(buf + (k < len ? k : len - 1), k < len ? len - k : 1,  \
			     __VA_ARGS__);                                          \
		k += n > 0 ? (size_t)n : 0;                                         \
	} while (0)
	ADD("%s", clock);
	/* capture first: on a narrow terminal the line is cut at its end */
	if (now->capture) {
		ADD(" | %s tensors/s, raw %.2f GB/s, stored %.2f GB/s",
		    num(t, sizeof(t), rate(prev->tensors, now->tensors, dt_s)),
		    rate(prev->raw_bytes, now->raw_bytes, dt_s) / 1e9,
		    rate(prev->stored_bytes, now->stored_bytes, dt_s) / 1e9);
		if (now->stored_bytes)	/* since the start: steadier than the interval's */
			ADD(" (%.1fx)", (double)now->raw_bytes / (double)now->stored_bytes);
		if (now->live)
			ADD(", buffer %.0f%%", now->ring_fill * 100);
		else
			ADD(", buffer -");
		ADD(", %llu dropped, %.1f s blocked", (unsigned long long)now->dropped,
		    now->blocked_ns / 1e9);
	}
	if (now->timing_only)
		ADD(" | timing-only, %llu lost", (unsigned long long)now->lost);
	else
		ADD(" | %s events/s, %llu lost",
		    num(ev, sizeof(ev), rate(prev->events, now->events, dt_s)),
		    (unsigned long long)now->lost);
#undef ADD
	return (int)k;
}

/* ---- the display ---- */

static struct {
	FILE *real;		/* stderr before us */
	FILE *own;		/* the stream standing in for it */
	bool shown;		/* a status line is on the terminal (under own's lock) */
} d;

static int put(const char *b, size_t n)
{
	while (n) {
		ssize_t w = write(STDERR_FILENO, b, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

static ssize_t own_write(void *cookie, const char *b, size_t n)
{
	(void)cookie;
	if (d.shown) {
		d.shown = false;
		if (put("\r\033[K", 4))
			return -1;
	}
	return put(b, n) ? -1 : (ssize_t)n;
}

bool trace_status__start(void)
{
	cookie_io_functions_t io = { .write = own_write };

	if (d.own || !isatty(STDERR_FILENO))
		return false;
	d.own = fopencookie(NULL, "w", io);
	if (!d.own)
		return false;	/* no status rather than one that mixes with messages */
	setvbuf(d.own, NULL, _IONBF, 0);	/* as stderr: every message at once */
	d.real = stderr;
	stderr = d.own;
	return true;
}

void trace_status__show(const char *line)
{
	struct pollfd p = { .fd = STDERR_FILENO, .events = POLLOUT };
	struct winsize ws;
	size_t n = strlen(line), cols = 80;
	char buf[512];

	if (!d.own)
		return;
	if (!ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) && ws.ws_col)
		cols = ws.ws_col;
	/* one column short of the width: a line that wraps cannot be erased with \r */
	if (n > cols - 1)
		n = cols - 1;
	if (n > sizeof(buf) - 5)
		n = sizeof(buf) - 5;
	memcpy(buf, "\r\033[K", 4);
	memcpy(buf + 4, line, n);
	flockfile(d.own);
	/* a stopped terminal (Ctrl-S) must not hold up the thread that drains the ring */
	if (poll(&p, 1, 0) == 1 && (p.revents & POLLOUT)) {
		d.shown = true;	/* even in part: erased before the next message */
		put(buf, n + 4);
	}
	funlockfile(d.own);
}

void trace_status__clear(void)
{
	if (!d.own)
		return;
	flockfile(d.own);
	if (d.shown) {
		d.shown = false;
		put("\r\033[K", 4);
	}
	funlockfile(d.own);
}

void trace_status__end(void)
{
	if (!d.own)
		return;
	trace_status__clear();
	stderr = d.real;
	fclose(d.own);
	d.own = NULL;
}
