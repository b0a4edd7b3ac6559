// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the container reader: any bytes are opened as a
 * container from memory; every listed record is loaded and parsed (tensor
 * headers, string tables, event batches), the file is verified, and tensor
 * blobs are decoded with the codec. The reader must never read outside the
 * input nor trust a length it has not checked; ASan and UBSan watch.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec/codec.h"
#include "format/reader.h"

/* Decoding allocates the tensor's declared size: bound it so the fuzzer
 * explores parsing rather than the allocator. */
#define MAX_DECODE (16u << 20)

static int count_cb(void *ctx, uint32_t kind, uint64_t id, const char *s, uint32_t len)
{
	size_t *n = ctx;

	/* Touch every byte the parser hands out. */
	for (uint32_t i = 0; i < len; i++)
		*n += (unsigned char)s[i];
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct llmi_codec *codec;
	char err[LLMI_ERRLEN];
	struct llmi_verify_report rep;
	struct llmi_reader *r;
	size_t n = 0;

	if (!codec)
		codec = llmi_codec__new(1);
	r = llmi_reader__open_mem(data, size, err, sizeof(err));
	if (!r)
		return 0;
	for (size_t i = 0; i < llmi_reader__nr_records(r); i++) {
		const struct llmi_rec_info *ri = llmi_reader__record(r, i);
		struct llmi_tensor_info ti;
		struct llmi_events_rec eh;
		const void *ev;
		size_t len;
		uint8_t *p;

		if (ri->type == LLMI_REC_TENSOR)
			llmi_reader__tensor(r, i, &ti);
		p = llmi_reader__load(r, i, &len);
		if (!p)
			continue;
		switch (ri->type) {
		case LLMI_REC_TENSOR:
			if (!llmi_tensor_parse(p, len, &ti) && codec && ti.rec.raw_bytes <= MAX_DECODE &&
			    !(ti.rec.codec_flags & LLMI_CODEC_PREDICT)) {
				struct llmi_tensor_desc d = { .dtype = ti.rec.dtype, .ndim = ti.rec.ndim };
				struct llmi_codec_spec spec;
				void *dst = malloc(ti.rec.raw_bytes ? ti.rec.raw_bytes : 1);

				memcpy(d.shape, ti.rec.shape, sizeof(d.shape));
				llmi_codec_blob_spec(p + ti.blob_offset, ti.blob_len, &spec);
				if (dst)
					llmi_codec__decode(codec, p + ti.blob_offset, ti.blob_len, &d, NULL,
							   dst, ti.rec.raw_bytes);
				free(dst);
			}
			break;
		case LLMI_REC_STRINGS:
			llmi_strings_parse(p, len, count_cb, &n);
			break;
		case LLMI_REC_EVENTS:
			if (!llmi_events_parse(p, len, &eh, &ev) && eh.count)
				n += ((const uint8_t *)ev)[eh.count * eh.event_size - 1];
			break;
		}
		free(p);
	}
	llmi_reader__verify(r, &rep);
	llmi_reader__free(r);
	return 0;
}
