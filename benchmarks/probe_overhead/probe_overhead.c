// SPDX-License-Identifier: MIT
/*
 * benchmarks/probe_overhead: what tracing costs a CUDA call, measured in one
 * run on the same attach points.
 *
 * One target process (build/bench/helpers/probe_overhead_target) launches a
 * trivial kernel through the stand-in runtime's cudaLaunchKernel, which
 * enters libcuda's cuLaunchKernel on the same thread: two probed functions
 * per launch, as on NVIDIA's libraries. The target stays alive for the whole
 * run and times rounds of N launches on command, so every case measures the
 * same process, the same code and the same addresses:
 *
 *   none        no probe
 *   floor       an empty BPF program (bpf/bench_floor.bpf.c) as an entry
 *               uprobe on both functions, bound to the target's pid and
 *               attached the way llminstr-trace attaches (uprobe_multi
 *               links where the kernel has them and
 *               LLMI_TRACE_NO_UPROBE_MULTI is unset, else perf-event
 *               uprobes): the price of a uprobe on this kernel, below
 *               which no uprobe tracer can go, like for like with the
 *               tracer
 *   timing_only llminstr-trace -T -p PID
 *   timing_only_capture  llminstr-trace -T --capture all -p PID: the
 *               launch probes also keep each thread and stream's last
 *               launch for the capture probe (the target has no agent, so
 *               this is that cost alone: no tensor is taken)
 *   events      llminstr-trace -p PID (a record per call into the ring)
 *   bpftrace    bpftrace -p PID counting both probes with count()
 *   floor_all_processes  the floor attached for every process (pid -1):
 *               what binding a uprobe to one process costs, for reference
 *   floor_perf_event  the floor as pid-bound perf-event uprobes (what
 *               bpf_program__attach_uprobe gives): the dispatch cost of
 *               the other attach mechanism, for reference
 *   floor_user_read, floor_timestamp, floor_ring_record  the floor with
 *               one part of a launch record on cudaLaunchKernel: the read
 *               of its stack arguments (the stream is the seventh argument,
 *               on the stack on x86-64), bpf_ktime_get_ns, a 64-byte ring
 *               buffer record
 *   floor_bare_record  all three together: the least a launch record can
 *               cost on this kernel, below which events mode cannot go
 *
 * (llminstr-trace attaches over a hundred probes; only these two fire in the
 * loop, and an idle uprobe costs a call nothing.)
 *
 * A case is measured only while its probes are in place: a uprobe writes an
 * int3 over the first byte of the probed function in the target's memory,
 * so the driver reads the target's code (process_vm_readv) at both functions
 * and starts timing once both have changed, and moves on only once they are
 * restored. Each pass measures no probe, then the floor before and after
 * each tool; a tool's ratio is its median ns per launch over the mean of the
 * two floors around it, and the figure reported is the median over passes,
 * so that the load of a shared machine, which drifts over a run, cancels.
 *
 * It also measures lost events in events mode with the target launching at
 * a sustained --rate (default 250,000/s); the highest launch rate events
 * mode sustains with no loss (paced runs at doubling rates from 50,000/s
 * until events are lost or the target cannot launch faster under the
 * probes, then halving the gap between the last rate without loss and the
 * first with; which of the two bounds it is is reported); and llm_decode's tokens/s
 * untraced, under -T, in events mode and under the floor (the empty
 * program on every launch function: what any tracer that sees each launch
 * costs the decode), interleaved (the decode waits on a
 * file until the tracer's probes are in place, so tracing covers all of it).
 * --decode-bin runs that measurement on another workload with the same
 * flags (build/bin/llm_decode_cuda, gpu/workload/torch_decode.py): on a GPU
 * its tokens/s are GPU figures, and the output names the libcudart it
 * mapped so that they are labelled as such.
 *
 * All launches run on the CPU stand-in runtime: the ns per call are CPU
 * figures (the stand-in's own launch path plus the real kernel's uprobe
 * cost), not GPU ones. Exit 0 when it ran (whether the targets are met or
 * not: see "checks"), 77 when it cannot run here (not root, no BPF), 1 on
 * a failure of the benchmark itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bench_floor.skel.h"
#include "common/elfsym.h"
#include "common/json.h"
#include "common/parse.h"
#include "common/procmaps.h"
#include "../bench.h"

#define PROG "probe_overhead"
#define MAX_ROUNDS 64
#define MAX_PASSES 32
#define MAX_MEAS (4 * MAX_PASSES)
#define WATCH_BYTES 16

enum {
	C_NONE, C_FLOOR, C_TIMING, C_TIMING_CAPTURE, C_EVENTS, C_BPFTRACE, C_FLOOR_ALL, C_FLOOR_PERF,
	C_PART_READ, C_PART_CLOCK, C_PART_RING, C_RECORD, C_COUNT
};
static const char *const case_name[C_COUNT] = {
	"none", "floor", "timing_only", "timing_only_capture", "events", "bpftrace",
	"floor_all_processes",
	"floor_perf_event", "floor_user_read", "floor_timestamp", "floor_ring_record",
	"floor_bare_record",
};
static const char *const case_label[C_COUNT] = {
	"no probe", "uprobe floor (empty BPF)", "llminstr-trace -T",
	"llminstr-trace -T --capture", "llminstr-trace (events)",
	"bpftrace count()", "floor, not pid-bound", "floor, perf-event uprobe",
	"floor + 24-B stack read", "floor + timestamp", "floor + 64-B ring record",
	"bare record (all three)",
};

/*
 * The functions every launch goes through, both probed by llminstr-trace:
 * the floor and bpftrace attach here. (The tracer attaches over a hundred
 * probes, but only these two fire in the loop; an idle uprobe costs a call
 * nothing.)
 */
static const char *const hot_name[2] = { "cudaLaunchKernel", "cuLaunchKernel" };

struct opts {
	unsigned rounds, calls, passes;
	double rate, rate_secs;
	double search_secs;	/* each paced run of the lossless-rate search; 0: none */
	const char *ring_size;	/* --ring-size for the events-mode loss runs, NULL: default */
	bool decode, bpftrace;
	unsigned decode_reps;
	const char *json;
	const char *tracer;
	const char *decode_args;
	const char *decode_bin;	/* NULL: build/bin/llm_decode on the stand-in */
};

struct probe {
	const char *lib, *name;
	uint64_t off;
};

struct watch {
	uint64_t addr;
	unsigned char orig[WATCH_BYTES];
};

struct target {
	pid_t pid;
	int in, out;		/* its stdin (we write), its stdout (we read) */
	char buf[8192];
	size_t len;
};

struct case_res {
	double med[MAX_MEAS];	/* ns per launch, median of the rounds of each measurement */
	unsigned nmeas;
	double ratios[MAX_MEAS];	/* each against the floor measured around it */
	unsigned nratio;
	double ns;		/* median of med */
	double ratio;		/* median of ratios */
	long long counted;	/* launches the tool reported in its last measurement, -1: unknown */
	char status[256];	/* "" when measured */
};

static struct {
	struct opts o;
	char dir[PATH_MAX];		/* build/ */
	char tmp[PATH_MAX];
	struct target t;
	struct probe probes[2];
	struct watch watch[2];
	char libcudart[PATH_MAX], libcuda[PATH_MAX];
	struct case_res c[C_COUNT];
	char bpftrace_version[64];
	bool floor_multi;		/* the floor attaches with uprobe_multi links */
	/* lost events */
	long long lost, received, paced;
	double paced_rate;
	char lost_status[256];
	/* highest lossless rate: the paced runs of the search */
	struct paced {
		double asked, reached;
		long long launches, received, lost;
	} steps[24];
	unsigned nsteps;
	double lossless;		/* launches/s, NAN when unknown */
	const char *lossless_bound;	/* "loss" or "launch_rate" */
	char lossless_status[256];
	/* llm_decode */
	double tps[4];		/* untraced, -T, events, floor */
	char decode_status[256];
	char decode_cmd[512];
	char decode_lib[PATH_MAX];	/* the libcudart the --decode-bin run mapped */
} B;

static volatile sig_atomic_t interrupted;
static pid_t children[4];

static void on_signal(int sig)
{
	interrupted = 1;
}

static void child_add(pid_t p)
{
	for (size_t i = 0; i < sizeof(children) / sizeof(children[0]); i++)
		if (!children[i]) {
			children[i] = p;
			return;
		}
}

static void child_del(pid_t p)
{
	for (size_t i = 0; i < sizeof(children) / sizeof(children[0]); i++)
		if (children[i] == p)
			children[i] = 0;
}

static void children_kill(void)
{
	for (size_t i = 0; i < sizeof(children) / sizeof(children[0]); i++)
		if (children[i] > 0) {
			kill(children[i], SIGKILL);
			waitpid(children[i], NULL, 0);
			children[i] = 0;
		}
}

static void sleep_s(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };

	while (nanosleep(&ts, &ts) && errno == EINTR && !interrupted)
		;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(const double *v, size_t n)
{
	double *s;
	double m;

	if (!n)
		return NAN;
	s = malloc(n * sizeof(*s));
	if (!s)
		return NAN;
	memcpy(s, v, n * sizeof(*s));
	qsort(s, n, sizeof(*s), cmp_double);
	m = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
	free(s);
	return m;
}

/* ---- processes ---- */

/* fork + exec with stdin/stdout/stderr as given (-1: /dev/null), in dir when not NULL. */
static pid_t spawn(char *const argv[], int in, int out, int err, const char *dir)
{
	pid_t p = fork();

	if (p < 0)
		return -errno;
	if (!p) {
		int nul = open("/dev/null", O_RDWR);

		dup2(in >= 0 ? in : nul, 0);
		dup2(out >= 0 ? out : nul, 1);
		dup2(err >= 0 ? err : nul, 2);
		if (dir && chdir(dir))
			_exit(126);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		execvp(argv[0], argv);
		fprintf(stderr, "%s: cannot run %s: %s\n", PROG, argv[0], strerror(errno));
		_exit(127);
	}
	child_add(p);
	return p;
}

/* Waits for p up to timeout_s; SIGKILL after that. Returns its wait status, or -ETIMEDOUT. */
static int reap(pid_t p, double timeout_s)
{
	double end = bench_now() + timeout_s;
	int st;

	for (;;) {
		pid_t r = waitpid(p, &st, WNOHANG);

		if (r == p) {
			child_del(p);
			return st;
		}
		if (r < 0) {
			child_del(p);
			return -errno;
		}
		if (bench_now() > end) {
			kill(p, SIGKILL);
			waitpid(p, &st, 0);
			child_del(p);
			return -ETIMEDOUT;
		}
		sleep_s(0.02);
	}
}

static bool alive(pid_t p)
{
	int st;

	return waitpid(p, &st, WNOHANG) == 0;
}

static int target_start(struct target *t, const char *path)
{
	int in[2], out[2];
	char *argv[] = { (char *)path, NULL };
	pid_t p;

	if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC))
		return -errno;
	p = spawn(argv, in[0], out[1], 2, NULL);
	close(in[0]);
	close(out[1]);
	if (p < 0) {
		close(in[1]);
		close(out[0]);
		return (int)p;
	}
	t->pid = p;
	t->in = in[1];
	t->out = out[0];
	t->len = 0;
	return 0;
}

/* One line from the target into line (without the newline); -ETIMEDOUT, -EPIPE. */
static int target_line(struct target *t, char *line, size_t cap, double timeout_s)
{
	double end = bench_now() + timeout_s;

	for (;;) {
		char *nl = memchr(t->buf, '\n', t->len);
		struct pollfd pfd = { t->out, POLLIN, 0 };
		ssize_t r;
		int ms;

		if (nl) {
			size_t n = (size_t)(nl - t->buf);

			snprintf(line, cap, "%.*s", (int)n, t->buf);
			memmove(t->buf, nl + 1, t->len - n - 1);
			t->len -= n + 1;
			return 0;
		}
		if (t->len == sizeof(t->buf))
			return -E2BIG;
		ms = (int)((end - bench_now()) * 1000);
		if (ms <= 0 || interrupted)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, ms) <= 0)
			continue;
		r = read(t->out, t->buf + t->len, sizeof(t->buf) - t->len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -EPIPE;
		t->len += (size_t)r;
	}
}

static int target_cmd(struct target *t, const char *cmd, char *reply, size_t cap,
		      double timeout_s)
{
	size_t n = strlen(cmd);

	if (write(t->in, cmd, n) != (ssize_t)n)
		return -EPIPE;
	return target_line(t, reply, cap, timeout_s);
}

static void target_stop(struct target *t)
{
	if (t->pid <= 0)
		return;
	if (write(t->in, "quit\n", 5) < 0) {
		/* it is gone already; reap below */
	}
	close(t->in);
	close(t->out);
	reap(t->pid, 5);
	t->pid = 0;
}

/* ---- where the probes go, and whether they are there ---- */

static int read_code(pid_t pid, uint64_t addr, unsigned char *buf)
{
	struct iovec l = { buf, WATCH_BYTES }, r = { (void *)(uintptr_t)addr, WATCH_BYTES };

	return process_vm_readv(pid, &l, 1, &r, 1, 0) == WATCH_BYTES ? 0 : -errno;
}

/* How many watched functions carry a probe (their code differs from the file's). */
static int probes_in(pid_t pid)
{
	unsigned char b[WATCH_BYTES];
	int n = 0;

	for (size_t i = 0; i < 2; i++) {
		if (read_code(pid, B.watch[i].addr, b))
			return -ESRCH;
		n += memcmp(b, B.watch[i].orig, WATCH_BYTES) != 0;
	}
	return n;
}

/*
 * Waits until both hot functions are probed (attached) or both clean.
 * tool: a process that must stay alive meanwhile (0: none).
 */
static int wait_probes(bool attached, pid_t tool, double timeout_s, char *why, size_t wlen)
{
	double end = bench_now() + timeout_s;

	for (;;) {
		int n = probes_in(B.t.pid);

		if (n < 0) {
			snprintf(why, wlen, "the target process died");
			return -ESRCH;
		}
		if (attached ? n == 2 : n == 0)
			return 0;
		if (tool && !alive(tool)) {
			snprintf(why, wlen, "exited before its probes were attached");
			return -ECHILD;
		}
		if (bench_now() > end || interrupted) {
			snprintf(why, wlen, "probes %s cudaLaunchKernel and cuLaunchKernel after %.0f s",
				 attached ? "not on" : "still on", timeout_s);
			return -ETIMEDOUT;
		}
		sleep_s(0.02);
	}
}

static int find_probes(void)
{
	struct llmi_maps *maps = llmi_maps__read(B.t.pid);
	const char *libs[2];
	int err = 0;

	if (!maps)
		return -errno;
	libs[0] = llmi_maps__find_lib(maps, "libcudart.so*");
	libs[1] = llmi_maps__find_lib(maps, "libcuda.so*");
	if (!libs[0] || !libs[1]) {
		fprintf(stderr, "%s: the target maps no %s\n", PROG, libs[0] ? "libcuda" : "libcudart");
		llmi_maps__free(maps);
		return -ENOENT;
	}
	snprintf(B.libcudart, sizeof(B.libcudart), "%s", libs[0]);
	snprintf(B.libcuda, sizeof(B.libcuda), "%s", libs[1]);

	for (int l = 0; l < 2 && !err; l++) {
		const char *path = l ? B.libcuda : B.libcudart;
		struct llmi_elf *e = llmi_elf__open(path);
		uint64_t vaddr, off, rt;

		if (!e) {
			err = -errno;
			fprintf(stderr, "%s: cannot read %s: %s\n", PROG, path, strerror(errno));
			break;
		}
		err = llmi_elf__sym_addr(e, hot_name[l], &vaddr, &off);
		if (!err)
			err = llmi_elf__vaddr_to_runtime(e, maps, path, vaddr, &rt);
		if (!err)
			err = read_code(B.t.pid, rt, B.watch[l].orig);
		if (err) {
			fprintf(stderr, "%s: cannot find %s of %s in the target: %s\n", PROG,
				hot_name[l], path, strerror(-err));
		} else {
			B.probes[l] = (struct probe){ path, hot_name[l], off };
			B.watch[l].addr = rt;
		}
		llmi_elf__free(e);
	}
	llmi_maps__free(maps);
	return err;
}

/* ---- measuring ---- */

/* One measurement: a "run" of the target; its median ns per launch into c. */
static int measure(struct case_res *c, double *med)
{
	double rounds[MAX_ROUNDS];
	char cmd[64], reply[4096], *s, *end;
	unsigned i;
	int err;

	snprintf(cmd, sizeof(cmd), "run %u %u\n", B.o.rounds, B.o.calls);
	err = target_cmd(&B.t, cmd, reply, sizeof(reply), 300);
	if (err) {
		snprintf(c->status, sizeof(c->status), "the target did not answer: %s", strerror(-err));
		return err;
	}
	for (i = 0, s = reply; i < B.o.rounds; i++, s = end) {
		rounds[i] = strtod(s, &end);
		if (end == s) {
			snprintf(c->status, sizeof(c->status), "bad answer from the target: %s", reply);
			return -EPROTO;
		}
	}
	if (c->nmeas == MAX_MEAS)
		return -E2BIG;
	c->med[c->nmeas++] = median(rounds, B.o.rounds);
	if (med)
		*med = c->med[c->nmeas - 1];
	return 0;
}

/*
 * uprobe_multi links (BPF_TRACE_UPROBE_MULTI), as llminstr-trace creates
 * them (user/trace/trace.c): libbpf 1.1 predates them, so the raw syscall
 * with the kernel's uapi layout. The program must be loaded with that
 * expected attach type.
 */
#define PO_BPF_TRACE_UPROBE_MULTI 48

struct po_uprobe_multi {
	uint32_t prog_fd, target_fd, attach_type, flags;
	uint64_t path, offsets, ref_ctr_offsets, cookies;
	uint32_t cnt, um_flags, pid;
	uint32_t pad[9];
};

static int attach_multi(int prog_fd, const char *path, uint64_t off, pid_t pid)
{
	struct po_uprobe_multi a;
	int fd;

	memset(&a, 0, sizeof(a));
	a.prog_fd = (uint32_t)prog_fd;
	a.attach_type = PO_BPF_TRACE_UPROBE_MULTI;
	a.path = (uint64_t)(uintptr_t)path;
	a.offsets = (uint64_t)(uintptr_t)&off;
	a.cnt = 1;
	a.pid = (uint32_t)pid;
	fd = (int)syscall(SYS_bpf, BPF_LINK_CREATE, &a, sizeof(a));
	return fd < 0 ? -errno : fd;
}

/*
 * bench_floor's object with its ring sized for one measurement's records:
 * nothing consumes them (a bare record is the least a record costs, and a
 * reader would share the CPUs with the target), so the ring holds them all.
 */
static struct bench_floor_bpf *floor_open(void)
{
	struct bench_floor_bpf *skel = bench_floor_bpf__open();
	uint64_t need = ((uint64_t)B.o.rounds + 2) * (B.o.calls + 1) * 80, sz = 1 << 20;

	while (sz < need && sz < (1ull << 30))
		sz <<= 1;
	if (skel && bpf_map__set_max_entries(skel->maps.bench_ring, sz)) {
		bench_floor_bpf__destroy(skel);
		return NULL;
	}
	return skel;
}

/*
 * The floor: bench_floor as an entry uprobe on the hot functions, bound to
 * the target's pid. multi: with uprobe_multi links, as llminstr-trace
 * attaches; else perf-event uprobes, for every process when all_procs.
 * part: C_FLOOR, or one of the parts of a launch record (C_PART_*,
 * C_RECORD), which then runs on the runtime's launch function in place of
 * the empty program (the driver's stays empty, as the tracer's dedup
 * leaves it in the common case).
 */
static int case_floor(struct case_res *c, double *med, bool all_procs, bool multi, int part)
{
	struct bench_floor_bpf *skel = floor_open();
	struct bpf_program *progs[2] = { 0 };
	struct bpf_link *links[2] = { 0 };
	int fds[2] = { -1, -1 };
	char why[160];
	int err = 0;
	size_t i;

	if (!skel) {
		err = -errno;
	} else {
		progs[1] = skel->progs.bench_floor;
		progs[0] = part == C_PART_READ	? skel->progs.bench_read :
			   part == C_PART_CLOCK ? skel->progs.bench_clock :
			   part == C_PART_RING	? skel->progs.bench_ring_record :
			   part == C_RECORD	? skel->progs.bench_record :
						  skel->progs.bench_floor;
		/* load only the programs this case attaches */
		for (struct bpf_program *p = bpf_object__next_program(skel->obj, NULL); p;
		     p = bpf_object__next_program(skel->obj, p))
			bpf_program__set_autoload(p, p == progs[0] || p == progs[1]);
		for (i = 0; multi && i < 2; i++)
			bpf_program__set_expected_attach_type(progs[i], PO_BPF_TRACE_UPROBE_MULTI);
	}
	if (!err)
		err = bench_floor_bpf__load(skel);
	if (err) {
		snprintf(c->status, sizeof(c->status), "cannot load BPF: %s", strerror(-err));
		bench_floor_bpf__destroy(skel);
		return err;
	}
	for (i = 0; i < 2; i++) {
		if (multi) {
			fds[i] = attach_multi(bpf_program__fd(progs[i]),
					      B.probes[i].lib, B.probes[i].off, B.t.pid);
			err = fds[i] < 0 ? fds[i] : 0;
		} else {
			links[i] = bpf_program__attach_uprobe(progs[i], false,
							      all_procs ? -1 : B.t.pid,
							      B.probes[i].lib, B.probes[i].off);
			err = links[i] ? 0 : -errno;
		}
		if (err) {
			snprintf(c->status, sizeof(c->status), "cannot attach to %s: %s",
				 B.probes[i].name, strerror(-err));
			goto out;
		}
	}
	err = wait_probes(true, 0, 10, why, sizeof(why));
	if (err) {
		snprintf(c->status, sizeof(c->status), "%s", why);
		goto out;
	}
	err = measure(c, med);
	if (!err && skel->bss->bench_ring_full) {
		snprintf(c->status, sizeof(c->status), "the ring was full: measurement void");
		err = -ENOSPC;
	}
out:
	for (i = 0; i < 2; i++) {
		bpf_link__destroy(links[i]);
		if (fds[i] >= 0)
			close(fds[i]);
	}
	bench_floor_bpf__destroy(skel);
	if (!err && wait_probes(false, 0, 10, why, sizeof(why)))
		fprintf(stderr, "%s: floor: %s\n", PROG, why);
	return err;
}

/*
 * Whether the floor can attach like llminstr-trace: uprobe_multi, unless
 * the tracer is told not to use it or the kernel lacks it.
 */
static void floor_choose(void)
{
	struct bench_floor_bpf *skel;
	int fd;

	B.floor_multi = false;
	if (getenv("LLMI_TRACE_NO_UPROBE_MULTI"))
		return;
	skel = floor_open();
	if (!skel)
		return;
	bpf_program__set_expected_attach_type(skel->progs.bench_floor, PO_BPF_TRACE_UPROBE_MULTI);
	if (!bench_floor_bpf__load(skel)) {
		fd = attach_multi(bpf_program__fd(skel->progs.bench_floor), B.probes[0].lib,
				  B.probes[0].off, B.t.pid);
		if (fd >= 0) {
			B.floor_multi = true;
			close(fd);
		}
	}
	bench_floor_bpf__destroy(skel);
	if (B.floor_multi) {	/* the probe just made and dropped: let it go */
		char why[160];

		wait_probes(false, 0, 10, why, sizeof(why));
	}
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
	if (buf) {
		n = (long)fread(buf, 1, (size_t)n, f);
		buf[n] = '\0';
	}
	fclose(f);
	return buf;
}

/* The last line of a log, for a one-line reason. */
static void log_tail(const char *path, char *out, size_t len)
{
	char *s = slurp(path), *e, *b;

	snprintf(out, len, "(no output)");
	if (!s)
		return;
	e = s + strlen(s);
	while (e > s && (e[-1] == '\n' || e[-1] == ' '))
		*--e = '\0';
	b = strrchr(s, '\n');
	if (*s)
		snprintf(out, len, "%s", b ? b + 1 : s);
	free(s);
}

/*
 * A few fields of the tracer's --json: a minimal reader that walks objects
 * by key and skips every other value (strings with escapes included).
 */
static const char *js_ws(const char *p)
{
	while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
		p++;
	return p;
}

static const char *js_skip(const char *p)
{
	p = js_ws(p);
	if (*p == '"') {
		for (p++; *p && *p != '"'; p++)
			if (*p == '\\' && p[1])
				p++;
		return *p ? p + 1 : NULL;
	}
	if (*p == '{' || *p == '[') {
		char close = *p == '{' ? '}' : ']';

		p = js_ws(p + 1);
		if (*p == close)
			return p + 1;
		for (;;) {
			if (close == '}') {
				p = js_skip(p);	/* key */
				if (!p || *(p = js_ws(p)) != ':')
					return NULL;
				p++;
			}
			p = js_skip(p);
			if (!p)
				return NULL;
			p = js_ws(p);
			if (*p == ',') {
				p++;
				continue;
			}
			return *p == close ? p + 1 : NULL;
		}
	}
	while (*p && !strchr(",}] \n\t\r", *p))
		p++;
	return p;
}

/* The value at a dotted path ("events.lost"), or NULL. */
static const char *js_get(const char *p, const char *path)
{
	while (*path) {
		const char *dot = strchr(path, '.');
		size_t kl = dot ? (size_t)(dot - path) : strlen(path);
		bool found = false;

		p = js_ws(p);
		if (*p != '{')
			return NULL;
		p = js_ws(p + 1);
		while (*p == '"') {
			const char *k = p + 1, *ke = js_skip(p);

			if (!ke)
				return NULL;
			p = js_ws(ke);
			if (*p != ':')
				return NULL;
			p = js_ws(p + 1);
			if ((size_t)(ke - 1 - k) == kl && !memcmp(k, path, kl)) {
				found = true;
				break;
			}
			p = js_skip(p);
			if (!p)
				return NULL;
			p = js_ws(p);
			if (*p == ',')
				p = js_ws(p + 1);
		}
		if (!found)
			return NULL;
		path += kl + (dot ? 1 : 0);
	}
	return p;
}

static long long js_int(const char *doc, const char *path)
{
	const char *v = doc ? js_get(doc, path) : NULL;
	char *end;
	long long x;

	if (!v)
		return -1;
	x = strtoll(v, &end, 10);
	return end == v ? -1 : x;
}

static double js_double(const char *doc, const char *path)
{
	const char *v = doc ? js_get(doc, path) : NULL;
	char *end;
	double x;

	if (!v)
		return NAN;
	x = strtod(v, &end);
	return end == v ? NAN : x;
}

/*
 * The tracer attached to pid, in events mode (timing 0), -T (1) or -T
 * --capture all (2, its default -o in B.tmp); its --json into json.
 */
static pid_t tracer_start(pid_t pid, int timing, const char *json, const char *log)
{
	char pidbuf[16];
	char *argv[14];
	int fd, i = 0;
	pid_t p;

	snprintf(pidbuf, sizeof(pidbuf), "%d", (int)pid);
	argv[i++] = (char *)B.o.tracer;
	if (timing)
		argv[i++] = "-T";
	if (timing == 2) {
		argv[i++] = "--capture";
		argv[i++] = "all";
	} else if (!timing && B.o.ring_size) {
		argv[i++] = "--ring-size";
		argv[i++] = (char *)B.o.ring_size;
	}
	argv[i++] = "--json";
	argv[i++] = (char *)json;
	argv[i++] = "-p";
	argv[i++] = pidbuf;
	argv[i] = NULL;
	unlink(json);
	fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	p = spawn(argv, -1, fd, fd, B.tmp);
	if (fd >= 0)
		close(fd);
	return p;
}

/* SIGINT, then its summary; 0 when it exited cleanly. */
static int tool_stop(pid_t p, const char *log, char *why, size_t wlen)
{
	int st;

	kill(p, SIGINT);
	st = reap(p, 60);
	if (st == -ETIMEDOUT) {
		snprintf(why, wlen, "did not exit within 60 s of SIGINT");
		return st;
	}
	if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) {
		char tail[200];

		log_tail(log, tail, sizeof(tail));
		snprintf(why, wlen, "exited with status %d: %s",
			 st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1, tail);
		return -EIO;
	}
	return 0;
}

static int case_tracer(struct case_res *c, double *med, int timing)
{
	static const char *const file[] = { "events", "timing", "timing_capture" };

	char json[PATH_MAX + 16], log[PATH_MAX + 16], why[320];
	pid_t tp;
	char *doc;
	int err;

	if (access(B.o.tracer, X_OK)) {
		snprintf(c->status, sizeof(c->status), "%s is not built", B.o.tracer);
		return -ENOENT;
	}
	snprintf(json, sizeof(json), "%s/%s.json", B.tmp, file[timing]);
	snprintf(log, sizeof(log), "%s/%s.log", B.tmp, file[timing]);
	tp = tracer_start(B.t.pid, timing, json, log);
	if (tp < 0) {
		snprintf(c->status, sizeof(c->status), "cannot start %s", B.o.tracer);
		return (int)tp;
	}
	err = wait_probes(true, tp, 30, why, sizeof(why));
	if (err) {
		char tail[200];

		log_tail(log, tail, sizeof(tail));
		snprintf(c->status, sizeof(c->status), "llminstr-trace: %s: %s", why, tail);
		kill(tp, SIGKILL);
		reap(tp, 5);
		return err;
	}
	/* the hot functions are probed; give the remaining attachments a moment */
	sleep_s(0.3);
	err = measure(c, med);
	if (tool_stop(tp, log, why, sizeof(why))) {
		snprintf(c->status, sizeof(c->status), "llminstr-trace %s", why);
		return -EIO;
	}
	if (!err) {
		doc = slurp(json);
		c->counted = js_int(doc, "api.cudaLaunchKernel.calls");
		free(doc);
		err = wait_probes(false, 0, 10, why, sizeof(why));
		if (err)
			snprintf(c->status, sizeof(c->status), "after llminstr-trace: %s", why);
	}
	return err;
}

static int case_bpftrace(struct case_res *c, double *med)
{
	char log[PATH_MAX + 16], why[320], pidbuf[16], *prog, *doc, *at;
	char *argv[] = { "bpftrace", "-p", pidbuf, "-e", NULL, NULL };
	size_t cap = 2 * (PATH_MAX + 64), len = 0;
	pid_t tp;
	int fd, err;

	prog = malloc(cap);
	if (!prog)
		return -ENOMEM;
	for (size_t i = 0; i < 2; i++)
		len += (size_t)snprintf(prog + len, cap - len, "%suprobe:%s:%s", i ? "," : "",
					B.probes[i].lib, B.probes[i].name);
	snprintf(prog + len, cap - len, " { @calls = count(); }");
	argv[4] = prog;
	snprintf(pidbuf, sizeof(pidbuf), "%d", (int)B.t.pid);
	snprintf(log, sizeof(log), "%s/bpftrace.log", B.tmp);
	fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	tp = spawn(argv, -1, fd, fd, B.tmp);
	if (fd >= 0)
		close(fd);
	free(prog);
	if (tp < 0) {
		snprintf(c->status, sizeof(c->status), "cannot start bpftrace");
		return (int)tp;
	}
	err = wait_probes(true, tp, 60, why, sizeof(why));
	if (err) {
		char tail[200];

		log_tail(log, tail, sizeof(tail));
		snprintf(c->status, sizeof(c->status), "bpftrace: %s: %s", why, tail);
		kill(tp, SIGKILL);
		reap(tp, 5);
		return err;
	}
	sleep_s(0.3);
	err = measure(c, med);
	kill(tp, SIGINT);
	reap(tp, 30);
	doc = slurp(log);
	/* "@calls: N": two probed calls per launch (cudaLaunchKernel, cuLaunchKernel) */
	at = doc ? strstr(doc, "@calls: ") : NULL;
	c->counted = at ? strtoll(at + 8, NULL, 10) / 2 : -1;
	free(doc);
	if (!err && wait_probes(false, 0, 10, why, sizeof(why)))
		fprintf(stderr, "%s: bpftrace: %s\n", PROG, why);
	return err;
}

/* One measurement of case k; NAN when it failed (then it is not tried again). */
static double run_case(int k)
{
	struct case_res *c = &B.c[k];
	double med = NAN;
	int err = 0;

	if (c->status[0])
		return NAN;
	c->counted = -1;
	switch (k) {
	case C_NONE:
		err = measure(c, &med);
		break;
	case C_FLOOR:
	case C_PART_READ:
	case C_PART_CLOCK:
	case C_PART_RING:
	case C_RECORD:
		err = case_floor(c, &med, false, B.floor_multi, k);
		break;
	case C_FLOOR_ALL:
	case C_FLOOR_PERF:
		err = case_floor(c, &med, k == C_FLOOR_ALL, false, C_FLOOR);
		break;
	case C_TIMING:
	case C_TIMING_CAPTURE:
	case C_EVENTS:
		err = case_tracer(c, &med, k == C_TIMING ? 1 : k == C_TIMING_CAPTURE ? 2 : 0);
		break;
	case C_BPFTRACE:
		err = case_bpftrace(c, &med);
		break;
	}
	if (err && !c->status[0])
		snprintf(c->status, sizeof(c->status), "%s", strerror(-err));
	if (err) {
		fprintf(stderr, "%s: %s: %s\n", PROG, case_name[k], c->status);
		return NAN;
	}
	return med;
}

/*
 * One pass: no probe, then the floor before and after each tool, so that
 * every tool is compared with a floor measured seconds apart from it (the
 * load of a shared machine drifts over a run; it does not between these).
 */
static void run_pass(void)
{
	double fb, fa, t;

	run_case(C_NONE);
	fb = run_case(C_FLOOR);
	for (int k = C_TIMING; k < C_COUNT && !interrupted && !isnan(fb); k++) {
		if (k == C_BPFTRACE && !B.bpftrace_version[0]) {
			snprintf(B.c[k].status, sizeof(B.c[k].status), "bpftrace is not %s",
				 B.o.bpftrace ? "installed" : "asked for (--no-bpftrace)");
			continue;
		}
		t = run_case(k);
		if (isnan(t))
			continue;
		fa = run_case(C_FLOOR);
		if (isnan(fa))
			break;
		B.c[k].ratios[B.c[k].nratio++] = t / ((fb + fa) / 2);
		fb = fa;
	}
}

static void finish_cases(void)
{
	for (int k = 0; k < C_COUNT; k++) {
		struct case_res *c = &B.c[k];

		c->ns = median(c->med, c->nmeas);
		c->ratio = k == C_FLOOR ? 1.0 : median(c->ratios, c->nratio);
	}
}

/*
 * Events mode with the target launching at rate for secs seconds: what the
 * ring loses. 0 and *r filled, or -errno with why in status.
 */
static int paced_run(double rate, double secs, struct paced *r, char *status, size_t slen)
{
	char json[PATH_MAX + 16], log[PATH_MAX + 16], why[320], cmd[64], reply[256];
	char *doc;
	pid_t tp;
	int err;

	*r = (struct paced){ rate, NAN, -1, -1, -1 };
	if (access(B.o.tracer, X_OK)) {
		snprintf(status, slen, "%s is not built", B.o.tracer);
		return -ENOENT;
	}
	snprintf(json, sizeof(json), "%s/lost.json", B.tmp);
	snprintf(log, sizeof(log), "%s/lost.log", B.tmp);
	tp = tracer_start(B.t.pid, false, json, log);
	if (tp < 0 || wait_probes(true, tp, 30, why, sizeof(why))) {
		snprintf(status, slen, "llminstr-trace did not attach");
		if (tp > 0) {
			kill(tp, SIGKILL);
			reap(tp, 5);
		}
		return -EIO;
	}
	sleep_s(0.3);
	snprintf(cmd, sizeof(cmd), "pace %.0f %.1f\n", rate, secs);
	err = target_cmd(&B.t, cmd, reply, sizeof(reply), secs + 120);
	if (!err && sscanf(reply, "%lld %lf", &r->launches, &r->reached) != 2)
		err = -EPROTO;
	if (tool_stop(tp, log, why, sizeof(why))) {
		snprintf(status, slen, "llminstr-trace %s", why);
		return -EIO;
	}
	if (err) {
		snprintf(status, slen, "the target did not pace: %s", strerror(-err));
		return err;
	}
	doc = slurp(json);
	r->lost = js_int(doc, "events.lost");
	r->received = js_int(doc, "events.received");
	free(doc);
	if (r->lost < 0) {
		snprintf(status, slen, "no events.lost in the tracer's --json");
		return -EPROTO;
	}
	wait_probes(false, 0, 10, why, sizeof(why));
	return 0;
}

/* Events mode at a sustained launch rate: what the ring loses. */
static void lost_events(void)
{
	struct paced r;

	paced_run(B.o.rate, B.o.rate_secs, &r, B.lost_status, sizeof(B.lost_status));
	B.paced = r.launches;
	B.paced_rate = r.reached;
	B.lost = r.lost;
	B.received = r.received;
}

/*
 * The highest launch rate events mode sustains with no lost event: paced
 * runs from 50,000/s, doubling while nothing is lost (halving while events
 * are lost, down to 1,000/s), until a lossless and a lossy rate bracket it,
 * then four halvings of that gap (geometric). Doubling stops too when the
 * target falls short of the rate asked (below 95 %): its launch path under
 * the probes is then the limit, and the fastest lossless run is the answer.
 * One run is one sample: on a loaded machine the answer is lower.
 */
static void lossless_rate(void)
{
	double lo = NAN, hi = NAN, rate = 50000;
	unsigned halvings = 0;
	struct paced *r;

	B.lossless = NAN;
	B.lossless_bound = NULL;
	while (!interrupted && B.nsteps < sizeof(B.steps) / sizeof(B.steps[0])) {
		r = &B.steps[B.nsteps];
		if (paced_run(rate, B.o.search_secs, r, B.lossless_status,
			      sizeof(B.lossless_status)))
			return;
		B.nsteps++;
		fprintf(stderr, "%s: %.0f launches/s asked, %.0f reached, %lld events lost\n", PROG,
			r->asked, r->reached, r->lost);
		if (r->lost > 0) {
			hi = rate;
		} else {
			lo = rate;
			if (isnan(B.lossless) || r->reached > B.lossless)
				B.lossless = r->reached;
			if (isnan(hi) && r->reached < 0.95 * r->asked) {
				B.lossless_bound = "launch_rate";
				return;
			}
		}
		if (isnan(lo) && rate / 2 < 1000) {
			snprintf(B.lossless_status, sizeof(B.lossless_status),
				 "events lost even at %.0f launches/s", rate);
			return;
		}
		if (isnan(hi))
			rate *= 2;
		else if (isnan(lo))
			rate /= 2;
		else if (halvings++ < 4)
			rate = sqrt(lo * hi);
		else
			break;
	}
	B.lossless_bound = isnan(hi) ? NULL : "loss";
}

/* ---- llm_decode tokens/s: untraced, -T, events ---- */

static int split_args(char *s, char **argv, int max)
{
	int n = 0;

	for (char *tok = strtok(s, " "); tok && n < max; tok = strtok(NULL, " "))
		argv[n++] = tok;
	return n;
}

/*
 * The decode's floor: the empty program on every launch function of its
 * libcudart and libcuda (those it has of launch_fns), pid-bound uprobe_multi
 * links as the tracer makes: what any uprobe tracer that sees every launch
 * costs this workload. Returns the links' count (fds[]), or -errno.
 */
static const char *const launch_fns[] = {
	"cudaLaunchKernel", "cudaLaunchKernel_ptsz", "cudaLaunchKernelExC",
	"cudaLaunchKernelExC_ptsz", "cuLaunchKernel", "cuLaunchKernel_ptsz",
	"cuLaunchKernelEx", "cuLaunchKernelEx_ptsz",
};

static int decode_floor_attach(struct bench_floor_bpf **skelp, struct llmi_maps *m, pid_t pid,
			       int fds[2])
{
	struct bench_floor_bpf *skel = floor_open();
	int err = 0, n = 0;

	if (!skel)
		return -errno;
	for (struct bpf_program *p = bpf_object__next_program(skel->obj, NULL); p;
	     p = bpf_object__next_program(skel->obj, p))
		bpf_program__set_autoload(p, p == skel->progs.bench_floor);
	bpf_program__set_expected_attach_type(skel->progs.bench_floor, PO_BPF_TRACE_UPROBE_MULTI);
	err = bench_floor_bpf__load(skel);
	for (int l = 0; !err && l < 2; l++) {
		const char *lib = llmi_maps__find_lib(m, l ? "libcuda.so*" : "libcudart.so*");
		struct llmi_elf *e = lib ? llmi_elf__open(lib) : NULL;
		struct po_uprobe_multi a;
		uint64_t offs[8], va, off;
		uint32_t cnt = 0;

		if (!e) {
			err = lib ? -errno : -ENOENT;
			break;
		}
		for (size_t i = 0; i < sizeof(launch_fns) / sizeof(launch_fns[0]); i++)
			if ((launch_fns[i][2] == 'd') == !l &&
			    !llmi_elf__sym_addr(e, launch_fns[i], &va, &off))
				offs[cnt++] = off;
		llmi_elf__free(e);
		memset(&a, 0, sizeof(a));
		a.prog_fd = (uint32_t)bpf_program__fd(skel->progs.bench_floor);
		a.attach_type = PO_BPF_TRACE_UPROBE_MULTI;
		a.path = (uint64_t)(uintptr_t)lib;
		a.offsets = (uint64_t)(uintptr_t)offs;
		a.cnt = cnt;
		a.pid = (uint32_t)pid;
		fds[l] = cnt ? (int)syscall(SYS_bpf, BPF_LINK_CREATE, &a, sizeof(a)) : -1;
		if (cnt && fds[l] < 0)
			err = -errno;
		else
			n++;
	}
	if (err) {
		for (int l = 0; l < n; l++)
			if (fds[l] >= 0)
				close(fds[l]);
		bench_floor_bpf__destroy(skel);
		return err;
	}
	*skelp = skel;
	return n;
}

/*
 * One decode; mode -1 untraced, 0 events, 1 -T, 2 the floor. tokens/s from
 * its --truth, or NAN.
 */
static double decode_once(const char *bin, int mode, char *why, size_t wlen)
{
	char truth[PATH_MAX + 16], go[PATH_MAX + 16], json[PATH_MAX + 16], log[PATH_MAX + 16];
	char tlog[PATH_MAX + 16], args[512], *argv[48], *doc;
	struct bench_floor_bpf *fskel = NULL;
	int ffds[2] = { -1, -1 };
	double tps = NAN;
	pid_t dp, tp = 0;
	int n = 0, fd, st;

	snprintf(truth, sizeof(truth), "%s/truth.json", B.tmp);
	snprintf(go, sizeof(go), "%s/go", B.tmp);
	snprintf(json, sizeof(json), "%s/decode-trace.json", B.tmp);
	snprintf(log, sizeof(log), "%s/decode.log", B.tmp);
	snprintf(tlog, sizeof(tlog), "%s/decode-trace.log", B.tmp);
	unlink(truth);
	unlink(go);
	snprintf(args, sizeof(args), "%s", B.o.decode_args);
	argv[n++] = (char *)bin;
	n += split_args(args, argv + n, 40);
	argv[n++] = "-q";
	argv[n++] = "--truth";
	argv[n++] = truth;
	argv[n++] = "--wait-file";
	argv[n++] = go;
	argv[n] = NULL;
	fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	dp = spawn(argv, -1, -1, fd, B.tmp);
	if (fd >= 0)
		close(fd);
	if (dp < 0) {
		snprintf(why, wlen, "cannot start %s", bin);
		return NAN;
	}
	if (mode >= 0) {
		struct llmi_maps *m = NULL;
		struct llmi_elf *e = NULL;
		const char *lib = NULL;
		uint64_t va, rt;
		/* a Python workload imports torch and initialises CUDA first */
		double end = bench_now() + (B.o.decode_bin ? 120 : 30);
		struct target save = B.t;
		struct watch wsave[2];

		memcpy(wsave, B.watch, sizeof(wsave));
		/* its libcudart and libcuda are mapped once set-up waits on the go file */
		while (bench_now() < end && !interrupted) {
			m = llmi_maps__read(dp);
			if (m && llmi_maps__find_lib(m, "libcuda.so*") && llmi_maps__find_lib(m, "libcudart.so*"))
				break;
			llmi_maps__free(m);
			m = NULL;
			sleep_s(0.02);
		}
		B.t.pid = dp;
		for (int l = 0; m && l < 2; l++) {
			lib = llmi_maps__find_lib(m, l ? "libcuda.so*" : "libcudart.so*");
			e = llmi_elf__open(lib);
			if (!e || llmi_elf__sym_addr(e, l ? "cuLaunchKernel" : "cudaLaunchKernel", &va, NULL) ||
			    llmi_elf__vaddr_to_runtime(e, m, lib, va, &rt) ||
			    read_code(dp, rt, B.watch[l].orig)) {
				llmi_elf__free(e);
				llmi_maps__free(m);
				m = NULL;
				break;
			}
			B.watch[l].addr = rt;
			llmi_elf__free(e);
		}
		if (m && B.o.decode_bin)
			snprintf(B.decode_lib, sizeof(B.decode_lib), "%s",
				 llmi_maps__find_lib(m, "libcudart.so*"));
		if (!m) {
			if (B.o.decode_bin)
				snprintf(why, wlen, "%s mapped no libcudart.so* and libcuda.so* with "
					 "cudaLaunchKernel / cuLaunchKernel", bin);
			else
				snprintf(why, wlen, "llm_decode mapped no stand-in runtime");
			tp = -1;
			goto restore;
		}
		if (mode == 2) {
			int err = decode_floor_attach(&fskel, m, dp, ffds);

			llmi_maps__free(m);
			if (err < 0 || wait_probes(true, 0, 30, why, wlen)) {
				if (err < 0)
					snprintf(why, wlen, "cannot attach the floor to the decode: %s",
						 strerror(-err));
				tp = -1;
			}
			goto restore;
		}
		llmi_maps__free(m);
		tp = tracer_start(dp, mode == 1, json, tlog);
		if (tp < 0 || wait_probes(true, tp, 30, why, wlen)) {
			if (tp > 0) {
				char tail[200];

				log_tail(tlog, tail, sizeof(tail));
				snprintf(why + strlen(why), wlen - strlen(why), ": %s", tail);
				kill(tp, SIGKILL);
				reap(tp, 5);
			}
			tp = -1;
			goto restore;
		}
		sleep_s(0.3);
restore:
		B.t = save;
		memcpy(B.watch, wsave, sizeof(wsave));
		if (tp < 0) {
			kill(dp, SIGKILL);
			reap(dp, 5);
			tps = NAN;
			goto out;
		}
	}
	fd = open(go, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0)
		close(fd);
	st = reap(dp, 300);
	if (tp > 0 && tool_stop(tp, tlog, why, wlen))
		goto out;
	if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) {
		char tail[200];

		log_tail(log, tail, sizeof(tail));
		snprintf(why, wlen, "%s failed: %s", B.o.decode_bin ? bin : "llm_decode", tail);
		goto out;
	}
	doc = slurp(truth);
	tps = js_double(doc, "tokens_per_s");
	free(doc);
	if (!(tps > 0))
		snprintf(why, wlen, "no tokens_per_s in %s --truth", B.o.decode_bin ? bin : "llm_decode");
out:
	for (int l = 0; l < 2; l++)
		if (ffds[l] >= 0)
			close(ffds[l]);
	bench_floor_bpf__destroy(fskel);
	return tps;
}

static void decode_ratio(void)
{
	char bin[PATH_MAX + 16], why[512] = "";
	/* modes in B.tps order: untraced, -T, events, the floor */
	static const int mode_of[4] = { -1, 1, 0, 2 };
	double v[4][MAX_PASSES];
	unsigned r;

	for (int m = 0; m < 4; m++)
		B.tps[m] = NAN;
	if (B.o.decode_bin) {
		/* it runs in the temporary directory: a relative path must be made absolute */
		if (!realpath(B.o.decode_bin, bin))
			snprintf(bin, sizeof(bin), "%s", B.o.decode_bin);
		snprintf(B.decode_cmd, sizeof(B.decode_cmd), "%s %s", B.o.decode_bin, B.o.decode_args);
	} else {
		snprintf(bin, sizeof(bin), "%s/bin/llm_decode", B.dir);
		snprintf(B.decode_cmd, sizeof(B.decode_cmd), "llm_decode %s", B.o.decode_args);
	}
	if (access(bin, X_OK)) {
		snprintf(B.decode_status, sizeof(B.decode_status), B.o.decode_bin ?
			 "%s is not an executable" : "%s is not built", bin);
		return;
	}
	if (access(B.o.tracer, X_OK)) {
		snprintf(B.decode_status, sizeof(B.decode_status), "%s is not built", B.o.tracer);
		return;
	}
	/* interleaved: untraced, -T, events, the floor, again */
	for (r = 0; r < B.o.decode_reps && !interrupted; r++) {
		for (int m = 0; m < 4; m++) {
			v[m][r] = decode_once(bin, mode_of[m], why, sizeof(why));
			if (isnan(v[m][r])) {
				snprintf(B.decode_status, sizeof(B.decode_status), "%s", why);
				return;
			}
		}
	}
	for (int m = 0; m < 4; m++)
		B.tps[m] = median(v[m], r);
}

/* ---- output ---- */

/*
 * What the --decode-bin figures are: the runtime is named from the libcudart
 * the workload mapped, so a GPU run is never labelled as the stand-in's.
 */
static const char *decode_runtime(void)
{
	static char s[PATH_MAX + 64];
	char sim[PATH_MAX + 16];

	if (!B.decode_lib[0])
		return "a runtime not seen (the workload did not run traced)";
	snprintf(sim, sizeof(sim), "%s/sim/", B.dir);
	if (!strncmp(B.decode_lib, sim, strlen(sim)))
		snprintf(s, sizeof(s), "the CPU stand-in (%s): CPU figures", B.decode_lib);
	else
		snprintf(s, sizeof(s), "NVIDIA's runtime (%s): GPU figures", B.decode_lib);
	return s;
}

static const char *verdict(double v, double limit, bool le)
{
	if (isnan(v))
		return "n/a";
	return (le ? v <= limit : v >= limit) ? "PASS" : "FAIL";
}

/* Continues the "env" that bench_json_begin opened. */
static void env_json(struct llmi_json *j)
{
	llmi_json_str(j, "libbpf", libbpf_version_string());
	llmi_json_str(j, "bpftrace", B.bpftrace_version[0] ? B.bpftrace_version : NULL);
	llmi_json_str(j, "runtime", "CPU stand-in (build/sim): CPU figures, not GPU ones");
	llmi_json_str(j, "libcudart", B.libcudart);
	llmi_json_str(j, "libcuda", B.libcuda);
	llmi_json_str(j, "tracer", B.o.tracer);
	llmi_json_str(j, "probes", "cudaLaunchKernel, cuLaunchKernel (entry)");
	llmi_json_str(j, "floor_attach", B.floor_multi ? "uprobe_multi links, pid-bound"
						       : "perf-event uprobes, pid-bound");
	llmi_json_u64(j, "probed_calls_per_launch", 2);
	llmi_json_u64(j, "calls_per_round", B.o.calls);
	llmi_json_u64(j, "rounds_per_pass", B.o.rounds);
	llmi_json_u64(j, "passes", B.o.passes);
	llmi_json_obj_end(j);
}

static void num_or_null(struct llmi_json *j, const char *key, double v)
{
	if (isnan(v))
		llmi_json_null(j, key);
	else
		llmi_json_double(j, key, v);
}

static void check_json(struct llmi_json *j, const char *key, const char *v)
{
	if (!strcmp(v, "n/a"))
		llmi_json_null(j, key);
	else
		llmi_json_bool(j, key, !strcmp(v, "PASS"));
}

static int write_json(FILE *f)
{
	struct llmi_json j;
	double fl = B.c[C_FLOOR].ns;
	double tr = B.c[C_TIMING].ratio, er = B.c[C_EVENTS].ratio, br = B.c[C_BPFTRACE].ratio;
	double d_t = B.tps[1] / B.tps[0], d_e = B.tps[2] / B.tps[0];
	double lostv = B.lost >= 0 && B.paced_rate >= 200000 ? (double)B.lost : NAN;

	bench_json_begin(&j, f, "probe_overhead");
	env_json(&j);
	llmi_json_arr_begin(&j, "cases");
	for (int k = 0; k < C_COUNT; k++) {
		struct case_res *c = &B.c[k];

		llmi_json_obj_begin(&j, NULL);
		llmi_json_str(&j, "name", case_name[k]);
		llmi_json_str(&j, "label", case_label[k]);
		llmi_json_str(&j, "status", c->status[0] ? c->status : "ok");
		num_or_null(&j, "ns_per_call", c->ns);
		num_or_null(&j, "added_ns_per_call", c->ns - B.c[C_NONE].ns);
		num_or_null(&j, "ratio_to_floor", c->ratio);
		if (c->counted >= 0)
			llmi_json_i64(&j, "launches_counted", c->counted);
		else
			llmi_json_null(&j, "launches_counted");
		llmi_json_u64(&j, "launches_per_measurement", (uint64_t)B.o.rounds * (B.o.calls + 1));
		llmi_json_arr_begin(&j, "measurements_ns");
		for (unsigned p = 0; p < c->nmeas; p++)
			llmi_json_double(&j, NULL, c->med[p]);
		llmi_json_arr_end(&j);
		llmi_json_arr_begin(&j, "ratios_to_adjacent_floor");
		for (unsigned p = 0; p < c->nratio; p++)
			llmi_json_double(&j, NULL, c->ratios[p]);
		llmi_json_arr_end(&j);
		llmi_json_obj_end(&j);
	}
	llmi_json_obj_begin(&j, NULL);
	llmi_json_str(&j, "name", "events_lost_at_rate");
	llmi_json_str(&j, "status", B.lost_status[0] ? B.lost_status : "ok");
	num_or_null(&j, "target_launches_per_s", B.o.rate);
	num_or_null(&j, "launches_per_s", B.paced_rate);
	llmi_json_i64(&j, "launches", B.paced);
	llmi_json_i64(&j, "events_received", B.received);
	llmi_json_i64(&j, "events_lost", B.lost);
	llmi_json_obj_end(&j);
	llmi_json_obj_begin(&j, NULL);
	llmi_json_str(&j, "name", "max_lossless_rate");
	llmi_json_str(&j, "status", B.lossless_status[0] ? B.lossless_status : "ok");
	num_or_null(&j, "launches_per_s", B.lossless);
	llmi_json_str(&j, "bound", B.lossless_bound);
	num_or_null(&j, "seconds_per_run", B.o.search_secs);
	llmi_json_str(&j, "ring_size", B.o.ring_size ? B.o.ring_size : "tracer default");
	llmi_json_arr_begin(&j, "runs");
	for (unsigned i = 0; i < B.nsteps; i++) {
		llmi_json_obj_begin(&j, NULL);
		llmi_json_double(&j, "asked_launches_per_s", B.steps[i].asked);
		llmi_json_double(&j, "launches_per_s", B.steps[i].reached);
		llmi_json_i64(&j, "launches", B.steps[i].launches);
		llmi_json_i64(&j, "events_received", B.steps[i].received);
		llmi_json_i64(&j, "events_lost", B.steps[i].lost);
		llmi_json_obj_end(&j);
	}
	llmi_json_arr_end(&j);
	llmi_json_obj_end(&j);
	llmi_json_obj_begin(&j, NULL);
	llmi_json_str(&j, "name", "llm_decode");
	llmi_json_str(&j, "status", B.decode_status[0] ? B.decode_status : "ok");
	llmi_json_str(&j, "command", B.decode_cmd);
	if (B.o.decode_bin) {
		llmi_json_str(&j, "binary", B.o.decode_bin);
		llmi_json_str(&j, "libcudart", B.decode_lib[0] ? B.decode_lib : NULL);
		llmi_json_str(&j, "runtime", decode_runtime());
	}
	num_or_null(&j, "tokens_per_s_untraced", B.tps[0]);
	num_or_null(&j, "tokens_per_s_timing_only", B.tps[1]);
	num_or_null(&j, "tokens_per_s_events", B.tps[2]);
	num_or_null(&j, "tokens_per_s_floor", B.tps[3]);
	llmi_json_obj_end(&j);
	llmi_json_arr_end(&j);

	llmi_json_obj_begin(&j, "summary");
	num_or_null(&j, "none_ns_per_call", B.c[C_NONE].ns);
	num_or_null(&j, "floor_ns_per_call", fl);
	num_or_null(&j, "timing_only_ns_per_call", B.c[C_TIMING].ns);
	num_or_null(&j, "timing_only_capture_ns_per_call", B.c[C_TIMING_CAPTURE].ns);
	num_or_null(&j, "events_ns_per_call", B.c[C_EVENTS].ns);
	num_or_null(&j, "bpftrace_ns_per_call", B.c[C_BPFTRACE].ns);
	num_or_null(&j, "floor_all_processes_ns_per_call", B.c[C_FLOOR_ALL].ns);
	num_or_null(&j, "floor_perf_event_ns_per_call", B.c[C_FLOOR_PERF].ns);
	num_or_null(&j, "timing_only_ratio", tr);
	num_or_null(&j, "timing_only_capture_ratio", B.c[C_TIMING_CAPTURE].ratio);
	num_or_null(&j, "events_ratio", er);
	num_or_null(&j, "bpftrace_ratio", br);
	num_or_null(&j, "timing_only_vs_bpftrace", tr / br);
	num_or_null(&j, "user_read_ratio", B.c[C_PART_READ].ratio);
	num_or_null(&j, "timestamp_ratio", B.c[C_PART_CLOCK].ratio);
	num_or_null(&j, "ring_record_ratio", B.c[C_PART_RING].ratio);
	num_or_null(&j, "bare_record_ratio", B.c[C_RECORD].ratio);
	num_or_null(&j, "lost_events_at_200k", lostv);
	num_or_null(&j, "lost_events_launches_per_s", B.paced_rate);
	num_or_null(&j, "max_lossless_launches_per_s", B.lossless);
	llmi_json_str(&j, "max_lossless_bound", B.lossless_bound);
	num_or_null(&j, "llm_decode_tokens_per_s", B.tps[0]);
	num_or_null(&j, "llm_decode_floor_ratio", B.tps[3] / B.tps[0]);
	num_or_null(&j, "llm_decode_timing_only_ratio", d_t);
	num_or_null(&j, "llm_decode_events_ratio", d_e);
	llmi_json_obj_begin(&j, "checks");
	check_json(&j, "events_le_1.15x_floor", verdict(er, 1.15, true));
	check_json(&j, "timing_only_le_1.05x_floor", verdict(tr, 1.05, true));
	check_json(&j, "timing_only_le_bpftrace", verdict(tr / br, 1.0, true));
	check_json(&j, "no_loss_at_200k", verdict(lostv, 0, true));
	check_json(&j, "llm_decode_timing_only_ge_0.97", verdict(d_t, 0.97, false));
	check_json(&j, "llm_decode_events_ge_0.95", verdict(d_e, 0.95, false));
	llmi_json_obj_end(&j);
	llmi_json_obj_end(&j);
	llmi_json_obj_end(&j);
	return llmi_json_finish(&j);
}

static void fmt(char *buf, size_t len, const char *f, double v)
{
	if (isnan(v))
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, f, v);
}

static void print_table(FILE *f)
{
	double tr = B.c[C_TIMING].ratio, er = B.c[C_EVENTS].ratio, br = B.c[C_BPFTRACE].ratio;
	double d_t = B.tps[1] / B.tps[0], d_e = B.tps[2] / B.tps[0];
	double lostv = B.lost >= 0 && B.paced_rate >= 200000 ? (double)B.lost : NAN;
	char a[32], b[32], c[32], d[32];

	fprintf(f, "probe_overhead: cudaLaunchKernel + nested cuLaunchKernel (2 probes per\n"
		   "launch) on the CPU stand-in runtime: CPU figures; %u launches x %u rounds,\n"
		   "%u passes; x floor = median of ratios to the floor measured around each;\n"
		   "the floor attaches as llminstr-trace does: %s\n\n",
		B.o.calls, B.o.rounds, B.o.passes,
		B.floor_multi ? "uprobe_multi links, pid-bound" : "perf-event uprobes, pid-bound");
	fprintf(f, "%-26s %10s %10s %9s %10s\n", "case", "ns/launch", "added ns", "x floor",
		"counted");
	for (int k = 0; k < C_COUNT; k++) {
		struct case_res *cr = &B.c[k];

		if (cr->status[0] && !cr->nmeas) {
			fprintf(f, "%-26s %s\n", case_label[k], cr->status);
			continue;
		}
		fmt(a, sizeof(a), "%.1f", cr->ns);
		fmt(b, sizeof(b), "%.1f", k == C_NONE ? NAN : cr->ns - B.c[C_NONE].ns);
		fmt(c, sizeof(c), "%.3f", k == C_NONE ? NAN : cr->ratio);
		fmt(d, sizeof(d), "%.0f", cr->counted >= 0 ? (double)cr->counted : NAN);
		fprintf(f, "%-26s %10s %10s %9s %10s\n", case_label[k], a, b, c, d);
		if (cr->status[0])
			fprintf(f, "  (%s)\n", cr->status);
	}
	fprintf(f, "  (counted: launches the tool reported for its last measurement: %u, and\n"
		   "  one gate kernel per round)\n",
		B.o.rounds * B.o.calls + B.o.rounds);

	fprintf(f, "\nevents mode at %.0f launches/s for %.0f s: ", B.o.rate, B.o.rate_secs);
	if (B.lost_status[0])
		fprintf(f, "%s\n", B.lost_status);
	else
		fprintf(f, "%.0f launches/s reached, %lld received, %lld lost\n", B.paced_rate,
			B.received, B.lost);
	fprintf(f, "highest launch rate with no lost event (events mode, %s ring, %.0f s runs): ",
		B.o.ring_size ? B.o.ring_size : "default", B.o.search_secs);
	if (!B.o.search_secs)
		fprintf(f, "not asked for (--search-secs 0)\n");
	else if (B.lossless_status[0])
		fprintf(f, "%s\n", B.lossless_status);
	else
		fprintf(f, "%.0f/s\n  (%s; %u paced runs:", B.lossless,
			!B.lossless_bound ? "search cut short" :
			!strcmp(B.lossless_bound, "loss") ? "bounded by lost events: the next rate lost some" :
			"bounded by the launch path: the target launches no faster under the probes, "
			"and lost nothing", B.nsteps);
	if (B.o.search_secs && !B.lossless_status[0]) {
		for (unsigned i = 0; i < B.nsteps; i++)
			fprintf(f, "%s %.0f/s %s", i ? "," : "", B.steps[i].reached,
				B.steps[i].lost ? "lost" : "ok");
		fprintf(f, ")\n");
	}
	if (B.o.decode_bin)
		fprintf(f, "decode (%s)\n  on %s, tokens/s: ", B.decode_cmd, decode_runtime());
	else
		fprintf(f, "llm_decode (%s), tokens/s: ", B.decode_cmd);
	if (B.decode_status[0])
		fprintf(f, "%s\n", B.decode_status);
	else
		fprintf(f, "untraced %.1f, -T %.1f (%.3f), events %.1f (%.3f),\n"
			   "  floor (empty BPF on every launch function) %.1f (%.3f)\n", B.tps[0],
			B.tps[1], d_t, B.tps[2], d_e, B.tps[3], B.tps[3] / B.tps[0]);

	fprintf(f, "\ntargets\n");
	fmt(a, sizeof(a), "%.3f", er);
	fprintf(f, "  %-44s %10s  %s\n", "events <= 1.15x floor", a, verdict(er, 1.15, true));
	fmt(a, sizeof(a), "%.3f", B.c[C_RECORD].ratio);
	fprintf(f, "  %-44s %10s  %s\n", "  (a bare record, the least events can cost)", a,
		isnan(B.c[C_RECORD].ratio) ? "" : B.c[C_RECORD].ratio > 1.15 ? "above the target here" :
		"within the target here");
	fmt(a, sizeof(a), "%.3f", tr);
	fprintf(f, "  %-44s %10s  %s\n", "-T <= 1.05x floor", a, verdict(tr, 1.05, true));
	fmt(a, sizeof(a), "%.3f", tr / br);
	fprintf(f, "  %-44s %10s  %s\n", "-T <= bpftrace count() (ratio)", a,
		verdict(tr / br, 1.0, true));
	fmt(a, sizeof(a), "%.0f", lostv);
	fprintf(f, "  %-44s %10s  %s\n", "no lost events at >= 200k launches/s", a,
		verdict(lostv, 0, true));
	fmt(a, sizeof(a), "%.3f", d_t);
	fprintf(f, "  %-44s %10s  %s\n", B.o.decode_bin ? "decode -T >= 0.97 of untraced" :
		"llm_decode -T >= 0.97 of untraced", a,
		verdict(d_t, 0.97, false));
	fmt(a, sizeof(a), "%.3f", d_e);
	fprintf(f, "  %-44s %10s  %s\n", B.o.decode_bin ? "decode events >= 0.95 of untraced" :
		"llm_decode events >= 0.95 of untraced", a,
		verdict(d_e, 0.95, false));
}

/* ---- main ---- */

static void usage(FILE *f)
{
	fprintf(f,
"Usage: probe_overhead [options]\n"
"What tracing costs a CUDA call: no probe, an empty BPF uprobe (the floor),\n"
"llminstr-trace -T, llminstr-trace events mode and bpftrace count(), on the\n"
"same probes of one process launching through the CPU stand-in runtime; lost\n"
"events at a sustained launch rate; llm_decode tokens/s traced and not.\n"
"Needs root (BPF).\n"
"\n"
"  --json FILE|-      also write the results as one JSON object\n"
"  --calls N          launches per round (default 10000)\n"
"  --rounds N         rounds per measurement (default 5)\n"
"  --passes N         passes over the cases (default 7)\n"
"  --rate N           launches/s for the lost-events run (default 250000)\n"
"  --rate-secs SEC    its duration (default 3)\n"
"  --search-secs SEC  each paced run of the highest-lossless-rate search\n"
"                     (default 2; 0 skips the search)\n"
"  --ring-size SIZE   the tracer's --ring-size in the loss runs (default: its own)\n"
"  --decode-args STR  llm_decode's sizes (default \"%s\")\n"
"  --decode-reps N    llm_decode runs per mode (default 5)\n"
"  --decode-bin PATH  decode with PATH instead of build/bin/llm_decode, with the\n"
"                     same flags (-q --truth --wait-file): build/bin/llm_decode_cuda\n"
"                     or gpu/workload/torch_decode.py on a GPU (GPU figures)\n"
"  --no-decode        skip llm_decode\n"
"  --no-bpftrace      skip bpftrace\n"
"  --tracer PATH      llminstr-trace to measure (default build/bin/llminstr-trace)\n"
"  --quick            2 passes of 3 rounds, 1 decode run per mode\n"
"  -h, --help         this text\n"
"\n"
"Exit: 0 when it ran (the targets' verdicts are in the output), 77 when it\n"
"cannot run here (not root, no BPF), 1 on failure.\n",
		"--layers 4 --hidden 512 --heads 8 --ffn 1376 --vocab 4096 --tokens 256");
}

static int parse_args(int argc, char **argv)
{
	static char tracer[PATH_MAX + 32];
	struct opts *o = &B.o;

	*o = (struct opts){ .rounds = 5, .calls = 10000, .passes = 7, .rate = 250000,
			    .rate_secs = 3, .search_secs = 2, .decode = true, .bpftrace = true, .decode_reps = 5,
			    .decode_args = "--layers 4 --hidden 512 --heads 8 --ffn 1376 "
					   "--vocab 4096 --tokens 256" };
	snprintf(tracer, sizeof(tracer), "%s/bin/llminstr-trace", B.dir);
	o->tracer = tracer;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		uint64_t u;
		double d;
		int err = 0;

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			exit(0);
		} else if (!strcmp(a, "--no-decode")) {
			o->decode = false;
			continue;
		} else if (!strcmp(a, "--no-bpftrace")) {
			o->bpftrace = false;
			continue;
		} else if (!strcmp(a, "--quick")) {
			o->passes = 2;
			o->rounds = 3;
			o->decode_reps = 1;
			o->search_secs = 1;
			continue;
		}
		if (strcmp(a, "--json") && strcmp(a, "--tracer") && strcmp(a, "--decode-args") &&
		    strcmp(a, "--decode-bin") &&
		    strcmp(a, "--calls") && strcmp(a, "--rounds") && strcmp(a, "--passes") &&
		    strcmp(a, "--decode-reps") && strcmp(a, "--rate") && strcmp(a, "--rate-secs") &&
		    strcmp(a, "--search-secs") && strcmp(a, "--ring-size")) {
			fprintf(stderr, "%s: unknown option '%s' (--help lists them)\n", PROG, a);
			return -EINVAL;
		}
		if (!v) {
			fprintf(stderr, "%s: %s needs a value (--help lists the options)\n", PROG, a);
			return -EINVAL;
		}
		i++;
		if (!strcmp(a, "--json")) {
			o->json = v;
		} else if (!strcmp(a, "--tracer")) {
			o->tracer = v;
		} else if (!strcmp(a, "--decode-args")) {
			o->decode_args = v;
		} else if (!strcmp(a, "--decode-bin")) {
			o->decode_bin = v;
		} else if (!strcmp(a, "--ring-size")) {
			o->ring_size = v;	/* the tracer checks it */
		} else if (!strcmp(a, "--search-secs")) {
			err = strcmp(v, "0") ? llmi_parse_seconds(v, &d) : (d = 0, 0);
			if (!err && d > 3600)
				err = -ERANGE;
			if (!err)
				o->search_secs = d;
		} else if (!strcmp(a, "--calls") || !strcmp(a, "--rounds") || !strcmp(a, "--passes") ||
			   !strcmp(a, "--decode-reps")) {
			err = llmi_parse_u64(v, &u);
			if (!err && (u < 1 || u > (!strcmp(a, "--calls") ? 10000000u :
						   !strcmp(a, "--rounds") ? MAX_ROUNDS : MAX_PASSES)))
				err = -ERANGE;
			if (!err) {
				unsigned *dst = !strcmp(a, "--calls") ? &o->calls :
						!strcmp(a, "--rounds") ? &o->rounds :
						!strcmp(a, "--passes") ? &o->passes : &o->decode_reps;
				*dst = (unsigned)u;
			}
		} else if (!strcmp(a, "--rate") || !strcmp(a, "--rate-secs")) {
			err = llmi_parse_seconds(v, &d);
			if (!err && d > 1e8)
				err = -ERANGE;
			if (!err)
				*(a[6] ? &o->rate_secs : &o->rate) = d;
		} else {
			fprintf(stderr, "%s: unknown option '%s' (--help lists them)\n", PROG, a);
			return -EINVAL;
		}
		if (err) {
			fprintf(stderr, "%s: %s '%s' is not %s\n", PROG, a, v,
				err == -ERANGE ? "in range" : "a number");
			return err;
		}
	}
	return 0;
}

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return level == LIBBPF_WARN ? vfprintf(stderr, fmt, ap) : 0;
}

static void find_bpftrace(void)
{
	FILE *p;

	if (!B.o.bpftrace)
		return;
	p = popen("bpftrace --version 2>/dev/null", "r");
	if (!p)
		return;
	if (!fgets(B.bpftrace_version, sizeof(B.bpftrace_version), p))
		B.bpftrace_version[0] = '\0';
	B.bpftrace_version[strcspn(B.bpftrace_version, "\n")] = '\0';
	pclose(p);
}

int main(int argc, char **argv)
{
	char exe[PATH_MAX], target[PATH_MAX + 32], line[256], *slash;
	struct bench_floor_bpf *probe;
	ssize_t n;
	int err, rc = 1;
	FILE *out = stdout;

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0) {
		fprintf(stderr, "%s: cannot read /proc/self/exe: %s\n", PROG, strerror(errno));
		return 1;
	}
	exe[n] = '\0';
	/* build/bench/probe_overhead -> build */
	for (int i = 0; i < 2 && (slash = strrchr(exe, '/')); i++)
		*slash = '\0';
	snprintf(B.dir, sizeof(B.dir), "%s", exe);
	if (parse_args(argc, argv))
		return 2;
	if (B.o.json && !strcmp(B.o.json, "-"))
		out = stderr;	/* stdout carries the JSON alone */

	if (geteuid() != 0) {
		printf("%s: SKIP: needs root for BPF uprobes (run it with sudo)\n", PROG);
		return 77;
	}
	libbpf_set_print(libbpf_quiet);
	probe = bench_floor_bpf__open_and_load();
	if (!probe) {
		printf("%s: SKIP: cannot load a BPF program here: %s\n", PROG, strerror(errno));
		return 77;
	}
	bench_floor_bpf__destroy(probe);

	snprintf(target, sizeof(target), "%s/bench/helpers/probe_overhead_target", B.dir);
	if (access(target, X_OK)) {
		fprintf(stderr, "%s: %s is not built (make)\n", PROG, target);
		return 1;
	}
	snprintf(B.tmp, sizeof(B.tmp), "/tmp/probe_overhead.XXXXXX");
	if (!mkdtemp(B.tmp)) {
		fprintf(stderr, "%s: cannot make a temporary directory: %s\n", PROG, strerror(errno));
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	find_bpftrace();

	err = target_start(&B.t, target);
	if (err) {
		fprintf(stderr, "%s: cannot start %s: %s\n", PROG, target, strerror(-err));
		goto out;
	}
	/* its first line comes after the warm-up launches, with both libraries loaded */
	err = target_line(&B.t, line, sizeof(line), 60);
	if (err) {
		fprintf(stderr, "%s: %s did not start: %s\n", PROG, target, strerror(-err));
		goto out;
	}
	err = find_probes();
	if (err)
		goto out;
	floor_choose();

	for (unsigned p = 0; p < B.o.passes && !interrupted; p++) {
		run_pass();
		fprintf(stderr, "%s: pass %u of %u done\n", PROG, p + 1, B.o.passes);
	}
	if (!interrupted)
		lost_events();
	if (!interrupted && B.o.search_secs)
		lossless_rate();
	target_stop(&B.t);
	if (B.o.decode && !interrupted)
		decode_ratio();
	else if (!B.o.decode)
		snprintf(B.decode_status, sizeof(B.decode_status), "not asked for (--no-decode)");
	if (interrupted) {
		fprintf(stderr, "%s: interrupted\n", PROG);
		goto out;
	}
	finish_cases();
	if (!B.c[C_NONE].nmeas || !B.c[C_FLOOR].nmeas) {
		fprintf(stderr, "%s: the baseline cases did not run\n", PROG);
		goto out;
	}
	print_table(out);
	rc = 0;
	if (B.o.json) {
		FILE *jf = strcmp(B.o.json, "-") ? fopen(B.o.json, "w") : stdout;

		if (!jf || write_json(jf)) {
			fprintf(stderr, "%s: cannot write %s: %s\n", PROG, B.o.json, strerror(errno));
			rc = 1;
		}
		if (jf && jf != stdout)
			fclose(jf);
	}
out:
	children_kill();
	if (B.t.pid > 0) {
		close(B.t.in);
		close(B.t.out);
	}
	if (B.tmp[0]) {
		char cmd[PATH_MAX + 16];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", B.tmp);
		if (system(cmd)) {
			/* a leftover temporary directory is not worth failing for */
		}
	}
	return rc;
}
