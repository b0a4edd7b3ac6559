// SPDX-License-Identifier: MIT
/*
 * llmi_gpu_quant_check: quantises seeded tensors on the GPU and on the CPU
 * and compares the codes bit for bit: fp32, bf16 and fp16 input, with and
 * without channel means and a reference tensor, and values chosen to hit
 * the hard cases (exact .5 ties, denormals, -0, NaN/Inf, codes at the 2^30
 * limit). Exit 0 when every code matches, 1 on a mismatch or CUDA error,
 * 77 (skip) when the machine has no usable GPU.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/codec_int.h"
#include "gpu/codec/gpu_quant.h"

static uint64_t rng = 0x5eed;

static uint64_t rnd(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static float value(float step)
{
	double u = ((rnd() >> 11) + 0.5) * 0x1p-53;

	switch (rnd() % 8) {
	case 0:	/* an exact tie when step is a power of two */
		return ((float)(int)(rnd() % 2001) - 1000.0f + 0.5f) * step;
	case 1: {
		static const float sp[] = { NAN, INFINITY, -INFINITY, -0.0f, 0.0f, 1e-40f, -1e-45f, 3e38f };
		return sp[rnd() % 8];
	}
	case 2:
		return (float)((u - 0.5) * 1e12);
	default:
		return (float)(-copysign(1.0, u - 0.5) * log(1 - 2 * fabs(u - 0.5)));
	}
}

static void store(void *p, enum llmi_dtype dt, size_t i, float v)
{
	if (dt == LLMI_DTYPE_F32)
		((float *)p)[i] = v;
	else if (dt == LLMI_DTYPE_BF16)
		((uint16_t *)p)[i] = f32_to_bf16_rne(v);
	else
		((uint16_t *)p)[i] = f32_to_f16_rne(v);
}

int main(void)
{
	static const enum llmi_dtype dts[] = { LLMI_DTYPE_F32, LLMI_DTYPE_BF16, LLMI_DTYPE_F16 };
	static const float steps[] = { 0.125f, 0.1f, 3.7e-3f, 1e-30f, 1024.0f };
	const char *why = NULL;
	size_t n = 1 << 20;
	uint32_t hidden = 4096;
	uint64_t total = 0, bad = 0;
	void *x = malloc(n * 4), *ref = malloc(n * 4);
	float *mean = malloc(hidden * sizeof(float));
	int32_t *cpu = malloc(n * 4), *gpu = malloc(n * 4);

	if (!x || !ref || !mean || !cpu || !gpu) {
		fprintf(stderr, "llmi_gpu_quant_check: out of memory\n");
		return 1;
	}
	if (llmi_gpu_devices(&why) <= 0) {
		printf("skip: no usable GPU (%s)\n", why ? why : "none");
		return 77;
	}
	for (size_t d = 0; d < 3; d++) {
		for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
			float step = steps[s], recip = 1.0f / step;

			for (size_t i = 0; i < n; i++) {
				store(x, dts[d], i, value(step));
				store(ref, dts[d], i, (rnd() & 1) ? value(step) : 0.0f);
			}
			for (uint32_t c = 0; c < hidden; c++)
				mean[c] = (rnd() & 3) ? value(step) * 0.1f : 0.0f;
			for (int variant = 0; variant < 4; variant++) {
				const void *r = variant & 1 ? ref : NULL;
				const float *m = variant & 2 ? mean : NULL;
				uint64_t e0 = variant * 1000003ull;

				quant_codes(x, dts[d], r, m, hidden, e0, n, recip, cpu);
				if (llmi_gpu_quant_codes(x, dts[d], r, m, hidden, e0, n, recip, gpu))
					return 1;
				for (size_t i = 0; i < n; i++) {
					if (cpu[i] == gpu[i])
						continue;
					if (bad++ < 10)
						fprintf(stderr, "mismatch: %s step %g variant %d element %zu: cpu %d gpu %d\n",
							llmi_dtype_name(dts[d]), step, variant, i, cpu[i], gpu[i]);
				}
				total += n;
			}
		}
	}
	printf("llmi_gpu_quant_check: %llu codes compared, %llu differ\n",
	       (unsigned long long)total, (unsigned long long)bad);
	free(x); free(ref); free(mean); free(cpu); free(gpu);
	return bad ? 1 : 0;
}
