/* SPDX-License-Identifier: MIT */
/*
 * Strict parsing of command-line values: the whole string must be the
 * number ("12ms" and "abc" are errors, not 12 and 0). 0 or -EINVAL/-ERANGE.
 */
#ifndef LLMI_PARSE_H
#define LLMI_PARSE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

int llmi_parse_u64(const char *s, uint64_t *out);		/* decimal, no sign */
int llmi_parse_double(const char *s, double *out);		/* finite */
int llmi_parse_seconds(const char *s, double *out);		/* finite, > 0 */
/* Bytes with an optional K/M/G/T suffix (binary; "KiB", "MB" also accepted). */
int llmi_parse_size(const char *s, uint64_t *out);
/* "1234" or "12,34,56": pids > 0, at most cap, no duplicates. */
int llmi_parse_pids(const char *s, pid_t *pids, size_t cap, size_t *n);

#endif
