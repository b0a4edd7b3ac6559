// SPDX-License-Identifier: MIT
/*
 * Output of llminstr-trace (see out.h). Numbers carry units; tables fit in
 * 80 columns. Latencies exist only for return-probed calls: entry-only calls
 * (launches, asynchronous copies) show "-" rather than a made-up figure.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "common/demangle.h"
#include "common/fmt.h"
#include "common/json.h"
#include "trace/api.h"
#include "trace/out.h"

static const char *const copy_names[LLMI_COPY_KINDS] = { "h2h", "h2d", "d2h", "d2d", "default" };

static const char *fmt_ns(char *buf, size_t len, double ns)
{
	if (ns < 1e3)
		snprintf(buf, len, "%.0fns", ns);
	else if (ns < 1e6)
		snprintf(buf, len, "%.1fus", ns / 1e3);
	else if (ns < 1e9)
		snprintf(buf, len, "%.1fms", ns / 1e6);
	else
		snprintf(buf, len, "%.2fs", ns / 1e9);
	return buf;
}

/*
 * How a target ended: " killed by SIGKILL", " exited with status 3" (a
 * command the tracer started: its wait status), " exited" (an attached
 * process: only its exit is known), "" while it runs.
 */
static const char *signal_name(char *buf, size_t len, int sig)
{
	const char *abbrev = sigabbrev_np(sig);	/* NULL for real-time signals */

	if (abbrev)
		snprintf(buf, len, "SIG%s", abbrev);
	else
		snprintf(buf, len, "signal %d", sig);
	return buf;
}

static const char *target_end(char *buf, size_t len, const struct out_target *tg)
{
	char sig[24];

	if (!tg->exited)
		snprintf(buf, len, "%s", "");
	else if (tg->signal)
		snprintf(buf, len, " killed by %s", signal_name(sig, sizeof(sig), tg->signal));
	else if (tg->exit_status >= 0)
		snprintf(buf, len, " exited with status %d", tg->exit_status);
	else
		snprintf(buf, len, " exited");
	return buf;
}

static double ratio(uint64_t raw, uint64_t stored)
{
	return stored ? (double)raw / (double)stored : 0;
}

static void capture_text(FILE *f, const struct out_info *in)
{
	const struct capture_stats *c = in->capture;
	char b1[32], b2[32], spec[64] = "?";

	if (in->codec)
		llmi_codec_spec_format(in->codec, spec, sizeof(spec));
	fprintf(f, "\nCapture: %llu tensors, %s raw, %s stored (%.2fx), %s, max NMSE %.3g; "
		   "%llu dropped, blocked %.1f ms, waited for the disk %.1f ms\n",
		(unsigned long long)c->tensors, llmi_fmt_bytes(b1, sizeof(b1), c->raw_bytes),
		llmi_fmt_bytes(b2, sizeof(b2), c->stored_bytes), ratio(c->raw_bytes, c->stored_bytes),
		spec, c->max_nmse, (unsigned long long)c->dropped, c->blocked_ns / 1e6,
		c->disk_wait_ns / 1e6);
	if (in->ngroups) {
		fprintf(f, "  %-28s %8s %10s %10s %7s %9s %8s\n", "name", "tensors", "raw", "stored",
			"ratio", "max NMSE", "dropped");
		for (size_t i = 0; i < in->ngroups; i++) {
			const struct capture_group *g = &in->groups[i];

			fprintf(f, "  %-28s %8llu %10s %10s %6.2fx %9.3g %8llu\n", g->pattern,
				(unsigned long long)g->tensors,
				llmi_fmt_bytes(b1, sizeof(b1), g->raw_bytes),
				llmi_fmt_bytes(b2, sizeof(b2), g->stored_bytes),
				ratio(g->raw_bytes, g->stored_bytes), g->max_nmse,
				(unsigned long long)g->dropped);
		}
	}
	if (c->dropped)
		fprintf(f, "  dropped: %llu with the buffers full (--on-full drop; raise --buffer-size), "
			   "%llu too large for the buffers, %llu refused (bad pointer or copy)\n",
			(unsigned long long)c->dropped_full, (unsigned long long)c->too_large,
			(unsigned long long)c->agent_errors);
	if (c->failed || c->bad || c->lost || c->write_errors)
		fprintf(f, "  not written: %llu copies failed in the target, %llu malformed, %llu "
			   "unfinished when the target ended, %llu not written (output error)\n",
			(unsigned long long)c->failed, (unsigned long long)c->bad,
			(unsigned long long)c->lost, (unsigned long long)c->write_errors);
	if (c->tensors)
		fprintf(f, "  producers: %llu of %llu tensors tied to the launch that made them; "
			   "%llu CUDA calls of the agent kept out of the figures above\n",
			(unsigned long long)(c->tensors - c->unattributed),
			(unsigned long long)c->tensors, (unsigned long long)in->agent_calls);
	if (c->token_records)
		fprintf(f, "  tokens: %llu ids of %llu steps, tied to those steps' tensors\n",
			(unsigned long long)c->tokens, (unsigned long long)c->token_records);
	if (!c->sessions)
		fprintf(f, "  no target's agent was reached: nothing captured\n");
}

static void capture_json(struct llmi_json *j, const struct out_info *in)
{
	const struct capture_stats *c = in->capture;
	char spec[64] = "";

	if (in->codec)
		llmi_codec_spec_format(in->codec, spec, sizeof(spec));
	llmi_json_obj_begin(j, "capture");
	llmi_json_str(j, "codec", spec);
	llmi_json_u64(j, "agents", c->sessions);
	llmi_json_u64(j, "tensors", c->tensors);
	llmi_json_u64(j, "raw_bytes", c->raw_bytes);
	llmi_json_u64(j, "stored_bytes", c->stored_bytes);
	llmi_json_double(j, "ratio", ratio(c->raw_bytes, c->stored_bytes));
	llmi_json_double(j, "raw_gbps", in->duration_s > 0 ? c->raw_bytes / in->duration_s / 1e9 : 0);
	llmi_json_double(j, "max_mse", c->max_mse);
	llmi_json_double(j, "max_nmse", c->max_nmse);
	llmi_json_double(j, "max_abs_err", c->max_abs_err);
	llmi_json_u64(j, "dropped", c->dropped);
	llmi_json_u64(j, "dropped_full", c->dropped_full);
	llmi_json_u64(j, "too_large", c->too_large);
	llmi_json_u64(j, "refused", c->agent_errors);
	llmi_json_u64(j, "blocked_ns", c->blocked_ns);
	llmi_json_u64(j, "disk_wait_ns", c->disk_wait_ns);
	llmi_json_u64(j, "copy_failed", c->failed);
	llmi_json_u64(j, "malformed", c->bad);
	llmi_json_u64(j, "unfinished", c->lost);
	llmi_json_u64(j, "not_written", c->write_errors);
	llmi_json_u64(j, "no_producer", c->unattributed);
	llmi_json_u64(j, "tokens", c->tokens);
	llmi_json_u64(j, "token_steps", c->token_records);
	llmi_json_obj_begin(j, "dropped_by_name");
	for (size_t i = 0; i < in->ndrops; i++)
		llmi_json_u64(j, in->drops[i].name,
			      in->drops[i].full + in->drops[i].too_large + in->drops[i].error);
	llmi_json_obj_end(j);
	llmi_json_arr_begin(j, "names");
	for (size_t i = 0; i < in->ngroups; i++) {
		const struct capture_group *g = &in->groups[i];

		llmi_json_obj_begin(j, NULL);
		llmi_json_str(j, "pattern", g->pattern);
		llmi_json_u64(j, "tensors", g->tensors);
		llmi_json_u64(j, "raw_bytes", g->raw_bytes);
		llmi_json_u64(j, "stored_bytes", g->stored_bytes);
		llmi_json_double(j, "max_mse", g->max_mse);
		llmi_json_double(j, "max_nmse", g->max_nmse);
		llmi_json_u64(j, "dropped", g->dropped);
		llmi_json_obj_end(j);
	}
	llmi_json_arr_end(j);
	llmi_json_obj_end(j);
}

void out_summary(FILE *f, struct agg *a, const struct agg_totals *t, const struct out_info *in,
		 bool interval)
{
	char b1[48], b2[32], b3[32], name[1024];
	const struct agg_kernel *k;
	uint64_t unnamed = 0;
	size_t nk, i;
	int any;

	fprintf(f, "\n%s: %s mode, %zu target%s, %.2f s%s%s\n",
		interval ? "interval" : "llminstr-trace", in->mode, in->ntargets,
		in->ntargets == 1 ? "" : "s", in->duration_s,
		in->end_reason && !interval ? ", ended by " : "",
		in->end_reason && !interval ? in->end_reason : "");
	if (!interval) {
		for (i = 0; i < in->ntargets; i++) {
			const struct out_target *tg = &in->targets[i];

			fprintf(f, "  pid %d%s%s%s\n", tg->pid, target_end(b1, sizeof(b1), tg),
				tg->static_cudart ? " (static cudart)" : "",
				tg->nlibs ? "" : ": no CUDA library attached");
			for (size_t j = 0; j < tg->nlibs; j++)	/* paths may be long: one a line */
				fprintf(f, "    %s (%u probes)\n", tg->libs[j], tg->lib_probes[j]);
		}
	}

	fprintf(f, "\n%-36s %10s %10s %10s %10s\n", "API", "calls", "mean", "p50", "p99");
	for (i = 0; i < LLMI_API_MAX; i++) {
		const struct agg_api *p = &t->api[i];

		if (!p->calls)
			continue;
		if (p->lat.count)
			fprintf(f, "%-36.36s %10llu %10s %10s %10s\n", trace_api_name(i),
				(unsigned long long)p->calls, fmt_ns(b1, sizeof(b1), llmi_hist_mean(&p->lat)),
				fmt_ns(b2, sizeof(b2), (double)llmi_hist_quantile(&p->lat, 0.5)),
				fmt_ns(b3, sizeof(b3), (double)llmi_hist_quantile(&p->lat, 0.99)));
		else
			fprintf(f, "%-36.36s %10llu %10s %10s %10s\n", trace_api_name(i),
				(unsigned long long)p->calls, "-", "-", "-");
	}

	k = interval ? agg__kernels_interval(a, &nk) : agg__kernels(a, &nk, &unnamed);
	fprintf(f, "\n%-58s %10s %10s\n", "Top kernels", "launches", "replayed");
	for (i = 0, any = 0; k && i < nk && i < in->top; i++) {
		if (!k[i].launches)
			continue;
		any = 1;
		/* template kernels: the part that tells them apart, marked when cut */
		llmi_short_name(k[i].name, name, sizeof(name));
		if (strlen(name) > 56)
			memcpy(name + 53, "...", 4);
		fprintf(f, "  %-56s %10llu %10llu\n", name, (unsigned long long)k[i].launches,
			(unsigned long long)k[i].replayed);
	}
	if (!any)
		fprintf(f, "  (none)\n");
	fprintf(f, "  %llu launches: %llu by the driver API, %llu replayed from graphs\n",
		(unsigned long long)t->launches, (unsigned long long)t->driver_launches,
		(unsigned long long)t->replayed);

	fprintf(f, "\n%-10s %10s %14s %16s\n", "Copies", "calls", "bytes", "sync GB/s");
	for (i = 0, any = 0; i < LLMI_COPY_KINDS; i++) {
		const struct agg_copy *c = &t->copy[i];

		if (!c->calls)
			continue;
		any = 1;
		if (c->sync_ns)
			snprintf(b2, sizeof(b2), "%.2f", (double)c->sync_bytes / (double)c->sync_ns);
		else
			snprintf(b2, sizeof(b2), "-");
		fprintf(f, "  %-8s %10llu %14s %16s\n", copy_names[i], (unsigned long long)c->calls,
			llmi_fmt_bytes(b1, sizeof(b1), c->bytes), b2);
	}
	if (!any)
		fprintf(f, "  (none)\n");
	fprintf(f, "  memset   %10llu %14s\n", (unsigned long long)t->memset_calls,
		llmi_fmt_bytes(b1, sizeof(b1), t->memset_bytes));
	if (t->captures || t->graph_launches)
		fprintf(f, "\nGraphs: %llu captured (%llu nodes), %llu instantiated, %llu launched\n",
			(unsigned long long)t->captures, (unsigned long long)t->captured_nodes,
			(unsigned long long)t->instantiations, (unsigned long long)t->graph_launches);
	if (t->graphs_unknown)
		fprintf(f, "  %llu graph launches of graphs captured before the attach: "
			   "not expanded\n", (unsigned long long)t->graphs_unknown);
	if (interval)
		return;
	fprintf(f, "\nEvents: %llu received, %llu lost%s; %llu probes attached\n",
		(unsigned long long)in->received, (unsigned long long)in->lost,
		in->lost ? " (raise --ring-size)" : "", (unsigned long long)in->probes);
	fprintf(f, "Dedup: %llu driver launches inside runtime launches, %llu nested calls\n",
		(unsigned long long)in->dedup, (unsigned long long)in->nested);
	if (in->kmap_full)
		fprintf(f, "Kernel map full: %llu launches not attributed (raise --kernels)\n",
			(unsigned long long)in->kmap_full);
	fprintf(f, "Unnamed kernel handles: %llu\n", (unsigned long long)unnamed);
	if (in->output && in->out.error)	/* counted from acknowledged writes */
		fprintf(f, "Output: %s: %s; %llu events written to the file, %llu not written; "
			   "the file holds every record written whole\n",
			in->output, strerror(-in->out.error), (unsigned long long)in->out.events,
			(unsigned long long)in->out.not_written);
	else if (in->output && !strcmp(in->mode, "timing-only"))
		fprintf(f, "Output: %s: this summary only (-T streams no events)\n", in->output);
	else if (in->output)
		fprintf(f, "Output: %s: %llu events in %llu batches, %llu kernel names\n",
			in->output, (unsigned long long)in->out.events,
			(unsigned long long)in->out.batches, (unsigned long long)in->out.names);
	if (in->capture)
		capture_text(f, in);
	for (i = 0; i < in->ntargets; i++)
		if (in->targets[i].late) {
			fprintf(f, "Attached to running processes: kernel registrations made before\n"
				   "the attach were missed; names come from ELF symbols instead (a\n"
				   "stripped library's kernels launched before the attach stay unnamed).\n");
			break;
		}
}

int out_json(FILE *f, struct agg *a, const struct agg_totals *t, const struct out_info *in)
{
	const struct agg_kernel *k;
	struct llmi_json j;
	uint64_t unnamed = 0;
	size_t nk, i;

	k = agg__kernels(a, &nk, &unnamed);
	llmi_json_init(&j, f, true);
	llmi_json_obj_begin(&j, NULL);
	llmi_json_u64(&j, "version", 1);
	llmi_json_str(&j, "mode", in->mode);
	llmi_json_arr_begin(&j, "targets");
	for (i = 0; i < in->ntargets; i++) {
		const struct out_target *tg = &in->targets[i];

		llmi_json_obj_begin(&j, NULL);
		llmi_json_i64(&j, "pid", tg->pid);
		llmi_json_arr_begin(&j, "libs");
		for (size_t l = 0; l < tg->nlibs; l++)
			llmi_json_str(&j, NULL, tg->libs[l]);
		llmi_json_arr_end(&j);
		llmi_json_bool(&j, "static_cudart", tg->static_cudart);
		llmi_json_bool(&j, "late_attach", tg->late);
		/* how it ended: the exit status and signal only of a started command */
		llmi_json_bool(&j, "exited", tg->exited);
		if (tg->exited && tg->exit_status >= 0)
			llmi_json_i64(&j, "exit_status", tg->exit_status);
		else
			llmi_json_null(&j, "exit_status");
		if (tg->exited && tg->signal) {
			char sig[32];

			llmi_json_str(&j, "signal", signal_name(sig, sizeof(sig), tg->signal));
		} else {
			llmi_json_null(&j, "signal");
		}
		llmi_json_obj_end(&j);
	}
	llmi_json_arr_end(&j);
	llmi_json_double(&j, "duration_s", in->duration_s);
	llmi_json_str(&j, "ended_by", in->end_reason);
	llmi_json_obj_begin(&j, "events");
	llmi_json_u64(&j, "received", in->received);
	llmi_json_u64(&j, "lost", in->lost);
	llmi_json_obj_end(&j);
	llmi_json_obj_begin(&j, "attach");
	llmi_json_u64(&j, "probes", in->probes);
	llmi_json_obj_end(&j);
	llmi_json_obj_begin(&j, "api");
	for (i = 0; i < LLMI_API_MAX; i++) {
		const struct agg_api *p = &t->api[i];

		if (!p->calls)
			continue;
		llmi_json_obj_begin(&j, trace_api_name(i));
		llmi_json_u64(&j, "calls", p->calls);
		if (p->bytes)
			llmi_json_u64(&j, "bytes", p->bytes);
		if (p->lat.count) {
			llmi_json_double(&j, "mean_ns", llmi_hist_mean(&p->lat));
			llmi_json_u64(&j, "p50_ns", llmi_hist_quantile(&p->lat, 0.5));
			llmi_json_u64(&j, "p99_ns", llmi_hist_quantile(&p->lat, 0.99));
		} else {	/* entry-only probe: no duration measured */
			llmi_json_null(&j, "mean_ns");
			llmi_json_null(&j, "p50_ns");
			llmi_json_null(&j, "p99_ns");
		}
		llmi_json_obj_end(&j);
	}
	llmi_json_obj_end(&j);
	llmi_json_u64(&j, "launches", t->launches);
	llmi_json_u64(&j, "driver_launches", t->driver_launches);
	llmi_json_arr_begin(&j, "kernels");
	for (i = 0; k && i < nk; i++) {
		llmi_json_obj_begin(&j, NULL);
		llmi_json_str(&j, "name", k[i].name);
		llmi_json_u64(&j, "launches", k[i].launches);
		llmi_json_u64(&j, "replayed", k[i].replayed);
		llmi_json_bool(&j, "unnamed", k[i].unnamed);
		llmi_json_obj_end(&j);
	}
	llmi_json_arr_end(&j);
	llmi_json_obj_begin(&j, "memcpy");
	for (i = 0; i < LLMI_COPY_KINDS; i++) {
		const struct agg_copy *c = &t->copy[i];

		if (i == LLMI_COPY_DEFAULT && !c->calls)
			continue;
		llmi_json_obj_begin(&j, copy_names[i]);
		llmi_json_u64(&j, "calls", c->calls);
		llmi_json_u64(&j, "bytes", c->bytes);
		if (c->sync_ns)
			llmi_json_double(&j, "sync_gbps", (double)c->sync_bytes / (double)c->sync_ns);
		llmi_json_obj_end(&j);
	}
	llmi_json_obj_end(&j);
	llmi_json_obj_begin(&j, "memset");
	llmi_json_u64(&j, "calls", t->memset_calls);
	llmi_json_u64(&j, "bytes", t->memset_bytes);
	llmi_json_obj_end(&j);
	llmi_json_obj_begin(&j, "graphs");
	llmi_json_u64(&j, "captures", t->captures);
	llmi_json_u64(&j, "captured_nodes", t->captured_nodes);
	llmi_json_u64(&j, "instantiations", t->instantiations);
	llmi_json_u64(&j, "launches", t->graph_launches);
	llmi_json_u64(&j, "replayed_launches", t->replayed);
	llmi_json_u64(&j, "unknown_execs", t->graphs_unknown);
	llmi_json_obj_end(&j);
	llmi_json_obj_begin(&j, "unnamed");
	llmi_json_u64(&j, "handles", unnamed);
	llmi_json_obj_end(&j);
	llmi_json_obj_begin(&j, "dedup");
	llmi_json_u64(&j, "driver_launches_merged", in->dedup);
	llmi_json_u64(&j, "nested_calls_skipped", in->nested);
	llmi_json_u64(&j, "kernel_map_full", in->kmap_full);
	llmi_json_u64(&j, "excluded_calls", in->excluded);
	llmi_json_u64(&j, "agent_calls", in->agent_calls);
	llmi_json_obj_end(&j);
	if (in->output) {
		llmi_json_obj_begin(&j, "output");
		llmi_json_str(&j, "path", in->output);
		llmi_json_u64(&j, "events", in->out.events);
		llmi_json_u64(&j, "batches", in->out.batches);
		llmi_json_u64(&j, "kernel_names", in->out.names);
		llmi_json_u64(&j, "events_not_written", in->out.not_written);
		llmi_json_str(&j, "error", in->out.error ? strerror(-in->out.error) : NULL);
		llmi_json_obj_end(&j);
	}
	if (in->capture)
		capture_json(&j, in);
	llmi_json_obj_end(&j);
	return llmi_json_finish(&j);
}
