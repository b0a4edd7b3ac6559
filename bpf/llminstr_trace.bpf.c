// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The uprobes of llminstr-trace on libcudart / libcuda (or an executable
 * with static cudart). Every probe is per process (the loader attaches with
 * a pid filter) and learns which API it serves from its attach cookie, so a
 * handful of programs cover some 110 functions.
 *
 * Launch probes are the hot path (hundreds of thousands per second in an
 * LLM decode loop): entry only, no string read, no allocation, no per-thread
 * state for a shared libcudart: array lookups and a ring buffer reservation
 * (events) or a per-CPU counter (-T, the per-kernel count). A read of user
 * memory (bpf_probe_read_user) is the dearest thing a probe body does (on
 * the reference VM about as much as the rest of the body together), so the
 * steady state reads none under -T and one per launch (its stream) in
 * events mode. Helper calls come next (on that VM a probe's first one costs
 * about 20 ns): under -T the launch probes call one each, the attach
 * cookie, and take the process from it (target_pid). Return probes exist
 * only where a duration is the point (synchronisations, synchronous copies
 * and memsets, allocations) or where a result is only known on return
 * (handles, graph ids).
 *
 * No call is counted twice:
 *  - nvcc 13's __cudaLaunchKernel thunk tail-jumps into cudaLaunchKernel,
 *    so only the latter is probed;
 *  - a driver launch whose caller (the return address at its entry) lies
 *    in the code of the process's libcudart was made by the runtime: it is
 *    the runtime launch already counted (or the runtime's own work inside
 *    another call). rt_text gives, from the ELF file, where that code lies
 *    relative to each probed runtime function; the first runtime probe
 *    that fires in a process turns it into addresses (rt_abs). A runtime
 *    call that failed before reaching the driver cannot swallow a later
 *    direct driver launch, from the application or from cuBLAS: that
 *    launch's caller is not in libcudart. The same test keeps runtime calls
 *    made from inside the runtime (cudaMemcpy built on cudaMemcpyAsync)
 *    from being counted twice.
 *    That test reads the stack; the steady state skips it. A runtime launch
 *    leaves a per-CPU mark (process, entry sp: the sp names the thread,
 *    whose stack no other thread shares); the runtime reaches the
 *    driver a fixed number of bytes deeper (rt_text.depth, learnt from the
 *    last launch the read confirmed). A driver launch on the marked thread
 *    and CPU at exactly that depth is the marked launch's own; anything
 *    else (no mark, another depth, a migration in between) takes the read.
 *    The one case this gets wrong: a runtime launch fails before reaching
 *    the driver and the same thread's next launch is a direct driver
 *    launch made from exactly that depth below it, on the same CPU: that
 *    driver launch is not counted (tests/e2e/trace_dedup.sh launches from
 *    the failed call's depth and deeper, and sweeps depths around the
 *    learnt one to show the window is that one depth);
 *  - with static cudart the runtime's code is the executable's, so callers
 *    cannot be told apart by address: there a runtime call marks its thread
 *    (stack pointer and return address at entry, task storage) and a driver
 *    launch counts as the runtime's when it is tail-jumped into with that
 *    very frame, or runs deeper while the return address is still in
 *    place (which a direct driver launch right after a runtime launch that
 *    failed early could imitate: documented, static cudart only);
 *  - calls made inside a timed runtime call are skipped through the
 *    per-thread depth of timed calls.
 *
 * Events mode streams one fixed-size record per call into a ring buffer with
 * BPF_RB_NO_WAKEUP; each CPU forces a wake-up every wake_every records it
 * submits (a per-CPU counter: no ring query per record), so at most about
 * an eighth of the ring waits between wake-ups, and the consumer also
 * drains the ring on a 100 ms timeout. -T (timing_only) keeps per-CPU counts, bytes
 * and log2 histograms instead and streams only rare records: names, capture,
 * instantiate and graph launches, the agent's tensor and step probes, and
 * the calls of a process while it has a stream capture open (graph nodes,
 * not executions: user space sorts them out; see in_place). With --capture
 * the launch probes of -T also keep each thread and stream's last launch
 * for the tensor probe (track_launch): a stream read, the thread's id and
 * a hash update per launch.
 *
 * Two tracers on one process both count exactly, and neither refuses the
 * other: each loads its own object, so all the state above (dedup ranges
 * and marks, per-thread slots, capture counts, counters, ring) is its own.
 * The kernel runs every consumer's entry program before a return probe
 * replaces the return address, so both read the caller. Each call then pays
 * both tracers' probes (tests/e2e/trace_two_tracers.sh).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>
#include "llminstr_events.h"

/* The sixth integer argument; libbpf's BPF_KPROBE names five. */
#if defined(__TARGET_ARCH_x86)
#define ARG6(ctx) ((ctx)->r9)
#else
#error "llminstr_trace.bpf.c: only x86-64 argument registers are described"
#endif

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile bool timing_only = false;
/*
 * -T with --capture: the launch probes also keep each thread and stream's
 * last launch (last_launches), which the capture probe reads, since no
 * launch reaches user space to tell it (see track_launch). Constant at
 * load: -T alone pays nothing for it.
 */
const volatile bool track_producers = false;
/* records a CPU submits between forced wake-ups (user space: ring / 8 / CPUs) */
const volatile __u32 wake_every = 4096;

/*
 * Threads whose calls are not the application's (the tracer's own CUDA
 * calls, later the agent's side stream): user space adds their tids to
 * excluded_tids and bumps excluded_count. The count keeps the lookup off
 * the hot path while nothing is excluded.
 */
__u32 excluded_count = 0;
/*
 * Per target (the attach cookie's index: one process): the stream captures
 * open in it, and whether user space asks for its calls to be streamed (see
 * in_place; user/trace/probes.h). Per target, because a capture open in one
 * process says nothing about another's launches, and a capture end whose
 * begin was never seen (a process attached mid-capture) must not close
 * another's. Scalar arrays: the skeleton then needs no shared struct type.
 */
__s32 target_captures[LLMI_MAX_TARGETS] = {};
__u32 target_stream[LLMI_MAX_TARGETS] = {};
/*
 * Each target's tgid, learnt by its first runtime launch (a target is one
 * process for the whole run): the probes are bound to that process, so the
 * attach cookie's target names it. A -T launch counts per process and
 * needs no thread, so it spares the pid_tgid helper call, which on the
 * reference VM costs as much as the rest of that probe's body.
 */
__u32 target_pid[LLMI_MAX_TARGETS] = {};
/* track_producers: the launches each target made so far (its launch numbers) */
__u64 target_launches[LLMI_MAX_TARGETS] = {};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);	/* set from --ring-size before load */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u8);
} excluded_tids SEC(".maps");

/*
 * track_producers: the last launch per (process, thread, stream). LRU and
 * bounded: a thread or stream long unused loses its entry, and a tensor
 * captured there then names no producer (never a wrong one).
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct llmi_stream_key);
	__type(value, struct llmi_last_launch);
} last_launches SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, LLMI_MAX_TARGETS * LLMI_API_MAX);
	__type(key, __u32);
	__type(value, struct llmi_text);
} rt_text SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, LLMI_MAX_TARGETS);
	__type(key, __u32);
	__type(value, struct llmi_range);
} rt_abs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LLMI_CTR_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LLMI_API_MAX);
	__type(key, __u32);
	__type(value, struct llmi_api_stat);
} api_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LLMI_COPY_KINDS);
	__type(key, __u32);
	__type(value, struct llmi_copy_stat);
} copy_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 16384);	/* set from --kernels before load */
	__type(key, struct llmi_kernel_key);
	__type(value, __u64);
} kernel_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LLMI_KCACHE_SLOTS);
	__type(key, __u32);
	__type(value, struct llmi_kcache_slot);
} kernel_cache SEC(".maps");

/*
 * The runtime launch last entered on this CPU (shared libcudart): its
 * process, entry sp and rt_text key. A driver launch on the same CPU in
 * that process, exactly rt_text.depth bytes below that sp, is that
 * launch's own and needs no stack read (see driver_dup). The sp names the
 * thread: the threads of a process have disjoint stacks, so no other
 * thread runs at that address (one that took over the stack of a thread
 * that exited since is the file comment's failed-launch case again). Per
 * CPU, not per thread: a store and a compare, no task storage; a launch
 * migrated between the two probes just takes the exact slow path.
 */
struct launch_mark {
	__u32 pid;
	__u32 key;
	__u64 sp;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct launch_mark);
} launch_marks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} unwoken SEC(".maps");		/* records submitted since this CPU's last wake-up */

struct slot {
	__u64 ts;
	__u64 cookie;
	__u64 a[6];
	__u64 stk;		/* first stack argument */
};

struct tstate {
	__u64 mark_sp;		/* static cudart: runtime call in flight, entry sp */
	__u64 mark_ret;		/* the return address stored there */
	__u32 depth;		/* timed runtime calls open on this thread */
	__u32 drv_depth;	/* timed driver calls (not launches) open on it */
	struct slot slot[LLMI_SLOTS];
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct tstate);
} tstates SEC(".maps");

static __always_inline void ctr_inc(__u32 i)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &i);

	if (v)
		(*v)++;
}

static __always_inline bool excluded(__u64 pid_tgid)
{
	__u32 tid = (__u32)pid_tgid;

	__u8 *who;

	if (!excluded_count)
		return false;
	who = bpf_map_lookup_elem(&excluded_tids, &tid);
	if (!who)
		return false;
	ctr_inc(*who == LLMI_EXCL_AGENT ? LLMI_CTR_AGENT : LLMI_CTR_EXCLUDED);
	return true;
}

static __always_inline struct tstate *tstate_get(bool create)
{
	return bpf_task_storage_get(&tstates, bpf_get_current_task_btf(), 0,
				    create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
}

/* bcc's log2: floor(log2(v)), 0 for v <= 1, as llmi_log2_slot(). */
static __always_inline __u32 log2_32(__u32 v)
{
	__u32 r, shift;

	r = (v > 0xFFFF) << 4; v >>= r;
	shift = (v > 0xFF) << 3; v >>= shift; r |= shift;
	shift = (v > 0xF) << 2; v >>= shift; r |= shift;
	shift = (v > 0x3) << 1; v >>= shift; r |= shift;
	r |= (v >> 1);
	return r;
}

static __always_inline __u32 log2_64(__u64 v)
{
	__u32 hi = v >> 32;

	return hi ? log2_32(hi) + 32 : log2_32((__u32)v);
}

static __always_inline void api_add(__u32 api, __u64 bytes, __u64 dur, bool timed)
{
	struct llmi_api_stat *s = bpf_map_lookup_elem(&api_stats, &api);

	if (!s)
		return;
	s->calls++;
	s->bytes += bytes;
	if (timed) {
		s->sum_ns += dur;
		s->slots[log2_64(dur) & 63]++;
	}
}

static __always_inline void copy_add(__u64 kind, __u64 bytes)
{
	__u32 k = kind < LLMI_COPY_KINDS ? (__u32)kind : LLMI_COPY_DEFAULT;
	struct llmi_copy_stat *s = bpf_map_lookup_elem(&copy_stats, &k);

	if (s) {
		s->calls++;
		s->bytes += bytes;
	}
}

static __always_inline struct llmi_event *ev_reserve(__u64 size)
{
	struct llmi_event *e = bpf_ringbuf_reserve(&events, size, 0);

	if (!e)
		ctr_inc(LLMI_CTR_LOST);
	return e;
}

/* Batched wake-ups: every wake_every records of a CPU (see the file comment). */
static __always_inline void ev_submit(void *e)
{
	__u32 zero = 0, *n = bpf_map_lookup_elem(&unwoken, &zero);
	__u64 flags = BPF_RB_NO_WAKEUP;

	if (n && ++*n >= wake_every) {
		*n = 0;
		flags = BPF_RB_FORCE_WAKEUP;
	}
	bpf_ringbuf_submit(e, flags);
}

static __always_inline void ev_fill(struct llmi_event *e, __u64 pid_tgid, __u8 type,
				    __u32 api, __u64 ts)
{
	e->ts_ns = ts;
	e->dur_ns = 0;
	e->pid = pid_tgid >> 32;
	e->tid = (__u32)pid_tgid;
	e->version = LLMI_EVENT_VERSION;
	e->type = type;
	e->api = api;
	e->ret = 0;
}

static __always_inline int emit(__u64 pid_tgid, __u8 type, __u32 api, __u64 ts, __u64 dur,
				__s32 ret, __u64 obj, __u64 stream, __u64 arg0, __u64 arg1)
{
	struct llmi_event *e = ev_reserve(sizeof(*e));

	if (!e)
		return 0;
	ev_fill(e, pid_tgid, type, api, ts);
	e->dur_ns = dur;
	e->ret = ret;
	e->obj = obj;
	e->stream = stream;
	e->arg0 = arg0;
	e->arg1 = arg1;
	ev_submit(e);
	return 0;
}

static __always_inline int emit_named(__u64 pid_tgid, __u8 type, __u32 api, __u64 ts,
				      __u64 obj, const void *name)
{
	struct llmi_name_event *e = (void *)ev_reserve(sizeof(*e));

	if (!e)
		return 0;
	ev_fill(&e->ev, pid_tgid, type, api, ts);
	e->ev.obj = obj;
	e->ev.stream = 0;
	e->ev.arg0 = (__u64)name;	/* user space retries from /proc/PID/mem */
	e->ev.arg1 = 0;
	if (bpf_probe_read_user_str(e->name, sizeof(e->name), name) < 0)
		e->name[0] = '\0';
	ev_submit(e);
	return 0;
}

static __always_inline __u64 dim_pack(__u64 xy, __u64 z)
{
	return (xy & 0xffffffffull) | ((xy >> 32) & 0xffff) << 32 | (z & 0xffff) << 48;
}

static __always_inline __u64 dim_pack3(__u64 x, __u64 y, __u64 z)
{
	return (x & 0xffffffffull) | (y & 0xffff) << 32 | (z & 0xffff) << 48;
}

/*
 * -T: launches per (pid, API, handle). A per-CPU direct-mapped array keeps
 * the hot handles (an LLM launches a few hundred distinct kernels): one
 * array lookup and a compare per launch. A slot taken by another handle
 * sends the launch to the per-CPU hash. User space sums both. The per-API
 * launch counts are the sums of these.
 */
static __always_inline void count_launch(__u64 pid_tgid, __u32 api, __u64 func)
{
	struct llmi_kernel_key k = { .pid = pid_tgid >> 32, .api = api, .func = func };
	__u32 idx = (__u32)((func >> 4) ^ (func >> 17) ^ ((__u64)api << 7) ^ k.pid) &
		    (LLMI_KCACHE_SLOTS - 1);
	struct llmi_kcache_slot *c = bpf_map_lookup_elem(&kernel_cache, &idx);
	__u64 *v, one = 1;

	if (c) {
		if (c->count && c->key.func == func && c->key.pid == k.pid && c->key.api == api) {
			c->count++;
			return;
		}
		if (!c->count) {	/* free on this CPU: per-CPU, so no race */
			c->key = k;
			c->count = 1;
			return;
		}
	}
	v = bpf_map_lookup_elem(&kernel_counts, &k);
	if (v) {
		(*v)++;
		return;
	}
	if (!bpf_map_update_elem(&kernel_counts, &k, &one, BPF_NOEXIST))
		return;
	v = bpf_map_lookup_elem(&kernel_counts, &k);	/* raced with another CPU */
	if (v)
		(*v)++;
	else
		ctr_inc(LLMI_CTR_KMAP_FULL);
}

/*
 * Whether -T counts this call in place. Not while its process has a stream
 * capture open: what is put on a capturing stream is a graph node, not an
 * execution, and only user space knows which streams capture (events joined
 * through cudaStreamWaitEvent), so the process's calls are streamed until
 * the capture ends. Not while user space asks for the process's calls
 * (target_stream). Two array loads, no helper call.
 */
static __always_inline bool in_place(__u64 cookie)
{
	__u32 t = LLMI_COOKIE_TARGET(cookie);

	return timing_only && target_captures[t] <= 0 && !target_stream[t];
}

static __always_inline void capture_opens(__u64 cookie)
{
	__sync_fetch_and_add(&target_captures[LLMI_COOKIE_TARGET(cookie)], 1);
}

/* An end with no begin seen (attached mid-capture) leaves the count alone. */
static __always_inline void capture_closes(__u64 cookie)
{
	__u32 t = LLMI_COOKIE_TARGET(cookie);

	if (target_captures[t] > 0)
		__sync_fetch_and_add(&target_captures[t], -1);
}

/*
 * track_producers: this launch is now the last on its thread and stream.
 * A launch counted in place takes the process's next launch number. One
 * that is streamed instead (its process has a stream capture open, see
 * in_place) may be a graph node rather than an execution, which only user
 * space can tell: it leaves the entry unknown (launch 0), so a tensor
 * captured right after it names no producer rather than a wrong one. A
 * thread's entry is only written by that thread: updated in place.
 */
static __always_inline void track_launch(__u64 pid_tgid, __u64 cookie, bool counted, __u32 api,
					 __u64 func, __u64 stream)
{
	struct llmi_stream_key k = { .pid = pid_tgid >> 32, .tid = (__u32)pid_tgid,
				     .stream = stream };
	struct llmi_last_launch v = { .func = func, .api = api }, *l;

	if (counted)
		v.launch = __sync_fetch_and_add(&target_launches[LLMI_COOKIE_TARGET(cookie)], 1) + 1;
	l = bpf_map_lookup_elem(&last_launches, &k);
	if (l)
		*l = v;
	else
		bpf_map_update_elem(&last_launches, &k, &v, BPF_ANY);
}

/*
 * A launch: counted in place (in_place(), decided once per launch by the
 * caller: the probe read its arguments for that decision), else streamed.
 */
static __always_inline int launch_out(__u64 pid_tgid, __u64 cookie, bool place, __u64 func,
				      __u64 stream, __u64 grid, __u64 block)
{
	__u32 api = LLMI_COOKIE_API(cookie);

	if (track_producers)
		track_launch(pid_tgid, cookie, place, api, func, stream);
	if (place) {
		count_launch(pid_tgid, api, func);
		return 0;
	}
	return emit(pid_tgid, LLMI_EV_LAUNCH, api, bpf_ktime_get_ns(), 0, 0, func, stream,
		    grid, block);
}

/*
 * Every runtime probe starts here: false when the call was made from inside
 * the runtime itself (skip it). ret is the return address at entry, or 0
 * when the probe did not read it (-T launches: that read is most of the
 * probe's cost); then only static cudart reads it, for its marker.
 */
static __always_inline bool runtime_entry(struct pt_regs *ctx, __u64 cookie, __u64 sp, __u64 ret,
					  __u64 pid_tgid, bool launch)
{
	__u32 target = LLMI_COOKIE_TARGET(cookie);
	__u32 key = target * LLMI_API_MAX + LLMI_COOKIE_API(cookie);
	struct llmi_text *r = bpf_map_lookup_elem(&rt_text, &key);
	struct launch_mark *m;
	struct llmi_range *a;
	struct tstate *t;
	__u32 zero = 0;
	__u64 lo, hi;

	if (!r)
		return true;
	if (r->flags & LLMI_TEXT_SHARED) {
		lo = PT_REGS_IP(ctx) + r->lo;
		hi = PT_REGS_IP(ctx) + r->hi;
		if (ret >= lo && ret < hi) {
			ctr_inc(LLMI_CTR_NESTED);
			return false;
		}
		a = bpf_map_lookup_elem(&rt_abs, &target);
		if (a && a->hi != hi) {		/* once per process */
			a->lo = lo;
			a->hi = hi;
		}
		if (launch && (m = bpf_map_lookup_elem(&launch_marks, &zero))) {
			m->pid = pid_tgid >> 32;
			m->sp = sp;
			m->key = key;
		}
		return true;
	}
	if (!(r->flags & LLMI_TEXT_STATIC))
		return true;
	t = tstate_get(true);
	if (!t)
		return true;
	if (t->depth) {
		ctr_inc(LLMI_CTR_NESTED);
		return false;
	}
	if (!ret)
		bpf_probe_read_user(&ret, sizeof(ret), (void *)sp);
	t->mark_sp = sp;
	t->mark_ret = ret;
	return true;
}

/* cudaLaunchKernel(func, dim3 grid, dim3 block, args, shmem, stream) and friends. */
SEC("uprobe")
int BPF_KPROBE(rt_launch, __u64 func, __u64 grid_xy, __u64 grid_z, __u64 block_xy,
	       __u64 block_z)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);
	__u32 target = LLMI_COOKIE_TARGET(cookie);
	__u32 api = LLMI_COOKIE_API(cookie);
	__u64 sp = PT_REGS_SP(ctx);
	__u64 stk[3] = {};	/* return address, sharedMem, stream */
	__u64 pid_tgid;
	bool place = in_place(cookie);

	/* -T, counted in place: the process is all the count needs (target_pid) */
	if (place && !track_producers && !excluded_count && target_pid[target]) {
		pid_tgid = (__u64)target_pid[target] << 32;
		if (runtime_entry(ctx, cookie, sp, 0, pid_tgid, true))
			count_launch(pid_tgid, api, func);
		return 0;
	}
	pid_tgid = bpf_get_current_pid_tgid();
	if (!target_pid[target])
		target_pid[target] = pid_tgid >> 32;
	if (excluded(pid_tgid))
		return 0;
	/* -T needs the stream only while a capture is open (or producers are kept) */
	if (!place || track_producers)
		bpf_probe_read_user(stk, sizeof(stk), (void *)sp);
	if (!runtime_entry(ctx, cookie, sp, stk[0], pid_tgid, true))
		return 0;
	return launch_out(pid_tgid, cookie, place, func, stk[2], dim_pack(grid_xy, grid_z),
			  dim_pack(block_xy, block_z));
}

/* cudaLaunchKernelExC(const cudaLaunchConfig_t *config, func, args). */
SEC("uprobe")
int BPF_KPROBE(rt_launch_exc, const void *config, __u64 func)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 cookie = bpf_get_attach_cookie(ctx);
	__u64 sp = PT_REGS_SP(ctx);
	__u32 cfg[10] = {};	/* grid[3], block[3], pad, smem(8), stream at byte 32 */
	__u64 ret = 0;

	if (excluded(pid_tgid))
		return 0;
	bpf_probe_read_user(&ret, sizeof(ret), (void *)sp);
	if (!runtime_entry(ctx, cookie, sp, ret, pid_tgid, true))
		return 0;
	bpf_probe_read_user(cfg, sizeof(cfg), config);
	return launch_out(pid_tgid, cookie, in_place(cookie), func, cfg[8] | (__u64)cfg[9] << 32,
			  dim_pack3(cfg[0], cfg[1], cfg[2]), dim_pack3(cfg[3], cfg[4], cfg[5]));
}

/*
 * The fast path of runtime -> driver dedup (shared libcudart), before any
 * stack read: true when this CPU's launch mark is this thread's runtime
 * launch and this driver launch runs exactly the learnt depth below it.
 * The mark is consumed either way; *learn gets the rt_text entry and
 * depth to record when the exact test (driver_dup) then finds the caller
 * in libcudart. A direct driver launch after a runtime launch that failed
 * before reaching the driver is told apart by its depth; only one made
 * from exactly that depth, on the same CPU, with no runtime launch in
 * between, would be taken for the runtime's (see the file comment).
 */
static __always_inline bool driver_marked(__u32 pid, __u64 sp, struct llmi_text **learn,
					  __u32 *depth)
{
	struct launch_mark *m;
	struct llmi_text *r;
	__u32 zero = 0, key;
	__u64 d;

	m = bpf_map_lookup_elem(&launch_marks, &zero);
	if (!m || m->pid != pid || sp >= m->sp)
		return false;
	d = m->sp - sp;
	key = m->key;
	m->pid = 0;
	if (d > 0xffffffffull)
		return false;
	r = bpf_map_lookup_elem(&rt_text, &key);
	if (!r || !(r->flags & LLMI_TEXT_SHARED))
		return false;
	if (r->depth == (__u32)d) {
		ctr_inc(LLMI_CTR_DEDUP);
		return true;
	}
	*learn = r;
	*depth = (__u32)d;
	return false;
}

/*
 * Driver launches: true when this one was made by the runtime (see the file
 * comment). caller is the return address at the driver function's entry.
 */
static __always_inline bool driver_dup(__u64 cookie, __u64 sp, __u64 caller,
				       struct llmi_text *learn, __u32 depth)
{
	__u32 target = LLMI_COOKIE_TARGET(cookie);
	struct llmi_range *a = bpf_map_lookup_elem(&rt_abs, &target);
	__u64 msp, ret = 0;
	struct tstate *t;

	if (!a)
		return false;
	if (a->flags & LLMI_TEXT_SHARED) {
		if (caller >= a->lo && caller < a->hi) {
			if (learn)	/* the last verified depth wins */
				learn->depth = depth;
			goto dup;
		}
		return false;
	}
	if (!(a->flags & LLMI_TEXT_STATIC))
		return false;
	t = tstate_get(false);
	if (!t)
		return false;
	if (t->depth) {
		ctr_inc(LLMI_CTR_NESTED);
		return true;
	}
	msp = t->mark_sp;
	if (!msp)
		return false;
	t->mark_sp = 0;
	if (sp == msp && caller == t->mark_ret)
		goto dup;	/* tail-jumped into from the runtime call */
	if (sp < msp && !bpf_probe_read_user(&ret, sizeof(ret), (void *)msp) && ret == t->mark_ret)
		goto dup;	/* deeper, with the runtime call's frame in place */
	return false;
dup:
	ctr_inc(LLMI_CTR_DEDUP);
	return true;
}

/*
 * A driver launch's process before the mark test, with no helper call in
 * the common case (see target_pid); *pid_tgid is set when the helper ran.
 * false when the thread is excluded.
 */
static __always_inline bool driver_pid(__u64 cookie, __u32 *pid, __u64 *pid_tgid)
{
	__u32 target = LLMI_COOKIE_TARGET(cookie);

	*pid = target_pid[target];
	if (*pid && !excluded_count)
		return true;
	*pid_tgid = bpf_get_current_pid_tgid();
	*pid = *pid_tgid >> 32;
	if (!target_pid[target])
		target_pid[target] = *pid;
	return !excluded(*pid_tgid);
}

/*
 * A driver call other than a launch (a copy, memset, allocation, event,
 * graph call or sync) that is not the application's own: made by the
 * runtime on behalf of a runtime call already counted (inside a timed
 * runtime call, the thread's depth; or, for a shared libcudart, called from
 * its code), or by the driver itself (called from libcuda's code, should an
 * exported function call another). Such calls are rare next to launches:
 * the caller (the return address at entry) is simply read.
 */
static __always_inline bool driver_caller_dup(struct pt_regs *ctx, __u64 cookie)
{
	__u32 target = LLMI_COOKIE_TARGET(cookie);
	__u32 key = target * LLMI_API_MAX + LLMI_COOKIE_API(cookie);
	struct llmi_text *d = bpf_map_lookup_elem(&rt_text, &key);
	struct llmi_range *a;
	__u64 caller = 0;

	bpf_probe_read_user(&caller, sizeof(caller), (void *)PT_REGS_SP(ctx));
	if (d && (d->flags & LLMI_TEXT_DRIVER) && caller >= PT_REGS_IP(ctx) + d->lo &&
	    caller < PT_REGS_IP(ctx) + d->hi)
		return true;
	a = bpf_map_lookup_elem(&rt_abs, &target);
	return a && (a->flags & LLMI_TEXT_SHARED) && caller >= a->lo && caller < a->hi;
}

/* The same for an entry-only driver call: also inside any timed call. */
static __always_inline bool driver_call_dup(struct pt_regs *ctx, __u64 cookie)
{
	struct tstate *t = tstate_get(false);

	if ((t && (t->depth || t->drv_depth)) || driver_caller_dup(ctx, cookie)) {
		ctr_inc(LLMI_CTR_NESTED);
		return true;
	}
	return false;
}

/* cuLaunchKernel(f, gx, gy, gz, bx, by, bz, shmem, stream, params, extra). */
SEC("uprobe")
int BPF_KPROBE(drv_launch, __u64 f, __u64 gx, __u64 gy, __u64 gz, __u64 bx)
{
	__u64 by = ARG6(ctx);
	__u64 cookie = bpf_get_attach_cookie(ctx);
	__u64 sp = PT_REGS_SP(ctx);
	__u64 stk[4] = {};	/* return address, bz, shmem, stream */
	struct llmi_text *learn = NULL;
	__u64 pid_tgid = 0;
	__u32 depth = 0, pid;
	bool place;

	if (!driver_pid(cookie, &pid, &pid_tgid))
		return 0;
	if (driver_marked(pid, sp, &learn, &depth))
		return 0;
	if (!pid_tgid)
		pid_tgid = bpf_get_current_pid_tgid();
	place = in_place(cookie);
	if (place && !track_producers)
		bpf_probe_read_user(stk, sizeof(stk[0]), (void *)sp);
	else
		bpf_probe_read_user(stk, sizeof(stk), (void *)sp);
	if (driver_dup(cookie, sp, stk[0], learn, depth))
		return 0;
	return launch_out(pid_tgid, cookie, place, f, stk[3], dim_pack3(gx, gy, gz),
			  dim_pack3(bx, by, stk[1]));
}

/* cuLaunchKernelEx(const CUlaunchConfig *config, f, params, extra). */
SEC("uprobe")
int BPF_KPROBE(drv_launch_ex, const void *config, __u64 f)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);
	__u32 cfg[10] = {};	/* grid[3], block[3], smem, pad, stream at byte 32 */
	__u64 sp = PT_REGS_SP(ctx), caller = 0;
	struct llmi_text *learn = NULL;
	__u64 pid_tgid = 0;
	__u32 depth = 0, pid;

	if (!driver_pid(cookie, &pid, &pid_tgid))
		return 0;
	if (driver_marked(pid, sp, &learn, &depth))
		return 0;
	if (!pid_tgid)
		pid_tgid = bpf_get_current_pid_tgid();
	bpf_probe_read_user(&caller, sizeof(caller), (void *)sp);
	if (driver_dup(cookie, sp, caller, learn, depth))
		return 0;
	bpf_probe_read_user(cfg, sizeof(cfg), config);
	return launch_out(pid_tgid, cookie, in_place(cookie), f, cfg[8] | (__u64)cfg[9] << 32,
			  dim_pack3(cfg[0], cfg[1], cfg[2]), dim_pack3(cfg[3], cfg[4], cfg[5]));
}

/*
 * Entry-only calls that are not launches: asynchronous copies and memsets,
 * event record / wait, capture begin, graph launch, frees on a stream and
 * the registration of host stubs.
 */
SEC("uprobe")
int BPF_KPROBE(call_entry, __u64 a0, __u64 a1, __u64 a2, __u64 a3, __u64 a4)
{
	__u64 a5 = ARG6(ctx);
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 cookie = bpf_get_attach_cookie(ctx);
	__u32 api = LLMI_COOKIE_API(cookie);
	__u32 layout = LLMI_COOKIE_LAYOUT(cookie);
	__u64 sp = PT_REGS_SP(ctx);
	__u64 stk[3] = {};	/* return address, stack arguments 1 and 2 */
	__u64 ts = bpf_ktime_get_ns();
	__u64 bytes;

	if (excluded(pid_tgid))
		return 0;
	bpf_probe_read_user(stk, sizeof(stk), (void *)sp);
	if (!runtime_entry(ctx, cookie, sp, stk[0], pid_tgid, false))
		return 0;

	switch (layout) {
	case LLMI_L_MEMCPY:	/* cudaMemcpyAsync(dst, src, count, kind, stream) */
		if (in_place(cookie)) {
			api_add(api, a2, 0, false);
			copy_add(a3, a2);
			return 0;
		}
		return emit(pid_tgid, LLMI_EV_MEMCPY, api, ts, 0, 0, a0, a4, a2, a3);
	case LLMI_L_MEMCPY_2D:	/* (dst, dpitch, src, spitch, w, h, kind, stream) */
		bytes = a4 * a5;
		if (in_place(cookie)) {
			api_add(api, bytes, 0, false);
			copy_add(stk[1], bytes);
			return 0;
		}
		return emit(pid_tgid, LLMI_EV_MEMCPY, api, ts, 0, 0, a0, stk[2], bytes, stk[1]);
	case LLMI_L_MEMSET:	/* cudaMemsetAsync(ptr, value, count, stream) */
		if (in_place(cookie)) {
			api_add(api, a2, 0, false);
			return 0;
		}
		return emit(pid_tgid, LLMI_EV_MEMSET, api, ts, 0, 0, a0, a3, a2, 0);
	case LLMI_L_MEMSET_2D:	/* (ptr, pitch, value, w, h, stream) */
		bytes = a3 * a4;
		if (in_place(cookie)) {
			api_add(api, bytes, 0, false);
			return 0;
		}
		return emit(pid_tgid, LLMI_EV_MEMSET, api, ts, 0, 0, a0, a5, bytes, 0);
	case LLMI_L_FREE:	/* cudaFreeAsync(ptr, stream) */
		if (timing_only) {
			api_add(api, 0, 0, false);
			return 0;
		}
		return emit(pid_tgid, LLMI_EV_FREE, api, ts, 0, 0, a0, a1, 0, 0);
	case LLMI_L_EVENT_RECORD:	/* (event, stream): joins captures */
		if (in_place(cookie)) {
			api_add(api, 0, 0, false);
			return 0;
		}
		return emit(pid_tgid, LLMI_EV_EVENT_RECORD, api, ts, 0, 0, a0, a1, 0, 0);
	case LLMI_L_STREAM_WAIT:	/* (stream, event, flags) */
		if (in_place(cookie)) {
			api_add(api, 0, 0, false);
			return 0;
		}
		return emit(pid_tgid, LLMI_EV_STREAM_WAIT, api, ts, 0, 0, a1, a0, 0, 0);
	case LLMI_L_CAPTURE_BEGIN:
		capture_opens(cookie);
		return emit(pid_tgid, LLMI_EV_CAPTURE_BEGIN, api, ts, 0, 0, 0, a0, 0, 0);
	case LLMI_L_GRAPH_LAUNCH:	/* always streamed: user space expands it */
		if (track_producers)	/* one launch number; user space names its last kernel */
			track_launch(pid_tgid, cookie, in_place(cookie), api, a0, a1);
		return emit(pid_tgid, LLMI_EV_GRAPH_LAUNCH, api, ts, 0, 0, a0, a1, 0, 0);
	default:
		if (timing_only)
			api_add(api, 0, 0, false);
		else
			emit(pid_tgid, LLMI_EV_SYNC, api, ts, 0, 0, a0, 0, 0, 0);
		return 0;
	}
}

/*
 * Entry-only driver calls: asynchronous copies and memsets (their direction
 * or element size in the cookie), event records, stream waits, capture
 * begins and graph launches.
 */
SEC("uprobe")
int BPF_KPROBE(drv_call_entry, __u64 a0, __u64 a1, __u64 a2, __u64 a3)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 cookie = bpf_get_attach_cookie(ctx);
	__u32 api = LLMI_COOKIE_API(cookie), arg = LLMI_COOKIE_ARG(cookie);
	__u64 ts = bpf_ktime_get_ns(), bytes;

	if (excluded(pid_tgid) || driver_call_dup(ctx, cookie))
		return 0;
	switch (LLMI_COOKIE_LAYOUT(cookie)) {
	case LLMI_L_CU_COPY:	/* (dst, src, bytes, stream) */
		if (in_place(cookie)) {
			api_add(api, a2, 0, false);
			copy_add(arg, a2);
			return 0;
		}
		return emit(pid_tgid, LLMI_EV_MEMCPY, api, ts, 0, 0, a0, a3, a2, arg);
	case LLMI_L_CU_MEMSET:	/* (ptr, value, n, stream) */
		bytes = a2 * arg;
		if (in_place(cookie)) {
			api_add(api, bytes, 0, false);
			return 0;
		}
		return emit(pid_tgid, LLMI_EV_MEMSET, api, ts, 0, 0, a0, a3, bytes, 0);
	case LLMI_L_EVENT_RECORD:	/* (event, stream) */
		if (in_place(cookie)) {
			api_add(api, 0, 0, false);
			return 0;
		}
		return emit(pid_tgid, LLMI_EV_EVENT_RECORD, api, ts, 0, 0, a0, a1, 0, 0);
	case LLMI_L_CAPTURE_BEGIN:	/* (stream, mode) */
		capture_opens(cookie);
		return emit(pid_tgid, LLMI_EV_CAPTURE_BEGIN, api, ts, 0, 0, 0, a0, 0, 0);
	case LLMI_L_GRAPH_LAUNCH:	/* (exec, stream): always streamed, expanded above */
		if (track_producers)
			track_launch(pid_tgid, cookie, in_place(cookie), api, a0, a1);
		return emit(pid_tgid, LLMI_EV_GRAPH_LAUNCH, api, ts, 0, 0, a0, a1, 0, 0);
	default:	/* stream waits: (stream, event, flags) */
		if (in_place(cookie)) {
			api_add(api, 0, 0, false);
			return 0;
		}
		return emit(pid_tgid, LLMI_EV_STREAM_WAIT, api, ts, 0, 0, a1, a0, 0, 0);
	}
}

/* Entry of a return-probed call: remember its time and arguments. */
SEC("uprobe")
int BPF_KPROBE(timed_enter, __u64 a0, __u64 a1, __u64 a2, __u64 a3, __u64 a4)
{
	__u64 a5 = ARG6(ctx);
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 cookie = bpf_get_attach_cookie(ctx);
	__u32 slot = LLMI_COOKIE_SLOT(cookie);
	struct tstate *t;
	struct slot *s;

	if (excluded(pid_tgid))
		return 0;
	t = tstate_get(true);
	if (!t)
		return 0;
	if (slot == LLMI_SLOT_CALL) {
		if (t->depth++) {
			ctr_inc(LLMI_CTR_NESTED);
			return 0;
		}
		/* a driver launch inside is this call's own */
		t->mark_sp = 0;
	} else if (slot == LLMI_SLOT_DRV_CALL || slot == LLMI_SLOT_DRV_GRAPH) {
		/*
		 * The runtime's or the driver's own call is skipped. Nesting is
		 * counted (drv_depth, balanced by timed_exit) rather than read
		 * from the caller alone: at the entry of a function that has a
		 * return probe, the return address may already be the probe's
		 * trampoline.
		 */
		if (t->depth) {
			ctr_inc(LLMI_CTR_NESTED);
			return 0;
		}
		if (t->drv_depth++ || driver_caller_dup(ctx, cookie)) {
			ctr_inc(LLMI_CTR_NESTED);	/* its exit finds no saved entry */
			return 0;
		}
	}
	s = &t->slot[slot & (LLMI_SLOTS - 1)];
	s->cookie = cookie;
	s->a[0] = a0;
	s->a[1] = a1;
	s->a[2] = a2;
	s->a[3] = a3;
	s->a[4] = a4;
	s->a[5] = a5;
	s->stk = 0;
	if (LLMI_COOKIE_LAYOUT(cookie) == LLMI_L_MEMCPY_2D)
		bpf_probe_read_user(&s->stk, sizeof(s->stk), (void *)(PT_REGS_SP(ctx) + 8));
	s->ts = bpf_ktime_get_ns();
	return 0;
}

static __always_inline __u64 read_out_ptr(__u64 p)
{
	__u64 v = 0;

	bpf_probe_read_user(&v, sizeof(v), (void *)p);
	return v;
}

SEC("uretprobe")
int BPF_KRETPROBE(timed_exit, long rc)
{
	__u64 now = bpf_ktime_get_ns();
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 cookie = bpf_get_attach_cookie(ctx);
	__u32 api = LLMI_COOKIE_API(cookie);
	__u32 slot = LLMI_COOKIE_SLOT(cookie);
	__u64 ts, dur, bytes = 0, obj;
	struct tstate *t;
	struct slot *s;
	__u8 type;

	if (excluded(pid_tgid))
		return 0;
	t = tstate_get(false);
	if (!t)
		return 0;
	if (slot == LLMI_SLOT_CALL) {
		if (!t->depth)		/* attached while the call was running */
			return 0;
		if (--t->depth)
			return 0;
	} else if (slot == LLMI_SLOT_DRV_CALL || slot == LLMI_SLOT_DRV_GRAPH) {
		if (t->depth || !t->drv_depth)	/* the runtime's own; or attached mid-call */
			return 0;
		if (--t->drv_depth)
			return 0;
	}
	s = &t->slot[slot & (LLMI_SLOTS - 1)];
	if (!s->ts || s->cookie != cookie)
		return 0;
	ts = s->ts;
	s->ts = 0;
	dur = now - ts;

	switch (LLMI_COOKIE_LAYOUT(cookie)) {
	case LLMI_L_GET_KERNEL:
		return emit(pid_tgid, LLMI_EV_GET_KERNEL, api, ts, dur, rc, read_out_ptr(s->a[0]), 0,
			    s->a[1], 0);
	case LLMI_L_GET_NAMED:
		return emit_named(pid_tgid, LLMI_EV_NAMED, api, ts, read_out_ptr(s->a[0]),
				  (void *)s->a[2]);
	case LLMI_L_KERNEL_FUNC:
		return emit(pid_tgid, LLMI_EV_KERNEL_FUNC, api, ts, dur, rc, read_out_ptr(s->a[0]),
			    0, s->a[1], 0);
	case LLMI_L_CAPTURE_END:
		capture_closes(cookie);
		return emit(pid_tgid, LLMI_EV_CAPTURE_END, api, ts, dur, rc,
			    read_out_ptr(s->a[1]), s->a[0], 0, 0);
	case LLMI_L_INSTANTIATE:
		return emit(pid_tgid, LLMI_EV_INSTANTIATE, api, ts, dur, rc, read_out_ptr(s->a[0]),
			    0, s->a[1], 0);
	case LLMI_L_MEMCPY:	/* cudaMemcpy(dst, src, count, kind) */
		if (timing_only) {
			api_add(api, s->a[2], dur, true);
			copy_add(s->a[3], s->a[2]);
			return 0;
		}
		return emit(pid_tgid, LLMI_EV_MEMCPY, api, ts, dur, rc, s->a[0], 0, s->a[2], s->a[3]);
	case LLMI_L_MEMCPY_2D:
		bytes = s->a[4] * s->a[5];
		if (timing_only) {
			api_add(api, bytes, dur, true);
			copy_add(s->stk, bytes);
			return 0;
		}
		return emit(pid_tgid, LLMI_EV_MEMCPY, api, ts, dur, rc, s->a[0], 0, bytes, s->stk);
	case LLMI_L_CU_COPY:	/* cuMemcpyHtoD_v2(dst, src, bytes) ... */
		if (timing_only) {
			api_add(api, s->a[2], dur, true);
			copy_add(LLMI_COOKIE_ARG(cookie), s->a[2]);
			return 0;
		}
		return emit(pid_tgid, LLMI_EV_MEMCPY, api, ts, dur, rc, s->a[0], 0, s->a[2],
			    LLMI_COOKIE_ARG(cookie));
	case LLMI_L_MEMSET:
		bytes = s->a[2];
		type = LLMI_EV_MEMSET;
		obj = s->a[0];
		break;
	case LLMI_L_CU_MEMSET:	/* cuMemsetD32_v2(ptr, value, n) */
		bytes = s->a[2] * LLMI_COOKIE_ARG(cookie);
		type = LLMI_EV_MEMSET;
		obj = s->a[0];
		break;
	case LLMI_L_MEMSET_2D:
		bytes = s->a[3] * s->a[4];
		type = LLMI_EV_MEMSET;
		obj = s->a[0];
		break;
	case LLMI_L_MALLOC:
		bytes = s->a[1];
		type = LLMI_EV_ALLOC;
		obj = read_out_ptr(s->a[0]);
		break;
	case LLMI_L_MALLOC_PITCH:
		bytes = s->a[2] * s->a[3];
		type = LLMI_EV_ALLOC;
		obj = read_out_ptr(s->a[0]);
		break;
	case LLMI_L_FREE:
		type = LLMI_EV_FREE;
		obj = s->a[0];
		break;
	default:		/* synchronisations */
		type = LLMI_EV_SYNC;
		obj = s->a[0];
		break;
	}
	if (timing_only) {
		api_add(api, bytes, dur, true);
		return 0;
	}
	return emit(pid_tgid, type, api, ts, dur, rc, obj, 0, bytes, 0);
}

/*
 * __cudaRegisterFunction(fatbin, hostFun, deviceFun, ...): runs in static
 * constructors, before the executable's .rodata has been touched, so the
 * name must be faulted in: a sleepable probe with bpf_copy_from_user. Rare
 * (once per kernel), so its cost does not matter. Names are needed whoever
 * registers them: no exclusion, no nesting check.
 */
SEC("uprobe.s")
int BPF_KPROBE(reg_function, __u64 fatbin, __u64 stub, __u64 devfun)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct llmi_name_event *e;

	e = (void *)ev_reserve(sizeof(*e));
	if (!e)
		return 0;
	ev_fill(&e->ev, pid_tgid, LLMI_EV_REGISTER, LLMI_COOKIE_API(bpf_get_attach_cookie(ctx)),
		bpf_ktime_get_ns());
	e->ev.obj = stub;
	e->ev.stream = 0;
	e->ev.arg0 = devfun;
	e->ev.arg1 = 0;
	/* a fixed-size copy fails if it runs into an unmapped page: shorten */
	if (bpf_copy_from_user(e->name, sizeof(e->name), (void *)devfun) &&
	    bpf_copy_from_user(e->name, 512, (void *)devfun) &&
	    bpf_copy_from_user(e->name, 64, (void *)devfun) &&
	    bpf_copy_from_user(e->name, 16, (void *)devfun))
		e->name[0] = '\0';
	e->name[sizeof(e->name) - 1] = '\0';
	ev_submit(e);
	return 0;
}

/*
 * The agent's USDT probes (user/agent/agent.h: llminstr:enter, exit,
 * capture, step), attached to libllminstr.so of each capturing process.
 * enter marks the thread: until exit, its CUDA calls are the agent's
 * (snapshot copies, events, the staging ring's allocation), counted as
 * capture traffic and kept out of the application's figures and timeline.
 * capture lands in the ring next to the launches, which is how a tensor
 * finds the launch that made it; under -T, where launches are counted in
 * place, it carries that launch itself (track_producers).
 */
static __always_inline void agent_mark(bool on)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u8 v = LLMI_EXCL_AGENT;

	if (on) {
		if (!bpf_map_update_elem(&excluded_tids, &tid, &v, BPF_NOEXIST))
			__sync_fetch_and_add(&excluded_count, 1);
	} else if (!bpf_map_delete_elem(&excluded_tids, &tid)) {
		__sync_fetch_and_add(&excluded_count, -1);
	}
}

SEC("usdt")
int BPF_USDT(usdt_capture, __u64 seq, const char *name, __u64 stream, __u64 bytes, __u64 step)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct llmi_tensor_event *e;

	e = (void *)ev_reserve(sizeof(*e));
	if (!e)
		return 0;
	ev_fill(&e->ev, pid_tgid, LLMI_EV_TENSOR, 0, bpf_ktime_get_ns());
	e->ev.obj = seq;
	e->ev.stream = stream;
	e->ev.arg0 = bytes;
	e->ev.arg1 = step;
	e->launch = 0;
	e->func = 0;
	e->api = 0;
	e->pad = 0;
	if (track_producers) {	/* -T: the producer, from the launch probes */
		struct llmi_stream_key k = { .pid = pid_tgid >> 32, .tid = (__u32)pid_tgid,
					     .stream = stream };
		struct llmi_last_launch *l = bpf_map_lookup_elem(&last_launches, &k);

		if (l) {
			e->launch = l->launch;
			e->func = l->func;
			e->api = l->api;
		}
	}
	if (bpf_probe_read_user_str(e->name, sizeof(e->name), name) < 0)
		e->name[0] = '\0';
	/* the coder waits for this record: no batching */
	bpf_ringbuf_submit(e, BPF_RB_FORCE_WAKEUP);
	return 0;
}

SEC("usdt")
int BPF_USDT(usdt_enter)
{
	agent_mark(true);
	return 0;
}

SEC("usdt")
int BPF_USDT(usdt_exit)
{
	agent_mark(false);
	return 0;
}

SEC("usdt")
int BPF_USDT(usdt_step, __u64 step)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	return emit(pid_tgid, LLMI_EV_STEP, 0, bpf_ktime_get_ns(), 0, 0, 0, 0, step, 0);
}
