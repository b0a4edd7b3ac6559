// SPDX-License-Identifier: MIT
/*
 * The token ids of a container (FORMAT.md, "tokens"): every tokens record
 * kept in memory (they are small: the input ids of the steps), sorted by
 * (pid, first) so that a tensor's run [first, first + count) is found by
 * binary search even when it spans several records.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dump/dump.h"

struct dump_tokens {
	struct tok {
		struct llmi_tokens_rec h;
		int64_t *ids;
	} *v;
	size_t n;
};

static int by_pid_first(const void *x, const void *y)
{
	const struct tok *a = x, *b = y;

	if (a->h.pid != b->h.pid)
		return a->h.pid < b->h.pid ? -1 : 1;
	return a->h.first < b->h.first ? -1 : a->h.first > b->h.first;
}

void dump_tokens__free(struct dump_tokens *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++)
		free(d->v[i].ids);
	free(d->v);
	free(d);
}

struct dump_tokens *dump_tokens__load(struct llmi_reader *r)
{
	struct dump_tokens *d = calloc(1, sizeof(*d));
	size_t cap = 0;

	if (!d)
		return NULL;
	for (size_t i = 0; i < llmi_reader__nr_records(r); i++) {
		const struct llmi_rec_info *ri = llmi_reader__record(r, i);
		uint8_t *p;
		size_t len;

		if (ri->type != LLMI_REC_TOKENS || ri->state == LLMI_CHECK_BAD)
			continue;
		p = llmi_reader__load(r, i, &len);
		if (!p) {
			if (errno == EBADMSG)	/* damaged: counted by the reader */
				continue;
			goto fail;
		}
		if (d->n == cap) {
			struct tok *nv = realloc(d->v, (cap ? 2 * cap : 16) * sizeof(*nv));

			if (!nv) {
				free(p);
				goto fail;
			}
			d->v = nv;
			cap = cap ? 2 * cap : 16;
		}
		memcpy(&d->v[d->n].h, p, sizeof(d->v[d->n].h));
		d->v[d->n].ids = malloc(d->v[d->n].h.count ? d->v[d->n].h.count * 8 : 1);
		if (!d->v[d->n].ids) {
			free(p);
			goto fail;
		}
		/* the reader checked count against the length */
		memcpy(d->v[d->n].ids, p + sizeof(d->v[d->n].h), d->v[d->n].h.count * 8);
		free(p);
		d->n++;
	}
	qsort(d->v, d->n, sizeof(*d->v), by_pid_first);
	return d;
fail:
	dump_tokens__free(d);
	errno = ENOMEM;
	return NULL;
}

size_t dump_tokens__count(const struct dump_tokens *d)
{
	return d ? d->n : 0;
}

const struct llmi_tokens_rec *dump_tokens__rec(const struct dump_tokens *d, size_t i)
{
	return d && i < d->n ? &d->v[i].h : NULL;
}

/* The record of pid (any pid when 0) holding token `at`, or -1. */
static ssize_t find(const struct dump_tokens *d, uint32_t pid, uint64_t at)
{
	size_t lo = 0, hi = d->n;

	if (!pid) {	/* no process given: the first record that holds it */
		for (size_t i = 0; i < d->n; i++)
			if (at >= d->v[i].h.first && at - d->v[i].h.first < d->v[i].h.count)
				return (ssize_t)i;
		return -1;
	}
	/* the last record of pid that starts at or before `at` */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct llmi_tokens_rec *h = &d->v[mid].h;

		if (h->pid < pid || (h->pid == pid && h->first <= at))
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return -1;
	lo--;
	return d->v[lo].h.pid == pid && at - d->v[lo].h.first < d->v[lo].h.count ? (ssize_t)lo : -1;
}

size_t dump_tokens__get(const struct dump_tokens *d, uint32_t pid, uint64_t first, int64_t *ids,
			size_t n)
{
	size_t done = 0;

	while (d && done < n) {
		ssize_t i = find(d, pid, first + done);
		const struct tok *t;

		if (i < 0)
			break;
		t = &d->v[i];
		for (uint64_t k = first + done - t->h.first; k < t->h.count && done < n; k++)
			ids[done++] = t->ids[k];
	}
	return done;
}
