// SPDX-License-Identifier: MIT
/*
 * The numpy .npy writer behind llminstr-dump export (format version 1.0:
 * the magic "\x93NUMPY", version 1.0, a little-endian u16 header length, a
 * Python dict literal padded with spaces and ended by a newline so that the
 * data starts on a 64-byte boundary, then the data in C order), and the
 * sanitising of names read from files before they reach a terminal.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "dump/dump.h"

void dump_printable(char *s)
{
	for (; *s; s++)
		if (!isprint((unsigned char)*s))
			*s = '?';
}

int dump_write_npy(FILE *f, const char *descr, const struct llmi_tensor_rec *t,
		   const void *data, size_t len)
{
	char dict[512], shape[256];
	size_t o = 0, hl;
	uint16_t hl16;

	shape[0] = 0;
	for (unsigned d = 0; d < t->ndim; d++)
		o += snprintf(shape + o, sizeof(shape) - o, "%llu,%s", (unsigned long long)t->shape[d],
			      d + 1 < t->ndim ? " " : "");
	if (t->ndim > 1)
		shape[o - 1] = 0;	/* (a, b) but (a,) for one dimension */
	o = snprintf(dict, sizeof(dict), "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }",
		     descr, shape);
	/* magic(6) + version(2) + len(2) + dict + pad + '\n' is a multiple of 64. */
	hl = (10 + o + 1 + 63) / 64 * 64 - 10;
	memset(dict + o, ' ', hl - o - 1);
	dict[hl - 1] = '\n';
	hl16 = hl;
	if (fwrite("\x93NUMPY\x01\x00", 1, 8, f) != 8 || fwrite(&hl16, 2, 1, f) != 1 ||
	    fwrite(dict, 1, hl, f) != hl || (len && fwrite(data, 1, len, f) != len))
		return -EIO;
	return 0;
}
