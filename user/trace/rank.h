/* SPDX-License-Identifier: MIT */
/*
 * Which rank of a parallel run a tracer's file holds (the file header's
 * rank, world_size and local_rank, format 1.2), and the shard it is
 * written to when -o names a directory: DIR/rank-R.llmi. The rank comes
 * from --rank R[/WORLD], else from the target's environment (RANK,
 * WORLD_SIZE, LOCAL_RANK, as torchrun and torch.distributed set them): the
 * command's own with -- CMD, /proc/PID/environ with -p (every PID must
 * agree, or the file holds several ranks and says none). Pure functions
 * over text, apart from the /proc read, so the unit tests drive them.
 */
#ifndef LLMI_TRACE_RANK_H
#define LLMI_TRACE_RANK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct trace_rank {
	int32_t rank, world_size, local_rank;	/* -1: not known */
};

#define TRACE_RANK_NONE ((struct trace_rank){ -1, -1, -1 })

/* --rank R[/WORLD]: 0, or -EINVAL (R >= WORLD, not numbers, WORLD 0). */
int trace_rank_parse(const char *s, struct trace_rank *r);
/*
 * From an environment: n bytes of NUL-separated NAME=VALUE (as
 * /proc/PID/environ), or NULL and the process's own (getenv). A value that
 * is not a decimal number, or a RANK not under WORLD_SIZE, is not known.
 */
void trace_rank_from_env(const char *env, size_t n, struct trace_rank *r);
/* From /proc/PID/environ (its environment at exec): 0 or -errno. */
int trace_rank_of_pid(pid_t pid, struct trace_rank *r);
/* a and b the same rank: a unchanged; else what is not the same is -1 in a. */
void trace_rank_merge(struct trace_rank *a, const struct trace_rank *b);

/*
 * -o out as a shard directory. When out ends in '/' or is a directory: 1
 * with out/rank-R.llmi in buf, -ENOENT when rank is -1 (the caller says
 * what to do), -ENAMETOOLONG when buf is too small. 0 when out is a file
 * name (buf untouched).
 */
int trace_shard_path(const char *out, int32_t rank, char *buf, size_t len);

#endif
