// SPDX-License-Identifier: MIT
/*
 * user/common/procmaps: the kernel's /proc/PID/maps format as it is (paths
 * with spaces, " (deleted)", anonymous and special mappings, pip-wheel
 * library paths), lookups by address and by library pattern, and the live
 * maps of this process.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/procmaps.h"

static const char sample[] =
	"55d4c8a00000-55d4c8a02000 r--p 00000000 08:01 1311 /usr/bin/python3.11\n"
	"55d4c8a02000-55d4c8a05000 r-xp 00002000 08:01 1311 /usr/bin/python3.11\n"
	"55d4c9f1e000-55d4c9f3f000 rw-p 00000000 00:00 0                          [heap]\n"
	"7f1a20000000-7f1a20021000 rw-p 00000000 00:00 0 \n"
	"7f1a30000000-7f1a30010000 r--p 00000000 fd:00 5521                       "
	"/home/u/venv/lib/python3.11/site-packages/nvidia/cuda_runtime/lib/libcudart.so.13\n"
	"7f1a30010000-7f1a30090000 r-xp 00010000 fd:00 5521                       "
	"/home/u/venv/lib/python3.11/site-packages/nvidia/cuda_runtime/lib/libcudart.so.13\n"
	"7f1a40000000-7f1a40001000 r-xp 00003000 08:01 77                         /opt/my dir/lib weird.so\n"
	"7f1a50000000-7f1a50001000 r-xp 00000000 08:01 78                         /tmp/gone.so (deleted)\n"
	"7f1a60000000-7f1a60001000 rw-s 00000000 00:05 1234                       /dev/zero\n"
	"7f1a70000000-7f1a70001000 r--p 00000000 00:00 0\n"
	"7ffd5a1e0000-7ffd5a1e2000 r-xp 00000000 00:00 0                          [vdso]\n"
	"ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n";

static void test_parse_sample(void **state)
{
	struct llmi_maps *m = llmi_maps__parse(sample, strlen(sample));
	const struct llmi_map *e;

	assert_non_null(m);
	assert_int_equal(llmi_maps__count(m), 12);

	e = llmi_maps__get(m, 1);
	assert_int_equal(e->start, 0x55d4c8a02000ull);
	assert_int_equal(e->end, 0x55d4c8a05000ull);
	assert_int_equal(e->offset, 0x2000);
	assert_int_equal(e->inode, 1311);
	assert_int_equal(e->perms, LLMI_MAP_R | LLMI_MAP_X);
	assert_string_equal(e->path, "/usr/bin/python3.11");
	assert_false(e->deleted);

	assert_string_equal(llmi_maps__get(m, 2)->path, "[heap]");
	assert_int_equal(llmi_maps__get(m, 2)->perms, LLMI_MAP_R | LLMI_MAP_W);
	/* anonymous: with the trailing space older kernels print, and without */
	assert_string_equal(llmi_maps__get(m, 3)->path, "");
	assert_string_equal(llmi_maps__get(m, 9)->path, "");

	e = llmi_maps__get(m, 6);
	assert_string_equal(e->path, "/opt/my dir/lib weird.so");
	assert_int_equal(e->offset, 0x3000);

	e = llmi_maps__get(m, 7);
	assert_string_equal(e->path, "/tmp/gone.so");
	assert_true(e->deleted);

	assert_string_equal(llmi_maps__get(m, 8)->path, "/dev/zero");
	assert_string_equal(llmi_maps__get(m, 10)->path, "[vdso]");
	e = llmi_maps__get(m, 11);
	assert_int_equal(e->start, 0xffffffffff600000ull);
	assert_int_equal(e->perms, LLMI_MAP_X);
	assert_null(llmi_maps__get(m, 12));
	llmi_maps__free(m);
}

static void test_lookups(void **state)
{
	struct llmi_maps *m = llmi_maps__parse(sample, strlen(sample));
	const struct llmi_map *e;

	assert_non_null(m);
	e = llmi_maps__find_addr(m, 0x7f1a30010000ull);
	assert_non_null(e);
	assert_int_equal(e->offset, 0x10000);
	e = llmi_maps__find_addr(m, 0x7f1a3000ffffull);
	assert_non_null(e);
	assert_int_equal(e->offset, 0);
	assert_null(llmi_maps__find_addr(m, 0x7f1a30090000ull));	/* end is exclusive */
	assert_null(llmi_maps__find_addr(m, 0x1000));
	assert_null(llmi_maps__find_addr(m, 0x7f1a40001000ull));
	assert_non_null(llmi_maps__find_addr(m, 0xffffffffff600fffull));

	assert_string_equal(llmi_maps__find_lib(m, "libcudart.so*"),
			    "/home/u/venv/lib/python3.11/site-packages/nvidia/cuda_runtime/lib/libcudart.so.13");
	assert_string_equal(llmi_maps__find_lib(m, "lib weird.so"), "/opt/my dir/lib weird.so");
	assert_string_equal(llmi_maps__find_lib(m, "gone.so"), "/tmp/gone.so");
	/* the base name only: a directory that matches is not a library */
	assert_null(llmi_maps__find_lib(m, "nvidia*"));
	assert_null(llmi_maps__find_lib(m, "libcuda.so*"));
	assert_null(llmi_maps__find_lib(m, "vdso"));
	assert_string_equal(llmi_maps__exe(m), "/usr/bin/python3.11");
	llmi_maps__free(m);
}

static void test_bad_lines(void **state)
{
	static const char *const bad[] = {
		"zzzz\n",
		"1000-2000 r-xp\n",
		"1000-2000 r-xp 00000000 08:01\n",
		"1000-2000 r-xq 00000000 08:01 12 /a\n",
		"1000-2000 rxxp 00000000 08:01 12 /a\n",
		"2000-1000 r-xp 00000000 08:01 12 /a\n",
		"1000-2000 r-xp 0000zz00 08:01 12 /a\n",
		"1000-2000 r-xp 00000000 08:01 12x /a\n",
		"10000000000000000-10000000000000001 r-xp 00000000 08:01 12 /a\n",
		"3000-4000 r-xp 00000000 08:01 12 /a\n1000-2000 r-xp 00000000 08:01 12 /a\n",
	};
	static const char nul[] = "1000-2000 r-xp 00000000 08:01 12 /a\0/b\n";
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		assert_null(llmi_maps__parse(bad[i], strlen(bad[i])));
		assert_int_equal(errno, EINVAL);
	}
	/* a NUL inside the text is not a maps file */
	errno = 0;
	assert_null(llmi_maps__parse(nul, sizeof(nul) - 1));
	assert_int_equal(errno, EINVAL);
}

static void test_empty(void **state)
{
	struct llmi_maps *m = llmi_maps__parse("", 0);

	assert_non_null(m);
	assert_int_equal(llmi_maps__count(m), 0);
	assert_null(llmi_maps__find_addr(m, 0x1000));
	assert_null(llmi_maps__find_lib(m, "*"));
	assert_null(llmi_maps__exe(m));
	llmi_maps__free(m);
	llmi_maps__free(NULL);
}

/* The live maps of this process: its executable and a file with spaces, deleted. */
static void test_self(void **state)
{
	char exe[PATH_MAX], dir[] = "/tmp/llmi maps XXXXXX", path[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	const struct llmi_map *e;
	struct llmi_maps *m;
	void *p;
	int fd;

	assert_true(n > 0);
	exe[n] = '\0';
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/lib odd (1).so", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 8192), 0);
	p = mmap(NULL, 8192, PROT_READ, MAP_PRIVATE, fd, 4096);
	assert_true(p != MAP_FAILED);
	close(fd);
	unlink(path);
	rmdir(dir);

	m = llmi_maps__read(getpid());
	assert_non_null(m);
	assert_string_equal(llmi_maps__exe(m), exe);
	e = llmi_maps__find_addr(m, (uint64_t)(uintptr_t)test_self);
	assert_non_null(e);
	assert_string_equal(e->path, exe);
	assert_true(e->perms & LLMI_MAP_X);

	e = llmi_maps__find_addr(m, (uint64_t)(uintptr_t)p + 100);
	assert_non_null(e);
	assert_string_equal(e->path, path);
	assert_true(e->deleted);
	assert_int_equal(e->offset, 4096);
	assert_int_equal(e->start, (uint64_t)(uintptr_t)p);
	assert_non_null(llmi_maps__find_lib(m, "lib odd (1).so"));
	assert_non_null(llmi_maps__find_lib(m, "libc.so*"));
	llmi_maps__free(m);
	munmap(p, 8192);
}

static void test_no_process(void **state)
{
	errno = 0;
	assert_null(llmi_maps__read(0x7ffffff0));
	assert_int_equal(errno, ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_sample),
		cmocka_unit_test(test_lookups),
		cmocka_unit_test(test_bad_lines),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_self),
		cmocka_unit_test(test_no_process),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
