// SPDX-License-Identifier: MIT
/*
 * See probes.h. target_captures and target_stream live in the program's
 * .bss, which libbpf maps into this process once loaded: a store here is
 * seen by the next probe that fires, with no system call. The probes change
 * target_captures with atomic adds; this side only ever writes
 * target_stream.
 */
#include <errno.h>

#include "llminstr_events.h"
#include "llminstr_trace.skel.h"
#include "trace/probes.h"

int trace_probes__set_stream(struct llminstr_trace_bpf *skel, unsigned target, bool on)
{
	if (target >= LLMI_MAX_TARGETS)
		return -EINVAL;
	if (!skel || !skel->bss)
		return -ENODEV;
	__atomic_store_n(&skel->bss->target_stream[target], on ? 1u : 0u, __ATOMIC_RELAXED);
	return 0;
}

int trace_probes__captures(const struct llminstr_trace_bpf *skel, unsigned target)
{
	if (target >= LLMI_MAX_TARGETS)
		return -EINVAL;
	if (!skel || !skel->bss)
		return -ENODEV;
	return __atomic_load_n(&skel->bss->target_captures[target], __ATOMIC_RELAXED);
}
