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
};

/*
 * Parses text (terms separated by newlines) into spec; on error, -EINVAL
 * with one line naming the term and what was expected in err. spec is
 * valid (possibly empty) either way; free it with llmi_cap_spec_free().
 */
int llmi_cap_spec_parse(const char *text, struct llmi_cap_spec *spec, char *err, size_t err_len);
void llmi_cap_spec_free(struct llmi_cap_spec *spec);
bool llmi_cap_spec_step(const struct llmi_cap_spec *spec, uint64_t step);
bool llmi_cap_spec_name(const struct llmi_cap_spec *spec, const char *name);

#endif
