// SPDX-License-Identifier: MIT
/*
 * Kernel names as people read them. Host stubs of CUDA kernels are C++
 * functions ("_Z12scale_kernelPffi"); the tracer shows them demangled, and in
 * tables without the argument list. Demangling is __cxa_demangle from the
 * C++ runtime (linked statically, see build.mk): the Itanium grammar is too
 * large to keep a second copy of.
 *
 * Cutting the argument list is not "up to the first '('": a demangled name
 * may start with a return type ("void foo<int>(int)"), hold parentheses that
 * are not the argument list ("(anonymous namespace)::k(float*)",
 * "operator()(int)", "void (*f(int))(float)") and angle brackets that are not
 * template arguments ("operator<(A, A)"). strip_args therefore scans with a
 * nesting depth, skips those forms, and also drops the return type, so a
 * kernel is named "foo<int>" in both runtime and driver views.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/demangle.h"

char *__cxa_demangle(const char *mangled, char *buf, size_t *len, int *status);

static void copy_out(char *buf, size_t len, const char *s, size_t n)
{
	if (!len)
		return;
	if (n > len - 1)
		n = len - 1;
	memcpy(buf, s, n);
	buf[n] = '\0';
}

static int is_ident(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '$';
}

/* Length of the operator token after "operator" at s (symbolic operators only). */
static size_t op_len(const char *s)
{
	static const char *const ops[] = {
		"()", "[]", "<=>", "->*", "<<=", ">>=", "->", "<<", ">>", "<=", ">=", "==", "!=",
		"&&", "||", "++", "--", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "+", "-",
		"*", "/", "%", "^", "&", "|", "~", "!", "=", "<", ">", ",",
	};
	size_t i;

	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (!strncmp(s, ops[i], strlen(ops[i])))
			return strlen(ops[i]);
	return 0;
}

/*
 * [*start, *end) of the qualified name without return type and argument list.
 * Returns 0 when s has no top-level argument list (a variable, or not C++).
 */
static int name_span(const char *s, size_t *start, size_t *end)
{
	static const char anon[] = "(anonymous namespace)";
	size_t i = 0, name_start = 0;
	int angle = 0, paren = 0, wrap = 0;	/* angle counts {} too */
	int in_op = 0;

	while (s[i]) {
		char c = s[i];

		if (!strncmp(s + i, anon, sizeof(anon) - 1)) {
			i += sizeof(anon) - 1;
			continue;
		}
		if (!strncmp(s + i, "operator", 8) && (i == 0 || !is_ident(s[i - 1])) &&
		    !is_ident(s[i + 8]) && !angle && paren == wrap) {
			size_t n;

			i += 8;
			n = op_len(s + i);
			if (n) {
				i += n;
				continue;
			}
			/* operator new[], operator delete, conversion operators: up to the '('. */
			in_op = 1;
			continue;
		}
		if (c == '<' || c == '{') {
			angle++;
		} else if (c == '>' || c == '}') {
			if (angle)
				angle--;
		} else if (c == '(' && !angle) {
			if (paren == wrap) {
				/* "void (*f(int))(float)": the name sits inside "(*...)" */
				if (s[i + 1] == '*' || s[i + 1] == '&') {
					paren++;
					wrap++;
					i += 2;
					name_start = i;
					continue;
				}
				/* "f(int)::{lambda()#1}": a local entity, the name goes on */
				size_t j = i + 1;
				int d = 1;

				for (; s[j] && d; j++)
					d += (s[j] == '(') - (s[j] == ')');
				if (!d && s[j] == ':' && s[j + 1] == ':') {
					i = j + 2;
					continue;
				}
				*start = name_start;
				*end = i;
				return 1;
			}
			paren++;
		} else if (c == ')' && !angle) {
			if (paren)
				paren--;
		} else if (c == ' ' && !angle && paren == wrap && !in_op) {
			name_start = i + 1;
		}
		i++;
	}
	return 0;
}

const char *llmi_demangle(const char *sym, bool strip_args, char *buf, size_t len)
{
	char *dm = NULL;
	const char *s = sym;
	size_t start = 0, end;
	int status = -1;

	if (!len)
		return buf;
	if (sym[0] == '_' && sym[1] == 'Z') {
		dm = __cxa_demangle(sym, NULL, NULL, &status);
		if (status == 0 && dm)
			s = dm;
	}
	end = strlen(s);
	if (strip_args && s == dm)
		name_span(s, &start, &end);
	copy_out(buf, len, s + start, end - start);
	free(dm);
	return buf;
}

/*
 * ---- short names for 80-column tables ----
 *
 * A C++ template kernel's name runs to hundreds of characters, and the part
 * that tells two of them apart (PyTorch's functor or lambda) sits deep in
 * its template arguments, past any column cut:
 *   at::native::vectorized_elementwise_kernel<8,
 *     at::native::(anonymous namespace)::silu_kernel(at::TensorIteratorBase&)
 *     ::{lambda()#1}::operator()() const::{lambda()#6}::operator()() const
 *     ::{lambda(c10::BFloat16)#1}, std::array<char*, 2ul> >
 * becomes
 *   vectorized_elementwise_kernel<8, silu_kernel::lambda, array<char*, 2ul>>
 * Qualifiers go (a name keeps its last part; a lambda keeps the function
 * it is in), as do parameter lists inside the name, "operator()", "const"
 * and the space between closing brackets. JSON and timelines keep the
 * whole name; this is for tables only.
 */

static int is_ident_start(char c)
{
	return is_ident(c) && !(c >= '0' && c <= '9');
}

/* A balanced (...) or {...} group at s: its length, 0 if unbalanced. */
static size_t group_len(const char *s)
{
	char open = *s, close = open == '(' ? ')' : '}';
	size_t i = 0;
	int d = 0;

	do {
		if (!s[i])
			return 0;
		d += (s[i] == open) - (s[i] == close);
		i++;
	} while (d);
	return i;
}

/* Pass 1: lambdas to "lambda", no parameter lists, operator(), const, anonymous namespaces. */
static void simplify(const char *s, char *o, size_t cap)
{
	static const char anon[] = "(anonymous namespace)::";
	size_t n = 0, g;

	while (*s && n + 1 < cap) {
		if (!strncmp(s, anon, sizeof(anon) - 1)) {
			s += sizeof(anon) - 1;
		} else if (!strncmp(s, "{lambda(", 8) && (g = group_len(s))) {
			s += g;
			if (n + 7 < cap) {
				memcpy(o + n, "lambda", 6);
				n += 6;
			}
		} else if (!strncmp(s, "operator()", 10) && !strncmp(s + 10, "(", 1)) {
			s += 10;	/* its parameter list goes next */
			while (n >= 2 && o[n - 1] == ':' && o[n - 2] == ':')
				n -= 2;
		} else if (*s == '(' && n && (is_ident(o[n - 1]) || o[n - 1] == '>' || o[n - 1] == ')') &&
			   (g = group_len(s))) {
			s += g;	/* a parameter list */
			if (!strncmp(s, " const", 6) && !is_ident(s[6]))
				s += 6;
		} else if (*s == ' ' && n && o[n - 1] == '>' && s[1] == '>') {
			s++;	/* "> >" */
		} else {
			o[n++] = *s++;
		}
	}
	o[n] = '\0';
}

static void put(char *o, size_t cap, size_t *n, const char *s, size_t len)
{
	if (*n + len >= cap)
		len = *n + 1 < cap ? cap - 1 - *n : 0;
	memcpy(o + *n, s, len);
	*n += len;
	o[*n] = '\0';
}

/*
 * Template arguments nest this deep at most: deeper ones (a name comes from
 * the traced process, which could hold anything) are copied as they are.
 */
#define SHORT_DEPTH 12

/* Template arguments at *s ('<'): shortened into o, up to and with the '>'. */
static void shorten_list(const char **p, char *o, size_t cap, size_t *n, int depth);

static void shorten_targs(const char **p, char *o, size_t cap, size_t *n, int depth)
{
	const char *s = *p;

	if (depth >= SHORT_DEPTH) {
		put(o, cap, n, s, strlen(s));
		*p = s + strlen(s);
		return;
	}
	put(o, cap, n, s++, 1);
	for (;;) {
		shorten_list(&s, o, cap, n, depth + 1);
		if (*s != ',')
			break;
		put(o, cap, n, s++, 1);
	}
	if (*s == '>')
		put(o, cap, n, s++, 1);
	*p = s;
}

/*
 * Pass 2, from *p to a ',' or '>' at this depth (or the end): each
 * qualified name a::b<...>::c keeps its last part (with its template
 * arguments, shortened the same way); a lambda keeps the part it is in
 * ("f::lambda").
 */
static void shorten_list(const char **p, char *o, size_t cap, size_t *n, int depth)
{
	const char *s = *p;

	while (*s && *s != ',' && *s != '>') {
		char keep[512] = "", outer[128] = "";
		bool lambda = false;

		if (*s == '<') {	/* template arguments of something unnamed */
			shorten_targs(&s, o, cap, n, depth);
			continue;
		}
		if (!is_ident_start(*s)) {
			put(o, cap, n, s++, 1);
			continue;
		}
		for (;;) {	/* one qualified name, a part at a time */
			const char *id = s;
			size_t kn = 0;

			while (is_ident(*s))
				s++;
			lambda = s - id == 6 && !strncmp(id, "lambda", 6);
			if (!lambda) {
				if (keep[0]) {	/* the part it is in, for a plain "kernel" */
					size_t on = 0;

					outer[0] = '\0';
					put(outer, sizeof(outer), &on, keep, strcspn(keep, "<"));
				}
				put(keep, sizeof(keep), &kn, id, (size_t)(s - id));
				if (*s == '<')
					shorten_targs(&s, keep, sizeof(keep), &kn, depth);
			} else if (*s == '<') {
				size_t dn = 0;
				char drop[512];

				shorten_targs(&s, drop, sizeof(drop), &dn, depth);
			}
			if (s[0] == ':' && s[1] == ':' && is_ident_start(s[2])) {
				s += 2;
				continue;
			}
			break;
		}
		if (outer[0] && !strncmp(keep, "kernel", 6) && !is_ident(keep[6])) {
			put(o, cap, n, outer, strlen(outer));
			put(o, cap, n, "::", 2);
		}
		put(o, cap, n, keep, strlen(keep));
		if (lambda)
			put(o, cap, n, keep[0] ? "::lambda" : "lambda", keep[0] ? 8 : 6);
	}
	*p = s;
}

const char *llmi_short_name(const char *name, char *buf, size_t len)
{
	char tmp[4096];
	const char *p = tmp;
	size_t n = 0;

	if (!len)
		return buf;
	buf[0] = '\0';
	simplify(name, tmp, sizeof(tmp));
	while (*p) {
		shorten_list(&p, buf, len, &n, 0);
		if (*p)
			put(buf, len, &n, p++, 1);
	}
	return buf;
}
