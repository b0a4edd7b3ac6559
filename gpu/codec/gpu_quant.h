/* SPDX-License-Identifier: MIT */
/*
 * The GPU half of the activation codec: quantisation codes computed on the
 * device, bit for bit the codes the CPU encoder computes (user/codec/
 * codec_int.h defines them), so a tensor can be quantised where it lives and
 * only the codes cross PCIe. C interface; the kernel is gpu/codec/quant.cu.
 */
#ifndef LLMI_GPU_QUANT_H
#define LLMI_GPU_QUANT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Number of usable CUDA devices; 0 with *why set when there is none. */
int llmi_gpu_devices(const char **why);

/*
 * Quantises n elements of dtype (enum llmi_dtype) from host memory on the
 * device: codes[i] as quant_codes() in user/codec/codec_int.h. mean (hidden
 * floats) and ref (n elements of dtype) may be NULL. 0 or -EIO (the CUDA
 * error is printed on stderr).
 */
int llmi_gpu_quant_codes(const void *src, int dtype, const void *ref, const float *mean,
			 uint32_t hidden, uint64_t e0, size_t n, float recip, int32_t *codes);

#ifdef __cplusplus
}
#endif
#endif
