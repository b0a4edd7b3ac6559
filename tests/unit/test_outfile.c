// SPDX-License-Identifier: MIT
/*
 * io/outfile: how every output is created. An existing file is refused
 * without force and replaced with it; links, directories, devices and files
 * another output holds are never replaced; each refusal has its own line.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "io/outfile.h"

static char dir[PATH_MAX];

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/llmi-outfile-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void put(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
	close(fd);
}

static off_t size_of(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

static void why_has(const char *path, int err, const char *want)
{
	char buf[PATH_MAX + 128];

	llmi_out_strerror(buf, sizeof(buf), path, err, 0);
	if (!strstr(buf, want))
		fail_msg("\"%s\" does not say \"%s\"", buf, want);
	assert_null(strchr(buf, '\n'));
}

static void test_exists_needs_force(void **state)
{
	char p[PATH_MAX + 16];
	int fd;

	snprintf(p, sizeof(p), "%s/out.json", dir);
	put(p, "keep");
	assert_int_equal(llmi_out_create(p, 0, 0), -EEXIST);
	assert_int_equal(size_of(p), 4);
	why_has(p, -EEXIST, "exists; --force replaces it");

	fd = llmi_out_create(p, 0, LLMI_OUT_FORCE);
	assert_true(fd >= 0);
	assert_int_equal(size_of(p), 0);
	close(fd);
}

static void test_never_replaced(void **state)
{
	char p[PATH_MAX + 16], link[PATH_MAX + 16];

	/* a symbolic link, to a file or dangling */
	snprintf(p, sizeof(p), "%s/victim", dir);
	snprintf(link, sizeof(link), "%s/link", dir);
	put(p, "keep");
	assert_int_equal(symlink("victim", link), 0);
	assert_int_equal(llmi_out_create(link, 0, 0), -ELOOP);
	assert_int_equal(llmi_out_create(link, 0, LLMI_OUT_FORCE), -ELOOP);
	assert_int_equal(size_of(p), 4);
	why_has(link, -ELOOP, "symbolic link");
	unlink(p);
	assert_int_equal(llmi_out_create(link, 0, LLMI_OUT_FORCE), -ELOOP);
	assert_int_equal(access(p, F_OK), -1);

	/* a directory */
	assert_int_equal(llmi_out_create(dir, 0, LLMI_OUT_FORCE), -EISDIR);
	why_has(dir, -EISDIR, "is a directory");

	/* a device */
	assert_int_equal(llmi_out_create("/dev/null", 0, LLMI_OUT_FORCE), -EEXIST);
	why_has("/dev/null", -EEXIST, "/dev/null is not a regular file");
}

static void test_missing_dir(void **state)
{
	char p[PATH_MAX + 32];

	snprintf(p, sizeof(p), "%s/no/such/out.llmi", dir);
	assert_int_equal(llmi_out_create(p, 0, LLMI_OUT_FORCE), -ENOENT);
	why_has(p, -ENOENT, "/no/such does not exist");
	assert_int_equal(llmi_out_create("", 0, 0), -ENOENT);
	why_has("", -ENOENT, "empty file name");
}

/* Two outputs of one run, or two tracers, given one path. */
static void test_held_is_busy(void **state)
{
	char p[PATH_MAX + 16];
	int a, b;

	snprintf(p, sizeof(p), "%s/same.llmi", dir);
	a = llmi_out_create(p, 0, 0);
	assert_true(a >= 0);
	assert_int_equal(write(a, "data", 4), 4);
	assert_int_equal(llmi_out_create(p, 0, 0), -EBUSY);
	assert_int_equal(llmi_out_create(p, 0, LLMI_OUT_FORCE), -EBUSY);
	why_has(p, -EBUSY, "being written");
	assert_int_equal(size_of(p), 4);	/* what the first writes survives */
	close(a);
	b = llmi_out_create(p, 0, LLMI_OUT_FORCE);
	assert_true(b >= 0);
	close(b);
}

static void test_fopen(void **state)
{
	char p[PATH_MAX + 16];
	FILE *f;

	snprintf(p, sizeof(p), "%s/f.txt", dir);
	f = llmi_out_fopen(p, 0);
	assert_non_null(f);
	fputs("x", f);
	fclose(f);
	assert_null(llmi_out_fopen(p, 0));
	assert_int_equal(errno, EEXIST);
	f = llmi_out_fopen(p, LLMI_OUT_FORCE);
	assert_non_null(f);
	fclose(f);
	assert_int_equal(size_of(p), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exists_needs_force),
		cmocka_unit_test(test_never_replaced),
		cmocka_unit_test(test_missing_dir),
		cmocka_unit_test(test_held_is_busy),
		cmocka_unit_test(test_fopen),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
