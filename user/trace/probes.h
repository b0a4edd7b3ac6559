/* SPDX-License-Identifier: MIT */
/*
 * The per-target state user space keeps in the loaded BPF program
 * (bpf/llminstr_trace.bpf.c's target_captures and target_stream, indexed
 * like the attach cookie's target). Under -T a call is counted in the
 * kernel only while its process has no stream capture open and nothing here
 * asks otherwise; a
 * target set to stream has its launches, copies and memsets sent through the
 * ring buffer instead, one record each, as in events mode (what needs every
 * launch of one process, e.g. to attribute captured tensors to the launch
 * that made them, while the others stay counted in place).
 */
#ifndef LLMI_TRACE_PROBES_H
#define LLMI_TRACE_PROBES_H

#include <stdbool.h>

struct llminstr_trace_bpf;

/*
 * Streams target's calls (on) or lets -T count them in place again (off).
 * Takes effect at the target's next call. 0, -EINVAL for a target index out
 * of range, -ENODEV before the program is loaded.
 */
int trace_probes__set_stream(struct llminstr_trace_bpf *skel, unsigned target, bool on);

/* The stream captures the probes saw open in target (0 before any), or -errno. */
int trace_probes__captures(const struct llminstr_trace_bpf *skel, unsigned target);

#endif
