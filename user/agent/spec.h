/* SPDX-License-Identifier: MIT */
/*
 * The capture spec: which tensors a tracer asks for (--capture, repeatable).
 * One term per --capture; the tracer sends the terms joined by newlines.
 *
 *   all          every tensor (the default when only step terms are given)
 *   name=GLOB    tensors whose name matches GLOB (fnmatch(3), no flags);
 *                several name= terms: any of them
 *   every=N      only steps that are multiples of N (N >= 1)
 *   steps=A-B    only steps A..B inclusive (A <= B); steps=A: step A only
 *   pos=last     keep only the last token position of each tensor
 *   pos=A:B      keep only positions A .. B-1 (a Python slice; B past the
 *                end keeps up to the end)
 *
 * Positions index a tensor's second-to-last dimension ([S, H], [B, S, H],
 * [B, heads, S, D]); a tensor of fewer than two dimensions is kept whole.
 * The agent copies only the positions kept (llmi_cap_spec_pos()), and the
 * file's tensor record says which they were (format.h, pos_*).
 *
 * A tensor is selected when its name is selected and its step passes every
 * step term. Parsed by the tracer (to refuse a bad spec before anything
 * starts) and by the agent (which selects); the same code on both sides.
 */
#ifndef LLMI_SPEC_H
#define LLMI_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LLMI_SPEC_GLOBS_MAX 64

struct llmi_cap_spec {
	bool all;			/* no name restriction */
	unsigned nglobs;
	char *globs[LLMI_SPEC_GLOBS_MAX];
	uint64_t every;			/* 0 or 1: every step */
	uint64_t step_lo, step_hi;	/* 0 .. UINT64_MAX: all steps */
	unsigned pos;			/* LLMI_SPEC_POS_* */
	uint64_t pos_lo, pos_hi;	/* POS_RANGE: [lo, hi) */
};

enum { LLMI_SPEC_POS_ALL = 0, LLMI_SPEC_POS_LAST, LLMI_SPEC_POS_RANGE };

/*
 * Parses text (terms separated by newlines) into spec; on error, -EINVAL
 * with one line naming the term and what was expected in err. spec is
 * valid (possibly empty) either way; free it with llmi_cap_spec_free().
 */
int llmi_cap_spec_parse(const char *text, struct llmi_cap_spec *spec, char *err, size_t err_len);
void llmi_cap_spec_free(struct llmi_cap_spec *spec);
bool llmi_cap_spec_step(const struct llmi_cap_spec *spec, uint64_t step);
bool llmi_cap_spec_name(const struct llmi_cap_spec *spec, const char *name);
/*
 * The positions pos= keeps of a dimension of len positions: true with
 * [*first, *first + *count) when that is less than the whole (count may be
 * 0: a slice past the end), false when the tensor is kept whole.
 */
bool llmi_cap_spec_pos(const struct llmi_cap_spec *spec, uint64_t len, uint64_t *first,
		       uint64_t *count);

#endif
