// SPDX-License-Identifier: MIT
/*
 * Timeline sinks of llminstr-trace (see record.h). The conversion from
 * ring-buffer records to timeline events lives here once, so --perfetto and
 * the container hold the same events and llminstr-dump perfetto redraws the
 * tracer's timeline with the same writer (common/perfetto.c).
 *
 * Hot path: trace_tl__event() runs for every record the consumer reads (up
 * to ~700k/s). It copies into a preallocated 64 KiB batch; kernel names
 * become ids through a table keyed by the agg's name pointer (one hash
 * probe), and only a name never seen allocates.
 *
 * --perfetto is a plain stdio stream (a cookie stream would report each
 * write, but costs 15 ns a character instead of 2 on this path).
 * trace_tl__tick() flushes it once a second: the file then ends on an
 * event boundary, whose offset is the point to cut back to if a later
 * write fails, and a failed write inside stdio shows as the stream's error
 * flag there, its reason as the errno of the flush retried.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/fmt.h"
#include "io/outfile.h"
#include "trace/rank.h"
#include "common/perfetto.h"
#include "format/timeline.h"
#include "io/writer.h"
#include "trace/api.h"
#include "trace/record.h"

#define PROG "llminstr-trace"
#define BATCH_EVENTS	(65536 / sizeof(struct llmi_tl_event2))
#define BATCH_NS	100000000ull
#define PF_FLUSH_NS	1000000000ull

struct pslot {
	const char *p;		/* the agg's string, NULL: free */
	uint32_t id;
};

struct trace_tl {
	/* --perfetto */
	FILE *pf_file;
	char *pf_buf;
	struct llmi_perfetto pf;
	const char *pf_path;
	int pf_fd;
	int pf_err;		/* the first write error, -errno */
	bool pf_on;		/* drawing; off after a write error */
	uint64_t pf_next_flush;
	uint64_t pf_events, pf_good_events;	/* drawn; in the file up to pf_good */
	uint64_t pf_good;	/* file bytes ending on an event boundary, all written */

	/* -o */
	struct llmi_writer *w;
	const char *path;
	bool events;
	struct llmi_tl_event2 *batch;
	size_t n;
	uint64_t launch_seq;	/* launches and replays numbered so far (launch_id) */
	uint64_t last_id;	/* the last one the current event made, 0: none */
	uint32_t last_name;
	uint64_t batch_start;	/* CLOCK_MONOTONIC when the batch got its first event */
	uint64_t lost, lost_written;	/* the ring's loss count; what batches carry so far */
	uint64_t handed;	/* events appended to the writer */
	uint64_t dropped;	/* events not appended: a write error was known */

	/* kernel names: id i+1 is names[i]; ptab maps the agg's pointers to ids */
	char **names;
	size_t nnames, names_cap, names_written;
	uint32_t *stab;		/* open addressing by string hash: ids, 0 free */
	size_t scap;
	struct pslot *ptab;
	size_t pcap, pn;
	uint64_t gen;

	struct trace_tl_stats st;
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;	/* FNV-1a */

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h;
}

static uint64_t hash_ptr(const void *p)
{
	return ((uint64_t)(uintptr_t)p >> 3) * 0x9e3779b97f4a7c15ull;
}

static int stab_grow(struct trace_tl *t)
{
	size_t cap = t->scap ? t->scap * 2 : 1024;
	uint32_t *v = calloc(cap, sizeof(*v));

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < t->nnames; i++) {
		size_t k = hash_str(t->names[i]) & (cap - 1);

		while (v[k])
			k = (k + 1) & (cap - 1);
		v[k] = (uint32_t)(i + 1);
	}
	free(t->stab);
	t->stab = v;
	t->scap = cap;
	return 0;
}

/* The id of a name string, added when new; 0 when out of memory. */
static uint32_t string_id(struct trace_tl *t, const char *s)
{
	size_t k;

	if ((t->nnames + 1) * 2 > t->scap && stab_grow(t))
		return 0;
	for (k = hash_str(s) & (t->scap - 1); t->stab[k]; k = (k + 1) & (t->scap - 1))
		if (!strcmp(t->names[t->stab[k] - 1], s))
			return t->stab[k];
	if (t->nnames == t->names_cap) {
		size_t c = t->names_cap ? t->names_cap * 2 : 256;
		char **v = realloc(t->names, c * sizeof(*v));

		if (!v)
			return 0;
		t->names = v;
		t->names_cap = c;
	}
	t->names[t->nnames] = strdup(s);
	if (!t->names[t->nnames])
		return 0;
	t->stab[k] = (uint32_t)++t->nnames;
	return t->stab[k];
}

static int ptab_grow(struct trace_tl *t)
{
	size_t cap = t->pcap ? t->pcap * 2 : 1024;
	struct pslot *v = calloc(cap, sizeof(*v));

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < t->pcap; i++) {
		size_t k;

		if (!t->ptab[i].p)
			continue;
		for (k = hash_ptr(t->ptab[i].p) & (cap - 1); v[k].p; k = (k + 1) & (cap - 1))
			;
		v[k] = t->ptab[i];
	}
	free(t->ptab);
	t->ptab = v;
	t->pcap = cap;
	return 0;
}

/* Per launch: the id of the agg's name string (pointer lookup first). */
static uint32_t name_id(struct trace_tl *t, struct agg *a, const char *s)
{
	uint64_t gen = agg__name_gen(a);
	size_t k;
	uint32_t id;

	if (!s)
		return 0;
	if (gen != t->gen) {	/* a name was replaced: its pointer may be reused */
		if (t->ptab)
			memset(t->ptab, 0, t->pcap * sizeof(*t->ptab));
		t->pn = 0;
		t->gen = gen;
	}
	if (t->pcap) {
		for (k = hash_ptr(s) & (t->pcap - 1); t->ptab[k].p; k = (k + 1) & (t->pcap - 1))
			if (t->ptab[k].p == s)
				return t->ptab[k].id;
	}
	id = string_id(t, s);
	if (!id || ((t->pn + 1) * 2 > t->pcap && ptab_grow(t)))
		return id;
	for (k = hash_ptr(s) & (t->pcap - 1); t->ptab[k].p; k = (k + 1) & (t->pcap - 1))
		;
	t->ptab[k].p = s;
	t->ptab[k].id = id;
	t->pn++;
	return id;
}

static void note_error(struct trace_tl *t, int err)
{
	if (t->st.error)
		return;
	t->st.error = err;
	fprintf(stderr, PROG ": -o %s: %s; tracing goes on, the file keeps the records that fit\n",
		t->path, strerror(-err));
}

/* Kernel names not yet in the file, as one string table. */
static int write_names(struct trace_tl *t)
{
	size_t n = t->nnames - t->names_written;
	uint64_t *ids;
	int err;

	if (!n || t->st.error)
		return t->st.error;
	ids = malloc(n * sizeof(*ids));
	if (!ids)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		ids[i] = t->names_written + i + 1;
	err = llmi_writer__strings(t->w, LLMI_STR_KERNEL, n, ids,
				   (const char *const *)&t->names[t->names_written]);
	free(ids);
	if (err) {
		note_error(t, err);
		return err;
	}
	t->names_written = t->nnames;
	return 0;
}

/* One events record; with no events only to carry losses (end of trace). */
static void flush_batch(struct trace_tl *t)
{
	struct llmi_events_rec h = {
		.event_size = sizeof(struct llmi_tl_event2),
		.abi_version = LLMI_TL_VERSION,
		.count = t->n,
		.lost = t->lost - t->lost_written,	/* since the previous batch */
	};
	int err;

	if (!t->n && !h.lost)
		return;
	if (t->n) {
		h.first_ns = t->batch[0].ev.ts_ns;
		h.last_ns = t->batch[t->n - 1].ev.ts_ns;
		h.pid = t->batch[0].ev.pid;
	}
	for (size_t i = 1; i < t->n && h.pid; i++)
		if (t->batch[i].ev.pid != h.pid)
			h.pid = 0;
	if (t->st.error) {
		t->dropped += t->n;
		t->n = 0;
		return;
	}
	err = write_names(t);
	if (!err)
		err = llmi_writer__events(t->w, &h, t->batch);
	if (err) {
		note_error(t, err);
		t->dropped += t->n;
	} else {
		t->handed += t->n;
		t->lost_written = t->lost;
	}
	t->n = 0;
}

/* Hot: one processed event to both sinks; launch_id 0 for all but launches. */
static inline void emit(struct trace_tl *t, const struct llmi_tl_event *e, const char *kernel,
			uint64_t launch_id)
{
	if (t->pf_on) {
		llmi_perfetto_event(&t->pf, e, kernel, trace_api_name(e->api));
		t->pf_events++;
	}
	if (!t->events)
		return;
	if (!t->n)
		t->batch_start = llmi_now_ns();
	t->batch[t->n].ev = *e;
	t->batch[t->n++].launch_id = launch_id;
	if (t->n == BATCH_EVENTS)
		flush_batch(t);
}

void trace_tl__event(struct trace_tl *t, struct agg *a, const void *data, size_t size)
{
	const struct llmi_event *r = data;
	bool rec = t->events;
	struct llmi_tl_event e;
	const char *kn;

	t->last_id = 0;
	if (size < sizeof(*r) || r->version != LLMI_EVENT_VERSION || r->api >= LLMI_API_MAX)
		return;
	e = (struct llmi_tl_event){
		.ts_ns = r->ts_ns, .pid = r->pid, .tid = r->tid, .stream = r->stream,
		.obj = r->obj, .api = r->api,
	};
	switch (r->type) {
	case LLMI_EV_LAUNCH:
		kn = agg__full_name(a, r->pid, r->obj);
		e.kind = LLMI_TL_LAUNCH;
		e.flags = agg__last_captured(a) ? LLMI_TL_CAPTURED : 0;
		e.arg0 = r->arg0 & 0xffffffff;
		e.arg1 = r->arg1 & 0xffffffff;
		e.name_id = rec ? name_id(t, a, kn) : 0;
		if (!e.flags) {	/* an execution; a graph node under capture is none */
			t->last_id = ++t->launch_seq;
			t->last_name = e.name_id;
		}
		emit(t, &e, kn, t->last_id);
		break;
	case LLMI_EV_MEMCPY:
		e.kind = LLMI_TL_COPY;
		e.flags = agg__last_captured(a) ? LLMI_TL_CAPTURED : 0;
		e.dur_ns = r->dur_ns;
		e.arg0 = r->arg0;
		e.arg1 = r->arg1 < LLMI_COPY_KINDS ? r->arg1 : LLMI_COPY_DEFAULT;
		emit(t, &e, NULL, 0);
		break;
	case LLMI_EV_SYNC:
		e.kind = LLMI_TL_WAIT;
		e.dur_ns = r->dur_ns;
		emit(t, &e, NULL, 0);
		break;
	case LLMI_EV_GRAPH_LAUNCH: {
		size_t pos = 0;
		uint64_t f;

		e.kind = LLMI_TL_GRAPH;
		e.arg0 = agg__exec_kernels(a, r->pid, r->obj, NULL, 0);
		emit(t, &e, NULL, 0);
		/* the replayed launches, marked as such, at the graph launch: all of them */
		e.kind = LLMI_TL_REPLAY;
		e.arg0 = r->obj;
		while (agg__exec_next_kernel(a, r->pid, r->obj, &pos, &f)) {
			kn = agg__full_name(a, r->pid, f);
			e.obj = f;
			e.name_id = rec ? name_id(t, a, kn) : 0;
			t->last_id = ++t->launch_seq;
			t->last_name = e.name_id;
			emit(t, &e, kn, t->last_id);
		}
		break;
	}
	case LLMI_EV_REGISTER:
	case LLMI_EV_NAMED:
	case LLMI_EV_GET_KERNEL:
	case LLMI_EV_KERNEL_FUNC:
		break;
	default:
		e.kind = LLMI_TL_API;
		e.dur_ns = r->dur_ns;
		emit(t, &e, NULL, 0);
		break;
	}
}

void trace_tl__set_lost(struct trace_tl *t, uint64_t lost)
{
	t->lost = lost;
}

/* The first failed --perfetto write: said once; drawing stops. */
static void pf_failed(struct trace_tl *t, int err)
{
	if (!t->pf_on)
		return;
	t->pf_on = false;
	t->pf_err = err;
	fprintf(stderr, PROG ": --perfetto %s: %s; the timeline stops here, tracing goes on\n",
		t->pf_path, strerror(-err));
}

/*
 * Flushes when flush; then the file ends on an event boundary (pf_good).
 * A write stdio made on its own may have failed before: the error flag
 * says so, and whatever the retry gives, characters may have been lost
 * since pf_good, so the stream counts as failed.
 */
static void pf_check(struct trace_tl *t, bool flush)
{
	int err = 0;

	if (ferror(t->pf_file)) {
		clearerr(t->pf_file);
		err = fflush(t->pf_file) ? -errno : -EIO;
	} else if (flush) {
		off_t at;

		if (fflush(t->pf_file))
			err = -errno;
		else if ((at = lseek(t->pf_fd, 0, SEEK_CUR)) >= 0) {
			t->pf_good = at;
			t->pf_good_events = t->pf_events;
		}
	}
	if (err)
		pf_failed(t, err);
}

/* Once a second, from the tick. */
static void pf_tick(struct trace_tl *t, uint64_t now)
{
	bool flush = now >= t->pf_next_flush;

	if (flush)
		t->pf_next_flush = now + PF_FLUSH_NS;
	pf_check(t, flush);
}

/*
 * Ends --perfetto. After a write error: the stream's buffer is dropped, the
 * file cut back to its last known event boundary and the document closed
 * there, or removed when even that does not fit. 0 or -EIO.
 */
static int pf_end(struct trace_tl *t)
{
	struct llmi_perfetto at_event = t->pf;	/* the writer's state between events */
	char *tail = NULL;
	size_t tail_len = 0;
	FILE *m;
	int ret = 0;

	if (t->pf_on) {
		pf_check(t, false);
		if (t->pf_on && llmi_perfetto_end(&t->pf) == 0)
			goto out;	/* written whole (llmi_json_finish flushed) */
		pf_check(t, false);
		pf_failed(t, -EIO);	/* when the retry said nothing */
	}
	ret = -EIO;
	__fpurge(t->pf_file);
	/* the closing brackets, as llmi_perfetto_end() writes them after an event */
	m = open_memstream(&tail, &tail_len);
	if (m) {
		at_event.j.f = m;
		llmi_perfetto_end(&at_event);
		if (fclose(m))
			tail_len = 0;
	}
	if (tail_len && ftruncate(t->pf_fd, t->pf_good) == 0 &&
	    pwrite(t->pf_fd, tail, tail_len, t->pf_good) == (ssize_t)tail_len &&
	    fsync(t->pf_fd) == 0) {
		fprintf(stderr, PROG ": --perfetto %s: cut back to the %llu events written before "
			"the failure, closed as valid JSON\n", t->pf_path,
			(unsigned long long)t->pf_good_events);
	} else {
		unlink(t->pf_path);
		fprintf(stderr, PROG ": --perfetto %s: removed: %s, and the JSON could not be "
			"closed\n", t->pf_path, strerror(-t->pf_err));
	}
	free(tail);
out:
	fclose(t->pf_file);
	t->pf_file = NULL;
	t->pf_on = false;
	return ret;
}

void trace_tl__tick(struct trace_tl *t)
{
	uint64_t now = llmi_now_ns();

	if (t->n && now - t->batch_start >= BATCH_NS)
		flush_batch(t);
	if (t->w && !t->st.error) {
		int err = llmi_writer__tick(t->w, now);

		if (err)
			note_error(t, err);
	}
	if (t->pf_on)
		pf_tick(t, now);
}

void trace_tl__drain(struct trace_tl *t, uint64_t lost, struct trace_tl_stats *st)
{
	t->lost = lost;
	if (t->w && t->events) {
		flush_batch(t);
		write_names(t);
	}
	if (t->w) {
		struct llmi_writer_stats ws;
		/* writes complete asynchronously: wait for them, so the file's
		 * content (and a full disk) is known now */
		int err = llmi_writer__flush(t->w);

		if (err)
			note_error(t, err);
		llmi_writer__stats(t->w, &ws);
		t->st.events = ws.disk.events;
		t->st.batches = ws.disk.event_batches;
		t->st.names = ws.disk.strings[LLMI_STR_KERNEL];
		t->st.not_written = t->handed + t->dropped - ws.disk.events;
	}
	if (st)
		*st = t->st;
}

static int write_api_names(struct trace_tl *t)
{
	uint64_t ids[LLMI_API_MAX];
	const char *names[LLMI_API_MAX];

	for (unsigned i = 0; i < LLMI_API_MAX; i++) {
		ids[i] = i;
		names[i] = trace_api_name(i);
	}
	return llmi_writer__strings(t->w, LLMI_STR_API, LLMI_API_MAX, ids, names);
}

struct trace_tl *trace_tl__new(const struct trace_tl_opts *o)
{
	struct trace_tl *t = calloc(1, sizeof(*t));
	unsigned of = o->force ? LLMI_OUT_FORCE : 0;
	int err;

	if (!t)
		goto nomem;
	if (o->output) {
		struct llmi_writer_opts wo = {
			.sz = sizeof(wo), .writer = o->writer,
			.flags = (o->force ? LLMI_WRITER_OVERWRITE : 0) | LLMI_WRITER_QUIET | 
				 LLMI_WRITER_THREAD,	/* the ring's drain never waits for the disk */
			/* held for the disk at most: TRACE_WRITER_MEM (10 ms of a fast
			 * disk), or more with capture, taken from --buffer-size */
			.mem_limit = o->writer_mem ? o->writer_mem : TRACE_WRITER_MEM,
			.owner_uid = (uid_t)-1, .owner_gid = (gid_t)-1,
		};

		if (o->rank) {
			wo.has_rank = true;
			wo.rank = o->rank->rank;
			wo.world_size = o->rank->world_size;
			wo.local_rank = o->rank->local_rank;
		}
		t->path = o->output;
		t->events = o->events;
		llmi_sudo_owner(&wo.owner_uid, &wo.owner_gid);
		if (t->events && !(t->batch = malloc(BATCH_EVENTS * sizeof(*t->batch))))
			goto nomem;
		t->w = llmi_writer__new(o->output, &wo);
		if (!t->w) {
			char why[PATH_MAX + 128];

			err = errno;
			fprintf(stderr, PROG ": -o %s\n",
				llmi_out_strerror(why, sizeof(why), o->output, err, of));
			goto fail;
		}
		err = write_api_names(t);
		if (err) {
			fprintf(stderr, PROG ": -o %s: %s\n", o->output, strerror(-err));
			err = -err;
			goto fail;
		}
	}
	if (o->perfetto) {
		int fd = llmi_out_create(o->perfetto, 0, of);

		t->pf_path = o->perfetto;
		if (fd < 0) {
			char why[PATH_MAX + 128];

			err = -fd;
			fprintf(stderr, PROG ": --perfetto %s\n",
				llmi_out_strerror(why, sizeof(why), o->perfetto, err, of));
			goto fail;
		}
		t->pf_fd = fd;
		t->pf_file = fdopen(fd, "w");
		if (!t->pf_file) {
			close(fd);
			unlink(o->perfetto);
			goto nomem;
		}
		t->pf_buf = malloc(1 << 20);
		if (t->pf_buf)
			setvbuf(t->pf_file, t->pf_buf, _IOFBF, 1 << 20);
		llmi_perfetto_begin(&t->pf, t->pf_file);
		/* the document's head on disk: the first point to cut back to */
		if (fflush(t->pf_file) || (t->pf_good = lseek(fd, 0, SEEK_CUR)) == (uint64_t)-1) {
			err = errno;
			fprintf(stderr, PROG ": --perfetto %s: %s\n", o->perfetto, strerror(err));
			fclose(t->pf_file);
			t->pf_file = NULL;
			unlink(o->perfetto);
			goto fail;
		}
		t->pf_next_flush = llmi_now_ns() + PF_FLUSH_NS;
		t->pf_on = true;
	}
	return t;
nomem:
	err = ENOMEM;
	fprintf(stderr, PROG ": out of memory\n");
fail:
	trace_tl__discard(t);	/* -o made, --perfetto refused: no empty -o left */
	errno = err;
	return NULL;
}

int trace_tl__close(struct trace_tl *t, const char *json, size_t json_len)
{
	int ret = 0, err;

	if (!t)
		return 0;
	if (t->pf_file)
		ret = pf_end(t);
	if (t->w) {
		trace_tl__drain(t, t->lost, NULL);
		if (json && !t->st.error) {
			err = llmi_writer__stats_json(t->w, json, json_len);
			if (err)
				note_error(t, err);
		}
		err = llmi_writer__close(t->w);
		if (err && !t->st.error)
			note_error(t, err);
		if (t->st.error)
			ret = -EIO;
	}
	trace_tl__free(t);
	return ret;
}

void trace_tl__discard(struct trace_tl *t)
{
	/* unlinked while still open and locked: the name is still ours */
	if (t && t->w)
		unlink(t->path);
	if (t && t->pf_file)
		unlink(t->pf_path);
	trace_tl__free(t);
}

void trace_tl__free(struct trace_tl *t)
{
	if (!t)
		return;
	if (t->pf_file)		/* an error path: the JSON still ends well-formed */
		pf_end(t);
	free(t->pf_buf);
	llmi_writer__free(t->w);
	free(t->batch);
	for (size_t i = 0; i < t->nnames; i++)
		free(t->names[i]);
	free(t->names);
	free(t->stab);
	free(t->ptab);
	free(t);
}

void trace_tl__tensor_producer(struct trace_tl *t, struct agg *a,
			       const struct llmi_tensor_event *te, uint64_t *launch,
			       uint32_t *kernel)
{
	uint64_t f = te->func;
	const char *kn = NULL;

	*launch = te->launch;
	*kernel = 0;
	if (!te->launch || te->api >= LLMI_API_MAX)
		return;
	if (trace_apis[te->api].layout == LLMI_L_GRAPH_LAUNCH) {
		size_t pos = 0;
		uint64_t k;

		f = 0;
		while (agg__exec_next_kernel(a, te->ev.pid, te->func, &pos, &k))
			f = k;
	}
	if (f)
		kn = agg__full_name(a, te->ev.pid, f);
	if (!t || !t->w || !kn)
		return;
	*kernel = name_id(t, a, kn);
	if (!t->events && t->nnames > t->names_written)
		write_names(t);	/* once per kernel: no batch will carry it */
}

struct llmi_writer *trace_tl__writer(struct trace_tl *t)
{
	return t ? t->w : NULL;
}

bool trace_tl__last_launch(const struct trace_tl *t, uint64_t *launch_id, uint32_t *name_id)
{
	if (!t || !t->last_id)
		return false;
	*launch_id = t->last_id;
	*name_id = t->last_name;
	return true;
}
