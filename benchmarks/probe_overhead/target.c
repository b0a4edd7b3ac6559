// SPDX-License-Identifier: MIT
/*
 * The process benchmarks/probe_overhead measures: it launches a trivial
 * kernel through the stand-in runtime's cudaLaunchKernel (which enters
 * libcuda's cuLaunchKernel on the same thread, as NVIDIA's does) in a tight
 * loop, and nothing else, so that what a probe adds per call is as large a
 * share of the time as it can be. The kernel is registered the way nvcc
 * registers one (see gpu/sim/sim.h) and launched by its host stub address.
 *
 * It takes commands on stdin and answers one line each on stdout, so the
 * driver decides when probes are attached and each measurement runs only
 * with them in place:
 *
 *   run R N      R rounds of N launches; answers the ns per launch of each
 *                round (CLOCK_MONOTONIC around the launch loop only; the
 *                stream is drained after each round, outside the timing)
 *   pace RATE S  launches at RATE per second for S seconds, draining the
 *                queue every 10 ms; answers "launches achieved_per_s"
 *   quit         (or end of input) exits
 *
 * Each batch of launches queues behind a "gate" kernel that holds the
 * stream's worker (asleep, not spinning) until the batch is queued. The
 * stand-in wakes its worker on a launch that finds it idle; without the gate
 * a probe that slows the launcher would also turn every launch into a
 * cross-CPU wake-up, and the benchmark would measure the stand-in's wake-ups
 * rather than the probe (a GPU wakes no CPU thread per launch).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim.h"

#define NOOP_SYMBOL "_Z11noop_kernelPi"
#define GATE_SYMBOL "_Z11gate_kernelv"

static void noop_cpu(dim3 grid, dim3 block, size_t shmem, void **args)
{
	int *counter = *(int **)args[0];

	(*counter)++;
}

/* The gate's state is host memory: on the stand-in, "device code" is CPU code. */
static atomic_int gate_open, gate_entered;

static void gate_cpu(dim3 grid, dim3 block, size_t shmem, void **args)
{
	struct timespec ts = { 0, 20000 };

	atomic_store(&gate_entered, 1);
	while (!atomic_load(&gate_open))
		nanosleep(&ts, NULL);
}

static const struct sim_kernel_desc kernels[] = {
	{ NOOP_SYMBOL, noop_cpu, 1, { sizeof(void *) } },
	{ GATE_SYMBOL, gate_cpu, 0, { 0 } },
};
static const struct sim_image image = { SIM_IMAGE_MAGIC, SIM_IMAGE_VERSION, 2, kernels };
static const struct sim_fatbin_wrapper fatbin = { SIM_FATBIN_MAGIC, 1, &image, NULL };
static void **fatbin_handle;

/* The host stub: its symbol is the kernel's mangled name, as nvcc's is. */
void noop_stub(int *counter) __asm__(NOOP_SYMBOL) __attribute__((noinline, used));
void noop_stub(int *counter)
{
	void *a[] = { &counter };

	SIM_STUB_LAUNCH(noop_stub, a);
}

void gate_stub(void) __asm__(GATE_SYMBOL) __attribute__((noinline, used));
void gate_stub(void)
{
	SIM_STUB_LAUNCH(gate_stub, NULL);
}

__attribute__((constructor)) static void register_kernels(void)
{
	fatbin_handle = __cudaRegisterFatBinary((void *)&fatbin);
	__cudaRegisterFunction(fatbin_handle, (const char *)noop_stub, (char *)NOOP_SYMBOL,
			       NOOP_SYMBOL, -1, NULL, NULL, NULL, NULL, NULL);
	__cudaRegisterFunction(fatbin_handle, (const char *)gate_stub, (char *)GATE_SYMBOL,
			       GATE_SYMBOL, -1, NULL, NULL, NULL, NULL, NULL);
	__cudaRegisterFatBinaryEnd(fatbin_handle);
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int *counter;

static int launch(void)
{
	dim3 g = { 1, 1, 1 }, b = { 32, 1, 1 };
	void *args[] = { &counter };

	return cudaLaunchKernel((const void *)noop_stub, g, b, args, 0, 0) != cudaSuccess;
}

/* Queues the gate and waits until the worker sits in it. */
static int gate_close(void)
{
	dim3 one = { 1, 1, 1 };
	struct timespec ts = { 0, 10000 };

	atomic_store(&gate_open, 0);
	atomic_store(&gate_entered, 0);
	if (cudaLaunchKernel((const void *)gate_stub, one, one, NULL, 0, 0) != cudaSuccess)
		return 1;
	while (!atomic_load(&gate_entered))
		nanosleep(&ts, NULL);
	return 0;
}

/* Lets the worker run the queued launches and waits for them. */
static int gate_open_sync(void)
{
	atomic_store(&gate_open, 1);
	return cudaDeviceSynchronize() != cudaSuccess;
}

static int run(unsigned rounds, unsigned n)
{
	unsigned r, i;
	int err = 0;

	for (r = 0; r < rounds; r++) {
		double t0, t1;

		err |= gate_close();
		t0 = now_ns();
		for (i = 0; i < n; i++)
			err |= launch();
		t1 = now_ns();
		err |= gate_open_sync();
		printf("%s%.2f", r ? " " : "", (t1 - t0) / n);
	}
	printf("\n");
	return err;
}

static int pace(double rate, double secs)
{
	double t0, end, t, next_sync;
	unsigned long long n = 0;
	int err = gate_close();

	t0 = t = now_ns();
	end = t0 + secs * 1e9;
	next_sync = t0 + 1e7;
	while (t < end) {
		/* launch up to the schedule, a few at a time between clock reads */
		while ((double)n < (t - t0) * rate / 1e9) {
			err |= launch();
			n++;
		}
		t = now_ns();
		if (t >= next_sync) {
			/* a bounded backlog: the rate is of launches, not of queueing */
			err |= gate_open_sync();
			err |= gate_close();
			next_sync = t + 1e7;
		}
	}
	err |= gate_open_sync();
	printf("%llu %.0f\n", n, (double)n * 1e9 / (now_ns() - t0));
	return err;
}

int main(void)
{
	char line[128];
	unsigned a, b;
	double x, y;

	if (cudaMalloc((void **)&counter, sizeof(*counter)) != cudaSuccess) {
		fprintf(stderr, "probe_overhead_target: cudaMalloc failed: %s\n",
			cudaGetErrorString(cudaGetLastError()));
		return 1;
	}
	/* the first launches load the module and libcuda.so.1: before any measurement */
	if (run(2, 20000)) {
		fprintf(stderr, "probe_overhead_target: cudaLaunchKernel failed\n");
		return 1;
	}
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin)) {
		int err;

		if (sscanf(line, "run %u %u", &a, &b) == 2)
			err = run(a, b);
		else if (sscanf(line, "pace %lf %lf", &x, &y) == 2)
			err = pace(x, y);
		else if (!strncmp(line, "quit", 4))
			break;
		else {
			fprintf(stderr, "probe_overhead_target: unknown command: %s", line);
			return 1;
		}
		fflush(stdout);
		if (err) {
			fprintf(stderr, "probe_overhead_target: a CUDA call failed\n");
			return 1;
		}
	}
	return 0;
}
