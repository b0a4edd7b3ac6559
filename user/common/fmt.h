/* SPDX-License-Identifier: MIT */
/*
 * Small helpers every tool's human-readable output shares: byte counts with
 * binary units. Output files are created by io/outfile.h.
 */
#ifndef LLMI_FMT_H
#define LLMI_FMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* "512 B", "1.5 KiB", "16.1 MiB"...; returns buf. */
const char *llmi_fmt_bytes(char *buf, size_t len, uint64_t bytes);

#endif
