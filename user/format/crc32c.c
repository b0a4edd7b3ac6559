// SPDX-License-Identifier: MIT
/*
 * CRC32C for every record of the container. The writer checksums each
 * payload on the capture path and the reader each payload it returns, so
 * this runs over every byte stored: it uses the SSE4.2 crc32 instruction
 * when the running CPU has it (probed once, at load) and a slicing-by-8
 * table everywhere else. Both give the same values (Castagnoli polynomial,
 * reflected, inverted in and out, as iSCSI and ext4).
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "format/format.h"

#define POLY 0x82f63b78u

static uint32_t table[8][256];
static bool use_hw;

static void build_tables(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ POLY : c >> 1;
		table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xff];
}

uint32_t llmi_crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	crc = ~crc;
	while (len && ((uintptr_t)p & 7)) {
		crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xff];
		len--;
	}
	while (len >= 8) {
		uint64_t v;

		memcpy(&v, p, 8);
		v ^= crc;
		crc = table[7][v & 0xff] ^ table[6][(v >> 8) & 0xff] ^
		      table[5][(v >> 16) & 0xff] ^ table[4][(v >> 24) & 0xff] ^
		      table[3][(v >> 32) & 0xff] ^ table[2][(v >> 40) & 0xff] ^
		      table[1][(v >> 48) & 0xff] ^ table[0][v >> 56];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xff];
	return ~crc;
}

#if defined(__x86_64__)
/*
 * Three independent streams would hide the instruction's 3-cycle latency,
 * but one stream already runs at ~8 bytes/cycle-latency, well above the disk;
 * the simple loop is kept.
 */
__attribute__((target("sse4.2")))
static uint32_t crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t c = ~crc;

	while (len && ((uintptr_t)p & 7)) {
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
		len--;
	}
	while (len >= 8) {
		uint64_t v;

		memcpy(&v, p, 8);
		c = __builtin_ia32_crc32di(c, v);
		p += 8;
		len -= 8;
	}
	while (len--)
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
	return ~(uint32_t)c;
}
#endif

__attribute__((constructor))
static void crc32c_init(void)
{
	build_tables();
#if defined(__x86_64__)
	__builtin_cpu_init();
	use_hw = __builtin_cpu_supports("sse4.2");
#endif
}

uint32_t llmi_crc32c(uint32_t crc, const void *buf, size_t len)
{
#if defined(__x86_64__)
	if (use_hw)
		return crc32c_hw(crc, buf, len);
#endif
	return llmi_crc32c_sw(crc, buf, len);
}

const char *llmi_crc32c_impl(void)
{
	return use_hw ? "sse4.2" : "table";
}
