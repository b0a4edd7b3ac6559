// SPDX-License-Identifier: MIT
/*
 * Device tensors: the agent's only use of CUDA, through the driver API of
 * whatever libcuda.so.1 the program already loaded (dlopen RTLD_NOLOAD:
 * never loaded into a process that does not have it), its entry points
 * taken from cuGetProcAddress, so that it works under any runtime the
 * program uses, static or shared.
 *
 * The data path (DESIGN.md, "Capture, step by step"). Per attach, at the
 * first device capture: a device staging ring of --device-buffer bytes
 * (cuMemAlloc), a non-blocking side stream, an event, and the host ring
 * registered with cuMemHostRegister. Per tensor, in one critical section
 * (res_mu) so that reservations and the side stream's work keep one order:
 *   1. a device-to-device copy of the tensor into the staging ring, on the
 *      application's stream: the snapshot is taken where the stream is,
 *      before anything queued after the call can overwrite the tensor;
 *   2. an event recorded behind it on that stream, which the side stream
 *      waits for: the application's stream never waits for anything of ours;
 *   3. on the side stream, the device-to-host copy into the host slot, then
 *      a host function that publishes the slot, frees the staging region
 *      (regions are freed in order, as the side stream runs in order) and
 *      writes the eventfd.
 *
 * The agent's calls are told apart from the application's by where they
 * come from: every driver call below is made from a function of this file
 * (agent_cuda_*), never as a tail call (-fno-optimize-sibling-calls), so the
 * return address a probe sees at entry lies in libllminstr.so. Those on
 * the application's thread:
 *   per device tensor: cuPointerGetAttribute (memory type, device),
 *     cuMemGetAddressRange, cuCtxGetCurrent, cuStreamIsCapturing,
 *     cuMemcpyDtoDAsync and cuEventRecord (on the application's stream),
 *     cuStreamWaitEvent, cuMemcpyDtoHAsync and cuLaunchHostFunc (on the
 *     side stream), cuCtxPushCurrent/cuCtxPopCurrent when no context is
 *     current;
 *   at the first one of an attach: cuCtxGetDevice, cuDeviceGet,
 *     cuDevicePrimaryCtxRetain (no context current), cuMemAlloc,
 *     cuStreamCreate, cuEventCreate, cuMemHostRegister.
 * On the agent's own thread, at detach: cuCtxPushCurrent, cuStreamSynchronize
 * (or cuCtxSynchronize after a failure), cuMemHostUnregister, cuMemFree,
 * cuEventDestroy, cuStreamDestroy, cuCtxPopCurrent, cuDevicePrimaryCtxRelease.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "agent/agent.h"
#include "agent/cudrv.h"

#define G (&agent_g)
#define NOINLINE __attribute__((noinline))

/* ---- the driver's entry points ---- */

typedef ag_CUresult (*gpa_fn)(const char *, void **, int, uint64_t, int *);

static struct {
	ag_CUresult (*PointerGetAttribute)(void *, int, ag_CUdeviceptr);
	ag_CUresult (*MemGetAddressRange)(ag_CUdeviceptr *, size_t *, ag_CUdeviceptr);
	ag_CUresult (*CtxGetCurrent)(ag_CUcontext *);
	ag_CUresult (*CtxPushCurrent)(ag_CUcontext);
	ag_CUresult (*CtxPopCurrent)(ag_CUcontext *);
	ag_CUresult (*CtxGetDevice)(ag_CUdevice *);
	ag_CUresult (*CtxSynchronize)(void);
	ag_CUresult (*DeviceGet)(ag_CUdevice *, int);
	ag_CUresult (*DevicePrimaryCtxRetain)(ag_CUcontext *, ag_CUdevice);
	ag_CUresult (*DevicePrimaryCtxRelease)(ag_CUdevice);
	ag_CUresult (*MemAlloc)(ag_CUdeviceptr *, size_t);
	ag_CUresult (*MemFree)(ag_CUdeviceptr);
	ag_CUresult (*MemHostRegister)(void *, size_t, unsigned int);
	ag_CUresult (*MemHostUnregister)(void *);
	ag_CUresult (*StreamCreate)(ag_CUstream *, unsigned int);
	ag_CUresult (*StreamDestroy)(ag_CUstream);
	ag_CUresult (*StreamSynchronize)(ag_CUstream);
	ag_CUresult (*StreamIsCapturing)(ag_CUstream, int *);
	ag_CUresult (*StreamWaitEvent)(ag_CUstream, ag_CUevent, unsigned int);
	ag_CUresult (*EventCreate)(ag_CUevent *, unsigned int);
	ag_CUresult (*EventDestroy)(ag_CUevent);
	ag_CUresult (*EventRecord)(ag_CUevent, ag_CUstream);
	ag_CUresult (*MemcpyDtoDAsync)(ag_CUdeviceptr, ag_CUdeviceptr, size_t, ag_CUstream);
	ag_CUresult (*MemcpyDtoHAsync)(void *, ag_CUdeviceptr, size_t, ag_CUstream);
	ag_CUresult (*LaunchHostFunc)(ag_CUstream, ag_CUhostFn, void *);
	ag_CUresult (*GetErrorName)(ag_CUresult, const char **);
} cu;

static const struct {
	const char *name;
	size_t off;
} cu_names[] = {
#define N(f) { "cu" #f, offsetof(__typeof__(cu), f) }
	N(PointerGetAttribute), N(MemGetAddressRange), N(CtxGetCurrent), N(CtxPushCurrent),
	N(CtxPopCurrent), N(CtxGetDevice), N(CtxSynchronize), N(DeviceGet),
	N(DevicePrimaryCtxRetain), N(DevicePrimaryCtxRelease), N(MemAlloc), N(MemFree),
	N(MemHostRegister), N(MemHostUnregister), N(StreamCreate), N(StreamDestroy),
	N(StreamSynchronize), N(StreamIsCapturing), N(StreamWaitEvent), N(EventCreate),
	N(EventDestroy), N(EventRecord), N(MemcpyDtoDAsync), N(MemcpyDtoHAsync),
	N(LaunchHostFunc), N(GetErrorName),
#undef N
};

/* 0: not looked at yet or libcuda not loaded; 1 usable; -1 loaded, unusable */
static atomic_int cu_state;
static pthread_mutex_t cu_mu = PTHREAD_MUTEX_INITIALIZER;

static int cu_resolve(void *h)
{
	gpa_fn gpa = (gpa_fn)dlsym(h, "cuGetProcAddress_v2");
	size_t i;

	if (!gpa)	/* a driver older than CUDA 12 */
		return -ENOSYS;
	for (i = 0; i < sizeof(cu_names) / sizeof(cu_names[0]); i++) {
		void *fn = NULL;
		int st = -1;

		if (gpa(cu_names[i].name, &fn, AG_CUDA_API_VERSION,
			AG_CU_GET_PROC_ADDRESS_LEGACY_STREAM, &st) ||
		    st != AG_CU_GET_PROC_ADDRESS_SUCCESS || !fn)
			return -ENOSYS;
		memcpy((char *)&cu + cu_names[i].off, &fn, sizeof(fn));
	}
	return 0;
}

bool agent_cuda_loaded(void)
{
	int st = atomic_load_explicit(&cu_state, memory_order_acquire);

	if (st)
		return st > 0;
	/* not loaded the last time: the program may have loaded it since */
	pthread_mutex_lock(&cu_mu);
	if (!atomic_load(&cu_state)) {
		/* kept open: the reference keeps it loaded while we use it */
		void *h = dlopen("libcuda.so.1", RTLD_NOLOAD | RTLD_NOW | RTLD_LOCAL);

		if (h)
			atomic_store_explicit(&cu_state, cu_resolve(h) ? -1 : 1, memory_order_release);
	}
	st = atomic_load(&cu_state);
	pthread_mutex_unlock(&cu_mu);
	return st > 0;
}

static const char *cu_err(ag_CUresult r)
{
	const char *s = NULL;

	if (cu.GetErrorName && !cu.GetErrorName(r, &s) && s)
		return s;
	return "an unknown CUDA error";
}

/* ---- the device state of one attach ---- */

struct dev_cb {
	struct llmi_ring *ring;
	struct llmi_ring_slot *slot;
	uint64_t dev_end;
};

static struct {
	bool ready;			/* everything below allocated */
	bool ctx_set, retained, registered, need_ctx_sync;
	ag_CUcontext ctx;		/* the context of the staging ring */
	ag_CUdevice dev;
	ag_CUdeviceptr staging;
	ag_CUstream side;
	ag_CUevent ev;
	struct dev_cb *cbs;		/* one per host slot: seq & (nslots - 1) */
	uint64_t prod;			/* staging reserved up to (res_mu) */
	_Atomic uint64_t cons;		/* staging freed up to (side stream) */
} d;

static pthread_mutex_t dev_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t dev_cv = PTHREAD_COND_INITIALIZER;

#define DEV_ALIGN 256u		/* cudaMalloc's alignment, for the copies */

/* The side stream's host function: the tensor is in its host slot. */
static void on_copied(void *arg)
{
	struct dev_cb *cb = arg;

	atomic_store_explicit(&d.cons, cb->dev_end, memory_order_release);
	llmi_ring_publish(cb->ring, cb->slot, true);
	agent_notify();
	pthread_mutex_lock(&dev_mu);
	pthread_cond_broadcast(&dev_cv);
	pthread_mutex_unlock(&dev_mu);
}

/* Reserves bytes of staging, contiguous, released in order; dev_mu held. */
static int dev_try(uint64_t bytes, uint64_t size, uint64_t *off, uint64_t *end)
{
	uint64_t pos = (d.prod + DEV_ALIGN - 1) & ~(uint64_t)(DEV_ALIGN - 1);
	uint64_t o = pos % size, start = o + bytes > size ? pos + (size - o) : pos;

	if (start + bytes - atomic_load_explicit(&d.cons, memory_order_acquire) > size)
		return -EAGAIN;
	*off = start % size;
	*end = start + bytes;
	return 0;
}

/* a CLOCK_REALTIME deadline sec s and ms ms from now, for timed waits */
static void deadline_in(struct timespec *ts, long sec, long ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += sec;
	ts->tv_nsec += ms * 1000000L;
	ts->tv_sec += ts->tv_nsec / 1000000000L;
	ts->tv_nsec %= 1000000000L;
}

struct dev_room {
	uint64_t bytes, *off, *end;
};

static int dev_room_try(void *ctx)
{
	struct dev_room *r = ctx;

	return dev_try(r->bytes, G->s.dev_size, r->off, r->end);
}

/* the GPU has not copied the earlier tensors out yet; dev_mu held */
static void dev_room_wait(void *ctx)
{
	struct timespec ts;

	(void)ctx;
	deadline_in(&ts, 0, AGENT_WAIT_MS);
	pthread_cond_timedwait(&dev_cv, &dev_mu, &ts);
}

/* Staging room under --on-full: 0, -ENOBUFS, -ECANCELED; res_mu held. */
static int dev_reserve(uint64_t bytes, uint64_t *off, uint64_t *end)
{
	struct dev_room r = { .bytes = bytes, .off = off, .end = end };
	int rc;

	pthread_mutex_lock(&dev_mu);
	rc = agent_wait_room(dev_room_try, dev_room_wait, &r);
	pthread_mutex_unlock(&dev_mu);
	return rc;
}

void agent_cuda_wake(void)
{
	pthread_mutex_lock(&dev_mu);
	pthread_cond_broadcast(&dev_cv);
	pthread_mutex_unlock(&dev_mu);
}

/* ---- the calls, each from a function of its own ---- */

/* 1 device, 0 host, -EFAULT past the allocation's end. */
static NOINLINE int agent_cuda_classify_calls(struct agent_tensor *t)
{
	ag_CUdeviceptr p = (ag_CUdeviceptr)(uintptr_t)t->ptr, base = 0;
	unsigned int type = 0;
	size_t size = 0;

	/* pageable host memory is CUDA_ERROR_INVALID_VALUE, a process that
	 * never initialised CUDA NOT_INITIALIZED: host memory either way */
	if (cu.PointerGetAttribute(&type, AG_CU_POINTER_ATTRIBUTE_MEMORY_TYPE, p))
		return 0;
	if (type == AG_CU_MEMORYTYPE_HOST)
		return 0;	/* pinned or registered: the host reads it */
	if (cu.PointerGetAttribute(&t->ordinal, AG_CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL, p))
		t->ordinal = -1;
	/* managed memory has no range to check; device memory must hold it */
	if (!cu.MemGetAddressRange(&base, &size, p) && (p - base > size || size - (p - base) < t->bytes))
		return -EFAULT;
	return 1;
}

int agent_cuda_classify(struct agent_tensor *t)
{
	if (!agent_cuda_loaded())
		return 0;
	return agent_cuda_classify_calls(t);
}

/* Makes the staging context current: 0 (*pushed says whether it was pushed),
 * or -ENOTSUP when the thread works in another context. */
static NOINLINE int agent_cuda_ctx_enter(bool *pushed)
{
	ag_CUcontext cur = NULL;

	*pushed = false;
	if (cu.CtxGetCurrent(&cur))
		cur = NULL;
	if (cur == d.ctx)
		return 0;
	if (cur)
		return -ENOTSUP;
	if (cu.CtxPushCurrent(d.ctx))
		return -EIO;
	*pushed = true;
	return 0;
}

static NOINLINE void agent_cuda_ctx_leave(bool pushed)
{
	ag_CUcontext c;

	if (pushed)
		cu.CtxPopCurrent(&c);
}

#define EXIT_WAIT_S 10	/* the most a process's exit waits for its copies */

/*
 * At exit (atexit, registered at the first device setup, so that it runs
 * before the driver's own teardown): the copies queued on the side stream
 * land and are published, as detach would have them, so a program that
 * ends without waiting for its streams loses none of its tensors. It calls
 * no CUDA: the side stream's host functions move d.cons up to d.prod. A
 * wedged GPU delays the exit EXIT_WAIT_S at most; what did not land is
 * then what the tracer counts as unfinished.
 */
static void agent_cuda_at_exit(void)
{
	struct timespec end;
	uint64_t want;

	if (!atomic_load(&G->on) || !d.ready)
		return;
	deadline_in(&end, EXIT_WAIT_S, 0);
	if (pthread_mutex_timedlock(&G->res_mu, &end))
		return;
	want = d.prod;
	pthread_mutex_unlock(&G->res_mu);
	pthread_mutex_lock(&dev_mu);
	while (atomic_load_explicit(&d.cons, memory_order_acquire) < want && atomic_load(&G->on) &&
	       pthread_cond_timedwait(&dev_cv, &dev_mu, &end) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&dev_mu);
}

/* The first device capture of an attach: the context, the staging ring,
 * the side stream, the event, the host ring registered. */
static NOINLINE int agent_cuda_setup(int ordinal)
{
	static bool exit_hooked;
	struct agent_session *s = &G->s;
	ag_CUcontext cur = NULL;
	bool pushed = false;
	ag_CUresult r;
	const char *what;

	if (cu.CtxGetCurrent(&cur))
		cur = NULL;
	if (cur) {
		d.ctx = cur;
	} else {
		/* no context on this thread: the device's primary one (what
		 * the runtime uses), retained while we hold memory in it */
		what = "cuDeviceGet";
		if ((r = cu.DeviceGet(&d.dev, ordinal < 0 ? 0 : ordinal)))
			goto fail;
		what = "cuDevicePrimaryCtxRetain";
		if ((r = cu.DevicePrimaryCtxRetain(&d.ctx, d.dev)))
			goto fail;
		d.retained = true;
		what = "cuCtxPushCurrent";
		if ((r = cu.CtxPushCurrent(d.ctx)))
			goto fail;
		pushed = true;
	}
	d.ctx_set = true;
	what = "cuCtxGetDevice";
	if ((r = cu.CtxGetDevice(&d.dev)))
		goto fail;
	what = "cuMemAlloc of the device staging ring (--device-buffer)";
	if ((r = cu.MemAlloc(&d.staging, s->dev_size)))
		goto fail;
	what = "cuStreamCreate of the side stream";
	if ((r = cu.StreamCreate(&d.side, AG_CU_STREAM_NON_BLOCKING)))
		goto fail;
	what = "cuEventCreate";
	if ((r = cu.EventCreate(&d.ev, AG_CU_EVENT_DISABLE_TIMING)))
		goto fail;
	what = "cuMemHostRegister of the host ring (--buffer-size)";
	if ((r = cu.MemHostRegister(s->ring.data, s->ring.data_size, AG_CU_MEMHOSTREGISTER_PORTABLE)))
		goto fail;
	d.registered = true;
	d.cbs = calloc(s->ring.nslots, sizeof(*d.cbs));
	if (!d.cbs) {
		agent_fail("out of memory for %u copy records", s->ring.nslots);
		goto out;
	}
	d.prod = 0;
	atomic_store(&d.cons, 0);
	d.ready = true;
	if (!exit_hooked)	/* res_mu held: once per process */
		exit_hooked = !atexit(agent_cuda_at_exit);
	agent_cuda_ctx_leave(pushed);
	return 0;
fail:
	agent_fail("%s failed: %s; capture is off", what, cu_err(r));
out:
	agent_cuda_ctx_leave(pushed);
	return -EIO;
}

/* Queues the snapshot and the copy out; 0, or -EIO after agent_fail(). */
static NOINLINE int agent_cuda_snapshot(const struct agent_tensor *t, uint64_t doff, void *data,
					struct dev_cb *cb)
{
	ag_CUstream app = (ag_CUstream)t->stream;
	ag_CUdeviceptr stage = d.staging + doff;
	const char *what;
	ag_CUresult r;

	what = "cuMemcpyDtoDAsync (the snapshot on the application's stream)";
	if (!t->sliced) {
		if ((r = cu.MemcpyDtoDAsync(stage, (ag_CUdeviceptr)(uintptr_t)t->ptr, t->bytes, app)))
			goto fail;
	} else {
		/*
		 * pos=: the kept rows of each block, one copy per block (a
		 * batch of B sequences is B copies; [S, H] and [1, S, H] one),
		 * packed in staging as the tensor's kept shape.
		 */
		uint64_t n = t->pos_count * t->row_bytes;

		for (uint64_t k = 0; k < t->outer && n; k++)
			if ((r = cu.MemcpyDtoDAsync(stage + k * n, (ag_CUdeviceptr)(uintptr_t)t->ptr +
						    agent_slice_src(t, k), n, app)))
				goto fail;
	}
	/* from here on a copy into staging may be queued that the side
	 * stream does not wait for: a detach must wait for the context */
	d.need_ctx_sync = true;
	what = "cuEventRecord on the application's stream";
	if ((r = cu.EventRecord(d.ev, app)))
		goto fail;
	what = "cuStreamWaitEvent of the side stream";
	if ((r = cu.StreamWaitEvent(d.side, d.ev, 0)))
		goto fail;
	d.need_ctx_sync = false;
	what = "cuMemcpyDtoHAsync on the side stream";
	if ((r = cu.MemcpyDtoHAsync(data, stage, t->bytes, d.side)))
		goto fail;
	what = "cuLaunchHostFunc on the side stream";
	if ((r = cu.LaunchHostFunc(d.side, on_copied, cb)))
		goto fail;
	return 0;
fail:
	agent_fail("%s failed for '%s' (%llu bytes at %p, stream %p): %s; capture is off", what,
		   t->name, (unsigned long long)t->bytes, t->ptr, t->stream, cu_err(r));
	return -EIO;
}

static NOINLINE int agent_cuda_stream_capturing(void *stream, bool *yes)
{
	int st = AG_CU_STREAM_CAPTURE_STATUS_NONE;
	ag_CUresult r = cu.StreamIsCapturing((ag_CUstream)stream, &st);

	if (r) {
		agent_fail("cuStreamIsCapturing of stream %p failed: %s; capture is off", stream,
			   cu_err(r));
		return -EIO;
	}
	*yes = st != AG_CU_STREAM_CAPTURE_STATUS_NONE;
	return 0;
}

int agent_cuda_capture(const struct agent_tensor *t)
{
	struct agent_session *s = &G->s;
	struct llmi_ring_slot *slot;
	uint64_t doff, dend, old_prod;
	bool pushed = false, capturing;
	enum llmi_drop_reason why = LLMI_DROP_ERROR;
	struct dev_cb *cb;
	void *data;
	int rc;

	pthread_mutex_lock(&G->res_mu);
	if (!atomic_load(&G->on)) {
		rc = 0;
		goto out;
	}
	if (t->bytes > s->dev_size || t->bytes > s->ring.data_size) {
		rc = -E2BIG;
		why = LLMI_DROP_TOO_LARGE;
		goto drop;
	}
	if (!d.ready && (rc = agent_cuda_setup(t->ordinal)))
		goto drop;
	if (t->ordinal >= 0 && t->ordinal != d.dev) {
		rc = -ENOTSUP;	/* one device per attach: the first one's */
		goto drop;
	}
	rc = agent_cuda_ctx_enter(&pushed);
	if (rc)
		goto drop;
	/* inside a CUDA graph capture our copies would join the graph */
	rc = agent_cuda_stream_capturing(t->stream, &capturing);
	if (!rc && capturing)
		rc = -ENOTSUP;
	if (rc)
		goto drop;
	old_prod = d.prod;
	rc = dev_reserve(t->bytes, &doff, &dend);
	if (!rc) {
		rc = agent_host_reserve(t->bytes, &slot, &data);
		if (rc)
			d.prod = old_prod;
		else
			d.prod = dend;
	}
	if (rc == -ECANCELED) {
		rc = 0;
		goto out;
	}
	if (rc) {
		why = rc == -E2BIG ? LLMI_DROP_TOO_LARGE : LLMI_DROP_FULL;
		goto drop;
	}
	agent_fill_slot(slot, t, true);
	AGENT_PROBE_CAPTURE(slot->seq, t->name, (uint64_t)(uintptr_t)t->stream, t->bytes, t->step);
	cb = &d.cbs[slot->seq & (s->ring.nslots - 1)];
	cb->ring = &s->ring;
	cb->slot = slot;
	cb->dev_end = dend;
	rc = agent_cuda_snapshot(t, doff, data, cb);
	if (rc) {
		/* nothing will publish it: it holds nothing */
		llmi_ring_publish(&s->ring, slot, false);
		agent_notify();
		goto drop;
	}
	rc = 1;
	goto out;
drop:
	llmi_ring_count_drop(&s->ring, t->name, why);
out:
	agent_cuda_ctx_leave(pushed);
	pthread_mutex_unlock(&G->res_mu);
	return rc;
}

void agent_cuda_detach(void)
{
	struct agent_session *s = &G->s;
	ag_CUcontext c;
	bool pushed;

	if (d.ctx_set) {
		pushed = !cu.CtxPushCurrent(d.ctx);
		/* the copies queued into the host ring must land before it goes */
		if (d.need_ctx_sync)
			cu.CtxSynchronize();
		else if (d.side)
			cu.StreamSynchronize(d.side);
		if (d.registered)
			cu.MemHostUnregister(s->ring.data);
		if (d.staging)
			cu.MemFree(d.staging);
		if (d.ev)
			cu.EventDestroy(d.ev);
		if (d.side)
			cu.StreamDestroy(d.side);
		if (pushed)
			cu.CtxPopCurrent(&c);
	}
	if (d.retained)
		cu.DevicePrimaryCtxRelease(d.dev);
	free(d.cbs);
	memset(&d, 0, sizeof(d));
}

void agent_cuda_forget(void)
{
	free(d.cbs);
	memset(&d, 0, sizeof(d));
	pthread_mutex_init(&dev_mu, NULL);
	pthread_cond_init(&dev_cv, NULL);
	pthread_mutex_init(&cu_mu, NULL);
}
