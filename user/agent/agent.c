// SPDX-License-Identifier: MIT
/*
 * The agent's listener: one thread per process, started by the library's
 * constructor (and again in a fork child, whose pid, hence socket name,
 * differs), that waits on the abstract unix socket of proto.h for a tracer,
 * checks who it is, takes the ring and the eventfd it brings, and watches
 * the connection until it closes; then it detaches and waits for the next.
 *
 * The program must never notice: the thread blocks every signal, is
 * detached (the process exits whenever it likes; nothing here runs at
 * exit), writes nothing to stdout and one line to stderr only when it
 * refuses someone or cannot listen at all. Every error is a reply to the
 * tracer, never an abort.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "agent/agent.h"

struct agent agent_g = {
	.rank = -1, .world_size = -1, .local_rank = -1,
	.sess_lock = PTHREAD_RWLOCK_INITIALIZER,
	.res_mu = PTHREAD_MUTEX_INITIALIZER,
	.s = { .memfd = -1, .efd = -1, .conn = -1 },
};

#define G (&agent_g)

/* How long a connected peer may take to send its hello; one that will only
 * be told no gets less (the listener serves one connection at a time). */
#define HELLO_TIMEOUT_MS	10000
#define REFUSED_TIMEOUT_MS	1000

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

static int listen_fd = -1;
/* eventfd: wakes the agent's thread to fault the ring in (agent_first_use) */
static int wake_fd = -1;

uint64_t agent_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* One line on stderr, in a single write (other threads print too). */
static void say(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return;	/* nowhere to say it */
}

void agent_notify(void)
{
	uint64_t one = 1;
	int fd = G->s.efd;

	/* an eventfd write fails only when its counter would overflow; the
	 * tracer looks at the ring anyway whenever it wakes */
	while (write(fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

void agent_first_use(void)
{
	uint64_t one = 1;

	if (atomic_load_explicit(&G->s.used, memory_order_relaxed) || atomic_exchange(&G->s.used, 1))
		return;
	if (wake_fd >= 0 && write(wake_fd, &one, sizeof(one)) < 0)
		return;	/* not faulted in ahead: each page faults when first written */
}

/*
 * On the agent's thread, which alone detaches (unmaps): the ring is mapped
 * for the whole call. Linux >= 5.14; an older kernel faults page by page.
 */
static void populate(void)
{
	uint64_t v;
	struct agent_session *s = &G->s;

	if (read(wake_fd, &v, sizeof(v)) < 0 || !s->live || s->populated)
		return;
	s->populated = true;
	(void)madvise(s->map, s->map_len, MADV_POPULATE_WRITE);
}

void agent_fail(const char *fmt, ...)
{
	struct llmi_ring_hdr *h = G->s.ring.hdr;
	va_list ap;
	int expect = 0;

	if (!G->s.live)
		return;
	/* the first failure is the one reported */
	if (atomic_compare_exchange_strong(&G->s.failed, &expect, 1)) {
		va_start(ap, fmt);
		vsnprintf(h->agent_msg, sizeof(h->agent_msg), fmt, ap);
		va_end(ap);
		/* release: the message is there when a reader sees the error */
		atomic_store_explicit(&h->agent_error, -EIO, memory_order_release);
	}
	atomic_store(&G->on, 0);
	/* the listener sees EOF on its side too and detaches */
	shutdown(G->s.conn, SHUT_RDWR);
}

/* ---- handshake ---- */

static int send_reply(int fd, int status, const char *fmt, ...)
{
	struct llmi_agent_reply r;
	va_list ap;
	ssize_t n;

	memset(&r, 0, sizeof(r));
	r.magic = LLMI_AGENT_MAGIC;
	r.proto = LLMI_AGENT_PROTO;
	r.size = sizeof(r);
	r.status = status;
	r.pid = (uint32_t)getpid();
	r.flags = agent_cuda_loaded() ? LLMI_AGENT_CUDA : 0;
	va_start(ap, fmt);
	vsnprintf(r.msg, sizeof(r.msg), fmt, ap);
	va_end(ap);
	/* MSG_NOSIGNAL: a tracer that went away is no SIGPIPE for the program */
	n = send(fd, &r, sizeof(r), MSG_NOSIGNAL);
	if (n < 0)
		return -errno;
	return n == (ssize_t)sizeof(r) ? 0 : -EIO;
}

static bool peer_allowed(int fd, uid_t *uid)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) || len != sizeof(cr)) {
		*uid = (uid_t)-1;
		return false;
	}
	*uid = cr.uid;
	return cr.uid == 0 || cr.uid == getuid() || cr.uid == geteuid();
}

static bool is_eventfd(int fd)
{
	char path[64], link[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return false;
	link[n] = '\0';
	return !strcmp(link, "anon_inode:[eventfd]");
}

struct hello_in {
	struct llmi_agent_hello h;
	char more[64];		/* a longer hello is seen as longer, not cut */
};

/* Receives the hello and its descriptors; fds[] are -1 where none came. */
static ssize_t recv_hello(int c, struct hello_in *in, int fds[2], int *nfds, int timeout_ms)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * 8)];
	} ctl;
	struct iovec iov = { in, sizeof(*in) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
			    .msg_controllen = sizeof(ctl.buf) };
	struct pollfd p = { c, POLLIN, 0 };
	struct cmsghdr *cm;
	ssize_t n;
	int rc;

	fds[0] = fds[1] = -1;
	*nfds = 0;
	do
		rc = poll(&p, 1, timeout_ms);
	while (rc < 0 && errno == EINTR);
	if (rc <= 0)
		return -ETIMEDOUT;
	do
		n = recvmsg(c, &m, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	/* every descriptor that came is ours to close, whatever we keep */
	for (cm = CMSG_FIRSTHDR(&m); cm; cm = CMSG_NXTHDR(&m, cm)) {
		size_t i, k;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < k; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (*nfds < 2)
				fds[*nfds] = fd;
			else
				close(fd);
			(*nfds)++;
		}
	}
	if (m.msg_flags & MSG_CTRUNC)
		*nfds = 99;	/* more than fitted: refused below */
	return n;
}

static void close_fds(int fds[2])
{
	if (fds[0] >= 0)
		close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
}

/*
 * Validates a hello, maps its ring and parses its spec into G->s. Returns 0
 * with the session filled (not yet live), or a negative errno with the
 * reason in why. The descriptors are the session's on success, closed on
 * failure.
 */
static int take_hello(const struct hello_in *in, ssize_t n, int fds[2], int nfds, char *why,
		      size_t why_len)
{
	const struct llmi_agent_hello *h = &in->h;
	struct agent_session *s = &G->s;
	struct stat st;
	void *map;
	int rc;

	rc = -EPROTO;
	if (n < 12 || h->magic != LLMI_AGENT_MAGIC) {
		snprintf(why, why_len, "not an llminstr-trace hello (%zd bytes, magic 0x%08x)",
			 n, n >= 4 ? h->magic : 0);
		goto fail;
	}
	if (h->proto != LLMI_AGENT_PROTO) {
		snprintf(why, why_len,
			 "llminstr-trace speaks protocol %u, this agent (libllminstr.so, pid %d) "
			 "speaks protocol %u: use a tracer and an agent of the same release",
			 h->proto, (int)getpid(), LLMI_AGENT_PROTO);
		goto fail;
	}
	if (n != (ssize_t)sizeof(*h) || h->size != sizeof(*h)) {
		snprintf(why, why_len, "a hello of %zd bytes (says %u), expected %zu", n, h->size,
			 sizeof(*h));
		goto fail;
	}
	rc = -EINVAL;
	if (nfds != 2) {
		snprintf(why, why_len, "the hello carries %d descriptors, expected 2 (ring memfd, eventfd)",
			 nfds);
		goto fail;
	}
	if (h->on_full != LLMI_ON_FULL_BLOCK && h->on_full != LLMI_ON_FULL_DROP) {
		snprintf(why, why_len, "on_full %u is neither block (0) nor drop (1)", h->on_full);
		goto fail;
	}
	if (!memchr(h->spec, '\0', sizeof(h->spec))) {
		snprintf(why, why_len, "the capture spec is not NUL-terminated");
		goto fail;
	}
	if (fstat(fds[0], &st) || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != h->ring_bytes ||
	    h->ring_bytes < LLMI_RING_HDR_BYTES || h->ring_bytes > SIZE_MAX) {
		snprintf(why, why_len, "the ring memfd is not a file of the %llu bytes the hello says",
			 (unsigned long long)h->ring_bytes);
		goto fail;
	}
	if (!is_eventfd(fds[1])) {
		snprintf(why, why_len, "the second descriptor is not an eventfd");
		goto fail;
	}
	/* a tracer cannot shrink the ring under the program (SIGBUS) where
	 * its memfd allows sealing (MFD_ALLOW_SEALING); where not, it must
	 * not truncate it */
	(void)fcntl(fds[0], F_ADD_SEALS, F_SEAL_SHRINK);
	/* faulted in once a tensor is selected (agent_first_use), not now */
	map = mmap(NULL, (size_t)h->ring_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
	if (map == MAP_FAILED) {
		rc = -errno;
		snprintf(why, why_len, "cannot map the ring memfd (%llu bytes): %s",
			 (unsigned long long)h->ring_bytes, strerror(errno));
		goto fail;
	}
	rc = llmi_ring_attach(&s->ring, map, (size_t)h->ring_bytes);
	if (rc) {
		const struct llmi_ring_hdr *rh = map;

		snprintf(why, why_len,
			 "the memfd holds no ring this agent can use (magic 0x%08x version %u; "
			 "expected 0x%08x version %u, laid out by llmi_ring_init)",
			 rh->magic, rh->version, LLMI_RING_MAGIC, LLMI_RING_VERSION);
		munmap(map, (size_t)h->ring_bytes);
		goto fail;
	}
	rc = llmi_cap_spec_parse(h->spec, &s->spec, why, why_len);
	if (rc) {
		munmap(map, (size_t)h->ring_bytes);
		goto fail;
	}
	s->map = map;
	s->map_len = (size_t)h->ring_bytes;
	s->memfd = fds[0];
	s->efd = fds[1];
	s->on_full = h->on_full;
	s->tracer_pid = h->tracer_pid;
	s->dev_size = h->device_buffer;
	return 0;
fail:
	close_fds(fds);
	return rc;
}

/* The session's spec, mapping and descriptors freed; it reads as none. */
static void session_clear(struct agent_session *s)
{
	llmi_cap_spec_free(&s->spec);
	if (s->map)
		munmap(s->map, s->map_len);
	if (s->memfd >= 0)
		close(s->memfd);
	if (s->efd >= 0)
		close(s->efd);
	if (s->conn >= 0)
		close(s->conn);
	memset(s, 0, sizeof(*s));
	s->memfd = s->efd = s->conn = -1;
}

/* Detach: capture off, the calls in flight out, the copies done, all freed. */
static void detach(void)
{
	struct agent_session *s = &G->s;

	atomic_store(&G->on, 0);
	/* threads blocked for room look again at once (and see `on` off) */
	if (s->ring.hdr)
		syscall(SYS_futex, &s->ring.hdr->space_futex, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
	agent_cuda_wake();
	pthread_rwlock_wrlock(&G->sess_lock);
	AGENT_PROBE_ENTER();	/* its CUDA calls are capture traffic too */
	agent_cuda_detach();
	AGENT_PROBE_EXIT();
	/* the calls in flight have left and the copies have landed: all that
	 * was reserved is published; the tracer may stop reading */
	if (s->ring.hdr)
		atomic_store_explicit(&s->ring.hdr->agent_done, 1, memory_order_release);
	session_clear(s);
	pthread_rwlock_unlock(&G->sess_lock);
}

/* A new connection: refused, busy, or the tracer. */
static void serve(int c)
{
	int fds[2], nfds, rc;
	struct hello_in *in;
	char why[256];
	ssize_t n;
	uid_t uid;
	bool allowed = peer_allowed(c, &uid);

	in = calloc(1, sizeof(*in));
	if (!in) {
		close(c);
		return;
	}
	/*
	 * The hello first, whoever sent it: a socket closed with a message
	 * unread resets the connection, and the peer would see ECONNRESET
	 * instead of the reply that says why.
	 */
	n = recv_hello(c, in, fds, &nfds,
		       allowed && !G->s.live ? HELLO_TIMEOUT_MS : REFUSED_TIMEOUT_MS);
	if (n < 0) {
		free(in);
		close(c);
		return;
	}
	if (!allowed) {
		close_fds(fds);
		say("llminstr: refused a tracer connection from uid %d (only root or uid %d may "
		    "trace pid %d)", (int)uid, (int)geteuid(), (int)getpid());
		send_reply(c, -EPERM, "uid %d may not trace pid %d: run llminstr-trace as root or "
			   "as uid %d", (int)uid, (int)getpid(), (int)geteuid());
		goto done;
	}
	if (G->s.live) {
		close_fds(fds);
		send_reply(c, -EBUSY, "pid %d is already traced (by llminstr-trace pid %u)",
			   (int)getpid(), G->s.tracer_pid);
		goto done;
	}
	pthread_rwlock_wrlock(&G->sess_lock);
	rc = take_hello(in, n, fds, nfds, why, sizeof(why));
	if (!rc) {
		G->s.conn = c;
		G->s.live = true;
		/* on before the reply: a tracer that has the reply knows that
		 * the program captures from now on */
		atomic_store(&G->on, 1);
	}
	pthread_rwlock_unlock(&G->sess_lock);
	if (rc) {
		send_reply(c, rc, "%s", why);
		goto done;
	}
	free(in);
	if (send_reply(c, 0, "libllminstr.so, protocol %u, pid %d", LLMI_AGENT_PROTO,
		       (int)getpid()))
		detach();	/* it is gone already */
	return;
done:
	free(in);
	close(c);
}

/* Whether the tracer's connection is still open (drains what it says). */
static bool conn_open(int c, short revents)
{
	char buf[256];
	ssize_t n;

	if (revents & (POLLERR | POLLNVAL))
		return false;
	n = recv(c, buf, sizeof(buf), MSG_DONTWAIT);
	if (n > 0)
		return true;	/* nothing is expected after the hello; ignored */
	if (n == 0)
		return false;
	return errno == EAGAIN || errno == EINTR;
}

static int listen_socket(void)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	socklen_t len;
	int fd, n;

	n = snprintf(a.sun_path + 1, sizeof(a.sun_path) - 1, LLMI_AGENT_SOCK_FMT, (int)getpid());
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&a, len) || listen(fd, 8)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static void *listener(void *arg)
{
	int lfd = (int)(intptr_t)arg;

	for (;;) {
		struct pollfd p[3] = { { lfd, POLLIN, 0 }, { wake_fd, POLLIN, 0 },
				       { G->s.conn, POLLIN, 0 } };
		int n = poll(p, G->s.live ? 3 : 2, -1);

		if (n < 0) {
			if (errno != EINTR) {
				/* ENOMEM: try again a little later, never spin */
				struct timespec ts = { 0, 100 * 1000000L };

				nanosleep(&ts, NULL);
			}
			continue;
		}
		if (G->s.live && p[2].revents && !conn_open(G->s.conn, p[2].revents))
			detach();
		if (p[1].revents & POLLIN)
			populate();
		if (p[0].revents & POLLIN) {
			int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

			if (c >= 0)
				serve(c);
		}
	}
	return NULL;
}

static void start_listener(void)
{
	sigset_t all, old;
	pthread_attr_t at;
	pthread_t t;
	int fd = listen_socket();

	if (fd < 0) {
		say("llminstr: cannot listen on @" LLMI_AGENT_SOCK_FMT ": %s; tensors of pid %d "
		    "cannot be captured", (int)getpid(), strerror(-fd), (int)getpid());
		return;
	}
	/* the program's signals are none of this thread's business */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);	/* -1: poll skips it */
	if (pthread_create(&t, &at, listener, (void *)(intptr_t)fd)) {
		say("llminstr: cannot start the agent's thread in pid %d; tensors cannot be captured",
		    (int)getpid());
		close(fd);
		if (wake_fd >= 0)
			close(wake_fd);
		wake_fd = -1;
	} else {
		listen_fd = fd;
		pthread_setname_np(t, "llminstr-agent");
	}
	pthread_attr_destroy(&at);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/*
 * A fork child has the parent's memory but not its threads, and a new pid:
 * whatever session the parent had is the parent's (its ring mapping is
 * shared with the parent's tracer and must not be written from here), and
 * a lock a parent thread held at the fork would stay held. Start afresh.
 */
static void atfork_child(void)
{
	struct agent_session *s = &G->s;

	atomic_store(&G->on, 0);
	session_clear(s);
	agent_cuda_forget();
	pthread_rwlock_init(&G->sess_lock, NULL);
	pthread_mutex_init(&G->res_mu, NULL);
	if (listen_fd >= 0)
		close(listen_fd);
	if (wake_fd >= 0)
		close(wake_fd);
	listen_fd = wake_fd = -1;
	start_listener();
}

/*
 * llminstr-trace -- CMD sets LLMINSTR_WAIT_TRACER to its pid: the command
 * it started (its child, not the command's own children) waits here, before
 * main, until that tracer has attached or 10 s passed, so that an
 * experiment loses none of its first tensors.
 */
static void wait_for_tracer(void)
{
	const char *w = getenv("LLMINSTR_WAIT_TRACER");
	struct timespec ts = { 0, 1000000L };

	if (!w || listen_fd < 0 || atoi(w) != (int)getppid())
		return;
	for (int i = 0; i < 10000 && !atomic_load(&G->on); i++)
		nanosleep(&ts, NULL);
}

/* A rank variable's value: a decimal from 0 to INT32_MAX, else -1 (not known). */
static int32_t env_rank(const char *var)
{
	const char *v = getenv(var);
	char *end;
	long n;

	if (!v || *v < '0' || *v > '9')
		return -1;
	errno = 0;
	n = strtol(v, &end, 10);
	return errno || *end || n > INT32_MAX ? -1 : (int32_t)n;
}

/*
 * The launcher's variables (torchrun, torch.distributed, MPI wrappers that
 * set them): a worker's tensors say whose they are without a line of code.
 */
static void rank_from_env(void)
{
	int32_t rank = env_rank("RANK"), world = env_rank("WORLD_SIZE");

	if (world == 0 || (rank >= 0 && world > 0 && rank >= world))
		rank = world = -1;	/* inconsistent: trusted neither */
	atomic_store(&G->rank, rank);
	atomic_store(&G->world_size, world);
	atomic_store(&G->local_rank, env_rank("LOCAL_RANK"));
}

__attribute__((constructor)) static void agent_init(void)
{
	rank_from_env();
	pthread_atfork(NULL, NULL, atfork_child);
	start_listener();
	wait_for_tracer();
}
