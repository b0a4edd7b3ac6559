/* SPDX-License-Identifier: MIT */
/*
 * A private directory for the container writer's tests, on the project's
 * disk under build/tests rather than in /tmp (often a tmpfs), so that
 * O_DIRECT and io_uring meet a real filesystem. Each test file keeps its
 * own directory name in `dir` and uses these as its cmocka group setup and
 * teardown.
 */
#ifndef LLMI_TEST_DISKDIR_H
#define LLMI_TEST_DISKDIR_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

/* build/tests/PREFIX-XXXXXX, made; 0 or -1. */
static inline int diskdir_make(char *dir, size_t len, const char *prefix)
{
	snprintf(dir, len, "build/tests/%s-XXXXXX", prefix);
	if (mkdir("build/tests", 0755) && errno != EEXIST)
		return -1;
	return mkdtemp(dir) ? 0 : -1;
}

/* The directory and what the tests left in it. */
static inline int diskdir_remove(const char *dir)
{
	char cmd[192];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

#endif
