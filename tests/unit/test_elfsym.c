// SPDX-License-Identifier: MIT
/*
 * user/common/elfsym: symbol -> file offset (what a uprobe attaches to) and
 * runtime address <-> file virtual address, on three real binaries:
 *   - this test itself, a PIE (ET_DYN, loaded at a random bias);
 *   - fixtures/libelfsym_fixture.so, dlopen()ed, whose .text sits at a
 *     virtual address different from its file offset and which defines
 *     lib_fx in two versions;
 *   - fixtures/elfsym_nopie, an ET_EXEC run as a child (no bias).
 * The offsets are checked against the bytes themselves: the code at the
 * file offset in the file equals the code at the runtime address in memory.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/elfsym.h"

__attribute__((noinline)) int elfsym_global_target(int x)
{
	return x * 5 + 11;
}

__attribute__((noinline)) static int elfsym_static_target(int x)
{
	return x * 13 - 2;
}

static char fixtures[PATH_MAX];

static void fixture_path(char *buf, size_t len, const char *name)
{
	int n = snprintf(buf, len, "%s/%s", fixtures, name);

	assert_true(n > 0 && (size_t)n < len);
}

static void file_bytes(const char *path, uint64_t off, void *buf, size_t len)
{
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static void check_self_function(const char *exe, struct llmi_elf *e, struct llmi_maps *maps,
				const char *name, void *fn)
{
	uint64_t vaddr, off, rt, back, start;
	unsigned char fbytes[32];

	assert_int_equal(llmi_elf__sym_addr(e, name, &vaddr, &off), 0);
	assert_int_equal(llmi_elf__vaddr_to_runtime(e, maps, exe, vaddr, &rt), 0);
	assert_int_equal(rt, (uint64_t)(uintptr_t)fn);
	assert_int_equal(llmi_elf__runtime_to_vaddr(e, llmi_maps__find_addr(maps, rt), rt + 3, &back), 0);
	assert_int_equal(back, vaddr + 3);
	assert_string_equal(llmi_elf__sym_at(e, vaddr + 3, &start), name);
	assert_int_equal(start, vaddr);
	file_bytes(exe, off, fbytes, sizeof(fbytes));
	assert_memory_equal(fbytes, fn, sizeof(fbytes));
}

static void test_pie_self(void **state)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	struct llmi_maps *maps = llmi_maps__read(getpid());
	struct llmi_elf *e;

	assert_true(n > 0);
	exe[n] = '\0';
	assert_non_null(maps);
	e = llmi_elf__open(exe);
	assert_non_null(e);
	/* built here as a PIE: the bias is what this test is about */
	assert_true(llmi_elf__is_dyn(e));
	check_self_function(exe, e, maps, "elfsym_global_target", (void *)elfsym_global_target);
	/* a static function is only in .symtab */
	check_self_function(exe, e, maps, "elfsym_static_target", (void *)elfsym_static_target);
	assert_int_equal(elfsym_global_target(1) + elfsym_static_target(1), 27);
	assert_int_equal(llmi_elf__sym_addr(e, "no_such_function_here", NULL, NULL), -ENOENT);
	/* data symbols are not functions */
	assert_int_equal(llmi_elf__sym_addr(e, "fixtures", NULL, NULL), -ENOENT);
	assert_null(llmi_elf__sym_at(e, 0, NULL));
	llmi_elf__free(e);
	llmi_maps__free(maps);
}

static void test_shared_object(void **state)
{
	char path[PATH_MAX];
	unsigned char fbytes[16];
	uint64_t vaddr, off, rt, v1, v2, back;
	struct llmi_maps *maps;
	struct llmi_elf *e;
	void *h, *fn, *fx, *fx1;

	fixture_path(path, sizeof(path), "libelfsym_fixture.so");
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	assert_non_null(h);
	fn = dlsym(h, "lib_target_fn");
	fx = dlsym(h, "lib_fx");
	fx1 = dlvsym(h, "lib_fx", "V1");
	assert_non_null(fn);
	assert_non_null(fx);
	assert_non_null(fx1);
	maps = llmi_maps__read(getpid());
	assert_non_null(maps);
	e = llmi_elf__open(path);
	assert_non_null(e);
	assert_true(llmi_elf__is_dyn(e));

	assert_int_equal(llmi_elf__sym_addr(e, "lib_target_fn", &vaddr, &off), 0);
	/* the case a uprobe gets wrong when given st_value */
	assert_true(vaddr != off);
	assert_int_equal(llmi_elf__vaddr_to_runtime(e, maps, path, vaddr, &rt), 0);
	assert_int_equal(rt, (uint64_t)(uintptr_t)fn);
	assert_int_equal(llmi_elf__runtime_to_vaddr(e, llmi_maps__find_addr(maps, rt), rt, &back), 0);
	assert_int_equal(back, vaddr);
	file_bytes(path, off, fbytes, sizeof(fbytes));
	assert_memory_equal(fbytes, fn, sizeof(fbytes));

	/* versions: the plain name is the default version, as the dynamic linker resolves it */
	assert_int_equal(llmi_elf__sym_addr(e, "lib_fx", &v2, NULL), 0);
	assert_int_equal(llmi_elf__vaddr_to_runtime(e, maps, path, v2, &rt), 0);
	assert_int_equal(rt, (uint64_t)(uintptr_t)fx);
	assert_int_equal(llmi_elf__sym_addr(e, "lib_fx@@V2", &v1, NULL), 0);
	assert_int_equal(v1, v2);
	assert_int_equal(llmi_elf__sym_addr(e, "lib_fx@V1", &v1, NULL), 0);
	assert_int_equal(llmi_elf__vaddr_to_runtime(e, maps, path, v1, &rt), 0);
	assert_int_equal(rt, (uint64_t)(uintptr_t)fx1);
	assert_true(v1 != v2);
	/* an unknown version falls back to the default one */
	assert_int_equal(llmi_elf__sym_addr(e, "lib_fx@@V9", &v1, NULL), 0);
	assert_int_equal(v1, v2);

	/* another file's path has no mapping of this vaddr */
	assert_int_equal(llmi_elf__vaddr_to_runtime(e, maps, "/nonexistent.so", vaddr, &rt), -ENOENT);
	llmi_elf__free(e);
	llmi_maps__free(maps);
	dlclose(h);
}

static void test_exec_no_bias(void **state)
{
	char path[PATH_MAX], line[128];
	int in[2], out[2];
	unsigned char fbytes[16], mbytes[16];
	uint64_t vaddr, off, rt, back;
	struct llmi_maps *maps;
	struct llmi_elf *e;
	struct iovec l, r;
	void *child_fn;
	FILE *f;
	pid_t pid;

	fixture_path(path, sizeof(path), "elfsym_nopie");
	assert_int_equal(pipe(in), 0);
	assert_int_equal(pipe(out), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		execl(path, path, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	f = fdopen(out[0], "r");
	assert_non_null(fgets(line, sizeof(line), f));
	assert_int_equal(sscanf(line, "%p", &child_fn), 1);

	e = llmi_elf__open(path);
	assert_non_null(e);
	assert_false(llmi_elf__is_dyn(e));
	assert_int_equal(llmi_elf__sym_addr(e, "nopie_target_fn", &vaddr, &off), 0);
	assert_int_equal(vaddr, (uint64_t)(uintptr_t)child_fn);	/* ET_EXEC: no bias */
	maps = llmi_maps__read(pid);
	assert_non_null(maps);
	assert_int_equal(llmi_elf__vaddr_to_runtime(e, maps, path, vaddr, &rt), 0);
	assert_int_equal(rt, vaddr);
	assert_int_equal(llmi_elf__runtime_to_vaddr(e, llmi_maps__find_addr(maps, rt), rt, &back), 0);
	assert_int_equal(back, vaddr);

	file_bytes(path, off, fbytes, sizeof(fbytes));
	l = (struct iovec){ mbytes, sizeof(mbytes) };
	r = (struct iovec){ child_fn, sizeof(mbytes) };
	assert_int_equal(process_vm_readv(pid, &l, 1, &r, 1, 0), (ssize_t)sizeof(mbytes));
	assert_memory_equal(fbytes, mbytes, sizeof(fbytes));

	llmi_maps__free(maps);
	llmi_elf__free(e);
	close(in[1]);
	fclose(f);
	waitpid(pid, NULL, 0);
}

static void test_bad_files(void **state)
{
	char path[] = "/tmp/llmi-elfsym-XXXXXX";
	int fd;

	errno = 0;
	assert_null(llmi_elf__open("/nonexistent/libfoo.so"));
	assert_int_equal(errno, ENOENT);

	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "\177ELF but not really an ELF file", 31), 31);
	close(fd);
	errno = 0;
	assert_null(llmi_elf__open(path));
	assert_int_equal(errno, ENOEXEC);
	unlink(path);

	errno = 0;
	assert_null(llmi_elf__open("/proc/self/status"));
	assert_int_equal(errno, ENOEXEC);
	llmi_elf__free(NULL);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pie_self),
		cmocka_unit_test(test_shared_object),
		cmocka_unit_test(test_exec_no_bias),
		cmocka_unit_test(test_bad_files),
	};
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0)
		return 1;
	exe[n] = '\0';
	snprintf(fixtures, sizeof(fixtures), "%s/fixtures", dirname(exe));
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
