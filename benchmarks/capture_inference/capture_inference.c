// SPDX-License-Identifier: MIT
/*
 * Inference speed kept while capturing: llm_decode --prefill N run several
 * ways in one run, interleaved over --rounds (each round runs every case
 * once, in an order rotated by the round, so that a slow spell of the
 * machine does not fall on one case), with the median of each case:
 *
 *   untraced      llm_decode ARGS
 *   timing        llminstr-trace -o FILE -- llm_decode ARGS (events only)
 *   capture_resid llminstr-trace --capture name=blk.*.resid
 *                 --capture name=logits -o FILE --json J -- llm_decode ARGS
 *                 (the residual stream after every layer, and the logits:
 *                 what activation caching for sparse autoencoders keeps)
 *   capture_all   the same with --capture all (attn_out, mlp_out, resid of
 *                 every layer, logits)
 *   dump          llm_decode ARGS --reference-dir DIR, untraced: every
 *                 tensor read back after a stream sync and written raw to
 *                 its own file, what forward hooks with a synchronous copy
 *                 and torch.save do today (baseline_dump's method, inside
 *                 the model's loop; no fsync)
 *
 * tokens/s is llm_decode's own figure (its decode loop, set-up excluded),
 * read from its last stderr line; with --prefill N --tokens 1 each token is
 * one prefill of N prompt rows, and rows/s (N + tokens - 1 per sequence of
 * tokens) is printed beside it. Each case's ratio is its median tokens/s
 * over the untraced median. The capture cases add the tracer's --json
 * capture block (tensors, raw and stored bytes, ratio, max NMSE, drops,
 * blocked time); raw GB/s is raw bytes over the decode's seconds. On the
 * stand-in runtime these are CPU figures of this machine: the stand-in's
 * kernels, the agent's copies and the tracer's coders share its cores.
 *
 *   capture_inference [--rounds N] [--decode-bin PATH] [--decode-args "ARGS"]
 *                     [--codec SPEC] [--dir DIR] [--json FILE|-]
 *
 * --decode-bin build/bin/llm_decode_cuda measures NVIDIA's runtime on a GPU
 * (then they are GPU figures; the label follows the binary). Needs root
 * (BPF); exits 77 otherwise.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/json.h"
#include "../bench.h"

#define MAX_ROUNDS 64
#define MAX_ARGS 64

enum { C_UNTRACED, C_TIMING, C_RESID, C_ALL, C_DUMP, NCASES };

static const char *const case_name[NCASES] = {
	"untraced", "timing", "capture_resid", "capture_all", "dump",
};
static const char *const case_label[NCASES] = {	/* the table's: 22 columns at most */
	"untraced",
	"trace, timing only",
	"capture resid+logits",
	"capture all",
	"raw dump per tensor",
};
static const char *const case_cmd[NCASES] = {
	"llm_decode -q ARGS",
	"llminstr-trace -o F -- llm_decode -q ARGS",
	"... --capture name=blk.*.resid --capture name=logits",
	"... --capture all",
	"llm_decode -q ARGS --reference-dir D (sync D2H, write)",
};

struct cfg {
	int rounds;
	const char *decode, *dargs, *codec, *dir, *json;
	char tracer[4096 + 32];
	long prefill, tokens;		/* from --decode-args, for rows/s */
};

struct run {
	double tps, secs;		/* llm_decode's own figures */
	uint64_t tokens;
	/* capture cases: the tracer's capture block; dump: the files */
	uint64_t tensors, raw, stored, dropped, unfinished, blocked_ns;
	double max_nmse;
};

struct result {
	struct run r[MAX_ROUNDS];
	int n;
	double tps, secs, ratio;	/* medians, ratio to untraced */
};

/* The last "N tokens in S s, X tokens/s" line of the workload's stderr. */
static int parse_decode(const char *errf, struct run *r)
{
	FILE *f = fopen(errf, "r");
	char line[1024];
	bool found = false;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		const char *p = strstr(line, ": ");
		unsigned long long n;
		double s, t;

		if (p && sscanf(p + 2, "%llu tokens in %lf s, %lf tokens/s", &n, &s, &t) == 3) {
			r->tokens = n;
			r->secs = s;
			/* from the count and the seconds: more digits than the rounded rate */
			r->tps = s > 0 ? n / s : t;
			found = true;
		}
	}
	fclose(f);
	return found && r->tps > 0 ? 0 : -EBADMSG;
}

/* Bytes in the regular files of dir, each removed after it is counted. */
static uint64_t dir_bytes_clear(const char *dir, uint64_t *files)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	uint64_t sum = 0;
	char p[8192];
	struct stat st;

	*files = 0;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		if (!lstat(p, &st) && S_ISREG(st.st_mode)) {
			sum += st.st_size;
			(*files)++;
			unlink(p);
		}
	}
	if (d)
		closedir(d);
	return sum;
}

/* Splits the --decode-args string on blanks into argv (in place). */
static int split(char *s, char **argv, int max)
{
	int n = 0;

	for (char *t = strtok(s, " \t"); t; t = strtok(NULL, " \t")) {
		if (n == max)
			return -E2BIG;
		argv[n++] = t;
	}
	return n;
}

static int one_run(const struct cfg *c, int k, struct run *r)
{
	char *argv[MAX_ARGS * 2], dargs[4096], out[4096], js[4096], errf[4096], ref[4096];
	int argc = 0, n, st;

	snprintf(dargs, sizeof(dargs), "%s", c->dargs);
	snprintf(out, sizeof(out), "%s/capture_inference.llmi", c->dir);
	snprintf(js, sizeof(js), "%s/capture_inference.json", c->dir);
	snprintf(errf, sizeof(errf), "%s/capture_inference.err", c->dir);
	snprintf(ref, sizeof(ref), "%s/ref", c->dir);
	unlink(out);
	unlink(js);
	memset(r, 0, sizeof(*r));
	if (k != C_UNTRACED && k != C_DUMP) {
		argv[argc++] = (char *)c->tracer;
		if (k == C_RESID) {
			argv[argc++] = "--capture";
			argv[argc++] = "name=blk.*.resid";
			argv[argc++] = "--capture";
			argv[argc++] = "name=logits";
		} else if (k == C_ALL) {
			argv[argc++] = "--capture";
			argv[argc++] = "all";
		}
		if (k != C_TIMING) {
			argv[argc++] = "--codec";
			argv[argc++] = (char *)c->codec;
			argv[argc++] = "--json";
			argv[argc++] = js;
		}
		argv[argc++] = "-o";
		argv[argc++] = out;
		argv[argc++] = "--";
	}
	argv[argc++] = (char *)c->decode;
	argv[argc++] = "-q";
	n = split(dargs, argv + argc, MAX_ARGS);
	if (n < 0)
		return n;
	argc += n;
	if (k == C_DUMP) {
		uint64_t files;

		mkdir(ref, 0755);
		dir_bytes_clear(ref, &files);
		argv[argc++] = "--reference-dir";
		argv[argc++] = ref;
	}
	argv[argc] = NULL;
	st = bench_run(argv, errf);
	if (st) {
		char *e = bench_slurp(errf);

		fprintf(stderr, "capture_inference: case %s: %s exited %d%s%s", case_name[k], argv[0],
			st, e && *e ? ":\n" : "\n", e ? e : "");
		free(e);
		return st < 0 ? st : -EIO;
	}
	if (parse_decode(errf, r)) {
		fprintf(stderr, "capture_inference: case %s: no 'N tokens in S s, X tokens/s' line "
			"from %s\n", case_name[k], c->decode);
		return -EBADMSG;
	}
	unlink(errf);
	unlink(out);
	if (k == C_RESID || k == C_ALL) {
		char *buf = bench_slurp(js);

		if (!buf || isnan(bench_jnum(buf, "\"capture\"", "tensors"))) {
			fprintf(stderr, "capture_inference: case %s: no capture block in %s\n",
				case_name[k], js);
			free(buf);
			return -EBADMSG;
		}
		r->tensors = (uint64_t)bench_jnum(buf, "\"capture\"", "tensors");
		r->raw = (uint64_t)bench_jnum(buf, "\"capture\"", "raw_bytes");
		r->stored = (uint64_t)bench_jnum(buf, "\"capture\"", "stored_bytes");
		r->dropped = (uint64_t)bench_jnum(buf, "\"capture\"", "dropped");
		r->unfinished = (uint64_t)bench_jnum(buf, "\"capture\"", "unfinished");
		r->blocked_ns = (uint64_t)bench_jnum(buf, "\"capture\"", "blocked_ns");
		r->max_nmse = bench_jnum(buf, "\"capture\"", "max_nmse");
		free(buf);
		unlink(js);
	} else if (k == C_DUMP) {
		r->raw = r->stored = dir_bytes_clear(ref, &r->tensors);
		rmdir(ref);
	}
	return 0;
}

/* The value after "opt" in the decode arguments, or def. */
static long darg(const char *dargs, const char *opt, long def)
{
	const char *p = dargs;
	size_t n = strlen(opt);

	while ((p = strstr(p, opt))) {
		if ((p == dargs || p[-1] == ' ') && p[n] == ' ')
			return atol(p + n + 1);
		p += n;
	}
	return def;
}

static void json_out(struct llmi_json *j, const struct cfg *c, struct result *res,
		     const char *figures)
{
	double rows = c->prefill ? (double)(c->prefill + c->tokens - 1) / c->tokens : 1;

	llmi_json_str(j, "figures", figures);
	llmi_json_str(j, "decode_bin", c->decode);
	llmi_json_str(j, "decode_args", c->dargs);
	llmi_json_str(j, "codec", c->codec);
	llmi_json_i64(j, "rounds", c->rounds);
	llmi_json_obj_end(j);
	llmi_json_arr_begin(j, "cases");
	for (int k = 0; k < NCASES; k++) {
		struct run *first = &res[k].r[0];	/* the counts are the same each round */

		llmi_json_obj_begin(j, NULL);
		llmi_json_str(j, "name", case_name[k]);
		llmi_json_str(j, "what", case_label[k]);
		llmi_json_str(j, "command", case_cmd[k]);
		llmi_json_double(j, "tokens_per_s", res[k].tps);
		llmi_json_double(j, "rows_per_s", res[k].tps * rows);
		llmi_json_double(j, "seconds", res[k].secs);
		llmi_json_double(j, "ratio", res[k].ratio);
		llmi_json_arr_begin(j, "tokens_per_s_rounds");
		for (int i = 0; i < res[k].n; i++)
			llmi_json_double(j, NULL, res[k].r[i].tps);
		llmi_json_arr_end(j);
		if (k == C_RESID || k == C_ALL || k == C_DUMP) {
			llmi_json_u64(j, "tensors", first->tensors);
			llmi_json_u64(j, "raw_bytes", first->raw);
			llmi_json_u64(j, "stored_bytes", first->stored);
			llmi_json_double(j, "raw_gbps", first->raw / res[k].secs / 1e9);
			llmi_json_double(j, "stored_ratio",
					 first->stored ? (double)first->raw / first->stored : 0);
		}
		if (k == C_RESID || k == C_ALL) {
			llmi_json_double(j, "max_nmse", first->max_nmse);
			llmi_json_u64(j, "dropped", first->dropped);
			llmi_json_u64(j, "unfinished", first->unfinished);
			llmi_json_u64(j, "blocked_ns", first->blocked_ns);
		}
		llmi_json_obj_end(j);
	}
	llmi_json_arr_end(j);
	llmi_json_obj_begin(j, "summary");
	llmi_json_double(j, "untraced_tokens_per_s", res[C_UNTRACED].tps);
	llmi_json_double(j, "timing_ratio", res[C_TIMING].ratio);
	llmi_json_double(j, "capture_resid_ratio", res[C_RESID].ratio);
	llmi_json_double(j, "capture_all_ratio", res[C_ALL].ratio);
	llmi_json_double(j, "dump_ratio", res[C_DUMP].ratio);
	llmi_json_double(j, "capture_resid_raw_gbps",
			 res[C_RESID].r[0].raw / res[C_RESID].secs / 1e9);
	llmi_json_double(j, "capture_all_raw_gbps", res[C_ALL].r[0].raw / res[C_ALL].secs / 1e9);
	llmi_json_obj_end(j);
	llmi_json_obj_end(j);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "rounds", required_argument, NULL, 'r' }, { "decode-bin", required_argument, NULL, 'b' },
		{ "decode-args", required_argument, NULL, 'a' }, { "codec", required_argument, NULL, 'c' },
		{ "dir", required_argument, NULL, 'd' }, { "json", required_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' }, {},
	};
	struct cfg c = {
		.rounds = 7, .codec = "quant:nmse=1e-3", .dir = "build/bench/tmp",
		.dargs = "--layers 8 --hidden 512 --heads 8 --ffn 1376 --vocab 4096 "
			 "--prefill 64 --tokens 1 --repeat 6",
	};
	static struct result res[NCASES];
	char self[4096], decode[4096 + 32], figures[256];
	const char *base;
	double rows, v[MAX_ROUNDS];
	ssize_t n;
	int o, err;

	while ((o = getopt_long(argc, argv, "r:b:a:c:d:j:h", opts, NULL)) != -1) {
		switch (o) {
		case 'r': c.rounds = atoi(optarg); break;
		case 'b': c.decode = optarg; break;
		case 'a': c.dargs = optarg; break;
		case 'c': c.codec = optarg; break;
		case 'd': c.dir = optarg; break;
		case 'j': c.json = optarg; break;
		case 'h':
			puts("usage: capture_inference [--rounds N] [--decode-bin PATH] [--decode-args \"ARGS\"]\n"
			     "                         [--codec SPEC] [--dir DIR] [--json FILE|-]");
			return 0;
		default:
			fprintf(stderr, "capture_inference: bad option (see --help)\n");
			return 2;
		}
	}
	if (optind < argc || c.rounds < 1 || c.rounds > MAX_ROUNDS) {
		fprintf(stderr, "capture_inference: --rounds takes 1 to %d, and no operands\n",
			MAX_ROUNDS);
		return 2;
	}
	if (geteuid()) {
		fprintf(stderr, "capture_inference: needs root (the tracer loads BPF)\n");
		return 77;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return 1;
	self[n] = '\0';
	*strrchr(self, '/') = '\0';	/* build/bench */
	snprintf(c.tracer, sizeof(c.tracer), "%s/../bin/llminstr-trace", self);
	if (!c.decode) {
		snprintf(decode, sizeof(decode), "%s/../bin/llm_decode", self);
		c.decode = decode;
	}
	if (access(c.tracer, X_OK) || access(c.decode, X_OK)) {
		fprintf(stderr, "capture_inference: %s: %s (build it with make)\n",
			access(c.tracer, X_OK) ? c.tracer : c.decode, strerror(errno));
		return 1;
	}
	c.prefill = darg(c.dargs, "--prefill", 0);
	c.tokens = darg(c.dargs, "--tokens", 512);
	rows = c.prefill ? (double)(c.prefill + c.tokens - 1) / c.tokens : 1;
	if (mkdir(c.dir, 0755) && errno != EEXIST) {
		fprintf(stderr, "capture_inference: cannot create %s: %s\n", c.dir, strerror(errno));
		return 1;
	}
	base = strrchr(c.decode, '/') ? strrchr(c.decode, '/') + 1 : c.decode;
	snprintf(figures, sizeof(figures), "%s", strstr(base, "cuda") ?
		 "GPU figures (NVIDIA's runtime; the coders on this machine's CPUs)" :
		 "CPU figures of this machine (stand-in runtime)");

	for (int i = 0; i < c.rounds; i++)
		for (int j = 0; j < NCASES; j++) {
			int k = (i + j) % NCASES;

			err = one_run(&c, k, &res[k].r[res[k].n]);
			if (err)
				return 1;
			fprintf(stderr, "capture_inference: round %d/%d %-14s %9.2f tokens/s\n", i + 1,
				c.rounds, case_name[k], res[k].r[res[k].n].tps);
			res[k].n++;
		}
	for (int k = 0; k < NCASES; k++) {
		for (int i = 0; i < res[k].n; i++)
			v[i] = res[k].r[i].tps;
		res[k].tps = bench_median(v, res[k].n);
		for (int i = 0; i < res[k].n; i++)
			v[i] = res[k].r[i].secs;
		res[k].secs = bench_median(v, res[k].n);
	}
	for (int k = 0; k < NCASES; k++)
		res[k].ratio = res[k].tps / res[C_UNTRACED].tps;

	printf("capture_inference: %s %s\nmedians of %d interleaved rounds, codec %s; %s\n",
	       base, c.dargs, c.rounds, c.codec, figures);
	/* 80 columns: 22 + 9 + 9 + 7 + 8 + 10 + 8 + 6 spaces */
	printf("%-22s %9s %9s %7s %8s %10s %8s\n", "case", "tokens/s", "rows/s", "ratio",
	       "tensors", "raw MB/s", "stored");
	for (int k = 0; k < NCASES; k++) {
		struct run *r = &res[k].r[0];

		printf("%-22s %9.2f %9.1f %7.3f", case_label[k], res[k].tps, res[k].tps * rows,
		       res[k].ratio);
		if (k == C_RESID || k == C_ALL || k == C_DUMP)
			printf(" %8llu %10.2f %7.2fx", (unsigned long long)r->tensors,
			       r->raw / res[k].secs / 1e6, r->stored ? (double)r->raw / r->stored : 0);
		putchar('\n');
	}
	for (int k = 0; k < NCASES; k++)
		printf("  %-20s %s\n", case_label[k], case_cmd[k]);
	printf("  (...: llminstr-trace --codec SPEC --json J -o F -- llm_decode -q ARGS)\n");
	for (int k = C_RESID; k <= C_ALL; k++) {
		struct run *r = &res[k].r[0];

		printf("%s: max nmse %.3g, %llu dropped, %llu unfinished, blocked %.1f ms\n",
		       case_name[k], r->max_nmse, (unsigned long long)r->dropped,
		       (unsigned long long)r->unfinished, r->blocked_ns / 1e6);
	}
	if (c.json) {
		FILE *f = strcmp(c.json, "-") ? fopen(c.json, "w") : stdout;
		struct llmi_json j;

		if (!f) {
			fprintf(stderr, "capture_inference: cannot write %s: %s\n", c.json, strerror(errno));
			return 1;
		}
		bench_json_begin(&j, f, "capture_inference");
		json_out(&j, &c, res, figures);
		if (llmi_json_finish(&j) || (f != stdout && fclose(f)))
			return 1;
	}
	return 0;
}
