// SPDX-License-Identifier: MIT
/*
 * See correlate.h. Two open-addressing tables: the last launch per (pid,
 * tid, stream), which only the consumer touches (it updates it on every
 * launch and reads it at every capture probe), so it takes no lock: the
 * consumer's hot path is a lookup and a store; and, under one mutex, the
 * probes of tensors not yet coded, keyed by (pid, seq), which the consumer
 * adds and coders take out. Coders never read the launch table: what they
 * need is copied into the probe's entry.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "trace/correlate.h"

struct last {			/* the last launch on a (pid, tid, stream) */
	uint32_t pid, tid;
	uint64_t stream;
	uint64_t launch_id;	/* 0: empty slot */
	uint32_t name_id;
};

struct probe {			/* a capture probe waiting for its coder */
	uint32_t pid;
	bool used;
	uint64_t seq;
	struct corr_producer p;
};

struct corr {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct last *last;
	size_t nlast, cap_last;		/* cap: a power of two */
	struct probe *probes;
	size_t nprobes, cap_probes;
	uint64_t drained_ns;
	bool closed;
};

static uint64_t mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h;
}

static uint64_t last_hash(uint32_t pid, uint32_t tid, uint64_t stream)
{
	return mix(((uint64_t)pid << 32 | tid) ^ mix(stream));
}

static struct last *last_slot(struct last *v, size_t cap, uint32_t pid, uint32_t tid,
			      uint64_t stream)
{
	for (size_t i = last_hash(pid, tid, stream) & (cap - 1);; i = (i + 1) & (cap - 1))
		if (!v[i].launch_id || (v[i].pid == pid && v[i].tid == tid && v[i].stream == stream))
			return &v[i];
}

static struct probe *probe_slot(struct probe *v, size_t cap, uint32_t pid, uint64_t seq)
{
	for (size_t i = mix((uint64_t)pid << 40 ^ seq) & (cap - 1);; i = (i + 1) & (cap - 1))
		if (!v[i].used || (v[i].pid == pid && v[i].seq == seq))
			return &v[i];
}

/* Doubles a table when it is half full; false without memory (the entry is then not kept). */
static bool last_room(struct corr *k)
{
	size_t ncap = k->cap_last ? 2 * k->cap_last : 256;
	struct last *nv;

	if (k->nlast + 1 <= k->cap_last / 2)
		return true;
	nv = calloc(ncap, sizeof(*nv));
	if (!nv)
		return false;
	for (size_t i = 0; i < k->cap_last; i++)
		if (k->last[i].launch_id)
			*last_slot(nv, ncap, k->last[i].pid, k->last[i].tid, k->last[i].stream) =
				k->last[i];
	free(k->last);
	k->last = nv;
	k->cap_last = ncap;
	return true;
}

static bool probe_room(struct corr *k)
{
	size_t ncap = k->cap_probes ? 2 * k->cap_probes : 256;
	struct probe *nv;

	if (k->nprobes + 1 <= k->cap_probes / 2)
		return true;
	nv = calloc(ncap, sizeof(*nv));
	if (!nv)
		return false;
	for (size_t i = 0; i < k->cap_probes; i++)
		if (k->probes[i].used)
			*probe_slot(nv, ncap, k->probes[i].pid, k->probes[i].seq) = k->probes[i];
	free(k->probes);
	k->probes = nv;
	k->cap_probes = ncap;
	return true;
}

struct corr *corr__new(void)
{
	struct corr *k = calloc(1, sizeof(*k));

	if (!k)
		return NULL;
	pthread_mutex_init(&k->lock, NULL);
	pthread_cond_init(&k->cond, NULL);
	return k;
}

void corr__free(struct corr *k)
{
	if (!k)
		return;
	pthread_mutex_destroy(&k->lock);
	pthread_cond_destroy(&k->cond);
	free(k->last);
	free(k->probes);
	free(k);
}

void corr__launch(struct corr *k, uint32_t pid, uint32_t tid, uint64_t stream, uint64_t launch_id,
		  uint32_t name_id)
{
	struct last *l;

	if (!launch_id || !last_room(k))
		return;
	l = last_slot(k->last, k->cap_last, pid, tid, stream);
	if (!l->launch_id)
		k->nlast++;
	*l = (struct last){ pid, tid, stream, launch_id, name_id };
}

void corr__tensor(struct corr *k, uint32_t pid, uint32_t tid, uint64_t stream, uint64_t seq,
		  uint64_t step)
{
	struct last *l = k->cap_last ? last_slot(k->last, k->cap_last, pid, tid, stream) : NULL;

	if (l && l->launch_id)
		corr__tensor_known(k, pid, tid, stream, seq, step, l->launch_id, l->name_id);
	else
		corr__tensor_known(k, pid, tid, stream, seq, step, 0, 0);
}

void corr__tensor_known(struct corr *k, uint32_t pid, uint32_t tid, uint64_t stream, uint64_t seq,
			uint64_t step, uint64_t launch_id, uint32_t name_id)
{
	struct probe *p;

	pthread_mutex_lock(&k->lock);
	if (probe_room(k)) {
		p = probe_slot(k->probes, k->cap_probes, pid, seq);
		if (!p->used)
			k->nprobes++;
		*p = (struct probe){ .pid = pid, .used = true, .seq = seq };
		p->p = (struct corr_producer){ .tid = tid, .stream = stream, .step = step,
					       .probed = true };
		if (launch_id) {
			p->p.launch_id = launch_id;
			p->p.name_id = name_id;
		}
		pthread_cond_broadcast(&k->cond);
	}
	pthread_mutex_unlock(&k->lock);
}

void corr__drained(struct corr *k, uint64_t now_ns)
{
	pthread_mutex_lock(&k->lock);
	if (now_ns > k->drained_ns) {
		k->drained_ns = now_ns;
		pthread_cond_broadcast(&k->cond);
	}
	pthread_mutex_unlock(&k->lock);
}

void corr__close(struct corr *k)
{
	pthread_mutex_lock(&k->lock);
	k->closed = true;
	pthread_cond_broadcast(&k->cond);
	pthread_mutex_unlock(&k->lock);
}

/* Removes slot i from the probe table, moving back what its removal would hide. */
static void probe_remove(struct corr *k, struct probe *p)
{
	size_t mask = k->cap_probes - 1, i = (size_t)(p - k->probes), j = i;

	k->probes[i].used = false;
	k->nprobes--;
	for (;;) {
		size_t h;

		j = (j + 1) & mask;
		if (!k->probes[j].used)
			return;
		h = mix((uint64_t)k->probes[j].pid << 40 ^ k->probes[j].seq) & mask;
		/* j stays if its home lies cyclically in (i, j] */
		if (i <= j ? (i < h && h <= j) : (i < h || h <= j))
			continue;
		k->probes[i] = k->probes[j];
		k->probes[j].used = false;
		i = j;
	}
}

bool corr__producer(struct corr *k, uint32_t pid, uint64_t seq, uint64_t ready_ns, int timeout_ms,
		    struct corr_producer *out)
{
	struct timespec dl;
	bool found = false;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += timeout_ms / 1000;
	dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&k->lock);
	for (;;) {
		struct probe *p = k->cap_probes ? probe_slot(k->probes, k->cap_probes, pid, seq) : NULL;

		if (p && p->used) {
			*out = p->p;
			probe_remove(k, p);
			found = true;
			break;
		}
		if (k->closed || k->drained_ns > ready_ns)
			break;
		if (pthread_cond_timedwait(&k->cond, &k->lock, &dl) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&k->lock);
	return found;
}
