// SPDX-License-Identifier: MIT
/*
 * llminstr-trace's command line: good values parsed, bad ones refused with a
 * reason; two outputs naming one file (however spelt) refused.
 */
#include <setjmp.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "trace/opts.h"

static int parse(struct trace_opts *o, char *err, const char *a0, ...)
{
	char *argv[32];
	int argc = 0;
	va_list ap;
	const char *s;

	argv[argc++] = (char *)"llminstr-trace";
	va_start(ap, a0);
	for (s = a0; s; s = va_arg(ap, const char *))
		argv[argc++] = (char *)s;
	va_end(ap);
	argv[argc] = NULL;
	return trace_opts_parse(argc, argv, o, err, 256);
}

static void test_good(void **state)
{
	struct trace_opts o;
	char err[256];

	assert_int_equal(parse(&o, err, "-T", "-d", "2.5", "-i", "1", "--json", "-", "--ring-size",
			       "64M", "--lib", "/a", "--lib", "/b", "-p", "12,34", NULL), 0);
	assert_true(o.timing_only);
	assert_true(o.duration_s == 2.5);
	assert_true(o.interval_s == 1.0);
	assert_string_equal(o.json, "-");
	assert_int_equal(o.ring_size, 64ull << 20);
	assert_int_equal(o.nlibs, 2);
	assert_int_equal(o.npids, 2);
	assert_int_equal(o.pids[1], 34);
	assert_null(o.cmd);

	assert_int_equal(parse(&o, err, "--perfetto", "t.json", "--", "./x", "-q", NULL), 0);
	assert_non_null(o.cmd);
	assert_string_equal(o.cmd[0], "./x");
	assert_string_equal(o.cmd[1], "-q");
	assert_int_equal(o.ring_size, 16u << 20);
	assert_true(o.follow);		/* -- CMD follows its workers by default */
	assert_false(o.status);		/* the command shares the terminal: no status line */
	assert_int_equal(parse(&o, err, "--status", "--", "./x", NULL), 0);
	assert_true(o.status);

	assert_int_equal(parse(&o, err, "--no-follow", "--", "./x", NULL), 0);
	assert_false(o.follow);
	assert_int_equal(parse(&o, err, "-p", "7", NULL), 0);
	assert_false(o.follow);		/* -p does not, unless asked */
	assert_true(o.status);		/* -p: a status line (where stderr is a terminal) */
	assert_int_equal(parse(&o, err, "--no-status", "-p", "7", NULL), 0);
	assert_false(o.status);
	assert_int_equal(parse(&o, err, "-f", "-p", "7", NULL), 0);
	assert_true(o.follow);
	assert_false(o.force);		/* an existing output is refused unless asked */
	assert_int_equal(parse(&o, err, "--force", "-o", "t.llmi", "-p", "7", NULL), 0);
	assert_true(o.force);
	assert_string_equal(o.output, "t.llmi");
}

/* capture: repeatable terms, the documented defaults, -- CMD blocks and -p drops, with -T too */
static void test_capture(void **state)
{
	struct trace_opts o;
	char err[256];
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	assert_int_equal(parse(&o, err, "-p", "7", NULL), 0);
	assert_string_equal(o.capture, "");
	assert_int_equal(parse(&o, err, "--capture", "name=blk.*.resid", "--capture", "every=4",
			       "--capture", "steps=2-9", "--", "./x", NULL), 0);
	assert_string_equal(o.capture, "name=blk.*.resid\nevery=4\nsteps=2-9");
	assert_int_equal(o.on_full, LLMI_ON_FULL_BLOCK);
	assert_int_equal(o.codec.mode, LLMI_BOUND_NMSE);
	assert_true(o.codec.bound == 1e-3);
	assert_int_equal(o.buffer_size, 512ull << 20);
	assert_int_equal(o.device_buffer, 256ull << 20);
	/* block: every CPU codes (the program waits for them); drop: one is left */
	assert_int_equal(o.threads, cpus < 64 ? cpus : 64);
	assert_int_equal(parse(&o, err, "--capture", "all", "-p", "7", NULL), 0);
	assert_int_equal(o.on_full, LLMI_ON_FULL_DROP);
	assert_int_equal(o.threads, cpus > 1 ? (cpus - 1 < 64 ? cpus - 1 : 64) : 1);
	assert_int_equal(parse(&o, err, "--capture", "all", "--on-full", "block", "-p", "7", NULL), 0);
	assert_int_equal(o.threads, cpus < 64 ? cpus : 64);
	assert_int_equal(parse(&o, err, "--capture", "all", "--on-full", "block", "--codec",
			       "quant:abs=0.01", "--buffer-size", "64M", "--device-buffer", "32M",
			       "--threads", "3", "-p", "7", NULL), 0);
	assert_int_equal(o.on_full, LLMI_ON_FULL_BLOCK);
	assert_int_equal(o.codec.mode, LLMI_BOUND_ABS);
	assert_int_equal(o.buffer_size, 64ull << 20);
	assert_int_equal(o.device_buffer, 32ull << 20);
	assert_int_equal(o.threads, 3);
	/* -T keeps capture: the probes carry each tensor's producer */
	assert_int_equal(parse(&o, err, "-T", "--capture", "name=logits", "--", "./x", NULL), 0);
	assert_true(o.timing_only);
	assert_string_equal(o.capture, "name=logits");
	assert_int_equal(o.on_full, LLMI_ON_FULL_BLOCK);
}

/* err names both options and both paths */
static void expect_same(const struct trace_opts *o, const char *first, const char *second)
{
	char err[256] = "";

	assert_int_equal(trace_opts_check_outputs(o, err, sizeof(err)), -EINVAL);
	if (!strstr(err, first) || !strstr(err, second) || !strstr(err, "same file"))
		fail_msg("'%s' does not name '%s' and '%s'", err, first, second);
	assert_null(strchr(err, '\n'));
}

static void test_outputs_distinct(void **state)
{
	char dir[] = "/tmp/test_trace_opts.XXXXXX", a[256], b[256], sub[256], link[256], cwd[4096];
	struct trace_opts o;
	char err[256];

	assert_non_null(mkdtemp(dir));
	snprintf(a, sizeof(a), "%s/sub", dir);
	assert_int_equal(mkdir(a, 0755), 0);
	snprintf(link, sizeof(link), "%s/via", dir);
	assert_int_equal(symlink(a, link), 0);	/* via -> sub */

	memset(&o, 0, sizeof(o));
	snprintf(a, sizeof(a), "%s/sub/x", dir);
	snprintf(b, sizeof(b), "%s/sub/./x", dir);
	o.output = a;
	o.perfetto = b;
	expect_same(&o, "--perfetto", "-o");

	snprintf(b, sizeof(b), "%s/via/x", dir);	/* through the linked directory */
	o.perfetto = NULL;
	o.json = b;
	expect_same(&o, "--json", "-o");

	o.output = NULL;		/* --json X --perfetto X */
	o.perfetto = a;
	expect_same(&o, "--json", "--perfetto");

	assert_non_null(getcwd(cwd, sizeof(cwd)));	/* a relative name and its absolute one */
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	assert_int_equal(chdir(sub), 0);
	o.json = a;
	o.perfetto = "x";
	expect_same(&o, "--json", "--perfetto");
	assert_int_equal(chdir(cwd), 0);

	/* distinct files, stdout, a missing directory (the create says it) */
	snprintf(b, sizeof(b), "%s/sub/y", dir);
	memset(&o, 0, sizeof(o));
	o.output = a;
	o.perfetto = b;
	o.json = "-";
	assert_int_equal(trace_opts_check_outputs(&o, err, sizeof(err)), 0);
	o.output = "/nonexistent-dir/x";
	o.perfetto = "/nonexistent-dir/y";
	assert_int_equal(trace_opts_check_outputs(&o, err, sizeof(err)), 0);

	unlink(link);
	rmdir(sub);
	rmdir(dir);
}

static void expect_bad(const char *why, const char *a0, ...)
{
	char *argv[32], err[256] = "";
	struct trace_opts o;
	int argc = 0;
	va_list ap;
	const char *s;

	argv[argc++] = (char *)"llminstr-trace";
	va_start(ap, a0);
	for (s = a0; s; s = va_arg(ap, const char *))
		argv[argc++] = (char *)s;
	va_end(ap);
	argv[argc] = NULL;
	assert_int_equal(trace_opts_parse(argc, argv, &o, err, sizeof(err)), -EINVAL);
	if (!strstr(err, why))
		fail_msg("'%s' does not say '%s'", err, why);
	assert_null(strchr(err, '\n'));
}

static void test_bad(void **state)
{
	expect_bad("-d '12ms'", "-d", "12ms", "-p", "1", NULL);
	expect_bad("-i 'abc'", "-i", "abc", "-p", "1", NULL);
	expect_bad("-d '0'", "-d", "0", "-p", "1", NULL);
	expect_bad("-p 'abc'", "-p", "abc", NULL);
	expect_bad("-p '1,1'", "-p", "1,1", NULL);
	expect_bad("-p '-3'", "-p", "-3", NULL);
	expect_bad("unknown option '--nope'", "--nope", NULL);
	expect_bad("unknown option '-Z'", "-Z", NULL);
	expect_bad("needs a value", "-p", NULL);
	expect_bad("nothing to trace", NULL);
	expect_bad("not both", "-p", "1", "--", "ls", NULL);
	expect_bad("power of two", "--ring-size", "3000", "-p", "1", NULL);
	expect_bad("--top", "--top", "0", "-p", "1", NULL);
	expect_bad("--perfetto needs events mode", "-T", "--perfetto", "x", "-p", "1", NULL);
	expect_bad("-o: give a file name", "-o", "", "-p", "1", NULL);
	expect_bad("--json: give a file name", "--json", "", "-p", "1", NULL);
	expect_bad("--perfetto: give a file name", "--perfetto", "", "-p", "1", NULL);
	expect_bad("add --capture SPEC", "--codec", "lossless", "-p", "1", NULL);
	expect_bad("add --capture SPEC", "--on-full", "drop", "-p", "1", NULL);
	expect_bad("add --capture SPEC", "--buffer-size", "64M", "-p", "1", NULL);
	expect_bad("--capture: capture spec term 'name='", "--capture", "name=", "-p", "1", NULL);
	expect_bad("--capture: capture spec term 'steps=5-2'", "--capture", "steps=5-2", "-p", "1", NULL);
	expect_bad("--capture: capture spec term 'bogus'", "--capture", "bogus", "-p", "1", NULL);
	expect_bad("predict needs a reference", "--capture", "all", "--codec",
		   "quant:nmse=1e-3,predict", "-p", "1", NULL);
	expect_bad("--device-buffer '0'", "--capture", "all", "--device-buffer", "0", "-p", "1", NULL);
	expect_bad("--threads '0'", "--capture", "all", "--threads", "0", "-p", "1", NULL);
	expect_bad("--capture: capture spec term 'every=x'", "--capture", "every=x", "-p", "1", NULL);
	expect_bad("--codec 'quant:mse=-1'", "--codec", "quant:mse=-1", "-p", "1", NULL);
	expect_bad("--on-full 'later'", "--on-full", "later", "-p", "1", NULL);
	expect_bad("--buffer-size '12q'", "--buffer-size", "12q", "-p", "1", NULL);
	expect_bad("--rank '2/2'", "--rank", "2/2", "-p", "1", NULL);
	expect_bad("--rank '1/0'", "--rank", "1/0", "-p", "1", NULL);
	expect_bad("--rank '-1'", "--rank", "-1", "-p", "1", NULL);
	expect_bad("--rank '1/'", "--rank", "1/", "-p", "1", NULL);
	expect_bad("--rank 'x'", "--rank", "x", "-p", "1", NULL);
	expect_bad("--rank '99999999999'", "--rank", "99999999999", "-p", "1", NULL);
}

/* --rank, the target's environment and the shard's name (trace/rank.h) */
static void test_rank(void **state)
{
	static const char env[] = "A=1\0RANK=3\0XRANK=9\0WORLD_SIZE=4\0LOCAL_RANK=1";
	static const char bad[] = "RANK=4\0WORLD_SIZE=4\0LOCAL_RANK=x1";
	struct trace_rank r, q;
	struct trace_opts o;
	char err[256], path[64], dir[] = "/tmp/llmi-rank-XXXXXX", big[80];

	(void)state;
	assert_int_equal(parse(&o, err, "-p", "1", NULL), 0);
	assert_int_equal(o.rank.rank, -1);
	assert_int_equal(o.rank.world_size, -1);
	assert_int_equal(parse(&o, err, "--rank", "1/4", "-p", "1", NULL), 0);
	assert_int_equal(o.rank.rank, 1);
	assert_int_equal(o.rank.world_size, 4);
	assert_int_equal(o.rank.local_rank, -1);
	assert_int_equal(parse(&o, err, "--rank", "7", "-p", "1", NULL), 0);
	assert_int_equal(o.rank.rank, 7);
	assert_int_equal(o.rank.world_size, -1);

	trace_rank_from_env(env, sizeof(env), &r);	/* the last NUL included, as /proc gives it */
	assert_int_equal(r.rank, 3);
	assert_int_equal(r.world_size, 4);
	assert_int_equal(r.local_rank, 1);
	trace_rank_from_env(env, sizeof(env) - 1, &q);	/* and without */
	assert_memory_equal(&q, &r, sizeof(r));
	trace_rank_from_env(bad, sizeof(bad), &r);	/* rank not under the world: neither */
	assert_int_equal(r.rank, -1);
	assert_int_equal(r.world_size, -1);
	assert_int_equal(r.local_rank, -1);
	trace_rank_from_env("", 0, &r);
	assert_int_equal(r.rank, -1);
	setenv("RANK", "2", 1);
	setenv("WORLD_SIZE", "8", 1);
	unsetenv("LOCAL_RANK");
	trace_rank_from_env(NULL, 0, &r);
	assert_int_equal(r.rank, 2);
	assert_int_equal(r.world_size, 8);
	assert_int_equal(r.local_rank, -1);
	assert_int_equal(trace_rank_of_pid(getpid(), &q), 0);	/* the environment at exec */
	q = (struct trace_rank){ 2, 8, 0 };
	trace_rank_merge(&r, &q);
	assert_int_equal(r.rank, 2);
	assert_int_equal(r.world_size, 8);
	assert_int_equal(r.local_rank, -1);
	q.rank = 3;
	trace_rank_merge(&r, &q);
	assert_int_equal(r.rank, -1);
	assert_int_equal(r.world_size, 8);
	assert_int_equal(trace_rank_of_pid(0x7ffffff0, &q), -ENOENT);

	/* a directory: DIR/rank-R.llmi; a file name: itself */
	assert_non_null(mkdtemp(dir));
	assert_int_equal(trace_shard_path(dir, 2, path, sizeof(path)), 1);
	assert_string_equal(path + strlen(dir), "/rank-2.llmi");
	snprintf(big, sizeof(big), "%s/new//", dir);	/* not there yet: the '/' says so */
	assert_int_equal(trace_shard_path(big, 0, path, sizeof(path)), 1);
	assert_string_equal(path + strlen(dir), "/new/rank-0.llmi");
	assert_int_equal(trace_shard_path("x.llmi", 2, path, sizeof(path)), 0);
	assert_int_equal(trace_shard_path(dir, -1, path, sizeof(path)), -ENOENT);
	assert_int_equal(trace_shard_path(dir, 1, path, 8), -ENAMETOOLONG);
	assert_int_equal(trace_shard_path("/", 1, path, sizeof(path)), 1);
	assert_string_equal(path, "/rank-1.llmi");
	rmdir(dir);
}

/* --help documents --force and the exit statuses, in 80 columns */
static void test_help(void **state)
{
	char *buf = NULL, *line, *save = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	trace_opts_usage(f);
	assert_int_equal(fclose(f), 0);
	assert_non_null(strstr(buf, "--force             replace an existing output file"));
	assert_non_null(strstr(buf, "EXIT STATUS"));
	assert_non_null(strstr(buf, "128+N when signal N killed it"));
	assert_non_null(strstr(buf, "127 when CMD is not found and 126 when it cannot"));
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (strlen(line) > 79)
			fail_msg("help line over 79 columns: '%s'", line);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_capture),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_rank),
		cmocka_unit_test(test_outputs_distinct),
		cmocka_unit_test(test_help),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
