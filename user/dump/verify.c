// SPDX-License-Identifier: MIT
/*
 * llminstr-dump verify and perfetto.
 *
 * verify re-reads the whole file (llmi_reader__verify): every record's
 * header and payload checksum and sequence number, the trailer, and that
 * the index lists exactly the records found. One line either way; exit 1
 * on damage, naming the first bad record and its offset, and on a file its
 * writer did not close (its records may be intact: 'info' and 'export' read
 * them).
 *
 * perfetto writes a Chrome trace-event timeline: the tracer's events
 * (format/timeline.h) through the writer llminstr-trace --perfetto uses
 * (common/perfetto.c), so both draw the same slices; tensor captures become
 * instant events at their capture time.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/perfetto.h"
#include "dump/dump.h"

static const char verify_help[] =
"Usage: llminstr-dump verify FILE\n"
"Checks the file header, every record's checksum and sequence number, the\n"
"trailer and the index. Exit 0 when the file is complete and intact; 1 when\n"
"it is damaged (the first bad record and its offset are named) or was not\n"
"closed by its writer (no index; its complete records are still readable).\n";

int cmd_verify(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	struct llmi_verify_report rep;
	struct llmi_reader *r;
	int c, err;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h') {
			fputs(verify_help, stdout);
			return 0;
		}
		return dump_err(EXIT_USAGE, "verify: unknown option '%s' (try --help)", argv[optind - 1]);
	}
	if (optind != argc - 1)
		return dump_err(EXIT_USAGE, "verify: give one FILE (try 'llminstr-dump verify --help')");
	r = dump_open(argv[optind]);
	if (!r)
		return EXIT_BAD;
	err = llmi_reader__verify(r, &rep);
	llmi_reader__free(r);
	if (err == -ENODATA)
		return dump_err(EXIT_BAD, "%s: incomplete: %s", argv[optind], rep.what);
	if (err)
		return dump_err(EXIT_BAD, "%s: damaged: %s", argv[optind], rep.what);
	printf("%s: ok: %llu data records (%llu with pad, index and trailer), %llu bytes, "
	       "checksums and index match\n", argv[optind], (unsigned long long)rep.data_records,
	       (unsigned long long)rep.records, (unsigned long long)rep.bytes);
	return 0;
}

static const char perfetto_help[] =
"Usage: llminstr-dump perfetto FILE -o OUT.json\n"
"Writes a Chrome/Perfetto trace-event JSON timeline (open it in\n"
"ui.perfetto.dev or chrome://tracing): the tracer's events (llminstr-trace\n"
"-o) as slices, the same timeline llminstr-trace --perfetto draws (graph\n"
"replays expanded and marked, kernel names from the file's string tables),\n"
"and tensor captures as instant events on their thread.\n"
"A file without event records (one made by 'pack', or a capture run without\n"
"events) still gives a valid timeline of its tensor captures: one line on\n"
"stdout says 'no event records' and what OUT.json holds, exit 0.\n"
"Exit 1 when FILE cannot be read, OUT.json cannot be written, or the file is\n"
"damaged (what is readable is still written); a torn tail (the writer died\n"
"mid-record) is said on stderr and is not an error. Event batches of a\n"
"layout version this build does not know are counted and skipped.\n"
"  -o, --output OUT.json  created or replaced; a symbolic link is refused\n";

/* The first event's stamp (time 0 of the timeline, as the tracer draws it). */
static bool first_event_ns(struct llmi_reader *r, uint64_t *ns)
{
	for (size_t i = 0; i < llmi_reader__nr_records(r); i++) {
		const struct llmi_rec_info *ri = llmi_reader__record(r, i);
		struct llmi_events_rec eh;

		if (ri->type == LLMI_REC_EVENTS && ri->length >= sizeof(eh) &&
		    !llmi_reader__pread(r, ri->offset + sizeof(struct llmi_rec_hdr), &eh, sizeof(eh)) &&
		    eh.count) {
			*ns = eh.first_ns;
			return true;
		}
	}
	return false;
}

int cmd_perfetto(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	const char *out = NULL;
	struct llmi_reader *r;
	struct llmi_perfetto pf;
	struct dump_names *names = NULL;
	uint64_t tensors = 0, batches = 0, events = 0, t0 = 0, bad_tensors = 0, bad_off = 0;
	uint64_t bad_strings = 0, bad_batches = 0, other_version = 0, ev_t0 = 0;
	struct dump_loss loss;
	bool have_events;
	int c, ret = 0;
	FILE *f;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'h': fputs(perfetto_help, stdout); return 0;
		default:
			return dump_err(EXIT_USAGE, "perfetto: unknown or incomplete option '%s' (try --help)",
					argv[optind - 1]);
		}
	}
	if (optind != argc - 1 || !out)
		return dump_err(EXIT_USAGE, "perfetto: needs FILE and -o OUT.json (try --help)");
	r = dump_open(argv[optind]);
	if (!r)
		return EXIT_BAD;
	names = dump_names__load(r, &bad_strings);
	if (!names) {
		llmi_reader__free(r);
		return dump_err(EXIT_BAD, "out of memory reading the string tables");
	}
	f = dump_create(out);
	if (!f) {
		dump_names__free(names);
		llmi_reader__free(r);
		return EXIT_BAD;
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
			const struct llmi_tl_event *ev;
			struct llmi_events_rec eh;
			void *payload;
			int err = dump_tl_batch(r, i, &eh, &ev, &payload);

			if (err == -EPROTO) {
				other_version += eh.count;
				continue;
			}
			if (err) {
				bad_batches++;
				continue;
			}
			batches++;
			events += eh.count;
			for (uint64_t k = 0; k < eh.count; k++)
				llmi_perfetto_event(&pf, &ev[k],
						    ev[k].name_id ? dump_names__get(names, LLMI_STR_KERNEL,
										   ev[k].name_id) : NULL,
						    dump_names__get(names, LLMI_STR_API, ev[k].api));
			free(payload);
			continue;
		}
		if (ri->type != LLMI_REC_TENSOR)
			continue;
		if (llmi_reader__tensor(r, i, &ti)) {
			if (!bad_tensors++)
				bad_off = ri->offset;
			continue;
		}
		tensors++;
		llmi_json_obj_begin(&pf.j, NULL);
		llmi_json_str(&pf.j, "name", ti.name);
		llmi_json_str(&pf.j, "cat", "capture");
		llmi_json_str(&pf.j, "ph", "i");
		llmi_json_str(&pf.j, "s", "t");
		llmi_json_double(&pf.j, "ts", have_events ? llmi_perfetto_us(&pf, ti.rec.capture_ns) :
				 ti.rec.capture_ns >= t0 ? (ti.rec.capture_ns - t0) / 1e3 : 0);
		llmi_json_u64(&pf.j, "pid", llmi_reader__header(r)->writer_pid);
		llmi_json_u64(&pf.j, "tid", ti.rec.tid);
		llmi_json_obj_begin(&pf.j, "args");
		llmi_json_u64(&pf.j, "id", ti.rec.tensor_id);
		llmi_json_u64(&pf.j, "step", ti.rec.step);
		llmi_json_i64(&pf.j, "layer", ti.rec.layer);
		llmi_json_u64(&pf.j, "launch_id", ti.rec.launch_id);
		llmi_json_u64(&pf.j, "raw_bytes", ti.rec.raw_bytes);
		llmi_json_u64(&pf.j, "stored_bytes", ti.rec.stored_bytes);
		llmi_json_double(&pf.j, "nmse", ti.rec.nmse);
		llmi_json_obj_end(&pf.j);
		llmi_json_obj_end(&pf.j);
	}
	/* Both run: the stream is closed even when the JSON writer failed. */
	if (llmi_perfetto_end(&pf) | fclose(f))
		ret = dump_err(EXIT_BAD, "%s: write failed", out);
	else if (!batches && !tensors && !other_version)
		printf("%s: no event records and no tensors; %s is an empty timeline\n", argv[optind], out);
	else if (!batches && !other_version)
		printf("%s: no event records; %s holds only its %llu tensor capture(s)\n", argv[optind],
		       out, (unsigned long long)tensors);
	else
		printf("%s: %s holds %llu events (%llu batches) and %llu tensor capture(s)\n",
		       argv[optind], out, (unsigned long long)events, (unsigned long long)batches,
		       (unsigned long long)tensors);
	if (other_version)
		fprintf(stderr, "llminstr-dump: %s: %llu events of an event layout this build does not "
			"know were skipped (a newer llminstr-dump reads them)\n", argv[optind],
			(unsigned long long)other_version);
	if (bad_batches || bad_strings)
		ret = dump_err(EXIT_BAD, "%s: %llu damaged %s skipped%s ('llminstr-dump verify' says where)",
			       argv[optind], (unsigned long long)(bad_batches ? bad_batches : bad_strings),
			       bad_batches ? "event batch(es)" : "string table(s)",
			       bad_batches && bad_strings ? ", and string tables" :
			       bad_strings ? " (names show as '?' or <unnamed>)" : "");
	dump_loss(r, bad_tensors, bad_off, &loss);
	c = dump_loss_report(argv[optind], &loss);
	ret = ret ? ret : c;
	dump_names__free(names);
	llmi_reader__free(r);
	return ret;
}
