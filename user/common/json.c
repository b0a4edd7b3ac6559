// SPDX-License-Identifier: MIT
/*
 * The JSON writer behind every --json and the Perfetto timeline. It streams
 * (a timeline has millions of slices; nothing is built in memory) and never
 * writes invalid JSON whatever it is given: control characters and quotes
 * are escaped, valid UTF-8 passes through, bytes that are not UTF-8 (a
 * kernel name read from a damaged binary, a path) become U+FFFD, and NaN and
 * Inf, which JSON lacks, become null.
 *
 * Doubles are written with the fewest digits that read back to the same
 * value (15, else 17 significant digits), so figures stay readable.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"

void llmi_json_init(struct llmi_json *j, FILE *f, bool pretty)
{
	memset(j, 0, sizeof(*j));
	j->f = f;
	j->pretty = pretty;
	j->first[0] = true;
}

static void indent(struct llmi_json *j)
{
	int i;

	fputc('\n', j->f);
	for (i = 0; i < j->depth; i++)
		fputs("  ", j->f);
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when it is not one. */
static int utf8_len(const unsigned char *s)
{
	unsigned c = s[0];

	if (c >= 0xc2 && c <= 0xdf)
		return (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] >= 0xa0))
			return 0;	/* overlong, surrogate */
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
			return 0;
		if ((c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] >= 0x90))
			return 0;	/* overlong, above U+10FFFF */
		return 4;
	}
	return 0;
}

static void put_string(struct llmi_json *j, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	FILE *f = j->f;

	fputc('"', f);
	while (*s) {
		unsigned c = *s;

		if (c == '"' || c == '\\') {
			fputc('\\', f);
			fputc((int)c, f);
		} else if (c < 0x20) {
			switch (c) {
			case '\n': fputs("\\n", f); break;
			case '\t': fputs("\\t", f); break;
			case '\r': fputs("\\r", f); break;
			case '\b': fputs("\\b", f); break;
			case '\f': fputs("\\f", f); break;
			default: fprintf(f, "\\u%04x", c); break;
			}
		} else if (c < 0x80) {
			fputc((int)c, f);
		} else {
			/* the checks in utf8_len stop at the first non-continuation byte, so a NUL */
			int n = utf8_len(s);

			if (n) {
				fwrite(s, 1, (size_t)n, f);
				s += n;
				continue;
			}
			fputs("\\ufffd", f);
		}
		s++;
	}
	fputc('"', f);
}

/* Separator, indentation and key before a value. */
static bool begin_value(struct llmi_json *j, const char *key)
{
	if (j->over)
		return false;
	if (!j->first[j->depth])
		fputc(',', j->f);
	if (j->pretty && j->depth)
		indent(j);
	j->first[j->depth] = false;
	if (key && j->depth) {
		put_string(j, key);
		fputs(j->pretty ? ": " : ":", j->f);
	}
	return true;
}

static void open_(struct llmi_json *j, const char *key, char c)
{
	/* too deep: leave the whole value out so the document stays valid */
	if (j->over || j->depth + 1 >= LLMI_JSON_MAX_DEPTH) {
		j->over++;
		j->err = j->err ? j->err : -E2BIG;
		return;
	}
	begin_value(j, key);
	fputc(c, j->f);
	j->depth++;
	j->first[j->depth] = true;
}

static void close_(struct llmi_json *j, char c)
{
	bool empty = j->first[j->depth];

	if (j->over) {
		j->over--;
		return;
	}
	if (j->depth > 0)
		j->depth--;
	if (j->pretty && !empty)
		indent(j);
	fputc(c, j->f);
}

void llmi_json_obj_begin(struct llmi_json *j, const char *key)
{
	open_(j, key, '{');
}

void llmi_json_obj_end(struct llmi_json *j)
{
	close_(j, '}');
}

void llmi_json_arr_begin(struct llmi_json *j, const char *key)
{
	open_(j, key, '[');
}

void llmi_json_arr_end(struct llmi_json *j)
{
	close_(j, ']');
}

void llmi_json_str(struct llmi_json *j, const char *key, const char *v)
{
	if (!begin_value(j, key))
		return;
	if (v)
		put_string(j, v);
	else
		fputs("null", j->f);
}

void llmi_json_u64(struct llmi_json *j, const char *key, uint64_t v)
{
	if (!begin_value(j, key))
		return;
	fprintf(j->f, "%" PRIu64, v);
}

void llmi_json_i64(struct llmi_json *j, const char *key, int64_t v)
{
	if (!begin_value(j, key))
		return;
	fprintf(j->f, "%" PRId64, v);
}

void llmi_json_double(struct llmi_json *j, const char *key, double v)
{
	char buf[32];

	if (!begin_value(j, key))
		return;
	if (!isfinite(v)) {
		fputs("null", j->f);
		return;
	}
	snprintf(buf, sizeof(buf), "%.15g", v);
	if (strtod(buf, NULL) != v)
		snprintf(buf, sizeof(buf), "%.17g", v);
	fputs(buf, j->f);
}

void llmi_json_bool(struct llmi_json *j, const char *key, bool v)
{
	if (!begin_value(j, key))
		return;
	fputs(v ? "true" : "false", j->f);
}

void llmi_json_null(struct llmi_json *j, const char *key)
{
	if (!begin_value(j, key))
		return;
	fputs("null", j->f);
}

int llmi_json_finish(struct llmi_json *j)
{
	fputc('\n', j->f);
	if (fflush(j->f) || ferror(j->f))
		j->err = -EIO;
	j->first[0] = true;
	return j->err;
}
