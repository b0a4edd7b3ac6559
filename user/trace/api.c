// SPDX-License-Identifier: MIT
/*
 * The table behind api.h, made from the one list of probed APIs
 * (LLMI_API_LIST in bpf/llminstr_events.h), so an API cannot lack a row.
 * The list says what is particular to each API (symbol, role, program,
 * layout, driver argument); what follows from those is derived here, by
 * rule, once for all:
 *
 *  - the category the summaries group it under, from its layout (launch
 *    programs have no layout: they are launches);
 *  - the save slot of a return-probed call: one per family of calls that
 *    may be open at once on a thread (a runtime call, a driver call made
 *    inside it, a name lookup, a graph call), so that one's exit never
 *    reads another's entry.
 *
 * Both are constant expressions: the table is read-only data, complete
 * before main().
 */
#include "trace/api.h"

#define ROLE_RT ROLE_RUNTIME
#define ROLE_DRV ROLE_DRIVER

#define IS(layout, name) (LLMI_L_##layout == LLMI_L_##name)

#define CAT_OF(prog, layout)                                                        \
	(PROG_##prog == PROG_RT_LAUNCH || PROG_##prog == PROG_RT_LAUNCH_EXC ||      \
	 PROG_##prog == PROG_DRV_LAUNCH || PROG_##prog == PROG_DRV_LAUNCH_EX ?      \
		 CAT_LAUNCH :                                                       \
	 IS(layout, GRAPH_LAUNCH) ? CAT_GRAPH :                                     \
	 IS(layout, MEMCPY) || IS(layout, MEMCPY_2D) || IS(layout, CU_COPY) ?       \
		 CAT_COPY :                                                         \
	 IS(layout, MEMSET) || IS(layout, MEMSET_2D) || IS(layout, CU_MEMSET) ?     \
		 CAT_MEMSET :                                                       \
	 IS(layout, MALLOC) || IS(layout, MALLOC_PITCH) ? CAT_ALLOC :               \
	 IS(layout, FREE) ? CAT_FREE :                                              \
	 IS(layout, SYNC) ? CAT_SYNC :                                              \
	 IS(layout, EVENT_RECORD) || IS(layout, STREAM_WAIT) ? CAT_EVENT :          \
	 IS(layout, CAPTURE_BEGIN) || IS(layout, CAPTURE_END) ||                    \
	 IS(layout, INSTANTIATE) ? CAT_CAPTURE :                                    \
	 IS(layout, REGISTER) || IS(layout, GET_KERNEL) || IS(layout, GET_NAMED) || \
	 IS(layout, KERNEL_FUNC) ? CAT_NAME : CAT_NONE)

/* Entry-only calls save nothing: their slot is never read. */
#define SLOT_OF(role, prog, layout)                                                 \
	(PROG_##prog != PROG_TIMED ? LLMI_SLOT_CALL :                               \
	 IS(layout, GET_KERNEL) ? LLMI_SLOT_RT_NAME :                               \
	 IS(layout, GET_NAMED) ? LLMI_SLOT_DRV_NAME :                               \
	 IS(layout, KERNEL_FUNC) ? LLMI_SLOT_DRV_KFUNC :                            \
	 IS(layout, CAPTURE_END) || IS(layout, INSTANTIATE) ?                       \
		 (ROLE_##role == ROLE_DRIVER ? LLMI_SLOT_DRV_GRAPH : LLMI_SLOT_GRAPH) : \
	 ROLE_##role == ROLE_DRIVER ? LLMI_SLOT_DRV_CALL : LLMI_SLOT_CALL)

#define ROW(id, sym, role, prog, layout, arg)                                       \
	[LLMI_API_##id] = { sym, ROLE_##role, PROG_##prog, LLMI_L_##layout,         \
			    SLOT_OF(role, prog, layout), CAT_OF(prog, layout), arg },

const struct trace_api trace_apis[LLMI_API_MAX] = { LLMI_API_LIST(ROW) };
