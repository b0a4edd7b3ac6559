/* SPDX-License-Identifier: MIT */
/*
 * The agent's control protocol: what llminstr-trace and libllminstr.so say
 * to each other (DESIGN.md, "Capture, step by step").
 *
 * The agent listens on the abstract unix socket "\0llminstr-agent.<pid>"
 * (SOCK_SEQPACKET: message boundaries kept). It accepts a peer only if
 * SO_PEERCRED says root or the process's own uid; anyone else is refused
 * and logged on the agent's stderr. One tracer at a time: a second
 * connection while one is attached is answered -EBUSY.
 *
 * Handshake: the tracer sends struct llmi_agent_hello with two descriptors
 * (SCM_RIGHTS): the memfd that holds the shared ring (ring.h), sized and
 * initialised by the tracer, and an eventfd the agent writes to whenever a
 * slot is published. The agent answers struct llmi_agent_reply: status 0,
 * or a negative errno with a one-line reason in msg (a protocol version it
 * does not speak is -EPROTO, both versions named). Either side checks the
 * magic, the version and the message size first, and refuses anything
 * else. The agent reads the hello before it answers, a refusal included,
 * and turns capture on before it sends status 0: a tracer holding that
 * reply knows every later capture call goes to its ring. The memfd should
 * be made with MFD_ALLOW_SEALING: the agent then seals it against
 * shrinking, so that no mistake of the tracer's can fault the program.
 *
 * The eventfd is written (1) once per slot published, READY or FAILED:
 * for a host tensor by the capturing thread before llminstr_capture()
 * returns, for a device tensor by the side stream's host function once the
 * copy off the GPU is done.
 *
 * After the handshake the connection only says that the tracer is there:
 * when it closes (the tracer exits or is killed), the agent waits for the
 * copies it has queued, frees its staging memory, unmaps the ring and goes
 * dormant; the program goes on. The agent closes it after a CUDA error (the
 * tracer sees EOF, and the reason in the ring's header). Either way, before
 * it unmaps the ring it sets the header's agent_done: a tracer that keeps
 * its own mapping after the connection ends can read every tensor captured
 * until then (its end of capture: close, then drain until agent_done).
 */
#ifndef LLMI_AGENT_PROTO_H
#define LLMI_AGENT_PROTO_H

#include <stdint.h>

#define LLMI_AGENT_MAGIC	0x414d4c4cu	/* "LLMA" little-endian */
#define LLMI_AGENT_PROTO	1
#define LLMI_AGENT_SOCK_FMT	"llminstr-agent.%d"	/* abstract: a leading NUL */

#define LLMI_ON_FULL_BLOCK	0	/* the capturing host thread waits for room */
#define LLMI_ON_FULL_DROP	1	/* the tensor is skipped and counted */

#define LLMI_SPEC_MAX		4096	/* capture spec text, NUL included */

/* Tracer -> agent; with SCM_RIGHTS { ring memfd, eventfd }. */
struct llmi_agent_hello {
	uint32_t magic;			/* LLMI_AGENT_MAGIC */
	uint32_t proto;			/* LLMI_AGENT_PROTO */
	uint32_t size;			/* sizeof(struct llmi_agent_hello) */
	uint32_t on_full;		/* LLMI_ON_FULL_* */
	uint64_t ring_bytes;		/* the memfd's size */
	uint64_t device_buffer;		/* device staging ring bytes */
	uint32_t tracer_pid;
	uint32_t reserved;
	char spec[LLMI_SPEC_MAX];	/* capture spec (spec.h), NUL-terminated */
};

#define LLMI_AGENT_CUDA		(1u << 0)	/* libcuda.so.1 is loaded in the process */

/* Agent -> tracer. */
struct llmi_agent_reply {
	uint32_t magic;			/* LLMI_AGENT_MAGIC */
	uint32_t proto;			/* the agent's LLMI_AGENT_PROTO */
	uint32_t size;			/* sizeof(struct llmi_agent_reply) */
	int32_t status;			/* 0, or a negative errno */
	uint32_t pid;			/* the agent's process */
	uint32_t flags;			/* LLMI_AGENT_* */
	char msg[256];			/* the reason when status != 0; else the agent's version */
};

#endif
