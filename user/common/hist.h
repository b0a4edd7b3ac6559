/* SPDX-License-Identifier: MIT */
/*
 * Latency histograms. BPF keeps log2 slots (slot k holds [2^k, 2^(k+1)),
 * slot 0 holds 0 and 1: one clz in the probe); user space keeps log-linear
 * buckets (each power of two split in LLMI_HIST_SUB linear parts) for
 * p50/p99 within a few percent. Both print as the bcc-style bar chart in
 * under 80 columns.
 */
#ifndef LLMI_HIST_H
#define LLMI_HIST_H

#include <stdint.h>
#include <stdio.h>

#define LLMI_LOG2_SLOTS 64
#define LLMI_HIST_SUB_BITS 4
#define LLMI_HIST_SUB (1u << LLMI_HIST_SUB_BITS)
#define LLMI_HIST_BUCKETS (LLMI_LOG2_SLOTS * LLMI_HIST_SUB)

/* floor(log2(v)), 0 for v <= 1: the slot BPF increments. */
static inline unsigned llmi_log2_slot(uint64_t v)
{
	return v > 1 ? 63u - (unsigned)__builtin_clzll(v) : 0u;
}

struct llmi_hist {
	uint64_t count, sum, min, max;
	uint64_t buckets[LLMI_HIST_BUCKETS];
};

void llmi_hist_init(struct llmi_hist *h);
/* Hot path of event consumption: no allocation, no branches beyond a clz. */
void llmi_hist_add(struct llmi_hist *h, uint64_t v);
void llmi_hist_merge(struct llmi_hist *dst, const struct llmi_hist *src);
/* Adds BPF log2 slots (count per slot, plus the exact sum) as if sampled at slot midpoints. */
void llmi_hist_add_log2(struct llmi_hist *h, const uint64_t slots[LLMI_LOG2_SLOTS], uint64_t sum);
/* Value at quantile q in [0, 1], interpolated in its bucket and clamped to [min, max]; 0 when empty. */
uint64_t llmi_hist_quantile(const struct llmi_hist *h, double q);
double llmi_hist_mean(const struct llmi_hist *h);
/* bcc-style log2 bar chart of the non-empty range, under 80 columns. */
void llmi_hist_print(FILE *f, const struct llmi_hist *h, const char *unit);

#endif
