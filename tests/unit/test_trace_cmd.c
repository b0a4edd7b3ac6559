// SPDX-License-Identifier: MIT
/*
 * The command of "llminstr-trace -- CMD" (user/trace/cmd.c), without BPF:
 * a command that cannot run is answered as a shell answers (127, 126) with
 * a reason; learning a command's libraries never runs it (static, dynamic,
 * and a PT_INTERP that is not a loader); a started command is held before
 * exec until released, runs exactly once with its arguments, and its wait
 * status becomes the shell's exit status.
 *
 * Fixtures (user/trace/build.mk): fixtures/cmd_{static,dynamic,badinterp},
 * one program that writes ran.PID with its arguments into $MARKER_DIR.
 */
#include <setjmp.h>
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "trace/cmd.h"

static char fixtures[PATH_MAX];
static char marks[] = "/tmp/test_trace_cmd.XXXXXX";

static const char *fixture(const char *name)
{
	static char buf[PATH_MAX + 64];

	snprintf(buf, sizeof(buf), "%s/%s", fixtures, name);
	return buf;
}

/* How many times a fixture ran since the last call; the arguments of the last run. */
static int runs(char *args, size_t len)
{
	struct dirent *d;
	DIR *dir = opendir(marks);
	int n = 0;

	assert_non_null(dir);
	if (args)
		args[0] = '\0';
	while ((d = readdir(dir))) {
		char path[PATH_MAX];
		FILE *f;

		if (strncmp(d->d_name, "ran.", 4))
			continue;
		snprintf(path, sizeof(path), "%s/%s", marks, d->d_name);
		f = fopen(path, "r");
		if (f && args) {
			size_t got = fread(args, 1, len - 1, f);

			args[got] = '\0';
		}
		if (f)
			fclose(f);
		unlink(path);
		n++;
	}
	closedir(dir);
	return n;
}

static int count_lib(void *ctx, const char *path)
{
	int *n = ctx;

	assert_int_equal(path[0], '/');
	(*n)++;
	return 0;
}

static void expect_refused(const char *cmd, int status, const char *why)
{
	struct trace_cmd c;
	char err[512] = "";

	assert_int_equal(trace_cmd_find(cmd, &c, err, sizeof(err)), status);
	if (!strstr(err, why) || strchr(err, '\n'))
		fail_msg("'%s' for %s does not say '%s' on one line", err, cmd, why);
}

static void test_find(void **state)
{
	char dir[PATH_MAX], path[PATH_MAX + 32], err[512];
	struct trace_cmd c;
	FILE *f;

	assert_int_equal(trace_cmd_find(fixture("cmd_static"), &c, err, sizeof(err)), 0);
	assert_int_equal(c.kind, TRACE_CMD_STATIC);
	assert_string_equal(c.interp, "");
	assert_int_equal(trace_cmd_find(fixture("cmd_dynamic"), &c, err, sizeof(err)), 0);
	assert_int_equal(c.kind, TRACE_CMD_DYNAMIC);
	assert_int_equal(c.interp[0], '/');
	assert_int_equal(c.real[0], '/');
	assert_int_equal(trace_cmd_find("sh", &c, err, sizeof(err)), 0);	/* PATH search */
	assert_int_equal(c.path[0], '/');

	expect_refused("/etc/passwd", 126, "Permission denied");
	expect_refused("/nonexistent/prog", 127, "No such file");
	expect_refused("no-such-command-llmi", 127, "not found in PATH");
	expect_refused("/tmp", 126, "Is a directory");
	expect_refused("", 127, "no command");

	snprintf(dir, sizeof(dir), "%s", marks);
	snprintf(path, sizeof(path), "%s/bad.sh", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("#!/nonexistent/interp\necho hi\n", f);
	fclose(f);
	assert_int_equal(chmod(path, 0755), 0);
	expect_refused(path, 126, "interpreter /nonexistent/interp");
	f = fopen(path, "w");
	fputs("#!/bin/sh\necho hi\n", f);
	fclose(f);
	assert_int_equal(trace_cmd_find(path, &c, err, sizeof(err)), 0);
	assert_int_equal(c.kind, TRACE_CMD_OTHER);
	unlink(path);
	assert_int_equal(runs(NULL, 0), 0);
}

/* Listing libraries runs nothing of the program, whatever its kind. */
static void test_libs_never_run(void **state)
{
	struct trace_cmd c;
	char err[512];
	int n = 0;

	assert_int_equal(trace_cmd_find(fixture("cmd_static"), &c, err, sizeof(err)), 0);
	assert_int_equal(trace_cmd_libs(&c, count_lib, &n), 0);
	assert_int_equal(n, 0);			/* static: nothing to map */
	assert_int_equal(runs(NULL, 0), 0);

	assert_int_equal(trace_cmd_find(fixture("cmd_dynamic"), &c, err, sizeof(err)), 0);
	assert_int_equal(trace_cmd_libs(&c, count_lib, &n), 0);
	assert_true(n >= 1);			/* libc at least, from the loader's list */
	assert_int_equal(runs(NULL, 0), 0);

	/* PT_INTERP names a static program, not a loader: never executed */
	assert_int_equal(trace_cmd_find(fixture("cmd_badinterp"), &c, err, sizeof(err)), 0);
	assert_int_equal(c.kind, TRACE_CMD_DYNAMIC);
	assert_non_null(strstr(c.interp, "cmd_static"));
	assert_int_equal(trace_cmd_libs(&c, count_lib, &n), -ENOEXEC);
	assert_int_equal(runs(NULL, 0), 0);
}

/* pid's executable is this test's own: it has not exec'd. */
static bool same_exe(pid_t pid)
{
	char a[PATH_MAX], b[PATH_MAX], p[64];
	ssize_t n, m;

	snprintf(p, sizeof(p), "/proc/%d/exe", (int)pid);
	n = readlink(p, a, sizeof(a) - 1);
	m = readlink("/proc/self/exe", b, sizeof(b) - 1);
	if (n <= 0 || m <= 0)
		return false;
	a[n] = b[m] = '\0';
	return !strcmp(a, b);
}

static int wait_status(pid_t pid)
{
	int st;

	assert_int_equal(waitpid(pid, &st, 0), pid);
	return trace_cmd_exit_status(st);
}

static void test_spawn_held(void **state)
{
	char *argv[] = { (char *)"cmd", (char *)"one", (char *)"two words", NULL };
	struct trace_cmd_gate g;
	struct trace_cmd c;
	char err[512], args[256];
	pid_t pid;

	assert_int_equal(trace_cmd_find(fixture("cmd_static"), &c, err, sizeof(err)), 0);
	pid = trace_cmd_spawn(&c, argv, NULL, &g);
	assert_true(pid > 0);
	/* held: alive, still this test program (no exec yet), nothing ran */
	assert_int_equal(waitpid(pid, NULL, WNOHANG), 0);
	assert_true(same_exe(pid));
	assert_int_equal(runs(NULL, 0), 0);
	assert_int_equal(trace_cmd_release(&g), 0);
	assert_int_equal(wait_status(pid), 0);
	assert_int_equal(runs(args, sizeof(args)), 1);	/* once, with its arguments */
	assert_string_equal(args, "one\ntwo words\n");

	/* abandoned: exits 126 without running */
	pid = trace_cmd_spawn(&c, argv, NULL, &g);
	assert_true(pid > 0);
	trace_cmd_abandon(&g);
	assert_int_equal(wait_status(pid), 126);
	assert_int_equal(runs(NULL, 0), 0);

	/* an exec that fails after the checks (the file changed): its errno, 126 */
	strcpy(c.path, "/etc/passwd");
	pid = trace_cmd_spawn(&c, argv, NULL, &g);
	assert_true(pid > 0);
	assert_int_equal(trace_cmd_release(&g), -EACCES);
	assert_int_equal(wait_status(pid), 126);
	strcpy(c.path, "/nonexistent/prog");
	pid = trace_cmd_spawn(&c, argv, NULL, &g);
	assert_int_equal(trace_cmd_release(&g), -ENOENT);
	assert_int_equal(wait_status(pid), 127);
}

static void test_exit_status(void **state)
{
	char *sh3[] = { (char *)"sh", (char *)"-c", (char *)"exit 3", NULL };
	char *shk[] = { (char *)"sh", (char *)"-c", (char *)"kill -KILL $$", NULL };
	struct trace_cmd_gate g;
	struct trace_cmd c;
	char err[512];
	pid_t pid;

	assert_int_equal(trace_cmd_find("sh", &c, err, sizeof(err)), 0);
	pid = trace_cmd_spawn(&c, sh3, NULL, &g);
	assert_int_equal(trace_cmd_release(&g), 0);
	assert_int_equal(wait_status(pid), 3);
	pid = trace_cmd_spawn(&c, shk, NULL, &g);
	assert_int_equal(trace_cmd_release(&g), 0);
	assert_int_equal(wait_status(pid), 128 + SIGKILL);
	assert_int_equal(trace_cmd_errno_status(-ENOENT), 127);
	assert_int_equal(trace_cmd_errno_status(-EACCES), 126);
}

/*
 * The tracer blocks SIGINT and SIGTERM (it reads them from a signalfd): the
 * command starts with the mask it is given, so that Ctrl-C ends it as it
 * would end it untraced. A shell that sends itself SIGINT dies of it.
 */
static void test_spawn_mask(void **state)
{
	char *shi[] = { (char *)"sh", (char *)"-c", (char *)"kill -INT $$; exit 0", NULL };
	struct trace_cmd_gate g;
	struct trace_cmd c;
	sigset_t block, old;
	char err[512];
	pid_t pid;

	assert_int_equal(trace_cmd_find("sh", &c, err, sizeof(err)), 0);
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	assert_int_equal(sigprocmask(SIG_BLOCK, &block, &old), 0);
	assert_false(sigismember(&old, SIGINT));
	pid = trace_cmd_spawn(&c, shi, &old, &g);
	assert_int_equal(trace_cmd_release(&g), 0);
	assert_int_equal(wait_status(pid), 128 + SIGINT);
	/* without one, the caller's mask: the signal stays pending, sh exits 0 */
	pid = trace_cmd_spawn(&c, shi, NULL, &g);
	assert_int_equal(trace_cmd_release(&g), 0);
	assert_int_equal(wait_status(pid), 0);
	sigprocmask(SIG_SETMASK, &old, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_libs_never_run),
		cmocka_unit_test(test_spawn_held),
		cmocka_unit_test(test_exit_status),
		cmocka_unit_test(test_spawn_mask),
	};
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	int rc;

	if (n <= 0 || !mkdtemp(marks))
		return 1;
	exe[n] = '\0';
	snprintf(fixtures, sizeof(fixtures), "%s/fixtures", dirname(exe));
	setenv("MARKER_DIR", marks, 1);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	runs(NULL, 0);
	rmdir(marks);
	return rc;
}
