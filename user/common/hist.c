// SPDX-License-Identifier: MIT
/*
 * Latency histograms for the summaries. Two resolutions meet here: the BPF
 * side of -T keeps log2 slots (one clz per event in the probe, the cheapest
 * thing that still has a shape), the events consumer keeps log-linear buckets
 * so that p50 and p99 are within 1/LLMI_HIST_SUB of a power of two (~6%)
 * before interpolation. Both print as the same bcc-style chart.
 *
 * Bucket layout: value v in log2 slot k (k = floor(log2 v), 0 for v <= 1)
 * goes to bucket k * SUB + s, s being the SUB_BITS bits below the leading
 * one. A bucket therefore covers [2^k (1 + s/SUB), 2^k (1 + (s+1)/SUB)); in
 * the slots below SUB_BITS some buckets stay empty because fewer than SUB
 * distinct integers exist there, and 0 shares bucket 0 with 1 exactly as it
 * shares BPF's slot 0. Quantiles are clamped to [min, max], which makes them
 * exact whenever all samples are equal.
 */
#include <math.h>
#include <string.h>

#include "common/hist.h"

static inline unsigned bucket_of(uint64_t v)
{
	unsigned k = llmi_log2_slot(v);
	unsigned s = k >= LLMI_HIST_SUB_BITS ? (unsigned)(v >> (k - LLMI_HIST_SUB_BITS))
					     : (unsigned)(v << (LLMI_HIST_SUB_BITS - k));

	return k * LLMI_HIST_SUB + (s & (LLMI_HIST_SUB - 1));
}

static double bucket_lo(unsigned b)
{
	unsigned k = b / LLMI_HIST_SUB, s = b % LLMI_HIST_SUB;

	return ldexp(1.0 + (double)s / LLMI_HIST_SUB, (int)k);
}

static double bucket_hi(unsigned b)
{
	unsigned k = b / LLMI_HIST_SUB, s = b % LLMI_HIST_SUB;

	return ldexp(1.0 + (double)(s + 1) / LLMI_HIST_SUB, (int)k);
}

void llmi_hist_init(struct llmi_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

/* Hot: called once per consumed event record; branch-free apart from cmovs. */
void llmi_hist_add(struct llmi_hist *h, uint64_t v)
{
	h->count++;
	h->sum += v;
	h->min = v < h->min ? v : h->min;
	h->max = v > h->max ? v : h->max;
	h->buckets[bucket_of(v)]++;
}

void llmi_hist_merge(struct llmi_hist *dst, const struct llmi_hist *src)
{
	unsigned i;

	if (!src->count)
		return;
	dst->count += src->count;
	dst->sum += src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
	for (i = 0; i < LLMI_HIST_BUCKETS; i++)
		dst->buckets[i] += src->buckets[i];
}

void llmi_hist_add_log2(struct llmi_hist *h, const uint64_t slots[LLMI_LOG2_SLOTS], uint64_t sum)
{
	unsigned k;

	for (k = 0; k < LLMI_LOG2_SLOTS; k++) {
		uint64_t lo, hi, mid;

		if (!slots[k])
			continue;
		/* slot 0 holds 0 and 1; slot k holds [2^k, 2^(k+1)) */
		lo = k ? 1ull << k : 0;
		hi = k == 63 ? UINT64_MAX : (2ull << k) - 1;
		mid = k ? 3ull << (k - 1) : 1;
		h->count += slots[k];
		h->buckets[bucket_of(mid)] += slots[k];
		if (lo < h->min)
			h->min = lo;
		if (hi > h->max)
			h->max = hi;
	}
	h->sum += sum;
}

uint64_t llmi_hist_quantile(const struct llmi_hist *h, double q)
{
	double rank, before = 0, v;
	unsigned b;

	if (!h->count)
		return 0;
	if (!(q > 0))
		return h->min;
	if (q >= 1)
		return h->max;
	rank = q * (double)h->count;
	for (b = 0; b < LLMI_HIST_BUCKETS; b++) {
		double c = (double)h->buckets[b];

		if (!c)
			continue;
		if (before + c >= rank) {
			v = bucket_lo(b) + (bucket_hi(b) - bucket_lo(b)) * ((rank - before) / c);
			if (v <= (double)h->min)
				return h->min;
			if (v >= (double)h->max)
				return h->max;
			return (uint64_t)v;
		}
		before += c;
	}
	return h->max;
}

double llmi_hist_mean(const struct llmi_hist *h)
{
	return h->count ? (double)h->sum / (double)h->count : 0.0;
}

static int digits(uint64_t v)
{
	int n = 1;

	while (v >= 10) {
		v /= 10;
		n++;
	}
	return n;
}

/*
 * The layout of bcc's print_log2_hist: "lo -> hi : count |****|". The value
 * columns widen when the range passes 2^32 and the bar narrows to keep every
 * line under 80 columns whatever the counts.
 */
void llmi_hist_print(FILE *f, const struct llmi_hist *h, const char *unit)
{
	uint64_t slots[LLMI_LOG2_SLOTS] = { 0 }, maxc = 0;
	int first = -1, last = -1, vw, cw, stars, k;
	unsigned b;

	for (b = 0; b < LLMI_HIST_BUCKETS; b++)
		slots[b / LLMI_HIST_SUB] += h->buckets[b];
	for (k = 0; k < LLMI_LOG2_SLOTS; k++) {
		if (!slots[k])
			continue;
		if (first < 0)
			first = k;
		last = k;
		if (slots[k] > maxc)
			maxc = slots[k];
	}
	if (first < 0)
		return;

	vw = last >= 32 ? 20 : 10;
	cw = digits(maxc) > 8 ? digits(maxc) : 8;
	/* "%*s -> %-*s : %-*s |" + bar + "|" */
	stars = 79 - (vw + 4 + vw + 3 + cw + 2 + 1);
	if (stars > 40)
		stars = 40;
	if (!unit)
		unit = "value";
	fprintf(f, "%*s%-*s : %-*s distribution\n", vw / 2, "", vw + 4 + vw - vw / 2, unit, cw,
		"count");
	for (k = first; k <= last; k++) {
		uint64_t lo = k ? 1ull << k : 0;
		uint64_t hi = k == 63 ? UINT64_MAX : (2ull << k) - 1;
		int n = (int)((slots[k] * (uint64_t)stars + maxc - 1) / maxc), i;

		fprintf(f, "%*llu -> %-*llu : %-*llu |", vw, (unsigned long long)lo, vw,
			(unsigned long long)hi, cw, (unsigned long long)slots[k]);
		for (i = 0; i < stars; i++)
			fputc(i < n ? '*' : ' ', f);
		fputs("|\n", f);
	}
}
