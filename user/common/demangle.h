/* SPDX-License-Identifier: MIT */
/* C++ (Itanium ABI) demangling of kernel and stub names. */
#ifndef LLMI_DEMANGLE_H
#define LLMI_DEMANGLE_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Writes the demangled form of sym into buf ("_Z12scale_kernelPffi" ->
 * "scale_kernel(float*, float, int)"); strip_args cuts the argument list and
 * anything after it ("scale_kernel"; templates keep their <...>). A name that
 * is not mangled is copied as it is. Returns buf; truncates to len - 1.
 */
const char *llmi_demangle(const char *sym, bool strip_args, char *buf, size_t len);

/*
 * A demangled name shortened for a table: qualifiers, parameter lists and
 * operator() dropped, a lambda named after the function it is in
 * ("at::native::vectorized_elementwise_kernel<8, at::native::silu_kernel(
 * at::TensorIteratorBase&)::{lambda()#1}, std::array<char*, 2ul> >" ->
 * "vectorized_elementwise_kernel<8, silu_kernel::lambda, array<char*, 2ul>>").
 * Returns buf; truncates to len - 1.
 */
const char *llmi_short_name(const char *name, char *buf, size_t len);

#endif
