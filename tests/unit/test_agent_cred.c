// SPDX-License-Identifier: MIT
/*
 * The agent's peer check (proto.h): a tracer that is neither root nor the
 * program's own user is refused with a reply, and one line on the
 * program's stderr says so. Needs root, to be the program's user (root)
 * and to make a child that is someone else (nobody); skips otherwise.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <cmocka.h>
#include "fake_tracer.h"

static const struct ft_opts base = {
	.data_size = 1 << 16, .nslots = 8, .spec = "all",
	.on_full = LLMI_ON_FULL_BLOCK, .device_buffer = 1 << 16,
};

static uid_t nobody_uid;
static gid_t nobody_gid;

static bool file_has(const char *path, const char *what)
{
	char buf[4096];
	ssize_t n;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return strstr(buf, what) != NULL;
}

static void test_other_user_refused(void **state)
{
	char log[] = "/tmp/llmi-agent-cred.XXXXXX", line[128];
	int logfd = mkstemp(log), saved = dup(STDERR_FILENO), status, p[2];
	struct llmi_agent_reply reply;
	pid_t target = getpid(), pid;
	struct ft t;
	float x = 1;

	assert_true(logfd >= 0 && saved >= 0);
	assert_int_equal(pipe(p), 0);
	/* the agent's stderr, to read its line back */
	assert_true(dup2(logfd, STDERR_FILENO) >= 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int rc;

		close(p[0]);
		if (setgroups(0, NULL) || setresgid(nobody_gid, nobody_gid, nobody_gid) ||
		    setresuid(nobody_uid, nobody_uid, nobody_uid))
			_exit(20);
		rc = ft_open(&t, target, &base);
		if (write(p[1], &t.reply, sizeof(t.reply)) != sizeof(t.reply))
			_exit(21);
		_exit(rc == -EPERM ? 0 : 22);
	}
	close(p[1]);
	memset(&reply, 0, sizeof(reply));
	assert_int_equal(read(p[0], &reply, sizeof(reply)), sizeof(reply));
	close(p[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	snprintf(line, sizeof(line), "llminstr: refused a tracer connection from uid %d",
		 (int)nobody_uid);
	assert_true(FT_WAIT_UNTIL(file_has(log, line)));
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(logfd);
	unlink(log);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status))
		fail_msg("the child (uid %d) was not refused with -EPERM: exit %d, reply %d '%s'",
			 (int)nobody_uid, WEXITSTATUS(status), reply.status, reply.msg);
	assert_int_equal(reply.status, -EPERM);
	assert_non_null(strstr(reply.msg, "run llminstr-trace as root"));
	assert_int_equal(llminstr_attached(), 0);
	assert_int_equal(llminstr_capture("x", &x, LLMINSTR_F32, 0, NULL, NULL), 0);

	/* root, the program's user here, is let in */
	assert_int_equal(ft_open(&t, getpid(), &base), 0);
	assert_int_equal(llminstr_capture("x", &x, LLMINSTR_F32, 0, NULL, NULL), 1);
	ft_close(&t);
	assert_true(FT_WAIT_UNTIL(!llminstr_attached()));
}

/* Runs ft_open against target in a child as uid:gid; its result. */
static int open_as(pid_t target, uid_t uid, gid_t gid)
{
	int status, p[2], rc = -999;
	struct ft t;
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		if (setgroups(0, NULL) || setresgid(gid, gid, gid) || setresuid(uid, uid, uid))
			_exit(20);
		rc = ft_open(&t, target, &base);
		_exit(write(p[1], &rc, sizeof(rc)) == sizeof(rc) ? 0 : 21);
	}
	close(p[1]);
	if (read(p[0], &rc, sizeof(rc)) != sizeof(rc))
		rc = -999;
	close(p[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return rc;
}

/* A program running as a user: root and that user may trace it, another
 * user may not. */
static void test_user_target(void **state)
{
	int ready[2], hold[2], status;
	struct ft t;
	pid_t target;
	char c = 0;

	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(hold), 0);
	target = fork();
	assert_true(target >= 0);
	if (target == 0) {
		close(ready[0]);
		close(hold[1]);
		if (setgroups(0, NULL) || setresgid(nobody_gid, nobody_gid, nobody_gid) ||
		    setresuid(nobody_uid, nobody_uid, nobody_uid))
			_exit(20);
		if (write(ready[1], "r", 1) != 1)
			_exit(21);
		/* serve tracers until the test closes the pipe */
		_exit(read(hold[0], &c, 1) == 0 ? 0 : 22);
	}
	close(ready[1]);
	close(hold[0]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);
	/* root */
	assert_int_equal(ft_open(&t, target, &base), 0);
	ft_close(&t);
	/* the program's own user */
	assert_int_equal(open_as(target, nobody_uid, nobody_gid), 0);
	/* anyone else */
	assert_int_equal(open_as(target, nobody_uid - 1, nobody_gid), -EPERM);
	close(hold[1]);
	assert_int_equal(waitpid(target, &status, 0), target);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_other_user_refused),
		cmocka_unit_test(test_user_target),
	};
	struct passwd *pw;

	if (geteuid() != 0) {
		printf("SKIP: needs root, to connect to the agent as another user (nobody)\n");
		return 77;
	}
	pw = getpwnam("nobody");
	if (!pw || pw->pw_uid == 0) {
		printf("SKIP: no user 'nobody' to connect to the agent as someone else\n");
		return 77;
	}
	nobody_uid = pw->pw_uid;
	nobody_gid = pw->pw_gid;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
