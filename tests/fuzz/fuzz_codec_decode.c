// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the codec's decoder: the input is a 4-byte tensor
 * description (dtype, flags and the kernel set, a shape selector) followed
 * by a blob. Decoding
 * must return 0 or -EBADMSG and never read or write out of bounds. Every
 * blob the decoder accepts is also encoded again, which fuzzes the encoder
 * over the same values.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec/codec.h"
#include "codec/codec_int.h"

static struct llmi_codec *codec;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct llmi_tensor_desc d = { 0 };
	struct llmi_codec_spec sp;
	uint64_t numel;
	size_t es, raw;
	void *out, *ref;
	int err;

	if (!codec && !(codec = llmi_codec__new(1)))
		abort();
	if (size < 4)
		return 0;
	d.dtype = (enum llmi_dtype)(1 + data[0] % 3);
	/* Every decoder the CPU has: portable, AVX2, AVX-512. */
	codec_simd_limit((data[1] >> 2) & 3);
	es = llmi_dtype_size(d.dtype);
	/* Shapes from the blob header itself, so most inputs get past it. */
	if (size >= 4 + 24) {
		memcpy(&numel, data + 4 + 16, 8);
		if (numel > (1u << 22))
			numel = data[2];
	} else {
		numel = data[2];
	}
	if (data[1] & 1) {
		d.ndim = 2;
		d.shape[1] = 1 + data[3] % 64;
		d.shape[0] = numel / d.shape[1];
	} else {
		d.ndim = 1;
		d.shape[0] = numel;
	}
	raw = llmi_tensor_numel(&d) * es;
	out = malloc(raw + 1);
	ref = calloc(1, raw + 1);
	if (!out || !ref)
		abort();
	err = llmi_codec__decode(codec, data + 4, size - 4, &d, (data[1] & 2) ? ref : NULL, out, raw);
	if (err && err != -EBADMSG && err != -EINVAL)
		abort();
	if (!llmi_codec_blob_spec(data + 4, size - 4, &sp) && !err) {
		size_t cap = llmi_codec_bound(raw), len;
		void *blob = malloc(cap);
		struct llmi_codec_stats st;

		if (!blob)
			abort();
		err = llmi_codec__encode(codec, &sp, &d, out, ref, blob, cap, &len, &st);
		if (!err && llmi_codec__decode(codec, blob, len, &d, ref, out, raw))
			abort();
		free(blob);
	}
	free(out);
	free(ref);
	return 0;
}
