// SPDX-License-Identifier: MIT
/*
 * Tensor capture, the tracer's side (capture.h): sessions with the agents,
 * the collector that takes what they publish in order, and the coders that
 * turn it into tensor records.
 *
 * Ordering: the agent publishes slots in any order (a host tensor is ready
 * before a device tensor queued ahead of it), the collector takes them in
 * sequence order, coders finish them in any order, and the ring is released
 * over the finished prefix only, because the agent reuses bytes in order.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "agent/proto.h"
#include "agent/ring.h"
#include "trace/capture.h"
#include "trace/record.h"

#define MAX_SESSIONS	256
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define MAX_CODERS	64
#define REPLY_WAIT_MS	5000

struct session {
	pid_t pid;
	int sock, efd;
	void *mem;
	size_t mem_len;
	struct llmi_ring r;
	uint64_t next_seq;	/* collector: the next slot to take */
	uint64_t rel_seq;	/* released up to (under c->lock) */
	uint8_t *done;		/* per slot index: coded, waiting for the prefix */
	bool eof;		/* the agent closed the connection, or never answered */
	bool pending;		/* hello sent, its answer not read yet (collector) */
	bool refused;		/* the agent refused or did not answer: not asked again */
	uint64_t hello_ns;	/* when the hello went out */
	bool probed;		/* its capture probes are attached: producers are known */
	bool stopping;		/* we asked it to detach */
	bool populating;	/* pop runs: the ring's pages are faulted in (collector) */
	pthread_t pop;
	/* its token stream (collector): tokens handed over so far, and the run
	 * of the last step that had tokens, which that step's tensors name */
	uint64_t tokens_next;
	uint64_t tok_step, tok_first, tok_count;
};

struct job {
	struct session *s;
	uint64_t seq;
	uint64_t tok_first, tok_count;	/* tokens: their numbers; a tensor: its step's run */
	enum llmi_slot_state state;
	struct llmi_ring_slot slot;	/* a private copy: the target cannot change it */
	const void *data;
};

struct capture {
	struct capture_opts o;
	struct llmi_writer *w;
	int ep, wake;			/* epoll of the collector, eventfd to wake it */

	pthread_mutex_t lock;		/* sessions, queue, stats */
	pthread_cond_t more;		/* a job was queued, or quit */
	pthread_cond_t idle;		/* a job finished, or a session ended */
	struct session *ses[MAX_SESSIONS];
	unsigned nses;
	struct job *q;			/* ring of queued jobs */
	size_t qcap, qhead, qlen;
	size_t busy;			/* jobs being coded */
	bool quit;			/* coders and collector leave */
	bool draining;			/* stop: take what is published, then quit */
	bool write_failed;		/* the output failed (disk full): capture stopped */

	pthread_t collector, coders[MAX_CODERS];
	unsigned ncoders;
	atomic_uint coder_seq;		/* coders started, for their priority */
	bool started;
	struct capture_stats st;
	struct capture_group *groups;
	size_t ngroups, groups_cap;
};

static size_t pow2_at_least(size_t v)
{
	size_t p = 1;

	while (p < v)
		p <<= 1;
	return p;
}

void capture_default_output(char *buf, size_t len, pid_t pid)
{
	time_t t = time(NULL);
	struct tm tm;
	char stamp[32] = "00000000-000000";

	if (localtime_r(&t, &tm))
		strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
	snprintf(buf, len, "llminstr-%d-%s.llmi", (int)pid, stamp);
}

void capture_pattern(const char *name, char *buf, size_t len)
{
	size_t k = 0;

	for (const char *p = name; *p && k + 1 < len; p++) {
		if (*p >= '0' && *p <= '9') {
			while (p[1] >= '0' && p[1] <= '9')
				p++;
			buf[k++] = '*';
		} else {
			buf[k++] = *p;
		}
	}
	buf[k] = '\0';
}

/* The group of name's pattern, created on first use; NULL without memory. Under c->lock. */
static struct capture_group *group_of(struct capture *c, const char *name)
{
	char pat[sizeof(c->groups->pattern)];

	capture_pattern(name, pat, sizeof(pat));
	for (size_t i = 0; i < c->ngroups; i++)
		if (!strcmp(c->groups[i].pattern, pat))
			return &c->groups[i];
	if (c->ngroups == c->groups_cap) {
		size_t ncap = c->groups_cap ? 2 * c->groups_cap : 16;
		struct capture_group *g = realloc(c->groups, ncap * sizeof(*g));

		if (!g)
			return NULL;
		c->groups = g;
		c->groups_cap = ncap;
	}
	memset(&c->groups[c->ngroups], 0, sizeof(c->groups[0]));
	memcpy(c->groups[c->ngroups].pattern, pat, sizeof(pat));
	return &c->groups[c->ngroups++];
}

/* ---- the queue ---- */

static int push_job(struct capture *c, const struct job *j)
{
	if (c->qlen == c->qcap) {
		size_t ncap = c->qcap ? 2 * c->qcap : 256;
		struct job *nq = malloc(ncap * sizeof(*nq));

		if (!nq)
			return -ENOMEM;
		for (size_t i = 0; i < c->qlen; i++)
			nq[i] = c->q[(c->qhead + i) % c->qcap];
		free(c->q);
		c->q = nq;
		c->qcap = ncap;
		c->qhead = 0;
	}
	c->q[(c->qhead + c->qlen) % c->qcap] = *j;
	c->qlen++;
	pthread_cond_signal(&c->more);
	return 0;
}

/* Marks seq coded and releases the finished prefix; under c->lock. */
static void finish(struct capture *c, struct session *s, uint64_t seq)
{
	uint64_t end = s->rel_seq;

	s->done[seq & (s->r.nslots - 1)] = 1;
	while (end < s->next_seq && s->done[end & (s->r.nslots - 1)]) {
		s->done[end & (s->r.nslots - 1)] = 0;
		end++;
	}
	if (end != s->rel_seq) {
		s->rel_seq = end;
		llmi_ring_release(&s->r, end);
	}
}

/*
 * The output failed (disk full, I/O error): nothing more can be written, so
 * the agents are told to stop (they detach; the programs go on, untouched)
 * and the trace goes on for timing. Said once. Under c->lock.
 */
static void stop_on_write_error(struct capture *c)
{
	__atomic_store_n(&c->write_failed, true, __ATOMIC_RELAXED);
	fprintf(stderr, "llminstr-trace: -o %s: cannot write tensors (%s); tensor capture "
		"stops here, timing goes on\n", c->o.output ? c->o.output : "?",
		c->o.output_error ? c->o.output_error(c->o.ctx) : "write failed");
	for (unsigned i = 0; i < c->nses; i++) {
		struct session *s = c->ses[i];

		if (!s->eof && !s->stopping) {
			s->stopping = true;
			shutdown(s->sock, SHUT_WR);
		}
	}
}

/* ---- coders ---- */

static bool desc_of(const struct llmi_ring_slot *sl, struct llmi_tensor_desc *d)
{
	size_t es;
	uint64_t n;

	d->dtype = (enum llmi_dtype)sl->dtype;
	d->ndim = sl->ndim;
	es = llmi_dtype_size(d->dtype);
	if (!es || d->ndim > LLMI_MAX_DIMS)
		return false;
	for (unsigned i = 0; i < d->ndim; i++)
		d->shape[i] = sl->shape[i];
	n = llmi_tensor_numel(d);
	if (!n && d->ndim)
		for (unsigned i = 0; i < d->ndim; i++)
			if (!d->shape[i])
				return sl->bytes == 0;	/* an empty tensor */
	return n && n <= UINT64_MAX / es && n * es == sl->bytes;
}

/*
 * A tensor of which pos= kept some positions: the record says which. When
 * its step's tokens are one sequence of exactly those positions ([S, H],
 * [1, S, H]), its token run becomes that of the rows kept, so that every
 * reader ties rows to ids as before; a batch of several sequences keeps
 * the step's whole run, which readers slice with pos_* (FORMAT.md).
 */
static void slice_rec(struct llmi_tensor_rec *rec, const struct llmi_ring_slot *sl)
{
	uint64_t kept, outer = 1;

	if (sl->pos_dim >= rec->ndim || sl->pos_total <= rec->shape[sl->pos_dim] ||
	    sl->pos_first > sl->pos_total - rec->shape[sl->pos_dim])
		return;		/* the agent's numbers do not add up: not said */
	kept = rec->shape[sl->pos_dim];
	for (unsigned i = 0; i < sl->pos_dim; i++)
		outer *= rec->shape[i];
	rec->pos_first = sl->pos_first;
	rec->pos_total = sl->pos_total;
	rec->pos_dim = sl->pos_dim;
	if (outer == 1 && rec->token_count && rec->token_count == sl->pos_total) {
		rec->token_first += sl->pos_first;
		rec->token_count = kept;
		if (!kept)
			rec->token_first = 0;
	}
}

static void *coder_main(void *arg)
{
	struct capture *c = arg;
	struct llmi_codec *codec = llmi_codec__new(1);
	void *out = NULL;
	size_t out_cap = 0;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	/*
	 * Coders past the CPUs minus one would take the program's own CPU:
	 * they yield it (nice 10) and code with what the program leaves idle,
	 * such as while it waits for room under --on-full block.
	 */
	if ((long)atomic_fetch_add(&c->coder_seq, 1) >= (cpus > 1 ? cpus - 1 : 1))
		(void)setpriority(PRIO_PROCESS, (id_t)gettid(), 10);
	pthread_mutex_lock(&c->lock);
	for (;;) {
		struct llmi_tensor_desc d;
		struct llmi_codec_stats cs;
		struct llmi_tensor_rec rec;
		size_t blob = 0;
		bool unattributed = false;
		struct llmi_writer_res res;
		bool direct = false;
		struct job j;
		int err = 0;
		bool ok;

		while (!c->qlen && !c->quit)
			pthread_cond_wait(&c->more, &c->lock);
		if (!c->qlen)
			break;
		j = c->q[c->qhead];
		c->qhead = (c->qhead + 1) % c->qcap;
		c->qlen--;
		c->busy++;
		pthread_mutex_unlock(&c->lock);

		if (j.state == LLMI_SLOT_READY && (j.slot.flags & LLMI_SLOT_TOKENS)) {
			struct llmi_tokens_rec th = { .step = j.slot.step, .first = j.tok_first,
						      .count = j.tok_count, .pid = (uint32_t)j.s->pid,
						      .tid = j.slot.tid };

			err = __atomic_load_n(&c->write_failed, __ATOMIC_RELAXED) ||
			      llmi_writer__tokens(c->w, &th, j.data) ? -EIO : 0;
			pthread_mutex_lock(&c->lock);
			c->busy--;
			if (err) {
				c->st.write_errors++;
				if (!c->write_failed)
					stop_on_write_error(c);
			} else {
				c->st.token_records++;
				c->st.tokens += j.tok_count;
			}
			finish(c, j.s, j.seq);
			pthread_cond_broadcast(&c->idle);
			continue;
		}
		ok = j.state == LLMI_SLOT_READY && desc_of(&j.slot, &d);
		if (ok && __atomic_load_n(&c->write_failed, __ATOMIC_RELAXED))
			err = -EIO;	/* nowhere to write it: released uncoded */
		else
		if (ok && !codec)
			err = -ENOMEM;
		/*
		 * The blob goes straight into the writer's extent when the
		 * codec's bound fits in one and this is the only coder; else
		 * into our buffer, which the writer copies. With several
		 * coders, records placed behind a reservation while it is
		 * coded leave its unused rest (its bound, about the raw size,
		 * less the blob) as a pad that goes to disk: a copy of the blob
		 * costs less. The slot's data is the agent's ring, read in
		 * place: the target may rewrite it while we code, which makes
		 * the tensor's values meaningless but not the record invalid
		 * (the codec reads within the bounds taken from our copy of
		 * the slot, and writes within its bound).
		 */
		if (ok && !err && c->ncoders == 1) {
			err = llmi_writer__tensor_begin(c->w, j.slot.name, llmi_codec_bound(j.slot.bytes),
							&res);
			if (!err)
				direct = true;
			else if (err == -EMSGSIZE)
				err = 0;
			else
				err = -EIO;	/* the writer said why, once */
		}
		if (ok && !err && direct) {
			err = llmi_codec__encode(codec, &c->o.codec, &d, j.data, NULL, res.blob,
						 res.max_blob, &blob, &cs);
			if (err)
				llmi_writer__tensor_abort(c->w, &res);
		}
		if (ok && !err && !direct && llmi_codec_bound(j.slot.bytes) > out_cap) {
			size_t cap = llmi_codec_bound(j.slot.bytes);
			void *p = realloc(out, cap);

			if (p) {
				out = p;
				out_cap = cap;
			} else {
				err = -ENOMEM;
			}
		}
		if (ok && !err && !direct)
			err = llmi_codec__encode(codec, &c->o.codec, &d, j.data, NULL, out, out_cap,
						 &blob, &cs);
		if (ok && !err) {
			struct corr_producer p = { 0 };

			if (j.s->probed)
				corr__producer(c->o.corr, (uint32_t)j.s->pid, j.seq, j.slot.ready_ns,
					       2000, &p);
			llmi_tensor_rec_init(&rec, &d, &c->o.codec, &cs);
			rec.step = j.slot.step;
			rec.tid = j.slot.tid;
			rec.capture_ns = j.slot.capture_ns;
			rec.launch_id = p.launch_id;
			rec.kernel_name_id = p.name_id;
			rec.pid = (uint32_t)j.s->pid;
			rec.rank = j.slot.flags & LLMI_SLOT_RANK && j.slot.rank >= 0 ? j.slot.rank :
				LLMI_NO_RANK;
			rec.token_first = j.tok_first;
			rec.token_count = j.tok_count;
			if (j.slot.flags & LLMI_SLOT_SLICED)
				slice_rec(&rec, &j.slot);
			unattributed = !p.launch_id;
			if (direct)
				err = llmi_writer__tensor_commit(c->w, &res, &rec, blob);
			else
				err = llmi_writer__tensor(c->w, &rec, j.slot.name, out, blob);
			if (err)
				err = -EIO;	/* the writer said why, once */
		}

		pthread_mutex_lock(&c->lock);
		c->busy--;
		if (j.state == LLMI_SLOT_FAILED)
			c->st.failed++;
		else if (!ok || err == -ENOMEM || (err && err != -EIO))
			c->st.bad++;
		else if (err) {
			c->st.write_errors++;
			if (!c->write_failed)
				stop_on_write_error(c);
		} else {
			struct capture_stats *st = &c->st;
			struct capture_group *g = group_of(c, j.slot.name);

			if (g) {
				g->tensors++;
				g->raw_bytes += cs.raw_bytes;
				g->stored_bytes += blob;
				if (cs.mse > g->max_mse)
					g->max_mse = cs.mse;
				if (cs.nmse > g->max_nmse)
					g->max_nmse = cs.nmse;
			}
			st->tensors++;
			st->unattributed += unattributed;
			st->raw_bytes += cs.raw_bytes;
			st->stored_bytes += blob;
			if (cs.mse > st->max_mse)
				st->max_mse = cs.mse;
			if (cs.nmse > st->max_nmse)
				st->max_nmse = cs.nmse;
			if (cs.max_abs_err > st->max_abs_err)
				st->max_abs_err = cs.max_abs_err;
			if (!st->first_ns || j.slot.capture_ns < st->first_ns)
				st->first_ns = j.slot.capture_ns;
			if (j.slot.capture_ns > st->last_ns)
				st->last_ns = j.slot.capture_ns;
		}
		finish(c, j.s, j.seq);
		pthread_cond_broadcast(&c->idle);
	}
	pthread_mutex_unlock(&c->lock);
	free(out);
	llmi_codec__free(codec);
	return NULL;
}

/* ---- the collector ---- */

/*
 * A ring's pages are faulted in once its process hands over a tensor, not
 * at attach: a process that never captures (a launcher, a shell between
 * the tracer and the program) costs no memory, and the attach no time.
 * Faulting them in ahead of the coders (both sides do: the agent its own
 * mapping) spares the coders a fault per 4 KiB page on the ring's first
 * lap, a tenth of the capture rate on a VM where faults are dear.
 */
static void *populate_main(void *arg)
{
	struct session *s = arg;

	(void)madvise(s->mem, s->mem_len, MADV_POPULATE_WRITE);	/* Linux >= 5.14; else faults */
	return NULL;
}

/* Queues what s has published, in order; under c->lock. */
static void collect(struct capture *c, struct session *s)
{
	uint64_t prod = atomic_load_explicit(&s->r.hdr->prod_seq, memory_order_acquire);

	if (prod && !s->populating)
		s->populating = !pthread_create(&s->pop, NULL, populate_main, s);
	/* a reservation count past the ring is the agent's lie: stop there */
	if (prod > s->rel_seq + s->r.nslots)
		prod = s->rel_seq + s->r.nslots;
	while (s->next_seq < prod) {
		struct job j = { .s = s, .seq = s->next_seq };
		void *data = NULL;
		struct llmi_ring_slot *sl = llmi_ring_peek(&s->r, s->next_seq, &data, &j.state);

		if (!sl)
			break;
		j.slot = *sl;
		j.slot.name[LLMI_RING_NAME_MAX] = '\0';
		j.data = data;
		/* in ring order: a step's tokens come before its tensors */
		if (j.state == LLMI_SLOT_READY && (j.slot.flags & LLMI_SLOT_TOKENS)) {
			j.tok_first = s->tokens_next;
			j.tok_count = j.slot.bytes / 8;
			s->tokens_next += j.tok_count;
			s->tok_step = j.slot.step;
			s->tok_first = j.tok_first;
			s->tok_count = j.tok_count;
		} else if (s->tok_count && j.slot.step == s->tok_step) {
			j.tok_first = s->tok_first;
			j.tok_count = s->tok_count;
		}
		if (push_job(c, &j))
			break;	/* out of memory: taken again on the next wake-up */
		s->next_seq++;
	}
}

static void answer(struct capture *c, unsigned idx, bool timed_out);

static void *collector_main(void *arg)
{
	struct capture *c = arg;
	struct epoll_event ev[16];

	for (;;) {
		int n = epoll_wait(c->ep, ev, 16, 200);
		bool quit;

		pthread_mutex_lock(&c->lock);
		for (int i = 0; i < n; i++) {
			uint64_t tag = ev[i].data.u64, cnt;
			struct session *s;
			ssize_t k;
			char b;

			if (tag == UINT64_MAX) {
				if (read(c->wake, &cnt, sizeof(cnt)) < 0)
					cnt = 0;
				continue;
			}
			s = c->ses[tag >> 1];
			if (s->pending) {	/* its answer to the hello */
				if (!(tag & 1))
					answer(c, (unsigned)(tag >> 1), false);
			} else if (tag & 1) {	/* the eventfd: something was published */
				if (read(s->efd, &cnt, sizeof(cnt)) < 0)
					cnt = 0;
			} else if ((k = recv(s->sock, &b, 1, MSG_DONTWAIT)) == 0 ||
				   (k < 0 && errno != EAGAIN && errno != EINTR)) {
				s->eof = true;	/* detached, exited or killed */
				epoll_ctl(c->ep, EPOLL_CTL_DEL, s->sock, NULL);
				pthread_cond_broadcast(&c->idle);
			}
		}
		for (unsigned i = 0; i < c->nses; i++) {
			struct session *s = c->ses[i];

			if (s->pending && llmi_now_ns() - s->hello_ns > REPLY_WAIT_MS * 1000000ull)
				answer(c, i, true);
			else if (!s->pending && !s->refused)
				collect(c, s);
		}
		quit = c->quit;
		pthread_mutex_unlock(&c->lock);
		if (quit)
			break;
	}
	return NULL;
}

/* ---- sessions ---- */

static int say(char *err, size_t len, int ret, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int say(char *err, size_t len, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return ret;
}

static void session_free(struct session *s)
{
	if (!s)
		return;
	if (s->populating)
		pthread_join(s->pop, NULL);
	if (s->sock >= 0)
		close(s->sock);
	if (s->efd >= 0)
		close(s->efd);
	if (s->mem)
		munmap(s->mem, s->mem_len);
	free(s->done);
	free(s);
}

static int send_hello(struct capture *c, struct session *s, int memfd)
{
	struct llmi_agent_hello h = {
		.magic = LLMI_AGENT_MAGIC, .proto = LLMI_AGENT_PROTO, .size = sizeof(h),
		.on_full = (uint32_t)c->o.on_full, .ring_bytes = s->mem_len,
		.device_buffer = c->o.device_buffer, .tracer_pid = (uint32_t)getpid(),
	};
	int fds[2] = { memfd, s->efd };
	char ctl[CMSG_SPACE(sizeof(fds))];
	struct iovec iov = { &h, sizeof(h) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
			    .msg_controllen = sizeof(ctl) };
	struct cmsghdr *cm;
	ssize_t n;

	snprintf(h.spec, sizeof(h.spec), "%s", c->o.spec);
	memset(ctl, 0, sizeof(ctl));
	cm = CMSG_FIRSTHDR(&m);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(fds));
	memcpy(CMSG_DATA(cm), fds, sizeof(fds));
	do
		n = sendmsg(s->sock, &m, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof(h) ? 0 : n < 0 ? -errno : -EIO;
}

/* The answer, if it is there (the socket was readable): 0, -EAGAIN, or why not. */
static int recv_reply(struct session *s, struct llmi_agent_reply *r)
{
	ssize_t n;

	memset(r, 0, sizeof(*r));
	n = recv(s->sock, r, sizeof(*r), MSG_DONTWAIT);
	if (n < 0)
		return errno == EINTR ? -EAGAIN : -errno;
	if (n == 0)
		return -ECONNRESET;
	if (n < (ssize_t)offsetof(struct llmi_agent_reply, msg) || r->magic != LLMI_AGENT_MAGIC)
		return -EBADMSG;
	r->msg[sizeof(r->msg) - 1] = '\0';
	return 0;
}

/*
 * The agent's answer to the hello, read by the collector (c->lock held):
 * accepted, the session starts (its eventfd joins the epoll); refused, or
 * no answer within REPLY_WAIT_MS, one line says why, the agent is not
 * asked again, and timing goes on.
 */
static void answer(struct capture *c, unsigned idx, bool timed_out)
{
	struct session *s = c->ses[idx];
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = ((uint64_t)idx << 1) | 1 };
	struct llmi_agent_reply rep;
	char why[512];
	int ret = timed_out ? -ETIMEDOUT : recv_reply(s, &rep);

	if (ret == -EAGAIN)
		return;
	if (ret)
		say(why, sizeof(why), ret, "pid %d: the agent did not answer: %s", (int)s->pid,
		    strerror(-ret));
	else if (rep.status)
		ret = say(why, sizeof(why), rep.status < 0 && rep.status > -4096 ? rep.status : -EPROTO,
			  "pid %d: the agent refused: %s", (int)s->pid,
			  rep.msg[0] ? rep.msg : strerror(rep.status < 0 ? -rep.status : EPROTO));
	else if (rep.proto != LLMI_AGENT_PROTO)
		ret = say(why, sizeof(why), -EPROTO, "pid %d: the agent speaks protocol %u, this tracer %u",
			  (int)s->pid, rep.proto, LLMI_AGENT_PROTO);
	s->pending = false;
	if (ret || epoll_ctl(c->ep, EPOLL_CTL_ADD, s->efd, &ev)) {
		if (!ret)
			say(why, sizeof(why), -errno, "pid %d: cannot watch its agent: %s", (int)s->pid,
			    strerror(errno));
		s->refused = s->eof = true;
		epoll_ctl(c->ep, EPOLL_CTL_DEL, s->sock, NULL);
		shutdown(s->sock, SHUT_RDWR);
		fprintf(stderr, "llminstr-trace: %s; timing goes on\n", why);
		pthread_cond_broadcast(&c->idle);
		return;
	}
	c->st.sessions++;
	if (c->o.verbose)
		fprintf(stderr, "llminstr-trace: capturing tensors of pid %d\n", (int)s->pid);
}

uint64_t capture_writer_mem(uint64_t buffer_size)
{
	uint64_t m = buffer_size / 16;

	return m < TRACE_WRITER_MEM ? TRACE_WRITER_MEM : m > (32ull << 20) ? 32ull << 20 : m;
}

uint64_t capture_ring_data(uint64_t buffer_size, uint32_t *nslots)
{
	uint64_t total = buffer_size - (capture_writer_mem(buffer_size) - TRACE_WRITER_MEM);
	uint32_t n = (uint32_t)pow2_at_least(total >> 14);
	size_t meta;

	/* a slot per 16 KiB of data: small tensors run out of neither first */
	n = n < 256 ? 256 : n > 16384 ? 16384 : n;
	*nslots = n;
	meta = llmi_ring_bytes(4096, n) - 4096;
	total &= ~4095ull;
	return meta && total > meta + 4096 ? total - meta : 0;
}

int capture__attach(struct capture *c, pid_t pid, char *err, size_t len)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct session *s = calloc(1, sizeof(*s));
	uint32_t nslots;
	uint64_t data = capture_ring_data(c->o.buffer_size, &nslots);
	int memfd = -1, ret, alen;

	if (!s)
		return say(err, len, -ENOMEM, "out of memory");
	s->sock = s->efd = -1;
	s->pid = pid;
	alen = snprintf(a.sun_path + 1, sizeof(a.sun_path) - 1, LLMI_AGENT_SOCK_FMT, (int)pid);
	s->sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s->sock < 0) {
		ret = say(err, len, -errno, "socket: %s", strerror(errno));
		goto fail;
	}
	if (connect(s->sock, (struct sockaddr *)&a, offsetof(struct sockaddr_un, sun_path) + 1 + alen)) {
		ret = errno == ECONNREFUSED || errno == ENOENT ? -ENOENT : -errno;
		say(err, len, ret, "pid %d: no llminstr agent listening (%s)", (int)pid, strerror(errno));
		goto fail;
	}
	s->mem_len = llmi_ring_bytes(data, nslots);
	s->done = calloc(nslots, 1);
	memfd = memfd_create("llminstr-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	s->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!s->mem_len || !s->done || memfd < 0 || s->efd < 0 || ftruncate(memfd, (off_t)s->mem_len)) {
		ret = say(err, len, -errno ? -errno : -ENOMEM, "pid %d: cannot make a %llu-byte capture ring: %s",
			  (int)pid, (unsigned long long)s->mem_len, strerror(errno ? errno : ENOMEM));
		goto fail;
	}
	/* the agent may not shrink it under us (a SIGBUS here) */
	fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
	s->mem = mmap(NULL, s->mem_len, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (s->mem == MAP_FAILED) {
		s->mem = NULL;
		ret = say(err, len, -errno, "pid %d: cannot map the capture ring: %s", (int)pid,
			  strerror(errno));
		goto fail;
	}
	ret = llmi_ring_init(&s->r, s->mem, s->mem_len, data, nslots);
	if (ret) {
		say(err, len, ret, "pid %d: cannot lay out the capture ring: %s", (int)pid,
		    strerror(-ret));
		goto fail;
	}
	s->probed = c->o.connected && c->o.corr && c->o.connected(c->o.ctx, pid);
	ret = send_hello(c, s, memfd);
	if (ret) {
		say(err, len, ret, "pid %d: cannot send the agent its ring: %s", (int)pid, strerror(-ret));
		goto fail;
	}
	close(memfd);
	memfd = -1;
	/* the answer is the collector's to read: a slow agent holds up no caller */
	s->pending = true;
	s->hello_ns = llmi_now_ns();

	pthread_mutex_lock(&c->lock);
	if (c->nses == MAX_SESSIONS) {
		pthread_mutex_unlock(&c->lock);
		ret = say(err, len, -EMFILE, "pid %d: more than %d capturing processes", (int)pid,
			  MAX_SESSIONS);
		goto fail;
	}
	{
		unsigned idx = c->nses;
		struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.u64 = (uint64_t)idx << 1 };

		c->ses[c->nses++] = s;
		epoll_ctl(c->ep, EPOLL_CTL_ADD, s->sock, &ev);
	}
	pthread_mutex_unlock(&c->lock);
	return 0;
fail:
	if (memfd >= 0)
		close(memfd);
	session_free(s);
	return ret;
}

bool capture__has(const struct capture *c, pid_t pid)
{
	bool has = false;

	pthread_mutex_lock((pthread_mutex_t *)&c->lock);
	for (unsigned i = 0; i < c->nses; i++)
		has |= c->ses[i]->pid == pid && (!c->ses[i]->eof || c->ses[i]->refused);
	pthread_mutex_unlock((pthread_mutex_t *)&c->lock);
	return has;
}

/* ---- life ---- */

struct capture *capture__new(const struct capture_opts *o, struct llmi_writer *w)
{
	struct capture *c = calloc(1, sizeof(*c));
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = UINT64_MAX };

	if (!c)
		return NULL;
	c->o = *o;
	c->w = w;
	c->ep = epoll_create1(EPOLL_CLOEXEC);
	c->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->more, NULL);
	pthread_cond_init(&c->idle, NULL);
	if (c->ep < 0 || c->wake < 0 || epoll_ctl(c->ep, EPOLL_CTL_ADD, c->wake, &ev))
		goto fail;
	if (pthread_create(&c->collector, NULL, collector_main, c))
		goto fail;
	c->started = true;
	c->ncoders = o->threads < 1 ? 1 : o->threads > MAX_CODERS ? MAX_CODERS : o->threads;
	for (unsigned i = 0; i < c->ncoders; i++)
		if (pthread_create(&c->coders[i], NULL, coder_main, c)) {
			c->ncoders = i;
			capture__free(c);
			errno = EAGAIN;
			return NULL;
		}
	return c;
fail:
	capture__free(c);
	errno = ENOMEM;
	return NULL;
}

static void wake(struct capture *c)
{
	uint64_t one = 1;

	if (write(c->wake, &one, sizeof(one)) < 0)
		return;	/* the counter is full: it is awake anyway */
}

static bool all_detached(const struct capture *c)
{
	for (unsigned i = 0; i < c->nses; i++)
		if (!c->ses[i]->eof)
			return false;
	return true;
}

static bool all_done(const struct capture *c)
{
	if (c->qlen || c->busy)
		return false;
	for (unsigned i = 0; i < c->nses; i++) {
		struct session *s = c->ses[i];

		if (llmi_ring_peek(&s->r, s->next_seq, &(void *){ NULL },
				   &(enum llmi_slot_state){ 0 }))
			return false;	/* published, not collected yet */
	}
	return true;
}

static void wait_until(struct capture *c, bool (*cond)(const struct capture *), double timeout_s)
{
	struct timespec dl;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += (time_t)timeout_s;
	while (!cond(c)) {
		wake(c);
		if (pthread_cond_timedwait(&c->idle, &c->lock, &dl) == ETIMEDOUT)
			break;
	}
}

void capture__stop_agents(struct capture *c, double timeout_s)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	for (unsigned i = 0; i < c->nses; i++) {
		struct session *s = c->ses[i];

		if (!s->eof && !s->stopping) {
			s->stopping = true;
			shutdown(s->sock, SHUT_WR);	/* the agent detaches: finishes, then closes */
		}
	}
	wait_until(c, all_detached, timeout_s);
	pthread_mutex_unlock(&c->lock);
}

void capture__stop(struct capture *c, double timeout_s)
{
	if (!c || c->draining)
		return;
	capture__stop_agents(c, timeout_s);
	pthread_mutex_lock(&c->lock);
	c->draining = true;
	wait_until(c, all_done, timeout_s + 60);
	for (unsigned i = 0; i < c->nses; i++) {
		struct session *s = c->ses[i];
		uint64_t prod = atomic_load(&s->r.hdr->prod_seq);

		if (prod > s->next_seq)
			c->st.lost += prod - s->next_seq;
	}
	c->quit = true;
	pthread_cond_broadcast(&c->more);
	pthread_mutex_unlock(&c->lock);
	wake(c);
	if (c->started)
		pthread_join(c->collector, NULL);
	for (unsigned i = 0; i < c->ncoders; i++)
		pthread_join(c->coders[i], NULL);
	c->started = false;
	c->ncoders = 0;
}

/*
 * Safe at any time from any thread, the live status's included: the lock
 * is held by the coders and the collector only between two jobs, never
 * while they code or write, and this reads counters only.
 */
void capture__stats(struct capture *c, struct capture_stats *out)
{
	struct llmi_writer_stats ws = { 0 };

	if (c->w)
		llmi_writer__stats(c->w, &ws);
	pthread_mutex_lock(&c->lock);
	*out = c->st;
	for (unsigned i = 0; i < c->nses; i++) {
		struct session *s = c->ses[i];
		struct llmi_ring_hdr *h = s->r.hdr;

		if (!s->eof && !s->pending) {
			/* bytes reserved and not yet released; the agent's count is not trusted */
			uint64_t used = atomic_load(&h->prod_pos) - atomic_load(&h->cons_pos);
			double fill = used > s->r.data_size ? 1.0 : (double)used / s->r.data_size;

			out->live++;
			if (fill > out->ring_fill)
				out->ring_fill = fill;
		}

		out->dropped_full += atomic_load(&h->dropped[LLMI_DROP_FULL]);
		out->too_large += atomic_load(&h->dropped[LLMI_DROP_TOO_LARGE]);
		out->agent_errors += atomic_load(&h->dropped[LLMI_DROP_ERROR]);
		out->blocked_ns += atomic_load(&h->blocked_ns);
	}
	out->dropped = out->dropped_full + out->too_large + out->agent_errors;
	out->disk_wait_ns = ws.space_wait_ns;
	pthread_mutex_unlock(&c->lock);
}

static int drop_cmp(const void *x, const void *y)
{
	const struct capture_drop *a = x, *b = y;
	uint64_t na = a->full + a->too_large + a->error, nb = b->full + b->too_large + b->error;

	return na < nb ? 1 : na > nb ? -1 : strcmp(a->name, b->name);
}

struct capture_drop *capture__drops(struct capture *c, size_t *n)
{
	struct capture_drop *v = NULL;
	size_t cnt = 0, cap = 0;

	pthread_mutex_lock(&c->lock);
	for (unsigned i = 0; i < c->nses; i++) {
		struct llmi_ring_hdr *h = c->ses[i]->r.hdr;

		for (unsigned k = 0; k <= LLMI_RING_DROP_NAMES; k++) {
			struct llmi_ring_drops *d = &h->drops[k];
			char name[LLMI_RING_NAME_MAX + 1];
			uint64_t f = atomic_load(&d->count[LLMI_DROP_FULL]);
			uint64_t t = atomic_load(&d->count[LLMI_DROP_TOO_LARGE]);
			uint64_t e = atomic_load(&d->count[LLMI_DROP_ERROR]);
			size_t j;

			if (!f && !t && !e)
				continue;
			memcpy(name, d->name, sizeof(name));
			name[LLMI_RING_NAME_MAX] = '\0';
			if (k == LLMI_RING_DROP_NAMES || !name[0])
				snprintf(name, sizeof(name), "(other)");
			for (j = 0; j < cnt && strcmp(v[j].name, name); j++)
				;
			if (j == cnt) {
				if (cnt == cap) {
					size_t nc = cap ? 2 * cap : 16;
					struct capture_drop *nv = realloc(v, nc * sizeof(*nv));

					if (!nv)
						break;
					v = nv;
					cap = nc;
				}
				memset(&v[cnt], 0, sizeof(v[cnt]));
				snprintf(v[cnt].name, sizeof(v[cnt].name), "%s", name);
				cnt++;
			}
			v[j].full += f;
			v[j].too_large += t;
			v[j].error += e;
		}
	}
	pthread_mutex_unlock(&c->lock);
	if (cnt)
		qsort(v, cnt, sizeof(*v), drop_cmp);
	*n = cnt;
	return v;
}

struct capture_group *capture__groups(struct capture *c, size_t *n)
{
	size_t nd = 0;
	struct capture_drop *d = capture__drops(c, &nd);
	struct capture_group *v = NULL;

	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < nd; i++) {
		struct capture_group *g = group_of(c, d[i].name);

		if (g)
			g->dropped = 0;	/* recounted below from the agents' totals */
	}
	for (size_t i = 0; i < nd; i++) {
		struct capture_group *g = group_of(c, d[i].name);

		if (g)
			g->dropped += d[i].full + d[i].too_large + d[i].error;
	}
	*n = c->ngroups;
	if (c->ngroups && (v = malloc(c->ngroups * sizeof(*v))))
		memcpy(v, c->groups, c->ngroups * sizeof(*v));
	else
		*n = 0;
	pthread_mutex_unlock(&c->lock);
	free(d);
	return v;
}

void capture__free(struct capture *c)
{
	if (!c)
		return;
	capture__stop(c, 0);
	for (unsigned i = 0; i < c->nses; i++)
		session_free(c->ses[i]);
	free(c->q);
	free(c->groups);
	if (c->ep >= 0)
		close(c->ep);
	if (c->wake >= 0)
		close(c->wake);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->more);
	pthread_cond_destroy(&c->idle);
	free(c);
}
