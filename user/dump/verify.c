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
 * perfetto writes a Chrome trace-event timeline. Tensor captures become
 * instant events at their capture time; event batches are the tracer's
 * records, whose layout belongs to the tracer, and are summarised.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
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
"ui.perfetto.dev or chrome://tracing): tensor captures as instant events on\n"
"their thread; the tracer's event batches are counted, not drawn.\n"
"A file without event records (one made by 'pack', or a capture run without\n"
"events) still gives a valid timeline of its tensor captures: one line on\n"
"stdout says 'no event records' and what OUT.json holds, exit 0.\n"
"Exit 1 when FILE cannot be read, OUT.json cannot be written, or the file is\n"
"damaged (what is readable is still written); a torn tail (the writer died\n"
"mid-record) is said on stderr and is not an error.\n"
"  -o, --output OUT.json  created or replaced; a symbolic link is refused\n";

int cmd_perfetto(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	const char *out = NULL;
	struct llmi_reader *r;
	struct llmi_json j;
	uint64_t tensors = 0, batches = 0, events = 0, t0 = 0, bad_tensors = 0, bad_off = 0;
	struct dump_loss loss;
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
	f = dump_create(out);
	if (!f) {
		llmi_reader__free(r);
		return EXIT_BAD;
	}
	/* Timestamps relative to the file's creation, in microseconds. */
	t0 = llmi_reader__header(r)->created_monotonic_ns;
	llmi_json_init(&j, f, false);
	llmi_json_obj_begin(&j, NULL);
	llmi_json_str(&j, "displayTimeUnit", "ns");
	llmi_json_arr_begin(&j, "traceEvents");
	for (size_t i = 0; i < llmi_reader__nr_records(r); i++) {
		const struct llmi_rec_info *ri = llmi_reader__record(r, i);
		struct llmi_tensor_info ti;

		if (ri->type == LLMI_REC_EVENTS) {
			struct llmi_events_rec eh;

			if (ri->length >= sizeof(eh) &&
			    !llmi_reader__pread(r, ri->offset + sizeof(struct llmi_rec_hdr), &eh, sizeof(eh))) {
				batches++;
				events += eh.count;
			}
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
		llmi_json_obj_begin(&j, NULL);
		llmi_json_str(&j, "name", ti.name);
		llmi_json_str(&j, "cat", "capture");
		llmi_json_str(&j, "ph", "i");
		llmi_json_str(&j, "s", "t");
		llmi_json_double(&j, "ts", ti.rec.capture_ns >= t0 ? (ti.rec.capture_ns - t0) / 1e3 : 0);
		llmi_json_u64(&j, "pid", llmi_reader__header(r)->writer_pid);
		llmi_json_u64(&j, "tid", ti.rec.tid);
		llmi_json_obj_begin(&j, "args");
		llmi_json_u64(&j, "id", ti.rec.tensor_id);
		llmi_json_u64(&j, "step", ti.rec.step);
		llmi_json_i64(&j, "layer", ti.rec.layer);
		llmi_json_u64(&j, "launch_id", ti.rec.launch_id);
		llmi_json_u64(&j, "raw_bytes", ti.rec.raw_bytes);
		llmi_json_u64(&j, "stored_bytes", ti.rec.stored_bytes);
		llmi_json_double(&j, "nmse", ti.rec.nmse);
		llmi_json_obj_end(&j);
		llmi_json_obj_end(&j);
	}
	llmi_json_arr_end(&j);
	llmi_json_obj_end(&j);
	/* Both run: the stream is closed even when the JSON writer failed. */
	if (llmi_json_finish(&j) | fclose(f))
		ret = dump_err(EXIT_BAD, "%s: write failed", out);
	else if (!batches && !tensors)
		printf("%s: no event records and no tensors; %s is an empty timeline\n", argv[optind], out);
	else if (!batches)
		printf("%s: no event records; %s holds only its %llu tensor capture(s)\n", argv[optind],
		       out, (unsigned long long)tensors);
	else
		printf("%s: %s holds %llu tensor capture(s); %llu events in %llu batches not drawn "
		       "(their layout is the tracer's)\n", argv[optind], out, (unsigned long long)tensors,
		       (unsigned long long)events, (unsigned long long)batches);
	dump_loss(r, bad_tensors, bad_off, &loss);
	c = dump_loss_report(argv[optind], &loss);
	ret = ret ? ret : c;
	llmi_reader__free(r);
	return ret;
}
