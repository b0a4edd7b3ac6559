// SPDX-License-Identifier: MIT
/*
 * llminstr-trace: the loader and consumer of bpf/llminstr_trace.bpf.c.
 *
 * Shape (bcc libbpf-tools): parse options -> check the targets (pids
 * exist, "-- CMD" can run: cmd.c) -> create every output file, so that a
 * run that could not write its results fails before touching anything ->
 * start CMD held before exec -> open the skeleton, size the ring buffer and
 * the -T kernel map, load -> find the targets' CUDA libraries in
 * /proc/PID/maps (or --lib, or for "-- CMD" the libraries its loader will
 * map) and attach every probe they define, per process (uprobe pid filter)
 * -> let the command run -> consume until Ctrl-C, SIGTERM, -d or every
 * target's exit -> drain, summarise -> one cleanup path. main() reads as
 * those steps: init, setup (prepare, attach, start), run, finish, cleanup.
 * A trace that fails before it starts leaves no output file behind; with
 * "-- CMD" the exit status is the command's.
 *
 * The event loop (run) waits on one epoll: the ring buffer's own epoll fd,
 * a timerfd set to the next periodic task, a signalfd for SIGINT and
 * SIGTERM, and each target's pidfd. Nothing on it waits for the disk (the
 * -o writer has its own thread) or codes tensors (capture.c's collector
 * and coders have theirs). On a terminal it also draws the live status
 * line (status.h).
 *
 * The consumer (on_event) is the hot path of user space: it runs once per
 * record without allocating (agg grows its tables only for new handles).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <linux/capability.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gelf.h>
#include <libelf.h>

#include "common/elfsym.h"
#include "common/fmt.h"
#include "common/procmaps.h"
#include "io/outfile.h"
#include "llminstr_trace.skel.h"
#include "trace/agg.h"
#include "agent/proto.h"
#include "trace/api.h"
#include "trace/capture.h"
#include "trace/cmd.h"
#include "trace/opts.h"
#include "trace/out.h"
#include "trace/rank.h"
#include "trace/record.h"
#include "trace/status.h"

#define PROG "llminstr-trace"

static const char *const rt_pattern = "libcudart.so*";
static const char *const drv_pattern = "libcuda.so*";
static const char *const agent_pattern = "libllminstr.so*";

struct target {
	pid_t pid;
	int pidfd;
	bool child, exited;
	bool have_status;		/* child: wstatus is its wait status */
	int wstatus;
	struct llmi_symres *symres;
	char *libs[OUT_MAX_LIBS];
	unsigned lib_probes[OUT_MAX_LIBS];
	dev_t lib_dev[OUT_MAX_LIBS];	/* a file is known by inode: the maps */
	ino_t lib_ino[OUT_MAX_LIBS];	/* and ldd may name it differently */
	size_t nlibs;
	bool late, static_cudart;
	uint32_t rt_mode;		/* LLMI_TEXT_* written to rt_abs */
	bool capturing;			/* its agent took our ring */
	bool agent_done;		/* capture refused or said why not: no more tries */
	bool watched;			/* its pidfd is in the event loop */
};

/*
 * The event loop's state: when each periodic task is next due (now_s()
 * seconds; 0: never), the totals of the interval summaries, and how the
 * trace ended.
 */
struct loop {
	double t0;			/* the trace began */
	double next_tick;		/* exits and descendants (TICK_S) */
	double next_scan;		/* libraries opened since, agents (SCAN_S) */
	double next_names;		/* -T: kernel names */
	double next_ivl;		/* -i */
	double deadline;		/* -d */
	double next_status;		/* the live status line (STATUS_S) */
	struct agg_totals *tot, *prev, *ivl;
	struct trace_status_snap snap;	/* at the last status line */
	const char *why;		/* why the trace ended, once it did */
	bool failed;			/* a read or an output failed: exit 1 */
};

struct tracer {
	struct trace_opts o;
	struct llminstr_trace_bpf *skel;
	struct ring_buffer *rb;
	struct bpf_link **links;
	size_t nlinks, links_cap;
	int *link_fds;			/* uprobe_multi links (raw fds) */
	size_t nfds, fds_cap;
	bool multi;			/* one link per program and library */
	uint64_t probes;
	struct target t[TRACE_MAX_PIDS];
	size_t nt;
	struct agg *agg;
	struct trace_tl *tl;		/* --perfetto and -o */
	int json_fd;			/* --json, opened before tracing starts; -1 */
	struct trace_cmd cmd;		/* -- CMD */
	struct trace_cmd_gate gate;
	int ncpus;
	struct capture *cap;		/* --capture */
	struct corr *corr;		/* --capture: which launch made each tensor */
	char out_default[PATH_MAX];	/* -o when capturing without one */
	char out_shard[PATH_MAX];	/* -o DIR/: DIR/rank-R.llmi */
	struct trace_rank rank;		/* the file header's (rank.h) */

	sigset_t old_mask;		/* before SIGINT and SIGTERM were blocked: the command's */
	int sfd;			/* signalfd: SIGINT, SIGTERM; -1 */
	int stop_sig;			/* the signal that ends the trace, 0 */
	int ep, tfd;			/* the event loop's epoll and timerfd; -1 */
	bool status;			/* the live status line is shown (a terminal) */
	bool ran;			/* the trace began (the command was let go) */
	int exit_status;		/* decided on the way (126, 127), -1 */
	struct loop lp;
	struct out_info info;		/* the summary's */
	struct out_target ot[TRACE_MAX_PIDS];
	struct capture_stats cs;
};

static int stop_requested(struct tracer *tr);

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	if (level == LIBBPF_INFO && !getenv("LLMI_TRACE_DEBUG"))
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static bool have_bpf_caps(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2] = {};

	if (geteuid() == 0)
		return true;
	if (syscall(SYS_capget, &h, d))
		return false;
	/* CAP_BPF (39) and CAP_PERFMON (38) live in the second word */
	return (d[1].effective & (1u << (39 - 32))) && (d[1].effective & (1u << (38 - 32)));
}

/* ---- names ---- */

static struct target *target_of(struct tracer *tr, uint32_t pid)
{
	for (size_t i = 0; i < tr->nt; i++)
		if ((uint32_t)tr->t[i].pid == pid)
			return &tr->t[i];
	return NULL;
}

static bool late_attach(const struct tracer *tr)
{
	for (size_t i = 0; i < tr->nt; i++)
		if (tr->t[i].late && !tr->t[i].exited)
			return true;
	return false;
}

static int resolve(void *ctx, uint32_t pid, uint64_t addr, char *full, size_t full_len,
		   char *brief, size_t brief_len)
{
	struct target *t = target_of(ctx, pid);

	if (!t)
		return -ENOENT;
	if (!t->symres) {
		t->symres = llmi_symres__new(t->pid);
		if (!t->symres)
			return -errno;
	}
	if (llmi_symres__name(t->symres, addr, false, full, full_len)) {
		/* maybe a library loaded since the maps were read */
		if (t->exited || llmi_symres__refresh(t->symres) ||
		    llmi_symres__name(t->symres, addr, false, full, full_len))
			return -ENOENT;
	}
	return llmi_symres__name(t->symres, addr, true, brief, brief_len);
}

/* ---- attach ---- */

static int link_add(struct tracer *tr, struct bpf_link *l)
{
	if (tr->nlinks == tr->links_cap) {
		size_t c = tr->links_cap ? tr->links_cap * 2 : 256;
		void *p = realloc(tr->links, c * sizeof(*tr->links));

		if (!p)
			return -ENOMEM;
		tr->links = p;
		tr->links_cap = c;
	}
	tr->links[tr->nlinks++] = l;
	return 0;
}

static struct bpf_program *prog_of(struct tracer *tr, enum trace_prog p)
{
	switch (p) {
	case PROG_RT_LAUNCH: return tr->skel->progs.rt_launch;
	case PROG_RT_LAUNCH_EXC: return tr->skel->progs.rt_launch_exc;
	case PROG_DRV_LAUNCH: return tr->skel->progs.drv_launch;
	case PROG_DRV_LAUNCH_EX: return tr->skel->progs.drv_launch_ex;
	case PROG_CALL_ENTRY: return tr->skel->progs.call_entry;
	case PROG_DRV_CALL_ENTRY: return tr->skel->progs.drv_call_entry;
	case PROG_REGISTER: return tr->skel->progs.reg_function;
	default: return tr->skel->progs.timed_enter;
	}
}

static int attach_one(struct tracer *tr, struct target *t, const char *path,
		      struct bpf_program *prog, bool ret, uint64_t off, uint64_t cookie)
{
	LIBBPF_OPTS(bpf_uprobe_opts, uo, .bpf_cookie = cookie, .retprobe = ret);
	struct bpf_link *l = bpf_program__attach_uprobe_opts(prog, t->pid, path, off, &uo);
	int err;

	if (!l)
		return -errno;
	err = link_add(tr, l);
	if (err)
		bpf_link__destroy(l);
	return err;
}

/*
 * uprobe_multi links (BPF_TRACE_UPROBE_MULTI): one link attaches a program
 * to many offsets of one file, each with its cookie, for one pid. Detaching
 * a uprobe waits for an RCU-tasks-trace grace period (~0.3 s here), so one
 * link per program instead of one per function is what makes Ctrl-C quick.
 * libbpf 1.1 predates them: the link is created with the raw syscall, its
 * attribute layout copied from the kernel's uapi.
 */
#ifndef LLMI_BPF_TRACE_UPROBE_MULTI
#define LLMI_BPF_TRACE_UPROBE_MULTI 48
#define LLMI_BPF_F_UPROBE_MULTI_RETURN 1u
#endif

struct link_create_uprobe_multi {
	uint32_t prog_fd, target_fd, attach_type, flags;
	uint64_t path, offsets, ref_ctr_offsets, cookies;
	uint32_t cnt, um_flags, pid;
	uint32_t pad[9];
};

static int fd_add(struct tracer *tr, int fd)
{
	if (tr->nfds == tr->fds_cap) {
		size_t c = tr->fds_cap ? tr->fds_cap * 2 : 64;
		void *p = realloc(tr->link_fds, c * sizeof(*tr->link_fds));

		if (!p)
			return -ENOMEM;
		tr->link_fds = p;
		tr->fds_cap = c;
	}
	tr->link_fds[tr->nfds++] = fd;
	return 0;
}

static int attach_multi(struct tracer *tr, struct target *t, const char *path,
			struct bpf_program *prog, bool ret, const uint64_t *offs,
			const uint64_t *cookies, uint32_t n)
{
	struct link_create_uprobe_multi a;
	int fd, err;

	memset(&a, 0, sizeof(a));
	a.prog_fd = bpf_program__fd(prog);
	a.attach_type = LLMI_BPF_TRACE_UPROBE_MULTI;
	a.path = (uint64_t)(uintptr_t)path;
	a.offsets = (uint64_t)(uintptr_t)offs;
	a.cookies = (uint64_t)(uintptr_t)cookies;
	a.cnt = n;
	a.um_flags = ret ? LLMI_BPF_F_UPROBE_MULTI_RETURN : 0;
	a.pid = (uint32_t)t->pid;
	fd = (int)syscall(SYS_bpf, BPF_LINK_CREATE, &a, sizeof(a));
	if (fd < 0)
		return -errno;
	err = fd_add(tr, fd);
	if (err)
		close(fd);
	return err;
}

enum { GROUPS = PROG_REGISTER + 2 };	/* programs, plus timed_exit */

struct attach_group {
	uint64_t offs[LLMI_API_MAX];
	uint64_t cookies[LLMI_API_MAX];
	uint32_t n;
};

#define ERR_NO_MULTI (-100000)	/* the kernel has no uprobe_multi: reload */
#define LIB_ERR_SAID (-100001)	/* a library could not be attached; said already */

/*
 * The executable PT_LOAD segments of path, as [lo, hi) file virtual
 * addresses (the code of the runtime library, for runtime -> driver
 * dedup). 0, or -errno.
 */
struct text_segs {
	uint64_t lo[8], hi[8];
	size_t n;
};

static int text_segments(const char *path, struct text_segs *ts)
{
	size_t nph;
	Elf *elf;
	int fd, err = 0;

	ts->n = 0;
	if (elf_version(EV_CURRENT) == EV_NONE)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	elf = elf_begin(fd, ELF_C_READ, NULL);
	if (!elf || elf_getphdrnum(elf, &nph)) {
		err = -ENOEXEC;
		goto out;
	}
	for (size_t i = 0; i < nph && ts->n < 8; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD || !(ph.p_flags & PF_X))
			continue;
		ts->lo[ts->n] = ph.p_vaddr;
		ts->hi[ts->n++] = ph.p_vaddr + ph.p_memsz;
	}
out:
	elf_end(elf);
	close(fd);
	return err;
}

/*
 * The dedup state is what keeps a runtime launch from counting twice (once
 * more as the driver launch the runtime makes for it): a target whose state
 * cannot be written is not attached, with one line that says why.
 */
static int dedup_write(struct tracer *tr, struct target *t, const char *path,
		       struct bpf_map *map, uint32_t key, const void *v, size_t size)
{
	int err = bpf_map__update_elem(map, &key, sizeof(key), v, size, 0);

	if (err)
		fprintf(stderr, PROG ": pid %d: not attached to %s: cannot write BPF map %s "
			"(runtime/driver dedup): %s\n", t->pid, path, bpf_map__name(map),
			strerror(-err));
	return err;
}

/*
 * rt_text[target, api]: the code segment around a probed runtime function.
 * Only a shared libcudart has code that is the runtime's alone; any other
 * file defining the runtime (an executable or library with static cudart)
 * is marked static and deduplicated with per-thread markers instead.
 * 0 or -errno.
 */
static int set_rt_text(struct tracer *tr, struct target *t, const char *path, unsigned api,
		       const struct text_segs *ts, uint64_t vaddr, bool shared)
{
	uint32_t key = (uint32_t)(t - tr->t) * LLMI_API_MAX + api;
	bool drv = trace_apis[api].role == ROLE_DRIVER;
	struct llmi_text v = { .flags = drv ? LLMI_TEXT_DRIVER :
				    shared ? LLMI_TEXT_SHARED : LLMI_TEXT_STATIC };

	shared = shared || drv;
	for (size_t i = 0; shared && i < ts->n; i++) {
		if (vaddr >= ts->lo[i] && vaddr < ts->hi[i]) {
			v.lo = (int64_t)(ts->lo[i] - vaddr);
			v.hi = (int64_t)(ts->hi[i] - vaddr);
		}
	}
	if (shared && v.hi <= v.lo)
		v.flags = 0;	/* no code segment found: no dedup rather than a wrong one */
	return dedup_write(tr, t, path, tr->skel->maps.rt_text, key, &v, sizeof(v));
}

/* rt_abs[target].flags: how this process's driver launches are deduplicated. 0 or -errno. */
static int set_rt_mode(struct tracer *tr, struct target *t, const char *path, uint32_t flags)
{
	uint32_t key = (uint32_t)(t - tr->t);
	struct llmi_range v = { .flags = flags };
	int err;

	if (t->rt_mode == flags || (t->rt_mode & LLMI_TEXT_SHARED))
		return 0;	/* a shared libcudart, once seen, decides */
	err = dedup_write(tr, t, path, tr->skel->maps.rt_abs, key, &v, sizeof(v));
	if (!err)
		t->rt_mode = flags;
	return err;
}

/*
 * Attaches every API that path defines (runtime, driver or both: an
 * executable with static cudart is a runtime). Returns the probe count or
 * -errno; a library that defines none of them counts 0.
 */
static int attach_lib(struct tracer *tr, struct target *t, const char *path)
{
	struct attach_group *g = NULL;
	const char *base;
	bool shared_rt;
	struct text_segs ts;
	struct llmi_elf *e;
	struct stat st;
	unsigned n = 0;
	int err = 0;

	if (stat(path, &st)) {
		err = -errno;
		fprintf(stderr, PROG ": cannot read %s: %s\n", path, strerror(errno));
		return err;
	}
	for (size_t i = 0; i < t->nlibs; i++)
		if (t->lib_dev[i] == st.st_dev && t->lib_ino[i] == st.st_ino)
			return 0;	/* attached already, perhaps under another name */
	if (t->nlibs == OUT_MAX_LIBS)
		return 0;
	e = llmi_elf__open(path);
	if (!e) {
		err = -errno;
		fprintf(stderr, PROG ": cannot read %s: %s%s\n", path, strerror(-err),
			err == -ENOEXEC ? " (not an ELF file)" : "");
		return err;
	}
	if (tr->multi && !(g = calloc(GROUPS, sizeof(*g)))) {
		llmi_elf__free(e);
		fprintf(stderr, PROG ": pid %d: %s: out of memory\n", t->pid, path);
		return -ENOMEM;
	}
	text_segments(path, &ts);
	base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	shared_rt = !fnmatch(rt_pattern, base, 0);
	for (unsigned api = 0; api < LLMI_API_MAX && !err; api++) {
		const struct trace_api *a = &trace_apis[api];
		uint64_t vaddr, off;
		uint64_t cookie = LLMI_COOKIE_WITH_TARGET(trace_api_cookie(api), t - tr->t);

		if (llmi_elf__sym_addr(e, a->sym, &vaddr, &off))
			continue;	/* not defined here: skipped quietly */
		if (a->role == ROLE_RUNTIME) {
			err = set_rt_text(tr, t, path, api, &ts, vaddr, shared_rt) ?:
			      set_rt_mode(tr, t, path, shared_rt ? LLMI_TEXT_SHARED : LLMI_TEXT_STATIC);
		} else if (a->prog == PROG_DRV_CALL_ENTRY || a->slot == LLMI_SLOT_DRV_CALL ||
			   a->slot == LLMI_SLOT_DRV_GRAPH) {
			err = set_rt_text(tr, t, path, api, &ts, vaddr, false);	/* libcuda's code */
		}
		if (err)
			break;	/* said why; nothing of this library attached in multi mode */
		if (tr->o.verbose)
			fprintf(stderr, PROG ": pid %d: %s%s at %s+0x%llx\n", t->pid, a->sym,
				a->prog == PROG_TIMED ? " (+return)" : "", path,
				(unsigned long long)off);
		n += a->prog == PROG_TIMED ? 2 : 1;
		/* the sleepable registration probe stays a classic uprobe */
		if (!g || a->prog == PROG_REGISTER) {
			err = attach_one(tr, t, path, prog_of(tr, a->prog), false, off, cookie);
			if (!err && a->prog == PROG_TIMED)
				err = attach_one(tr, t, path, tr->skel->progs.timed_exit, true, off,
						 cookie);
			if (err)
				fprintf(stderr, PROG ": pid %d: cannot attach to %s in %s: %s\n",
					t->pid, a->sym, path, strerror(-err));
			continue;
		}
		g[a->prog].offs[g[a->prog].n] = off;
		g[a->prog].cookies[g[a->prog].n++] = cookie;
		if (a->prog == PROG_TIMED) {
			g[GROUPS - 1].offs[g[GROUPS - 1].n] = off;
			g[GROUPS - 1].cookies[g[GROUPS - 1].n++] = cookie;
		}
	}
	for (int p = 0; g && !err && p < GROUPS; p++) {
		bool ret = p == GROUPS - 1;

		if (!g[p].n)
			continue;
		err = attach_multi(tr, t, path, ret ? tr->skel->progs.timed_exit : prog_of(tr, p),
				   ret, g[p].offs, g[p].cookies, g[p].n);
		if (err && tr->nfds == 0 && (err == -EINVAL || err == -EOPNOTSUPP ||
					     err == -ENOTSUP || err == -ENOSYS || err == -E2BIG))
			err = ERR_NO_MULTI;	/* first multi link refused: feature missing */
		else if (err)
			fprintf(stderr, PROG ": pid %d: cannot attach to %s: %s\n", t->pid, path,
				strerror(-err));
	}
	free(g);
	llmi_elf__free(e);
	if (err)
		return err;
	if (n) {
		t->libs[t->nlibs] = strdup(path);
		if (!t->libs[t->nlibs]) {
			fprintf(stderr, PROG ": pid %d: %s: out of memory\n", t->pid, path);
			return -ENOMEM;
		}
		t->lib_dev[t->nlibs] = st.st_dev;
		t->lib_ino[t->nlibs] = st.st_ino;
		t->lib_probes[t->nlibs++] = n;
		tr->probes += n;
	}
	return (int)n;
}

static bool defines_runtime(const char *path)
{
	struct llmi_elf *e = llmi_elf__open(path);
	uint64_t v, off;
	bool yes;

	if (!e)
		return false;
	yes = !llmi_elf__sym_addr(e, "cudaLaunchKernel", &v, &off);
	llmi_elf__free(e);
	return yes;
}

/* The CUDA libraries a live process maps; new ones are attached (dlopen). */
static int attach_mapped(struct tracer *tr, struct target *t)
{
	static const char *const pats[] = { "libcudart.so*", "libcuda.so*" };
	struct llmi_maps *m = llmi_maps__read(t->pid);
	const char *exe;
	int err = 0, r;

	if (!m)
		return -errno;	/* the caller says it: a late scan of an exiting process is quiet */
	for (size_t i = 0; i < 2 && !err; i++) {
		const char *p = llmi_maps__find_lib(m, pats[i]);

		if (p && (r = attach_lib(tr, t, p)) < 0)
			err = r == ERR_NO_MULTI ? r : LIB_ERR_SAID;
	}
	exe = llmi_maps__exe(m);
	/*
	 * Open the symbolizer while the process lives, on the executable and the
	 * CUDA libraries: a short process may be gone before its first launch
	 * record is read, and its host stubs must still be named.
	 */
	if (!t->symres && (t->symres = llmi_symres__new(t->pid))) {
		char buf[256];

		for (size_t i = 0; i < llmi_maps__count(m); i++) {
			const struct llmi_map *mp = llmi_maps__get(m, i);

			if ((mp->perms & LLMI_MAP_X) && mp->path[0] == '/' &&
			    ((exe && !strcmp(mp->path, exe)) || strstr(mp->path, "cud")))
				llmi_symres__name(t->symres, mp->start, false, buf, sizeof(buf));
		}
	}
	if (!err && exe && !t->static_cudart && !t->nlibs && defines_runtime(exe)) {
		t->static_cudart = true;
		r = attach_lib(tr, t, exe);
		if (r < 0)
			err = r == ERR_NO_MULTI ? r : LIB_ERR_SAID;
	}
	llmi_maps__free(m);
	return err;
}

/*
 * Detaching a uprobe waits for a grace period (one per probe on recent
 * kernels: a hundred probes took 20 s in a row). Threads detaching at the
 * same time share the grace periods.
 */
struct detach_job {
	struct bpf_link **links;
	size_t n;
	int fd;
};

static void *detach_worker(void *arg)
{
	struct detach_job *j = arg;

	for (size_t i = 0; i < j->n; i++)
		bpf_link__destroy(j->links[i]);
	if (j->fd >= 0)
		close(j->fd);
	return NULL;
}

static void detach_all(struct tracer *tr)
{
	enum { WORKERS = 64 };
	struct detach_job jobs[WORKERS];
	pthread_t th[WORKERS];
	bool started[WORKERS] = {};
	size_t items = tr->nlinks + tr->nfds, next_link = 0, next_fd = 0;
	size_t per = (items + WORKERS - 1) / WORKERS;

	for (size_t w = 0; w < WORKERS && per; w++) {
		jobs[w].links = tr->links + next_link;
		jobs[w].n = 0;
		jobs[w].fd = -1;
		if (next_fd < tr->nfds) {	/* multi links: one per thread */
			jobs[w].fd = tr->link_fds[next_fd++];
		} else {
			jobs[w].n = tr->nlinks - next_link < per ? tr->nlinks - next_link : per;
			next_link += jobs[w].n;
		}
		if (!jobs[w].n && jobs[w].fd < 0)
			break;
		started[w] = !pthread_create(&th[w], NULL, detach_worker, &jobs[w]);
		if (!started[w])
			detach_worker(&jobs[w]);
	}
	/* more multi links than workers: the rest here */
	for (; next_fd < tr->nfds; next_fd++)
		close(tr->link_fds[next_fd]);
	for (; next_link < tr->nlinks; next_link++)
		bpf_link__destroy(tr->links[next_link]);
	for (size_t w = 0; w < WORKERS; w++)
		if (started[w])
			pthread_join(th[w], NULL);
	tr->nlinks = 0;
	tr->nfds = 0;
}

/* ---- -- CMD ---- */

struct needed_ctx {
	struct tracer *tr;
	struct target *t;
	int attach_err;		/* attach_lib's, said already (or ERR_NO_MULTI) */
};

static int on_needed(void *ctx, const char *path)
{
	struct needed_ctx *n = ctx;
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	int r;

	if (fnmatch(rt_pattern, base, 0) && fnmatch(drv_pattern, base, 0))
		return 0;
	r = attach_lib(n->tr, n->t, path);	/* says why on failure */
	if (r < 0)
		n->attach_err = r;
	return r < 0 ? r : 0;
}

/*
 * The CUDA libraries the command will map at start, learnt without running
 * it (cmd.c): none for a static executable, its loader's list for a dynamic
 * one; the executable itself when it defines the runtime (static cudart).
 * A script's interpreter, and libraries opened later with dlopen, are found
 * in /proc/PID/maps while tracing.
 */
static int attach_needed(struct tracer *tr, struct target *t)
{
	const struct trace_cmd *c = &tr->cmd;
	struct needed_ctx n = { tr, t, 0 };
	int err, r;

	err = trace_cmd_libs(c, on_needed, &n);
	if (err == -ENOEXEC) {
		fprintf(stderr, PROG ": %s: its loader %s is not an ELF shared object; its CUDA "
			"libraries are attached once mapped (use --lib to attach before it runs)\n",
			c->path, c->interp);
		err = 0;
	} else if (err && err != n.attach_err) {
		fprintf(stderr, PROG ": %s: cannot list its libraries with %s --list: %s\n",
			c->path, c->interp, strerror(-err));
	}
	if (err)
		return err;
	if (c->kind != TRACE_CMD_OTHER && !t->nlibs && defines_runtime(c->real)) {
		t->static_cudart = true;
		r = attach_lib(tr, t, c->real);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- the maps ---- */

/*
 * A C string of process pid at addr, read from /proc/PID/mem while the
 * process lives, a page at most at a time (the string may end just before
 * an unmapped page). "" when unreadable.
 */
static void name_read(uint32_t pid, uint64_t addr, char *buf, size_t len)
{
	size_t got = 0;
	char path[64];
	int fd;

	buf[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%u/mem", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	while (got < len - 1) {
		size_t want = 4096 - ((addr + got) & 4095);
		ssize_t n;

		if (want > len - 1 - got)
			want = len - 1 - got;
		n = pread(fd, buf + got, want, (off_t)(addr + got));
		if (n <= 0)
			break;
		if (memchr(buf + got, '\0', n)) {
			got += n;
			break;
		}
		got += n;
	}
	buf[got] = '\0';
	close(fd);
}

/*
 * Name records: a name the probe could not read (its page not yet faulted
 * in) is read from the process into a copy (the ring is mapped read-only);
 * one that filled the record may have been cut (C++ template kernels run
 * past LLMI_EV_NAME_MAX) and is read whole. Once per kernel at most.
 */
static int on_event(void *ctx, void *data, size_t size)
{
	struct tracer *tr = ctx;
	const struct llmi_name_event *ne = data;
	struct llmi_name_event copy;
	char whole[8192];
	bool cut = false;

	if (size == sizeof(*ne) && ne->ev.arg0 &&
	    (ne->ev.type == LLMI_EV_NAMED || ne->ev.type == LLMI_EV_REGISTER)) {
		size_t n = strnlen(ne->name, sizeof(ne->name));

		if (!n) {
			copy = *ne;
			name_read(ne->ev.pid, ne->ev.arg0, copy.name, sizeof(copy.name));
			data = &copy;
		} else if (n >= sizeof(ne->name) - 1) {
			name_read(ne->ev.pid, ne->ev.arg0, whole, sizeof(whole));
			cut = strlen(whole) > n && !strncmp(whole, ne->name, n);
		}
	}
	if (size >= sizeof(struct llmi_event) && (ne->ev.type == LLMI_EV_TENSOR ||
						    ne->ev.type == LLMI_EV_STEP)) {
		const struct llmi_tensor_event *te = data;

		/* the agent's probes: producers, not the application's calls */
		if (ne->ev.type == LLMI_EV_TENSOR && size >= sizeof(*te) && tr->corr) {
			uint64_t id;
			uint32_t nid;

			if (!tr->o.timing_only) {
				corr__tensor(tr->corr, te->ev.pid, te->ev.tid, te->ev.stream,
					     te->ev.obj, te->ev.arg1);
			} else {	/* -T: the probe carries its producer */
				trace_tl__tensor_producer(tr->tl, tr->agg, te, &id, &nid);
				corr__tensor_known(tr->corr, te->ev.pid, te->ev.tid,
						   te->ev.stream, te->ev.obj, te->ev.arg1, id, nid);
			}
		}
		return 0;
	}
	agg__event(tr->agg, data, size);
	if (cut)
		agg__set_name(tr->agg, ne->ev.pid, ne->ev.obj, whole);
	if (tr->tl) {
		uint64_t id;
		uint32_t nid;

		trace_tl__event(tr->tl, tr->agg, data, size);
		if (tr->corr && !tr->o.timing_only && trace_tl__last_launch(tr->tl, &id, &nid))
			corr__launch(tr->corr, ne->ev.pid, ne->ev.tid, ne->ev.stream, id, nid);
	}
	return 0;
}

static uint64_t counter(struct tracer *tr, uint32_t idx)
{
	uint64_t v[tr->ncpus], sum = 0;

	if (bpf_map__lookup_elem(tr->skel->maps.counters, &idx, sizeof(idx), v, sizeof(v), 0))
		return 0;
	for (int c = 0; c < tr->ncpus; c++)
		sum += v[c];
	return sum;
}

struct kcount {
	struct llmi_kernel_key key;
	uint64_t n;
};

static int kcount_cmp(const void *x, const void *y)
{
	const struct llmi_kernel_key *p = x, *q = y;

	if (p->pid != q->pid)
		return p->pid < q->pid ? -1 : 1;
	if (p->api != q->api)
		return p->api < q->api ? -1 : 1;
	return p->func < q->func ? -1 : p->func > q->func;
}

static int kcount_push(struct kcount **v, size_t *n, size_t *cap, const struct llmi_kernel_key *k,
		       uint64_t c)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 1024;
		void *p = realloc(*v, nc * sizeof(**v));

		if (!p)
			return -ENOMEM;
		*v = p;
		*cap = nc;
	}
	(*v)[*n].key = *k;
	(*v)[(*n)++].n = c;
	return 0;
}

/*
 * -T: launches per (pid, API, handle) from the per-CPU direct-mapped cache
 * and the overflow hash, summed per key.
 */
static struct kcount *read_kernel_counts(struct tracer *tr, size_t *out_n)
{
	struct llmi_kcache_slot slots[tr->ncpus];
	uint64_t counts[tr->ncpus];
	struct llmi_kernel_key key, next, *prev = NULL;
	struct kcount *v = NULL;
	size_t n = 0, cap = 0, m = 0;

	for (uint32_t i = 0; i < LLMI_KCACHE_SLOTS; i++) {
		if (bpf_map__lookup_elem(tr->skel->maps.kernel_cache, &i, sizeof(i), slots,
					 sizeof(slots), 0))
			continue;
		for (int c = 0; c < tr->ncpus; c++)
			if (slots[c].count && kcount_push(&v, &n, &cap, &slots[c].key, slots[c].count))
				goto out;
	}
	while (!bpf_map__get_next_key(tr->skel->maps.kernel_counts, prev, &next, sizeof(next))) {
		uint64_t total = 0;

		key = next;
		prev = &key;
		if (bpf_map__lookup_elem(tr->skel->maps.kernel_counts, &key, sizeof(key), counts,
					 sizeof(counts), 0))
			continue;
		for (int c = 0; c < tr->ncpus; c++)
			total += counts[c];
		if (kcount_push(&v, &n, &cap, &key, total))
			goto out;
	}
out:
	if (!n) {
		*out_n = 0;
		return v;
	}
	qsort(v, n, sizeof(*v), kcount_cmp);
	for (size_t i = 1; i < n; i++) {
		if (!kcount_cmp(&v[m].key, &v[i].key))
			v[m].n += v[i].n;
		else
			v[++m] = v[i];
	}
	*out_n = m + 1;
	return v;
}

/* -T: what the kernel counted, joined with what was streamed. */
static void read_bpf_totals(struct tracer *tr, struct agg_totals *tot)
{
	struct llmi_api_stat *s = calloc(tr->ncpus, sizeof(*s)), sum;
	struct llmi_copy_stat cs[tr->ncpus];
	struct kcount *kc;
	size_t nk = 0;

	/* kernel handles first: they feed the agg's own totals */
	kc = read_kernel_counts(tr, &nk);
	for (size_t i = 0; i < nk; i++)
		agg__set_bpf_launches(tr->agg, kc[i].key.pid, kc[i].key.api, kc[i].key.func,
				      kc[i].n);
	*tot = *agg__totals(tr->agg);
	/* the per-API launch calls are the sums of the per-kernel counts */
	for (size_t i = 0; i < nk; i++)
		if (kc[i].key.api < LLMI_API_MAX)
			tot->api[kc[i].key.api].calls += kc[i].n;
	free(kc);
	for (uint32_t api = 0; s && api < LLMI_API_MAX; api++) {
		if (bpf_map__lookup_elem(tr->skel->maps.api_stats, &api, sizeof(api), s,
					 tr->ncpus * sizeof(*s), 0))
			continue;
		memset(&sum, 0, sizeof(sum));
		for (int c = 0; c < tr->ncpus; c++) {
			sum.calls += s[c].calls;
			sum.bytes += s[c].bytes;
			sum.sum_ns += s[c].sum_ns;
			for (int k = 0; k < 64; k++)
				sum.slots[k] += s[c].slots[k];
		}
		agg_totals_add_bpf(tot, api, &sum);
		if (trace_apis[api].cat == CAT_MEMSET) {
			tot->memset_calls += sum.calls;
			tot->memset_bytes += sum.bytes;
		}
	}
	for (uint32_t k = 0; k < LLMI_COPY_KINDS; k++) {
		if (bpf_map__lookup_elem(tr->skel->maps.copy_stats, &k, sizeof(k), cs, sizeof(cs), 0))
			continue;
		for (int c = 0; c < tr->ncpus; c++) {
			tot->copy[k].calls += cs[c].calls;
			tot->copy[k].bytes += cs[c].bytes;
		}
	}
	free(s);
}

static void totals_now(struct tracer *tr, struct agg_totals *tot)
{
	if (tr->o.timing_only)
		read_bpf_totals(tr, tot);
	else
		*tot = *agg__totals(tr->agg);
}

static void fill_info(struct tracer *tr, struct out_info *in, struct out_target *ot,
		      double dur, const char *why)
{
	memset(in, 0, sizeof(*in));
	in->mode = tr->o.timing_only ? "timing-only" : "events";
	in->duration_s = dur;
	for (size_t i = 0; i < tr->nt; i++) {
		memset(&ot[i], 0, sizeof(ot[i]));
		ot[i].pid = tr->t[i].pid;
		ot[i].nlibs = tr->t[i].nlibs;
		for (size_t l = 0; l < tr->t[i].nlibs; l++) {
			ot[i].libs[l] = tr->t[i].libs[l];
			ot[i].lib_probes[l] = tr->t[i].lib_probes[l];
		}
		ot[i].late = tr->t[i].late;
		ot[i].static_cudart = tr->t[i].static_cudart;
		/* a child's wait status is ours to read; of another process only its exit */
		ot[i].exited = tr->t[i].exited;
		ot[i].exit_status = -1;
		if (tr->t[i].have_status && WIFEXITED(tr->t[i].wstatus))
			ot[i].exit_status = WEXITSTATUS(tr->t[i].wstatus);
		if (tr->t[i].have_status && WIFSIGNALED(tr->t[i].wstatus))
			ot[i].signal = WTERMSIG(tr->t[i].wstatus);
	}
	in->targets = ot;
	in->ntargets = tr->nt;
	in->received = agg__totals(tr->agg)->events;
	in->lost = counter(tr, LLMI_CTR_LOST);
	in->dedup = counter(tr, LLMI_CTR_DEDUP);
	in->nested = counter(tr, LLMI_CTR_NESTED);
	in->kmap_full = counter(tr, LLMI_CTR_KMAP_FULL);
	in->excluded = counter(tr, LLMI_CTR_EXCLUDED);
	in->agent_calls = counter(tr, LLMI_CTR_AGENT);
	in->probes = tr->probes;
	in->top = tr->o.top;
	in->end_reason = why;
}

/* ---- descendants (-f, the default with -- CMD) ---- */

static unsigned long long target_probes(const struct target *t)
{
	unsigned long long n = 0;

	for (size_t l = 0; l < t->nlibs; l++)
		n += t->lib_probes[l];
	return n;
}

#define FOLLOW_MAX 512	/* processes looked at per tick */

static bool is_target(const struct tracer *tr, pid_t pid)
{
	for (size_t i = 0; i < tr->nt; i++)
		if (tr->t[i].pid == pid)
			return true;
	return false;
}

/* Appends pid's children (those of every thread) to q[*n]. */
static void children_of(pid_t pid, pid_t *q, size_t *n, size_t cap)
{
	char path[96];
	struct dirent *d;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	if (!dir)
		return;
	while ((d = readdir(dir)) && *n < cap) {
		FILE *f;
		long c;

		if (d->d_name[0] < '0' || d->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%.16s/children", (int)pid, d->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		while (*n < cap && fscanf(f, "%ld", &c) == 1)
			q[(*n)++] = (pid_t)c;
		fclose(f);
	}
	closedir(dir);
}

static int try_capture(struct tracer *tr, struct target *t, bool quiet);

/*
 * The live targets' descendants, breadth first (/proc/PID/task/TID/children):
 * one that maps libcudart or libcuda becomes a target, attached as a late -p
 * is (inference servers and launchers run the GPU work in worker
 * processes), and with --capture so does one that maps the agent (a
 * command's child: the agent is preloaded into every descendant). Checked four times a second: a worker attached after it loaded
 * CUDA misses its registrations (names then come from ELF symbols) and any
 * launch made before the attach.
 */
static void follow_descendants(struct tracer *tr)
{
	static bool warned;
	pid_t q[FOLLOW_MAX];
	size_t n = 0, i;
	int r;

	for (i = 0; i < tr->nt; i++)
		if (!tr->t[i].exited)
			children_of(tr->t[i].pid, q, &n, FOLLOW_MAX);
	for (i = 0; i < n; i++) {
		struct llmi_maps *m;
		struct target *t;
		bool cuda, agent;

		if (is_target(tr, q[i]))
			continue;
		children_of(q[i], q, &n, FOLLOW_MAX);
		m = llmi_maps__read(q[i]);
		cuda = m && (llmi_maps__find_lib(m, rt_pattern) || llmi_maps__find_lib(m, drv_pattern));
		/* host tensors need no CUDA: a CPU worker with the agent is captured */
		agent = m && tr->cap && llmi_maps__find_lib(m, agent_pattern);
		llmi_maps__free(m);
		if (!cuda && !agent)
			continue;
		if (tr->nt == TRACE_MAX_PIDS) {
			if (!warned)
				fprintf(stderr, PROG ": pid %d and later CUDA processes not traced: at "
					"most %d processes\n", (int)q[i], TRACE_MAX_PIDS);
			warned = true;
			continue;
		}
		t = &tr->t[tr->nt++];
		memset(t, 0, sizeof(*t));
		t->pid = q[i];
		t->late = true;
		t->pidfd = (int)syscall(SYS_pidfd_open, t->pid, 0);
		r = cuda ? attach_mapped(tr, t) : 0;
		if (r < 0 && !t->nlibs)
			fprintf(stderr, PROG ": pid %d: loads CUDA but could not be attached%s%s\n",
				(int)t->pid, r == LIB_ERR_SAID ? "" : ": ",
				r == LIB_ERR_SAID ? "" : strerror(-r));
		else if (cuda)
			fprintf(stderr, PROG ": following pid %d (%llu probes)\n", (int)t->pid,
				(unsigned long long)target_probes(t));
		else
			fprintf(stderr, PROG ": following pid %d (tensor capture only)\n", (int)t->pid);
		if (agent)
			try_capture(tr, t, true);	/* its first tensors come soon */
	}
}

static bool target_gone(struct target *t)
{
	struct pollfd p = { .fd = t->pidfd, .events = POLLIN };
	int st;

	if (t->exited)
		return true;
	if (t->child) {
		pid_t r = waitpid(t->pid, &st, WNOHANG);

		if (r == t->pid) {
			t->wstatus = st;
			t->have_status = true;
		}
		t->exited = r == t->pid || (r < 0 && errno == ECHILD);
	} else if (t->pidfd >= 0)
		t->exited = poll(&p, 1, 0) > 0;
	else
		t->exited = kill(t->pid, 0) && errno == ESRCH;
	return t->exited;
}

static int load_bpf(struct tracer *tr)
{
	uint64_t wake;
	int err, ncpu;

	tr->skel = llminstr_trace_bpf__open();
	if (!tr->skel) {
		err = -errno;
		fprintf(stderr, PROG ": cannot open the BPF object: %s\n", strerror(errno));
		return err;
	}
	tr->skel->rodata->timing_only = tr->o.timing_only;
	tr->skel->rodata->track_producers = tr->o.timing_only && tr->o.capture[0];
	ncpu = libbpf_num_possible_cpus();
	wake = tr->o.ring_size / 8 / sizeof(struct llmi_event) / (ncpu > 0 ? (unsigned)ncpu : 1);
	tr->skel->rodata->wake_every = wake ? (uint32_t)wake : 1;
	bpf_map__set_max_entries(tr->skel->maps.events, tr->o.ring_size);
	bpf_map__set_max_entries(tr->skel->maps.kernel_counts, tr->o.kernels_max);
	if (tr->multi) {
		struct bpf_program *p[] = {
			tr->skel->progs.rt_launch, tr->skel->progs.rt_launch_exc,
			tr->skel->progs.drv_launch, tr->skel->progs.drv_launch_ex,
			tr->skel->progs.call_entry, tr->skel->progs.drv_call_entry,
			tr->skel->progs.timed_enter, tr->skel->progs.timed_exit,
		};

		for (size_t i = 0; i < sizeof(p) / sizeof(p[0]); i++)
			bpf_program__set_expected_attach_type(p[i], LLMI_BPF_TRACE_UPROBE_MULTI);
	}
	err = llminstr_trace_bpf__load(tr->skel);
	if (err && tr->multi)
		return ERR_NO_MULTI;	/* retried without uprobe_multi */
	if (err)
		fprintf(stderr, PROG ": cannot load the BPF programs: %s%s\n", strerror(-err),
			err == -EPERM ? " (needs CAP_BPF and CAP_PERFMON)" :
			" (needs BPF, BTF, task storage and ring buffers: Linux 5.11 or later)");
	return err;
}

static void reset_targets(struct tracer *tr)
{
	for (size_t i = 0; i < tr->nt; i++) {
		struct target *t = &tr->t[i];

		for (size_t l = 0; l < t->nlibs; l++)
			free(t->libs[l]);
		t->nlibs = 0;
		t->static_cudart = false;
		t->rt_mode = 0;
	}
	tr->probes = 0;
}

/*
 * Why attach_mapped() failed, for pid. Errors of a library (attach_lib) are
 * said where they happen; what is left is /proc/PID/maps itself. Returns err.
 */
static int say_maps_error(pid_t pid, int err)
{
	if (err == ERR_NO_MULTI || err == LIB_ERR_SAID)
		return err;
	if (err == -ENOENT || err == -ESRCH)
		fprintf(stderr, PROG ": pid %d does not exist (it exited before the attach)\n", pid);
	else if (err == -EACCES || err == -EPERM)
		fprintf(stderr, PROG ": pid %d: cannot read /proc/%d/maps: %s; the tracer may not "
			"look into this process (another user's, another container's or a protected "
			"one)\n", pid, pid, strerror(-err));
	else
		fprintf(stderr, PROG ": pid %d: cannot read /proc/%d/maps: %s\n", pid, pid,
			strerror(-err));
	return err;
}

/* Every target's libraries: --lib, else /proc/PID/maps, else the loader's list. */
static int attach_all(struct tracer *tr)
{
	int err = 0, r;

	for (size_t i = 0; i < tr->nt; i++) {
		struct target *t = &tr->t[i];

		for (size_t l = 0; l < tr->o.nlibs; l++) {
			r = attach_lib(tr, t, tr->o.libs[l]);
			if (r < 0)
				return r == ERR_NO_MULTI ? r : -EINVAL;
		}
		if (tr->o.nlibs)
			continue;
		if (t->child) {
			err = attach_needed(tr, t);
			if (err)
				return err;
			continue;
		}
		err = attach_mapped(tr, t);
		if (err)
			return say_maps_error(t->pid, err);
		if (!t->nlibs && tr->o.follow) {	/* a launcher: its workers will */
			fprintf(stderr, PROG ": pid %d maps no CUDA library: following the "
				"descendants that load one\n", t->pid);
		} else if (!t->nlibs && tr->o.capture[0]) {
			/* host tensors need no CUDA: capture alone (PyTorch on the CPU) */
			fprintf(stderr, PROG ": pid %d maps no CUDA library: tensor capture only\n",
				t->pid);
		} else if (!t->nlibs) {
			fprintf(stderr,
				PROG ": pid %d maps no libcudart or libcuda; is it a CUDA process? "
				"(--lib PATH to choose one, -f to follow its children)\n", t->pid);
			return -ENOENT;
		}
	}
	return 0;
}

/* ---- tensor capture ---- */

/* The agent beside this binary (build/bin -> build/lib), or LLMI_AGENT_LIB. */
static int agent_lib(char *buf, size_t len)
{
	const char *env = getenv("LLMI_AGENT_LIB");
	char self[PATH_MAX - 32];
	ssize_t n;
	char *slash;

	if (env && *env) {
		snprintf(buf, len, "%s", env);
		return access(buf, R_OK) ? -errno : 0;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return -errno;
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (slash)
		*slash = '\0';
	snprintf(buf, len, "%s/../lib/libllminstr.so", self);
	return access(buf, R_OK) ? -errno : 0;
}

/*
 * -- CMD with --capture: the command starts with the agent preloaded (after
 * the LD_PRELOAD of its own environment, which is kept), and waits for this tracer in the
 * agent's constructor (LLMINSTR_WAIT_TRACER names us), so that its first
 * tensors are not missed.
 */
static int preload_agent(struct tracer *tr)
{
	char lib[PATH_MAX], pid[32];
	const char *old = getenv("LD_PRELOAD");
	char *v;
	int err = agent_lib(lib, sizeof(lib));

	if (err) {
		fprintf(stderr, PROG ": --capture: cannot find the agent %s: %s (build it with make, "
			"or set LLMI_AGENT_LIB)\n", lib, strerror(-err));
		return err;
	}
	if (tr->cmd.kind == TRACE_CMD_STATIC) {
		fprintf(stderr, PROG ": --capture: %s is linked statically: the agent cannot be "
			"preloaded; link it with -lllminstr\n", tr->cmd.path);
		return -ENOEXEC;
	}
	/* after the command's own preloads: a sanitizer's runtime must stay first */
	if (asprintf(&v, "%s%s%s", old && *old ? old : "", old && *old ? ":" : "", lib) < 0)
		return -ENOMEM;
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	err = setenv("LD_PRELOAD", v, 1) || setenv("LLMINSTR_WAIT_TRACER", pid, 1) ? -errno : 0;
	free(v);
	return err;
}

/*
 * Connects to t's agent. quiet: a descendant found by -f, which need not
 * have one. A refusal is said once and not retried; no agent at all is
 * said once for a -p target (timing goes on) and retried for the others.
 */
static int try_capture(struct tracer *tr, struct target *t, bool quiet)
{
	char line[512];
	int err;

	if (!tr->cap || t->capturing || t->agent_done || t->exited)
		return 0;
	err = capture__attach(tr->cap, t->pid, line, sizeof(line));
	if (!err) {
		t->capturing = true;	/* asked: the agent's answer is capture's to read */
		return 0;
	}
	if (err == -ENOENT && (quiet || t->child))
		return err;
	t->agent_done = true;
	if (err == -ENOENT)
		fprintf(stderr, PROG ": pid %d has no llminstr agent: start it with "
			"LD_PRELOAD=%s (or link it with -lllminstr, or import llminstr in Python); "
			"timing goes on\n", t->pid, "libllminstr.so");
	else
		fprintf(stderr, PROG ": %s; timing goes on\n", line);
	return err;
}

/*
 * The agent's USDT probes in pid (capture.h's connected hook): its library
 * is mapped now, since the agent answered. Without them tensors are still
 * captured, with no producer: said once.
 */
static bool agent_probes(void *ctx, pid_t pid)
{
	static const char *const names[] = { "capture", "enter", "exit", "step" };
	struct tracer *tr = ctx;
	struct bpf_program *progs[] = {
		tr->skel->progs.usdt_capture, tr->skel->progs.usdt_enter,
		tr->skel->progs.usdt_exit, tr->skel->progs.usdt_step,
	};
	struct llmi_maps *m = llmi_maps__read(pid);
	const char *lib = m ? llmi_maps__find_lib(m, "libllminstr.so*") : NULL;
	int err = lib ? 0 : -ENOENT;

	for (size_t i = 0; !err && i < sizeof(progs) / sizeof(progs[0]); i++) {
		struct bpf_link *l = bpf_program__attach_usdt(progs[i], pid, lib, "llminstr", names[i],
							      NULL);

		err = l ? link_add(tr, l) : -errno;
		if (err && l)
			bpf_link__destroy(l);
		if (err)
			fprintf(stderr, PROG ": pid %d: cannot attach llminstr:%s in %s: %s; its "
				"tensors will name no producer\n", pid, names[i], lib, strerror(-err));
	}
	if (!lib)
		fprintf(stderr, PROG ": pid %d: libllminstr.so is not in its memory map; its "
			"tensors will name no producer\n", pid);
	llmi_maps__free(m);
	return !err;
}

/* Why -o failed, for capture's one line (the writer's first error). */
static const char *output_error(void *ctx)
{
	struct tracer *tr = ctx;
	struct llmi_writer_stats st;
	struct llmi_writer *w = trace_tl__writer(tr->tl);

	if (!w)
		return "no output";
	llmi_writer__stats(w, &st);
	return st.error ? strerror(-st.error) : "write failed";
}

/* -- CMD: the command's agent waits for us at start; give it 10 s. */
static void capture_cmd(struct tracer *tr, struct target *t)
{
	double end = now_s() + 10;

	while (try_capture(tr, t, false) == -ENOENT && !target_gone(t) && !stop_requested(tr)) {
		if (now_s() > end) {
			t->agent_done = true;
			fprintf(stderr, PROG ": pid %d: its agent did not answer within 10 s; timing "
				"goes on without capture\n", t->pid);
			break;
		}
		ring_buffer__poll(tr->rb, 5);
	}
}

static void capture_summary(struct tracer *tr, struct out_info *in, struct capture_stats *cs)
{
	if (!tr->cap)
		return;
	capture__stats(tr->cap, cs);
	in->capture = cs;
	in->drops = capture__drops(tr->cap, &in->ndrops);
	in->groups = capture__groups(tr->cap, &in->ngroups);
	in->codec = &tr->o.codec;
}

/* ---- outputs ---- */

/* Outputs of a trace that never started: removed, so that no empty file is left. */
static void discard_outputs(struct tracer *tr)
{
	if (tr->json_fd >= 0 && tr->json_fd != STDOUT_FILENO) {
		unlink(tr->o.json);	/* still open and locked: the name is ours */
		close(tr->json_fd);
	}
	tr->json_fd = -1;
	trace_tl__discard(tr->tl);
	tr->tl = NULL;
}

/*
 * Every output is created before anything is started or attached: a run
 * that could not write its results fails before it touches a process.
 * Existing files are refused unless --force (io/outfile.h).
 */
static int open_outputs(struct tracer *tr)
{
	unsigned of = tr->o.force ? LLMI_OUT_FORCE : 0;
	char line[2 * PATH_MAX + 128];
	int err;

	if (trace_opts_check_outputs(&tr->o, line, sizeof(line))) {
		fprintf(stderr, PROG ": %s\n", line);
		return -EINVAL;
	}
	if (tr->o.json && !strcmp(tr->o.json, "-")) {
		tr->json_fd = STDOUT_FILENO;
	} else if (tr->o.json) {
		err = llmi_out_create(tr->o.json, 0, of);
		if (err < 0) {
			fprintf(stderr, PROG ": --json %s\n",
				llmi_out_strerror(line, sizeof(line), tr->o.json, err, of));
			return err;
		}
		tr->json_fd = err;
	}
	if (tr->o.perfetto || tr->o.output) {
		struct trace_tl_opts to = {
			.perfetto = tr->o.perfetto, .output = tr->o.output,
			.events = !tr->o.timing_only, .writer = PROG, .force = tr->o.force,
			.writer_mem = tr->o.capture[0] ? capture_writer_mem(tr->o.buffer_size) : 0,
			.rank = &tr->rank,
		};

		tr->tl = trace_tl__new(&to);	/* says why on failure */
		if (!tr->tl) {
			err = -errno;
			discard_outputs(tr);
			return err;
		}
	}
	return 0;
}

/*
 * --json: the summary is rendered in memory, then written and synced, so
 * that a failed write is known with its reason (a full disk says ENOSPC at
 * write or at fsync) and named. A partial file cannot be valid JSON: it is
 * removed. 0 or -errno.
 */
static int write_json(struct tracer *tr, struct agg_totals *tot, struct out_info *info)
{
	bool to_stdout = tr->json_fd == STDOUT_FILENO;
	const char *name = to_stdout ? "- (stdout)" : tr->o.json;
	char *buf = NULL;
	size_t len = 0, off = 0;
	FILE *m = open_memstream(&buf, &len);
	int err = 0;

	if (!m || (out_json(m, tr->agg, tot, info) | fclose(m))) {
		fprintf(stderr, PROG ": --json %s: out of memory for the summary\n", name);
		err = -ENOMEM;
	}
	if (to_stdout)
		fflush(stdout);	/* after the text summary */
	while (!err && off < len) {
		ssize_t n = write(tr->json_fd, buf + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			err = n < 0 ? -errno : -EIO;
		else
			off += (size_t)n;
	}
	if (!err && !to_stdout && fsync(tr->json_fd))
		err = -errno;
	if (err && err != -ENOMEM)
		fprintf(stderr, PROG ": --json %s: cannot write the summary: %s%s\n", name,
			strerror(-err), to_stdout ? "" : "; the partial file is removed");
	if (!to_stdout) {
		if (err)
			unlink(tr->o.json);
		if (close(tr->json_fd) && !err) {
			err = -errno;
			fprintf(stderr, PROG ": --json %s: cannot write the summary: %s; the "
				"partial file is removed\n", name, strerror(-err));
			unlink(tr->o.json);
		}
	}
	tr->json_fd = -1;
	free(buf);
	return err;
}

/* ---- signals ---- */

/*
 * SIGINT and SIGTERM are read from a signalfd, one of the event loop's fds.
 * They are blocked here, in the main thread before any thread starts, so
 * that every thread inherits the block (one that did not would take the
 * signal and die of it); the command gets the mask back before its exec
 * (trace_cmd_spawn). 0 or -errno.
 */
static int block_signals(struct tracer *tr)
{
	sigset_t s;

	sigemptyset(&s);
	sigaddset(&s, SIGINT);
	sigaddset(&s, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &s, &tr->old_mask))
		return -errno;
	tr->sfd = signalfd(-1, &s, SFD_NONBLOCK | SFD_CLOEXEC);
	return tr->sfd < 0 ? -errno : 0;
}

/* Whether SIGINT or SIGTERM came (tr->stop_sig says which); never waits. */
static int stop_requested(struct tracer *tr)
{
	struct signalfd_siginfo si;

	while (!tr->stop_sig && tr->sfd >= 0 && read(tr->sfd, &si, sizeof(si)) == sizeof(si))
		tr->stop_sig = (int)si.ssi_signo;
	return tr->stop_sig;
}

/* ---- setup: from the command line to the first event ---- */

/*
 * Options, privileges and signals: nothing to undo yet. 0, TRACE_OPTS_HELP
 * (exit 0) or -errno (said; exit 1).
 */
static int init(struct tracer *tr, int argc, char **argv)
{
	char err_line[PATH_MAX + 256];
	int err;

	tr->json_fd = tr->sfd = tr->ep = tr->tfd = -1;
	tr->gate.pid = tr->gate.go = tr->gate.result = -1;
	tr->exit_status = -1;
	/*
	 * stdin, stdout and stderr open (on /dev/null if closed): an output
	 * file must never become fd 1 and receive the text summary.
	 */
	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", fd ? O_WRONLY : O_RDONLY) != fd)
			return -EBADF;
	err = trace_opts_parse(argc, argv, &tr->o, err_line, sizeof(err_line));
	if (err == TRACE_OPTS_HELP)
		return err;
	if (err) {
		fprintf(stderr, PROG ": %s\n", err_line);
		return err;
	}
	if (!have_bpf_caps()) {
		fprintf(stderr, PROG ": needs root or CAP_BPF and CAP_PERFMON; run it with sudo\n");
		return -EPERM;
	}
	libbpf_set_print(libbpf_log);
	err = block_signals(tr);
	if (err) {
		fprintf(stderr, PROG ": cannot read SIGINT and SIGTERM through a signalfd: %s\n",
			strerror(-err));
		return err;
	}
	/* before any thread writes to stderr: the display stands in for it */
	tr->status = tr->o.status && trace_status__start();
	return 0;
}

/*
 * The rank the file holds (rank.h): --rank, else the command's environment
 * (this one: it inherits it), else what every -p PID's says; and -o DIR/
 * becomes DIR/rank-R.llmi. 0 or -errno, said.
 */
static int resolve_rank(struct tracer *tr)
{
	struct trace_rank r = tr->o.rank;
	int k;

	if (r.rank < 0 && tr->o.cmd) {
		trace_rank_from_env(NULL, 0, &r);
	} else if (r.rank < 0) {
		/* several processes: the file is one rank's only if they agree */
		for (size_t i = 0; i < tr->o.npids; i++) {
			struct trace_rank p;

			if (trace_rank_of_pid(tr->o.pids[i], &p))
				p = TRACE_RANK_NONE;	/* not readable: not known */
			if (!i)
				r = p;
			else
				trace_rank_merge(&r, &p);
		}
	}
	tr->rank = r;
	if (!tr->o.output)
		return 0;
	k = trace_shard_path(tr->o.output, r.rank, tr->out_shard, sizeof(tr->out_shard));
	if (k == -ENOENT) {
		size_t n = strlen(tr->o.output);

		if (tr->o.output[n - 1] == '/')
			fprintf(stderr, PROG ": -o %s: a directory takes one file per rank (rank-R.llmi), "
				"and no rank is known: give --rank R[/WORLD] or set RANK for the target\n",
				tr->o.output);
		else	/* an existing directory, maybe given by mistake */
			fprintf(stderr, PROG ": -o %s is a directory; it takes a rank's shard, "
				"rank-R.llmi, when the rank is known (--rank R[/WORLD], or RANK for "
				"the target)\n", tr->o.output);
		return -EISDIR;
	}
	if (k < 0) {
		fprintf(stderr, PROG ": -o %s: %s\n", tr->o.output, strerror(-k));
		return k;
	}
	if (k)
		tr->o.output = tr->out_shard;
	return 0;
}

/*
 * Everything before BPF: the targets exist (bad pids fail fast), --lib
 * files can be read, the command can run and is started held, every
 * output is created and capture is ready. 0 or -errno, said.
 */
static int prepare(struct tracer *tr)
{
	char err_line[PATH_MAX + 256];
	struct loop *lp = &tr->lp;
	int err;

	tr->ncpus = libbpf_num_possible_cpus();
	lp->tot = calloc(1, sizeof(*lp->tot));
	lp->prev = calloc(1, sizeof(*lp->prev));
	lp->ivl = calloc(1, sizeof(*lp->ivl));
	tr->agg = agg__new(resolve, tr);
	if (!lp->tot || !lp->prev || !lp->ivl || !tr->agg || tr->ncpus <= 0) {
		fprintf(stderr, PROG ": out of memory\n");
		return -ENOMEM;
	}
	for (size_t i = 0; i < tr->o.npids; i++) {
		struct target *t = &tr->t[tr->nt++];
		struct llmi_maps *maps;
		char proc[64];

		t->pid = tr->o.pids[i];
		t->late = true;
		t->pidfd = -1;
		snprintf(proc, sizeof(proc), "/proc/%d", t->pid);
		if (access(proc, F_OK)) {
			fprintf(stderr, PROG ": pid %d does not exist\n", t->pid);
			return -ESRCH;
		}
		/* a process the tracer may not look into is said before anything is loaded */
		maps = llmi_maps__read(t->pid);
		if (!maps)
			return say_maps_error(t->pid, -errno);
		llmi_maps__free(maps);
		t->pidfd = (int)syscall(SYS_pidfd_open, t->pid, 0);
	}
	for (size_t i = 0; i < tr->o.nlibs; i++) {
		if (access(tr->o.libs[i], R_OK)) {
			err = -errno;
			fprintf(stderr, PROG ": --lib %s: %s\n", tr->o.libs[i], strerror(errno));
			return err;
		}
	}
	/* A command that cannot run is answered as a shell would: 127 or 126. */
	if (tr->o.cmd) {
		tr->exit_status = trace_cmd_find(tr->o.cmd[0], &tr->cmd, err_line, sizeof(err_line));
		if (tr->exit_status) {
			fprintf(stderr, PROG ": %s; nothing traced\n", err_line);
			return -ENOEXEC;
		}
		tr->exit_status = -1;
	}
	if (tr->o.capture[0] && tr->o.cmd && preload_agent(tr))
		return -ENOEXEC;
	/* started held: a default -o names its pid; it exits if an output fails */
	if (tr->o.cmd) {
		struct target *t = &tr->t[tr->nt];

		t->pidfd = -1;
		t->child = true;
		t->pid = trace_cmd_spawn(&tr->cmd, tr->o.cmd, &tr->old_mask, &tr->gate);
		if (t->pid < 0) {
			err = t->pid;
			fprintf(stderr, PROG ": cannot start %s: %s\n", tr->o.cmd[0], strerror(-err));
			return err;
		}
		/* its exit wakes the event loop; the wait status is still waitpid's */
		t->pidfd = (int)syscall(SYS_pidfd_open, t->pid, 0);
		tr->nt++;
	}
	err = resolve_rank(tr);
	if (err)
		return err;
	if (tr->o.capture[0] && !tr->o.output) {
		capture_default_output(tr->out_default, sizeof(tr->out_default), tr->t[0].pid);
		tr->o.output = tr->out_default;
	}
	err = open_outputs(tr);
	if (err)
		return err;
	if (tr->o.capture[0]) {
		struct capture_opts co = {
			.spec = tr->o.capture, .codec = tr->o.codec, .on_full = tr->o.on_full,
			.buffer_size = tr->o.buffer_size, .device_buffer = tr->o.device_buffer,
			.threads = tr->o.threads, .connected = agent_probes, .ctx = tr,
			.output = tr->o.output, .output_error = output_error, .verbose = tr->o.verbose,
		};

		co.corr = tr->corr = corr__new();
		tr->cap = tr->corr ? capture__new(&co, trace_tl__writer(tr->tl)) : NULL;
		if (!tr->cap) {
			err = -errno;
			fprintf(stderr, PROG ": --capture: cannot start: %s\n", strerror(errno));
			return err;
		}
	}
	return 0;
}

/* Tags of the event loop's fds (epoll data). */
enum { EV_RING = 1, EV_TIMER, EV_SIGNAL, EV_PIDFD = 16 /* + target index */ };

static int loop_add(struct tracer *tr, int fd, uint64_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag };

	return epoll_ctl(tr->ep, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

/*
 * The event loop is one epoll: the ring buffer's own epoll fd, a timerfd
 * for the periodic work, the signalfd, and the targets' pidfds. 0 or
 * -errno, said.
 */
static int loop_open(struct tracer *tr)
{
	int err;

	tr->ep = epoll_create1(EPOLL_CLOEXEC);
	tr->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	err = tr->ep < 0 || tr->tfd < 0 ? -errno : 0;
	if (!err)
		err = loop_add(tr, ring_buffer__epoll_fd(tr->rb), EV_RING);
	if (!err)
		err = loop_add(tr, tr->tfd, EV_TIMER);
	if (!err)
		err = loop_add(tr, tr->sfd, EV_SIGNAL);
	if (err)
		fprintf(stderr, PROG ": cannot set up the event loop (epoll, timerfd): %s\n",
			strerror(-err));
	return err;
}

/*
 * BPF: load, attach every target's libraries (uprobe_multi where the kernel
 * has it, else one uprobe per function; LLMI_TRACE_NO_UPROBE_MULTI=1 forces
 * the latter, to test it), then the ring buffer and the event loop. 0 or
 * -errno, said.
 */
static int attach(struct tracer *tr)
{
	int err;

	tr->multi = !getenv("LLMI_TRACE_NO_UPROBE_MULTI");
	err = load_bpf(tr);
	if (!err)
		err = attach_all(tr);
	if (err == ERR_NO_MULTI) {
		detach_all(tr);
		llminstr_trace_bpf__destroy(tr->skel);
		tr->skel = NULL;
		reset_targets(tr);
		tr->multi = false;
		err = load_bpf(tr);
		if (!err)
			err = attach_all(tr);
	}
	if (err)
		return err;
	tr->rb = ring_buffer__new(bpf_map__fd(tr->skel->maps.events), on_event, tr, NULL);
	if (!tr->rb) {
		err = -errno;
		fprintf(stderr, PROG ": cannot set up the ring buffer: %s\n", strerror(errno));
		return err;
	}
	return loop_open(tr);
}

/* Everything is attached: the command runs, the agents are asked to capture. */
static int start(struct tracer *tr)
{
	int err;

	signal(SIGPIPE, SIG_IGN);
	if (tr->o.cmd) {
		err = trace_cmd_release(&tr->gate);
		if (err) {	/* raced with a change to the file after the checks */
			fprintf(stderr, PROG ": cannot run %s: %s; nothing traced\n", tr->cmd.path,
				strerror(-err));
			tr->exit_status = trace_cmd_errno_status(err);
			return err;
		}
	}
	tr->ran = true;
	for (size_t i = 0; i < tr->nt; i++) {
		if (tr->t[i].child)
			capture_cmd(tr, &tr->t[i]);
		else
			try_capture(tr, &tr->t[i], false);
	}
	fprintf(stderr, PROG ": tracing %zu process%s (%s mode, %llu probes)%s\n", tr->nt,
		tr->nt == 1 ? "" : "es", tr->o.timing_only ? "timing-only" : "events",
		(unsigned long long)tr->probes, tr->o.cmd ? "" : "; Ctrl-C to end");
	return 0;
}

/*
 * Before the trace begins a SIGINT or SIGTERM ends the setup at the next
 * step; once it began, the event loop ends the trace with a summary.
 */
static int setup(struct tracer *tr)
{
	int err = prepare(tr);

	if (!err && stop_requested(tr))
		err = -EINTR;
	if (!err)
		err = attach(tr);
	if (!err && stop_requested(tr))
		err = -EINTR;
	if (!err)
		err = start(tr);
	return err;
}

/* ---- the event loop ---- */

/*
 * The tracer shares the CPUs with its targets: what it does between records
 * is kept rare. The ring is read when the BPF side wakes us (every
 * wake_every records) and at least every CONSUME_S (what a batched wake-up
 * left waiting, and the timeline's batches go to the file); exits are
 * checked every TICK_S where no pidfd says so at once, libraries opened
 * since (dlopen) and agents every SCAN_S, and under -T the kernel's counts
 * are read every 5 s only to name new handles while their process lives.
 */
#define CONSUME_S	0.1
#define TICK_S		0.25
#define SCAN_S		1.0
#define STATUS_S	0.5

/*
 * A target's exit wakes the loop through its pidfd; where pidfd_open
 * failed, the tick finds it. A pidfd stays readable: out once exited.
 */
static void watch_targets(struct tracer *tr)
{
	for (size_t i = 0; i < tr->nt; i++) {
		struct target *t = &tr->t[i];

		if (t->pidfd < 0)
			continue;
		if (!t->exited && !t->watched) {
			t->watched = !loop_add(tr, t->pidfd, EV_PIDFD + i);
		} else if (t->exited && t->watched) {
			epoll_ctl(tr->ep, EPOLL_CTL_DEL, t->pidfd, NULL);
			t->watched = false;
		}
	}
}

static void status_snap(struct tracer *tr, struct trace_status_snap *s, double now)
{
	memset(s, 0, sizeof(*s));
	s->run_s = now - tr->lp.t0;
	s->timing_only = tr->o.timing_only;
	s->events = agg__totals(tr->agg)->events;
	s->lost = counter(tr, LLMI_CTR_LOST);
	if (tr->cap) {
		struct capture_stats cs;

		capture__stats(tr->cap, &cs);
		s->capture = true;
		s->tensors = cs.tensors;
		s->raw_bytes = cs.raw_bytes;
		s->stored_bytes = cs.stored_bytes;
		s->dropped = cs.dropped;
		s->blocked_ns = cs.blocked_ns;
		s->live = cs.live;
		s->ring_fill = cs.ring_fill;
	}
}

static void show_status(struct tracer *tr, double now)
{
	struct loop *lp = &tr->lp;
	struct trace_status_snap s;
	char line[512];

	status_snap(tr, &s, now);
	trace_status_format(line, sizeof(line), &lp->snap, &s, s.run_s - lp->snap.run_s);
	trace_status__show(line);
	lp->snap = s;
	lp->next_status = now + STATUS_S;
}

static void interval_summary(struct tracer *tr)
{
	struct loop *lp = &tr->lp;

	trace_status__clear();	/* stdout may be the same terminal */
	totals_now(tr, lp->tot);
	agg_totals_sub(lp->ivl, lp->tot, lp->prev);
	fill_info(tr, &tr->info, tr->ot, tr->o.interval_s, NULL);
	out_summary(stdout, tr->agg, lp->ivl, &tr->info, true);
	fflush(stdout);
	*lp->prev = *lp->tot;
	agg__interval_reset(tr->agg);
	lp->next_ivl += tr->o.interval_s;
}

/* Exits, descendants (-f), and every SCAN_S libraries, agents and names. */
static void tick(struct tracer *tr, double now)
{
	struct loop *lp = &tr->lp;
	bool scan = now >= lp->next_scan;
	size_t alive = 0;

	for (size_t i = 0; i < tr->nt; i++) {
		if (target_gone(&tr->t[i]))
			continue;
		alive++;
		if (scan) {
			attach_mapped(tr, &tr->t[i]);
			try_capture(tr, &tr->t[i], true);
		}
	}
	if (tr->o.follow && alive) {
		size_t before = tr->nt;

		follow_descendants(tr);
		alive += tr->nt - before;
	}
	watch_targets(tr);
	if (scan) {
		lp->next_scan = now + SCAN_S;
		/*
		 * Name new kernels while their process lives: a handle
		 * fetched before a late attach is named from the process's
		 * memory (see symres).
		 */
		if (!tr->o.timing_only)
			agg__resolve_all(tr->agg);
	}
	if (tr->tl && tr->o.output)
		trace_tl__set_lost(tr->tl, counter(tr, LLMI_CTR_LOST));
	if (tr->o.timing_only && now >= lp->next_names) {
		totals_now(tr, lp->tot);
		agg__resolve_all(tr->agg);
		/* after a late attach, sooner: handles are named from the process's memory */
		lp->next_names = now + (late_attach(tr) ? 1.0 : 5.0);
	}
	if (!alive)
		lp->why = "targets exited";
	lp->next_tick = now + TICK_S;
}

/*
 * Reads whatever the ring holds. With capture, corr learns that every
 * record committed before the read began has been seen (correlate.h): the
 * time is taken before consuming. 0, or -errno (said; the trace ends).
 */
static int consume(struct tracer *tr)
{
	uint64_t before = tr->corr ? llmi_now_ns() : 0;
	int n = ring_buffer__consume(tr->rb);

	if (n < 0) {	/* what was read still makes a summary */
		fprintf(stderr, PROG ": reading the ring buffer: %s; the trace ends here\n",
			strerror(-n));
		tr->lp.why = "a ring buffer error";
		tr->lp.failed = true;
		return n;
	}
	if (tr->corr)
		corr__drained(tr->corr, before);	/* producers up to here are known */
	return 0;
}

static double earliest(double a, double b)
{
	return b && b < a ? b : a;
}

/* The timer goes off when the next periodic task is due. 0 or -errno. */
static int arm_timer(struct tracer *tr, double now)
{
	struct loop *lp = &tr->lp;
	double at = earliest(earliest(earliest(earliest(now + CONSUME_S, lp->next_tick),
						   lp->next_ivl), lp->deadline), lp->next_status);
	struct itimerspec its = { 0 };

	its.it_value.tv_sec = (time_t)at;
	its.it_value.tv_nsec = (long)((at - (double)its.it_value.tv_sec) * 1e9);
	if (its.it_value.tv_nsec > 999999999)
		its.it_value.tv_nsec = 999999999;
	if (!its.it_value.tv_sec && its.it_value.tv_nsec <= 0)
		its.it_value.tv_nsec = 1;	/* zero would disarm it */
	return timerfd_settime(tr->tfd, TFD_TIMER_ABSTIME, &its, NULL) ? -errno : 0;
}

/* What is due after a wake-up; exited: a pidfd said a target exited. */
static void periodic(struct tracer *tr, bool exited)
{
	struct loop *lp = &tr->lp;
	double now = now_s();

	if (tr->tl)
		trace_tl__tick(tr->tl);	/* a batch older than 100 ms goes to the file */
	if (lp->deadline && now >= lp->deadline) {
		lp->why = "duration";
		return;
	}
	if (lp->next_ivl && now >= lp->next_ivl)
		interval_summary(tr);
	if (exited || now >= lp->next_tick)
		tick(tr, now);
	if (!lp->why && lp->next_status && now >= lp->next_status)
		show_status(tr, now);
}

/* Until SIGINT, SIGTERM, -d, every target's exit or an error (lp->why). */
static void run(struct tracer *tr)
{
	struct loop *lp = &tr->lp;
	struct epoll_event ev[8];
	int err;

	lp->t0 = now_s();
	lp->next_tick = lp->t0 + TICK_S;
	lp->next_scan = lp->t0 + SCAN_S;
	lp->next_names = lp->t0 + (late_attach(tr) ? 1.0 : 5.0);
	if (tr->o.interval_s)
		lp->next_ivl = lp->t0 + tr->o.interval_s;
	if (tr->o.duration_s)
		lp->deadline = lp->t0 + tr->o.duration_s;
	if (tr->status) {
		lp->next_status = lp->t0 + STATUS_S;
		status_snap(tr, &lp->snap, lp->t0);
	}
	watch_targets(tr);
	while (!lp->why && !stop_requested(tr)) {
		bool exited = false;
		int n;

		err = arm_timer(tr, now_s());
		n = err ? -1 : epoll_wait(tr->ep, ev, sizeof(ev) / sizeof(ev[0]), -1);
		if (n < 0 && !err)
			err = errno == EINTR ? 0 : -errno;
		if (err) {
			fprintf(stderr, PROG ": waiting for events (epoll, timerfd): %s; the trace "
				"ends here\n", strerror(-err));
			lp->why = "an event loop error";
			lp->failed = true;
			break;
		}
		for (int i = 0; i < n; i++) {
			uint64_t tag = ev[i].data.u64, expired;

			if (tag == EV_TIMER && read(tr->tfd, &expired, sizeof(expired)) < 0)
				expired = 0;	/* not due after all (EAGAIN) */
			exited |= tag >= EV_PIDFD;
		}
		if (stop_requested(tr) || consume(tr))
			break;
		periodic(tr, exited);
	}
	if (!lp->why && tr->stop_sig)
		lp->why = tr->stop_sig == SIGINT ? "SIGINT" : "SIGTERM";
}

/* ---- shutdown ---- */

/*
 * The agents finish, the ring is drained, every target's end is known;
 * then the summary, --json and the container. 0 or -EIO (an output failed).
 */
static int finish(struct tracer *tr)
{
	struct out_info *info = &tr->info;
	struct loop *lp = &tr->lp;

	trace_status__clear();
	lp->next_status = 0;
	ring_buffer__consume(tr->rb);
	/* the agents finish what they queued; every published tensor is written */
	if (tr->cap) {
		capture__stop_agents(tr->cap, 10);
		ring_buffer__consume(tr->rb);	/* the probes of what they finished */
		corr__close(tr->corr);
		capture__stop(tr->cap, 10);
	}
	for (size_t i = 0; i < tr->nt; i++)	/* how each target ended, for the summary */
		target_gone(&tr->t[i]);

	totals_now(tr, lp->tot);
	fill_info(tr, info, tr->ot, now_s() - lp->t0, lp->why);
	capture_summary(tr, info, &tr->cs);
	if (tr->tl && tr->o.output) {
		info->output = tr->o.output;
		trace_tl__drain(tr->tl, info->lost, &info->out);
	}
	out_summary(stdout, tr->agg, lp->tot, info, false);
	if ((fflush(stdout) || ferror(stdout)) && errno != EPIPE) {	/* a reader that left: its choice */
		fprintf(stderr, PROG ": cannot write the summary to stdout: %s\n", strerror(errno));
		lp->failed = true;
	}
	if (tr->json_fd >= 0 && write_json(tr, lp->tot, info))
		lp->failed = true;
	if (tr->tl) {	/* the container's stats record is the --json summary */
		char *js = NULL;
		size_t jl = 0;
		FILE *m = tr->o.output ? open_memstream(&js, &jl) : NULL;

		if (m && (out_json(m, tr->agg, lp->tot, info) | fclose(m)))
			jl = 0;
		if (trace_tl__close(tr->tl, jl ? js : NULL, jl))
			lp->failed = true;
		free(js);
		tr->tl = NULL;
	}
	return lp->failed ? -EIO : 0;
}

/*
 * One path for every end, started or not: outputs still open here belong
 * to a trace that never started and are removed (no empty file is left).
 * Returns the exit status: with "-- CMD" the command's.
 */
static int cleanup(struct tracer *tr, int err)
{
	int status = tr->exit_status;

	capture__free(tr->cap);	/* before the writer it appends to */
	tr->cap = NULL;
	corr__free(tr->corr);
	free((void *)tr->info.drops);
	free((void *)tr->info.groups);
	discard_outputs(tr);
	trace_cmd_abandon(&tr->gate);	/* a held child that never ran exits */
	ring_buffer__free(tr->rb);
	detach_all(tr);
	free(tr->links);
	llminstr_trace_bpf__destroy(tr->skel);
	for (size_t i = 0; i < tr->nt; i++) {
		struct target *t = &tr->t[i];

		if (t->child && !tr->ran && !t->exited) {	/* it exits at once: reap it */
			while (waitpid(t->pid, NULL, 0) < 0 && errno == EINTR)
				;
			t->exited = true;
		}
		/*
		 * -- CMD: the command's exit status (one last look: detaching
		 * took a while), as time(1) gives it.
		 */
		if (t->child && tr->ran && status < 0 && target_gone(t) && t->have_status)
			status = trace_cmd_exit_status(t->wstatus);
		if (t->pidfd >= 0)
			close(t->pidfd);
		llmi_symres__free(t->symres);
		for (size_t l = 0; l < t->nlibs; l++)
			free(t->libs[l]);
	}
	agg__free(tr->agg);
	free(tr->lp.tot);
	free(tr->lp.prev);
	free(tr->lp.ivl);
	if (tr->ep >= 0)
		close(tr->ep);
	if (tr->tfd >= 0)
		close(tr->tfd);
	trace_status__end();	/* every thread is gone: stderr is given back */
	if (err && !tr->ran && tr->stop_sig) {
		/* stopped before the trace began: end as the signal's default action would */
		sigset_t s;

		sigemptyset(&s);
		sigaddset(&s, tr->stop_sig);
		signal(tr->stop_sig, SIG_DFL);
		sigprocmask(SIG_UNBLOCK, &s, NULL);
		raise(tr->stop_sig);
	}
	if (tr->sfd >= 0)
		close(tr->sfd);
	if (err)
		return status > 0 && !tr->ran ? status : 1;
	return status >= 0 ? status : 0;
}

int main(int argc, char **argv)
{
	static struct tracer tr_storage;
	struct tracer *tr = &tr_storage;
	int err = init(tr, argc, argv);

	if (err)	/* nothing to undo yet */
		return err == TRACE_OPTS_HELP ? 0 : 1;
	err = setup(tr);
	if (!err) {
		run(tr);
		err = finish(tr);
	}
	return cleanup(tr, err);
}
