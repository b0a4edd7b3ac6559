/* SPDX-License-Identifier: MIT */
/*
 * A writer of the Arrow IPC streaming format (arrow.apache.org, "Arrow
 * Columnar Format": "Serialization and Interprocess Communication"), for
 * the columns an activation dataset has: fixed-size lists of float32,
 * float16 or uint16, and int32 and int64 scalars, each nullable. No Arrow library:
 * the Schema and RecordBatch messages are flatbuffers built here.
 *
 * A stream is arrow_schema(), any number of arrow_batch(), arrow_eos().
 */
#ifndef LLMI_ARROW_H
#define LLMI_ARROW_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum arrow_type { ARROW_F32, ARROW_F16, ARROW_U16, ARROW_I32, ARROW_I64 };

struct arrow_col {
	const char *name;
	enum arrow_type type;
	uint32_t list_size;		/* > 0: fixed_size_list<item: type>[list_size] */
	const char *meta_key, *meta_val;	/* one field metadata pair, or NULL */
};

/* One column's data in a batch: rows * list_size (or rows) values. */
struct arrow_data {
	const void *values;
	const uint8_t *validity;	/* LSB-first bitmap of rows, NULL: all valid */
	uint64_t null_count;
};

/* Each returns 0, or -1 with errno (ENOMEM, or the write's). */
int arrow_schema(FILE *f, const struct arrow_col *cols, size_t n);
int arrow_batch(FILE *f, const struct arrow_col *cols, size_t n, uint64_t rows,
		const struct arrow_data *data);
/*
 * A batch written in pieces, for one larger than memory should hold: the
 * message (data's validity and null_count are used, not values), then per
 * column in order its validity bitmap (when given) and its values, each
 * followed by arrow_pad() of its length; values may be written in pieces.
 */
int arrow_batch_head(FILE *f, const struct arrow_col *cols, size_t n, uint64_t rows,
		     const struct arrow_data *data);
int arrow_pad(FILE *f, uint64_t len);
int arrow_eos(FILE *f);

#endif
