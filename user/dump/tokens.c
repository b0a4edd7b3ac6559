// SPDX-License-Identifier: MIT
/*
 * The token ids of a container (FORMAT.md, "tokens"): every tokens record
 * kept in memory (they are small: the input ids of the steps), sorted by
 * (pid, first) at load so that a tensor's run [first, first + count) is
 * found by bisection, even when it goes on in the next record. Where
 * records overlap (never in a tracer's file), the one first in the file
 * wins, as a scan in file order would find it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dump/dump.h"

struct dump_tokens {
	struct tok {
		struct llmi_tokens_rec h;
		int64_t *ids;
		size_t order;		/* its place in the file */
		uint64_t maxend;	/* the furthest end of its pid's records up to it */
	} *v;
	size_t n;
	size_t *grp, ngrp;		/* where each pid's records start; grp[ngrp] = n */
};

static int by_pid_first(const void *a, const void *b)
{
	const struct tok *x = a, *y = b;

	if (x->h.pid != y->h.pid)
		return x->h.pid < y->h.pid ? -1 : 1;
	if (x->h.first != y->h.first)
		return x->h.first < y->h.first ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

void dump_tokens__free(struct dump_tokens *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++)
		free(d->v[i].ids);
	free(d->v);
	free(d->grp);
	free(d);
}

/* Sorts the records and notes where each process's begin; -1 out of memory. */
static int sort(struct dump_tokens *d)
{
	if (d->n)	/* qsort of NULL is undefined, even of nothing */
		qsort(d->v, d->n, sizeof(*d->v), by_pid_first);
	d->grp = malloc((d->n + 1) * sizeof(*d->grp));
	if (!d->grp)
		return -1;
	for (size_t i = 0; i < d->n; i++) {
		struct tok *t = &d->v[i];
		uint64_t end = t->h.first + t->h.count;

		if (end < t->h.first)
			end = UINT64_MAX;
		if (!i || t[-1].h.pid != t->h.pid) {
			d->grp[d->ngrp++] = i;
			t->maxend = end;
		} else {
			t->maxend = end > t[-1].maxend ? end : t[-1].maxend;
		}
	}
	d->grp[d->ngrp] = d->n;
	return 0;
}

struct dump_tokens *dump_tokens__load(struct llmi_reader *r)
{
	struct dump_tokens *d = calloc(1, sizeof(*d));
	size_t cap = 0;

	if (!d)
		return NULL;
	for (size_t i = 0; i < llmi_reader__nr_records(r); i++) {
		const struct llmi_rec_info *ri = llmi_reader__record(r, i);
		struct tok *t;
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
		t = &d->v[d->n];
		memcpy(&t->h, p, sizeof(t->h));
		t->ids = malloc(t->h.count ? t->h.count * 8 : 1);
		if (!t->ids) {
			free(p);
			goto fail;
		}
		memcpy(t->ids, p + sizeof(t->h), t->h.count * 8);	/* the length was checked */
		free(p);
		t->order = d->n++;
	}
	if (sort(d))
		goto fail;
	return d;
fail:
	dump_tokens__free(d);
	errno = ENOMEM;
	return NULL;
}

/*
 * Of the records v[lo, hi) of one process, the one that holds position at
 * and comes first in the file, or NULL. The last record starting at or
 * before at is found by bisection; earlier ones can hold at only while
 * their pid's maxend passes it, which in a tracer's file is never.
 */
static const struct tok *tok_in(const struct dump_tokens *d, size_t lo, size_t hi, uint64_t at)
{
	const struct tok *best = NULL;
	size_t a = lo, b = hi;

	while (a < b) {
		size_t mid = a + (b - a) / 2;

		if (d->v[mid].h.first <= at)
			a = mid + 1;
		else
			b = mid;
	}
	for (size_t k = a; k-- > lo && d->v[k].maxend > at;) {
		const struct tok *t = &d->v[k];

		if (at - t->h.first < t->h.count && (!best || t->order < best->order))
			best = t;
	}
	return best;
}

/* The record holding position at of process pid (0: of any), as tok_in. */
static const struct tok *tok_at(const struct dump_tokens *d, uint32_t pid, uint64_t at)
{
	const struct tok *best = NULL;
	size_t a = 0, b = d->ngrp;

	if (!pid) {
		for (size_t g = 0; g < d->ngrp; g++) {
			const struct tok *t = tok_in(d, d->grp[g], d->grp[g + 1], at);

			if (t && (!best || t->order < best->order))
				best = t;
		}
		return best;
	}
	while (a < b) {
		size_t mid = a + (b - a) / 2;

		if (d->v[d->grp[mid]].h.pid < pid)
			a = mid + 1;
		else
			b = mid;
	}
	if (a == d->ngrp || d->v[d->grp[a]].h.pid != pid)
		return NULL;
	return tok_in(d, d->grp[a], d->grp[a + 1], at);
}

size_t dump_tokens__get(const struct dump_tokens *d, uint32_t pid, uint64_t first, int64_t *ids,
			size_t n)
{
	size_t done = 0;

	/* a process numbers its ids one record after the other: a run may go on in the next */
	while (d && done < n) {
		uint64_t at = first + done;
		const struct tok *t = at < first ? NULL : tok_at(d, pid, at);

		if (!t)
			break;
		for (uint64_t k = at - t->h.first; k < t->h.count && done < n; k++)
			ids[done++] = t->ids[k];
	}
	return done;
}
