/* SPDX-License-Identifier: MIT */
/*
 * The tracer's half of tensor capture (DESIGN.md, "Capture, step by step"):
 * connects to the agent inside each target (user/agent/proto.h), hands it a
 * shared ring (user/agent/ring.h) this module created, and turns what the
 * agent publishes there into tensor records of the container.
 *
 * Threads: one collector waits (epoll) on every session's eventfd and
 * socket and queues published slots in order; coder threads (--threads)
 * encode them, each with its own codec context, append the records to the
 * writer (LLMI_WRITER_THREAD) and release the ring in sequence order, which
 * is what makes room for the agent. None of this runs on the thread that
 * drains the BPF ring buffer: a slow disk or a slow coder costs capture
 * throughput (the agent blocks or drops, and says so), never lost events.
 *
 * Nothing from the target is trusted: slots are copied and bound-checked
 * before use (a bad one is counted and skipped), a reply is checked field
 * by field, and a target that dies leaves its published slots readable
 * (the mapping is ours).
 */
#ifndef LLMI_TRACE_CAPTURE_H
#define LLMI_TRACE_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "codec/codec.h"
#include "io/writer.h"
#include "trace/correlate.h"

struct capture_opts {
	const char *spec;		/* capture terms joined by newlines (agent/spec.h) */
	struct llmi_codec_spec codec;
	int on_full;			/* LLMI_ON_FULL_* (agent/proto.h) */
	uint64_t buffer_size;		/* host memory per target, in all (capture_ring_size) */
	uint64_t device_buffer;		/* the agent's device staging ring */
	unsigned threads;		/* coder threads, >= 1 */
	struct corr *corr;		/* producers (NULL: none are known) */
	/*
	 * Called once the agent of pid answered the connection, before it is
	 * given the ring (its first tensor can come right after): the tracer
	 * attaches the agent's probes here. true: the probes are there, so
	 * every tensor of pid waits for its producer in corr.
	 */
	bool (*connected)(void *ctx, pid_t pid);
	/* The output's reason for failing (disk full ...), for the one line said. */
	const char *(*output_error)(void *ctx);
	const char *output;		/* -o, for messages */
	bool verbose;			/* -v: say when an agent's capture starts */
	void *ctx;
};

struct capture_stats {
	uint64_t tensors;		/* written to the container */
	uint64_t raw_bytes, stored_bytes;
	double max_mse, max_nmse, max_abs_err;
	uint64_t dropped;		/* agent: selected but not taken, all reasons */
	uint64_t dropped_full, too_large, agent_errors;
	uint64_t blocked_ns;		/* agent: capturing threads waiting for room */
	uint64_t disk_wait_ns;		/* coders waiting for the writer: the disk's pace */
	uint64_t failed;		/* published FAILED (the copy failed) */
	uint64_t bad;			/* slots out of bounds, or that did not encode */
	uint64_t lost;			/* reserved by the agent, never published (target died) */
	uint64_t write_errors;		/* tensors coded but not appended (disk full) */
	uint64_t unattributed;		/* written without a producer (see correlate.h) */
	uint64_t tokens, token_records;	/* llminstr_tokens(): ids written, and steps */
	uint64_t first_ns, last_ns;	/* capture_ns of the first and last tensor written */
	unsigned sessions;		/* agents attached over the run */
	unsigned live;			/* agents attached now */
	double ring_fill;		/* the fullest live host ring now (0..1) */
};

/* One name's drops, for the summary's dropped_by_name. */
struct capture_drop {
	char name[256];
	uint64_t full, too_large, error;
};

/* Tensors of one name pattern (the name with each run of digits as '*'). */
struct capture_group {
	char pattern[256];
	uint64_t tensors, raw_bytes, stored_bytes, dropped;
	double max_mse, max_nmse;
};

struct capture;

/* NULL with errno. w is the container's writer, opened LLMI_WRITER_THREAD (appends may wait for memory: back-pressure). */
struct capture *capture__new(const struct capture_opts *o, struct llmi_writer *w);

/*
 * Connects to the agent of pid, hands it the ring and returns: 0 (the
 * agent's answer is the collector's to read, so that a slow or stuck agent
 * holds up no caller: capture starts when it accepts; a refusal, naming
 * the agent's reason (a protocol version, a bad spec, another tracer), or
 * no answer within 5 s is said in one line by the collector); -ENOENT (no
 * agent listening: the caller says how to load one), or another negative
 * errno with one line in err.
 */
int capture__attach(struct capture *c, pid_t pid, char *err, size_t len);
bool capture__has(const struct capture *c, pid_t pid);

/*
 * Tells every agent to detach (it finishes the copies it queued, publishes
 * them, then closes) and waits for them up to timeout_s: after it, every
 * tensor is published and its probe is in the BPF ring.
 */
void capture__stop_agents(struct capture *c, double timeout_s);
/*
 * Ends capture: the above if not done, then codes and writes every tensor
 * the agents published. Then only stats are read.
 */
void capture__stop(struct capture *c, double timeout_s);
void capture__stats(struct capture *c, struct capture_stats *st);
/* Names with drops, most dropped first; *n entries, free() the array. */
struct capture_drop *capture__drops(struct capture *c, size_t *n);
/* Per name pattern, in order of first appearance, drops included. */
struct capture_group *capture__groups(struct capture *c, size_t *n);
void capture__free(struct capture *c);

/*
 * --buffer-size is a capturing process's host memory in all: its ring (slot
 * table and data) and its share of what the container's writer holds for
 * the disk beyond the base every trace has (TRACE_WRITER_MEM). Coded bytes
 * are several times smaller than raw ones, so they ride out a pause of the
 * disk (each second's fdatasync stalls ext4's appends for up to ~150 ms) in
 * less memory than raw bytes would: the writer holds a sixteenth of the
 * buffer, from 8 to 32 MiB, and without it the coders sit idle.
 */
uint64_t capture_writer_mem(uint64_t buffer_size);
/* The ring's data bytes and slots for a buffer; 0 if it cannot hold a ring. */
uint64_t capture_ring_data(uint64_t buffer_size, uint32_t *nslots);
/* name with every run of digits replaced by '*' ("blk.12.resid" -> "blk.*.resid") */
void capture_pattern(const char *name, char *buf, size_t len);

/* The default -o when tensors are captured: llminstr-<pid>-<YYYYmmdd-HHMMSS>.llmi */
void capture_default_output(char *buf, size_t len, pid_t pid);

#endif
