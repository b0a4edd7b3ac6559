// SPDX-License-Identifier: MIT
/*
 * Timeline events as Chrome trace-event slices (see perfetto.h): one track
 * per thread ("pid"/"tid"), times in microseconds from the first event.
 */
#include <errno.h>
#include <stdio.h>

#include "common/fmt.h"
#include "common/perfetto.h"

void llmi_perfetto_begin(struct llmi_perfetto *p, FILE *f)
{
	p->t0 = 0;
	p->have_t0 = 0;
	llmi_json_init(&p->j, f, false);
	llmi_json_obj_begin(&p->j, NULL);
	llmi_json_str(&p->j, "displayTimeUnit", "ns");
	llmi_json_arr_begin(&p->j, "traceEvents");
}

double llmi_perfetto_us(const struct llmi_perfetto *p, uint64_t ns)
{
	/* records of different CPUs may come a little out of order: signed */
	return (double)(int64_t)(ns - p->t0) / 1e3;
}

static void slice(struct llmi_perfetto *p, const struct llmi_tl_event *e, const char *name,
		  const char *cat, uint64_t dur_ns, const char *api)
{
	if (!p->have_t0) {
		p->t0 = e->ts_ns;
		p->have_t0 = 1;
	}
	llmi_json_obj_begin(&p->j, NULL);
	llmi_json_str(&p->j, "name", name);
	llmi_json_str(&p->j, "cat", cat);
	llmi_json_str(&p->j, "ph", "X");
	llmi_json_double(&p->j, "ts", llmi_perfetto_us(p, e->ts_ns));
	llmi_json_double(&p->j, "dur", (double)dur_ns / 1e3);
	llmi_json_u64(&p->j, "pid", e->pid);
	llmi_json_u64(&p->j, "tid", e->tid);
	llmi_json_obj_begin(&p->j, "args");
	llmi_json_str(&p->j, "api", api);
}

static void slice_end(struct llmi_perfetto *p)
{
	llmi_json_obj_end(&p->j);
	llmi_json_obj_end(&p->j);
}

void llmi_perfetto_event(struct llmi_perfetto *p, const struct llmi_tl_event *e,
			 const char *kernel, const char *api)
{
	static const char *const dir[] = { "H2H", "H2D", "D2H", "D2D", "default" };
	bool captured = e->flags & LLMI_TL_CAPTURED;
	char name[96], b[32];

	if (!api)
		api = "?";
	if (!kernel && (e->kind == LLMI_TL_LAUNCH || e->kind == LLMI_TL_REPLAY)) {
		snprintf(name, sizeof(name), "<unnamed 0x%llx>", (unsigned long long)e->obj);
		kernel = name;
	}
	switch (e->kind) {
	case LLMI_TL_LAUNCH:
		slice(p, e, kernel, captured ? "capture" : "launch", 0, api);
		llmi_json_u64(&p->j, "stream", e->stream);
		llmi_json_u64(&p->j, "grid_x", e->arg0 & 0xffffffff);
		llmi_json_u64(&p->j, "block_x", e->arg1 & 0xffffffff);
		break;
	case LLMI_TL_REPLAY:
		slice(p, e, kernel, "launch,replay", 0, api);
		llmi_json_bool(&p->j, "replay", true);
		llmi_json_u64(&p->j, "exec", e->arg0);
		break;
	case LLMI_TL_COPY:
		snprintf(name, sizeof(name), "memcpy %s %s", dir[e->arg1 < 5 ? e->arg1 : 4],
			 llmi_fmt_bytes(b, sizeof(b), e->arg0));
		slice(p, e, name, captured ? "capture" : "copy", e->dur_ns, api);
		llmi_json_u64(&p->j, "bytes", e->arg0);
		llmi_json_u64(&p->j, "stream", e->stream);
		break;
	case LLMI_TL_WAIT:
		snprintf(name, sizeof(name), "wait %s", api);
		slice(p, e, name, "wait", e->dur_ns, api);
		break;
	case LLMI_TL_GRAPH:
		slice(p, e, "cudaGraphLaunch", "graph", 0, api);
		llmi_json_u64(&p->j, "exec", e->obj);
		llmi_json_u64(&p->j, "kernels", e->arg0);
		break;
	case LLMI_TL_API:
		slice(p, e, api, "api", e->dur_ns, api);
		break;
	default:
		return;		/* a kind this build does not know: not drawn */
	}
	slice_end(p);
}

int llmi_perfetto_end(struct llmi_perfetto *p)
{
	llmi_json_arr_end(&p->j);
	llmi_json_obj_end(&p->j);
	return llmi_json_finish(&p->j) ? -EIO : 0;
}
