# user/trace: llminstr-trace, the eBPF tracer (see the top Makefile for the
# shared variables). The loader includes the skeleton of
# bpf/llminstr_trace.bpf.c, so its object lists the skeleton as a prerequisite.

ALL += $(BIN)/llminstr-trace

TRACE_SRCS := $(wildcard user/trace/*.c)
TRACE_OBJS := $(patsubst %.c,$(OBJ)/%.o,$(TRACE_SRCS))
TRACE_COMMON = $(COMMON_OBJS)
TRACE_LIBS = $(COMMON_LIBS)
# -o writes a .llmi container: the format and the io_uring writer; --capture
# codes tensors (the codec) that come through the agent's ring, and checks
# its spec as the agent will (user/agent's ring and spec, shared with it).
TRACE_AGENT_OBJS := $(OBJ)/user/agent/ring.o $(OBJ)/user/agent/spec.o
TRACE_FILE_OBJS := $(FORMAT_OBJS) $(IO_OBJS) $(CODEC_OBJS) $(TRACE_AGENT_OBJS)

$(OBJ)/user/trace/trace.o: $(GEN)/llminstr_trace.skel.h

$(BIN)/llminstr-trace: $(TRACE_OBJS) $(TRACE_COMMON) $(TRACE_FILE_OBJS)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) $(TOOL_LDFLAGS) -o $@ $^ $(TOOL_LIBS) $(TRACE_LIBS)

# Unit tests: everything of the tracer but the loader (no BPF, no root).
TRACE_TESTABLE = $(filter-out $(OBJ)/user/trace/trace.o $(OBJ)/user/trace/attach.o,$(TRACE_OBJS))
UNIT_OBJS_test_trace_opts = $(OBJ)/user/trace/opts.o $(OBJ)/user/trace/rank.o $(TRACE_COMMON) $(CODEC_OBJS) \
                            $(OBJ)/user/agent/spec.o
UNIT_LIBS_test_trace_opts = $(TRACE_LIBS)
UNIT_OBJS_test_trace_agg = $(TRACE_TESTABLE) $(TRACE_COMMON) $(TRACE_FILE_OBJS)
UNIT_LIBS_test_trace_agg = $(TRACE_LIBS)
UNIT_OBJS_test_trace_record = $(TRACE_TESTABLE) $(TRACE_COMMON) $(TRACE_FILE_OBJS)
UNIT_LIBS_test_trace_record = $(TRACE_LIBS)
UNIT_OBJS_test_trace_cmd = $(OBJ)/user/trace/cmd.o
UNIT_LIBS_test_trace_cmd = $(TRACE_LIBS)

# Fixtures for test_trace_cmd: one program that records each run, linked
# static, dynamic, and with a PT_INTERP that names the static one (not a
# loader: it must never be run to list libraries).
CMD_FIXTURES := $(TESTBIN)/unit/fixtures/cmd_static $(TESTBIN)/unit/fixtures/cmd_dynamic \
                $(TESTBIN)/unit/fixtures/cmd_badinterp
$(TESTBIN)/unit/fixtures/cmd_static: tests/unit/fixtures/cmd_marker.c | $(DEPS_STAMP)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -O1 -static -o $@ $<
$(TESTBIN)/unit/fixtures/cmd_dynamic: tests/unit/fixtures/cmd_marker.c | $(DEPS_STAMP)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -O1 -o $@ $<
$(TESTBIN)/unit/fixtures/cmd_badinterp: tests/unit/fixtures/cmd_marker.c \
		$(TESTBIN)/unit/fixtures/cmd_static | $(DEPS_STAMP)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -O1 -Wl,--dynamic-linker=$(abspath $(TESTBIN)/unit/fixtures/cmd_static) -o $@ $<
$(TESTBIN)/unit/test_trace_cmd: | $(CMD_FIXTURES)
UNIT_OBJS_test_trace_full = $(TRACE_TESTABLE) $(TRACE_COMMON) $(TRACE_FILE_OBJS)
UNIT_LIBS_test_trace_full = $(TRACE_LIBS)
UNIT_OBJS_test_trace_correlate = $(OBJ)/user/trace/correlate.o
UNIT_LIBS_test_trace_correlate = -lpthread
UNIT_OBJS_test_trace_status = $(OBJ)/user/trace/status.o
