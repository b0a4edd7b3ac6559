// SPDX-License-Identifier: MIT
/*
 * llminstr-dump info and ls: what a container holds. Both first check every
 * record (llmi_reader__check_all(): header, payload checksum, contents),
 * so they read the whole file once, and they count and show only records
 * that checked out: a figure from a damaged record is never shown, and a
 * damaged file never looks clean. Tensor payloads are checksummed in pieces,
 * never held whole. What could not be read is said once on stderr after
 * everything readable has been shown: a torn tail (the writer died
 * mid-record) is not damage and the exit status stays 0; damage makes it 1.
 *
 * ls fits 80 columns: column widths follow the data, the name column takes
 * what is left and long names end in "...", the codec is abbreviated; --wide
 * shows every name in full, the codec spec, sizes and the mse too.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/json.h"
#include "dump/dump.h"

struct totals {
	uint64_t by_type[LLMI_REC_TYPE_MAX + 1];
	uint64_t tensors, raw, stored, batches, events, lost;
	double max_mse, max_nmse, max_err;
	uint64_t good;			/* records that checked out */
	uint64_t first_ns, last_ns;	/* span of the events */
	uint64_t kernel_names, api_names;
	uint32_t pids[64];		/* processes seen in the events */
	size_t npids;
	bool more_pids;
	uint64_t tokens;		/* ids in tokens records */
	uint64_t *steps;		/* the tensors' steps, sorted and distinct by steps_done() */
	size_t nsteps, steps_cap;
	bool steps_nomem;
	int32_t ranks[64];		/* ranks of the tensors and of the file header */
	size_t nranks;
	bool more_ranks;
};

static void add_rank(struct totals *t, int32_t rank)
{
	if (rank < 0)
		return;
	for (size_t i = 0; i < t->nranks; i++)
		if (t->ranks[i] == rank)
			return;
	if (t->nranks == sizeof(t->ranks) / sizeof(t->ranks[0]))
		t->more_ranks = true;
	else
		t->ranks[t->nranks++] = rank;
}

static void add_step(struct totals *t, uint64_t step)
{
	if (t->nsteps && t->steps[t->nsteps - 1] == step)
		return;		/* a step's tensors mostly come together */
	if (t->nsteps == t->steps_cap) {
		size_t n = t->steps_cap ? 2 * t->steps_cap : 256;
		uint64_t *p = realloc(t->steps, n * sizeof(*p));

		if (!p) {
			t->steps_nomem = true;	/* said as "?": the rest still counts */
			return;
		}
		t->steps = p;
		t->steps_cap = n;
	}
	t->steps[t->nsteps++] = step;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int i32_cmp(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;

	return x < y ? -1 : x > y;
}

/* Steps sorted and made distinct, ranks sorted. */
static void steps_done(struct totals *t)
{
	size_t n = 0;

	if (t->nsteps)	/* steps is NULL while there are none */
		qsort(t->steps, t->nsteps, sizeof(*t->steps), u64_cmp);
	for (size_t i = 0; i < t->nsteps; i++)
		if (!n || t->steps[n - 1] != t->steps[i])
			t->steps[n++] = t->steps[i];
	t->nsteps = n;
	qsort(t->ranks, t->nranks, sizeof(*t->ranks), i32_cmp);
}

static void add_pid(struct totals *t, uint32_t pid)
{
	for (size_t i = 0; i < t->npids; i++)
		if (t->pids[i] == pid)
			return;
	if (t->npids == sizeof(t->pids) / sizeof(t->pids[0]))
		t->more_pids = true;
	else
		t->pids[t->npids++] = pid;
}

/* A batch of several processes: its events name them (payload read, rare). */
static void batch_pids(struct llmi_reader *r, size_t i, struct totals *t)
{
	struct llmi_events_rec eh;
	struct llmi_tl_event ev;
	const void *events;
	void *payload;

	if (dump_tl_batch(r, i, &eh, &events, &payload, NULL, 0))
		return;
	for (uint64_t k = 0; k < eh.count; k++) {
		llmi_events_get(events, &eh, k, &ev);
		add_pid(t, ev.pid);
	}
	free(payload);
}

static int bad_option(const char *cmd, int argc, char **argv)
{
	return dump_err(EXIT_USAGE, "%s: unknown or incomplete option '%s' (try 'llminstr-dump %s --help')",
			cmd, argv[optind - 1 < argc ? optind - 1 : argc - 1], cmd);
}

/*
 * Totals of the records that checked out. 0, or the error that kept the
 * file from being read (said).
 */
static int collect(struct llmi_reader *r, const char *path, struct totals *t)
{
	int err;

	memset(t, 0, sizeof(*t));
	err = llmi_reader__check_all(r);
	if (err)
		return dump_err(EXIT_CANNOT, "%s: reading failed: %s", path, strerror(-err));
	add_rank(t, llmi_reader__header(r)->rank);
	for (size_t i = 0; i < llmi_reader__nr_records(r); i++) {
		const struct llmi_rec_info *ri = llmi_reader__record(r, i);

		if (ri->state != LLMI_CHECK_OK)
			continue;
		t->good++;
		t->by_type[ri->type < LLMI_REC_TYPE_MAX ? ri->type : LLMI_REC_TYPE_MAX]++;
		if (ri->type == LLMI_REC_TENSOR) {
			struct llmi_tensor_info ti;

			if (llmi_reader__tensor(r, i, &ti))
				continue;	/* checked: only if the file changed meanwhile */
			t->tensors++;
			add_step(t, ti.rec.step);
			add_rank(t, ti.rec.rank);
			t->raw += ti.rec.raw_bytes;
			t->stored += ti.rec.stored_bytes;
			if (ti.rec.mse > t->max_mse)
				t->max_mse = ti.rec.mse;
			if (ti.rec.nmse > t->max_nmse)
				t->max_nmse = ti.rec.nmse;
			if (ti.rec.max_abs_err > t->max_err)
				t->max_err = ti.rec.max_abs_err;
		} else if (ri->type == LLMI_REC_EVENTS) {
			struct llmi_events_rec eh;

			if (llmi_reader__pread(r, ri->offset + sizeof(struct llmi_rec_hdr), &eh, sizeof(eh)))
				continue;
			t->batches++;
			t->events += eh.count;
			t->lost += eh.lost;
			if (!eh.count)
				continue;
			if (!t->first_ns || eh.first_ns < t->first_ns)
				t->first_ns = eh.first_ns;
			if (eh.last_ns > t->last_ns)
				t->last_ns = eh.last_ns;
			if (eh.pid)
				add_pid(t, eh.pid);
			else
				batch_pids(r, i, t);
		} else if (ri->type == LLMI_REC_TOKENS) {
			struct llmi_tokens_rec th;

			if (!llmi_reader__pread(r, ri->offset + sizeof(struct llmi_rec_hdr), &th, sizeof(th)))
				t->tokens += th.count;
		} else if (ri->type == LLMI_REC_STRINGS) {
			struct llmi_strings_rec sh;

			if (llmi_reader__pread(r, ri->offset + sizeof(struct llmi_rec_hdr), &sh, sizeof(sh)))
				continue;
			if (sh.kind == LLMI_STR_KERNEL)
				t->kernel_names += sh.count;
			else if (sh.kind == LLMI_STR_API)
				t->api_names += sh.count;
		}
	}
	steps_done(t);
	return 0;
}

/* Where the readable part of an unclosed file ends. */
static uint64_t recovered_bytes(const struct llmi_reader_status *st)
{
	return st->tail_damaged ? st->tail_offset : st->file_size;
}

static void fmt_time(uint64_t ns, char *buf, size_t len)
{
	time_t s = ns / 1000000000ull;
	struct tm tm;

	if (!gmtime_r(&s, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, len, "?");
}

/*
 * One tensor as JSON (ls --json, info --json): what it is, how it was
 * coded, and who made it: the producing launch's number in the timeline,
 * its kernel (names may be NULL: no string tables read) and thread; a
 * tensor whose producer was not known has "producer": null.
 */
static void tensor_json(struct llmi_json *j, const struct llmi_tensor_info *ti,
			const struct dump_names *names, const char *file)
{
	const struct llmi_tensor_rec *t = &ti->rec;
	char codec[96];

	llmi_json_obj_begin(j, NULL);
	if (file)	/* ls of several files: whose */
		llmi_json_str(j, "file", file);
	llmi_json_u64(j, "id", t->tensor_id);
	llmi_json_str(j, "name", ti->name);
	llmi_json_u64(j, "step", t->step);
	if (t->layer >= 0)
		llmi_json_i64(j, "layer", t->layer);
	else
		llmi_json_null(j, "layer");
	llmi_json_arr_begin(j, "shape");
	for (unsigned k = 0; k < t->ndim && k < 8; k++)
		llmi_json_u64(j, NULL, t->shape[k]);
	llmi_json_arr_end(j);
	llmi_json_str(j, "dtype", dump_dtype(t->dtype));
	dump_codec(t, codec, sizeof(codec));
	llmi_json_str(j, "codec", codec);
	llmi_json_u64(j, "raw_bytes", t->raw_bytes);
	llmi_json_u64(j, "stored_bytes", t->stored_bytes);
	llmi_json_double(j, "mse", t->mse);
	llmi_json_double(j, "nmse", t->nmse);
	llmi_json_double(j, "max_abs_err", t->max_abs_err);
	llmi_json_u64(j, "capture_ns", t->capture_ns);
	llmi_json_u64(j, "tid", t->tid);
	if (t->pid)
		llmi_json_u64(j, "pid", t->pid);
	else
		llmi_json_null(j, "pid");
	if (t->rank >= 0)	/* the reader makes a 1.0/1.1 file's -1 */
		llmi_json_i64(j, "rank", t->rank);
	else
		llmi_json_null(j, "rank");
	if (t->pos_total) {	/* pos=: which positions of the dimension were kept */
		llmi_json_obj_begin(j, "positions");
		llmi_json_u64(j, "dim", t->pos_dim);
		llmi_json_u64(j, "first", t->pos_first);
		llmi_json_u64(j, "count", t->shape[t->pos_dim]);
		llmi_json_u64(j, "of", t->pos_total);
		llmi_json_obj_end(j);
	} else {
		llmi_json_null(j, "positions");
	}
	if (t->token_count) {	/* [first, count] in its process's token stream */
		llmi_json_arr_begin(j, "tokens");
		llmi_json_u64(j, NULL, t->token_first);
		llmi_json_u64(j, NULL, t->token_count);
		llmi_json_arr_end(j);
	} else {
		llmi_json_null(j, "tokens");
	}
	if (t->launch_id) {
		const char *k = names ? dump_names__get(names, LLMI_STR_KERNEL, t->kernel_name_id) :
			NULL;

		llmi_json_obj_begin(j, "producer");
		llmi_json_u64(j, "launch_id", t->launch_id);
		llmi_json_str(j, "kernel", t->kernel_name_id ? k : NULL);
		llmi_json_u64(j, "tid", t->tid);
		llmi_json_obj_end(j);
	} else {
		llmi_json_null(j, "producer");
	}
	llmi_json_obj_end(j);
}

/* Every tensor that checks out, in file order, as objects of the open array. */
static void tensor_objs(struct llmi_json *j, struct llmi_reader *r, const struct dump_names *names,
			const char *file)
{
	for (size_t i = 0; i < llmi_reader__nr_records(r); i++) {
		const struct llmi_rec_info *ri = llmi_reader__record(r, i);
		struct llmi_tensor_info ti;

		if (ri->type != LLMI_REC_TENSOR || ri->state != LLMI_CHECK_OK ||
		    llmi_reader__tensor(r, i, &ti))
			continue;
		tensor_json(j, &ti, names, file);
	}
}

/* Every tensor that checks out, in file order, as a JSON array under key. */
static void tensors_json(struct llmi_json *j, const char *key, struct llmi_reader *r,
			 const struct dump_names *names)
{
	llmi_json_arr_begin(j, key);
	tensor_objs(j, r, names, NULL);
	llmi_json_arr_end(j);
}

/* The file header's rank, world size and local rank: a number or null each. */
static void rank_json(struct llmi_json *j, const struct llmi_file_header *h)
{
	const char *key[3] = { "rank", "world_size", "local_rank" };
	int32_t v[3] = { h->rank, h->world_size, h->local_rank };

	for (int k = 0; k < 3; k++) {
		if (v[k] >= 0)
			llmi_json_i64(j, key[k], v[k]);
		else
			llmi_json_null(j, key[k]);
	}
}

/* "ranks": those seen (tensors, headers), sorted; "steps": count, first, last. */
/* Opens "tensors" in j with t's count, bytes, ratio and worst errors (the caller closes it). */
static void totals_json(struct llmi_json *j, const struct totals *t)
{
	llmi_json_obj_begin(j, "tensors");
	llmi_json_u64(j, "count", t->tensors);
	llmi_json_u64(j, "raw_bytes", t->raw);
	llmi_json_u64(j, "stored_bytes", t->stored);
	llmi_json_double(j, "ratio", dump_ratio(t->raw, t->stored));
	llmi_json_double(j, "max_mse", t->max_mse);
	llmi_json_double(j, "max_nmse", t->max_nmse);
	llmi_json_double(j, "max_abs_err", t->max_err);
}

static void ranks_json(struct llmi_json *j, const struct totals *t)
{
	llmi_json_arr_begin(j, "ranks");
	for (size_t k = 0; k < t->nranks; k++)
		llmi_json_i64(j, NULL, t->ranks[k]);
	llmi_json_arr_end(j);
	llmi_json_obj_begin(j, "steps");
	llmi_json_u64(j, "count", t->nsteps);
	if (t->nsteps) {
		llmi_json_u64(j, "first", t->steps[0]);
		llmi_json_u64(j, "last", t->steps[t->nsteps - 1]);
	} else {
		llmi_json_null(j, "first");
		llmi_json_null(j, "last");
	}
	llmi_json_obj_end(j);
	llmi_json_u64(j, "tokens", t->tokens);
}

/* " 0 1 2 of 4" and a newline: the ranks seen, and the header's world size. */
static void print_ranks(const struct totals *t, const struct llmi_file_header *h)
{
	for (size_t k = 0; k < t->nranks; k++)
		printf(" %d", t->ranks[k]);
	if (!t->nranks)
		printf(" ?");
	if (t->more_ranks)
		printf(" ...");
	if (h && h->world_size > 0)
		printf(" of %d", h->world_size);
	if (h && h->local_rank >= 0)
		printf(" (local rank %d)", h->local_rank);
	printf("\n");
}

/* What b adds to the run's totals a (one file's into the run's). */
static void totals_add(struct totals *a, const struct totals *b)
{
	for (unsigned k = 0; k <= LLMI_REC_TYPE_MAX; k++)
		a->by_type[k] += b->by_type[k];
	a->tensors += b->tensors;
	a->raw += b->raw;
	a->stored += b->stored;
	a->batches += b->batches;
	a->events += b->events;
	a->lost += b->lost;
	a->good += b->good;
	a->tokens += b->tokens;
	if (b->max_mse > a->max_mse)
		a->max_mse = b->max_mse;
	if (b->max_nmse > a->max_nmse)
		a->max_nmse = b->max_nmse;
	if (b->max_err > a->max_err)
		a->max_err = b->max_err;
	for (size_t k = 0; k < b->nsteps; k++)
		add_step(a, b->steps[k]);
	a->steps_nomem |= b->steps_nomem;
	for (size_t k = 0; k < b->nranks; k++)
		add_rank(a, b->ranks[k]);
	a->more_ranks |= b->more_ranks;
	for (size_t k = 0; k < b->npids; k++)
		add_pid(a, b->pids[k]);
	a->more_pids |= b->more_pids;
}

/*
 * info of several files, a run's shards (RUN/rank-R.llmi): one summary of
 * them all, then a line (or an object) per file. Every file is read and
 * checked as info of one file does; the exit status is the worst of them.
 */
static int info_run(char **paths, int n, bool json)
{
	struct totals run, *ft = calloc((size_t)n, sizeof(*ft));
	struct llmi_file_header *hd = calloc((size_t)n, sizeof(*hd));
	struct llmi_reader_status *sts = calloc((size_t)n, sizeof(*sts));
	struct dump_loss *loss = calloc((size_t)n, sizeof(*loss));
	int *code = calloc((size_t)n, sizeof(*code));
	int32_t world = -1;
	bool worlds_differ = false;
	int ret = 0, c;

	memset(&run, 0, sizeof(run));
	if (!ft || !hd || !sts || !loss || !code) {
		ret = dump_err(EXIT_CANNOT, "info: out of memory");
		goto out;
	}
	for (int f = 0; f < n; f++) {
		struct llmi_reader *r = dump_open(paths[f], &c);

		if (!r) {
			code[f] = c;	/* said */
			continue;
		}
		code[f] = collect(r, paths[f], &ft[f]);
		if (!code[f]) {
			hd[f] = *llmi_reader__header(r);
			sts[f] = *llmi_reader__status(r);
			dump_loss(r, &loss[f]);
			totals_add(&run, &ft[f]);
			if (hd[f].world_size > 0) {
				worlds_differ |= world > 0 && world != hd[f].world_size;
				world = hd[f].world_size;
			}
		}
		llmi_reader__free(r);
	}
	steps_done(&run);
	if (json) {
		struct llmi_json j;

		llmi_json_init(&j, stdout, true);
		llmi_json_obj_begin(&j, NULL);
		llmi_json_u64(&j, "files_count", (uint64_t)n);
		ranks_json(&j, &run);
		if (world > 0 && !worlds_differ)
			llmi_json_i64(&j, "world_size", world);
		else
			llmi_json_null(&j, "world_size");
		totals_json(&j, &run);
		llmi_json_obj_end(&j);
		llmi_json_obj_begin(&j, "events");
		llmi_json_u64(&j, "batches", run.batches);
		llmi_json_u64(&j, "count", run.events);
		llmi_json_u64(&j, "lost", run.lost);
		llmi_json_obj_end(&j);
		llmi_json_arr_begin(&j, "files");
		for (int f = 0; f < n; f++) {
			llmi_json_obj_begin(&j, NULL);
			llmi_json_str(&j, "file", paths[f]);
			if (code[f] && !loss[f].ndamage) {	/* not read at all */
				llmi_json_null(&j, "rank");
				llmi_json_u64(&j, "exit_status", (uint64_t)code[f]);
				llmi_json_obj_end(&j);
				continue;
			}
			llmi_json_u64(&j, "file_bytes", sts[f].file_size);
			llmi_json_u64(&j, "version_major", hd[f].version_major);
			llmi_json_u64(&j, "version_minor", hd[f].version_minor);
			rank_json(&j, &hd[f]);
			llmi_json_str(&j, "host", hd[f].host);
			llmi_json_bool(&j, "indexed", sts[f].indexed);
			ranks_json(&j, &ft[f]);
			llmi_json_obj_begin(&j, "tensors");
			llmi_json_u64(&j, "count", ft[f].tensors);
			llmi_json_u64(&j, "raw_bytes", ft[f].raw);
			llmi_json_u64(&j, "stored_bytes", ft[f].stored);
			llmi_json_obj_end(&j);
			llmi_json_arr_begin(&j, "errors");
			for (int k = 0; k < loss[f].ndamage; k++)
				llmi_json_str(&j, NULL, loss[f].damage[k]);
			llmi_json_arr_end(&j);
			if (loss[f].torn[0])
				llmi_json_str(&j, "torn_tail", loss[f].torn);
			llmi_json_obj_end(&j);
		}
		llmi_json_arr_end(&j);
		llmi_json_obj_end(&j);
		if (llmi_json_finish(&j))
			ret = dump_err(EXIT_CANNOT, "info: writing JSON failed");
	} else {
		printf("run        %d files\n", n);
		printf("ranks     ");
		print_ranks(&run, NULL);
		if (world > 0)
			printf("world      %d%s\n", world, worlds_differ ? " (the files disagree)" : "");
		printf("tensors    %llu, %.3f MB raw, %.3f MB stored, ratio %.2fx\n",
		       (unsigned long long)run.tensors, run.raw / 1e6, run.stored / 1e6,
		       dump_ratio(run.raw, run.stored));
		if (run.tensors)
			printf("errors     max mse %.3g, max nmse %.3g, max abs %.3g (achieved)\n",
			       run.max_mse, run.max_nmse, run.max_err);
		if (run.steps_nomem)
			printf("steps      ?\n");
		else if (run.nsteps)
			printf("steps      %zu (%llu to %llu)\n", run.nsteps,
			       (unsigned long long)run.steps[0],
			       (unsigned long long)run.steps[run.nsteps - 1]);
		else
			printf("steps      0\n");
		printf("tokens     %llu\n", (unsigned long long)run.tokens);
		printf("events     %llu in %llu batches, %llu lost\n", (unsigned long long)run.events,
		       (unsigned long long)run.batches, (unsigned long long)run.lost);
		for (int f = 0; f < n; f++) {
			if (code[f] && !loss[f].ndamage) {
				printf("file       %s: not read\n", paths[f]);
				continue;
			}
			printf("file       %s: rank ", paths[f]);
			if (hd[f].rank >= 0)
				printf("%d", hd[f].rank);
			else if (ft[f].nranks == 1)
				printf("%d (tensors)", ft[f].ranks[0]);
			else
				printf("?");
			printf(", %llu tensors, %.3f MB stored, %zu steps%s\n",
			       (unsigned long long)ft[f].tensors, ft[f].stored / 1e6, ft[f].nsteps,
			       loss[f].ndamage ? ", damaged" : loss[f].torn[0] ? ", torn tail" : "");
		}
	}
	if (fflush(stdout))
		ret = dump_err(EXIT_CANNOT, "info: writing to stdout failed");
	for (int f = 0; f < n; f++) {
		c = code[f] ? code[f] : dump_loss_report(paths[f], &loss[f]);
		if (c > ret)
			ret = c;
	}
out:
	for (int f = 0; ft && f < n; f++)
		free(ft[f].steps);
	free(run.steps);
	free(ft);
	free(hd);
	free(sts);
	free(loss);
	free(code);
	return ret;
}

static const char info_help[] =
"Usage: llminstr-dump info FILE... [--json]\n"
"What a container holds: its header, records by type, tensor totals (raw and\n"
"stored bytes, ratio, the largest achieved errors), the tracer's events\n"
"(count, batches, lost, processes, kernel names, time span) and any damage\n"
"found. Every record is checked first (checksum and contents: the whole file\n"
"is read once), and only records that check out are counted.\n"
"A file whose writer died (or that is still being written) has no index and\n"
"may end in an incomplete record, a torn tail: everything before it is shown\n"
"with how much was recovered, one line on stderr says what was lost, and the\n"
"exit status is 0. Exit 1 on damage (a complete record that fails its\n"
"checksum or holds impossible contents, a damaged record header or index):\n"
"what is readable is still shown. Exit 3 when FILE cannot be read.\n"
"Several FILEs (a run's shards, RUN/rank-R.llmi): one summary of the run\n"
"(files, ranks seen, tensors, bytes, errors, distinct steps, token ids,\n"
"events), then a line per file (its rank, tensors, stored bytes, steps);\n"
"the exit status is the worst of the files'. A file's ranks: its header's\n"
"(the tracer's --rank, or the target's RANK) and its tensors' (each\n"
"process's RANK or llminstr_set_rank).\n"
"  -j, --json   one JSON object on stdout; its tensors.list has every tensor\n"
"               with its step and producer (as 'ls --json')\n";

int cmd_info(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	char created[40];
	struct dump_loss loss;
	const struct llmi_file_header *h;
	const struct llmi_reader_status *st;
	struct llmi_reader *r;
	struct totals t;
	bool json = false;
	int c, ret = 0;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = true; break;
		case 'h': fputs(info_help, stdout); return 0;
		default: return bad_option("info", argc, argv);
		}
	}
	if (optind >= argc)
		return dump_err(EXIT_USAGE, "info: give a FILE (try 'llminstr-dump info --help')");
	if (optind < argc - 1)
		return info_run(argv + optind, argc - optind, json);
	r = dump_open(argv[optind], &c);
	if (!r)
		return c;
	h = llmi_reader__header(r);
	st = llmi_reader__status(r);
	ret = collect(r, argv[optind], &t);
	if (ret) {
		llmi_reader__free(r);
		return ret;
	}
	dump_loss(r, &loss);
	fmt_time(h->created_realtime_ns, created, sizeof(created));

	if (json) {
		struct llmi_json j;

		llmi_json_init(&j, stdout, true);
		llmi_json_obj_begin(&j, NULL);
		llmi_json_str(&j, "file", argv[optind]);
		llmi_json_u64(&j, "file_bytes", st->file_size);
		llmi_json_u64(&j, "version_major", h->version_major);
		llmi_json_u64(&j, "version_minor", h->version_minor);
		llmi_json_str(&j, "created", created);
		llmi_json_u64(&j, "created_realtime_ns", h->created_realtime_ns);
		llmi_json_i64(&j, "realtime_offset_ns", h->realtime_offset_ns);
		llmi_json_str(&j, "host", h->host);
		llmi_json_str(&j, "writer", h->writer);
		llmi_json_u64(&j, "writer_pid", h->writer_pid);
		rank_json(&j, h);
		llmi_json_bool(&j, "indexed", st->indexed);
		if (!st->indexed) {
			/* What a reader recovered of a file its writer did not close. */
			llmi_json_obj_begin(&j, "recovered");
			llmi_json_u64(&j, "records", t.good);
			llmi_json_u64(&j, "bytes", recovered_bytes(st));
			llmi_json_obj_end(&j);
		}
		llmi_json_obj_begin(&j, "records");
		for (unsigned k = 0; k <= LLMI_REC_TYPE_MAX; k++)
			if (t.by_type[k])
				llmi_json_u64(&j, llmi_rec_type_name(k), t.by_type[k]);
		llmi_json_obj_end(&j);
		totals_json(&j, &t);
		{
			uint64_t bad = 0;
			struct dump_names *names = dump_names__load(r, &bad);

			tensors_json(&j, "list", r, names);
			dump_names__free(names);
		}
		llmi_json_obj_end(&j);
		ranks_json(&j, &t);
		llmi_json_obj_begin(&j, "events");
		llmi_json_u64(&j, "batches", t.batches);
		llmi_json_u64(&j, "count", t.events);
		llmi_json_u64(&j, "lost", t.lost);
		llmi_json_arr_begin(&j, "pids");
		for (size_t k = 0; k < t.npids; k++)
			llmi_json_u64(&j, NULL, t.pids[k]);
		llmi_json_arr_end(&j);
		llmi_json_u64(&j, "kernel_names", t.kernel_names);
		llmi_json_u64(&j, "api_names", t.api_names);
		llmi_json_u64(&j, "first_ns", t.first_ns);
		llmi_json_u64(&j, "last_ns", t.last_ns);
		llmi_json_double(&j, "span_s", t.last_ns > t.first_ns ?
				 (double)(t.last_ns - t.first_ns) / 1e9 : 0);
		llmi_json_obj_end(&j);
		llmi_json_arr_begin(&j, "errors");
		for (int k = 0; k < loss.ndamage; k++)
			llmi_json_str(&j, NULL, loss.damage[k]);
		llmi_json_arr_end(&j);
		if (loss.torn[0]) {
			llmi_json_obj_begin(&j, "torn_tail");
			llmi_json_u64(&j, "offset", st->tail_offset);
			llmi_json_u64(&j, "bytes", st->tail_bytes);
			llmi_json_bool(&j, "unwritten", st->tail_zero);
			llmi_json_str(&j, "note", loss.torn);
			llmi_json_obj_end(&j);
		}
		llmi_json_obj_end(&j);
		if (llmi_json_finish(&j))
			ret = dump_err(EXIT_CANNOT, "info: writing JSON failed");
	} else {
		printf("file       %s (%llu bytes)\n", argv[optind], (unsigned long long)st->file_size);
		printf("format     llmi %u.%u, created %s by %s on %s (pid %u)\n", h->version_major,
		       h->version_minor, created, h->writer, h->host, h->writer_pid);
		if (t.nranks || h->world_size > 0) {	/* a parallel run's shard */
			printf("ranks     ");
			print_ranks(&t, h);
		}
		printf("index      %s\n", st->indexed ? "present" :
		       st->index_damaged ? "damaged, rebuilt by scanning" :
		       "absent (writer did not close the file), rebuilt by scanning");
		if (!st->indexed)
			printf("recovered  %llu records, %llu of %llu bytes\n", (unsigned long long)t.good,
			       (unsigned long long)recovered_bytes(st), (unsigned long long)st->file_size);
		printf("records   ");
		for (unsigned k = 0; k <= LLMI_REC_TYPE_MAX; k++)
			if (t.by_type[k])
				printf(" %s %llu", llmi_rec_type_name(k), (unsigned long long)t.by_type[k]);
		printf("\n");
		printf("tensors    %llu, %.3f MB raw, %.3f MB stored, ratio %.2fx\n",
		       (unsigned long long)t.tensors, t.raw / 1e6, t.stored / 1e6, dump_ratio(t.raw, t.stored));
		if (t.tensors)
			printf("errors     max mse %.3g, max nmse %.3g, max abs %.3g (achieved)\n",
			       t.max_mse, t.max_nmse, t.max_err);
		printf("events     %llu in %llu batches, %llu lost\n", (unsigned long long)t.events,
		       (unsigned long long)t.batches, (unsigned long long)t.lost);
		if (t.events) {
			printf("timeline   %.3f s, %llu kernel names, process%s", t.last_ns > t.first_ns ?
			       (double)(t.last_ns - t.first_ns) / 1e9 : 0.0,
			       (unsigned long long)t.kernel_names, t.npids == 1 ? "" : "es");
			for (size_t k = 0; k < t.npids; k++)
				printf(" %u", t.pids[k]);
			printf("%s\n", t.more_pids ? " ..." : "");
		}
		if (loss.torn[0])
			printf("lost       %s\n", loss.torn);
		for (int k = 0; k < loss.ndamage; k++)
			printf("damage     %s\n", loss.damage[k]);
	}
	llmi_reader__free(r);
	free(t.steps);
	if (fflush(stdout))
		ret = dump_err(EXIT_CANNOT, "info: writing to stdout failed");
	c = dump_loss_report(argv[optind], &loss);
	return c ? c : ret;
}

static const char ls_help[] =
"Usage: llminstr-dump ls FILE... [--wide|--json]\n"
"One line per tensor, within 80 columns; several FILEs (a run's shards): a\n"
"table each under '==> FILE <==', or with --json one array, \"file\" in each:\n"
"  ID      tensor id          STEP, LYR  decode step, layer (- unknown)\n"
"  RANK    the capturing process's rank in a parallel run (- unknown); only\n"
"          when some tensor of the file has one\n"
"  NAME    ends in ... when too long for the line (--wide shows it whole)\n"
"  SHAPE   dimensions         DT     f32, bf16 or f16\n"
"  CODEC   lossless, or the bound asked for (nmse=, mse=, abs=), +m per-channel\n"
"          mean removed, +p predicted from a reference tensor\n"
"  RATIO   raw over stored bytes\n"
"  NMSE, MAXERR   achieved nmse and max absolute error\n"
"  -w, --wide   also RAW and STORED sizes, the achieved MSE, and the producer:\n"
"               LAUNCH (its number in the timeline) and KERNEL (- unknown);\n"
"               names whole\n"
"  -j, --json   one JSON array of every tensor, producer included\n"
"Every record is checked first (checksum and contents); a damaged tensor is\n"
"not listed. A torn tail (the writer died mid-record) is said on stderr, exit\n"
"0; exit 1 on damage (the readable tensors are still listed).\n";

enum { C_ID, C_NAME, C_STEP, C_LAYER, C_RANK, C_SHAPE, C_DT, C_CODEC, C_RAW, C_STORED, C_RATIO,
       C_MSE, C_NMSE, C_MAXERR, C_LAUNCH, C_KERNEL, C_NR };

#define LS_CELL 128

struct ls_row {
	char c[C_NR][LS_CELL];	/* C_NAME unused: names may be longer */
	char *name;
};

static const char *ls_cell(const struct ls_row *row, int k)
{
	return k == C_NAME ? row->name : row->c[k];
}

static const char *const ls_head[C_NR] = {
	"ID", "NAME", "STEP", "LYR", "RANK", "SHAPE", "DT", "CODEC", "RAW", "STORED", "RATIO",
	"MSE", "NMSE", "MAXERR", "LAUNCH", "KERNEL",
};

/* Columns left-aligned (text); the rest are numbers, right-aligned. */
static bool ls_left(int k)
{
	return k == C_NAME || k == C_SHAPE || k == C_DT || k == C_CODEC || k == C_KERNEL;
}

static void fmt_bytes(uint64_t b, char *buf, size_t len)
{
	if (b < 1000)
		snprintf(buf, len, "%lluB", (unsigned long long)b);
	else if (b < 1000000)
		snprintf(buf, len, "%.1fkB", b / 1e3);
	else if (b < 1000000000)
		snprintf(buf, len, "%.1fMB", b / 1e6);
	else
		snprintf(buf, len, "%.1fGB", b / 1e9);
}

/* The codec in a few columns: "nmse=1e-03+m" for quant:nmse=0.001,chanmean. */
static void short_codec(const struct llmi_tensor_rec *t, char *buf, size_t len)
{
	static const char *const modes[] = { "lossless", "nmse", "mse", "abs" };

	if (t->codec_mode == LLMI_BOUND_LOSSLESS)
		snprintf(buf, len, "lossless");
	else if (t->codec_mode < 4)
		snprintf(buf, len, "%s=%.2g%s%s", modes[t->codec_mode], t->codec_bound,
			 t->codec_flags & LLMI_CODEC_CHANNEL_MEAN ? "+m" : "",
			 t->codec_flags & LLMI_CODEC_PREDICT ? "+p" : "");
	else
		snprintf(buf, len, "mode%u", t->codec_mode);
}

static int ls_fill(struct ls_row *row, const struct llmi_tensor_info *ti, bool wide,
		   const struct dump_names *names)
{
	const struct llmi_tensor_rec *t = &ti->rec;
	char (*c)[LS_CELL] = row->c;

	snprintf(c[C_ID], LS_CELL, "%llu", (unsigned long long)t->tensor_id);
	row->name = strdup(ti->name);
	if (!row->name)
		return -ENOMEM;
	snprintf(c[C_STEP], LS_CELL, "%llu", (unsigned long long)t->step);
	if (t->layer >= 0)
		snprintf(c[C_LAYER], LS_CELL, "%d", t->layer);
	else
		snprintf(c[C_LAYER], LS_CELL, "-");
	if (t->rank >= 0)
		snprintf(c[C_RANK], LS_CELL, "%d", t->rank);
	else
		snprintf(c[C_RANK], LS_CELL, "-");
	dump_shape(t, c[C_SHAPE], LS_CELL);
	snprintf(c[C_DT], LS_CELL, "%s", dump_dtype(t->dtype));
	if (wide)
		dump_codec(t, c[C_CODEC], LS_CELL);
	else
		short_codec(t, c[C_CODEC], LS_CELL);
	fmt_bytes(t->raw_bytes, c[C_RAW], LS_CELL);
	fmt_bytes(t->stored_bytes, c[C_STORED], LS_CELL);
	snprintf(c[C_RATIO], LS_CELL, "%.2fx", dump_ratio(t->raw_bytes, t->stored_bytes));
	snprintf(c[C_MSE], LS_CELL, "%.1e", t->mse);
	snprintf(c[C_NMSE], LS_CELL, "%.1e", t->nmse);
	snprintf(c[C_MAXERR], LS_CELL, "%.1e", t->max_abs_err);
	if (t->launch_id) {
		const char *k = names && t->kernel_name_id ?
			dump_names__get(names, LLMI_STR_KERNEL, t->kernel_name_id) : NULL;

		snprintf(c[C_LAUNCH], LS_CELL, "%llu", (unsigned long long)t->launch_id);
		snprintf(c[C_KERNEL], LS_CELL, "%s", k ? k : "?");
	} else {
		snprintf(c[C_LAUNCH], LS_CELL, "-");
		snprintf(c[C_KERNEL], LS_CELL, "-");
	}
	return 0;
}

/* Prints at most w display columns of s, ending in "..." when it is longer. */
static void ls_name(const char *s, int w, bool last)
{
	int n = strlen(s);

	if (n <= w)
		printf("%-*s", last ? 0 : w, s);
	else if (w > 3)
		printf("%.*s...", w - 3, s);
	else
		printf("%.*s", w, s);
}

/*
 * ls of one file: a table, or with multi (several files, --json) its
 * tensors into multi's open array with their file named. The exit status.
 */
static int ls_file(const char *path, bool wide, bool json, struct llmi_json *multi)
{
	/* RANK only where some tensor has one: a file of one process reads as before */
	static const int narrow_cols[] = { C_ID, C_NAME, C_STEP, C_LAYER, C_RANK, C_SHAPE, C_DT,
					   C_CODEC, C_RATIO, C_NMSE, C_MAXERR };
	static const int wide_cols[] = { C_ID, C_STEP, C_LAYER, C_RANK, C_SHAPE, C_DT, C_CODEC,
					 C_RAW, C_STORED, C_RATIO, C_MSE, C_NMSE, C_MAXERR,
					 C_LAUNCH, C_NAME, C_KERNEL };
	int shown[C_NR];
	bool ranked = false;
	struct ls_row *rows = NULL;
	size_t nrows = 0, cap = 0;
	int width[C_NR], c, ret = 0, ncols, used = 0;
	const int *cols;
	struct dump_loss loss;
	struct llmi_reader *r;
	struct dump_names *names = NULL;
	uint64_t bad_names = 0;

	r = dump_open(path, &c);
	if (!r)
		return c;
	/* Checked first: a damaged record's figures are not shown. */
	c = llmi_reader__check_all(r);
	if (c) {
		ret = dump_err(EXIT_CANNOT, "%s: reading failed: %s", path, strerror(-c));
		llmi_reader__free(r);
		return ret;
	}
	names = dump_names__load(r, &bad_names);	/* NULL: producers show as '?' */
	if (multi) {
		tensor_objs(multi, r, names, path);
		goto out;
	}
	if (json) {
		struct llmi_json j;

		llmi_json_init(&j, stdout, true);
		tensors_json(&j, NULL, r, names);
		if (llmi_json_finish(&j))
			ret = dump_err(EXIT_CANNOT, "ls: writing to stdout failed");
		goto out;
	}
	/* Rows first: the column widths follow the data. */
	for (size_t i = 0; i < llmi_reader__nr_records(r); i++) {
		const struct llmi_rec_info *ri = llmi_reader__record(r, i);
		struct llmi_tensor_info ti;

		if (ri->type != LLMI_REC_TENSOR || ri->state != LLMI_CHECK_OK ||
		    llmi_reader__tensor(r, i, &ti))
			continue;
		if (nrows == cap) {
			size_t nc = cap ? cap * 2 : 64;
			void *p = realloc(rows, nc * sizeof(*rows));

			if (!p) {
				ret = dump_err(EXIT_CANNOT, "ls: out of memory");
				goto out;
			}
			rows = p;
			cap = nc;
		}
		dump_printable(ti.name);
		ranked |= ti.rec.rank >= 0;
		if (ls_fill(&rows[nrows], &ti, wide, names)) {
			ret = dump_err(EXIT_CANNOT, "ls: out of memory");
			goto out;
		}
		nrows++;
	}
	cols = wide ? wide_cols : narrow_cols;
	ncols = wide ? (int)(sizeof(wide_cols) / sizeof(*cols)) : (int)(sizeof(narrow_cols) / sizeof(*cols));
	for (int k = 0, n = 0; k < ncols; k++)
		if (cols[k] != C_RANK || ranked)
			shown[n++] = cols[k];
	ncols -= !ranked;
	cols = shown;
	for (int k = 0; k < C_NR; k++) {
		width[k] = strlen(ls_head[k]);
		for (size_t i = 0; i < nrows; i++) {
			int n = strlen(ls_cell(&rows[i], k));

			if (n > width[k])
				width[k] = n;
		}
	}
	/* Narrow: the name gets what the other columns leave of 80 (79 printed
	 * columns, so a terminal does not wrap), at least 12. */
	for (int k = 0; k < ncols; k++)
		if (cols[k] != C_NAME)
			used += width[cols[k]] + 1;
	if (!wide) {
		int room = 79 - used;

		if (width[C_NAME] > room)
			width[C_NAME] = room < 12 ? 12 : room;
	}
	for (size_t i = 0; i <= nrows; i++) {
		for (int k = 0; k < ncols; k++) {
			int col = cols[k];
			const char *cell = i ? ls_cell(&rows[i - 1], col) : ls_head[col];
			bool last = k == ncols - 1;

			if (k)
				putchar(' ');
			if (col == C_NAME)
				ls_name(cell, width[col], last);
			else if (ls_left(col))
				printf("%-*s", last ? 0 : width[col], cell);
			else
				printf("%*s", width[col], cell);
		}
		putchar('\n');
	}
	if (fflush(stdout))
		ret = dump_err(EXIT_CANNOT, "ls: writing to stdout failed");
out:
	dump_names__free(names);
	dump_loss(r, &loss);
	llmi_reader__free(r);
	for (size_t i = 0; i < nrows; i++)
		free(rows[i].name);
	free(rows);
	c = dump_loss_report(path, &loss);
	return c ? c : ret;
}

int cmd_ls(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "wide", no_argument, NULL, 'w' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	bool wide = false, json = false;
	struct llmi_json j;
	int c, ret = 0;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "wjh", opts, NULL)) != -1) {
		switch (c) {
		case 'w': wide = true; break;
		case 'j': json = true; break;
		case 'h': fputs(ls_help, stdout); return 0;
		default: return bad_option("ls", argc, argv);
		}
	}
	if (optind >= argc)
		return dump_err(EXIT_USAGE, "ls: give a FILE (try 'llminstr-dump ls --help')");
	if (optind == argc - 1)
		return ls_file(argv[optind], wide, json, NULL);
	/* several files, a run's shards: one table each, or one JSON array */
	if (json) {
		llmi_json_init(&j, stdout, true);
		llmi_json_arr_begin(&j, NULL);
	}
	for (int f = optind; f < argc; f++) {
		if (!json)
			printf("%s==> %s <==\n", f > optind ? "\n" : "", argv[f]);
		fflush(stdout);
		c = ls_file(argv[f], wide, json, json ? &j : NULL);
		if (c > ret)
			ret = c;
	}
	if (json) {
		llmi_json_arr_end(&j);
		if (llmi_json_finish(&j))
			ret = dump_err(EXIT_CANNOT, "ls: writing to stdout failed");
	}
	return ret;
}
