// SPDX-License-Identifier: MIT
/*
 * llminstr-dump verify and perfetto.
 *
 * verify re-reads the whole file (llmi_reader__verify): every record's
 * header, payload checksum, sequence number and contents (the reader's one
 * validation, which every other command applies too, and the codec's check
 * of each tensor's blob), the summary's totals, the trailer, and that the
 * index lists exactly the records found; then it decodes every tensor, as
 * export would. So whatever any reader would reject, verify reports. One
 * line either way. Exit 0 when intact, and also when the writer died
 * without closing the file but every complete record is intact
 * ("incomplete": nothing the file says was written is lost); 1 on damage,
 * naming the first bad record and its offset; 3 when it cannot read.
 *
 * perfetto writes a Chrome trace-event timeline: the tracer's events
 * (format/timeline.h) through the writer llminstr-trace --perfetto uses
 * (common/perfetto.c), so both draw the same slices; tensor captures become
 * instant events at their capture time.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/json.h"
#include "common/perfetto.h"
#include "dump/dump.h"

static const char verify_help[] =
"Usage: llminstr-dump verify FILE [--no-decode]\n"
"Checks everything a reader relies on: the file header; every record's\n"
"header, checksum, sequence number and contents (what info, ls, export and\n"
"perfetto would reject: impossible counts, sizes and shapes, a coded blob\n"
"that does not match its tensor); tensor ids in order; the summary's totals\n"
"against the records; the trailer and the index. Then it decodes every\n"
"tensor, as export would.\n"
"  --no-decode   skip decoding (the structure of each blob is still checked)\n"
"Exit 0: intact. Also 0 when the writer did not close the file (it died, or\n"
"is still writing) but every complete record is intact: 'incomplete: N\n"
"records intact, writer did not close' (an incomplete last record or\n"
"unwritten space after them is what a writer that died leaves, not damage).\n"
"Exit 1: damaged (the first bad record and its offset are named). Exit 3:\n"
"FILE cannot be read or is not a container. Exit 2: bad usage.\n";

/* Decodes every tensor; 0, or the exit code of the first failure (said). */
static int verify_decode(struct llmi_reader *r, const char *path, uint64_t *n)
{
	struct dump_cache cache = { 0 };
	struct llmi_codec *codec;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int code = 0;

	if (dump_cache_init(&cache, r))
		return dump_err(EXIT_CANNOT, "out of memory");
	codec = llmi_codec__new(ncpu > 0 ? (ncpu > 16 ? 16 : ncpu) : 1);
	if (!codec) {
		dump_cache_free(&cache);
		return dump_err(EXIT_CANNOT, "cannot create a codec context: %s", strerror(errno));
	}
	for (size_t i = 0; i < llmi_reader__nr_records(r) && !code; i++) {
		struct llmi_tensor_info ti;
		void *data;

		if (llmi_reader__record(r, i)->type != LLMI_REC_TENSOR)
			continue;
		data = dump_decode(r, path, codec, i, &ti, &cache, &code);
		if (!data)
			break;
		free(data);
		(*n)++;
	}
	dump_cache_free(&cache);
	llmi_codec__free(codec);
	return code;
}

int cmd_verify(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "no-decode", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	struct llmi_verify_report rep;
	struct llmi_reader *r;
	bool decode = true;
	uint64_t decoded = 0;
	const char *path;
	int c, err, code;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'n': decode = false; break;
		case 'h': fputs(verify_help, stdout); return 0;
		default:
			return dump_err(EXIT_USAGE, "verify: unknown option '%s' (try --help)", argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		return dump_err(EXIT_USAGE, "verify: give one FILE (try 'llminstr-dump verify --help')");
	path = argv[optind];
	r = dump_open(path, &code);
	if (!r)
		return code;
	err = llmi_reader__verify(r, &rep);
	if (err == -EBADMSG) {
		llmi_reader__free(r);
		return dump_err(EXIT_DAMAGED, "%s: damaged: %s", path, rep.what);
	}
	if (err && err != -ENODATA) {
		llmi_reader__free(r);
		return dump_err(EXIT_CANNOT, "%s: cannot verify: %s", path, rep.what);
	}
	code = decode ? verify_decode(r, path, &decoded) : 0;
	llmi_reader__free(r);
	if (code)
		return code;
	if (err == -ENODATA) {
		printf("%s: incomplete: %llu records intact, writer did not close (they end at offset %llu",
		       path, (unsigned long long)rep.data_records, (unsigned long long)rep.bad_offset);
		if (rep.tail_bytes)
			printf("; the %llu bytes after them are %s", (unsigned long long)rep.tail_bytes,
			       rep.tail_zero ? "unwritten (zero) space" : "an incomplete record");
		printf(")%s\n", decode ? "; every tensor decodes" : "");
	} else {
		printf("%s: ok: %llu data records (%llu with pad, index and trailer), %llu bytes, "
		       "checksums, contents and index match%s\n", path, (unsigned long long)rep.data_records,
		       (unsigned long long)rep.records, (unsigned long long)rep.bytes,
		       decode ? ", every tensor decodes" : "");
	}
	if (fflush(stdout))
		return dump_err(EXIT_CANNOT, "verify: writing to stdout failed");
	(void)decoded;
	return 0;
}

static const char perfetto_help[] =
"Usage: llminstr-dump perfetto FILE -o OUT.json [--force]\n"
"Writes a Chrome/Perfetto trace-event JSON timeline (open it in\n"
"ui.perfetto.dev or chrome://tracing): the tracer's events (llminstr-trace\n"
"-o) as slices, the same timeline llminstr-trace --perfetto draws (graph\n"
"replays expanded and marked, kernel names from the file's string tables),\n"
"and tensor captures as instant events on their thread.\n"
"A file without event records (one made by 'pack', or a capture run without\n"
"events) still gives a valid timeline of its tensor captures: one line on\n"
"stdout says 'no event records' and what OUT.json holds, exit 0.\n"
"Every record is checked first (checksum and contents); a damaged one is\n"
"skipped and named on stderr, what is readable is still written, exit 1. A\n"
"torn tail (the writer died mid-record) is said on stderr and is not an\n"
"error. Events of a later layout version are drawn from the fields this\n"
"build knows; kinds it does not know are counted and not drawn.\n"
"Exit 3 when FILE cannot be read or OUT.json cannot be written.\n"
"  -o, --output OUT.json  created; an existing file is refused unless --force,\n"
"                         a symbolic link, directory or device always\n"
"  -f, --force            replace an existing OUT.json\n";

/* The first event's stamp (time 0 of the timeline, as the tracer draws it). */
static bool first_event_ns(struct llmi_reader *r, uint64_t *ns)
{
	for (size_t i = 0; i < llmi_reader__nr_records(r); i++) {
		const struct llmi_rec_info *ri = llmi_reader__record(r, i);
		struct llmi_events_rec eh;

		if (ri->type == LLMI_REC_EVENTS && ri->state == LLMI_CHECK_OK &&
		    !llmi_reader__pread(r, ri->offset + sizeof(struct llmi_rec_hdr), &eh, sizeof(eh)) &&
		    eh.count) {
			*ns = eh.first_ns;
			return true;
		}
	}
	return false;
}

static void tensor_instant(struct llmi_perfetto *pf, struct llmi_reader *r,
			   const struct llmi_tensor_info *ti, bool have_events, uint64_t t0)
{
	const struct llmi_tensor_rec *t = &ti->rec;

	llmi_json_obj_begin(&pf->j, NULL);
	llmi_json_str(&pf->j, "name", ti->name);
	llmi_json_str(&pf->j, "cat", "capture");
	llmi_json_str(&pf->j, "ph", "i");
	llmi_json_str(&pf->j, "s", "t");
	llmi_json_double(&pf->j, "ts", have_events ? llmi_perfetto_us(pf, t->capture_ns) :
			 t->capture_ns >= t0 ? (t->capture_ns - t0) / 1e3 : 0);
	llmi_json_u64(&pf->j, "pid", llmi_reader__header(r)->writer_pid);
	llmi_json_u64(&pf->j, "tid", t->tid);
	llmi_json_obj_begin(&pf->j, "args");
	llmi_json_u64(&pf->j, "id", t->tensor_id);
	llmi_json_u64(&pf->j, "step", t->step);
	llmi_json_i64(&pf->j, "layer", t->layer);
	llmi_json_u64(&pf->j, "launch_id", t->launch_id);
	llmi_json_u64(&pf->j, "raw_bytes", t->raw_bytes);
	llmi_json_u64(&pf->j, "stored_bytes", t->stored_bytes);
	llmi_json_double(&pf->j, "nmse", t->nmse);
	llmi_json_obj_end(&pf->j);
	llmi_json_obj_end(&pf->j);
}

int cmd_perfetto(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	const char *out = NULL, *path;
	struct llmi_reader *r;
	struct llmi_perfetto pf;
	struct dump_names *names = NULL;
	uint64_t tensors = 0, batches = 0, events = 0, t0 = 0, unknown = 0, ev_t0 = 0;
	uint64_t bad_batches = 0, bad_off = 0;
	char bad_why[LLMI_ERRLEN] = "";
	struct dump_loss loss;
	bool have_events, force = false;
	int c, ret = 0;
	FILE *f;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "o:fh", opts, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'f': force = true; break;
		case 'h': fputs(perfetto_help, stdout); return 0;
		default:
			return dump_err(EXIT_USAGE, "perfetto: unknown or incomplete option '%s' (try --help)",
					argv[optind - 1]);
		}
	}
	if (optind != argc - 1 || !out)
		return dump_err(EXIT_USAGE, "perfetto: needs FILE and -o OUT.json (try --help)");
	path = argv[optind];
	r = dump_open(path, &c);
	if (!r)
		return c;
	/* The output first: a name in the way is said before any work. */
	f = dump_create(out, force);
	if (!f) {
		llmi_reader__free(r);
		return EXIT_CANNOT;
	}
	c = llmi_reader__check_all(r);
	if (c) {
		ret = dump_err(EXIT_CANNOT, "%s: reading failed: %s", path, strerror(-c));
		goto fail;
	}
	names = dump_names__load(r, NULL);	/* damaged tables: in the reader's status */
	if (!names) {
		ret = dump_err(EXIT_CANNOT, "out of memory reading the string tables");
		goto fail;
	}
	/*
	 * Events: time 0 is the first event, as llminstr-trace --perfetto draws
	 * it, and tensors on the same scale. Without events, tensors are
	 * relative to the file's creation.
	 */
	have_events = first_event_ns(r, &ev_t0);
	t0 = llmi_reader__header(r)->created_monotonic_ns;
	llmi_perfetto_begin(&pf, f);
	if (have_events) {
		pf.t0 = ev_t0;
		pf.have_t0 = 1;
	}
	for (size_t i = 0; i < llmi_reader__nr_records(r); i++) {
		const struct llmi_rec_info *ri = llmi_reader__record(r, i);
		struct llmi_tensor_info ti;

		if (ri->type == LLMI_REC_EVENTS) {
			struct llmi_events_rec eh;
			struct llmi_tl_event ev;
			const void *evs;
			char why[LLMI_ERRLEN];
			void *payload;
			int err = dump_tl_batch(r, i, &eh, &evs, &payload, why, sizeof(why));

			if (err == -EBADMSG) {
				if (!bad_batches++) {
					bad_off = ri->offset;
					snprintf(bad_why, sizeof(bad_why), "%s", why);
				}
				continue;
			}
			if (err) {
				ret = dump_err(EXIT_CANNOT, "%s: events record at offset %llu: cannot read: %s",
					       path, (unsigned long long)ri->offset, strerror(-err));
				llmi_perfetto_end(&pf);
				goto fail;
			}
			batches++;
			events += eh.count;
			for (uint64_t k = 0; k < eh.count; k++) {
				llmi_events_get(evs, &eh, k, &ev);
				/* Only a later version may hold kinds this build does not draw. */
				if (!ev.kind || ev.kind >= LLMI_TL_KIND_MAX) {
					unknown++;
					continue;
				}
				llmi_perfetto_event(&pf, &ev,
						    ev.name_id ? dump_names__get(names, LLMI_STR_KERNEL,
										ev.name_id) : NULL,
						    dump_names__get(names, LLMI_STR_API, ev.api));
			}
			free(payload);
			continue;
		}
		if (ri->type != LLMI_REC_TENSOR || ri->state != LLMI_CHECK_OK ||
		    llmi_reader__tensor(r, i, &ti))
			continue;
		tensors++;
		tensor_instant(&pf, r, &ti, have_events, t0);
	}
	/* Both run: the stream is closed even when the JSON writer failed. */
	if (llmi_perfetto_end(&pf) | fflush(f) | ferror(f)) {
		ret = dump_err(EXIT_CANNOT, "%s: write failed: %s", out, strerror(errno));
		goto fail;
	}
	if (fclose(f)) {
		f = NULL;
		ret = dump_err(EXIT_CANNOT, "%s: write failed: %s", out, strerror(errno));
		unlink(out);
		goto fail;
	}
	f = NULL;
	if (!batches && !bad_batches && !tensors)
		printf("%s: no event records and no tensors; %s is an empty timeline\n", path, out);
	else if (!batches && !bad_batches)
		printf("%s: no event records; %s holds only its %llu tensor capture(s)\n", path,
		       out, (unsigned long long)tensors);
	else
		printf("%s: %s holds %llu events (%llu batches) and %llu tensor capture(s)%s\n",
		       path, out, (unsigned long long)events, (unsigned long long)batches,
		       (unsigned long long)tensors, bad_batches ? "; damaged event records skipped" : "");
	if (unknown)
		fprintf(stderr, "llminstr-dump: %s: %llu events of kinds this build does not know "
			"(a later event version) were not drawn; a newer llminstr-dump draws them\n", path,
			(unsigned long long)unknown);
	/* One line: the damaged events first (what a timeline lost), else
	 * what the reader found (string tables, tensors, ...). */
	dump_loss(r, &loss);
	if (bad_batches)
		ret = dump_err(EXIT_DAMAGED, "%s: damaged: %llu event record(s) skipped, the first at offset "
			       "%llu: %s", path, (unsigned long long)bad_batches,
			       (unsigned long long)bad_off, bad_why);
	else
		ret = dump_loss_report(path, &loss);
	dump_names__free(names);
	llmi_reader__free(r);
	return ret;
fail:
	dump_out_failed(f, out);
	dump_names__free(names);
	llmi_reader__free(r);
	return ret;
}
