// SPDX-License-Identifier: MIT
/*
 * user/common/demangle: Itanium names as c++filt prints them, and the
 * argument list cut without being fooled by templates, return types,
 * function-pointer parameters and return types, the anonymous namespace,
 * operator names and local entities.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/demangle.h"

struct dcase {
	const char *sym, *full, *stripped;
};

static const struct dcase cases[] = {
	{ "_Z12scale_kernelPffi", "scale_kernel(float*, float, int)", "scale_kernel" },
	{ "_Z3fooIiEvT_", "void foo<int>(int)", "foo<int>" },
	{ "_Z3barPFviEi", "bar(void (*)(int), int)", "bar" },
	{ "_ZN12_GLOBAL__N_11kEPf", "(anonymous namespace)::k(float*)", "(anonymous namespace)::k" },
	{ "_ZN2ns3vecIiEixEm", "ns::vec<int>::operator[](unsigned long)", "ns::vec<int>::operator[]" },
	{ "_ZN1AclEi", "A::operator()(int)", "A::operator()" },
	{ "_ZltRK1AS1_", "operator<(A const&, A const&)", "operator<" },
	{ "_ZlsR1Ai", "operator<<(A&, int)", "operator<<" },
	{ "_ZN1AcviEv", "A::operator int()", "A::operator int" },
	{ "_Znwm", "operator new(unsigned long)", "operator new" },
	{ "_ZNK1A3getEv", "A::get() const", "A::get" },
	{ "_Z3fooi.isra.0", "foo(int) [clone .isra.0]", "foo" },
	{ "_Z1fIN2ns1BIiEEEvPT_", "void f<ns::B<int> >(ns::B<int>*)", "f<ns::B<int> >" },
	{ "_Z4gemmILi128ELi64EEvPKfS1_Pfi", "void gemm<128, 64>(float const*, float const*, float*, int)",
	  "gemm<128, 64>" },
	{ "_ZZ4mainENKUliE_clEi", "main::{lambda(int)#1}::operator()(int) const",
	  "main::{lambda(int)#1}::operator()" },
	{ "_ZZ3foovE1x", "foo()::x", "foo()::x" },
	{ "_Z3getv", "get()", "get" },
	{ "_ZN9__gnu_cxx13new_allocatorIcE8allocateEmPKv",
	  "__gnu_cxx::new_allocator<char>::allocate(unsigned long, void const*)",
	  "__gnu_cxx::new_allocator<char>::allocate" },
	/* not mangled, or not valid: copied as they are */
	{ "cudaLaunchKernel", "cudaLaunchKernel", "cudaLaunchKernel" },
	{ "add_kernel", "add_kernel", "add_kernel" },
	{ "_Zgarbage", "_Zgarbage", "_Zgarbage" },
	{ "", "", "" },
};

static void test_cases(void **state)
{
	char buf[256];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_string_equal(llmi_demangle(cases[i].sym, false, buf, sizeof(buf)), cases[i].full);
		assert_string_equal(llmi_demangle(cases[i].sym, true, buf, sizeof(buf)), cases[i].stripped);
	}
}

static void test_function_pointer_return(void **state)
{
	char buf[256];

	/* getfn<int> returns a pointer to void(float): the name sits inside "(*...)" */
	assert_string_equal(llmi_demangle("_Z5getfnIiEPFvfEi", false, buf, sizeof(buf)),
			    "void (*getfn<int>(int))(float)");
	assert_string_equal(llmi_demangle("_Z5getfnIiEPFvfEi", true, buf, sizeof(buf)), "getfn<int>");
}

static void test_truncation(void **state)
{
	char buf[8];

	memset(buf, 'x', sizeof(buf));
	assert_string_equal(llmi_demangle("_Z12scale_kernelPffi", false, buf, sizeof(buf)), "scale_k");
	assert_string_equal(llmi_demangle("a_very_long_plain_name", true, buf, sizeof(buf)), "a_very_");
	assert_string_equal(llmi_demangle("ab", true, buf, 1), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_function_pointer_return),
		cmocka_unit_test(test_truncation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
