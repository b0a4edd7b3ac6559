// SPDX-License-Identifier: MIT
/*
 * The command of "llminstr-trace -- CMD" (see cmd.h).
 *
 * Its libraries must be known before it runs: a CUDA program registers its
 * kernels from constructors, before main, and a probe attached later misses
 * them. The tracer never runs the command itself to learn them (it runs as
 * root: a second, argument-less run of the user's program is harm, and a
 * static program ignores LD_TRACE_LOADED_OBJECTS and simply runs). Instead:
 *
 * - no PT_INTERP: a static executable (or static-pie). Nothing else is
 *   mapped at start; the executable itself is probed if it defines the
 *   runtime (static cudart).
 * - PT_INTERP: the loader it names is asked in list mode, "INTERP --list
 *   EXE" (what ldd does): it maps the executable and its libraries, resolves
 *   them and prints the list, and exits without relocating or running any of
 *   the program's code. It is only run when PT_INTERP is an ELF shared
 *   object for the same machine (a loader): an arbitrary file named there is
 *   never executed.
 *
 * Why the loader rather than our own DT_NEEDED resolver: the answer has to
 * be the file the loader will map, and the loader's search is more than
 * DT_NEEDED + DT_RPATH/DT_RUNPATH ($ORIGIN, $LIB, $PLATFORM) + LD_LIBRARY_PATH
 * + /etc/ld.so.cache + default directories: LD_PRELOAD, glibc-hwcaps
 * subdirectories, the cache's format versions, RUNPATH's non-inheritance,
 * secure mode, musl's own rules. A resolver that differs in one of these
 * probes a libcudart the process does not map, and the registrations of the
 * one it does map are lost. The loader in list mode is exact by
 * construction and runs nothing of the program; it is the code the command
 * would run first anyway, with the same environment and credentials.
 * Anything mapped later (dlopen, a script's interpreter loading torch) is
 * found in /proc/PID/maps while tracing.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "trace/cmd.h"

#define LIST_TIMEOUT_MS 30000	/* the loader only maps files: generous */

extern char **environ;

int trace_cmd_errno_status(int err)
{
	if (err < 0)
		err = -err;
	return err == ENOENT || err == ENOTDIR ? 127 : 126;
}

int trace_cmd_exit_status(int wstatus)
{
	if (WIFEXITED(wstatus))
		return WEXITSTATUS(wstatus);
	if (WIFSIGNALED(wstatus))
		return 128 + WTERMSIG(wstatus);
	return 1;
}

/* What execve would say of path: 0 or -errno. */
static int runnable(const char *path)
{
	struct stat st;

	if (stat(path, &st))
		return -errno;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (!S_ISREG(st.st_mode))
		return -EACCES;		/* execve refuses devices, fifos, sockets */
	if (access(path, X_OK))
		return -errno;		/* no x bit (even for root), or a noexec mount */
	return 0;
}

static int say(char *err, size_t len, int status, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int say(char *err, size_t len, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return status;
}

/* The PATH search of execvp(3): the first executable file; EACCES if only unexecutable ones. */
static int search_path(const char *cmd, char *out, size_t len)
{
	const char *path = getenv("PATH");
	int seen = -ENOENT;

	if (!path)
		path = "/bin:/usr/bin";	/* confstr(_CS_PATH), as execvp */
	for (const char *p = path;; ) {
		const char *c = strchrnul(p, ':');
		int n = c == p ? snprintf(out, len, "%s", cmd)	/* an empty entry: "." */
			       : snprintf(out, len, "%.*s/%s", (int)(c - p), p, cmd);
		int r = n > 0 && (size_t)n < len ? runnable(out) : -ENAMETOOLONG;

		if (!r)
			return 0;
		if (r == -EACCES || r == -EISDIR)
			seen = -EACCES;
		if (!*c)
			break;
		p = c + 1;
	}
	return seen;
}

/* ELF or not; for ELF its PT_INTERP (or ""), and its machine. 0 or -errno. */
static int read_interp(const char *path, char *interp, size_t len, bool *is_elf,
		       unsigned *machine, int *cls)
{
	unsigned char magic[4] = { 0 };
	size_t nph;
	Elf *elf = NULL;
	int fd, err = 0;

	*is_elf = false;
	interp[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (pread(fd, magic, sizeof(magic), 0) != (ssize_t)sizeof(magic) ||
	    memcmp(magic, ELFMAG, SELFMAG))
		goto out;
	*is_elf = true;
	if (elf_version(EV_CURRENT) == EV_NONE || !(elf = elf_begin(fd, ELF_C_READ, NULL)) ||
	    elf_kind(elf) != ELF_K_ELF || elf_getphdrnum(elf, &nph)) {
		err = -ENOEXEC;
		goto out;
	}
	{
		GElf_Ehdr eh;

		if (!gelf_getehdr(elf, &eh)) {
			err = -ENOEXEC;
			goto out;
		}
		*machine = eh.e_machine;
		*cls = gelf_getclass(elf);
	}
	for (size_t i = 0; i < nph; i++) {
		GElf_Phdr ph;
		ssize_t n;

		if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_INTERP)
			continue;
		/* a NUL-terminated path inside the segment, or the file is not loadable */
		if (ph.p_filesz < 2 || ph.p_filesz > len) {
			err = -ENOEXEC;
			goto out;
		}
		n = pread(fd, interp, ph.p_filesz, (off_t)ph.p_offset);
		if (n != (ssize_t)ph.p_filesz || interp[ph.p_filesz - 1] != '\0' ||
		    strlen(interp) == 0) {
			interp[0] = '\0';
			err = -ENOEXEC;
		}
		break;
	}
out:
	elf_end(elf);
	close(fd);
	return err;
}

/* A #! script whose interpreter is missing or not executable: -errno, else 0. */
static int script_interp(const char *path, char *interp, size_t len)
{
	char line[256];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	interp[0] = '\0';
	if (fd < 0)
		return 0;	/* unreadable but executable: execve decides */
	n = read(fd, line, sizeof(line) - 1);
	close(fd);
	if (n < 3 || line[0] != '#' || line[1] != '!')
		return 0;
	line[n] = '\0';
	{
		char *p = line + 2 + strspn(line + 2, " \t");
		size_t l = strcspn(p, " \t\n");

		if (!l || l >= len)
			return 0;	/* the kernel's rules for odd lines are its own */
		memcpy(interp, p, l);
		interp[l] = '\0';
	}
	return runnable(interp);
}

int trace_cmd_find(const char *cmd, struct trace_cmd *c, char *err, size_t len)
{
	char si[PATH_MAX];
	bool is_elf;
	unsigned machine = 0;
	int cls = 0, r;

	memset(c, 0, sizeof(*c));
	if (!*cmd)
		return say(err, len, 127, "cannot run '': no command given after --");
	if (strchr(cmd, '/')) {
		if (strlen(cmd) >= sizeof(c->path))
			return say(err, len, 126, "cannot run %.64s...: %s", cmd, strerror(ENAMETOOLONG));
		strcpy(c->path, cmd);
		r = runnable(c->path);
	} else {
		r = search_path(cmd, c->path, sizeof(c->path));
		if (r == -ENOENT)
			return say(err, len, 127, "cannot run %s: command not found in PATH", cmd);
		if (r)
			strcpy(c->path, cmd);
	}
	if (r)
		return say(err, len, trace_cmd_errno_status(r), "cannot run %s: %s%s", c->path,
			   strerror(-r), r == -EACCES ? " (not an executable file)" : "");
	if (!realpath(c->path, c->real))
		return say(err, len, trace_cmd_errno_status(errno), "cannot run %s: %s", c->path,
			   strerror(errno));
	r = read_interp(c->real, c->interp, sizeof(c->interp), &is_elf, &machine, &cls);
	if (r == -ENOEXEC)
		return say(err, len, 126, "cannot run %s: a damaged ELF file (Exec format error)",
			   c->path);
	if (r)
		return say(err, len, trace_cmd_errno_status(r), "cannot run %s: %s", c->path,
			   strerror(-r));
	if (!is_elf) {
		c->kind = TRACE_CMD_OTHER;
		r = script_interp(c->real, si, sizeof(si));
		if (r)
			return say(err, len, 126, "cannot run %s: its interpreter %s: %s", c->path,
				   si, strerror(-r));
		return 0;
	}
	c->kind = c->interp[0] ? TRACE_CMD_DYNAMIC : TRACE_CMD_STATIC;
	return 0;
}

/* PT_INTERP names an ELF shared object (ET_DYN) of the executable's machine and class. */
static bool is_loader(const struct trace_cmd *c)
{
	char dummy[PATH_MAX];
	unsigned m_exe = 0, m_ld = 1;
	int c_exe = 0, c_ld = 1;
	bool elf;
	struct stat st;
	GElf_Ehdr eh;
	Elf *e;
	int fd;

	if (stat(c->interp, &st) || !S_ISREG(st.st_mode) || access(c->interp, X_OK))
		return false;
	if (read_interp(c->real, dummy, sizeof(dummy), &elf, &m_exe, &c_exe) || !elf)
		return false;
	fd = open(c->interp, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	e = elf_begin(fd, ELF_C_READ, NULL);
	if (e && elf_kind(e) == ELF_K_ELF && gelf_getehdr(e, &eh) && eh.e_type == ET_DYN) {
		m_ld = eh.e_machine;
		c_ld = gelf_getclass(e);
	}
	elf_end(e);
	close(fd);
	return m_ld == m_exe && c_ld == c_exe;
}

/* The environment minus the variables that make a list-mode loader do more. */
static char **list_env(void)
{
	static const char *const drop[] = {
		"LD_WARN=", "LD_VERBOSE=", "LD_TRACE_LOADED_OBJECTS=", "LD_TRACE_PRELINKING=",
		"LD_DEBUG=", "LD_DEBUG_OUTPUT=", "LD_PROFILE=", "LD_AUDIT=",
	};
	size_t n = 0, k = 0;
	char **env;

	while (environ && environ[n])
		n++;
	env = calloc(n + 1, sizeof(*env));
	if (!env)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		bool keep = true;

		for (size_t d = 0; d < sizeof(drop) / sizeof(drop[0]) && keep; d++)
			keep = strncmp(environ[i], drop[d], strlen(drop[d])) != 0;
		if (keep)
			env[k++] = environ[i];
	}
	return env;
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/*
 * One line of the list: "\tNAME => PATH (0xADDR)", "\tPATH (0xADDR)",
 * "\tNAME (0xADDR)" (the vDSO) or "\tNAME => not found". The path, or NULL.
 */
static char *list_path(char *line)
{
	char *p = strstr(line, " => "), *end;

	p = p ? p + 4 : line + strspn(line, " \t");
	if (*p != '/')
		return NULL;
	end = strstr(p, " (0x");
	if (end)
		*end = '\0';
	p[strcspn(p, "\n")] = '\0';
	return p;
}

int trace_cmd_libs(const struct trace_cmd *c, int (*fn)(void *ctx, const char *path), void *ctx)
{
	char *argv[] = { (char *)c->interp, (char *)"--list", (char *)c->real, NULL };
	char buf[PATH_MAX + 128], **env;
	size_t have = 0;
	struct timespec t0;
	int fd[2], err = 0, st;
	bool eof = false;
	pid_t pid;

	if (c->kind != TRACE_CMD_DYNAMIC)
		return 0;
	if (!is_loader(c))
		return -ENOEXEC;
	env = list_env();
	if (!env)
		return -ENOMEM;
	if (pipe2(fd, O_CLOEXEC)) {
		err = -errno;
		free(env);
		return err;
	}
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);

		if (dup2(fd[1], 1) < 0 || null < 0 || dup2(null, 0) < 0 || dup2(null, 2) < 0)
			_exit(127);
		execve(c->interp, argv, env);
		_exit(127);
	}
	err = pid < 0 ? -errno : 0;
	close(fd[1]);
	free(env);
	if (err) {
		close(fd[0]);
		return err;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!eof) {
		struct pollfd p = { .fd = fd[0], .events = POLLIN };
		long left = LIST_TIMEOUT_MS - ms_since(&t0);
		ssize_t n;
		char *nl;

		if (left <= 0 || poll(&p, 1, (int)left) == 0) {
			err = -ETIMEDOUT;
			kill(pid, SIGKILL);
			break;
		}
		n = read(fd[0], buf + have, sizeof(buf) - 1 - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			eof = true;
			if (!have)
				break;
			buf[have++] = '\n';	/* the last line, unterminated */
		} else {
			have += (size_t)n;
		}
		buf[have] = '\0';
		while ((nl = memchr(buf, '\n', have))) {
			char *path;

			*nl = '\0';
			path = list_path(buf);
			if (path && !err)
				err = fn(ctx, path);
			have -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, have);
		}
		if (have == sizeof(buf) - 1)
			have = 0;	/* a line longer than any path: not a library */
	}
	close(fd[0]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return err;
}

pid_t trace_cmd_spawn(const struct trace_cmd *c, char **argv, const sigset_t *mask,
		      struct trace_cmd_gate *g)
{
	int go[2], res[2], err;
	size_t argc = 0;
	char **sh;
	pid_t pid;

	g->pid = -1;
	g->go = g->result = -1;
	while (argv[argc])
		argc++;
	/* a file the kernel will not execute runs under sh, as execvp does (built before fork) */
	sh = calloc(argc + 2, sizeof(*sh));
	if (!sh)
		return -ENOMEM;
	sh[0] = (char *)"/bin/sh";
	sh[1] = (char *)c->path;
	for (size_t i = 1; i < argc; i++)
		sh[i + 1] = argv[i];
	if (pipe2(go, O_CLOEXEC)) {
		err = -errno;
		free(sh);
		return err;
	}
	if (pipe2(res, O_CLOEXEC)) {
		err = -errno;
		close(go[0]);
		close(go[1]);
		free(sh);
		return err;
	}
	pid = fork();
	if (pid == 0) {
		char ch;

		close(go[1]);
		close(res[0]);
		if (read(go[0], &ch, 1) != 1)
			_exit(126);	/* abandoned: the tracer could not attach */
		if (mask)
			sigprocmask(SIG_SETMASK, mask, NULL);
		execv(c->path, argv);
		err = errno;
		if (err == ENOEXEC && c->kind == TRACE_CMD_OTHER) {
			execv(sh[0], sh);
			err = errno;
		}
		if (write(res[1], &err, sizeof(err)) != (ssize_t)sizeof(err))
			(void)0;
		_exit(trace_cmd_errno_status(err));
	}
	err = pid < 0 ? -errno : 0;
	close(go[0]);
	close(res[1]);
	free(sh);
	if (err) {
		close(go[1]);
		close(res[0]);
		return err;
	}
	g->pid = pid;
	g->go = go[1];
	g->result = res[0];
	return pid;
}

int trace_cmd_release(struct trace_cmd_gate *g)
{
	int e = 0;
	ssize_t n;

	if (g->go < 0)
		return -EBADF;
	if (write(g->go, "g", 1) != 1)
		(void)0;	/* the child is gone: its wait status says how */
	close(g->go);
	g->go = -1;
	do
		n = read(g->result, &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	close(g->result);
	g->result = -1;
	return n == (ssize_t)sizeof(e) && e > 0 ? -e : 0;
}

void trace_cmd_abandon(struct trace_cmd_gate *g)
{
	if (g->go >= 0)
		close(g->go);
	if (g->result >= 0)
		close(g->result);
	g->go = g->result = -1;
}
