/* SPDX-License-Identifier: MIT */
/*
 * The shared capture ring: a memfd the tracer creates and the agent maps
 * (proto.h), through which tensors travel from the program to the tracer
 * without a copy on the tracer's side.
 *
 * Layout: a header (struct llmi_ring_hdr, LLMI_RING_HDR_BYTES), nslots
 * descriptors (struct llmi_ring_slot), then the data area (data_size bytes,
 * page aligned). Positions in the data area are monotonic byte counters;
 * a tensor's bytes are always contiguous: a reservation that would cross
 * the area's end starts at its beginning instead, and the tail it skipped
 * counts as used until the reservation is released. Each tensor's bytes
 * start on a 64-byte boundary of the area.
 *
 * Producers (the agent; callers serialise llmi_ring_reserve) reserve a slot
 * and its bytes in sequence order and publish each slot when its bytes are
 * there (from any thread, in any order: a device copy completes later than
 * a host one that came after it). The consumer (the tracer) takes published
 * slots in sequence order and releases them in sequence order, which frees
 * their bytes; it may work on several at once (coder threads) and release
 * the finished prefix. State words are C11 atomics on shared memory:
 * publish is a release store, peek an acquire load.
 *
 * Neither side trusts the other's numbers: llmi_ring_attach() checks the
 * header against the mapping's size, and peek checks a slot's offset,
 * length and name against the data area before handing it out (a slot
 * that fails is returned as LLMI_SLOT_BAD, to be released and counted).
 */
#ifndef LLMI_RING_H
#define LLMI_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LLMI_RING_MAGIC		0x474e524cu	/* "LRNG" */
#define LLMI_RING_VERSION	1
#define LLMI_RING_HDR_BYTES	(64u << 10)
#define LLMI_RING_NAME_MAX	255
#define LLMI_RING_DROP_NAMES	128	/* names counted apart; the rest in "(other)" */

enum llmi_slot_state {
	LLMI_SLOT_FREE     = 0,	/* not reserved (or released) */
	LLMI_SLOT_RESERVED = 1,	/* the producer is filling it */
	LLMI_SLOT_READY    = 2,	/* bytes and fields valid */
	LLMI_SLOT_FAILED   = 3,	/* the copy failed: release it, it holds nothing */
	LLMI_SLOT_BAD      = 4,	/* (peek's verdict only) fields out of bounds */
};

struct llmi_ring_slot {			/* 512 bytes */
	_Atomic uint32_t state;		/* enum llmi_slot_state */
	uint16_t dtype;			/* LLMINSTR_F32 .. (llminstr.h) */
	uint16_t ndim;
	uint64_t seq;			/* the capture's number in this attach: tensor id */
	uint64_t pos;			/* data position (monotonic; area offset = pos % data_size) */
	uint64_t bytes;
	uint64_t shape[8];
	uint64_t step;
	uint64_t stream;		/* the application's stream, 0 for host memory */
	uint64_t capture_ns;		/* CLOCK_MONOTONIC at llminstr_capture() */
	uint64_t ready_ns;		/* CLOCK_MONOTONIC at publish */
	uint32_t tid;			/* the capturing thread (gettid) */
	uint32_t name_len;
	uint32_t flags;			/* LLMI_SLOT_DEVICE: copied off the GPU; LLMI_SLOT_TOKENS; LLMI_SLOT_RANK */
	int32_t rank;			/* the process's rank (llminstr_set_rank, RANK), with LLMI_SLOT_RANK */
	char name[LLMI_RING_NAME_MAX + 1];
	/* with LLMI_SLOT_SLICED (pos= of the spec): shape[pos_dim] holds
	 * positions pos_first .. of the pos_total the tensor had */
	uint64_t pos_first;
	uint64_t pos_total;
	uint32_t pos_dim;
	uint32_t reserved2;
	uint8_t pad[512 - 144 - (LLMI_RING_NAME_MAX + 1) - 24];
};

#define LLMI_SLOT_DEVICE	(1u << 0)
#define LLMI_SLOT_TOKENS	(1u << 1)	/* int64 token ids (llminstr_tokens), not a tensor */
#define LLMI_SLOT_RANK		(1u << 2)	/* rank holds the process's rank (an older agent leaves it 0) */
#define LLMI_SLOT_SLICED	(1u << 3)	/* only some positions kept: pos_* say which */

_Static_assert(sizeof(struct llmi_ring_slot) == 512, "ring slot layout");

/* Why the agent did not take a tensor that was selected. */
enum llmi_drop_reason {
	LLMI_DROP_FULL,		/* --on-full drop and no room */
	LLMI_DROP_TOO_LARGE,	/* larger than --device-buffer or --buffer-size */
	LLMI_DROP_ERROR,	/* bad pointer, failed copy */
	LLMI_DROP_MAX,
};

/*
 * The agent claims an entry by setting name[0] to LLMI_RING_DROP_BUSY, then
 * writes the name, then its first byte (release): a reader takes an entry
 * whose name[0] is neither 0 nor BUSY (acquire), and its counts with it.
 */
#define LLMI_RING_DROP_BUSY	0xff	/* name[0] while the entry is written */

struct llmi_ring_drops {
	char name[LLMI_RING_NAME_MAX + 1];	/* "" = unused entry */
	_Atomic uint64_t count[LLMI_DROP_MAX];
};

struct llmi_ring_hdr {
	uint32_t magic;			/* LLMI_RING_MAGIC */
	uint32_t version;		/* LLMI_RING_VERSION */
	uint64_t total_bytes;		/* the mapping */
	uint64_t slot_off;		/* = LLMI_RING_HDR_BYTES */
	uint64_t data_off;		/* page aligned */
	uint64_t data_size;
	uint32_t nslots;		/* a power of two */
	uint32_t reserved0;

	/* the producer's side (written by the agent) */
	_Alignas(64) _Atomic uint64_t prod_seq;	/* slots reserved */
	_Atomic uint64_t prod_pos;	/* data reserved up to */
	_Atomic uint64_t taken;		/* tensors published READY */
	_Atomic uint64_t taken_bytes;
	_Atomic uint64_t blocked_ns;	/* capturing threads waiting for room (block) */
	_Atomic uint64_t dropped[LLMI_DROP_MAX];	/* all names */
	_Atomic int32_t agent_error;	/* the error that turned capture off, 0 */
	char agent_msg[256];		/* its reason */
	/* 1 (release) once the agent has let go of the ring after the
	 * connection closed: every slot below prod_seq is published and no
	 * other will be */
	_Atomic uint32_t agent_done;

	/* the consumer's side (written by the tracer) */
	_Alignas(64) _Atomic uint64_t cons_seq;	/* slots released */
	_Atomic uint64_t cons_pos;	/* data released up to */
	_Atomic uint32_t space_futex;	/* bumped at each release (futex word) */

	_Alignas(64) struct llmi_ring_drops drops[LLMI_RING_DROP_NAMES + 1];	/* + "(other)" */
};

_Static_assert(sizeof(struct llmi_ring_hdr) <= LLMI_RING_HDR_BYTES, "ring header fits");

/* A mapped ring, either side. */
struct llmi_ring {
	struct llmi_ring_hdr *hdr;
	struct llmi_ring_slot *slots;
	uint8_t *data;
	uint64_t data_size;
	uint32_t nslots;
};

/* Bytes of a ring with data_size (rounded up to pages) and nslots (a power
 * of two, >= 2); 0 if those are out of range. */
size_t llmi_ring_bytes(uint64_t data_size, uint32_t nslots);
/* The tracer: lays out a zeroed mapping of llmi_ring_bytes() bytes. */
int llmi_ring_init(struct llmi_ring *r, void *mem, size_t len, uint64_t data_size, uint32_t nslots);
/* The agent: checks a mapping the tracer made; -EPROTO if it is not one. */
int llmi_ring_attach(struct llmi_ring *r, void *mem, size_t len);

/*
 * Producer. Reserves the next slot and bytes contiguous bytes: 0 with *slot
 * (state RESERVED, seq, pos, bytes set; the caller fills the rest) and
 * *data; -EAGAIN when there is no room now; -E2BIG when bytes can never
 * fit. Callers serialise reservations.
 */
int llmi_ring_reserve(struct llmi_ring *r, uint64_t bytes, struct llmi_ring_slot **slot,
		      void **data);
/* Publishes a reserved slot: READY (ok) or FAILED; stamps ready_ns. */
void llmi_ring_publish(struct llmi_ring *r, struct llmi_ring_slot *s, bool ok);
/*
 * Waits until the consumer releases something or timeout_ms pass (futex on
 * space_futex; seen is the value read before the failed reservation).
 * Returns 0 or -ETIMEDOUT.
 */
int llmi_ring_wait_space(struct llmi_ring *r, uint32_t seen, int timeout_ms);
/* Counts a drop under name (and in the totals). */
void llmi_ring_count_drop(struct llmi_ring *r, const char *name, enum llmi_drop_reason why);
/* Bytes per element of an LLMINSTR_* dtype (llminstr.h); 0 for another. */
uint64_t llmi_ring_dtype_size(unsigned dtype);

/*
 * Consumer. The slot of sequence number seq if it is published (READY,
 * FAILED), or LLMI_SLOT_BAD when its fields do not fit the ring; NULL while
 * it is not published yet (or seq was not reserved). *data points at its
 * bytes when READY.
 */
struct llmi_ring_slot *llmi_ring_peek(struct llmi_ring *r, uint64_t seq, void **data,
				      enum llmi_slot_state *state);
/* Releases every slot before seq_end (they must have been peeked): frees
 * their bytes and wakes producers waiting for room. */
void llmi_ring_release(struct llmi_ring *r, uint64_t seq_end);

#endif
