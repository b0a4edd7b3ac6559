/* SPDX-License-Identifier: MIT */
/*
 * "llminstr-trace -- CMD": the command the tracer starts. It is found and
 * checked before anything is loaded (a command that cannot run is answered
 * as a shell answers it: one line, exit 127 or 126, nothing traced), its
 * CUDA libraries are learnt without running it (its ELF program headers,
 * then the loader it names in list mode), and it is started held before
 * exec until every probe is attached. The tracer's exit status is then the
 * command's (128+N when a signal N killed it), as time(1) and strace give.
 */
#ifndef LLMI_TRACE_CMD_H
#define LLMI_TRACE_CMD_H

#include <limits.h>
#include <stddef.h>
#include <signal.h>
#include <sys/types.h>

enum trace_cmd_kind {
	TRACE_CMD_OTHER,	/* not ELF: a #! script (its interpreter maps the libraries) */
	TRACE_CMD_STATIC,	/* ELF without PT_INTERP: nothing is loaded but the file itself */
	TRACE_CMD_DYNAMIC,	/* ELF with PT_INTERP: the loader maps DT_NEEDED */
};

struct trace_cmd {
	char path[PATH_MAX];	/* the file executed: CMD, or CMD found in PATH */
	char real[PATH_MAX];	/* its canonical path, the file probed */
	char interp[PATH_MAX];	/* PT_INTERP of a dynamic executable, else "" */
	enum trace_cmd_kind kind;
};

/*
 * Finds cmd as execvp(3) would (a name without '/' in PATH) and checks
 * that it can be executed. 0, or the exit status a shell gives a command
 * that cannot run (127: not found, 126: found but not executable) with one
 * line in err saying why.
 */
int trace_cmd_find(const char *cmd, struct trace_cmd *c, char *err, size_t len);

/*
 * The shared libraries a dynamic command will map at start, from its
 * loader in list mode (see cmd.c for why): fn(ctx, path) for each, in
 * load order; fn's non-zero return stops the walk and is returned.
 * 0 for a static command or a script (nothing to ask), -ENOEXEC when
 * PT_INTERP is not an ELF shared object for this machine (nothing was run),
 * -ETIMEDOUT when the loader did not answer, or -errno.
 */
int trace_cmd_libs(const struct trace_cmd *c, int (*fn)(void *ctx, const char *path), void *ctx);

/* A started command held before exec: see trace_cmd_spawn(). */
struct trace_cmd_gate {
	pid_t pid;
	int go;			/* write end: one byte lets the child exec */
	int result;		/* read end: EOF once exec succeeded, else its errno */
};

/*
 * Forks a child that waits on g->go, then executes c->path with argv (a
 * file without #! and not ELF runs under /bin/sh, as execvp does). The
 * child exits 126 without running anything if the gate is closed unused
 * (trace_cmd_abandon, or the tracer died). mask (NULL: the caller's) is
 * the signal mask CMD starts with: the tracer blocks the signals it reads
 * through a signalfd, and CMD must not inherit that. Returns the pid or
 * -errno.
 */
pid_t trace_cmd_spawn(const struct trace_cmd *c, char **argv, const sigset_t *mask,
		      struct trace_cmd_gate *g);

/*
 * Lets the child exec and waits until it did: 0 once CMD runs, or the
 * -errno of the failed exec (the child then exits 127 or 126 unrun).
 */
int trace_cmd_release(struct trace_cmd_gate *g);

/* Closes an unused gate: the child exits without running CMD. */
void trace_cmd_abandon(struct trace_cmd_gate *g);

/* The shell's view of a wait status: the exit code, or 128+N after signal N. */
int trace_cmd_exit_status(int wstatus);

/* 127 for a command that is not there, 126 for one that cannot be executed. */
int trace_cmd_errno_status(int err);

#endif
