/* SPDX-License-Identifier: MIT */
/*
 * A streaming JSON writer for --json summaries, benchmark output and the
 * Perfetto (Chrome trace-event) timeline. Strings are escaped; NaN and Inf
 * are written as null (JSON has neither). Keys are given with each value
 * inside objects and are NULL inside arrays and at the top level.
 */
#ifndef LLMI_JSON_H
#define LLMI_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define LLMI_JSON_MAX_DEPTH 32

struct llmi_json {
	FILE *f;
	int depth;
	bool pretty;
	bool first[LLMI_JSON_MAX_DEPTH];
	int err;	/* sticky: -EIO, or -E2BIG when nesting passed LLMI_JSON_MAX_DEPTH */
	int over;	/* levels opened beyond the limit: written as nothing */
};

void llmi_json_init(struct llmi_json *j, FILE *f, bool pretty);
void llmi_json_obj_begin(struct llmi_json *j, const char *key);
void llmi_json_obj_end(struct llmi_json *j);
void llmi_json_arr_begin(struct llmi_json *j, const char *key);
void llmi_json_arr_end(struct llmi_json *j);
void llmi_json_str(struct llmi_json *j, const char *key, const char *v);	/* NULL -> null */
void llmi_json_u64(struct llmi_json *j, const char *key, uint64_t v);
void llmi_json_i64(struct llmi_json *j, const char *key, int64_t v);
void llmi_json_double(struct llmi_json *j, const char *key, double v);
void llmi_json_bool(struct llmi_json *j, const char *key, bool v);
void llmi_json_null(struct llmi_json *j, const char *key);
/*
 * Ends the top-level value with a newline and flushes; -EIO if any write
 * failed, -E2BIG if values nested deeper than LLMI_JSON_MAX_DEPTH were left
 * out. Another top-level value may follow (one JSON document per line).
 */
int llmi_json_finish(struct llmi_json *j);

#endif
