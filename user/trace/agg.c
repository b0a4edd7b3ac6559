// SPDX-License-Identifier: MIT
/*
 * See agg.h. Two open-addressing tables keyed by (pid, address): kernel
 * handles with their launch counts, and names (from registrations, driver
 * lookups, handle aliases or the ELF symbolizer). Graph state is small
 * (a few captures and executables per process) and kept in plain arrays;
 * the launch path looks at it only while a capture is open.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/demangle.h"
#include "trace/agg.h"
#include "trace/api.h"

struct kent {
	uint32_t pid;
	uint32_t api;		/* the launching API (runtime or driver) */
	uint64_t func;
	uint64_t launches, replayed, base;	/* base: launches at interval start */
	uint64_t bpf_total;			/* -T: the kernel map's count so far */
	char label[40];				/* "<unnamed 0x..>" */
	bool used, named_tried;
};

struct nent {
	uint32_t pid;
	uint64_t addr;
	uint64_t alias;		/* handle -> stub or CUfunction -> CUkernel */
	char *full, *brief;
	bool used;
	bool failed;		/* the symbolizer knows nothing at addr */
};

struct gnode {
	uint8_t type;		/* LLMI_EV_LAUNCH / MEMCPY / MEMSET */
	uint16_t api;
	uint64_t func;		/* launch: handle; copy: kind */
	uint64_t bytes;
};

struct gnodes {
	int refs;
	size_t n, cap;
	struct gnode *v;
};

struct capture {		/* an open stream capture */
	uint32_t pid;
	uint64_t origin;	/* the stream that began it */
	struct gnodes *nodes;
};

struct capstream {		/* a stream that is part of an open capture */
	uint32_t pid;
	uint64_t stream;
	size_t cap;		/* index in captures */
};

struct capevent {		/* an event recorded on a capturing stream */
	uint32_t pid;
	uint64_t event;
	size_t cap;
};

struct gmap {			/* graph or exec -> nodes */
	uint32_t pid;
	uint64_t handle;
	struct gnodes *nodes;
};

#define VEC(T) struct { T *v; size_t n, cap; }

struct agg {
	agg_resolve_fn resolve;
	void *resolve_ctx;

	struct kent *k;
	size_t kcap, kn;
	struct nent *names;
	size_t ncap, nn;

	VEC(struct capture) caps;
	VEC(struct capstream) capstreams;
	VEC(struct capevent) capevents;
	VEC(struct gmap) graphs;
	VEC(struct gmap) execs;

	struct agg_totals tot;
	bool last_captured;
	uint64_t name_gen;		/* bumped whenever a name string is replaced */

	struct agg_kernel *out;
	size_t out_cap;
};

#define VEC_PUSH(vec, item)                                                     \
	({                                                                      \
		int __r = 0;                                                    \
		if ((vec).n == (vec).cap) {                                     \
			size_t __c = (vec).cap ? (vec).cap * 2 : 8;             \
			void *__p = realloc((vec).v, __c * sizeof(*(vec).v));  \
			if (__p) {                                              \
				(vec).v = __p;                                  \
				(vec).cap = __c;                                \
			} else {                                                \
				__r = -ENOMEM;                                  \
			}                                                       \
		}                                                               \
		if (!__r)                                                       \
			(vec).v[(vec).n++] = (item);                            \
		__r;                                                            \
	})

static uint64_t hash2(uint32_t pid, uint64_t addr)
{
	uint64_t h = addr ^ ((uint64_t)pid << 47) ^ pid;

	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h;
}

struct agg *agg__new(agg_resolve_fn resolve, void *resolve_ctx)
{
	struct agg *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->resolve = resolve;
	a->resolve_ctx = resolve_ctx;
	a->kcap = 1024;
	a->ncap = 1024;
	a->k = calloc(a->kcap, sizeof(*a->k));
	a->names = calloc(a->ncap, sizeof(*a->names));
	if (!a->k || !a->names) {
		agg__free(a);
		errno = ENOMEM;
		return NULL;
	}
	for (int i = 0; i < LLMI_API_MAX; i++)
		llmi_hist_init(&a->tot.api[i].lat);
	return a;
}

static void gnodes_put(struct gnodes *g)
{
	if (g && --g->refs == 0) {
		free(g->v);
		free(g);
	}
}

void agg__free(struct agg *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->ncap; i++) {
		free(a->names[i].full);
		free(a->names[i].brief);
	}
	for (size_t i = 0; i < a->caps.n; i++)
		gnodes_put(a->caps.v[i].nodes);
	for (size_t i = 0; i < a->graphs.n; i++)
		gnodes_put(a->graphs.v[i].nodes);
	for (size_t i = 0; i < a->execs.n; i++)
		gnodes_put(a->execs.v[i].nodes);
	free(a->caps.v);
	free(a->capstreams.v);
	free(a->capevents.v);
	free(a->graphs.v);
	free(a->execs.v);
	free(a->names);
	free(a->k);
	free(a->out);
	free(a);
}

/* ---- names ---- */

static struct nent *name_slot(struct agg *a, uint32_t pid, uint64_t addr, bool create);

static int names_grow(struct agg *a)
{
	struct nent *old = a->names;
	size_t ocap = a->ncap;

	a->names = calloc(ocap * 2, sizeof(*a->names));
	if (!a->names) {
		a->names = old;
		return -ENOMEM;
	}
	a->ncap = ocap * 2;
	a->nn = 0;
	for (size_t i = 0; i < ocap; i++) {
		if (!old[i].used)
			continue;
		*name_slot(a, old[i].pid, old[i].addr, true) = old[i];
	}
	free(old);
	return 0;
}

static struct nent *name_slot(struct agg *a, uint32_t pid, uint64_t addr, bool create)
{
	size_t mask = a->ncap - 1, i;

	if (create && (a->nn + 1) * 2 > a->ncap && names_grow(a))
		return NULL;
	mask = a->ncap - 1;
	for (i = hash2(pid, addr) & mask;; i = (i + 1) & mask) {
		struct nent *n = &a->names[i];

		if (!n->used) {
			if (!create)
				return NULL;
			n->used = true;
			n->pid = pid;
			n->addr = addr;
			a->nn++;
			return n;
		}
		if (n->pid == pid && n->addr == addr)
			return n;
	}
}

static void name_set(struct agg *a, uint32_t pid, uint64_t addr, const char *full,
		     const char *brief)
{
	struct nent *n = name_slot(a, pid, addr, true);

	if (!n)
		return;
	if (n->full)
		a->name_gen++;	/* its address may be reused: timeline caches drop it */
	free(n->full);
	free(n->brief);
	n->full = strdup(full);
	n->brief = strdup(brief);
	if (!n->full || !n->brief) {
		free(n->full);
		free(n->brief);
		n->full = n->brief = NULL;
	}
}

/* Room for a demangled name: C++ template kernels run to a few KiB. */
#define NAME_BUF 8192

static void name_set_mangled(struct agg *a, uint32_t pid, uint64_t addr, const char *sym)
{
	char full[NAME_BUF], brief[NAME_BUF];

	if (!*sym)
		return;
	llmi_demangle(sym, false, full, sizeof(full));
	llmi_demangle(sym, true, brief, sizeof(brief));
	name_set(a, pid, addr, full, brief);
}

/* The name of addr in pid, following aliases, asking the symbolizer last. */
static struct nent *name_of(struct agg *a, uint32_t pid, uint64_t addr, int depth)
{
	char full[NAME_BUF], brief[NAME_BUF];
	struct nent *n = name_slot(a, pid, addr, false);

	if (n && n->full)
		return n;
	if (n && n->alias && depth < 4) {
		struct nent *t = name_of(a, pid, n->alias, depth + 1);

		if (t)
			return t;
	}
	if (n && n->failed)
		return NULL;
	if (!a->resolve || a->resolve(a->resolve_ctx, pid, addr, full, sizeof(full), brief,
				      sizeof(brief))) {
		n = name_slot(a, pid, addr, true);
		if (n)
			n->failed = true;
		return NULL;
	}
	name_set(a, pid, addr, full, brief);
	n = name_slot(a, pid, addr, false);
	return n && n->full ? n : NULL;
}

static void name_alias(struct agg *a, uint32_t pid, uint64_t handle, uint64_t target)
{
	struct nent *n;

	if (!handle || handle == target)
		return;
	n = name_slot(a, pid, handle, true);
	if (n)
		n->alias = target;
}

/* ---- kernel handles ---- */

static struct kent *kent_slot(struct agg *a, uint32_t pid, uint32_t api, uint64_t func);

static int kents_grow(struct agg *a)
{
	struct kent *old = a->k;
	size_t ocap = a->kcap;

	a->k = calloc(ocap * 2, sizeof(*a->k));
	if (!a->k) {
		a->k = old;
		return -ENOMEM;
	}
	a->kcap = ocap * 2;
	a->kn = 0;
	for (size_t i = 0; i < ocap; i++)
		if (old[i].used)
			*kent_slot(a, old[i].pid, old[i].api, old[i].func) = old[i];
	free(old);
	return 0;
}

/* Hot: one hash probe per launch; allocates only to grow the table. */
static struct kent *kent_slot(struct agg *a, uint32_t pid, uint32_t api, uint64_t func)
{
	size_t mask, i;

	if ((a->kn + 1) * 2 > a->kcap && kents_grow(a))
		return NULL;
	mask = a->kcap - 1;
	for (i = hash2(pid ^ (api << 22), func) & mask;; i = (i + 1) & mask) {
		struct kent *k = &a->k[i];

		if (!k->used) {
			k->used = true;
			k->pid = pid;
			k->api = api;
			k->func = func;
			a->kn++;
			return k;
		}
		if (k->func == func && k->pid == pid && k->api == api)
			return k;
	}
}

/* Names are cached in the name table, never in the kernel entry (they may be replaced). */
static const char *kent_name(struct agg *a, struct kent *k)
{
	struct nent *n = name_of(a, k->pid, k->func, 0);

	k->named_tried = true;
	return n ? n->brief : NULL;
}

static void count_launch(struct agg *a, uint32_t pid, uint32_t api, uint64_t func,
			 uint64_t n, bool replay)
{
	struct kent *k = kent_slot(a, pid, api, func);

	a->tot.launches += n;
	if (api < LLMI_API_MAX && trace_apis[api].role == ROLE_DRIVER)
		a->tot.driver_launches += n;
	if (replay)
		a->tot.replayed += n;
	if (!k)
		return;
	k->launches += n;
	if (replay)
		k->replayed += n;
	if (!k->named_tried)	/* first sight: name it while the process lives */
		kent_name(a, k);
}

void agg__add_launches(struct agg *a, uint32_t pid, uint32_t api, uint64_t func, uint64_t n)
{
	count_launch(a, pid, api, func, n, false);
}

void agg__set_bpf_launches(struct agg *a, uint32_t pid, uint32_t api, uint64_t func,
			   uint64_t total)
{
	struct kent *k = kent_slot(a, pid, api, func);

	if (!k || total <= k->bpf_total)
		return;
	count_launch(a, pid, api, func, total - k->bpf_total, false);
	k->bpf_total = total;
}

const char *agg__full_name(struct agg *a, uint32_t pid, uint64_t func)
{
	struct nent *n = name_of(a, pid, func, 0);

	return n ? n->full : NULL;
}

void agg__resolve_all(struct agg *a)
{
	for (size_t i = 0; i < a->kcap; i++)
		if (a->k[i].used)
			kent_name(a, &a->k[i]);
}

/* ---- graphs ---- */

static struct capstream *capstream_find(struct agg *a, uint32_t pid, uint64_t stream)
{
	for (size_t i = 0; i < a->capstreams.n; i++)
		if (a->capstreams.v[i].pid == pid && a->capstreams.v[i].stream == stream)
			return &a->capstreams.v[i];
	return NULL;
}

static void capture_begin(struct agg *a, uint32_t pid, uint64_t stream)
{
	struct gnodes *g = calloc(1, sizeof(*g));
	struct capture c = { pid, stream, g };
	struct capstream s = { pid, stream, a->caps.n };

	if (!g)
		return;
	g->refs = 1;
	if (VEC_PUSH(a->caps, c)) {
		free(g);
		return;
	}
	VEC_PUSH(a->capstreams, s);
	a->tot.captures++;
}

static void gmap_set(void *vec, uint32_t pid, uint64_t handle, struct gnodes *g)
{
	VEC(struct gmap) *m = vec;
	struct gmap e = { pid, handle, g };

	for (size_t i = 0; i < m->n; i++) {
		if (m->v[i].pid == pid && m->v[i].handle == handle) {
			gnodes_put(m->v[i].nodes);
			m->v[i].nodes = g;
			return;
		}
	}
	if (VEC_PUSH(*m, e))
		gnodes_put(g);
}

static struct gnodes *gmap_get(void *vec, uint32_t pid, uint64_t handle)
{
	VEC(struct gmap) *m = vec;

	for (size_t i = 0; i < m->n; i++)
		if (m->v[i].pid == pid && m->v[i].handle == handle)
			return m->v[i].nodes;
	return NULL;
}

static void capture_end(struct agg *a, uint32_t pid, uint64_t stream, uint64_t graph)
{
	struct capstream *s = capstream_find(a, pid, stream);
	size_t ci, i, j;

	if (!s)
		return;		/* began before we attached */
	ci = s->cap;
	/* every stream and event of this capture leaves it */
	for (i = j = 0; i < a->capstreams.n; i++)
		if (a->capstreams.v[i].cap != ci)
			a->capstreams.v[j++] = a->capstreams.v[i];
	a->capstreams.n = j;
	for (i = j = 0; i < a->capevents.n; i++)
		if (a->capevents.v[i].cap != ci)
			a->capevents.v[j++] = a->capevents.v[i];
	a->capevents.n = j;
	if (graph) {
		a->caps.v[ci].nodes->refs++;
		gmap_set(&a->graphs, pid, graph, a->caps.v[ci].nodes);
	}
	gnodes_put(a->caps.v[ci].nodes);
	a->caps.v[ci].nodes = NULL;
	if (!a->capstreams.n) {		/* no capture open: forget them all */
		a->caps.n = 0;
	}
}

/* A call on a capturing stream becomes a graph node; true if it was one. */
static bool capture_node(struct agg *a, const struct llmi_event *e)
{
	struct capstream *s;
	struct gnodes *g;
	struct gnode n;

	if (!a->capstreams.n)
		return false;
	s = capstream_find(a, e->pid, e->stream);
	if (!s)
		return false;
	g = a->caps.v[s->cap].nodes;
	n.type = e->type;
	n.api = e->api;
	n.func = e->type == LLMI_EV_LAUNCH ? e->obj : e->arg1;
	n.bytes = e->arg0;
	if (g->n == g->cap) {
		size_t c = g->cap ? g->cap * 2 : 16;
		void *p = realloc(g->v, c * sizeof(*g->v));

		if (!p)
			return true;
		g->v = p;
		g->cap = c;
	}
	g->v[g->n++] = n;
	a->tot.captured_nodes++;
	a->last_captured = true;
	/* name it now: the first replay may come after the process died */
	if (e->type == LLMI_EV_LAUNCH) {
		struct kent *k = kent_slot(a, e->pid, e->api, e->obj);

		if (k && !k->named_tried)
			kent_name(a, k);
	}
	return true;
}

static void copy_add(struct agg *a, uint64_t kind, uint64_t bytes, uint64_t dur, bool sync)
{
	struct agg_copy *c = &a->tot.copy[kind < LLMI_COPY_KINDS ? kind : LLMI_COPY_DEFAULT];

	c->calls++;
	c->bytes += bytes;
	if (sync) {
		c->sync_calls++;
		c->sync_bytes += bytes;
		c->sync_ns += dur;
	}
}

static void graph_launch(struct agg *a, uint32_t pid, uint64_t exec)
{
	struct gnodes *g = gmap_get(&a->execs, pid, exec);

	a->tot.graph_launches++;
	if (!g) {
		a->tot.graphs_unknown++;	/* instantiated before we attached */
		return;
	}
	for (size_t i = 0; i < g->n; i++) {
		const struct gnode *n = &g->v[i];

		switch (n->type) {
		case LLMI_EV_LAUNCH:
			count_launch(a, pid, n->api, n->func, 1, true);
			break;
		case LLMI_EV_MEMCPY:
			copy_add(a, n->func, n->bytes, 0, false);
			break;
		case LLMI_EV_MEMSET:
			a->tot.memset_calls++;
			a->tot.memset_bytes += n->bytes;
			break;
		}
	}
}

/* ---- the consumer ---- */

int agg__event(struct agg *a, const void *data, size_t size)
{
	const struct llmi_event *e = data;
	const struct llmi_name_event *ne = data;
	struct agg_api *api;

	if (size < sizeof(*e) || e->version != LLMI_EVENT_VERSION || e->api >= LLMI_API_MAX) {
		a->tot.bad_records++;
		return -EINVAL;
	}
	a->tot.events++;
	a->last_captured = false;
	api = &a->tot.api[e->api];

	switch (e->type) {
	case LLMI_EV_LAUNCH: {
		if (capture_node(a, e))
			return 0;
		api->calls++;
		count_launch(a, e->pid, e->api, e->obj, 1, false);
		return 0;
	}
	case LLMI_EV_MEMCPY:
		if (!e->dur_ns && capture_node(a, e))
			return 0;
		api->calls++;
		api->bytes += e->arg0;
		copy_add(a, e->arg1, e->arg0, e->dur_ns, trace_apis[e->api].prog == PROG_TIMED);
		break;
	case LLMI_EV_MEMSET:
		if (!e->dur_ns && capture_node(a, e))
			return 0;
		api->calls++;
		api->bytes += e->arg0;
		a->tot.memset_calls++;
		a->tot.memset_bytes += e->arg0;
		break;
	case LLMI_EV_ALLOC:
		api->calls++;
		api->bytes += e->arg0;
		break;
	case LLMI_EV_EVENT_RECORD:
		api->calls++;
		if (a->capstreams.n) {
			struct capstream *s = capstream_find(a, e->pid, e->stream);
			struct capevent ce = { e->pid, e->obj, s ? s->cap : 0 };

			if (s)
				VEC_PUSH(a->capevents, ce);
		}
		return 0;
	case LLMI_EV_STREAM_WAIT:
		api->calls++;
		for (size_t i = 0; i < a->capevents.n; i++) {
			struct capevent *ce = &a->capevents.v[i];
			struct capstream s = { e->pid, e->stream, ce->cap };

			if (ce->pid == e->pid && ce->event == e->obj &&
			    !capstream_find(a, e->pid, e->stream)) {
				VEC_PUSH(a->capstreams, s);	/* joins the capture */
				break;
			}
		}
		return 0;
	case LLMI_EV_CAPTURE_BEGIN:
		api->calls++;
		capture_begin(a, e->pid, e->stream);
		return 0;
	case LLMI_EV_CAPTURE_END:
		api->calls++;
		llmi_hist_add(&api->lat, e->dur_ns);
		capture_end(a, e->pid, e->stream, e->ret == 0 ? e->obj : 0);
		return 0;
	case LLMI_EV_INSTANTIATE: {
		struct gnodes *g;

		api->calls++;
		llmi_hist_add(&api->lat, e->dur_ns);
		if (e->ret)
			return 0;
		a->tot.instantiations++;
		g = gmap_get(&a->graphs, e->pid, e->arg0);
		if (g) {
			g->refs++;
			gmap_set(&a->execs, e->pid, e->obj, g);
		}
		return 0;
	}
	case LLMI_EV_GRAPH_LAUNCH:
		api->calls++;
		graph_launch(a, e->pid, e->obj);
		return 0;
	case LLMI_EV_REGISTER:
		if (size < sizeof(*ne))
			return -EINVAL;
		api->calls++;
		name_set_mangled(a, e->pid, e->obj, ne->name);
		return 0;
	case LLMI_EV_NAMED:
		if (size < sizeof(*ne))
			return -EINVAL;
		api->calls++;
		if (e->obj)
			name_set_mangled(a, e->pid, e->obj, ne->name);
		return 0;
	case LLMI_EV_GET_KERNEL:
	case LLMI_EV_KERNEL_FUNC:
		api->calls++;
		if (!e->ret)
			name_alias(a, e->pid, e->obj, e->arg0);
		return 0;
	default:		/* syncs, frees */
		api->calls++;
		break;
	}
	if (trace_apis[e->api].prog == PROG_TIMED)
		llmi_hist_add(&api->lat, e->dur_ns);
	return 0;
}

size_t agg__exec_kernels(struct agg *a, uint32_t pid, uint64_t exec, uint64_t *funcs,
			 size_t cap)
{
	struct gnodes *g = gmap_get(&a->execs, pid, exec);
	size_t n = 0;

	for (size_t i = 0; g && i < g->n; i++) {
		if (g->v[i].type != LLMI_EV_LAUNCH)
			continue;
		if (n < cap)
			funcs[n] = g->v[i].func;
		n++;
	}
	return n;
}

bool agg__exec_next_kernel(struct agg *a, uint32_t pid, uint64_t exec, size_t *pos,
			   uint64_t *func)
{
	struct gnodes *g = gmap_get(&a->execs, pid, exec);

	for (; g && *pos < g->n; (*pos)++) {
		if (g->v[*pos].type == LLMI_EV_LAUNCH) {
			*func = g->v[(*pos)++].func;
			return true;
		}
	}
	return false;
}

bool agg__last_captured(const struct agg *a)
{
	return a->last_captured;
}

void agg__set_name(struct agg *a, uint32_t pid, uint64_t addr, const char *sym)
{
	if (addr)
		name_set_mangled(a, pid, addr, sym);
}

uint64_t agg__name_gen(const struct agg *a)
{
	return a->name_gen;
}

struct agg_totals *agg__totals(struct agg *a)
{
	return &a->tot;
}

static int kernel_cmp(const void *x, const void *y)
{
	const struct agg_kernel *p = x, *q = y;

	if (p->launches != q->launches)
		return p->launches < q->launches ? 1 : -1;
	return strcmp(p->name, q->name);
}

static const struct agg_kernel *kernels(struct agg *a, size_t *n, uint64_t *unnamed,
					bool interval)
{
	size_t m = 0;

	if (a->out_cap < a->kn) {
		free(a->out);
		a->out = calloc(a->kn, sizeof(*a->out));
		a->out_cap = a->out ? a->kn : 0;
		if (!a->out) {
			*n = 0;
			return NULL;
		}
	}
	if (unnamed)
		*unnamed = 0;
	for (size_t i = 0; i < a->kcap; i++) {
		struct kent *k = &a->k[i];
		uint64_t l = interval ? k->launches - k->base : k->launches;
		const char *name;
		size_t j;

		if (!k->used || !k->launches)
			continue;
		name = kent_name(a, k);
		if (!name) {
			snprintf(k->label, sizeof(k->label), "<unnamed 0x%llx>",
				 (unsigned long long)k->func);
			name = k->label;
			if (unnamed)
				(*unnamed)++;
		}
		for (j = 0; j < m; j++)
			if (!strcmp(a->out[j].name, name))
				break;
		if (j == m) {
			a->out[m].name = name;
			a->out[m].launches = 0;
			a->out[m].replayed = 0;
			a->out[m].unnamed = name == k->label;
			m++;
		}
		a->out[j].launches += l;
		if (!interval)
			a->out[j].replayed += k->replayed;
	}
	if (m)	/* no kernel: a->out may be NULL, which qsort may not get */
		qsort(a->out, m, sizeof(*a->out), kernel_cmp);
	*n = m;
	return a->out;
}

const struct agg_kernel *agg__kernels(struct agg *a, size_t *n, uint64_t *unnamed_handles)
{
	return kernels(a, n, unnamed_handles, false);
}

const struct agg_kernel *agg__kernels_interval(struct agg *a, size_t *n)
{
	return kernels(a, n, NULL, true);
}

void agg__interval_reset(struct agg *a)
{
	for (size_t i = 0; i < a->kcap; i++)
		a->k[i].base = a->k[i].launches;
}

void agg_totals_sub(struct agg_totals *dst, const struct agg_totals *now,
		    const struct agg_totals *before)
{
	const uint64_t *n = (const uint64_t *)now, *b = (const uint64_t *)before;
	uint64_t *d = (uint64_t *)dst;

	/* every field is a uint64_t counter; min and max are restored below */
	_Static_assert(sizeof(struct agg_totals) % sizeof(uint64_t) == 0, "agg_totals layout");
	for (size_t i = 0; i < sizeof(*dst) / sizeof(uint64_t); i++)
		d[i] = n[i] - b[i];
	for (int i = 0; i < LLMI_API_MAX; i++) {
		dst->api[i].lat.min = now->api[i].lat.min;
		dst->api[i].lat.max = now->api[i].lat.max;
	}
}

void agg_totals_add_bpf(struct agg_totals *dst, unsigned api, const struct llmi_api_stat *s)
{
	if (api >= LLMI_API_MAX || !s->calls)
		return;
	dst->api[api].calls += s->calls;
	dst->api[api].bytes += s->bytes;
	if (trace_apis[api].prog == PROG_TIMED)
		llmi_hist_add_log2(&dst->api[api].lat, (const uint64_t *)s->slots, s->sum_ns);
}
