// SPDX-License-Identifier: MIT
/*
 * llminstr-trace's timeline sinks (user/trace/record.c), fed with records as
 * the BPF programs write them, read back with the container reader: kernel
 * names as string ids (one id per name, tables written before the batches
 * that use them), graph replays expanded and marked, captured launches
 * flagged, API names, losses carried by the batches, the summary as the
 * stats record, and the --perfetto JSON written alongside; under -T the
 * producers that capture probes carry, named in the file. (The consumer's
 * per-record cost: benchmarks/trace_record; a full disk: test_trace_full.)
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "format/reader.h"
#include "format/timeline.h"
#include "trace/agg.h"
#include "trace/record.h"

#define PID 77

static struct llmi_event ev(uint8_t type, uint16_t api, uint64_t obj, uint64_t stream,
			    uint64_t arg0, uint64_t arg1)
{
	static uint64_t ts = 1000;
	struct llmi_event e = { .ts_ns = ts++, .pid = PID, .tid = PID, .version = LLMI_EVENT_VERSION,
				.type = type, .api = api, .obj = obj, .stream = stream,
				.arg0 = arg0, .arg1 = arg1 };
	return e;
}

static void feed(struct agg *a, struct trace_tl *t, struct llmi_event e)
{
	assert_int_equal(agg__event(a, &e, sizeof(e)), 0);
	trace_tl__event(t, a, &e, sizeof(e));
}

static void feed_name(struct agg *a, struct trace_tl *t, uint64_t obj, const char *n)
{
	struct llmi_name_event ne = { .ev = ev(LLMI_EV_REGISTER, LLMI_API_REGISTER_FUNCTION, obj, 0, 0, 0) };

	snprintf(ne.name, sizeof(ne.name), "%s", n);
	assert_int_equal(agg__event(a, &ne, sizeof(ne)), 0);
	trace_tl__event(t, a, &ne, sizeof(ne));
}

struct names {
	char kernel[8][64];
	uint64_t kernel_ids[8];
	size_t nkernel, napi;
	char launch_api[64];
};

static int on_string(void *ctx, uint32_t kind, uint64_t id, const char *s, uint32_t len)
{
	struct names *n = ctx;

	if (kind == LLMI_STR_KERNEL && n->nkernel < 8) {
		snprintf(n->kernel[n->nkernel], 64, "%.*s", (int)len, s);
		n->kernel_ids[n->nkernel++] = id;
	} else if (kind == LLMI_STR_API) {
		if (id == LLMI_API_LAUNCH)
			snprintf(n->launch_api, 64, "%.*s", (int)len, s);
		n->napi++;
	}
	return 0;
}

static void test_roundtrip(void **state)
{
	char path[] = "/tmp/llmi-record-XXXXXX", pf[64], *json;
	/* force: replaces the empty file mkstemp made to reserve the name */
	struct trace_tl_opts o = { .output = path, .perfetto = pf, .events = true, .writer = "test",
				   .force = true };
	struct trace_tl_stats st;
	struct agg *a = agg__new(NULL, NULL);
	struct llmi_tl_event all[64];
	uint64_t ids[64];
	size_t nall = 0, nstats = 0, i;
	struct names nm = { 0 };
	uint64_t lost = 0;
	struct llmi_reader *r;
	struct trace_tl *t;
	char err[256];
	int fd;

	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	snprintf(pf, sizeof(pf), "%s.json", path);
	assert_non_null(a);
	t = trace_tl__new(&o);
	assert_non_null(t);
	feed_name(a, t, 0x1000, "_Z4gemmPKfi");
	feed_name(a, t, 0x2000, "_Z4normPf");
	feed(a, t, ev(LLMI_EV_LAUNCH, LLMI_API_LAUNCH, 0x1000, 1, 0x100000040, 256));
	feed(a, t, ev(LLMI_EV_LAUNCH, LLMI_API_LAUNCH, 0x1000, 1, 64, 256));
	feed(a, t, ev(LLMI_EV_LAUNCH, LLMI_API_LAUNCH, 0x7777, 1, 1, 1));	/* unnamed */
	feed(a, t, ev(LLMI_EV_MEMCPY, LLMI_API_MEMCPY_ASYNC, 0x9, 1, 4096, LLMI_COPY_D2H));
	/* a capture of two launches, replayed twice */
	feed(a, t, ev(LLMI_EV_CAPTURE_BEGIN, LLMI_API_CAPTURE_BEGIN, 0, 5, 0, 0));
	feed(a, t, ev(LLMI_EV_LAUNCH, LLMI_API_LAUNCH, 0x2000, 5, 1, 1));
	feed(a, t, ev(LLMI_EV_LAUNCH, LLMI_API_LAUNCH, 0x1000, 5, 1, 1));
	feed(a, t, ev(LLMI_EV_CAPTURE_END, LLMI_API_CAPTURE_END, 0x6a, 5, 0, 0));
	feed(a, t, ev(LLMI_EV_INSTANTIATE, LLMI_API_GRAPH_INSTANTIATE, 0xe7, 0, 0x6a, 0));
	trace_tl__set_lost(t, 3);
	trace_tl__tick(t);	/* under 100 ms: the batch stays open */
	feed(a, t, ev(LLMI_EV_GRAPH_LAUNCH, LLMI_API_GRAPH_LAUNCH, 0xe7, 5, 0, 0));
	feed(a, t, ev(LLMI_EV_GRAPH_LAUNCH, LLMI_API_GRAPH_LAUNCH, 0xe7, 5, 0, 0));
	feed(a, t, ev(LLMI_EV_SYNC, LLMI_API_STREAM_SYNC, 0, 5, 0, 0));
	trace_tl__drain(t, 5, &st);
	assert_int_equal(st.error, 0);
	assert_int_equal(st.names, 2);	/* gemm twice and in the graph: one id */
	assert_int_equal(trace_tl__close(t, "{\"x\": 1}", 8), 0);

	r = llmi_reader__open(path, err, sizeof(err));
	assert_non_null(r);
	for (i = 0; i < llmi_reader__nr_records(r); i++) {
		unsigned type = llmi_reader__record(r, i)->type;
		const void *events;
		struct llmi_events_rec h;
		size_t len;
		void *p;

		if (type != LLMI_REC_STRINGS && type != LLMI_REC_EVENTS && type != LLMI_REC_STATS)
			continue;
		p = llmi_reader__load(r, i, &len);
		assert_non_null(p);
		if (type == LLMI_REC_STRINGS) {
			assert_int_equal(llmi_strings_parse(p, len, on_string, &nm), 0);
		} else if (type == LLMI_REC_STATS) {
			assert_int_equal(len, 8);
			assert_memory_equal(p, "{\"x\": 1}", 8);
			nstats++;
		} else {
			assert_int_equal(llmi_events_parse(p, len, &h, &events), 0);
			/* names arrive before the events that use them */
			assert_true(!h.count || nm.nkernel == 2);
			assert_int_equal(h.abi_version, LLMI_TL_VERSION);
			assert_int_equal(h.event_size, sizeof(struct llmi_tl_event2));
			assert_true(nall + h.count <= 64);
			for (uint64_t k = 0; k < h.count; k++, nall++) {
				llmi_events_get(events, &h, k, &all[nall]);
				ids[nall] = llmi_events_launch_id(events, &h, k);
			}
			lost += h.lost;
		}
		free(p);
	}
	llmi_reader__free(r);
	assert_int_equal(nstats, 1);
	assert_int_equal(lost, 5);
	assert_int_equal(nm.nkernel, 2);
	assert_string_equal(nm.launch_api, "cudaLaunchKernel");
	assert_true(nm.napi > 10);
	/* 3 launches, copy, capture begin, 2 captured launches, capture end,
	 * instantiate (other calls: API slices), 2 x (graph + 2 replays), wait */
	assert_int_equal(nall, 3 + 1 + 1 + 2 + 2 + 2 * 3 + 1);
	assert_int_equal(all[4].kind, LLMI_TL_API);
	assert_int_equal(all[4].api, LLMI_API_CAPTURE_BEGIN);
	assert_int_equal(all[0].kind, LLMI_TL_LAUNCH);
	assert_int_equal(all[0].arg0, 64);	/* grid_x: the low 32 bits */
	assert_int_equal(all[0].arg1, 256);
	assert_int_equal(all[0].name_id, all[1].name_id);
	assert_int_equal(all[2].name_id, 0);
	assert_int_equal(all[2].obj, 0x7777);
	assert_int_equal(all[3].kind, LLMI_TL_COPY);
	assert_int_equal(all[3].arg0, 4096);
	assert_int_equal(all[3].arg1, LLMI_COPY_D2H);
	assert_int_equal(all[5].flags & LLMI_TL_CAPTURED, LLMI_TL_CAPTURED);
	assert_int_equal(all[6].flags & LLMI_TL_CAPTURED, LLMI_TL_CAPTURED);
	assert_int_equal(all[0].flags, 0);
	for (i = 0; i < 2; i++) {
		const struct llmi_tl_event *g = &all[9 + 3 * i];

		assert_int_equal(g[0].kind, LLMI_TL_GRAPH);
		assert_int_equal(g[0].obj, 0xe7);
		assert_int_equal(g[0].arg0, 2);
		assert_int_equal(g[1].kind, LLMI_TL_REPLAY);
		assert_int_equal(g[1].obj, 0x2000);
		assert_int_equal(g[2].obj, 0x1000);
		assert_int_equal(g[2].name_id, all[0].name_id);
		assert_int_equal(g[1].arg0, 0xe7);
		assert_true(g[1].name_id && g[1].name_id != g[2].name_id);
	}
	assert_int_equal(all[15].kind, LLMI_TL_WAIT);
	/* launch numbers: executions 1, 2, 3 ...; graph nodes, copies, waits none */
	{
		static const uint64_t want[16] = { 1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 4, 5, 0, 6, 7, 0 };

		for (i = 0; i < 16; i++)
			if (ids[i] != want[i])
				fail_msg("event %zu (kind %u): launch_id %llu, want %llu", (size_t)i,
					 all[i].kind, (unsigned long long)ids[i],
					 (unsigned long long)want[i]);
	}
	for (i = 0; i < nm.nkernel; i++)
		if (nm.kernel_ids[i] == all[0].name_id)
			assert_string_equal(nm.kernel[i], "gemm(float const*, int)");

	/* the --perfetto JSON got the same events */
	{
		FILE *f = fopen(pf, "r");
		size_t n = 0, len;

		assert_non_null(f);
		json = calloc(1, 1 << 16);
		assert_non_null(json);
		len = fread(json, 1, (1 << 16) - 1, f);
		fclose(f);
		while (len && (json[len - 1] == '\n' || json[len - 1] == ' '))
			len--;
		assert_true(len > 0 && json[len - 1] == '}');	/* closed */
		for (char *p = json; (p = strstr(p, "\"ph\":\"X\"")); p++)
			n++;
		assert_int_equal(n, nall);
		assert_non_null(strstr(json, "\"name\":\"gemm(float const*, int)\""));
		assert_non_null(strstr(json, "\"name\":\"<unnamed 0x7777>\""));
		assert_non_null(strstr(json, "\"cat\":\"launch,replay\""));
		free(json);
	}
	unlink(path);
	unlink(pf);
	agg__free(a);
}

/* One string id per kernel name, from a container's string tables. */
static struct names read_names(const char *path, size_t *nevents)
{
	struct names nm = { 0 };
	struct llmi_reader *r;
	char err[256];

	*nevents = 0;
	r = llmi_reader__open(path, err, sizeof(err));
	assert_non_null(r);
	for (size_t i = 0; i < llmi_reader__nr_records(r); i++) {
		unsigned type = llmi_reader__record(r, i)->type;
		size_t len;
		void *p;

		*nevents += type == LLMI_REC_EVENTS;
		if (type != LLMI_REC_STRINGS)
			continue;
		p = llmi_reader__load(r, i, &len);
		assert_non_null(p);
		assert_int_equal(llmi_strings_parse(p, len, on_string, &nm), 0);
		free(p);
	}
	llmi_reader__free(r);
	return nm;
}

static const char *kernel_of(const struct names *nm, uint32_t id)
{
	for (size_t i = 0; i < nm->nkernel; i++)
		if (nm->kernel_ids[i] == id)
			return nm->kernel[i];
	return NULL;
}

/*
 * -T: no launch is streamed; the capture probe's producer (launch number,
 * api, handle) is named from the agg and its name written to the file,
 * although no event batch is; a graph launch names its last kernel.
 */
static void test_tensor_producer(void **state)
{
	char path[] = "/tmp/llmi-record-XXXXXX";
	struct trace_tl_opts o = { .output = path, .events = false, .writer = "test",
				   .force = true };
	struct llmi_tensor_event te = { .ev = ev(LLMI_EV_TENSOR, 0, 0, 1, 0, 0) };
	struct agg *a = agg__new(NULL, NULL);
	uint32_t nid_norm, nid_graph, nid;
	struct trace_tl *t;
	struct names nm;
	uint64_t id;
	size_t nev;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	close(fd);
	assert_non_null(a);
	t = trace_tl__new(&o);
	assert_non_null(t);
	feed_name(a, t, 0x1000, "_Z4gemmPKfi");
	feed_name(a, t, 0x2000, "_Z4normPf");
	/* what -T streams of a graph: its capture (nodes norm, gemm), instantiate */
	feed(a, t, ev(LLMI_EV_CAPTURE_BEGIN, LLMI_API_CAPTURE_BEGIN, 0, 5, 0, 0));
	feed(a, t, ev(LLMI_EV_LAUNCH, LLMI_API_LAUNCH, 0x2000, 5, 1, 1));
	feed(a, t, ev(LLMI_EV_LAUNCH, LLMI_API_LAUNCH, 0x1000, 5, 1, 1));
	feed(a, t, ev(LLMI_EV_CAPTURE_END, LLMI_API_CAPTURE_END, 0x6a, 5, 0, 0));
	feed(a, t, ev(LLMI_EV_INSTANTIATE, LLMI_API_GRAPH_INSTANTIATE, 0xe7, 0, 0x6a, 0));

	te.launch = 4, te.api = LLMI_API_LAUNCH, te.func = 0x2000;
	trace_tl__tensor_producer(t, a, &te, &id, &nid_norm);
	assert_int_equal(id, 4);
	assert_true(nid_norm != 0);
	te.launch = 9, te.api = LLMI_API_CU_GRAPH_LAUNCH, te.func = 0xe7;
	trace_tl__tensor_producer(t, a, &te, &id, &nid_graph);
	assert_int_equal(id, 9);
	assert_true(nid_graph != 0 && nid_graph != nid_norm);
	te.launch = 10, te.api = LLMI_API_LAUNCH, te.func = 0x2000;
	trace_tl__tensor_producer(t, a, &te, &id, &nid);
	assert_int_equal(nid, nid_norm);	/* one id per name */
	te.launch = 0;	/* the probe found none */
	trace_tl__tensor_producer(t, a, &te, &id, &nid);
	assert_int_equal(id, 0);
	assert_int_equal(nid, 0);
	trace_tl__drain(t, 0, NULL);
	assert_int_equal(trace_tl__close(t, NULL, 0), 0);

	nm = read_names(path, &nev);
	assert_int_equal(nev, 0);
	assert_int_equal(nm.nkernel, 2);
	assert_string_equal(kernel_of(&nm, nid_norm), "norm(float*)");
	assert_string_equal(kernel_of(&nm, nid_graph), "gemm(float const*, int)");
	unlink(path);
	agg__free(a);
}

static void test_symlink_refused(void **state)
{
	char dir[] = "/tmp/llmi-record-XXXXXX", link[96], target[96];
	/* refused even with force */
	struct trace_tl_opts o = { .output = link, .events = true, .writer = "test", .force = true };

	assert_non_null(mkdtemp(dir));
	snprintf(link, sizeof(link), "%s/link", dir);
	snprintf(target, sizeof(target), "%s/target", dir);
	assert_int_equal(symlink(target, link), 0);
	assert_null(trace_tl__new(&o));
	assert_int_equal(errno, ELOOP);
	assert_int_equal(access(target, F_OK), -1);	/* nothing created through it */
	unlink(link);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_tensor_producer),
		cmocka_unit_test(test_symlink_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
