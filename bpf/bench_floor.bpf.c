// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The uprobe floor for benchmarks/probe_overhead: a program that does
 * nothing, attached as an entry uprobe where llminstr-trace attaches. What a
 * call costs with it is the price of the trap, the kernel's uprobe dispatch
 * and a BPF program run on this kernel; the tracer's modes are measured
 * against it, so that what they add is what their probe bodies do.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("uprobe")
int bench_floor(void *ctx)
{
	return 0;
}
