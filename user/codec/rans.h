/* SPDX-License-Identifier: MIT */
/*
 * Static order-0 rANS over a byte alphabet, the entropy stage of the codec.
 *
 * 32 states are interleaved (symbol i goes to state i % 32) so the decoder
 * has 32 independent dependency chains: a scalar core overlaps them, the
 * AVX2 decoder holds them in four 8-lane registers and the AVX-512 encoder
 * in two 16-lane ones. States are 32 bits in [2^15, 2^31)
 * and renormalise 16 bits at a time, so a symbol costs at most one word read;
 * probabilities are quantised to 12 bits (M = 4096).
 *
 * Stream: 32 initial states (u32 LE, state 0 first), then u16 LE words in
 * the order the decoder consumes them. After the last symbol every state is
 * back at its start value, which the decoder checks.
 *
 * Frequency table: a 256-bit bitmap of the symbols present, then one u16 LE
 * per present symbol (its frequency); frequencies are >= 1 and sum to M.
 */
#ifndef LLMI_RANS_H
#define LLMI_RANS_H

#include <stddef.h>
#include <stdint.h>

#define RANS_LANES	32
#define RANS_SCALE	12
#define RANS_M		(1u << RANS_SCALE)
#define RANS_L		(1u << 15)
#define RANS_TABLE_MAX	(32 + 2 * 256)

/*
 * Per symbol: Giesen's reciprocal of the frequency, and packed into one word
 * the frequency (bits 0-12), the bias (13-25) and the reciprocal's shift
 * (26-30); the rest follows from those. Two words so the AVX-512 encoder
 * needs two gathers per 16 symbols.
 */
struct rans_enc_sym {
	uint32_t rcp_freq;
	uint32_t packed;
};

/* Buffer size for encoding n symbols (the stream is smaller by the slack). */
static inline size_t rans_stream_bound(size_t n)
{
	return 4 * RANS_LANES + 2 * n + 64;	/* 64: slack the vector stores may touch */
}

/* Scales hist (sum n > 0) to frequencies summing to RANS_M, >= 1 where present. */
void rans_normalise(const uint32_t hist[256], uint64_t n, uint16_t freq[256]);
/* Writes the frequency table; returns its size. */
size_t rans_write_table(const uint16_t freq[256], uint8_t *out);
/* Reads and checks a table: bytes used, or -EBADMSG. */
int rans_read_table(const uint8_t *in, size_t len, uint16_t freq[256]);
void rans_enc_init(const uint16_t freq[256], struct rans_enc_sym tab[256]);
void rans_dec_init(const uint16_t freq[256], uint32_t tab[RANS_M]);

/*
 * Encodes sym[0..n) into buf[0..cap) (cap >= rans_stream_bound(n)); the
 * stream is written at the end of buf. Returns its start; *len its size.
 */
uint8_t *rans_encode(const uint8_t *sym, size_t n, const struct rans_enc_sym *tab,
		     uint8_t *buf, size_t cap, size_t *len);
/* Decodes n symbols; -EBADMSG unless the stream is exactly consumed. */
int rans_decode(const uint8_t *in, size_t len, const uint32_t *tab, uint8_t *sym, size_t n);

/* Histogram of n bytes into hist[256] (zeroed first). */
void byte_histogram(const uint8_t *p, size_t n, uint32_t hist[256]);

#endif
