// SPDX-License-Identifier: MIT
/*
 * The tracer's timeline in a container, for info and perfetto: the string
 * tables (kernel and API names by id) and the event batches of
 * format/timeline.h. Events of a later version are longer; their first 64
 * bytes are the fields this build knows (llmi_events_get()), the rest is
 * skipped. A kind a later version added is counted and not drawn.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dump/dump.h"

struct dump_name {
	uint64_t id;
	char *s;
};

struct dump_names {
	struct dump_name *v[LLMI_STR_OTHER + 1];
	size_t n[LLMI_STR_OTHER + 1], cap[LLMI_STR_OTHER + 1];
	bool sorted;
};

static int add_name(void *ctx, uint32_t kind, uint64_t id, const char *s, uint32_t slen)
{
	struct dump_names *d = ctx;
	char *c;

	if (kind < LLMI_STR_KERNEL || kind > LLMI_STR_OTHER)
		return 0;	/* a kind of a later version: not ours to show */
	if (d->n[kind] == d->cap[kind]) {
		size_t nc = d->cap[kind] ? d->cap[kind] * 2 : 64;
		void *p = realloc(d->v[kind], nc * sizeof(*d->v[kind]));

		if (!p)
			return -ENOMEM;
		d->v[kind] = p;
		d->cap[kind] = nc;
	}
	c = malloc(slen + 1);
	if (!c)
		return -ENOMEM;
	memcpy(c, s, slen);
	c[slen] = '\0';
	dump_printable(c);
	d->v[kind][d->n[kind]].id = id;
	d->v[kind][d->n[kind]++].s = c;
	return 0;
}

static int cmp_name(const void *a, const void *b)
{
	const struct dump_name *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

struct dump_names *dump_names__load(struct llmi_reader *r, uint64_t *bad)
{
	struct dump_names *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	for (size_t i = 0; i < llmi_reader__nr_records(r); i++) {
		void *p;
		size_t len;
		int err;

		if (llmi_reader__record(r, i)->type != LLMI_REC_STRINGS)
			continue;
		p = llmi_reader__load(r, i, &len);
		err = p ? llmi_strings_parse(p, len, add_name, d) : -errno;
		free(p);
		if (err == -ENOMEM) {
			dump_names__free(d);
			errno = ENOMEM;
			return NULL;
		}
		if (err && bad)
			(*bad)++;
	}
	for (unsigned k = 0; k <= LLMI_STR_OTHER; k++)
		if (d->n[k])
			qsort(d->v[k], d->n[k], sizeof(*d->v[k]), cmp_name);
	return d;
}

const char *dump_names__get(const struct dump_names *d, unsigned kind, uint64_t id)
{
	struct dump_name key = { .id = id }, *f;

	if (kind > LLMI_STR_OTHER || !d->n[kind])
		return NULL;
	f = bsearch(&key, d->v[kind], d->n[kind], sizeof(key), cmp_name);
	return f ? f->s : NULL;
}

size_t dump_names__count(const struct dump_names *d, unsigned kind)
{
	return kind <= LLMI_STR_OTHER ? d->n[kind] : 0;
}

void dump_names__free(struct dump_names *d)
{
	if (!d)
		return;
	for (unsigned k = 0; k <= LLMI_STR_OTHER; k++) {
		for (size_t i = 0; i < d->n[k]; i++)
			free(d->v[k][i].s);
		free(d->v[k]);
	}
	free(d);
}

int dump_tl_batch(struct llmi_reader *r, size_t i, struct llmi_events_rec *h,
		  const void **events, void **payload, char *why, size_t whylen)
{
	size_t len;
	int err;

	/* Loading checks the batch whole (format/reader.c): every event can be read. */
	*payload = llmi_reader__load_why(r, i, &len, why, whylen);
	if (!*payload)
		return -errno;
	err = llmi_events_parse(*payload, len, h, events);
	if (err) {
		free(*payload);
		*payload = NULL;
	}
	return err;
}
