// SPDX-License-Identifier: MIT
/*
 * The capture spec (spec.h): the tracer parses it to refuse a bad
 * --capture before anything starts, and the agent parses the same text
 * again from the handshake and consults it at every capture call. Lookups
 * are on the capture path (while a tracer is attached): a step test is two
 * compares and a modulo, a name test one fnmatch per glob.
 */
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "agent/spec.h"

#define TERMS "all, name=GLOB, every=N, steps=A-B, steps=A, pos=last or pos=A:B"

/* A decimal number and nothing else ("12x", "-1", " 3", "" are refused). */
static int parse_u64(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (!len || len > 20)
		return -EINVAL;
	for (i = 0; i < len; i++) {
		unsigned d;

		if (!isdigit((unsigned char)s[i]))
			return -EINVAL;
		d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

static int fail(char *err, size_t err_len, const char *t, size_t tl, const char *why)
{
	if (err && err_len)
		snprintf(err, err_len, "capture spec term '%.*s': %s", (int)(tl > 200 ? 200 : tl),
			 t, why);
	return -EINVAL;
}

static int term(struct llmi_cap_spec *sp, const char *t, size_t tl, bool *seen_every,
		bool *seen_steps, bool *seen_name, char *err, size_t err_len)
{
	const char *v;
	size_t vl;

	if (tl >= 4 && !memcmp(t, "pos=", 4)) {
		const char *colon;
		uint64_t a, b;

		if (sp->pos)
			return fail(err, err_len, t, tl, "pos= given twice (one pos= per spec)");
		v = t + 4;
		vl = tl - 4;
		if (vl == 4 && !memcmp(v, "last", 4)) {
			sp->pos = LLMI_SPEC_POS_LAST;
			return 0;
		}
		colon = memchr(v, ':', vl);
		if (!colon || parse_u64(v, (size_t)(colon - v), &a) ||
		    parse_u64(colon + 1, vl - (size_t)(colon - v) - 1, &b) || a >= b)
			return fail(err, err_len, t, tl,
				    "expected pos=last or pos=A:B, positions A .. B-1 (whole numbers A < B)");
		sp->pos = LLMI_SPEC_POS_RANGE;
		sp->pos_lo = a;
		sp->pos_hi = b;
		return 0;
	}

	if (tl == 3 && !memcmp(t, "all", 3)) {
		sp->all = true;
		*seen_name = true;
		return 0;
	}
	if (tl >= 5 && !memcmp(t, "name=", 5)) {
		char *g;

		v = t + 5;
		vl = tl - 5;
		if (!vl)
			return fail(err, err_len, t, tl, "an empty glob (name=GLOB, e.g. name=blk.*.resid)");
		if (sp->nglobs == LLMI_SPEC_GLOBS_MAX)
			return fail(err, err_len, t, tl, "more than 64 name= terms");
		g = strndup(v, vl);
		if (!g)
			return fail(err, err_len, t, tl, "out of memory");
		sp->globs[sp->nglobs++] = g;
		*seen_name = true;
		return 0;
	}
	if (tl >= 6 && !memcmp(t, "every=", 6)) {
		uint64_t n;

		if (*seen_every)
			return fail(err, err_len, t, tl, "every= given twice (one every=N per spec)");
		if (parse_u64(t + 6, tl - 6, &n) || n < 1)
			return fail(err, err_len, t, tl, "N must be a whole number >= 1 (every=N)");
		sp->every = n;
		*seen_every = true;
		return 0;
	}
	if (tl >= 6 && !memcmp(t, "steps=", 6)) {
		const char *dash;
		uint64_t a, b;

		if (*seen_steps)
			return fail(err, err_len, t, tl, "steps= given twice (one steps=A-B per spec)");
		v = t + 6;
		vl = tl - 6;
		dash = memchr(v, '-', vl);
		if (!dash) {
			if (parse_u64(v, vl, &a))
				return fail(err, err_len, t, tl,
					    "expected steps=A-B or steps=A with whole numbers A <= B");
			b = a;
		} else if (parse_u64(v, (size_t)(dash - v), &a) ||
			   parse_u64(dash + 1, vl - (size_t)(dash - v) - 1, &b)) {
			return fail(err, err_len, t, tl,
				    "expected steps=A-B or steps=A with whole numbers A <= B");
		}
		if (a > b)
			return fail(err, err_len, t, tl, "the first step is after the last (A <= B)");
		sp->step_lo = a;
		sp->step_hi = b;
		*seen_steps = true;
		return 0;
	}
	return fail(err, err_len, t, tl, "unknown term; expected " TERMS);
}

int llmi_cap_spec_parse(const char *text, struct llmi_cap_spec *spec, char *err, size_t err_len)
{
	bool seen_every = false, seen_steps = false, seen_name = false, any = false;
	const char *p;
	int rc = 0;

	memset(spec, 0, sizeof(*spec));
	spec->step_hi = UINT64_MAX;
	if (err && err_len)
		err[0] = '\0';
	if (!text)
		text = "";
	for (p = text; *p && !rc;) {
		const char *e = strchr(p, '\n'), *t = p;
		size_t tl = e ? (size_t)(e - p) : strlen(p);

		p = e ? e + 1 : p + tl;
		/* surrounding blanks (and a CR) are not part of a term */
		while (tl && isspace((unsigned char)*t)) {
			t++;
			tl--;
		}
		while (tl && isspace((unsigned char)t[tl - 1]))
			tl--;
		if (!tl)
			continue;
		any = true;
		rc = term(spec, t, tl, &seen_every, &seen_steps, &seen_name, err, err_len);
	}
	if (!rc && !any) {
		if (err && err_len)
			snprintf(err, err_len, "empty capture spec; expected %s", TERMS);
		rc = -EINVAL;
	}
	if (rc) {
		llmi_cap_spec_free(spec);
		return rc;
	}
	/* only step and position terms: every name */
	if (!seen_name)
		spec->all = true;
	return 0;
}

void llmi_cap_spec_free(struct llmi_cap_spec *spec)
{
	unsigned i;

	if (!spec)
		return;
	for (i = 0; i < spec->nglobs; i++)
		free(spec->globs[i]);
	memset(spec, 0, sizeof(*spec));
	spec->step_hi = UINT64_MAX;
}

bool llmi_cap_spec_step(const struct llmi_cap_spec *spec, uint64_t step)
{
	if (step < spec->step_lo || step > spec->step_hi)
		return false;
	return spec->every <= 1 || step % spec->every == 0;
}

bool llmi_cap_spec_name(const struct llmi_cap_spec *spec, const char *name)
{
	unsigned i;

	if (spec->all)
		return true;
	for (i = 0; i < spec->nglobs; i++)
		if (fnmatch(spec->globs[i], name, 0) == 0)
			return true;
	return false;
}

bool llmi_cap_spec_pos(const struct llmi_cap_spec *spec, uint64_t len, uint64_t *first,
		       uint64_t *count)
{
	uint64_t lo, hi;

	switch (spec->pos) {
	case LLMI_SPEC_POS_LAST:
		if (len <= 1)
			return false;
		lo = len - 1;
		hi = len;
		break;
	case LLMI_SPEC_POS_RANGE:
		lo = spec->pos_lo < len ? spec->pos_lo : len;
		hi = spec->pos_hi < len ? spec->pos_hi : len;
		if (!lo && hi == len)
			return false;
		break;
	default:
		return false;
	}
	*first = lo;
	*count = hi - lo;
	return true;
}
