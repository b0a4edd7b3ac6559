// SPDX-License-Identifier: MIT
/*
 * The rank a tracer's file holds, and its shard's name (rank.h). The
 * agent reads the same variables inside each process and tags every tensor
 * (user/agent); this is the file's own, for the header and the name.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trace/rank.h"

/* A decimal from 0 to INT32_MAX, whole: its value; else -1. */
static int32_t number(const char *s, size_t n)
{
	int64_t v = 0;

	if (!n || n > 10)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v > INT32_MAX ? -1 : (int32_t)v;
}

int trace_rank_parse(const char *s, struct trace_rank *r)
{
	const char *slash = strchr(s, '/');
	int32_t rank = number(s, slash ? (size_t)(slash - s) : strlen(s));
	int32_t world = slash ? number(slash + 1, strlen(slash + 1)) : -1;

	if (rank < 0 || (slash && world <= 0) || (world > 0 && rank >= world))
		return -EINVAL;
	r->rank = rank;
	r->world_size = world;
	r->local_rank = -1;
	return 0;
}

/* The value of name in env (n bytes, NUL-separated), or getenv() with no env. */
static int32_t env_number(const char *env, size_t n, const char *name)
{
	size_t k = strlen(name);

	if (!env) {
		const char *v = getenv(name);

		return v ? number(v, strlen(v)) : -1;
	}
	for (size_t i = 0; i < n;) {
		const char *e = env + i;
		size_t len = strnlen(e, n - i);

		if (len > k && !memcmp(e, name, k) && e[k] == '=')
			return number(e + k + 1, len - k - 1);
		i += len + 1;
	}
	return -1;
}

void trace_rank_from_env(const char *env, size_t n, struct trace_rank *r)
{
	r->rank = env_number(env, n, "RANK");
	r->world_size = env_number(env, n, "WORLD_SIZE");
	r->local_rank = env_number(env, n, "LOCAL_RANK");
	if (r->world_size == 0 || (r->rank >= 0 && r->world_size > 0 && r->rank >= r->world_size))
		r->rank = r->world_size = -1;	/* inconsistent: neither is trusted */
}

int trace_rank_of_pid(pid_t pid, struct trace_rank *r)
{
	char path[64], *buf = NULL;
	size_t n = 0, cap = 0;
	int fd, err = 0;

	*r = TRACE_RANK_NONE;
	snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t k;

		if (n == cap) {
			char *p = realloc(buf, cap ? 2 * cap : 16384);

			if (!p || cap >= (16u << 20)) {	/* an environment is smaller */
				free(p ? p : buf);
				buf = NULL;
				err = -ENOMEM;
				break;
			}
			buf = p;
			cap = cap ? 2 * cap : 16384;
		}
		k = read(fd, buf + n, cap - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			err = -errno;
			break;
		}
		if (!k)
			break;
		n += (size_t)k;
	}
	close(fd);
	if (!err)
		trace_rank_from_env(buf, n, r);
	free(buf);
	return err;
}

void trace_rank_merge(struct trace_rank *a, const struct trace_rank *b)
{
	if (a->rank != b->rank)
		a->rank = -1;
	if (a->world_size != b->world_size)
		a->world_size = -1;
	if (a->local_rank != b->local_rank)
		a->local_rank = -1;
}

int trace_shard_path(const char *out, int32_t rank, char *buf, size_t len)
{
	size_t n = strlen(out);
	struct stat st;
	int k;

	if (!n || (out[n - 1] != '/' && (stat(out, &st) || !S_ISDIR(st.st_mode))))
		return 0;
	if (rank < 0)
		return -ENOENT;
	while (n > 0 && out[n - 1] == '/')
		n--;
	k = snprintf(buf, len, "%.*s/rank-%d.llmi", (int)n, out, (int)rank);
	return k < 0 || (size_t)k >= len ? -ENAMETOOLONG : 1;
}
