# benchmarks/baseline_dump: activations dumped the way users do it today (a
# synchronous device-to-host copy and a write(2) per tensor, fsync at the
# end) against the disk's O_DIRECT speed (build/bench/baseline_dump). It runs
# on the CUDA runtime it is linked with: the stand-in in build/sim, found by
# rpath, as llm_decode is.
ifneq ($(SIM_CUDA_INC),)
BD_OBJS := $(OBJ)/benchmarks/baseline_dump/baseline_dump.o $(OBJ)/user/common/json.o \
           $(OBJ)/user/common/parse.o
$(OBJ)/benchmarks/baseline_dump/baseline_dump.o: CPPFLAGS += $(SIM_CPPFLAGS)

$(BENCH)/baseline_dump: $(BD_OBJS) $(SIM_LIBCUDART) $(SIM_LIBCUDA)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $(BD_OBJS) $(SIM_LINK) -Wl,-rpath,'$$ORIGIN/../sim' \
		$(TOOL_LIBS)

BENCH_BINS += $(BENCH)/baseline_dump
endif
