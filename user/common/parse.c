// SPDX-License-Identifier: MIT
/*
 * Command-line numbers, strictly. strtoul and strtod are lenient in ways that
 * turn typos into silent wrong values ("12ms" -> 12, "abc" -> 0, " 5" -> 5,
 * "-1" -> UINT64_MAX, "0x10" -> 16 or 0), so every value is checked against
 * its grammar first and converted second:
 *
 *   u64      [0-9]+                         decimal only: "0x10", "+1", "-1",
 *                                           " 1", "1 " and "" are -EINVAL;
 *                                           above UINT64_MAX is -ERANGE
 *   double   [+-]?digits[.digits][(e|E)[+-]?digits], at least one digit
 *            before or after the point: "inf", "nan" and hex floats are
 *            -EINVAL; "1e999" (overflow) and "1e-999" (underflow) -ERANGE
 *   seconds  a double > 0 ("0" and "-1" are -ERANGE); no unit suffix
 *   size     u64 with an optional K, M, G or T (any case), optionally
 *            followed by "i" and/or "B": all binary (1K = 1KiB = 1KB = 1024);
 *            a bare "B" means bytes
 *   pids     u64 list separated by single commas, each in [1, INT32_MAX]
 *            (-ERANGE beyond, and when the list has more than cap entries),
 *            no empty entries, no duplicates (-EINVAL)
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/parse.h"

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Digits [s, e) -> *out; -EINVAL when empty, -ERANGE on overflow. */
static int u64_span(const char *s, const char *e, uint64_t *out)
{
	uint64_t v = 0;

	if (s == e)
		return -EINVAL;
	for (; s < e; s++) {
		unsigned d;

		if (!is_digit(*s))
			return -EINVAL;
		d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

int llmi_parse_u64(const char *s, uint64_t *out)
{
	if (!s)
		return -EINVAL;
	return u64_span(s, s + strlen(s), out);
}

int llmi_parse_double(const char *s, double *out)
{
	const char *p = s;
	char *end;
	int nd = 0;
	double v;

	if (!s)
		return -EINVAL;
	if (*p == '+' || *p == '-')
		p++;
	for (; is_digit(*p); p++)
		nd++;
	if (*p == '.')
		for (p++; is_digit(*p); p++)
			nd++;
	if (!nd)
		return -EINVAL;
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!is_digit(*p))
			return -EINVAL;
		while (is_digit(*p))
			p++;
	}
	if (*p)
		return -EINVAL;

	errno = 0;
	v = strtod(s, &end);
	if (end != p)
		return -EINVAL;
	if (errno == ERANGE || !isfinite(v))
		return -ERANGE;
	*out = v;
	return 0;
}

int llmi_parse_seconds(const char *s, double *out)
{
	double v;
	int err = llmi_parse_double(s, &v);

	if (err)
		return err;
	if (!(v > 0))
		return -ERANGE;
	*out = v;
	return 0;
}

int llmi_parse_size(const char *s, uint64_t *out)
{
	const char *p, *e;
	unsigned shift = 0;
	uint64_t v;
	int err;

	if (!s)
		return -EINVAL;
	for (p = s; is_digit(*p); p++)
		;
	e = p;
	switch (*p) {
	case 'k': case 'K': shift = 10; p++; break;
	case 'm': case 'M': shift = 20; p++; break;
	case 'g': case 'G': shift = 30; p++; break;
	case 't': case 'T': shift = 40; p++; break;
	}
	if (shift && (*p == 'i' || *p == 'I'))
		p++;
	if (*p == 'B' || *p == 'b')
		p++;
	if (*p)
		return -EINVAL;
	err = u64_span(s, e, &v);
	if (err)
		return err;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = v << shift;
	return 0;
}

int llmi_parse_pids(const char *s, pid_t *pids, size_t cap, size_t *n)
{
	const char *p = s;
	size_t cnt = 0, i;

	if (!s)
		return -EINVAL;
	for (;;) {
		const char *e = strchr(p, ',');
		uint64_t v;
		int err;

		if (!e)
			e = p + strlen(p);
		err = u64_span(p, e, &v);
		if (err)
			return err;
		if (v == 0 || v > INT32_MAX)
			return -ERANGE;
		for (i = 0; i < cnt; i++)
			if (pids[i] == (pid_t)v)
				return -EINVAL;
		if (cnt == cap)
			return -ERANGE;
		pids[cnt++] = (pid_t)v;
		if (!*e)
			break;
		p = e + 1;
	}
	*n = cnt;
	return 0;
}
