// SPDX-License-Identifier: MIT
/*
 * Command-line parsing for llminstr-trace. getopt_long with a leading '+'
 * so that everything after "--" (or the first non-option) is the command to
 * start. Options that belong to later parts of the project (tensor capture)
 * are parsed and validated here and then refused with a clear "not
 * available yet", never silently ignored.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "agent/spec.h"
#include "common/parse.h"
#include "trace/opts.h"

enum {
	OPT_JSON = 256, OPT_PERFETTO, OPT_CAPTURE, OPT_CODEC, OPT_ON_FULL,
	OPT_BUFFER_SIZE, OPT_LIB, OPT_RING_SIZE, OPT_KERNELS, OPT_TOP, OPT_NO_FOLLOW, OPT_FORCE,
	OPT_DEVICE_BUFFER, OPT_THREADS, OPT_STATUS, OPT_NO_STATUS, OPT_RANK,
};

static const struct option long_opts[] = {
	{ "pid", required_argument, NULL, 'p' },
	{ "output", required_argument, NULL, 'o' },
	{ "timing-only", no_argument, NULL, 'T' },
	{ "duration", required_argument, NULL, 'd' },
	{ "interval", required_argument, NULL, 'i' },
	{ "json", required_argument, NULL, OPT_JSON },
	{ "perfetto", required_argument, NULL, OPT_PERFETTO },
	{ "force", no_argument, NULL, OPT_FORCE },
	{ "rank", required_argument, NULL, OPT_RANK },
	{ "capture", required_argument, NULL, OPT_CAPTURE },
	{ "codec", required_argument, NULL, OPT_CODEC },
	{ "on-full", required_argument, NULL, OPT_ON_FULL },
	{ "buffer-size", required_argument, NULL, OPT_BUFFER_SIZE },
	{ "device-buffer", required_argument, NULL, OPT_DEVICE_BUFFER },
	{ "threads", required_argument, NULL, OPT_THREADS },
	{ "lib", required_argument, NULL, OPT_LIB },
	{ "ring-size", required_argument, NULL, OPT_RING_SIZE },
	{ "kernels", required_argument, NULL, OPT_KERNELS },
	{ "top", required_argument, NULL, OPT_TOP },
	{ "follow", no_argument, NULL, 'f' },
	{ "no-follow", no_argument, NULL, OPT_NO_FOLLOW },
	{ "status", no_argument, NULL, OPT_STATUS },
	{ "no-status", no_argument, NULL, OPT_NO_STATUS },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

void trace_opts_usage(FILE *f)
{
	fputs(
"Usage: llminstr-trace [options] -p PID[,PID...]   attach to running processes\n"
"       llminstr-trace [options] -- CMD [ARGS...]    start CMD and trace it\n"
"\n"
"Times every CUDA kernel launch, copy, memset, allocation, graph launch and\n"
"synchronisation of a process with BPF uprobes on its libcudart / libcuda.\n"
"\n"
"  -p, --pid PID[,PID...]  processes to trace (their threads included)\n"
"  -f, --follow            also trace the targets' descendants that load CUDA\n"
"                          (worker processes); the default with -- CMD\n"
"      --no-follow         -- CMD: trace CMD's own process only\n"
"  -T, --timing-only       count and histogram in the kernel; stream only\n"
"                          names and CUDA-graph records (with --capture also\n"
"                          the tensors, each with its producing launch)\n"
"  -d, --duration SEC      stop after SEC seconds (default: Ctrl-C, SIGTERM\n"
"                          or when every target has exited)\n"
"  -i, --interval SEC      print a summary of the last SEC seconds every SEC\n"
"      --status, --no-status  on a terminal, a status line on stderr every\n"
"                          0.5 s (events/s, lost; tensors/s, GB/s, buffer fill,\n"
"                          drops, blocked): the default with -p; off with\n"
"                          -- CMD, whose output shares the terminal\n"
"      --json FILE|-       machine-readable summary ('-': stdout)\n"
"      --perfetto FILE     Chrome/Perfetto trace-event JSON timeline (events\n"
"                          mode): one track per thread, launches and copies\n"
"                          as slices, synchronisations as waits\n"
"  -o, --output FILE       write a .llmi container: the same timeline as\n"
"                          --perfetto (llminstr-dump perfetto FILE redraws it),\n"
"                          kernel names, lost events and the --json summary;\n"
"                          with -T the summary only. Owned by the sudo caller.\n"
"                          No file unless -o is given: the summary on stdout\n"
"                          is the default output (a timeline of a long run is\n"
"                          large: ~64 bytes per event)\n"
"      --force             replace an existing output file (-o, --json,\n"
"                          --perfetto); without it an existing file is refused.\n"
"                          A symbolic link, a directory or a device is never\n"
"                          written; each output needs its own file\n"
"      --rank R[/WORLD]    the rank of a parallel run this file holds (and\n"
"                          how many ranks there are), for its header; default:\n"
"                          the target's RANK, WORLD_SIZE, LOCAL_RANK (-- CMD:\n"
"                          this environment; -p: each PID's, when they agree).\n"
"                          Each tensor carries its own process's rank (the\n"
"                          agent reads RANK; llminstr_set_rank overrides it)\n"
"  -o DIR/                 a directory (ends in '/' or exists): the file is\n"
"                          DIR/rank-R.llmi, R the rank above (needed): one\n"
"                          shard per tracer; 'llminstr-dump info DIR/*.llmi'\n"
"                          and llminstr.open(\"DIR/*.llmi\") read them as one run\n"
"\n"
"Tensor capture (through the agent, build/lib/libllminstr.so, which -- CMD\n"
"preloads; with -p the process must have loaded it already):\n"
"      --capture SPEC      which tensors (repeatable): all, name=GLOB,\n"
"                          every=N (steps), steps=A-B; names match any\n"
"                          name= term, steps every step term. Tensors go into\n"
"                          -o, by default llminstr-<pid>-<YYYYmmdd-HHMMSS>.llmi.\n"
"                          pos=last or pos=A:B keeps only those token\n"
"                          positions (the second-to-last dimension)\n"
"      --codec SPEC        lossless | quant:nmse=X | quant:mse=X | quant:abs=X\n"
"                          [,chanmean] (default quant:nmse=1e-3); the bound\n"
"                          holds for every tensor\n"
"      --on-full block|drop  when the buffers are full: the capturing thread\n"
"                          waits (never the GPU stream), or the tensor is\n"
"                          dropped and counted by name (default: block with\n"
"                          -- CMD, drop with -p)\n"
"      --buffer-size SIZE  host memory per capturing process, in all: its\n"
"                          ring and its coded bytes waiting for the disk\n"
"                          (default 512M)\n"
"      --device-buffer SIZE  the agent's GPU staging memory (default 256M);\n"
"                          a larger device tensor is refused and counted\n"
"      --threads N         coder threads (default: the CPUs with --on-full\n"
"                          block, the CPUs minus one with drop)\n"
"\n"
"      --lib PATH          probe this library or executable instead of the\n"
"                          ones found in /proc/PID/maps (repeatable)\n"
"      --ring-size SIZE    BPF ring buffer size, power of two (default 16M)\n"
"      --kernels N         -T: kernel handles counted in BPF (default 16384)\n"
"      --top N             kernels listed in the summary (default 10)\n"
"  -v, --verbose           list every attached probe\n"
"  -h, --help              this text\n"
"\n"

"EXAMPLES\n"
"  sudo llminstr-trace -p 4242                  # until Ctrl-C, then summary\n"
"  sudo llminstr-trace -T -d 10 -p 4242,4243    # cheapest: counts only, 10 s\n"
"  sudo llminstr-trace -i 1 --json out.json -p 4242\n"
"  sudo llminstr-trace --perfetto trace.json -- ./llm_decode --tokens 64\n"
"  sudo llminstr-trace --lib /opt/app/lib/libcudart.so.13 -p 4242\n"
"  sudo llminstr-trace -T -- torchrun --nproc-per-node 2 serve.py  # workers too\n"
"  sudo llminstr-trace --capture 'name=blk.*.resid' -- ./llm_decode --prefill 99\n"
"\n"
"OVERHEAD\n"
"  Each probed call in a traced process takes one uprobe trap plus a short\n"
"  BPF program: events mode writes one 64-byte record to a ring buffer, -T\n"
"  only updates per-CPU counters and a log2 histogram (the cheapest mode).\n"
"  Launches are probed at entry only; return probes are used only where the\n"
"  duration is the point (synchronisations, synchronous copies and memsets,\n"
"  allocations). The cost therefore grows with the call rate, not with GPU\n"
"  work: measure it on your kernel with benchmarks/probe_overhead. Processes\n"
"  that are not traced pay nothing (probes are filtered per process).\n"
"\n"
"ENVIRONMENT\n"
"  LLMI_TRACE_NO_UPROBE_MULTI=1  one classic uprobe per function instead of\n"
"                                uprobe_multi links (slower to detach)\n"
"\n"
"EXIT STATUS\n"
"  With -- CMD, the command's exit status, or 128+N when signal N killed it\n"
"  (as time(1) and strace); 127 when CMD is not found and 126 when it cannot\n"
"  be executed (nothing is traced then); 0 when the trace ended first (-d,\n"
"  SIGINT or SIGTERM to the tracer) and left the command running. With -p,\n"
"  0 once the summary is out. 1, in both cases, when the tracer itself fails\n"
"  (bad option, no permission, an output that cannot be created or written:\n"
"  the reason is on stderr).\n"
"\n"
"Needs root (or CAP_BPF + CAP_PERFMON).\n",
	      f);
}

static int fail(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static bool is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

/* Adds one --capture term; the whole spec is checked as the agent will read it. */
static int add_capture(struct trace_opts *o, const char *term, char *err, size_t len)
{
	struct llmi_cap_spec spec;
	size_t have = strlen(o->capture), n = strlen(term);
	char why[256];
	int ret;

	if (!n || strchr(term, '\n'))
		return fail(err, len, "--capture '%s': expected all, name=GLOB, every=N, steps=A-B, "
			    "pos=last or pos=A:B", term);
	if (have + !!have + n >= sizeof(o->capture))
		return fail(err, len, "--capture: the terms exceed %d bytes in all", LLMI_SPEC_MAX - 1);
	if (have)
		o->capture[have++] = '\n';
	memcpy(o->capture + have, term, n + 1);
	ret = llmi_cap_spec_parse(o->capture, &spec, why, sizeof(why));
	llmi_cap_spec_free(&spec);
	return ret ? fail(err, len, "--capture: %s", why) : 0;
}

int trace_opts_parse(int argc, char **argv, struct trace_opts *o, char *err, size_t len)
{
	bool codec_given = false, capture_sized = false;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	uint64_t v;
	int c;

	memset(o, 0, sizeof(*o));
	o->codec = (struct llmi_codec_spec){ LLMI_BOUND_NMSE, 1e-3, 0 };
	o->on_full = -1;
	o->buffer_size = 512ull << 20;
	o->device_buffer = 256ull << 20;
	o->ring_size = 16u << 20;
	o->kernels_max = 16384;
	o->top = 10;
	o->follow = -1;
	o->status = -1;
	o->rank = TRACE_RANK_NONE;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+:p:o:Td:i:fvh", long_opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (o->npids)
				return fail(err, len, "-p given twice: list pids once, e.g. -p 12,34");
			if (llmi_parse_pids(optarg, o->pids, TRACE_MAX_PIDS, &o->npids))
				return fail(err, len,
					    "-p '%s': expected PID[,PID...] (positive, distinct, at most %d)",
					    optarg, TRACE_MAX_PIDS);
			break;
		case 'o':
			if (!*optarg)
				return fail(err, len, "-o: give a file name, e.g. -o trace.llmi");
			o->output = optarg;
			break;
		case 'T':
			o->timing_only = true;
			break;
		case 'd':
			if (llmi_parse_seconds(optarg, &o->duration_s))
				return fail(err, len, "-d '%s': expected seconds > 0, e.g. -d 10 or -d 0.5",
					    optarg);
			break;
		case 'i':
			if (llmi_parse_seconds(optarg, &o->interval_s))
				return fail(err, len, "-i '%s': expected seconds > 0, e.g. -i 1", optarg);
			break;
		case OPT_JSON:
			if (!*optarg)
				return fail(err, len, "--json: give a file name or '-' for stdout");
			o->json = optarg;
			break;
		case OPT_PERFETTO:
			if (!*optarg)
				return fail(err, len, "--perfetto: give a file name, e.g. --perfetto trace.json");
			o->perfetto = optarg;
			break;
		case OPT_FORCE:
			o->force = true;
			break;
		case OPT_RANK:
			if (trace_rank_parse(optarg, &o->rank))
				return fail(err, len, "--rank '%s': expected R or R/WORLD (0 <= R < WORLD), "
					    "e.g. --rank 1/4", optarg);
			break;
		case OPT_CAPTURE:
			if (add_capture(o, optarg, err, len))
				return -EINVAL;
			break;
		case OPT_CODEC:
			if (llmi_codec_spec_parse(optarg, &o->codec))
				return fail(err, len, "--codec '%s': expected lossless, quant:nmse=X, "
					    "quant:mse=X or quant:abs=X (X > 0), optionally ,chanmean",
					    optarg);
			if (o->codec.flags & LLMI_CODEC_PREDICT)
				return fail(err, len, "--codec '%s': ,predict needs a reference "
					    "tensor; capture codes each tensor alone", optarg);
			codec_given = true;
			break;
		case OPT_ON_FULL:
			if (strcmp(optarg, "block") && strcmp(optarg, "drop"))
				return fail(err, len, "--on-full '%s': expected block or drop", optarg);
			o->on_full = strcmp(optarg, "block") ? LLMI_ON_FULL_DROP : LLMI_ON_FULL_BLOCK;
			break;
		case OPT_BUFFER_SIZE:
			if (llmi_parse_size(optarg, &v) || v < (1u << 20) || v > (1ull << 40))
				return fail(err, len, "--buffer-size '%s': expected a size from 1M to 1T, "
					    "e.g. 512M or 2G", optarg);
			o->buffer_size = v;
			capture_sized = true;
			break;
		case OPT_DEVICE_BUFFER:
			if (llmi_parse_size(optarg, &v) || v < (1u << 20) || v > (1ull << 40))
				return fail(err, len, "--device-buffer '%s': expected a size from 1M to 1T, "
					    "e.g. 256M", optarg);
			o->device_buffer = v;
			capture_sized = true;
			break;
		case OPT_THREADS:
			if (llmi_parse_u64(optarg, &v) || !v || v > 64)
				return fail(err, len, "--threads '%s': expected a count from 1 to 64", optarg);
			o->threads = (unsigned)v;
			capture_sized = true;
			break;
		case OPT_LIB:
			if (o->nlibs == TRACE_MAX_LIBS)
				return fail(err, len, "--lib: at most %d libraries", TRACE_MAX_LIBS);
			o->libs[o->nlibs++] = optarg;
			break;
		case OPT_RING_SIZE:
			if (llmi_parse_size(optarg, &v) || !is_pow2(v) || v < 4096 || v > (1ull << 30))
				return fail(err, len,
					    "--ring-size '%s': expected a power of two from 4K to 1G, e.g. 64M",
					    optarg);
			o->ring_size = v;
			break;
		case OPT_KERNELS:
			if (llmi_parse_u64(optarg, &v) || !v || v > (1u << 24))
				return fail(err, len, "--kernels '%s': expected a count from 1 to 16777216",
					    optarg);
			o->kernels_max = v;
			break;
		case OPT_TOP:
			if (llmi_parse_u64(optarg, &v) || !v || v > 100000)
				return fail(err, len, "--top '%s': expected a count from 1 to 100000", optarg);
			o->top = v;
			break;
		case 'f':
			o->follow = 1;
			break;
		case OPT_NO_FOLLOW:
			o->follow = 0;
			break;
		case OPT_STATUS:
			o->status = 1;
			break;
		case OPT_NO_STATUS:
			o->status = 0;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'h':
			trace_opts_usage(stdout);
			return TRACE_OPTS_HELP;
		case ':':
			return fail(err, len, "option '%s' needs a value (see --help)", argv[optind - 1]);
		default:
			if (optopt)
				return fail(err, len, "unknown option '-%c' (see --help)", optopt);
			return fail(err, len, "unknown option '%s' (see --help)", argv[optind - 1]);
		}
	}
	if (optind < argc)
		o->cmd = &argv[optind];
	if (!o->npids && !o->cmd)
		return fail(err, len, "nothing to trace: give -p PID or -- CMD (see --help)");
	if (o->npids && o->cmd)
		return fail(err, len, "give either -p PID or -- CMD, not both");
	if (o->follow < 0)
		o->follow = o->cmd != NULL;
	if (o->status < 0)	/* a command writes to the same terminal */
		o->status = o->cmd == NULL;
	if (o->perfetto && o->timing_only)
		return fail(err, len, "--perfetto needs events mode: drop -T");
	if (!o->capture[0] && (codec_given || o->on_full >= 0 || capture_sized))
		return fail(err, len, "%s applies to tensor capture: add --capture SPEC",
			    codec_given ? "--codec" : o->on_full >= 0 ? "--on-full" :
			    "--buffer-size, --device-buffer and --threads");
	if (o->on_full < 0)
		o->on_full = o->cmd ? LLMI_ON_FULL_BLOCK : LLMI_ON_FULL_DROP;
	/*
	 * Coders use CPU only while there are tensors to code. With block, the
	 * program waits whenever they fall behind, so every CPU codes (the
	 * last coder at a lower priority: capture.c); with drop (a live
	 * server) one CPU is left to the program.
	 */
	if (!o->threads) {
		long n = o->on_full == LLMI_ON_FULL_BLOCK ? cores : cores - 1;

		o->threads = n < 1 ? 1 : n > 64 ? 64 : (unsigned)n;
	}
	return 0;
}

/* The directory holding path (followed through links) and its last component. */
static int where(const char *path, struct stat *dir, const char **base)
{
	char d[PATH_MAX];
	const char *slash = strrchr(path, '/');

	if (!slash) {
		*base = path;
		return stat(".", dir);
	}
	*base = slash + 1;
	if ((size_t)(slash - path) >= sizeof(d))
		return -1;
	if (slash == path)
		return stat("/", dir);
	memcpy(d, path, (size_t)(slash - path));
	d[slash - path] = '\0';
	return stat(d, dir);
}

static bool same_file(const char *a, const char *b)
{
	struct stat da, db;
	const char *ba, *bb;

	if (where(a, &da, &ba) || where(b, &db, &bb))
		return false;	/* a missing directory: the create says so */
	return da.st_dev == db.st_dev && da.st_ino == db.st_ino && !strcmp(ba, bb);
}

int trace_opts_check_outputs(const struct trace_opts *o, char *err, size_t len)
{
	const char *name[3] = { "-o", "--perfetto", "--json" };
	const char *path[3] = { o->output, o->perfetto,
				o->json && strcmp(o->json, "-") ? o->json : NULL };

	for (int i = 0; i < 3; i++)
		for (int j = i + 1; j < 3; j++)
			if (path[i] && path[j] && same_file(path[i], path[j]))
				return fail(err, len, "%s %s and %s %s name the same file; "
					    "give each output its own file", name[j], path[j],
					    name[i], path[i]);
	return 0;
}
