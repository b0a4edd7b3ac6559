# benchmarks/memory_profiling: the tracer's and the target's peak RSS under
# capture against --buffer-size (build/bench/memory_profiling, root). Its
# target is optimized_streaming's producer.
$(BENCH)/memory_profiling: $(OBJ)/benchmarks/memory_profiling/memory_profiling.o \
		$(OBJ)/user/common/json.o $(OBJ)/user/common/parse.o | $(BENCH)/optimized_streaming
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ -lm

BENCH_BINS += $(BENCH)/memory_profiling
