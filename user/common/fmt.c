// SPDX-License-Identifier: MIT
/* See fmt.h. */
#include <stdio.h>

#include "common/fmt.h"

const char *llmi_fmt_bytes(char *buf, size_t len, uint64_t bytes)
{
	static const char *const u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)bytes;
	int i = 0;

	while (v >= 1024 && i < 4) {
		v /= 1024;
		i++;
	}
	snprintf(buf, len, i ? "%.1f %s" : "%.0f %s", v, u[i]);
	return buf;
}
