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
