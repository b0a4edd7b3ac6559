# benchmarks/trace_record: the tracer's consumer cost per launch record,
# aggregation alone and with the -o and --perfetto sinks
# (build/bench/trace_record). Links the tracer's objects but its loader.
TR_BENCH_OBJS := $(OBJ)/benchmarks/trace_record/trace_record.o $(TRACE_TESTABLE) \
                 $(TRACE_COMMON) $(TRACE_FILE_OBJS)

$(BENCH)/trace_record: $(TR_BENCH_OBJS)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) $(TOOL_LDFLAGS) -o $@ $^ $(TOOL_LIBS) $(TRACE_LIBS)

BENCH_BINS += $(BENCH)/trace_record
