# benchmarks/capture_inference: llm_decode --prefill's tokens/s untraced,
# timed, capturing the residual stream, capturing all, and dumping raw per
# tensor, interleaved (build/bench/capture_inference, root). It runs the
# built llm_decode and llminstr-trace; it links neither.
ifneq ($(SIM_CUDA_INC),)
$(BENCH)/capture_inference: $(OBJ)/benchmarks/capture_inference/capture_inference.o \
		$(OBJ)/user/common/json.o | $(BIN)/llminstr-trace $(BIN)/llm_decode $(LIB)/libllminstr.so
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) -lm

BENCH_BINS += $(BENCH)/capture_inference
endif
