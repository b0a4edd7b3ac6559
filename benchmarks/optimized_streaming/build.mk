# benchmarks/optimized_streaming: the capture pipeline's sustained rate
# against a raw dump per tensor and the disk (build/bench/optimized_streaming,
# root). The same binary is the producer it traces, linked with the agent.
$(BENCH)/optimized_streaming: $(OBJ)/benchmarks/optimized_streaming/optimized_streaming.o \
		$(OBJ)/user/common/json.o $(LIB)/libllminstr.so | $(BIN)/llminstr-trace $(BENCH)/baseline_dump
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) -L$(LIB) -lllminstr \
		-Wl,-rpath,'$$ORIGIN/../lib' -lm

BENCH_BINS += $(BENCH)/optimized_streaming
