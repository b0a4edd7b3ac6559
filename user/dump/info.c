// SPDX-License-Identifier: MIT
/*
 * llminstr-dump info and ls: what a container holds. Both read record
 * headers only (tensor headers, event batch headers), never payloads, so
 * they are quick on large files; the figures shown are the ones stored with
 * each tensor. Damage found on the way is reported, and the exit status is 1
 * when any was found, after everything readable has been shown.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/json.h"
#include "dump/dump.h"

struct totals {
	uint64_t by_type[LLMI_REC_TYPE_MAX + 1];
	uint64_t tensors, raw, stored, batches, events, lost, bad_tensors;
	double max_mse, max_nmse, max_err;
	uint64_t first_bad_tensor_off;
};

static int bad_option(const char *cmd, int argc, char **argv)
{
	return dump_err(EXIT_USAGE, "%s: unknown or incomplete option '%s' (try 'llminstr-dump %s --help')",
			cmd, argv[optind - 1 < argc ? optind - 1 : argc - 1], cmd);
}

static void collect(struct llmi_reader *r, struct totals *t)
{
	memset(t, 0, sizeof(*t));
	for (size_t i = 0; i < llmi_reader__nr_records(r); i++) {
		const struct llmi_rec_info *ri = llmi_reader__record(r, i);

		t->by_type[ri->type < LLMI_REC_TYPE_MAX ? ri->type : LLMI_REC_TYPE_MAX]++;
		if (ri->type == LLMI_REC_TENSOR) {
			struct llmi_tensor_info ti;

			if (llmi_reader__tensor(r, i, &ti)) {
				if (!t->bad_tensors++)
					t->first_bad_tensor_off = ri->offset;
				continue;
			}
			t->tensors++;
			t->raw += ti.rec.raw_bytes;
			t->stored += ti.rec.stored_bytes;
			if (ti.rec.mse > t->max_mse)
				t->max_mse = ti.rec.mse;
			if (ti.rec.nmse > t->max_nmse)
				t->max_nmse = ti.rec.nmse;
			if (ti.rec.max_abs_err > t->max_err)
				t->max_err = ti.rec.max_abs_err;
		} else if (ri->type == LLMI_REC_EVENTS && ri->length >= sizeof(struct llmi_events_rec)) {
			struct llmi_events_rec eh;

			if (llmi_reader__pread(r, ri->offset + sizeof(struct llmi_rec_hdr), &eh, sizeof(eh)))
				continue;
			t->batches++;
			t->events += eh.count;
			t->lost += eh.lost;
		}
	}
}

/* One line per problem; returns how many. */
static int problems(const struct llmi_reader *r, const struct totals *t, char out[][LLMI_ERRLEN + 64])
{
	const struct llmi_reader_status *st = llmi_reader__status(r);
	int n = 0;

	if (st->index_damaged)
		snprintf(out[n++], LLMI_ERRLEN + 64, "index damaged, rebuilt by scanning");
	if (st->tail_damaged)
		snprintf(out[n++], LLMI_ERRLEN + 64, "%s", st->note);
	if (st->bad_records)
		snprintf(out[n++], LLMI_ERRLEN + 64, "%llu record(s) with a bad payload checksum skipped",
			 (unsigned long long)st->bad_records);
	if (t->bad_tensors)
		snprintf(out[n++], LLMI_ERRLEN + 64,
			 "%llu tensor record(s) with inconsistent headers, first at offset %llu",
			 (unsigned long long)t->bad_tensors, (unsigned long long)t->first_bad_tensor_off);
	return n;
}

static void fmt_time(uint64_t ns, char *buf, size_t len)
{
	time_t s = ns / 1000000000ull;
	struct tm tm;

	if (!gmtime_r(&s, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, len, "?");
}

static const char info_help[] =
"Usage: llminstr-dump info FILE [--json]\n"
"What a container holds: its header, records by type, tensor totals (raw and\n"
"stored bytes, ratio, the largest achieved errors), event batches, and any\n"
"damage found. Reads record headers only. Exit 1 when damage was found,\n"
"an incomplete last record included (a file still being written or whose\n"
"writer died may end in one; everything before it is shown and readable).\n"
"  -j, --json   one JSON object on stdout\n";

int cmd_info(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	char probs[4][LLMI_ERRLEN + 64], created[40];
	const struct llmi_file_header *h;
	const struct llmi_reader_status *st;
	struct llmi_reader *r;
	struct totals t;
	bool json = false;
	int c, np;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = true; break;
		case 'h': fputs(info_help, stdout); return 0;
		default: return bad_option("info", argc, argv);
		}
	}
	if (optind != argc - 1)
		return dump_err(EXIT_USAGE, "info: give one FILE (try 'llminstr-dump info --help')");
	r = dump_open(argv[optind]);
	if (!r)
		return EXIT_BAD;
	h = llmi_reader__header(r);
	st = llmi_reader__status(r);
	collect(r, &t);
	np = problems(r, &t, probs);
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
		llmi_json_bool(&j, "indexed", st->indexed);
		llmi_json_obj_begin(&j, "records");
		for (unsigned k = 0; k <= LLMI_REC_TYPE_MAX; k++)
			if (t.by_type[k])
				llmi_json_u64(&j, llmi_rec_type_name(k), t.by_type[k]);
		llmi_json_obj_end(&j);
		llmi_json_obj_begin(&j, "tensors");
		llmi_json_u64(&j, "count", t.tensors);
		llmi_json_u64(&j, "raw_bytes", t.raw);
		llmi_json_u64(&j, "stored_bytes", t.stored);
		llmi_json_double(&j, "ratio", dump_ratio(t.raw, t.stored));
		llmi_json_double(&j, "max_mse", t.max_mse);
		llmi_json_double(&j, "max_nmse", t.max_nmse);
		llmi_json_double(&j, "max_abs_err", t.max_err);
		llmi_json_obj_end(&j);
		llmi_json_obj_begin(&j, "events");
		llmi_json_u64(&j, "batches", t.batches);
		llmi_json_u64(&j, "count", t.events);
		llmi_json_u64(&j, "lost", t.lost);
		llmi_json_obj_end(&j);
		llmi_json_arr_begin(&j, "errors");
		for (int k = 0; k < np; k++)
			llmi_json_str(&j, NULL, probs[k]);
		llmi_json_arr_end(&j);
		llmi_json_obj_end(&j);
		if (llmi_json_finish(&j))
			np = np ? np : dump_err(EXIT_BAD, "info: writing JSON failed");
	} else {
		printf("file       %s (%llu bytes)\n", argv[optind], (unsigned long long)st->file_size);
		printf("format     llmi %u.%u, created %s by %s on %s (pid %u)\n", h->version_major,
		       h->version_minor, created, h->writer, h->host, h->writer_pid);
		printf("index      %s\n", st->indexed ? "present" :
		       st->index_damaged ? "damaged, rebuilt by scanning" :
		       "absent (writer did not close the file), rebuilt by scanning");
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
		for (int k = 0; k < np; k++)
			printf("damage     %s\n", probs[k]);
	}
	llmi_reader__free(r);
	if (np)
		return dump_err(EXIT_BAD, "%s: %s", argv[optind], probs[0]);
	return 0;
}

static const char ls_help[] =
"Usage: llminstr-dump ls FILE\n"
"One line per tensor: id, name, step, layer, shape, dtype, codec, ratio (raw\n"
"over stored bytes), and the achieved mse, nmse and max absolute error.\n"
"Exit 1 when damage was found (the readable tensors are still listed).\n";

int cmd_ls(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	struct llmi_reader *r;
	struct totals t;
	char probs[4][LLMI_ERRLEN + 64];
	int c, np;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h') {
			fputs(ls_help, stdout);
			return 0;
		}
		return bad_option("ls", argc, argv);
	}
	if (optind != argc - 1)
		return dump_err(EXIT_USAGE, "ls: give one FILE (try 'llminstr-dump ls --help')");
	r = dump_open(argv[optind]);
	if (!r)
		return EXIT_BAD;
	printf("%4s %-22s %5s %5s %-12s %-4s %-16s %6s %8s %8s %8s\n", "ID", "NAME", "STEP", "LAYER",
	       "SHAPE", "TYPE", "CODEC", "RATIO", "MSE", "NMSE", "MAXERR");
	for (size_t i = 0; i < llmi_reader__nr_records(r); i++) {
		struct llmi_tensor_info ti;
		char shape[96], codec[48], layer[16];

		if (llmi_reader__record(r, i)->type != LLMI_REC_TENSOR || llmi_reader__tensor(r, i, &ti))
			continue;
		dump_printable(ti.name);
		dump_shape(&ti.rec, shape, sizeof(shape));
		dump_codec(&ti.rec, codec, sizeof(codec));
		if (ti.rec.layer >= 0)
			snprintf(layer, sizeof(layer), "%d", ti.rec.layer);
		else
			snprintf(layer, sizeof(layer), "-");
		printf("%4llu %-22s %5llu %5s %-12s %-4s %-16s %5.2fx %8.2e %8.2e %8.2e\n",
		       (unsigned long long)ti.rec.tensor_id, ti.name, (unsigned long long)ti.rec.step,
		       layer, shape, dump_dtype(ti.rec.dtype), codec,
		       dump_ratio(ti.rec.raw_bytes, ti.rec.stored_bytes), ti.rec.mse, ti.rec.nmse,
		       ti.rec.max_abs_err);
	}
	collect(r, &t);
	np = problems(r, &t, probs);
	llmi_reader__free(r);
	if (np)
		return dump_err(EXIT_BAD, "%s: %s", argv[optind], probs[0]);
	return 0;
}
