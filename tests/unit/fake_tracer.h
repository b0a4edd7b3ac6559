/* SPDX-License-Identifier: MIT */
/*
 * The tracer's side of the agent's control protocol (proto.h), reduced to
 * what the agent's tests need: make a ring in a memfd and an eventfd, say
 * hello to an agent, read its ring. Included by tests/unit/test_agent*.c
 * after cmocka.h (static functions only).
 */
#ifndef LLMI_TEST_FAKE_TRACER_H
#define LLMI_TEST_FAKE_TRACER_H

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "agent/llminstr.h"
#include "agent/proto.h"
#include "agent/ring.h"

/* What a test may change in a hello before it is sent. */
struct ft_opts {
	uint64_t data_size;
	uint32_t nslots;
	const char *spec;
	uint32_t on_full;
	uint64_t device_buffer;
	uint32_t proto;		/* 0: LLMI_AGENT_PROTO */
	uint32_t magic;		/* 0: LLMI_AGENT_MAGIC */
	int send_bytes;		/* 0: the whole hello */
};

struct ft {
	int sock, memfd, efd;
	void *map;
	size_t len;
	struct llmi_ring r;
	struct llmi_agent_reply reply;
	uint64_t next;		/* the next sequence number to consume */
};

static __attribute__((unused)) double ft_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Polls cond every millisecond for up to 60 s: the deadline only a stuck
 * test reaches. */
#define FT_WAIT_UNTIL(cond)						\
	({								\
		double ft_t0_ = ft_now_s();				\
		bool ft_ok_;						\
		while (!(ft_ok_ = (cond)) && ft_now_s() - ft_t0_ < 60)	\
			usleep(1000);					\
		ft_ok_;							\
	})

static __attribute__((unused)) int ft_connect(pid_t pid)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd, n;

	n = snprintf(a.sun_path + 1, sizeof(a.sun_path) - 1, LLMI_AGENT_SOCK_FMT, (int)pid);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&a,
		    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n))) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/* Receives the agent's reply (60 s at most): its size, or -errno. */
static __attribute__((unused)) int ft_recv_reply(struct ft *t)
{
	struct pollfd p = { t->sock, POLLIN, 0 };
	ssize_t n;

	memset(&t->reply, 0, sizeof(t->reply));
	if (poll(&p, 1, 60000) != 1)
		return -ETIMEDOUT;
	n = recv(t->sock, &t->reply, sizeof(t->reply), 0);
	return n < 0 ? -errno : (int)n;
}

/*
 * Connects to pid's agent and says hello: the reply's status (0 attached),
 * or -errno when the conversation itself failed (-ECONNREFUSED: no agent).
 * On success t holds the connection and the ring; ft_close() ends it.
 */
static __attribute__((unused)) int ft_open(struct ft *t, pid_t pid, const struct ft_opts *o)
{
	struct llmi_agent_hello *h = calloc(1, sizeof(*h));
	union {
		struct cmsghdr c;
		char buf[CMSG_SPACE(2 * sizeof(int))];
	} ctl;
	struct iovec iov;
	struct msghdr m = { 0 };
	struct cmsghdr *cm;
	int fds[2], n;

	memset(t, 0, sizeof(*t));
	t->sock = t->memfd = t->efd = -1;
	if (!h)
		return -ENOMEM;
	t->len = llmi_ring_bytes(o->data_size, o->nslots);
	t->memfd = memfd_create("llminstr-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (!t->len || t->memfd < 0 || ftruncate(t->memfd, (off_t)t->len))
		goto fail;
	t->map = mmap(NULL, t->len, PROT_READ | PROT_WRITE, MAP_SHARED, t->memfd, 0);
	if (t->map == MAP_FAILED || llmi_ring_init(&t->r, t->map, t->len, o->data_size, o->nslots))
		goto fail;
	t->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (t->efd < 0)
		goto fail;
	t->sock = ft_connect(pid);
	if (t->sock < 0) {
		n = t->sock;
		t->sock = -1;
		free(h);
		return n;
	}
	h->magic = o->magic ? o->magic : LLMI_AGENT_MAGIC;
	h->proto = o->proto ? o->proto : LLMI_AGENT_PROTO;
	h->size = sizeof(*h);
	h->on_full = o->on_full;
	h->ring_bytes = t->len;
	h->device_buffer = o->device_buffer;
	h->tracer_pid = (uint32_t)getpid();
	snprintf(h->spec, sizeof(h->spec), "%s", o->spec ? o->spec : "all");
	iov.iov_base = h;
	iov.iov_len = o->send_bytes ? (size_t)o->send_bytes : sizeof(*h);
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = ctl.buf;
	m.msg_controllen = sizeof(ctl.buf);
	cm = CMSG_FIRSTHDR(&m);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(2 * sizeof(int));
	fds[0] = t->memfd;
	fds[1] = t->efd;
	memcpy(CMSG_DATA(cm), fds, sizeof(fds));
	if (sendmsg(t->sock, &m, MSG_NOSIGNAL) < 0) {
		n = -errno;
		free(h);
		return n;
	}
	free(h);
	n = ft_recv_reply(t);
	if (n < 0)
		return n;
	if (n != (int)sizeof(t->reply) || t->reply.magic != LLMI_AGENT_MAGIC ||
	    t->reply.size != sizeof(t->reply))
		return -EPROTO;
	return t->reply.status;
fail:
	free(h);
	return -errno ? -errno : -EINVAL;
}

/* Ends the conversation but keeps the ring, to drain it (the tracer's
 * end of capture): the agent sets agent_done when it has let go. */
static __attribute__((unused)) void ft_hangup(struct ft *t)
{
	if (t->sock >= 0)
		close(t->sock);
	t->sock = -1;
}

static __attribute__((unused)) void ft_close(struct ft *t)
{
	ft_hangup(t);
	if (t->map && t->map != MAP_FAILED)
		munmap(t->map, t->len);
	if (t->memfd >= 0)
		close(t->memfd);
	if (t->efd >= 0)
		close(t->efd);
	memset(t, 0, sizeof(*t));
	t->sock = t->memfd = t->efd = -1;
}

/*
 * For the cmocka tests of an agent in this very process (included after
 * cmocka.h): attach fails the test unless the agent accepted, and it
 * turns capture on before it replies; detach hangs up and waits until the
 * agent let go: agent_done, set once its device work is over too (capture
 * is off, llminstr_attached() 0, before that: a test that frees its
 * stream then would race with the agent's teardown on it).
 */
static __attribute__((unused)) void ft_attach(struct ft *t, const struct ft_opts *o)
{
	int rc = ft_open(t, getpid(), o);

	if (rc)
		fail_msg("attach: %d (%s)", rc, t->reply.msg);
	assert_int_equal(llminstr_attached(), 1);
}

static __attribute__((unused)) void ft_detach(struct ft *t)
{
	ft_hangup(t);
	if (t->r.hdr)
		assert_true(FT_WAIT_UNTIL(atomic_load(&t->r.hdr->agent_done) == 1));
	ft_close(t);
	assert_true(FT_WAIT_UNTIL(!llminstr_attached()));
}

/* The eventfd's count (0 when nothing was written since the last read). */
static __attribute__((unused)) uint64_t ft_events(struct ft *t)
{
	uint64_t v = 0;

	if (read(t->efd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

/* Waits (60 s at most) until slot seq is published: its state, the slot
 * in *s and its bytes in *data. LLMI_SLOT_FREE if it never came. */
static __attribute__((unused)) enum llmi_slot_state
ft_wait_slot(struct ft *t, uint64_t seq, struct llmi_ring_slot **s, void **data)
{
	enum llmi_slot_state st = LLMI_SLOT_FREE;

	FT_WAIT_UNTIL((*s = llmi_ring_peek(&t->r, seq, data, &st)) != NULL);
	return *s ? st : LLMI_SLOT_FREE;
}

/* The drop entry of name in the ring's table, or NULL. */
static __attribute__((unused)) struct llmi_ring_drops *ft_drops(struct ft *t, const char *name)
{
	unsigned i;

	for (i = 0; i <= LLMI_RING_DROP_NAMES; i++)
		if (!strcmp(t->r.hdr->drops[i].name, name))
			return &t->r.hdr->drops[i];
	return NULL;
}

#endif
