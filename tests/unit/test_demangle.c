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

/* Names as PyTorch 2.11 and cuBLAS 13 kernels were demangled on an H100. */
static void test_short_names(void **state)
{
	static const char *const cases[][2] = {
		{ "scale_kernel", "scale_kernel" },
		{ "add_kernel<int>", "add_kernel<int>" },
		{ "at::native::vectorized_elementwise_kernel<8, at::native::CUDAFunctor_add<c10::BFloat16>, "
		  "std::array<char*, 3ul> >",
		  "vectorized_elementwise_kernel<8, CUDAFunctor_add<BFloat16>, array<char*, 3ul>>" },
		{ "at::native::vectorized_elementwise_kernel<8, at::native::(anonymous namespace)::"
		  "silu_kernel(at::TensorIteratorBase&)::{lambda()#1}::operator()() const::{lambda()#6}::"
		  "operator()() const::{lambda(c10::BFloat16)#1}, std::array<char*, 2ul> >",
		  "vectorized_elementwise_kernel<8, silu_kernel::lambda, array<char*, 2ul>>" },
		{ "at::native::elementwise_kernel<128, 4, at::native::gpu_kernel_impl_nocast<"
		  "at::native::BinaryFunctor<c10::BFloat16, c10::BFloat16, c10::BFloat16, "
		  "at::native::binary_internal::MulFunctor<float> > >(at::TensorIteratorBase&, "
		  "at::native::BinaryFunctor<c10::BFloat16, c10::BFloat16, c10::BFloat16, "
		  "at::native::binary_internal::MulFunctor<float> > const&)::{lambda(int)#1}>",
		  "elementwise_kernel<128, 4, gpu_kernel_impl_nocast<BinaryFunctor<BFloat16, BFloat16, "
		  "BFloat16, MulFunctor<float>>>::lambda>" },
		{ "at::native::(anonymous namespace)::CatArrayBatchedCopy_alignedK_contig<at::native::"
		  "(anonymous namespace)::OpaqueType<2u>, unsigned int, 3, 128, 1, 8>",
		  "CatArrayBatchedCopy_alignedK_contig<OpaqueType<2u>, unsigned int, 3, 128, 1, 8>" },
		/* a plain "kernel" keeps the part it is in */
		{ "internal::gemvx::kernel<int, false, cublasGemvParamsEx<int, "
		  "cublasGemvTensorStridedBatched<__nv_bfloat16 const>, float> >",
		  "gemvx::kernel<int, false, cublasGemvParamsEx<int, "
		  "cublasGemvTensorStridedBatched<__nv_bfloat16 const>, float>>" },
		{ "nvjet_sm90_tst_64x8_64x16_4x1_v_bz_TNT", "nvjet_sm90_tst_64x8_64x16_4x1_v_bz_TNT" },
	};
	char buf[512], small[12];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_string_equal(llmi_short_name(cases[i][0], buf, sizeof(buf)), cases[i][1]);
	/* cut to the buffer, never past it; unbalanced input ends cleanly */
	assert_string_equal(llmi_short_name("at::native::reduce_kernel<512, 1>", small,
					    sizeof(small)), "reduce_kern");
	assert_string_equal(llmi_short_name("a::b<c::d<e", buf, sizeof(buf)), "b<d<e");
	assert_string_equal(llmi_short_name("f(int", buf, sizeof(buf)), "f(int");
	assert_string_equal(llmi_short_name("", buf, sizeof(buf)), "");
	/* a name from the traced process may nest without end: bounded work and stack */
	{
		static char deep[6000];

		for (size_t i = 0; i + 2 < sizeof(deep); i += 2)
			memcpy(deep + i, "a<", 2);
		deep[sizeof(deep) - 1] = '\0';
		assert_int_equal(strlen(llmi_short_name(deep, buf, sizeof(buf))), sizeof(buf) - 1);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_function_pointer_return),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_short_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
