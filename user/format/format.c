// SPDX-License-Identifier: MIT
/*
 * Small helpers shared by the writer (user/io) and the reader: sealing and
 * checking the file header and record headers, and type names.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "format/format.h"

static const char *const type_names[LLMI_REC_TYPE_MAX] = {
	[LLMI_REC_PAD] = "pad",
	[LLMI_REC_TENSOR] = "tensor",
	[LLMI_REC_EVENTS] = "events",
	[LLMI_REC_STRINGS] = "strings",
	[LLMI_REC_STATS] = "stats",
	[LLMI_REC_SUMMARY] = "summary",
	[LLMI_REC_INDEX] = "index",
	[LLMI_REC_TRAILER] = "trailer",
	[LLMI_REC_TOKENS] = "tokens",
};

const char *llmi_rec_type_name(unsigned type)
{
	return type < LLMI_REC_TYPE_MAX ? type_names[type] : "unknown";
}

void llmi_rec_hdr_fill(struct llmi_rec_hdr *hdr, unsigned type, uint64_t seq,
		       uint64_t length, uint32_t data_crc)
{
	memset(hdr, 0, sizeof(*hdr));
	hdr->magic = LLMI_REC_MAGIC;
	hdr->type = type;
	hdr->length = length;
	hdr->seq = seq;
	hdr->hdr_crc = llmi_crc32c(0, hdr, offsetof(struct llmi_rec_hdr, hdr_crc));
	hdr->data_crc = data_crc;
}

int llmi_rec_hdr_check(const struct llmi_rec_hdr *hdr)
{
	if (hdr->magic != LLMI_REC_MAGIC)
		return -EBADMSG;
	if (hdr->hdr_crc != llmi_crc32c(0, hdr, offsetof(struct llmi_rec_hdr, hdr_crc)))
		return -EBADMSG;
	return 0;
}

void llmi_file_header_seal(struct llmi_file_header *h)
{
	h->crc = llmi_crc32c(0, h, offsetof(struct llmi_file_header, crc));
}

int llmi_file_header_check(const struct llmi_file_header *h)
{
	if (memcmp(h->magic, LLMI_FILE_MAGIC, 8))
		return -EBADMSG;
	if (h->crc != llmi_crc32c(0, h, offsetof(struct llmi_file_header, crc)))
		return -EBADMSG;
	return 0;
}

size_t llmi_format_dtype_size(unsigned dtype)
{
	switch (dtype) {
	case 1: return 4;	/* f32 */
	case 2: return 2;	/* bf16 */
	case 3: return 2;	/* f16 */
	default: return 0;
	}
}
