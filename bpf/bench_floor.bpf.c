// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The uprobe floor for benchmarks/probe_overhead: a program that does
 * nothing, attached as an entry uprobe where llminstr-trace attaches. What a
 * call costs with it is the price of the trap, the kernel's uprobe dispatch
 * and a BPF program run on this kernel; the tracer's modes are measured
 * against it, so that what they add is what their probe bodies do.
 *
 * The other programs are the parts no launch record can do without, each
 * alone on the floor and then together: the read of the stack arguments
 * (cudaLaunchKernel's stream is its seventh argument, on the stack on
 * x86-64, next to the return address and sharedMem), a timestamp, and a
 * 64-byte ring buffer record. bench_record is the least a record of a
 * launch can cost on this kernel: the tracer's events mode cannot go below
 * it whatever its own code does.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 32 << 20);
} bench_ring SEC(".maps");

/* keeps the compiler from dropping what the parts compute */
__u64 bench_sink;
/* records the ring had no room for (the measurement is void then) */
__u64 bench_ring_full;

SEC("uprobe")
int bench_floor(void *ctx)
{
	return 0;
}

SEC("uprobe")
int bench_read(struct pt_regs *ctx)
{
	__u64 stk[3] = {};	/* return address, sharedMem, stream */

	bpf_probe_read_user(stk, sizeof(stk), (void *)PT_REGS_SP(ctx));
	bench_sink = stk[2];
	return 0;
}

SEC("uprobe")
int bench_clock(struct pt_regs *ctx)
{
	bench_sink = bpf_ktime_get_ns();
	return 0;
}

static __always_inline void ring_record(struct pt_regs *ctx, __u64 ts, __u64 stream)
{
	__u64 *e = bpf_ringbuf_reserve(&bench_ring, 64, 0);

	if (!e) {
		__sync_fetch_and_add(&bench_ring_full, 1);
		return;
	}
	e[0] = ts;
	e[1] = stream;
	e[2] = PT_REGS_PARM1(ctx);
	e[3] = PT_REGS_PARM2(ctx);
	e[4] = PT_REGS_PARM3(ctx);
	e[5] = PT_REGS_PARM4(ctx);
	e[6] = PT_REGS_PARM5(ctx);
	e[7] = 0;
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
}

SEC("uprobe")
int bench_ring_record(struct pt_regs *ctx)
{
	ring_record(ctx, 0, 0);
	return 0;
}

SEC("uprobe")
int bench_record(struct pt_regs *ctx)
{
	__u64 stk[3] = {};

	bpf_probe_read_user(stk, sizeof(stk), (void *)PT_REGS_SP(ctx));
	ring_record(ctx, bpf_ktime_get_ns(), stk[2]);
	return 0;
}
