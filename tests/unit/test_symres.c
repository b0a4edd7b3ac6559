// SPDX-License-Identifier: MIT
/*
 * user/common/elfsym's per-process symbolizer: runtime address -> demangled
 * function name, on this running (PIE) test process, on a library dlopen()ed
 * after the symbolizer was made, and on another process (a non-PIE child).
 * Functions with C++ names are defined here under their mangled symbols, as
 * nvcc emits host stubs.
 */
#include <dlfcn.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/elfsym.h"

int scale_kernel_stub(float *p, float a, int n) __asm__("_Z12scale_kernelPffi");
__attribute__((noinline)) int scale_kernel_stub(float *p, float a, int n)
{
	return n > 0 ? (int)(p[0] * a) : 0;
}

int anon_kernel_stub(float *p) __asm__("_ZN12_GLOBAL__N_11kEPf");
__attribute__((noinline)) int anon_kernel_stub(float *p)
{
	return (int)p[1];
}

/*
 * What nvcc's launch stubs keep (crt/host_runtime.h's __cudaLaunch): the
 * kernel's handle, in a static of the stub named after the kernel, and the
 * kernel's host function. Two kernels: one spelled plainly in the stub's
 * name, one spelled as nvcc spells a device lambda (no demangler reads it),
 * whose name must come from its host function.
 */
static void *handle_plain __asm__("_ZZL34__device_stub__Z12scale_kernelPffiPffiE8__handle")
	__attribute__((used));
static void *handle_lambda __asm__("_ZZL47__device_stub__Z1kIZ1fvEUnvdl0_PFvvE1f1_EvT_S0_E8__handle")
	__attribute__((used));
static const void *f_lambda __asm__("_ZZL47__device_stub__Z1kIZ1fvEUnvdl0_PFvvE1f1_EvT_S0_E3__f")
	__attribute__((used));

__attribute__((noinline)) static int symres_static_fn(int x)
{
	return x ^ 0x55;
}

static char fixtures[PATH_MAX];

static void name_of(struct llmi_symres *r, const void *addr, bool strip, const char *want);

/*
 * Kernel handles (heap pointers, as __cudaGetKernel's are) named from the
 * stubs' statics, read from the process; a handle no stub holds stays
 * unknown.
 */
static void test_stub_handles(void **state)
{
	void *h1 = malloc(64), *h2 = malloc(64), *stray = malloc(64);
	struct llmi_symres *r;
	char buf[256];

	handle_plain = h1;
	handle_lambda = h2;
	f_lambda = (const void *)scale_kernel_stub;	/* any named host function */
	r = llmi_symres__new(getpid());
	assert_non_null(r);
	name_of(r, h1, true, "scale_kernel");
	name_of(r, h1, false, "scale_kernel(float*, float, int)");
	name_of(r, h2, true, "scale_kernel");	/* from __f: the stub's spelling fails */
	assert_int_equal(llmi_symres__name(r, (uint64_t)(uintptr_t)stray, true, buf, sizeof(buf)),
			 -ENOENT);
	llmi_symres__free(r);
	free(h1);
	free(h2);
	free(stray);
}

static void name_of(struct llmi_symres *r, const void *addr, bool strip, const char *want)
{
	char buf[256];

	assert_int_equal(llmi_symres__name(r, (uint64_t)(uintptr_t)addr, strip, buf, sizeof(buf)), 0);
	assert_string_equal(buf, want);
}

static void test_self(void **state)
{
	struct llmi_symres *r = llmi_symres__new(getpid());
	float v[2] = { 2, 3 };
	char buf[64];
	void *anon;

	assert_non_null(r);
	assert_int_equal(scale_kernel_stub(v, 2, 1) + anon_kernel_stub(v) + symres_static_fn(0), 4 + 3 + 0x55);
	name_of(r, (void *)scale_kernel_stub, false, "scale_kernel(float*, float, int)");
	name_of(r, (void *)scale_kernel_stub, true, "scale_kernel");
	/* an address inside the function, as a return address would be */
	name_of(r, (const char *)scale_kernel_stub + 4, true, "scale_kernel");
	name_of(r, (void *)anon_kernel_stub, false, "(anonymous namespace)::k(float*)");
	name_of(r, (void *)anon_kernel_stub, true, "(anonymous namespace)::k");
	name_of(r, (void *)symres_static_fn, true, "symres_static_fn");
	name_of(r, (void *)test_self, false, "test_self");
	/* libc, a stripped shared object: .dynsym only */
	name_of(r, (void *)getpid, true, "getpid");

	/* anonymous memory has no name; the buffer still says where */
	anon = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(anon != MAP_FAILED);
	assert_int_equal(llmi_symres__name(r, (uint64_t)(uintptr_t)anon, true, buf, sizeof(buf)), -ENOENT);
	assert_true(!strncmp(buf, "0x", 2));
	assert_int_equal(strtoull(buf, NULL, 16), (uint64_t)(uintptr_t)anon);
	munmap(anon, 4096);
	assert_int_equal(llmi_symres__name(r, 8, true, buf, sizeof(buf)), -ENOENT);
	assert_string_equal(buf, "0x8");
	/* truncation keeps a terminated string */
	assert_int_equal(llmi_symres__name(r, (uint64_t)(uintptr_t)scale_kernel_stub, false, buf, 6), 0);
	assert_string_equal(buf, "scale");
	llmi_symres__free(r);
}

/* A library loaded after the symbolizer read the maps. */
static void test_dlopen_later(void **state)
{
	struct llmi_symres *r = llmi_symres__new(getpid());
	char path[PATH_MAX + 32];
	void *h, *fn;

	assert_non_null(r);
	snprintf(path, sizeof(path), "%s/libelfsym_fixture.so", fixtures);
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	assert_non_null(h);
	fn = dlsym(h, "lib_target_fn");
	assert_non_null(fn);
	name_of(r, fn, true, "lib_target_fn");
	/* the exported name wins over the local alias lib_fx_v1 */
	name_of(r, dlvsym(h, "lib_fx", "V1"), true, "lib_fx");
	llmi_symres__free(r);
	dlclose(h);
}

static void test_other_process(void **state)
{
	char path[PATH_MAX + 32], line[128];
	struct llmi_symres *r;
	int in[2], out[2];
	void *fn;
	FILE *f;
	pid_t pid;

	snprintf(path, sizeof(path), "%s/elfsym_nopie", fixtures);
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
	assert_int_equal(sscanf(line, "%p", &fn), 1);

	r = llmi_symres__new(pid);
	assert_non_null(r);
	name_of(r, fn, true, "nopie_target_fn");
	name_of(r, (char *)fn + 2, false, "nopie_target_fn");
	llmi_symres__free(r);
	close(in[1]);
	fclose(f);
	waitpid(pid, NULL, 0);
}

static void test_no_process(void **state)
{
	errno = 0;
	assert_null(llmi_symres__new(0x7ffffff0));
	assert_int_equal(errno, ENOENT);
	llmi_symres__free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_self),
		cmocka_unit_test(test_stub_handles),
		cmocka_unit_test(test_dlopen_later),
		cmocka_unit_test(test_other_process),
		cmocka_unit_test(test_no_process),
	};
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0)
		return 1;
	exe[n] = '\0';
	snprintf(fixtures, sizeof(fixtures), "%s/fixtures", dirname(exe));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
