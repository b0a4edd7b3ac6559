/* SPDX-License-Identifier: MIT */
/*
 * The tracer's live status line: on a terminal, every half second, one line
 * rewritten in place on stderr ("\r", then clear to the end of the line)
 * with what the trace is doing now: while capturing tensors/s, raw and
 * stored GB/s, the ratio, how full the host ring is, drops and blocked
 * time; then events/s and lost records.
 *
 * Two halves: trace_status_format() makes the line from two snapshots (pure,
 * unit-tested), and the display keeps it from mixing with other output.
 * Every message written to stderr while the line is shown erases it first:
 * the display puts a stream of its own in place of stderr that does so, so
 * that no message of the tracer (any thread, libbpf's too) lands after the
 * status on the same line. The tracer erases it itself before what it
 * prints on stdout (interval summaries, the summary).
 */
#ifndef LLMI_TRACE_STATUS_H
#define LLMI_TRACE_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct trace_status_snap {
	double run_s;			/* seconds since the trace started */
	bool timing_only;		/* -T: the ring carries no per-call records */
	uint64_t events, lost;		/* ring records consumed, lost (totals) */
	bool capture;			/* --capture: the fields below are filled */
	uint64_t tensors, raw_bytes, stored_bytes;	/* written (totals) */
	uint64_t dropped, blocked_ns;	/* the agents' (totals) */
	unsigned live;			/* agents capturing now */
	double ring_fill;		/* the fullest live host ring now, 0..1 */
};

/*
 * One line, without "\r" or newline, from prev to now over dt_s seconds
 * (rates over that interval, counts and the ratio since the start): the
 * length snprintf gives (the line is cut to len - 1 bytes).
 */
int trace_status_format(char *buf, size_t len, const struct trace_status_snap *prev,
			const struct trace_status_snap *now, double dt_s);

/*
 * The display on fd 2. trace_status__start(): true when stderr is a
 * terminal (the line is then shown); it must be called before any thread
 * writes to stderr. __show() replaces the line (skipped when the terminal
 * cannot take it now, so that a stopped terminal never blocks the caller);
 * __clear() erases it; __end() erases it and gives stderr back, once no
 * other thread writes to it.
 */
bool trace_status__start(void);
void trace_status__show(const char *line);
void trace_status__clear(void);
void trace_status__end(void);

#endif
