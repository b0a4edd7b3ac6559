# benchmarks/probe_overhead: what a probe costs per CUDA call (see
# benchmarks/probe_overhead/probe_overhead.c). The driver is
# build/bench/probe_overhead; the process it measures lives in
# build/bench/helpers/ so that scripts/run_benchmarks.sh does not run it.
PO_TARGET := $(BENCH)/helpers/probe_overhead_target

ifneq ($(SIM_CUDA_INC),)
$(OBJ)/benchmarks/probe_overhead/target.o: CPPFLAGS += $(SIM_CPPFLAGS)

$(PO_TARGET): $(OBJ)/benchmarks/probe_overhead/target.o $(SIM_LIBCUDART) $(SIM_LIBCUDA)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(SIM_LINK) -Wl,-rpath,'$$ORIGIN/../../sim'

PO_BIN := $(BENCH)/probe_overhead
$(OBJ)/benchmarks/probe_overhead/probe_overhead.o: $(GEN)/bench_floor.skel.h
# Its status lines quote tool output into fixed buffers: cut short on purpose.
$(OBJ)/benchmarks/probe_overhead/probe_overhead.o: CFLAGS += -Wno-format-truncation

$(PO_BIN): $(OBJ)/benchmarks/probe_overhead/probe_overhead.o $(COMMON_OBJS) | $(PO_TARGET)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) $(TOOL_LDFLAGS) -o $@ $(filter %.o,$^) $(COMMON_LIBS) $(TOOL_LIBS)

BENCH_BINS += $(PO_BIN)
endif
